//! Commands over the store: providers, connections, tokens, master keys.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context as _, Result, bail};
use clap::{Args, Subcommand};
use grantbox_host::config::ConfigFile;
use grantbox_host::plugin::FieldKind;
use grantbox_host::store::{ConnectionRecord, NewConnection, Overrides, ProviderRecord};
use grantbox_host::{
    Broker, ExposeSecret, GrantType, Host, Keyring, ProviderConfig, SecretString, SettingValue,
    SqliteStore, Store,
};
use serde_json::{Value, json};

/// Environment variable holding the master key(s); when unset, the key file in the data
/// directory is used (and created on first run).
pub(crate) const MASTER_KEY_ENV: &str = "GRANTBOX_MASTER_KEY";

/// Settings given on the command line.
#[derive(Args, Debug, Default)]
pub(crate) struct SettingArgs {
    /// Grant for non-interactive fetches (client_credentials, password, or a plugin's custom
    /// grant).
    #[arg(long)]
    grant: Option<String>,
    /// A scope (repeat for several).
    #[arg(long = "scope")]
    scopes: Vec<String>,
    /// A plugin setting, `name=value` (repeat). Lists take commas (`a,b`); a table entry is
    /// `name.key=value`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// A secret setting by reference, never inline: `name=env:VAR`, `name=file:PATH` or
    /// `name=stdin` (one line).
    #[arg(long = "secret", value_name = "NAME=env:VAR|file:PATH|stdin")]
    secrets: Vec<String>,
}

