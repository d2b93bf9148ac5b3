//! The admin page at `/`: providers and connections with their state, a Connect button
//! that runs the authorization-code flow, add and disconnect; the loaded plugins, and a
//! button that reloads them. Server-rendered HTML, no script at all.
//!
//! Security: log-in with an admin API key creates a session (256 random bits; the store
//! keeps only its hash, so sessions survive restarts and are shared by replicas;
//! `HttpOnly; SameSite=Lax` cookie, 12 h, ended early by log-out or by revoking the API key
//! it was opened with); every form carries the session's CSRF token (derived from the
//! session's secret value), checked on every POST (with `SameSite=Lax`, a cross-site POST
//! carries no cookie either); responses forbid framing and scripts
//! (`Content-Security-Policy`), are not cached, and no secret — token, client secret, key —
//! is ever rendered.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use serde::Deserialize;

use super::Service;
use super::api::start_connect;
use crate::apikeys;
use crate::store::{AdminSessionRecord, ConnectionRecord, ConnectionState, NewConnection};

const COOKIE: &str = "grantbox_session";
const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

fn random() -> String {
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// What the store keeps of a session cookie's value.
fn session_hash(id: &str) -> String {
    blake3::hash(id.as_bytes()).to_hex().to_string()
}

/// The CSRF token of a session: derived from the session's secret cookie value (which a
/// cross-site page cannot read), so it needs no storage and survives restarts.
fn csrf_token(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(blake3::derive_key(
        "grantbox admin page 2026-11 CSRF token",
        id.as_bytes(),
    ))
}

/// Opens a session for API key `key_id`; returns the cookie value.
async fn open_session(s: &Service, key_id: &str) -> crate::Result<String> {
    let id = random();
    let now = SystemTime::now();
    s.inner
        .broker
        .store()
        .create_admin_session(&AdminSessionRecord {
            id_hash: session_hash(&id),
            key_id: key_id.to_owned(),
            created_at: now,
            expires_at: now + SESSION_TTL,
        })
        .await?;
    Ok(id)
}

async fn set_flash(s: &Service, session: &str, message: String) {
    let store = s.inner.broker.store();
    if let Err(e) = store
        .set_admin_flash(&session_hash(session), &message)
        .await
    {
        tracing::warn!(error = %e, "cannot keep the admin page's message");
    }
}

async fn take_flash(s: &Service, session: &str) -> Option<String> {
    let store = s.inner.broker.store();
    match store.take_admin_flash(&session_hash(session)).await {
        Ok(flash) => flash,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the admin page's message");
            None
        }
    }
}

pub(crate) fn routes() -> Router<Service> {
    Router::new()
        .route("/", get(index))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/ui/connections", post(add_connection))
        .route("/ui/connections/{id}/connect", post(connect))
        .route("/ui/connections/{id}/disconnect", post(disconnect))
        .route("/ui/plugins/reload", post(reload_plugins))
}

fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The session and its CSRF token, if logged in: the session is in the store, not
/// expired, and its API key is not revoked.
async fn logged_in(s: &Service, headers: &HeaderMap) -> Option<(String, String)> {
    let id = session_id(headers)?;
    let store = s.inner.broker.store();
    match store
        .admin_session(&session_hash(&id), SystemTime::now())
        .await
    {
        Ok(Some(_)) => {
            let csrf = csrf_token(&id);
            Some((id, csrf))
        }
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the admin session");
            None
        }
    }
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn secure_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

