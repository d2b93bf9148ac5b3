//! Runs the plugin conformance suite (`grantbox_e2e::conformance`) on plugin components.
//!
//! `conformance <plugin.wasm>… [--set name=value]… [--secret name=value]… [--secret-file name=path]…`
//! Exit status 1 when a plugin is not conformant.

use anyhow::bail;
use grantbox_e2e::conformance::{self, Options};
use grantbox_host::{SecretString, SettingValue};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut files = Vec::new();
    let mut options = Options::default();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--set" | "--secret" | "--secret-file" => {
                let Some(kv) = args.next() else {
                    bail!("{a} needs name=value")
                };
                let Some((k, v)) = kv.split_once('=') else {
                    bail!("{a} {kv}: expected name=value")
                };
                let value = if a == "--secret-file" {
                    let text = std::fs::read_to_string(v)
                        .map_err(|e| anyhow::anyhow!("{a} {k}: cannot read {v}: {e}"))?;
                    SettingValue::Secret(SecretString::from(text))
                } else if a == "--secret" {
                    SettingValue::Secret(SecretString::from(v.to_owned()))
                } else {
                    SettingValue::Text(v.to_owned())
                };
                options.settings.push((k.to_owned(), value));
            }
            "-h" | "--help" => {
                println!(
                    "usage: conformance <plugin.wasm>... [--set name=value]... [--secret name=value]... [--secret-file name=path]..."
                );
                return Ok(());
            }
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        bail!(
            "usage: conformance <plugin.wasm>... [--set name=value]... [--secret name=value]... [--secret-file name=path]..."
        );
    }
    let mut failed = 0;
    for f in &files {
        let report = conformance::run(f, &options).await?;
        print!("{report}");
        failed += usize::from(!report.failures().is_empty());
    }
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}
