//! The plugin conformance suite: checks any provider plugin component against the contract
//! and the behaviour the host relies on, without knowing the provider.
//!
//! Run it on a plugin: `cargo run -p grantbox-e2e --bin conformance -- path/to/plugin.wasm`.
//!
//! What it checks:
//! - **metadata**: id, version (semver), names and descriptions, unique snake_case fields,
//!   defaults of the right kind, required fields without defaults, custom grants named,
//!   host patterns that parse and whose `{placeholders}` name declared fields, URL-field
//!   defaults (but `authorization_url`, which the browser visits) covered by the declared
//!   hosts;
//! - **declared hosts cover its requests**: every grant the plugin lists is exercised with
//!   every URL setting pointed at the suite's loopback server; a request to an undeclared
//!   host fails the suite (a request to a fixed, declared external host is noted, never
//!   sent);
//! - **tolerant parsing**: `expires_in` as a string, a minimal response (`access_token`
//!   only), extra fields kept;
//! - **standard error mapping**: RFC 6749 `invalid_grant` → invalid grant,
//!   `invalid_client` → invalid client, 503 → temporarily unavailable, a non-JSON 200 →
//!   protocol error (never a plugin fault);
//! - **no secret echo**: a server that echoes the client secret into its error text does
//!   not get it into the error the host returns; no secret in a request URL.
//!
//! Settings: required fields get synthetic values, every URL field points at the suite's
//! server, and the conventional `client_id`, `client_secret`, `username`, `password` are
//! set when declared. Give more with [`Options::settings`] (`--set`, `--secret`). A grant
//! the synthetic settings cannot drive (the plugin answers "invalid configuration") is
//! noted, not failed.

use std::fmt;
use std::sync::Mutex;

use grantbox_host::plugin::{FieldKind, PluginMetadata};
use grantbox_host::{
    EgressPolicy, ErrorKind, ExposeSecret, Grant, Host, Limits, ProviderConfig, SecretString,
    SettingValue,
};
use grantbox_provider_servers::{Reply, Req, Server};

/// Extra settings for the run.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Settings added to (or replacing) the synthetic ones.
    pub settings: Vec<(String, SettingValue)>,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Holds.
    Pass,
    /// Does not hold: the plugin is not conformant.
    Fail(String),
    /// Could not be checked, or worth knowing.
    Note(String),
}

/// One check.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Result.
    pub outcome: Outcome,
}

/// The suite's findings for one plugin.
#[derive(Debug, Clone)]
pub struct Report {
    /// Plugin id (or the file, if it did not load).
    pub plugin: String,
    /// Every check, in order.
    pub checks: Vec<Check>,
}

impl Report {
    /// The failed checks.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Fail(_)))
            .collect()
    }

    fn push(&mut self, name: impl Into<String>, outcome: Outcome) {
        self.checks.push(Check {
            name: name.into(),
            outcome,
        });
    }

    fn check(&mut self, name: impl Into<String>, ok: bool, why: impl FnOnce() -> String) {
        let outcome = if ok {
            Outcome::Pass
        } else {
            Outcome::Fail(why())
        };
        self.push(name, outcome);
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "conformance of plugin `{}`", self.plugin)?;
        for c in &self.checks {
            match &c.outcome {
                Outcome::Pass => writeln!(f, "  PASS  {}", c.name)?,
                Outcome::Fail(why) => writeln!(f, "  FAIL  {}: {why}", c.name)?,
                Outcome::Note(why) => writeln!(f, "  NOTE  {}: {why}", c.name)?,
            }
        }
        let failed = self.failures().len();
        if failed == 0 {
            writeln!(f, "conformant ({} checks)", self.checks.len())
        } else {
            writeln!(f, "NOT conformant: {failed} failed check(s)")
        }
    }
}

const SECRET: &str = "conformance-client-secret-6f1d2c";
const PASSWORD: &str = "conformance-password-9a8b7c";

/// The suite's server: answers every request with the reply set for the scenario.
struct Harness {
    next: Mutex<Reply>,
}

