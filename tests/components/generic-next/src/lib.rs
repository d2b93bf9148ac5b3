//! A test plugin standing in for a new version of the generic plugin: id `generic`,
//! version 2.0.0, fewer settings (no `scope_separator`, `extra_params`, …) and two
//! differences on the wire (`plugin_version=2` in every token request; tokens applied to API
//! requests as a raw `Authorization` value, without `Bearer`), so plugin reload can be
//! tested against real components.

use grantbox_sdk::{
    ConfigField, FieldKind, GrantKind, OAuthError, Params, Placement, PluginMetadata, Provider,
    Settings, TokenRequest, export_provider,
};

struct GenericNext;

impl Provider for GenericNext {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            id: "generic".into(),
            display_name: "Generic OAuth 2.0 (next version, test)".into(),
            version: "2.0.0".into(),
            description: "A new version of the generic plugin, for reload tests".into(),
            grants: vec![GrantKind::ClientCredentials, GrantKind::RefreshToken],
            custom_grants: vec![],
            hosts: vec!["{token_url}".into()],
            config: vec![
                ConfigField::required("token_url", FieldKind::Url, "Token endpoint"),
                ConfigField::optional("client_id", FieldKind::Text, "Client id"),
                ConfigField::optional("client_secret", FieldKind::Secret, "Client secret"),
            ],
        }
    }

    fn extra_params<'a>(
        _: &'a Settings,
        _: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        params.set("plugin_version", "2");
        Ok(())
    }

    fn token_placement(_: &Settings) -> Result<Placement, OAuthError> {
        Ok(Placement::Authorization(None))
    }
}

export_provider!(GenericNext);
