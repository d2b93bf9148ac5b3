//! GitHub, Slack, Zoom, LinkedIn, Dropbox, Cognito and Salesforce plugins against their
//! emulators: each provider's documented quirks, end to end.

use std::collections::BTreeMap;

use grantbox_e2e::{artifacts, host_with};
use grantbox_host::{
    AuthorizationRequest, ErrorKind, ExposeSecret, Grant, GrantType, Host, Provider,
    ProviderConfig, SecretString,
};
use grantbox_provider_servers::keys;

fn code(code: String, redirect: &str, verifier: Option<&str>) -> Grant {
    Grant::AuthorizationCode {
        code: SecretString::from(code),
        redirect_uri: redirect.into(),
        pkce_verifier: verifier.map(SecretString::from),
    }
}

fn query(url: &str) -> anyhow::Result<BTreeMap<String, String>> {
    Ok(url::Url::parse(url)?.query_pairs().into_owned().collect())
}

fn auth_request() -> AuthorizationRequest {
    AuthorizationRequest {
        redirect_uri: "https://app.example/cb".into(),
        state: "state-1".into(),
        pkce_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into()),
        ..AuthorizationRequest::default()
    }
}

async fn provider(plugin: &str, config: ProviderConfig) -> anyhow::Result<(Host, Provider)> {
    let host = host_with(plugin).await?;
    let p = host.provider(config)?;
    Ok((host, p))
}

mod github {
    use super::*;
    use grantbox_provider_servers::github::{GitHub, GitHubConfig};

    async fn setup(expiring: bool) -> anyhow::Result<(GitHub, Host, Provider)> {
        let gh = GitHub::start_github(GitHubConfig {
            client_id: "Iv1.8a61f9b3a7aba766".into(),
            client_secret: "gh-secret-1f0e".into(),
            expiring_tokens: expiring,
        })
        .await?;
        let (host, p) = provider(
            artifacts::GITHUB,
            ProviderConfig::new("gh", "github")
                .setting("base_url", gh.base_url())
                .setting("client_id", "Iv1.8a61f9b3a7aba766")
                .secret("client_secret", SecretString::from("gh-secret-1f0e")),
        )
        .await?;
        Ok((gh, host, p))
    }

    #[tokio::test]
    async fn code_exchange_errors_with_200_and_comma_scopes() -> anyhow::Result<()> {
        let (gh, _host, p) = setup(false).await?;
        let c = gh.issue_code("repo user");
        let t = p.exchange(code(c, "https://app.example/cb", None)).await?;
        assert!(t.access_token.expose_secret().starts_with("gho_"));
        assert_eq!(t.scopes, Some(vec!["repo".to_owned(), "user".to_owned()]));
        assert_eq!(t.expires_in, None, "GitHub tokens do not expire by default");
        let sent = gh.last_request().expect("request");
        assert_eq!(
            sent.headers.get("accept").map(String::as_str),
            Some("application/json")
        );

        let e = p
            .exchange(code("wrong".into(), "https://app.example/cb", None))
            .await
            .expect_err("bad code");
        let o = e.oauth().expect("oauth error");
        assert_eq!(o.kind, ErrorKind::InvalidGrant);
        assert_eq!(o.error.as_deref(), Some("bad_verification_code"));
        assert_eq!(o.status, Some(200), "GitHub reports errors with HTTP 200");
        Ok(())
    }

    #[tokio::test]
    async fn expiring_user_tokens_rotate() -> anyhow::Result<()> {
        let (gh, _host, p) = setup(true).await?;
        let t = p
            .exchange(code(gh.issue_code("repo"), "https://app.example/cb", None))
            .await?;
        assert_eq!(t.expires_in.map(|d| d.as_secs()), Some(28800));
        assert_eq!(
            t.refresh_token_expires_in.map(|d| d.as_secs()),
            Some(15897600)
        );
        let rt = t.refresh_token.expect("refresh token");
        let t2 = p.refresh(&rt).await?;
        assert!(t2.refresh_token.is_some());
        let e = p.refresh(&rt).await.expect_err("rotated out");
        assert_eq!(
            e.oauth().and_then(|o| o.error.clone()).as_deref(),
            Some("bad_refresh_token")
        );
        assert_eq!(e.oauth().map(|o| o.kind), Some(ErrorKind::InvalidGrant));
        Ok(())
    }

