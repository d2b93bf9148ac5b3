//! Every quirk of the generic plugin, end to end: the server asserts what it received, the
//! test asserts what the host returns.

use std::collections::BTreeMap;
use std::time::Duration;

use grantbox_e2e::host_with_generic;
use grantbox_host::{
    Error, ErrorKind, ExposeSecret, GrantType, Host, Provider, ProviderConfig, SecretString,
    TokenSet,
};
use grantbox_token_server::{ApiTokenPlacement, Behavior, ClientAuth, ExpiresIn, TokenServer};

const CLIENT_ID: &str = "grantbox-client";
const CLIENT_SECRET: &str = "cs-9f8e7d6c5b4a";
const USERNAME: &str = "alice@example.com";
const PASSWORD: &str = "pw-correct horse battery";

fn behavior() -> Behavior {
    Behavior {
        client_id: CLIENT_ID.into(),
        client_secret: CLIENT_SECRET.into(),
        username: USERNAME.into(),
        password: PASSWORD.into(),
        ..Behavior::default()
    }
}

async fn start(b: Behavior) -> anyhow::Result<TokenServer> {
    Ok(TokenServer::start(b).await?)
}

fn config(server: &TokenServer) -> ProviderConfig {
    ProviderConfig::new("acme", "generic")
        .grant(GrantType::ClientCredentials)
        .scopes(["read", "write"])
        .setting("token_url", server.url("/token"))
        .setting("client_id", CLIENT_ID)
        .secret("client_secret", SecretString::from(CLIENT_SECRET))
}

fn provider(host: &Host, cfg: ProviderConfig) -> anyhow::Result<Provider> {
    Ok(host.provider(cfg)?)
}

/// Fetches a token with the configured grant; the outer error is a setup failure.
async fn fetch(host: &Host, cfg: ProviderConfig) -> anyhow::Result<Result<TokenSet, Error>> {
    Ok(provider(host, cfg)?.fetch_token().await)
}

fn oauth_kind(e: &Error) -> Option<ErrorKind> {
    e.oauth().map(|o| o.kind)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn standard_client_credentials_with_basic_auth() -> anyhow::Result<()> {
    let server = start(behavior()).await?;
    let host = host_with_generic().await?;
    let p = provider(&host, config(&server))?;
    let token = p.fetch_token().await?;
    assert!(token.access_token.expose_secret().starts_with("at_"));
    assert_eq!(token.token_type.as_deref(), Some("Bearer"));
    assert!(token.expires_in.is_some());

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.path, "/token");
    assert_eq!(
        r.params.get("grant_type").map(String::as_str),
        Some("client_credentials")
    );
    assert_eq!(
        r.params.get("scope").map(String::as_str),
        Some("read write")
    );
    // Basic by default (RFC 6749 §2.3.1), never the secret in the body.
    assert_eq!(
        r.basic_credentials,
        Some((CLIENT_ID.to_string(), CLIENT_SECRET.to_string()))
    );
    assert!(!r.params.contains_key("client_secret"));
    Ok(())
}

#[tokio::test]
async fn basic_only_server() -> anyhow::Result<()> {
    let server = start(Behavior {
        client_auth: ClientAuth::BasicOnly,
        ..behavior()
    })
    .await?;
    let host = host_with_generic().await?;
    fetch(&host, config(&server).setting("client_auth", "basic")).await??;
    let err = fetch(&host, config(&server).setting("client_auth", "body"))
        .await?
        .expect_err("credentials in the body are refused");
    assert_eq!(oauth_kind(&err), Some(ErrorKind::InvalidClient), "{err}");
    assert_eq!(err.oauth().and_then(|o| o.status), Some(401));
    Ok(())
}

#[tokio::test]
async fn body_only_server() -> anyhow::Result<()> {
    let server = start(Behavior {
        client_auth: ClientAuth::BodyOnly,
        ..behavior()
    })
    .await?;
    let host = host_with_generic().await?;
    fetch(&host, config(&server).setting("client_auth", "body")).await??;
    let r = server.requests().pop().expect("a request");
    assert_eq!(
        r.params.get("client_id").map(String::as_str),
        Some(CLIENT_ID)
    );
    assert_eq!(
        r.params.get("client_secret").map(String::as_str),
        Some(CLIENT_SECRET)
    );
    assert!(r.basic_credentials.is_none());

    let err = fetch(&host, config(&server))
        .await?
        .expect_err("Basic is refused");
    assert_eq!(oauth_kind(&err), Some(ErrorKind::InvalidClient), "{err}");
    Ok(())
}

