//! Plugin reload while serving: new plugins and new versions from the operator's plugin
//! directory, refused while a registered provider would break (the loaded version keeps
//! serving), used by connections from their next token operation; over the API too.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, ensure};
use grantbox_e2e::{LoopbackService, artifacts, broker_in, serve_on_loopback};
use grantbox_host::store::{NewConnection, Overrides};
use grantbox_host::{
    Broker, ExposeSecret, GrantType, ProviderConfig, RefreshPolicy, SecretString, apikeys,
};
use grantbox_token_server::{ApiTokenPlacement, Behavior, TokenServer};
use serde_json::Value;

const CLIENT_ID: &str = "reload-client";
const CLIENT_SECRET: &str = "cs-reload-0a9b8c7d6e5f";

fn behavior() -> Behavior {
    Behavior {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        ..Behavior::default()
    }
}

fn provider(name: &str, server: &TokenServer) -> ProviderConfig {
    ProviderConfig::new(name, "generic")
        .grant(GrantType::ClientCredentials)
        .setting("token_url", server.url("/token"))
        .setting("client_id", CLIENT_ID)
        .secret("client_secret", SecretString::from(CLIENT_SECRET))
}

async fn connect(broker: &Broker, id: &str, provider: &str) -> anyhow::Result<()> {
    broker
        .add_connection(NewConnection {
            id: id.into(),
            provider: provider.into(),
            overrides: Overrides::default(),
            ..NewConnection::default()
        })
        .await?;
    Ok(())
}

/// Connection `id` of provider `plain`, whose API is the token server's `/api`.
async fn connect_api(broker: &Broker, id: &str, server: &TokenServer) -> anyhow::Result<()> {
    broker
        .add_connection(NewConnection {
            id: id.into(),
            provider: "plain".into(),
            api_base_url: Some(server.base_url()),
            ..NewConnection::default()
        })
        .await?;
    Ok(())
}

/// `GET /api/whoami`, for the proxy.
fn whoami() -> anyhow::Result<http::Request<bytes::Bytes>> {
    http::Request::get("/api/whoami")
        .body(bytes::Bytes::new())
        .context("request")
}

/// The `plugin_version` parameter of the token server's last token request (the test
/// stand-in for version 2 of the generic plugin sends `2`; the real plugin sends none).
fn last_plugin_version(server: &TokenServer) -> anyhow::Result<Option<String>> {
    let last = server
        .requests()
        .into_iter()
        .rev()
        .find(|r| r.path == "/token")
        .context("a token request was made")?;
    ensure!(
        last.basic_credentials.is_some() || last.params.contains_key("client_id"),
        "the request authenticated the client: {last:?}"
    );
    Ok(last.params.get("plugin_version").cloned())
}

/// A broker over a fresh store in a temporary directory, a token server, and provider
/// `plain` (generic plugin, client credentials) registered for it.
async fn setup() -> anyhow::Result<(tempfile::TempDir, Broker, TokenServer)> {
    let dir = tempfile::tempdir()?;
    let (broker, _store) = broker_in(dir.path(), RefreshPolicy::default()).await?;
    let server = TokenServer::start(behavior()).await?;
    broker.add_provider(provider("plain", &server)).await?;
    Ok((dir, broker, server))
}

/// The version of the loaded `generic` plugin.
fn generic_version(broker: &Broker) -> anyhow::Result<String> {
    Ok(broker
        .host()
        .plugin("generic")
        .context("generic is loaded")?
        .metadata
        .version)
}

fn copy(from: &str, to: &Path) -> anyhow::Result<()> {
    std::fs::copy(from, to).with_context(|| format!("copying {from}"))?;
    Ok(())
}

