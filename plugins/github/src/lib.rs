//! GitHub (OAuth apps and GitHub apps' user tokens), also GitHub Enterprise Server.
//!
//! - The token endpoint answers form-encoded unless asked for JSON (the plugin asks, and
//!   parses either); errors come with HTTP 200 and an `error` field.
//! - `bad_verification_code` / `bad_refresh_token` mean reconnect;
//!   `incorrect_client_credentials` is a client error.
//! - Tokens do not expire unless the app enables expiring user tokens (then
//!   `refresh_token_expires_in` too); granted scopes come comma-separated.
//! - Device flow at `/login/device/code`.

use grantbox_sdk::http::Request;
use grantbox_sdk::{
    ClientAuth, ConfigField, DeviceAuthorization, ErrorKind, FieldKind, GrantKind, OAuthError,
    Params, PluginMetadata, Provider, Settings, TokenRequest, TokenSet, export_provider, oauth,
};

struct GitHub;

fn base(settings: &Settings) -> Result<&str, OAuthError> {
    Ok(settings
        .text("base_url")?
        .unwrap_or("https://github.com")
        .trim_end_matches('/'))
}

fn map_error(mut e: OAuthError) -> OAuthError {
    e.kind = match e.error.as_deref() {
        Some("bad_verification_code" | "bad_refresh_token" | "expired_token") => {
            ErrorKind::InvalidGrant
        }
        Some("incorrect_client_credentials") => ErrorKind::InvalidClient,
        Some("redirect_uri_mismatch") => ErrorKind::InvalidConfig,
        _ => e.kind,
    };
    e
}

impl Provider for GitHub {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "github".into(),
            display_name: "GitHub".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "GitHub OAuth apps and GitHub apps (user tokens, optionally expiring), web and device flows; GitHub Enterprise Server via base_url.".into(),
            grants: vec![GrantKind::AuthorizationCode, GrantKind::RefreshToken, GrantKind::DeviceCode],
            custom_grants: vec![],
            hosts: vec!["https://github.com".into(), "{base_url}".into()],
            config: vec![
                ConfigField::required("client_id", Text, "Client id (Settings → Developer settings → OAuth Apps / GitHub Apps)"),
                ConfigField::optional("client_secret", Secret, "Client secret (not needed for the device flow)"),
                ConfigField::optional("base_url", Url, "GitHub Enterprise Server URL (default https://github.com)"),
            ],
        }
    }

    fn token_url(settings: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
        Ok(format!("{}/login/oauth/access_token", base(settings)?))
    }

    fn client_auth(settings: &Settings) -> Result<ClientAuth, OAuthError> {
        Ok(if settings.secret("client_secret")?.is_some() {
            ClientAuth::Body
        } else {
            ClientAuth::None
        })
    }

    fn parse_token_response(
        _: &Settings,
        r: &grantbox_sdk::http::Response,
    ) -> Result<TokenSet, OAuthError> {
        oauth::parse_token_response(r.status, r.header("content-type"), &r.body, ",")
            .map_err(map_error)
    }

    fn authorization_url(
        settings: &Settings,
        request: &grantbox_sdk::AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        Ok(oauth::authorization_url(
            &format!("{}/login/oauth/authorize", base(settings)?),
            settings.require_text("client_id")?,
            request,
            " ",
            &[],
        ))
    }

    fn start_device_authorization(
        settings: &Settings,
        scopes: &[String],
    ) -> Result<DeviceAuthorization, OAuthError> {
        let mut params = Params::new();
        params.add("client_id", settings.require_text("client_id")?);
        if !scopes.is_empty() {
            params.add("scope", &scopes.join(" "));
        }
        let r = Request::post(format!("{}/login/device/code", base(settings)?))
            .header("accept", "application/json")
            .form(params)
            .send()?;
        oauth::parse_device_authorization(r.status, r.header("content-type"), &r.body)
            .map_err(map_error)
    }
}

export_provider!(GitHub);