/// `grantbox providers …`
#[derive(Subcommand, Debug)]
pub(crate) enum ProvidersCommand {
    /// Register a provider (validated against its plugin; nothing is written on error).
    Add {
        /// Provider name.
        name: String,
        /// Plugin id.
        #[arg(long)]
        plugin: String,
        #[command(flatten)]
        settings: SettingArgs,
    },
    /// List providers.
    List {
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a provider's settings (secrets redacted).
    Show {
        /// Provider name.
        name: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a provider (refused while connections use it).
    Remove {
        /// Provider name.
        name: String,
    },
}

/// `grantbox connections …`
#[derive(Subcommand, Debug)]
pub(crate) enum ConnectionsCommand {
    /// Create a connection to a provider; its settings override the provider's.
    Add {
        /// Connection id.
        id: String,
        /// Provider name.
        #[arg(long)]
        provider: String,
        #[command(flatten)]
        settings: SettingArgs,
        /// Base URL of the API the tokens are for.
        #[arg(long)]
        api_base_url: Option<String>,
        /// Keep the token fresh in the background (`grantbox refresher`).
        #[arg(long)]
        auto_refresh: bool,
        /// Import a refresh token obtained elsewhere: `env:VAR`, `file:PATH` or `stdin`.
        #[arg(long, value_name = "env:VAR|file:PATH|stdin")]
        refresh_token: Option<String>,
    },
    /// List connections.
    List {
        /// Only this provider's.
        #[arg(long)]
        provider: Option<String>,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a connection: state, token times, effective settings (secrets redacted).
    Show {
        /// Connection id.
        id: String,
        /// As JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a connection and its tokens.
    Remove {
        /// Connection id.
        id: String,
    },
    /// Refresh the token now (also retries a connection that needed reconnecting).
    Refresh {
        /// Connection id.
        id: String,
    },
    /// Stop serving tokens for a connection.
    Disable {
        /// Connection id.
        id: String,
    },
    /// Serve tokens for a connection again.
    Enable {
        /// Connection id.
        id: String,
    },
}

/// `grantbox keys …`
#[derive(Subcommand, Debug)]
pub(crate) enum KeysCommand {
    /// Re-encrypt every stored secret under a new master key. With a key file, a new key is
    /// generated, everything is re-sealed, then the old key is removed from the file. With
    /// GRANTBOX_MASTER_KEY, put the new key first (`new,old`), run this, then drop `old`.
    Rotate,
    /// Show the master key ids and how many stored values each one sealed.
    Status,
}

/// An open store with the host and broker around it.
pub(crate) struct Opened {
    pub(crate) config_path: PathBuf,
    pub(crate) config: Option<ConfigFile>,
    pub(crate) broker: Broker,
    pub(crate) store: Arc<SqliteStore>,
    pub(crate) data_dir: PathBuf,
}

/// The file in the data directory where a running `grantbox serve` with the demo provider
/// writes that provider's origin, so other commands (`token`, `request`) may reach it.
pub(crate) const DEMO_ORIGIN_FILE: &str = "demo-origin";

/// The demo provider's origin, if a `grantbox serve` with the demo runs on this data
/// directory: only an `http://127.0.0.1:<port>` origin is accepted.
fn running_demo(dir: &Path) -> Option<crate::ExtraEgress> {
    let text = std::fs::read_to_string(dir.join(DEMO_ORIGIN_FILE)).ok()?;
    let url = url::Url::parse(text.trim()).ok()?;
    let loopback = url.scheme() == "http"
        && url.host() == Some(url::Host::Ipv4(std::net::Ipv4Addr::LOCALHOST))
        && url.port().is_some()
        && url.path() == "/";
    let net = "127.0.0.1/32".parse::<ipnet::IpNet>().ok()?;
    loopback.then(|| (url.origin().ascii_serialization(), net))
}

fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(dir).join("grantbox");
    }
    if let Some(home) = std::env::var_os("HOME") {
        return PathBuf::from(home).join(".local/share/grantbox");
    }
    PathBuf::from(".grantbox")
}

/// The data directory: `--data-dir`/`GRANTBOX_DATA_DIR`, else the configuration's
/// `data_dir`, else `$XDG_DATA_HOME/grantbox` (`~/.local/share/grantbox`).
pub(crate) fn data_dir(flag: Option<&Path>, config: Option<&ConfigFile>) -> PathBuf {
    flag.map(Path::to_owned)
        .or_else(|| config.and_then(|c| c.data_dir.clone()))
        .unwrap_or_else(default_data_dir)
}

fn keyring(data_dir: &Path) -> Result<Keyring> {
    Ok(if std::env::var_os(MASTER_KEY_ENV).is_some() {
        Keyring::from_env(MASTER_KEY_ENV)?
    } else {
        Keyring::load_or_create_file(&data_dir.join("master.key"))?
    })
}

/// Opens the configuration (if the file exists), loads plugins, opens the store. While a
/// `grantbox serve` runs the demo provider on the same data directory, its loopback origin
/// is allowed too (so `grantbox request demo …` works on the embedded defaults).
pub(crate) async fn open(config_path: &Path, data_dir_flag: Option<&Path>) -> Result<Opened> {
    let config = if config_path.exists() {
        Some(ConfigFile::load(config_path)?)
    } else {
        None
    };
    let demo = running_demo(&data_dir(data_dir_flag, config.as_ref()));
    open_with(config_path, data_dir_flag, demo.as_ref()).await
}

/// [`open`], allowing one more origin (and its network) on top of the egress policy.
pub(crate) async fn open_with(
    config_path: &Path,
    data_dir_flag: Option<&Path>,
    extra: Option<&crate::ExtraEgress>,
) -> Result<Opened> {
    let (config, host) = if config_path.exists() {
        let (cfg, host, _) = crate::open_with(config_path, extra).await?;
        (Some(cfg), host)
    } else {
        let mut egress = grantbox_host::EgressPolicy::default();
        if let Some((origin, net)) = extra {
            egress = egress.allow(origin)?.allow_private_network(*net);
        }
        let host = Host::builder()
            .egress(egress)
            .cache_dir(crate::default_cache_dir())
            .build()?;
        crate::load_plugins(&host, true, None, &[]).await?;
        (None, host)
    };
    let dir = data_dir(data_dir_flag, config.as_ref());
    let ring = keyring(&dir)?;
    let store = Arc::new(
        SqliteStore::open(dir.join("grantbox.db"), Arc::new(ring))
            .await
            .with_context(|| format!("opening the store in {}", dir.display()))?,
    );
    let policy = config
        .as_ref()
        .map(|c| c.refresh.clone())
        .unwrap_or_default();
    let broker = Broker::with_policy(host, store.clone(), policy);
    Ok(Opened {
        config_path: config_path.to_owned(),
        config,
        broker,
        store,
        data_dir: dir,
    })
}

fn read_reference(what: &str, reference: &str) -> Result<SecretString> {
    let value = if let Some(var) = reference.strip_prefix("env:") {
        std::env::var(var)
            .with_context(|| format!("{what}: environment variable {var} is not set"))?
    } else if let Some(path) = reference.strip_prefix("file:") {
        std::fs::read_to_string(path)
            .with_context(|| format!("{what}: cannot read {path}"))?
            .trim_end_matches(['\r', '\n'])
            .to_owned()
    } else if reference == "stdin" {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .with_context(|| format!("{what}: cannot read standard input"))?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else {
        bail!(
            "{what}: give a reference `env:VAR`, `file:PATH` or `stdin` (secrets are never taken inline)"
        );
    };
    if value.is_empty() {
        bail!("{what}: the referenced value is empty");
    }
    Ok(SecretString::from(value))
}

/// Turns `--set`/`--secret` arguments into settings, typed by the plugin's fields.
fn settings(
    host: &Host,
    plugin: &str,
    args: &SettingArgs,
) -> Result<BTreeMap<String, SettingValue>> {
    let info = host
        .plugin(plugin)
        .with_context(|| format!("--plugin: no plugin with id `{plugin}` is loaded"))?;
    let meta = info.metadata;
    let mut out: BTreeMap<String, SettingValue> = BTreeMap::new();
    for item in &args.set {
        let Some((name, value)) = item.split_once('=') else {
            bail!("--set {item}: expected NAME=VALUE");
        };
        let (field_name, map_key) = match name.split_once('.') {
            Some((f, k)) => (f, Some(k)),
            None => (name, None),
        };
        let Some(field) = meta.field(field_name) else {
            let known: Vec<&str> = meta.config.iter().map(|f| f.name.as_str()).collect();
            bail!(
                "--set {field_name}: plugin `{plugin}` has no such setting (it understands: {})",
                known.join(", ")
            );
        };
        let v = match (field.kind, map_key) {
            (FieldKind::Secret, _) => {
                bail!(
                    "--set {field_name}: a secret; use --secret {field_name}=env:VAR|file:PATH|stdin"
                )
            }
            (FieldKind::TextMap, Some(k)) => {
                let mut m = match out.remove(field_name) {
                    Some(SettingValue::Map(m)) => m,
                    _ => BTreeMap::new(),
                };
                m.insert(k.to_owned(), value.to_owned());
                SettingValue::Map(m)
            }
            (FieldKind::TextMap, None) => {
                bail!("--set {field_name}: a table; give entries as {field_name}.KEY=VALUE")
            }
            (_, Some(_)) => bail!("--set {name}: `{field_name}` is not a table"),
            (FieldKind::Flag, None) => SettingValue::Flag(match value {
                "true" | "yes" | "on" => true,
                "false" | "no" | "off" => false,
                _ => bail!("--set {field_name}: expected true or false, got `{value}`"),
            }),
            (FieldKind::Number, None) => SettingValue::Number(value.parse().map_err(|_| {
                anyhow::anyhow!("--set {field_name}: expected an integer, got `{value}`")
            })?),
            (FieldKind::TextList, None) => SettingValue::List(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
            ),
            (FieldKind::Text | FieldKind::Url, None) => SettingValue::Text(value.to_owned()),
        };
        out.insert(field_name.to_owned(), v);
    }
    for item in &args.secrets {
        let Some((name, reference)) = item.split_once('=') else {
            bail!("--secret {item}: expected NAME=env:VAR|file:PATH|stdin");
        };
        match meta.field(name) {
            Some(f) if f.kind == FieldKind::Secret => {}
            Some(_) => bail!("--secret {name}: not a secret setting; use --set"),
            None => bail!("--secret {name}: plugin `{plugin}` has no such setting"),
        }
        out.insert(
            name.to_owned(),
            SettingValue::Secret(read_reference(&format!("--secret {name}"), reference)?),
        );
    }
    Ok(out)
}

fn grant(args: &SettingArgs) -> Result<Option<GrantType>> {
    args.grant
        .as_deref()
        .map(|g| {
            GrantType::parse(g)
                .with_context(|| format!("--grant: `{g}` is not a grant to configure"))
        })
        .transpose()
}

fn time(t: Option<SystemTime>) -> String {
    t.map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_else(|| "-".into())
}

fn secs(t: Option<SystemTime>) -> Value {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(Value::Null, |d| json!(d.as_secs()))
}

fn redact(settings: &BTreeMap<String, SettingValue>) -> BTreeMap<String, String> {
    settings
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                SettingValue::Secret(_) => "[redacted]".to_owned(),
                other => format!("{other:?}"),
            };
            (k.clone(), shown)
        })
        .collect()
}

