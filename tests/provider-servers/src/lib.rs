//! Servers on loopback that behave like real OAuth 2.0 providers, quirks included, per
//! their public documentation: endpoints, parameter names, what they reject and the shape
//! of their errors. Each module documents what it emulates and what it leaves out.
//!
//! The test keys in `keys/` are test-only ([`keys`]).

pub mod azure;
pub mod cognito;
mod common;
pub mod dropbox;
pub mod github;
pub mod google;
pub mod linkedin;
pub mod salesforce;
pub mod slack;
pub mod zoom;

pub use common::{Recorded, Reply, Req, Server};

/// Test-only keys (see `keys/README.md`).
pub mod keys {
    /// RSA 2048 private key, PKCS#8 PEM.
    pub const RSA_PRIVATE: &str = include_str!("../keys/rsa-private.pem");
    /// Its public key, SPKI PEM.
    pub const RSA_PUBLIC: &str = include_str!("../keys/rsa-public.pem");
    /// A self-signed certificate for the RSA key.
    pub const RSA_CERT: &str = include_str!("../keys/rsa-cert.pem");
    /// SHA-256 fingerprint of the certificate (hex with colons, as consoles show it).
    pub const RSA_CERT_SHA256: &str = include_str!("../keys/rsa-cert.sha256");
    /// SHA-1 fingerprint of the certificate.
    pub const RSA_CERT_SHA1: &str = include_str!("../keys/rsa-cert.sha1");
    /// P-256 private key, PKCS#8 PEM.
    pub const EC_PRIVATE: &str = include_str!("../keys/ec-private.pem");
    /// Its public key.
    pub const EC_PUBLIC: &str = include_str!("../keys/ec-public.pem");
}
