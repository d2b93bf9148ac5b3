//! The interactive grants: the authorization endpoint (RFC 6749 §4.1.1, PKCE per RFC 7636)
//! with a consent page, code redemption at the token endpoint, and the device
//! authorization grant (RFC 8628) with its verification page.
//!
//! What it checks, like a real authorization server: `response_type=code`, the client id,
//! the redirect URI against the registered ones (an unregistered one gets an error page,
//! never a redirect, per §4.1.2.1), a PKCE S256 challenge (required by default; `plain` is
//! refused), and at redemption: the code exists, is unused (a second use is refused),
//! unexpired, belongs to the client, the `redirect_uri` is the same as in the
//! authorization request, and `SHA-256(code_verifier)` equals the challenge.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::{OAuthFailure, RecordedRequest, Shared, fail};

/// The RFC 8628 grant type.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What the authorization endpoint does once a request is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthorizeDecision {
    /// The user approves at once: redirect with a code (for tests that follow redirects).
    #[default]
    Approve,
    /// The user refuses: redirect with `error=access_denied`.
    Deny,
    /// Show a consent page with Approve and Deny buttons (for browser tests and the demo).
    ConsentPage,
}

/// What a device-flow poll answers, when scripted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevicePoll {
    /// `authorization_pending`.
    Pending,
    /// `slow_down`.
    SlowDown,
    /// The user approved: tokens.
    Approve,
    /// `access_denied`.
    Deny,
    /// `expired_token`.
    Expire,
}

#[derive(Debug, Clone)]
pub(crate) struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    challenge: Option<String>,
    scope: Option<String>,
    expires: Instant,
    used: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeviceStatus {
    Pending,
    Approved,
    Denied,
    Redeemed,
}

#[derive(Debug, Clone)]
pub(crate) struct DeviceGrant {
    user_code: String,
    client_id: String,
    scope: Option<String>,
    expires: Instant,
    status: DeviceStatus,
    interval: Duration,
    last_poll: Option<Instant>,
}

/// Authorization requests waiting on the consent page, by request id.
#[derive(Debug, Clone)]
pub(crate) struct PendingConsent {
    redirect_uri: String,
    state: Option<String>,
    grant: CodeGrant,
}

#[derive(Default)]
pub(crate) struct InteractiveData {
    codes: BTreeMap<String, CodeGrant>,
    consents: BTreeMap<String, PendingConsent>,
    devices: BTreeMap<String, DeviceGrant>,
    pub(crate) device_polls: Vec<Instant>,
}

fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn redirect_allowed(registered: &[String], allow_loopback: bool, uri: &str) -> bool {
    if registered.iter().any(|r| r == uri) {
        return true;
    }
    // RFC 8252 §7.3: loopback redirect URIs may use any port.
    allow_loopback
        && url::Url::parse(uri).is_ok_and(|u| {
            u.scheme() == "http"
                && matches!(u.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"))
                && u.fragment().is_none()
        })
}

fn with_query(uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(uri) {
        Ok(u) => u,
        Err(_) => return uri.to_owned(),
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    url.to_string()
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><title>Authorization error</title><h1>Authorization error</h1><p>{}</p>",
            html_escape(message)
        )),
    )
        .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `GET /authorize`.
pub(crate) async fn authorize(
    State(shared): State<Arc<Shared>>,
    uri: axum::http::Uri,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    let b = shared.behavior();
    let response = authorize_inner(&shared, &b, &q);
    if b.record_requests {
        let mut data = shared.data();
        data.requests.push(RecordedRequest {
            method: "GET".into(),
            path: "/authorize".into(),
            query: uri.query().map(str::to_owned),
            headers: BTreeMap::new(),
            body: Vec::new(),
            params: q,
            basic_credentials: None,
            status: response.status().as_u16(),
            error: None,
        });
    }
    response
}

