//! A second process for the lifecycle tests: opens the store in a directory and either
//! gets one token (`get`) or refreshes in a loop until killed (`refresh-loop`), printing each
//! access token on its own line.
//!
//! `lifecycle-child <get|refresh-loop> <dir> <connection>`

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, bail};
use grantbox_host::{ExposeSecret, RefreshPolicy};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, mode, dir, connection] = args.as_slice() else {
        bail!("usage: lifecycle-child <get|refresh-loop> <dir> <connection>");
    };
    let policy = RefreshPolicy {
        lease_ttl: Duration::from_secs(1),
        lease_poll: Duration::from_millis(10),
        expiry_skew: Duration::ZERO,
        ..RefreshPolicy::default()
    };
    let (broker, _store) = grantbox_e2e::broker_in(std::path::Path::new(dir), policy)
        .await
        .context("opening the store")?;
    let mut out = std::io::stdout().lock();
    match mode.as_str() {
        "get" => {
            let t = broker.get_token(connection).await?;
            writeln!(out, "{}", t.secret().expose_secret())?;
        }
        "refresh-loop" => loop {
            let t = broker.refresh(connection).await?;
            writeln!(out, "{}", t.secret().expose_secret())?;
            out.flush()?;
        },
        other => bail!("unknown mode `{other}`"),
    }
    Ok(())
}
