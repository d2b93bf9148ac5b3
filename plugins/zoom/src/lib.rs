//! Zoom: Server-to-Server OAuth (the non-standard `account_credentials` grant with the
//! `account_id`, client credentials as HTTP Basic) and user-level OAuth apps (authorization
//! code, rotating refresh tokens). `api_url` from the token response is kept.

use grantbox_sdk::{
    ClientAuth, ConfigField, FieldKind, Grant, GrantKind, OAuthError, Params, PluginMetadata,
    Provider, Settings, TokenRequest, export_provider, oauth,
};

struct Zoom;

fn base(settings: &Settings) -> Result<&str, OAuthError> {
    Ok(settings
        .text("base_url")?
        .unwrap_or("https://zoom.us")
        .trim_end_matches('/'))
}

impl Provider for Zoom {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "zoom".into(),
            display_name: "Zoom".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description:
                "Zoom Server-to-Server OAuth (account_credentials) and user-level OAuth apps."
                    .into(),
            grants: vec![
                GrantKind::AuthorizationCode,
                GrantKind::RefreshToken,
                GrantKind::Custom,
            ],
            custom_grants: vec!["account_credentials".into()],
            hosts: vec!["https://zoom.us".into(), "{base_url}".into()],
            config: vec![
                ConfigField::optional(
                    "account_id",
                    Text,
                    "Account ID (Server-to-Server app → App Credentials)",
                ),
                ConfigField::required("client_id", Text, "Client ID"),
                ConfigField::required("client_secret", Secret, "Client Secret"),
                ConfigField::optional("base_url", Url, "Zoom base URL (change only for testing)"),
            ],
        }
    }

    fn token_url(settings: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
        Ok(format!("{}/oauth/token", base(settings)?))
    }

    fn client_auth(_: &Settings) -> Result<ClientAuth, OAuthError> {
        Ok(ClientAuth::Basic)
    }

    fn grant_params<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        match &request.grant {
            Grant::Custom(name) if name == "account_credentials" => {
                let account = settings.text("account_id")?.ok_or_else(|| {
                    OAuthError::invalid_config(
                        "account_id",
                        "required by the account_credentials grant",
                    )
                })?;
                params.add("grant_type", "account_credentials");
                params.add("account_id", account);
                Ok(())
            }
            Grant::Custom(name) => Err(OAuthError::unsupported(format!("grant `{name}`"))),
            _ => oauth::grant_params(settings, request, " ", params),
        }
    }

    fn authorization_url(
        settings: &Settings,
        request: &grantbox_sdk::AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        Ok(oauth::authorization_url(
            &format!("{}/oauth/authorize", base(settings)?),
            settings.require_text("client_id")?,
            request,
            " ",
            &[],
        ))
    }
}

export_provider!(Zoom);
