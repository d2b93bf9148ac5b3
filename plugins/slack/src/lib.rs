//! Slack (OAuth v2 for Slack apps).
//!
//! - Scopes are comma-separated; `user_scope` asks for a user token.
//! - `oauth.v2.access` answers HTTP 200 always: `ok: false` with an `error` is an error
//!   (`invalid_code`, `invalid_refresh_token`, `token_revoked` → reconnect;
//!   `invalid_client_id`, `bad_client_secret` → client error).
//! - The bot token is at the top level, the user token under `authed_user`: `token_kind`
//!   chooses which one the connection keeps. The other token is dropped (never stored as
//!   plain metadata); `team`, `app_id`, `bot_user_id`, `authed_user.id` are kept.
//! - With token rotation, `expires_in` and a rotating `refresh_token` come along.

use grantbox_sdk::{
    AuthorizationRequest, ConfigField, ErrorKind, FieldKind, GrantKind, OAuthError, PluginMetadata,
    Provider, Settings, TokenRequest, TokenSet, export_provider, oauth,
};
use serde_json::{Map, Value};

struct Slack;

fn base(settings: &Settings) -> Result<&str, OAuthError> {
    Ok(settings
        .text("base_url")?
        .unwrap_or("https://slack.com")
        .trim_end_matches('/'))
}

impl Provider for Slack {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "slack".into(),
            display_name: "Slack".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Slack apps: OAuth v2 bot and user tokens, token rotation.".into(),
            grants: vec![GrantKind::AuthorizationCode, GrantKind::RefreshToken],
            custom_grants: vec![],
            hosts: vec!["https://slack.com".into(), "{base_url}".into()],
            config: vec![
                ConfigField::required(
                    "client_id",
                    Text,
                    "Client ID (api.slack.com/apps → Basic Information)",
                ),
                ConfigField::required("client_secret", Secret, "Client Secret"),
                ConfigField::optional(
                    "user_scope",
                    TextList,
                    "User scopes to request (user token)",
                ),
                ConfigField::with_default(
                    "token_kind",
                    Text,
                    "bot",
                    "Which token the connection keeps: bot or user",
                ),
                ConfigField::optional("base_url", Url, "Slack base URL (change only for testing)"),
            ],
        }
    }

    fn scope_separator(_: &Settings) -> Result<String, OAuthError> {
        Ok(",".into())
    }

    fn token_url(settings: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
        Ok(format!("{}/api/oauth.v2.access", base(settings)?))
    }

    fn client_auth(_: &Settings) -> Result<grantbox_sdk::ClientAuth, OAuthError> {
        Ok(grantbox_sdk::ClientAuth::Body)
    }

    fn parse_token_response(
        settings: &Settings,
        r: &grantbox_sdk::http::Response,
    ) -> Result<TokenSet, OAuthError> {
        // Not an object (an HTML error page…) or a standard RFC 6749 answer (no `ok`
        // member): the standard parsing classifies it.
        let parsed = oauth::parse_object(r.header("content-type"), &r.body);
        let Some(mut obj) = parsed.filter(|o| o.contains_key("ok")) else {
            return oauth::parse_token_response(r.status, r.header("content-type"), &r.body, ",");
        };
        if obj.get("ok") != Some(&Value::Bool(true)) {
            let code = obj
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error")
                .to_owned();
            let kind = match code.as_str() {
                "invalid_code"
                | "code_already_used"
                | "invalid_refresh_token"
                | "token_revoked"
                | "token_expired" => ErrorKind::InvalidGrant,
                "invalid_client_id" | "bad_client_secret" => ErrorKind::InvalidClient,
                "bad_redirect_uri" => ErrorKind::InvalidConfig,
                "ratelimited" | "internal_error" | "service_unavailable" => {
                    ErrorKind::TemporarilyUnavailable
                }
                other => oauth::error_kind(other, r.status),
            };
            let mut e = OAuthError::new(kind, format!("Slack: {code}")).with_status(r.status);
            e.error = Some(code);
            return Err(e);
        }
        let user = match obj.remove("authed_user") {
            Some(Value::Object(u)) => u,
            _ => Map::new(),
        };
        let want_user = settings.choice("token_kind", &["bot", "user"], "bot")? == "user"
            || !obj.contains_key("access_token");
        let mut chosen = if want_user {
            let mut u = user.clone();
            for k in ["app_id", "team", "enterprise", "is_enterprise_install"] {
                if let Some(v) = obj.get(k) {
                    u.insert(k.into(), v.clone());
                }
            }
            u
        } else {
            obj
        };
        chosen.remove("ok");
        if let Some(id) = user.get("id") {
            chosen.insert("authed_user_id".into(), id.clone());
        }
        if want_user {
            chosen.remove("id");
        }
        oauth::token_set_from_object(chosen, ",")
    }

    fn authorization_params(settings: &Settings) -> Result<Vec<(String, String)>, OAuthError> {
        let user_scope = settings.list("user_scope")?;
        Ok(if user_scope.is_empty() {
            vec![]
        } else {
            vec![("user_scope".into(), user_scope.join(","))]
        })
    }

    fn authorization_url(
        settings: &Settings,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        Ok(oauth::authorization_url(
            &format!("{}/oauth/v2/authorize", base(settings)?),
            settings.require_text("client_id")?,
            request,
            ",",
            &Self::authorization_params(settings)?,
        ))
    }
}

export_provider!(Slack);
