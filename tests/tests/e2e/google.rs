//! The Google plugin against the Google emulator: service accounts (host-signed JWT
//! bearer), refresh without a new refresh token, revoked tokens, the offline
//! authorization URL, the code exchange.

use grantbox_e2e::host_with;
use grantbox_host::{
    AuthorizationRequest, Error, ErrorKind, ExposeSecret, Grant, GrantType, Host, ProviderConfig,
    SecretString,
};
use grantbox_provider_servers::google::{Google, GoogleConfig};
use grantbox_provider_servers::keys;

const SA: &str = "robot@project-1234.iam.gserviceaccount.com";
const CLIENT_ID: &str = "1234-abc.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "GOCSPX-test-secret-5b7c";

async fn setup() -> anyhow::Result<(Google, Host)> {
    let google = Google::start(GoogleConfig {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        service_account_email: SA.into(),
        service_account_public_pem: keys::RSA_PUBLIC.into(),
    })
    .await?;
    let host = host_with(grantbox_e2e::artifacts::GOOGLE).await?;
    Ok((google, host))
}

fn key_file(private_pem: &str) -> SecretString {
    SecretString::from(
        serde_json::json!({
            "type": "service_account",
            "project_id": "project-1234",
            "private_key_id": "0123abcd",
            "private_key": private_pem,
            "client_email": SA,
        })
        .to_string(),
    )
}

fn web(google: &Google) -> ProviderConfig {
    ProviderConfig::new("google", "google")
        .setting("token_url", google.token_url())
        .setting("authorization_url", format!("{}/auth", google.base_url()))
        .setting("client_id", CLIENT_ID)
        .secret("client_secret", SecretString::from(CLIENT_SECRET))
}

#[tokio::test]
async fn service_account_jwt_bearer_is_signed_by_the_host() -> anyhow::Result<()> {
    let (google, host) = setup().await?;
    let sa = ProviderConfig::new("gsa", "google")
        .grant(GrantType::Custom("jwt-bearer".into()))
        .scopes(["https://www.googleapis.com/auth/admin.directory.user.readonly"])
        .setting("token_url", google.token_url())
        .setting("service_account_email", SA)
        .setting("subject", "admin@example.com")
        .secret("service_account_key", key_file(keys::RSA_PRIVATE));
    let token = host.provider(sa.clone())?.fetch_token().await?;
    assert!(token.access_token.expose_secret().starts_with("ya29."));
    assert_eq!(token.expires_in.map(|d| d.as_secs()), Some(3599));
    let claims = google
        .last_assertion_claims()
        .expect("an assertion was verified");
    assert_eq!(claims["iss"], SA);
    assert_eq!(claims["sub"], "admin@example.com");
    assert_eq!(claims["aud"], google.token_url());
    assert_eq!(
        claims["scope"],
        "https://www.googleapis.com/auth/admin.directory.user.readonly"
    );
    let lifetime = claims["exp"].as_u64().unwrap_or(0) - claims["iat"].as_u64().unwrap_or(0);
    assert_eq!(lifetime, 3600);
    let request = google.requests().pop().expect("a request");
    assert_eq!(
        request.params.get("grant_type").map(String::as_str),
        Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    );
    assert!(!request.params.contains_key("client_secret"));

    // A key the algorithm cannot use is a configuration error naming the field.
    let e = host
        .provider(sa.secret("service_account_key", SecretString::from(keys::EC_PRIVATE)))?
        .fetch_token()
        .await
        .expect_err("an EC key cannot sign RS256");
    let o = e.oauth().expect("an OAuth error");
    assert_eq!(o.kind, ErrorKind::InvalidConfig);
    assert_eq!(o.field.as_deref(), Some("service_account_key"));
    assert!(!e.to_string().contains("PRIVATE KEY"), "{e}");
    Ok(())
}

#[tokio::test]
async fn refresh_returns_no_new_refresh_token_and_revocation_means_reconnect() -> anyhow::Result<()>
{
    let (google, host) = setup().await?;
    let rt = google.grant_refresh_token("openid email");
    let provider = host.provider(web(&google))?;
    let refreshed = provider.refresh(&SecretString::from(rt.clone())).await?;
    assert!(
        refreshed.refresh_token.is_none(),
        "Google keeps the refresh token"
    );
    assert_eq!(refreshed.token_type.as_deref(), Some("Bearer"));
    let sent = google.requests().pop().expect("a request");
    assert_eq!(
        sent.params.get("client_secret").map(String::as_str),
        Some(CLIENT_SECRET)
    );
    assert!(sent.basic.is_none(), "credentials in the body");

    google.revoke(&rt);
    let e = provider
        .refresh(&SecretString::from(rt))
        .await
        .expect_err("revoked");
    let o = e.oauth().expect("an OAuth error");
    assert_eq!(o.kind, ErrorKind::InvalidGrant);
    assert_eq!(
        o.description.as_deref(),
        Some("Token has been expired or revoked.")
    );
    assert!(matches!(e, Error::OAuth { .. }));
    Ok(())
}

#[tokio::test]
async fn authorization_url_asks_for_offline_access_and_code_exchange_keeps_it() -> anyhow::Result<()>
{
    let (google, host) = setup().await?;
    let provider = host
        .provider(web(&google).scopes(["openid", "https://www.googleapis.com/auth/drive.file"]))?;
    let url = provider
        .authorization_url(&AuthorizationRequest {
            redirect_uri: "https://app.example/oauth/callback".into(),
            state: "st-123".into(),
            pkce_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            ..AuthorizationRequest::default()
        })
        .await?;
    let parsed = url::Url::parse(&url)?;
    let q: std::collections::BTreeMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q.get("access_type").map(String::as_str), Some("offline"));
    assert_eq!(q.get("prompt").map(String::as_str), Some("consent"));
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    assert_eq!(
        q.get("code_challenge_method").map(String::as_str),
        Some("S256")
    );
    assert_eq!(
        q.get("scope").map(String::as_str),
        Some("openid https://www.googleapis.com/auth/drive.file")
    );

    let code = google.issue_code("openid", true);
    let tokens = provider
        .exchange(Grant::AuthorizationCode {
            code: SecretString::from(code),
            redirect_uri: "https://app.example/oauth/callback".into(),
            pkce_verifier: Some(SecretString::from("dBjftJeZ4CVP-mJ92K9nKZzRoQW0-verifier")),
        })
        .await?;
    assert!(
        tokens.refresh_token.is_some(),
        "offline access yields a refresh token"
    );
    Ok(())
}