#[tokio::test]
async fn renamed_password_grant() -> anyhow::Result<()> {
    let renamed = "http://auth0.com/oauth/grant-type/password-realm";
    let server = start(Behavior {
        password_grant_type: renamed.into(),
        ..behavior()
    })
    .await?;
    let host = host_with_generic().await?;
    let cfg = config(&server)
        .grant(GrantType::Password)
        .setting("username", USERNAME)
        .secret("password", SecretString::from(PASSWORD));
    let err = fetch(&host, cfg.clone())
        .await?
        .expect_err("the standard grant_type is refused");
    assert_eq!(
        err.oauth().and_then(|o| o.error.clone()).as_deref(),
        Some("unsupported_grant_type"),
        "{err}"
    );

    let token = fetch(&host, cfg.setting("grant_type", renamed)).await??;
    assert!(!token.access_token.expose_secret().is_empty());
    let r = server.requests().pop().expect("a request");
    assert_eq!(
        r.params.get("grant_type").map(String::as_str),
        Some(renamed)
    );
    assert_eq!(r.params.get("username").map(String::as_str), Some(USERNAME));
    assert_eq!(r.params.get("password").map(String::as_str), Some(PASSWORD));
    Ok(())
}

#[tokio::test]
async fn required_extra_header_and_body_param() -> anyhow::Result<()> {
    let server = start(Behavior {
        required_headers: vec![("x-api-version".into(), "2024-01".into())],
        required_params: vec![("audience".into(), "https://api.acme.example".into())],
        ..behavior()
    })
    .await?;
    let host = host_with_generic().await?;
    let err = fetch(&host, config(&server))
        .await?
        .expect_err("missing header and param");
    assert_eq!(
        err.oauth().and_then(|o| o.error.clone()).as_deref(),
        Some("invalid_request")
    );

    let cfg = config(&server)
        .setting("extra_headers", map(&[("X-Api-Version", "2024-01")]))
        .setting(
            "extra_params",
            map(&[("audience", "https://api.acme.example")]),
        );
    fetch(&host, cfg).await??;
    let r = server.requests().pop().expect("a request");
    assert_eq!(
        r.headers.get("x-api-version").map(String::as_str),
        Some("2024-01")
    );
    assert_eq!(
        r.params.get("audience").map(String::as_str),
        Some("https://api.acme.example")
    );
    Ok(())
}

async fn whoami(p: &Provider, server: &TokenServer, token: &SecretString) -> anyhow::Result<u16> {
    let client = reqwest::Client::new();
    let mut req = client.get(server.url("/api/whoami")).build()?;
    p.authorize(token, &mut req).await?;
    Ok(client.execute(req).await?.status().as_u16())
}

#[tokio::test]
async fn token_placements_on_api_calls() -> anyhow::Result<()> {
    let host = host_with_generic().await?;
    let cases: [(ApiTokenPlacement, &[(&str, &str)]); 4] = [
        (ApiTokenPlacement::Bearer, &[]),
        (ApiTokenPlacement::Raw, &[("token_placement", "raw")]),
        (
            ApiTokenPlacement::Header("x-auth-token".into()),
            &[
                ("token_placement", "header"),
                ("token_header", "X-Auth-Token"),
            ],
        ),
        (
            ApiTokenPlacement::Query("access_token".into()),
            &[
                ("token_placement", "query"),
                ("token_query_param", "access_token"),
            ],
        ),
    ];
    for (placement, settings) in cases {
        let server = start(Behavior {
            api_token_placement: placement.clone(),
            ..behavior()
        })
        .await?;
        let mut cfg = config(&server);
        for (k, v) in settings {
            cfg = cfg.setting(*k, *v);
        }
        let p = provider(&host, cfg)?;
        let token = p.fetch_token().await?;
        assert_eq!(
            whoami(&p, &server, &token.access_token).await?,
            200,
            "{placement:?}"
        );
        // The default (Bearer) placement is refused where the API wants something else.
        if placement != ApiTokenPlacement::Bearer {
            let bearer = provider(&host, config(&server))?;
            assert_eq!(
                whoami(&bearer, &server, &token.access_token).await?,
                401,
                "{placement:?}"
            );
        }
    }
    Ok(())
}

#[tokio::test]
async fn expires_in_as_string_and_missing_token_type() -> anyhow::Result<()> {
    let server = start(Behavior {
        expires_in: ExpiresIn::String,
        token_type: None,
        access_token_ttl: Duration::from_secs(3599),
        ..behavior()
    })
    .await?;
    let host = host_with_generic().await?;
    let token = fetch(&host, config(&server)).await??;
    assert_eq!(token.expires_in, Some(Duration::from_secs(3599)));
    assert_eq!(token.token_type, None);

    server.set_behavior(Behavior {
        expires_in: ExpiresIn::Absent,
        ..behavior()
    });
    let token = fetch(&host, config(&server)).await??;
    assert_eq!(token.expires_in, None);
    Ok(())
}

#[tokio::test]
async fn rfc6749_error_with_400_and_error_inside_200() -> anyhow::Result<()> {
    for in_200 in [false, true] {
        let server = start(Behavior {
            force_error: Some((
                400,
                "invalid_scope".into(),
                "scope `write` is not allowed".into(),
            )),
            errors_with_status_200: in_200,
            ..behavior()
        })
        .await?;
        let host = host_with_generic().await?;
        let err = fetch(&host, config(&server))
            .await?
            .expect_err("an error response");
        let o = err.oauth().expect("an OAuth error");
        assert_eq!(o.kind, ErrorKind::Rejected);
        assert_eq!(o.error.as_deref(), Some("invalid_scope"));
        assert_eq!(
            o.description.as_deref(),
            Some("scope `write` is not allowed")
        );
        assert_eq!(o.status, Some(if in_200 { 200 } else { 400 }));
    }
    Ok(())
}

