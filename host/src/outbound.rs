//! `http-outbound`: renders a plugin's request (substituting secrets only after the
//! egress check) and sends it with the host's HTTP client.

use std::error::Error as _;
use std::time::Instant;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use url::Url;
use zeroize::Zeroizing;

use crate::bindings::grantbox::plugin::http_outbound::{
    Body, Error as HttpError, Field, Method, Request, Response,
};
use crate::bindings::grantbox::plugin::types::ValuePart;
use crate::call::CallState;
use crate::egress::ResolveDenied;
use crate::secret::ExposeSecret;

/// Headers the host sets itself; a plugin may not.
const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
];

/// A rendered value, and whether it carries a secret.
struct Rendered {
    text: Zeroizing<String>,
    secret: bool,
}

fn render(state: &CallState, parts: &[ValuePart]) -> Result<Rendered, HttpError> {
    let mut text = Zeroizing::new(String::new());
    let mut secret = false;
    for part in parts {
        match part {
            ValuePart::Text(t) => text.push_str(t),
            ValuePart::Secret(handle) => {
                let entry = state.table.get(handle).map_err(|_| {
                    HttpError::InvalidRequest("unknown or expired secret handle".into())
                })?;
                text.push_str(entry.value.expose_secret());
                secret = true;
            }
        }
    }
    Ok(Rendered { text, secret })
}

fn header_value(r: &Rendered, name: &str) -> Result<HeaderValue, HttpError> {
    let mut v = HeaderValue::from_str(&r.text).map_err(|_| {
        HttpError::InvalidRequest(format!(
            "value of header `{name}` is not a valid header value"
        ))
    })?;
    if r.secret || name.eq_ignore_ascii_case("authorization") {
        v.set_sensitive(true);
    }
    Ok(v)
}

fn build_headers(state: &CallState, request: &Request) -> Result<HeaderMap, HttpError> {
    let mut headers = HeaderMap::new();
    for Field { name, value } in &request.headers {
        let lower = name.to_ascii_lowercase();
        if FORBIDDEN_HEADERS.contains(&lower.as_str()) {
            return Err(HttpError::InvalidRequest(format!(
                "header `{name}` is set by the host"
            )));
        }
        let hname = HeaderName::from_bytes(lower.as_bytes()).map_err(|_| {
            HttpError::InvalidRequest(format!("`{name}` is not a valid header name"))
        })?;
        if hname == AUTHORIZATION && request.basic_auth.is_some() {
            return Err(HttpError::InvalidRequest(
                "both an Authorization header and basic-auth were given".into(),
            ));
        }
        let rendered = render(state, value)?;
        headers.append(hname, header_value(&rendered, name)?);
    }
    if let Some(basic) = &request.basic_auth {
        let user = render(state, &basic.username)?;
        let pass = render(state, &basic.password)?;
        let joined = if basic.form_encode {
            // RFC 6749 §2.3.1: application/x-www-form-urlencoded before Base64.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            Zeroizing::new(format!("{}:{}", enc(&user.text), enc(&pass.text)))
        } else {
            Zeroizing::new(format!("{}:{}", &*user.text, &*pass.text))
        };
        let encoded =
            Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(joined.as_bytes()));
        let rendered = Rendered {
            text: Zeroizing::new(format!("Basic {}", &*encoded)),
            secret: true,
        };
        headers.insert(AUTHORIZATION, header_value(&rendered, "authorization")?);
    }
    Ok(headers)
}

