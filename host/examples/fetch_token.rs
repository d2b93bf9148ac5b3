//! Embedding grantbox: build a host, load a plugin, fetch a token for a provider.
//!
//! Self-contained: it starts a provider-like token server on loopback and uses the
//! workspace's generic plugin. Run with `cargo run -p grantbox-host --example fetch_token`.

use grantbox_host::{EgressPolicy, ExposeSecret, GrantType, Host, ProviderConfig, SecretString};
use grantbox_token_server::{Behavior, TokenServer};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A stand-in for the provider (in production: the provider's real token endpoint).
    let server = TokenServer::start(Behavior::default()).await?;

    // --- the embedding, in about ten lines ---
    let egress = EgressPolicy::default() // any https origin, no private addresses…
        .allow(&server.base_url())? // …plus the local test server
        .allow_private_network("127.0.0.1/32".parse()?);
    let host = Host::builder().egress(egress).build()?;
    host.load_plugin_file(grantbox_plugin_artifacts::GENERIC)
        .await?;
    let provider = host.provider(
        ProviderConfig::new("acme", "generic")
            .grant(GrantType::ClientCredentials)
            .scopes(["read"])
            .setting("token_url", server.url("/token"))
            .setting("client_id", "demo-client")
            .secret("client_secret", SecretString::from("demo-secret")),
    )?;
    let token = provider.fetch_token().await?;
    // ------------------------------------------

    println!(
        "access token {}… expires in {:?}",
        &token.access_token.expose_secret()[..8],
        token.expires_in
    );
    Ok(())
}
