//! The HTTP service on loopback: API-key authentication, the OpenAPI document, providers
//! and connections over the API, the authorization-code flow through `/oauth/callback`,
//! the device flow, the outbound proxy (401 → refresh → retry; no open proxy), metrics.

use std::time::Duration;

use anyhow::{Context, ensure};
use grantbox_e2e::{LoopbackService, broker_in, serve_on_loopback};
use grantbox_host::{Broker, RefreshPolicy, apikeys};
use grantbox_token_server::{ApiTokenPlacement, Behavior, DevicePoll, TokenServer};
use serde_json::{Value, json};

const CLIENT_ID: &str = "svc-client";
const CLIENT_SECRET: &str = "cs-service-5f4e3d2c1b0a";

fn behavior() -> Behavior {
    Behavior {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        device_interval_s: 1,
        ..Behavior::default()
    }
}

struct Running {
    base: String,
    key: String,
    broker: Broker,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Running {
    async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (broker, _store) = broker_in(dir.path(), RefreshPolicy::default()).await?;
        let key = apikeys::create(broker.store().as_ref(), "tests").await?;
        let LoopbackService { base, stop, task } = serve_on_loopback(broker.clone(), |c| {
            c.key_cache_ttl = Duration::ZERO;
        })
        .await?;
        Ok(Self {
            base,
            key: grantbox_host::ExposeSecret::expose_secret(&key.key).to_owned(),
            broker,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, value))
    }

    async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await??;
        }
        Ok(())
    }
}

/// Registers provider `acme` (authorization code, auth URL, device URL) and connection
/// `alice` whose API is the token server's `/api`, through the API.
async fn register(svc: &Running, server: &TokenServer) -> anyhow::Result<()> {
    let (status, body) = svc
        .call(
            reqwest::Method::POST,
            "/v1/providers",
            Some(json!({
                "name": "acme",
                "plugin": "generic",
                "grant": "authorization_code",
                "scopes": ["read"],
                "settings": {
                    "token_url": server.url("/token"),
                    "authorization_url": server.url("/authorize"),
                    "device_authorization_url": server.url("/device/code"),
                    "client_id": CLIENT_ID,
                },
                "secrets": { "client_secret": CLIENT_SECRET },
            })),
        )
        .await?;
    ensure!(status == 201, "create provider: {status} {body}");
    assert_eq!(body["settings"]["client_secret"], "[redacted]");
    let (status, body) = svc
        .call(
            reqwest::Method::POST,
            "/v1/connections",
            Some(json!({"id": "alice", "provider": "acme", "api_base_url": server.url("/api")})),
        )
        .await?;
    ensure!(status == 201, "create connection: {status} {body}");
    assert_eq!(body["state"], "default");
    Ok(())
}

/// Connects `alice` through the API and the provider's automatic approval.
async fn connect_alice(svc: &Running) -> anyhow::Result<()> {
    let (_, started) = svc
        .call(reqwest::Method::POST, "/v1/connections/alice/connect", None)
        .await?;
    let done = browse(svc, started["authorization_url"].as_str().context("url")?).await?;
    ensure!(done.status() == 200, "callback: {}", done.status());
    Ok(())
}

/// Runs the browser part of a connect: follows the authorization URL to the provider and
/// its redirect to the service's callback. Returns the callback's response.
async fn browse(svc: &Running, authorization_url: &str) -> anyhow::Result<reqwest::Response> {
    let at_provider = svc.http.get(authorization_url).send().await?;
    ensure!(
        at_provider.status().is_redirection(),
        "provider: {}",
        at_provider.status()
    );
    let location = at_provider
        .headers()
        .get("location")
        .context("location")?
        .to_str()?
        .to_owned();
    ensure!(
        location.starts_with(&svc.url("/oauth/callback")),
        "{location}"
    );
    // The callback needs no API key: the state authenticates it.
    Ok(svc.http.get(location).send().await?)
}

