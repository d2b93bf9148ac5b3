//! Turning component bytes into a validated, ready-to-instantiate plugin.

use std::sync::Arc;

use wasmtime::component::Component;

use super::cache::CompileCache;
use super::{PluginInfo, PluginMetadata};
use crate::bindings::{CONTRACT_VERSION, PROVIDER_INTERFACE, ProviderPre};
use crate::call::{CallContext, CallState, PluginCall};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::secret::Redactor;

/// A plugin ready for calls.
pub(crate) struct LoadedPlugin {
    pub(crate) info: PluginInfo,
    pub(crate) pre: ProviderPre<CallState>,
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_MODULE_VERSION: [u8; 4] = [1, 0, 0, 0];

/// Validates and prepares a plugin from its bytes.
pub(crate) async fn load(
    runtime: &Arc<Runtime>,
    cache: Option<&CompileCache>,
    source: &str,
    bytes: Vec<u8>,
) -> Result<LoadedPlugin> {
    let fail = |reason: String| Error::PluginLoad {
        source_name: source.to_owned(),
        reason,
    };
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(fail("not a WebAssembly file".into()));
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(fail(
            "a core WebAssembly module, not a component: build it for wasm32-wasip2 (or wrap it with `wasm-tools component new`)".into(),
        ));
    }
    let digest = blake3::hash(&bytes).to_hex().to_string();
    let size = bytes.len() as u64;

    // Compiling is CPU-heavy: keep it off the async workers.
    let engine = runtime.engine.clone();
    let cache = cache.cloned();
    let compile_cache = cache.clone();
    let hash = digest.clone();
    let (component, from_cache) = tokio::task::spawn_blocking(move || match &compile_cache {
        Some(c) => c.get_or_compile(&engine, &hash, &bytes),
        None => Component::new(&engine, &bytes)
            .map(|c| (c, false))
            .map_err(|e| format!("{e:#}")),
    })
    .await
    .map_err(|e| fail(format!("compilation task failed: {e}")))?
    .map_err(|e| fail(format!("invalid component: {e}")))?;

    let contract_version = check_contract(&runtime.engine, &component).map_err(&fail)?;

    let instance_pre = runtime.linker.instantiate_pre(&component).map_err(|e| {
        fail(format!(
            "imports something grantbox does not provide (plugins get only the contract's interfaces and a sandboxed WASI without files, environment or sockets): {e:#}"
        ))
    })?;
    let pre = ProviderPre::new(instance_pre).map_err(|e| {
        fail(format!(
            "does not match the contract's `provider` world: {e:#}"
        ))
    })?;

    let cached = match (&cache, from_cache) {
        (Some(c), true) => c.metadata(&runtime.engine, &digest),
        _ => None,
    };
    let metadata = match cached {
        Some(m) => m,
        None => {
            let m = fetch_metadata(runtime, &pre, source).await?;
            if let Some(c) = &cache {
                c.store_metadata(&runtime.engine, &digest, &m);
            }
            m
        }
    };
    Ok(LoadedPlugin {
        info: PluginInfo {
            metadata,
            source: source.to_owned(),
            blake3: digest,
            size,
            contract_version,
            from_cache,
        },
        pre,
    })
}

/// Finds the version of `grantbox:plugin/oauth-provider` the component exports and checks
/// that this host can serve it.
fn check_contract(
    engine: &wasmtime::Engine,
    component: &Component,
) -> std::result::Result<String, String> {
    let ours = semver::Version::parse(CONTRACT_VERSION).map_err(|e| e.to_string())?;
    let ty = component.component_type();
    let mut found = None;
    for (name, _) in ty.exports(engine) {
        if let Some(v) = name.strip_prefix(PROVIDER_INTERFACE) {
            found = Some(v.trim_start_matches('@').to_owned());
        }
    }
    let Some(version) = found else {
        return Err(format!(
            "not a grantbox plugin: it does not export `{PROVIDER_INTERFACE}` (this host implements grantbox:plugin@{CONTRACT_VERSION})"
        ));
    };
    let theirs = semver::Version::parse(&version).map_err(|_| {
        format!("exports `{PROVIDER_INTERFACE}` with an unversioned or invalid version `{version}`; this host implements grantbox:plugin@{CONTRACT_VERSION}")
    })?;
    let compatible = theirs.major == ours.major
        && (ours.major != 0 || theirs.minor == ours.minor)
        && theirs <= ours;
    if !compatible {
        return Err(format!(
            "built against contract grantbox:plugin@{theirs}, which this host (grantbox:plugin@{ours}) does not support; rebuild the plugin against grantbox:plugin@{}.{}.x",
            ours.major, ours.minor
        ));
    }
    Ok(theirs.to_string())
}

async fn fetch_metadata(
    runtime: &Arc<Runtime>,
    pre: &ProviderPre<CallState>,
    source: &str,
) -> Result<PluginMetadata> {
    let fail = |reason: String| Error::PluginLoad {
        source_name: source.to_owned(),
        reason,
    };
    let ctx = CallContext {
        declared: Arc::from(Vec::new()),
        redactor: Redactor::default(),
        dry_run: false,
    };
    let mut call = PluginCall::new(runtime, Arc::from(source), ctx)
        .await
        .map_err(|f| fail(format!("metadata: {f}")))?;
    let timeout = runtime.limits.call_timeout;
    let result = tokio::time::timeout(timeout, async {
        let instance = pre.instantiate_async(&mut call.store).await?;
        instance
            .grantbox_plugin_oauth_provider()
            .call_metadata(&mut call.store)
            .await
    })
    .await;
    let metadata = match result {
        Err(_) => return Err(fail(format!("metadata: did not finish within {timeout:?}"))),
        Ok(Err(e)) => return Err(fail(format!("metadata: the plugin {}", call.fault(&e)))),
        Ok(Ok(m)) => m,
    };
    PluginMetadata::from_wit(metadata).map_err(fail)
}
