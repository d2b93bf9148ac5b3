//! Tokens, grants and how a token is applied to an API request.

use std::fmt;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use serde_json::{Map, Value};
use url::Url;

use crate::secret::{ExposeSecret, SecretString};

/// The tokens a provider issued.
#[derive(Debug)]
pub struct TokenSet {
    /// The access token.
    pub access_token: SecretString,
    /// `token_type`, if the provider sent one.
    pub token_type: Option<String>,
    /// When the access token was received.
    pub issued_at: SystemTime,
    /// Lifetime as the provider stated it.
    pub expires_in: Option<Duration>,
    /// A refresh token, if one was issued.
    pub refresh_token: Option<SecretString>,
    /// Lifetime of the refresh token, if stated.
    pub refresh_token_expires_in: Option<Duration>,
    /// Granted scopes, if stated.
    pub scopes: Option<Vec<String>>,
    /// An OpenID Connect ID token.
    pub id_token: Option<SecretString>,
    /// Other fields of the response the plugin kept (e.g. `instance_url`).
    pub extra: Map<String, Value>,
}

impl TokenSet {
    /// When the access token expires, if known.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_in.map(|d| self.issued_at + d)
    }

    /// The token set as JSON, **including the token values**. Only for callers that are
    /// meant to see tokens (the CLI's `--json`, an authenticated API).
    pub fn to_json_revealing_secrets(&self) -> Value {
        let secs = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        serde_json::json!({
            "access_token": self.access_token.expose_secret(),
            "token_type": self.token_type,
            "expires_in": self.expires_in.map(|d| d.as_secs()),
            "expires_at": self.expires_at().map(secs),
            "refresh_token": self.refresh_token.as_ref().map(|s| s.expose_secret()),
            "refresh_token_expires_in": self.refresh_token_expires_in.map(|d| d.as_secs()),
            "scope": self.scopes.as_ref().map(|s| s.join(" ")),
            "id_token": self.id_token.as_ref().map(|s| s.expose_secret()),
            "extra": self.extra,
        })
    }
}

/// A grant to perform.
pub enum Grant {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.3; user name and password come from the provider settings.
    Password,
    /// RFC 6749 §6.
    RefreshToken(SecretString),
    /// RFC 6749 §4.1.3.
    AuthorizationCode {
        /// The code from the redirect.
        code: SecretString,
        /// The redirect URI of the authorization request.
        redirect_uri: String,
        /// The PKCE verifier, if PKCE was used.
        pkce_verifier: Option<SecretString>,
    },
    /// RFC 8628 §3.4.
    DeviceCode(SecretString),
    /// A provider-specific grant named by the plugin.
    Custom(String),
}

impl Grant {
    /// The grant's name as written in configuration (`client_credentials`, …).
    pub fn name(&self) -> &str {
        match self {
            Grant::ClientCredentials => "client_credentials",
            Grant::Password => "password",
            Grant::RefreshToken(_) => "refresh_token",
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::DeviceCode(_) => "device_code",
            Grant::Custom(name) => name,
        }
    }
}

impl fmt::Debug for Grant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Grant({})", self.name())
    }
}

/// The grant a provider is configured to use for non-interactive token fetches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantType {
    /// `client_credentials`.
    ClientCredentials,
    /// `password`.
    Password,
    /// `authorization_code` (interactive: connect first).
    AuthorizationCode,
    /// `device_code` (interactive).
    DeviceCode,
    /// A custom grant of the plugin (e.g. `jwt-bearer`).
    Custom(String),
}

impl GrantType {
    /// Parses a configured grant name. `refresh_token` is not a grant to configure.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "client_credentials" => Self::ClientCredentials,
            "password" => Self::Password,
            "authorization_code" => Self::AuthorizationCode,
            "device_code" | "urn:ietf:params:oauth:grant-type:device_code" => Self::DeviceCode,
            "refresh_token" | "" => return None,
            custom => Self::Custom(custom.to_owned()),
        })
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        match self {
            Self::ClientCredentials => "client_credentials",
            Self::Password => "password",
            Self::AuthorizationCode => "authorization_code",
            Self::DeviceCode => "device_code",
            Self::Custom(name) => name,
        }
    }
}

