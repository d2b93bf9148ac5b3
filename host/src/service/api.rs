//! The JSON API: handlers, request and response bodies (documented in the OpenAPI
//! document by `utoipa`).

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::Service;
use super::device::DeviceStatus;
use super::error::{ApiError, ErrorBody};
use crate::broker::{AuthorizationCallback, ConnectOptions, PROXY_MAX_BODY};
use crate::provider::{ProviderConfig, SettingValue};
use crate::secret::{ExposeSecret, SecretString};
use crate::store::{ConnectionRecord, NewConnection, Overrides, ProviderRecord};
use crate::token::GrantType;

type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn routes() -> Router<Service> {
    Router::new()
        .route("/v1/plugins", get(list_plugins))
        .route(
            "/v1/plugins/reload",
            post(reload_plugins).get(get_plugin_named_reload),
        )
        .route("/v1/plugins/{id}", get(get_plugin))
        .route("/v1/providers", get(list_providers).post(create_provider))
        .route(
            "/v1/providers/{name}",
            get(get_provider).delete(delete_provider),
        )
        .route(
            "/v1/connections",
            get(list_connections).post(create_connection),
        )
        .route(
            "/v1/connections/{id}",
            get(get_connection).delete(delete_connection),
        )
        .route("/v1/connections/{id}/enable", post(enable_connection))
        .route("/v1/connections/{id}/disable", post(disable_connection))
        .route("/v1/connections/{id}/refresh", post(refresh_connection))
        .route(
            "/v1/connections/{id}/disconnect",
            post(disconnect_connection),
        )
        .route("/v1/connections/{id}/token", get(get_token))
        .route("/v1/connections/{id}/connect", post(connect))
        .route(
            "/v1/connections/{id}/device",
            post(start_device).get(device_status).delete(cancel_device),
        )
        .route("/v1/connections/{id}/proxy/{*path}", any(proxy))
}

fn secs(t: Option<SystemTime>) -> Option<u64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
}

fn redact(settings: &BTreeMap<String, SettingValue>) -> BTreeMap<String, Value> {
    settings
        .iter()
        .map(|(k, v)| {
            let shown = match v {
                SettingValue::Text(t) => Value::String(t.clone()),
                SettingValue::Flag(b) => Value::Bool(*b),
                SettingValue::Number(n) => Value::from(*n),
                SettingValue::List(l) => Value::from(l.clone()),
                SettingValue::Map(m) => serde_json::to_value(m).unwrap_or(Value::Null),
                SettingValue::Secret(_) => Value::String("[redacted]".into()),
            };
            (k.clone(), shown)
        })
        .collect()
}

/// A provider registration (secrets redacted).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderView {
    name: String,
    plugin: String,
    grant: Option<String>,
    scopes: Vec<String>,
    /// Settings; secret values are shown as `[redacted]`.
    #[schema(value_type = Object)]
    settings: BTreeMap<String, Value>,
    created_at: Option<u64>,
    updated_at: Option<u64>,
}

impl From<&ProviderRecord> for ProviderView {
    fn from(p: &ProviderRecord) -> Self {
        Self {
            name: p.name.clone(),
            plugin: p.plugin.clone(),
            grant: p.grant.as_ref().map(|g| g.name().to_owned()),
            scopes: p.scopes.clone(),
            settings: redact(&p.settings),
            created_at: secs(Some(p.created_at)),
            updated_at: secs(Some(p.updated_at)),
        }
    }
}

/// A connection: state and token metadata (never a token value).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectionView {
    id: String,
    provider: String,
    /// `default` (never connected), `connected` or `error`.
    state: String,
    active: bool,
    auto_refresh: bool,
    reconnect_needed: bool,
    last_message: Option<String>,
    last_error_at: Option<u64>,
    api_base_url: Option<String>,
    expires_at: Option<u64>,
    refresh_at: Option<u64>,
    last_refreshed_at: Option<u64>,
    has_refresh_token: bool,
    granted_scopes: Option<Vec<String>>,
    /// What the connection overrides of its provider (secrets redacted).
    #[schema(value_type = Object)]
    overrides: Value,
}

