//! LinkedIn's OAuth 2.0 (`https://www.linkedin.com/oauth/v2/accessToken`), per
//! learn.microsoft.com/linkedin/shared/authentication:
//!
//! - `client_id` and `client_secret` must be in the **body**; an `Authorization: Basic`
//!   header is ignored, so such a request fails with 401 `invalid_client`
//!   ("Client authentication failed");
//! - 3-legged authorization code (no PKCE for web apps) and 2-legged client credentials;
//! - access tokens live ~60 days (`expires_in` 5183999); refresh tokens only for approved
//!   partners (`refresh_token`, `refresh_token_expires_in` 31535999), not rotated;
//! - errors: `{"error": …, "error_description": …}` with 400/401.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::common::{self, Reply, Req, Server, lock};

/// LinkedIn app settings.
#[derive(Debug, Clone, Default)]
pub struct LinkedInConfig {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Approved for programmatic refresh tokens.
    pub refresh_partner: bool,
}

/// Emulator state.
pub struct State {
    config: LinkedInConfig,
    codes: Mutex<HashMap<String, (String, String)>>,
    refresh_tokens: Mutex<HashMap<String, String>>,
}

/// A running LinkedIn.
pub type LinkedIn = Server<State>;

impl Server<State> {
    /// Starts it.
    pub async fn start_linkedin(config: LinkedInConfig) -> std::io::Result<Self> {
        Server::start(
            State {
                config,
                codes: Mutex::default(),
                refresh_tokens: Mutex::default(),
            },
            handle,
        )
        .await
    }

    /// A code issued for `redirect_uri` and `scope`.
    pub fn issue_code(&self, redirect_uri: &str, scope: &str) -> String {
        let code = common::token("AQT");
        lock(&self.state().codes).insert(code.clone(), (redirect_uri.into(), scope.into()));
        code
    }
}

fn fail(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

fn tokens(s: &State, scope: &str) -> Value {
    let mut v = json!({
        "access_token": common::token("AQV"),
        "expires_in": 5183999,
        "scope": scope,
    });
    if s.config.refresh_partner {
        let rt = common::token("AQX");
        lock(&s.refresh_tokens).insert(rt.clone(), scope.to_owned());
        v["refresh_token"] = json!(rt);
        v["refresh_token_expires_in"] = json!(31535999);
    }
    v
}

fn handle(s: &State, _base: &str, req: &Req) -> Reply {
    if req.path != "/oauth/v2/accessToken" {
        return Reply::json(404, json!({"status": 404}));
    }
    let Some(id) = req.params.get("client_id") else {
        return fail(401, "invalid_client", "Client authentication failed");
    };
    let Some(secret) = req.params.get("client_secret") else {
        return fail(
            400,
            "invalid_request",
            "A required parameter \"client_secret\" is missing",
        );
    };
    if id != &s.config.client_id || secret != &s.config.client_secret {
        return fail(401, "invalid_client", "Client authentication failed");
    }
    match req.param("grant_type") {
        Some("authorization_code") => {
            if req.params.contains_key("code_verifier") {
                return fail(400, "invalid_request", "Unable to verify the code_verifier");
            }
            let code = req.param("code").unwrap_or_default();
            let Some((redirect, scope)) = lock(&s.codes).remove(code) else {
                return fail(
                    400,
                    "invalid_request",
                    "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or authorization code expired. Or external member binding exists",
                );
            };
            if req.param("redirect_uri") != Some(redirect.as_str()) {
                return fail(
                    400,
                    "invalid_redirect_uri",
                    "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code.",
                );
            }
            Reply::json(200, tokens(s, &scope))
        }
        Some("client_credentials") => Reply::json(
            200,
            json!({"access_token": common::token("AQV"), "expires_in": 1799}),
        ),
        Some("refresh_token") => {
            let rt = req.param("refresh_token").unwrap_or_default();
            let Some(scope) = lock(&s.refresh_tokens).get(rt).cloned() else {
                return fail(
                    400,
                    "invalid_request",
                    "The provided authorization grant or refresh token is invalid, expired or revoked.",
                );
            };
            let mut v = tokens(s, &scope);
            // Not rotated: the same refresh token comes back.
            v["refresh_token"] = json!(rt);
            Reply::json(200, v)
        }
        _ => fail(
            400,
            "unsupported_grant_type",
            "An invalid grant_type was passed",
        ),
    }
}
