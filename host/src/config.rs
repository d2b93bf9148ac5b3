//! The configuration file (TOML): plugins, limits, egress policy and providers.
//!
//! ```toml
//! plugins_dir = "plugins"            # *.wasm loaded at start/reload (relative to this file)
//! plugins = ["extra/acme.wasm"]      # more plugin files
//! bundled_plugins = true             # the grantbox binary also loads its embedded plugins
//! cache_dir = ".grantbox/cache"      # compiled-plugin cache
//! data_dir = ".grantbox"             # the store (grantbox.db) and master key (master.key)
//!
//! [limits]
//! cpu_time_ms = 1000
//! call_timeout_ms = 60000
//! request_timeout_ms = 30000
//! max_response_bytes = 1048576
//! max_memory_mb = 64
//! max_concurrent_calls = 256
//!
//! [refresh]                         # token lifecycle (defaults shown)
//! min_window_s = 300                 # refresh when less than this remains…
//! window_percent = 10                # …or less than this % of the lifetime (at most half)
//! expiry_skew_s = 10                 # treat tokens as expired this early
//! retry_max_s = 300                  # longest backoff after failures
//! lease_ttl_s = 30                   # cross-process refresh lease
//! cache_max_age_s = 30               # in-memory cache re-reads the store after this
//!
//! [egress]
//! allow = ["https://*"]              # origin patterns the operator allows
//! allow_private_networks = []        # e.g. ["127.0.0.0/8"] to reach a local server
//!
//! [providers.acme]
//! plugin = "generic"
//! grant = "client_credentials"
//! scopes = ["read", "write"]
//! token_url = "https://auth.acme.example/oauth/token"
//! client_id = "my-client"
//! client_secret = { env = "ACME_CLIENT_SECRET" }   # or { file = "…" }, or { value = "…" }
//! ```
//!
//! Every key other than `plugin`, `grant` and `scopes` in a provider table is a setting of
//! its plugin, checked against the fields the plugin declares once plugins are loaded.
//! Errors name the file, the key and what is wrong.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::{Table, Value};

use crate::broker::RefreshPolicy;
use crate::egress::EgressPolicy;
use crate::error::{Error, Result};
use crate::host::Host;
use crate::limits::Limits;
use crate::provider::{Provider, ProviderConfig, SettingValue};
use crate::secret::SecretString;
use crate::token::GrantType;

/// A parsed configuration file.
#[derive(Debug)]
pub struct ConfigFile {
    /// The file it was read from.
    pub path: PathBuf,
    /// Directory of plugins to load.
    pub plugins_dir: Option<PathBuf>,
    /// Individual plugin files to load.
    pub plugins: Vec<PathBuf>,
    /// Whether the binary's embedded plugins are loaded too.
    pub bundled_plugins: bool,
    /// Compiled-plugin cache directory.
    pub cache_dir: Option<PathBuf>,
    /// Directory of the store (`grantbox.db`) and the master key file (`master.key`).
    pub data_dir: Option<PathBuf>,
    /// Limits.
    pub limits: Limits,
    /// Token lifecycle timing.
    pub refresh: RefreshPolicy,
    /// Egress policy.
    pub egress: EgressPolicy,
    /// Providers, in file order.
    pub providers: Vec<ProviderConfig>,
}

struct Ctx<'a> {
    file: &'a Path,
}

impl Ctx<'_> {
    fn err(&self, key: impl Into<String>, message: impl Into<String>) -> Error {
        Error::Config {
            file: self.file.to_owned(),
            key: key.into(),
            message: message.into(),
        }
    }

    fn rel(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.file.parent().unwrap_or(Path::new(".")).join(p)
        }
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "a string",
        Value::Integer(_) => "an integer",
        Value::Float(_) => "a float",
        Value::Boolean(_) => "a boolean",
        Value::Datetime(_) => "a date-time",
        Value::Array(_) => "an array",
        Value::Table(_) => "a table",
    }
}