fn provider_json(p: &ProviderRecord, connections: usize) -> Value {
    json!({
        "name": p.name,
        "plugin": p.plugin,
        "grant": p.grant.as_ref().map(GrantType::name),
        "scopes": p.scopes,
        "settings": redact(&p.settings),
        "connections": connections,
        "created_at": secs(Some(p.created_at)),
        "updated_at": secs(Some(p.updated_at)),
    })
}

fn connection_json(c: &ConnectionRecord) -> Value {
    json!({
        "id": c.id,
        "provider": c.provider,
        "state": c.state,
        "active": c.active,
        "auto_refresh": c.auto_refresh,
        "reconnect_needed": c.reconnect_needed,
        "last_message": c.last_message,
        "last_error_at": secs(c.last_error_at),
        "api_base_url": c.api_base_url,
        "expires_at": secs(c.token.as_ref().and_then(|t| t.expires_at)),
        "refresh_at": secs(c.refresh_at),
        "last_refreshed_at": secs(c.last_refreshed_at),
        "refresh_count": c.refresh_count,
        "has_refresh_token": c.refresh_token.is_some(),
        "granted_scopes": c.token.as_ref().and_then(|t| t.scopes.clone()),
        "overrides": {
            "grant": c.overrides.grant.as_ref().map(GrantType::name),
            "scopes": c.overrides.scopes,
            "settings": redact(&c.overrides.settings),
        },
    })
}

