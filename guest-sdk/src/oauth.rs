//! Standard RFC 6749 pieces: grant parameters, client authentication, tolerant token
//! response parsing, error mapping, authorization URLs and device authorization.
//!
//! [`Provider`](crate::Provider)'s default methods are built from these; a plugin that
//! overrides one hook can call them for the rest.

use serde_json::{Map, Value};

use crate::http::Params;
use crate::{
    AuthorizationRequest, DeviceAuthorization, ErrorKind, Grant, HeaderPlacement, OAuthError,
    Placement, Settings, TokenRequest, TokenSet,
};

/// The `grant_type` of the device grant (RFC 8628 §3.4).
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Where client credentials go (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic, form-urlencoded id and secret (the RFC's recommendation).
    Basic,
    /// `client_id` and `client_secret` in the request body.
    Body,
    /// Only `client_id` in the body (public clients, or when the plugin authenticates
    /// some other way, such as a signed assertion).
    None,
}

/// How the token request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/x-www-form-urlencoded` (RFC 6749).
    Form,
    /// `application/json` (some providers).
    Json,
}

/// Whether the authorization-code flow uses PKCE: the `pkce` flag, on when unset. A
/// provider that rejects PKCE gets neither `code_challenge` nor `code_verifier` when the
/// operator sets `pkce = false`.
pub fn pkce_enabled(settings: &Settings) -> Result<bool, OAuthError> {
    settings.flag_or("pkce", true)
}

/// Renames standard parameters as the `param_names` map says (e.g. `client_id =
/// "client_key"`, `redirect_uri = "redirect_url"`), for providers that spell them
/// differently; used on token requests, device authorization and authorization URLs.
pub fn rename_params(settings: &Settings, params: &mut Params<'_>) -> Result<(), OAuthError> {
    for (from, to) in settings.map("param_names")? {
        params.rename(from, to);
    }
    Ok(())
}

/// [`rename_params`] for query parameters (e.g. [`authorization_query`]).
pub fn rename_query(settings: &Settings, query: &mut [(String, String)]) -> Result<(), OAuthError> {
    for (from, to) in settings.map("param_names")? {
        for (name, _) in query.iter_mut().filter(|(name, _)| name == from) {
            name.clone_from(to);
        }
    }
    Ok(())
}

/// The standard parameters of a grant: `grant_type` and what the grant needs. Scopes are
/// added (joined by `separator`) for grants that request them.
pub fn grant_params<'a>(
    settings: &'a Settings,
    request: &TokenRequest<'a>,
    separator: &str,
    params: &mut Params<'a>,
) -> Result<(), OAuthError> {
    let mut with_scope = true;
    match &request.grant {
        Grant::ClientCredentials => {
            params.add("grant_type", "client_credentials");
        }
        Grant::Password => {
            params.add("grant_type", "password");
            params.add("username", settings.require_text("username")?);
            params.add_secret("password", settings.require_secret("password")?);
        }
        Grant::RefreshToken(token) => {
            params.add("grant_type", "refresh_token");
            params.add_secret("refresh_token", token);
        }
        Grant::AuthorizationCode(exchange) => {
            with_scope = false;
            params.add("grant_type", "authorization_code");
            params.add_secret("code", exchange.code);
            params.add("redirect_uri", &exchange.redirect_uri);
            if let Some(verifier) = exchange.pkce_verifier
                && pkce_enabled(settings)?
            {
                params.add_secret("code_verifier", verifier);
            }
        }
        Grant::DeviceCode(code) => {
            with_scope = false;
            params.add("grant_type", DEVICE_CODE_GRANT);
            params.add_secret("device_code", code);
        }
        Grant::Custom(name) => {
            params.add("grant_type", name);
        }
    }
    if with_scope && !request.scopes.is_empty() {
        params.add("scope", &request.scopes.join(separator));
    }
    Ok(())
}

/// Whether the request is a refresh.
pub fn is_refresh(request: &TokenRequest<'_>) -> bool {
    matches!(request.grant, Grant::RefreshToken(_))
}

fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// A non-negative number of seconds given as a JSON number or a string.
pub fn seconds(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse::<u64>().ok().or_else(|| {
            s.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| *f >= 0.0)
                .map(|f| f as u64)
        }),
        _ => None,
    }
}

