//! `grantbox demo`: the whole path on loopback with no account anywhere.

use anyhow::{Context, Result};
use grantbox_host::{
    EgressPolicy, ExposeSecret, GrantType, Host, ProviderConfig, SecretString, TokenPlacement,
};
use grantbox_token_server::{Behavior, TokenServer};

/// Starts a local token server, loads the bundled plugins, fetches a token through the
/// generic plugin and calls a protected API with it.
pub async fn run() -> Result<()> {
    let behavior = Behavior::default();
    let server = TokenServer::start(behavior.clone())
        .await
        .context("starting the local token server")?;
    println!("local token server:   {}/token", server.base_url());

    // Allow exactly the demo server: its origin, and the loopback address it lives on.
    let egress = EgressPolicy::deny_all()
        .allow(&server.base_url())?
        .allow_private_network("127.0.0.1/32".parse()?);
    let host = Host::builder()
        .egress(egress)
        .cache_dir(crate::default_cache_dir())
        .build()?;
    let report = crate::load_plugins(&host, true, None, &[]).await?;
    for p in &report.loaded {
        println!(
            "plugin loaded:        {} {} ({}, {} KiB, compiled {})",
            p.metadata.id,
            p.metadata.version,
            p.source,
            p.size / 1024,
            if p.from_cache { "from cache" } else { "now" }
        );
    }

    let provider = host.provider(
        ProviderConfig::new("demo", "generic")
            .grant(GrantType::ClientCredentials)
            .scopes(["read", "write"])
            .setting("token_url", server.url("/token"))
            .setting("client_id", behavior.client_id.as_str())
            .secret(
                "client_secret",
                SecretString::from(behavior.client_secret.clone()),
            ),
    )?;
    let token = provider.fetch_token().await?;
    let shown: String = token
        .access_token
        .expose_secret()
        .chars()
        .take(12)
        .collect();
    println!(
        "token fetched:        {shown}… (type {}, expires in {}s, scope {})",
        token.token_type.as_deref().unwrap_or("-"),
        token.expires_in.map(|d| d.as_secs()).unwrap_or(0),
        token
            .scopes
            .as_ref()
            .map(|s| s.join(" "))
            .unwrap_or_default(),
    );

    let placement = provider.token_placement().await?;
    let how = match &placement {
        TokenPlacement::Authorization { scheme: Some(s) } => format!("Authorization: {s} <token>"),
        TokenPlacement::Authorization { scheme: None } => "Authorization: <token>".into(),
        TokenPlacement::Header { name, .. } => format!("{name}: <token>"),
        TokenPlacement::Query { name } => format!("?{name}=<token>"),
    };
    let client = reqwest::Client::new();
    let mut request = client.get(server.url("/api/whoami")).build()?;
    provider
        .authorize(&token.access_token, &mut request)
        .await?;
    let response = client.execute(request).await?;
    println!(
        "API call with token:  GET /api/whoami ({how}) -> {} {}",
        response.status().as_u16(),
        response.text().await?
    );
    println!(
        "\nEverything ran locally: the plugin ran sandboxed in wasmtime and never saw the client secret."
    );
    server.shutdown().await;
    Ok(())
}
