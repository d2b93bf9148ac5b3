//! Host-side plugin metadata, converted from the contract's `plugin-metadata` and validated.

use std::collections::HashSet;

use crate::bindings::exports::grantbox::plugin::oauth_provider as wit;
use crate::egress::OriginPattern;

/// The kind of a configuration field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FieldKind {
    /// Free text.
    Text,
    /// An absolute http(s) URL.
    Url,
    /// A secret, given to the plugin only as a handle.
    Secret,
    /// true / false.
    Flag,
    /// A signed integer.
    Number,
    /// A list of strings.
    TextList,
    /// A map of string to string.
    TextMap,
}

impl FieldKind {
    /// How the kind is described in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Url => "an absolute http(s) URL",
            FieldKind::Secret => {
                "a secret ({ env = \"VAR\" }, { file = \"path\" } or { value = \"…\" })"
            }
            FieldKind::Flag => "true or false",
            FieldKind::Number => "an integer",
            FieldKind::TextList => "a list of strings",
            FieldKind::TextMap => "a table of string values",
        }
    }
}

/// A configuration field a plugin understands.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConfigField {
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: FieldKind,
    /// Whether it must be set.
    pub required: bool,
    /// Default value, as text.
    pub default: Option<String>,
    /// Description.
    pub description: String,
}

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PluginMetadata {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// The plugin's version.
    pub version: String,
    /// Description.
    pub description: String,
    /// Grants supported (`client_credentials`, `password`, …).
    pub grants: Vec<String>,
    /// Custom grants supported.
    pub custom_grants: Vec<String>,
    /// Origin patterns the plugin needs, possibly templated (`{tenant}`).
    pub hosts: Vec<String>,
    /// Configuration fields.
    pub config: Vec<ConfigField>,
}

impl PluginMetadata {
    /// A field by name.
    pub fn field(&self, name: &str) -> Option<&ConfigField> {
        self.config.iter().find(|f| f.name == name)
    }

    /// Whether the plugin supports a grant by its configured name.
    pub fn supports_grant(&self, name: &str) -> bool {
        self.grants.iter().any(|g| g == name) || self.custom_grants.iter().any(|g| g == name)
    }
}

fn grant_name(g: wit::GrantKind) -> &'static str {
    match g {
        wit::GrantKind::ClientCredentials => "client_credentials",
        wit::GrantKind::Password => "password",
        wit::GrantKind::RefreshToken => "refresh_token",
        wit::GrantKind::AuthorizationCode => "authorization_code",
        wit::GrantKind::DeviceCode => "device_code",
        wit::GrantKind::Custom => "custom",
    }
}

fn kind(k: wit::FieldKind) -> FieldKind {
    match k {
        wit::FieldKind::Text => FieldKind::Text,
        wit::FieldKind::Url => FieldKind::Url,
        wit::FieldKind::Secret => FieldKind::Secret,
        wit::FieldKind::Flag => FieldKind::Flag,
        wit::FieldKind::Number => FieldKind::Number,
        wit::FieldKind::TextList => FieldKind::TextList,
        wit::FieldKind::TextMap => FieldKind::TextMap,
    }
}

fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

fn is_field_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && s.as_bytes()[0].is_ascii_lowercase()
}

/// Names the host reserves in a provider's configuration.
pub(crate) const RESERVED: &[&str] = &["plugin", "grant", "scopes"];

/// Placeholders `{name}` in a host pattern.
pub fn placeholders(pattern: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                out.push(&after[..end]);
                rest = &after[end + 1..];
            }
            None => break,
        }
    }
    out
}

