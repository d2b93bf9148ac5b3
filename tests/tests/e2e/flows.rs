//! Interactive grants end to end: the authorization-code flow with PKCE and `state`, and
//! the device authorization grant, through the real generic plugin against the token
//! server's authorization endpoint on loopback. A "user agent" (an HTTP client that does
//! not follow redirects) plays the browser.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, ensure};
use grantbox_e2e::broker_in;
use grantbox_host::broker::{AuthorizationCallback, ConnectOptions};
use grantbox_host::store::{ConnectionState, NewConnection};
use grantbox_host::{
    Broker, Error, ExposeSecret, GrantType, ProviderConfig, RefreshPolicy, SecretString,
    SettingValue,
};
use grantbox_token_server::{AuthorizeDecision, Behavior, DevicePoll, TokenServer};

const CLIENT_ID: &str = "flows-client";
const CLIENT_SECRET: &str = "cs-flows-9c8b7a6d5e4f";
const REDIRECT: &str = "http://127.0.0.1:9/oauth/callback";

fn behavior() -> Behavior {
    Behavior {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        required_auth_params: vec![("access_type".into(), "offline".into())],
        device_interval_s: 1,
        ..Behavior::default()
    }
}

/// Provider `acme` (authorization code, with `access_type=offline` as an auth-URL param
/// from configuration) and connections `alice` and `bob`.
async fn setup(server: &TokenServer) -> anyhow::Result<(tempfile::TempDir, Broker)> {
    setup_with(server, RefreshPolicy::default()).await
}

async fn setup_with(
    server: &TokenServer,
    policy: RefreshPolicy,
) -> anyhow::Result<(tempfile::TempDir, Broker)> {
    let dir = tempfile::tempdir()?;
    let (broker, _store) = broker_in(dir.path(), policy).await?;
    let params = SettingValue::Map(BTreeMap::from([(
        "access_type".to_owned(),
        "offline".to_owned(),
    )]));
    broker
        .add_provider(
            ProviderConfig::new("acme", "generic")
                .grant(GrantType::AuthorizationCode)
                .scopes(["read", "write"])
                .setting("token_url", server.url("/token"))
                .setting("authorization_url", server.url("/authorize"))
                .setting("device_authorization_url", server.url("/device/code"))
                .setting("auth_params", params)
                .setting("client_id", CLIENT_ID)
                .secret("client_secret", SecretString::from(CLIENT_SECRET)),
        )
        .await?;
    for id in ["alice", "bob"] {
        broker
            .add_connection(NewConnection {
                id: id.into(),
                provider: "acme".into(),
                ..NewConnection::default()
            })
            .await?;
    }
    Ok((dir, broker))
}

fn user_agent() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// Follows the authorization URL like a browser whose user approves; returns the query of
/// the redirect back to us.
async fn visit(url: &str) -> anyhow::Result<String> {
    let response = user_agent().get(url).send().await?;
    ensure!(
        response.status().is_redirection(),
        "expected a redirect, got {}: {}",
        response.status(),
        response.text().await.unwrap_or_default()
    );
    let location = response
        .headers()
        .get("location")
        .context("Location")?
        .to_str()?
        .to_owned();
    let location = url::Url::parse(&location)?;
    ensure!(
        location.as_str().starts_with(REDIRECT),
        "redirected to {location}, not to the redirect URI"
    );
    Ok(location.query().unwrap_or_default().to_owned())
}

