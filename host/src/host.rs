//! [`Host`]: the entry point for embedders.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::egress::EgressPolicy;
use crate::error::{Error, Result};
use crate::limits::Limits;
use crate::plugin::{self, CompileCache, LoadFailure, LoadReport, LoadedPlugin, PluginInfo};
use crate::provider::{Provider, ProviderConfig};
use crate::runtime::Runtime;

/// The grantbox host: loads provider plugins and runs token operations through them.
///
/// Cheap to clone; clones share plugins, engine and HTTP client.
///
/// ```no_run
/// # async fn demo() -> Result<(), grantbox_host::Error> {
/// use grantbox_host::{EgressPolicy, GrantType, Host, ProviderConfig, SecretString};
///
/// let host = Host::builder()
///     .egress(EgressPolicy::default())
///     .cache_dir("/var/cache/grantbox")
///     .build()?;
/// let report = host.load_plugin_dir("/usr/lib/grantbox/plugins").await?;
/// for failure in &report.failed {
///     eprintln!("{}: {}", failure.source, failure.error);
/// }
/// let provider = host.provider(
///     ProviderConfig::new("acme", "generic")
///         .grant(GrantType::ClientCredentials)
///         .scopes(["read"])
///         .setting("token_url", "https://auth.acme.example/oauth/token")
///         .setting("client_id", "my-client")
///         .secret("client_secret", SecretString::from(std::env::var("ACME_SECRET").unwrap_or_default())),
/// )?;
/// let token = provider.fetch_token().await?;
/// # let _ = token; Ok(()) }
/// ```
#[derive(Clone)]
pub struct Host {
    inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    pub(crate) runtime: Arc<Runtime>,
    cache: Option<CompileCache>,
    plugins: RwLock<BTreeMap<String, Arc<LoadedPlugin>>>,
    /// Bumped whenever a plugin is added or replaced.
    generation: AtomicU64,
}

/// Builds a [`Host`].
#[derive(Debug, Default)]
pub struct HostBuilder {
    limits: Limits,
    egress: EgressPolicy,
    cache_dir: Option<PathBuf>,
}

impl HostBuilder {
    /// Sets the limits for plugin calls.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the operator's egress policy (default: any `https` origin, no private addresses).
    pub fn egress(mut self, egress: EgressPolicy) -> Self {
        self.egress = egress;
        self
    }

    /// Caches compiled plugins in `dir` (created with mode 0700), so a restart does not
    /// recompile them.
    pub fn cache_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.cache_dir = Some(dir.into());
        self
    }

    /// Creates the host (engine, instance pool, HTTP client). No plugin is loaded yet.
    pub fn build(self) -> Result<Host> {
        let cache = self.cache_dir.map(CompileCache::new).transpose()?;
        let runtime = Arc::new(Runtime::new(self.limits, self.egress)?);
        Ok(Host {
            inner: Arc::new(HostInner {
                runtime,
                cache,
                plugins: RwLock::new(BTreeMap::new()),
                generation: AtomicU64::new(0),
            }),
        })
    }
}

impl Host {
    /// Starts building a host.
    pub fn builder() -> HostBuilder {
        HostBuilder::default()
    }

    /// The host's metrics (token reads, exchanges, failures, plugin call durations).
    pub fn metrics(&self) -> &std::sync::Arc<crate::metrics::Metrics> {
        &self.inner.runtime.metrics
    }

