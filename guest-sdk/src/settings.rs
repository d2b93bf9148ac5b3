//! Typed access to the operator's settings.

use crate::{OAuthError, Secret, Setting, SettingValue};

/// The effective settings of a call (the operator's values with the plugin's defaults
/// applied by the host). Getters return `invalid-config` errors naming the field.
pub struct Settings {
    entries: Vec<Setting>,
}

fn kind_name(v: &SettingValue) -> &'static str {
    match v {
        SettingValue::Text(_) => "text",
        SettingValue::Flag(_) => "a flag",
        SettingValue::Number(_) => "a number",
        SettingValue::TextList(_) => "a list",
        SettingValue::TextMap(_) => "a map",
        SettingValue::Secret(_) => "a secret",
    }
}

impl Settings {
    /// Wraps the settings passed to an export.
    pub fn new(entries: Vec<Setting>) -> Self {
        Self { entries }
    }

    /// The raw value of a field, if set.
    pub fn get(&self, name: &str) -> Option<&SettingValue> {
        self.entries
            .iter()
            .find(|s| s.name == name)
            .map(|s| &s.value)
    }

    /// Names of all fields that are set.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|s| s.name.as_str())
    }

    fn wrong(name: &str, expected: &str, got: &SettingValue) -> OAuthError {
        OAuthError::invalid_config(name, format!("expected {expected}, got {}", kind_name(got)))
    }

    /// A text (or URL) field, if set. Empty text counts as unset.
    pub fn text(&self, name: &str) -> Result<Option<&str>, OAuthError> {
        match self.get(name) {
            None => Ok(None),
            Some(SettingValue::Text(t)) if t.is_empty() => Ok(None),
            Some(SettingValue::Text(t)) => Ok(Some(t)),
            Some(other) => Err(Self::wrong(name, "text", other)),
        }
    }

    /// A text field that must be set.
    pub fn require_text(&self, name: &str) -> Result<&str, OAuthError> {
        self.text(name)?
            .ok_or_else(|| OAuthError::invalid_config(name, format!("`{name}` must be set")))
    }

    /// A flag, `false` when unset.
    pub fn flag(&self, name: &str) -> Result<bool, OAuthError> {
        match self.get(name) {
            None => Ok(false),
            Some(SettingValue::Flag(b)) => Ok(*b),
            Some(other) => Err(Self::wrong(name, "true or false", other)),
        }
    }

    /// A flag with a default for when it is unset (for flags whose absence means "on").
    pub fn flag_or(&self, name: &str, default: bool) -> Result<bool, OAuthError> {
        match self.get(name) {
            None => Ok(default),
            Some(SettingValue::Flag(b)) => Ok(*b),
            Some(other) => Err(Self::wrong(name, "true or false", other)),
        }
    }

    /// A number, if set.
    pub fn number(&self, name: &str) -> Result<Option<i64>, OAuthError> {
        match self.get(name) {
            None => Ok(None),
            Some(SettingValue::Number(n)) => Ok(Some(*n)),
            Some(other) => Err(Self::wrong(name, "a number", other)),
        }
    }

    /// A list, empty when unset.
    pub fn list(&self, name: &str) -> Result<&[String], OAuthError> {
        match self.get(name) {
            None => Ok(&[]),
            Some(SettingValue::TextList(l)) => Ok(l),
            Some(other) => Err(Self::wrong(name, "a list", other)),
        }
    }

    /// A map, empty when unset.
    pub fn map(&self, name: &str) -> Result<&[(String, String)], OAuthError> {
        match self.get(name) {
            None => Ok(&[]),
            Some(SettingValue::TextMap(m)) => Ok(m),
            Some(other) => Err(Self::wrong(name, "a map", other)),
        }
    }

    /// A secret handle, if set.
    pub fn secret(&self, name: &str) -> Result<Option<&Secret>, OAuthError> {
        match self.get(name) {
            None => Ok(None),
            Some(SettingValue::Secret(s)) => Ok(Some(s)),
            Some(other) => Err(Self::wrong(name, "a secret", other)),
        }
    }

    /// A secret that must be set.
    pub fn require_secret(&self, name: &str) -> Result<&Secret, OAuthError> {
        self.secret(name)?
            .ok_or_else(|| OAuthError::invalid_config(name, format!("`{name}` must be set")))
    }

    /// One of `choices` (case-insensitive), or `default` when unset.
    pub fn choice<'c>(
        &self,
        name: &str,
        choices: &[&'c str],
        default: &'c str,
    ) -> Result<&'c str, OAuthError> {
        match self.text(name)? {
            None => Ok(default),
            Some(v) => choices
                .iter()
                .find(|c| c.eq_ignore_ascii_case(v))
                .copied()
                .ok_or_else(|| {
                    OAuthError::invalid_config(
                        name,
                        format!("`{v}` is not one of: {}", choices.join(", ")),
                    )
                }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::new(vec![
            Setting {
                name: "token_url".into(),
                value: SettingValue::Text("https://a/t".into()),
            },
            Setting {
                name: "empty".into(),
                value: SettingValue::Text(String::new()),
            },
            Setting {
                name: "json".into(),
                value: SettingValue::Flag(true),
            },
            Setting {
                name: "mode".into(),
                value: SettingValue::Text("Body".into()),
            },
        ])
    }

    #[test]
    fn a_flag_with_a_default() {
        let s = settings();
        assert_eq!(s.flag_or("pkce", true).ok(), Some(true));
        assert_eq!(s.flag_or("json", false).ok(), Some(true));
        let e = s.flag_or("mode", true).expect_err("text is not a flag");
        assert_eq!(e.field.as_deref(), Some("mode"));
    }

    #[test]
    fn typed_getters_name_the_field() {
        let s = settings();
        assert_eq!(s.require_text("token_url").ok(), Some("https://a/t"));
        assert_eq!(s.text("empty").ok(), Some(None));
        assert!(s.flag("json").unwrap_or(false));
        let e = s.require_text("missing").expect_err("missing");
        assert_eq!(e.field.as_deref(), Some("missing"));
        let e = s.text("json").expect_err("wrong kind");
        assert_eq!(e.field.as_deref(), Some("json"));
        assert_eq!(
            s.choice("mode", &["basic", "body"], "basic").ok(),
            Some("body")
        );
        assert!(s.choice("token_url", &["basic", "body"], "basic").is_err());
        assert_eq!(
            s.choice("nope", &["basic", "body"], "basic").ok(),
            Some("basic")
        );
    }
}