#[tokio::test]
async fn every_route_but_health_and_callback_requires_a_valid_api_key() -> anyhow::Result<()> {
    let svc = Running::start().await?;
    let protected = [
        ("GET", "/v1/plugins"),
        ("GET", "/v1/plugins/generic"),
        ("GET", "/v1/providers"),
        ("POST", "/v1/providers"),
        ("GET", "/v1/providers/acme"),
        ("DELETE", "/v1/providers/acme"),
        ("GET", "/v1/connections"),
        ("POST", "/v1/connections"),
        ("GET", "/v1/connections/alice"),
        ("DELETE", "/v1/connections/alice"),
        ("POST", "/v1/connections/alice/enable"),
        ("POST", "/v1/connections/alice/disable"),
        ("POST", "/v1/connections/alice/disconnect"),
        ("POST", "/v1/connections/alice/refresh"),
        ("GET", "/v1/connections/alice/token"),
        ("POST", "/v1/connections/alice/connect"),
        ("POST", "/v1/connections/alice/device"),
        ("GET", "/v1/connections/alice/device"),
        ("DELETE", "/v1/connections/alice/device"),
        ("GET", "/v1/connections/alice/proxy/whoami"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
    ];
    let wrong = format!("{}x", &svc.key[..svc.key.len() - 1]);
    for (method, path) in protected {
        let m = reqwest::Method::from_bytes(method.as_bytes())?;
        let none = svc.http.request(m.clone(), svc.url(path)).send().await?;
        assert_eq!(none.status(), 401, "{method} {path} without a key");
        assert!(none.headers().contains_key("www-authenticate"));
        let bad = svc
            .http
            .request(m.clone(), svc.url(path))
            .bearer_auth(&wrong)
            .send()
            .await?;
        assert_eq!(bad.status(), 401, "{method} {path} with a wrong key");
        let header = svc
            .http
            .request(m, svc.url(path))
            .header("x-api-key", "gbx_00000000_notakey")
            .send()
            .await?;
        assert_eq!(header.status(), 401, "{method} {path} with a forged key");
    }
    for path in ["/healthz", "/readyz"] {
        assert_eq!(
            svc.http.get(svc.url(path)).send().await?.status(),
            200,
            "{path}"
        );
    }
    // The callback is public, and refuses a forged state.
    let cb = svc
        .http
        .get(svc.url("/oauth/callback?code=x&state=forged"))
        .send()
        .await?;
    assert_eq!(cb.status(), 400);

    // The right key works, through either header; a revoked key stops working.
    let (status, _) = svc.call(reqwest::Method::GET, "/v1/plugins", None).await?;
    assert_eq!(status, 200);
    let ok = svc
        .http
        .get(svc.url("/v1/providers"))
        .header("x-api-key", &svc.key)
        .send()
        .await?;
    assert_eq!(ok.status(), 200);
    let id = svc.broker.store().api_keys().await?[0].id.clone();
    assert!(svc.broker.store().revoke_api_key(&id).await?);
    let (status, _) = svc.call(reqwest::Method::GET, "/v1/plugins", None).await?;
    assert_eq!(status, 401, "revoked");
    // The store holds only the key's hash.
    let stored = svc.broker.store().api_keys().await?;
    assert!(
        stored
            .iter()
            .all(|k| k.key_hash != svc.key && !svc.key.contains(&k.key_hash))
    );
    svc.stop().await
}

#[tokio::test]
async fn the_openapi_document_is_3_1_and_covers_the_api() -> anyhow::Result<()> {
    let svc = Running::start().await?;
    let (status, doc) = svc
        .call(reqwest::Method::GET, "/openapi.json", None)
        .await?;
    assert_eq!(status, 200);
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().context("paths")?;
    for (path, methods) in [
        ("/v1/plugins", &["get"][..]),
        ("/v1/plugins/{id}", &["get"]),
        ("/v1/providers", &["get", "post"]),
        ("/v1/providers/{name}", &["get", "delete"]),
        ("/v1/connections", &["get", "post"]),
        ("/v1/connections/{id}", &["get", "delete"]),
        ("/v1/connections/{id}/enable", &["post"]),
        ("/v1/connections/{id}/disable", &["post"]),
        ("/v1/connections/{id}/disconnect", &["post"]),
        ("/v1/connections/{id}/refresh", &["post"]),
        ("/v1/connections/{id}/token", &["get"]),
        ("/v1/connections/{id}/connect", &["post"]),
        ("/v1/connections/{id}/device", &["get", "post", "delete"]),
        (
            "/v1/connections/{id}/proxy/{path}",
            &["get", "post", "put", "patch", "delete"],
        ),
    ] {
        let entry = paths
            .get(path)
            .with_context(|| format!("{path} is documented"))?;
        for m in methods {
            assert!(entry.get(*m).is_some(), "{m} {path} is documented");
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert!(doc["components"]["schemas"]["ConnectionView"].is_object());
    // The document served is the one the library generates.
    let generated: Value = serde_json::from_str(&grantbox_host::service::openapi_json())?;
    assert_eq!(generated, doc);
    svc.stop().await
}

#[tokio::test]
async fn connect_through_the_callback_then_read_and_proxy_with_the_token() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let svc = Running::start().await?;
    register(&svc, &server).await?;

    let (status, started) = svc
        .call(
            reqwest::Method::POST,
            "/v1/connections/alice/connect",
            Some(json!({"prompt": "consent"})),
        )
        .await?;
    ensure!(status == 200, "connect: {status} {started}");
    assert_eq!(started["redirect_uri"], svc.url("/oauth/callback"));
    let url = started["authorization_url"].as_str().context("url")?;
    assert!(url.contains("prompt=consent") && url.contains("code_challenge="));
    let done = browse(&svc, url).await?;
    assert_eq!(done.status(), 200);
    assert!(done.text().await?.contains("connected"));

    let (_, alice) = svc
        .call(reqwest::Method::GET, "/v1/connections/alice", None)
        .await?;
    assert_eq!(alice["state"], "connected");
    assert_eq!(alice["has_refresh_token"], true);
    let serialized = alice.to_string();
    assert!(!serialized.contains(CLIENT_SECRET));

    // The token, for an authenticated caller.
    let (status, token) = svc
        .call(reqwest::Method::GET, "/v1/connections/alice/token", None)
        .await?;
    assert_eq!(status, 200);
    let access = token["access_token"].as_str().context("token")?.to_owned();

    // The proxy applies it; the caller's API key is not forwarded.
    let (status, who) = svc
        .call(
            reqwest::Method::GET,
            "/v1/connections/alice/proxy/whoami",
            None,
        )
        .await?;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["client_id"], CLIENT_ID);
    let forwarded = server
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/whoami")
        .count();
    assert_eq!(forwarded, 0, "API calls are not recorded as token requests");

    // 401 from the API: one refresh, one retry, success.
    server.revoke_access_tokens();
    let (status, who) = svc
        .call(
            reqwest::Method::GET,
            "/v1/connections/alice/proxy/whoami",
            None,
        )
        .await?;
    assert_eq!(status, 200, "{who}");
    assert_eq!(server.count("refresh_token"), 1);
    let (_, token) = svc
        .call(reqwest::Method::GET, "/v1/connections/alice/token", None)
        .await?;
    assert_ne!(
        token["access_token"].as_str(),
        Some(access.as_str()),
        "refreshed"
    );

    // The metrics saw it.
    let (_, metrics) = svc.call(reqwest::Method::GET, "/metrics", None).await?;
    let text = metrics.as_str().context("text")?;
    assert!(
        text.contains("grantbox_token_exchanges_total{grant=\"refresh_token\",outcome=\"ok\"} 1"),
        "{text}"
    );
    assert!(text.contains("grantbox_plugin_call_duration_seconds_count{plugin=\"generic\",operation=\"exchange_token\"}"));
    assert!(
        text.contains("grantbox_proxy_requests_total{status=\"2xx\"} 2"),
        "{text}"
    );
    assert!(!text.contains(&access));
    svc.stop().await
}

/// A GET sent byte for byte (no URL normalisation); returns the status.
async fn raw_get(svc: &Running, path: &str) -> anyhow::Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = svc.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        svc.key
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response
        .split_whitespace()
        .nth(1)
        .context("status line")?
        .parse()?;
    Ok(status)
}

