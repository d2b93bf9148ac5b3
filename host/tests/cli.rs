//! The `grantbox` binary, run as a user would: configuration file, environment-variable
//! secrets, a provider-like server on loopback.

use std::path::Path;
use std::process::{Command, Output};

use grantbox_token_server::{Behavior, TokenServer};

const SECRET: &str = "cli-test-secret-0b7e91";
const PASSWORD: &str = "cli-test-password-77aa31";

fn grantbox(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_grantbox"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("CLI_TEST_SECRET", SECRET)
        .env("CLI_TEST_PASSWORD", PASSWORD)
        .env_remove("GRANTBOX_DATA_DIR")
        .env_remove("GRANTBOX_MASTER_KEY")
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

    // The token is kept in the store: asking again serves the same one.
    let (ok, again, _) = run(dir.path(), &["token", "acme"]).await?;
    assert!(ok);
    assert_eq!(json["access_token"].as_str(), Some(again.trim()));
    assert_eq!(server.count("client_credentials"), 1);

    // -vv logs at debug level; the secret and the token never appear.
    let (ok, _, stderr) = run(dir.path(), &["-vv", "connections", "refresh", "acme"]).await?;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("token issued"), "{stderr}");
    let (ok, stdout, _) = run(dir.path(), &["token", "acme"]).await?;
    assert!(ok);
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
    // No configuration at all (and an empty store).
    let empty = tempfile::tempdir()?;
    let (ok, _, stderr) = run(empty.path(), &["token", "acme"]).await?;
    assert!(!ok);
    assert!(
        stderr.contains("no connection named `acme`") && stderr.contains("grantbox.toml"),
        "{stderr}"
    );
    assert_eq!(
        server.request_count(),
        0,
        "no bad configuration reached the server"
    );
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

