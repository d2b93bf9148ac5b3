//! The Azure (Entra ID) plugin against the Entra emulator: tenant in the URL, `.default`
//! scopes for client credentials, `offline_access` and rotating refresh tokens for
//! delegated grants, certificate credentials signed by the host, AADSTS errors.

use grantbox_e2e::{hex_to_base64url, host_with};
use grantbox_host::{ErrorKind, ExposeSecret, GrantType, Host, ProviderConfig, SecretString};
use grantbox_provider_servers::azure::{Azure, AzureConfig};
use grantbox_provider_servers::keys;

const TENANT: &str = "contoso.onmicrosoft.com";
const CLIENT_ID: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
const SECRET: &str = "azure~test~secret~0Q8Q";

async fn setup() -> anyhow::Result<(Azure, Host)> {
    let azure = Azure::start(AzureConfig {
        tenant: TENANT.into(),
        client_id: CLIENT_ID.into(),
        client_secret: Some(SECRET.into()),
        certificate_public_pem: Some(keys::RSA_PUBLIC.into()),
        certificate_x5t_s256: Some(hex_to_base64url(keys::RSA_CERT_SHA256)),
        certificate_x5t: Some(hex_to_base64url(keys::RSA_CERT_SHA1)),
        username: "alice@contoso.com".into(),
        password: "alice-pw-3f9a".into(),
    })
    .await?;
    let host = host_with(grantbox_e2e::artifacts::AZURE).await?;
    Ok((azure, host))
}

fn base(azure: &Azure) -> ProviderConfig {
    ProviderConfig::new("entra", "azure")
        .setting("authority_host", azure.authority())
        .setting("tenant", TENANT)
        .setting("client_id", CLIENT_ID)
}

#[tokio::test]
async fn client_credentials_with_a_secret_ask_for_dot_default() -> anyhow::Result<()> {
    let (azure, host) = setup().await?;
    let cfg = base(&azure)
        .grant(GrantType::ClientCredentials)
        .scopes(["https://graph.microsoft.com"])
        .secret("client_secret", SecretString::from(SECRET));
    let token = host.provider(cfg.clone())?.fetch_token().await?;
    assert!(token.refresh_token.is_none());
    let sent = azure.requests().pop().expect("a request");
    assert_eq!(sent.path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        sent.params.get("scope").map(String::as_str),
        Some("https://graph.microsoft.com/.default")
    );
    assert_eq!(
        sent.params.get("client_secret").map(String::as_str),
        Some(SECRET)
    );
    assert!(sent.basic.is_none());

    // A delegated permission cannot be asked for with client credentials: refused locally.
    let before = azure.requests().len();
    let e = host
        .provider(cfg.clone().scopes(["User.Read"]))?
        .fetch_token()
        .await
        .expect_err("delegated scope");
    let o = e.oauth().expect("an OAuth error");
    assert_eq!(
        (o.kind, o.field.as_deref()),
        (ErrorKind::InvalidConfig, Some("scopes"))
    );
    assert_eq!(azure.requests().len(), before, "nothing sent");

    // A wrong secret: invalid_client with the AADSTS code surfaced.
    let e = host
        .provider(cfg.secret("client_secret", SecretString::from("wrong-secret-value")))?
        .fetch_token()
        .await
        .expect_err("wrong secret");
    let o = e.oauth().expect("an OAuth error");
    assert_eq!(o.kind, ErrorKind::InvalidClient);
    assert!(e.to_string().contains("AADSTS7000215"), "{e}");
    Ok(())
}

