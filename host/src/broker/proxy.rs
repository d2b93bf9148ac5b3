//! The outbound proxy: an API request sent with a connection's token applied the way its
//! plugin says (Bearer, raw, custom header, query parameter), refreshed ahead of expiry,
//! and refreshed once more and retried once on a `401`. Requests go only to the
//! connection's API base URL (never an open proxy), through the host's egress policy.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use futures::StreamExt as _;
use url::Url;

use super::Broker;
use crate::egress::OriginPattern;
use crate::error::{Error, Result};
use crate::store::ConnectionRecord;
use crate::token::TokenPlacement;

/// Where and how a connection's API requests go, kept in memory so a proxied request costs
/// no store read and no plugin call. Dropped when the connection, its tokens or a provider
/// change in this process, and trusted for at most the refresh policy's `cache_max_age`
/// (changes made by another process).
pub(super) struct Route {
    base: Url,
    declared: OriginPattern,
    placement: TokenPlacement,
    loaded: Instant,
    /// [`crate::Host::plugin_generation`] when it was made (the placement is the plugin's).
    plugins: u64,
}

/// The largest request body the proxy takes, and the largest response body
/// [`Broker::request`] buffers (16 MiB). [`Broker::request_streaming`] streams responses of
/// any size.
pub const PROXY_MAX_BODY: usize = 16 * 1024 * 1024;

/// The body of a proxied response, streamed from the API as it arrives.
pub struct ProxyBody {
    inner: Pin<Box<dyn futures::Stream<Item = Result<Bytes>> + Send>>,
}

impl futures::Stream for ProxyBody {
    type Item = Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl std::fmt::Debug for ProxyBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxyBody")
    }
}

/// Headers that describe one hop, not the message (RFC 9110 §7.6.1), plus those the proxy
/// sets itself.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

fn proxy_error(message: impl Into<String>) -> Error {
    Error::Proxy(message.into())
}

/// The base URL of a connection's API: its `api_base_url`, else the `instance_url` the
/// provider returned with the tokens (Salesforce).
pub(super) fn base_url(record: &ConnectionRecord) -> Result<Url> {
    let text = record
        .api_base_url
        .clone()
        .or_else(|| {
            record
                .token
                .as_ref()
                .and_then(|t| t.extra.get("instance_url"))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        })
        .ok_or_else(|| {
            proxy_error(format!(
                "connection `{}` has no API base URL (set api_base_url)",
                record.id
            ))
        })?;
    let url = Url::parse(&text)
        .map_err(|e| proxy_error(format!("connection `{}`: api_base_url: {e}", record.id)))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(proxy_error(format!(
            "connection `{}`: api_base_url must be an absolute http(s) URL",
            record.id
        )));
    }
    Ok(url)
}

/// The target of a proxied request: `path_and_query` appended to the base URL's path. An
/// absolute URL is accepted only inside the base URL.
pub(super) fn target(base: &Url, path_and_query: &str) -> Result<Url> {
    let url = if path_and_query.starts_with("http://") || path_and_query.starts_with("https://") {
        Url::parse(path_and_query).map_err(|e| proxy_error(format!("request URL: {e}")))?
    } else {
        let prefix = base.as_str().trim_end_matches('/');
        let rest = path_and_query.trim_start_matches('/');
        Url::parse(&format!("{prefix}/{rest}"))
            .map_err(|e| proxy_error(format!("request path: {e}")))?
    };
    let base_path = base.path().trim_end_matches('/');
    let inside = url.origin() == base.origin()
        && (url.path() == base_path || url.path().starts_with(&format!("{base_path}/")))
        && !url
            .path()
            .split('/')
            .any(|seg| seg == ".." || seg == "%2e%2e");
    if !inside {
        return Err(proxy_error(format!(
            "`{url}` is outside the connection's API base URL {base}"
        )));
    }
    Ok(url)
}

impl Broker {
    /// The base URL of connection `id`'s API (see [`Broker::request`]).
    pub async fn api_base_url(&self, id: &str) -> Result<Url> {
        base_url(&self.load(id).await?)
    }

    async fn route(&self, id: &str) -> Result<Arc<Route>> {
        let plugins = self.inner.host.plugin_generation();
        if let Ok(routes) = self.inner.routes.read()
            && let Some(r) = routes.get(id)
            && r.loaded.elapsed() < self.inner.policy.cache_max_age
            && r.plugins == plugins
        {
            return Ok(Arc::clone(r));
        }
        let record = self.load(id).await?;
        let base = base_url(&record)?;
        let declared = OriginPattern::parse(&base.origin().ascii_serialization())
            .map_err(|e| proxy_error(format!("api_base_url: {e}")))?;
        let placement = self.provider_for(&record).await?.token_placement().await?;
        let route = Arc::new(Route {
            base,
            declared,
            placement,
            loaded: Instant::now(),
            plugins,
        });
        if let Ok(mut routes) = self.inner.routes.write() {
            routes.insert(id.to_owned(), Arc::clone(&route));
        }
        Ok(route)
    }