fn param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[tokio::test]
async fn authorization_code_with_pkce_connects_and_the_token_works() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let (_dir, broker) = setup(&server).await?;
    let mut options = ConnectOptions::new(REDIRECT);
    options.prompt = Some("consent".into());
    let start = broker.start_authorization("alice", &options).await?;

    // What the plugin put into the authorization URL.
    let url = url::Url::parse(&start.url)?;
    let q = |n: &str| {
        url.query_pairs()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.into_owned())
    };
    assert_eq!(q("response_type").as_deref(), Some("code"));
    assert_eq!(q("client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(q("redirect_uri").as_deref(), Some(REDIRECT));
    assert_eq!(q("state").as_deref(), Some(start.state.as_str()));
    assert_eq!(q("scope").as_deref(), Some("read write"));
    assert_eq!(q("prompt").as_deref(), Some("consent"));
    assert_eq!(q("access_type").as_deref(), Some("offline"));
    assert_eq!(q("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(q("code_challenge").map(|c| c.len()), Some(43));
    assert!(start.state.len() >= 43, "state carries 256 bits");

    let callback = visit(&start.url).await?;
    assert_eq!(
        param(&callback, "state").as_deref(),
        Some(start.state.as_str())
    );
    let connected = broker
        .complete_authorization(AuthorizationCallback::from_query(&callback))
        .await?;
    assert_eq!(connected.connection, "alice");

    // The code was redeemed once, with the verifier, at the token endpoint.
    let redemption = server
        .requests()
        .into_iter()
        .find(|r| r.params.get("grant_type").map(String::as_str) == Some("authorization_code"))
        .context("a code redemption")?;
    assert_eq!(redemption.status, 200, "{:?}", redemption.error);
    assert_eq!(
        redemption.params.get("redirect_uri").map(String::as_str),
        Some(REDIRECT)
    );
    assert_eq!(redemption.params["code_verifier"].len(), 43);

    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Connected);
    assert!(
        record.refresh_token.is_some(),
        "the refresh token is stored"
    );
    let bob = broker.store().connection("bob").await?.context("bob")?;
    assert_eq!(
        bob.state,
        ConnectionState::Default,
        "only the bound connection"
    );

    // The token is served and accepted by the API.
    let token = broker.get_token("alice").await?;
    assert_eq!(
        token.secret().expose_secret(),
        connected.token.secret().expose_secret()
    );
    let who = reqwest::Client::new()
        .get(server.url("/api/whoami"))
        .bearer_auth(token.secret().expose_secret())
        .send()
        .await?;
    assert_eq!(who.status(), 200);
    // And it refreshes with the refresh token the code exchange issued.
    broker.refresh("alice").await?;
    assert_eq!(server.count("refresh_token"), 1);
    Ok(())
}

/// The code exchange the token server received last.
fn last_code_exchange(
    server: &TokenServer,
) -> anyhow::Result<grantbox_token_server::RecordedRequest> {
    server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.params.get("grant_type").map(String::as_str) == Some("authorization_code"))
        .context("a code exchange was made")
}

/// Provider `acme` registered again with `more` settings.
async fn update_acme(
    broker: &Broker,
    more: impl FnOnce(ProviderConfig) -> ProviderConfig,
) -> anyhow::Result<()> {
    let acme = broker.store().provider("acme").await?.context("acme")?;
    broker.update_provider(more(acme.to_config())).await?;
    Ok(())
}

/// Many providers do not support PKCE and refuse its parameters: with `pkce = false` the
/// plugin sends neither the challenge nor the verifier.
#[tokio::test]
async fn pkce_can_be_turned_off_for_providers_that_reject_it() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        reject_pkce: true,
        require_pkce: false,
        ..behavior()
    })
    .await?;
    let (_dir, broker) = setup(&server).await?;
    // With PKCE (the default) this provider refuses the authorization request.
    let start = broker
        .start_authorization("alice", &ConnectOptions::new(REDIRECT))
        .await?;
    ensure!(start.url.contains("code_challenge="), "{}", start.url);
    let refused = visit(&start.url).await?;
    ensure!(
        param(&refused, "error").as_deref() == Some("invalid_request"),
        "{refused}"
    );

    update_acme(&broker, |c| c.setting("pkce", false)).await?;
    let start = broker
        .start_authorization("alice", &ConnectOptions::new(REDIRECT))
        .await?;
    ensure!(!start.url.contains("code_challenge"), "{}", start.url);
    broker
        .complete_authorization(AuthorizationCallback::from_query(&visit(&start.url).await?))
        .await?;
    broker.get_token("alice").await?;
    ensure!(
        !last_code_exchange(&server)?
            .params
            .contains_key("code_verifier")
    );
    Ok(())
}

/// Some providers spell standard parameters differently (TikTok: `client_key` for
/// `client_id`); `param_names` renames them in the authorization URL and token requests.
#[tokio::test]
async fn standard_parameters_can_be_renamed() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        client_id_param: "client_key".into(),
        client_auth: grantbox_token_server::ClientAuth::BodyOnly,
        ..behavior()
    })
    .await?;
    let (_dir, broker) = setup(&server).await?;
    update_acme(&broker, |c| {
        c.setting("client_auth", "body").setting(
            "param_names",
            BTreeMap::from([("client_id".to_owned(), "client_key".to_owned())]),
        )
    })
    .await?;
    let start = broker
        .start_authorization("alice", &ConnectOptions::new(REDIRECT))
        .await?;
    let url = url::Url::parse(&start.url)?;
    let query = url.query().unwrap_or_default();
    ensure!(
        param(query, "client_key").as_deref() == Some(CLIENT_ID)
            && param(query, "client_id").is_none(),
        "{url}"
    );
    broker
        .complete_authorization(AuthorizationCallback::from_query(&visit(&start.url).await?))
        .await?;
    broker.get_token("alice").await?;
    let exchange = last_code_exchange(&server)?;
    ensure!(exchange.params.get("client_key").map(String::as_str) == Some(CLIENT_ID));
    ensure!(!exchange.params.contains_key("client_id"), "{exchange:?}");
    Ok(())
}

