//! The `grantbox` command: fetch tokens through provider plugins, inspect plugins, and run
//! a self-contained demo.

mod demo;
mod service_cmds;
mod store_cmds;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use grantbox_host::Host;
use grantbox_host::config::ConfigFile;
use grantbox_host::plugin::{LoadReport, PluginInfo};

/// grantbox: OAuth 2.0 tokens for outbound integrations, with provider quirks adapted by
/// sandboxed WebAssembly plugins.
#[derive(Parser, Debug)]
#[command(name = "grantbox", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(
        long,
        short,
        global = true,
        env = "GRANTBOX_CONFIG",
        default_value = "grantbox.toml"
    )]
    config: PathBuf,
    /// Directory of the store and master key (default: the configuration's `data_dir`, else
    /// $XDG_DATA_HOME/grantbox).
    #[arg(long, global = true, env = "GRANTBOX_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// More log output (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Log lines as JSON.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a valid access token for a connection (from the store; refreshed when due). A
    /// `[providers.<name>]` table of the configuration is registered in the store, with a
    /// connection of the same name, on first use.
    Token {
        /// Connection name (or a provider of the configuration file).
        connection: String,
        /// Print the token and its metadata as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Register, list, show and remove providers.
    Providers {
        #[command(subcommand)]
        command: store_cmds::ProvidersCommand,
    },
    /// Manage connections: one account's tokens for a provider.
    Connections {
        #[command(subcommand)]
        command: store_cmds::ConnectionsCommand,
    },
    /// Master keys of the encryption at rest.
    Keys {
        #[command(subcommand)]
        command: store_cmds::KeysCommand,
    },
    /// Keep auto-refresh connections fresh ahead of expiry, until interrupted.
    Refresher {
        /// Seconds between scans for due connections.
        #[arg(long, default_value_t = 30)]
        every: u64,
        /// Connections refreshed at a time.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// List or inspect plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
    /// Check the configuration: load plugins and validate every provider.
    Check,
    /// Run the HTTP service: API (OpenAPI at /openapi.json), OAuth callback, outbound
    /// proxy, metrics, health; the background refresher runs with it. SIGHUP reloads the
    /// plugins (new plugins, new versions); SIGTERM stops it gracefully.
    Serve(service_cmds::ServeArgs),
    /// Admin API keys of the service.
    Apikeys {
        #[command(subcommand)]
        command: service_cmds::ApiKeysCommand,
    },
    /// Connect an account interactively: a browser and a loopback redirect, or `--device`.
    Connect(service_cmds::ConnectArgs),
    /// Call a connection's API with its token applied (`--as-curl` prints the equivalent
    /// curl command instead, the token redacted unless `--reveal`).
    Request(service_cmds::RequestArgs),
    /// Run a self-contained demo: start a local token server, load the bundled plugins and
    /// fetch a token through the generic plugin (no account needed anywhere).
    Demo,
}

#[derive(Subcommand, Debug)]
enum PluginsCommand {
    /// List loaded plugins.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a plugin's metadata: grants, hosts, configuration fields.
    Inspect {
        /// A loaded plugin's id, or a path to a `.wasm` component.
        plugin: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
}

fn init_tracing(verbose: u8, json: bool) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose, cli.log_json);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo => demo::run().await,
        Command::Token { connection, json } => {
            let o = store_cmds::open(&cli.config, cli.data_dir.as_deref()).await?;
            store_cmds::token(&o, &connection, json).await
        }
        Command::Providers { command } => {
            let o = store_cmds::open(&cli.config, cli.data_dir.as_deref()).await?;
            store_cmds::providers(&o, command).await
        }
        Command::Connections { command } => {
            let o = store_cmds::open(&cli.config, cli.data_dir.as_deref()).await?;
            store_cmds::connections(&o, command).await
        }
        Command::Keys { command } => {
            store_cmds::keys(&cli.config, cli.data_dir.as_deref(), command).await
        }
        Command::Refresher { every, concurrency } => {
            let o = store_cmds::open(&cli.config, cli.data_dir.as_deref()).await?;
            let refresher = grantbox_host::Refresher::start(
                o.broker.clone(),
                std::time::Duration::from_secs(every.max(1)),
                concurrency,
            );
            eprintln!("refreshing due connections every {every} s; Ctrl-C to stop");
            tokio::signal::ctrl_c().await?;
            refresher.stop().await;
            Ok(())
        }
        Command::Serve(args) => {
            service_cmds::serve(&cli.config, cli.data_dir.as_deref(), args).await
        }
        Command::Apikeys { command } => {
            let o = store_cmds::open(&cli.config, cli.data_dir.as_deref()).await?;
            service_cmds::apikeys_cmd(&o, command).await
        }
        Command::Connect(args) => {
            let o = store_cmds::open(&cli.config, cli.data_dir.as_deref()).await?;
            service_cmds::connect(&o, args).await
        }
        Command::Request(args) => {
            let o = store_cmds::open(&cli.config, cli.data_dir.as_deref()).await?;
            service_cmds::request(&o, args).await
        }
        Command::Check => {
            let (cfg, host, report) = open(&cli.config).await?;
            let mut failed = report.failed.len();
            for p in &cfg.providers {
                match cfg.provider(&host, &p.name) {
                    Ok(_) => println!("provider {}: ok (plugin {})", p.name, p.plugin),
                    Err(e) => {
                        failed += 1;
                        println!("provider {}: {e}", p.name);
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} problem(s) found");
            }
            println!(
                "configuration ok: {} plugin(s), {} provider(s)",
                report.loaded.len(),
                cfg.providers.len()
            );
            Ok(())
        }
        Command::Plugins { command } => match command {
            PluginsCommand::List { json } => {
                let host = host_for_listing(&cli.config).await?;
                let plugins = host.plugins();
                if json {
                    println!("{}", serde_json::to_string_pretty(&plugins)?);
                } else {
                    for p in plugins {
                        println!(
                            "{:<12} {:<8} {:<28} {}",
                            p.metadata.id, p.metadata.version, p.metadata.display_name, p.source
                        );
                    }
                }
                Ok(())
            }
            PluginsCommand::Inspect { plugin, json } => {
                let info = if Path::new(&plugin).is_file() {
                    let host = Host::builder().build()?;
                    host.load_plugin_file(&plugin).await?
                } else {
                    let host = host_for_listing(&cli.config).await?;
                    host.plugin(&plugin)
                        .with_context(|| format!("no plugin with id `{plugin}` is loaded"))?
                };
                if json {
                    println!("{}", serde_json::to_string_pretty(&info)?);
                } else {
                    print_plugin(&info);
                }
                Ok(())
            }
        },
    }
}

