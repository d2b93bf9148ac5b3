//! The HTTP service on loopback: cached token reads through the API under load, and the
//! outbound proxy's overhead against calling the same loopback API directly.
//!
//! `cargo bench -p grantbox-host --bench service` (add `-- --quick` for a short run).
//! The load generator (reqwest over keep-alive connections) runs in the same process on
//! its own runtime, so on a 2-core machine it competes with the service for the CPU: the
//! figures are a lower bound of what the service sustains. Prints a Markdown table;
//! figures are recorded in docs/PERFORMANCE.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use grantbox_host::service::{Service, ServiceConfig};
use grantbox_host::store::NewConnection;
use grantbox_host::{
    Broker, EgressPolicy, ExposeSecret, GrantType, Host, Keyring, ProviderConfig, SecretString,
    SqliteStore, apikeys,
};
use grantbox_token_server::{Behavior, TokenServer};

struct Stats {
    requests: usize,
    elapsed: Duration,
    p50: Duration,
    p99: Duration,
    max: Duration,
    errors: usize,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64()
    }
}

/// `concurrency` tasks each sending requests built by `make` for `duration`.
async fn load(
    concurrency: usize,
    duration: Duration,
    make: Arc<dyn Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync>,
) -> Stats {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .build()
        .expect("client");
    // Warm the connections.
    for _ in 0..concurrency {
        let _ = make(&client).send().await;
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let make = Arc::clone(&make);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut errors = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                match make(&client).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                    }
                    _ => errors += 1,
                }
                latencies.push(t.elapsed());
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (l, e) = t.await.expect("task");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Stats {
        requests: all.len(),
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        max: *all.last().expect("requests"),
        errors,
    }
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let duration = Duration::from_secs(if quick { 2 } else { 8 });
    // The service and the token server: one runtime with 2 workers (the machine's cores).
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let (base, key, api, token) = server_rt.block_on(async {
        let server = TokenServer::start(Behavior {
            record_requests: false,
            ..Behavior::default()
        })
        .await?;
        let egress = EgressPolicy::deny_all()
            .allow(&server.base_url())?
            .allow_private_network("127.0.0.1/32".parse()?);
        let host = Host::builder()
            .egress(egress)
            .cache_dir(dir.path().join("cache"))
            .build()?;
        host.load_plugin_file(grantbox_plugin_artifacts::GENERIC)
            .await?;
        let ring = Keyring::load_or_create_file(&dir.path().join("master.key"))?;
        let store =
            Arc::new(SqliteStore::open(dir.path().join("grantbox.db"), Arc::new(ring)).await?);
        let broker = Broker::new(host, store);
        broker
            .add_provider(
                ProviderConfig::new("acme", "generic")
                    .grant(GrantType::ClientCredentials)
                    .setting("token_url", server.url("/token"))
                    .setting("client_id", "demo-client")
                    .secret("client_secret", SecretString::from("demo-secret")),
            )
            .await?;
        broker
            .add_connection(NewConnection {
                id: "bench".into(),
                provider: "acme".into(),
                api_base_url: Some(server.url("/api")),
                ..NewConnection::default()
            })
            .await?;
        let token = broker.get_token("bench").await?;
        let key = apikeys::create(broker.store().as_ref(), "bench").await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        let service = Service::new(broker, ServiceConfig::new(url::Url::parse(&base)?));
        tokio::spawn(service.serve(listener, std::future::pending()));
        // Keep the token server alive for the whole run.
        let api = server.url("/api/whoami");
        std::mem::forget(server);
        anyhow::Ok((
            base,
            key.key.expose_secret().to_owned(),
            api,
            token.secret().expose_secret().to_owned(),
        ))
    })?;

    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    println!("| measurement | concurrency | requests/s | p50 | p99 | max | errors |");
    println!("|---|---|---|---|---|---|---|");
    let row = |name: &str, c: usize, s: &Stats| {
        println!(
            "| {name} | {c} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {} |",
            s.rate(),
            s.p50.as_secs_f64() * 1e3,
            s.p99.as_secs_f64() * 1e3,
            s.max.as_secs_f64() * 1e3,
            s.errors
        );
    };
    let token_url = format!("{base}/v1/connections/bench/token");
    let proxy_url = format!("{base}/v1/connections/bench/proxy/whoami");
    for c in [1usize, 16, 64] {
        let (u, k) = (token_url.clone(), key.clone());
        let s = load_rt.block_on(load(
            c,
            duration,
            Arc::new(move |cl: &reqwest::Client| cl.get(&u).bearer_auth(&k)),
        ));
        row("API: cached token read (`GET …/token`)", c, &s);
    }
    for c in [1usize, 16] {
        let (a, t) = (api.clone(), token.clone());
        let direct = load_rt.block_on(load(
            c,
            duration,
            Arc::new(move |cl: &reqwest::Client| cl.get(&a).bearer_auth(&t)),
        ));
        row("direct API call (token in hand)", c, &direct);
        let (u, k) = (proxy_url.clone(), key.clone());
        let proxied = load_rt.block_on(load(
            c,
            duration,
            Arc::new(move |cl: &reqwest::Client| cl.get(&u).bearer_auth(&k)),
        ));
        row("same call through the proxy", c, &proxied);
        println!(
            "| proxy overhead at concurrency {c}: p50 +{:.2} ms, throughput {:.0} % of direct | | | | | | |",
            (proxied.p50.as_secs_f64() - direct.p50.as_secs_f64()) * 1e3,
            100.0 * proxied.rate() / direct.rate()
        );
    }
    drop(load_rt);
    drop(server_rt);
    Ok(())
}
