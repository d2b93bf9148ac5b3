//! Egress policy: which origins a plugin may reach, and which addresses they may resolve to.
//!
//! A request from a plugin is sent only when its origin (scheme, host, port) matches one of
//! the origins the plugin *declared* in its metadata (templated from the provider's
//! settings) **and** one of the operator's allow patterns. Names are resolved by the host
//! (the crate-private `PolicyResolver`) and addresses that are not globally routable
//! (loopback, private, link-local, unique-local, …) are refused unless the operator allows
//! their network explicitly. Redirects are never followed by the host.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::{Arc, LazyLock};

use ipnet::IpNet;
use url::Url;

/// A pattern over origins: `scheme://host[:port]`.
///
/// - scheme: `http`, `https` or `*`;
/// - host: a name or IP literal (`[::1]` for IPv6), `*.example.com` (any subdomain of
///   `example.com`, not `example.com` itself) or `*` (any host);
/// - port: a number, `*`, or omitted (the scheme's default port).
///
/// A full URL is accepted too; its path and query are ignored.
#[derive(Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum HostPattern {
    Any,
    Exact(String),
    Subdomains(String),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PortPattern {
    Any,
    Default,
    Exact(u16),
}

/// Why a pattern could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid origin pattern `{pattern}`: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

impl OriginPattern {
    /// Parses a pattern such as `https://*.example.com` or `http://127.0.0.1:*`.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let err = |reason: &str| PatternError {
            pattern: pattern.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = pattern
            .split_once("://")
            .ok_or_else(|| err("expected `scheme://host[:port]`"))?;
        let scheme = match scheme.to_ascii_lowercase().as_str() {
            "*" => None,
            s @ ("http" | "https") => Some(s.to_owned()),
            _ => return Err(err("scheme must be `http`, `https` or `*`")),
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err(err("user information is not allowed"));
        }
        let (host, port) = split_host_port(authority).map_err(|r| err(&r))?;
        let port = match port {
            None => PortPattern::Default,
            Some("*") => PortPattern::Any,
            Some(p) => PortPattern::Exact(
                p.parse::<u16>()
                    .map_err(|_| err("port must be a number from 0 to 65535, or `*`"))?,
            ),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostPattern::Any
        } else if let Some(domain) = host.strip_prefix("*.") {
            if domain.is_empty() || domain.contains('*') {
                return Err(err(
                    "a wildcard is allowed only as a whole leading label (`*.example.com`)",
                ));
            }
            HostPattern::Subdomains(domain.to_owned())
        } else if host.is_empty() {
            return Err(err("host is empty"));
        } else if host.contains('*') {
            return Err(err(
                "a wildcard is allowed only as a whole leading label (`*.example.com`)",
            ));
        } else {
            let valid = if host.contains(':') {
                host.parse::<Ipv6Addr>().is_ok()
            } else {
                url::Host::parse(&host).is_ok()
            };
            if !valid {
                return Err(err("host is not a valid name or IP address"));
            }
            HostPattern::Exact(host)
        };
        Ok(Self { scheme, host, port })
    }

    /// Whether `url`'s origin matches.
    pub fn matches(&self, url: &Url) -> bool {
        let scheme = url.scheme();
        if let Some(s) = &self.scheme
            && s != scheme
        {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let host_ok = match &self.host {
            HostPattern::Any => true,
            HostPattern::Exact(h) => h.trim_start_matches('[').trim_end_matches(']') == host,
            HostPattern::Subdomains(d) => {
                host.len() > d.len() + 1
                    && host.ends_with(d.as_str())
                    && host.as_bytes()[host.len() - d.len() - 1] == b'.'
            }
        };
        if !host_ok {
            return false;
        }
        let port = url.port_or_known_default();
        match self.port {
            PortPattern::Any => true,
            PortPattern::Exact(p) => port == Some(p),
            PortPattern::Default => {
                port.is_some() && port == default_port(self.scheme.as_deref().unwrap_or(scheme))
            }
        }
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed `[` in IPv6 address".to_owned())?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or_else(|| "expected `:port` after `]`".to_owned())?,
            ),
        };
        return Ok((host, port));
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => Ok((h, Some(p))),
        None => Ok((authority, None)),
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme.as_deref().unwrap_or("*"))?;
        match &self.host {
            HostPattern::Any => write!(f, "*")?,
            HostPattern::Exact(h) if h.contains(':') && !h.starts_with('[') => write!(f, "[{h}]")?,
            HostPattern::Exact(h) => write!(f, "{h}")?,
            HostPattern::Subdomains(d) => write!(f, "*.{d}")?,
        }
        match self.port {
            PortPattern::Any => write!(f, ":*"),
            PortPattern::Default => Ok(()),
            PortPattern::Exact(p) => write!(f, ":{p}"),
        }
    }
}

