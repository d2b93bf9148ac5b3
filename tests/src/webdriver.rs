//! A minimal W3C WebDriver client (the few commands the admin-page test needs), driving
//! Debian's Chromium through `chromedriver` on loopback.
//!
//! Why not a WebDriver crate: the maintained ones (fantoccini, thirtyfour) pull in a
//! second TLS stack whose C library (aws-lc-sys) adds minutes to a 2-core CI build, for a
//! protocol that here only ever runs over plain HTTP on loopback. The protocol is a small
//! JSON REST API (W3C WebDriver, §6–§17); this module speaks it with the workspace's
//! `reqwest`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine as _;
use serde_json::{Value, json};

/// The W3C element reference key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where the browser and its driver are: `GRANTBOX_CHROMIUM` / `GRANTBOX_CHROMEDRIVER`, or
/// Debian's `/usr/bin/chromium` and `/usr/bin/chromedriver` (packages `chromium` and
/// `chromium-driver`, installed by `.ci/run`). Missing binaries are an error, never a skip.
pub fn browser_paths() -> anyhow::Result<(PathBuf, PathBuf)> {
    let chromium = std::env::var_os("GRANTBOX_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let driver = std::env::var_os("GRANTBOX_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    for (what, p) in [("chromium", &chromium), ("chromedriver", &driver)] {
        ensure!(
            p.exists(),
            "{what} not found at {} (install Debian packages `chromium` and `chromium-driver`, \
             as .ci/run does, or set GRANTBOX_CHROMIUM / GRANTBOX_CHROMEDRIVER)",
            p.display()
        );
    }
    Ok((chromium, driver))
}

/// A running chromedriver with one headless Chromium session.
pub struct Browser {
    driver: Child,
    base: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session.
    pub async fn start(chromium: &Path, chromedriver: &Path) -> anyhow::Result<Self> {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            l.local_addr()?.port()
        };
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", chromedriver.display()))?;
        let http = reqwest::Client::new();
        let server = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(format!("{server}/status")).send().await
                && r.status().is_success()
            {
                break;
            }
            ensure!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir()?;
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,900",
                         format!("--user-data-dir={}", profile.path().display())],
            }
        }}});
        let mut browser = Self {
            driver,
            base: String::new(),
            http,
            _profile: profile,
        };
        let created = browser
            .command(
                reqwest::Method::POST,
                &format!("{server}/session"),
                Some(caps),
            )
            .await?;
        let session = created["sessionId"]
            .as_str()
            .context("WebDriver: no sessionId")?;
        browser.base = format!("{server}/session/{session}");
        Ok(browser)
    }

    async fn command(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let resp = req.send().await?;
        let status = resp.status();
        let value: Value = serde_json::from_slice(&resp.bytes().await?)?;
        if !status.is_success() {
            bail!("WebDriver {url}: {status}: {}", value["value"]);
        }
        Ok(value["value"].clone())
    }

    async fn session(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        self.command(method, &url, body).await
    }

    /// Navigates to `url`.
    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.session(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await?;
        Ok(())
    }

    /// The current URL.
    pub async fn current_url(&self) -> anyhow::Result<String> {
        let v = self.session(reqwest::Method::GET, "/url", None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// The page's HTML.
    pub async fn source(&self) -> anyhow::Result<String> {
        let v = self.session(reqwest::Method::GET, "/source", None).await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Waits up to 10 s for an element matching the CSS selector.
    pub async fn find(&self, css: &str) -> anyhow::Result<String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self
                .session(
                    reqwest::Method::POST,
                    "/element",
                    Some(json!({"using": "css selector", "value": css})),
                )
                .await
            {
                Ok(v) => {
                    return v[ELEMENT]
                        .as_str()
                        .map(str::to_owned)
                        .context("WebDriver: no element reference");
                }
                Err(e) if Instant::now() > deadline => {
                    return Err(e.context(format!("element `{css}` not found")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) -> anyhow::Result<()> {
        let e = self.find(css).await?;
        self.session(
            reqwest::Method::POST,
            &format!("/element/{e}/click"),
            Some(json!({})),
        )
        .await?;
        Ok(())
    }

    /// Types `text` into the element matching `css`.
    pub async fn type_into(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let e = self.find(css).await?;
        self.session(
            reqwest::Method::POST,
            &format!("/element/{e}/value"),
            Some(json!({"text": text})),
        )
        .await?;
        Ok(())
    }

    /// The rendered text of the element matching `css`.
    pub async fn text(&self, css: &str) -> anyhow::Result<String> {
        let e = self.find(css).await?;
        let v = self
            .session(reqwest::Method::GET, &format!("/element/{e}/text"), None)
            .await?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Waits (up to 10 s) until the element matching `css` shows text that `want` accepts,
    /// and returns it. After a click that submits a form, the old page may still be there
    /// or its elements may go stale while the new one loads; both are retried.
    pub async fn wait_for_text(
        &self,
        css: &str,
        want: impl Fn(&str) -> bool,
    ) -> anyhow::Result<String> {
        let mut last = String::from("nothing read yet");
        for _ in 0..200 {
            match self.text(css).await {
                Ok(text) if want(&text) => return Ok(text),
                Ok(text) => last = format!("text {text:?}"),
                Err(e) => last = format!("error {e:#}"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        bail!("`{css}` never showed the expected text; last: {last}")
    }

    /// A PNG screenshot of the viewport.
    pub async fn screenshot(&self) -> anyhow::Result<Vec<u8>> {
        let v = self
            .session(reqwest::Method::GET, "/screenshot", None)
            .await?;
        Ok(base64::engine::general_purpose::STANDARD.decode(v.as_str().unwrap_or_default())?)
    }

    /// Ends the session and stops the driver.
    pub async fn quit(mut self) -> anyhow::Result<()> {
        let _ = self.http.delete(&self.base).send().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        Ok(())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
