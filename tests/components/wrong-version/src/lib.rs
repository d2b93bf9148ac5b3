//! A plugin built against `grantbox:plugin@9.0.0`, which the host must refuse.

mod bindings {
    wit_bindgen::generate!({
        path: "wit",
        world: "provider",
    });
}

use bindings::exports::grantbox::plugin::oauth_provider::{Guest, PluginMetadata};

struct WrongVersion;

impl Guest for WrongVersion {
    fn metadata() -> PluginMetadata {
        PluginMetadata {
            id: "wrong-version".into(),
            display_name: "Built against another contract".into(),
            version: "1.0.0".into(),
        }
    }
}

bindings::export!(WrongVersion with_types_in bindings);
