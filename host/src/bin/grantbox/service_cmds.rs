//! `grantbox serve`, `apikeys`, `connect` and `request`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use grantbox_host::broker::{AuthorizationCallback, ConnectOptions};
use grantbox_host::service::{Service, ServiceConfig};
use grantbox_host::store::NewConnection;
use grantbox_host::{ExposeSecret, GrantType, ProviderConfig, SecretString, Store as _, apikeys};
use grantbox_token_server::{AuthorizeDecision, Behavior, TokenServer};

use crate::store_cmds::Opened;

/// `grantbox serve` options.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GRANTBOX_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The URL browsers reach this service at (its `/oauth/callback` is the redirect URI
    /// to register with providers). Default: `http://<listen>`.
    #[arg(long, env = "GRANTBOX_PUBLIC_URL")]
    public_url: Option<url::Url>,
    /// Seconds between scans of the background refresher (auto-refresh connections).
    #[arg(long, default_value_t = 30)]
    refresh_every: u64,
    /// Also run the bundled local test provider and register provider and connection
    /// `demo` for it (the default when there is no configuration file).
    #[arg(long, conflicts_with = "no_demo")]
    demo: bool,
    /// Do not run the demo provider, even without a configuration file.
    #[arg(long)]
    no_demo: bool,
}

/// `grantbox apikeys …`
#[derive(Subcommand, Debug)]
pub(crate) enum ApiKeysCommand {
    /// Create an admin API key; it is printed once (store it now).
    Create {
        /// What the key is for.
        #[arg(long, default_value = "admin")]
        name: String,
    },
    /// List API keys (ids and names; keys themselves are not stored).
    List,
    /// Revoke an API key by id (`gbx_…`).
    Revoke {
        /// Key id.
        id: String,
    },
}

/// `grantbox connect` options.
#[derive(Args, Debug)]
pub(crate) struct ConnectArgs {
    /// The connection to connect.
    connection: String,
    /// Use the device authorization grant (RFC 8628) instead of a browser redirect.
    #[arg(long)]
    device: bool,
    /// Do not try to open a browser; print the URL only.
    #[arg(long)]
    no_browser: bool,
    /// `prompt` for the provider (consent, login, select_account, none).
    #[arg(long)]
    prompt: Option<String>,
    /// Seconds to wait for the browser to come back.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
}

/// `grantbox request` options.
#[derive(Args, Debug)]
pub(crate) struct RequestArgs {
    /// The connection whose token is applied.
    connection: String,
    /// HTTP method.
    method: String,
    /// Path under the connection's API base URL (e.g. `/me`), with query.
    path: String,
    /// A header `Name: value` (repeatable).
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Request body.
    #[arg(long, short = 'd')]
    data: Option<String>,
    /// Print the equivalent curl command instead of sending the request.
    #[arg(long)]
    as_curl: bool,
    /// With --as-curl: put the real token into the command (default: `$GRANTBOX_TOKEN`).
    #[arg(long)]
    reveal: bool,
}

/// Registers provider `demo` (the generic plugin, authorization code) for the local test
/// provider, and connection `demo` whose API is the provider's `/api`. Both are replaced on
/// every start: the test provider lives in memory and listens on a new port each time.
async fn provision_demo(o: &Opened, server: &TokenServer) -> Result<()> {
    let behavior = server_behavior();
    let config = ProviderConfig::new("demo", "generic")
        .grant(GrantType::AuthorizationCode)
        .scopes(["read", "profile"])
        .setting("token_url", server.url("/token"))
        .setting("authorization_url", server.url("/authorize"))
        .setting("device_authorization_url", server.url("/device/code"))
        .setting("client_id", behavior.client_id.as_str())
        .secret("client_secret", SecretString::from(behavior.client_secret));
    if o.store.provider("demo").await?.is_some() {
        o.broker.remove_connection("demo").await?;
        o.broker.update_provider(config).await?;
    } else {
        o.broker.add_provider(config).await?;
    }
    o.broker
        .add_connection(NewConnection {
            id: "demo".into(),
            provider: "demo".into(),
            api_base_url: Some(server.url("/api")),
            ..NewConnection::default()
        })
        .await?;
    Ok(())
}

fn server_behavior() -> Behavior {
    Behavior {
        authorize_decision: AuthorizeDecision::ConsentPage,
        ..Behavior::default()
    }
}

