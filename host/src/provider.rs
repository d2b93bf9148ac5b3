//! Providers: a plugin plus the operator's settings for it, validated against the plugin's
//! declared configuration fields, and the operations performed through the plugin.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use wasmtime::component::Resource;

use crate::bindings::exports::grantbox::plugin::oauth_provider as wit;
use crate::call::{CallContext, PluginCall};
use crate::egress::OriginPattern;
use crate::error::{Error, ErrorKind, OAuthError, PluginFault, Result};
use crate::host::HostInner;
use crate::plugin::{FieldKind, LoadedPlugin, PluginMetadata};
use crate::secret::{ExposeSecret, Redactor, SecretEntry, SecretString};
use crate::token::{
    AuthorizationRequest, DeviceAuthorization, Grant, GrantType, TokenPlacement, TokenSet,
};

/// A configured value of a provider setting.
#[derive(Clone)]
pub enum SettingValue {
    /// Text (also for URL fields).
    Text(String),
    /// A flag.
    Flag(bool),
    /// An integer.
    Number(i64),
    /// A list of strings.
    List(Vec<String>),
    /// A map of strings.
    Map(BTreeMap<String, String>),
    /// A secret.
    Secret(SecretString),
}

impl SettingValue {
    fn describe(&self) -> &'static str {
        match self {
            SettingValue::Text(_) => "text",
            SettingValue::Flag(_) => "a flag",
            SettingValue::Number(_) => "a number",
            SettingValue::List(_) => "a list",
            SettingValue::Map(_) => "a table",
            SettingValue::Secret(_) => "a secret",
        }
    }
}

impl fmt::Debug for SettingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingValue::Text(t) => write!(f, "Text({t:?})"),
            SettingValue::Flag(b) => write!(f, "Flag({b})"),
            SettingValue::Number(n) => write!(f, "Number({n})"),
            SettingValue::List(l) => write!(f, "List({l:?})"),
            SettingValue::Map(m) => write!(f, "Map({m:?})"),
            SettingValue::Secret(_) => write!(f, "Secret([redacted])"),
        }
    }
}

impl From<&str> for SettingValue {
    fn from(v: &str) -> Self {
        SettingValue::Text(v.to_owned())
    }
}
impl From<String> for SettingValue {
    fn from(v: String) -> Self {
        SettingValue::Text(v)
    }
}
impl From<bool> for SettingValue {
    fn from(v: bool) -> Self {
        SettingValue::Flag(v)
    }
}
impl From<i64> for SettingValue {
    fn from(v: i64) -> Self {
        SettingValue::Number(v)
    }
}
impl From<Vec<String>> for SettingValue {
    fn from(v: Vec<String>) -> Self {
        SettingValue::List(v)
    }
}
impl From<BTreeMap<String, String>> for SettingValue {
    fn from(v: BTreeMap<String, String>) -> Self {
        SettingValue::Map(v)
    }
}
impl From<SecretString> for SettingValue {
    fn from(v: SecretString) -> Self {
        SettingValue::Secret(v)
    }
}

/// A provider registration: which plugin, which grant, which scopes, and the plugin's
/// settings (client id, secrets, URLs, quirks).
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// The provider's name (how operators and APIs refer to it).
    pub name: String,
    /// The plugin id.
    pub plugin: String,
    /// Grant for non-interactive fetches ([`Provider::fetch_token`]).
    pub grant: Option<GrantType>,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Settings for the plugin, by field name.
    pub settings: BTreeMap<String, SettingValue>,
}

impl ProviderConfig {
    /// A provider named `name` served by plugin `plugin`.
    pub fn new(name: impl Into<String>, plugin: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            plugin: plugin.into(),
            grant: None,
            scopes: Vec::new(),
            settings: BTreeMap::new(),
        }
    }

    /// Sets the grant used by [`Provider::fetch_token`].
    pub fn grant(mut self, grant: GrantType) -> Self {
        self.grant = Some(grant);
        self
    }

    /// Sets the scopes.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Sets a plugin setting.
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<SettingValue>) -> Self {
        self.settings.insert(name.into(), value.into());
        self
    }

    /// Sets a secret setting.
    pub fn secret(mut self, name: impl Into<String>, value: SecretString) -> Self {
        self.settings
            .insert(name.into(), SettingValue::Secret(value));
        self
    }
}