fn authorize_inner(shared: &Shared, b: &crate::Behavior, q: &BTreeMap<String, String>) -> Response {
    // Errors about the client or the redirect URI are shown, never redirected (§4.1.2.1).
    let Some(client_id) = q.get(&b.client_id_param) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            &format!("{} is missing", b.client_id_param),
        );
    };
    if *client_id != b.client_id {
        return error_page(StatusCode::BAD_REQUEST, "unknown client_id");
    }
    let Some(redirect_uri) = q.get("redirect_uri") else {
        return error_page(StatusCode::BAD_REQUEST, "redirect_uri is missing");
    };
    if !redirect_allowed(&b.redirect_uris, b.allow_loopback_redirects, redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri is not registered for this client",
        );
    }
    let state = q.get("state").cloned();
    let redirect_error = |error: &str, description: &str| -> Response {
        let mut pairs = vec![("error", error), ("error_description", description)];
        if let Some(s) = &state {
            pairs.push(("state", s.as_str()));
        }
        Redirect::to(&with_query(redirect_uri, &pairs)).into_response()
    };
    if q.get("response_type").map(String::as_str) != Some("code") {
        return redirect_error("unsupported_response_type", "response_type must be code");
    }
    let challenge = q.get("code_challenge").cloned();
    if challenge.is_some() && b.reject_pkce {
        return redirect_error(
            "invalid_request",
            "unsupported parameter code_challenge: PKCE is not supported",
        );
    }
    match (
        challenge.as_deref(),
        q.get("code_challenge_method").map(String::as_str),
    ) {
        (None, _) if b.require_pkce => {
            return redirect_error("invalid_request", "code_challenge is required (PKCE)");
        }
        (Some(_), Some("S256")) | (None, _) => {}
        (Some(_), _) => {
            return redirect_error("invalid_request", "code_challenge_method must be S256");
        }
    }
    for (name, value) in &b.required_auth_params {
        if q.get(name) != Some(value) {
            return redirect_error(
                "invalid_request",
                &format!("parameter `{name}` is missing or wrong"),
            );
        }
    }
    let scope = q.get("scope").map(|s| {
        s.split(b.scope_separator.as_str())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let grant = CodeGrant {
        client_id: client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        challenge,
        scope,
        expires: Instant::now() + b.code_ttl,
        used: false,
    };
    match b.authorize_decision {
        AuthorizeDecision::Deny => redirect_error("access_denied", "The user denied the request"),
        AuthorizeDecision::Approve => {
            let code = issue_code(shared, grant);
            let mut pairs = vec![("code", code.as_str())];
            if let Some(s) = &state {
                pairs.push(("state", s.as_str()));
            }
            Redirect::to(&with_query(redirect_uri, &pairs)).into_response()
        }
        AuthorizeDecision::ConsentPage => {
            let request_id = shared.token("req");
            let scopes = grant.scope.clone().unwrap_or_default();
            shared.data().interactive.consents.insert(
                request_id.clone(),
                PendingConsent {
                    redirect_uri: redirect_uri.clone(),
                    state,
                    grant,
                },
            );
            Html(format!(
                "<!doctype html><html><head><meta charset=utf-8><title>Authorize {client}</title></head>\
                 <body><h1>Test provider: authorize <em>{client}</em>?</h1>\
                 <p>Signed in as <strong>{user}</strong>. Requested scopes: <code>{scopes}</code></p>\
                 <form method=post action=/authorize/decision>\
                 <input type=hidden name=request value=\"{request_id}\">\
                 <button id=approve name=decision value=approve>Approve</button> \
                 <button id=deny name=decision value=deny>Deny</button></form></body></html>",
                client = html_escape(client_id),
                user = html_escape(&b.username),
                scopes = html_escape(&scopes),
            ))
            .into_response()
        }
    }
}

fn issue_code(shared: &Shared, grant: CodeGrant) -> String {
    let code = shared.token("code");
    shared.data().interactive.codes.insert(code.clone(), grant);
    code
}

/// `POST /authorize/decision` (the consent page's form).
pub(crate) async fn decision(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let pending = form
        .get("request")
        .and_then(|r| shared.data().interactive.consents.remove(r));
    let Some(p) = pending else {
        return error_page(StatusCode::BAD_REQUEST, "unknown or answered request");
    };
    let approve = form.get("decision").map(String::as_str) == Some("approve");
    let mut pairs: Vec<(&str, String)> = Vec::new();
    if approve {
        pairs.push(("code", issue_code(&shared, p.grant)));
    } else {
        pairs.push(("error", "access_denied".into()));
        pairs.push(("error_description", "The user denied the request".into()));
    }
    if let Some(s) = p.state {
        pairs.push(("state", s));
    }
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Redirect::to(&with_query(&p.redirect_uri, &borrowed)).into_response()
}

/// Redeems an authorization code at the token endpoint. Returns the granted scope.
pub(crate) fn redeem_code(
    shared: &Shared,
    client_id: &str,
    params: &BTreeMap<String, String>,
) -> Result<Option<String>, OAuthFailure> {
    let invalid = |d: &str| fail(StatusCode::BAD_REQUEST, "invalid_grant", d.to_owned());
    let code = params.get("code").ok_or_else(|| {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "code is required",
        )
    })?;
    let mut data = shared.data();
    let grant = data
        .interactive
        .codes
        .get_mut(code)
        .ok_or_else(|| invalid("the authorization code is invalid"))?;
    if grant.used {
        return Err(invalid("the authorization code was already used"));
    }
    grant.used = true;
    if Instant::now() > grant.expires {
        return Err(invalid("the authorization code expired"));
    }
    if grant.client_id != client_id {
        return Err(invalid(
            "the authorization code was issued to another client",
        ));
    }
    if params.get("redirect_uri") != Some(&grant.redirect_uri) {
        return Err(invalid(
            "redirect_uri does not match the authorization request",
        ));
    }
    if shared.behavior().reject_pkce && params.contains_key("code_verifier") {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "unsupported parameter code_verifier: PKCE is not supported",
        ));
    }
    if let Some(challenge) = &grant.challenge {
        let Some(verifier) = params.get("code_verifier") else {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "code_verifier is required (PKCE)",
            ));
        };
        if s256(verifier) != *challenge {
            return Err(invalid("PKCE verification failed: wrong code_verifier"));
        }
    }
    Ok(grant.scope.clone())
}