impl From<&ConnectionRecord> for ConnectionView {
    fn from(c: &ConnectionRecord) -> Self {
        Self {
            id: c.id.clone(),
            provider: c.provider.clone(),
            state: c.state.as_str().to_owned(),
            active: c.active,
            auto_refresh: c.auto_refresh,
            reconnect_needed: c.reconnect_needed,
            last_message: c.last_message.clone(),
            last_error_at: secs(c.last_error_at),
            api_base_url: c.api_base_url.clone(),
            expires_at: secs(c.token.as_ref().and_then(|t| t.expires_at)),
            refresh_at: secs(c.refresh_at),
            last_refreshed_at: secs(c.last_refreshed_at),
            has_refresh_token: c.refresh_token.is_some(),
            granted_scopes: c.token.as_ref().and_then(|t| t.scopes.clone()),
            overrides: serde_json::json!({
                "grant": c.overrides.grant.as_ref().map(GrantType::name),
                "scopes": c.overrides.scopes,
                "settings": redact(&c.overrides.settings),
            }),
        }
    }
}

/// Settings in JSON: strings, booleans, integers, string lists, string maps.
fn settings_from_json(
    what: &str,
    settings: BTreeMap<String, Value>,
    secrets: BTreeMap<String, String>,
) -> ApiResult<BTreeMap<String, SettingValue>> {
    let mut out = BTreeMap::new();
    for (k, v) in settings {
        let value = match v {
            Value::String(s) => SettingValue::Text(s),
            Value::Bool(b) => SettingValue::Flag(b),
            Value::Number(n) => SettingValue::Number(n.as_i64().ok_or_else(|| {
                ApiError::bad_request(format!("{what}.settings.{k}: not an integer"))
            })?),
            Value::Array(items) => SettingValue::List(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s),
                        _ => Err(ApiError::bad_request(format!(
                            "{what}.settings.{k}: a list must hold strings"
                        ))),
                    })
                    .collect::<ApiResult<_>>()?,
            ),
            Value::Object(map) => SettingValue::Map(
                map.into_iter()
                    .map(|(mk, mv)| match mv {
                        Value::String(s) => Ok((mk, s)),
                        _ => Err(ApiError::bad_request(format!(
                            "{what}.settings.{k}.{mk}: a table must hold strings"
                        ))),
                    })
                    .collect::<ApiResult<_>>()?,
            ),
            Value::Null => {
                return Err(ApiError::bad_request(format!(
                    "{what}.settings.{k}: null is not a value"
                )));
            }
        };
        out.insert(k, value);
    }
    for (k, v) in secrets {
        if out.contains_key(&k) {
            return Err(ApiError::bad_request(format!(
                "{what}: `{k}` is given both in settings and secrets"
            )));
        }
        out.insert(k, SettingValue::Secret(SecretString::from(v)));
    }
    Ok(out)
}

fn grant_from(what: &str, grant: Option<String>) -> ApiResult<Option<GrantType>> {
    grant
        .map(|g| {
            GrantType::parse(&g)
                .ok_or_else(|| ApiError::bad_request(format!("{what}.grant: unknown grant `{g}`")))
        })
        .transpose()
}

/// A provider to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewProviderBody {
    /// Unique name.
    name: String,
    /// Plugin id (see `GET /v1/plugins`).
    plugin: String,
    /// Grant for non-interactive fetches (`client_credentials`, `password`,
    /// `authorization_code`, `device_code`, or a plugin's custom grant).
    grant: Option<String>,
    /// Default scopes.
    #[serde(default)]
    scopes: Vec<String>,
    /// Plugin settings (non-secret).
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: BTreeMap<String, Value>,
    /// Secret settings (client secret, keys…), stored encrypted and never shown again.
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

/// A connection to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewConnectionBody {
    /// Unique id.
    id: String,
    /// Provider name.
    provider: String,
    /// Base URL of the API its tokens are for (the proxy forwards there).
    api_base_url: Option<String>,
    /// Keep the token fresh in the background.
    #[serde(default)]
    auto_refresh: bool,
    /// Grant override.
    grant: Option<String>,
    /// Scopes override.
    scopes: Option<Vec<String>>,
    /// Setting overrides (non-secret).
    #[serde(default)]
    #[schema(value_type = Object)]
    settings: BTreeMap<String, Value>,
    /// Secret setting overrides (e.g. a user's password).
    #[serde(default)]
    secrets: BTreeMap<String, String>,
    /// A refresh token obtained elsewhere, to import.
    refresh_token: Option<String>,
}