    #[tokio::test]
    async fn device_flow_pending_slow_down_success() -> anyhow::Result<()> {
        let (_gh, _host, p) = setup(false).await?;
        let d = p.start_device_authorization().await?;
        assert_eq!(d.user_code, "WDJB-MJHT");
        assert_eq!(d.interval.map(|i| i.as_secs()), Some(5));
        let poll = || p.exchange(Grant::DeviceCode(d.device_code.clone()));
        let e = poll().await.expect_err("pending");
        assert_eq!(
            e.oauth().map(|o| o.kind),
            Some(ErrorKind::AuthorizationPending)
        );
        let e = poll().await.expect_err("slow down");
        assert_eq!(e.oauth().map(|o| o.kind), Some(ErrorKind::SlowDown));
        let t = poll().await?;
        assert!(t.access_token.expose_secret().starts_with("gho_"));
        Ok(())
    }
}

mod slack {
    use super::*;
    use grantbox_provider_servers::slack::{Slack, SlackConfig};

    async fn setup(kind: &str) -> anyhow::Result<(Slack, Host, Provider)> {
        let s = Slack::start_slack(SlackConfig {
            client_id: "3336676.569200954261".into(),
            client_secret: "slack-secret-9d8c".into(),
            rotation: true,
        })
        .await?;
        let (host, p) = provider(
            artifacts::SLACK,
            ProviderConfig::new("slack", "slack")
                .scopes(["commands", "chat:write"])
                .setting("base_url", s.base_url())
                .setting("client_id", "3336676.569200954261")
                .secret("client_secret", SecretString::from("slack-secret-9d8c"))
                .setting("user_scope", vec!["search:read".to_owned()])
                .setting("token_kind", kind),
        )
        .await?;
        Ok((s, host, p))
    }

    #[tokio::test]
    async fn bot_token_kept_user_token_never_stored_as_metadata() -> anyhow::Result<()> {
        let (s, _host, p) = setup("bot").await?;
        let url = p.authorization_url(&auth_request()).await?;
        let q = query(&url)?;
        assert_eq!(
            q.get("scope").map(String::as_str),
            Some("commands,chat:write")
        );
        assert_eq!(q.get("user_scope").map(String::as_str), Some("search:read"));

        let t = p
            .exchange(code(
                s.issue_code("commands,chat:write", "search:read"),
                "https://app.example/cb",
                None,
            ))
            .await?;
        assert!(t.access_token.expose_secret().starts_with("xoxb-"));
        assert_eq!(t.token_type.as_deref(), Some("bot"));
        assert_eq!(
            t.scopes,
            Some(vec!["commands".to_owned(), "chat:write".to_owned()])
        );
        assert_eq!(t.extra["team"]["id"], "T9TK3CUKW");
        assert_eq!(t.extra["authed_user_id"], "U1234");
        let extra = serde_json::to_string(&t.extra)?;
        assert!(
            !extra.contains("xoxp-") && !extra.contains("xoxe-"),
            "{extra}"
        );
        let rt = t.refresh_token.expect("rotation on");
        assert!(
            p.refresh(&rt)
                .await?
                .access_token
                .expose_secret()
                .starts_with("xoxb-")
        );

        let e = p
            .exchange(code("nope".into(), "https://app.example/cb", None))
            .await
            .expect_err("ok:false");
        let o = e.oauth().expect("oauth error");
        assert_eq!(
            (o.kind, o.error.as_deref()),
            (ErrorKind::InvalidGrant, Some("invalid_code"))
        );
        Ok(())
    }