/// Parses an absolute http(s) URL.
pub(crate) fn parse_http_url(s: &str) -> std::result::Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("`{s}` is not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!("`{s}` is not an http or https URL"));
    }
    Ok(url)
}

/// Validates `config` against the plugin's fields: unknown, missing and mistyped settings
/// are refused, naming the field; defaults are applied.
pub(crate) fn validate(
    config: &ProviderConfig,
    meta: &PluginMetadata,
) -> Result<Vec<(String, SettingValue)>> {
    let invalid = |field: &str, message: String| Error::InvalidSetting {
        provider: config.name.clone(),
        field: field.to_owned(),
        message,
    };
    for name in config.settings.keys() {
        if meta.field(name).is_none() {
            let known: Vec<&str> = meta.config.iter().map(|f| f.name.as_str()).collect();
            return Err(invalid(
                name,
                format!(
                    "plugin `{}` has no such setting (it understands: {})",
                    meta.id,
                    known.join(", ")
                ),
            ));
        }
    }
    let mut out = Vec::with_capacity(meta.config.len());
    for field in &meta.config {
        let value = match config.settings.get(&field.name) {
            Some(v) => v.clone(),
            None => match &field.default {
                Some(d) => match field.kind {
                    FieldKind::Flag => SettingValue::Flag(d == "true"),
                    FieldKind::Number => SettingValue::Number(d.parse().unwrap_or_default()),
                    _ => SettingValue::Text(d.clone()),
                },
                None if field.required => {
                    return Err(invalid(
                        &field.name,
                        format!(
                            "required by plugin `{}` but not set ({})",
                            meta.id, field.description
                        ),
                    ));
                }
                None => continue,
            },
        };
        let ok = match (field.kind, &value) {
            (FieldKind::Text, SettingValue::Text(_)) => true,
            (FieldKind::Url, SettingValue::Text(t)) => {
                parse_http_url(t).map_err(|m| invalid(&field.name, m))?;
                true
            }
            (FieldKind::Secret, SettingValue::Secret(_))
            | (FieldKind::Flag, SettingValue::Flag(_))
            | (FieldKind::Number, SettingValue::Number(_))
            | (FieldKind::TextList, SettingValue::List(_))
            | (FieldKind::TextMap, SettingValue::Map(_)) => true,
            _ => false,
        };
        if !ok {
            return Err(invalid(
                &field.name,
                format!(
                    "expected {}, got {}",
                    field.kind.describe(),
                    value.describe()
                ),
            ));
        }
        out.push((field.name.clone(), value));
    }
    if let Some(grant) = &config.grant
        && !meta.supports_grant(grant.name())
    {
        return Err(invalid(
            "grant",
            format!(
                "plugin `{}` does not support grant `{}` (it supports: {})",
                meta.id,
                grant.name(),
                meta.grants
                    .iter()
                    .chain(&meta.custom_grants)
                    .filter(|g| *g != "custom")
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    Ok(out)
}

/// Resolves the plugin's host patterns against the settings. A pattern naming an unset
/// field is skipped. A placeholder inside a pattern accepts only `[A-Za-z0-9._-]` so a
/// setting cannot change the pattern's shape; a pattern that is one whole placeholder
/// takes the origin of the URL setting it names.
pub(crate) fn declared_origins(
    config_name: &str,
    meta: &PluginMetadata,
    settings: &[(String, SettingValue)],
) -> Result<Vec<OriginPattern>> {
    let text = |name: &str| {
        settings.iter().find_map(|(n, v)| match v {
            SettingValue::Text(t) if n == name => Some(t.as_str()),
            _ => None,
        })
    };
    let mut out = Vec::new();
    'patterns: for pattern in &meta.hosts {
        let names = crate::plugin::placeholders(pattern);
        let whole = names.len() == 1 && pattern == &format!("{{{}}}", names[0]);
        let mut resolved = pattern.clone();
        for name in names {
            let Some(value) = text(name) else {
                continue 'patterns;
            };
            if !whole
                && !value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
            {
                return Err(Error::InvalidSetting {
                    provider: config_name.to_owned(),
                    field: name.to_owned(),
                    message: format!(
                        "`{value}` may contain only letters, digits, `.`, `-` and `_` (it is part of the host name in `{pattern}`)"
                    ),
                });
            }
            resolved = resolved.replace(&format!("{{{name}}}"), value);
        }
        let origin = OriginPattern::parse(&resolved).map_err(|e| Error::InvalidSetting {
            provider: config_name.to_owned(),
            field: "hosts".into(),
            message: e.to_string(),
        })?;
        out.push(origin);
    }
    Ok(out)
}

/// A provider ready for token operations. Cheap to clone.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<ProviderInner>,
}

struct ProviderInner {
    host: Arc<HostInner>,
    plugin: Arc<LoadedPlugin>,
    config: ProviderConfig,
    settings: Vec<(String, SettingValue)>,
    declared: Arc<[OriginPattern]>,
    placement: OnceLock<TokenPlacement>,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.inner.config.name)
            .field("plugin", &self.inner.plugin.info.metadata.id)
            .field("settings", &self.inner.settings)
            .finish()
    }
}