/// An access token, for an authenticated caller.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenView {
    access_token: String,
    token_type: Option<String>,
    /// Unix seconds, if known.
    expires_at: Option<u64>,
}

/// Token metadata after a refresh (the value is read with `GET …/token`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct RefreshedView {
    token_type: Option<String>,
    expires_at: Option<u64>,
}

/// How to start an authorization-code flow.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConnectBody {
    /// `consent`, `login`, `select_account` or `none`.
    prompt: Option<String>,
    /// Extra authorization-URL parameters for this request.
    #[serde(default)]
    extra_params: BTreeMap<String, String>,
    /// A path of this service to send the user to afterwards (e.g. `/`).
    return_to: Option<String>,
}

/// A started authorization-code flow: send the user's browser to `authorization_url`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ConnectView {
    pub(crate) authorization_url: String,
    /// The redirect URI used (`<public base URL>/oauth/callback`).
    redirect_uri: String,
    /// The callback is refused after this (Unix seconds).
    expires_at: Option<u64>,
}

fn json_no_store<T: Serialize>(value: &T) -> Response {
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::to_value(value).unwrap_or(Value::Null)),
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/plugins", tag = "plugins",
    responses((status = 200, description = "Loaded plugins", body = Object)))]
pub(crate) async fn list_plugins(State(s): State<Service>) -> Response {
    Json(serde_json::to_value(s.inner.broker.host().plugins()).unwrap_or(Value::Null))
        .into_response()
}

#[utoipa::path(get, path = "/v1/plugins/{id}", tag = "plugins",
    params(("id" = String, Path, description = "Plugin id")),
    responses((status = 200, description = "A plugin's metadata: grants, hosts, settings", body = Object),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn get_plugin(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    plugin_by_id(&s, id)
}

/// `GET /v1/plugins/reload` is the plugin whose id is `reload` (the path is also the
/// reload route's).
async fn get_plugin_named_reload(State(s): State<Service>) -> ApiResult<Response> {
    plugin_by_id(&s, "reload".into())
}

fn plugin_by_id(s: &Service, id: String) -> ApiResult<Response> {
    let info = s
        .inner
        .broker
        .host()
        .plugin(&id)
        .ok_or(ApiError(crate::Error::UnknownPlugin(id)))?;
    Ok(Json(serde_json::to_value(info).unwrap_or(Value::Null)).into_response())
}

/// What a plugin reload did (`POST /v1/plugins/reload`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReloadView {
    /// Plugins with a new id, now loaded (metadata as in `GET /v1/plugins`).
    #[schema(value_type = Vec<Object>)]
    added: Vec<crate::plugin::PluginInfo>,
    /// New versions installed in place of loaded ones.
    #[schema(value_type = Vec<Object>)]
    replaced: Vec<crate::broker::ReplacedPlugin>,
    /// Ids of plugins whose file is exactly what is loaded.
    unchanged: Vec<String>,
    /// Files refused; a loaded version of the same plugin keeps serving.
    failed: Vec<FailedPluginView>,
}

/// A plugin file a reload refused.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct FailedPluginView {
    /// The file.
    source: String,
    /// Why it was refused (e.g. which registered provider the new version would break).
    error: String,
}

#[utoipa::path(post, path = "/v1/plugins/reload", tag = "plugins",
    responses((status = 200, description = "New plugins and new versions loaded from the configured plugin directory and files; a version that would break a registered provider is refused and the loaded one keeps serving", body = ReloadView),
              (status = 409, description = "No plugin directory or files are configured", body = ErrorBody)))]
