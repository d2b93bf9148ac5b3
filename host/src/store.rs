//! Persistent state: provider registrations, connections and their tokens, refresh leases,
//! pending authorization-code flows and admin API keys.
//!
//! The [`Store`] trait is what the token lifecycle ([`crate::broker`]) needs from a database;
//! [`SqliteStore`] is the embedded default (one file, WAL, migrations run on open). Every
//! secret is sealed with the [`Keyring`](crate::crypto::Keyring) before it is written, so a
//! plain read of the database shows no secret.

mod codec;
mod sqlite;

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::provider::{ProviderConfig, SettingValue};
use crate::secret::SecretString;
use crate::token::GrantType;

pub use sqlite::SqliteStore;

/// A provider registration: which plugin serves it and the settings shared by every
/// connection that uses it.
#[derive(Debug, Clone)]
pub struct ProviderRecord {
    /// Unique name (e.g. `azure-prod`).
    pub name: String,
    /// Plugin id.
    pub plugin: String,
    /// Grant for non-interactive fetches.
    pub grant: Option<GrantType>,
    /// Default scopes.
    pub scopes: Vec<String>,
    /// Plugin settings, secrets included (sealed at rest).
    pub settings: BTreeMap<String, SettingValue>,
    /// When it was registered.
    pub created_at: SystemTime,
    /// When its settings last changed.
    pub updated_at: SystemTime,
}

impl ProviderRecord {
    /// A record from a provider configuration.
    pub fn from_config(config: &ProviderConfig) -> Self {
        let now = SystemTime::now();
        Self {
            name: config.name.clone(),
            plugin: config.plugin.clone(),
            grant: config.grant.clone(),
            scopes: config.scopes.clone(),
            settings: config.settings.clone(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The provider's own configuration (without any connection's overrides).
    pub fn to_config(&self) -> ProviderConfig {
        ProviderConfig {
            name: self.name.clone(),
            plugin: self.plugin.clone(),
            grant: self.grant.clone(),
            scopes: self.scopes.clone(),
            settings: self.settings.clone(),
        }
    }
}

/// What a connection changes of its provider's settings (scopes, grant, any plugin setting
/// such as a per-user password or extra parameters).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// Grant instead of the provider's.
    pub grant: Option<GrantType>,
    /// Scopes instead of the provider's.
    pub scopes: Option<Vec<String>>,
    /// Settings merged over the provider's (a key here wins).
    pub settings: BTreeMap<String, SettingValue>,
}

impl Overrides {
    /// The effective configuration: plugin defaults (applied at validation) < provider <
    /// these overrides. The result is named after the connection.
    pub fn apply(&self, connection: &str, provider: &ProviderRecord) -> ProviderConfig {
        let mut config = provider.to_config();
        config.name = format!("{}/{connection}", provider.name);
        if let Some(g) = &self.grant {
            config.grant = Some(g.clone());
        }
        if let Some(s) = &self.scopes {
            config.scopes = s.clone();
        }
        for (k, v) in &self.settings {
            config.settings.insert(k.clone(), v.clone());
        }
        config
    }
}

/// A connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Never connected.
    Default,
    /// Holds tokens that worked the last time.
    Connected,
    /// The last attempt failed (see the last message).
    Error,
}

impl ConnectionState {
    /// Its name in the database and in output.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Default => "default",
            ConnectionState::Connected => "connected",
            ConnectionState::Error => "error",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "default" => Self::Default,
            "connected" => Self::Connected,
            "error" => Self::Error,
            _ => return None,
        })
    }
}

impl fmt::Display for ConnectionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The tokens a connection holds.
#[derive(Debug, Clone)]
pub struct StoredToken {
    /// The access token.
    pub access_token: SecretString,
    /// `token_type`.
    pub token_type: Option<String>,
    /// An OpenID Connect ID token.
    pub id_token: Option<SecretString>,
    /// Granted scopes, if the provider said.
    pub scopes: Option<Vec<String>>,
    /// Other fields of the token response (e.g. `instance_url`).
    pub extra: Map<String, Value>,
    /// When the access token was issued.
    pub issued_at: SystemTime,
    /// When the access token expires, if known.
    pub expires_at: Option<SystemTime>,
}

