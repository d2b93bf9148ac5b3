//! Hostile plugins: each misbehaviour fails its own call with a clear error, the server is
//! never contacted where egress is denied, no secret leaks, and the same host keeps serving.

use grantbox_e2e::{artifacts, loopback_egress, test_limits};
use grantbox_host::{
    EgressPolicy, Error, ExposeSecret, GrantType, Host, PluginFault, ProviderConfig, SecretString,
};
use grantbox_token_server::{Behavior, TokenServer};

const SECRET: &str = "hostile-test-secret-4f1c2e9a";
const PASSWORD: &str = "hostile-test-password-77d0b3";

async fn host(egress: EgressPolicy) -> anyhow::Result<Host> {
    let host = Host::builder()
        .limits(test_limits())
        .egress(egress)
        .build()?;
    host.load_plugin_file(artifacts::HOSTILE).await?;
    host.load_plugin_file(artifacts::GENERIC).await?;
    Ok(host)
}

fn hostile(mode: &str, server: &TokenServer) -> ProviderConfig {
    ProviderConfig::new(format!("hostile-{mode}"), "hostile")
        .grant(GrantType::ClientCredentials)
        .setting("mode", mode)
        .setting("allowed_url", server.url("/token"))
        .setting("client_id", "hostile-client")
        .secret("client_secret", SecretString::from(SECRET))
        .secret("password", SecretString::from(PASSWORD))
}

/// The same host still serves a good request through the generic plugin.
async fn still_serves(host: &Host) -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        client_id: "good".into(),
        client_secret: "good-secret".into(),
        ..Behavior::default()
    })
    .await?;
    let p = host.provider(
        ProviderConfig::new("good", "generic")
            .setting("token_url", server.url("/token"))
            .setting("client_id", "good")
            .secret("client_secret", SecretString::from("good-secret")),
    )?;
    let token = p.fetch_token().await?;
    assert!(!token.access_token.expose_secret().is_empty());
    Ok(())
}

async fn fault(mode: &str) -> anyhow::Result<(PluginFault, Host)> {
    let server = TokenServer::start(Behavior::default()).await?;
    let host = host(loopback_egress()).await?;
    let err = host
        .provider(hostile(mode, &server))?
        .fetch_token()
        .await
        .expect_err("the hostile call fails");
    let fault = match err {
        Error::PluginFault { fault, .. } => fault,
        other => anyhow::bail!("{mode}: expected a plugin fault, got {other}"),
    };
    Ok((fault, host))
}

#[tokio::test]
async fn infinite_loop_hits_the_cpu_limit() -> anyhow::Result<()> {
    let (fault, host) = fault("loop").await?;
    assert!(matches!(fault, PluginFault::CpuLimit(_)), "{fault}");
    still_serves(&host).await
}

#[tokio::test]
async fn memory_growth_hits_the_memory_limit() -> anyhow::Result<()> {
    let (fault, host) = fault("memory").await?;
    assert!(matches!(fault, PluginFault::MemoryLimit(_)), "{fault}");
    still_serves(&host).await
}

#[tokio::test]
async fn deep_recursion_overflows_the_stack_safely() -> anyhow::Result<()> {
    let (fault, host) = fault("recursion").await?;
    assert!(matches!(fault, PluginFault::StackOverflow), "{fault}");
    still_serves(&host).await
}

#[tokio::test]
async fn shadow_stack_overflow_traps_without_harming_the_host() -> anyhow::Result<()> {
    let (fault, host) = fault("shadow-stack").await?;
    match &fault {
        PluginFault::Trap(msg) => assert!(msg.contains("out of bounds"), "{msg}"),
        other => anyhow::bail!("expected an out-of-bounds trap, got {other}"),
    }
    still_serves(&host).await
}

#[tokio::test]
async fn panic_is_reported_with_its_message() -> anyhow::Result<()> {
    let (fault, host) = fault("panic").await?;
    match &fault {
        PluginFault::Panic(msg) => assert!(msg.contains("panicked at"), "{msg}"),
        other => anyhow::bail!("expected a panic, got {other}"),
    }
    still_serves(&host).await
}