/// `POST /device/code` (RFC 8628 §3.1).
pub(crate) async fn device_code(
    State(shared): State<Arc<Shared>>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let b = shared.behavior();
    let params: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let basic = crate::decode_basic(&headers).ok().flatten();
    let client_id = basic
        .as_ref()
        .map(|(id, _)| id.clone())
        .or_else(|| params.get(&b.client_id_param).cloned());
    if client_id.as_deref() != Some(b.client_id.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(serde_json::json!({"error": "invalid_client", "error_description": "unknown client"})),
        )
            .into_response();
    }
    let device = shared.token("dc");
    let n = shared.counter_value();
    let user_code = format!("{:04X}-{:04X}", (n * 7919) % 0xFFFF, (n * 104_729) % 0xFFFF);
    let scope = params.get("scope").cloned();
    let base = format!(
        "http://{}",
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
    );
    shared.data().interactive.devices.insert(
        device.clone(),
        DeviceGrant {
            user_code: user_code.clone(),
            client_id: b.client_id.clone(),
            scope,
            expires: Instant::now() + b.device_code_ttl,
            status: DeviceStatus::Pending,
            interval: Duration::from_secs(b.device_interval_s),
            last_poll: None,
        },
    );
    axum::Json(serde_json::json!({
        "device_code": device,
        "user_code": user_code,
        "verification_uri": format!("{base}/device"),
        "verification_uri_complete": format!("{base}/device?user_code={user_code}"),
        "expires_in": b.device_code_ttl.as_secs(),
        "interval": b.device_interval_s,
    }))
    .into_response()
}