    /// The HTTP client of the host (egress-checked name resolution, no redirects,
    /// request timeout), shared by plugin requests and the outbound proxy.
    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.inner.runtime.http
    }

    /// The operator's egress policy.
    pub fn egress(&self) -> &crate::egress::EgressPolicy {
        &self.inner.runtime.egress
    }

    /// The limits in force.
    pub fn limits(&self) -> &Limits {
        &self.inner.runtime.limits
    }

    /// Loads a plugin from component bytes; `source` names it in messages. A plugin whose id
    /// is already loaded is refused (see [`Host::replace_plugin_bytes`] for a new version).
    pub async fn load_plugin_bytes(&self, source: &str, bytes: Vec<u8>) -> Result<PluginInfo> {
        let loaded = self.prepare_plugin(source, bytes).await?;
        self.install(loaded, false)
    }

    /// Loads a plugin file.
    pub async fn load_plugin_file(&self, path: impl AsRef<Path>) -> Result<PluginInfo> {
        let path = path.as_ref();
        self.load_plugin_bytes(&path.display().to_string(), read(path).await?)
            .await
    }

    /// Loads a plugin from component bytes, replacing a loaded plugin of the same id (a new
    /// version, or the same one again); a plugin with a new id is simply added. Bytes that
    /// fail to load replace nothing. [`Provider`]s created before keep running the old code
    /// until they are created again ([`Host::plugin_generation`] tells when to; the broker
    /// does so by itself, and [`crate::Broker::reload_plugins`] also checks its registered
    /// providers against the new version first).
    pub async fn replace_plugin_bytes(&self, source: &str, bytes: Vec<u8>) -> Result<PluginInfo> {
        let loaded = self.prepare_plugin(source, bytes).await?;
        self.install(loaded, true)
    }

    /// [`Host::replace_plugin_bytes`] for a file.
    pub async fn replace_plugin_file(&self, path: impl AsRef<Path>) -> Result<PluginInfo> {
        let path = path.as_ref();
        self.replace_plugin_bytes(&path.display().to_string(), read(path).await?)
            .await
    }

    /// A number that changes whenever a plugin is added or replaced. A cache of
    /// [`Provider`]s compares it to know when to create them again.
    pub fn plugin_generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    /// Validates and compiles a plugin without making it available.
    pub(crate) async fn prepare_plugin(
        &self,
        source: &str,
        bytes: Vec<u8>,
    ) -> Result<Arc<LoadedPlugin>> {
        let loaded = plugin::load(
            &self.inner.runtime,
            self.inner.cache.as_ref(),
            source,
            bytes,
        )
        .await?;
        Ok(Arc::new(loaded))
    }

    /// Makes a prepared plugin available under its id; with `replace`, in place of a loaded
    /// plugin of the same id.
    pub(crate) fn install(&self, loaded: Arc<LoadedPlugin>, replace: bool) -> Result<PluginInfo> {
        let info = loaded.info.clone();
        let mut plugins = self
            .inner
            .plugins
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let previous = plugins.get(&info.metadata.id).map(|p| p.info.clone());
        match &previous {
            Some(existing) if !replace => {
                return Err(Error::PluginLoad {
                    source_name: info.source.clone(),
                    reason: format!(
                        "duplicate plugin id `{}`: already loaded from {}",
                        info.metadata.id, existing.source
                    ),
                });
            }
            Some(existing) => {
                tracing::info!(plugin = %info.metadata.id, version = %info.metadata.version, previous_version = %existing.metadata.version, source = %info.source, from_cache = info.from_cache, "plugin replaced");
            }
            None => {
                tracing::info!(plugin = %info.metadata.id, version = %info.metadata.version, source = %info.source, from_cache = info.from_cache, "plugin loaded");
            }
        }
        plugins.insert(info.metadata.id.clone(), loaded);
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
        Ok(info)
    }

    /// Loads every `*.wasm` file of a directory (in name order). A broken file is reported
    /// in [`LoadReport::failed`] while the others load; only an unreadable directory is an
    /// error.
    pub async fn load_plugin_dir(&self, dir: impl AsRef<Path>) -> Result<LoadReport> {
        let files = wasm_files(dir.as_ref()).await?;
        Ok(self.load_plugin_files(&files).await)
    }

    /// Loads several plugin files; failures are collected, not fatal.
    pub async fn load_plugin_files(&self, files: &[PathBuf]) -> LoadReport {
        let mut report = LoadReport::default();
        for path in files {
            match self.load_plugin_file(path).await {
                Ok(info) => report.loaded.push(info),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "plugin refused");
                    report.failed.push(LoadFailure {
                        source: path.display().to_string(),
                        error,
                    });
                }
            }
        }
        report
    }

    /// The loaded plugins, by id.
    pub fn plugins(&self) -> Vec<PluginInfo> {
        self.inner
            .plugins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .values()
            .map(|p| p.info.clone())
            .collect()
    }

    /// A loaded plugin's information.
    pub fn plugin(&self, id: &str) -> Option<PluginInfo> {
        self.loaded(id).map(|p| p.info.clone())
    }

    fn loaded(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.inner
            .plugins
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(id)
            .cloned()
    }

    /// Validates a provider configuration against its plugin and returns a provider ready
    /// for token operations. Unknown, missing and mistyped settings are errors naming the
    /// field.
    pub fn provider(&self, config: ProviderConfig) -> Result<Provider> {
        let plugin = self
            .loaded(&config.plugin)
            .ok_or_else(|| Error::UnknownPlugin(config.plugin.clone()))?;
        self.provider_with(plugin, config)
    }

    /// [`Host::provider`] with a given plugin (e.g. one prepared but not installed yet).
    pub(crate) fn provider_with(
        &self,
        plugin: Arc<LoadedPlugin>,
        config: ProviderConfig,
    ) -> Result<Provider> {
        Provider::new(Arc::clone(&self.inner), plugin, config)
    }
}

/// The `*.wasm` files of a directory, in name order.
pub(crate) async fn wasm_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    let mut entries = tokio::fs::read_dir(dir).await.map_err(io)?;
    let mut files = Vec::new();
    while let Some(entry) = entries.next_entry().await.map_err(io)? {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads a plugin file.
pub(crate) async fn read(path: &Path) -> Result<Vec<u8>> {
    tokio::fs::read(path).await.map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field(
                "plugins",
                &self
                    .plugins()
                    .iter()
                    .map(|p| p.metadata.id.clone())
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}
