//! # grantbox SDK: write an OAuth provider plugin in a few lines
//!
//! A grantbox plugin is a WebAssembly component (built for `wasm32-wasip2`) that adapts
//! one OAuth 2.0 provider's quirks for the grantbox host. This crate gives you:
//!
//! - the [`Provider`] trait: only [`Provider::metadata`] is required; every other method
//!   has a default implementing standard RFC 6749 behaviour, split into small hooks
//!   ([`Provider::token_url`], [`Provider::client_auth`], [`Provider::grant_params`],
//!   [`Provider::parse_token_response`], …) so a plugin overrides only what its provider
//!   does differently;
//! - [`Settings`], typed access to the operator's configuration, whose errors name the
//!   field;
//! - [`http`], a request builder over the host's `http-outbound` (secrets go in as
//!   handles; the host substitutes them after its egress check);
//! - [`oauth`], the standard pieces (parameters, tolerant token parsing, error mapping)
//!   for plugins that override a hook but want to reuse the rest;
//! - [`export_provider!`], which exports your type as the component's `oauth-provider`.
//!
//! Secrets (client secret, password, refresh token, code) are [`Secret`] handles: a plugin
//! can put them into a request but can never read their bytes.
//!
//! ## A complete plugin
//!
//! A provider that wants client credentials in the body and a fixed `audience`, with
//! everything else standard:
//!
//! ```no_run
//! use grantbox_sdk::{
//!     ClientAuth, ConfigField, FieldKind, GrantKind, OAuthError, Params, PluginMetadata,
//!     Provider, Settings, TokenRequest, export_provider,
//! };
//!
//! struct Acme;
//!
//! impl Provider for Acme {
//!     fn metadata() -> PluginMetadata {
//!         PluginMetadata {
//!             id: "acme".into(),
//!             display_name: "Acme API".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             description: "Acme's OAuth 2.0 server".into(),
//!             grants: vec![GrantKind::ClientCredentials, GrantKind::RefreshToken],
//!             custom_grants: vec![],
//!             hosts: vec!["https://auth.acme.example".into()],
//!             config: vec![
//!                 ConfigField::required("client_id", FieldKind::Text, "Client id from the Acme console"),
//!                 ConfigField::required("client_secret", FieldKind::Secret, "Client secret"),
//!             ],
//!         }
//!     }
//!
//!     fn token_url(_: &Settings, _: &TokenRequest<'_>) -> Result<String, OAuthError> {
//!         Ok("https://auth.acme.example/oauth/token".into())
//!     }
//!
//!     fn client_auth(_: &Settings) -> Result<ClientAuth, OAuthError> {
//!         Ok(ClientAuth::Body)
//!     }
//!
//!     fn extra_params<'a>(_: &'a Settings, _: &TokenRequest<'a>, params: &mut Params<'a>) -> Result<(), OAuthError> {
//!         params.set("audience", "https://api.acme.example");
//!         Ok(())
//!     }
//! }
//!
//! export_provider!(Acme);
//! ```
//!
//! Build it with `cargo build --release --target wasm32-wasip2` and load the `.wasm` into
//! grantbox (`grantbox plugins inspect target/wasm32-wasip2/release/acme.wasm`).
//!
//! Tip: link with `-C link-arg=--initial-memory=8388608` (e.g. in `.cargo/config.toml`
//! under `[target.wasm32-wasip2] rustflags`) so a call never grows memory; that saves the
//! host about 40 µs per call.
#![deny(missing_docs)]

#[doc(hidden)]
pub mod bindings {
    #![allow(missing_docs)]
    wit_bindgen::generate!({
        path: "wit",
        world: "provider",
        pub_export_macro: true,
        export_macro_name: "__export_provider",
        default_bindings_module: "grantbox_sdk::bindings",
    });
}

pub mod http;
pub mod jwt;
pub mod log;
pub mod oauth;
mod provider;
mod settings;
mod types;

pub use bindings::exports::grantbox::plugin::oauth_provider::{
    AuthorizationRequest, CodeExchange, ConfigField, DeviceAuthorization, ErrorKind, FieldKind,
    Grant, GrantKind, HeaderPlacement, OauthError as OAuthError, Placement, PluginMetadata,
    Setting, SettingValue, TokenRequest, TokenSet,
};
pub use bindings::grantbox::plugin::types::{Secret, ValuePart};
pub use http::Params;
pub use oauth::{BodyFormat, ClientAuth};
pub use provider::Provider;
pub use settings::Settings;

/// Exports a type implementing [`Provider`] as the component's `oauth-provider`.
///
/// Use it once, at the top level of the plugin crate: `export_provider!(MyProvider);`.
#[macro_export]
macro_rules! export_provider {
    ($ty:ident) => {
        #[doc(hidden)]
        pub struct __GrantboxExport;

        impl $crate::bindings::exports::grantbox::plugin::oauth_provider::Guest for __GrantboxExport {
            fn metadata() -> $crate::PluginMetadata {
                <$ty as $crate::Provider>::metadata()
            }

            fn exchange_token(
                settings: ::std::vec::Vec<$crate::Setting>,
                request: $crate::TokenRequest<'_>,
            ) -> ::core::result::Result<$crate::TokenSet, $crate::OAuthError> {
                <$ty as $crate::Provider>::exchange_token(&$crate::Settings::new(settings), &request)
            }

            fn authorization_url(
                settings: ::std::vec::Vec<$crate::Setting>,
                request: $crate::AuthorizationRequest,
            ) -> ::core::result::Result<::std::string::String, $crate::OAuthError> {
                <$ty as $crate::Provider>::authorization_url(&$crate::Settings::new(settings), &request)
            }

            fn start_device_authorization(
                settings: ::std::vec::Vec<$crate::Setting>,
                scopes: ::std::vec::Vec<::std::string::String>,
            ) -> ::core::result::Result<$crate::DeviceAuthorization, $crate::OAuthError> {
                <$ty as $crate::Provider>::start_device_authorization(&$crate::Settings::new(settings), &scopes)
            }

            fn token_placement(
                settings: ::std::vec::Vec<$crate::Setting>,
            ) -> ::core::result::Result<$crate::Placement, $crate::OAuthError> {
                <$ty as $crate::Provider>::token_placement(&$crate::Settings::new(settings))
            }
        }

        $crate::__export_provider_impl!(__GrantboxExport with_types_in $crate::bindings);
    };
}

#[cfg(test)]
mod contract_tests {
    /// `guest-sdk/wit` links to the workspace's `wit/` so a packaged SDK carries the
    /// contract; a copy in its place must never drift from the original.
    #[test]
    fn the_crates_contract_is_the_workspace_contract() {
        assert_eq!(
            include_str!("../wit/grantbox.wit"),
            include_str!("../../wit/grantbox.wit")
        );
    }
}
