//! The token lifecycle against real SQLite files, the real generic plugin and the token
//! server on loopback: single-flight refresh, rotation, failures that lose nothing,
//! several processes on one database, crash safety.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use grantbox_e2e::broker_in;
use grantbox_host::store::{ConnectionState, NewConnection, Overrides};
use grantbox_host::{
    Broker, Error, ExposeSecret, GrantType, ProviderConfig, RefreshPolicy, SecretString,
    SettingValue, SqliteStore, Store,
};
use grantbox_token_server::{Behavior, TokenServer};
use rand::Rng;

const CLIENT_ID: &str = "lifecycle-client";
const CLIENT_SECRET: &str = "cs-lifecycle-4a5b6c7d8e9f";
const USERNAME: &str = "bob@example.com";
const PASSWORD: &str = "pw-lifecycle-tr0ub4dor";

fn behavior() -> Behavior {
    Behavior {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        username: USERNAME.into(),
        password: PASSWORD.into(),
        issue_refresh_token: true,
        ..Behavior::default()
    }
}

/// Tokens are due for refresh as soon as they are issued, yet valid for their lifetime.
fn always_due() -> RefreshPolicy {
    RefreshPolicy {
        min_window: Duration::from_secs(24 * 3600),
        max_window_fraction: 1.0,
        expiry_skew: Duration::ZERO,
        inline_retry_base: Duration::from_millis(20),
        lease_poll: Duration::from_millis(10),
        ..RefreshPolicy::default()
    }
}

/// The default rules without clock-skew margin (short test lifetimes).
fn no_skew() -> RefreshPolicy {
    RefreshPolicy {
        expiry_skew: Duration::ZERO,
        inline_retry_base: Duration::from_millis(20),
        lease_poll: Duration::from_millis(10),
        ..RefreshPolicy::default()
    }
}

/// Registers provider `acme` (password grant) and connection `conn`, whose password is a
/// connection-level override.
async fn register(broker: &Broker, server: &TokenServer) -> anyhow::Result<()> {
    broker
        .add_provider(
            ProviderConfig::new("acme", "generic")
                .grant(GrantType::Password)
                .scopes(["read"])
                .setting("token_url", server.url("/token"))
                .setting("client_id", CLIENT_ID)
                .secret("client_secret", SecretString::from(CLIENT_SECRET))
                .setting("username", USERNAME),
        )
        .await?;
    let mut overrides = Overrides::default();
    overrides.settings.insert(
        "password".into(),
        SettingValue::Secret(SecretString::from(PASSWORD)),
    );
    broker
        .add_connection(NewConnection {
            id: "conn".into(),
            provider: "acme".into(),
            overrides,
            ..NewConnection::default()
        })
        .await?;
    Ok(())
}

/// The stored refresh token's sealed bytes, read straight from the database.
async fn raw_refresh_token(store: &SqliteStore, id: &str) -> anyhow::Result<Option<Vec<u8>>> {
    Ok(
        sqlx::query_scalar("SELECT refresh_token FROM connections WHERE id = ?1")
            .bind(id)
            .fetch_one(store.pool())
            .await?,
    )
}

