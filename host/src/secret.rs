//! Secret values: redacted in `Debug`/`Display`, zeroed on drop, never logged.
//!
//! Secrets (client secrets, passwords, refresh tokens, codes, access tokens) are held as
//! [`SecretString`] from the [`secrecy`] crate. Inside a plugin call they live in the
//! store's resource table as [`SecretEntry`] and reach the plugin only as opaque
//! `secret` handles.

use std::fmt;

pub use secrecy::{ExposeSecret, SecretString};

/// A secret placed in a plugin call's resource table; the plugin sees only a handle to it.
pub struct SecretEntry {
    /// The name the secret was configured under (e.g. `client_secret`).
    pub(crate) name: String,
    /// The value.
    pub(crate) value: SecretString,
}

impl SecretEntry {
    /// Creates an entry.
    pub(crate) fn new(name: impl Into<String>, value: SecretString) -> Self {
        Self {
            name: name.into(),
            value,
        }
    }
}

impl fmt::Debug for SecretEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretEntry")
            .field("name", &self.name)
            .field("value", &"[redacted]")
            .finish()
    }
}

/// Replaces known secret values in text that came from a plugin (error descriptions,
/// log lines, panic messages) with `[redacted]`.
///
/// A plugin never receives configured secrets, but this is a second line of defence:
/// whatever a plugin writes is scrubbed of every secret value of the call before the host
/// logs it or returns it in an error.
#[derive(Default)]
pub(crate) struct Redactor {
    values: Vec<SecretString>,
}

impl Redactor {
    /// Adds a value to scrub (values shorter than 4 bytes are ignored: they would
    /// redact ordinary text and are no real secrets).
    pub(crate) fn add(&mut self, value: &SecretString) {
        if value.expose_secret().len() >= 4 {
            self.values
                .push(SecretString::from(value.expose_secret().to_owned()));
        }
    }

    /// Scrubs `text`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for value in &self.values {
            let v = value.expose_secret();
            if out.contains(v) {
                out = out.replace(v, "[redacted]");
            }
        }
        out
    }
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} values)", self.values.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let entry = SecretEntry::new("client_secret", SecretString::from("s3cr3t-value"));
        let shown = format!("{entry:?}");
        assert!(shown.contains("client_secret"));
        assert!(!shown.contains("s3cr3t-value"));
    }

    #[test]
    fn redactor_scrubs_every_occurrence() {
        let mut r = Redactor::default();
        r.add(&SecretString::from("hunter22"));
        r.add(&SecretString::from("ab"));
        assert_eq!(
            r.scrub("pw=hunter22 again hunter22 ab"),
            "pw=[redacted] again [redacted] ab"
        );
    }
}
