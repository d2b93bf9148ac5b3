//! Microsoft Entra ID (Azure AD), v2 endpoints.
//!
//! - Endpoints `{authority_host}/{tenant}/oauth2/v2.0/authorize|token`, the tenant from
//!   configuration (`common`, `organizations`, `consumers` or a tenant id/domain).
//! - Delegated grants (password, refresh, authorization code) get `offline_access` added
//!   to the scopes, so a refresh token is issued; refresh tokens rotate.
//! - Client credentials ask for `<resource>/.default`: a resource given without the
//!   suffix (`https://graph.microsoft.com`) gets it; a delegated scope there is refused
//!   naming `scopes`.
//! - Client authentication: the secret in the body, or a certificate credential — a
//!   `client_assertion` JWT (PS256 with an `x5t#S256` header, or RS256 with `x5t` for a
//!   SHA-1 thumbprint) signed by the host with the certificate's key.
//! - `response_mode=query` on the authorization URL; `AADSTS` codes surface in errors;
//!   `interaction_required`/`consent_required`/`login_required` mean reconnect.

use grantbox_sdk::http::Request;
use grantbox_sdk::jwt::{self, Algorithm};
use grantbox_sdk::{
    AuthorizationRequest, ClientAuth, ConfigField, ErrorKind, FieldKind, Grant, GrantKind,
    OAuthError, Params, PluginMetadata, Provider, Settings, TokenRequest, TokenSet,
    export_provider, oauth,
};
use serde_json::{Map, json};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

struct Azure;

fn base(settings: &Settings) -> Result<String, OAuthError> {
    let authority = settings
        .text("authority_host")?
        .unwrap_or("https://login.microsoftonline.com")
        .trim_end_matches('/');
    let tenant = settings.require_text("tenant")?;
    Ok(format!("{authority}/{tenant}/oauth2/v2.0"))
}

/// The scopes as Entra wants them for this grant.
fn scopes(settings: &Settings, request: &TokenRequest<'_>) -> Result<Vec<String>, OAuthError> {
    if matches!(request.grant, Grant::ClientCredentials) {
        if request.scopes.is_empty() {
            return Err(OAuthError::invalid_config(
                "scopes",
                "client credentials need a resource, e.g. https://graph.microsoft.com/.default",
            ));
        }
        return request
            .scopes
            .iter()
            .map(|s| {
                if s.ends_with("/.default") {
                    Ok(s.clone())
                } else if s.contains("://") || s.starts_with("api://") || is_guid(s) {
                    Ok(format!("{}/.default", s.trim_end_matches('/')))
                } else {
                    Err(OAuthError::invalid_config(
                        "scopes",
                        format!("`{s}` is a delegated permission; client credentials take a resource such as https://graph.microsoft.com/.default"),
                    ))
                }
            })
            .collect();
    }
    let mut out = request.scopes.clone();
    if settings.flag("offline_access")? && !out.iter().any(|s| s == "offline_access") {
        out.push("offline_access".into());
    }
    Ok(out)
}