impl ConfigFile {
    /// Reads and parses a file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses `text` as if read from `path` (relative paths resolve against its directory).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let cx = Ctx { file: path };
        let table: Table = text.parse().map_err(|e: toml::de::Error| {
            cx.err("(syntax)", e.to_string().trim_end().to_owned())
        })?;
        let mut cfg = ConfigFile {
            path: path.to_owned(),
            plugins_dir: None,
            plugins: Vec::new(),
            bundled_plugins: true,
            cache_dir: None,
            data_dir: None,
            limits: Limits::default(),
            refresh: RefreshPolicy::default(),
            egress: EgressPolicy::default(),
            providers: Vec::new(),
        };
        for (key, value) in &table {
            match key.as_str() {
                "plugins_dir" => cfg.plugins_dir = Some(cx.rel(string(&cx, key, value)?)),
                "cache_dir" => cfg.cache_dir = Some(cx.rel(string(&cx, key, value)?)),
                "data_dir" => cfg.data_dir = Some(cx.rel(string(&cx, key, value)?)),
                "bundled_plugins" => cfg.bundled_plugins = boolean(&cx, key, value)?,
                "plugins" => {
                    cfg.plugins = strings(&cx, key, value)?
                        .iter()
                        .map(|p| cx.rel(p))
                        .collect();
                }
                "limits" => cfg.limits = limits(&cx, table_of(&cx, key, value)?)?,
                "refresh" => cfg.refresh = refresh(&cx, table_of(&cx, key, value)?)?,
                "egress" => cfg.egress = egress(&cx, table_of(&cx, key, value)?)?,
                "providers" => {
                    for (name, p) in table_of(&cx, key, value)? {
                        let key = format!("providers.{name}");
                        cfg.providers
                            .push(provider(&cx, &key, name, table_of(&cx, &key, p)?)?);
                    }
                }
                other => {
                    return Err(cx.err(
                        other,
                        "unknown key (expected plugins_dir, plugins, bundled_plugins, cache_dir, data_dir, limits, refresh, egress or providers)",
                    ));
                }
            }
        }
        Ok(cfg)
    }

    /// The named provider's configuration.
    pub fn provider_config(&self, name: &str) -> Result<&ProviderConfig> {
        self.providers
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::UnknownProvider(name.to_owned()))
    }

    /// Validates the named provider against its (loaded) plugin. Setting errors are
    /// reported against this file and the provider's key.
    pub fn provider(&self, host: &Host, name: &str) -> Result<Provider> {
        let config = self.provider_config(name)?.clone();
        host.provider(config).map_err(|e| self.locate(e))
    }

    /// Rewrites a provider error (an invalid setting, or a plugin's `invalid-config`
    /// error naming a field) to name this file and the key at fault. Errors of a
    /// connection (`provider/connection`) are reported against the provider's table.
    pub fn locate(&self, e: Error) -> Error {
        self.located(&e).unwrap_or(e)
    }

    fn located(&self, e: &Error) -> Option<Error> {
        let table = |provider: &str| {
            format!(
                "providers.{}",
                provider.split('/').next().unwrap_or(provider)
            )
        };
        Some(match e {
            Error::Shared(inner) => return self.located(inner),
            Error::InvalidSetting {
                provider,
                field,
                message,
            } => Error::Config {
                file: self.path.clone(),
                key: format!("{}.{field}", table(provider)),
                message: message.clone(),
            },
            Error::OAuth { provider, error }
                if error.kind == crate::error::ErrorKind::InvalidConfig =>
            {
                let field = error.field.as_deref()?;
                Error::Config {
                    file: self.path.clone(),
                    key: format!("{}.{field}", table(provider)),
                    message: error
                        .description
                        .clone()
                        .unwrap_or_else(|| error.to_string()),
                }
            }
            Error::UnknownPlugin(id) => Error::Config {
                file: self.path.clone(),
                key: "plugin".into(),
                message: format!("no plugin with id `{id}` is loaded"),
            },
            _ => return None,
        })
    }
}

fn string<'v>(cx: &Ctx<'_>, key: &str, v: &'v Value) -> Result<&'v str> {
    v.as_str()
        .ok_or_else(|| cx.err(key, format!("expected a string, got {}", type_name(v))))
}

fn boolean(cx: &Ctx<'_>, key: &str, v: &Value) -> Result<bool> {
    v.as_bool()
        .ok_or_else(|| cx.err(key, format!("expected true or false, got {}", type_name(v))))
}

