//! The generic RFC 6749 plugin: every common quirk as configuration.
//!
//! Client credentials, password (with a renamable `grant_type`), refresh token,
//! authorization code and device code; Basic or body client authentication; extra body
//! parameters (also on refresh only), extra headers, scope separator, a separate refresh
//! URL, form or JSON bodies, and token placement (Bearer, raw, custom header, query).

use grantbox_sdk::{
    ConfigField, FieldKind, Grant, GrantKind, OAuthError, Params, PluginMetadata, Provider,
    Settings, TokenRequest, export_provider, oauth,
};

struct Generic;

impl Provider for Generic {
    fn metadata() -> PluginMetadata {
        use FieldKind::*;
        PluginMetadata {
            id: "generic".into(),
            display_name: "Generic OAuth 2.0".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Any RFC 6749 authorization server; quirks are settings.".into(),
            grants: vec![
                GrantKind::ClientCredentials,
                GrantKind::Password,
                GrantKind::RefreshToken,
                GrantKind::AuthorizationCode,
                GrantKind::DeviceCode,
            ],
            custom_grants: vec![],
            hosts: vec![
                "{token_url}".into(),
                "{refresh_url}".into(),
                "{device_authorization_url}".into(),
            ],
            config: vec![
                ConfigField::required("token_url", Url, "Access token URL (token endpoint)"),
                ConfigField::optional(
                    "refresh_url",
                    Url,
                    "Separate refresh-token URL, if the provider has one",
                ),
                ConfigField::optional(
                    "authorization_url",
                    Url,
                    "Authorization URL (authorization-code flow)",
                ),
                ConfigField::optional(
                    "auth_params",
                    TextMap,
                    "Extra authorization-URL parameters, e.g. access_type = \"offline\"",
                ),
                ConfigField::optional(
                    "device_authorization_url",
                    Url,
                    "Device authorization URL (RFC 8628)",
                ),
                ConfigField::optional("client_id", Text, "Client id"),
                ConfigField::optional(
                    "client_secret",
                    Secret,
                    "Client secret (absent for public clients)",
                ),
                ConfigField::with_default(
                    "client_auth",
                    Text,
                    "basic",
                    "Where client credentials go: basic (HTTP Basic header) or body",
                ),
                ConfigField::optional(
                    "username",
                    Text,
                    "Resource owner's user name (password grant)",
                ),
                ConfigField::optional(
                    "password",
                    Secret,
                    "Resource owner's password (password grant)",
                ),
                ConfigField::optional(
                    "grant_type",
                    Text,
                    "grant_type value to send instead of the standard one (renamed grants)",
                ),
                ConfigField::optional(
                    "extra_params",
                    TextMap,
                    "Extra token-request body parameters",
                ),
                ConfigField::optional(
                    "refresh_params",
                    TextMap,
                    "Extra body parameters on refresh only",
                ),
                ConfigField::optional("extra_headers", TextMap, "Extra token-request headers"),
                ConfigField::optional(
                    "param_names",
                    TextMap,
                    "Standard parameters the provider names differently, e.g. client_id = \"client_key\" (token requests and the authorization URL)",
                ),
                ConfigField::with_default(
                    "pkce",
                    Flag,
                    "true",
                    "Use PKCE (S256) in the authorization-code flow; false for providers that reject it",
                ),
                ConfigField::with_default("scope_separator", Text, " ", "Separator between scopes"),
                ConfigField::with_default(
                    "body_format",
                    Text,
                    "form",
                    "Token request body: form or json",
                ),
                ConfigField::with_default(
                    "token_placement",
                    Text,
                    "bearer",
                    "How tokens go on API calls: bearer, raw, header or query",
                ),
                ConfigField::optional(
                    "token_header",
                    Text,
                    "Header name for token_placement = header",
                ),
                ConfigField::optional(
                    "token_prefix",
                    Text,
                    "Text before the token for token_placement = header",
                ),
                ConfigField::optional(
                    "token_query_param",
                    Text,
                    "Query parameter for token_placement = query (default access_token)",
                ),
            ],
        }
    }

    fn grant_params<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        let separator = Self::scope_separator(settings)?;
        oauth::grant_params(settings, request, &separator, params)?;
        // A renamed grant_type applies to the grant that obtains tokens, not to refresh,
        // code or device exchanges.
        if matches!(
            request.grant,
            Grant::ClientCredentials | Grant::Password | Grant::Custom(_)
        ) && let Some(renamed) = settings.text("grant_type")?
        {
            params.set("grant_type", renamed);
        }
        Ok(())
    }
}

export_provider!(Generic);