/// A connection: one account's use of a provider, with its tokens and state.
#[derive(Debug, Clone)]
pub struct ConnectionRecord {
    /// Unique id (e.g. `crm-sync` or a user id).
    pub id: String,
    /// The provider it uses.
    pub provider: String,
    /// What it overrides of the provider's settings.
    pub overrides: Overrides,
    /// Base URL of the API the tokens are for (informational; used by the proxy).
    pub api_base_url: Option<String>,
    /// Whether tokens are served.
    pub active: bool,
    /// Whether the background refresher keeps its token fresh ahead of expiry.
    pub auto_refresh: bool,
    /// State.
    pub state: ConnectionState,
    /// In state `error`: the grant is dead and only reconnecting helps.
    pub reconnect_needed: bool,
    /// The last message (error or warning).
    pub last_message: Option<String>,
    /// When the last error happened.
    pub last_error_at: Option<SystemTime>,
    /// Consecutive failed attempts (drives the backoff).
    pub failures: u32,
    /// The access token and what came with it, once connected.
    pub token: Option<StoredToken>,
    /// The refresh token, if any (kept apart: it may be imported before any access token).
    pub refresh_token: Option<SecretString>,
    /// When a refresh is next due (refresh window, or the retry time after a failure).
    pub refresh_at: Option<SystemTime>,
    /// When the tokens were last obtained.
    pub last_refreshed_at: Option<SystemTime>,
    /// How many times tokens were obtained.
    pub refresh_count: u64,
    /// Created.
    pub created_at: SystemTime,
    /// Settings last changed.
    pub updated_at: SystemTime,
}

/// A new connection.
#[derive(Debug, Clone, Default)]
pub struct NewConnection {
    /// Unique id.
    pub id: String,
    /// Provider name.
    pub provider: String,
    /// Overrides of the provider's settings.
    pub overrides: Overrides,
    /// Base URL of the API it serves.
    pub api_base_url: Option<String>,
    /// Keep the token fresh in the background.
    pub auto_refresh: bool,
    /// A refresh token obtained elsewhere (imported), if any.
    pub refresh_token: Option<SecretString>,
}

/// Tokens just obtained, to be committed.
#[derive(Debug)]
pub struct TokenUpdate<'a> {
    /// The access token.
    pub access_token: &'a SecretString,
    /// `token_type`.
    pub token_type: Option<&'a str>,
    /// A new refresh token; `None` keeps the stored one.
    pub refresh_token: Option<&'a SecretString>,
    /// A new ID token; `None` keeps the stored one.
    pub id_token: Option<&'a SecretString>,
    /// Granted scopes; `None` keeps the stored ones.
    pub scopes: Option<&'a [String]>,
    /// Extra fields of the response.
    pub extra: &'a Map<String, Value>,
    /// Issued.
    pub issued_at: SystemTime,
    /// Expires.
    pub expires_at: Option<SystemTime>,
    /// When to refresh next.
    pub refresh_at: Option<SystemTime>,
}

/// A failed attempt, to be recorded. Token columns are never touched by it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The new state (`error`, or `connected` when a still-valid token is being served).
    pub state: ConnectionState,
    /// Only reconnecting helps.
    pub reconnect_needed: bool,
    /// Message for the operator.
    pub message: String,
    /// When to try again (`None`: not automatically).
    pub retry_at: Option<SystemTime>,
}

/// An authorization-code flow in flight, between the redirect to the provider and its
/// callback (RFC 6749 §4.1, PKCE per RFC 7636, `state` per RFC 9700 §4.7).
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    /// Hex BLAKE3 hash of the `state` value (the value itself is never stored).
    pub state_hash: String,
    /// The connection the flow is bound to.
    pub connection: String,
    /// The redirect URI sent in the authorization request (sent again with the code).
    pub redirect_uri: String,
    /// The PKCE code verifier.
    pub pkce_verifier: SecretString,
    /// Where to send the user afterwards (admin page), if anywhere.
    pub return_to: Option<String>,
    /// Created.
    pub created_at: SystemTime,
    /// The callback is refused after this.
    pub expires_at: SystemTime,
}

/// An admin API key (the key itself is shown once at creation, then only its hash exists).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// Public id (also the key's visible prefix).
    pub id: String,
    /// What it is for.
    pub name: String,
    /// Hex BLAKE3 hash of the whole key.
    pub key_hash: String,
    /// Created.
    pub created_at: SystemTime,
    /// Revoked, if it was.
    pub revoked_at: Option<SystemTime>,
}

/// An admin-page session (the cookie value itself is never stored, only its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSessionRecord {
    /// Hex BLAKE3 hash of the session cookie's value.
    pub id_hash: String,
    /// The API key the session was opened with; the session ends with it.
    pub key_id: String,
    /// Opened.
    pub created_at: SystemTime,
    /// Ends.
    pub expires_at: SystemTime,
}