fn table_of<'v>(cx: &Ctx<'_>, key: &str, v: &'v Value) -> Result<&'v Table> {
    v.as_table()
        .ok_or_else(|| cx.err(key, format!("expected a table, got {}", type_name(v))))
}

fn strings(cx: &Ctx<'_>, key: &str, v: &Value) -> Result<Vec<String>> {
    let arr = v.as_array().ok_or_else(|| {
        cx.err(
            key,
            format!("expected an array of strings, got {}", type_name(v)),
        )
    })?;
    arr.iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_str().map(str::to_owned).ok_or_else(|| {
                cx.err(
                    format!("{key}[{i}]"),
                    format!("expected a string, got {}", type_name(item)),
                )
            })
        })
        .collect()
}

fn positive(cx: &Ctx<'_>, key: &str, v: &Value) -> Result<u64> {
    match v.as_integer() {
        Some(n) if n > 0 => Ok(n as u64),
        Some(n) => Err(cx.err(key, format!("must be greater than 0, got {n}"))),
        None => Err(cx.err(key, format!("expected an integer, got {}", type_name(v)))),
    }
}

fn limits(cx: &Ctx<'_>, t: &Table) -> Result<Limits> {
    let mut l = Limits::default();
    for (k, v) in t {
        let key = format!("limits.{k}");
        let n = positive(cx, &key, v)?;
        match k.as_str() {
            "cpu_time_ms" => l.cpu_time = Duration::from_millis(n),
            "call_timeout_ms" => l.call_timeout = Duration::from_millis(n),
            "request_timeout_ms" => l.request_timeout = Duration::from_millis(n),
            "max_response_bytes" => l.max_response_bytes = n,
            "max_memory_mb" => l.max_memory_bytes = n.saturating_mul(1024 * 1024),
            "max_concurrent_calls" => {
                l.max_concurrent_calls = u32::try_from(n).map_err(|_| cx.err(&key, "too large"))?
            }
            "max_requests_per_call" => {
                l.max_requests_per_call = u32::try_from(n).map_err(|_| cx.err(&key, "too large"))?
            }
            _ => {
                return Err(cx.err(
                    key,
                    "unknown key (expected cpu_time_ms, call_timeout_ms, request_timeout_ms, max_response_bytes, max_memory_mb, max_concurrent_calls or max_requests_per_call)",
                ));
            }
        }
    }
    Ok(l)
}

fn refresh(cx: &Ctx<'_>, t: &Table) -> Result<RefreshPolicy> {
    let mut p = RefreshPolicy::default();
    for (k, v) in t {
        let key = format!("refresh.{k}");
        let n = positive(cx, &key, v)?;
        let secs = Duration::from_secs(n);
        match k.as_str() {
            "min_window_s" => p.min_window = secs,
            "window_percent" if n <= 100 => p.window_fraction = n as f64 / 100.0,
            "window_percent" => return Err(cx.err(key, "must be at most 100")),
            "expiry_skew_s" => p.expiry_skew = secs,
            "retry_max_s" => p.retry_max = secs,
            "lease_ttl_s" => p.lease_ttl = secs,
            "cache_max_age_s" => p.cache_max_age = secs,
            _ => {
                return Err(cx.err(
                    key,
                    "unknown key (expected min_window_s, window_percent, expiry_skew_s, retry_max_s, lease_ttl_s or cache_max_age_s)",
                ));
            }
        }
    }
    Ok(p)
}