fn is_guid(s: &str) -> bool {
    s.len() == 36 && s.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

impl Provider for Azure {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "azure".into(),
            display_name: "Microsoft Entra ID (Azure AD)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Microsoft identity platform v2: client credentials (secret or certificate), authorization code, ROPC, device code, rotating refresh tokens.".into(),
            grants: vec![
                GrantKind::ClientCredentials,
                GrantKind::Password,
                GrantKind::RefreshToken,
                GrantKind::AuthorizationCode,
                GrantKind::DeviceCode,
            ],
            custom_grants: vec![],
            hosts: vec![
                "https://login.microsoftonline.com".into(),
                "{authority_host}".into(),
            ],
            config: vec![
                ConfigField::with_default("tenant", Text, "common", "Directory (tenant) id or domain, or common / organizations / consumers"),
                ConfigField::required("client_id", Text, "Application (client) id (Entra admin center → App registrations)"),
                ConfigField::optional("client_secret", Secret, "Client secret value (Certificates & secrets)"),
                ConfigField::optional("certificate_key", Secret, "Private key (PEM) of the certificate credential; used instead of the secret"),
                ConfigField::optional("certificate_thumbprint_sha256", Text, "SHA-256 thumbprint of the certificate (hex): x5t#S256 header, PS256"),
                ConfigField::optional("certificate_thumbprint", Text, "SHA-1 thumbprint of the certificate (hex, as the portal shows it): x5t header, RS256"),
                ConfigField::with_default("offline_access", Flag, "true", "Add offline_access to delegated scopes (refresh tokens)"),
                ConfigField::optional("username", Text, "User (password grant)"),
                ConfigField::optional("password", Secret, "Password (password grant)"),
                ConfigField::optional("authority_host", Url, "Authority host for national clouds, e.g. https://login.microsoftonline.us"),
            ],
        }
    }

    fn token_url(settings: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
        Ok(format!("{}/token", base(settings)?))
    }

    fn grant_params<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        oauth::grant_params(settings, request, " ", params)?;
        if !matches!(
            request.grant,
            Grant::AuthorizationCode(_) | Grant::DeviceCode(_)
        ) {
            params.set("scope", &scopes(settings, request)?.join(" "));
        }
        Ok(())
    }

    fn client_auth(settings: &Settings) -> Result<ClientAuth, OAuthError> {
        Ok(
            if settings.secret("client_secret")?.is_some()
                || settings.secret("certificate_key")?.is_some()
            {
                ClientAuth::Body
            } else {
                ClientAuth::None
            },
        )
    }

    fn authenticate_client<'a>(
        settings: &'a Settings,
        request: Request<'a>,
        params: &mut Params<'a>,
    ) -> Result<Request<'a>, OAuthError> {
        let client_id = settings.require_text("client_id")?;
        params.set("client_id", client_id);
        if let Some(key) = settings.secret("certificate_key")? {
            let (alg, header) = if let Some(t) = settings.text("certificate_thumbprint_sha256")? {
                let t = jwt::hex_to_base64url(t).ok_or_else(|| {
                    OAuthError::invalid_config(
                        "certificate_thumbprint_sha256",
                        "not a hex thumbprint",
                    )
                })?;
                (Algorithm::Ps256, ("x5t#S256", t))
            } else if let Some(t) = settings.text("certificate_thumbprint")? {
                let t = jwt::hex_to_base64url(t).ok_or_else(|| {
                    OAuthError::invalid_config("certificate_thumbprint", "not a hex thumbprint")
                })?;
                (Algorithm::Rs256, ("x5t", t))
            } else {
                return Err(OAuthError::invalid_config(
                    "certificate_thumbprint_sha256",
                    "a certificate credential needs the certificate's thumbprint",
                ));
            };
            let now = jwt::now();
            let mut h = Map::new();
            h.insert(header.0.into(), json!(header.1));
            let mut claims = Map::new();
            claims.insert("aud".into(), json!(format!("{}/token", base(settings)?)));
            claims.insert("iss".into(), json!(client_id));
            claims.insert("sub".into(), json!(client_id));
            claims.insert("jti".into(), json!(jwt::random_id()));
            claims.insert("nbf".into(), json!(now));
            claims.insert("iat".into(), json!(now));
            claims.insert("exp".into(), json!(now + 600));
            let assertion = jwt::sign(alg, h, claims, key, "certificate_key")?;
            params.set("client_assertion_type", ASSERTION_TYPE);
            params.add_secret("client_assertion", assertion);
        } else if let Some(secret) = settings.secret("client_secret")? {
            params.remove("client_secret");
            params.add_secret("client_secret", secret);
        }
        Ok(request)
    }

    fn parse_token_response(
        _settings: &Settings,
        response: &grantbox_sdk::http::Response,
    ) -> Result<TokenSet, OAuthError> {
        oauth::parse_token_response(
            response.status,
            response.header("content-type"),
            &response.body,
            " ",
        )
        .map_err(|mut e| {
            if matches!(
                e.error.as_deref(),
                Some("interaction_required" | "consent_required" | "login_required")
            ) {
                e.kind = ErrorKind::InvalidGrant;
            }
            e
        })
    }

    fn authorization_url(
        settings: &Settings,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        let mut request = request.clone();
        if settings.flag("offline_access")? && !request.scopes.iter().any(|s| s == "offline_access")
        {
            request.scopes.push("offline_access".into());
        }
        Ok(oauth::authorization_url(
            &format!("{}/authorize", base(settings)?),
            settings.require_text("client_id")?,
            &request,
            " ",
            &[("response_mode".into(), "query".into())],
        ))
    }

    fn start_device_authorization(
        settings: &Settings,
        scopes: &[String],
    ) -> Result<grantbox_sdk::DeviceAuthorization, OAuthError> {
        let mut params = Params::new();
        let mut scopes = scopes.to_vec();
        if settings.flag("offline_access")? && !scopes.iter().any(|s| s == "offline_access") {
            scopes.push("offline_access".into());
        }
        params.add("client_id", settings.require_text("client_id")?);
        params.add("scope", &scopes.join(" "));
        let response = Request::post(format!("{}/devicecode", base(settings)?))
            .header("accept", "application/json")
            .form(params)
            .send()?;
        oauth::parse_device_authorization(
            response.status,
            response.header("content-type"),
            &response.body,
        )
    }
}

export_provider!(Azure);