#[tokio::test]
async fn certificate_credentials_are_signed_by_the_host() -> anyhow::Result<()> {
    let (azure, host) = setup().await?;
    for (field, thumb, alg, header) in [
        (
            "certificate_thumbprint_sha256",
            keys::RSA_CERT_SHA256,
            "PS256",
            "x5t#S256",
        ),
        (
            "certificate_thumbprint",
            keys::RSA_CERT_SHA1,
            "RS256",
            "x5t",
        ),
    ] {
        let cfg = base(&azure)
            .grant(GrantType::ClientCredentials)
            .scopes(["api://6731de76-14a6-49ae-97bc-6eba6914391e/.default"])
            .secret("certificate_key", SecretString::from(keys::RSA_PRIVATE))
            .setting(field, thumb.trim());
        let token = host.provider(cfg)?.fetch_token().await?;
        assert!(!token.access_token.expose_secret().is_empty());
        let (h, claims) = azure.last_assertion().expect("an assertion was verified");
        assert_eq!(h["alg"], alg);
        assert_eq!(h[header], hex_to_base64url(thumb));
        assert_eq!(claims["iss"], CLIENT_ID);
        assert_eq!(claims["sub"], CLIENT_ID);
        assert_eq!(
            claims["aud"],
            format!("{}/{TENANT}/oauth2/v2.0/token", azure.authority())
        );
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() == 36));
        let sent = azure.requests().pop().expect("a request");
        assert_eq!(
            sent.params.get("client_assertion_type").map(String::as_str),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        assert!(!sent.params.contains_key("client_secret"));
    }
    Ok(())
}

#[tokio::test]
async fn delegated_grants_get_offline_access_and_rotating_refresh_tokens() -> anyhow::Result<()> {
    let (azure, host) = setup().await?;
    let provider = host.provider(
        base(&azure)
            .grant(GrantType::Password)
            .scopes(["User.Read"])
            .setting("username", "alice@contoso.com")
            .secret("password", SecretString::from("alice-pw-3f9a"))
            .secret("client_secret", SecretString::from(SECRET)),
    )?;
    let first = provider.fetch_token().await?;
    let sent = azure.requests().pop().expect("a request");
    assert_eq!(
        sent.params.get("scope").map(String::as_str),
        Some("User.Read offline_access")
    );
    let rt1 = first
        .refresh_token
        .expect("offline_access yields a refresh token");
    let second = provider.refresh(&rt1).await?;
    let rt2 = second.refresh_token.expect("refresh tokens rotate");
    assert_ne!(rt1.expose_secret(), rt2.expose_secret());
    // The rotated-out token is dead: invalid_grant (reconnect needed), AADSTS700082.
    let e = provider.refresh(&rt1).await.expect_err("old token");
    assert_eq!(e.oauth().map(|o| o.kind), Some(ErrorKind::InvalidGrant));
    assert!(e.to_string().contains("AADSTS700082"), "{e}");
    Ok(())
}

#[tokio::test]
async fn unknown_tenant_surfaces_aadsts90002() -> anyhow::Result<()> {
    let (azure, host) = setup().await?;
    let e = host
        .provider(
            base(&azure)
                .setting("tenant", "fabrikam.onmicrosoft.com")
                .grant(GrantType::ClientCredentials)
                .scopes(["https://graph.microsoft.com/.default"])
                .secret("client_secret", SecretString::from(SECRET)),
        )?
        .fetch_token()
        .await
        .expect_err("unknown tenant");
    assert!(e.to_string().contains("AADSTS90002"), "{e}");
    assert!(e.to_string().contains("fabrikam.onmicrosoft.com"), "{e}");
    Ok(())
}

/// The settings check (run before a provider or connection is stored) reaches the host's
/// signing: a private key that does not parse is refused by name, and nothing is sent.
#[tokio::test]
async fn the_settings_check_refuses_a_malformed_certificate_key() -> anyhow::Result<()> {
    let (azure, host) = setup().await?;
    let cfg = base(&azure)
        .grant(GrantType::ClientCredentials)
        .scopes(["https://graph.microsoft.com"])
        .setting(
            "certificate_thumbprint_sha256",
            keys::RSA_CERT_SHA256.trim(),
        );
    host.provider(
        cfg.clone()
            .secret("certificate_key", SecretString::from(keys::RSA_PRIVATE)),
    )?
    .check_settings()
    .await?;
    let e = host
        .provider(cfg.secret(
            "certificate_key",
            SecretString::from("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"),
        ))?
        .check_settings()
        .await
        .expect_err("malformed key");
    assert!(
        matches!(&e, grantbox_host::Error::InvalidSetting { field, .. } if field == "certificate_key"),
        "{e}"
    );
    assert!(azure.requests().is_empty(), "the check sent nothing");
    assert!(azure.last_assertion().is_none());
    Ok(())
}
