//! API-key authentication of the service's callers.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Service;
use crate::apikeys;

/// Verified keys by hash, so a request costs a hash and a map lookup, not a database read.
pub(crate) struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (bool, Instant)>>,
}

impl KeyCache {
    pub(crate) fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get(&self, hash: &str) -> Option<bool> {
        let entries = self.entries.lock().ok()?;
        let (valid, at) = entries.get(hash)?;
        (at.elapsed() < self.ttl).then_some(*valid)
    }

    fn put(&self, hash: String, valid: bool) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() > 10_000 {
                entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            }
            entries.insert(hash, (valid, Instant::now()));
        }
    }
}

/// The key presented: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k.trim());
    }
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// Whether `key` is a valid, unrevoked API key.
pub(crate) async fn key_is_valid(service: &Service, key: &str) -> bool {
    let hash = apikeys::hash(key);
    if let Some(valid) = service.inner.keys.get(&hash) {
        return valid;
    }
    let store = service.inner.broker.store();
    match apikeys::verify(store.as_ref(), key).await {
        Ok(found) => {
            let valid = found.is_some();
            service.inner.keys.put(hash, valid);
            valid
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot verify an API key");
            false
        }
    }
}

fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer realm=\"grantbox\"")],
        axum::Json(serde_json::json!({"error": "unauthorized", "message": message})),
    )
        .into_response()
}

/// Middleware: refuses requests without a valid API key with `401`.
pub(crate) async fn require_api_key(
    State(service): State<Service>,
    request: Request,
    next: Next,
) -> Response {
    let Some(key) = presented_key(request.headers()) else {
        return unauthorized("an API key is required (Authorization: Bearer <key>)");
    };
    if !key_is_valid(&service, key).await {
        tracing::warn!(path = %request.uri().path(), "request with an invalid API key refused");
        return unauthorized("invalid or revoked API key");
    }
    next.run(request).await
}