/// `GET /device` (the verification page).
pub(crate) async fn device_page(Query(q): Query<BTreeMap<String, String>>) -> Response {
    let code = q.get("user_code").cloned().unwrap_or_default();
    Html(format!(
        "<!doctype html><title>Device login</title><h1>Enter the code shown on your device</h1>\
         <form method=post action=/device><input name=user_code value=\"{}\">\
         <button name=decision value=approve>Approve</button>\
         <button name=decision value=deny>Deny</button></form>",
        html_escape(&code)
    ))
    .into_response()
}

/// `POST /device` (the verification page's form).
pub(crate) async fn device_decision(
    State(shared): State<Arc<Shared>>,
    Form(form): Form<BTreeMap<String, String>>,
) -> Response {
    let code = form.get("user_code").cloned().unwrap_or_default();
    let approve = form.get("decision").map(String::as_str) == Some("approve");
    if shared.decide_device(&code, approve) {
        Html("<!doctype html><p>Done. You can return to your device.</p>").into_response()
    } else {
        error_page(StatusCode::BAD_REQUEST, "unknown or expired code")
    }
}

impl Shared {
    pub(crate) fn decide_device(&self, user_code: &str, approve: bool) -> bool {
        let mut data = self.data();
        let Some(d) = data.interactive.devices.values_mut().find(|d| {
            d.user_code.eq_ignore_ascii_case(user_code) && d.status == DeviceStatus::Pending
        }) else {
            return false;
        };
        d.status = if approve {
            DeviceStatus::Approved
        } else {
            DeviceStatus::Denied
        };
        true
    }
}

/// Redeems a device code at the token endpoint (RFC 8628 §3.4–3.5). Returns the scope.
pub(crate) fn redeem_device(
    shared: &Shared,
    b: &crate::Behavior,
    client_id: &str,
    params: &BTreeMap<String, String>,
) -> Result<Option<String>, OAuthFailure> {
    let code = params.get("device_code").ok_or_else(|| {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "device_code is required",
        )
    })?;
    let mut data = shared.data();
    let now = Instant::now();
    data.interactive.device_polls.push(now);
    let scripted = {
        let mut script = b.device_script.lock().unwrap_or_else(|p| p.into_inner());
        script.pop_front()
    };
    let device = data
        .interactive
        .devices
        .get_mut(code)
        .filter(|d| d.client_id == client_id)
        .ok_or_else(|| {
            fail(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "unknown device_code",
            )
        })?;
    let too_fast = device.last_poll.is_some_and(|last| {
        now.duration_since(last) + Duration::from_millis(200) < device.interval
    });
    device.last_poll = Some(now);
    let err = |e: &str, d: &str| Err(fail(StatusCode::BAD_REQUEST, e, d.to_owned()));
    match scripted {
        Some(DevicePoll::Pending) => {
            return err("authorization_pending", "the user has not finished");
        }
        Some(DevicePoll::SlowDown) => {
            device.interval += Duration::from_secs(5);
            return err("slow_down", "polling too fast");
        }
        Some(DevicePoll::Deny) => device.status = DeviceStatus::Denied,
        Some(DevicePoll::Expire) => device.expires = now,
        Some(DevicePoll::Approve) => device.status = DeviceStatus::Approved,
        None => {}
    }
    if too_fast {
        device.interval += Duration::from_secs(5);
        return err("slow_down", "polling faster than the interval");
    }
    if now >= device.expires {
        return err("expired_token", "the device code expired");
    }
    match device.status {
        DeviceStatus::Pending => err("authorization_pending", "the user has not finished"),
        DeviceStatus::Denied => err("access_denied", "the user denied the request"),
        DeviceStatus::Redeemed => err("invalid_grant", "the device code was already used"),
        DeviceStatus::Approved => {
            device.status = DeviceStatus::Redeemed;
            Ok(device.scope.clone())
        }
    }
}
