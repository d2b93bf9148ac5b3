//! The HTTP service (`grantbox serve`), also mountable by embedders: a JSON API for
//! providers, connections, interactive connects, tokens, the outbound proxy and plugins
//! (OpenAPI 3.1 document at `/openapi.json`), the OAuth callback, the admin page at `/`,
//! Prometheus metrics, health and readiness.
//!
//! Every route except `/healthz`, `/readyz` and `/oauth/callback` requires an admin API key
//! (`Authorization: Bearer gbx_…` or `X-API-Key: gbx_…`; see [`crate::apikeys`]).

mod api;
mod auth;
mod device;
mod error;
mod openapi;
mod ui;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use url::Url;

use crate::broker::{Broker, ReloadReport};
use crate::error::{Error, Result};

pub use openapi::openapi_json;

/// How the service is reached and behaves.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// The URL users' browsers reach the service at (its `/oauth/callback` is the
    /// redirect URI registered with providers).
    pub public_base_url: Url,
    /// How long a verified API key is trusted without asking the store again (so a
    /// revocation takes effect within this time).
    pub key_cache_ttl: Duration,
    /// The directory whose `*.wasm` files [`Service::reload_plugins`] (`POST
    /// /v1/plugins/reload`) loads: new plugins and new versions of loaded ones.
    pub plugins_dir: Option<PathBuf>,
    /// Single plugin files reloaded the same way.
    pub plugin_files: Vec<PathBuf>,
}

impl ServiceConfig {
    /// A configuration with this public base URL and the defaults.
    pub fn new(public_base_url: Url) -> Self {
        Self {
            public_base_url,
            key_cache_ttl: Duration::from_secs(5),
            plugins_dir: None,
            plugin_files: Vec::new(),
        }
    }
}

pub(crate) struct ServiceInner {
    pub(crate) broker: Broker,
    pub(crate) config: ServiceConfig,
    pub(crate) keys: auth::KeyCache,
    pub(crate) devices: device::DeviceJobs,
    pub(crate) shutting_down: AtomicBool,
}

/// The service: cheap to clone, shared by its routes.
#[derive(Clone)]
pub struct Service {
    pub(crate) inner: Arc<ServiceInner>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field(
                "public_base_url",
                &self.inner.config.public_base_url.as_str(),
            )
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service over `broker`.
    pub fn new(broker: Broker, config: ServiceConfig) -> Self {
        Self {
            inner: Arc::new(ServiceInner {
                keys: auth::KeyCache::new(config.key_cache_ttl),
                broker,
                config,
                devices: device::DeviceJobs::default(),
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// The broker it serves.
    pub fn broker(&self) -> &Broker {
        &self.inner.broker
    }

    /// The redirect URI of the authorization-code flow: `<public base URL>/oauth/callback`.
    pub fn callback_url(&self) -> String {
        format!(
            "{}/oauth/callback",
            self.inner
                .config
                .public_base_url
                .as_str()
                .trim_end_matches('/')
        )
    }

    /// Loads new plugins and new versions of loaded ones from the configured plugin
    /// directory and files ([`Broker::reload_plugins`]: a version that would break a
    /// registered provider is refused, the loaded one keeps serving). `grantbox serve` calls
    /// it on `SIGHUP`; the API on `POST /v1/plugins/reload`.
    pub async fn reload_plugins(&self) -> Result<ReloadReport> {
        let config = &self.inner.config;
        if config.plugins_dir.is_none() && config.plugin_files.is_empty() {
            return Err(Error::Conflict(
                "no plugin directory or plugin files are configured (`plugins_dir`, `plugins`): nothing to reload".into(),
            ));
        }
        let report = self
            .inner
            .broker
            .reload_plugins(config.plugins_dir.as_deref(), &config.plugin_files)
            .await?;
        tracing::info!(
            added = report.added.len(),
            replaced = report.replaced.len(),
            unchanged = report.unchanged.len(),
            failed = report.failed.len(),
            "plugins reloaded"
        );
        Ok(report)
    }

    /// The routes: public ones (health, readiness, OAuth callback), the admin page (its
    /// own log-in with an API key, sessions and CSRF tokens) and the API, which requires an
    /// API key on every request.
    pub fn router(&self) -> Router {
        let protected = api::routes()
            .route("/metrics", get(metrics))
            .route("/openapi.json", get(openapi::serve))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                auth::require_api_key,
            ));
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/oauth/callback", get(api::callback))
            .merge(ui::routes())
            .merge(protected)
            .with_state(self.clone())
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting requests,
    /// lets in-flight requests (and the refreshes they wait on) finish, cancels device
    /// flows in progress (they write nothing when cancelled) and returns.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let app = self.router();
        let service = self.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                service.inner.shutting_down.store(true, Ordering::SeqCst);
                tracing::info!("shutting down: finishing in-flight requests");
            })
            .await?;
        self.inner.devices.cancel_all();
        Ok(())
    }
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready when the store answers and the service is not shutting down.
async fn readyz(State(service): State<Service>) -> axum::response::Response {
    if service.inner.shutting_down.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    match service.inner.broker.store().providers().await {
        Ok(_) => "ready".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: the store does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "store unavailable").into_response()
        }
    }
}

async fn metrics(State(service): State<Service>) -> axum::response::Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        service.inner.broker.host().metrics().encode(),
    )
        .into_response()
}
