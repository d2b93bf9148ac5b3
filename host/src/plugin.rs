//! Plugins: loading, validation, the compiled-code cache and plugin metadata.

mod cache;
mod loader;
mod metadata;

pub use cache::{CompileCache, UNUSED_ENTRY_LIFETIME};
pub(crate) use loader::{LoadedPlugin, load};
pub use metadata::placeholders;
pub use metadata::{ConfigField, FieldKind, PluginMetadata};

use std::fmt;

/// A loaded plugin, as shown to operators (`grantbox plugins list|inspect`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PluginInfo {
    /// What the plugin says about itself.
    pub metadata: PluginMetadata,
    /// Where it came from: a file path or `bundled:<name>`.
    pub source: String,
    /// BLAKE3 digest of the component bytes (hex).
    pub blake3: String,
    /// Size of the component in bytes.
    pub size: u64,
    /// The contract version the plugin was built against.
    pub contract_version: String,
    /// Whether the compiled code came from the on-disk cache.
    pub from_cache: bool,
}

/// A plugin that could not be loaded, and why.
#[derive(Debug)]
pub struct LoadFailure {
    /// Where it came from.
    pub source: String,
    /// Why it was refused.
    pub error: crate::Error,
}

impl fmt::Display for LoadFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)
    }
}

/// The outcome of loading several plugins: a broken file does not stop the others.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Plugins loaded.
    pub loaded: Vec<PluginInfo>,
    /// Files refused, each with its reason.
    pub failed: Vec<LoadFailure>,
}