fn egress(cx: &Ctx<'_>, t: &Table) -> Result<EgressPolicy> {
    let mut policy = EgressPolicy::default();
    for (k, v) in t {
        let key = format!("egress.{k}");
        match k.as_str() {
            "allow" => {
                policy = EgressPolicy::deny_all();
                for (i, p) in strings(cx, &key, v)?.iter().enumerate() {
                    policy = policy
                        .allow(p)
                        .map_err(|e| cx.err(format!("{key}[{i}]"), e.to_string()))?;
                }
            }
            "allow_private_networks" => {}
            _ => {
                return Err(cx.err(
                    key,
                    "unknown key (expected allow or allow_private_networks)",
                ));
            }
        }
    }
    if let Some(v) = t.get("allow_private_networks") {
        let key = "egress.allow_private_networks";
        for (i, n) in strings(cx, key, v)?.iter().enumerate() {
            let net = n
                .parse::<ipnet::IpNet>()
                .or_else(|_| n.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
            let net = net.map_err(|_| {
                cx.err(
                    format!("{key}[{i}]"),
                    format!("`{n}` is not a network (CIDR such as 127.0.0.0/8) or an address"),
                )
            })?;
            policy = policy.allow_private_network(net);
        }
    }
    Ok(policy)
}

fn provider(cx: &Ctx<'_>, key: &str, name: &str, t: &Table) -> Result<ProviderConfig> {
    let plugin = match t.get("plugin") {
        Some(v) => string(cx, &format!("{key}.plugin"), v)?.to_owned(),
        None => {
            return Err(cx.err(
                format!("{key}.plugin"),
                "missing: which plugin serves this provider (e.g. \"generic\")",
            ));
        }
    };
    let mut config = ProviderConfig::new(name, plugin);
    for (k, v) in t {
        let fkey = format!("{key}.{k}");
        match k.as_str() {
            "plugin" => {}
            "grant" => {
                let g = string(cx, &fkey, v)?;
                config.grant = Some(GrantType::parse(g).ok_or_else(|| {
                    cx.err(&fkey, format!("`{g}` is not a grant to configure (client_credentials, password, authorization_code, device_code, or a custom grant of the plugin)"))
                })?);
            }
            "scopes" => config.scopes = strings(cx, &fkey, v)?,
            _ => {
                config.settings.insert(k.clone(), setting(cx, &fkey, v)?);
            }
        }
    }
    Ok(config)
}

fn setting(cx: &Ctx<'_>, key: &str, v: &Value) -> Result<SettingValue> {
    Ok(match v {
        Value::String(s) => SettingValue::Text(s.clone()),
        Value::Boolean(b) => SettingValue::Flag(*b),
        Value::Integer(n) => SettingValue::Number(*n),
        Value::Array(_) => SettingValue::List(strings(cx, key, v)?),
        Value::Table(t) if is_secret_ref(t) => SettingValue::Secret(secret_ref(cx, key, t)?),
        Value::Table(t) => {
            let mut map = BTreeMap::new();
            for (k, item) in t {
                let s = item.as_str().ok_or_else(|| {
                    cx.err(
                        format!("{key}.{k}"),
                        format!("expected a string, got {}", type_name(item)),
                    )
                })?;
                map.insert(k.clone(), s.to_owned());
            }
            SettingValue::Map(map)
        }
        other => {
            return Err(cx.err(
                key,
                format!("{} is not a supported setting value", type_name(other)),
            ));
        }
    })
}

fn is_secret_ref(t: &Table) -> bool {
    t.len() == 1 && (t.contains_key("env") || t.contains_key("file") || t.contains_key("value"))
}

/// Resolves `{ env = "VAR" }`, `{ file = "path" }` or `{ value = "…" }`.
fn secret_ref(cx: &Ctx<'_>, key: &str, t: &Table) -> Result<SecretString> {
    if let Some(v) = t.get("env") {
        let var = string(cx, &format!("{key}.env"), v)?;
        let value = std::env::var(var).map_err(|_| {
            cx.err(
                key,
                format!("environment variable `{var}` is not set (or not UTF-8)"),
            )
        })?;
        return Ok(SecretString::from(value));
    }
    if let Some(v) = t.get("file") {
        let path = cx.rel(string(cx, &format!("{key}.file"), v)?);
        let mut value = std::fs::read_to_string(&path).map_err(|e| {
            cx.err(
                key,
                format!("cannot read secret file {}: {e}", path.display()),
            )
        })?;
        while value.ends_with('\n') || value.ends_with('\r') {
            value.pop();
        }
        return Ok(SecretString::from(value));
    }
    match t.get("value") {
        Some(v) => Ok(SecretString::from(
            string(cx, &format!("{key}.value"), v)?.to_owned(),
        )),
        None => Err(cx.err(
            key,
            "expected { env = \"VAR\" }, { file = \"path\" } or { value = \"…\" }",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConfigFile> {
        ConfigFile::parse(text, Path::new("/etc/grantbox/grantbox.toml"))
    }

    fn error(text: &str) -> String {
        parse(text).expect_err("should fail").to_string()
    }

    #[test]
    fn full_example_parses() {
        // SAFETY: tests in this module use unique variable names.
        unsafe { std::env::set_var("GRANTBOX_TEST_SECRET_A", "from-env") };
        let cfg = parse(
            r#"
plugins_dir = "plugins"
cache_dir = "/var/cache/grantbox"
data_dir = "data"
[limits]
cpu_time_ms = 250
max_memory_mb = 16
[refresh]
min_window_s = 120
window_percent = 20
lease_ttl_s = 5
[egress]
allow = ["https://*.example.com", "http://127.0.0.1:*"]
allow_private_networks = ["127.0.0.0/8"]
[providers.acme]
plugin = "generic"
grant = "password"
scopes = ["read", "write"]
token_url = "https://auth.example.com/token"
client_secret = { env = "GRANTBOX_TEST_SECRET_A" }
extra_params = { audience = "api" }
"#,
        )
        .expect("parses");
        assert_eq!(
            cfg.plugins_dir,
            Some(PathBuf::from("/etc/grantbox/plugins"))
        );
        assert_eq!(cfg.limits.cpu_time, Duration::from_millis(250));
        assert_eq!(cfg.data_dir, Some(PathBuf::from("/etc/grantbox/data")));
        assert_eq!(cfg.refresh.min_window, Duration::from_secs(120));
        assert!((cfg.refresh.window_fraction - 0.2).abs() < 1e-9);
        assert_eq!(cfg.refresh.lease_ttl, Duration::from_secs(5));
        assert_eq!(cfg.limits.max_memory_bytes, 16 * 1024 * 1024);
        assert_eq!(cfg.egress.allowed().len(), 2);
        let p = &cfg.providers[0];
        assert_eq!(p.name, "acme");
        assert_eq!(p.grant, Some(GrantType::Password));
        assert_eq!(p.scopes, ["read", "write"]);
        assert!(matches!(
            p.settings["client_secret"],
            SettingValue::Secret(_)
        ));
        assert!(
            matches!(&p.settings["extra_params"], SettingValue::Map(m) if m["audience"] == "api")
        );
        assert!(!format!("{cfg:?}").contains("from-env"));
    }

    #[test]
    fn errors_name_file_key_and_problem() {
        let cases = [
            ("plugin_dir = 'x'", "grantbox.toml: plugin_dir: unknown key"),
            (
                "[refresh]\nwindow_percent = 150",
                "grantbox.toml: refresh.window_percent: must be at most 100",
            ),
            (
                "[refresh]\nlease_ttl = 5",
                "grantbox.toml: refresh.lease_ttl: unknown key",
            ),
            (
                "[limits]\ncpu_time_ms = 0",
                "limits.cpu_time_ms: must be greater than 0",
            ),
            ("[limits]\ncpu = 1", "limits.cpu: unknown key"),
            (
                "[egress]\nallow = ['login.example.com']",
                "egress.allow[0]: invalid origin pattern",
            ),
            (
                "[egress]\nallow_private_networks = ['nope']",
                "egress.allow_private_networks[0]: `nope` is not a network",
            ),
            (
                "[providers.acme]\ngrant = 'password'",
                "providers.acme.plugin: missing",
            ),
            (
                "[providers.acme]\nplugin = 'generic'\ngrant = 'refresh_token'",
                "providers.acme.grant: `refresh_token` is not a grant",
            ),
            (
                "[providers.acme]\nplugin = 'generic'\nclient_secret = { env = 'GRANTBOX_SURELY_UNSET_VAR' }",
                "providers.acme.client_secret: environment variable `GRANTBOX_SURELY_UNSET_VAR` is not set",
            ),
            (
                "[providers.acme]\nplugin = 'generic'\nscopes = ['a', 1]",
                "providers.acme.scopes[1]: expected a string, got an integer",
            ),
            (
                "[providers.acme]\nplugin = 'generic'\nratio = 1.5",
                "providers.acme.ratio: a float is not a supported setting value",
            ),
            ("providers = [", "(syntax)"),
        ];
        for (text, expected) in cases {
            let e = error(text);
            assert!(
                e.contains(expected),
                "for {text:?}: got {e:?}, expected {expected:?}"
            );
            assert!(e.starts_with("/etc/grantbox/grantbox.toml: "), "{e}");
        }
    }
}
