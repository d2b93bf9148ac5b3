//! Compiles the workspace's guest crates (provider plugins and test components) for
//! `wasm32-wasip2` with the `plugin` profile, so tests and the binary never use a stale or
//! missing `.wasm`.
//!
//! The nested `cargo build` uses its own target directory (`<target>/plugins`) so it never
//! waits on the outer build's lock (the approach of wasmtime's test-programs artifacts).

use std::env;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (crate name, constant name, bundled into the grantbox binary).
const GUESTS: &[(&str, &str, bool)] = &[
    ("grantbox-plugin-generic", "GENERIC", true),
    ("grantbox-plugin-google", "GOOGLE", true),
    ("grantbox-plugin-azure", "AZURE", true),
    ("grantbox-plugin-github", "GITHUB", true),
    ("grantbox-plugin-slack", "SLACK", true),
    ("grantbox-plugin-zoom", "ZOOM", true),
    ("grantbox-plugin-linkedin", "LINKEDIN", true),
    ("grantbox-plugin-dropbox", "DROPBOX", true),
    ("grantbox-plugin-cognito", "COGNITO", true),
    ("grantbox-plugin-salesforce", "SALESFORCE", true),
    ("grantbox-test-hostile", "HOSTILE", false),
    ("grantbox-test-wrong-version", "WRONG_VERSION", false),
    ("grantbox-test-needs-files", "NEEDS_FILES", false),
    ("grantbox-test-generic-next", "GENERIC_NEXT", false),
];

const TARGET: &str = "wasm32-wasip2";
const PROFILE: &str = "plugin";

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest_dir
        .parent()
        .and_then(Path::parent)
        .expect("plugins/artifacts lives two levels below the workspace root")
        .to_path_buf();
    for dir in [
        "wit",
        "guest-sdk",
        "plugins",
        "tests/components",
        "Cargo.lock",
        ".cargo/config.toml",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    println!("cargo:rerun-if-changed=build.rs");

    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<crate>-<hash>/out.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|p| p.join("plugins"))
        .unwrap_or_else(|| root.join("target").join("plugins"));

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .arg("build")
        .arg("--target")
        .arg(TARGET)
        .arg("--profile")
        .arg(PROFILE)
        .arg("--target-dir")
        .arg(&target_dir);
    for (name, _, _) in GUESTS {
        cmd.arg("-p").arg(name);
    }
    // Flags meant for the outer (host) build must not leak into the wasm build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "CARGO_BUILD_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("could not run cargo to build the plugins: {e}"));
    if !status.success() {
        let installed = Command::new("rustup")
            .args(["target", "list", "--installed"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains(TARGET))
            .unwrap_or(true);
        if !installed {
            panic!("the {TARGET} target is not installed: run `rustup target add {TARGET}`");
        }
        panic!("building the plugin components for {TARGET} failed (see the errors above)");
    }

    let wasm_dir = target_dir.join(TARGET).join(PROFILE);
    let mut code = String::new();
    let mut bundled = String::new();
    for (name, constant, bundle) in GUESTS {
        let path = wasm_dir.join(format!("{}.wasm", name.replace('-', "_")));
        assert!(path.is_file(), "{} was not produced", path.display());
        let path = path.display().to_string();
        let _ = writeln!(
            code,
            "/// Absolute path of the `{name}` component.\npub const {constant}: &str = {path:?};"
        );
        if *bundle {
            let id = name.trim_start_matches("grantbox-plugin-");
            let _ = writeln!(bundled, "    ({id:?}, include_bytes!({path:?})),");
        }
    }
    let _ = writeln!(
        code,
        "/// The provider plugins embedded in the grantbox binary, as (name, component bytes).\npub static BUNDLED: &[(&str, &[u8])] = &[\n{bundled}];"
    );
    std::fs::write(out_dir.join("artifacts.rs"), code).expect("write artifacts.rs");
}
