//! A test plugin that reads a file, so it imports `wasi:filesystem`, which grantbox does
//! not link: the host must refuse it at load, naming the import.

use grantbox_sdk::{
    ConfigField, FieldKind, GrantKind, OAuthError, PluginMetadata, Provider, Settings,
    TokenRequest, TokenSet, export_provider,
};

struct NeedsFiles;

impl Provider for NeedsFiles {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            id: "needs-files".into(),
            display_name: "Reads files (tests only)".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: String::new(),
            grants: vec![GrantKind::ClientCredentials],
            custom_grants: vec![],
            hosts: vec![],
            config: vec![ConfigField::optional(
                "path",
                FieldKind::Text,
                "A file to read",
            )],
        }
    }

    fn exchange_token(settings: &Settings, _: &TokenRequest<'_>) -> Result<TokenSet, OAuthError> {
        let path = settings.text("path")?.unwrap_or("/etc/passwd");
        let text =
            std::fs::read_to_string(path).map_err(|e| OAuthError::protocol(e.to_string()))?;
        Ok(TokenSet::bearer(text))
    }
}

export_provider!(NeedsFiles);