    #[tokio::test]
    async fn user_token_from_authed_user() -> anyhow::Result<()> {
        let (s, _host, p) = setup("user").await?;
        let t = p
            .exchange(code(
                s.issue_code("commands", "search:read"),
                "https://app.example/cb",
                None,
            ))
            .await?;
        assert!(t.access_token.expose_secret().starts_with("xoxp-"));
        assert_eq!(t.scopes, Some(vec!["search:read".to_owned()]));
        let extra = serde_json::to_string(&t.extra)?;
        assert!(!extra.contains("xoxb-"), "{extra}");
        Ok(())
    }
}

mod zoom {
    use super::*;
    use grantbox_provider_servers::zoom::{Zoom, ZoomConfig};

    #[tokio::test]
    async fn account_credentials_with_basic_auth() -> anyhow::Result<()> {
        let z = Zoom::start_zoom(ZoomConfig {
            account_id: "Ab1Cd2".into(),
            client_id: "zoom-client".into(),
            client_secret: "zoom-secret-77".into(),
        })
        .await?;
        let cfg = ProviderConfig::new("zoom", "zoom")
            .grant(GrantType::Custom("account_credentials".into()))
            .setting("base_url", z.base_url())
            .setting("client_id", "zoom-client")
            .secret("client_secret", SecretString::from("zoom-secret-77"));
        let host = host_with(artifacts::ZOOM).await?;
        let e = host
            .provider(cfg.clone())?
            .fetch_token()
            .await
            .expect_err("no account id");
        let o = e.oauth().expect("oauth error");
        assert_eq!(
            (o.kind, o.field.as_deref()),
            (ErrorKind::InvalidConfig, Some("account_id"))
        );
        assert!(z.requests().is_empty());

        let t = host
            .provider(cfg.clone().setting("account_id", "Ab1Cd2"))?
            .fetch_token()
            .await?;
        assert_eq!(t.extra["api_url"], "https://api.zoom.us");
        let sent = z.last_request().expect("request");
        assert_eq!(
            sent.basic,
            Some(("zoom-client".into(), "zoom-secret-77".into()))
        );
        assert_eq!(
            sent.params.get("grant_type").map(String::as_str),
            Some("account_credentials")
        );
        assert_eq!(
            sent.params.get("account_id").map(String::as_str),
            Some("Ab1Cd2")
        );
        assert!(!sent.params.contains_key("client_secret"));

        let e = host
            .provider(cfg.setting("account_id", "other"))?
            .fetch_token()
            .await
            .expect_err("wrong account");
        assert_eq!(
            e.oauth().and_then(|o| o.error.clone()).as_deref(),
            Some("invalid_request")
        );
        Ok(())
    }
}

mod linkedin {
    use super::*;
    use grantbox_provider_servers::linkedin::{LinkedIn, LinkedInConfig};

    #[tokio::test]
    async fn body_credentials_no_pkce_and_no_refresh_token() -> anyhow::Result<()> {
        let li = LinkedIn::start_linkedin(LinkedInConfig {
            client_id: "86abcdef".into(),
            client_secret: "li-secret-2a".into(),
            refresh_partner: false,
        })
        .await?;
        let (_host, p) = provider(
            artifacts::LINKEDIN,
            ProviderConfig::new("li", "linkedin")
                .scopes(["openid", "profile"])
                .setting("base_url", li.base_url())
                .setting("client_id", "86abcdef")
                .secret("client_secret", SecretString::from("li-secret-2a")),
        )
        .await?;
        let q = query(&p.authorization_url(&auth_request()).await?)?;
        assert!(
            !q.contains_key("code_challenge"),
            "LinkedIn web apps take no PKCE"
        );
        assert_eq!(q.get("scope").map(String::as_str), Some("openid profile"));

        let c = li.issue_code("https://app.example/cb", "openid profile");
        let t = p
            .exchange(code(
                c,
                "https://app.example/cb",
                Some("verifier-not-sent-0123456789012345678901"),
            ))
            .await?;
        assert_eq!(t.expires_in.map(|d| d.as_secs()), Some(5183999));
        assert!(
            t.refresh_token.is_none(),
            "refresh tokens only for approved partners"
        );
        let sent = li.last_request().expect("request");
        assert!(sent.basic.is_none());
        assert_eq!(
            sent.params.get("client_secret").map(String::as_str),
            Some("li-secret-2a")
        );
        assert!(!sent.params.contains_key("code_verifier"));
        Ok(())
    }
}

