//! Loading plugins: broken files are reported by name while the others load; incompatible
//! contract versions are refused; compiled code is cached on disk.

use anyhow::ensure;
use grantbox_e2e::{artifacts, loopback_egress, test_limits};
use grantbox_host::{Error, Host};

fn host() -> anyhow::Result<Host> {
    Ok(Host::builder()
        .limits(test_limits())
        .egress(loopback_egress())
        .build()?)
}

#[tokio::test]
async fn a_broken_file_does_not_stop_the_others() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::copy(artifacts::GENERIC, dir.path().join("b-generic.wasm"))?;
    std::fs::write(
        dir.path().join("a-garbage.wasm"),
        b"this is not wasm at all",
    )?;
    // A valid core module (not a component): magic + version 1.
    std::fs::write(dir.path().join("c-core.wasm"), b"\0asm\x01\0\0\0")?;
    std::fs::write(dir.path().join("notes.txt"), b"ignored")?;
    std::fs::copy(
        artifacts::WRONG_VERSION,
        dir.path().join("d-wrong-version.wasm"),
    )?;

    let host = host()?;
    let report = host.load_plugin_dir(dir.path()).await?;
    let loaded: Vec<&str> = report
        .loaded
        .iter()
        .map(|p| p.metadata.id.as_str())
        .collect();
    assert_eq!(loaded, ["generic"]);
    assert_eq!(report.failed.len(), 3, "{:?}", report.failed);
    let reason = |name: &str| {
        report
            .failed
            .iter()
            .find(|f| f.source.ends_with(name))
            .map(|f| f.error.to_string())
            .unwrap_or_default()
    };
    assert!(reason("a-garbage.wasm").contains("not a WebAssembly file"));
    assert!(reason("c-core.wasm").contains("not a component"));
    let wrong = reason("d-wrong-version.wasm");
    assert!(
        wrong.contains("grantbox:plugin@9.0.0") && wrong.contains("0.1.0"),
        "{wrong}"
    );
    assert!(wrong.contains("d-wrong-version.wasm"), "{wrong}");
    Ok(())
}

#[tokio::test]
async fn duplicate_ids_are_refused() -> anyhow::Result<()> {
    let host = host()?;
    host.load_plugin_file(artifacts::GENERIC).await?;
    let err = host
        .load_plugin_file(artifacts::GENERIC)
        .await
        .expect_err("duplicate");
    assert!(matches!(err, Error::PluginLoad { .. }));
    assert!(
        err.to_string().contains("duplicate plugin id `generic`"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn compiled_plugins_are_cached_across_restarts() -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    let first = Host::builder().cache_dir(cache.path()).build()?;
    let info = first.load_plugin_file(artifacts::GENERIC).await?;
    assert!(!info.from_cache);
    drop(first);
    let compiled = std::fs::read_dir(cache.path())?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "cwasm"))
        .count();
    assert_eq!(compiled, 1);

    let second = Host::builder().cache_dir(cache.path()).build()?;
    let info = second.load_plugin_file(artifacts::GENERIC).await?;
    assert!(info.from_cache, "the restart recompiled the plugin");
    // (Entries are mapped while a host uses them; grantbox never rewrites one in place.)
    drop(second);

    // A corrupt entry is discarded and rebuilt, not trusted.
    for e in std::fs::read_dir(cache.path())? {
        std::fs::write(e?.path(), b"garbage")?;
    }
    let third = Host::builder().cache_dir(cache.path()).build()?;
    let info = third.load_plugin_file(artifacts::GENERIC).await?;
    assert!(!info.from_cache);
    assert_eq!(info.metadata.id, "generic");
    Ok(())
}

/// Sets a file's modification time `days` in the past.
fn age(path: &std::path::Path, days: u64) -> anyhow::Result<()> {
    let when = std::time::SystemTime::now() - std::time::Duration::from_secs(days * 24 * 3600);
    std::fs::File::options()
        .append(true)
        .open(path)?
        .set_modified(when)?;
    Ok(())
}

fn cache_files(dir: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn unused_cache_entries_are_pruned_and_used_ones_kept() -> anyhow::Result<()> {
    let cache = tempfile::tempdir()?;
    Host::builder()
        .cache_dir(cache.path())
        .build()?
        .load_plugin_file(artifacts::GENERIC)
        .await?;
    let generic = cache_files(cache.path())?;
    ensure!(generic.len() == 2, "code and metadata: {generic:?}");
    // Entries nobody used for 40 days (a replaced version, an older engine) and a leftover
    // temporary file; the generic plugin's entry is as old, but a restart uses it.
    for name in ["0000-old.cwasm", "0000-old.json", ".tmp-1-0000-old.cwasm"] {
        std::fs::write(cache.path().join(name), b"stale")?;
        age(&cache.path().join(name), 40)?;
    }
    for name in &generic {
        age(&cache.path().join(name), 40)?;
    }
    let host = Host::builder().cache_dir(cache.path()).build()?;
    ensure!(host.load_plugin_file(artifacts::GENERIC).await?.from_cache);
    // The next compilation (a plugin not cached yet) tidies up.
    ensure!(!host.load_plugin_file(artifacts::HOSTILE).await?.from_cache);
    let left = cache_files(cache.path())?;
    ensure!(
        left.len() == 4,
        "generic's and hostile's entries only: {left:?}"
    );
    for name in &generic {
        ensure!(
            left.contains(name),
            "{name} was pruned although used: {left:?}"
        );
    }
    ensure!(!left.iter().any(|n| n.contains("old")), "{left:?}");
    Ok(())
}

#[tokio::test]
async fn metadata_is_exposed() -> anyhow::Result<()> {
    let host = host()?;
    let info = host.load_plugin_file(artifacts::GENERIC).await?;
    let m = &info.metadata;
    assert_eq!(m.id, "generic");
    assert!(m.grants.iter().any(|g| g == "client_credentials"));
    assert!(m.grants.iter().any(|g| g == "password"));
    assert!(m.field("token_url").is_some_and(|f| f.required));
    assert!(m.hosts.iter().any(|h| h == "{token_url}"));
    assert_eq!(info.contract_version, grantbox_host::CONTRACT_VERSION);
    Ok(())
}

#[tokio::test]
async fn a_plugin_importing_files_is_refused_naming_the_import() -> anyhow::Result<()> {
    let host = host()?;
    let err = host
        .load_plugin_file(artifacts::NEEDS_FILES)
        .await
        .expect_err("no filesystem is linked");
    let text = err.to_string();
    assert!(text.contains("does not provide"), "{text}");
    assert!(text.contains("wasi:filesystem"), "{text}");
    Ok(())
}
