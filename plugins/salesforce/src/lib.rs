//! Salesforce: login host from configuration (production, `https://test.salesforce.com`
//! for sandboxes, or My Domain); `instance_url` (the org's API host), `id`, `issued_at`
//! kept from the token response; no `expires_in` in responses, so the configured
//! `token_lifetime_s` (the org's session timeout) stands in; refreshes keep the refresh
//! token; the JWT bearer flow (custom grant `jwt-bearer`) signed by the host with the
//! connected app's certificate key.

use grantbox_sdk::jwt::{self, Algorithm};
use grantbox_sdk::{
    AuthorizationRequest, ClientAuth, ConfigField, FieldKind, Grant, GrantKind, OAuthError, Params,
    PluginMetadata, Provider, Settings, TokenRequest, TokenSet, export_provider, oauth,
};
use serde_json::{Map, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

struct Salesforce;

fn login(settings: &Settings) -> Result<&str, OAuthError> {
    Ok(settings.require_text("login_url")?.trim_end_matches('/'))
}

impl Provider for Salesforce {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "salesforce".into(),
            display_name: "Salesforce".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Salesforce connected apps: web-server flow, refresh, client credentials, JWT bearer; instance_url kept for API calls.".into(),
            grants: vec![
                GrantKind::AuthorizationCode,
                GrantKind::RefreshToken,
                GrantKind::ClientCredentials,
                GrantKind::Custom,
            ],
            custom_grants: vec!["jwt-bearer".into()],
            hosts: vec![
                "https://login.salesforce.com".into(),
                "https://test.salesforce.com".into(),
                "{login_url}".into(),
            ],
            config: vec![
                ConfigField::with_default("login_url", Url, "https://login.salesforce.com", "Login host: production, https://test.salesforce.com (sandbox) or My Domain"),
                ConfigField::required("client_id", Text, "Consumer key (Setup → App Manager → connected app)"),
                ConfigField::optional("client_secret", Secret, "Consumer secret"),
                ConfigField::optional("username", Text, "User for the JWT bearer flow"),
                ConfigField::optional("private_key", Secret, "PEM private key of the connected app's certificate (JWT bearer flow)"),
                ConfigField::optional("audience", Text, "JWT audience (default: the login host)"),
                ConfigField::with_default("token_lifetime_s", Number, "7200", "Assumed access-token lifetime (Salesforce sends none): the org's session timeout"),
            ],
        }
    }

    fn token_url(settings: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
        Ok(format!("{}/services/oauth2/token", login(settings)?))
    }

    fn client_auth(settings: &Settings) -> Result<ClientAuth, OAuthError> {
        Ok(if settings.secret("client_secret")?.is_some() {
            ClientAuth::Body
        } else {
            ClientAuth::None
        })
    }

    fn grant_params<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        match &request.grant {
            Grant::Custom(name) if name == "jwt-bearer" => {
                let key = settings.require_secret("private_key")?;
                let mut claims = Map::new();
                claims.insert("iss".into(), json!(settings.require_text("client_id")?));
                claims.insert("sub".into(), json!(settings.require_text("username")?));
                let aud = match settings.text("audience")? {
                    Some(a) => a.to_owned(),
                    None => login(settings)?.to_owned(),
                };
                claims.insert("aud".into(), json!(aud));
                claims.insert("exp".into(), json!(jwt::now() + 180));
                params.add("grant_type", JWT_BEARER);
                params.add_secret(
                    "assertion",
                    jwt::sign(Algorithm::Rs256, Map::new(), claims, key, "private_key")?,
                );
                Ok(())
            }
            Grant::Custom(name) => Err(OAuthError::unsupported(format!("grant `{name}`"))),
            _ => oauth::grant_params(settings, request, " ", params),
        }
    }

    fn authenticate_client<'a>(
        settings: &'a Settings,
        request: grantbox_sdk::http::Request<'a>,
        params: &mut Params<'a>,
    ) -> Result<grantbox_sdk::http::Request<'a>, OAuthError> {
        if params.text("grant_type") == Some(JWT_BEARER) {
            return Ok(request);
        }
        params.set("client_id", settings.require_text("client_id")?);
        if let Some(secret) = settings.secret("client_secret")? {
            params.remove("client_secret");
            params.add_secret("client_secret", secret);
        }
        Ok(request)
    }

    fn parse_token_response(
        settings: &Settings,
        r: &grantbox_sdk::http::Response,
    ) -> Result<TokenSet, OAuthError> {
        let mut set =
            oauth::parse_token_response(r.status, r.header("content-type"), &r.body, " ")?;
        if set.expires_in.is_none() {
            set.expires_in = settings
                .number("token_lifetime_s")?
                .and_then(|n| u64::try_from(n).ok())
                .filter(|n| *n > 0);
        }
        Ok(set)
    }

    fn authorization_url(
        settings: &Settings,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        Ok(oauth::authorization_url(
            &format!("{}/services/oauth2/authorize", login(settings)?),
            settings.require_text("client_id")?,
            request,
            " ",
            &[],
        ))
    }
}

export_provider!(Salesforce);
