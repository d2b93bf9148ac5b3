//! Errors of the grantbox host library.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Result alias for the host library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the host.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A provider setting is missing, unknown or of the wrong kind.
    #[error("provider `{provider}`: setting `{field}`: {message}")]
    InvalidSetting {
        /// Provider name.
        provider: String,
        /// The setting at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The configuration file is wrong.
    #[error("{file}: {key}: {message}", file = file.display())]
    Config {
        /// The file.
        file: PathBuf,
        /// The key at fault (dotted path), or `(file)` for the file as a whole.
        key: String,
        /// What is wrong.
        message: String,
    },
    /// A plugin could not be loaded.
    #[error("plugin {source_name}: {reason}")]
    PluginLoad {
        /// Where it came from (a path, or `bundled:<name>`).
        source_name: String,
        /// Why it was refused.
        reason: String,
    },
    /// No plugin with this id is loaded.
    #[error("no plugin with id `{0}` is loaded")]
    UnknownPlugin(String),
    /// No provider with this name is configured.
    #[error("no provider named `{0}` is configured")]
    UnknownProvider(String),
    /// The plugin misbehaved during a call (the host and other calls are unaffected).
    #[error("plugin `{plugin}` {fault}")]
    PluginFault {
        /// Plugin id.
        plugin: String,
        /// What happened.
        fault: PluginFault,
    },
    /// The provider (through the plugin) answered with an OAuth error.
    #[error("provider `{provider}`: {error}")]
    OAuth {
        /// Provider name.
        provider: String,
        /// The error.
        error: Box<OAuthError>,
    },
    /// The operation is not possible with this configuration (e.g. an interactive grant
    /// asked of a non-interactive call).
    #[error("{0}")]
    Unsupported(String),
    /// A file could not be read or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The WebAssembly engine could not be set up.
    #[error("WebAssembly engine: {0}")]
    Engine(String),
    /// A record does not exist.
    #[error("no {what} named `{name}`")]
    NotFound {
        /// `provider` or `connection`.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// A record with this name exists already.
    #[error("a {what} named `{name}` exists already")]
    AlreadyExists {
        /// `provider` or `connection`.
        what: &'static str,
        /// Its name.
        name: String,
    },
    /// The operation conflicts with other records (e.g. removing a provider in use).
    #[error("{0}")]
    Conflict(String),
    /// The database failed.
    #[error("store: {0}")]
    Store(String),
    /// Encryption at rest failed (missing master key, corrupted value).
    #[error("encryption at rest: {0}")]
    Crypto(String),
    /// The connection is disabled.
    #[error("connection `{0}` is disabled")]
    Disabled(String),
    /// The connection's grant is dead (e.g. `invalid_grant` on refresh): reconnect needed.
    #[error("connection `{connection}` needs to be reconnected: {message}")]
    ReconnectNeeded {
        /// The connection.
        connection: String,
        /// The provider's message.
        message: String,
    },
    /// Another process holds the refresh lease and did not finish in time.
    #[error("connection `{0}`: timed out waiting for another process's refresh")]
    LeaseTimeout(String),
    /// An authorization callback was refused: `state` missing, unknown (foreign), already
    /// used or expired, or no code (RFC 9700 §4.7).
    #[error("authorization callback refused: {0}")]
    InvalidCallback(String),
    /// The user or the provider refused the authorization (RFC 6749 §4.1.2.1), or the
    /// device authorization ended without tokens (RFC 8628 §3.5: denied, expired).
    #[error("connection `{connection}`: authorization {outcome}")]
    AuthorizationFailed {
        /// The connection.
        connection: String,
        /// What happened, with the provider's `error` and `error_description`.
        outcome: String,
    },
    /// A request could not be proxied (no API base URL, outside it, refused by the egress
    /// policy, the API unreachable).
    #[error("proxy: {0}")]
    Proxy(String),
    /// The operation was cancelled by its caller.
    #[error("connection `{0}`: cancelled")]
    Cancelled(String),
    /// The result of a refresh shared by concurrent callers (single-flight).
    #[error(transparent)]
    Shared(std::sync::Arc<Error>),
}

impl Error {
    /// The error itself, looking through [`Error::Shared`].
    pub fn root(&self) -> &Error {
        match self {
            Error::Shared(inner) => inner.root(),
            other => other,
        }
    }

    /// The OAuth error, when the provider answered with one.
    pub fn oauth(&self) -> Option<&OAuthError> {
        match self.root() {
            Error::OAuth { error, .. } => Some(error.as_ref()),
            _ => None,
        }
    }

    /// The plugin fault, when the plugin misbehaved.
    pub fn plugin_fault(&self) -> Option<&PluginFault> {
        match self.root() {
            Error::PluginFault { fault, .. } => Some(fault),
            _ => None,
        }
    }
}

/// How a plugin call failed on the plugin's side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginFault {
    /// It ran longer than its CPU budget.
    #[error("exceeded its CPU time limit of {0:?}")]
    CpuLimit(Duration),
    /// It tried to grow its memory beyond the limit.
    #[error("exceeded its memory limit of {0} bytes")]
    MemoryLimit(u64),
    /// It overflowed the WebAssembly stack.
    #[error("overflowed its stack")]
    StackOverflow,
    /// The whole call (including its HTTP requests) took longer than allowed.
    #[error("did not finish within {0:?}")]
    Timeout(Duration),
    /// It panicked (the message is the plugin's, scrubbed of secret values).
    #[error("panicked: {0}")]
    Panic(String),
    /// It trapped for another reason.
    #[error("trapped: {0}")]
    Trap(String),
    /// It returned something the contract does not allow.
    #[error("broke the contract: {0}")]
    Contract(String),
}