#[tokio::test]
async fn the_proxy_is_not_open() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        api_token_placement: ApiTokenPlacement::Raw,
        ..behavior()
    })
    .await?;
    let other = TokenServer::start(behavior()).await?;
    let svc = Running::start().await?;
    register(&svc, &server).await?;
    connect_alice(&svc).await?;

    // Sent raw: an HTTP client would normalise the dot segments away before sending.
    for path in [
        "/v1/connections/alice/proxy/../token".to_owned(),
        "/v1/connections/alice/proxy/%2e%2e/token".to_owned(),
        format!("/v1/connections/alice/proxy/{}", other.url("/api/whoami")),
    ] {
        let status = raw_get(&svc, &path).await?;
        assert!(status == 502 || status == 404, "{path}: {status}");
    }
    assert_eq!(other.request_count(), 0, "nothing reached another server");

    // A connection without a base URL cannot be proxied.
    let (status, _) = svc
        .call(
            reqwest::Method::POST,
            "/v1/connections",
            Some(json!({"id": "nobase", "provider": "acme"})),
        )
        .await?;
    assert_eq!(status, 201);
    let (status, body) = svc
        .call(
            reqwest::Method::GET,
            "/v1/connections/nobase/proxy/whoami",
            None,
        )
        .await?;
    assert_eq!(status, 502);
    assert_eq!(body["error"], "proxy_error");
    svc.stop().await
}

