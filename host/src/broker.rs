//! The token lifecycle: providers and connections kept in a [`Store`], valid access tokens
//! served from an in-memory cache, refreshed ahead of expiry through the provider's plugin
//! — once, however many callers ask at the same time, in this process (single-flight) and
//! across processes sharing the store (a lease row).
//!
//! The rules that keep tokens from being lost:
//! - a new refresh token is committed to the store before the new access token is handed
//!   to anyone; when the provider sends none, the stored one is kept;
//! - a failed refresh never writes a token column;
//! - `invalid_grant` (or rejected client credentials) puts the connection in state `error`
//!   with "reconnect needed" and stops automatic attempts; temporary failures are retried
//!   with backoff and jitter while the still-valid access token is served.

mod connect;
mod plugins;
mod policy;
mod proxy;
mod refresher;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime};

use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;

use crate::error::{Error, ErrorKind, PluginFault, Result};
use crate::host::Host;
use crate::metrics::TokenSource;
use crate::provider::{Provider, ProviderConfig};
use crate::secret::SecretString;
use crate::store::{
    ConnectionRecord, ConnectionState, Failure, NewConnection, ProviderRecord, Store, TokenUpdate,
};
use crate::token::{GrantType, TokenPlacement, TokenSet};

pub use connect::{
    AuthorizationCallback, AuthorizationStart, ConnectOptions, Connected,
    DEFAULT_AUTHORIZATION_TTL, DeviceFlow, SLOW_DOWN_INCREMENT, pkce_challenge,
};
pub use plugins::{ReloadReport, ReplacedPlugin};
pub use policy::RefreshPolicy;
pub use proxy::{PROXY_MAX_BODY, ProxyBody};
pub use refresher::Refresher;

/// A valid access token, as served by [`Broker::get_token`]. Cheap to clone (shared).
pub struct AccessToken {
    value: SecretString,
    token_type: Option<String>,
    expires_at: Option<SystemTime>,
}

impl AccessToken {
    /// The token value (reveal it with [`crate::ExposeSecret`] only where it is sent).
    pub fn secret(&self) -> &SecretString {
        &self.value
    }

    /// `token_type` as the provider stated it.
    pub fn token_type(&self) -> Option<&str> {
        self.token_type.as_deref()
    }

    /// When it expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessToken")
            .field("value", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

struct Cached {
    token: Arc<AccessToken>,
    /// Served until then; afterwards the slow path decides.
    fresh_until: SystemTime,
    loaded: Instant,
}

type Shared = std::result::Result<Arc<AccessToken>, Arc<Error>>;

/// One connection's single-flight slot: the generation counts finished resolutions; a
/// caller that waited while one ran takes its result.
#[derive(Default)]
struct Flight {
    generation: AtomicU64,
    last: tokio::sync::Mutex<Option<Shared>>,
}

struct CachedProvider {
    provider_updated: SystemTime,
    connection_updated: SystemTime,
    /// [`Host::plugin_generation`] when it was created: a new plugin version makes it stale.
    plugins: u64,
    provider: Provider,
}

struct Inner {
    host: Host,
    store: Arc<dyn Store>,
    policy: RefreshPolicy,
    holder: String,
    cache: RwLock<HashMap<String, Cached>>,
    flights: Mutex<HashMap<String, Arc<Flight>>>,
    /// Held while a registration is checked and stored, and during a plugin reload, so a
    /// new plugin version is never installed unchecked against a registration made
    /// meanwhile (in this process).
    registrations: tokio::sync::Mutex<()>,
    providers: Mutex<HashMap<String, CachedProvider>>,
    /// Where and how the proxy sends a connection's API requests (see `proxy`).
    routes: RwLock<HashMap<String, Arc<proxy::Route>>>,
}

/// Serves tokens for connections, keeping them fresh. Cheap to clone.
#[derive(Clone)]
pub struct Broker {
    inner: Arc<Inner>,
}

impl fmt::Debug for Broker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Broker")
            .field("store", &self.inner.store)
            .field("holder", &self.inner.holder)
            .finish()
    }
}

/// How a failed attempt is handled.
#[derive(Clone, Copy)]
enum FailureClass {
    /// Only reconnecting (or fixing the provider's credentials) helps.
    Reconnect,
    /// May work later: retry with backoff, serve the old token while valid.
    Temporary,
    /// Failed for a reason retrying soon will not fix; retried with backoff anyway.
    Failed,
}