fn answer(h: &Harness, _base: &str, _req: &Req) -> Reply {
    h.next.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

fn is_snake(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && s.as_bytes()[0].is_ascii_lowercase()
}

fn check_metadata(r: &mut Report, m: &PluginMetadata) {
    r.check(
        "id is [a-z0-9-]+",
        !m.id.is_empty()
            && m.id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        || format!("`{}`", m.id),
    );
    r.check(
        "version is semver",
        semver::Version::parse(&m.version).is_ok(),
        || format!("`{}`", m.version),
    );
    r.check(
        "display name and description",
        !m.display_name.trim().is_empty() && !m.description.trim().is_empty(),
        || "empty".into(),
    );
    r.check("grants listed", !m.grants.is_empty(), || "no grant".into());
    let custom = m.grants.iter().any(|g| g == "custom");
    r.check(
        "custom grants named when `custom` is listed",
        custom != m.custom_grants.is_empty(),
        || format!("grants {:?}, custom grants {:?}", m.grants, m.custom_grants),
    );
    let mut seen = std::collections::HashSet::new();
    for f in &m.config {
        let n = &f.name;
        r.check(
            format!("field `{n}`: snake_case, unique, described"),
            is_snake(n) && seen.insert(n.clone()) && !f.description.trim().is_empty(),
            || "bad name, duplicate or no description".into(),
        );
        if let Some(d) = &f.default {
            let ok = match f.kind {
                FieldKind::Flag => d == "true" || d == "false",
                FieldKind::Number => d.parse::<i64>().is_ok(),
                FieldKind::Url => {
                    url::Url::parse(d).is_ok_and(|u| matches!(u.scheme(), "http" | "https"))
                }
                FieldKind::Secret | FieldKind::TextList | FieldKind::TextMap => false,
                FieldKind::Text => true,
            };
            r.check(
                format!("field `{n}`: default fits its kind"),
                ok && !f.required,
                || format!("default `{d}` for {}", f.kind.describe()),
            );
        }
    }
    r.check("hosts declared", !m.hosts.is_empty(), || {
        "the plugin declares no host".into()
    });
    for h in &m.hosts {
        let names = grantbox_host::plugin::placeholders(h);
        let unknown: Vec<&&str> = names.iter().filter(|n| m.field(n).is_none()).collect();
        let shape_ok = if names.is_empty() {
            grantbox_host::OriginPattern::parse(h).is_ok()
        } else {
            true
        };
        r.check(
            format!("host pattern `{h}`"),
            unknown.is_empty() && shape_ok,
            || {
                if unknown.is_empty() {
                    "does not parse as an origin pattern".into()
                } else {
                    format!("names undeclared fields {unknown:?}")
                }
            },
        );
    }
    let fixed: Vec<grantbox_host::OriginPattern> = m
        .hosts
        .iter()
        .filter(|h| grantbox_host::plugin::placeholders(h).is_empty())
        .filter_map(|h| grantbox_host::OriginPattern::parse(h).ok())
        .collect();
    // `authorization_url` is visited by the user's browser, not requested by the plugin.
    for f in m
        .config
        .iter()
        .filter(|f| f.kind == FieldKind::Url && f.name != "authorization_url")
    {
        if let Some(d) = &f.default
            && let Ok(u) = url::Url::parse(d)
        {
            let covered = fixed.iter().any(|p| p.matches(&u))
                || m.hosts.iter().any(|h| h == &format!("{{{}}}", f.name));
            r.check(
                format!("default of `{}` is a declared host", f.name),
                covered,
                || format!("{d} is not covered by {:?}", m.hosts),
            );
        }
    }
}

/// Synthetic settings for `m`, URL fields pointed at `base`.
fn settings(m: &PluginMetadata, base: &str, extra: &[(String, SettingValue)]) -> ProviderConfig {
    let mut cfg = ProviderConfig::new("conformance", &m.id);
    for f in &m.config {
        let conventional = matches!(
            f.name.as_str(),
            "client_id" | "client_secret" | "username" | "password"
        );
        let value = match f.kind {
            FieldKind::Url => Some(SettingValue::Text(format!("{base}/{}", f.name))),
            FieldKind::Secret if f.required || conventional => Some(SettingValue::Secret(
                SecretString::from(if f.name == "password" {
                    PASSWORD
                } else {
                    SECRET
                }),
            )),
            FieldKind::Text if (f.required && f.default.is_none()) || conventional => {
                Some(SettingValue::Text("conformance".into()))
            }
            FieldKind::Flag if f.required && f.default.is_none() => Some(SettingValue::Flag(false)),
            FieldKind::Number if f.required && f.default.is_none() => Some(SettingValue::Number(1)),
            FieldKind::TextList if f.required => {
                Some(SettingValue::List(vec!["conformance".into()]))
            }
            FieldKind::TextMap if f.required => Some(SettingValue::Map(Default::default())),
            _ => None,
        };
        if let Some(v) = value {
            cfg = cfg.setting(f.name.clone(), v);
        }
    }
    for (k, v) in extra {
        cfg = cfg.setting(k.clone(), v.clone());
    }
    cfg.scopes(["conformance.read"])
}

fn grants(m: &PluginMetadata) -> Vec<(String, Grant)> {
    let mut out = Vec::new();
    for g in &m.grants {
        match g.as_str() {
            "client_credentials" => out.push((g.clone(), Grant::ClientCredentials)),
            "password" => out.push((g.clone(), Grant::Password)),
            "refresh_token" => out.push((
                g.clone(),
                Grant::RefreshToken(SecretString::from("conformance-refresh-token-33aa")),
            )),
            "authorization_code" => out.push((
                g.clone(),
                Grant::AuthorizationCode {
                    code: SecretString::from("conformance-code-44bb"),
                    redirect_uri: "https://app.example/callback".into(),
                    pkce_verifier: Some(SecretString::from(
                        "conformance-verifier-0123456789012345678901234",
                    )),
                },
            )),
            "device_code" => out.push((
                g.clone(),
                Grant::DeviceCode(SecretString::from("conformance-device-code-55cc")),
            )),
            _ => {}
        }
    }
    for c in &m.custom_grants {
        out.push((c.clone(), Grant::Custom(c.clone())));
    }
    out
}

fn regrant(g: &Grant) -> Grant {
    match g {
        Grant::ClientCredentials => Grant::ClientCredentials,
        Grant::Password => Grant::Password,
        Grant::RefreshToken(s) => Grant::RefreshToken(s.clone()),
        Grant::AuthorizationCode {
            code,
            redirect_uri,
            pkce_verifier,
        } => Grant::AuthorizationCode {
            code: code.clone(),
            redirect_uri: redirect_uri.clone(),
            pkce_verifier: pkce_verifier.clone(),
        },
        Grant::DeviceCode(s) => Grant::DeviceCode(s.clone()),
        Grant::Custom(n) => Grant::Custom(n.clone()),
    }
}

/// Runs the suite on the plugin component at `path`.
pub async fn run(path: &str, options: &Options) -> anyhow::Result<Report> {
    let harness = Server::start(
        Harness {
            next: Mutex::new(Reply::json(200, serde_json::json!({}))),
        },
        answer,
    )
    .await?;
    let egress = EgressPolicy::deny_all()
        .allow("http://127.0.0.1:*")?
        .allow_private_network("127.0.0.0/8".parse()?);
    let host = Host::builder()
        .limits(Limits {
            request_timeout: std::time::Duration::from_secs(5),
            ..Limits::default()
        })
        .egress(egress)
        .build()?;
    let mut report = Report {
        plugin: path.to_owned(),
        checks: Vec::new(),
    };
    let info = match host.load_plugin_file(path).await {
        Ok(info) => {
            report.push("loads as a grantbox provider component", Outcome::Pass);
            info
        }
        Err(e) => {
            report.push(
                "loads as a grantbox provider component",
                Outcome::Fail(e.to_string()),
            );
            return Ok(report);
        }
    };
    let m = info.metadata;
    report.plugin = m.id.clone();
    check_metadata(&mut report, &m);

    let cfg = settings(&m, &harness.base_url(), &options.settings);
    let configured_secrets: Vec<String> = cfg
        .settings
        .values()
        .filter_map(|v| match v {
            SettingValue::Secret(s) => Some(s.expose_secret().to_owned()),
            _ => None,
        })
        .collect();
    let provider = match host.provider(cfg) {
        Ok(p) => p,
        Err(e) => {
            report.push(
                "synthetic settings are accepted",
                Outcome::Fail(e.to_string()),
            );
            return Ok(report);
        }
    };
    let set = |reply: Reply| {
        *harness
            .state()
            .next
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = reply
    };
    let mut exercised = 0;
    for (name, grant) in grants(&m) {
        set(Reply::json(
            200,
            serde_json::json!({"access_token": "conformance-at-1", "token_type": "Bearer", "expires_in": "3600", "scope": "conformance.read", "x_conformance": "kept"}),
        ));
        let before = harness.requests().len();
        let first = provider.exchange(regrant(&grant)).await;
        let reached = harness.requests().len() > before;
        match &first {
            Err(e)
                if e.to_string()
                    .contains("is not among the hosts the plugin declared") =>
            {
                report.push(
                    format!("{name}: requests only declared hosts"),
                    Outcome::Fail(e.to_string()),
                );
                continue;
            }
            Err(e)
                if e.to_string()
                    .contains("is not allowed by the operator's egress allow list") =>
            {
                report.push(
                    format!("{name}: requests only declared hosts"),
                    Outcome::Pass,
                );
                report.push(
                    format!("{name}: exercised"),
                    Outcome::Note(format!(
                        "uses a fixed host that cannot be pointed at the suite's server ({e})"
                    )),
                );
                continue;
            }
            Err(e)
                if e.oauth().is_some_and(|o| {
                    o.kind == ErrorKind::InvalidConfig || o.kind == ErrorKind::Unsupported
                }) =>
            {
                report.push(format!("{name}: exercised"), Outcome::Note(format!("needs settings the suite cannot invent ({e}); pass them with --set/--secret")));
                continue;
            }
            _ => {}
        }
        report.check(
            format!("{name}: requests only declared hosts"),
            reached,
            || {
                format!(
                    "no request reached the suite's server: {:?}",
                    first.as_ref().err().map(ToString::to_string)
                )
            },
        );
        if !reached {
            continue;
        }
        exercised += 1;
        let urls_clean = harness.requests()[before..].iter().all(|r| {
            r.query
                .as_deref()
                .is_none_or(|q| !q.contains(SECRET) && !q.contains(PASSWORD))
        });
        report.check(
            format!("{name}: no secret in a request URL"),
            urls_clean,
            || "a secret was sent in the query string".into(),
        );
        report.check(
            format!("{name}: tolerant parsing (expires_in as a string, extra fields kept)"),
            first.as_ref().is_ok_and(|t| {
                t.access_token.expose_secret() == "conformance-at-1"
                    && t.expires_in.map(|d| d.as_secs()) == Some(3600)
                    && t.extra.get("x_conformance").is_some()
            }),
            || {
                format!(
                    "{:?}",
                    first
                        .as_ref()
                        .map(|t| (t.expires_in, t.extra.clone()))
                        .map_err(ToString::to_string)
                )
            },
        );
        set(Reply::json(
            200,
            serde_json::json!({"access_token": "conformance-at-2"}),
        ));
        let minimal = provider.exchange(regrant(&grant)).await;
        report.check(
            format!("{name}: minimal response (access_token only)"),
            minimal
                .as_ref()
                .is_ok_and(|t| t.access_token.expose_secret() == "conformance-at-2"),
            || format!("{:?}", minimal.as_ref().err().map(ToString::to_string)),
        );

        for (status, body, expected, label) in [
            (
                400,
                serde_json::json!({"error": "invalid_grant", "error_description": "expired"}),
                ErrorKind::InvalidGrant,
                "invalid_grant → invalid grant",
            ),
            (
                401,
                serde_json::json!({"error": "invalid_client"}),
                ErrorKind::InvalidClient,
                "invalid_client → invalid client",
            ),
        ] {
            set(Reply::json(status, body));
            let e = provider.exchange(regrant(&grant)).await;
            let kind = e.as_ref().err().and_then(|e| e.oauth()).map(|o| o.kind);
            report.check(format!("{name}: {label}"), kind == Some(expected), || {
                format!("got {kind:?}")
            });
        }
        set(Reply {
            status: 503,
            content_type: "text/html",
            body: "<html>maintenance</html>".into(),
        });
        let e = provider.exchange(regrant(&grant)).await;
        let kind = e.as_ref().err().and_then(|e| e.oauth()).map(|o| o.kind);
        report.check(
            format!("{name}: 503 → temporarily unavailable"),
            kind == Some(ErrorKind::TemporarilyUnavailable),
            || format!("got {kind:?}"),
        );
        set(Reply {
            status: 200,
            content_type: "text/html",
            body: "<html>not a token</html>".into(),
        });
        let e = provider.exchange(regrant(&grant)).await;
        let err = e.as_ref().err();
        report.check(
            format!("{name}: non-JSON 200 → protocol error, not a plugin fault"),
            err.is_some_and(|e| {
                e.plugin_fault().is_none()
                    && e.oauth().is_some_and(|o| o.kind == ErrorKind::Protocol)
            }),
            || format!("{:?}", err.map(ToString::to_string)),
        );
        set(Reply::json(
            400,
            serde_json::json!({"error": "invalid_request", "error_description": format!("you sent client_secret={SECRET} and password={PASSWORD}")}),
        ));
        let e = provider.exchange(regrant(&grant)).await;
        let text = e
            .as_ref()
            .err()
            .map(|e| format!("{e} {e:?}"))
            .unwrap_or_default();
        report.check(
            format!("{name}: an echoed secret does not reach the error"),
            // Only values configured as secrets of this provider are the host's to scrub.
            e.is_err() && !configured_secrets.iter().any(|s| text.contains(s.as_str())),
            || "a configured secret appears in the returned error".into(),
        );
    }
    if exercised == 0 {
        report.push(
            "token exchange exercised",
            Outcome::Note(
                "no grant could be driven with the suite's settings; pass --set/--secret".into(),
            ),
        );
    }
    Ok(report)
}