/// `grantbox providers …`
pub(crate) async fn providers(o: &Opened, cmd: ProvidersCommand) -> Result<()> {
    match cmd {
        ProvidersCommand::Add {
            name,
            plugin,
            settings: args,
        } => {
            let mut config = ProviderConfig::new(&name, &plugin);
            config.grant = grant(&args)?;
            config.scopes = args.scopes.clone();
            config.settings = settings(o.broker.host(), &plugin, &args)?;
            o.broker.add_provider(config).await?;
            println!("provider {name} added (plugin {plugin})");
        }
        ProvidersCommand::List { json } => {
            let all = o.store.providers().await?;
            let conns = o.store.connections(None).await?;
            let count = |n: &str| conns.iter().filter(|c| c.provider == n).count();
            if json {
                let v: Vec<Value> = all
                    .iter()
                    .map(|p| provider_json(p, count(&p.name)))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for p in &all {
                    println!(
                        "{:<20} {:<10} {:<20} {} connection(s)",
                        p.name,
                        p.plugin,
                        p.grant.as_ref().map_or("-", GrantType::name),
                        count(&p.name)
                    );
                }
            }
        }
        ProvidersCommand::Show { name, json } => {
            let p = o
                .store
                .provider(&name)
                .await?
                .with_context(|| format!("no provider named `{name}`"))?;
            let n = o.store.connections(Some(&name)).await?.len();
            if json {
                println!("{}", serde_json::to_string_pretty(&provider_json(&p, n))?);
            } else {
                println!("provider {} (plugin {})", p.name, p.plugin);
                println!(
                    "  grant:       {}",
                    p.grant.as_ref().map_or("-", GrantType::name)
                );
                println!("  scopes:      {}", p.scopes.join(" "));
                println!("  connections: {n}");
                println!("  created:     {}", time(Some(p.created_at)));
                println!("  updated:     {}", time(Some(p.updated_at)));
                println!("  settings:");
                for (k, v) in redact(&p.settings) {
                    println!("    {k:<24} {v}");
                }
            }
        }
        ProvidersCommand::Remove { name } => {
            if !o.store.delete_provider(&name).await? {
                bail!("no provider named `{name}`");
            }
            println!("provider {name} removed");
        }
    }
    Ok(())
}