fn classify(e: &Error) -> FailureClass {
    match e.root() {
        Error::OAuth { error, .. } => match error.kind {
            ErrorKind::InvalidGrant | ErrorKind::InvalidClient | ErrorKind::InvalidConfig => {
                FailureClass::Reconnect
            }
            ErrorKind::TemporarilyUnavailable
            | ErrorKind::Transport
            | ErrorKind::Protocol
            | ErrorKind::SlowDown
            | ErrorKind::AuthorizationPending => FailureClass::Temporary,
            _ => FailureClass::Failed,
        },
        Error::PluginFault {
            fault: PluginFault::Timeout(_),
            ..
        } => FailureClass::Temporary,
        Error::InvalidSetting { .. } | Error::UnknownPlugin(_) | Error::ReconnectNeeded { .. } => {
            FailureClass::Reconnect
        }
        _ => FailureClass::Failed,
    }
}

fn holder_id() -> String {
    let mut r = [0u8; 8];
    OsRng.fill_bytes(&mut r);
    let r: String = r.iter().map(|b| format!("{b:02x}")).collect();
    format!("pid{}-{r}", std::process::id())
}

impl Broker {
    /// A broker over `store`, running plugins on `host`, with the default policy.
    pub fn new(host: Host, store: Arc<dyn Store>) -> Self {
        Self::with_policy(host, store, RefreshPolicy::default())
    }

