//! The [`Provider`] trait: standard RFC 6749 behaviour, overridable hook by hook.

use crate::http::{self, Params};
use crate::oauth::{self, BodyFormat, ClientAuth, is_refresh};
use crate::{
    AuthorizationRequest, DeviceAuthorization, OAuthError, Placement, PluginMetadata, Settings,
    TokenRequest, TokenSet,
};

/// An OAuth 2.0 provider adapter.
///
/// Only [`Provider::metadata`] is required. The defaults implement RFC 6749 against the
/// conventional settings (`token_url`, `refresh_url`, `client_id`, `client_secret`,
/// `client_auth`, `username`, `password`, `scope_separator`, `extra_params`,
/// `refresh_params`, `extra_headers`, `body_format`, `authorization_url`, `auth_params`,
/// `device_authorization_url`, `token_placement`…); a plugin declares the ones it uses in
/// its metadata and overrides the hooks where its provider differs.
///
/// The call graph of a token request: [`exchange_token`](Provider::exchange_token) →
/// [`token_request`](Provider::token_request) (→ [`token_url`](Provider::token_url),
/// [`grant_params`](Provider::grant_params), [`extra_params`](Provider::extra_params),
/// [`client_auth`](Provider::client_auth), [`token_headers`](Provider::token_headers),
/// [`body_format`](Provider::body_format)) → send →
/// [`parse_token_response`](Provider::parse_token_response).
pub trait Provider {
    /// Describes the plugin: id, grants, hosts it needs, configuration fields.
    fn metadata() -> PluginMetadata;

    /// The separator for scopes (default: the `scope_separator` setting, else a space).
    fn scope_separator(settings: &Settings) -> Result<String, OAuthError> {
        Ok(settings.text("scope_separator")?.unwrap_or(" ").to_owned())
    }

    /// The token endpoint for this request (default: `refresh_url` for refreshes when set,
    /// else `token_url`).
    fn token_url(settings: &Settings, request: &TokenRequest<'_>) -> Result<String, OAuthError> {
        if is_refresh(request)
            && let Some(url) = settings.text("refresh_url")?
        {
            return Ok(url.to_owned());
        }
        Ok(settings.require_text("token_url")?.to_owned())
    }

    /// Where client credentials go (default: the `client_auth` setting, `basic` or `body`,
    /// `basic` when unset; [`ClientAuth::None`] when no `client_secret` is configured).
    fn client_auth(settings: &Settings) -> Result<ClientAuth, OAuthError> {
        if settings.secret("client_secret")?.is_none() {
            return Ok(ClientAuth::None);
        }
        Ok(
            match settings.choice("client_auth", &["basic", "body"], "basic")? {
                "body" => ClientAuth::Body,
                _ => ClientAuth::Basic,
            },
        )
    }

    /// How the token request body is encoded (default: the `body_format` setting, `form`
    /// or `json`, `form` when unset).
    fn body_format(settings: &Settings) -> Result<BodyFormat, OAuthError> {
        Ok(
            match settings.choice("body_format", &["form", "json"], "form")? {
                "json" => BodyFormat::Json,
                _ => BodyFormat::Form,
            },
        )
    }

