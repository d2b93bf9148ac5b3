//! Google's OAuth 2.0 token endpoint (`https://oauth2.googleapis.com/token`), per
//! developers.google.com/identity/protocols/oauth2 (web server and service-account flows):
//!
//! - client credentials in the body or HTTP Basic; unknown client → 401 `invalid_client`
//!   "The OAuth client was not found.", wrong secret → 401 `invalid_client` "Unauthorized";
//! - `refresh_token` grant: a new access token, **no new refresh token**; an unknown or
//!   revoked refresh token → 400 `invalid_grant` "Token has been expired or revoked.";
//! - `authorization_code` grant: a refresh token only for codes issued with
//!   `access_type=offline` (and, after the first consent, `prompt=consent`);
//! - `urn:ietf:params:oauth:grant-type:jwt-bearer` (service accounts): an RS256 assertion
//!   with `iss` = the service account, `scope`, `aud` = the token URL, `iat`/`exp` at most
//!   one hour apart, optional `sub` (domain-wide delegation); a bad signature → 400
//!   `invalid_grant` "Invalid JWT Signature.";
//! - responses: `access_token`, `expires_in` 3599, `token_type` "Bearer", `scope`.
//!
//! Left out: ID tokens, incremental authorization, the device flow.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::common::{self, Recorded, Running, lock};

/// The emulated project's credentials.
#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// OAuth client id.
    pub client_id: String,
    /// OAuth client secret.
    pub client_secret: String,
    /// A service account's e-mail address.
    pub service_account_email: String,
    /// The service account's public key (PEM), to verify assertions.
    pub service_account_public_pem: String,
}

#[derive(Default)]
struct Data {
    refresh_tokens: HashMap<String, String>,
    codes: HashMap<String, (String, bool)>,
    requests: Vec<Recorded>,
    grant_counts: BTreeMap<String, usize>,
    last_assertion: Option<Value>,
}

struct Shared {
    config: GoogleConfig,
    token_url: Mutex<String>,
    data: Mutex<Data>,
}

/// A running Google token endpoint.
pub struct Google {
    running: Running,
    shared: Arc<Shared>,
}

impl Google {
    /// Starts it on a loopback port.
    pub async fn start(config: GoogleConfig) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            config,
            token_url: Mutex::new(String::new()),
            data: Mutex::new(Data::default()),
        });
        let router = Router::new()
            .route("/token", post(token))
            .with_state(shared.clone());
        let running = Running::serve(router).await?;
        *lock(&shared.token_url) = format!("{}/token", running.base_url());
        Ok(Self { running, shared })
    }

    /// The token endpoint.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.running.base_url())
    }

    /// The origin (for egress allowances).
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// A refresh token as if the user had consented with `access_type=offline`.
    pub fn grant_refresh_token(&self, scope: &str) -> String {
        let rt = common::token("1//0g");
        lock(&self.shared.data)
            .refresh_tokens
            .insert(rt.clone(), scope.to_owned());
        rt
    }

    /// An authorization code, as the consent screen would issue for these URL parameters.
    pub fn issue_code(&self, scope: &str, offline: bool) -> String {
        let code = common::token("4/0A");
        lock(&self.shared.data)
            .codes
            .insert(code.clone(), (scope.to_owned(), offline));
        code
    }

    /// Revokes a refresh token (the user removed the app's access).
    pub fn revoke(&self, refresh_token: &str) {
        lock(&self.shared.data).refresh_tokens.remove(refresh_token);
    }

    /// The claims of the last JWT-bearer assertion accepted.
    pub fn last_assertion_claims(&self) -> Option<Value> {
        lock(&self.shared.data).last_assertion.clone()
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
}

fn error(status: StatusCode, error: &str, description: &str) -> (StatusCode, Value) {
    (
        status,
        json!({ "error": error, "error_description": description }),
    )
}