    /// A broker with a custom policy.
    pub fn with_policy(host: Host, store: Arc<dyn Store>, policy: RefreshPolicy) -> Self {
        Self {
            inner: Arc::new(Inner {
                host,
                store,
                policy,
                holder: holder_id(),
                cache: RwLock::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
                registrations: tokio::sync::Mutex::new(()),
                providers: Mutex::new(HashMap::new()),
                routes: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.inner.store
    }

    /// The host running the plugins.
    pub fn host(&self) -> &Host {
        &self.inner.host
    }

    /// The policy.
    pub fn policy(&self) -> &RefreshPolicy {
        &self.inner.policy
    }

    // ----- registrations -----

    /// Validates a provider registration: its settings against the plugin's declared
    /// fields, then with the plugin ([`Provider::check_settings`], nothing sent). A value
    /// the plugin rejects is an error only when the provider sets that field: one it leaves
    /// unset may come from each connection (e.g. a user's password).
    async fn check_provider(&self, config: &ProviderConfig) -> Result<()> {
        check_registration(&self.inner.host.provider(config.clone())?, config).await
    }

    /// Registers a provider after validating its settings (see `check_provider`: declared
    /// fields, then the plugin's own checks). Nothing is written when validation fails.
    pub async fn add_provider(&self, config: ProviderConfig) -> Result<()> {
        let _registering = self.inner.registrations.lock().await;
        self.check_provider(&config).await?;
        self.inner
            .store
            .create_provider(&ProviderRecord::from_config(&config))
            .await
    }

    /// Replaces a provider's settings (validated first). Connections using it pick the new
    /// settings up on their next refresh; a connection waiting for reconnection gets one
    /// new attempt.
    pub async fn update_provider(&self, config: ProviderConfig) -> Result<()> {
        let _registering = self.inner.registrations.lock().await;
        self.check_provider(&config).await?;
        let existing = self
            .inner
            .store
            .provider(&config.name)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "provider",
                name: config.name.clone(),
            })?;
        let mut record = ProviderRecord::from_config(&config);
        record.created_at = existing.created_at;
        self.inner.store.update_provider(&record).await?;
        // Its connections may now apply tokens differently.
        if let Ok(mut routes) = self.inner.routes.write() {
            routes.clear();
        }
        Ok(())
    }

    /// Creates a connection after validating its effective settings (plugin defaults <
    /// provider < the connection's overrides), first against the plugin's declared fields,
    /// then with the plugin itself ([`Provider::check_settings`]: nothing is sent). Nothing
    /// is written when validation fails.
    pub async fn add_connection(&self, connection: NewConnection) -> Result<()> {
        if connection.id.is_empty() {
            return Err(Error::InvalidSetting {
                provider: connection.provider.clone(),
                field: "id".into(),
                message: "a connection id must not be empty".into(),
            });
        }
        if let Some(url) = &connection.api_base_url {
            crate::provider::parse_http_url(url).map_err(|message| Error::InvalidSetting {
                provider: connection.provider.clone(),
                field: "api_base_url".into(),
                message,
            })?;
        }
        let _registering = self.inner.registrations.lock().await;
        let provider = self
            .inner
            .store
            .provider(&connection.provider)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "provider",
                name: connection.provider.clone(),
            })?;
        self.inner
            .host
            .provider(connection.overrides.apply(&connection.id, &provider))?
            .check_settings()
            .await?;
        self.inner.store.create_connection(&connection).await
    }

    /// Removes a connection (and forgets its cached token).
    pub async fn remove_connection(&self, id: &str) -> Result<bool> {
        let existed = self.inner.store.delete_connection(id).await?;
        self.forget(id);
        Ok(existed)
    }

    /// Disconnects a connection: deletes its tokens (the provider is not told; revoke there
    /// if needed). It keeps its settings and can be connected again.
    pub async fn disconnect(&self, id: &str) -> Result<()> {
        let flight = self.flight(id);
        let _serialised = flight.last.lock().await;
        if !self.inner.store.clear_tokens(id).await? {
            return Err(Error::NotFound {
                what: "connection",
                name: id.to_owned(),
            });
        }
        self.forget(id);
        tracing::info!(connection = %id, "disconnected");
        Ok(())
    }

    /// Enables or disables a connection.
    pub async fn set_active(&self, id: &str, active: bool) -> Result<()> {
        if !self.inner.store.set_active(id, active).await? {
            return Err(Error::NotFound {
                what: "connection",
                name: id.to_owned(),
            });
        }
        self.forget(id);
        Ok(())
    }

    /// The provider as a connection sees it: its effective, validated settings (show them
    /// with [`Provider::redacted_settings`]).
    pub async fn effective_provider(&self, id: &str) -> Result<Provider> {
        let record = self.load(id).await?;
        self.provider_for(&record).await
    }

    fn forget(&self, id: &str) {
        if let Ok(mut cache) = self.inner.cache.write() {
            cache.remove(id);
        }
        if let Ok(mut p) = self.inner.providers.lock() {
            p.remove(id);
        }
        self.forget_route(id);
    }

    async fn load(&self, id: &str) -> Result<ConnectionRecord> {
        self.inner
            .store
            .connection(id)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "connection",
                name: id.to_owned(),
            })
    }

    async fn provider_for(&self, record: &ConnectionRecord) -> Result<Provider> {
        let provider = self
            .inner
            .store
            .provider(&record.provider)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "provider",
                name: record.provider.clone(),
            })?;
        let plugins = self.inner.host.plugin_generation();
        if let Ok(cache) = self.inner.providers.lock()
            && let Some(c) = cache.get(&record.id)
            && c.provider_updated == provider.updated_at
            && c.connection_updated == record.updated_at
            && c.plugins == plugins
        {
            return Ok(c.provider.clone());
        }
        let built = self
            .inner
            .host
            .provider(record.overrides.apply(&record.id, &provider))?;
        if let Ok(mut cache) = self.inner.providers.lock() {
            cache.insert(
                record.id.clone(),
                CachedProvider {
                    provider_updated: provider.updated_at,
                    connection_updated: record.updated_at,
                    plugins,
                    provider: built.clone(),
                },
            );
        }
        Ok(built)
    }

    // ----- tokens -----

    /// A valid access token for connection `id`: from memory when it is not within its
    /// refresh window, else from the store, else refreshed through the plugin (once for all
    /// concurrent callers, and across processes sharing the store).
    pub async fn get_token(&self, id: &str) -> Result<Arc<AccessToken>> {
        if let Some(t) = self.cached(id) {
            self.inner.host.metrics().token_read(TokenSource::Cache);
            return Ok(t);
        }
        self.single_flight(id, false).await
    }

    /// Refreshes now, whatever the token's age (also retries a connection that needs
    /// reconnecting, e.g. after its credentials were fixed).
    pub async fn refresh(&self, id: &str) -> Result<Arc<AccessToken>> {
        self.single_flight(id, true).await
    }

    /// How this connection's tokens are applied to API requests.
    pub async fn placement(&self, id: &str) -> Result<TokenPlacement> {
        let record = self.load(id).await?;
        self.provider_for(&record).await?.token_placement().await
    }

    /// The in-memory hot path.
    fn cached(&self, id: &str) -> Option<Arc<AccessToken>> {
        let cache = self.inner.cache.read().ok()?;
        let c = cache.get(id)?;
        if SystemTime::now() < c.fresh_until && c.loaded.elapsed() < self.inner.policy.cache_max_age
        {
            Some(Arc::clone(&c.token))
        } else {
            None
        }
    }

    fn remember(&self, id: &str, token: Arc<AccessToken>, fresh_until: SystemTime) {
        // New tokens may carry a new API base URL (Salesforce `instance_url`).
        self.forget_route(id);
        if let Ok(mut cache) = self.inner.cache.write() {
            cache.insert(
                id.to_owned(),
                Cached {
                    token,
                    fresh_until,
                    loaded: Instant::now(),
                },
            );
        }
    }

    fn flight(&self, id: &str) -> Arc<Flight> {
        let mut flights = match self.inner.flights.lock() {
            Ok(f) => f,
            Err(p) => p.into_inner(),
        };
        Arc::clone(flights.entry(id.to_owned()).or_default())
    }

    async fn single_flight(&self, id: &str, force: bool) -> Result<Arc<AccessToken>> {
        let flight = self.flight(id);
        let seen = flight.generation.load(Ordering::Acquire);
        let mut last = flight.last.lock().await;
        if flight.generation.load(Ordering::Acquire) != seen
            && let Some(result) = last.as_ref()
        {
            // Someone resolved this connection while we waited: share its result.
            return result.clone().map_err(Error::Shared);
        }
        if !force && let Some(t) = self.cached(id) {
            return Ok(t);
        }
        let result: Shared = self.resolve(id, force).await.map_err(Arc::new);
        *last = Some(result.clone());
        flight.generation.fetch_add(1, Ordering::Release);
        result.map_err(Error::Shared)
    }

    /// Fresh means servable without an upstream call now.
    fn fresh_until(&self, record: &ConnectionRecord) -> Option<SystemTime> {
        let token = record.token.as_ref()?;
        let usable_until = match token.expires_at {
            Some(e) => e.checked_sub(self.inner.policy.expiry_skew)?,
            None => SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600),
        };
        let until = match record.refresh_at {
            Some(r) => r.min(usable_until),
            None => usable_until,
        };
        (SystemTime::now() < until).then_some(until)
    }

    fn serve(
        &self,
        record: &ConnectionRecord,
        fresh_until: SystemTime,
    ) -> Option<Arc<AccessToken>> {
        let token = record.token.as_ref()?;
        self.inner.host.metrics().token_read(TokenSource::Store);
        let t = Arc::new(AccessToken {
            value: token.access_token.clone(),
            token_type: token.token_type.clone(),
            expires_at: token.expires_at,
        });
        self.remember(&record.id, Arc::clone(&t), fresh_until);
        Some(t)
    }

    async fn resolve(&self, id: &str, force: bool) -> Result<Arc<AccessToken>> {
        let record = self.load(id).await?;
        if !record.active {
            return Err(Error::Disabled(id.to_owned()));
        }
        if !force {
            if record.reconnect_needed && !self.settings_changed_since_error(&record).await? {
                return Err(Error::ReconnectNeeded {
                    connection: id.to_owned(),
                    message: record.last_message.clone().unwrap_or_default(),
                });
            }
            if let Some(until) = self.fresh_until(&record)
                && let Some(t) = self.serve(&record, until)
            {
                return Ok(t);
            }
        }
        self.refresh_with_lease(record, force).await
    }

    /// A connection that needs reconnecting gets a new attempt once its own or its
    /// provider's settings changed after the error.
    async fn settings_changed_since_error(&self, record: &ConnectionRecord) -> Result<bool> {
        let Some(at) = record.last_error_at else {
            return Ok(false);
        };
        if record.updated_at > at {
            return Ok(true);
        }
        Ok(self
            .inner
            .store
            .provider(&record.provider)
            .await?
            .is_some_and(|p| p.updated_at > at))
    }

    async fn refresh_with_lease(
        &self,
        record: ConnectionRecord,
        force: bool,
    ) -> Result<Arc<AccessToken>> {
        let policy = &self.inner.policy;
        let store = &self.inner.store;
        let id = record.id.clone();
        let holder = &self.inner.holder;
        let deadline = Instant::now() + policy.lease_wait;
        let start_count = record.refresh_count;
        while !store.try_lease(&id, holder, policy.lease_ttl).await? {
            tokio::time::sleep(policy.lease_poll).await;
            let now = self.load(&id).await?;
            // Another process finished a refresh while we waited: use its result.
            if now.refresh_count != start_count
                && let Some(until) = self.fresh_until(&now)
                && let Some(t) = self.serve(&now, until)
            {
                return Ok(t);
            }
            if Instant::now() > deadline {
                return Err(Error::LeaseTimeout(id));
            }
        }
        let renewer = self.renew_lease(&id);
        let result = async {
            // Re-read under the lease: another process may have committed just before.
            let record = self.load(&id).await?;
            if !force
                && record.refresh_count != start_count
                && let Some(until) = self.fresh_until(&record)
                && let Some(t) = self.serve(&record, until)
            {
                return Ok(t);
            }
            self.attempt(record, force).await
        }
        .await;
        renewer.abort();
        if let Err(e) = store.release_lease(&id, holder).await {
            tracing::warn!(connection = %id, error = %e, "could not release the refresh lease (it will expire)");
        }
        result
    }

    fn renew_lease(&self, id: &str) -> tokio::task::JoinHandle<()> {
        let broker = self.clone();
        let id = id.to_owned();
        tokio::spawn(async move {
            let every = broker.inner.policy.lease_ttl / 3;
            loop {
                tokio::time::sleep(every).await;
                let inner = &broker.inner;
                match inner
                    .store
                    .try_lease(&id, &inner.holder, inner.policy.lease_ttl)
                    .await
                {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(connection = %id, "lost the refresh lease while refreshing");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(connection = %id, error = %e, "could not renew the refresh lease")
                    }
                }
            }
        })
    }

    /// [`Broker::attempt_inner`] in a `token_exchange` span (provider, connection, grant,
    /// outcome, duration; never a secret), counted in the metrics.
    async fn attempt(&self, record: ConnectionRecord, force: bool) -> Result<Arc<AccessToken>> {
        use tracing::Instrument as _;
        let span = tracing::info_span!(
            "token_exchange",
            provider = %record.provider,
            connection = %record.id,
            grant = tracing::field::Empty,
            outcome = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
        );
        let started = Instant::now();
        let grant = if record.refresh_token.is_some() {
            "refresh_token".to_owned()
        } else {
            record
                .overrides
                .grant
                .as_ref()
                .map(|g| g.name().to_owned())
                .unwrap_or_else(|| "configured".to_owned())
        };
        span.record("grant", grant.as_str());
        let result = self
            .attempt_inner(record, force)
            .instrument(span.clone())
            .await;
        let metrics = self.inner.host.metrics();
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => {
                metrics.failure(&failure_kind(e));
                match classify(e) {
                    FailureClass::Reconnect => "reconnect_needed",
                    FailureClass::Temporary => "temporary",
                    FailureClass::Failed => "failed",
                }
            }
        };
        metrics.exchange(&grant, outcome);
        span.record("outcome", outcome);
        span.record("duration_ms", started.elapsed().as_millis() as u64);
        let _entered = span.enter();
        tracing::info!("token exchange finished");
        result
    }

    /// One upstream exchange (with inline retries when the token is already expired and
    /// the failure is temporary), committed before it is returned.
    async fn attempt_inner(
        &self,
        record: ConnectionRecord,
        force: bool,
    ) -> Result<Arc<AccessToken>> {
        let id = record.id.as_str();
        let policy = &self.inner.policy;
        let provider = match self.provider_for(&record).await {
            Ok(p) => p,
            Err(e) => {
                self.record(id, &record, &e, FailureClass::Reconnect).await;
                return Err(e);
            }
        };
        let grant = provider.config().grant.clone();
        let mut attempt = 1;
        loop {
            let outcome = match (&record.refresh_token, &grant) {
                (Some(rt), _) => provider.refresh(rt).await,
                (None, Some(GrantType::AuthorizationCode | GrantType::DeviceCode)) => {
                    // Nothing to renew with (e.g. LinkedIn issues refresh tokens only to
                    // partners): the access token serves until it expires.
                    let usable_until = record.token.as_ref().map(|t| {
                        t.expires_at
                            .and_then(|e| e.checked_sub(policy.expiry_skew))
                            .unwrap_or_else(|| {
                                SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600)
                            })
                    });
                    if let Some(until) = usable_until.filter(|u| SystemTime::now() < *u) {
                        if !force && let Some(t) = self.serve(&record, until) {
                            return Ok(t);
                        }
                        return Err(Error::ReconnectNeeded {
                            connection: id.to_owned(),
                            message: "the provider issued no refresh token: the access token \
                                      cannot be renewed before it expires; connect the account \
                                      again for a new one"
                                .into(),
                        });
                    }
                    Err(Error::ReconnectNeeded {
                        connection: id.to_owned(),
                        message: if record.token.is_some() {
                            "the access token expired and the provider issued no refresh \
                             token; connect the account again"
                                .into()
                        } else {
                            "not connected yet; connect the account".into()
                        },
                    })
                }
                (None, _) => provider.fetch_token().await,
            };
            let error = match outcome {
                Ok(tokens) => {
                    let interactive = matches!(
                        grant,
                        Some(GrantType::AuthorizationCode | GrantType::DeviceCode)
                    );
                    return self.commit(&record, tokens, interactive).await;
                }
                Err(e) => e,
            };
            let class = classify(&error);
            match class {
                FailureClass::Temporary => {
                    // The current token is still good: serve it, try again later (a forced
                    // refresh reports the failure instead).
                    if !force
                        && let Some(token) = &record.token
                        && token
                            .expires_at
                            .is_none_or(|e| SystemTime::now() + policy.expiry_skew < e)
                    {
                        let retry_at = self.record(id, &record, &error, class).await;
                        let until = token
                            .expires_at
                            .map(|e| e - policy.expiry_skew)
                            .map_or(retry_at, |e| retry_at.min(e));
                        if let Some(t) = self.serve(&record, until) {
                            tracing::warn!(connection = %id, error = %error, "refresh failed; serving the current token until it expires");
                            return Ok(t);
                        }
                    }
                    if attempt < policy.inline_attempts {
                        tokio::time::sleep(policy.inline_delay(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                }
                FailureClass::Reconnect | FailureClass::Failed => {}
            }
            let reconnect = matches!(class, FailureClass::Reconnect);
            self.record(id, &record, &error, class).await;
            tracing::warn!(connection = %id, error = %error, reconnect_needed = reconnect, "token refresh failed");
            let dead_grant = error.oauth().is_some_and(|o| {
                matches!(o.kind, ErrorKind::InvalidGrant | ErrorKind::InvalidClient)
            });
            if dead_grant {
                return Err(Error::ReconnectNeeded {
                    connection: id.to_owned(),
                    message: error.to_string(),
                });
            }
            return Err(error);
        }
    }

    /// Records a failure (never touching tokens). Returns the retry time it set.
    async fn record(
        &self,
        id: &str,
        record: &ConnectionRecord,
        error: &Error,
        class: FailureClass,
    ) -> SystemTime {
        let policy = &self.inner.policy;
        let retry_at = SystemTime::now() + policy.retry_delay(record.failures.saturating_add(1));
        let (state, reconnect, retry, message) = match class {
            FailureClass::Reconnect => (
                ConnectionState::Error,
                true,
                None,
                if error
                    .oauth()
                    .is_some_and(|o| o.kind == ErrorKind::InvalidConfig)
                    || matches!(
                        error.root(),
                        Error::InvalidSetting { .. } | Error::UnknownPlugin(_)
                    )
                {
                    format!("configuration error (fix the settings): {error}")
                } else {
                    format!("reconnect needed: {error}")
                },
            ),
            FailureClass::Temporary
                if record.token.as_ref().is_some_and(|t| {
                    t.expires_at
                        .is_none_or(|e| SystemTime::now() + policy.expiry_skew < e)
                }) =>
            {
                (
                    record.state,
                    false,
                    Some(retry_at),
                    format!("refresh failed, serving the current token: {error}"),
                )
            }
            FailureClass::Temporary | FailureClass::Failed => (
                ConnectionState::Error,
                false,
                Some(retry_at),
                error.to_string(),
            ),
        };
        let failure = Failure {
            state,
            reconnect_needed: reconnect,
            message,
            retry_at: retry,
        };
        if let Err(e) = self.inner.store.record_failure(id, &failure).await {
            tracing::error!(connection = %id, error = %e, "could not record a failed refresh");
        }
        self.forget_token(id);
        retry_at
    }

    fn forget_token(&self, id: &str) {
        if let Ok(mut cache) = self.inner.cache.write() {
            cache.remove(id);
        }
    }

    /// Stores new tokens (durably, before anyone gets them). `interactive`: the grant needs
    /// a user, so without a refresh token (new or stored) there is nothing to renew with and
    /// no refresh is scheduled — the access token serves until it expires.
    async fn commit(
        &self,
        record: &ConnectionRecord,
        tokens: TokenSet,
        interactive: bool,
    ) -> Result<Arc<AccessToken>> {
        let policy = &self.inner.policy;
        let expires_at = tokens.expires_at();
        let renewable =
            !interactive || tokens.refresh_token.is_some() || record.refresh_token.is_some();
        let refresh_at = if renewable {
            policy.refresh_at(tokens.issued_at, expires_at)
        } else {
            None
        };
        let update = TokenUpdate {
            access_token: &tokens.access_token,
            token_type: tokens.token_type.as_deref(),
            refresh_token: tokens.refresh_token.as_ref(),
            id_token: tokens.id_token.as_ref(),
            scopes: tokens.scopes.as_deref(),
            extra: &tokens.extra,
            issued_at: tokens.issued_at,
            expires_at,
            refresh_at,
        };
        // The provider may have just rotated the refresh token: try hard to keep it.
        let mut tries = 0;
        loop {
            match self.inner.store.save_tokens(&record.id, &update).await {
                Ok(()) => break,
                Err(e) if tries < 5 && !matches!(e, Error::NotFound { .. }) => {
                    tries += 1;
                    tracing::warn!(connection = %record.id, error = %e, "saving tokens failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_millis(50 << tries)).await;
                }
                Err(e) => {
                    tracing::error!(connection = %record.id, error = %e, "new tokens could not be saved");
                    return Err(e);
                }
            }
        }
        tracing::info!(
            connection = %record.id,
            rotated = tokens.refresh_token.is_some(),
            expires_in = ?tokens.expires_in,
            "tokens refreshed"
        );
        self.inner.host.metrics().token_read(TokenSource::Upstream);
        let token = Arc::new(AccessToken {
            value: tokens.access_token,
            token_type: tokens.token_type,
            expires_at,
        });
        let until = [
            refresh_at,
            expires_at.and_then(|e| e.checked_sub(policy.expiry_skew)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or_else(|| SystemTime::now() + std::time::Duration::from_secs(365 * 24 * 3600));
        self.remember(&record.id, Arc::clone(&token), until);
        Ok(token)
    }
}

/// A metrics label for an error: the OAuth error kind, or the host-side cause.
fn failure_kind(e: &Error) -> String {
    if let Some(o) = e.oauth() {
        return serde_json::to_value(o.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "oauth".into());
    }
    match e.root() {
        Error::PluginFault { .. } => "plugin_fault",
        Error::ReconnectNeeded { .. } => "reconnect_needed",
        Error::Store(_) => "store",
        Error::Crypto(_) => "crypto",
        Error::LeaseTimeout(_) => "lease_timeout",
        Error::InvalidSetting { .. } | Error::UnknownPlugin(_) => "configuration",
        _ => "other",
    }
    .to_owned()
}

/// The plugin's settings check of a provider registration (`config`, served by
/// `provider`): a complaint about a field the registration leaves unset is deferred to the
/// connections, which may set it (e.g. a user's password).
async fn check_registration(provider: &Provider, config: &ProviderConfig) -> Result<()> {
    match provider.check_settings().await {
        Err(Error::InvalidSetting { field, .. }) if !config.settings.contains_key(&field) => Ok(()),
        other => other,
    }
}
