//! An OAuth 2.0 token server on loopback that behaves like real providers, quirks included.
//!
//! It implements the token endpoint of RFC 6749 (client credentials, password, refresh
//! token), client authentication by HTTP Basic (form-urlencoded per §2.3.1) or in the body,
//! RFC 6749 §5.2 error responses, the authorization-code grant with PKCE behind an
//! authorization endpoint and consent page, the device authorization grant (RFC 8628),
//! and a protected API (`GET /api/whoami`) that checks how
//! the access token is applied. [`Behavior`] switches on the quirks real providers have:
//! Basic-only or body-only client authentication (LinkedIn), a renamed password grant,
//! required extra headers and body parameters, `expires_in` as a string (Azure) or absent
//! (Salesforce), no `token_type`, errors inside a 200 (GitHub, Slack), form-encoded token
//! responses (GitHub), rotating refresh tokens (Intuit, Xero), a separate refresh URL, a
//! raw token without `Bearer `, custom headers or a query parameter on the API.
//!
//! Used by grantbox's end-to-end tests (which assert on [`TokenServer::requests`]), its
//! benchmarks and `grantbox demo`.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use grantbox_token_server::{Behavior, ClientAuth, TokenServer};
//!
//! let server = TokenServer::start(Behavior {
//!     client_auth: ClientAuth::BodyOnly,
//!     ..Behavior::default()
//! })
//! .await?;
//! println!("token endpoint: {}", server.url("/token"));
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod interactive;

pub use interactive::{AuthorizeDecision, DEVICE_CODE_GRANT, DevicePoll};

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use base64::Engine as _;
use serde_json::{Map, Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Where client credentials are accepted (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// HTTP Basic or the request body (never both at once).
    #[default]
    Any,
    /// Only HTTP Basic; credentials in the body are `invalid_client`.
    BasicOnly,
    /// Only the body (like LinkedIn); a Basic header is `invalid_client`.
    BodyOnly,
}

/// How `expires_in` is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiresIn {
    /// A JSON number, as RFC 6749 says.
    #[default]
    Number,
    /// A JSON string (like Azure's `"3599"`).
    String,
    /// Not at all (like Salesforce).
    Absent,
}