/// The proxy keeps where and how it sends a connection's requests in memory; changing the
/// provider's token placement takes effect on the next request (not only after a 401).
#[tokio::test]
async fn the_proxy_follows_a_provider_update() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let svc = Running::start().await?;
    register(&svc, &server).await?;
    connect_alice(&svc).await?;
    let proxied = || {
        svc.call(
            reqwest::Method::GET,
            "/v1/connections/alice/proxy/whoami",
            None,
        )
    };
    let (status, _) = proxied().await?;
    assert_eq!(status, 200, "Bearer, the default");

    // The API now wants the token in a custom header, and the provider says so.
    server.set_behavior(Behavior {
        api_token_placement: ApiTokenPlacement::Header("x-api-token".into()),
        ..behavior()
    });
    svc.broker
        .update_provider(
            grantbox_host::ProviderConfig::new("acme", "generic")
                .grant(grantbox_host::GrantType::AuthorizationCode)
                .scopes(["read"])
                .setting("token_url", server.url("/token"))
                .setting("authorization_url", server.url("/authorize"))
                .setting("client_id", CLIENT_ID)
                .setting("token_placement", "header")
                .setting("token_header", "X-Api-Token")
                .secret(
                    "client_secret",
                    grantbox_host::SecretString::from(CLIENT_SECRET),
                ),
        )
        .await?;
    let (status, who) = proxied().await?;
    assert_eq!(status, 200, "{who}");
    assert_eq!(who["client_id"], CLIENT_ID);
    assert_eq!(
        server.count("refresh_token"),
        0,
        "sent the new way at once, not after a 401 and a refresh"
    );
    svc.stop().await
}

/// A response larger than the library's buffer cap streams through the service intact;
/// the buffering library call refuses it by name.
#[tokio::test]
async fn the_proxy_streams_large_responses() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let svc = Running::start().await?;
    register(&svc, &server).await?;
    connect_alice(&svc).await?;
    let size = grantbox_host::broker::PROXY_MAX_BODY + 3 * 1024 * 1024 + 7;
    let response = svc
        .http
        .get(svc.url(&format!("/v1/connections/alice/proxy/blob?size={size}")))
        .bearer_auth(&svc.key)
        .send()
        .await?;
    assert_eq!(response.status(), 200);
    let body = response.bytes().await?;
    assert_eq!(body.len(), size);
    assert!(
        body.iter()
            .enumerate()
            .all(|(i, b)| *b == grantbox_token_server::blob_byte(i)),
        "the bytes arrive as sent"
    );

    let request = http::Request::builder()
        .uri(format!("/blob?size={size}"))
        .body(bytes::Bytes::new())?;
    let e = svc
        .broker
        .request("alice", request)
        .await
        .expect_err("over the buffer cap");
    assert!(e.to_string().contains("larger than"), "{e}");
    svc.stop().await
}

#[tokio::test]
async fn device_flow_through_the_api() -> anyhow::Result<()> {
    let b = behavior();
    b.device_script
        .lock()
        .expect("script")
        .extend([DevicePoll::Pending, DevicePoll::Approve]);
    let server = TokenServer::start(b).await?;
    let svc = Running::start().await?;
    register(&svc, &server).await?;
    let (status, started) = svc
        .call(reqwest::Method::POST, "/v1/connections/alice/device", None)
        .await?;
    ensure!(status == 200, "{started}");
    assert_eq!(started["status"], "pending");
    assert!(started["user_code"].as_str().is_some_and(|c| !c.is_empty()));
    let mut last = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, s) = svc
            .call(reqwest::Method::GET, "/v1/connections/alice/device", None)
            .await?;
        last = s;
        if last["status"] != "pending" {
            break;
        }
    }
    assert_eq!(last["status"], "connected", "{last}");
    let (_, alice) = svc
        .call(reqwest::Method::GET, "/v1/connections/alice", None)
        .await?;
    assert_eq!(alice["state"], "connected");

    // A second flow can be cancelled.
    let (status, _) = svc
        .call(reqwest::Method::POST, "/v1/connections/alice/device", None)
        .await?;
    assert_eq!(status, 200);
    let (status, _) = svc
        .call(
            reqwest::Method::DELETE,
            "/v1/connections/alice/device",
            None,
        )
        .await?;
    assert_eq!(status, 204);
    let (_, s) = svc
        .call(reqwest::Method::GET, "/v1/connections/alice/device", None)
        .await?;
    assert_eq!(s["status"], "cancelled");
    svc.stop().await
}