#[tokio::test]
async fn a_new_version_is_installed_only_when_no_provider_would_break() -> anyhow::Result<()> {
    let (_dir, broker, server) = setup().await?;
    // `scope_separator` is a setting version 2 no longer has.
    broker
        .add_provider(provider("spaced", &server).setting("scope_separator", ","))
        .await?;
    connect(&broker, "c1", "plain").await?;
    connect(&broker, "c2", "spaced").await?;
    broker.get_token("c1").await?;
    ensure!(last_plugin_version(&server)?.is_none());

    let plugins = tempfile::tempdir()?;
    copy(
        artifacts::GENERIC_NEXT,
        &plugins.path().join("generic.wasm"),
    )?;
    copy(artifacts::HOSTILE, &plugins.path().join("hostile.wasm"))?;
    std::fs::write(plugins.path().join("broken.wasm"), b"\0asm but not really")?;
    let generation = broker.host().plugin_generation();

    // Version 2 would break provider `spaced`: refused, version 0.1.0 keeps serving.
    let report = broker.reload_plugins(Some(plugins.path()), &[]).await?;
    let added: Vec<&str> = report
        .added
        .iter()
        .map(|p| p.metadata.id.as_str())
        .collect();
    ensure!(added == ["hostile"], "added: {added:?}");
    ensure!(report.replaced.is_empty(), "{:?}", report.replaced);
    let refused = report
        .failed
        .iter()
        .find(|f| f.source.ends_with("generic.wasm"))
        .context("generic.wasm refused")?
        .error
        .to_string();
    for part in [
        "version 2.0.0 of plugin `generic` not installed",
        "provider `spaced` would break",
        "`scope_separator`",
        "version 0.1.0",
        "keeps serving",
    ] {
        ensure!(refused.contains(part), "`{part}` missing from: {refused}");
    }
    ensure!(
        report
            .failed
            .iter()
            .any(|f| f.source.ends_with("broken.wasm")),
        "the broken file is reported: {:?}",
        report.failed
    );
    ensure!(generic_version(&broker)? == "0.1.0");
    ensure!(broker.host().plugin_generation() == generation + 1); // `hostile` only
    broker.refresh("c1").await?;
    ensure!(
        last_plugin_version(&server)?.is_none(),
        "still the old version"
    );

    // The operator drops the setting; now nothing breaks and version 2 goes in.
    broker.update_provider(provider("spaced", &server)).await?;
    let report = broker.reload_plugins(Some(plugins.path()), &[]).await?;
    ensure!(report.added.is_empty(), "{:?}", report.added);
    let [replaced] = report.replaced.as_slice() else {
        anyhow::bail!("one plugin replaced: {:?}", report.replaced);
    };
    ensure!(replaced.plugin.metadata.id == "generic");
    ensure!(replaced.plugin.metadata.version == "2.0.0");
    ensure!(replaced.previous_version == "0.1.0");
    ensure!(replaced.previous_source == artifacts::GENERIC);
    ensure!(report.unchanged == ["hostile"], "{:?}", report.unchanged);
    ensure!(report.failed.len() == 1, "still the broken file only");
    ensure!(generic_version(&broker)? == "2.0.0");

    // Connections use the new version from their next token operation (the cached
    // provider is created again), the token they hold stays valid meanwhile.
    broker.get_token("c1").await?;
    broker.refresh("c1").await?;
    ensure!(last_plugin_version(&server)?.as_deref() == Some("2"));
    broker.refresh("c2").await?;
    ensure!(last_plugin_version(&server)?.as_deref() == Some("2"));

    // Nothing new: nothing changes. A second file of the same id (here the old version)
    // is refused like at start (the first in name order counts), rather than swapping
    // versions back and forth.
    copy(
        artifacts::GENERIC,
        &plugins.path().join("x-generic-old.wasm"),
    )?;
    let generation = broker.host().plugin_generation();
    let report = broker.reload_plugins(Some(plugins.path()), &[]).await?;
    ensure!(
        report.unchanged == ["generic", "hostile"],
        "{:?}",
        report.unchanged
    );
    ensure!(
        report
            .failed
            .iter()
            .any(|f| f.source.ends_with("x-generic-old.wasm")
                && f.error
                    .to_string()
                    .contains("duplicate plugin id `generic`")),
        "{:?}",
        report.failed
    );
    ensure!(broker.host().plugin_generation() == generation);
    ensure!(generic_version(&broker)? == "2.0.0");
    Ok(())
}

#[tokio::test]
async fn the_proxy_applies_tokens_the_new_versions_way() -> anyhow::Result<()> {
    let (_dir, broker, server) = setup().await?;
    connect_api(&broker, "api", &server).await?;
    // The route (base URL, token placement) is cached after the first call.
    for _ in 0..2 {
        ensure!(broker.request("api", whoami()?).await?.status() == 200);
    }
    let report = broker
        .reload_plugins(None, &[artifacts::GENERIC_NEXT.into()])
        .await?;
    ensure!(report.replaced.len() == 1, "{report:?}");
    // Version 2 sends the token raw, without `Bearer`: this API refuses it …
    let status = broker.request("api", whoami()?).await?.status();
    ensure!(status == 401, "{status}");
    // … and an API that wants it raw takes it.
    server.set_behavior(Behavior {
        api_token_placement: ApiTokenPlacement::Raw,
        ..behavior()
    });
    let status = broker.request("api", whoami()?).await?.status();
    ensure!(status == 200, "{status}");
    Ok(())
}

