//! Amazon Cognito user pools: the domain templated from configuration
//! (`https://{domain}.auth.{region}.amazoncognito.com`) or a custom domain; client
//! credentials with custom scopes (`resource-server/scope`); HTTP Basic client
//! authentication (Cognito refuses a secret in the body); the device flow when the
//! configured server offers a device authorization endpoint.

use grantbox_sdk::{
    AuthorizationRequest, ClientAuth, ConfigField, FieldKind, GrantKind, OAuthError,
    PluginMetadata, Provider, Settings, TokenRequest, export_provider, oauth,
};

struct Cognito;

fn base(settings: &Settings) -> Result<String, OAuthError> {
    if let Some(custom) = settings.text("custom_domain")? {
        return Ok(custom.trim_end_matches('/').to_owned());
    }
    let domain = settings.text("domain")?.ok_or_else(|| {
        OAuthError::invalid_config(
            "domain",
            "set the Cognito domain prefix (with region) or custom_domain",
        )
    })?;
    let region = settings.text("region")?.ok_or_else(|| {
        OAuthError::invalid_config("region", "the user pool's region, e.g. eu-west-1")
    })?;
    Ok(format!("https://{domain}.auth.{region}.amazoncognito.com"))
}

impl Provider for Cognito {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "cognito".into(),
            display_name: "Amazon Cognito".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Amazon Cognito user-pool OAuth 2.0: client credentials with custom scopes, authorization code, refresh, device flow where offered.".into(),
            grants: vec![
                GrantKind::ClientCredentials,
                GrantKind::AuthorizationCode,
                GrantKind::RefreshToken,
                GrantKind::DeviceCode,
            ],
            custom_grants: vec![],
            hosts: vec![
                "https://{domain}.auth.{region}.amazoncognito.com".into(),
                "{custom_domain}".into(),
                "{device_authorization_url}".into(),
            ],
            config: vec![
                ConfigField::optional("domain", Text, "Cognito domain prefix (User pool → App integration → Domain)"),
                ConfigField::optional("region", Text, "AWS region of the user pool, e.g. eu-west-1"),
                ConfigField::optional("custom_domain", Url, "Custom domain instead of domain + region, e.g. https://auth.example.com"),
                ConfigField::required("client_id", Text, "App client id"),
                ConfigField::optional("client_secret", Secret, "App client secret (confidential clients)"),
                ConfigField::optional("device_authorization_url", Url, "Device authorization endpoint, where the server offers one"),
            ],
        }
    }

    fn token_url(settings: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
        Ok(format!("{}/oauth2/token", base(settings)?))
    }

    fn client_auth(settings: &Settings) -> Result<ClientAuth, OAuthError> {
        Ok(if settings.secret("client_secret")?.is_some() {
            ClientAuth::Basic
        } else {
            ClientAuth::None
        })
    }

    fn authorization_url(
        settings: &Settings,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        Ok(oauth::authorization_url(
            &format!("{}/oauth2/authorize", base(settings)?),
            settings.require_text("client_id")?,
            request,
            " ",
            &[],
        ))
    }
}

export_provider!(Cognito);
