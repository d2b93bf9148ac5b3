//! The service at TRACE level, every log line captured (ours, hyper's, reqwest's, sqlx's):
//! an authorization-code connect through `/oauth/callback`, token reads, the proxy with a
//! 401 → refresh → retry, a wrong API key. The `token_exchange` spans are there, with
//! provider, connection, grant and outcome; no secret is: not the client secret, the API
//! key, the authorization code, the state, an access or a refresh token.

use std::time::Duration;

use anyhow::Context;
use grantbox_e2e::{CapturedLogs, LoopbackService, broker_in, serve_on_loopback};
use grantbox_host::store::NewConnection;
use grantbox_host::{
    ExposeSecret, GrantType, ProviderConfig, RefreshPolicy, SecretString, apikeys,
};
use grantbox_token_server::{Behavior, TokenServer};

const CLIENT_SECRET: &str = "svc-log-client-secret-8d2e";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_appears_in_the_service_trace_logs() -> anyhow::Result<()> {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber)?;

    let server = TokenServer::start(Behavior {
        client_id: "svc-log".into(),
        client_secret: CLIENT_SECRET.into(),
        ..Behavior::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let (broker, _store) = broker_in(dir.path(), RefreshPolicy::default()).await?;
    broker
        .add_provider(
            ProviderConfig::new("acme", "generic")
                .grant(GrantType::AuthorizationCode)
                .setting("token_url", server.url("/token"))
                .setting("authorization_url", server.url("/authorize"))
                .setting("client_id", "svc-log")
                .secret("client_secret", SecretString::from(CLIENT_SECRET)),
        )
        .await?;
    broker
        .add_connection(NewConnection {
            id: "alice".into(),
            provider: "acme".into(),
            api_base_url: Some(server.url("/api")),
            ..NewConnection::default()
        })
        .await?;
    let key = apikeys::create(broker.store().as_ref(), "logs").await?;
    let key = key.key.expose_secret().to_owned();
    let LoopbackService { base, stop, task } = serve_on_loopback(broker.clone(), |_| {}).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;

    let started: serde_json::Value = serde_json::from_slice(
        &http
            .post(format!("{base}/v1/connections/alice/connect"))
            .bearer_auth(&key)
            .send()
            .await?
            .bytes()
            .await?,
    )?;
    let at_provider = http
        .get(started["authorization_url"].as_str().context("url")?)
        .send()
        .await?;
    let callback = at_provider
        .headers()
        .get("location")
        .context("location")?
        .to_str()?
        .to_owned();
    let query = url::Url::parse(&callback)?
        .query()
        .unwrap_or_default()
        .to_owned();
    let param = |name: &str| {
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let (code, state) = (param("code"), param("state"));
    assert_eq!(http.get(&callback).send().await?.status(), 200);
    let first = broker.get_token("alice").await?;
    let refresh_token = broker
        .store()
        .connection("alice")
        .await?
        .and_then(|c| c.refresh_token)
        .context("refresh token")?;
    server.revoke_access_tokens();
    let proxied = http
        .get(format!("{base}/v1/connections/alice/proxy/whoami"))
        .bearer_auth(&key)
        .send()
        .await?;
    assert_eq!(proxied.status(), 200);
    let second = broker.get_token("alice").await?;
    let wrong = http
        .get(format!("{base}/v1/providers"))
        .bearer_auth("gbx_deadbeef_wrongkeywrongkeywrongkeywrongkeywrong00")
        .send()
        .await?;
    assert_eq!(wrong.status(), 401);
    let _ = stop.send(());
    task.await??;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let captured = logs.contents();
    assert!(
        captured.contains("token_exchange"),
        "spans are logged:\n{captured}"
    );
    assert!(
        captured.contains("connection=alice") && captured.contains("outcome=\"ok\""),
        "span fields:\n{captured}"
    );
    assert!(captured.contains("connected (authorization code)"));
    for (what, secret) in [
        ("client secret", CLIENT_SECRET),
        ("API key", key.as_str()),
        ("authorization code", code.as_str()),
        ("state", state.as_str()),
        ("first access token", first.secret().expose_secret()),
        ("second access token", second.secret().expose_secret()),
        ("refresh token", refresh_token.expose_secret()),
    ] {
        assert!(!secret.is_empty(), "{what} known");
        assert!(
            !captured.contains(secret),
            "the {what} appears in the logs:\n{captured}"
        );
    }
    Ok(())
}
