//! The token lifecycle: cached reads, reads from SQLite, refresh end to end, the due-refresh
//! scan and startup with many connections.
//!
//! `cargo bench -p grantbox-host --bench lifecycle` (add `-- --quick` for a short run).
//! Prints a Markdown table; figures are recorded in docs/PERFORMANCE.md.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use grantbox_host::store::NewConnection;
use grantbox_host::{
    Broker, EgressPolicy, GrantType, Host, Keyring, ProviderConfig, RefreshPolicy, SecretString,
    SqliteStore, Store,
};
use grantbox_token_server::{Behavior, TokenServer};

const CLIENT_ID: &str = "bench-client";
const CLIENT_SECRET: &str = "bench-secret";

async fn host(server: &TokenServer, cache: &std::path::Path) -> anyhow::Result<Host> {
    let egress = EgressPolicy::deny_all()
        .allow(&server.base_url())?
        .allow_private_network("127.0.0.1/32".parse()?);
    let host = Host::builder().egress(egress).cache_dir(cache).build()?;
    host.load_plugin_file(grantbox_plugin_artifacts::GENERIC)
        .await?;
    Ok(host)
}

async fn store(dir: &std::path::Path) -> anyhow::Result<Arc<SqliteStore>> {
    let ring = Keyring::load_or_create_file(&dir.join("master.key"))?;
    Ok(Arc::new(
        SqliteStore::open(dir.join("grantbox.db"), Arc::new(ring)).await?,
    ))
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Adds `n` auto-refresh connections of provider `acme`, of which `due` are due now; the
/// others are due over the next days.
async fn bulk_connections(
    store: &SqliteStore,
    from: usize,
    n: usize,
    due: usize,
) -> anyhow::Result<()> {
    let now = millis(SystemTime::now());
    let mut tx = store.pool().begin().await?;
    for i in from..from + n {
        let refresh_at = if i - from < due {
            now - 1000
        } else {
            now + 3_600_000 + (i as i64 % 86_400) * 1000
        };
        sqlx::query(
            "INSERT INTO connections (id, provider, settings, auto_refresh, refresh_at, expires_at, created_at, updated_at) \
             VALUES (?1, 'acme', '{}', 1, ?2, ?3, ?4, ?4)",
        )
        .bind(format!("bulk-{i:07}"))
        .bind(refresh_at)
        .bind(refresh_at + 300_000)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn row(table: &mut Vec<(String, String)>, what: &str, value: String) {
    println!("{what}: {value}");
    table.push((what.to_owned(), value));
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(quick))
}

async fn run(quick: bool) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = TokenServer::start(Behavior {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        record_requests: false,
        ..Behavior::default()
    })
    .await?;
    let host = host(&server, &dir.path().join("cache")).await?;
    let store = store(dir.path()).await?;
    let broker = Broker::new(host.clone(), store.clone());
    broker
        .add_provider(
            ProviderConfig::new("acme", "generic")
                .grant(GrantType::ClientCredentials)
                .scopes(["read"])
                .setting("token_url", server.url("/token"))
                .setting("client_id", CLIENT_ID)
                .secret("client_secret", SecretString::from(CLIENT_SECRET)),
        )
        .await?;
    broker
        .add_connection(NewConnection {
            id: "c0".into(),
            provider: "acme".into(),
            ..NewConnection::default()
        })
        .await?;
    broker.get_token("c0").await?;
    let mut table = Vec::new();

    // Cached reads: the in-memory hot path, one thread.
    let n = if quick { 1_000_000 } else { 5_000_000 };
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(broker.get_token("c0").await?);
    }
    let per_s = n as f64 / t.elapsed().as_secs_f64();
    row(
        &mut table,
        "cached `get_token`, one thread",
        format!("{:.2} M/s ({:.0} ns each)", per_s / 1e6, 1e9 / per_s),
    );

    // Reads from SQLite: a broker whose cache never trusts an entry.
    let uncached = Broker::with_policy(
        host.clone(),
        store.clone(),
        RefreshPolicy {
            cache_max_age: Duration::ZERO,
            ..RefreshPolicy::default()
        },
    );
    let n = if quick { 2_000 } else { 20_000 };
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(uncached.get_token("c0").await?);
    }
    let el = t.elapsed();
    row(
        &mut table,
        "`get_token` from SQLite (no cache)",
        format!(
            "{:.0} /s ({:.1} µs each)",
            n as f64 / el.as_secs_f64(),
            el.as_secs_f64() * 1e6 / n as f64
        ),
    );

    // Refresh end to end (lease, plugin, HTTP, commit with fsync) vs the bare plugin fetch.
    let n = if quick { 200 } else { 2_000 };
    let provider = broker.effective_provider("c0").await?;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(provider.fetch_token().await?);
    }
    let bare = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    let t = Instant::now();
    for _ in 0..n {
        std::hint::black_box(broker.refresh("c0").await?);
    }
    let full = t.elapsed().as_secs_f64() * 1e6 / n as f64;
    row(
        &mut table,
        "refresh end to end (lease + plugin + HTTP + durable commit)",
        format!(
            "{full:.0} µs (plugin fetch alone {bare:.0} µs; store {:.0} µs)",
            full - bare
        ),
    );

    // Due scan: a fixed 100 due connections among a growing total.
    let mut total = 1;
    for target in [1_000usize, 10_000, 100_000] {
        bulk_connections(
            &store,
            total,
            target - total,
            if total == 1 { 100 } else { 0 },
        )
        .await?;
        total = target;
        let reps = 200;
        let t = Instant::now();
        let mut found = 0;
        for _ in 0..reps {
            found = store.due_connections(SystemTime::now(), 256).await?.len();
        }
        let us = t.elapsed().as_secs_f64() * 1e6 / reps as f64;
        row(
            &mut table,
            &format!("due scan, {total} connections ({found} due)"),
            format!("{us:.0} µs"),
        );
    }

    // Startup with 100 000 connections: open the store, build a host, load the plugin from
    // the compile cache, serve the first token.
    drop(broker);
    drop(uncached);
    store.close().await;
    let t = Instant::now();
    let store = self::store(dir.path()).await?;
    let host = self::host(&server, &dir.path().join("cache")).await?;
    let broker = Broker::new(host, store.clone());
    broker.get_token("c0").await?;
    let el = t.elapsed();
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM connections")
        .fetch_one(store.pool())
        .await?;
    row(
        &mut table,
        &format!("startup with {count} connections (open store, load plugin, first token)"),
        format!("{:.1} ms", el.as_secs_f64() * 1e3),
    );

    println!();
    println!("| measurement | value |");
    println!("|---|---|");
    for (k, v) in table {
        println!("| {k} | {v} |");
    }
    Ok(())
}