/// What the token lifecycle needs from a database. Implementations must make
/// [`Store::save_tokens`] durable before returning, and must never change token columns in
/// [`Store::record_failure`].
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Registers a provider; fails with `AlreadyExists` if the name is taken.
    async fn create_provider(&self, provider: &ProviderRecord) -> Result<()>;
    /// Replaces a provider's settings; fails with `NotFound`.
    async fn update_provider(&self, provider: &ProviderRecord) -> Result<()>;
    /// A provider by name.
    async fn provider(&self, name: &str) -> Result<Option<ProviderRecord>>;
    /// All providers, by name.
    async fn providers(&self) -> Result<Vec<ProviderRecord>>;
    /// Removes a provider; fails with `Conflict` while connections use it. Returns whether
    /// it existed.
    async fn delete_provider(&self, name: &str) -> Result<bool>;

    /// Creates a connection in state `default`; fails with `AlreadyExists` or `NotFound`
    /// (provider).
    async fn create_connection(&self, connection: &NewConnection) -> Result<()>;
    /// A connection by id, tokens opened.
    async fn connection(&self, id: &str) -> Result<Option<ConnectionRecord>>;
    /// All connections (of one provider, if given), by id.
    async fn connections(&self, provider: Option<&str>) -> Result<Vec<ConnectionRecord>>;
    /// Removes a connection. Returns whether it existed.
    async fn delete_connection(&self, id: &str) -> Result<bool>;
    /// Enables or disables a connection. Returns whether it exists.
    async fn set_active(&self, id: &str, active: bool) -> Result<bool>;

    /// Commits tokens just obtained: state `connected`, failures cleared, refresh token
    /// replaced only when a new one is given. Durable when it returns.
    async fn save_tokens(&self, id: &str, update: &TokenUpdate<'_>) -> Result<()>;
    /// Forgets a connection's tokens (access, refresh, ID token and their metadata): state
    /// `default`, message "disconnected". Returns whether it exists.
    async fn clear_tokens(&self, id: &str) -> Result<bool>;
    /// Records a failed attempt. Leaves every token column as it is.
    async fn record_failure(&self, id: &str, failure: &Failure) -> Result<()>;

    /// Takes the refresh lease of a connection for `ttl`, if it is free or expired (or
    /// already held by `holder`, then renewed). Returns whether `holder` holds it now.
    async fn try_lease(&self, id: &str, holder: &str, ttl: Duration) -> Result<bool>;
    /// Gives the lease back (only if `holder` holds it).
    async fn release_lease(&self, id: &str, holder: &str) -> Result<()>;

    /// Ids of active auto-refresh connections whose refresh is due at `now`, soonest first,
    /// at most `limit` (served by an index: cost independent of the number of connections).
    async fn due_connections(&self, now: SystemTime, limit: u32) -> Result<Vec<String>>;

    /// Records an authorization flow in flight.
    async fn create_authorization(&self, pending: &PendingAuthorization) -> Result<()>;
    /// Takes (deletes and returns) the flow whose state hashes to `state_hash`, expired or
    /// not (the caller checks); a second take of the same state finds nothing. Also deletes
    /// flows that expired before `now`.
    async fn take_authorization(
        &self,
        state_hash: &str,
        now: SystemTime,
    ) -> Result<Option<PendingAuthorization>>;

    /// Stores a new API key; fails with `AlreadyExists` if the id is taken.
    async fn create_api_key(&self, key: &ApiKeyRecord) -> Result<()>;
    /// The API key with this hash, revoked or not.
    async fn api_key_by_hash(&self, key_hash: &str) -> Result<Option<ApiKeyRecord>>;
    /// All API keys, by creation time.
    async fn api_keys(&self) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes a key. Returns whether an unrevoked key with this id existed.
    async fn revoke_api_key(&self, id: &str) -> Result<bool>;

    /// Opens an admin-page session; also deletes sessions that expired before its
    /// creation. Fails with `NotFound` if its API key does not exist.
    async fn create_admin_session(&self, session: &AdminSessionRecord) -> Result<()>;
    /// The live session with this hash at `now`: not expired, and its API key not revoked.
    async fn admin_session(
        &self,
        id_hash: &str,
        now: SystemTime,
    ) -> Result<Option<AdminSessionRecord>>;
    /// Ends a session (log-out). Returns whether it existed.
    async fn delete_admin_session(&self, id_hash: &str) -> Result<bool>;
    /// Sets the one-time message of a session's next page.
    async fn set_admin_flash(&self, id_hash: &str, message: &str) -> Result<()>;
    /// Takes (clears and returns) the one-time message of a session.
    async fn take_admin_flash(&self, id_hash: &str) -> Result<Option<String>>;

    /// Re-seals every secret under the keyring's active key. Returns how many values were
    /// re-sealed.
    async fn reencrypt(&self) -> Result<u64>;
}
