//! Admin API keys for the service: created once (the key is shown to its creator and
//! never again), stored as a BLAKE3 hash, revocable.
//!
//! A key looks like `gbx_<id>_<secret>`: `gbx_<id>` is its public id (safe to log and
//! list), the secret part carries 256 random bits. Because keys are high-entropy, a fast
//! hash is the right tool (as for GitHub or Stripe tokens): there is nothing to brute-force,
//! and verification costs microseconds, not the 100 ms of a password hash.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::OsRng;
use chacha20poly1305::aead::rand_core::RngCore;

use crate::error::{Error, Result};
use crate::secret::{ExposeSecret, SecretString};
use crate::store::{ApiKeyRecord, Store};

/// A key just created: show [`CreatedKey::key`] once.
#[derive(Debug)]
pub struct CreatedKey {
    /// The stored record (id, name, hash).
    pub record: ApiKeyRecord,
    /// The key itself.
    pub key: SecretString,
}

/// The stored form of a key.
pub fn hash(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

/// Creates and stores a key named `name`.
pub async fn create(store: &dyn Store, name: &str) -> Result<CreatedKey> {
    let name = name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(Error::Unsupported(
            "API key name: give 1 to 100 characters".into(),
        ));
    }
    let mut id = [0u8; 6];
    OsRng.fill_bytes(&mut id);
    let mut secret = [0u8; 32];
    OsRng.fill_bytes(&mut secret);
    let id = format!("gbx_{}", hex(&id));
    let key = SecretString::from(format!("{id}_{}", URL_SAFE_NO_PAD.encode(secret)));
    let record = ApiKeyRecord {
        id,
        name: name.to_owned(),
        key_hash: hash(key.expose_secret()),
        created_at: SystemTime::now(),
        revoked_at: None,
    };
    store.create_api_key(&record).await?;
    tracing::info!(key_id = %record.id, name = %record.name, "API key created");
    Ok(CreatedKey { record, key })
}

/// The unrevoked key record matching a presented key, if any.
pub async fn verify(store: &dyn Store, presented: &str) -> Result<Option<ApiKeyRecord>> {
    if !presented.starts_with("gbx_") || presented.len() > 200 {
        return Ok(None);
    }
    Ok(store
        .api_key_by_hash(&hash(presented))
        .await?
        .filter(|k| k.revoked_at.is_none()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
