//! LinkedIn: client id and secret always in the body (LinkedIn ignores HTTP Basic), no
//! PKCE for web apps (neither challenge nor verifier is sent), ~60-day access tokens;
//! refresh tokens exist only for approved partners — without one, an expired token means
//! reconnecting, which the host reports. Two-legged client credentials for apps that have
//! them.

use grantbox_sdk::{
    AuthorizationRequest, ClientAuth, ConfigField, FieldKind, GrantKind, OAuthError, Params,
    PluginMetadata, Provider, Settings, TokenRequest, export_provider, oauth,
};

struct LinkedIn;

fn base(settings: &Settings) -> Result<&str, OAuthError> {
    Ok(settings
        .text("base_url")?
        .unwrap_or("https://www.linkedin.com")
        .trim_end_matches('/'))
}

impl Provider for LinkedIn {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "linkedin".into(),
            display_name: "LinkedIn".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "LinkedIn 3-legged (authorization code) and 2-legged (client credentials) OAuth."
                    .into(),
            grants: vec![
                GrantKind::AuthorizationCode,
                GrantKind::RefreshToken,
                GrantKind::ClientCredentials,
            ],
            custom_grants: vec![],
            hosts: vec!["https://www.linkedin.com".into(), "{base_url}".into()],
            config: vec![
                ConfigField::required(
                    "client_id",
                    Text,
                    "Client ID (LinkedIn Developer Portal → app → Auth)",
                ),
                ConfigField::required("client_secret", Secret, "Primary Client Secret"),
                ConfigField::optional(
                    "base_url",
                    Url,
                    "LinkedIn base URL (change only for testing)",
                ),
            ],
        }
    }

    fn token_url(settings: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
        Ok(format!("{}/oauth/v2/accessToken", base(settings)?))
    }

    fn client_auth(_: &Settings) -> Result<ClientAuth, OAuthError> {
        Ok(ClientAuth::Body)
    }

    fn grant_params<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        oauth::grant_params(settings, request, " ", params)?;
        params.remove("code_verifier");
        Ok(())
    }

    fn authorization_url(
        settings: &Settings,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        let mut request = request.clone();
        request.pkce_challenge = None;
        Ok(oauth::authorization_url(
            &format!("{}/oauth/v2/authorization", base(settings)?),
            settings.require_text("client_id")?,
            &request,
            " ",
            &[],
        ))
    }
}

export_provider!(LinkedIn);
