//! Slack's OAuth v2 (`https://slack.com/oauth/v2/authorize`,
//! `https://slack.com/api/oauth.v2.access`), per api.slack.com/authentication/oauth-v2
//! and token rotation:
//!
//! - scopes are comma-separated; `user_scope` asks for a user token;
//! - the answer is always HTTP 200 with `ok`: `{"ok": false, "error": "invalid_code"}`
//!   (`invalid_client_id`, `bad_client_secret`, `invalid_refresh_token`, …);
//! - the bot token is at the top level (`token_type: bot`), the user token nested under
//!   `authed_user`; `team`, `app_id`, `bot_user_id` come along;
//! - with token rotation on: `expires_in` 43200 and a `refresh_token` (`xoxe-1-…`) that
//!   rotates.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::{Value, json};

use crate::common::{self, Reply, Req, Server, lock};

/// Slack app settings.
#[derive(Debug, Clone, Default)]
pub struct SlackConfig {
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: String,
    /// Token rotation enabled.
    pub rotation: bool,
}

/// Emulator state.
pub struct State {
    config: SlackConfig,
    codes: Mutex<HashMap<String, (String, String)>>,
    refresh_tokens: Mutex<HashMap<String, (String, String)>>,
}

/// A running Slack.
pub type Slack = Server<State>;

impl Server<State> {
    /// Starts it.
    pub async fn start_slack(config: SlackConfig) -> std::io::Result<Self> {
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

    /// A code for an installation with these bot and user scopes (comma-separated).
    pub fn issue_code(&self, scope: &str, user_scope: &str) -> String {
        let code = common::token("slack-code-");
        lock(&self.state().codes).insert(code.clone(), (scope.into(), user_scope.into()));
        code
    }
}

fn fail(error: &str) -> Reply {
    Reply::json(200, json!({ "ok": false, "error": error }))
}

fn install(s: &State, scope: &str, user_scope: &str) -> Value {
    let mut v = json!({
        "ok": true,
        "app_id": "A0KRD7HC3",
        "team": { "name": "Slack Softball Team", "id": "T9TK3CUKW" },
        "enterprise": null,
        "is_enterprise_install": false,
    });
    let rotate = |v: &mut Value| {
        if s.config.rotation {
            let rt = common::token("xoxe-1-");
            lock(&s.refresh_tokens).insert(rt.clone(), (scope.to_owned(), user_scope.to_owned()));
            v["expires_in"] = json!(43200);
            v["refresh_token"] = json!(rt);
        }
    };
    if !scope.is_empty() {
        v["access_token"] = json!(common::token("xoxb-17653672481-"));
        v["token_type"] = json!("bot");
        v["scope"] = json!(scope);
        v["bot_user_id"] = json!("U0KRQLJ9H");
        rotate(&mut v);
    }
    let mut user = json!({ "id": "U1234" });
    if !user_scope.is_empty() {
        user["scope"] = json!(user_scope);
        user["access_token"] = json!(common::token("xoxp-1234-"));
        user["token_type"] = json!("user");
        if scope.is_empty() {
            rotate(&mut user);
        }
    }
    v["authed_user"] = user;
    v
}

fn handle(s: &State, _base: &str, req: &Req) -> Reply {
    if req.path != "/api/oauth.v2.access" {
        return Reply::json(404, json!({"ok": false, "error": "unknown_method"}));
    }
    let (id, secret) = match &req.basic {
        Some((i, p)) => (Some(i.as_str()), Some(p.as_str())),
        None => (req.param("client_id"), req.param("client_secret")),
    };
    if id != Some(s.config.client_id.as_str()) {
        return fail("invalid_client_id");
    }
    if secret != Some(s.config.client_secret.as_str()) {
        return fail("bad_client_secret");
    }
    match req.param("grant_type") {
        Some("refresh_token") => {
            let rt = req.param("refresh_token").unwrap_or_default();
            let Some((scope, user_scope)) = lock(&s.refresh_tokens).remove(rt) else {
                return fail("invalid_refresh_token");
            };
            Reply::json(200, install(s, &scope, &user_scope))
        }
        None | Some("authorization_code") => {
            let code = req.param("code").unwrap_or_default();
            let Some((scope, user_scope)) = lock(&s.codes).remove(code) else {
                return fail("invalid_code");
            };
            Reply::json(200, install(s, &scope, &user_scope))
        }
        Some(_) => fail("invalid_grant_type"),
    }
}