/// One operation on a plugin instance.
enum Op<'a> {
    Exchange(&'a wit::Settings, &'a wit::TokenRequest),
    AuthorizationUrl(&'a wit::Settings, &'a wit::AuthorizationRequest),
    Device(&'a wit::Settings, &'a [String]),
    Placement(&'a wit::Settings),
}

enum OpResult {
    Token(std::result::Result<wit::TokenSet, wit::OauthError>),
    Url(std::result::Result<String, wit::OauthError>),
    Device(std::result::Result<wit::DeviceAuthorization, wit::OauthError>),
    Placement(std::result::Result<wit::Placement, wit::OauthError>),
}

impl Provider {
    pub(crate) fn new(
        host: Arc<HostInner>,
        plugin: Arc<LoadedPlugin>,
        config: ProviderConfig,
    ) -> Result<Self> {
        let settings = validate(&config, &plugin.info.metadata)?;
        let declared = declared_origins(&config.name, &plugin.info.metadata, &settings)?;
        Ok(Self {
            inner: Arc::new(ProviderInner {
                host,
                plugin,
                config,
                settings,
                declared: Arc::from(declared),
                placement: OnceLock::new(),
            }),
        })
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.inner.config.name
    }

    /// The plugin's metadata.
    pub fn plugin(&self) -> &PluginMetadata {
        &self.inner.plugin.info.metadata
    }

    /// The provider's configuration.
    pub fn config(&self) -> &ProviderConfig {
        &self.inner.config
    }

    /// The origins the plugin may reach for this provider (before the operator's policy).
    pub fn declared_origins(&self) -> &[OriginPattern] {
        &self.inner.declared
    }

    /// Fetches a token with the configured non-interactive grant (client credentials,
    /// password, or a custom grant of the plugin).
    pub async fn fetch_token(&self) -> Result<TokenSet> {
        let grant = match &self.inner.config.grant {
            Some(GrantType::ClientCredentials) | None => Grant::ClientCredentials,
            Some(GrantType::Password) => Grant::Password,
            Some(GrantType::Custom(name)) => Grant::Custom(name.clone()),
            Some(g @ (GrantType::AuthorizationCode | GrantType::DeviceCode)) => {
                return Err(Error::Unsupported(format!(
                    "provider `{}` uses the interactive grant `{}`: connect an account first",
                    self.name(),
                    g.name()
                )));
            }
        };
        self.exchange(grant).await
    }

    /// Refreshes with a refresh token (RFC 6749 §6).
    pub async fn refresh(&self, refresh_token: &SecretString) -> Result<TokenSet> {
        self.exchange(Grant::RefreshToken(refresh_token.clone()))
            .await
    }

