//! The host's side of every request: redirects, response size, timeouts, concurrency.

use std::time::Duration;

use grantbox_e2e::{artifacts, loopback_egress, test_limits};
use grantbox_host::{ErrorKind, GrantType, Host, Limits, Provider, ProviderConfig, SecretString};
use grantbox_token_server::{Behavior, TokenServer};

async fn host(limits: Limits) -> anyhow::Result<Host> {
    let host = Host::builder()
        .limits(limits)
        .egress(loopback_egress())
        .build()?;
    host.load_plugin_file(artifacts::GENERIC).await?;
    Ok(host)
}

fn provider(host: &Host, server: &TokenServer) -> anyhow::Result<Provider> {
    Ok(host.provider(
        ProviderConfig::new("net", "generic")
            .grant(GrantType::ClientCredentials)
            .setting("token_url", server.url("/token"))
            .setting("client_id", "demo-client")
            .secret("client_secret", SecretString::from("demo-secret")),
    )?)
}

#[tokio::test]
async fn redirects_are_not_followed() -> anyhow::Result<()> {
    let elsewhere = TokenServer::start(Behavior::default()).await?;
    let server = TokenServer::start(Behavior {
        redirect_to: Some(elsewhere.url("/token")),
        ..Behavior::default()
    })
    .await?;
    let host = host(test_limits()).await?;
    let err = provider(&host, &server)?
        .fetch_token()
        .await
        .expect_err("a redirect is no token");
    let o = err.oauth().expect("an OAuth error");
    assert_eq!(o.status, Some(307), "{err}");
    assert_eq!(server.request_count(), 1);
    assert_eq!(elsewhere.request_count(), 0, "the redirect was followed");
    Ok(())
}

#[tokio::test]
async fn oversized_responses_are_cut_off() -> anyhow::Result<()> {
    let mut extra = serde_json::Map::new();
    extra.insert(
        "padding".into(),
        serde_json::Value::String("x".repeat(256 * 1024)),
    );
    let server = TokenServer::start(Behavior {
        extra_fields: extra,
        ..Behavior::default()
    })
    .await?;
    let limits = Limits {
        max_response_bytes: 64 * 1024,
        ..test_limits()
    };
    let host = host(limits).await?;
    let err = provider(&host, &server)?
        .fetch_token()
        .await
        .expect_err("too large");
    assert_eq!(
        err.oauth().map(|o| o.kind),
        Some(ErrorKind::Transport),
        "{err}"
    );
    assert!(err.to_string().contains("exceeded 65536 bytes"), "{err}");
    Ok(())
}

#[tokio::test]
async fn slow_providers_time_out() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        latency: Some(Duration::from_secs(3)),
        ..Behavior::default()
    })
    .await?;
    let limits = Limits {
        request_timeout: Duration::from_millis(300),
        ..test_limits()
    };
    let host = host(limits).await?;
    let err = provider(&host, &server)?
        .fetch_token()
        .await
        .expect_err("timeout");
    let o = err.oauth().expect("an OAuth error");
    assert_eq!(o.kind, ErrorKind::Transport);
    assert!(o.kind.is_retryable());
    assert!(err.to_string().contains("did not answer in time"), "{err}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_fetches_through_a_small_pool() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior::default()).await?;
    // Four instances at most: the other callers wait for a slot instead of failing.
    let limits = Limits {
        max_concurrent_calls: 4,
        ..test_limits()
    };
    let host = host(limits).await?;
    let p = provider(&host, &server)?;
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let p = p.clone();
        tasks.push(tokio::spawn(async move { p.fetch_token().await }));
    }
    let mut tokens = std::collections::HashSet::new();
    for t in tasks {
        let token = t.await??;
        tokens.insert(grantbox_host::ExposeSecret::expose_secret(&token.access_token).to_owned());
    }
    assert_eq!(tokens.len(), 200, "every call got its own token");
    assert_eq!(server.count("client_credentials"), 200);
    Ok(())
}

#[tokio::test]
async fn time_waiting_for_the_provider_is_not_cpu_time() -> anyhow::Result<()> {
    // The provider takes longer than the plugin's whole CPU budget; the call still succeeds.
    let server = TokenServer::start(Behavior {
        latency: Some(Duration::from_millis(700)),
        ..Behavior::default()
    })
    .await?;
    let limits = Limits {
        cpu_time: Duration::from_millis(200),
        ..test_limits()
    };
    let host = host(limits).await?;
    provider(&host, &server)?.fetch_token().await?;
    Ok(())
}

#[tokio::test]
async fn the_whole_call_has_a_wall_clock_limit() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        latency: Some(Duration::from_secs(3)),
        ..Behavior::default()
    })
    .await?;
    let limits = Limits {
        request_timeout: Duration::from_secs(10),
        call_timeout: Duration::from_millis(400),
        ..test_limits()
    };
    let host = host(limits).await?;
    let started = std::time::Instant::now();
    let err = provider(&host, &server)?
        .fetch_token()
        .await
        .expect_err("timeout");
    assert!(
        matches!(
            err.plugin_fault(),
            Some(grantbox_host::PluginFault::Timeout(_))
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(2900),
        "the call was not cut off"
    );
    // The host keeps serving.
    let fast = TokenServer::start(Behavior::default()).await?;
    provider(&host, &fast)?.fetch_token().await?;
    Ok(())
}
