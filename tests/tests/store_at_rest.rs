//! A full lifecycle run (provider with a client secret, connection with a password,
//! rotating refresh tokens) at TRACE level: neither the database file (with its WAL) nor
//! the logs contain any secret value in plain text. Its own test binary, because it
//! installs the global `tracing` subscriber.

use std::time::Duration;

use anyhow::ensure;
use grantbox_e2e::broker_in;
use grantbox_host::store::{NewConnection, Overrides};
use grantbox_host::{
    ExposeSecret, GrantType, ProviderConfig, RefreshPolicy, SecretString, SettingValue,
};
use grantbox_token_server::{Behavior, TokenServer};

const CLIENT_ID: &str = "at-rest-client";
const CLIENT_SECRET: &str = "cs-at-rest-0f1e2d3c4b5a";
const USERNAME: &str = "carol@example.com";
const PASSWORD: &str = "pw-at-rest-s3cr3t-h0rse";

/// The database file (and its WAL) and the logs of a full run contain no secret value.
#[test]
fn database_and_logs_hold_no_secret_in_plain_text() -> anyhow::Result<()> {
    let logs = grantbox_e2e::CapturedLogs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let dir = tempfile::tempdir()?;
    let secrets = rt.block_on(async {
        let server = TokenServer::start(Behavior {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            username: USERNAME.into(),
            password: PASSWORD.into(),
            issue_refresh_token: true,
            rotate_refresh_tokens: true,
            ..Behavior::default()
        })
        .await?;
        let policy = RefreshPolicy {
            expiry_skew: Duration::ZERO,
            ..RefreshPolicy::default()
        };
        let (broker, store) = broker_in(dir.path(), policy).await?;
        broker
            .add_provider(
                ProviderConfig::new("acme", "generic")
                    .grant(GrantType::Password)
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
        broker.get_token("conn").await?;
        let mut secrets = vec![CLIENT_SECRET.to_owned(), PASSWORD.to_owned()];
        for _ in 0..5 {
            let t = broker.refresh("conn").await?;
            secrets.push(t.secret().expose_secret().to_owned());
        }
        secrets.extend(server.valid_refresh_tokens());
        store.close().await;
        anyhow::Ok(secrets)
    })?;
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir.path())? {
        let path = entry?.path();
        if path.is_file()
            && path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("grantbox.db"))
        {
            files.push((path.display().to_string(), std::fs::read(&path)?));
        }
    }
    ensure!(!files.is_empty(), "the database file exists");
    let text = logs.contents();
    ensure!(text.contains("tokens refreshed"), "the run was logged");
    for s in &secrets {
        for (name, bytes) in &files {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{name} holds a secret in plain text"
            );
        }
        assert!(!text.contains(s.as_str()), "the logs hold a secret");
    }
    Ok(())
}