async fn stored_refresh_token(store: &SqliteStore, id: &str) -> anyhow::Result<String> {
    let record = store.connection(id).await?.context("connection exists")?;
    Ok(record
        .refresh_token
        .context("a refresh token is stored")?
        .expose_secret()
        .to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_concurrent_callers_cause_one_refresh() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        access_token_ttl: Duration::from_secs(2),
        ..behavior()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let (broker, _store) = broker_in(dir.path(), no_skew()).await?;
    register(&broker, &server).await?;
    let first = broker.get_token("conn").await?;
    assert_eq!(server.count("password"), 1);
    // Let it expire, and make the refresh slow so every caller arrives while it runs.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    server.set_behavior(Behavior {
        access_token_ttl: Duration::from_secs(2),
        latency: Some(Duration::from_millis(300)),
        ..behavior()
    });
    let mut tasks = Vec::new();
    for _ in 0..1000 {
        let b = broker.clone();
        tasks.push(tokio::spawn(async move { b.get_token("conn").await }));
    }
    let mut values = HashSet::new();
    for t in tasks {
        let token = t.await??;
        values.insert(token.secret().expose_secret().to_owned());
    }
    assert_eq!(
        server.count("refresh_token"),
        1,
        "exactly one upstream refresh"
    );
    assert_eq!(values.len(), 1, "all callers got the same token");
    assert!(!values.contains(first.secret().expose_secret()));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotating_refresh_tokens_survive_200_cycles_with_concurrent_readers() -> anyhow::Result<()>
{
    let server = TokenServer::start(Behavior {
        rotate_refresh_tokens: true,
        access_token_ttl: Duration::from_secs(3600),
        record_requests: false,
        ..behavior()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let (broker, store) = broker_in(dir.path(), always_due()).await?;
    // A second broker on the same file stands for another process.
    let (other, _) = broker_in(dir.path(), always_due()).await?;
    register(&broker, &server).await?;
    broker.get_token("conn").await?;

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for i in 0..6 {
        let b = if i % 2 == 0 {
            broker.clone()
        } else {
            other.clone()
        };
        let stop = stop.clone();
        readers.push(tokio::spawn(async move {
            let mut served = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                b.get_token("conn").await?;
                served += 1;
            }
            anyhow::Ok(served)
        }));
    }
    for i in 0..200 {
        let b = if i % 3 == 0 { &other } else { &broker };
        b.refresh("conn")
            .await
            .with_context(|| format!("refresh cycle {i}"))?;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        let served = r.await??;
        assert!(served > 0);
    }
    assert!(server.count("refresh_token") >= 200);
    let current = server.current_refresh_tokens();
    assert_eq!(current.len(), 1, "rotation leaves one valid refresh token");
    assert_eq!(stored_refresh_token(&store, "conn").await?, current[0]);
    let record = store.connection("conn").await?.context("exists")?;
    assert_eq!(record.state, ConnectionState::Connected);
    assert_eq!(record.last_message, None, "no refresh ever failed");
    Ok(())
}

/// Each failure mode, on a connection whose token is due but still valid, and on one whose
/// token has expired: the sealed refresh token stays byte-identical.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_refreshes_lose_nothing() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let dir = tempfile::tempdir()?;
    let limits = grantbox_host::Limits {
        request_timeout: Duration::from_millis(400),
        ..grantbox_e2e::test_limits()
    };
    let (broker, store) =
        grantbox_e2e::broker_with_limits(dir.path(), always_due(), limits).await?;
    register(&broker, &server).await?;
    let first = broker.get_token("conn").await?;
    let sealed = raw_refresh_token(&store, "conn").await?.context("stored")?;

    let failures: [(&str, Behavior); 3] = [
        (
            "HTTP 500",
            Behavior {
                force_error: Some((500, "server_error".into(), "database down".into())),
                ..behavior()
            },
        ),
        (
            "malformed JSON",
            Behavior {
                malformed_response: true,
                ..behavior()
            },
        ),
        (
            "timeout",
            Behavior {
                latency: Some(Duration::from_secs(2)),
                ..behavior()
            },
        ),
    ];
    for (what, b) in failures {
        server.set_behavior(b);
        // Due but valid: the current token is served, the failure is recorded.
        let served = broker
            .get_token("conn")
            .await
            .with_context(|| format!("{what}: the still-valid token is served"))?;
        assert_eq!(
            served.secret().expose_secret(),
            first.secret().expose_secret(),
            "{what}"
        );
        let record = store.connection("conn").await?.context("exists")?;
        assert_eq!(record.state, ConnectionState::Connected, "{what}");
        let message = record.last_message.unwrap_or_default();
        assert!(
            message.starts_with("refresh failed, serving the current token"),
            "{what}: {message}"
        );
        assert!(!record.reconnect_needed, "{what}");
        assert!(
            record
                .refresh_at
                .is_some_and(|r| r > std::time::SystemTime::now()),
            "{what}: a retry is scheduled"
        );
        // A forced refresh reports the failure.
        let e = broker.refresh("conn").await.expect_err(what);
        assert!(
            !matches!(e.root(), Error::ReconnectNeeded { .. }),
            "{what}: {e}"
        );
        assert_eq!(
            raw_refresh_token(&store, "conn").await?.as_deref(),
            Some(sealed.as_slice()),
            "{what}: refresh token untouched"
        );
    }

    // invalid_grant: reconnect needed, and no more upstream attempts until something changes.
    server.set_behavior(Behavior {
        force_error: Some((400, "invalid_grant".into(), "refresh token revoked".into())),
        ..behavior()
    });
    let e = broker.refresh("conn").await.expect_err("invalid_grant");
    assert!(matches!(e.root(), Error::ReconnectNeeded { .. }), "{e}");
    let record = store.connection("conn").await?.context("exists")?;
    assert_eq!(record.state, ConnectionState::Error);
    assert!(record.reconnect_needed);
    let message = record.last_message.unwrap_or_default();
    assert!(
        message.contains("reconnect needed") && message.contains("refresh token revoked"),
        "{message}"
    );
    assert!(record.last_error_at.is_some());
    assert_eq!(
        raw_refresh_token(&store, "conn").await?.as_deref(),
        Some(sealed.as_slice()),
        "invalid_grant: refresh token untouched"
    );
    let before = server.request_count();
    let e = broker.get_token("conn").await.expect_err("still dead");
    assert!(matches!(e.root(), Error::ReconnectNeeded { .. }), "{e}");
    assert_eq!(
        server.request_count(),
        before,
        "no upstream call for a dead grant"
    );

    // The provider recovers and the operator retries: connected again.
    server.set_behavior(behavior());
    broker.refresh("conn").await?;
    let record = store.connection("conn").await?.context("exists")?;
    assert_eq!(record.state, ConnectionState::Connected);
    assert_eq!(record.last_message, None);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_token_and_temporary_failure_is_an_error_state() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        access_token_ttl: Duration::from_secs(1),
        ..behavior()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let (broker, store) = broker_in(dir.path(), no_skew()).await?;
    register(&broker, &server).await?;
    broker.get_token("conn").await?;
    let sealed = raw_refresh_token(&store, "conn").await?.context("stored")?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.set_behavior(Behavior {
        force_error: Some((503, "temporarily_unavailable".into(), "maintenance".into())),
        ..behavior()
    });
    let before = server.request_count();
    let e = broker.get_token("conn").await.expect_err("no valid token");
    assert!(e.to_string().contains("maintenance"), "{e}");
    assert_eq!(
        server.request_count() - before,
        3,
        "retried inline with backoff (3 attempts)"
    );
    let record = store.connection("conn").await?.context("exists")?;
    assert_eq!(record.state, ConnectionState::Error);
    assert!(!record.reconnect_needed);
    assert!(
        record
            .last_message
            .unwrap_or_default()
            .contains("maintenance")
    );
    assert_eq!(
        raw_refresh_token(&store, "conn").await?.as_deref(),
        Some(sealed.as_slice())
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_brokers_on_one_file_refresh_once() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        access_token_ttl: Duration::from_secs(1),
        ..behavior()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let (a, _) = broker_in(dir.path(), no_skew()).await?;
    let (b, _) = broker_in(dir.path(), no_skew()).await?;
    register(&a, &server).await?;
    a.get_token("conn").await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.set_behavior(Behavior {
        access_token_ttl: Duration::from_secs(60),
        latency: Some(Duration::from_millis(300)),
        ..behavior()
    });
    let (ta, tb) = tokio::join!(a.get_token("conn"), b.get_token("conn"));
    assert_eq!(server.count("refresh_token"), 1);
    assert_eq!(ta?.secret().expose_secret(), tb?.secret().expose_secret());
    Ok(())
}

fn child(mode: &str, dir: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_lifecycle-child"));
    cmd.args([mode, &dir.display().to_string(), "conn"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_on_one_file_refresh_once() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        access_token_ttl: Duration::from_secs(1),
        ..behavior()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let (broker, _) = broker_in(dir.path(), no_skew()).await?;
    register(&broker, &server).await?;
    broker.get_token("conn").await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    server.set_behavior(Behavior {
        access_token_ttl: Duration::from_secs(60),
        latency: Some(Duration::from_millis(1500)),
        ..behavior()
    });
    let p1 = child("get", dir.path()).spawn()?;
    let p2 = child("get", dir.path()).spawn()?;
    let (o1, o2) =
        tokio::task::spawn_blocking(move || (p1.wait_with_output(), p2.wait_with_output())).await?;
    let (o1, o2) = (o1?, o2?);
    ensure!(
        o1.status.success() && o2.status.success(),
        "children failed: {}\n{}",
        String::from_utf8_lossy(&o1.stderr),
        String::from_utf8_lossy(&o2.stderr)
    );
    assert_eq!(server.count("refresh_token"), 1, "one upstream refresh");
    assert_eq!(o1.stdout, o2.stdout, "both got the same token");
    Ok(())
}

/// A child refreshing in a loop is killed with SIGKILL at random moments, 50 times. After
/// each kill the stored refresh token is one the server accepts — the current one, or the
/// previous one inside the server's rotation grace period (a kill between the server's
/// rotation and our commit loses the new token; nothing can prevent that, so the provider
/// must allow reuse of the previous token until its successor is used, as Okta and Auth0
/// do) — and the connection refreshes successfully.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_refresh_loses_no_token() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        rotate_refresh_tokens: true,
        rotation_grace: true,
        record_requests: false,
        ..behavior()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let policy = RefreshPolicy {
        lease_ttl: Duration::from_secs(1),
        ..no_skew()
    };
    let (broker, store) = broker_in(dir.path(), policy).await?;
    register(&broker, &server).await?;
    broker.get_token("conn").await?;
    let mut rng = rand::rng();
    let mut refreshed_by_children = 0;
    for kill in 0..50 {
        let mut p = child("refresh-loop", dir.path()).spawn()?;
        let wait = Duration::from_millis(rng.random_range(30..250));
        tokio::time::sleep(wait).await;
        p.kill()?; // SIGKILL
        let out = tokio::task::spawn_blocking(move || p.wait_with_output()).await??;
        refreshed_by_children += out.stdout.iter().filter(|b| **b == b'\n').count();
        let stored = stored_refresh_token(&store, "conn").await?;
        let valid = server.valid_refresh_tokens();
        assert!(
            valid.contains(&stored),
            "kill {kill}: stored refresh token is not accepted by the server"
        );
        broker
            .refresh("conn")
            .await
            .with_context(|| format!("refresh after kill {kill}"))?;
        assert_eq!(
            server.current_refresh_tokens(),
            vec![stored_refresh_token(&store, "conn").await?],
            "kill {kill}: after a refresh the stored token is the current one"
        );
    }
    assert!(
        refreshed_by_children > 0,
        "the children did refresh before being killed"
    );
    Ok(())
}

#[tokio::test]
async fn bad_registrations_name_the_field_and_write_nothing() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let dir = tempfile::tempdir()?;
    let (broker, store) = broker_in(dir.path(), no_skew()).await?;
    let e = broker
        .add_provider(ProviderConfig::new("p", "generic").setting("token_url", "not a url"))
        .await
        .expect_err("malformed URL");
    assert!(e.to_string().contains("setting `token_url`"), "{e}");
    let e = broker
        .add_provider(ProviderConfig::new("p", "generic"))
        .await
        .expect_err("missing field");
    assert!(
        e.to_string().contains("setting `token_url`: required"),
        "{e}"
    );
    let e = broker
        .add_provider(ProviderConfig::new("p", "nope"))
        .await
        .expect_err("unknown plugin");
    assert!(e.to_string().contains("`nope`"), "{e}");
    // A value only the plugin can judge, set on the provider: refused (nothing is sent).
    let e = broker
        .add_provider(
            ProviderConfig::new("p", "generic")
                .grant(GrantType::ClientCredentials)
                .setting("token_url", server.url("/token"))
                .setting("client_id", CLIENT_ID)
                .secret("client_secret", SecretString::from(CLIENT_SECRET))
                .setting("client_auth", "header"),
        )
        .await
        .expect_err("bad enum value");
    assert!(
        e.to_string().contains("setting `client_auth`")
            && e.to_string().contains("`header` is not one of"),
        "{e}"
    );
    assert_eq!(server.request_count(), 0, "the check sent nothing");
    assert!(store.providers().await?.is_empty(), "nothing written");

    register(&broker, &server).await?;
    let e = broker
        .add_connection(NewConnection {
            id: "c2".into(),
            provider: "missing".into(),
            ..NewConnection::default()
        })
        .await
        .expect_err("unknown provider");
    assert!(e.to_string().contains("no provider named `missing`"), "{e}");
    let mut overrides = Overrides::default();
    overrides
        .settings
        .insert("tokn_url".into(), SettingValue::Text("x".into()));
    let e = broker
        .add_connection(NewConnection {
            id: "c3".into(),
            provider: "acme".into(),
            overrides,
            ..NewConnection::default()
        })
        .await
        .expect_err("unknown setting");
    assert!(e.to_string().contains("setting `tokn_url`"), "{e}");
    let e = broker
        .add_connection(NewConnection {
            id: "c4".into(),
            provider: "acme".into(),
            api_base_url: Some("ftp://x".into()),
            ..NewConnection::default()
        })
        .await
        .expect_err("bad base URL");
    assert!(e.to_string().contains("setting `api_base_url`"), "{e}");
    // Values only the plugin can judge: it is asked, and nothing is sent upstream.
    let sent_before = server.request_count();
    for (field, value, expected) in [
        ("password", "", "`password` must be set"),
        ("client_auth", "bogus", "`bogus` is not one of"),
        ("token_placement", "cookie", "`cookie` is not one of"),
    ] {
        let mut overrides = Overrides::default();
        if field != "password" {
            overrides.settings.insert(
                "password".into(),
                SettingValue::Secret(SecretString::from(PASSWORD)),
            );
            overrides
                .settings
                .insert(field.into(), SettingValue::Text(value.into()));
        }
        let e = broker
            .add_connection(NewConnection {
                id: "c5".into(),
                provider: "acme".into(),
                overrides,
                ..NewConnection::default()
            })
            .await
            .expect_err(field);
        let text = e.to_string();
        assert!(
            text.contains(&format!("setting `{field}`")) && text.contains(expected),
            "{text}"
        );
    }
    assert_eq!(
        server.request_count(),
        sent_before,
        "the check sent nothing"
    );
    let ids: Vec<String> = store
        .connections(None)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(ids, ["conn"], "nothing written");

    // Layered settings: plugin defaults < provider < connection.
    let effective = broker.effective_provider("conn").await?.redacted_settings();
    assert_eq!(
        effective.get("username").map(String::as_str),
        Some("Text(\"bob@example.com\")")
    );
    assert!(
        effective
            .get("password")
            .is_some_and(|p| p.contains("redacted"))
    );
    assert!(
        effective.contains_key("client_auth"),
        "plugin default shown"
    );

    // Disabled connections serve nothing.
    broker.set_active("conn", false).await?;
    let e = broker.get_token("conn").await.expect_err("disabled");
    assert!(matches!(e.root(), Error::Disabled(_)), "{e}");
    broker.set_active("conn", true).await?;
    broker.get_token("conn").await?;
    Ok(())
}

#[tokio::test]
async fn background_refresher_refreshes_only_due_connections() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let dir = tempfile::tempdir()?;
    let (broker, store) = broker_in(dir.path(), always_due()).await?;
    register(&broker, &server).await?;
    let mut overrides = Overrides::default();
    overrides.settings.insert(
        "password".into(),
        SettingValue::Secret(SecretString::from(PASSWORD)),
    );
    broker
        .add_connection(NewConnection {
            id: "auto".into(),
            provider: "acme".into(),
            overrides,
            auto_refresh: true,
            ..NewConnection::default()
        })
        .await?;
    // Connect both; only `auto` is scanned.
    broker.get_token("conn").await?;
    broker.get_token("auto").await?;
    let due = store
        .due_connections(std::time::SystemTime::now(), 10)
        .await?;
    assert_eq!(due, ["auto"]);
    let before = server.count("refresh_token");
    assert_eq!(broker.refresh_due(4).await, 1);
    assert_eq!(server.count("refresh_token"), before + 1);

    // The running refresher does the same on its own, until stopped.
    let refresher = grantbox_host::Refresher::start(broker.clone(), Duration::from_millis(50), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.count("refresh_token") < before + 3 {
        ensure!(
            std::time::Instant::now() < deadline,
            "the refresher did not refresh"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    refresher.stop().await;
    let record = store.connection("conn").await?.context("exists")?;
    assert_eq!(
        record.refresh_count, 1,
        "the connection without auto refresh was left alone"
    );
    Ok(())
}

/// A plugin that panics puts its connection in state `error` with the plugin's message;
/// connections served by other plugins keep working, during and after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_fault_is_an_error_state_and_others_are_unaffected() -> anyhow::Result<()> {
    let server = TokenServer::start(behavior()).await?;
    let dir = tempfile::tempdir()?;
    let (broker, store) = broker_in(dir.path(), no_skew()).await?;
    broker
        .host()
        .load_plugin_file(grantbox_e2e::artifacts::HOSTILE)
        .await?;
    register(&broker, &server).await?;
    broker
        .add_provider(
            ProviderConfig::new("broken", "hostile")
                .grant(GrantType::ClientCredentials)
                .setting("mode", "panic"),
        )
        .await?;
    broker
        .add_connection(NewConnection {
            id: "bad".into(),
            provider: "broken".into(),
            ..NewConnection::default()
        })
        .await?;
    let (bad, good) = tokio::join!(broker.get_token("bad"), broker.get_token("conn"));
    let e = bad.expect_err("the plugin panics");
    assert!(e.plugin_fault().is_some(), "{e}");
    good?;
    let record = store.connection("bad").await?.context("exists")?;
    assert_eq!(record.state, ConnectionState::Error);
    let message = record.last_message.unwrap_or_default();
    assert!(message.contains("panicked"), "{message}");
    assert!(record.refresh_at.is_some(), "retried later with backoff");
    broker.refresh("conn").await?;
    assert_eq!(
        store.connection("conn").await?.context("exists")?.state,
        ConnectionState::Connected
    );
    Ok(())
}
