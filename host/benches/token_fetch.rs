//! Token fetch through a plugin vs raw reqwest sending the identical request, against the
//! same loopback token server; plugin instantiation cost; plugin load cold vs from cache.
//!
//! `cargo bench -p grantbox-host --bench token_fetch` (add `-- --quick` for a short run).
//! Prints a Markdown table; figures are recorded in docs/PERFORMANCE.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use grantbox_host::{
    EgressPolicy, ExposeSecret, GrantType, Host, Limits, Provider, ProviderConfig, SecretString,
};
use grantbox_token_server::{Behavior, TokenServer};

const CLIENT_ID: &str = "bench-client";
const CLIENT_SECRET: &str = "bench-secret";

struct Setup {
    server: TokenServer,
    provider: Provider,
    raw: reqwest::Client,
}

/// A token server (answering after `latency`, if any), a provider of the generic plugin
/// pointed at it and a raw client configured like the host's.
async fn setup(latency: Option<Duration>) -> anyhow::Result<Setup> {
    let server = TokenServer::start(Behavior {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        record_requests: false,
        latency,
        ..Behavior::default()
    })
    .await?;
    let egress = EgressPolicy::deny_all()
        .allow(&server.base_url())?
        .allow_private_network("127.0.0.1/32".parse()?);
    let host = Host::builder()
        .egress(egress)
        .limits(Limits::default())
        .build()?;
    host.load_plugin_file(grantbox_plugin_artifacts::GENERIC)
        .await?;
    let provider = host.provider(
        ProviderConfig::new("bench", "generic")
            .grant(GrantType::ClientCredentials)
            .scopes(["read", "write"])
            .setting("token_url", server.url("/token"))
            .setting("client_id", CLIENT_ID)
            .secret("client_secret", SecretString::from(CLIENT_SECRET)),
    )?;
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .tcp_nodelay(true)
        // Configured like the host's own client: same timeouts and user agent.
        .timeout(Limits::default().request_timeout)
        .connect_timeout(Limits::default().request_timeout)
        .user_agent(concat!("grantbox/", env!("CARGO_PKG_VERSION")))
        .build()?;
    Ok(Setup {
        server,
        provider,
        raw,
    })
}

