//! Microsoft Entra ID (Azure AD) v2 token endpoint,
//! `https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token`, per
//! learn.microsoft.com/entra/identity-platform (client credentials, ROPC, refresh,
//! certificate credentials):
//!
//! - the tenant is a path segment; an unknown tenant → 400 `invalid_request` AADSTS90002;
//! - client credentials need `scope=<resource>/.default` (else 400 `invalid_scope`
//!   AADSTS1002012) and issue no refresh token;
//! - delegated grants (password, refresh) issue a refresh token only when `offline_access`
//!   is among the scopes; refresh tokens rotate (a new one on every refresh);
//! - client authentication: `client_secret` in the body, or a certificate credential —
//!   `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer` and a
//!   `client_assertion` JWT (RS256 or PS256) whose `x5t#S256` (or `x5t`) header names the
//!   registered certificate, with `aud` = the token URL, `iss` = `sub` = the client id, a
//!   `jti` and a future `exp`;
//! - errors: `error`, `error_description` starting with the `AADSTS<code>:` text,
//!   `error_codes`, `timestamp`, `trace_id`, `correlation_id`, `error_uri`.
//!
//! Left out: the authorization endpoint (the service issue drives it), on-behalf-of, SAML
//! bearer, managed identities.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::common::{self, Recorded, Running, lock};

/// The emulated app registration.
#[derive(Debug, Clone, Default)]
pub struct AzureConfig {
    /// Tenant (id or domain) the app lives in.
    pub tenant: String,
    /// Application (client) id.
    pub client_id: String,
    /// A client secret, if one is registered.
    pub client_secret: Option<String>,
    /// A certificate's public key (PEM), if one is registered.
    pub certificate_public_pem: Option<String>,
    /// The certificate's SHA-256 thumbprint, base64url (the `x5t#S256` header).
    pub certificate_x5t_s256: Option<String>,
    /// The certificate's SHA-1 thumbprint, base64url (the `x5t` header).
    pub certificate_x5t: Option<String>,
    /// A user for the ROPC grant.
    pub username: String,
    /// Their password.
    pub password: String,
}

#[derive(Default)]
struct Data {
    refresh_tokens: HashMap<String, String>,
    requests: Vec<Recorded>,
    grant_counts: BTreeMap<String, usize>,
    last_assertion: Option<(Value, Value)>,
}

struct Shared {
    config: AzureConfig,
    base: Mutex<String>,
    data: Mutex<Data>,
}

/// A running Entra ID token endpoint.
pub struct Azure {
    running: Running,
    shared: Arc<Shared>,
}

impl Azure {
    /// Starts it on a loopback port.
    pub async fn start(config: AzureConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            config,
            base: Mutex::new(String::new()),
            data: Mutex::new(Data::default()),
        });
        let router = Router::new()
            .route("/{tenant}/oauth2/v2.0/token", post(token))
            .with_state(shared.clone());
        let running = Running::serve(router).await?;
        *lock(&shared.base) = running.base_url();
        Ok(Self { running, shared })
    }

    /// The authority host (instead of `https://login.microsoftonline.com`).
    pub fn authority(&self) -> String {
        self.running.base_url()
    }

    /// Requests received.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.data).requests.clone()
    }

    /// How many token requests of this grant type arrived.
    pub fn count(&self, grant_type: &str) -> usize {
        lock(&self.shared.data)
            .grant_counts
            .get(grant_type)
            .copied()
            .unwrap_or(0)
    }

    /// Header and claims of the last client assertion accepted.
    pub fn last_assertion(&self) -> Option<(Value, Value)> {
        lock(&self.shared.data).last_assertion.clone()
    }

    /// Refresh tokens currently valid.
    pub fn valid_refresh_tokens(&self) -> Vec<String> {
        lock(&self.shared.data)
            .refresh_tokens
            .keys()
            .cloned()
            .collect()
    }
}

fn aadsts(status: StatusCode, error: &str, code: u32, text: &str) -> (StatusCode, Value) {
    (
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {text}\r\nTrace ID: 0b7e9d3c-test\r\nCorrelation ID: 5f2a-test\r\nTimestamp: 2026-11-25 00:00:00Z"
            ),
            "error_codes": [code],
            "timestamp": "2026-11-25 00:00:00Z",
            "trace_id": "0b7e9d3c-test",
            "correlation_id": "5f2a-test",
            "error_uri": format!("https://login.microsoftonline.com/error?code={code}"),
        }),
    )
}