mod dropbox {
    use super::*;
    use base64::Engine as _;
    use grantbox_provider_servers::dropbox::{Dropbox, DropboxConfig};
    use sha2::Digest as _;

    #[tokio::test]
    async fn offline_access_pkce_and_refresh_without_new_token() -> anyhow::Result<()> {
        let d = Dropbox::start_dropbox(DropboxConfig {
            app_key: "dbx-key".into(),
            app_secret: "dbx-secret-31".into(),
        })
        .await?;
        let public = ProviderConfig::new("dbx", "dropbox")
            .setting("token_url", d.url("/oauth2/token"))
            .setting("authorization_url", d.url("/oauth2/authorize"))
            .setting("client_id", "dbx-key");
        let (host, p) = provider(artifacts::DROPBOX, public.clone()).await?;
        let q = query(&p.authorization_url(&auth_request()).await?)?;
        assert_eq!(
            q.get("token_access_type").map(String::as_str),
            Some("offline")
        );

        let verifier = "dBjftJeZ4CVP-mJ92K9nKZzRoQW0-verifier-0123456789";
        let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(sha2::Sha256::digest(verifier.as_bytes()));
        let c = d.issue_code(true, Some(&challenge));
        let t = p
            .exchange(code(c, "https://app.example/cb", Some(verifier)))
            .await?;
        assert_eq!(t.expires_in.map(|d| d.as_secs()), Some(14400));
        assert!(t.extra.contains_key("account_id"));
        let rt = t.refresh_token.expect("offline access");
        let t2 = p.refresh(&rt).await?;
        assert!(
            t2.refresh_token.is_none(),
            "Dropbox keeps the refresh token"
        );

        let wrong = d.issue_code(true, Some(&challenge));
        let e = p
            .exchange(code(
                wrong,
                "https://app.example/cb",
                Some("a-different-verifier-0123456789012345678"),
            ))
            .await
            .expect_err("PKCE mismatch");
        assert_eq!(e.oauth().map(|o| o.kind), Some(ErrorKind::InvalidGrant));

        // A confidential client authenticates with Basic.
        let p =
            host.provider(public.secret("client_secret", SecretString::from("dbx-secret-31")))?;
        p.exchange(code(
            d.issue_code(false, None),
            "https://app.example/cb",
            None,
        ))
        .await?;
        assert_eq!(
            d.last_request().and_then(|r| r.basic),
            Some(("dbx-key".into(), "dbx-secret-31".into()))
        );
        Ok(())
    }
}

mod cognito {
    use super::*;
    use grantbox_provider_servers::cognito::{Cognito, CognitoConfig};