pub(crate) async fn serve(
    config_path: &std::path::Path,
    data_dir: Option<&std::path::Path>,
    args: ServeArgs,
) -> Result<()> {
    let demo = args.demo || (!config_path.exists() && !args.no_demo);
    let demo_server = if demo {
        Some(
            TokenServer::start(server_behavior())
                .await
                .context("starting the demo provider")?,
        )
    } else {
        None
    };
    let extra = match &demo_server {
        Some(s) => Some((s.base_url(), "127.0.0.1/32".parse::<ipnet::IpNet>()?)),
        None => None,
    };
    let o = crate::store_cmds::open_with(config_path, data_dir, extra.as_ref()).await?;
    let demo_origin_file = o.data_dir.join(crate::store_cmds::DEMO_ORIGIN_FILE);
    if let Some(server) = &demo_server {
        provision_demo(&o, server).await?;
        std::fs::write(&demo_origin_file, server.base_url())
            .with_context(|| format!("writing {}", demo_origin_file.display()))?;
    }
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    let public = match args.public_url {
        Some(u) => u,
        None => url::Url::parse(&format!("http://{local}"))?,
    };
    let mut service_config = ServiceConfig::new(public.clone());
    if let Some(cfg) = &o.config {
        service_config.plugins_dir = cfg.plugins_dir.clone();
        service_config.plugin_files = cfg.plugins.clone();
    }
    let service = Service::new(o.broker.clone(), service_config);
    let reloader = reload_on_sighup(service.clone());
    let keys = o.store.api_keys().await?;
    let initial_key = if keys.iter().all(|k| k.revoked_at.is_some()) {
        Some(apikeys::create(o.store.as_ref(), "initial admin key").await?)
    } else {
        None
    };
    let refresher = grantbox_host::Refresher::start(
        o.broker.clone(),
        Duration::from_secs(args.refresh_every.max(1)),
        8,
    );
    eprintln!(
        "grantbox serving on http://{local} (public URL {public}; OAuth redirect URI {})",
        service.callback_url()
    );
    if let Some(server) = &demo_server {
        eprintln!(
            "demo provider (local, in memory) at {}: provider `demo`, connection `demo`",
            server.base_url()
        );
    }
    if let Some(created) = &initial_key {
        eprintln!(
            "initial admin API key {} (shown once; more with `grantbox apikeys create`):",
            created.record.id
        );
        eprintln!("  {}", created.key.expose_secret());
    }
    if demo_server.is_some() {
        eprintln!("admin page: {public} (log in with the API key, press Connect on `demo`)");
    } else {
        eprintln!("admin page: {public} (log in with an API key)");
    }
    tracing::info!(%local, "serving");
    service
        .serve(listener, async {
            shutdown_signal().await;
        })
        .await?;
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    refresher.stop().await;
    o.store.close().await;
    if let Some(server) = demo_server {
        let _ = std::fs::remove_file(&demo_origin_file);
        server.shutdown().await;
    }
    eprintln!("stopped");
    Ok(())
}

/// Reloads plugins (new plugins, new versions) on every `SIGHUP`; the log tells what changed.
/// The handler is installed before this returns, so a `SIGHUP` never stops the service.
fn reload_on_sighup(service: Service) -> Option<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangup = match signal(SignalKind::hangup()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGHUP; plugins reload only through the API");
                return None;
            }
        };
        Some(tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                // Each plugin added, replaced or refused is logged where it happens.
                if let Err(e) = service.reload_plugins().await {
                    tracing::warn!(error = %e, "SIGHUP: plugins not reloaded");
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        drop(service);
        None
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub(crate) async fn apikeys_cmd(o: &Opened, cmd: ApiKeysCommand) -> Result<()> {
    match cmd {
        ApiKeysCommand::Create { name } => {
            let created = apikeys::create(o.store.as_ref(), &name).await?;
            eprintln!(
                "created API key {} ({}); it is shown once:",
                created.record.id, created.record.name
            );
            println!("{}", created.key.expose_secret());
        }
        ApiKeysCommand::List => {
            for k in o.store.api_keys().await? {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{:<18} {:<8} {:<20} {}",
                    k.id,
                    state,
                    k.name,
                    humantime::format_rfc3339_seconds(k.created_at)
                );
            }
        }
        ApiKeysCommand::Revoke { id } => {
            if !o.store.revoke_api_key(&id).await? {
                bail!("no active API key with id `{id}`");
            }
            eprintln!("revoked {id} (services stop accepting it within seconds)");
        }
    }
    Ok(())
}

fn open_browser(url: &str) -> bool {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    std::process::Command::new(opener)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_ok()
}

/// `grantbox connect`: the authorization-code flow with a loopback redirect (RFC 8252), or
/// the device flow.
pub(crate) async fn connect(o: &Opened, args: ConnectArgs) -> Result<()> {
    let broker = &o.broker;
    if args.device {
        let flow = broker.start_device_flow(&args.connection).await?;
        println!(
            "To connect `{}`, open {} and enter the code {}",
            args.connection,
            flow.verification_uri(),
            flow.user_code()
        );
        if let Some(complete) = flow.verification_uri_complete() {
            println!("(or open {complete})");
        }
        let finish = broker.finish_device_flow(flow);
        tokio::select! {
            r = finish => { r?; }
            _ = tokio::signal::ctrl_c() => bail!("cancelled"),
        }
        println!("connected `{}`", args.connection);
        return Ok(());
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen on a loopback port for the redirect")?;
    let port = listener.local_addr()?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let mut options = ConnectOptions::new(redirect);
    options.prompt = args.prompt.clone();
    options.ttl = Duration::from_secs(args.timeout);
    let start = broker
        .start_authorization(&args.connection, &options)
        .await?;
    println!(
        "Open this URL to connect `{}`:\n{}",
        args.connection, start.url
    );
    if !args.no_browser && !open_browser(&start.url) {
        eprintln!("(no browser could be opened; open the URL yourself)");
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let app = axum::Router::new().route(
        "/callback",
        axum::routing::get(move |uri: axum::http::Uri| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(uri.query().unwrap_or("").to_owned()).await;
                axum::response::Html(
                    "<!doctype html><title>grantbox</title><p>Received. You can close this page and return to the terminal.</p>",
                )
            }
        }),
    );
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = done_rx.await;
            })
            .await;
    });
    let wait = async {
        // Ignore requests that are not our callback (e.g. a stray favicon or a forged
        // state): only the one whose `state` matches completes the flow.
        while let Some(query) = rx.recv().await {
            let cb = AuthorizationCallback::from_query(&query);
            if cb.state.as_deref() != Some(start.state.as_str()) {
                eprintln!("ignored a request without the expected state");
                continue;
            }
            return Some(cb);
        }
        None
    };
    let result = tokio::select! {
        cb = wait => match cb {
            Some(cb) => broker.complete_authorization(cb).await.map(|_| ()).map_err(anyhow::Error::from),
            None => Err(anyhow::anyhow!("the redirect listener stopped")),
        },
        _ = tokio::time::sleep(Duration::from_secs(args.timeout)) => Err(anyhow::anyhow!("timed out waiting for the browser")),
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("cancelled")),
    };
    let _ = done_tx.send(());
    let _ = server.await;
    result?;
    println!("connected `{}`", args.connection);
    Ok(())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// `grantbox request`: a real API call with the token applied, or the curl equivalent.