async fn token(
    State(shared): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = common::form(&body);
    let (status, body) = handle(&shared, &tenant, &params);
    let mut data = lock(&shared.data);
    if let Some(g) = params.get("grant_type") {
        *data.grant_counts.entry(g.clone()).or_default() += 1;
    }
    data.requests.push(Recorded {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        params,
        headers: common::headers(&headers),
        basic: common::basic(&headers),
        status: status.as_u16(),
    });
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn handle(shared: &Shared, tenant: &str, p: &BTreeMap<String, String>) -> (StatusCode, Value) {
    let cfg = &shared.config;
    if tenant != cfg.tenant && !matches!(tenant, "common" | "organizations") {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."
            ),
        );
    }
    if p.get("client_id") != Some(&cfg.client_id) {
        return aadsts(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "Application with identifier was not found in the directory.",
        );
    }
    if let Err(e) = authenticate(shared, tenant, p) {
        return e;
    }
    let scope = p.get("scope").cloned().unwrap_or_default();
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let grant = p.get("grant_type").map(String::as_str).unwrap_or("");
    let offline = scopes.contains(&"offline_access");
    let mut data = lock(&shared.data);
    match grant {
        "client_credentials" => {
            if scopes.len() != 1 || !scopes[0].ends_with("/.default") {
                return aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_scope",
                    1002012,
                    &format!(
                        "The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."
                    ),
                );
            }
            (StatusCode::OK, access(&scope, None))
        }
        "password" => {
            if p.get("username") != Some(&cfg.username) || p.get("password") != Some(&cfg.password)
            {
                return aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    50126,
                    "Error validating credentials due to invalid username or password.",
                );
            }
            let rt = offline.then(|| {
                let rt = common::token("0.ARoA");
                data.refresh_tokens.insert(rt.clone(), scope.clone());
                rt
            });
            (StatusCode::OK, access(&scope, rt))
        }
        "refresh_token" => {
            let old = p.get("refresh_token").cloned().unwrap_or_default();
            let Some(granted) = data.refresh_tokens.remove(&old) else {
                return aadsts(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    700082,
                    "The refresh token has expired due to inactivity.",
                );
            };
            let scope = if scope.is_empty() { granted } else { scope };
            let rt = scope.split(' ').any(|s| s == "offline_access").then(|| {
                let rt = common::token("0.ARoA");
                data.refresh_tokens.insert(rt.clone(), scope.clone());
                rt
            });
            (StatusCode::OK, access(&scope, rt))
        }
        other => aadsts(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
    }
}

fn access(scope: &str, refresh_token: Option<String>) -> Value {
    let mut v = json!({
        "token_type": "Bearer",
        "scope": scope.split(' ').filter(|s| *s != "offline_access").collect::<Vec<_>>().join(" "),
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": common::token("eyJ0eXAiOiJKV1Qi."),
    });
    if let Some(rt) = refresh_token {
        v["refresh_token"] = json!(rt);
    }
    v
}

fn authenticate(
    shared: &Shared,
    tenant: &str,
    p: &BTreeMap<String, String>,
) -> Result<(), (StatusCode, Value)> {
    let cfg = &shared.config;
    if let Some(assertion) = p.get("client_assertion") {
        if p.get("client_assertion_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        {
            return Err(aadsts(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                7000216,
                "'client_assertion_type' is missing or invalid.",
            ));
        }
        return check_assertion(shared, tenant, assertion);
    }
    // A public client (no secret, no certificate) authenticates nothing.
    let confidential = cfg.client_secret.is_some() || cfg.certificate_public_pem.is_some();
    match p.get("client_secret") {
        Some(given) if cfg.client_secret.as_ref() == Some(given) => Ok(()),
        Some(_) => Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.",
        )),
        None if !confidential => Ok(()),
        None => Err(aadsts(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )),
    }
}

fn check_assertion(
    shared: &Shared,
    tenant: &str,
    assertion: &str,
) -> Result<(), (StatusCode, Value)> {
    let cfg = &shared.config;
    let bad =
        |code: u32, text: &str| aadsts(StatusCode::UNAUTHORIZED, "invalid_client", code, text);
    let header = jsonwebtoken::decode_header(assertion)
        .map_err(|_| bad(50027, "JWT token is invalid or malformed."))?;
    let header_json = serde_json::to_value(&header).unwrap_or(Value::Null);
    let thumbprint_ok = match (&header.x5t_s256, &header.x5t) {
        (Some(t), _) => cfg.certificate_x5t_s256.as_deref() == Some(t.as_str()),
        (None, Some(t)) => cfg.certificate_x5t.as_deref() == Some(t.as_str()),
        (None, None) => false,
    };
    if !thumbprint_ok {
        return Err(bad(
            700027,
            "Client assertion failed signature validation. The certificate with the thumbprint in the token is not registered for this application.",
        ));
    }
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256) {
        return Err(bad(5002738, "Invalid JWT token. 'alg' is not supported."));
    }
    let pem = cfg
        .certificate_public_pem
        .as_deref()
        .ok_or_else(|| bad(700027, "No certificate registered."))?;
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|_| bad(700027, "No usable certificate registered."))?;
    let mut v = Validation::new(header.alg);
    let aud = format!("{}/{tenant}/oauth2/v2.0/token", lock(&shared.base));
    v.set_audience(&[aud]);
    v.set_issuer(&[cfg.client_id.as_str()]);
    v.sub = Some(cfg.client_id.clone());
    v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
    let claims = jsonwebtoken::decode::<Value>(assertion, &key, &v)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => {
                bad(700027, "Client assertion contains an invalid signature.")
            }
            jsonwebtoken::errors::ErrorKind::InvalidAudience => bad(
                700212,
                "No matching federated identity record found for presented assertion audience.",
            ),
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => bad(
                700024,
                "Client assertion is not within its valid time range.",
            ),
            _ => bad(50027, "JWT token is invalid or malformed."),
        })?
        .claims;
    if claims["jti"].as_str().is_none_or(str::is_empty) {
        return Err(bad(
            50027,
            "JWT token is invalid or malformed: jti is missing.",
        ));
    }
    lock(&shared.data).last_assertion = Some((header_json, claims));
    Ok(())
}