fn read_store_files(dir: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("grantbox.db"))
        {
            out.push((path.display().to_string(), std::fs::read(&path)?));
        }
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread")]
async fn providers_connections_and_keys_through_the_store() -> anyhow::Result<()> {
    let server = TokenServer::start(Behavior {
        client_id: "cli-client".into(),
        client_secret: SECRET.into(),
        username: "cli-user".into(),
        password: PASSWORD.into(),
        issue_refresh_token: true,
        ..Behavior::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    std::fs::write(
        d.join("grantbox.toml"),
        "[egress]\nallow = [\"http://127.0.0.1:*\"]\nallow_private_networks = [\"127.0.0.0/8\"]\n",
    )?;
    let token_url = server.url("/token");
    let ok = |r: (bool, String, String)| -> anyhow::Result<String> {
        anyhow::ensure!(r.0, "command failed: {}", r.2);
        Ok(r.1)
    };
    // Bad input: an error naming the field, nothing written.
    for (args, expected) in [
        (
            vec![
                "providers",
                "add",
                "bad",
                "--plugin",
                "generic",
                "--set",
                "token_url=not a url",
            ],
            "setting `token_url`",
        ),
        (
            vec!["providers", "add", "bad", "--plugin", "generic"],
            "setting `token_url`: required",
        ),
        (
            vec!["providers", "add", "bad", "--plugin", "nope"],
            "--plugin: no plugin with id `nope`",
        ),
        (
            vec![
                "providers",
                "add",
                "bad",
                "--plugin",
                "generic",
                "--set",
                "client_secret=inline",
            ],
            "--set client_secret: a secret; use --secret",
        ),
        (
            vec!["connections", "add", "bob", "--provider", "nope"],
            "--provider: no provider named `nope`",
        ),
    ] {
        let (success, _, stderr) = run(d, &args).await?;
        assert!(!success, "{args:?}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    assert_eq!(ok(run(d, &["providers", "list"]).await?)?.trim(), "");

    ok(run(
        d,
        &[
            "providers",
            "add",
            "acme",
            "--plugin",
            "generic",
            "--grant",
            "password",
            "--scope",
            "read",
            "--set",
            &format!("token_url={token_url}"),
            "--set",
            "client_id=cli-client",
            "--secret",
            "client_secret=env:CLI_TEST_SECRET",
            "--set",
            "username=cli-user",
        ],
    )
    .await?)?;
    // The password is the connection's own.
    ok(run(
        d,
        &[
            "connections",
            "add",
            "alice",
            "--provider",
            "acme",
            "--secret",
            "password=env:CLI_TEST_PASSWORD",
            "--api-base-url",
            "http://127.0.0.1:9/api",
        ],
    )
    .await?)?;
    let (success, _, stderr) = run(
        d,
        &[
            "connections",
            "add",
            "carol",
            "--provider",
            "acme",
            "--set",
            "tokn_url=x",
        ],
    )
    .await?;
    assert!(
        !success && stderr.contains("--set tokn_url: plugin `generic` has no such setting"),
        "{stderr}"
    );

    let first = ok(run(d, &["token", "alice"]).await?)?;
    assert!(first.trim().starts_with("at_"), "{first}");
    let show = ok(run(d, &["connections", "show", "alice"]).await?)?;
    for expected in [
        "state:          connected",
        "refresh token:  stored",
        "password",
        "[redacted",
        "username",
        "cli-user",
        "client_auth",
    ] {
        assert!(show.contains(expected), "{expected}: {show}");
    }
    assert!(!show.contains(PASSWORD) && !show.contains(SECRET), "{show}");
    let shown = ok(run(d, &["providers", "show", "acme", "--json"]).await?)?;
    assert!(!shown.contains(SECRET), "{shown}");
    let list: serde_json::Value =
        serde_json::from_str(&ok(run(d, &["connections", "list", "--json"]).await?)?)?;
    assert_eq!(list[0]["id"], "alice");
    assert_eq!(list[0]["state"], "connected");

    ok(run(d, &["connections", "refresh", "alice"]).await?)?;
    assert_eq!(
        server.count("refresh_token"),
        1,
        "refreshed with the stored refresh token"
    );
    let second = ok(run(d, &["token", "alice"]).await?)?;
    assert_ne!(first, second);

    ok(run(d, &["connections", "disable", "alice"]).await?)?;
    let (success, _, stderr) = run(d, &["token", "alice"]).await?;
    assert!(
        !success && stderr.contains("connection `alice` is disabled"),
        "{stderr}"
    );
    ok(run(d, &["connections", "enable", "alice"]).await?)?;
    assert_eq!(ok(run(d, &["token", "alice"]).await?)?, second);

    let (success, _, stderr) = run(d, &["providers", "remove", "acme"]).await?;
    assert!(
        !success && stderr.contains("used by 1 connection"),
        "{stderr}"
    );

    // Plain reads of the database show no secret.
    let data = d.join("data/grantbox");
    let files = read_store_files(&data)?;
    assert!(!files.is_empty());
    for (name, bytes) in &files {
        for s in [SECRET, PASSWORD, first.trim(), second.trim()] {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{name} holds a secret"
            );
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("master.key"))?
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the generated key file is private");
    }

    // Key rotation: everything is re-sealed under a new key, tokens still served.
    let before = ok(run(d, &["keys", "status"]).await?)?;
    let key_before = std::fs::read_to_string(data.join("master.key"))?;
    let rotated = ok(run(d, &["keys", "rotate"]).await?)?;
    assert!(rotated.contains("1 old key(s) removed"), "{rotated}");
    let after = ok(run(d, &["keys", "status"]).await?)?;
    assert_ne!(
        key_before,
        std::fs::read_to_string(data.join("master.key"))?
    );
    assert_ne!(before, after);
    assert!(after.contains("(active) — seals 4 value(s)"), "{after}");
    assert!(
        !after.contains("(old)") && !after.contains("missing"),
        "{after}"
    );
    assert_eq!(ok(run(d, &["token", "alice"]).await?)?, second);

    ok(run(d, &["connections", "remove", "alice"]).await?)?;
    ok(run(d, &["providers", "remove", "acme"]).await?)?;
    assert_eq!(ok(run(d, &["providers", "list"]).await?)?.trim(), "");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_plugin_in_plugins_dir_overrides_the_bundled_one() -> anyhow::Result<()> {
    let server = server().await?;
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("plugins"))?;
    // A newer `generic` (the test stand-in for version 2.0.0) next to the bundled one.
    std::fs::copy(
        grantbox_plugin_artifacts::GENERIC_NEXT,
        dir.path().join("plugins").join("generic.wasm"),
    )?;
    std::fs::write(
        dir.path().join("grantbox.toml"),
        format!("plugins_dir = \"plugins\"\n{}", config(&server, "")),
    )?;
    let (ok, stdout, stderr) =
        run(dir.path(), &["plugins", "inspect", "generic", "--json"]).await?;
    assert!(ok, "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&stdout)?;
    assert_eq!(json["metadata"]["version"], "2.0.0");
    assert!(
        json["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("generic.wasm")),
        "{json}"
    );
    // The other bundled plugins are still there.
    let (ok, stdout, stderr) = run(dir.path(), &["plugins", "list"]).await?;
    assert!(ok, "{stderr}");
    assert!(stdout.contains("azure"), "{stdout}");
    // And the provider runs on the new version.
    let (ok, stdout, stderr) = run(dir.path(), &["token", "acme"]).await?;
    assert!(ok, "{stderr}");
    assert!(stdout.trim().starts_with("at_"), "{stdout}");
    let last = server.requests().pop().expect("a token request");
    assert_eq!(
        last.params.get("plugin_version").map(String::as_str),
        Some("2")
    );
    Ok(())
}