/// Connects `id` through the authorization endpoint (the user approves).
async fn connect(broker: &Broker, id: &str) -> anyhow::Result<()> {
    let start = broker
        .start_authorization(id, &ConnectOptions::new(REDIRECT))
        .await?;
    let callback = visit(&start.url).await?;
    broker
        .complete_authorization(AuthorizationCallback::from_query(&callback))
        .await?;
    Ok(())
}

/// LinkedIn-style: no refresh token with the code. The access token is served until it
/// expires (not refused once inside the refresh window: there is nothing to refresh with),
/// then the connection needs reconnecting; reconnecting heals it.
#[tokio::test]
async fn without_a_refresh_token_the_token_serves_until_expiry_then_reconnect_is_needed()
-> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        interactive_refresh_tokens: false,
        access_token_ttl: Duration::from_secs(3),
        ..behavior()
    })
    .await?;
    let policy = RefreshPolicy {
        expiry_skew: Duration::from_millis(500),
        cache_max_age: Duration::ZERO,
        ..RefreshPolicy::default()
    };
    let (_dir, broker) = setup_with(&server, policy).await?;
    connect(&broker, "alice").await?;
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert!(record.refresh_token.is_none());
    assert_eq!(
        record.refresh_at, None,
        "no refresh scheduled: nothing to refresh with"
    );

    // Well inside the refresh window of a 3 s token, read from the store every time.
    let first = broker.get_token("alice").await?;
    let again = broker.get_token("alice").await?;
    assert_eq!(
        first.secret().expose_secret(),
        again.secret().expose_secret()
    );
    // A forced refresh cannot renew it, says so, and breaks nothing.
    let e = broker
        .refresh("alice")
        .await
        .expect_err("nothing to refresh with");
    assert!(matches!(e.root(), Error::ReconnectNeeded { .. }), "{e}");
    assert!(e.to_string().contains("no refresh token"), "{e}");
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Connected);
    assert!(!record.reconnect_needed);
    assert_eq!(server.count("refresh_token"), 0);

    // Expired: reconnect needed, recorded on the connection.
    tokio::time::sleep(Duration::from_millis(2_700)).await;
    let e = broker.get_token("alice").await.expect_err("expired");
    assert!(matches!(e.root(), Error::ReconnectNeeded { .. }), "{e}");
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Error);
    assert!(record.reconnect_needed);
    assert!(
        record
            .last_message
            .as_deref()
            .is_some_and(|m| m.contains("expired")),
        "{:?}",
        record.last_message
    );

    connect(&broker, "alice").await?;
    let fresh = broker.get_token("alice").await?;
    assert_ne!(
        fresh.secret().expose_secret(),
        first.secret().expose_secret()
    );
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Connected);
    assert!(!record.reconnect_needed);
    Ok(())
}

#[tokio::test]
async fn the_server_rejects_a_wrong_pkce_verifier_and_an_intercepted_code() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let (_dir, broker) = setup(&server).await?;
    let start = broker
        .start_authorization("alice", &ConnectOptions::new(REDIRECT))
        .await?;
    let callback = visit(&start.url).await?;
    let code = param(&callback, "code").context("code")?;
    // An attacker who intercepted the code but not the verifier cannot redeem it.
    let stolen = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "a-wrong-verifier-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
        ])
        .send()
        .await?;
    assert_eq!(stolen.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(&stolen.bytes().await?)?;
    assert_eq!(body["error"], "invalid_grant");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap_or("")
            .contains("PKCE"),
        "{body}"
    );

    // The code is burnt (one use), so grantbox's own exchange fails: the connection shows
    // the provider's message, and nothing is stored.
    let err = broker
        .complete_authorization(AuthorizationCallback::from_query(&callback))
        .await
        .expect_err("a used code is refused");
    assert!(matches!(err, Error::AuthorizationFailed { .. }), "{err}");
    assert!(err.to_string().contains("already used"), "{err}");
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Error);
    assert!(record.token.is_none());
    assert!(
        record
            .last_message
            .unwrap_or_default()
            .contains("already used")
    );

    // A redirect URI the client did not register gets an error page, never a redirect.
    server.set_behavior(Behavior {
        allow_loopback_redirects: false,
        redirect_uris: vec!["https://app.example/cb".into()],
        ..behavior()
    });
    let start = broker
        .start_authorization("alice", &ConnectOptions::new(REDIRECT))
        .await?;
    let page = user_agent().get(&start.url).send().await?;
    assert_eq!(page.status(), 400);
    assert!(page.headers().get("location").is_none());
    Ok(())
}

