//! The OpenAPI 3.1 document of the API, generated from the handlers' annotations.

use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::api;
use super::error::ErrorBody;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "grantbox",
        description = "OAuth 2.0 tokens for outbound integrations: providers, connections, interactive connects, tokens and the outbound proxy. Every operation requires an admin API key."
    ),
    paths(
        api::list_plugins, api::get_plugin, api::reload_plugins,
        api::list_providers, api::create_provider, api::get_provider, api::delete_provider,
        api::list_connections, api::create_connection, api::get_connection, api::delete_connection,
        api::enable_connection, api::disable_connection, api::disconnect_connection,
        api::refresh_connection, api::get_token,
        api::connect, api::start_device, api::device_status, api::cancel_device,
        api::proxy,
    ),
    components(schemas(
        ErrorBody, api::ProviderView, api::ConnectionView, api::NewProviderBody,
        api::NewConnectionBody, api::TokenView, api::RefreshedView, api::ConnectBody,
        api::ConnectView, api::ReloadView, api::FailedPluginView,
    )),
    modifiers(&Security),
    security(("api_key" = []), ("bearer" = [])),
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An admin API key: `Authorization: Bearer gbx_…`"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
    }
}

/// The OpenAPI document as JSON.
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

pub(crate) async fn serve() -> Response {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
        .into_response()
}
