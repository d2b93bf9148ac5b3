//! # grantbox host
//!
//! grantbox brokers OAuth 2.0 tokens for outbound integrations. Every provider's quirks
//! live in a sandboxed WebAssembly component plugin (the contract is `wit/grantbox.wit`,
//! package `grantbox:plugin@0.1.0`); this crate is the host that loads those plugins, runs
//! grant flows through them, keeps secrets out of their reach and applies tokens to API
//! requests.
//!
//! Start with [`Host::builder`], load plugins ([`Host::load_plugin_dir`]), describe a
//! provider with [`ProviderConfig`] and get a [`Provider`] from [`Host::provider`]; then
//! [`Provider::fetch_token`]. See `host/examples/fetch_token.rs`.
#![deny(missing_docs)]

pub mod apikeys;
mod bindings;
pub mod broker;
mod call;
pub mod config;
pub mod crypto;
pub mod egress;
mod error;
mod host;
mod limits;
pub mod metrics;
mod outbound;
pub mod plugin;
mod provider;
mod runtime;
mod secret;
#[cfg(feature = "service")]
pub mod service;
mod signing;
pub mod store;
mod token;

pub use bindings::CONTRACT_VERSION;
pub use broker::{AccessToken, Broker, RefreshPolicy, Refresher};
pub use crypto::Keyring;
pub use egress::{EgressPolicy, OriginPattern};
pub use error::{Error, ErrorKind, OAuthError, PluginFault, Result};
pub use host::{Host, HostBuilder};
pub use limits::Limits;
pub use plugin::{LoadReport, PluginInfo, PluginMetadata};
pub use provider::{Provider, ProviderConfig, SettingValue};
pub use secret::{ExposeSecret, SecretString};
pub use store::{SqliteStore, Store};
pub use token::{
    ApplyError, AuthorizationRequest, DeviceAuthorization, Grant, GrantType, TokenPlacement,
    TokenSet,
};