    async fn begin(&self) -> Result<(PluginCall, wit::Settings)> {
        self.begin_with(false).await
    }

    async fn begin_with(&self, dry_run: bool) -> Result<(PluginCall, wit::Settings)> {
        let ctx = CallContext {
            declared: Arc::clone(&self.inner.declared),
            redactor: Redactor::default(),
            dry_run,
        };
        let plugin_id: Arc<str> = Arc::from(self.inner.plugin.info.metadata.id.as_str());
        let mut call = PluginCall::new(&self.inner.host.runtime, plugin_id, ctx)
            .await
            .map_err(|fault| self.fault(fault))?;
        let mut settings = Vec::with_capacity(self.inner.settings.len());
        for (name, value) in &self.inner.settings {
            let value = match value {
                SettingValue::Text(t) => wit::SettingValue::Text(t.clone()),
                SettingValue::Flag(b) => wit::SettingValue::Flag(*b),
                SettingValue::Number(n) => wit::SettingValue::Number(*n),
                SettingValue::List(l) => wit::SettingValue::TextList(l.clone()),
                SettingValue::Map(m) => wit::SettingValue::TextMap(
                    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                ),
                SettingValue::Secret(s) => {
                    wit::SettingValue::Secret(call.secret(name, s).map_err(|f| self.fault(f))?)
                }
            };
            settings.push(wit::Setting {
                name: name.clone(),
                value,
            });
        }
        Ok((call, settings))
    }

    fn fault(&self, fault: PluginFault) -> Error {
        Error::PluginFault {
            plugin: self.inner.plugin.info.metadata.id.clone(),
            fault,
        }
    }

    async fn run(&self, call: &mut PluginCall, op: Op<'_>) -> Result<OpResult> {
        let timeout = self.inner.host.runtime.limits.call_timeout;
        let pre = &self.inner.plugin.pre;
        let store = &mut call.store;
        let operation = match op {
            Op::Exchange(..) => "exchange_token",
            Op::AuthorizationUrl(..) => "authorization_url",
            Op::Device(..) => "start_device_authorization",
            Op::Placement(..) => "token_placement",
        };
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(timeout, async {
            let instance = pre.instantiate_async(&mut *store).await?;
            let guest = instance.grantbox_plugin_oauth_provider();
            Ok::<_, wasmtime::Error>(match op {
                Op::Exchange(s, r) => {
                    OpResult::Token(guest.call_exchange_token(&mut *store, s, r).await?)
                }
                Op::AuthorizationUrl(s, r) => {
                    OpResult::Url(guest.call_authorization_url(&mut *store, s, r).await?)
                }
                Op::Device(s, scopes) => OpResult::Device(
                    guest
                        .call_start_device_authorization(&mut *store, s, scopes)
                        .await?,
                ),
                Op::Placement(s) => {
                    OpResult::Placement(guest.call_token_placement(&mut *store, s).await?)
                }
            })
        })
        .await;
        self.inner.host.runtime.metrics.plugin_call(
            &self.inner.plugin.info.metadata.id,
            operation,
            started.elapsed(),
        );
        match result {
            Err(_) => Err(self.fault(PluginFault::Timeout(timeout))),
            Ok(Err(e)) => {
                let fault = call.fault(&e);
                tracing::warn!(provider = %self.name(), plugin = %self.inner.plugin.info.metadata.id, %fault, "plugin call failed");
                Err(self.fault(fault))
            }
            Ok(Ok(r)) => Ok(r),
        }
    }

