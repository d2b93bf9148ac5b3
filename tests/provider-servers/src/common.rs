//! What every emulator shares: serving a router on loopback, request records, parsing.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use axum::Router;
use axum::http::HeaderMap;
use base64::Engine as _;
use tokio::sync::oneshot;

/// A request an emulator received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Path.
    pub path: String,
    /// Query string.
    pub query: Option<String>,
    /// Form (or JSON string) parameters of the body.
    pub params: BTreeMap<String, String>,
    /// Headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// HTTP Basic credentials, decoded.
    pub basic: Option<(String, String)>,
    /// Status answered.
    pub status: u16,
}

/// A router served on an ephemeral loopback port until dropped.
pub(crate) struct Running {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Running {
    pub(crate) async fn serve(router: Router) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shutdown: Some(tx),
        })
    }

    pub(crate) fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A mutex that survives a panicking test thread.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn form(body: &[u8]) -> BTreeMap<String, String> {
    form_urlencoded::parse(body).into_owned().collect()
}

pub(crate) fn headers(h: &HeaderMap) -> BTreeMap<String, String> {
    h.iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// Basic credentials, form-decoded as RFC 6749 §2.3.1 says.
pub(crate) fn basic(h: &HeaderMap) -> Option<(String, String)> {
    let v = h.get("authorization")?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    let dec = |s: &str| {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(u), dec(p)))
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A fresh opaque token with a recognisable prefix.
pub(crate) fn token(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}{n}x{nanos:08x}")
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A request as an emulator's handler sees it.
#[derive(Debug, Clone)]
pub struct Req {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// Body parameters (form, or a flat JSON object).
    pub params: BTreeMap<String, String>,
    /// Headers, lower-case names.
    pub headers: BTreeMap<String, String>,
    /// HTTP Basic credentials.
    pub basic: Option<(String, String)>,
}

impl Req {
    /// A body parameter, else a query parameter.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .get(name)
            .or_else(|| self.query.get(name))
            .map(String::as_str)
    }

    /// Whether the client asked for JSON.
    pub fn accepts_json(&self) -> bool {
        self.headers
            .get("accept")
            .is_some_and(|a| a.contains("application/json"))
    }
}

/// An emulator's answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Status.
    pub status: u16,
    /// Content type.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

impl Reply {
    /// JSON.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: body.to_string(),
        }
    }

    /// `application/x-www-form-urlencoded` of the object's members.
    pub fn form(status: u16, body: &serde_json::Value) -> Self {
        let mut ser = form_urlencoded::Serializer::new(String::new());
        if let Some(m) = body.as_object() {
            for (k, v) in m {
                match v {
                    serde_json::Value::String(s) => ser.append_pair(k, s),
                    other => ser.append_pair(k, &other.to_string()),
                };
            }
        }
        Self {
            status,
            content_type: "application/x-www-form-urlencoded",
            body: ser.finish(),
        }
    }
}

#[derive(Default)]
pub(crate) struct Log {
    requests: Vec<Recorded>,
    counts: BTreeMap<String, usize>,
}

/// A running emulator with provider state `S`.
pub struct Server<S> {
    running: Running,
    state: std::sync::Arc<S>,
    log: std::sync::Arc<Mutex<Log>>,
}

impl<S: Send + Sync + 'static> Server<S> {
    /// Serves every request through `handler` (given the state, the base URL and the request).
    pub async fn start(state: S, handler: fn(&S, &str, &Req) -> Reply) -> std::io::Result<Self> {
        use axum::extract::State;
        let state = std::sync::Arc::new(state);
        let log = std::sync::Arc::new(Mutex::new(Log::default()));
        let base = std::sync::Arc::new(Mutex::new(String::new()));
        type Ctx<S> = (
            std::sync::Arc<S>,
            std::sync::Arc<Mutex<Log>>,
            std::sync::Arc<Mutex<String>>,
            fn(&S, &str, &Req) -> Reply,
        );
        async fn any<S: Send + Sync + 'static>(
            State((state, log, base, handler)): State<Ctx<S>>,
            method: axum::http::Method,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: axum::body::Bytes,
        ) -> axum::response::Response {
            use axum::response::IntoResponse;
            let json_body = headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|c| c.contains("json"));
            let params = if json_body {
                serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body)
                    .map(|m| {
                        m.into_iter()
                            .map(|(k, v)| {
                                (
                                    k,
                                    v.as_str()
                                        .map(str::to_owned)
                                        .unwrap_or_else(|| v.to_string()),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                form(&body)
            };
            let req = Req {
                method: method.to_string(),
                path: uri.path().to_owned(),
                query: uri.query().map(|q| form(q.as_bytes())).unwrap_or_default(),
                params,
                headers: self::headers(&headers),
                basic: basic(&headers),
            };
            let base_url = lock(&base).clone();
            let reply = handler(&state, &base_url, &req);
            {
                let mut log = lock(&log);
                if let Some(g) = req.param("grant_type") {
                    *log.counts.entry(g.to_owned()).or_default() += 1;
                }
                log.requests.push(Recorded {
                    path: req.path.clone(),
                    query: uri.query().map(str::to_owned),
                    params: req.params.clone(),
                    headers: req.headers.clone(),
                    basic: req.basic.clone(),
                    status: reply.status,
                });
            }
            (
                axum::http::StatusCode::from_u16(reply.status)
                    .unwrap_or(axum::http::StatusCode::INTERNAL_SERVER_ERROR),
                [
                    ("content-type", reply.content_type),
                    ("cache-control", "no-store"),
                ],
                reply.body,
            )
                .into_response()
        }
        let router = Router::new().fallback(any::<S>).with_state((
            state.clone(),
            log.clone(),
            base.clone(),
            handler,
        ));
        let running = Running::serve(router).await?;
        *lock(&base) = running.base_url();
        Ok(Self {
            running,
            state,
            log,
        })
    }

    /// The server's origin, e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        self.running.base_url()
    }

    /// `base_url` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    /// Requests received.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.log).requests.clone()
    }

    /// The last request received.
    pub fn last_request(&self) -> Option<Recorded> {
        lock(&self.log).requests.last().cloned()
    }

    /// How many requests with this `grant_type` arrived.
    pub fn count(&self, grant_type: &str) -> usize {
        lock(&self.log).counts.get(grant_type).copied().unwrap_or(0)
    }

    /// The provider's state.
    pub fn state(&self) -> &S {
        &self.state
    }
}