    /// The grant's parameters (default: [`oauth::grant_params`]).
    fn grant_params<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        let separator = Self::scope_separator(settings)?;
        oauth::grant_params(settings, request, &separator, params)
    }

    /// Extra parameters (default: the `extra_params` map, plus `refresh_params` on
    /// refreshes; they replace parameters of the same name).
    fn extra_params<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
        params: &mut Params<'a>,
    ) -> Result<(), OAuthError> {
        for (k, v) in settings.map("extra_params")? {
            params.set(k, v);
        }
        if is_refresh(request) {
            for (k, v) in settings.map("refresh_params")? {
                params.set(k, v);
            }
        }
        Ok(())
    }

    /// Headers of the token request (default: `Accept: application/json` plus the
    /// `extra_headers` map).
    fn token_headers(
        settings: &Settings,
        _request: &TokenRequest<'_>,
    ) -> Result<Vec<(String, String)>, OAuthError> {
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        for (k, v) in settings.map("extra_headers")? {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(k));
            headers.push((k.clone(), v.clone()));
        }
        Ok(headers)
    }

    /// Applies client authentication to a request to the authorization server.
    fn authenticate_client<'a>(
        settings: &'a Settings,
        request: http::Request<'a>,
        params: &mut Params<'a>,
    ) -> Result<http::Request<'a>, OAuthError> {
        Ok(match Self::client_auth(settings)? {
            ClientAuth::Basic => request.basic_auth(
                settings.require_text("client_id")?,
                settings.require_secret("client_secret")?,
            ),
            ClientAuth::Body => {
                params.set("client_id", settings.require_text("client_id")?);
                params.remove("client_secret");
                params.add_secret("client_secret", settings.require_secret("client_secret")?);
                request
            }
            ClientAuth::None => {
                if let Some(id) = settings.text("client_id")?
                    && !params.contains("client_id")
                {
                    params.add("client_id", id);
                }
                request
            }
        })
    }

    /// Builds the token request from the hooks above, then renames standard parameters as
    /// the `param_names` map says ([`oauth::rename_params`]).
    fn token_request<'a>(
        settings: &'a Settings,
        request: &TokenRequest<'a>,
    ) -> Result<http::Request<'a>, OAuthError> {
        let mut params = Params::new();
        Self::grant_params(settings, request, &mut params)?;
        Self::extra_params(settings, request, &mut params)?;
        let mut req = http::Request::post(Self::token_url(settings, request)?);
        req = Self::authenticate_client(settings, req, &mut params)?;
        oauth::rename_params(settings, &mut params)?;
        for (k, v) in Self::token_headers(settings, request)? {
            req = req.header(&k, &v);
        }
        Ok(match Self::body_format(settings)? {
            BodyFormat::Form => req.form(params),
            BodyFormat::Json => req.json(params),
        })
    }

    /// Parses the token endpoint's response (default: [`oauth::parse_token_response`]).
    fn parse_token_response(
        settings: &Settings,
        response: &http::Response,
    ) -> Result<TokenSet, OAuthError> {
        let separator = Self::scope_separator(settings)?;
        oauth::parse_token_response(
            response.status,
            response.header("content-type"),
            &response.body,
            &separator,
        )
    }

    /// Performs a token request: build, send, parse.
    fn exchange_token(
        settings: &Settings,
        request: &TokenRequest<'_>,
    ) -> Result<TokenSet, OAuthError> {
        let response = Self::token_request(settings, request)?.send()?;
        Self::parse_token_response(settings, &response)
    }

    /// Extra authorization-URL parameters (default: the `auth_params` map).
    fn authorization_params(settings: &Settings) -> Result<Vec<(String, String)>, OAuthError> {
        Ok(settings.map("auth_params")?.to_vec())
    }

    /// The authorization URL (default: [`oauth::authorization_query`] on the
    /// `authorization_url` setting; without the PKCE challenge when `pkce = false`, standard
    /// names replaced as the `param_names` map says).
    fn authorization_url(
        settings: &Settings,
        request: &AuthorizationRequest,
    ) -> Result<String, OAuthError> {
        let base = settings.require_text("authorization_url")?;
        let client_id = settings.require_text("client_id")?;
        let separator = Self::scope_separator(settings)?;
        let mut query = oauth::authorization_query(
            client_id,
            request,
            &separator,
            &Self::authorization_params(settings)?,
        );
        if !oauth::pkce_enabled(settings)? {
            query.retain(|(name, _)| !name.starts_with("code_challenge"));
        }
        oauth::rename_query(settings, &mut query)?;
        Ok(oauth::append_query(base, &query))
    }

    /// Starts a device authorization at the `device_authorization_url` setting (RFC 8628).
    fn start_device_authorization(
        settings: &Settings,
        scopes: &[String],
    ) -> Result<DeviceAuthorization, OAuthError> {
        let url = settings.require_text("device_authorization_url")?;
        let mut params = Params::new();
        if !scopes.is_empty() {
            params.add("scope", &scopes.join(&Self::scope_separator(settings)?));
        }
        let req = http::Request::post(url).header("accept", "application/json");
        let req = Self::authenticate_client(settings, req, &mut params)?;
        oauth::rename_params(settings, &mut params)?;
        let response = req.form(params).send()?;
        oauth::parse_device_authorization(
            response.status,
            response.header("content-type"),
            &response.body,
        )
    }

    /// How tokens are applied to API requests (default:
    /// [`oauth::placement_from_settings`], `Authorization: Bearer` when unset).
    fn token_placement(settings: &Settings) -> Result<Placement, OAuthError> {
        oauth::placement_from_settings(settings)
    }
}