/// Loads the configuration and its plugins. Plugin failures are reported, not fatal.
async fn open(path: &Path) -> Result<(ConfigFile, Host, LoadReport)> {
    open_with(path, None).await
}

/// An origin (and the network it lives on) to allow on top of the configured egress
/// policy: the demo provider of `grantbox serve`.
pub(crate) type ExtraEgress = (String, ipnet::IpNet);

async fn open_with(
    path: &Path,
    extra: Option<&ExtraEgress>,
) -> Result<(ConfigFile, Host, LoadReport)> {
    let cfg = ConfigFile::load(path)?;
    let mut egress = cfg.egress.clone();
    if let Some((origin, net)) = extra {
        egress = egress.allow(origin)?.allow_private_network(*net);
    }
    let mut builder = Host::builder().limits(cfg.limits.clone()).egress(egress);
    builder = builder.cache_dir(cfg.cache_dir.clone().unwrap_or_else(default_cache_dir));
    let host = builder.build()?;
    let report = load_plugins(
        &host,
        cfg.bundled_plugins,
        cfg.plugins_dir.as_deref(),
        &cfg.plugins,
    )
    .await?;
    Ok((cfg, host, report))
}

/// For `plugins list|inspect`: the configuration's plugins if the file exists, else the
/// bundled ones.
async fn host_for_listing(path: &Path) -> Result<Host> {
    if path.exists() {
        return Ok(open(path).await?.1);
    }
    let host = Host::builder().cache_dir(default_cache_dir()).build()?;
    load_plugins(&host, true, None, &[]).await?;
    Ok(host)
}

pub(crate) async fn load_plugins(
    host: &Host,
    bundled: bool,
    dir: Option<&Path>,
    files: &[PathBuf],
) -> Result<LoadReport> {
    let mut report = LoadReport::default();
    // The operator's files first: a plugin there overrides the bundled one of the same id
    // (e.g. a newer version of a bundled plugin).
    if let Some(dir) = dir {
        let r = host.load_plugin_dir(dir).await?;
        report.loaded.extend(r.loaded);
        report.failed.extend(r.failed);
    }
    let r = host.load_plugin_files(files).await;
    report.loaded.extend(r.loaded);
    report.failed.extend(r.failed);
    if bundled {
        for (name, bytes) in grantbox_plugin_artifacts::bundled() {
            if let Some(over) = report.loaded.iter().find(|p| p.metadata.id == *name) {
                tracing::info!(plugin = name, source = %over.source, "bundled plugin overridden by the operator's file");
                continue;
            }
            let info = host
                .load_plugin_bytes(&format!("bundled:{name}"), bytes.to_vec())
                .await?;
            report.loaded.push(info);
        }
    }
    for f in &report.failed {
        eprintln!("warning: {}", f.error);
    }
    Ok(report)
}

pub(crate) fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("grantbox");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".cache").join("grantbox");
    }
    std::env::temp_dir().join("grantbox-cache")
}

fn print_plugin(info: &PluginInfo) {
    let m = &info.metadata;
    println!("{} ({}) {}", m.display_name, m.id, m.version);
    if !m.description.is_empty() {
        println!("  {}", m.description);
    }
    println!("  source:   {}", info.source);
    println!("  blake3:   {}", info.blake3);
    println!("  contract: grantbox:plugin@{}", info.contract_version);
    let mut grants = m.grants.clone();
    grants.retain(|g| g != "custom");
    grants.extend(m.custom_grants.iter().cloned());
    println!("  grants:   {}", grants.join(", "));
    println!("  hosts:    {}", m.hosts.join(", "));
    println!("  settings:");
    for f in &m.config {
        let req = if f.required { "required" } else { "optional" };
        let default = f
            .default
            .as_ref()
            .map(|d| format!(", default {d:?}"))
            .unwrap_or_default();
        println!(
            "    {:<26} {} ({req}{default}): {}",
            f.name,
            f.kind.describe(),
            f.description
        );
    }
}