impl fmt::Debug for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OriginPattern({self})")
    }
}

impl FromStr for OriginPattern {
    type Err = PatternError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// The operator's egress policy, shared by all plugins of a host.
///
/// The default allows any `https` origin on port 443 (the plugin's declared hosts still
/// apply) and no private addresses.
#[derive(Clone, Debug)]
pub struct EgressPolicy {
    allow: Vec<OriginPattern>,
    allow_private: Vec<IpNet>,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allow: vec![OriginPattern {
                scheme: Some("https".into()),
                host: HostPattern::Any,
                port: PortPattern::Default,
            }],
            allow_private: Vec::new(),
        }
    }
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    /// The URL is not an absolute http(s) URL.
    #[error("`{0}` is not an absolute http or https URL")]
    BadUrl(String),
    /// The plugin did not declare this origin.
    #[error("{origin} is not among the hosts the plugin declared ({declared})")]
    Undeclared {
        /// The origin asked for.
        origin: String,
        /// The declared origins.
        declared: String,
    },
    /// The operator's allow list does not cover the origin.
    #[error("{origin} is not allowed by the operator's egress allow list ({allowed})")]
    NotAllowed {
        /// The origin asked for.
        origin: String,
        /// The operator's patterns.
        allowed: String,
    },
    /// The destination is (or resolves only to) a non-global address the operator did not allow.
    #[error(
        "{host} is a private, loopback or link-local address ({addrs}); the operator has not allowed it"
    )]
    PrivateAddress {
        /// The host name or literal.
        host: String,
        /// The refused addresses.
        addrs: String,
    },
}

impl EgressPolicy {
    /// A policy that allows nothing (add patterns with [`EgressPolicy::allow`]).
    pub fn deny_all() -> Self {
        Self {
            allow: Vec::new(),
            allow_private: Vec::new(),
        }
    }

    /// Adds an allowed origin pattern (see [`OriginPattern`]).
    pub fn allow(mut self, pattern: &str) -> Result<Self, PatternError> {
        self.allow.push(OriginPattern::parse(pattern)?);
        Ok(self)
    }

    /// Allows addresses in a non-global network (e.g. `127.0.0.0/8` for tests on loopback).
    pub fn allow_private_network(mut self, net: IpNet) -> Self {
        self.allow_private.push(net);
        self
    }

    /// The allow patterns.
    pub fn allowed(&self) -> &[OriginPattern] {
        &self.allow
    }

    /// Checks a request URL against the plugin's declared origins and this policy. IP
    /// literals are checked here; names are checked when they are resolved.
    pub fn check(&self, declared: &[OriginPattern], url: &Url) -> Result<(), Denial> {
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Denial::BadUrl(url.as_str().to_owned()));
        }
        let origin = url.origin().ascii_serialization();
        if !declared.iter().any(|p| p.matches(url)) {
            return Err(Denial::Undeclared {
                origin,
                declared: join(declared),
            });
        }
        if !self.allow.iter().any(|p| p.matches(url)) {
            return Err(Denial::NotAllowed {
                origin,
                allowed: join(&self.allow),
            });
        }
        let ip = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if let Some(ip) = ip
            && !self.ip_allowed(ip)
        {
            return Err(Denial::PrivateAddress {
                host: url.host_str().unwrap_or_default().to_owned(),
                addrs: ip.to_string(),
            });
        }
        Ok(())
    }

    /// Whether a resolved address may be connected to.
    pub fn ip_allowed(&self, ip: IpAddr) -> bool {
        is_global(ip) || self.allow_private.iter().any(|net| net.contains(&ip))
    }
}

fn join(patterns: &[OriginPattern]) -> String {
    if patterns.is_empty() {
        return "none".into();
    }
    patterns
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

static NON_GLOBAL: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    ]
    .iter()
    .filter_map(|n| n.parse().ok())
    .collect()
});

