//! `grantbox serve` as the README's run command starts it: no configuration file, a fresh
//! data directory — the embedded defaults. Then what a new user does: log in on the admin
//! page with the printed key, press Connect on `demo`, approve at the demo provider, call
//! the API through the proxy; `grantbox request --as-curl` from another process; SIGTERM
//! stops the service gracefully.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, ensure};

fn grantbox(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_grantbox"));
    c.current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("XDG_DATA_HOME", dir.join("data"))
        .env_remove("GRANTBOX_DATA_DIR")
        .env_remove("GRANTBOX_MASTER_KEY")
        .env_remove("GRANTBOX_CONFIG")
        .env_remove("GRANTBOX_LISTEN")
        .env_remove("GRANTBOX_PUBLIC_URL")
        .env_remove("RUST_LOG");
    c
}

struct Served {
    child: Child,
    base: String,
    key: String,
    stderr: std::sync::mpsc::Receiver<String>,
}

/// Starts `grantbox serve --listen 127.0.0.1:0` and reads its address and initial key.
fn start(dir: &Path) -> anyhow::Result<Served> {
    let mut child = grantbox(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let stderr = child.stderr.take().context("stderr")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut base, mut key) = (None, None);
    let mut expect_key = false;
    while base.is_none() || key.is_none() {
        let line = rx
            .recv_timeout(Duration::from_secs(120))
            .context("grantbox serve printed its address and key")?;
        if expect_key {
            key = Some(line.trim().to_owned());
            expect_key = false;
        } else if let Some(rest) = line.strip_prefix("grantbox serving on ") {
            base = rest.split_whitespace().next().map(str::to_owned);
        } else if line.starts_with("initial admin API key") {
            expect_key = true;
        }
    }
    Ok(Served {
        child,
        base: base.context("address")?,
        key: key.context("key")?,
        stderr: rx,
    })
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    text.split(start).nth(1)?.split(end).next()
}