#[tokio::test]
async fn undeclared_host_is_denied_before_any_connection() -> anyhow::Result<()> {
    let declared = TokenServer::start(Behavior::default()).await?;
    let target = TokenServer::start(Behavior::default()).await?;
    let host = host(loopback_egress()).await?;
    let err = host
        .provider(
            hostile("undeclared-host", &declared).setting("target_url", target.url("/token")),
        )?
        .fetch_token()
        .await
        .expect_err("denied");
    let text = err.to_string();
    assert!(
        text.contains("not among the hosts the plugin declared"),
        "{text}"
    );
    assert_eq!(
        target.request_count(),
        0,
        "the undeclared server was contacted"
    );
    assert_eq!(declared.request_count(), 0);
    still_serves(&host).await
}

#[tokio::test]
async fn private_addresses_are_denied_unless_allowed() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior::default()).await?;
    // Every origin is allowed by pattern, but of the private networks only 127.0.0.2.
    let egress = EgressPolicy::deny_all()
        .allow("http://*:*")?
        .allow_private_network("127.0.0.2/32".parse()?);
    let host = host(egress).await?;
    // An IP literal, checked before connecting…
    let err = host
        .provider(hostile("private-address", &server))?
        .fetch_token()
        .await
        .expect_err("denied");
    assert!(
        err.to_string().contains("private, loopback or link-local"),
        "{err}"
    );
    // …and a name that resolves to loopback, checked by the host's resolver.
    let by_name = server.url("/token").replace("127.0.0.1", "localhost");
    let err = host
        .provider(hostile("private-address", &server).setting("allowed_url", by_name))?
        .fetch_token()
        .await
        .expect_err("denied");
    assert!(
        err.to_string().contains("private, loopback or link-local"),
        "{err}"
    );
    assert_eq!(
        server.request_count(),
        0,
        "the private server was contacted"
    );

    // The same host still serves a good request, to the one private address allowed.
    let good = TokenServer::start_on(
        "127.0.0.2:0".parse()?,
        Behavior {
            client_id: "good".into(),
            client_secret: "good-secret".into(),
            ..Behavior::default()
        },
    )
    .await?;
    let p = host.provider(
        ProviderConfig::new("good", "generic")
            .setting("token_url", good.url("/token"))
            .setting("client_id", "good")
            .secret("client_secret", SecretString::from("good-secret")),
    )?;
    assert!(
        !p.fetch_token()
            .await?
            .access_token
            .expose_secret()
            .is_empty()
    );
    Ok(())
}

#[tokio::test]
async fn echo_plugin_cannot_see_secrets() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior::default()).await?;
    let host = host(loopback_egress()).await?;
    let err = host
        .provider(hostile("echo", &server))?
        .fetch_token()
        .await
        .expect_err("the echo plugin returns an error");
    let everything = format!("{err} {err:?}");
    // It did observe things (names of secrets, settings)…
    assert!(everything.contains("client_secret"), "{everything}");
    assert!(everything.contains("hostile-client"), "{everything}");
    // …but never a secret's value.
    assert!(!everything.contains(SECRET), "{everything}");
    assert!(!everything.contains(PASSWORD), "{everything}");
    still_serves(&host).await
}

#[tokio::test]
async fn many_hostile_calls_in_parallel_leave_the_host_healthy() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior::default()).await?;
    let host = host(loopback_egress()).await?;
    let mut tasks = Vec::new();
    for mode in [
        "loop",
        "memory",
        "recursion",
        "shadow-stack",
        "panic",
        "loop",
        "memory",
        "recursion",
        "panic",
    ] {
        let p = host.provider(hostile(mode, &server))?;
        tasks.push(tokio::spawn(async move { p.fetch_token().await }));
    }
    for t in tasks {
        assert!(t.await?.is_err());
    }
    still_serves(&host).await
}