/// Whether an address is globally routable (not loopback, private, link-local,
/// shared, documentation, multicast or reserved). IPv4-mapped IPv6 addresses are
/// judged by their IPv4 address.
pub fn is_global(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    if ip == IpAddr::V4(Ipv4Addr::BROADCAST) || ip == IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
        return false;
    }
    !NON_GLOBAL.iter().any(|net| net.contains(&ip))
}

/// Marker error: a name resolved only to addresses the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ResolveDenied(pub(crate) Denial);

/// A DNS resolver for the host's HTTP client that drops addresses the policy refuses.
pub(crate) struct PolicyResolver {
    pub(crate) policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<_>, Vec<_>) =
                addrs.into_iter().partition(|a| policy.ip_allowed(a.ip()));
            if allowed.is_empty() {
                let denial = Denial::PrivateAddress {
                    host,
                    addrs: refused
                        .iter()
                        .map(|a| a.ip().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                return Err(Box::new(ResolveDenied(denial)) as Box<_>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test URL")
    }

    fn pat(s: &str) -> OriginPattern {
        OriginPattern::parse(s).expect("test pattern")
    }

    #[test]
    fn patterns_match_scheme_host_and_port() {
        assert!(pat("https://login.example.com").matches(&url("https://login.example.com/t")));
        assert!(!pat("https://login.example.com").matches(&url("http://login.example.com/t")));
        assert!(!pat("https://login.example.com").matches(&url("https://login.example.com:8443/")));
        assert!(pat("https://*.example.com").matches(&url("https://a.b.example.com/")));
        assert!(!pat("https://*.example.com").matches(&url("https://example.com/")));
        assert!(!pat("https://*.example.com").matches(&url("https://badexample.com/")));
        assert!(pat("http://127.0.0.1:*").matches(&url("http://127.0.0.1:4567/x")));
        assert!(pat("*://*:*").matches(&url("http://x.y:1/")));
        assert!(pat("http://[::1]:80").matches(&url("http://[::1]/")));
        assert!(
            pat("https://Login.Example.com/path?q").matches(&url("https://login.example.com/"))
        );
    }

    #[test]
    fn bad_patterns_say_why() {
        for (p, why) in [
            ("login.example.com", "scheme://"),
            ("ftp://x", "scheme"),
            ("https://a*.example.com", "wildcard"),
            ("https://x:99999", "port"),
            ("https://user@x", "user"),
        ] {
            let e = OriginPattern::parse(p).expect_err(p);
            assert!(e.to_string().contains(why), "{p}: {e}");
        }
    }

    #[test]
    fn check_requires_declared_and_allowed() {
        let policy = EgressPolicy::deny_all()
            .allow("https://*.example.com")
            .expect("pattern");
        let declared = [pat("https://login.example.com")];
        assert!(
            policy
                .check(&declared, &url("https://login.example.com/token"))
                .is_ok()
        );
        assert!(matches!(
            policy.check(&declared, &url("https://evil.example.com/")),
            Err(Denial::Undeclared { .. })
        ));
        let declared = [pat("https://login.other.org")];
        assert!(matches!(
            policy.check(&declared, &url("https://login.other.org/")),
            Err(Denial::NotAllowed { .. })
        ));
    }

    #[test]
    fn private_literals_are_refused_unless_allowed() {
        let declared = [pat("http://127.0.0.1:*"), pat("http://10.1.2.3")];
        let policy = EgressPolicy::deny_all()
            .allow("http://*:*")
            .expect("pattern");
        assert!(matches!(
            policy.check(&declared, &url("http://127.0.0.1:8080/")),
            Err(Denial::PrivateAddress { .. })
        ));
        let policy = policy.allow_private_network("127.0.0.0/8".parse().expect("net"));
        assert!(
            policy
                .check(&declared, &url("http://127.0.0.1:8080/"))
                .is_ok()
        );
        assert!(policy.check(&declared, &url("http://10.1.2.3/")).is_err());
    }

    #[test]
    fn global_addresses() {
        for ip in ["8.8.8.8", "2606:4700::1111"] {
            assert!(is_global(ip.parse().expect("ip")), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
            "100.64.0.1",
        ] {
            assert!(!is_global(ip.parse().expect("ip")), "{ip}");
        }
    }
}