#[tokio::test]
async fn a_connection_override_the_new_version_does_not_know_blocks_it() -> anyhow::Result<()> {
    let (_dir, broker, _server) = setup().await?;
    let mut overrides = Overrides::default();
    overrides.settings.insert(
        "extra_params".into(),
        grantbox_host::SettingValue::Map([("audience".to_owned(), "api".to_owned())].into()),
    );
    broker
        .add_connection(NewConnection {
            id: "tuned".into(),
            provider: "plain".into(),
            overrides,
            ..NewConnection::default()
        })
        .await?;
    let report = broker
        .reload_plugins(None, &[artifacts::GENERIC_NEXT.into()])
        .await?;
    let [failed] = report.failed.as_slice() else {
        anyhow::bail!("refused: {report:?}");
    };
    let message = failed.error.to_string();
    ensure!(
        message.contains("connection `tuned` would break") && message.contains("`extra_params`"),
        "{message}"
    );
    ensure!(generic_version(&broker)? == "0.1.0");
    Ok(())
}

#[tokio::test]
async fn plugins_reload_over_the_api() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let (broker, _store) = broker_in(dir.path(), RefreshPolicy::default()).await?;
    let key = apikeys::create(broker.store().as_ref(), "tests").await?;
    let key = key.key.expose_secret().to_owned();
    let plugins = tempfile::tempdir()?;
    let plugins_dir = plugins.path().to_owned();
    let http = reqwest::Client::new();

    // Not configured: nothing to reload, said so.
    let unconfigured = serve_on_loopback(broker.clone(), |c| {
        c.key_cache_ttl = Duration::ZERO;
    })
    .await?;
    let resp = http
        .post(format!("{}/v1/plugins/reload", unconfigured.base))
        .bearer_auth(&key)
        .send()
        .await?;
    ensure!(resp.status() == 409, "{}", resp.status());
    let body: Value = serde_json::from_slice(&resp.bytes().await?)?;
    ensure!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("nothing to reload")),
        "{body}"
    );

    let LoopbackService { base, stop, task } = serve_on_loopback(broker.clone(), |c| {
        c.key_cache_ttl = Duration::ZERO;
        c.plugins_dir = Some(plugins_dir);
    })
    .await?;
    // An API key is required.
    let resp = http
        .post(format!("{base}/v1/plugins/reload"))
        .send()
        .await?;
    ensure!(resp.status() == 401, "{}", resp.status());

    copy(artifacts::HOSTILE, &plugins.path().join("hostile.wasm"))?;
    std::fs::write(plugins.path().join("broken.wasm"), b"not wasm")?;
    let resp = http
        .post(format!("{base}/v1/plugins/reload"))
        .bearer_auth(&key)
        .send()
        .await?;
    ensure!(resp.status() == 200, "{}", resp.status());
    let body: Value = serde_json::from_slice(&resp.bytes().await?)?;
    ensure!(body["added"][0]["metadata"]["id"] == "hostile", "{body}");
    ensure!(
        body["failed"][0]["source"]
            .as_str()
            .is_some_and(|s| s.ends_with("broken.wasm"))
            && body["failed"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("not a WebAssembly file")),
        "{body}"
    );
    let resp = http
        .get(format!("{base}/v1/plugins/hostile"))
        .bearer_auth(&key)
        .send()
        .await?;
    ensure!(
        resp.status() == 200,
        "the new plugin is served: {}",
        resp.status()
    );
    // The reload path does not hide a plugin whose id is `reload`.
    let resp = http
        .get(format!("{base}/v1/plugins/reload"))
        .bearer_auth(&key)
        .send()
        .await?;
    ensure!(resp.status() == 404, "{}", resp.status());

    let _ = stop.send(());
    task.await??;
    let _ = unconfigured.stop.send(());
    Ok(())
}

#[tokio::test]
async fn a_version_replaced_through_the_host_reaches_the_brokers_connections() -> anyhow::Result<()>
{
    let (_dir, broker, server) = setup().await?;
    connect_api(&broker, "c1", &server).await?;
    broker.get_token("c1").await?;
    ensure!(last_plugin_version(&server)?.is_none());
    ensure!(broker.request("c1", whoami()?).await?.status() == 200);
    // An embedder swapping the plugin in the host, without the broker's reload: the
    // broker's cached provider for `c1` notices the new plugin generation.
    let info = broker
        .host()
        .replace_plugin_file(artifacts::GENERIC_NEXT)
        .await?;
    ensure!(info.metadata.version == "2.0.0");
    // Its cached proxy route too: version 2 sends the token raw, which this API refuses.
    ensure!(broker.request("c1", whoami()?).await?.status() == 401);
    broker.refresh("c1").await?;
    ensure!(last_plugin_version(&server)?.as_deref() == Some("2"));
    Ok(())
}
