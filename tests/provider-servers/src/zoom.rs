//! Zoom's OAuth (`https://zoom.us/oauth/token`), per developers.zoom.us "Server-to-Server
//! OAuth" and "OAuth for user-level apps":
//!
//! - Server-to-Server: the non-standard `grant_type=account_credentials` with
//!   `account_id`, client credentials **only** as HTTP Basic;
//! - responses carry `api_url`; errors are `{"reason": …, "error": …}`: a wrong client →
//!   401 `invalid_client` "Invalid client_id or client_secret", an unknown account → 400
//!   `invalid_request` "Invalid account_id";
//! - refresh tokens rotate.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::json;

use crate::common::{self, Reply, Req, Server, lock};

/// Zoom app settings.
#[derive(Debug, Clone, Default)]
pub struct ZoomConfig {
    /// Account id of the Server-to-Server app.
    pub account_id: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
}

/// Emulator state.
pub struct State {
    config: ZoomConfig,
    refresh_tokens: Mutex<HashMap<String, ()>>,
}

/// A running Zoom.
pub type Zoom = Server<State>;

impl Server<State> {
    /// Starts it.
    pub async fn start_zoom(config: ZoomConfig) -> std::io::Result<Self> {
        Server::start(
            State {
                config,
                refresh_tokens: Mutex::default(),
            },
            handle,
        )
        .await
    }
}

fn fail(status: u16, error: &str, reason: &str) -> Reply {
    Reply::json(status, json!({ "reason": reason, "error": error }))
}

fn handle(s: &State, _base: &str, req: &Req) -> Reply {
    if req.path != "/oauth/token" {
        return Reply::json(404, json!({"code": 404, "message": "Not Found"}));
    }
    let Some((id, secret)) = &req.basic else {
        return fail(401, "invalid_client", "Invalid client_id or client_secret");
    };
    if id != &s.config.client_id || secret != &s.config.client_secret {
        return fail(401, "invalid_client", "Invalid client_id or client_secret");
    }
    let issue = |with_refresh: bool| {
        let mut v = json!({
            "access_token": common::token("eyJzdiI6IjAwMDAwMSIs."),
            "token_type": "bearer",
            "expires_in": 3599,
            "scope": "user:read:admin meeting:write:admin",
            "api_url": "https://api.zoom.us",
        });
        if with_refresh {
            let rt = common::token("zoom-rt-");
            lock(&s.refresh_tokens).insert(rt.clone(), ());
            v["refresh_token"] = json!(rt);
        }
        v
    };
    match req.param("grant_type") {
        Some("account_credentials") => {
            if req.param("account_id") != Some(s.config.account_id.as_str()) {
                return fail(400, "invalid_request", "Invalid account_id");
            }
            Reply::json(200, issue(false))
        }
        Some("refresh_token") => {
            let rt = req.param("refresh_token").unwrap_or_default();
            if lock(&s.refresh_tokens).remove(rt).is_none() {
                return fail(401, "invalid_grant", "Invalid Token!");
            }
            Reply::json(200, issue(true))
        }
        Some("client_credentials") => fail(400, "unsupported_grant_type", "Unsupported grant type"),
        _ => fail(400, "unsupported_grant_type", "Unsupported grant type"),
    }
}