    pub(super) fn forget_route(&self, id: &str) {
        if let Ok(mut routes) = self.inner.routes.write() {
            routes.remove(id);
        }
    }

    /// Sends `request` to connection `id`'s API with a valid token applied. The request's
    /// URI is a path (and query) under the connection's API base URL, or an absolute URL
    /// inside it. A `401` answer causes one forced refresh and one retry. Returns the API's
    /// response as it is (status, headers without hop-by-hop ones, body up to
    /// [`PROXY_MAX_BODY`]; see [`Broker::request_streaming`] for larger ones).
    pub async fn request(
        &self,
        id: &str,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>> {
        let (parts, mut stream) = self.request_streaming(id, request).await?.into_parts();
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > PROXY_MAX_BODY {
                return Err(proxy_error(format!(
                    "the response is larger than {PROXY_MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(http::Response::from_parts(parts, Bytes::from(body)))
    }

    /// [`Broker::request`], with the response body streamed as it arrives (no size cap;
    /// the host's request timeout still bounds the whole exchange).
    pub async fn request_streaming(
        &self,
        id: &str,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<ProxyBody>> {
        let metrics = std::sync::Arc::clone(self.inner.host.metrics());
        let result = self.request_inner(id, request).await;
        metrics.proxied(result.as_ref().ok().map(|r| r.status().as_u16()));
        result
    }

    async fn request_inner(
        &self,
        id: &str,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<ProxyBody>> {
        let route = self.route(id).await?;
        let base = &route.base;
        let (parts, body) = request.into_parts();
        let path = parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let url = if parts.uri.scheme().is_some() {
            target(base, &parts.uri.to_string())?
        } else {
            target(base, &path)?
        };
        self.inner
            .host
            .egress()
            .check(std::slice::from_ref(&route.declared), &url)
            .map_err(|d| proxy_error(d.to_string()))?;
        let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
            .map_err(|_| proxy_error("unsupported method"))?;
        let placement = &route.placement;

        let mut retried = false;
        loop {
            let token = if retried {
                self.refresh(id).await?
            } else {
                self.get_token(id).await?
            };
            let mut outgoing = reqwest::Request::new(method.clone(), url.clone());
            for (name, value) in &parts.headers {
                if !HOP_BY_HOP.contains(&name.as_str()) {
                    outgoing.headers_mut().append(name.clone(), value.clone());
                }
            }
            placement
                .apply_to_request(token.secret(), &mut outgoing)
                .map_err(|e| proxy_error(e.to_string()))?;
            *outgoing.body_mut() = Some(reqwest::Body::from(body.clone()));
            let response = self
                .inner
                .host
                .http()
                .execute(outgoing)
                .await
                .map_err(|e| {
                    proxy_error(format!(
                        "{}: {}",
                        url.origin().ascii_serialization(),
                        describe(&e)
                    ))
                })?;
            if response.status() == reqwest::StatusCode::UNAUTHORIZED && !retried {
                tracing::info!(connection = %id, "API answered 401; refreshing the token and retrying once");
                retried = true;
                continue;
            }
            return into_http(response);
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn into_http(response: reqwest::Response) -> Result<http::Response<ProxyBody>> {
    let status = response.status();
    let mut builder = http::Response::builder().status(status.as_u16());
    for (name, value) in response.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            builder = builder.header(name.as_str(), value.as_bytes());
        }
    }
    let stream = response.bytes_stream().map(|chunk| {
        chunk.map_err(|e| proxy_error(format!("reading the response: {}", describe(&e))))
    });
    builder
        .body(ProxyBody {
            inner: Box::pin(stream),
        })
        .map_err(|e| proxy_error(format!("response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_stay_inside_the_base_url() {
        let base = Url::parse("https://api.example.com/v2").expect("url");
        assert_eq!(
            target(&base, "/me?x=1").expect("ok").as_str(),
            "https://api.example.com/v2/me?x=1"
        );
        assert!(target(&base, "https://evil.example/v2/me").is_err());
        assert!(target(&base, "https://api.example.com/v1/me").is_err());
        assert!(target(&base, "/../v1/me").is_err());
        assert!(target(&base, "/%2e%2e/v1/me").is_err());
        assert!(target(&base, "https://api.example.com/v2/me").is_ok());
    }
}