/// The format of successful token responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenResponseFormat {
    /// `application/json`.
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` unless the client sends `Accept: application/json`
    /// (like GitHub).
    FormUnlessAcceptJson,
}

/// How `/api/whoami` expects the access token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ApiTokenPlacement {
    /// `Authorization: Bearer <token>`.
    #[default]
    Bearer,
    /// `Authorization: <token>`; the `Bearer ` prefix is refused.
    Raw,
    /// A custom header (lower-case name), with the raw token.
    Header(String),
    /// A query parameter.
    Query(String),
}

/// What the server accepts and how it answers. `Default` is standard RFC 6749 behaviour.
#[derive(Debug, Clone)]
pub struct Behavior {
    /// The client id it accepts.
    pub client_id: String,
    /// The client secret it accepts.
    pub client_secret: String,
    /// The resource owner's user name (password grant).
    pub username: String,
    /// The resource owner's password (password grant).
    pub password: String,
    /// Where client credentials are accepted.
    pub client_auth: ClientAuth,
    /// The `grant_type` value of the password grant; when not `password`, the standard
    /// value is refused with `unsupported_grant_type`.
    pub password_grant_type: String,
    /// Headers every token request must carry (lower-case name, value).
    pub required_headers: Vec<(String, String)>,
    /// Body parameters every token request must carry.
    pub required_params: Vec<(String, String)>,
    /// How `expires_in` is sent.
    pub expires_in: ExpiresIn,
    /// The `token_type` sent, or none.
    pub token_type: Option<String>,
    /// Issue refresh tokens (for the password grant and on refresh).
    pub issue_refresh_token: bool,
    /// Invalidate a refresh token when it is used and issue a new one.
    pub rotate_refresh_tokens: bool,
    /// With rotation: the previous refresh token stays usable until its successor is first
    /// used (the grace period of Okta, Auth0's reuse interval). Reusing it issues a new
    /// token and revokes the unused successor. Without grace, reuse is `invalid_grant`.
    pub rotation_grace: bool,
    /// Answer token requests with 200 and a body that is not JSON.
    pub malformed_response: bool,
    /// Send error responses with HTTP 200 (like GitHub and Slack).
    pub errors_with_status_200: bool,
    /// Fail every token request with (status, error, description).
    pub force_error: Option<(u16, String, String)>,
    /// Fields merged into every successful token response (e.g. `instance_url`).
    pub extra_fields: Map<String, Value>,
    /// Format of successful token responses.
    pub token_response_format: TokenResponseFormat,
    /// How `/api/whoami` expects the token.
    pub api_token_placement: ApiTokenPlacement,
    /// Lifetime of access tokens.
    pub access_token_ttl: Duration,
    /// Delay before answering a token request.
    pub latency: Option<Duration>,
    /// Separator of the requested `scope` (granted scopes are echoed space-separated).
    pub scope_separator: String,
    /// Accept `application/json` token request bodies.
    pub accept_json_body: bool,
    /// Refresh only on `/refresh`; `/token` refuses the refresh grant.
    pub refresh_separately: bool,
    /// Record every request for [`TokenServer::requests`] (benchmarks turn it off).
    pub record_requests: bool,
    /// Answer every token request with `307 Temporary Redirect` to this URL.
    pub redirect_to: Option<String>,
    /// Registered redirect URIs (exact match) for the authorization endpoint.
    pub redirect_uris: Vec<String>,
    /// Also accept loopback redirect URIs on any port (RFC 8252 §7.3).
    pub allow_loopback_redirects: bool,
    /// Require a PKCE S256 challenge on authorization requests.
    pub require_pkce: bool,
    /// The provider does not support PKCE (as many do not): an authorization request with
    /// `code_challenge`, or a token request with `code_verifier`, is refused
    /// (`invalid_request`).
    pub reject_pkce: bool,
    /// Name of the client id parameter in authorization requests and token request bodies
    /// (`client_id`; TikTok spells it `client_key`).
    pub client_id_param: String,
    /// What the user does at the authorization endpoint.
    pub authorize_decision: AuthorizeDecision,
    /// Query parameters every authorization request must carry (e.g. `access_type=offline`).
    pub required_auth_params: Vec<(String, String)>,
    /// Lifetime of authorization codes.
    pub code_ttl: Duration,
    /// Issue a refresh token with the authorization-code and device grants.
    pub interactive_refresh_tokens: bool,
    /// Device flow: the polling interval announced, in seconds.
    pub device_interval_s: u64,
    /// Device flow: lifetime of device codes.
    pub device_code_ttl: Duration,
    /// Device flow: answers for the next polls, consumed first (shared between clones).
    pub device_script: Arc<Mutex<VecDeque<DevicePoll>>>,
}

impl Default for Behavior {
    fn default() -> Self {
        Self {
            client_id: "demo-client".into(),
            client_secret: "demo-secret".into(),
            username: "demo-user".into(),
            password: "demo-password".into(),
            client_auth: ClientAuth::Any,
            password_grant_type: "password".into(),
            required_headers: Vec::new(),
            required_params: Vec::new(),
            expires_in: ExpiresIn::Number,
            token_type: Some("Bearer".into()),
            issue_refresh_token: false,
            rotate_refresh_tokens: false,
            rotation_grace: false,
            malformed_response: false,
            errors_with_status_200: false,
            force_error: None,
            extra_fields: Map::new(),
            token_response_format: TokenResponseFormat::Json,
            api_token_placement: ApiTokenPlacement::Bearer,
            access_token_ttl: Duration::from_secs(3600),
            latency: None,
            scope_separator: " ".into(),
            accept_json_body: false,
            refresh_separately: false,
            record_requests: true,
            redirect_to: None,
            redirect_uris: Vec::new(),
            allow_loopback_redirects: true,
            require_pkce: true,
            reject_pkce: false,
            client_id_param: "client_id".into(),
            authorize_decision: AuthorizeDecision::Approve,
            required_auth_params: Vec::new(),
            code_ttl: Duration::from_secs(60),
            interactive_refresh_tokens: true,
            device_interval_s: 5,
            device_code_ttl: Duration::from_secs(600),
            device_script: Arc::default(),
        }
    }
}

/// A request the server received, and its verdict.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: Option<String>,
    /// Headers, names lower-case (the last value of a repeated header).
    pub headers: BTreeMap<String, String>,
    /// Raw body.
    pub body: Vec<u8>,
    /// Form or JSON body parameters.
    pub params: BTreeMap<String, String>,
    /// Decoded HTTP Basic credentials, if any.
    pub basic_credentials: Option<(String, String)>,
    /// Status answered.
    pub status: u16,
    /// OAuth error code answered, if any.
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
struct Issued {
    client_id: String,
    username: Option<String>,
    scope: Option<String>,
    expires: Instant,
    /// Rotation with grace: the token this one replaced / the token that replaced it.
    predecessor: Option<String>,
    successor: Option<String>,
}

#[derive(Default)]
struct Data {
    requests: Vec<RecordedRequest>,
    access_tokens: HashMap<String, Issued>,
    refresh_tokens: HashMap<String, Issued>,
    grant_counts: HashMap<String, usize>,
    total: usize,
    interactive: interactive::InteractiveData,
}

struct Shared {
    behavior: RwLock<Behavior>,
    data: Mutex<Data>,
    counter: AtomicU64,
    random: RandomState,
}

impl Shared {
    fn data(&self) -> MutexGuard<'_, Data> {
        self.data.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn behavior(&self) -> Behavior {
        self.behavior
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn counter_value(&self) -> u64 {
        self.counter.load(Ordering::Relaxed)
    }

    fn token(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let r1 = self.random.hash_one((n, 1u8));
        let r2 = self.random.hash_one((n, 2u8));
        format!("{prefix}_{n}_{r1:016x}{r2:016x}")
    }
}

/// A running server. Shut down by [`TokenServer::shutdown`] or on drop.
pub struct TokenServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TokenServer {
    /// Starts a server on `127.0.0.1` with an ephemeral port.
    pub async fn start(behavior: Behavior) -> std::io::Result<Self> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), behavior).await
    }

    /// Starts a server on `addr`.
    pub async fn start_on(addr: SocketAddr, behavior: Behavior) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            behavior: RwLock::new(behavior),
            data: Mutex::new(Data::default()),
            counter: AtomicU64::new(1),
            random: RandomState::new(),
        });
        let app = Router::new()
            .route("/token", any(token_endpoint))
            .route("/refresh", any(token_endpoint))
            .route("/api/whoami", get(whoami))
            .route("/api/blob", get(blob))
            .route("/authorize", get(interactive::authorize))
            .route("/authorize/decision", post(interactive::decision))
            .route("/device/code", post(interactive::device_code))
            .route(
                "/device",
                get(interactive::device_page).post(interactive::device_decision),
            )
            .with_state(Arc::clone(&shared));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL of `path` (e.g. `/token`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Replaces the behaviour (takes effect for the next request).
    pub fn set_behavior(&self, behavior: Behavior) {
        *self
            .shared
            .behavior
            .write()
            .unwrap_or_else(|p| p.into_inner()) = behavior;
    }

    /// The requests received so far (when recording is on).
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.data().requests.clone()
    }

    /// How many requests were received (whether recorded or not).
    pub fn request_count(&self) -> usize {
        self.shared.data().total
    }

    /// How many token requests with this `grant_type` were received.
    pub fn count(&self, grant_type: &str) -> usize {
        self.shared
            .data()
            .grant_counts
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// Refresh tokens currently valid.
    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        self.shared.data().refresh_tokens.keys().cloned().collect()
    }

    /// Refresh tokens that are current: valid and not yet rotated (a token in its grace
    /// period after rotation is valid but not current).
    pub fn current_refresh_tokens(&self) -> Vec<String> {
        self.shared
            .data()
            .refresh_tokens
            .iter()
            .filter(|(_, i)| i.successor.is_none())
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Forgets recorded requests and counters (issued tokens stay valid).
    pub fn clear(&self) {
        let mut d = self.shared.data();
        d.requests.clear();
        d.grant_counts.clear();
        d.total = 0;
    }

    /// Revokes every access token issued so far (the API answers `401` to them).
    pub fn revoke_access_tokens(&self) {
        self.shared.data().access_tokens.clear();
    }

    /// Device flow: the user approves (`true`) or denies the pending authorization with
    /// this user code. Returns whether such a pending authorization existed.
    pub fn decide_device(&self, user_code: &str, approve: bool) -> bool {
        self.shared.decide_device(user_code, approve)
    }

    /// Device flow: when each poll of the token endpoint arrived.
    pub fn device_polls(&self) -> Vec<Instant> {
        self.shared.data().interactive.device_polls.clone()
    }

    /// Stops accepting connections and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct OAuthFailure {
    status: StatusCode,
    error: String,
    description: String,
    basic_challenge: bool,
}

fn fail(
    status: StatusCode,
    error: impl Into<String>,
    description: impl Into<String>,
) -> OAuthFailure {
    OAuthFailure {
        status,
        error: error.into(),
        description: description.into(),
        basic_challenge: false,
    }
}

fn decode_basic(headers: &HeaderMap) -> Result<Option<(String, String)>, OAuthFailure> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let bad = || {
        fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "malformed Authorization header",
        )
    };
    let text = value.to_str().map_err(|_| bad())?;
    let Some(encoded) = text.strip_prefix("Basic ") else {
        return Err(bad());
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| bad())?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are application/x-www-form-urlencoded.
    let unform = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some((unform(id), unform(secret))))
}

fn parse_params(
    headers: &HeaderMap,
    body: &[u8],
    accept_json: bool,
) -> Result<BTreeMap<String, String>, OAuthFailure> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if content_type.starts_with("application/x-www-form-urlencoded") {
        return Ok(form_urlencoded::parse(body).into_owned().collect());
    }
    if accept_json && content_type.starts_with("application/json") {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("malformed JSON body: {e}"),
            )
        })?;
        let Value::Object(map) = value else {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the JSON body must be an object",
            ));
        };
        return Ok(map
            .into_iter()
            .map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                (k, v)
            })
            .collect());
    }
    Err(fail(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!(
            "unsupported Content-Type `{content_type}`; expected application/x-www-form-urlencoded"
        ),
    ))
}

fn header_map(headers: &HeaderMap) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

async fn token_endpoint(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let behavior = shared.behavior();
    if let Some(latency) = behavior.latency {
        tokio::time::sleep(latency).await;
    }
    if let Some(location) = &behavior.redirect_to {
        shared.data().total += 1;
        return (
            StatusCode::TEMPORARY_REDIRECT,
            [(header::LOCATION, location.clone())],
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    };
    let path = parts.uri.path().to_owned();
    let mut params = BTreeMap::new();
    let mut basic = None;
    if behavior.malformed_response {
        // A proxy's error page instead of the token response; nothing is issued.
        params = parse_params(&parts.headers, &body, behavior.accept_json_body).unwrap_or_default();
        let mut data = shared.data();
        data.total += 1;
        if let Some(g) = params.get("grant_type") {
            *data.grant_counts.entry(g.clone()).or_default() += 1;
        }
        return (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body>upstream hiccup</body></html>",
        )
            .into_response();
    }
    let outcome = handle_token(
        &shared,
        &behavior,
        &parts.method,
        &parts.uri,
        &parts.headers,
        &body,
        &mut params,
        &mut basic,
    );
    let (status, error, response) = match outcome {
        Ok((json, form)) => {
            let response = if let Some(form) = form {
                (
                    StatusCode::OK,
                    [
                        (header::CONTENT_TYPE, "application/x-www-form-urlencoded"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    form,
                )
                    .into_response()
            } else {
                (
                    StatusCode::OK,
                    [
                        (header::CONTENT_TYPE, "application/json"),
                        (header::CACHE_CONTROL, "no-store"),
                    ],
                    json.to_string(),
                )
                    .into_response()
            };
            (200, None, response)
        }
        Err(f) => {
            let status = if behavior.errors_with_status_200 {
                StatusCode::OK
            } else {
                f.status
            };
            let mut response = (
                status,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                json!({"error": f.error, "error_description": f.description}).to_string(),
            )
                .into_response();
            if f.basic_challenge && status == StatusCode::UNAUTHORIZED {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"token\""),
                );
            }
            (status.as_u16(), Some(f.error), response)
        }
    };
    let mut data = shared.data();
    data.total += 1;
    if let Some(g) = params.get("grant_type") {
        *data.grant_counts.entry(g.clone()).or_default() += 1;
    }
    if behavior.record_requests {
        data.requests.push(RecordedRequest {
            method: parts.method.to_string(),
            path,
            query: parts.uri.query().map(str::to_owned),
            headers: header_map(&parts.headers),
            body: body.to_vec(),
            params,
            basic_credentials: basic,
            status,
            error,
        });
    }
    response
}

#[allow(clippy::too_many_arguments)]
fn handle_token(
    shared: &Shared,
    b: &Behavior,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    params: &mut BTreeMap<String, String>,
    basic: &mut Option<(String, String)>,
) -> Result<(Value, Option<String>), OAuthFailure> {
    if method != Method::POST {
        return Err(fail(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "the token endpoint accepts only POST",
        ));
    }
    *params = parse_params(headers, body, b.accept_json_body)?;
    *basic = decode_basic(headers)?;
    for (name, value) in &b.required_headers {
        let got = headers.get(name.as_str()).and_then(|v| v.to_str().ok());
        if got != Some(value.as_str()) {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("header `{name}` is missing or wrong"),
            ));
        }
    }

    // Client authentication (RFC 6749 §2.3.1).
    let body_creds = params.get("client_secret").map(|s| {
        (
            params.get(&b.client_id_param).cloned().unwrap_or_default(),
            s.clone(),
        )
    });
    let (id, secret, via_basic) = match (basic.clone(), body_creds) {
        (Some(_), Some(_)) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client credentials in both the Authorization header and the body",
            ));
        }
        (Some(_), None) if b.client_auth == ClientAuth::BodyOnly => {
            let mut f = fail(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication must be in the request body",
            );
            f.basic_challenge = true;
            return Err(f);
        }
        (None, Some(_)) if b.client_auth == ClientAuth::BasicOnly => {
            let mut f = fail(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication must use HTTP Basic",
            );
            f.basic_challenge = true;
            return Err(f);
        }
        (Some((id, secret)), None) => (id, secret, true),
        (None, Some((id, secret))) => (id, secret, false),
        (None, None) => {
            let mut f = fail(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "client authentication required",
            );
            f.basic_challenge = true;
            return Err(f);
        }
    };
    if id != b.client_id || secret != b.client_secret {
        let mut f = fail(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong client secret",
        );
        f.basic_challenge = via_basic;
        return Err(f);
    }
    if let Some((status, error, description)) = &b.force_error {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
        return Err(fail(status, error.clone(), description.clone()));
    }
    let Some(grant) = params.get("grant_type").cloned() else {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        ));
    };
    for (name, value) in &b.required_params {
        if params.get(name) != Some(value) {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("parameter `{name}` is missing or wrong"),
            ));
        }
    }
    let scope = params.get("scope").map(|s| {
        s.split(b.scope_separator.as_str())
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    });
    let on_refresh_path = uri.path() == "/refresh";
    let mut rotated_from: Option<String> = None;
    let (username, scope, issue_refresh) = if grant == "client_credentials" && !on_refresh_path {
        (None, scope, false)
    } else if grant == b.password_grant_type && !on_refresh_path {
        let user = params.get("username").cloned().unwrap_or_default();
        let pass = params.get("password").cloned().unwrap_or_default();
        if user != b.username || pass != b.password {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                "invalid username or password",
            ));
        }
        (Some(user), scope, b.issue_refresh_token)
    } else if grant == "refresh_token" {
        if b.refresh_separately && !on_refresh_path {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "refresh tokens are redeemed at /refresh",
            ));
        }
        let Some(rt) = params.get("refresh_token") else {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "refresh_token is required",
            ));
        };
        let mut data = shared.data();
        let issued = match data.refresh_tokens.get(rt) {
            Some(i) if i.client_id == id => i.clone(),
            _ => {
                return Err(fail(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the refresh token is invalid, expired or revoked",
                ));
            }
        };
        if b.rotate_refresh_tokens {
            if let Some(successor) = &issued.successor {
                // Already rotated: only a grace-period reuse, while the successor is unused.
                if !b.rotation_grace || !data.refresh_tokens.contains_key(successor) {
                    return Err(fail(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        "the refresh token was already used",
                    ));
                }
                data.refresh_tokens.remove(successor);
            }
            if let Some(predecessor) = &issued.predecessor {
                data.refresh_tokens.remove(predecessor);
            }
            if b.rotation_grace {
                rotated_from = Some(rt.clone());
            } else {
                data.refresh_tokens.remove(rt);
            }
        }
        (
            issued.username,
            scope.or(issued.scope),
            b.rotate_refresh_tokens,
        )
    } else if grant == "authorization_code" && !on_refresh_path {
        let scope = interactive::redeem_code(shared, &id, params)?;
        (
            Some(b.username.clone()),
            scope,
            b.interactive_refresh_tokens,
        )
    } else if grant == DEVICE_CODE_GRANT && !on_refresh_path {
        let scope = interactive::redeem_device(shared, b, &id, params)?;
        (
            Some(b.username.clone()),
            scope,
            b.interactive_refresh_tokens,
        )
    } else {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type `{grant}` is not supported"),
        ));
    };

    let access = shared.token("at");
    let issued = Issued {
        client_id: id,
        username,
        scope: scope.clone(),
        expires: Instant::now() + b.access_token_ttl,
        predecessor: None,
        successor: None,
    };
    let mut response = Map::new();
    response.insert("access_token".into(), Value::String(access.clone()));
    if let Some(t) = &b.token_type {
        response.insert("token_type".into(), Value::String(t.clone()));
    }
    let ttl = b.access_token_ttl.as_secs();
    match b.expires_in {
        ExpiresIn::Number => {
            response.insert("expires_in".into(), json!(ttl));
        }
        ExpiresIn::String => {
            response.insert("expires_in".into(), Value::String(ttl.to_string()));
        }
        ExpiresIn::Absent => {}
    }
    if let Some(s) = &scope {
        response.insert("scope".into(), Value::String(s.clone()));
    }
    {
        let mut data = shared.data();
        if issue_refresh {
            let rt = shared.token("rt");
            let mut entry = issued.clone();
            if let Some(old) = rotated_from.take() {
                if let Some(o) = data.refresh_tokens.get_mut(&old) {
                    o.successor = Some(rt.clone());
                }
                entry.predecessor = Some(old);
            }
            data.refresh_tokens.insert(rt.clone(), entry);
            response.insert("refresh_token".into(), Value::String(rt));
        }
        data.access_tokens.insert(access, issued);
    }
    for (k, v) in &b.extra_fields {
        response.insert(k.clone(), v.clone());
    }
    let accept_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    let form = (b.token_response_format == TokenResponseFormat::FormUnlessAcceptJson
        && !accept_json)
        .then(|| {
            let mut ser = form_urlencoded::Serializer::new(String::new());
            for (k, v) in &response {
                match v {
                    Value::String(s) => ser.append_pair(k, s),
                    other => ser.append_pair(k, &other.to_string()),
                };
            }
            ser.finish()
        });
    Ok((Value::Object(response), form))
}

/// The live access token an API request carries the way `api_token_placement` says.
fn api_caller(shared: &Shared, uri: &Uri, headers: &HeaderMap) -> Option<Issued> {
    let behavior = shared.behavior();
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let token: Option<String> = match &behavior.api_token_placement {
        ApiTokenPlacement::Bearer => auth
            .and_then(|a| a.strip_prefix("Bearer "))
            .map(str::to_owned),
        ApiTokenPlacement::Raw => auth
            .filter(|a| !a.starts_with("Bearer "))
            .map(str::to_owned),
        ApiTokenPlacement::Header(name) => headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        ApiTokenPlacement::Query(name) => uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        }),
    };
    let issued = {
        let mut data = shared.data();
        data.total += 1;
        token.and_then(|t| data.access_tokens.get(&t).cloned())
    };
    issued.filter(|i| i.expires > Instant::now())
}

/// The byte at `offset` of every `/api/blob` answer.
pub fn blob_byte(offset: usize) -> u8 {
    (offset % 251) as u8
}

/// `GET /api/blob?size=N`: `N` bytes (default 1 MiB) of [`blob_byte`], for a valid token.
async fn blob(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    if api_caller(&shared, &uri, &headers).is_none() {
        return (StatusCode::UNAUTHORIZED, "invalid or missing access token").into_response();
    }
    let size = uri
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "size")
                .and_then(|(_, v)| v.parse::<usize>().ok())
        })
        .unwrap_or(1 << 20);
    let bytes: Vec<u8> = (0..size).map(blob_byte).collect();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/octet-stream")],
        bytes,
    )
        .into_response()
}

async fn whoami(State(shared): State<Arc<Shared>>, uri: Uri, headers: HeaderMap) -> Response {
    let issued = api_caller(&shared, &uri, &headers);
    match issued {
        Some(i) if i.expires > Instant::now() => (
            StatusCode::OK,
            axum::Json(json!({"client_id": i.client_id, "username": i.username, "scope": i.scope})),
        )
            .into_response(),
        _ => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
            "invalid or missing access token",
        )
            .into_response(),
    }
}
