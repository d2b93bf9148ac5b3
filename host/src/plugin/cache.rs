//! On-disk cache of compiled plugins, keyed by component hash and engine compatibility.
//!
//! Compiling a component with Cranelift takes tens of milliseconds or more; deserializing
//! the precompiled artefact takes microseconds. Precompiled artefacts are native code and
//! are loaded with `unsafe` [`Component::deserialize_file`], so the cache only ever reads
//! files it wrote itself: a directory created with mode 0700, file names derived from the
//! BLAKE3 of the component and a hash of the engine's compatibility settings.
//!
//! Entries are mapped, not read: mapping lets the kernel fault the code in from the page
//! cache in large runs, where reading into a fresh buffer faults every page of a new
//! anonymous mapping (a warm load went from ~0.6–1.0 ms to ~0.3 ms; docs/PERFORMANCE.md).
//! A mapped file truncated in place would kill the process with `SIGBUS`; grantbox never
//! changes an entry in place (it writes a temporary file and renames it, and discards an
//! entry by unlinking it, which leaves existing mappings intact), and anyone else who can
//! write to the 0700 directory could equally replace the native code it holds — the same
//! trust the cache already needs.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::PluginMetadata;
use crate::error::{Error, Result};

/// How long an entry may go unused before a later compilation deletes it (entries of
/// replaced plugin versions, or of another engine after an upgrade, would otherwise stay
/// forever). Each use renews an entry.
pub const UNUSED_ENTRY_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);

/// A directory of compiled plugins.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// Uses (and creates, with mode 0700) `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        Ok(Self { dir })
    }

    /// The cache directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Metadata recorded for a cached plugin (validated when it was first loaded), so a
    /// restart need not instantiate the plugin just to ask it.
    pub(crate) fn metadata(&self, engine: &Engine, digest: &str) -> Option<PluginMetadata> {
        let path = self.path(engine, digest).with_extension("json");
        let text = std::fs::read(path).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Records a plugin's validated metadata next to its compiled code.
    pub(crate) fn store_metadata(&self, engine: &Engine, digest: &str, metadata: &PluginMetadata) {
        let path = self.path(engine, digest).with_extension("json");
        match serde_json::to_vec(metadata) {
            Ok(bytes) => {
                if let Err(e) = write_atomically(&self.dir, &path, &bytes) {
                    tracing::warn!(path = %path.display(), error = %e, "could not write the compile cache");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not serialize plugin metadata"),
        }
    }

    fn path(&self, engine: &Engine, digest: &str) -> PathBuf {
        let mut h = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        self.dir.join(format!("{digest}-{:016x}.cwasm", h.finish()))
    }

    /// The compiled component for `bytes` (whose hash is `digest`): from the cache when
    /// present and valid, otherwise compiled and stored. Returns whether it was a hit.
    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> std::result::Result<(Component, bool), String> {
        let path = self.path(engine, digest);
        if path.exists() {
            // SAFETY: the file is in the host's own cache directory (mode 0700), named after
            // the hash of the component and of the engine's settings, written by the host
            // atomically and never modified in place (see the module docs on mapping).
            // wasmtime also checks the engine compatibility header.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(c) => {
                    touch(&path);
                    touch(&path.with_extension("json"));
                    return Ok((c, true));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "discarding unusable cache entry");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let component = Component::new(engine, bytes).map_err(|e| format!("{e:#}"))?;
        match component.serialize() {
            Ok(serialized) => {
                if let Err(e) = write_atomically(&self.dir, &path, &serialized) {
                    tracing::warn!(path = %path.display(), error = %e, "could not write the compile cache");
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not serialize a compiled plugin"),
        }
        // A compilation is rare and slow anyway: the moment to tidy up.
        self.prune(SystemTime::now());
        Ok((component, false))
    }

    /// Deletes entries (and leftover temporary files) not used for
    /// [`UNUSED_ENTRY_LIFETIME`] at `now`. Returns how many files went.
    pub fn prune(&self, now: SystemTime) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let ours =
                name.ends_with(".cwasm") || name.ends_with(".json") || name.starts_with(".tmp-");
            let stale = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|age| age > UNUSED_ENTRY_LIFETIME);
            // Unlinking leaves any process's existing mapping of the file intact.
            if ours && stale && std::fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            tracing::info!(dir = %self.dir.display(), removed, "unused compile cache entries deleted");
        }
        removed
    }
}

/// Marks a cache file as used now (its modification time), so pruning keeps it.
fn touch(path: &Path) {
    if let Ok(f) = std::fs::File::options().append(true).open(path) {
        let _ = f.set_modified(SystemTime::now());
    }
}

fn write_atomically(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry")
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}