/// `grantbox connections …`
pub(crate) async fn connections(o: &Opened, cmd: ConnectionsCommand) -> Result<()> {
    match cmd {
        ConnectionsCommand::Add {
            id,
            provider,
            settings: args,
            api_base_url,
            auto_refresh,
            refresh_token,
        } => {
            let p = o
                .store
                .provider(&provider)
                .await?
                .with_context(|| format!("--provider: no provider named `{provider}`"))?;
            let overrides = Overrides {
                grant: grant(&args)?,
                scopes: (!args.scopes.is_empty()).then(|| args.scopes.clone()),
                settings: settings(o.broker.host(), &p.plugin, &args)?,
            };
            let refresh_token = refresh_token
                .as_deref()
                .map(|r| read_reference("--refresh-token", r))
                .transpose()?;
            o.broker
                .add_connection(NewConnection {
                    id: id.clone(),
                    provider,
                    overrides,
                    api_base_url,
                    auto_refresh,
                    refresh_token,
                })
                .await?;
            println!("connection {id} added");
        }
        ConnectionsCommand::List { provider, json } => {
            let all = o.store.connections(provider.as_deref()).await?;
            if json {
                let v: Vec<Value> = all.iter().map(connection_json).collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for c in &all {
                    println!(
                        "{:<20} {:<16} {:<10} {:<8} expires {:<22} {}",
                        c.id,
                        c.provider,
                        c.state.as_str(),
                        if c.active { "active" } else { "disabled" },
                        time(c.token.as_ref().and_then(|t| t.expires_at)),
                        c.last_message.as_deref().unwrap_or("")
                    );
                }
            }
        }
        ConnectionsCommand::Show { id, json } => {
            let c = o
                .store
                .connection(&id)
                .await?
                .with_context(|| format!("no connection named `{id}`"))?;
            let effective = match o.broker.effective_provider(&id).await {
                Ok(p) => Ok(p.redacted_settings()),
                Err(e) => Err(e.to_string()),
            };
            if json {
                let mut v = connection_json(&c);
                v["effective_settings"] = match &effective {
                    Ok(s) => json!(s),
                    Err(e) => json!({ "error": e }),
                };
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                println!("connection {} (provider {})", c.id, c.provider);
                println!(
                    "  state:          {}{}{}",
                    c.state,
                    if c.reconnect_needed {
                        ", reconnect needed"
                    } else {
                        ""
                    },
                    if c.active { "" } else { ", disabled" }
                );
                if let Some(m) = &c.last_message {
                    println!("  last message:   {m} ({})", time(c.last_error_at));
                }
                println!(
                    "  expires:        {}",
                    time(c.token.as_ref().and_then(|t| t.expires_at))
                );
                println!("  next refresh:   {}", time(c.refresh_at));
                println!("  last refreshed: {}", time(c.last_refreshed_at));
                println!(
                    "  refresh token:  {}",
                    if c.refresh_token.is_some() {
                        "stored"
                    } else {
                        "none"
                    }
                );
                if let Some(scopes) = c.token.as_ref().and_then(|t| t.scopes.as_ref()) {
                    println!("  granted scopes: {}", scopes.join(" "));
                }
                if let Some(u) = &c.api_base_url {
                    println!("  API base URL:   {u}");
                }
                println!("  auto refresh:   {}", c.auto_refresh);
                println!("  effective settings (plugin defaults < provider < connection):");
                match effective {
                    Ok(s) => {
                        for (k, v) in s {
                            println!("    {k:<24} {v}");
                        }
                    }
                    Err(e) => println!("    (invalid: {e})"),
                }
            }
        }
        ConnectionsCommand::Remove { id } => {
            if !o.broker.remove_connection(&id).await? {
                bail!("no connection named `{id}`");
            }
            println!("connection {id} removed");
        }
        ConnectionsCommand::Refresh { id } => {
            let t = o.broker.refresh(&id).await?;
            println!(
                "connection {id} refreshed; expires {}",
                time(t.expires_at())
            );
        }
        ConnectionsCommand::Disable { id } => {
            o.broker.set_active(&id, false).await?;
            println!("connection {id} disabled");
        }
        ConnectionsCommand::Enable { id } => {
            o.broker.set_active(&id, true).await?;
            println!("connection {id} enabled");
        }
    }
    Ok(())
}

