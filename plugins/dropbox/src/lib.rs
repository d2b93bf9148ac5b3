//! Dropbox: `token_access_type=offline` on the authorization URL (else no refresh token),
//! PKCE (public clients need no secret), four-hour access tokens, refreshes without a new
//! refresh token; `account_id` and `uid` kept.

use grantbox_sdk::{
    AuthorizationRequest, ClientAuth, ConfigField, FieldKind, GrantKind, OAuthError,
    PluginMetadata, Provider, Settings, export_provider, oauth,
};

struct Dropbox;

impl Provider for Dropbox {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "dropbox".into(),
            display_name: "Dropbox".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Dropbox API: offline access (refresh tokens), PKCE, short-lived access tokens."
                    .into(),
            grants: vec![GrantKind::AuthorizationCode, GrantKind::RefreshToken],
            custom_grants: vec![],
            hosts: vec!["https://api.dropboxapi.com".into(), "{token_url}".into()],
            config: vec![
                ConfigField::required("client_id", Text, "App key (App Console → Settings)"),
                ConfigField::optional(
                    "client_secret",
                    Secret,
                    "App secret (not for PKCE-only public clients)",
                ),
                ConfigField::with_default(
                    "token_access_type",
                    Text,
                    "offline",
                    "offline (refresh tokens) or online",
                ),
                ConfigField::with_default(
                    "token_url",
                    Url,
                    "https://api.dropboxapi.com/oauth2/token",
                    "Token endpoint (change only for testing)",
                ),
                ConfigField::with_default(
                    "authorization_url",
                    Url,
                    "https://www.dropbox.com/oauth2/authorize",
                    "Authorization page (change only for testing)",
                ),
            ],
        }
    }

    fn client_auth(settings: &Settings) -> Result<ClientAuth, OAuthError> {
        Ok(if settings.secret("client_secret")?.is_some() {
            ClientAuth::Basic
        } else {
            ClientAuth::None
        })
    }

    fn authorization_params(settings: &Settings) -> Result<Vec<(String, String)>, OAuthError> {
        Ok(vec![(
            "token_access_type".into(),
            settings
                .choice(
                    "token_access_type",
                    &["offline", "online", "legacy"],
                    "offline",
                )?
                .into(),
        )])
    }

    fn authorization_url(
        settings: &Settings,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        Ok(oauth::authorization_url(
            settings.require_text("authorization_url")?,
            settings.require_text("client_id")?,
            request,
            " ",
            &Self::authorization_params(settings)?,
        ))
    }
}

export_provider!(Dropbox);