fn build_body(
    state: &CallState,
    body: &Body,
    headers: &mut HeaderMap,
) -> Result<Vec<u8>, HttpError> {
    let (content_type, bytes) = match body {
        Body::Empty => return Ok(Vec::new()),
        Body::Form(fields) => {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for f in fields {
                let v = render(state, &f.value)?;
                ser.append_pair(&f.name, &v.text);
            }
            (
                "application/x-www-form-urlencoded",
                ser.finish().into_bytes(),
            )
        }
        Body::Json(fields) => {
            let mut map = serde_json::Map::new();
            for f in fields {
                let v = render(state, &f.value)?;
                map.insert(
                    f.name.clone(),
                    serde_json::Value::String(v.text.to_string()),
                );
            }
            let bytes = serde_json::to_vec(&map)
                .map_err(|e| HttpError::InvalidRequest(format!("JSON body: {e}")))?;
            ("application/json", bytes)
        }
        Body::Raw(raw) => (raw.content_type.as_str(), raw.bytes.clone()),
    };
    if !headers.contains_key(CONTENT_TYPE) {
        let v = HeaderValue::from_str(content_type).map_err(|_| {
            HttpError::InvalidRequest("the body's content type is not a valid header value".into())
        })?;
        headers.insert(CONTENT_TYPE, v);
    }
    Ok(bytes)
}

fn method(m: Method) -> reqwest::Method {
    match m {
        Method::Get => reqwest::Method::GET,
        Method::Post => reqwest::Method::POST,
        Method::Put => reqwest::Method::PUT,
        Method::Patch => reqwest::Method::PATCH,
        Method::Delete => reqwest::Method::DELETE,
        Method::Head => reqwest::Method::HEAD,
    }
}

/// What a plugin's request is answered with while the host checks settings.
pub(crate) const DRY_RUN_DENIAL: &str = "grantbox is checking the settings: nothing is sent";

/// Sends a plugin's request under the host's egress policy and limits.
pub(crate) async fn send(state: &mut CallState, request: Request) -> Result<Response, HttpError> {
    state.requests += 1;
    if state.requests > state.limits.max_requests_per_call {
        return Err(HttpError::InvalidRequest(format!(
            "a call may make at most {} requests",
            state.limits.max_requests_per_call
        )));
    }
    let url = Url::parse(&request.url)
        .map_err(|e| HttpError::InvalidRequest(format!("invalid URL `{}`: {e}", request.url)))?;
    if state.dry_run {
        return Err(HttpError::Denied(DRY_RUN_DENIAL.into()));
    }
    if let Err(denial) = state.egress.check(&state.declared, &url) {
        tracing::warn!(plugin = %state.plugin, %denial, "egress denied");
        return Err(HttpError::Denied(denial.to_string()));
    }
    // Secrets are rendered only now, after the destination passed the policy.
    let mut headers = build_headers(state, &request)?;
    let body = build_body(state, &request.body, &mut headers)?;
    let origin = url.origin().ascii_serialization();
    let path = url.path().to_owned();
    let started = Instant::now();
    let sent = state
        .http
        .request(method(request.method), url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(r) => r,
        Err(e) => {
            let err = classify(&e);
            tracing::debug!(plugin = %state.plugin, %origin, %path, error = ?err, "outbound request failed");
            return Err(err);
        }
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = read_capped(response, state.limits.max_response_bytes).await?;
    tracing::debug!(
        plugin = %state.plugin, %origin, %path, status,
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "outbound request"
    );
    Ok(Response {
        status,
        headers,
        body,
    })
}

async fn read_capped(mut response: reqwest::Response, cap: u64) -> Result<Vec<u8>, HttpError> {
    if response.content_length().is_some_and(|n| n > cap) {
        return Err(HttpError::ResponseTooLarge(cap));
    }
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > cap {
                    return Err(HttpError::ResponseTooLarge(cap));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(classify(&e)),
        }
    }
}

fn classify(e: &reqwest::Error) -> HttpError {
    let mut source = e.source();
    while let Some(s) = source {
        if let Some(denied) = s.downcast_ref::<ResolveDenied>() {
            return HttpError::Denied(denied.0.to_string());
        }
        source = s.source();
    }
    if e.is_timeout() {
        return HttpError::Timeout;
    }
    // The URL carries no secrets (the contract keeps them out of URLs).
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    HttpError::ConnectionFailed(text)
}
