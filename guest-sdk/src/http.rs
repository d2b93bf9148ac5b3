//! Outgoing HTTP through the host (`http-outbound`).
//!
//! The host sends the request only to origins the plugin declared and the operator
//! allows; secret handles in headers, form fields or Basic credentials are substituted by
//! the host after that check. Redirects are not followed.

use crate::bindings::grantbox::plugin::http_outbound::{
    self as wit, BasicCredentials, Body, Field, Method,
};
use crate::{OAuthError, Secret, ValuePart};

pub use wit::Error;

/// Name/value parameters whose values may be secrets (form or JSON body fields).
#[derive(Default)]
pub struct Params<'a> {
    fields: Vec<(String, Vec<ValuePart<'a>>)>,
}

impl<'a> Params<'a> {
    /// No parameters.
    pub fn new() -> Self {
        Self { fields: Vec::new() }
    }

    /// Appends a text parameter.
    pub fn add(&mut self, name: &str, value: &str) -> &mut Self {
        self.fields
            .push((name.into(), vec![ValuePart::Text(value.into())]));
        self
    }

    /// Appends a secret parameter.
    pub fn add_secret(&mut self, name: &str, secret: &'a Secret) -> &mut Self {
        self.fields
            .push((name.into(), vec![ValuePart::Secret(secret)]));
        self
    }

    /// Sets a text parameter, replacing any with that name.
    pub fn set(&mut self, name: &str, value: &str) -> &mut Self {
        self.remove(name);
        self.add(name, value)
    }

    /// Removes every parameter with that name.
    pub fn remove(&mut self, name: &str) -> &mut Self {
        self.fields.retain(|(n, _)| n != name);
        self
    }

    /// Whether a parameter is present.
    pub fn contains(&self, name: &str) -> bool {
        self.fields.iter().any(|(n, _)| n == name)
    }

    /// The text of a parameter (`None` if absent or secret).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| match v.as_slice() {
                [ValuePart::Text(t)] => Some(t.as_str()),
                _ => None,
            })
    }

    /// The parameters' names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// Renames a parameter (e.g. `client_id` → `client_key`).
    pub fn rename(&mut self, from: &str, to: &str) -> &mut Self {
        for (n, _) in &mut self.fields {
            if n == from {
                *n = to.into();
            }
        }
        self
    }

    fn into_fields(self) -> Vec<Field<'a>> {
        self.fields
            .into_iter()
            .map(|(name, value)| Field { name, value })
            .collect()
    }
}

/// A request to build and send.
pub struct Request<'a> {
    method: Method,
    url: String,
    headers: Vec<Field<'a>>,
    basic: Option<BasicCredentials<'a>>,
    body: Body<'a>,
}

impl<'a> Request<'a> {
    /// A request with `method` to `url`.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: Vec::new(),
            basic: None,
            body: Body::Empty,
        }
    }

    /// A `GET`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::Get, url)
    }

    /// A `POST`.
    pub fn post(url: impl Into<String>) -> Self {
        Self::new(Method::Post, url)
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push(Field {
            name: name.into(),
            value: vec![ValuePart::Text(value.into())],
        });
        self
    }

    /// Adds a header made of parts (text and secrets), e.g. `["Bearer ", secret]`.
    pub fn header_parts(mut self, name: &str, parts: Vec<ValuePart<'a>>) -> Self {
        self.headers.push(Field {
            name: name.into(),
            value: parts,
        });
        self
    }

    /// HTTP Basic credentials, form-urlencoded first as RFC 6749 §2.3.1 requires.
    pub fn basic_auth(mut self, username: &str, password: &'a Secret) -> Self {
        self.basic = Some(BasicCredentials {
            username: vec![ValuePart::Text(username.into())],
            password: vec![ValuePart::Secret(password)],
            form_encode: true,
        });
        self
    }

    /// HTTP Basic credentials sent without form-urlencoding (for servers that expect
    /// the raw values).
    pub fn basic_auth_raw(self, username: &str, password: &'a Secret) -> Self {
        self.basic_auth(username, password).raw_basic()
    }

    fn raw_basic(mut self) -> Self {
        if let Some(b) = &mut self.basic {
            b.form_encode = false;
        }
        self
    }

    /// An `application/x-www-form-urlencoded` body.
    pub fn form(mut self, params: Params<'a>) -> Self {
        self.body = Body::Form(params.into_fields());
        self
    }

    /// An `application/json` body (a flat object of strings).
    pub fn json(mut self, params: Params<'a>) -> Self {
        self.body = Body::Json(params.into_fields());
        self
    }

    /// A raw body (no secrets).
    pub fn bytes(mut self, content_type: &str, bytes: Vec<u8>) -> Self {
        self.body = Body::Raw(wit::RawBody {
            content_type: content_type.into(),
            bytes,
        });
        self
    }

    /// Sends the request through the host.
    pub fn send(self) -> Result<Response, Error> {
        let request = wit::Request {
            method: self.method,
            url: self.url,
            headers: self.headers,
            basic_auth: self.basic,
            body: self.body,
        };
        wit::send(&request).map(|r| Response {
            status: r.status,
            headers: r.headers,
            body: r.body,
        })
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-case.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Result<serde_json::Value, OAuthError> {
        serde_json::from_slice(&self.body).map_err(|e| {
            OAuthError::protocol(format!("response is not JSON ({e})")).with_status(self.status)
        })
    }
}
