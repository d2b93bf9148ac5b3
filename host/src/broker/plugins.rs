//! Plugin reload: new plugins and new versions of loaded ones, from the operator's plugin
//! files, while the broker serves. A new version is installed only when every registered
//! provider of that plugin (and every connection's effective settings) still validates
//! against it; otherwise the loaded version keeps serving and the report says why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Broker, check_registration};
use crate::error::{Error, Result};
use crate::plugin::{LoadFailure, LoadedPlugin, PluginInfo};

/// A plugin that [`Broker::reload_plugins`] replaced with a new version.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReplacedPlugin {
    /// The version now loaded.
    pub plugin: PluginInfo,
    /// The version it replaced.
    pub previous_version: String,
    /// Where the replaced version came from (a path, or `bundled:<name>`).
    pub previous_source: String,
}

/// What [`Broker::reload_plugins`] did, file by file.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Plugins with a new id, now loaded.
    pub added: Vec<PluginInfo>,
    /// New versions installed in place of loaded ones.
    pub replaced: Vec<ReplacedPlugin>,
    /// Files holding exactly a loaded plugin (nothing to do), by plugin id.
    pub unchanged: Vec<String>,
    /// Files refused, each with its reason; a loaded version of the same plugin keeps
    /// serving.
    pub failed: Vec<LoadFailure>,
}

enum Outcome {
    Added(PluginInfo),
    Replaced(ReplacedPlugin),
    Unchanged(String),
}

impl Broker {
    /// Loads new plugins, and new versions of loaded ones, from the `*.wasm` files of `dir`
    /// (in name order) and from `files`, without a restart. A file whose bytes are those
    /// of a loaded plugin changes nothing; of two files with the same plugin id, the first
    /// counts and the second is refused, as at start. A new version of a loaded plugin is first
    /// checked against every provider registered with that plugin (declared fields and the
    /// plugin's own settings check, as when a provider is added) and every connection's
    /// effective settings (declared fields); if one of them would break, the file is
    /// refused and the loaded version keeps serving. Once installed, connections use the
    /// new version from their next token operation. A plugin whose file has gone stays
    /// loaded (nothing is unloaded while it may be in use). Only an unreadable `dir` is an
    /// error; broken files are reported in [`ReloadReport::failed`].
    pub async fn reload_plugins(
        &self,
        dir: Option<&Path>,
        files: &[PathBuf],
    ) -> Result<ReloadReport> {
        let mut paths = match dir {
            Some(dir) => crate::host::wasm_files(dir).await?,
            None => Vec::new(),
        };
        paths.extend(files.iter().cloned());
        // No registration is checked and stored while versions are checked and installed.
        let _registering = self.inner.registrations.lock().await;
        let mut report = ReloadReport::default();
        // Plugin id → the file that provided it in this reload: as at start, the first file
        // of an id wins and a later one is refused (no flip-flopping between two versions).
        let mut seen = HashMap::new();
        for path in paths {
            match self.reload_file(&path, &mut seen).await {
                Ok(Outcome::Added(info)) => report.added.push(info),
                Ok(Outcome::Replaced(r)) => report.replaced.push(r),
                Ok(Outcome::Unchanged(id)) => report.unchanged.push(id),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "plugin not reloaded");
                    report.failed.push(LoadFailure {
                        source: path.display().to_string(),
                        error,
                    });
                }
            }
        }
        if !report.replaced.is_empty() {
            // Stale entries would be rebuilt on their next use anyway (they carry the
            // plugin generation); dropping them now frees the replaced versions' code.
            if let Ok(mut providers) = self.inner.providers.lock() {
                providers.clear();
            }
            if let Ok(mut routes) = self.inner.routes.write() {
                routes.clear();
            }
        }
        Ok(report)
    }

    async fn reload_file(
        &self,
        path: &Path,
        seen: &mut HashMap<String, String>,
    ) -> Result<Outcome> {
        let host = &self.inner.host;
        let source = path.display().to_string();
        let bytes = crate::host::read(path).await?;
        let digest = blake3::hash(&bytes).to_hex().to_string();
        let (id, candidate) = match host.plugins().into_iter().find(|p| p.blake3 == digest) {
            Some(same) => (same.metadata.id, None),
            None => {
                let candidate = host.prepare_plugin(&source, bytes).await?;
                (candidate.info.metadata.id.clone(), Some(candidate))
            }
        };
        if let Some(first) = seen.get(&id) {
            return Err(Error::PluginLoad {
                source_name: source,
                reason: format!("duplicate plugin id `{id}`: already provided by {first}"),
            });
        }
        seen.insert(id.clone(), source.clone());
        let Some(candidate) = candidate else {
            return Ok(Outcome::Unchanged(id));
        };
        let Some(previous) = host.plugin(&id) else {
            return Ok(Outcome::Added(host.install(candidate, false)?));
        };
        if let Err(e) = self.check_new_version(&candidate).await {
            return Err(Error::PluginLoad {
                source_name: source,
                reason: format!(
                    "version {} of plugin `{id}` not installed: {e}; version {} ({}) keeps serving",
                    candidate.info.metadata.version, previous.metadata.version, previous.source
                ),
            });
        }
        let plugin = host.install(candidate, true)?;
        Ok(Outcome::Replaced(ReplacedPlugin {
            plugin,
            previous_version: previous.metadata.version,
            previous_source: previous.source,
        }))
    }

    /// Checks the registered providers of the candidate's plugin id, and their connections,
    /// against the candidate; the error says which registration would break and why.
    async fn check_new_version(
        &self,
        candidate: &Arc<LoadedPlugin>,
    ) -> std::result::Result<(), String> {
        let id = &candidate.info.metadata.id;
        let host = &self.inner.host;
        let store_error = |e: Error| format!("the store could not be read: {e}");
        for record in self.inner.store.providers().await.map_err(store_error)? {
            if &record.plugin != id {
                continue;
            }
            let config = record.to_config();
            let breaks = |e: Error| format!("provider `{}` would break ({e})", record.name);
            let provider = host
                .provider_with(Arc::clone(candidate), config.clone())
                .map_err(breaks)?;
            check_registration(&provider, &config)
                .await
                .map_err(breaks)?;
            let connections = self
                .inner
                .store
                .connections(Some(&record.name))
                .await
                .map_err(store_error)?;
            for connection in connections {
                host.provider_with(
                    Arc::clone(candidate),
                    connection.overrides.apply(&connection.id, &record),
                )
                .map_err(|e| format!("connection `{}` would break ({e})", connection.id))?;
            }
        }
        Ok(())
    }
}
