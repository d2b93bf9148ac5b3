//! Support for grantbox's end-to-end tests: hosts wired to loopback, plugin paths, log
//! capture.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use grantbox_host::{EgressPolicy, Host, Limits};

pub use grantbox_plugin_artifacts as artifacts;
pub use grantbox_token_server as token_server;

pub mod conformance;
pub mod webdriver;

/// Limits for tests: small enough that hostile plugins fail fast.
pub fn test_limits() -> Limits {
    Limits {
        cpu_time: Duration::from_millis(300),
        call_timeout: Duration::from_secs(20),
        request_timeout: Duration::from_secs(5),
        max_memory_bytes: 32 * 1024 * 1024,
        ..Limits::default()
    }
}

/// An egress policy that allows plain HTTP on loopback (the test servers' home).
pub fn loopback_egress() -> EgressPolicy {
    EgressPolicy::deny_all()
        .allow("http://127.0.0.1:*")
        .and_then(|p| p.allow("https://*"))
        .map(|p| p.allow_private_network("127.0.0.0/8".parse().expect("a valid network")))
        .expect("valid patterns")
}

/// A host allowed to reach loopback, with the generic plugin loaded.
pub async fn host_with_generic() -> anyhow::Result<Host> {
    let host = Host::builder()
        .limits(test_limits())
        .egress(loopback_egress())
        .build()?;
    host.load_plugin_file(artifacts::GENERIC).await?;
    Ok(host)
}

/// A `tracing` writer that keeps everything written, for asserting on log output.
#[derive(Clone, Default)]
pub struct CapturedLogs(Arc<Mutex<Vec<u8>>>);

impl CapturedLogs {
    /// Everything logged so far.
    pub fn contents(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A store and a broker over a SQLite file in `dir` (key file `dir/master.key`, created on
/// first use), running the generic plugin with loopback egress and the given policy.
pub async fn broker_in(
    dir: &std::path::Path,
    policy: grantbox_host::RefreshPolicy,
) -> anyhow::Result<(grantbox_host::Broker, Arc<grantbox_host::SqliteStore>)> {
    broker_with_limits(dir, policy, test_limits()).await
}

/// [`broker_in`] with other limits (e.g. a short request timeout).
pub async fn broker_with_limits(
    dir: &std::path::Path,
    policy: grantbox_host::RefreshPolicy,
    limits: Limits,
) -> anyhow::Result<(grantbox_host::Broker, Arc<grantbox_host::SqliteStore>)> {
    let keyring = grantbox_host::Keyring::load_or_create_file(&dir.join("master.key"))?;
    let store = Arc::new(
        grantbox_host::SqliteStore::open(dir.join("grantbox.db"), Arc::new(keyring)).await?,
    );
    let host = Host::builder()
        .limits(limits)
        .egress(loopback_egress())
        .cache_dir(dir.join("cache"))
        .build()?;
    host.load_plugin_file(artifacts::GENERIC).await?;
    let broker = grantbox_host::Broker::with_policy(host, store.clone(), policy);
    Ok((broker, store))
}

/// A host allowed to reach loopback, with one plugin component loaded.
pub async fn host_with(plugin: &str) -> anyhow::Result<Host> {
    let host = Host::builder()
        .limits(test_limits())
        .egress(loopback_egress())
        .build()?;
    host.load_plugin_file(plugin).await?;
    Ok(host)
}

/// Hex (with or without `:`) to base64url without padding, as JWT thumbprint headers use.
pub fn hex_to_base64url(hex: &str) -> String {
    use base64::Engine as _;
    let digits: String = hex.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    let bytes: Vec<u8> = (0..digits.len() / 2)
        .filter_map(|i| u8::from_str_radix(&digits[2 * i..2 * i + 2], 16).ok())
        .collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The HTTP service of a broker, serving on a loopback port.
pub struct LoopbackService {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Send (or drop) to shut the service down gracefully.
    pub stop: tokio::sync::oneshot::Sender<()>,
    /// The serving task; it ends once shutdown has finished.
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Serves `broker` on a free loopback port; its public base URL is that address.
/// `configure` adjusts the configuration (e.g. the API-key cache).
pub async fn serve_on_loopback(
    broker: grantbox_host::Broker,
    configure: impl FnOnce(&mut grantbox_host::service::ServiceConfig),
) -> anyhow::Result<LoopbackService> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let mut config = grantbox_host::service::ServiceConfig::new(url::Url::parse(&base)?);
    configure(&mut config);
    let service = grantbox_host::service::Service::new(broker, config);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(service.serve(listener, async {
        let _ = stopped.await;
    }));
    Ok(LoopbackService { base, stop, task })
}