pub(crate) async fn request(o: &Opened, args: RequestArgs) -> Result<()> {
    let broker = &o.broker;
    let method = http::Method::from_bytes(args.method.to_ascii_uppercase().as_bytes())
        .with_context(|| format!("method `{}` is not valid", args.method))?;
    let mut headers = http::HeaderMap::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!("--header `{h}`: expected `Name: value`");
        };
        headers.append(
            http::HeaderName::from_bytes(name.trim().as_bytes())
                .with_context(|| format!("--header `{h}`: bad name"))?,
            http::HeaderValue::from_str(value.trim())
                .with_context(|| format!("--header `{h}`: bad value"))?,
        );
    }
    if args.as_curl {
        let base = broker.api_base_url(&args.connection).await?;
        let url = format!(
            "{}/{}",
            base.as_str().trim_end_matches('/'),
            args.path.trim_start_matches('/')
        );
        let token = broker.get_token(&args.connection).await?;
        let placement = broker.placement(&args.connection).await?;
        let marker = "GRANTBOX-TOKEN-PLACEHOLDER";
        let mut req = reqwest::Request::new(
            reqwest::Method::from_bytes(method.as_str().as_bytes())?,
            url::Url::parse(&url)?,
        );
        placement.apply_to_request(&grantbox_host::SecretString::from(marker), &mut req)?;
        let fill = |s: &str| -> String {
            if args.reveal {
                s.replace(marker, token.secret().expose_secret())
            } else {
                s.replace(marker, "$GRANTBOX_TOKEN")
            }
        };
        let quote = |s: &str| -> String {
            // Double quotes where the token variable must expand.
            if !args.reveal && s.contains(marker) {
                format!("\"{}\"", fill(s).replace('"', "\\\""))
            } else {
                shell_quote(&fill(s))
            }
        };
        if !args.reveal {
            println!(
                "GRANTBOX_TOKEN=$(grantbox token {})",
                shell_quote(&args.connection)
            );
        }
        let mut line = format!("curl -X {} {}", method, quote(req.url().as_str()));
        for (name, value) in req.headers().iter().chain(headers.iter()) {
            let v = String::from_utf8_lossy(value.as_bytes());
            line.push_str(&format!(" -H {}", quote(&format!("{name}: {v}"))));
        }
        if let Some(d) = &args.data {
            line.push_str(&format!(" --data-raw {}", shell_quote(d)));
        }
        println!("{line}");
        return Ok(());
    }
    let mut request = http::Request::builder()
        .method(method)
        .uri(&args.path)
        .body(bytes::Bytes::from(args.data.unwrap_or_default()))?;
    *request.headers_mut() = headers;
    let response = broker.request(&args.connection, request).await?;
    eprintln!("{}", response.status());
    let body = response.body();
    println!("{}", String::from_utf8_lossy(body));
    if !response.status().is_success() {
        bail!("the API answered {}", response.status());
    }
    Ok(())
}