/// Parses a response body as a JSON object, or as a form-encoded one (GitHub answers
/// `access_token=…&token_type=…` unless asked for JSON).
pub fn parse_object(content_type: Option<&str>, body: &[u8]) -> Option<Map<String, Value>> {
    if let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) {
        return Some(map);
    }
    let looks_form = content_type
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
        || (!body.is_empty()
            && body.contains(&b'=')
            && !body.starts_with(b"{")
            && !body.starts_with(b"<"));
    if looks_form {
        let map: Map<String, Value> = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
            .collect();
        if !map.is_empty() {
            return Some(map);
        }
    }
    None
}

/// Maps an RFC 6749 §5.2 error code to the kind the host acts on.
pub fn error_kind(code: &str, status: u16) -> ErrorKind {
    match code {
        "invalid_grant" => ErrorKind::InvalidGrant,
        "invalid_client" | "unauthorized_client" => ErrorKind::InvalidClient,
        "temporarily_unavailable" | "server_error" => ErrorKind::TemporarilyUnavailable,
        "authorization_pending" => ErrorKind::AuthorizationPending,
        "slow_down" => ErrorKind::SlowDown,
        "expired_token" => ErrorKind::InvalidGrant,
        _ if status >= 500 || status == 429 => ErrorKind::TemporarilyUnavailable,
        _ => ErrorKind::Rejected,
    }
}

/// An error response object (`error`, `error_description`, `error_uri`) as an [`OAuthError`].
pub fn error_from_object(status: u16, object: &Map<String, Value>) -> Option<OAuthError> {
    let code = object.get("error").and_then(as_text)?;
    Some(OAuthError {
        kind: error_kind(&code, status),
        error: Some(code),
        description: object.get("error_description").and_then(as_text),
        uri: object.get("error_uri").and_then(as_text),
        field: None,
        status: Some(status),
    })
}

/// The error for a non-2xx response without an RFC 6749 error object.
pub fn error_from_status(status: u16, body: &[u8]) -> OAuthError {
    let kind = match status {
        429 | 500..=599 => ErrorKind::TemporarilyUnavailable,
        401 => ErrorKind::InvalidClient,
        _ => ErrorKind::Protocol,
    };
    let text = String::from_utf8_lossy(body);
    let text: String = text.chars().take(200).collect();
    OAuthError {
        kind,
        error: None,
        description: Some(format!(
            "HTTP {status} without an OAuth error object: {text}"
        )),
        uri: None,
        field: None,
        status: Some(status),
    }
}

/// The object of a successful response: an error object (even with HTTP 200) or a non-2xx
/// status is an error, and so is a body that is no object at all.
pub fn success_object(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    what: &str,
) -> Result<Map<String, Value>, OAuthError> {
    let object = parse_object(content_type, body);
    if let Some(obj) = &object
        && let Some(err) = error_from_object(status, obj)
    {
        return Err(err);
    }
    if !(200..300).contains(&status) {
        return Err(error_from_status(status, body));
    }
    object.ok_or_else(|| {
        OAuthError::protocol(format!(
            "the {what} response is neither a JSON object nor form-encoded"
        ))
        .with_status(status)
    })
}

/// Fields of a token response that have their own place in [`TokenSet`].
const KNOWN_FIELDS: &[&str] = &[
    "access_token",
    "token_type",
    "expires_in",
    "refresh_token",
    "refresh_token_expires_in",
    "scope",
    "id_token",
];

/// Parses a token response, tolerantly: `expires_in` as a number or a string (or absent),
/// `token_type` optional, `scope` split by `separator` (and spaces), unknown fields kept in
/// `extra`, an `error` object is an error even with HTTP 200, form-encoded bodies accepted.
pub fn parse_token_response(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    separator: &str,
) -> Result<TokenSet, OAuthError> {
    let obj = success_object(status, content_type, body, "token")?;
    token_set_from_object(obj, separator).map_err(|e| e.with_status(status))
}

/// Builds a [`TokenSet`] from a token response object.
pub fn token_set_from_object(
    mut obj: Map<String, Value>,
    separator: &str,
) -> Result<TokenSet, OAuthError> {
    let access_token = match obj.get("access_token") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(OAuthError::protocol(
                "the token response has no access_token",
            ));
        }
    };
    let scopes = obj.get("scope").and_then(as_text).map(|s| {
        s.split(|c: char| c == ' ' || separator.contains(c))
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect()
    });
    let set = TokenSet {
        access_token,
        token_type: obj.get("token_type").and_then(as_text),
        expires_in: seconds(obj.get("expires_in")),
        refresh_token: obj
            .get("refresh_token")
            .and_then(as_text)
            .filter(|s| !s.is_empty()),
        refresh_token_expires_in: seconds(obj.get("refresh_token_expires_in")),
        scopes,
        id_token: obj.get("id_token").and_then(as_text),
        extra: None,
    };
    for k in KNOWN_FIELDS {
        obj.remove(*k);
    }
    Ok(TokenSet {
        extra: (!obj.is_empty()).then(|| Value::Object(obj).to_string()),
        ..set
    })
}

