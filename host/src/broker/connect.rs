//! Interactive grants that connect an account: the authorization-code flow with PKCE
//! (RFC 6749 §4.1, RFC 7636 S256) and the device authorization grant (RFC 8628).
//!
//! The host drives both flows; the plugin only adapts them (builds the authorization URL,
//! performs the exchanges). Security properties:
//! - `state` is 256 random bits, bound to one connection, stored only as a hash, usable
//!   once and for a few minutes (RFC 9700 §4.7): a missing, foreign, reused or expired
//!   `state` is refused before anything is exchanged;
//! - the PKCE verifier (256 random bits) is sealed at rest and reaches the plugin only as
//!   a secret handle; the challenge is `BASE64URL(SHA-256(verifier))`;
//! - the tokens obtained are committed to the store like a refresh's (a failed attempt
//!   never touches the stored tokens of a connection that had some).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;
use sha2::{Digest, Sha256};

use super::{AccessToken, Broker};
use crate::error::{Error, ErrorKind, Result};
use crate::provider::Provider;
use crate::secret::{ExposeSecret, SecretString};
use crate::store::{ConnectionRecord, ConnectionState, Failure, PendingAuthorization};
use crate::token::{AuthorizationRequest, DeviceAuthorization, Grant};

/// How long an authorization request waits for its callback, unless told otherwise.
pub const DEFAULT_AUTHORIZATION_TTL: Duration = Duration::from_secs(600);

/// RFC 8628 §3.5: on `slow_down`, the polling interval grows by 5 seconds.
pub const SLOW_DOWN_INCREMENT: Duration = Duration::from_secs(5);

/// RFC 8628 §3.2: the interval when the server states none.
pub const DEFAULT_DEVICE_INTERVAL: Duration = Duration::from_secs(5);

/// How to start an authorization-code flow.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Where the provider sends the user back (the service's `/oauth/callback`, or a
    /// loopback URL for the CLI).
    pub redirect_uri: String,
    /// `prompt` (`consent`, `login`, `select_account`, `none`), if any.
    pub prompt: Option<String>,
    /// Extra authorization-URL parameters for this request only.
    pub extra_params: Vec<(String, String)>,
    /// Where to send the user after the callback (admin page), if anywhere.
    pub return_to: Option<String>,
    /// How long the request waits for its callback.
    pub ttl: Duration,
}

impl ConnectOptions {
    /// Options with this redirect URI and the defaults.
    pub fn new(redirect_uri: impl Into<String>) -> Self {
        Self {
            redirect_uri: redirect_uri.into(),
            prompt: None,
            extra_params: Vec::new(),
            return_to: None,
            ttl: DEFAULT_AUTHORIZATION_TTL,
        }
    }
}

/// A started authorization-code flow: send the user to `url`.
#[derive(Debug, Clone)]
pub struct AuthorizationStart {
    /// The provider's authorization URL, with `state` and the PKCE challenge.
    pub url: String,
    /// The `state` value (to recognise the callback; it is one-time).
    pub state: String,
    /// The callback is refused after this.
    pub expires_at: SystemTime,
}

/// The query parameters of an authorization callback (RFC 6749 §4.1.2).
#[derive(Default)]
pub struct AuthorizationCallback {
    /// `state`.
    pub state: Option<String>,
    /// `code`, on success.
    pub code: Option<SecretString>,
    /// `error`, on refusal.
    pub error: Option<String>,
    /// `error_description`.
    pub error_description: Option<String>,
}

impl std::fmt::Debug for AuthorizationCallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationCallback")
            .field("state", &self.state.as_ref().map(|_| "[redacted]"))
            .field("code", &self.code.as_ref().map(|_| "[redacted]"))
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish()
    }
}

impl AuthorizationCallback {
    /// Reads the callback from a query string (`state=…&code=…` or `…&error=…`).
    pub fn from_query(query: &str) -> Self {
        let mut cb = Self::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            match k.as_ref() {
                "state" => cb.state = Some(v.into_owned()),
                "code" => cb.code = Some(SecretString::from(v.into_owned())),
                "error" => cb.error = Some(v.into_owned()),
                "error_description" => cb.error_description = Some(v.into_owned()),
                _ => {}
            }
        }
        cb
    }
}

