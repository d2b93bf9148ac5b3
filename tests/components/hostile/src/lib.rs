//! A hostile test plugin: its `exchange-token` misbehaves according to the `mode` setting,
//! so the host's sandbox, limits and egress policy can be tested against real components.

use std::hint::black_box;

use grantbox_sdk::http::{Request, Response};
use grantbox_sdk::{
    ConfigField, FieldKind, GrantKind, OAuthError, Params, PluginMetadata, Provider, SettingValue,
    Settings, TokenRequest, TokenSet, export_provider,
};

struct Hostile;

fn describe(r: &Result<Response, grantbox_sdk::http::Error>) -> String {
    match r {
        Ok(resp) => format!(
            "status={} headers={:?} body={}",
            resp.status,
            resp.headers,
            String::from_utf8_lossy(&resp.body)
        ),
        Err(e) => format!("error={e:?}"),
    }
}

/// Unbounded recursion on the WebAssembly (native) stack: the host's `max_wasm_stack`.
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    black_box(recurse(depth + 1)) ^ depth
}

/// Unbounded recursion with large frames on the guest's shadow stack in linear memory: it
/// runs off the bottom of the shadow stack into out-of-bounds memory.
fn recurse_shadow(depth: u64, pad: [u64; 16]) -> u64 {
    let pad = black_box(pad);
    if black_box(depth) == u64::MAX {
        return pad[0];
    }
    recurse_shadow(depth + 1, pad).wrapping_add(pad[(depth % 16) as usize])
}

fn echo(settings: &Settings) -> String {
    let mut seen = Vec::new();
    for name in settings.names() {
        let value = match settings.get(name) {
            Some(SettingValue::Text(t)) => format!("text {t}"),
            Some(SettingValue::Flag(b)) => format!("flag {b}"),
            Some(SettingValue::Number(n)) => format!("number {n}"),
            Some(SettingValue::TextList(l)) => format!("list {l:?}"),
            Some(SettingValue::TextMap(m)) => format!("map {m:?}"),
            Some(SettingValue::Secret(s)) => format!("secret handle {s:?} named {}", s.name()),
            None => "unset".into(),
        };
        seen.push(format!("{name}: {value}"));
    }
    // Try to make the secrets observable: send them where the plugin may, and echo the
    // whole response back.
    if let Ok(url) = settings.require_text("allowed_url") {
        let mut params = Params::new();
        for name in ["client_secret", "password"] {
            if let Ok(s) = settings.require_secret(name) {
                params.add_secret(name, s);
            }
        }
        let response = Request::post(url).form(params).send();
        seen.push(format!("response: {}", describe(&response)));
    }
    seen.push(format!("env: {:?}", std::env::vars().collect::<Vec<_>>()));
    seen.push(format!("args: {:?}", std::env::args().collect::<Vec<_>>()));
    seen.push(format!("cwd: {:?}", std::env::current_dir()));
    seen.join("; ")
}

impl Provider for Hostile {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            id: "hostile".into(),
            display_name: "Hostile test plugin".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Misbehaves on purpose (tests only).".into(),
            grants: vec![GrantKind::ClientCredentials],
            custom_grants: vec![],
            hosts: vec!["https://declared.invalid".into(), "{allowed_url}".into()],
            config: vec![
                ConfigField::required(
                    "mode",
                    FieldKind::Text,
                    "loop, memory, recursion, shadow-stack, panic, undeclared-host, private-address, echo, log-flood or ok",
                ),
                ConfigField::optional("target_url", FieldKind::Url, "An undeclared URL"),
                ConfigField::optional("allowed_url", FieldKind::Url, "A declared URL"),
                ConfigField::optional("client_id", FieldKind::Text, "Client id"),
                ConfigField::optional("client_secret", FieldKind::Secret, "Client secret"),
                ConfigField::optional("password", FieldKind::Secret, "A password"),
            ],
        }
    }

    fn exchange_token(
        settings: &Settings,
        request: &TokenRequest<'_>,
    ) -> Result<TokenSet, OAuthError> {
        match settings.require_text("mode")? {
            "loop" => {
                let mut i: u64 = 0;
                loop {
                    i = black_box(i.wrapping_add(1));
                }
            }
            "memory" => {
                let mut hog: Vec<Vec<u8>> = Vec::new();
                loop {
                    hog.push(black_box(vec![1u8; 1024 * 1024]));
                }
            }
            "recursion" => {
                let n = recurse(0);
                Err(OAuthError::protocol(format!("recursion ended: {n}")))
            }
            "shadow-stack" => {
                let n = recurse_shadow(0, [7; 16]);
                Err(OAuthError::protocol(format!("recursion ended: {n}")))
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            "undeclared-host" => {
                let url = settings.require_text("target_url")?;
                let mut params = Params::new();
                params.add_secret("client_secret", settings.require_secret("client_secret")?);
                Request::post(url).form(params).send()?;
                Err(OAuthError::protocol("the undeclared host was reached"))
            }
            "private-address" => {
                let url = settings.require_text("allowed_url")?;
                Request::post(url).send()?;
                Err(OAuthError::protocol("the private address was reached"))
            }
            "echo" => Err(OAuthError::protocol(echo(settings))),
            "log-flood" => {
                // Log what it can see, then far more lines than the host allows per call.
                grantbox_sdk::log::info(&format!("log-flood sees: {}", echo(settings)));
                for i in 0..1000 {
                    grantbox_sdk::log::warn(&format!("log-flood line {i}"));
                }
                Err(OAuthError::protocol("log flood done"))
            }
            "canned" => {
                // The generic path without I/O: build the token request, drop it, parse a
                // typical response (benchmarks the in-sandbox share of a token fetch).
                let request = Self::token_request(settings, request)?;
                drop(black_box(request));
                let response = grantbox_sdk::http::Response {
                    status: 200,
                    headers: vec![("content-type".into(), "application/json".into())],
                    body: br#"{"access_token":"at_1_0123456789abcdef0123456789abcdef","token_type":"Bearer","expires_in":3600,"scope":"read write"}"#.to_vec(),
                };
                Self::parse_token_response(settings, &response)
            }
            "ok" => {
                let response = Self::token_request(settings, request)?.send()?;
                Self::parse_token_response(settings, &response)
            }
            other => Err(OAuthError::invalid_config(
                "mode",
                format!("unknown mode `{other}`"),
            )),
        }
    }

    fn token_url(settings: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
        Ok(settings.require_text("allowed_url")?.to_owned())
    }
}

export_provider!(Hostile);
