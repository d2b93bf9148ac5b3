//! Google: OAuth 2.0 for web server apps, and service accounts (JWT bearer).
//!
//! - Authorization URL `https://accounts.google.com/o/oauth2/v2/auth` with
//!   `access_type=offline` and `prompt=consent` unless configured otherwise: without them
//!   Google issues a refresh token only on the very first consent.
//! - A refresh answers without a new refresh token: the host keeps the stored one.
//! - `invalid_grant` "Token has been expired or revoked." means reconnect.
//! - Service accounts: the custom grant `jwt-bearer` sends an RS256 assertion (`iss` = the
//!   service account, `scope`, `aud` = the token URL, one hour, optional `sub` for
//!   domain-wide delegation) signed by the host with the key of the service-account JSON
//!   file, which never enters the plugin.

use grantbox_sdk::jwt::{self, Algorithm};
use grantbox_sdk::{
    AuthorizationRequest, ConfigField, FieldKind, Grant, GrantKind, OAuthError, Params,
    PluginMetadata, Provider, Settings, TokenRequest, export_provider, oauth,
};
use serde_json::{Map, Value, json};

const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

struct Google;

impl Provider for Google {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "google".into(),
            display_name: "Google".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Google APIs: OAuth 2.0 web-server flow (offline access) and service accounts (JWT bearer, domain-wide delegation).".into(),
            grants: vec![
                GrantKind::AuthorizationCode,
                GrantKind::RefreshToken,
                GrantKind::Custom,
            ],
            custom_grants: vec!["jwt-bearer".into()],
            hosts: vec![
                "https://oauth2.googleapis.com".into(),
                "https://accounts.google.com".into(),
                "{token_url}".into(),
            ],
            config: vec![
                ConfigField::optional("client_id", Text, "OAuth client id (Google Cloud console → APIs & Services → Credentials)"),
                ConfigField::optional("client_secret", Secret, "OAuth client secret"),
                ConfigField::optional("service_account_key", Secret, "Service-account key: the JSON key file (or its PEM private key), for the jwt-bearer grant"),
                ConfigField::optional("service_account_email", Text, "Service account e-mail (client_email of the key file), for the jwt-bearer grant"),
                ConfigField::optional("subject", Text, "User to impersonate (domain-wide delegation), for the jwt-bearer grant"),
                ConfigField::with_default("access_type", Text, "offline", "offline (refresh tokens) or online"),
                ConfigField::with_default("prompt", Text, "consent", "Default prompt: consent (needed for a new refresh token), select_account, none, or empty"),
                ConfigField::with_default("include_granted_scopes", Flag, "false", "Incremental authorization"),
                ConfigField::with_default("token_url", Url, "https://oauth2.googleapis.com/token", "Token endpoint (change only for testing)"),
                ConfigField::with_default("authorization_url", Url, "https://accounts.google.com/o/oauth2/v2/auth", "Authorization endpoint (change only for testing)"),
            ],
        }
    }

    fn grant_params<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        if let Grant::Custom(name) = &request.grant {
            if name != "jwt-bearer" {
                return Err(OAuthError::unsupported(format!("grant `{name}`")));
            }
            params.add("grant_type", JWT_BEARER);
            params.add_secret("assertion", service_account_assertion(settings, request)?);
            return Ok(());
        }
        oauth::grant_params(settings, request, " ", params)
    }

    fn client_auth(settings: &Settings) -> Result<grantbox_sdk::ClientAuth, OAuthError> {
        // Google accepts Basic and body; the body is what its libraries send.
        Ok(if settings.secret("client_secret")?.is_some() {
            grantbox_sdk::ClientAuth::Body
        } else {
            grantbox_sdk::ClientAuth::None
        })
    }

    fn authenticate_client<'a>(
        settings: &'a Settings,
        request: grantbox_sdk::http::Request<'a>,
        params: &mut Params<'a>,
    ) -> Result<grantbox_sdk::http::Request<'a>, OAuthError> {
        // The assertion authenticates a service account: no client credentials.
        if params.text("grant_type") == Some(JWT_BEARER) {
            return Ok(request);
        }
        params.set("client_id", settings.require_text("client_id")?);
        params.remove("client_secret");
        params.add_secret("client_secret", settings.require_secret("client_secret")?);
        Ok(request)
    }

    fn authorization_params(settings: &Settings) -> Result<Vec<(String, String)>, OAuthError> {
        let mut p = vec![(
            "access_type".to_owned(),
            settings
                .choice("access_type", &["offline", "online"], "offline")?
                .to_owned(),
        )];
        if settings.flag("include_granted_scopes")? {
            p.push(("include_granted_scopes".into(), "true".into()));
        }
        Ok(p)
    }

    fn authorization_url(
        settings: &Settings,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        let mut request = request.clone();
        if request.prompt.is_none() {
            let default = settings.text("prompt")?.unwrap_or("");
            if !default.is_empty() {
                request.prompt = Some(default.to_owned());
            }
        }
        Ok(oauth::authorization_url(
            settings.require_text("authorization_url")?,
            settings.require_text("client_id")?,
            &request,
            " ",
            &Self::authorization_params(settings)?,
        ))
    }
}

fn service_account_assertion(
    settings: &Settings,
    request: &TokenRequest<'_>,
) -> Result<&'static grantbox_sdk::Secret, OAuthError> {
    let key = settings.require_secret("service_account_key")?;
    let email = settings.require_text("service_account_email")?;
    if request.scopes.is_empty() {
        return Err(OAuthError::invalid_config(
            "scopes",
            "a service account needs at least one scope",
        ));
    }
    let now = jwt::now();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(email));
    claims.insert("scope".into(), json!(request.scopes.join(" ")));
    claims.insert("aud".into(), json!(settings.require_text("token_url")?));
    claims.insert("iat".into(), json!(now));
    claims.insert("exp".into(), json!(now + 3600));
    if let Some(sub) = settings.text("subject")? {
        claims.insert("sub".into(), Value::String(sub.to_owned()));
    }
    jwt::sign(
        Algorithm::Rs256,
        Map::new(),
        claims,
        key,
        "service_account_key",
    )
}

export_provider!(Google);