#[tokio::test]
async fn state_must_be_present_known_unused_and_fresh() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let (dir, broker) = setup(&server).await?;
    let start = broker
        .start_authorization("alice", &ConnectOptions::new(REDIRECT))
        .await?;
    let callback = visit(&start.url).await?;
    let code = param(&callback, "code").context("code")?;
    let refused = |e: Error, what: &str| {
        assert!(matches!(e, Error::InvalidCallback(_)), "{what}: {e}");
        e.to_string()
    };

    // Missing state.
    let e = broker
        .complete_authorization(AuthorizationCallback::from_query(&format!("code={code}")))
        .await
        .expect_err("missing state");
    assert!(refused(e, "missing").contains("missing"));
    // Foreign state (not issued by this host).
    let forged = format!("code={code}&state=forged-state-value");
    let e = broker
        .complete_authorization(AuthorizationCallback::from_query(&forged))
        .await
        .expect_err("foreign state");
    assert!(refused(e, "foreign").contains("unknown"));
    // Neither attempt reached the token endpoint.
    assert_eq!(server.count("authorization_code"), 0);

    // The real one works once…
    broker
        .complete_authorization(AuthorizationCallback::from_query(&callback))
        .await?;
    // …and is refused when replayed.
    let e = broker
        .complete_authorization(AuthorizationCallback::from_query(&callback))
        .await
        .expect_err("reused state");
    assert!(refused(e, "reused").contains("already used"));
    assert_eq!(server.count("authorization_code"), 1);

    // An expired one is refused without an exchange.
    let mut quick = ConnectOptions::new(REDIRECT);
    quick.ttl = Duration::from_millis(50);
    let start = broker.start_authorization("bob", &quick).await?;
    let callback = visit(&start.url).await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let e = broker
        .complete_authorization(AuthorizationCallback::from_query(&callback))
        .await
        .expect_err("expired state");
    assert!(refused(e, "expired").contains("expired"));
    assert_eq!(server.count("authorization_code"), 1);
    let bob = broker.store().connection("bob").await?.context("bob")?;
    assert_eq!(bob.state, ConnectionState::Default);

    // The state value is not stored in clear.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite:{}",
        dir.path().join("grantbox.db").display()
    ))
    .await?;
    let dump: Vec<String> = sqlx::query_scalar("SELECT state_hash FROM authorizations")
        .fetch_all(&pool)
        .await?;
    assert!(dump.iter().all(|h| h != &start.state));
    Ok(())
}

#[tokio::test]
async fn a_refusal_shows_the_providers_description_and_keeps_working_tokens() -> anyhow::Result<()>
{
    let server = TokenServer::start(Behavior {
        authorize_decision: AuthorizeDecision::Deny,
        ..behavior()
    })
    .await?;
    let (_dir, broker) = setup(&server).await?;
    let start = broker
        .start_authorization("alice", &ConnectOptions::new(REDIRECT))
        .await?;
    let callback = visit(&start.url).await?;
    assert_eq!(param(&callback, "error").as_deref(), Some("access_denied"));
    let e = broker
        .complete_authorization(AuthorizationCallback::from_query(&callback))
        .await
        .expect_err("denied");
    assert!(matches!(e, Error::AuthorizationFailed { .. }), "{e}");
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Error);
    let message = record.last_message.unwrap_or_default();
    assert!(
        message.contains("access_denied") && message.contains("The user denied the request"),
        "{message}"
    );

    // A connected account whose user then refuses a reconnect keeps its tokens.
    server.set_behavior(behavior());
    let start = broker
        .start_authorization("bob", &ConnectOptions::new(REDIRECT))
        .await?;
    broker
        .complete_authorization(AuthorizationCallback::from_query(&visit(&start.url).await?))
        .await?;
    let before = broker.get_token("bob").await?;
    server.set_behavior(Behavior {
        authorize_decision: AuthorizeDecision::Deny,
        ..behavior()
    });
    let start = broker
        .start_authorization("bob", &ConnectOptions::new(REDIRECT))
        .await?;
    let _ = broker
        .complete_authorization(AuthorizationCallback::from_query(&visit(&start.url).await?))
        .await
        .expect_err("denied");
    let bob = broker.store().connection("bob").await?.context("bob")?;
    assert_eq!(bob.state, ConnectionState::Connected);
    assert!(bob.last_message.unwrap_or_default().contains("kept"));
    let after = broker.get_token("bob").await?;
    assert_eq!(
        before.secret().expose_secret(),
        after.secret().expose_secret()
    );
    Ok(())
}