/// A completed authorization-code flow.
#[derive(Debug)]
pub struct Connected {
    /// The connection now connected.
    pub connection: String,
    /// Where the flow asked to go afterwards.
    pub return_to: Option<String>,
    /// The new access token.
    pub token: Arc<AccessToken>,
}

/// A started device authorization: show [`DeviceFlow::user_code`] and
/// [`DeviceFlow::verification_uri`] to the user, then [`Broker::finish_device_flow`].
pub struct DeviceFlow {
    connection: String,
    provider: Provider,
    authorization: DeviceAuthorization,
    started: Instant,
}

impl std::fmt::Debug for DeviceFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceFlow")
            .field("connection", &self.connection)
            .field("user_code", &self.authorization.user_code)
            .field("verification_uri", &self.authorization.verification_uri)
            .finish_non_exhaustive()
    }
}

impl DeviceFlow {
    /// The connection being connected.
    pub fn connection(&self) -> &str {
        &self.connection
    }
    /// The code the user enters.
    pub fn user_code(&self) -> &str {
        &self.authorization.user_code
    }
    /// Where the user enters it.
    pub fn verification_uri(&self) -> &str {
        &self.authorization.verification_uri
    }
    /// A URI that includes the code, if the server gave one.
    pub fn verification_uri_complete(&self) -> Option<&str> {
        self.authorization.verification_uri_complete.as_deref()
    }
    /// When the codes expire.
    pub fn expires_at(&self) -> SystemTime {
        SystemTime::now()
            + self
                .authorization
                .expires_in
                .saturating_sub(self.started.elapsed())
    }
    /// The polling interval the server asked for (or the RFC's 5 s).
    pub fn interval(&self) -> Duration {
        self.authorization
            .interval
            .unwrap_or(DEFAULT_DEVICE_INTERVAL)
    }
}

/// 256 random bits, base64url without padding (43 characters).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// The stored form of a `state` value.
fn state_hash(state: &str) -> String {
    blake3::hash(state.as_bytes()).to_hex().to_string()
}