impl PluginMetadata {
    /// Converts and validates the contract's metadata.
    pub(crate) fn from_wit(m: wit::PluginMetadata) -> Result<Self, String> {
        if !is_id(&m.id) {
            return Err(format!(
                "metadata: id `{}` must be 1-64 characters of a-z, 0-9 and `-`",
                m.id
            ));
        }
        if m.display_name.trim().is_empty() {
            return Err("metadata: display-name is empty".into());
        }
        if semver::Version::parse(&m.version).is_err() {
            return Err(format!(
                "metadata: version `{}` is not a semantic version",
                m.version
            ));
        }
        if m.grants.is_empty() {
            return Err("metadata: grants is empty".into());
        }
        let mut seen = HashSet::new();
        let mut config = Vec::with_capacity(m.config.len());
        for f in m.config {
            if !is_field_name(&f.name) {
                return Err(format!(
                    "metadata: config field `{}` must be snake_case (a-z, 0-9, `_`)",
                    f.name
                ));
            }
            if RESERVED.contains(&f.name.as_str()) {
                return Err(format!(
                    "metadata: config field `{}` is reserved by the host",
                    f.name
                ));
            }
            if !seen.insert(f.name.clone()) {
                return Err(format!(
                    "metadata: config field `{}` is declared twice",
                    f.name
                ));
            }
            let kind = kind(f.kind);
            if let Some(d) = &f.default {
                let ok = match kind {
                    FieldKind::Text => true,
                    FieldKind::Url => crate::provider::parse_http_url(d).is_ok(),
                    FieldKind::Flag => d == "true" || d == "false",
                    FieldKind::Number => d.parse::<i64>().is_ok(),
                    FieldKind::Secret | FieldKind::TextList | FieldKind::TextMap => false,
                };
                if !ok {
                    return Err(format!(
                        "metadata: config field `{}`: default `{d}` is not valid for its kind ({})",
                        f.name,
                        kind.describe()
                    ));
                }
            }
            config.push(ConfigField {
                name: f.name,
                kind,
                required: f.required,
                default: f.default,
                description: f.description,
            });
        }
        for h in &m.hosts {
            for p in placeholders(h) {
                if !config.iter().any(|f| f.name == p) {
                    return Err(format!(
                        "metadata: host pattern `{h}` names `{{{p}}}`, which is not a config field"
                    ));
                }
            }
            if placeholders(h).is_empty() {
                OriginPattern::parse(h).map_err(|e| format!("metadata: host {e}"))?;
            }
        }
        Ok(Self {
            id: m.id,
            display_name: m.display_name,
            version: m.version,
            description: m.description,
            grants: m
                .grants
                .into_iter()
                .map(|g| grant_name(g).to_owned())
                .collect(),
            custom_grants: m.custom_grants,
            hosts: m.hosts,
            config,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> wit::PluginMetadata {
        wit::PluginMetadata {
            id: "acme".into(),
            display_name: "Acme".into(),
            version: "1.2.3".into(),
            description: String::new(),
            grants: vec![wit::GrantKind::ClientCredentials],
            custom_grants: vec![],
            hosts: vec!["https://{tenant}.acme.example".into()],
            config: vec![wit::ConfigField {
                name: "tenant".into(),
                kind: wit::FieldKind::Text,
                required: true,
                default: None,
                description: "Tenant".into(),
            }],
        }
    }

    fn refused(change: impl FnOnce(&mut wit::PluginMetadata)) -> String {
        let mut m = meta();
        change(&mut m);
        PluginMetadata::from_wit(m).expect_err("refused")
    }

    #[test]
    fn sane_metadata_is_accepted() {
        let m = PluginMetadata::from_wit(meta()).expect("valid");
        assert_eq!(m.grants, ["client_credentials"]);
        assert_eq!(m.field("tenant").map(|f| f.kind), Some(FieldKind::Text));
    }

    #[test]
    fn insane_metadata_is_refused_with_a_reason() {
        assert!(refused(|m| m.id = "Acme Corp".into()).contains("id `Acme Corp`"));
        assert!(refused(|m| m.version = "one".into()).contains("not a semantic version"));
        assert!(refused(|m| m.grants.clear()).contains("grants is empty"));
        assert!(refused(|m| m.display_name = " ".into()).contains("display-name"));
        assert!(refused(|m| m.hosts = vec!["https://{region}.x".into()]).contains("`{region}`"));
        assert!(
            refused(|m| m.hosts = vec!["login.acme.example".into()]).contains("invalid origin")
        );
        assert!(refused(|m| m.config[0].name = "Tenant".into()).contains("snake_case"));
        assert!(refused(|m| m.config[0].name = "scopes".into()).contains("reserved"));
        assert!(
            refused(|m| {
                let f = m.config[0].clone();
                m.config.push(f);
            })
            .contains("declared twice")
        );
        assert!(
            refused(|m| {
                m.config[0].kind = wit::FieldKind::Flag;
                m.config[0].default = Some("yes".into());
            })
            .contains("not valid for its kind")
        );
    }
}