    #[tokio::test]
    async fn client_credentials_custom_scopes_basic_and_device_flow() -> anyhow::Result<()> {
        let c = Cognito::start_cognito(CognitoConfig {
            client_id: "5f7bq0cog".into(),
            client_secret: "cog-secret-8b".into(),
            scopes: vec!["orders-api/read".into(), "orders-api/write".into()],
            device_flow: true,
        })
        .await?;
        let cfg = ProviderConfig::new("cog", "cognito")
            .grant(GrantType::ClientCredentials)
            .scopes(["orders-api/read"])
            .setting("custom_domain", c.base_url())
            .setting("client_id", "5f7bq0cog")
            .secret("client_secret", SecretString::from("cog-secret-8b"));
        let (host, p) = provider(artifacts::COGNITO, cfg.clone()).await?;
        let t = p.fetch_token().await?;
        assert_eq!(t.scopes, Some(vec!["orders-api/read".to_owned()]));
        let sent = c.last_request().expect("request");
        assert_eq!(
            sent.basic,
            Some(("5f7bq0cog".into(), "cog-secret-8b".into()))
        );
        assert!(!sent.params.contains_key("client_secret"));

        let e = host
            .provider(cfg.clone().scopes(["orders-api/delete"]))?
            .fetch_token()
            .await
            .expect_err("scope");
        assert_eq!(
            e.oauth().and_then(|o| o.error.clone()).as_deref(),
            Some("invalid_scope")
        );

        // The domain is templated into the declared hosts.
        let templated = host.provider(
            ProviderConfig::new("cog2", "cognito")
                .setting("domain", "acme-prod")
                .setting("region", "eu-west-1")
                .setting("client_id", "x"),
        )?;
        let hosts: Vec<String> = templated
            .declared_origins()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            hosts,
            ["https://acme-prod.auth.eu-west-1.amazoncognito.com"]
        );

        // Device flow where the server offers it.
        let device = host.provider(cfg.setting(
            "device_authorization_url",
            c.url("/oauth2/device_authorization"),
        ))?;
        let d = device.start_device_authorization().await?;
        assert_eq!(d.user_code, "BDWD-HQPK");
        let t = device
            .exchange(Grant::DeviceCode(d.device_code.clone()))
            .await?;
        assert!(!t.access_token.expose_secret().is_empty());
        Ok(())
    }
}

mod salesforce {
    use super::*;
    use grantbox_provider_servers::salesforce::{Salesforce, SalesforceConfig};

    #[tokio::test]
    async fn jwt_bearer_instance_url_and_assumed_lifetime() -> anyhow::Result<()> {
        let placeholder = SalesforceConfig {
            consumer_key: "3MVG9.key".into(),
            consumer_secret: "sf-secret-5c".into(),
            username: "integration@acme.com".into(),
            certificate_public_pem: keys::RSA_PUBLIC.into(),
            audience: "https://login.salesforce.com".into(),
        };
        let sf = Salesforce::start_salesforce(placeholder).await?;
        let cfg = ProviderConfig::new("sf", "salesforce")
            .setting("login_url", sf.base_url())
            .setting("audience", "https://login.salesforce.com")
            .setting("client_id", "3MVG9.key")
            .setting("username", "integration@acme.com")
            .secret("private_key", SecretString::from(keys::RSA_PRIVATE));
        let (host, p) = provider(
            artifacts::SALESFORCE,
            cfg.clone().grant(GrantType::Custom("jwt-bearer".into())),
        )
        .await?;
        let t = p.fetch_token().await?;
        assert_eq!(t.extra["instance_url"], sf.instance_url());
        assert_eq!(
            t.expires_in.map(|d| d.as_secs()),
            Some(7200),
            "Salesforce sends no expires_in"
        );
        let sent = sf.last_request().expect("request");
        assert!(!sent.params.contains_key("client_secret"));

        // Wrong user: the assertion's subject is refused.
        let e = host
            .provider(
                cfg.clone()
                    .grant(GrantType::Custom("jwt-bearer".into()))
                    .setting("username", "someone@else.com"),
            )?
            .fetch_token()
            .await
            .expect_err("wrong subject");
        assert_eq!(e.oauth().map(|o| o.kind), Some(ErrorKind::InvalidGrant));

        // Refresh: no new refresh token, instance_url again.
        let rt = sf.issue_refresh_token();
        let web = host.provider(cfg.secret("client_secret", SecretString::from("sf-secret-5c")))?;
        let t = web.refresh(&SecretString::from(rt)).await?;
        assert!(t.refresh_token.is_none());
        assert_eq!(t.extra["instance_url"], sf.instance_url());
        Ok(())
    }
}
