//! A full run at TRACE level, with every log line captured: no configured secret value,
//! and no issued token, appears in the logs.

use grantbox_e2e::{CapturedLogs, artifacts, loopback_egress, test_limits};
use grantbox_host::{ExposeSecret, GrantType, Host, ProviderConfig, SecretString};
use grantbox_token_server::{Behavior, TokenServer};

const CLIENT_SECRET: &str = "log-test-client-secret-3c9d";
const PASSWORD: &str = "log-test-password-a81f";

#[tokio::test]
async fn no_secret_appears_in_trace_logs() -> anyhow::Result<()> {
    let logs = CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber)?;

    let server = TokenServer::start(Behavior {
        client_id: "log-client".into(),
        client_secret: CLIENT_SECRET.into(),
        username: "log-user".into(),
        password: PASSWORD.into(),
        issue_refresh_token: true,
        ..Behavior::default()
    })
    .await?;
    let host = Host::builder()
        .limits(test_limits())
        .egress(loopback_egress())
        .build()?;
    host.load_plugin_file(artifacts::GENERIC).await?;
    host.load_plugin_file(artifacts::HOSTILE).await?;

    let base = ProviderConfig::new("logged", "generic")
        .setting("token_url", server.url("/token"))
        .setting("client_id", "log-client")
        .secret("client_secret", SecretString::from(CLIENT_SECRET));
    let password = host.provider(
        base.clone()
            .grant(GrantType::Password)
            .setting("username", "log-user")
            .secret("password", SecretString::from(PASSWORD)),
    )?;
    let token = password.fetch_token().await?;
    let refresh = token.refresh_token.clone().expect("a refresh token");
    let refreshed = password.refresh(&refresh).await?;
    // Failures are logged too: a wrong secret, a dead refresh token, a hostile plugin.
    let wrong = host.provider(base.clone().secret(
        "client_secret",
        SecretString::from("log-test-wrong-secret-55"),
    ))?;
    assert!(wrong.fetch_token().await.is_err());
    assert!(
        password
            .refresh(&SecretString::from("log-test-dead-refresh-token"))
            .await
            .is_err()
    );
    let echo = host.provider(
        ProviderConfig::new("echo", "hostile")
            .setting("mode", "echo")
            .setting("allowed_url", server.url("/token"))
            .secret("client_secret", SecretString::from(CLIENT_SECRET))
            .secret("password", SecretString::from(PASSWORD)),
    )?;
    let echo_err = echo.fetch_token().await.expect_err("echo fails");
    tracing::info!(error = %echo_err, "echo plugin error");
    // A plugin that logs what it sees, then floods the log.
    let flood = host.provider(
        ProviderConfig::new("flood", "hostile")
            .setting("mode", "log-flood")
            .setting("allowed_url", server.url("/token"))
            .secret("client_secret", SecretString::from(CLIENT_SECRET))
            .secret("password", SecretString::from(PASSWORD)),
    )?;
    assert!(flood.fetch_token().await.is_err());

    let captured = logs.contents();
    assert!(
        captured.contains("token issued"),
        "logs were not captured:\n{captured}"
    );
    // Plugin log lines are recorded, attributed, and capped per call.
    assert!(captured.contains("log-flood sees"), "{captured}");
    let flood_lines = captured
        .lines()
        .filter(|l| l.contains("log-flood line"))
        .count();
    assert_eq!(
        flood_lines, 63,
        "64 lines per call: the first line and 63 of the flood"
    );
    assert!(captured.contains("log line limit reached"), "{captured}");
    assert!(captured.contains("outbound request"), "{captured}");
    for secret in [
        CLIENT_SECRET,
        PASSWORD,
        "log-test-wrong-secret-55",
        "log-test-dead-refresh-token",
        token.access_token.expose_secret(),
        refresh.expose_secret(),
        refreshed.access_token.expose_secret(),
    ] {
        assert!(
            !captured.contains(secret),
            "`{secret}` appears in the logs:\n{captured}"
        );
    }
    Ok(())
}