impl Broker {
    /// Starts an authorization-code flow for connection `id`: returns the provider's
    /// authorization URL (built by the plugin, with `state` and a PKCE S256 challenge) and
    /// records the flow, bound to the connection, until [`Broker::complete_authorization`].
    pub async fn start_authorization(
        &self,
        id: &str,
        options: &ConnectOptions,
    ) -> Result<AuthorizationStart> {
        let record = self.load(id).await?;
        if !record.active {
            return Err(Error::Disabled(id.to_owned()));
        }
        url::Url::parse(&options.redirect_uri)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.fragment().is_none())
            .ok_or_else(|| {
                Error::Unsupported(format!(
                    "redirect_uri `{}`: not an absolute http(s) URL without fragment",
                    options.redirect_uri
                ))
            })?;
        let provider = self.provider_for(&record).await?;
        if !provider.plugin().supports_grant("authorization_code") {
            return Err(Error::Unsupported(format!(
                "provider `{}`: plugin `{}` does not support the authorization-code grant",
                record.provider,
                provider.plugin().id
            )));
        }
        let state = random_token();
        let verifier = SecretString::from(random_token());
        let request = AuthorizationRequest {
            redirect_uri: options.redirect_uri.clone(),
            state: state.clone(),
            pkce_challenge: Some(pkce_challenge(verifier.expose_secret())),
            prompt: options.prompt.clone(),
            extra_params: options.extra_params.clone(),
        };
        let url = provider.authorization_url(&request).await?;
        let now = SystemTime::now();
        let expires_at = now + options.ttl;
        self.inner
            .store
            .create_authorization(&PendingAuthorization {
                state_hash: state_hash(&state),
                connection: id.to_owned(),
                redirect_uri: options.redirect_uri.clone(),
                pkce_verifier: verifier,
                return_to: options.return_to.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        tracing::info!(connection = %id, provider = %record.provider, "authorization started");
        Ok(AuthorizationStart {
            url,
            state,
            expires_at,
        })
    }

    /// Completes an authorization-code flow from its callback: checks `state` (present,
    /// issued by this host, unused, unexpired), exchanges the code through the plugin
    /// with the PKCE verifier and commits the tokens. A refusal by the provider puts the
    /// connection in state `error` with the provider's `error_description` (a connection
    /// that holds working tokens keeps them and stays `connected`).
    pub async fn complete_authorization(
        &self,
        callback: AuthorizationCallback,
    ) -> Result<Connected> {
        let state = callback
            .state
            .filter(|s| !s.is_empty())
            .ok_or_else(|| Error::InvalidCallback("the `state` parameter is missing".into()))?;
        let pending = self
            .inner
            .store
            .take_authorization(&state_hash(&state), SystemTime::now())
            .await?
            .ok_or_else(|| {
                Error::InvalidCallback("unknown `state` (not issued here, or already used)".into())
            })?;
        if SystemTime::now() > pending.expires_at {
            return Err(Error::InvalidCallback(format!(
                "the authorization request for connection `{}` expired; start again",
                pending.connection
            )));
        }
        let id = pending.connection.as_str();
        let record = self.load(id).await?;
        if let Some(error) = callback.error {
            let outcome = match callback.error_description {
                Some(d) => format!("refused by the provider: {error}: {d}"),
                None => format!("refused by the provider: {error}"),
            };
            self.record_connect_failure(&record, &outcome).await;
            return Err(Error::AuthorizationFailed {
                connection: id.to_owned(),
                outcome,
            });
        }
        let code = callback
            .code
            .filter(|c| !c.expose_secret().is_empty())
            .ok_or_else(|| {
                Error::InvalidCallback("the callback carries neither `code` nor `error`".into())
            })?;
        let provider = self.provider_for(&record).await?;
        let grant = Grant::AuthorizationCode {
            code,
            redirect_uri: pending.redirect_uri.clone(),
            pkce_verifier: Some(pending.pkce_verifier.clone()),
        };
        let token = self.exchange_and_commit(&record, &provider, grant).await?;
        tracing::info!(connection = %id, provider = %record.provider, "connected (authorization code)");
        Ok(Connected {
            connection: id.to_owned(),
            return_to: pending.return_to,
            token,
        })
    }

    /// Starts a device authorization (RFC 8628 §3.1) for connection `id`.
    pub async fn start_device_flow(&self, id: &str) -> Result<DeviceFlow> {
        let record = self.load(id).await?;
        if !record.active {
            return Err(Error::Disabled(id.to_owned()));
        }
        let provider = self.provider_for(&record).await?;
        if !provider.plugin().supports_grant("device_code") {
            return Err(Error::Unsupported(format!(
                "provider `{}`: plugin `{}` does not support the device authorization grant",
                record.provider,
                provider.plugin().id
            )));
        }
        let authorization = provider.start_device_authorization().await?;
        tracing::info!(connection = %id, provider = %record.provider, "device authorization started");
        Ok(DeviceFlow {
            connection: id.to_owned(),
            provider,
            authorization,
            started: Instant::now(),
        })
    }

    /// Polls the token endpoint until the user approves (tokens committed, connection
    /// `connected`), denies or lets the codes expire (connection `error` with the reason).
    /// Waits the server's `interval` between polls, 5 s more after every `slow_down`
    /// (RFC 8628 §3.5). Cancel by dropping the future (nothing is written then).
    pub async fn finish_device_flow(&self, flow: DeviceFlow) -> Result<Arc<AccessToken>> {
        let id = flow.connection.as_str();
        let deadline = flow.started + flow.authorization.expires_in;
        let mut interval = flow.interval();
        loop {
            let now = Instant::now();
            if now >= deadline {
                return self
                    .device_failed(id, "expired before the user approved it")
                    .await;
            }
            tokio::time::sleep(interval.min(deadline - now)).await;
            let record = self.load(id).await?;
            let grant = Grant::DeviceCode(flow.authorization.device_code.clone());
            let error = match flow.provider.exchange(grant).await {
                Ok(tokens) => {
                    let token = self.commit_connected(&record, tokens).await?;
                    tracing::info!(connection = %id, "connected (device authorization)");
                    return Ok(token);
                }
                Err(e) => e,
            };
            let (kind, code) = match error.oauth() {
                Some(o) => (Some(o.kind), o.error.clone().unwrap_or_default()),
                None => (None, String::new()),
            };
            match (kind, code.as_str()) {
                (Some(ErrorKind::AuthorizationPending), _) => {}
                (Some(ErrorKind::SlowDown), _) => {
                    interval += SLOW_DOWN_INCREMENT;
                    tracing::debug!(connection = %id, ?interval, "device flow: slow_down");
                }
                (_, "access_denied") => {
                    return self.device_failed(id, "denied by the user").await;
                }
                (_, "expired_token") => {
                    return self
                        .device_failed(id, "expired before the user approved it")
                        .await;
                }
                (Some(k), _) if k.is_retryable() => {
                    tracing::warn!(connection = %id, error = %error, "device flow: poll failed; trying again");
                }
                _ => {
                    let outcome = format!("failed: {error}");
                    self.record_connect_failure(&record, &outcome).await;
                    return Err(Error::AuthorizationFailed {
                        connection: id.to_owned(),
                        outcome,
                    });
                }
            }
        }
    }

    async fn device_failed(&self, id: &str, what: &str) -> Result<Arc<AccessToken>> {
        let outcome = format!("{what} (device authorization)");
        if let Ok(record) = self.load(id).await {
            self.record_connect_failure(&record, &outcome).await;
        }
        Err(Error::AuthorizationFailed {
            connection: id.to_owned(),
            outcome,
        })
    }

    async fn exchange_and_commit(
        &self,
        record: &ConnectionRecord,
        provider: &Provider,
        grant: Grant,
    ) -> Result<Arc<AccessToken>> {
        match provider.exchange(grant).await {
            Ok(tokens) => self.commit_connected(record, tokens).await,
            Err(e) => {
                let outcome = format!("failed: {e}");
                self.record_connect_failure(record, &outcome).await;
                Err(Error::AuthorizationFailed {
                    connection: record.id.clone(),
                    outcome,
                })
            }
        }
    }

    /// Commits tokens from an interactive grant, serialised with this process's refreshes
    /// of the connection (whose waiters then receive the new token).
    async fn commit_connected(
        &self,
        record: &ConnectionRecord,
        tokens: crate::token::TokenSet,
    ) -> Result<Arc<AccessToken>> {
        let flight = self.flight(&record.id);
        let mut last = flight.last.lock().await;
        let result = self.commit(record, tokens, true).await;
        if let Ok(t) = &result {
            *last = Some(Ok(Arc::clone(t)));
            flight.generation.fetch_add(1, Ordering::Release);
        }
        result
    }

    /// Records a failed connect. A connection with a still-valid token keeps serving it
    /// (state and schedule unchanged, message set); otherwise it goes to `error`.
    async fn record_connect_failure(&self, record: &ConnectionRecord, outcome: &str) {
        let has_valid_token = record.state == ConnectionState::Connected
            && !record.reconnect_needed
            && record
                .token
                .as_ref()
                .is_some_and(|t| t.expires_at.is_none_or(|e| e > SystemTime::now()));
        let failure = if has_valid_token {
            Failure {
                state: ConnectionState::Connected,
                reconnect_needed: false,
                message: format!("authorization {outcome} (the current tokens are kept)"),
                retry_at: record.refresh_at,
            }
        } else {
            Failure {
                state: ConnectionState::Error,
                reconnect_needed: record.reconnect_needed,
                message: format!("authorization {outcome}"),
                retry_at: None,
            }
        };
        if let Err(e) = self.inner.store.record_failure(&record.id, &failure).await {
            tracing::error!(connection = %record.id, error = %e, "could not record a failed connect");
        }
        self.forget_token(&record.id);
        tracing::warn!(connection = %record.id, outcome = %outcome, "connect failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn callback_debug_hides_state_and_code() {
        let cb = AuthorizationCallback::from_query("state=s3cr3tstate&code=c0d3value");
        let shown = format!("{cb:?}");
        assert!(
            !shown.contains("s3cr3tstate") && !shown.contains("c0d3value"),
            "{shown}"
        );
    }
}