#[tokio::test]
async fn device_flow_pending_then_slow_down_then_success() -> anyhow::Result<()> {
    let b = behavior();
    b.device_script.lock().expect("script").extend([
        DevicePoll::Pending,
        DevicePoll::SlowDown,
        DevicePoll::Approve,
    ]);
    let server = TokenServer::start(b).await?;
    let (_dir, broker) = setup(&server).await?;
    let flow = broker.start_device_flow("alice").await?;
    assert!(!flow.user_code().is_empty());
    assert_eq!(flow.verification_uri(), server.url("/device"));
    assert!(
        flow.verification_uri_complete()
            .is_some_and(|u| u.contains(flow.user_code()))
    );
    assert_eq!(flow.interval(), Duration::from_secs(1));
    let token = broker.finish_device_flow(flow).await?;

    let polls = server.device_polls();
    assert_eq!(polls.len(), 3, "pending, slow_down, success");
    let after_slow_down = polls[2].duration_since(polls[1]);
    assert!(
        after_slow_down >= Duration::from_secs(6),
        "the interval grew by 5 s after slow_down (waited {after_slow_down:?})"
    );
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Connected);
    assert_eq!(
        broker.get_token("alice").await?.secret().expose_secret(),
        token.secret().expose_secret()
    );
    Ok(())
}

#[tokio::test]
async fn device_flow_approved_on_the_verification_page() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let (_dir, broker) = setup(&server).await?;
    let flow = broker.start_device_flow("alice").await?;
    let code = flow.user_code().to_owned();
    let task = tokio::spawn({
        let broker = broker.clone();
        async move { broker.finish_device_flow(flow).await }
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // The user approves in a browser.
    let page = reqwest::Client::new()
        .post(server.url("/device"))
        .form(&[("user_code", code.as_str()), ("decision", "approve")])
        .send()
        .await?;
    assert_eq!(page.status(), 200);
    task.await??;
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Connected);
    assert!(server.device_polls().len() >= 2, "it polled while pending");
    Ok(())
}

#[tokio::test]
async fn device_flow_denial_and_expiry_end_in_error() -> anyhow::Result<()> {
    let b = behavior();
    b.device_script
        .lock()
        .expect("script")
        .extend([DevicePoll::Pending, DevicePoll::Deny]);
    let server = TokenServer::start(b.clone()).await?;
    let (_dir, broker) = setup(&server).await?;
    let e = broker
        .finish_device_flow(broker.start_device_flow("alice").await?)
        .await
        .expect_err("denied");
    assert!(e.to_string().contains("denied by the user"), "{e}");
    let alice = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(alice.state, ConnectionState::Error);
    assert!(alice.last_message.unwrap_or_default().contains("denied"));

    b.device_script
        .lock()
        .expect("script")
        .push_back(DevicePoll::Expire);
    let e = broker
        .finish_device_flow(broker.start_device_flow("bob").await?)
        .await
        .expect_err("expired");
    assert!(e.to_string().contains("expired"), "{e}");
    let bob = broker.store().connection("bob").await?.context("bob")?;
    assert_eq!(bob.state, ConnectionState::Error);
    assert!(bob.token.is_none());
    Ok(())
}

#[tokio::test]
async fn device_flow_is_cancelled_by_dropping_it() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let (_dir, broker) = setup(&server).await?;
    let flow = broker.start_device_flow("alice").await?;
    let task = tokio::spawn({
        let broker = broker.clone();
        async move { broker.finish_device_flow(flow).await }
    });
    tokio::time::sleep(Duration::from_millis(1300)).await;
    task.abort();
    let polls = server.device_polls().len();
    assert!(polls >= 1);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        server.device_polls().len(),
        polls,
        "no polling after cancel"
    );
    let record = broker.store().connection("alice").await?.context("alice")?;
    assert_eq!(record.state, ConnectionState::Default, "nothing written");
    Ok(())
}