/// The identical request, sent and parsed natively: form body, Basic credentials
/// (form-urlencoded per RFC 6749), `Accept: application/json`, JSON token response.
async fn raw_fetch(client: &reqwest::Client, url: &str) -> anyhow::Result<String> {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let body = form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", "read write")
        .finish();
    let response = client
        .post(url)
        .header("accept", "application/json")
        .header("authorization", format!("Basic {basic}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await?;
    let status = response.status();
    let bytes = response.bytes().await?;
    let json: serde_json::Value = serde_json::from_slice(&bytes)?;
    anyhow::ensure!(status.is_success(), "status {status}");
    json["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no access_token"))
}

async fn plugin_fetch(p: &Provider) -> anyhow::Result<String> {
    Ok(p.fetch_token()
        .await?
        .access_token
        .expose_secret()
        .to_owned())
}

/// Runs `total` operations split over `callers` tasks; returns operations per second.
async fn throughput<F, Fut>(callers: usize, total: usize, op: F) -> anyhow::Result<f64>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<String>> + Send,
{
    let op = Arc::new(op);
    let per = total / callers;
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(callers);
    for _ in 0..callers {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                op().await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    Ok((per * callers) as f64 / start.elapsed().as_secs_f64())
}

fn micros(d: Duration, n: usize) -> f64 {
    d.as_secs_f64() * 1e6 / n as f64
}

fn main() -> anyhow::Result<()> {
    let quick = std::env::args().any(|a| a == "--quick");
    let rt = if std::env::var("BENCH_RUNTIME").is_ok_and(|v| v == "current-thread") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        let s = Arc::new(setup(None).await?);
        let url = s.server.url("/token");
        if std::env::args().any(|a| a == "--interleaved") {
            // Does a plugin call between two raw fetches slow the raw fetch down (caches)?
            let cfg = s.provider.config().clone().setting("authorization_url", "https://auth.example/authorize");
            let host = Host::builder().build()?;
            host.load_plugin_file(grantbox_plugin_artifacts::GENERIC).await?;
            let p = host.provider(cfg)?;
            let req = grantbox_host::AuthorizationRequest {
                redirect_uri: "https://app.example/cb".into(),
                state: "xyz".into(),
                ..Default::default()
            };
            let n = 5_000;
            let mut alone = Duration::ZERO;
            for _ in 0..n {
                let t = Instant::now();
                raw_fetch(&s.raw, &url).await?;
                alone += t.elapsed();
            }
            let mut interleaved = Duration::ZERO;
            for _ in 0..n {
                p.authorization_url(&req).await?;
                let t = Instant::now();
                raw_fetch(&s.raw, &url).await?;
                interleaved += t.elapsed();
            }
            println!("raw fetch alone {:.1} µs, right after a plugin call {:.1} µs", micros(alone, n), micros(interleaved, n));
            return Ok(());
        }
        if std::env::args().any(|a| a == "--instantiate-only") {
            // For profilers: 200 000 fresh instances.
            let t = Instant::now();
            for _ in 0..200_000 {
                s.provider.instantiate_only().await?;
            }
            println!("fresh instance: {:.2} µs", micros(t.elapsed(), 200_000));
            return Ok(());
        }
        if let Some(mode) = std::env::args().find(|a| a == "--raw-only" || a == "--plugin-only") {
            // For profilers: one path only, 20 000 fetches by BENCH_CALLERS callers (default
            // 1) against a server answering after BENCH_LATENCY_MS (default: at once).
            let env_num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
            let callers = env_num("BENCH_CALLERS").unwrap_or(1).max(1) as usize;
            let s = match env_num("BENCH_LATENCY_MS") {
                Some(ms) => Arc::new(setup(Some(Duration::from_millis(ms))).await?),
                None => s,
            };
            let url = s.server.url("/token");
            let per_second = if mode == "--raw-only" {
                let (c, u) = (s.raw.clone(), url.clone());
                throughput(callers, 20_000, move || {
                    let (c, u) = (c.clone(), u.clone());
                    async move { raw_fetch(&c, &u).await }
                })
                .await?
            } else {
                let p = s.provider.clone();
                throughput(callers, 20_000, move || {
                    let p = p.clone();
                    async move { plugin_fetch(&p).await }
                })
                .await?
            };
            println!("{mode}: {per_second:.0} fetches/s ({callers} callers)");
            return Ok(());
        }
        let (seq_n, conc_n, rounds) = if quick {
            (500, 4_000, 1)
        } else {
            (3_000, 24_000, 3)
        };

        // Warm up both paths (connections, caches, JIT'd code paths).
        for _ in 0..300 {
            raw_fetch(&s.raw, &url).await?;
            plugin_fetch(&s.provider).await?;
        }

        let mut rows = Vec::new();
        for (label, callers, total) in [
            ("sequential (1 caller)", 1usize, seq_n),
            ("64 concurrent callers", 64, conc_n),
        ] {
            let mut raw_best: f64 = 0.0;
            let mut plugin_best: f64 = 0.0;
            // Alternate the two, keep the best round of each (less noise from the machine).
            for _ in 0..rounds {
                let (c, u) = (s.raw.clone(), url.clone());
                raw_best = raw_best.max(
                    throughput(callers, total, move || {
                        let (c, u) = (c.clone(), u.clone());
                        async move { raw_fetch(&c, &u).await }
                    })
                    .await?,
                );
                let p = s.provider.clone();
                plugin_best = plugin_best.max(
                    throughput(callers, total, move || {
                        let p = p.clone();
                        async move { plugin_fetch(&p).await }
                    })
                    .await?,
                );
            }
            rows.push((label, raw_best, plugin_best));
        }

        // The same comparison against a server that takes as long as real token endpoints
        // do (a nearby one ~1 ms; across the internet 20 ms and more), one round each.
        let mut latency_rows = Vec::new();
        for (ms, seq, conc) in [(1u64, 300usize, 6_400usize), (20, 50, 1_280)] {
            let (seq, conc) = if quick { (seq / 5, conc / 5) } else { (seq, conc) };
            let l = setup(Some(Duration::from_millis(ms))).await?;
            let url = l.server.url("/token");
            for _ in 0..5 {
                raw_fetch(&l.raw, &url).await?;
                plugin_fetch(&l.provider).await?;
            }
            for (label, callers, total) in [("sequential", 1usize, seq), ("64 concurrent", 64, conc)] {
                let (c, u) = (l.raw.clone(), url.clone());
                let raw = throughput(callers, total, move || {
                    let (c, u) = (c.clone(), u.clone());
                    async move { raw_fetch(&c, &u).await }
                })
                .await?;
                let p = l.provider.clone();
                let plugin = throughput(callers, total, move || {
                    let p = p.clone();
                    async move { plugin_fetch(&p).await }
                })
                .await?;
                latency_rows.push((ms, label, raw, plugin));
            }
        }

        // Cost of a fresh instance (store + instantiate from InstancePre, pooled).
        let n = if quick { 2_000 } else { 20_000 };
        for _ in 0..500 {
            s.provider.instantiate_only().await?;
        }
        let t = Instant::now();
        for _ in 0..n {
            s.provider.instantiate_only().await?;
        }
        let instantiate_us = micros(t.elapsed(), n);

        // A whole plugin call without I/O (fresh instance + authorization-url).
        let cfg = s
            .provider
            .config()
            .clone()
            .setting("authorization_url", "https://auth.example/authorize");
        let host = Host::builder().build()?;
        host.load_plugin_file(grantbox_plugin_artifacts::GENERIC)
            .await?;
        let p = host.provider(cfg)?;
        let req = grantbox_host::AuthorizationRequest {
            redirect_uri: "https://app.example/cb".into(),
            state: "xyz".into(),
            ..Default::default()
        };
        for _ in 0..500 {
            p.authorization_url(&req).await?;
        }
        let t = Instant::now();
        for _ in 0..n {
            p.authorization_url(&req).await?;
        }
        let call_us = micros(t.elapsed(), n);

        // The in-sandbox share of a token fetch: the hostile test plugin's `canned` mode
        // builds the same request and parses a typical response, without I/O.
        host.load_plugin_file(grantbox_plugin_artifacts::HOSTILE).await?;
        let canned = host.provider(
            ProviderConfig::new("canned", "hostile")
                .setting("mode", "canned")
                .setting("allowed_url", "https://auth.example/token")
                .setting("client_id", CLIENT_ID)
                .secret("client_secret", SecretString::from(CLIENT_SECRET)),
        )?;
        for _ in 0..500 {
            canned.fetch_token().await?;
        }
        let t = Instant::now();
        for _ in 0..n {
            canned.fetch_token().await?;
        }
        let canned_us = micros(t.elapsed(), n);

        // Plugin load: cold (compile) vs warm (compiled code from the on-disk cache).
        let bytes = std::fs::read(grantbox_plugin_artifacts::GENERIC)?;
        let cache = tempfile::tempdir()?;
        let loads = if quick { 3 } else { 10 };
        let mut cold = Duration::ZERO;
        for _ in 0..loads {
            let h = Host::builder().build()?;
            let t = Instant::now();
            h.load_plugin_bytes("generic", bytes.clone()).await?;
            cold += t.elapsed();
        }
        Host::builder()
            .cache_dir(cache.path())
            .build()?
            .load_plugin_bytes("generic", bytes.clone())
            .await?;
        let warm_n = if quick { 20 } else { 100 };
        let mut warm = Duration::ZERO;
        for _ in 0..warm_n {
            // A restart: a new host (engine, pool) whose cache already holds the plugin.
            let h = Host::builder().cache_dir(cache.path()).build()?;
            let t = Instant::now();
            let info = h.load_plugin_bytes("generic", bytes.clone()).await?;
            warm += t.elapsed();
            anyhow::ensure!(info.from_cache, "expected a cache hit");
        }

        println!("| measurement | raw reqwest | through the plugin | ratio (plugin / raw) |");
        println!("|---|---|---|---|");
        for (label, raw, plugin) in &rows {
            println!(
                "| token fetch, {label} | {raw:.0} /s | {plugin:.0} /s | {:.3} |",
                plugin / raw
            );
        }
        for (ms, label, raw, plugin) in &latency_rows {
            println!(
                "| token fetch, server answering after {ms} ms, {label} | {raw:.0} /s | {plugin:.0} /s | {:.3} |",
                plugin / raw
            );
        }
        println!();
        println!("| measurement | value |");
        println!("|---|---|");
        println!("| fresh instance (store + instantiate, pooled) | {instantiate_us:.1} µs |");
        println!("| plugin call without I/O (instance + `authorization-url`) | {call_us:.1} µs |");
        println!("| token exchange without I/O (instance + build request + parse response) | {canned_us:.1} µs |");
        println!(
            "| plugin load, cold (compile) | {:.1} ms |",
            cold.as_secs_f64() * 1e3 / loads as f64
        );
        println!(
            "| plugin load, warm (from the compile cache) | {:.3} ms |",
            warm.as_secs_f64() * 1e3 / warm_n as f64
        );
        anyhow::Ok(())
    })
}
