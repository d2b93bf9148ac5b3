//! The admin page in a real headless Chromium (Debian's `chromium` + `chromedriver`): log
//! in with an API key, press Connect, approve at the test provider's consent page, and see
//! the connection become Connected — with no secret rendered anywhere. Also: CSRF and
//! session checks of the page's forms, without a browser.

use anyhow::{Context, ensure};
use grantbox_e2e::webdriver::{Browser, browser_paths};
use grantbox_e2e::{broker_in, serve_on_loopback};
use grantbox_host::store::NewConnection;
use grantbox_host::{
    Broker, ExposeSecret, GrantType, ProviderConfig, RefreshPolicy, SecretString, apikeys,
};
use grantbox_token_server::{AuthorizeDecision, Behavior, TokenServer};

const CLIENT_ID: &str = "admin-page-client";
const CLIENT_SECRET: &str = "cs-admin-page-7e6d5c4b3a29";

struct Setup {
    base: String,
    key: String,
    broker: Broker,
    server: TokenServer,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

async fn setup() -> anyhow::Result<Setup> {
    let server = TokenServer::start(Behavior {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        authorize_decision: AuthorizeDecision::ConsentPage,
        ..Behavior::default()
    })
    .await?;
    let dir = tempfile::tempdir()?;
    let (broker, _store) = broker_in(dir.path(), RefreshPolicy::default()).await?;
    broker
        .add_provider(
            ProviderConfig::new("test-provider", "generic")
                .grant(GrantType::AuthorizationCode)
                .scopes(["read", "profile"])
                .setting("token_url", server.url("/token"))
                .setting("authorization_url", server.url("/authorize"))
                .setting("client_id", CLIENT_ID)
                .secret("client_secret", SecretString::from(CLIENT_SECRET)),
        )
        .await?;
    broker
        .add_connection(NewConnection {
            id: "alice".into(),
            provider: "test-provider".into(),
            api_base_url: Some(server.url("/api")),
            ..NewConnection::default()
        })
        .await?;
    let key = apikeys::create(broker.store().as_ref(), "admin page test").await?;
    let served = serve_on_loopback(broker.clone(), |_| {}).await?;
    Ok(Setup {
        base: served.base,
        key: key.key.expose_secret().to_owned(),
        broker,
        server,
        _stop: served.stop,
        _dir: dir,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_from_the_admin_page_in_headless_chromium() -> anyhow::Result<()> {
    let (chromium, driver) = browser_paths()?;
    let s = setup().await?;
    let browser = Browser::start(&chromium, &driver).await?;
    let result = async {
        // Not logged in: the page sends us to the log-in form.
        browser.goto(&format!("{}/", s.base)).await?;
        ensure!(browser.current_url().await?.ends_with("/login"));
        browser.type_into("#api_key", "gbx_wrong_key").await?;
        browser.click("#login").await?;
        browser
            .wait_for_text("#error", |t| t.contains("Invalid"))
            .await?;
        browser.type_into("#api_key", &s.key).await?;
        browser.click("#login").await?;
        browser
            .wait_for_text("#state-alice", |t| t == "Default")
            .await?;

        // Connect: the test provider's consent page, Approve, back to the admin page.
        browser.click("#connect-alice").await?;
        browser.find("#approve").await?;
        ensure!(
            browser
                .current_url()
                .await?
                .starts_with(&s.server.url("/authorize")),
            "at the provider's consent page"
        );
        browser.click("#approve").await?;
        browser
            .wait_for_text("#state-alice", |t| t == "Connected")
            .await?;
        ensure!(browser.current_url().await? == format!("{}/", s.base));

        // No secret in the page: not the token, the client secret or the API key.
        let token = s.broker.get_token("alice").await?;
        let html = browser.source().await?;
        for secret in [
            token.secret().expose_secret(),
            CLIENT_SECRET,
            s.key.as_str(),
        ] {
            ensure!(!html.contains(secret), "a secret is rendered in the page");
        }
        let png = browser.screenshot().await?;
        ensure!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let target =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/admin-page.png");
        std::fs::write(&target, &png).with_context(|| format!("{}", target.display()))?;

        // Disconnect from the page.
        browser.click("#disconnect-alice").await?;
        browser
            .wait_for_text("#state-alice", |t| t == "Default")
            .await?;
        browser
            .wait_for_text("#flash", |t| t.contains("disconnected"))
            .await?;
        Ok(())
    }
    .await;
    browser.quit().await?;
    result
}

fn cookie_of(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get("set-cookie")?
        .to_str()
        .ok()?
        .split(';')
        .next()
        .map(str::to_owned)
}

#[tokio::test]
async fn page_forms_need_a_session_and_its_csrf_token() -> anyhow::Result<()> {
    let s = setup().await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // Log in.
    let login = http
        .post(format!("{}/login", s.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("api_key={}", s.key))
        .send()
        .await?;
    assert_eq!(login.status(), 303);
    let set_cookie = login
        .headers()
        .get("set-cookie")
        .context("cookie")?
        .to_str()?
        .to_owned();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"));
    let cookie = cookie_of(&login).context("cookie")?;
    let page = http
        .get(format!("{}/", s.base))
        .header("cookie", &cookie)
        .send()
        .await?;
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .context("CSP")?
        .to_str()?
        .to_owned();
    assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
    let html = page.text().await?;
    let csrf = csrf_in(&html)?;

    let connect = |cookie: Option<&str>, token: &str| {
        let mut r = http
            .post(format!("{}/ui/connections/alice/connect", s.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("csrf={token}"));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    // No session: to the log-in page; nothing started.
    let r = connect(None, &csrf).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/login")
    );
    // A session but a wrong CSRF token (a cross-site form): refused.
    let r = connect(Some(&cookie), "forged-csrf-token-value-0000000000000000000").await?;
    assert_eq!(r.status(), 403);
    let r = connect(Some(&cookie), "").await?;
    assert_eq!(r.status(), 403);
    let authorize_calls = s
        .server
        .requests()
        .iter()
        .filter(|r| r.path == "/authorize")
        .count();
    assert_eq!(authorize_calls, 0);
    // Both: redirected to the provider.
    let r = connect(Some(&cookie), &csrf).await?;
    assert_eq!(r.status(), 303);
    let location = r.headers().get("location").context("location")?.to_str()?;
    assert!(
        location.starts_with(&s.server.url("/authorize")),
        "{location}"
    );
    // A forged session cookie is no session.
    let r = connect(Some("grantbox_session=forged"), &csrf).await?;
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/login")
    );
    Ok(())
}

/// Logs in on the admin page at `base`; returns the session cookie (`name=value`).
async fn log_in(http: &reqwest::Client, base: &str, key: &str) -> anyhow::Result<String> {
    let login = http
        .post(format!("{base}/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("api_key={key}"))
        .send()
        .await?;
    ensure!(login.status() == 303, "log-in: {}", login.status());
    cookie_of(&login).context("a session cookie")
}

/// The admin page at `base` for `cookie`: its HTML, or where it redirects to.
async fn admin_page(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
) -> anyhow::Result<Result<String, String>> {
    let page = http
        .get(format!("{base}/"))
        .header("cookie", cookie)
        .send()
        .await?;
    if page.status().is_redirection() {
        let to = page.headers().get("location").context("location")?;
        return Ok(Err(to.to_str()?.to_owned()));
    }
    ensure!(page.status() == 200, "{}", page.status());
    Ok(Ok(page.text().await?))
}

/// The CSRF token of the page's forms.
fn csrf_in(html: &str) -> anyhow::Result<String> {
    Ok(html
        .split("name=csrf value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .context("csrf token in the page")?
        .to_owned())
}

/// Posts one of the page's forms (its CSRF token only); returns the status.
async fn post_form(
    http: &reqwest::Client,
    url: &str,
    cookie: &str,
    csrf: &str,
) -> anyhow::Result<u16> {
    let r = http
        .post(url)
        .header("cookie", cookie)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("csrf={csrf}"))
        .send()
        .await?;
    Ok(r.status().as_u16())
}

/// The admin page's HTML for a logged-in `cookie`.
async fn page_html(http: &reqwest::Client, base: &str, cookie: &str) -> anyhow::Result<String> {
    admin_page(http, base, cookie)
        .await?
        .map_err(|to| anyhow::anyhow!("redirected to {to}"))
}

#[tokio::test]
async fn sessions_live_in_the_store_and_end_with_their_api_key() -> anyhow::Result<()> {
    let s = setup().await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = log_in(&http, &s.base, &s.key).await?;
    // Another service over the same store (a restart, or a second replica behind a load
    // balancer) knows the session, and the same CSRF token is valid there.
    let other = serve_on_loopback(s.broker.clone(), |_| {}).await?;
    let html = page_html(&http, &other.base, &cookie).await?;
    ensure!(html.contains("alice"));
    let csrf = csrf_in(&html)?;
    // A form posted to one replica leaves its message for the next page, on the other.
    let url = format!("{}/ui/connections/alice/disconnect", s.base);
    ensure!(post_form(&http, &url, &cookie, &csrf).await? == 303);
    let html = page_html(&http, &other.base, &cookie).await?;
    ensure!(
        html.contains("id=flash") && html.contains("disconnected"),
        "{html}"
    );
    let html = page_html(&http, &other.base, &cookie).await?;
    ensure!(!html.contains("id=flash"), "the message is shown once");

    // Logging out on one ends the session on both.
    let url = format!("{}/logout", other.base);
    ensure!(post_form(&http, &url, &cookie, &csrf).await? == 303);
    let gone = admin_page(&http, &s.base, &cookie).await?;
    ensure!(gone == Err("/login".to_owned()), "{gone:?}");

    // Revoking the API key ends the sessions opened with it, at once.
    let cookie = log_in(&http, &s.base, &s.key).await?;
    ensure!(admin_page(&http, &s.base, &cookie).await?.is_ok());
    // `gbx_<id>_<secret>`: the public id is `gbx_<id>`.
    let key_id = s.key.splitn(3, '_').take(2).collect::<Vec<_>>().join("_");
    ensure!(s.broker.store().revoke_api_key(&key_id).await?);
    let gone = admin_page(&http, &s.base, &cookie).await?;
    ensure!(gone == Err("/login".to_owned()), "{gone:?}");
    let _ = other.stop.send(());
    Ok(())
}

#[tokio::test]
async fn the_page_lists_plugins_and_reloads_them() -> anyhow::Result<()> {
    let s = setup().await?;
    let plugins = tempfile::tempdir()?;
    let dir = plugins.path().to_owned();
    let served = serve_on_loopback(s.broker.clone(), move |c| c.plugins_dir = Some(dir)).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let cookie = log_in(&http, &served.base, &s.key).await?;
    let html = page_html(&http, &served.base, &cookie).await?;
    ensure!(html.contains("id=\"plugin-generic\""), "{html}");
    ensure!(!html.contains("id=\"plugin-hostile\""));
    let csrf = csrf_in(&html)?;

    std::fs::copy(
        grantbox_e2e::artifacts::HOSTILE,
        plugins.path().join("hostile.wasm"),
    )?;
    std::fs::write(plugins.path().join("broken.wasm"), b"not wasm")?;
    let url = format!("{}/ui/plugins/reload", served.base);
    ensure!(post_form(&http, &url, &cookie, "forged-csrf").await? == 403);
    ensure!(
        s.broker.host().plugin("hostile").is_none(),
        "nothing reloaded without CSRF"
    );
    ensure!(post_form(&http, &url, &cookie, &csrf).await? == 303);
    let html = page_html(&http, &served.base, &cookie).await?;
    ensure!(html.contains("id=\"plugin-hostile\""), "{html}");
    let flash = html
        .split("id=flash>")
        .nth(1)
        .and_then(|r| r.split("</p>").next())
        .context("a message")?;
    ensure!(
        flash.contains("added hostile")
            && flash.contains("refused")
            && flash.contains("broken.wasm"),
        "{flash}"
    );
    let _ = served.stop.send(());
    Ok(())
}