/// Makes provider `name` of the configuration file, and a connection of the same name,
/// exist in the store with the file's settings.
async fn provision(o: &Opened, cfg: &ConfigFile, name: &str) -> Result<()> {
    let config = cfg.provider_config(name)?.clone();
    match o.store.provider(name).await? {
        None => o
            .broker
            .add_provider(config)
            .await
            .map_err(|e| cfg.locate(e))?,
        Some(existing) if !same_provider(&existing.to_config(), &config) => {
            o.broker
                .update_provider(config)
                .await
                .map_err(|e| cfg.locate(e))?;
        }
        Some(_) => {}
    }
    if o.store.connection(name).await?.is_none() {
        o.broker
            .add_connection(NewConnection {
                id: name.to_owned(),
                provider: name.to_owned(),
                ..NewConnection::default()
            })
            .await
            .map_err(|e| cfg.locate(e))?;
    }
    Ok(())
}

fn same_provider(a: &ProviderConfig, b: &ProviderConfig) -> bool {
    fn same(x: &SettingValue, y: &SettingValue) -> bool {
        match (x, y) {
            (SettingValue::Secret(p), SettingValue::Secret(q)) => {
                p.expose_secret() == q.expose_secret()
            }
            (SettingValue::Secret(_), _) | (_, SettingValue::Secret(_)) => false,
            (p, q) => format!("{p:?}") == format!("{q:?}"),
        }
    }
    a.plugin == b.plugin
        && a.grant == b.grant
        && a.scopes == b.scopes
        && a.settings.len() == b.settings.len()
        && a.settings
            .iter()
            .all(|(k, v)| b.settings.get(k).is_some_and(|w| same(v, w)))
}