async fn token(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = common::form(&body);
    let basic = common::basic(&headers);
    let (status, body) = handle(&shared, &params, basic.clone());
    let mut data = lock(&shared.data);
    if let Some(g) = params.get("grant_type") {
        *data.grant_counts.entry(g.clone()).or_default() += 1;
    }
    data.requests.push(Recorded {
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        params,
        headers: common::headers(&headers),
        basic,
        status: status.as_u16(),
    });
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

fn handle(
    shared: &Shared,
    p: &BTreeMap<String, String>,
    basic: Option<(String, String)>,
) -> (StatusCode, Value) {
    let cfg = &shared.config;
    let grant = p.get("grant_type").map(String::as_str).unwrap_or("");
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" {
        return jwt_bearer(shared, p);
    }
    let (id, secret) = match (basic, p.get("client_id"), p.get("client_secret")) {
        (Some(b), None, None) => b,
        (None, Some(id), Some(s)) => (id.clone(), s.clone()),
        (None, Some(_), None) | (None, None, _) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "client_secret is missing.",
            );
        }
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "Multiple client credentials.",
            );
        }
    };
    if id != cfg.client_id {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "The OAuth client was not found.",
        );
    }
    if secret != cfg.client_secret {
        return error(StatusCode::UNAUTHORIZED, "invalid_client", "Unauthorized");
    }
    let mut data = lock(&shared.data);
    match grant {
        "refresh_token" => {
            let rt = p.get("refresh_token").cloned().unwrap_or_default();
            let Some(scope) = data.refresh_tokens.get(&rt).cloned() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Token has been expired or revoked.",
                );
            };
            // No new refresh token on refresh.
            (StatusCode::OK, access(&scope))
        }
        "authorization_code" => {
            let code = p.get("code").cloned().unwrap_or_default();
            let Some((scope, offline)) = data.codes.remove(&code) else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "Malformed auth code.",
                );
            };
            let mut body = access(&scope);
            if offline {
                let rt = common::token("1//0g");
                data.refresh_tokens.insert(rt.clone(), scope);
                body["refresh_token"] = json!(rt);
            }
            (StatusCode::OK, body)
        }
        "" => error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Invalid grant_type: ",
        ),
        other => error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("Invalid grant_type: {other}"),
        ),
    }
}

fn access(scope: &str) -> Value {
    json!({
        "access_token": common::token("ya29.a0"),
        "expires_in": 3599,
        "scope": scope,
        "token_type": "Bearer",
    })
}

fn jwt_bearer(shared: &Shared, p: &BTreeMap<String, String>) -> (StatusCode, Value) {
    let cfg = &shared.config;
    let Some(assertion) = p.get("assertion") else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Missing required parameter: assertion",
        );
    };
    let Ok(key) = DecodingKey::from_rsa_pem(cfg.service_account_public_pem.as_bytes()) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_failure",
            "bad test key",
        );
    };
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[lock(&shared.token_url).clone()]);
    validation.set_required_spec_claims(&["exp", "iat", "aud", "iss"]);
    validation.leeway = 0;
    let claims = match jsonwebtoken::decode::<Value>(assertion, &key, &validation) {
        Ok(data) => data.claims,
        Err(e) => {
            let description = match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => "Invalid JWT Signature.",
                jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                    "Invalid JWT: Failed audience check."
                }
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."
                }
                _ => "Invalid JWT.",
            };
            return error(StatusCode::BAD_REQUEST, "invalid_grant", description);
        }
    };
    if claims["iss"].as_str() != Some(cfg.service_account_email.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid grant: account not found",
        );
    }
    let iat = claims["iat"].as_u64().unwrap_or(0);
    let exp = claims["exp"].as_u64().unwrap_or(0);
    if exp <= iat || exp - iat > 3600 || iat > common::now() + 60 {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.",
        );
    }
    let Some(scope) = claims["scope"].as_str().filter(|s| !s.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "Invalid OAuth scope or ID token audience provided.",
        );
    };
    let body = access(scope);
    lock(&shared.data).last_assertion = Some(claims);
    (StatusCode::OK, body)
}