pub(crate) async fn reload_plugins(State(s): State<Service>) -> ApiResult<Json<ReloadView>> {
    let report = s.reload_plugins().await?;
    Ok(Json(ReloadView {
        added: report.added,
        replaced: report.replaced,
        unchanged: report.unchanged,
        failed: report
            .failed
            .into_iter()
            .map(|f| FailedPluginView {
                error: f.error.to_string(),
                source: f.source,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/v1/providers", tag = "providers",
    responses((status = 200, body = Vec<ProviderView>)))]
pub(crate) async fn list_providers(State(s): State<Service>) -> ApiResult<Json<Vec<ProviderView>>> {
    let providers = s.inner.broker.store().providers().await?;
    Ok(Json(providers.iter().map(ProviderView::from).collect()))
}

#[utoipa::path(post, path = "/v1/providers", tag = "providers", request_body = NewProviderBody,
    responses((status = 201, body = ProviderView),
              (status = 400, description = "A setting is unknown, missing or of the wrong kind", body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(crate) async fn create_provider(
    State(s): State<Service>,
    Json(body): Json<NewProviderBody>,
) -> ApiResult<(StatusCode, Json<ProviderView>)> {
    let config = ProviderConfig {
        grant: grant_from("provider", body.grant)?,
        scopes: body.scopes,
        settings: settings_from_json("provider", body.settings, body.secrets)?,
        ..ProviderConfig::new(body.name.clone(), body.plugin)
    };
    s.inner.broker.add_provider(config).await?;
    let record = s
        .inner
        .broker
        .store()
        .provider(&body.name)
        .await?
        .ok_or(ApiError(crate::Error::UnknownProvider(body.name)))?;
    Ok((StatusCode::CREATED, Json(ProviderView::from(&record))))
}

#[utoipa::path(get, path = "/v1/providers/{name}", tag = "providers",
    params(("name" = String, Path)),
    responses((status = 200, body = ProviderView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_provider(
    State(s): State<Service>,
    Path(name): Path<String>,
) -> ApiResult<Json<ProviderView>> {
    let record = s
        .inner
        .broker
        .store()
        .provider(&name)
        .await?
        .ok_or(ApiError(crate::Error::NotFound {
            what: "provider",
            name,
        }))?;
    Ok(Json(ProviderView::from(&record)))
}

#[utoipa::path(delete, path = "/v1/providers/{name}", tag = "providers",
    params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody),
              (status = 409, description = "Connections use it", body = ErrorBody)))]
pub(crate) async fn delete_provider(
    State(s): State<Service>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    if s.inner.broker.store().delete_provider(&name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(crate::Error::NotFound {
            what: "provider",
            name,
        }))
    }
}

#[utoipa::path(get, path = "/v1/connections", tag = "connections",
    responses((status = 200, body = Vec<ConnectionView>)))]
pub(crate) async fn list_connections(
    State(s): State<Service>,
) -> ApiResult<Json<Vec<ConnectionView>>> {
    let connections = s.inner.broker.store().connections(None).await?;
    Ok(Json(connections.iter().map(ConnectionView::from).collect()))
}

#[utoipa::path(post, path = "/v1/connections", tag = "connections", request_body = NewConnectionBody,
    responses((status = 201, body = ConnectionView), (status = 400, body = ErrorBody),
              (status = 404, description = "No such provider", body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub(crate) async fn create_connection(
    State(s): State<Service>,
    Json(body): Json<NewConnectionBody>,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    let connection = NewConnection {
        id: body.id.clone(),
        provider: body.provider,
        overrides: Overrides {
            grant: grant_from("connection", body.grant)?,
            scopes: body.scopes,
            settings: settings_from_json("connection", body.settings, body.secrets)?,
        },
        api_base_url: body.api_base_url,
        auto_refresh: body.auto_refresh,
        refresh_token: body.refresh_token.map(SecretString::from),
    };
    s.inner.broker.add_connection(connection).await?;
    let record = load(&s, &body.id).await?;
    Ok((StatusCode::CREATED, Json(ConnectionView::from(&record))))
}

async fn load(s: &Service, id: &str) -> ApiResult<ConnectionRecord> {
    s.inner.broker.store().connection(id).await?.ok_or_else(|| {
        ApiError(crate::Error::NotFound {
            what: "connection",
            name: id.to_owned(),
        })
    })
}

#[utoipa::path(get, path = "/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
pub(crate) async fn get_connection(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    Ok(Json(ConnectionView::from(&load(&s, &id).await?)))
}

#[utoipa::path(delete, path = "/v1/connections/{id}", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 204, description = "Removed, with its tokens"), (status = 404, body = ErrorBody)))]
pub(crate) async fn delete_connection(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if s.inner.broker.remove_connection(&id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(crate::Error::NotFound {
            what: "connection",
            name: id,
        }))
    }
}

#[utoipa::path(post, path = "/v1/connections/{id}/enable", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
pub(crate) async fn enable_connection(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    s.inner.broker.set_active(&id, true).await?;
    Ok(Json(ConnectionView::from(&load(&s, &id).await?)))
}

#[utoipa::path(post, path = "/v1/connections/{id}/disable", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, body = ConnectionView), (status = 404, body = ErrorBody)))]
pub(crate) async fn disable_connection(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    s.inner.broker.set_active(&id, false).await?;
    Ok(Json(ConnectionView::from(&load(&s, &id).await?)))
}

#[utoipa::path(post, path = "/v1/connections/{id}/disconnect", tag = "connections",
    params(("id" = String, Path)),
    responses((status = 200, description = "Its tokens are deleted; state `default`", body = ConnectionView),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn disconnect_connection(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Json<ConnectionView>> {
    s.inner.broker.disconnect(&id).await?;
    Ok(Json(ConnectionView::from(&load(&s, &id).await?)))
}

#[utoipa::path(post, path = "/v1/connections/{id}/refresh", tag = "tokens",
    params(("id" = String, Path)),
    responses((status = 200, body = RefreshedView),
              (status = 409, description = "Disabled, or reconnect needed", body = ErrorBody),
              (status = 502, description = "The provider or the plugin failed", body = ErrorBody)))]
pub(crate) async fn refresh_connection(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Json<RefreshedView>> {
    let token = s.inner.broker.refresh(&id).await?;
    Ok(Json(RefreshedView {
        token_type: token.token_type().map(str::to_owned),
        expires_at: secs(token.expires_at()),
    }))
}

#[utoipa::path(get, path = "/v1/connections/{id}/token", tag = "tokens",
    params(("id" = String, Path)),
    responses((status = 200, description = "A valid access token (refreshed first when due)", body = TokenView),
              (status = 409, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub(crate) async fn get_token(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let token = s.inner.broker.get_token(&id).await?;
    Ok(json_no_store(&TokenView {
        access_token: token.secret().expose_secret().to_owned(),
        token_type: token.token_type().map(str::to_owned),
        expires_at: secs(token.expires_at()),
    }))
}

fn safe_return_to(r: Option<String>) -> ApiResult<Option<String>> {
    match r {
        Some(p) if !p.starts_with('/') || p.starts_with("//") || p.contains('\\') => Err(
            ApiError::bad_request("return_to: must be a path of this service (e.g. `/`)"),
        ),
        other => Ok(other),
    }
}

#[utoipa::path(post, path = "/v1/connections/{id}/connect", tag = "connect",
    params(("id" = String, Path)), request_body = ConnectBody,
    responses((status = 200, body = ConnectView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn connect(
    State(s): State<Service>,
    Path(id): Path<String>,
    body: Option<Json<ConnectBody>>,
) -> ApiResult<Json<ConnectView>> {
    let body = body.map(|Json(b)| b).unwrap_or_default();
    let view = start_connect(&s, &id, body.prompt, body.extra_params, body.return_to).await?;
    Ok(Json(view))
}

pub(crate) async fn start_connect(
    s: &Service,
    id: &str,
    prompt: Option<String>,
    extra_params: BTreeMap<String, String>,
    return_to: Option<String>,
) -> ApiResult<ConnectView> {
    let redirect_uri = s.callback_url();
    let mut options = ConnectOptions::new(redirect_uri.clone());
    options.prompt = prompt.filter(|p| !p.is_empty());
    options.extra_params = extra_params.into_iter().collect();
    options.return_to = safe_return_to(return_to)?;
    let start = s.inner.broker.start_authorization(id, &options).await?;
    Ok(ConnectView {
        authorization_url: start.url,
        redirect_uri,
        expires_at: secs(Some(start.expires_at)),
    })
}

fn page(status: StatusCode, title: &str, message: &str) -> Response {
    let esc = |t: &str| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(format!(
            "<!doctype html><html><head><meta charset=utf-8><title>{t}</title></head>\
             <body><h1>{t}</h1><p id=message>{m}</p></body></html>",
            t = esc(title),
            m = esc(message)
        )),
    )
        .into_response()
}

/// `GET /oauth/callback`: the provider's redirect back (no API key: the one-time `state`
/// authenticates it).
pub(crate) async fn callback(State(s): State<Service>, uri: Uri) -> Response {
    let callback = AuthorizationCallback::from_query(uri.query().unwrap_or(""));
    match s.inner.broker.complete_authorization(callback).await {
        Ok(done) => match done.return_to {
            Some(to) => Redirect::to(&to).into_response(),
            None => page(
                StatusCode::OK,
                "Connected",
                &format!(
                    "Connection `{}` is connected. You can close this page.",
                    done.connection
                ),
            ),
        },
        Err(e) => {
            let (status, _) = super::error::status_of(&e);
            page(status, "Connection failed", &e.to_string())
        }
    }
}

#[utoipa::path(post, path = "/v1/connections/{id}/device", tag = "connect",
    params(("id" = String, Path)),
    responses((status = 200, description = "Show the user code and verification URI; the service polls", body = Object),
              (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub(crate) async fn start_device(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceStatus>> {
    let flow = s.inner.broker.start_device_flow(&id).await?;
    Ok(Json(s.inner.devices.start(s.inner.broker.clone(), flow)))
}

#[utoipa::path(get, path = "/v1/connections/{id}/device", tag = "connect",
    params(("id" = String, Path)),
    responses((status = 200, description = "`pending`, `connected`, `failed` or `cancelled`", body = Object),
              (status = 404, body = ErrorBody)))]
pub(crate) async fn device_status(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<Json<DeviceStatus>> {
    s.inner
        .devices
        .status(&id)
        .map(Json)
        .ok_or(ApiError(crate::Error::NotFound {
            what: "device flow of connection",
            name: id,
        }))
}

#[utoipa::path(delete, path = "/v1/connections/{id}/device", tag = "connect",
    params(("id" = String, Path)),
    responses((status = 204, description = "Cancelled"), (status = 404, body = ErrorBody)))]
pub(crate) async fn cancel_device(
    State(s): State<Service>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if s.inner.devices.cancel(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError(crate::Error::NotFound {
            what: "pending device flow of connection",
            name: id,
        }))
    }
}

/// Headers of the caller that are never forwarded: grantbox's own credentials.
const NOT_FORWARDED: &[&str] = &["authorization", "x-api-key", "cookie"];

#[utoipa::path(
    method(get, post, put, patch, delete),
    path = "/v1/connections/{id}/proxy/{path}", tag = "proxy",
    params(("id" = String, Path), ("path" = String, Path, description = "Path under the connection's API base URL")),
    responses((status = 200, description = "The API's response, as it is"),
              (status = 502, description = "No base URL, refused by the egress policy, or unreachable", body = ErrorBody)))]
pub(crate) async fn proxy(
    State(s): State<Service>,
    Path((id, path)): Path<(String, String)>,
    Query(_q): Query<BTreeMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    if body.len() > PROXY_MAX_BODY {
        return Err(ApiError::bad_request("request body too large"));
    }
    let mut target = format!("/{}", path.trim_start_matches('/'));
    if let Some(q) = uri.query() {
        target.push('?');
        target.push_str(q);
    }
    let mut request = http::Request::builder()
        .method(method.as_str())
        .uri(&target)
        .body(body)
        .map_err(|e| ApiError::bad_request(format!("request: {e}")))?;
    for (name, value) in &headers {
        if !NOT_FORWARDED.contains(&name.as_str()) {
            request.headers_mut().append(name.clone(), value.clone());
        }
    }
    let response = s.inner.broker.request_streaming(&id, request).await?;
    let (parts, body) = response.into_parts();
    let mut out = Response::builder().status(parts.status.as_u16());
    for (name, value) in &parts.headers {
        out = out.header(name.as_str(), value.as_bytes());
    }
    out.body(axum::body::Body::from_stream(body))
        .map_err(|e| ApiError::bad_request(format!("response: {e}")))
}
