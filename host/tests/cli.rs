//! The `grantbox` binary, run as a user would: configuration file, environment-variable
//! secrets, a provider-like server on loopback.

use std::path::Path;
use std::process::{Command, Output};

use grantbox_token_server::{Behavior, TokenServer};

const SECRET: &str = "cli-test-secret-0b7e91";

fn grantbox(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grantbox"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("CLI_TEST_SECRET", SECRET)
        .env_remove("RUST_LOG")
        .env_remove("GRANTBOX_CONFIG")
        .output()
        .expect("the grantbox binary runs")
}

async fn run(dir: &Path, args: &[&str]) -> anyhow::Result<(bool, String, String)> {
    let dir = dir.to_owned();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let out = tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        grantbox(&dir, &refs)
    })
    .await?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}

fn config(server: &TokenServer, provider_extra: &str) -> String {
    format!(
        r#"
[egress]
allow = ["http://127.0.0.1:*"]
allow_private_networks = ["127.0.0.0/8"]

[providers.acme]
plugin = "generic"
grant = "client_credentials"
scopes = ["read"]
token_url = "{}"
client_id = "cli-client"
client_secret = {{ env = "CLI_TEST_SECRET" }}
{provider_extra}
"#,
        server.url("/token")
    )
}

async fn server() -> anyhow::Result<TokenServer> {
    Ok(TokenServer::start(Behavior {
        client_id: "cli-client".into(),
        client_secret: SECRET.into(),
        ..Behavior::default()
    })
    .await?)
}

#[tokio::test(flavor = "multi_thread")]
async fn token_command_prints_a_token_and_json() -> anyhow::Result<()> {
    let server = server().await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("grantbox.toml"), config(&server, ""))?;

    let (ok, stdout, stderr) = run(dir.path(), &["token", "acme"]).await?;
    assert!(ok, "{stderr}");
    assert!(stdout.trim().starts_with("at_"), "{stdout}");
    assert!(!stderr.contains(SECRET) && !stdout.contains(SECRET));

    let (ok, stdout, stderr) = run(
        dir.path(),
        &["--config", "grantbox.toml", "token", "acme", "--json"],
    )
    .await?;
    assert!(ok, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout)?;
    assert!(
        json["access_token"]
            .as_str()
            .is_some_and(|t| t.starts_with("at_"))
    );
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["scope"], "read");

    let (ok, stdout, _) = run(dir.path(), &["check"]).await?;
    assert!(ok, "{stdout}");
    assert!(stdout.contains("provider acme: ok"), "{stdout}");

    // -vv logs at debug level; the secret and the token never appear.
    let (ok, stdout, stderr) = run(dir.path(), &["-vv", "token", "acme"]).await?;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("token issued"), "{stderr}");
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert!(
        !stderr.contains(stdout.trim()),
        "the token was logged: {stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn config_errors_name_file_key_and_problem() -> anyhow::Result<()> {
    let server = server().await?;
    let dir = tempfile::tempdir()?;
    let cases = [
        (
            "tokn_url = \"x\"",
            "grantbox.toml: providers.acme.tokn_url: plugin `generic` has no such setting",
        ),
        (
            "client_auth = \"header\"",
            "grantbox.toml: providers.acme.client_auth: `header` is not one of: basic, body",
        ),
        (
            "refresh_url = \"not a url\"",
            "grantbox.toml: providers.acme.refresh_url: `not a url` is not an absolute URL",
        ),
    ];
    for (extra, expected) in cases {
        std::fs::write(dir.path().join("grantbox.toml"), config(&server, extra))?;
        let (ok, _, stderr) = run(dir.path(), &["token", "acme"]).await?;
        assert!(!ok, "{extra}: should fail");
        assert!(stderr.contains(expected), "{extra}: {stderr}");
    }
    // A secret reference to an unset variable.
    let text = config(&server, "").replace("CLI_TEST_SECRET", "CLI_TEST_UNSET_VARIABLE");
    std::fs::write(dir.path().join("grantbox.toml"), text)?;
    let (ok, _, stderr) = run(dir.path(), &["token", "acme"]).await?;
    assert!(!ok);
    assert!(
        stderr.contains("providers.acme.client_secret: environment variable `CLI_TEST_UNSET_VARIABLE` is not set"),
        "{stderr}"
    );
    // No configuration at all.
    std::fs::remove_file(dir.path().join("grantbox.toml"))?;
    let (ok, _, stderr) = run(dir.path(), &["token", "acme"]).await?;
    assert!(!ok);
    assert!(stderr.contains("grantbox.toml"), "{stderr}");
    assert_eq!(server.request_count(), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn plugins_list_and_inspect() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (ok, stdout, stderr) = run(dir.path(), &["plugins", "list"]).await?;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("generic"), "{stdout}");

    let (ok, stdout, stderr) = run(dir.path(), &["plugins", "inspect", "generic"]).await?;
    assert!(ok, "{stderr}");
    for expected in [
        "token_url",
        "client_auth",
        "grantbox:plugin@0.1.0",
        "{token_url}",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
    let (ok, stdout, _) = run(dir.path(), &["plugins", "inspect", "generic", "--json"]).await?;
    assert!(ok);
    let json: serde_json::Value = serde_json::from_str(&stdout)?;
    assert_eq!(json["metadata"]["id"], "generic");

    let (ok, _, stderr) = run(
        dir.path(),
        &[
            "plugins",
            "inspect",
            grantbox_plugin_artifacts::WRONG_VERSION,
        ],
    )
    .await?;
    assert!(!ok);
    assert!(stderr.contains("grantbox:plugin@9.0.0"), "{stderr}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_runs_end_to_end() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (ok, stdout, stderr) = run(dir.path(), &["demo"]).await?;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("token fetched"), "{stdout}");
    assert!(stdout.contains("-> 200"), "{stdout}");
    Ok(())
}
