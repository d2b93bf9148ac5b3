//! Log lines recorded by the host's `tracing`, attributed to the plugin.
//!
//! The host bounds their number and length per call and scrubs secret values from them.
//! Never log tokens from a provider's response.

use crate::bindings::grantbox::plugin::log::{Level, log};

/// Records a debug line.
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Records an info line.
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Records a warning.
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Records an error line.
pub fn error(message: &str) {
    log(Level::Error, message);
}
