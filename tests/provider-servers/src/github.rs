//! GitHub's OAuth endpoints (`https://github.com/login/oauth/access_token`,
//! `/login/device/code`), per docs.github.com "Authorizing OAuth apps" and "Refreshing
//! user access tokens":
//!
//! - the token response is `application/x-www-form-urlencoded` unless the request has
//!   `Accept: application/json`;
//! - errors come back with **HTTP 200** and an `error` field: `bad_verification_code`,
//!   `incorrect_client_credentials`, `redirect_uri_mismatch`, `bad_refresh_token`,
//!   `unsupported_grant_type`; the device flow's `authorization_pending`, `slow_down`
//!   (with a new `interval`), `expired_token`, `access_denied`;
//! - tokens do not expire unless the app opted into expiring user tokens: then
//!   `expires_in` 28800, a `refresh_token` and `refresh_token_expires_in` 15897600, and a
//!   refresh rotates the refresh token;
//! - the granted `scope` in the response is comma-separated.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::common::{self, Reply, Req, Server, lock};

/// GitHub app settings.
#[derive(Debug, Clone, Default)]
pub struct GitHubConfig {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Whether user tokens expire (and come with refresh tokens).
    pub expiring_tokens: bool,
}

/// Emulator state.
pub struct State {
    config: GitHubConfig,
    codes: Mutex<HashMap<String, String>>,
    refresh_tokens: Mutex<HashMap<String, String>>,
    /// device code → (polls left before approval, denied)
    devices: Mutex<HashMap<String, (u32, bool)>>,
}

/// A running GitHub.
pub type GitHub = Server<State>;

impl Server<State> {
    /// Starts it.
    pub async fn start_github(config: GitHubConfig) -> std::io::Result<Self> {
        Server::start(
            State {
                config,
                codes: Mutex::default(),
                refresh_tokens: Mutex::default(),
                devices: Mutex::default(),
            },
            handle,
        )
        .await
    }

    /// A code as the authorize page would issue after the user approved `scope`.
    pub fn issue_code(&self, scope: &str) -> String {
        let code = common::token("gh-code-");
        lock(&self.state().codes).insert(code.clone(), scope.to_owned());
        code
    }
}

fn err(error: &str, description: &str) -> Value {
    json!({
        "error": error,
        "error_description": description,
        "error_uri": format!("https://docs.github.com/apps/troubleshooting#{error}"),
    })
}

fn reply(req: &Req, body: Value) -> Reply {
    if req.accepts_json() {
        Reply::json(200, body)
    } else {
        Reply::form(200, &body)
    }
}

fn tokens(s: &State, scope: &str) -> Value {
    let mut v = json!({
        "access_token": common::token("gho_"),
        "token_type": "bearer",
        "scope": scope.replace(' ', ","),
    });
    if s.config.expiring_tokens {
        let rt = common::token("ghr_");
        lock(&s.refresh_tokens).insert(rt.clone(), scope.to_owned());
        v["expires_in"] = json!(28800);
        v["refresh_token"] = json!(rt);
        v["refresh_token_expires_in"] = json!(15897600);
    }
    v
}

fn handle(s: &State, _base: &str, req: &Req) -> Reply {
    if req.path == "/login/device/code" {
        if req.param("client_id") != Some(s.config.client_id.as_str()) {
            return reply(
                req,
                err(
                    "incorrect_client_credentials",
                    "The client_id is not valid.",
                ),
            );
        }
        let dc = common::token("dc-");
        let denied = req.param("scope").is_some_and(|sc| sc.contains("deny"));
        lock(&s.devices).insert(dc.clone(), (2, denied));
        return reply(
            req,
            json!({
                "device_code": dc,
                "user_code": "WDJB-MJHT",
                "verification_uri": "https://github.com/login/device",
                "expires_in": 900,
                "interval": 5,
            }),
        );
    }
    if req.path != "/login/oauth/access_token" {
        return Reply::json(404, json!({"message": "Not Found"}));
    }
    if req.param("client_id") != Some(s.config.client_id.as_str()) {
        return reply(
            req,
            err(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            ),
        );
    }
    let grant = req.param("grant_type");
    if grant == Some("urn:ietf:params:oauth:grant-type:device_code") {
        let dc = req.param("device_code").unwrap_or_default().to_owned();
        let mut devices = lock(&s.devices);
        let Some(entry) = devices.get_mut(&dc) else {
            return reply(req, err("expired_token", "The device_code has expired."));
        };
        if entry.1 {
            devices.remove(&dc);
            return reply(
                req,
                err("access_denied", "The authorization request was denied."),
            );
        }
        if entry.0 == 2 {
            entry.0 -= 1;
            return reply(
                req,
                err(
                    "authorization_pending",
                    "The authorization request is still pending.",
                ),
            );
        }
        if entry.0 == 1 {
            entry.0 -= 1;
            let mut body = err(
                "slow_down",
                "Too many requests have been made in the same timeframe.",
            );
            body["interval"] = json!(10);
            return reply(req, body);
        }
        devices.remove(&dc);
        drop(devices);
        return reply(req, tokens(s, "repo"));
    }
    if req.param("client_secret") != Some(s.config.client_secret.as_str()) {
        return reply(
            req,
            err(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
            ),
        );
    }
    match grant {
        Some("refresh_token") => {
            let rt = req.param("refresh_token").unwrap_or_default();
            let Some(scope) = lock(&s.refresh_tokens).remove(rt) else {
                return reply(
                    req,
                    err(
                        "bad_refresh_token",
                        "The refresh token passed is incorrect or expired.",
                    ),
                );
            };
            reply(req, tokens(s, &scope))
        }
        None | Some("authorization_code") => {
            let code = req.param("code").unwrap_or_default();
            let Some(scope) = lock(&s.codes).remove(code) else {
                return reply(
                    req,
                    err(
                        "bad_verification_code",
                        "The code passed is incorrect or expired.",
                    ),
                );
            };
            reply(req, tokens(s, &scope))
        }
        Some(other) => reply(
            req,
            err(
                "unsupported_grant_type",
                &format!("{other} is not supported"),
            ),
        ),
    }
}