/// `grantbox token <connection>`: a valid access token from the store, refreshed if due.
/// A provider of the configuration file named like this is provisioned into the store with
/// a connection of the same name first.
pub(crate) async fn token(o: &Opened, name: &str, as_json: bool) -> Result<()> {
    if let Some(cfg) = &o.config
        && cfg.providers.iter().any(|p| p.name == name)
    {
        provision(o, cfg, name).await?;
    }
    if o.store.connection(name).await?.is_none() {
        let hint = match &o.config {
            Some(cfg) => format!("nor a [providers.{name}] table in {}", cfg.path.display()),
            None => format!(
                "and the configuration file {} does not exist",
                o.config_path.display()
            ),
        };
        bail!(
            "no connection named `{name}` in the store, {hint} (create one with `grantbox connections add {name} --provider …`)"
        );
    }
    let token = match (&o.config, o.broker.get_token(name).await) {
        (_, Ok(t)) => t,
        (Some(cfg), Err(e)) => return Err(cfg.locate(e).into()),
        (None, Err(e)) => return Err(e.into()),
    };
    if as_json {
        let record = o.store.connection(name).await?;
        let scopes = record
            .as_ref()
            .and_then(|r| r.token.as_ref())
            .and_then(|t| t.scopes.as_ref())
            .map(|s| s.join(" "));
        let expires_in = token
            .expires_at()
            .and_then(|e| e.duration_since(SystemTime::now()).ok())
            .map(|d| d.as_secs());
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "connection": name,
                "access_token": token.secret().expose_secret(),
                "token_type": token.token_type(),
                "expires_in": expires_in,
                "expires_at": secs(token.expires_at()),
                "scope": scopes,
            }))?
        );
    } else {
        println!("{}", token.secret().expose_secret());
    }
    Ok(())
}

/// `grantbox keys …`
pub(crate) async fn keys(
    config_path: &Path,
    data_dir_flag: Option<&Path>,
    cmd: KeysCommand,
) -> Result<()> {
    let config = if config_path.exists() {
        Some(ConfigFile::load(config_path)?)
    } else {
        None
    };
    let dir = data_dir(data_dir_flag, config.as_ref());
    let from_env = std::env::var_os(MASTER_KEY_ENV).is_some();
    match cmd {
        KeysCommand::Rotate => {
            let mut ring = keyring(&dir)?;
            if !from_env {
                ring.rotate()?;
            }
            let active = ring.active_id();
            let store = SqliteStore::open(dir.join("grantbox.db"), Arc::new(ring)).await?;
            let n = store.reencrypt().await?;
            store.close().await;
            if from_env {
                println!(
                    "re-encrypted {n} value(s) under key {active}; remove the old keys from {MASTER_KEY_ENV}"
                );
            } else {
                let mut ring = Keyring::from_file(&dir.join("master.key"))?;
                let retired = ring.retire_old_keys()?;
                println!(
                    "re-encrypted {n} value(s) under new key {active}; {retired} old key(s) removed from the key file"
                );
            }
        }
        KeysCommand::Status => {
            let ring = Arc::new(keyring(&dir)?);
            let store = SqliteStore::open(dir.join("grantbox.db"), ring.clone()).await?;
            let mut counts: BTreeMap<String, u64> = BTreeMap::new();
            for (table, cols) in [
                ("providers", "secrets"),
                (
                    "connections",
                    "secrets, access_token, refresh_token, id_token",
                ),
            ] {
                for col in cols.split(", ") {
                    let blobs: Vec<Option<Vec<u8>>> =
                        sqlx::query_scalar(&format!("SELECT {col} FROM {table}"))
                            .fetch_all(store.pool())
                            .await?;
                    for b in blobs.into_iter().flatten() {
                        let id = Keyring::sealed_key_id(&b)
                            .map_or("unreadable".into(), |k| k.to_string());
                        *counts.entry(id).or_default() += 1;
                    }
                }
            }
            store.close().await;
            println!("keys from the {}", ring.source());
            for (i, id) in ring.key_ids().iter().enumerate() {
                let n = counts.remove(&id.to_string()).unwrap_or(0);
                println!(
                    "  {id} {} — seals {n} value(s)",
                    if i == 0 { "(active)" } else { "(old)" }
                );
            }
            for (id, n) in counts {
                println!("  {id} (missing!) — seals {n} value(s)");
            }
        }
    }
    Ok(())
}
