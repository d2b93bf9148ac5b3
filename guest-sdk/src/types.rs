//! Constructors and conversions for the contract's types.

use crate::bindings::grantbox::plugin::http_outbound::Error as HttpError;
use crate::{ConfigField, ErrorKind, FieldKind, OAuthError, TokenSet};

impl ConfigField {
    /// A required field.
    pub fn required(name: &str, kind: FieldKind, description: &str) -> Self {
        Self {
            name: name.into(),
            kind,
            required: true,
            default: None,
            description: description.into(),
        }
    }

    /// An optional field without default.
    pub fn optional(name: &str, kind: FieldKind, description: &str) -> Self {
        Self {
            name: name.into(),
            kind,
            required: false,
            default: None,
            description: description.into(),
        }
    }

    /// An optional field with a default (text, url, flag or number kinds).
    pub fn with_default(name: &str, kind: FieldKind, default: &str, description: &str) -> Self {
        Self {
            name: name.into(),
            kind,
            required: false,
            default: Some(default.into()),
            description: description.into(),
        }
    }
}

impl OAuthError {
    /// An error of `kind` with a description.
    pub fn new(kind: ErrorKind, description: impl Into<String>) -> Self {
        Self {
            kind,
            error: None,
            description: Some(description.into()),
            uri: None,
            field: None,
            status: None,
        }
    }

    /// The configuration field `field` is wrong.
    pub fn invalid_config(field: &str, description: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(ErrorKind::InvalidConfig, description)
        }
    }

    /// The provider's response could not be understood.
    pub fn protocol(description: impl Into<String>) -> Self {
        Self::new(ErrorKind::Protocol, description)
    }

    /// The plugin does not support what was asked.
    pub fn unsupported(description: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, description)
    }

    /// Sets the HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }
}

impl From<HttpError> for OAuthError {
    fn from(e: HttpError) -> Self {
        let description = match e {
            HttpError::Denied(why) => format!("request denied by the host's egress policy: {why}"),
            HttpError::Timeout => "the provider did not answer in time".to_owned(),
            HttpError::ConnectionFailed(why) => format!("connection failed: {why}"),
            HttpError::ResponseTooLarge(n) => format!("the response exceeded {n} bytes"),
            HttpError::InvalidRequest(why) => format!("invalid request: {why}"),
        };
        OAuthError::new(ErrorKind::Transport, description)
    }
}

impl TokenSet {
    /// A token set with only an access token.
    pub fn bearer(access_token: impl Into<String>) -> Self {
        Self {
            access_token: access_token.into(),
            token_type: Some("Bearer".into()),
            expires_in: None,
            refresh_token: None,
            refresh_token_expires_in: None,
            scopes: None,
            id_token: None,
            extra: None,
        }
    }
}