/// What the host can do about an OAuth error (mirrors the contract's `error-kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The configuration is wrong; the error names the field.
    InvalidConfig,
    /// The grant is no longer valid: reconnect needed.
    InvalidGrant,
    /// The provider rejected the client credentials.
    InvalidClient,
    /// The provider rejected the request for another reason.
    Rejected,
    /// Temporarily unavailable: retryable.
    TemporarilyUnavailable,
    /// The provider's response could not be understood.
    Protocol,
    /// The request could not be sent or answered.
    Transport,
    /// Not supported by the plugin.
    Unsupported,
    /// Device flow: not finished yet.
    AuthorizationPending,
    /// Device flow: poll more slowly.
    SlowDown,
}

impl ErrorKind {
    /// Whether retrying later may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            ErrorKind::TemporarilyUnavailable
                | ErrorKind::Transport
                | ErrorKind::AuthorizationPending
                | ErrorKind::SlowDown
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::InvalidConfig => "invalid configuration",
            ErrorKind::InvalidGrant => "invalid grant (reconnect needed)",
            ErrorKind::InvalidClient => "client authentication failed",
            ErrorKind::Rejected => "request rejected",
            ErrorKind::TemporarilyUnavailable => "temporarily unavailable",
            ErrorKind::Protocol => "protocol error",
            ErrorKind::Transport => "transport error",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::AuthorizationPending => "authorization pending",
            ErrorKind::SlowDown => "slow down",
        })
    }
}

/// An OAuth error: the RFC 6749 §5.2 error response, when there was one, and a kind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OAuthError {
    /// What the host can do about it.
    pub kind: ErrorKind,
    /// RFC 6749 `error` code.
    pub error: Option<String>,
    /// `error_description`, or the plugin's explanation.
    pub description: Option<String>,
    /// `error_uri`.
    pub uri: Option<String>,
    /// The configuration field at fault.
    pub field: Option<String>,
    /// HTTP status of the provider's response.
    pub status: Option<u16>,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(field) = &self.field {
            write!(f, " in setting `{field}`")?;
        }
        if let Some(code) = &self.error {
            write!(f, ": {code}")?;
        }
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        if let Some(status) = self.status {
            write!(f, " (HTTP {status})")?;
        }
        if let Some(uri) = &self.uri {
            write!(f, " <{uri}>")?;
        }
        Ok(())
    }
}