const STYLE: &str = "body{font:15px system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d2433;padding:0 1rem}\
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e3e6ec;vertical-align:top}\
th{font-weight:600;color:#59627a}.state{padding:.1rem .5rem;border-radius:1rem;font-size:.85rem}\
.default{background:#eef0f4}.connected{background:#d9f5e3;color:#0c6b35}.error{background:#fde2e1;color:#9b1c1c}\
.msg{color:#59627a;font-size:.85rem;max-width:28rem}form.inline{display:inline}\
button{font:inherit;padding:.3rem .8rem;border-radius:.35rem;border:1px solid #b8bfcc;background:#fff;cursor:pointer}\
button.primary{background:#2453d6;border-color:#2453d6;color:#fff}input,select{font:inherit;padding:.3rem}\
.flash{padding:.6rem 1rem;background:#eef3ff;border-radius:.4rem}.top{display:flex;justify-content:space-between;align-items:center}";

fn layout(title: &str, body: &str) -> Response {
    secure_headers(
        Html(format!(
            "<!doctype html><html lang=en><head><meta charset=utf-8>\
             <meta name=viewport content=\"width=device-width,initial-scale=1\">\
             <title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
            esc(title)
        ))
        .into_response(),
    )
}

async fn login_page() -> Response {
    layout(
        "grantbox — log in",
        "<h1>grantbox</h1><p>Log in with an admin API key (<code>grantbox apikeys create</code>).</p>\
         <form method=post action=/login><input id=api_key name=api_key type=password \
         autocomplete=off size=60 placeholder=gbx_…> <button id=login class=primary>Log in</button></form>",
    )
}

#[derive(Deserialize)]
struct LoginForm {
    api_key: String,
}

async fn login(State(s): State<Service>, Form(form): Form<LoginForm>) -> Response {
    let key = match apikeys::verify(s.inner.broker.store().as_ref(), form.api_key.trim()).await {
        Ok(key) => key,
        Err(e) => {
            tracing::error!(error = %e, "cannot verify an API key");
            None
        }
    };
    let session = match &key {
        Some(key) => match open_session(&s, &key.id).await {
            Ok(id) => Some(id),
            Err(e) => {
                tracing::error!(error = %e, "cannot open an admin session");
                None
            }
        },
        None => None,
    };
    let Some(id) = session else {
        let mut r = layout(
            "grantbox — log in",
            "<h1>grantbox</h1><p id=error class=flash>Invalid or revoked API key.</p>\
             <form method=post action=/login><input id=api_key name=api_key type=password \
             autocomplete=off size=60> <button id=login class=primary>Log in</button></form>",
        );
        *r.status_mut() = StatusCode::UNAUTHORIZED;
        return r;
    };
    let secure = if s.inner.config.public_base_url.scheme() == "https" {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    );
    let mut r = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    secure_headers(r)
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
}

/// The session of a logged-in user who posted a form with the session's CSRF token;
/// otherwise the answer to send instead (to the log-in page, or 403).
async fn form_session(
    s: &Service,
    headers: &HeaderMap,
    form_csrf: &str,
) -> Result<String, Box<Response>> {
    let Some((session, csrf)) = logged_in(s, headers).await else {
        return Err(Box::new(Redirect::to("/login").into_response()));
    };
    if !csrf_ok(&csrf, form_csrf) {
        return Err(Box::new(forbidden()));
    }
    Ok(session)
}

