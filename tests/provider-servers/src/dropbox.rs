//! Dropbox's OAuth 2 (`https://www.dropbox.com/oauth2/authorize`,
//! `https://api.dropboxapi.com/oauth2/token`), per the Dropbox OAuth guide:
//!
//! - a refresh token only for codes issued with `token_access_type=offline`;
//! - short-lived access tokens (`expires_in` 14400, four hours);
//! - a refresh answers without a new refresh token;
//! - PKCE: a code issued with a `code_challenge` needs the matching `code_verifier`
//!   (S256), and then no client secret;
//! - app key/secret as HTTP Basic or in the body;
//! - errors: `invalid_grant` "refresh token is invalid or revoked", `invalid_client`.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::common::{self, Reply, Req, Server, lock};

/// Dropbox app settings.
#[derive(Debug, Clone, Default)]
pub struct DropboxConfig {
    /// App key.
    pub app_key: String,
    /// App secret.
    pub app_secret: String,
}

struct Code {
    offline: bool,
    challenge: Option<String>,
}

/// Emulator state.
pub struct State {
    config: DropboxConfig,
    codes: Mutex<HashMap<String, Code>>,
    refresh_tokens: Mutex<HashMap<String, ()>>,
}

/// A running Dropbox.
pub type Dropbox = Server<State>;

impl Server<State> {
    /// Starts it.
    pub async fn start_dropbox(config: DropboxConfig) -> std::io::Result<Self> {
        Server::start(
            State {
                config,
                codes: Mutex::default(),
                refresh_tokens: Mutex::default(),
            },
            handle,
        )
        .await
    }

    /// A code as the authorize page issues it for these query parameters.
    pub fn issue_code(
        &self,
        token_access_type_offline: bool,
        code_challenge: Option<&str>,
    ) -> String {
        let code = common::token("dbx-code-");
        lock(&self.state().codes).insert(
            code.clone(),
            Code {
                offline: token_access_type_offline,
                challenge: code_challenge.map(str::to_owned),
            },
        );
        code
    }
}

fn fail(status: u16, error: &str, description: &str) -> Reply {
    Reply::json(
        status,
        json!({ "error": error, "error_description": description }),
    )
}

fn access(with_refresh: Option<String>) -> Value {
    let mut v = json!({
        "access_token": common::token("sl.B"),
        "expires_in": 14400,
        "token_type": "bearer",
        "scope": "account_info.read files.content.read",
        "account_id": "dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc",
        "uid": "12345",
    });
    if let Some(rt) = with_refresh {
        v["refresh_token"] = json!(rt);
    }
    v
}

fn handle(s: &State, _base: &str, req: &Req) -> Reply {
    if req.path != "/oauth2/token" {
        return Reply::json(404, json!({"error": "not_found"}));
    }
    let (id, secret) = match &req.basic {
        Some((i, p)) => (Some(i.clone()), Some(p.clone())),
        None => (
            req.params.get("client_id").cloned(),
            req.params.get("client_secret").cloned(),
        ),
    };
    if id.as_deref() != Some(s.config.app_key.as_str()) {
        return fail(400, "invalid_client", "Invalid client_id or client_secret");
    }
    let secret_ok = secret.as_deref() == Some(s.config.app_secret.as_str());
    match req.param("grant_type") {
        Some("authorization_code") => {
            let code = req.param("code").unwrap_or_default();
            let Some(c) = lock(&s.codes).remove(code) else {
                return fail(400, "invalid_grant", "code doesn't exist or has expired");
            };
            match (&c.challenge, req.param("code_verifier")) {
                (Some(challenge), Some(verifier)) => {
                    let digest = sha256(verifier.as_bytes());
                    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
                    if &computed != challenge {
                        return fail(400, "invalid_grant", "invalid code verifier");
                    }
                }
                (Some(_), None) => return fail(400, "invalid_grant", "code verifier missing"),
                (None, _) if !secret_ok => {
                    return fail(400, "invalid_client", "Invalid client_id or client_secret");
                }
                (None, _) => {}
            }
            let rt = c.offline.then(|| {
                let rt = common::token("dbx-rt-");
                lock(&s.refresh_tokens).insert(rt.clone(), ());
                rt
            });
            Reply::json(200, access(rt))
        }
        Some("refresh_token") => {
            let rt = req.param("refresh_token").unwrap_or_default();
            if !lock(&s.refresh_tokens).contains_key(rt) {
                return fail(400, "invalid_grant", "refresh token is invalid or revoked");
            }
            // PKCE (public) clients refresh with the app key alone.
            if secret.is_some() && !secret_ok {
                return fail(400, "invalid_client", "Invalid client_id or client_secret");
            }
            Reply::json(200, access(None))
        }
        _ => fail(400, "unsupported_grant_type", "grant_type is not supported"),
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(data).into()
}