    fn oauth_error(&self, call: &PluginCall, e: wit::OauthError) -> Error {
        let scrub = |s: Option<String>| s.map(|s| call.store.data().redactor.scrub(&s));
        Error::OAuth {
            provider: self.name().to_owned(),
            error: Box::new(OAuthError {
                kind: match e.kind {
                    wit::ErrorKind::InvalidConfig => ErrorKind::InvalidConfig,
                    wit::ErrorKind::InvalidGrant => ErrorKind::InvalidGrant,
                    wit::ErrorKind::InvalidClient => ErrorKind::InvalidClient,
                    wit::ErrorKind::Rejected => ErrorKind::Rejected,
                    wit::ErrorKind::TemporarilyUnavailable => ErrorKind::TemporarilyUnavailable,
                    wit::ErrorKind::Protocol => ErrorKind::Protocol,
                    wit::ErrorKind::Transport => ErrorKind::Transport,
                    wit::ErrorKind::Unsupported => ErrorKind::Unsupported,
                    wit::ErrorKind::AuthorizationPending => ErrorKind::AuthorizationPending,
                    wit::ErrorKind::SlowDown => ErrorKind::SlowDown,
                },
                error: scrub(e.error),
                description: scrub(e.description),
                uri: scrub(e.uri),
                field: e.field,
                status: e.status,
            }),
        }
    }