/// Appends query parameters to a URL (keeping any it already has).
pub fn append_query(base: &str, params: &[(String, String)]) -> String {
    if params.is_empty() {
        return base.to_owned();
    }
    let mut ser = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        ser.append_pair(k, v);
    }
    let sep = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    format!("{base}{sep}{}", ser.finish())
}

/// The standard authorization URL (RFC 6749 §4.1.1, RFC 7636 §4.3): `base` with the
/// parameters of [`authorization_query`].
pub fn authorization_url(
    base: &str,
    client_id: &str,
    request: &AuthorizationRequest,
    separator: &str,
    extra: &[(String, String)],
) -> String {
    append_query(
        base,
        &authorization_query(client_id, request, separator, extra),
    )
}

/// The standard authorization-request parameters: `response_type=code`, `client_id`,
/// `redirect_uri`, `scope`, `state`, PKCE S256 challenge, `prompt`, then `extra` (the
/// plugin's or operator's parameters) and the request's own extras, each replacing a
/// parameter of the same name.
pub fn authorization_query(
    client_id: &str,
    request: &AuthorizationRequest,
    separator: &str,
    extra: &[(String, String)],
) -> Vec<(String, String)> {
    let mut q: Vec<(String, String)> = vec![
        ("response_type".into(), "code".into()),
        ("client_id".into(), client_id.into()),
        ("redirect_uri".into(), request.redirect_uri.clone()),
    ];
    if !request.scopes.is_empty() {
        q.push(("scope".into(), request.scopes.join(separator)));
    }
    q.push(("state".into(), request.state.clone()));
    if let Some(challenge) = &request.pkce_challenge {
        q.push(("code_challenge".into(), challenge.clone()));
        q.push(("code_challenge_method".into(), "S256".into()));
    }
    if let Some(prompt) = &request.prompt {
        q.push(("prompt".into(), prompt.clone()));
    }
    for (k, v) in extra.iter().chain(&request.extra_params) {
        q.retain(|(name, _)| name != k);
        q.push((k.clone(), v.clone()));
    }
    q
}