fn csrf_ok(expected: &str, given: &str) -> bool {
    // Constant time in the token's length.
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

fn forbidden() -> Response {
    secure_headers(
        (
            StatusCode::FORBIDDEN,
            Html("<!doctype html><p>Forbidden: log in again (missing or wrong CSRF token).</p>"),
        )
            .into_response(),
    )
}

async fn logout(State(s): State<Service>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> Response {
    let id = match form_session(&s, &headers, &f.csrf).await {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    if let Err(e) = s
        .inner
        .broker
        .store()
        .delete_admin_session(&session_hash(&id))
        .await
    {
        tracing::warn!(error = %e, "cannot end the admin session");
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("grantbox_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    r
}

fn time(t: Option<SystemTime>) -> String {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| {
            let secs = d.as_secs();
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |n| n.as_secs());
            if secs >= now {
                format!("in {}", human(secs - now))
            } else {
                format!("{} ago", human(now - secs))
            }
        })
        .unwrap_or_else(|| "—".into())
}

fn human(s: u64) -> String {
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

fn row(c: &ConnectionRecord, csrf: &str) -> String {
    let state = match c.state {
        ConnectionState::Default => "Default",
        ConnectionState::Connected => "Connected",
        ConnectionState::Error => "Error",
    };
    let id = esc(&c.id);
    let path_id: String = url::form_urlencoded::byte_serialize(c.id.as_bytes()).collect();
    let label = if c.state == ConnectionState::Default {
        "Connect"
    } else {
        "Reconnect"
    };
    let mut actions = format!(
        "<form class=inline method=post action=\"/ui/connections/{path_id}/connect\">\
         <input type=hidden name=csrf value=\"{csrf}\">\
         <button class=primary id=\"connect-{id}\">{label}</button></form>"
    );
    if c.state != ConnectionState::Default {
        actions.push_str(&format!(
            " <form class=inline method=post action=\"/ui/connections/{path_id}/disconnect\">\
             <input type=hidden name=csrf value=\"{csrf}\">\
             <button id=\"disconnect-{id}\">Disconnect</button></form>"
        ));
    }
    let active = if c.active { "" } else { " (disabled)" };
    format!(
        "<tr id=\"row-{id}\"><td>{id}{active}</td><td>{provider}</td>\
         <td><span class=\"state {class}\" id=\"state-{id}\">{state}</span></td>\
         <td>{expires}</td><td class=msg>{message}</td><td>{actions}</td></tr>",
        provider = esc(&c.provider),
        class = c.state.as_str(),
        expires = time(c.token.as_ref().and_then(|t| t.expires_at)),
        message = esc(c.last_message.as_deref().unwrap_or("")),
    )
}

async fn index(State(s): State<Service>, headers: HeaderMap) -> Response {
    let Some((session, csrf)) = logged_in(&s, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let store = s.inner.broker.store();
    let (providers, connections) = match (store.providers().await, store.connections(None).await) {
        (Ok(p), Ok(c)) => (p, c),
        (Err(e), _) | (_, Err(e)) => {
            tracing::error!(error = %e, "admin page: store unavailable");
            return layout(
                "grantbox",
                "<h1>grantbox</h1><p>The store is unavailable.</p>",
            );
        }
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &connections {
        *counts.entry(c.provider.as_str()).or_default() += 1;
    }
    let flash = take_flash(&s, &session)
        .await
        .map(|m| format!("<p class=flash id=flash>{}</p>", esc(&m)))
        .unwrap_or_default();
    let provider_rows: String = providers
        .iter()
        .map(|p| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.name),
                esc(&p.plugin),
                esc(p.grant.as_ref().map_or("—", |g| g.name())),
                esc(&p.scopes.join(" ")),
                counts.get(p.name.as_str()).copied().unwrap_or(0)
            )
        })
        .collect();
    let connection_rows: String = connections.iter().map(|c| row(c, &csrf)).collect();
    let plugin_rows: String = s
        .inner
        .broker
        .host()
        .plugins()
        .iter()
        .map(|p| {
            format!(
                "<tr id=\"plugin-{id}\"><td>{id}</td><td>{}</td><td>{}</td></tr>",
                esc(&p.metadata.version),
                esc(&p.source),
                id = esc(&p.metadata.id),
            )
        })
        .collect();
    let options: String = providers
        .iter()
        .map(|p| format!("<option>{}</option>", esc(&p.name)))
        .collect();
    let body = format!(
        "<div class=top><h1>grantbox</h1><form method=post action=/logout>\
         <input type=hidden name=csrf value=\"{csrf}\"><button id=logout>Log out</button></form></div>\
         {flash}\
         <h2>Connections</h2><table id=connections><tr><th>Connection</th><th>Provider</th>\
         <th>State</th><th>Expires</th><th>Last message</th><th></th></tr>{connection_rows}</table>\
         <h2>Add a connection</h2><form method=post action=/ui/connections>\
         <input type=hidden name=csrf value=\"{csrf}\">\
         <input id=new-id name=id placeholder=id required> <select id=new-provider name=provider>{options}</select> \
         <input id=new-base name=api_base_url placeholder=\"API base URL (optional)\" size=40> \
         <button id=add>Add</button></form>\
         <h2>Providers</h2><table id=providers><tr><th>Provider</th><th>Plugin</th><th>Grant</th>\
         <th>Scopes</th><th>Connections</th></tr>{provider_rows}</table>\
         <h2>Plugins</h2><table id=plugins><tr><th>Plugin</th><th>Version</th><th>Source</th></tr>\
         {plugin_rows}</table>\
         <form method=post action=/ui/plugins/reload><input type=hidden name=csrf value=\"{csrf}\">\
         <button id=reload-plugins>Reload plugins</button> new plugins and versions from the \
         plugin directory</form>"
    );
    layout("grantbox", &body)
}

async fn reload_plugins(
    State(s): State<Service>,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Response {
    let session = match form_session(&s, &headers, &f.csrf).await {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let message = match s.reload_plugins().await {
        Ok(report) => {
            let mut parts = Vec::new();
            for p in &report.added {
                parts.push(format!("added {} {}", p.metadata.id, p.metadata.version));
            }
            for r in &report.replaced {
                parts.push(format!(
                    "{} {} replaced {}",
                    r.plugin.metadata.id, r.plugin.metadata.version, r.previous_version
                ));
            }
            for refused in &report.failed {
                parts.push(format!("refused {}: {}", refused.source, refused.error));
            }
            if parts.is_empty() {
                "Plugins reloaded: nothing new.".to_owned()
            } else {
                format!("Plugins reloaded: {}.", parts.join("; "))
            }
        }
        Err(e) => format!("Plugins not reloaded: {e}"),
    };
    set_flash(&s, &session, message).await;
    Redirect::to("/").into_response()
}

#[derive(Deserialize)]
struct AddForm {
    csrf: String,
    id: String,
    provider: String,
    #[serde(default)]
    api_base_url: String,
}

async fn add_connection(
    State(s): State<Service>,
    headers: HeaderMap,
    Form(f): Form<AddForm>,
) -> Response {
    let session = match form_session(&s, &headers, &f.csrf).await {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let base = f.api_base_url.trim();
    let result = s
        .inner
        .broker
        .add_connection(NewConnection {
            id: f.id.trim().to_owned(),
            provider: f.provider,
            api_base_url: (!base.is_empty()).then(|| base.to_owned()),
            ..NewConnection::default()
        })
        .await;
    let message = match result {
        Ok(()) => format!("Connection `{}` added.", f.id.trim()),
        Err(e) => format!("Could not add the connection: {e}"),
    };
    set_flash(&s, &session, message).await;
    Redirect::to("/").into_response()
}

async fn connect(
    State(s): State<Service>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let session = match form_session(&s, &headers, &f.csrf).await {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    match start_connect(&s, &id, None, BTreeMap::new(), Some("/".into())).await {
        Ok(view) => Redirect::to(&view.authorization_url).into_response(),
        Err(e) => {
            set_flash(&s, &session, format!("Could not connect `{id}`: {}", e.0)).await;
            Redirect::to("/").into_response()
        }
    }
}

async fn disconnect(
    State(s): State<Service>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<CsrfForm>,
) -> Response {
    let session = match form_session(&s, &headers, &f.csrf).await {
        Ok(session) => session,
        Err(refused) => return *refused,
    };
    let message = match s.inner.broker.disconnect(&id).await {
        Ok(()) => format!("Connection `{id}` disconnected (its tokens were deleted)."),
        Err(e) => format!("Could not disconnect `{id}`: {e}"),
    };
    set_flash(&s, &session, message).await;
    Redirect::to("/").into_response()
}
