//! Salesforce's OAuth 2.0 token endpoint (`https://login.salesforce.com/services/oauth2/token`,
//! `https://test.salesforce.com` for sandboxes, or My Domain), per help.salesforce.com
//! "OAuth 2.0 Web Server Flow", "Refresh Token Flow" and "JWT Bearer Flow":
//!
//! - responses carry `instance_url` (the org's API host), `id`, `issued_at` (milliseconds,
//!   as a string) and `signature`, but **no `expires_in`**;
//! - a refresh answers without a new refresh token;
//! - JWT bearer: an RS256 assertion with `iss` = the consumer key, `sub` = the user name,
//!   `aud` = the login host URL, `exp` within 3 minutes; no client secret;
//! - errors: 400 `invalid_grant` "authentication failure" / "expired access/refresh token",
//!   `invalid_client_id` "client identifier invalid", `invalid_client` "invalid client
//!   credentials"; client credentials in the body or as HTTP Basic.

use std::collections::HashSet;
use std::sync::Mutex;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

use crate::common::{self, Reply, Req, Server, lock};

/// Connected-app settings.
#[derive(Debug, Clone, Default)]
pub struct SalesforceConfig {
    /// Consumer key.
    pub consumer_key: String,
    /// Consumer secret.
    pub consumer_secret: String,
    /// The user the JWT flow may act as.
    pub username: String,
    /// The connected app's certificate (public key PEM) for the JWT flow.
    pub certificate_public_pem: String,
    /// The `aud` the JWT must carry (the login host the client is configured with).
    pub audience: String,
}

/// Emulator state.
pub struct State {
    config: SalesforceConfig,
    refresh_tokens: Mutex<HashSet<String>>,
}

/// A running Salesforce login host.
pub type Salesforce = Server<State>;

impl Server<State> {
    /// Starts it.
    pub async fn start_salesforce(config: SalesforceConfig) -> std::io::Result<Self> {
        Server::start(
            State {
                config,
                refresh_tokens: Mutex::default(),
            },
            handle,
        )
        .await
    }

    /// A refresh token as the web-server flow would issue.
    pub fn issue_refresh_token(&self) -> String {
        let rt = common::token("5Aep861");
        lock(&self.state().refresh_tokens).insert(rt.clone());
        rt
    }

    /// The org's instance URL in responses.
    pub fn instance_url(&self) -> String {
        "https://yourInstance.my.salesforce.com".into()
    }
}

fn fail(error: &str, description: &str) -> Reply {
    Reply::json(
        400,
        json!({ "error": error, "error_description": description }),
    )
}

fn tokens() -> Value {
    json!({
        "access_token": common::token("00Dxx0000001gPL!AR8AQJXg."),
        "signature": "CMJ4l+CCaPQiKjoOEwEig9H4wqhpuLSk4J2urAe+fVg=",
        "scope": "refresh_token api",
        "instance_url": "https://yourInstance.my.salesforce.com",
        "id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001Sv6AAAS",
        "token_type": "Bearer",
        "issued_at": format!("{}000", common::now()),
    })
}

fn handle(s: &State, _base: &str, req: &Req) -> Reply {
    if req.path != "/services/oauth2/token" {
        return Reply::json(404, json!([{"errorCode": "NOT_FOUND"}]));
    }
    match req.param("grant_type") {
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer") => {
            let Some(assertion) = req.param("assertion") else {
                return fail("invalid_request", "assertion required");
            };
            let Ok(key) = DecodingKey::from_rsa_pem(s.config.certificate_public_pem.as_bytes())
            else {
                return fail("invalid_app_access", "no certificate");
            };
            let mut v = Validation::new(Algorithm::RS256);
            v.set_audience(&[s.config.audience.as_str()]);
            v.set_issuer(&[s.config.consumer_key.as_str()]);
            v.sub = Some(s.config.username.clone());
            v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
            let claims = match jsonwebtoken::decode::<Value>(assertion, &key, &v) {
                Ok(d) => d.claims,
                Err(e) => {
                    return match e.kind() {
                        jsonwebtoken::errors::ErrorKind::InvalidIssuer => {
                            fail("invalid_client_id", "client identifier invalid")
                        }
                        jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                            fail("invalid_grant", "audience is invalid")
                        }
                        jsonwebtoken::errors::ErrorKind::InvalidSubject => {
                            fail("invalid_grant", "user hasn't approved this consumer")
                        }
                        _ => fail("invalid_grant", "invalid assertion"),
                    };
                }
            };
            if claims["exp"].as_u64().unwrap_or(0) > common::now() + 300 {
                return fail("invalid_grant", "expiration time is too far in the future");
            }
            Reply::json(200, tokens())
        }
        Some("refresh_token") => {
            if req.param("client_id") != Some(s.config.consumer_key.as_str()) {
                return fail("invalid_client_id", "client identifier invalid");
            }
            if req.param("client_secret") != Some(s.config.consumer_secret.as_str()) {
                return fail("invalid_client", "invalid client credentials");
            }
            if !lock(&s.refresh_tokens).contains(req.param("refresh_token").unwrap_or_default()) {
                return fail("invalid_grant", "expired access/refresh token");
            }
            Reply::json(200, tokens())
        }
        Some("client_credentials") => {
            let (id, secret) = match &req.basic {
                Some((i, p)) => (Some(i.as_str()), Some(p.as_str())),
                None => (req.param("client_id"), req.param("client_secret")),
            };
            if id != Some(s.config.consumer_key.as_str()) {
                return fail("invalid_client_id", "client identifier invalid");
            }
            if secret != Some(s.config.consumer_secret.as_str()) {
                return fail("invalid_client", "invalid client credentials");
            }
            Reply::json(200, tokens())
        }
        _ => fail("unsupported_grant_type", "grant type not supported"),
    }
}