/// Parses a device authorization response (RFC 8628 §3.2; also accepts Google's
/// `verification_url`).
pub fn parse_device_authorization(
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> Result<DeviceAuthorization, OAuthError> {
    let obj = success_object(status, content_type, body, "device authorization")?;
    let text = |k: &str| obj.get(k).and_then(as_text);
    let need = |k: &str| {
        text(k).ok_or_else(|| {
            OAuthError::protocol(format!("the device authorization response has no {k}"))
                .with_status(status)
        })
    };
    Ok(DeviceAuthorization {
        device_code: need("device_code")?,
        user_code: need("user_code")?,
        verification_uri: text("verification_uri")
            .or_else(|| text("verification_url"))
            .ok_or_else(|| {
                OAuthError::protocol("the device authorization response has no verification_uri")
                    .with_status(status)
            })?,
        verification_uri_complete: text("verification_uri_complete"),
        expires_in: seconds(obj.get("expires_in")).unwrap_or(600),
        interval: seconds(obj.get("interval")),
    })
}

/// The token placement described by the conventional settings `token_placement`
/// (`bearer` | `raw` | `header` | `query`), `token_header`, `token_prefix` and
/// `token_query_param`; `Authorization: Bearer` when unset.
pub fn placement_from_settings(settings: &Settings) -> Result<Placement, OAuthError> {
    Ok(
        match settings.choice(
            "token_placement",
            &["bearer", "raw", "header", "query"],
            "bearer",
        )? {
            "raw" => Placement::Authorization(None),
            "header" => Placement::Header(HeaderPlacement {
                name: settings.require_text("token_header")?.to_owned(),
                prefix: settings.text("token_prefix")?.map(str::to_owned),
            }),
            "query" => Placement::Query(
                settings
                    .text("token_query_param")?
                    .unwrap_or("access_token")
                    .to_owned(),
            ),
            _ => Placement::Authorization(Some("Bearer".into())),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> TokenSet {
        parse_token_response(200, Some("application/json"), body.as_bytes(), " ").expect("parses")
    }

    #[test]
    fn standard_response() {
        let t = ok(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":3600,"refresh_token":"r","scope":"x y"}"#,
        );
        assert_eq!(t.access_token, "a");
        assert_eq!(t.token_type.as_deref(), Some("Bearer"));
        assert_eq!(t.expires_in, Some(3600));
        assert_eq!(t.refresh_token.as_deref(), Some("r"));
        assert_eq!(t.scopes, Some(vec!["x".to_string(), "y".to_string()]));
        assert_eq!(t.extra, None);
    }

    #[test]
    fn tolerant_parsing() {
        let t = ok(
            r#"{"access_token":"a","expires_in":"3599","instance_url":"https://x.example","ext_expires_in":3599}"#,
        );
        assert_eq!(t.expires_in, Some(3599));
        assert_eq!(t.token_type, None);
        let extra: Value = serde_json::from_str(t.extra.as_deref().expect("extra")).expect("json");
        assert_eq!(extra["instance_url"], "https://x.example");
        assert_eq!(
            ok(r#"{"access_token":"a","expires_in":null}"#).expires_in,
            None
        );
        assert_eq!(
            ok(r#"{"access_token":"a","expires_in":7200.0}"#).expires_in,
            Some(7200)
        );
        assert_eq!(
            ok(r#"{"access_token":"a","expires_in":"soon"}"#).expires_in,
            None
        );
        let t = parse_token_response(
            200,
            Some("application/x-www-form-urlencoded"),
            b"access_token=gho_x&token_type=bearer&scope=repo%2Cuser",
            ",",
        )
        .expect("form");
        assert_eq!(t.access_token, "gho_x");
        assert_eq!(t.scopes, Some(vec!["repo".to_string(), "user".to_string()]));
    }

    #[test]
    fn errors() {
        let e = parse_token_response(200, None, br#"{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs"}"#, " ").expect_err("error in 200");
        assert_eq!(e.kind, ErrorKind::Rejected);
        assert_eq!(e.error.as_deref(), Some("bad_verification_code"));
        assert_eq!(e.uri.as_deref(), Some("https://docs"));
        assert_eq!(e.status, Some(200));
        let e = parse_token_response(
            400,
            None,
            br#"{"error":"invalid_grant","error_description":"AADSTS70000: expired"}"#,
            " ",
        )
        .expect_err("400");
        assert_eq!(e.kind, ErrorKind::InvalidGrant);
        let e = parse_token_response(503, None, b"<html>down</html>", " ").expect_err("503");
        assert_eq!(e.kind, ErrorKind::TemporarilyUnavailable);
        let e = parse_token_response(401, None, br#"{"error":"invalid_client"}"#, " ")
            .expect_err("401");
        assert_eq!(e.kind, ErrorKind::InvalidClient);
        let e = parse_token_response(200, None, br#"{"token_type":"Bearer"}"#, " ")
            .expect_err("no token");
        assert_eq!(e.kind, ErrorKind::Protocol);
        let e = parse_token_response(200, None, b"<html>", " ").expect_err("garbage");
        assert_eq!(e.kind, ErrorKind::Protocol);
        assert_eq!(error_kind("slow_down", 400), ErrorKind::SlowDown);
        assert_eq!(
            error_kind("authorization_pending", 400),
            ErrorKind::AuthorizationPending
        );
        assert_eq!(
            error_kind("whatever", 502),
            ErrorKind::TemporarilyUnavailable
        );
    }

    #[test]
    fn authorization_urls() {
        let req = AuthorizationRequest {
            redirect_uri: "https://app.example/cb".into(),
            state: "s1".into(),
            scopes: vec!["openid".into(), "email".into()],
            pkce_challenge: Some("ch".into()),
            prompt: Some("consent".into()),
            extra_params: vec![("login_hint".into(), "a@b.c".into())],
        };
        let url = authorization_url(
            "https://login.example/authorize?tenant=x",
            "cid",
            &req,
            " ",
            &[("access_type".into(), "offline".into())],
        );
        assert_eq!(
            url,
            "https://login.example/authorize?tenant=x&response_type=code&client_id=cid&redirect_uri=https%3A%2F%2Fapp.example%2Fcb&scope=openid+email&state=s1&code_challenge=ch&code_challenge_method=S256&prompt=consent&access_type=offline&login_hint=a%40b.c"
        );
    }

    #[test]
    fn device_authorization() {
        let d = parse_device_authorization(200, None, br#"{"device_code":"d","user_code":"U-1","verification_url":"https://g.co/device","expires_in":"1800","interval":5}"#).expect("parses");
        assert_eq!(d.verification_uri, "https://g.co/device");
        assert_eq!(d.expires_in, 1800);
        assert_eq!(d.interval, Some(5));
    }
}