#[tokio::test]
async fn bad_input_is_named_and_nothing_is_written() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let svc = Running::start().await?;
    let (status, body) = svc
        .call(
            reqwest::Method::POST,
            "/v1/providers",
            Some(json!({"name": "bad", "plugin": "generic", "settings": {"tokn_url": server.url("/token")}})),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["message"].as_str().unwrap_or("").contains("tokn_url"),
        "{body}"
    );
    let (_, list) = svc
        .call(reqwest::Method::GET, "/v1/providers", None)
        .await?;
    assert_eq!(list, json!([]));
    let (status, body) = svc
        .call(
            reqwest::Method::POST,
            "/v1/connections",
            Some(json!({"id": "x", "provider": "missing"})),
        )
        .await?;
    assert_eq!(status, 404, "{body}");
    let (status, _) = svc
        .call(reqwest::Method::GET, "/v1/connections/none/token", None)
        .await?;
    assert_eq!(status, 404);

    // A value only the plugin can judge: it is asked (nothing is sent upstream).
    register(&svc, &server).await?;
    let (status, body) = svc
        .call(
            reqwest::Method::POST,
            "/v1/connections",
            Some(json!({"id": "y", "provider": "acme", "settings": {"client_auth": "bogus"}})),
        )
        .await?;
    assert_eq!(status, 400, "{body}");
    let message = body["message"].as_str().unwrap_or("");
    assert!(
        message.contains("client_auth") && message.contains("`bogus` is not one of"),
        "{body}"
    );
    assert_eq!(server.request_count(), 0);
    let (_, list) = svc
        .call(reqwest::Method::GET, "/v1/connections", None)
        .await?;
    let ids: Vec<&str> = list
        .as_array()
        .context("list")?
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, ["alice"], "nothing written");
    svc.stop().await
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_refresh_finish_and_commit() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        latency: Some(Duration::from_millis(1500)),
        ..behavior()
    })
    .await?;
    let mut svc = Running::start().await?;
    let (status, body) = svc
        .call(
            reqwest::Method::POST,
            "/v1/providers",
            Some(json!({
                "name": "cc", "plugin": "generic", "grant": "client_credentials",
                "settings": {"token_url": server.url("/token"), "client_id": CLIENT_ID},
                "secrets": {"client_secret": CLIENT_SECRET},
            })),
        )
        .await?;
    ensure!(status == 201, "{body}");
    let (status, _) = svc
        .call(
            reqwest::Method::POST,
            "/v1/connections",
            Some(json!({"id": "job", "provider": "cc"})),
        )
        .await?;
    ensure!(status == 201);
    // A token read that has to go upstream (1.5 s), then shutdown while it runs.
    let in_flight = tokio::spawn({
        let http = svc.http.clone();
        let url = svc.url("/v1/connections/job/token");
        let key = svc.key.clone();
        async move { http.get(url).bearer_auth(key).send().await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let _ = svc.stop.take().context("stop")?.send(());
    tokio::time::sleep(Duration::from_millis(100)).await;
    // No new connections are accepted once shutdown began…
    let refused = reqwest::Client::new()
        .get(svc.url("/healthz"))
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    assert!(refused.is_err(), "new requests are refused during shutdown");
    // …but the request in flight finishes, with a committed token.
    let response = in_flight.await??;
    assert_eq!(response.status(), 200);
    let body: Value = serde_json::from_slice(&response.bytes().await?)?;
    let token = body["access_token"].as_str().context("token")?.to_owned();
    svc.task.take().context("task")?.await??;
    let record = svc.broker.store().connection("job").await?.context("job")?;
    assert_eq!(
        record.state,
        grantbox_host::store::ConnectionState::Connected
    );
    assert_eq!(
        grantbox_host::ExposeSecret::expose_secret(&record.token.context("stored")?.access_token),
        token
    );
    Ok(())
}