/// Input for an authorization URL (RFC 6749 §4.1.1).
#[derive(Debug, Clone, Default)]
pub struct AuthorizationRequest {
    /// Redirect URI.
    pub redirect_uri: String,
    /// One-time state.
    pub state: String,
    /// PKCE S256 challenge.
    pub pkce_challenge: Option<String>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// Extra query parameters.
    pub extra_params: Vec<(String, String)>,
}

/// A device authorization (RFC 8628 §3.2).
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    /// The device code (for polling).
    pub device_code: SecretString,
    /// What the user types.
    pub user_code: String,
    /// Where.
    pub verification_uri: String,
    /// A URI including the user code.
    pub verification_uri_complete: Option<String>,
    /// Lifetime.
    pub expires_in: Duration,
    /// Polling interval, if stated.
    pub interval: Option<Duration>,
}

/// Where an access token goes in an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenPlacement {
    /// `Authorization: <scheme> <token>`, or the raw token when `scheme` is `None`.
    Authorization {
        /// E.g. `Bearer`.
        scheme: Option<String>,
    },
    /// A custom header, with an optional prefix.
    Header {
        /// Header name.
        name: String,
        /// Text before the token.
        prefix: Option<String>,
    },
    /// A query parameter.
    Query {
        /// Parameter name.
        name: String,
    },
}

/// Why a token could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("cannot apply the token: {0}")]
pub struct ApplyError(String);

impl TokenPlacement {
    /// Applies `token` to a request's headers and URL. Header values carrying the token
    /// are marked sensitive (so HTTP stacks do not log them).
    pub fn apply(
        &self,
        token: &SecretString,
        headers: &mut HeaderMap,
        url: &mut Url,
    ) -> Result<(), ApplyError> {
        let value = |prefix: Option<&str>| -> Result<HeaderValue, ApplyError> {
            let text = match prefix {
                Some(p) if p.ends_with(' ') || p.is_empty() => {
                    format!("{p}{}", token.expose_secret())
                }
                Some(p) => format!("{p} {}", token.expose_secret()),
                None => token.expose_secret().to_owned(),
            };
            let mut v = HeaderValue::from_str(&text)
                .map_err(|_| ApplyError("the token is not a valid header value".into()))?;
            v.set_sensitive(true);
            Ok(v)
        };
        match self {
            TokenPlacement::Authorization { scheme } => {
                headers.insert(AUTHORIZATION, value(scheme.as_deref())?);
            }
            TokenPlacement::Header { name, prefix } => {
                let name = HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ApplyError(format!("`{name}` is not a valid header name")))?;
                headers.insert(name, value(prefix.as_deref())?);
            }
            TokenPlacement::Query { name } => {
                url.query_pairs_mut()
                    .append_pair(name, token.expose_secret());
            }
        }
        Ok(())
    }

    /// Applies `token` to a [`reqwest::Request`].
    pub fn apply_to_request(
        &self,
        token: &SecretString,
        request: &mut reqwest::Request,
    ) -> Result<(), ApplyError> {
        let mut url = request.url().clone();
        self.apply(token, request.headers_mut(), &mut url)?;
        *request.url_mut() = url;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements() {
        let token = SecretString::from("tok123");
        let mut url = Url::parse("https://api.example.com/x?a=1").expect("url");
        let mut h = HeaderMap::new();
        TokenPlacement::Authorization {
            scheme: Some("Bearer".into()),
        }
        .apply(&token, &mut h, &mut url)
        .expect("apply");
        assert_eq!(h[AUTHORIZATION], "Bearer tok123");
        assert!(h[AUTHORIZATION].is_sensitive());
        TokenPlacement::Authorization { scheme: None }
            .apply(&token, &mut h, &mut url)
            .expect("apply");
        assert_eq!(h[AUTHORIZATION], "tok123");
        TokenPlacement::Header {
            name: "x-auth-token".into(),
            prefix: None,
        }
        .apply(&token, &mut h, &mut url)
        .expect("apply");
        assert_eq!(h["x-auth-token"], "tok123");
        TokenPlacement::Query {
            name: "access_token".into(),
        }
        .apply(&token, &mut h, &mut url)
        .expect("apply");
        assert_eq!(
            url.as_str(),
            "https://api.example.com/x?a=1&access_token=tok123"
        );
    }

    #[test]
    fn grant_debug_hides_secrets() {
        let g = Grant::RefreshToken(SecretString::from("rt-very-secret"));
        assert!(!format!("{g:?}").contains("rt-very-secret"));
    }
}