    /// The contract's form of `grant`, its secrets placed in the call as handles.
    fn wit_grant(&self, call: &mut PluginCall, grant: &Grant) -> Result<wit::Grant> {
        let secret = |call: &mut PluginCall,
                      name: &str,
                      s: &SecretString|
         -> Result<Resource<SecretEntry>> {
            call.secret(name, s).map_err(|f| self.fault(f))
        };
        Ok(match grant {
            Grant::ClientCredentials => wit::Grant::ClientCredentials,
            Grant::Password => wit::Grant::Password,
            Grant::RefreshToken(t) => wit::Grant::RefreshToken(secret(call, "refresh_token", t)?),
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                pkce_verifier,
            } => wit::Grant::AuthorizationCode(wit::CodeExchange {
                code: secret(call, "code", code)?,
                redirect_uri: redirect_uri.clone(),
                pkce_verifier: match pkce_verifier {
                    Some(v) => Some(secret(call, "code_verifier", v)?),
                    None => None,
                },
            }),
            Grant::DeviceCode(d) => wit::Grant::DeviceCode(secret(call, "device_code", d)?),
            Grant::Custom(name) => wit::Grant::Custom(name.clone()),
        })
    }

    /// Performs a grant through the plugin.
    #[tracing::instrument(skip_all, fields(provider = %self.name(), plugin = %self.inner.plugin.info.metadata.id, grant = grant.name()))]
    pub async fn exchange(&self, grant: Grant) -> Result<TokenSet> {
        let started = std::time::Instant::now();
        let (mut call, settings) = self.begin().await?;
        let wit_grant = self.wit_grant(&mut call, &grant)?;
        let request = wit::TokenRequest {
            grant: wit_grant,
            scopes: self.inner.config.scopes.clone(),
        };
        let result = self.run(&mut call, Op::Exchange(&settings, &request)).await;
        let outcome = match result? {
            OpResult::Token(Ok(t)) => self.token_set(t),
            OpResult::Token(Err(e)) => Err(self.oauth_error(&call, e)),
            _ => Err(self.fault(PluginFault::Contract("unexpected result".into()))),
        };
        match &outcome {
            Ok(_) => tracing::info!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
                "token issued"
            ),
            Err(e) => {
                tracing::warn!(elapsed_ms = started.elapsed().as_secs_f64() * 1000.0, error = %e, "token request failed")
            }
        }
        outcome
    }

    fn token_set(&self, t: wit::TokenSet) -> Result<TokenSet> {
        if t.access_token.is_empty() {
            return Err(self.fault(PluginFault::Contract(
                "returned an empty access token".into(),
            )));
        }
        let extra = match t.extra {
            None => serde_json::Map::new(),
            Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(m)) => m,
                _ => {
                    return Err(self.fault(PluginFault::Contract(
                        "token-set.extra is not a JSON object".into(),
                    )));
                }
            },
        };
        Ok(TokenSet {
            access_token: SecretString::from(t.access_token),
            token_type: t.token_type,
            issued_at: SystemTime::now(),
            expires_in: t.expires_in.map(Duration::from_secs),
            refresh_token: t.refresh_token.map(SecretString::from),
            refresh_token_expires_in: t.refresh_token_expires_in.map(Duration::from_secs),
            scopes: t.scopes,
            id_token: t.id_token.map(SecretString::from),
            extra,
        })
    }

    /// Builds the authorization URL for the authorization-code flow.
    pub async fn authorization_url(&self, request: &AuthorizationRequest) -> Result<String> {
        let (mut call, settings) = self.begin().await?;
        let req = wit::AuthorizationRequest {
            redirect_uri: request.redirect_uri.clone(),
            state: request.state.clone(),
            scopes: self.inner.config.scopes.clone(),
            pkce_challenge: request.pkce_challenge.clone(),
            prompt: request.prompt.clone(),
            extra_params: request.extra_params.clone(),
        };
        match self
            .run(&mut call, Op::AuthorizationUrl(&settings, &req))
            .await?
        {
            OpResult::Url(Ok(url)) => {
                parse_http_url(&url).map_err(|m| {
                    self.fault(PluginFault::Contract(format!("authorization URL: {m}")))
                })?;
                Ok(url)
            }
            OpResult::Url(Err(e)) => Err(self.oauth_error(&call, e)),
            _ => Err(self.fault(PluginFault::Contract("unexpected result".into()))),
        }
    }

    /// Starts a device authorization (RFC 8628).
    pub async fn start_device_authorization(&self) -> Result<DeviceAuthorization> {
        let (mut call, settings) = self.begin().await?;
        let scopes = self.inner.config.scopes.clone();
        match self.run(&mut call, Op::Device(&settings, &scopes)).await? {
            OpResult::Device(Ok(d)) => Ok(DeviceAuthorization {
                device_code: SecretString::from(d.device_code),
                user_code: d.user_code,
                verification_uri: d.verification_uri,
                verification_uri_complete: d.verification_uri_complete,
                expires_in: Duration::from_secs(d.expires_in),
                interval: d.interval.map(Duration::from_secs),
            }),
            OpResult::Device(Err(e)) => Err(self.oauth_error(&call, e)),
            _ => Err(self.fault(PluginFault::Contract("unexpected result".into()))),
        }
    }

    /// How tokens of this provider are applied to API requests (asked of the plugin once,
    /// then remembered).
    pub async fn token_placement(&self) -> Result<TokenPlacement> {
        if let Some(p) = self.inner.placement.get() {
            return Ok(p.clone());
        }
        let (mut call, settings) = self.begin().await?;
        let placement = match self.run(&mut call, Op::Placement(&settings)).await? {
            OpResult::Placement(Ok(p)) => match p {
                wit::Placement::Authorization(scheme) => TokenPlacement::Authorization { scheme },
                wit::Placement::Header(h) => TokenPlacement::Header {
                    name: h.name,
                    prefix: h.prefix,
                },
                wit::Placement::Query(name) => TokenPlacement::Query { name },
            },
            OpResult::Placement(Err(e)) => return Err(self.oauth_error(&call, e)),
            _ => return Err(self.fault(PluginFault::Contract("unexpected result".into()))),
        };
        let _ = self.inner.placement.set(placement.clone());
        Ok(placement)
    }

    /// Checks the settings with the plugin, sending nothing: asks for the token placement,
    /// builds the authorization URL or starts the device flow (interactive grants), and
    /// runs the configured grant's token request — with a placeholder code for the
    /// interactive grants — while every outbound request is answered "denied". Fails only
    /// when the plugin answers "invalid configuration", as [`Error::InvalidSetting`] naming
    /// the field; anything else (a plugin that needs the network to tell, a fault) passes
    /// and shows on first use.
    pub async fn check_settings(&self) -> Result<()> {
        let placeholder = || SecretString::from("grantbox-settings-check");
        self.config_error(self.token_placement().await.map(drop))?;
        let grant = match &self.inner.config.grant {
            Some(GrantType::AuthorizationCode) => {
                let redirect_uri = "https://grantbox.invalid/oauth/callback".to_owned();
                let request = AuthorizationRequest {
                    redirect_uri: redirect_uri.clone(),
                    state: "settings-check".into(),
                    pkce_challenge: Some(crate::broker::pkce_challenge("settings-check")),
                    prompt: None,
                    extra_params: Vec::new(),
                };
                self.config_error(self.authorization_url(&request).await.map(drop))?;
                Grant::AuthorizationCode {
                    code: placeholder(),
                    redirect_uri,
                    pkce_verifier: Some(placeholder()),
                }
            }
            Some(GrantType::DeviceCode) => {
                let (mut call, settings) = self.begin_with(true).await?;
                let scopes = self.inner.config.scopes.clone();
                let started = match self.run(&mut call, Op::Device(&settings, &scopes)).await {
                    Ok(OpResult::Device(Err(e))) => Err(self.oauth_error(&call, e)),
                    _ => Ok(()),
                };
                self.config_error(started)?;
                Grant::DeviceCode(placeholder())
            }
            Some(GrantType::ClientCredentials) | None => Grant::ClientCredentials,
            Some(GrantType::Password) => Grant::Password,
            Some(GrantType::Custom(name)) => Grant::Custom(name.clone()),
        };
        let (mut call, settings) = self.begin_with(true).await?;
        let request = wit::TokenRequest {
            grant: self.wit_grant(&mut call, &grant)?,
            scopes: self.inner.config.scopes.clone(),
        };
        let exchanged = match self.run(&mut call, Op::Exchange(&settings, &request)).await {
            Ok(OpResult::Token(Err(e))) => Err(self.oauth_error(&call, e)),
            _ => Ok(()),
        };
        self.config_error(exchanged)
    }

    /// Keeps only a plugin's "invalid configuration" answer, as an invalid setting.
    fn config_error(&self, result: Result<()>) -> Result<()> {
        match result {
            Err(e) => match e.oauth() {
                Some(o) if o.kind == ErrorKind::InvalidConfig => Err(Error::InvalidSetting {
                    provider: self.name().to_owned(),
                    field: o.field.clone().unwrap_or_else(|| "settings".into()),
                    message: o
                        .description
                        .clone()
                        .or_else(|| o.error.clone())
                        .unwrap_or_else(|| "rejected by the plugin".into()),
                }),
                _ => Ok(()),
            },
            Ok(()) => Ok(()),
        }
    }

    /// Creates a fresh plugin instance and drops it, calling nothing (for benchmarks of
    /// the per-call instantiation cost).
    #[doc(hidden)]
    pub async fn instantiate_only(&self) -> Result<()> {
        let (mut call, _settings) = self.begin().await?;
        self.inner
            .plugin
            .pre
            .instantiate_async(&mut call.store)
            .await
            .map_err(|e| self.fault(call.fault(&e)))?;
        Ok(())
    }

    /// Applies `token` to an outgoing API request the way this provider wants it.
    pub async fn authorize(
        &self,
        token: &SecretString,
        request: &mut reqwest::Request,
    ) -> Result<()> {
        let placement = self.token_placement().await?;
        placement
            .apply_to_request(token, request)
            .map_err(|e| Error::Unsupported(e.to_string()))
    }

    /// A description of the settings with secrets redacted (for `show` commands).
    pub fn redacted_settings(&self) -> BTreeMap<String, String> {
        self.inner
            .settings
            .iter()
            .map(|(k, v)| {
                let shown = match v {
                    SettingValue::Secret(s) => {
                        format!("[redacted, {} bytes]", s.expose_secret().len())
                    }
                    other => format!("{other:?}"),
                };
                (k.clone(), shown)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::ConfigField;

    fn field(name: &str, kind: FieldKind, required: bool, default: Option<&str>) -> ConfigField {
        ConfigField {
            name: name.into(),
            kind,
            required,
            default: default.map(Into::into),
            description: format!("the {name}"),
        }
    }

    fn meta() -> PluginMetadata {
        PluginMetadata {
            id: "test".into(),
            display_name: "Test".into(),
            version: "1.0.0".into(),
            description: String::new(),
            grants: vec!["client_credentials".into(), "custom".into()],
            custom_grants: vec!["jwt-bearer".into()],
            hosts: vec![
                "{token_url}".into(),
                "https://{tenant}.login.example.com".into(),
            ],
            config: vec![
                field("token_url", FieldKind::Url, true, None),
                field("tenant", FieldKind::Text, false, None),
                field("client_secret", FieldKind::Secret, false, None),
                field("use_json", FieldKind::Flag, false, Some("false")),
                field("scope_separator", FieldKind::Text, false, Some(" ")),
                field("extra_params", FieldKind::TextMap, false, None),
            ],
        }
    }

    fn err(config: ProviderConfig) -> String {
        validate(&config, &meta())
            .expect_err("should fail")
            .to_string()
    }

    #[test]
    fn valid_config_gets_defaults() {
        let cfg = ProviderConfig::new("acme", "test")
            .setting("token_url", "https://auth.acme.example/token")
            .secret("client_secret", SecretString::from("s3cret-value"));
        let settings = validate(&cfg, &meta()).expect("valid");
        let names: Vec<&str> = settings.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["token_url", "client_secret", "use_json", "scope_separator"]
        );
        assert!(matches!(settings[2].1, SettingValue::Flag(false)));
        assert!(!format!("{settings:?}").contains("s3cret-value"));
    }

    #[test]
    fn errors_name_the_field() {
        let base =
            || ProviderConfig::new("acme", "test").setting("token_url", "https://a.example/t");
        let e = err(ProviderConfig::new("acme", "test"));
        assert!(e.contains("setting `token_url`: required"), "{e}");
        let e = err(base().setting("tokn_url", "x"));
        assert!(
            e.contains("setting `tokn_url`: plugin `test` has no such setting"),
            "{e}"
        );
        let e = err(ProviderConfig::new("acme", "test").setting("token_url", "ftp://x/"));
        assert!(
            e.contains("setting `token_url`: `ftp://x/` is not an http or https URL"),
            "{e}"
        );
        let e = err(ProviderConfig::new("acme", "test").setting("token_url", "not a url"));
        assert!(e.contains("setting `token_url`"), "{e}");
        let e = err(base().setting("client_secret", "inline"));
        assert!(
            e.contains("setting `client_secret`: expected a secret"),
            "{e}"
        );
        let e = err(base().setting("use_json", "yes"));
        assert!(
            e.contains("setting `use_json`: expected true or false, got text"),
            "{e}"
        );
        let e = err(base().grant(GrantType::Password));
        assert!(
            e.contains("setting `grant`: plugin `test` does not support grant `password`"),
            "{e}"
        );
        assert!(
            validate(
                &base().grant(GrantType::Custom("jwt-bearer".into())),
                &meta()
            )
            .is_ok()
        );
    }

    #[test]
    fn declared_origins_are_templated_and_checked() {
        let cfg = ProviderConfig::new("acme", "test")
            .setting("token_url", "http://127.0.0.1:4000/oauth/token")
            .setting("tenant", "contoso");
        let settings = validate(&cfg, &meta()).expect("valid");
        let origins = declared_origins("acme", &meta(), &settings).expect("origins");
        let shown: Vec<String> = origins.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["http://127.0.0.1:4000", "https://contoso.login.example.com"]
        );

        let cfg = ProviderConfig::new("acme", "test")
            .setting("token_url", "https://a.example/t")
            .setting("tenant", "evil.example#");
        let settings = validate(&cfg, &meta()).expect("valid");
        let e = declared_origins("acme", &meta(), &settings)
            .expect_err("refused")
            .to_string();
        assert!(e.contains("setting `tenant`"), "{e}");

        // An unset field skips its pattern.
        let cfg = ProviderConfig::new("acme", "test").setting("token_url", "https://a.example/t");
        let settings = validate(&cfg, &meta()).expect("valid");
        assert_eq!(
            declared_origins("acme", &meta(), &settings)
                .expect("origins")
                .len(),
            1
        );
    }
}