#[tokio::test]
async fn serve_on_embedded_defaults_connect_the_demo_and_stop_gracefully() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut served = start(dir.path())?;
    let base = served.base.clone();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let location = |r: &reqwest::Response| -> anyhow::Result<String> {
        Ok(r.headers()
            .get("location")
            .context("location")?
            .to_str()?
            .to_owned())
    };

    // Log in with the printed key.
    let login = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("api_key={}", served.key))
        .send()
        .await?;
    ensure!(login.status() == 303, "login: {}", login.status());
    let cookie = login
        .headers()
        .get("set-cookie")
        .context("cookie")?
        .to_str()?
        .split(';')
        .next()
        .context("cookie")?
        .to_owned();
    let admin_page = || async {
        http.get(format!("{base}/"))
            .header("cookie", &cookie)
            .send()
            .await?
            .text()
            .await
    };
    let page = admin_page().await?;
    ensure!(
        page.contains("id=\"state-demo\">Default<"),
        "demo connection listed: {page}"
    );
    let csrf = between(&page, "name=csrf value=\"", "\"")
        .context("csrf")?
        .to_owned();

    // Press Connect: to the demo provider's consent page; approve; back through the callback.
    let r = http
        .post(format!("{base}/ui/connections/demo/connect"))
        .header("cookie", &cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await?;
    ensure!(r.status() == 303);
    let authorize = location(&r)?;
    let consent = http.get(&authorize).send().await?.text().await?;
    let request = between(&consent, "name=request value=\"", "\"").context("consent form")?;
    let provider_base = authorize.split("/authorize").next().context("provider")?;
    let approved = http
        .post(format!("{provider_base}/authorize/decision"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("request={request}&decision=approve"))
        .send()
        .await?;
    let callback = location(&approved)?;
    ensure!(
        callback.starts_with(&format!("{base}/oauth/callback")),
        "{callback}"
    );
    let back = http.get(&callback).header("cookie", &cookie).send().await?;
    ensure!(location(&back)? == "/", "back to the admin page");
    let page = admin_page().await?;
    ensure!(
        page.contains("id=\"state-demo\">Connected<"),
        "connected: {page}"
    );

    // The API, through the proxy, with the key.
    let who = http
        .get(format!("{base}/v1/connections/demo/proxy/whoami"))
        .bearer_auth(&served.key)
        .send()
        .await?;
    ensure!(who.status() == 200, "proxy: {}", who.status());
    ensure!(who.text().await?.contains("demo-client"));

    // Another process: a real call with the token applied (the running demo's loopback
    // origin is allowed to commands on the same data directory) ...
    let out = grantbox(dir.path())
        .args(["request", "demo", "GET", "/whoami"])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = String::from_utf8(out.stdout)?;
    ensure!(body.contains("\"client_id\":\"demo-client\""), "{body}");

    // ... and the curl equivalent, token redacted by default.
    let out = grantbox(dir.path())
        .args(["request", "demo", "GET", "/whoami", "--as-curl"])
        .output()?;
    ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let curl = String::from_utf8(out.stdout)?;
    ensure!(
        curl.contains("GRANTBOX_TOKEN=$(grantbox token 'demo')"),
        "{curl}"
    );
    ensure!(
        curl.contains("curl -X GET") && curl.contains("/api/whoami"),
        "{curl}"
    );
    ensure!(
        curl.contains("\"authorization: Bearer $GRANTBOX_TOKEN\""),
        "{curl}"
    );
    let token = grantbox(dir.path()).args(["token", "demo"]).output()?;
    ensure!(
        token.status.success(),
        "{}",
        String::from_utf8_lossy(&token.stderr)
    );
    let token = String::from_utf8(token.stdout)?.trim().to_owned();
    ensure!(!token.is_empty() && !curl.contains(&token), "redacted");
    let revealed = grantbox(dir.path())
        .args(["request", "demo", "GET", "/whoami", "--as-curl", "--reveal"])
        .output()?;
    ensure!(String::from_utf8(revealed.stdout)?.contains(&format!("Bearer {token}")));

    // SIGTERM: graceful stop, exit status 0.
    let pid = served.child.id().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status()?;
    ensure!(killed.success());
    let status = tokio::task::spawn_blocking(move || served.child.wait()).await??;
    ensure!(status.success(), "exit status {status}");
    let rest: Vec<String> = served.stderr.try_iter().collect();
    ensure!(rest.iter().any(|l| l == "stopped"), "{rest:?}");
    ensure!(
        !dir.path().join("data/grantbox/demo-origin").exists(),
        "the demo's origin is withdrawn when it stops"
    );
    ensure!(
        !rest.iter().any(|l| l.contains(&token)),
        "no token in the logs"
    );

    // A restart on the same data directory keeps the key (no new one is printed) and
    // the admin page still accepts it.
    let out = grantbox(dir.path()).args(["apikeys", "list"]).output()?;
    ensure!(String::from_utf8(out.stdout)?.contains("initial admin key"));
    Ok(())
}

#[tokio::test]
async fn connect_from_the_terminal_with_a_loopback_redirect() -> anyhow::Result<()> {
    use grantbox_token_server::{Behavior, TokenServer};
    let server = TokenServer::start(Behavior {
        client_id: "cli-connect".into(),
        client_secret: "cs-cli-connect-31a7".into(),
        ..Behavior::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("grantbox.toml"),
        "[egress]\nallow = [\"http://127.0.0.1:*\"]\nallow_private_networks = [\"127.0.0.0/8\"]\n",
    )?;
    let run = |args: &[&str]| -> anyhow::Result<String> {
        let out = grantbox(dir.path())
            .env("CONNECT_SECRET", "cs-cli-connect-31a7")
            .args(args)
            .output()?;
        ensure!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8(out.stdout)?)
    };
    run(&[
        "providers",
        "add",
        "acme",
        "--plugin",
        "generic",
        "--grant",
        "authorization_code",
        "--scope",
        "read",
        "--set",
        &format!("token_url={}", server.url("/token")),
        "--set",
        &format!("authorization_url={}", server.url("/authorize")),
        "--set",
        "client_id=cli-connect",
        "--secret",
        "client_secret=env:CONNECT_SECRET",
    ])?;
    run(&["connections", "add", "alice", "--provider", "acme"])?;

    let mut child = grantbox(dir.path())
        .args(["connect", "alice", "--no-browser", "--timeout", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().context("the URL is printed")??;
        if line.starts_with("http") {
            break line;
        }
    };
    ensure!(url.starts_with(&server.url("/authorize")), "{url}");
    // The "browser": the provider approves and redirects to the CLI's loopback listener.
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // A stray request without the state is ignored, not fatal.
    let redirect = http.get(&url).send().await?;
    let callback = redirect
        .headers()
        .get("location")
        .context("redirect")?
        .to_str()?
        .to_owned();
    ensure!(callback.starts_with("http://127.0.0.1:"), "{callback}");
    let listener = callback.split("/callback").next().context("listener")?;
    let _ = http
        .get(format!("{listener}/callback?code=x&state=forged"))
        .send()
        .await?;
    let page = http.get(&callback).send().await?;
    ensure!(page.status() == 200);
    let status = tokio::task::spawn_blocking(move || child.wait_with_output()).await??;
    ensure!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    ensure!(
        rest.iter().any(|l| l.contains("connected `alice`")),
        "{rest:?}"
    );
    let shown = run(&["connections", "show", "alice", "--json"])?;
    let shown: serde_json::Value = serde_json::from_str(&shown)?;
    ensure!(shown["state"] == "connected", "{shown}");
    ensure!(shown["has_refresh_token"] == true);
    Ok(())
}

#[tokio::test]
async fn sighup_reloads_the_plugins_dir_without_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("plugins"))?;
    std::fs::write(
        dir.path().join("grantbox.toml"),
        "plugins_dir = \"plugins\"\n",
    )?;
    let mut served = start(dir.path())?;
    let http = reqwest::Client::new();
    let plugin = |id: &'static str| {
        http.get(format!("{}/v1/plugins/{id}", served.base))
            .bearer_auth(&served.key)
            .send()
    };
    ensure!(plugin("hostile").await?.status() == 404);

    std::fs::copy(
        grantbox_plugin_artifacts::HOSTILE,
        dir.path().join("plugins").join("hostile.wasm"),
    )?;
    let pid = served.child.id().to_string();
    ensure!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()?
            .success()
    );
    let mut status = 0;
    for _ in 0..200 {
        status = plugin("hostile").await?.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ensure!(
        status == 200,
        "the plugin dropped in was loaded on SIGHUP: {status}"
    );
    ensure!(
        served.child.try_wait()?.is_none(),
        "SIGHUP does not stop the service"
    );
    ensure!(
        plugin("generic").await?.status() == 200,
        "the bundled ones stay"
    );

    let killed = Command::new("kill").args(["-TERM", &pid]).status()?;
    ensure!(killed.success());
    let exit = tokio::task::spawn_blocking(move || served.child.wait()).await??;
    ensure!(exit.success(), "exit status {exit}");
    Ok(())
}