#[tokio::test]
async fn refresh_with_separate_refresh_url_and_invalid_grant() -> anyhow::Result<()> {
    let server = start(Behavior {
        issue_refresh_token: true,
        refresh_separately: true,
        ..behavior()
    })
    .await?;
    let host = host_with_generic().await?;
    let cfg = config(&server)
        .grant(GrantType::Password)
        .setting("username", USERNAME)
        .secret("password", SecretString::from(PASSWORD))
        .setting("refresh_url", server.url("/refresh"))
        .setting(
            "refresh_params",
            map(&[("resource", "https://api.acme.example")]),
        );
    let p = provider(&host, cfg)?;
    let first = p.fetch_token().await?;
    let rt = first.refresh_token.as_ref().expect("a refresh token");
    let second = p.refresh(rt).await?;
    assert_ne!(
        first.access_token.expose_secret(),
        second.access_token.expose_secret()
    );
    let r = server.requests().pop().expect("a request");
    assert_eq!(r.path, "/refresh");
    assert_eq!(
        r.params.get("grant_type").map(String::as_str),
        Some("refresh_token")
    );
    assert_eq!(
        r.params.get("resource").map(String::as_str),
        Some("https://api.acme.example")
    );

    let err = p
        .refresh(&SecretString::from("rt_not-a-real-one"))
        .await
        .expect_err("unknown refresh token");
    assert_eq!(oauth_kind(&err), Some(ErrorKind::InvalidGrant), "{err}");
    Ok(())
}

#[tokio::test]
async fn scope_separator_and_json_body() -> anyhow::Result<()> {
    let server = start(Behavior {
        scope_separator: ",".into(),
        accept_json_body: true,
        ..behavior()
    })
    .await?;
    let host = host_with_generic().await?;
    let cfg = config(&server)
        .setting("scope_separator", ",")
        .setting("body_format", "json")
        .setting("client_auth", "body");
    fetch(&host, cfg).await??;
    let r = server.requests().pop().expect("a request");
    assert_eq!(
        r.headers.get("content-type").map(String::as_str),
        Some("application/json")
    );
    assert_eq!(
        r.params.get("scope").map(String::as_str),
        Some("read,write")
    );
    assert_eq!(
        r.params.get("client_secret").map(String::as_str),
        Some(CLIENT_SECRET)
    );
    Ok(())
}

#[tokio::test]
async fn settings_are_validated_before_any_request() -> anyhow::Result<()> {
    let server = start(behavior()).await?;
    let host = host_with_generic().await?;
    let e = host
        .provider(config(&server).setting("client_auth", true))
        .expect_err("a flag where text is expected");
    assert!(e.to_string().contains("setting `client_auth`"), "{e}");
    let e = host
        .provider(ProviderConfig::new("acme", "generic"))
        .expect_err("token_url missing");
    assert!(e.to_string().contains("setting `token_url`"), "{e}");
    assert_eq!(server.request_count(), 0);
    Ok(())
}

#[tokio::test]
async fn authorization_url_with_extra_params_prompt_and_pkce() -> anyhow::Result<()> {
    let server = start(behavior()).await?;
    let host = host_with_generic().await?;
    let p = provider(
        &host,
        config(&server)
            .grant(GrantType::AuthorizationCode)
            .setting(
                "authorization_url",
                "https://accounts.example.com/o/oauth2/v2/auth",
            )
            .setting(
                "auth_params",
                map(&[("access_type", "offline"), ("prompt", "consent")]),
            ),
    )?;
    let url = p
        .authorization_url(&grantbox_host::AuthorizationRequest {
            redirect_uri: "https://app.example/oauth/callback".into(),
            state: "st-123".into(),
            pkce_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
            prompt: Some("select_account".into()),
            extra_params: vec![("login_hint".into(), "alice@example.com".into())],
        })
        .await?;
    let parsed = url::Url::parse(&url)?;
    assert_eq!(parsed.host_str(), Some("accounts.example.com"));
    let q: BTreeMap<String, String> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["redirect_uri"], "https://app.example/oauth/callback");
    assert_eq!(q["scope"], "read write");
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["access_type"], "offline");
    // The configured auth param wins over the per-request prompt, as the operator set it.
    assert_eq!(q["prompt"], "consent");
    assert_eq!(q["login_hint"], "alice@example.com");
    assert!(!url.contains(CLIENT_SECRET));
    // Interactive grants cannot be fetched without connecting first.
    let err = p.fetch_token().await.expect_err("interactive");
    assert!(
        err.to_string().contains("connect an account first"),
        "{err}"
    );
    assert_eq!(server.request_count(), 0);
    Ok(())
}
