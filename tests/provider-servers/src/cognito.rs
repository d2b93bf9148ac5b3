//! Amazon Cognito user-pool OAuth endpoints
//! (`https://{domain}.auth.{region}.amazoncognito.com/oauth2/token`, or a custom domain),
//! per docs.aws.amazon.com/cognito "Token endpoint":
//!
//! - a confidential app client authenticates with HTTP Basic only
//!   (`Authorization: Basic base64(client_id:client_secret)`); a secret in the body is
//!   `invalid_client`;
//! - `client_credentials` with custom scopes `resource-server-identifier/scope-name`
//!   (unknown ones → `invalid_scope`); no refresh token;
//! - `refresh_token`: new access and ID tokens, no new refresh token;
//! - errors are `{"error": "…"}` (no description) with 400;
//! - the device authorization grant is not a Cognito feature: this emulator offers it
//!   only when configured (`device_flow`), standing for a server in front of Cognito.

use std::collections::HashSet;
use std::sync::Mutex;

use serde_json::json;

use crate::common::{self, Reply, Req, Server, lock};

/// App client settings.
#[derive(Debug, Clone, Default)]
pub struct CognitoConfig {
    /// App client id.
    pub client_id: String,
    /// App client secret.
    pub client_secret: String,
    /// Custom scopes the client may ask for.
    pub scopes: Vec<String>,
    /// Offer `/oauth2/device_authorization`.
    pub device_flow: bool,
}

/// Emulator state.
pub struct State {
    config: CognitoConfig,
    refresh_tokens: Mutex<HashSet<String>>,
    devices: Mutex<HashSet<String>>,
}

/// A running Cognito domain.
pub type Cognito = Server<State>;

impl Server<State> {
    /// Starts it.
    pub async fn start_cognito(config: CognitoConfig) -> std::io::Result<Self> {
        Server::start(
            State {
                config,
                refresh_tokens: Mutex::default(),
                devices: Mutex::default(),
            },
            handle,
        )
        .await
    }

    /// A refresh token as a user sign-in would issue.
    pub fn issue_refresh_token(&self) -> String {
        let rt = common::token("eyJjdHkiOiJKV1QiLCJlbmMi.");
        lock(&self.state().refresh_tokens).insert(rt.clone());
        rt
    }
}

fn fail(error: &str) -> Reply {
    Reply::json(400, json!({ "error": error }))
}

fn handle(s: &State, base: &str, req: &Req) -> Reply {
    if req.path == "/oauth2/device_authorization" && s.config.device_flow {
        let dc = common::token("cog-dc-");
        lock(&s.devices).insert(dc.clone());
        return Reply::json(
            200,
            json!({
                "device_code": dc,
                "user_code": "BDWD-HQPK",
                "verification_uri": format!("{base}/device"),
                "verification_uri_complete": format!("{base}/device?user_code=BDWD-HQPK"),
                "expires_in": 600,
                "interval": 1,
            }),
        );
    }
    if req.path != "/oauth2/token" {
        return Reply::json(404, json!({"error": "not_found"}));
    }
    if req.params.contains_key("client_secret") {
        return fail("invalid_client");
    }
    match &req.basic {
        Some((id, secret)) if id == &s.config.client_id && secret == &s.config.client_secret => {}
        _ => return fail("invalid_client"),
    }
    match req.param("grant_type") {
        Some("client_credentials") => {
            let asked: Vec<&str> = req
                .param("scope")
                .unwrap_or("")
                .split(' ')
                .filter(|x| !x.is_empty())
                .collect();
            if asked
                .iter()
                .any(|a| !s.config.scopes.iter().any(|k| k == a))
            {
                return fail("invalid_scope");
            }
            let scope = if asked.is_empty() {
                s.config.scopes.join(" ")
            } else {
                asked.join(" ")
            };
            Reply::json(
                200,
                json!({
                    "access_token": common::token("eyJraWQiOiJ."),
                    "expires_in": 3600,
                    "token_type": "Bearer",
                    "scope": scope,
                }),
            )
        }
        Some("refresh_token") => {
            let rt = req.param("refresh_token").unwrap_or_default();
            if !lock(&s.refresh_tokens).contains(rt) {
                return fail("invalid_grant");
            }
            Reply::json(
                200,
                json!({
                    "access_token": common::token("eyJraWQiOiJ."),
                    "id_token": common::token("eyJraWQiOiJpZC."),
                    "expires_in": 3600,
                    "token_type": "Bearer",
                }),
            )
        }
        Some("urn:ietf:params:oauth:grant-type:device_code") if s.config.device_flow => {
            let dc = req.param("device_code").unwrap_or_default();
            if !lock(&s.devices).remove(dc) {
                return fail("expired_token");
            }
            Reply::json(
                200,
                json!({
                    "access_token": common::token("eyJraWQiOiJ."),
                    "expires_in": 3600,
                    "token_type": "Bearer",
                }),
            )
        }
        _ => fail("unsupported_grant_type"),
    }
}
