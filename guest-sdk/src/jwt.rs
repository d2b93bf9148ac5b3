//! JWTs signed by the host with a key the plugin holds only as a [`Secret`] handle: client
//! assertions (RFC 7523 §2.2, e.g. Microsoft Entra certificate credentials) and JWT-bearer
//! grants (RFC 7523 §2.1, e.g. Google service accounts, Salesforce).
//!
//! Neither the key nor the signed token enters the plugin: [`sign`] returns a new handle to
//! place into the request (`client_assertion`, `assertion`).

use serde_json::{Map, Value};

pub use crate::bindings::grantbox::plugin::signing::Algorithm;
use crate::bindings::grantbox::plugin::signing::{SignError, sign_jwt};
use crate::{OAuthError, Secret};

/// Seconds since the Unix epoch (the host's wall clock).
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A random identifier for `jti` (UUID v4 form).
pub fn random_id() -> String {
    let mut b = [0u8; 16];
    // The host links `wasi:random`; without it the id is still unique per instance.
    if getrandom::fill(&mut b).is_err() {
        let t = now().to_le_bytes();
        b[..8].copy_from_slice(&t);
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        h[0..4].concat(),
        h[4..6].concat(),
        h[6..8].concat(),
        h[8..10].concat(),
        h[10..16].concat()
    )
}

/// Signs `claims` under `header` (the host adds `alg` and `typ`) with the private key in
/// `key` (the secret setting named `key_field`, for error messages). The handle lives until
/// the end of the call (every call runs in a fresh instance).
pub fn sign(
    algorithm: Algorithm,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    key: &Secret,
    key_field: &str,
) -> Result<&'static Secret, OAuthError> {
    let header = Value::Object(header).to_string();
    let claims = Value::Object(claims).to_string();
    match sign_jwt(algorithm, &header, &claims, key) {
        Ok(secret) => Ok(Box::leak(Box::new(secret))),
        Err(SignError::InvalidKey(m)) => Err(OAuthError::invalid_config(key_field, m)),
        Err(SignError::InvalidInput(m)) => Err(OAuthError::protocol(format!(
            "the plugin built an invalid JWT: {m}"
        ))),
    }
}

/// Hex (as consoles show certificate thumbprints, `:` and spaces allowed) to base64url
/// without padding, as the `x5t` / `x5t#S256` JWT headers want.
pub fn hex_to_base64url(hex: &str) -> Option<String> {
    let digits: Vec<u8> = hex.bytes().filter(|b| !matches!(b, b':' | b' ')).collect();
    if !digits.len().is_multiple_of(2) || digits.is_empty() {
        return None;
    }
    let mut bytes = Vec::with_capacity(digits.len() / 2);
    for pair in digits.chunks(2) {
        let s = std::str::from_utf8(pair).ok()?;
        bytes.push(u8::from_str_radix(s, 16).ok()?);
    }
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_convert() {
        // SHA-1 of "abc": a9993e36 4706816a ba3e2571 7850c26c 9cd0d89d
        assert_eq!(
            hex_to_base64url("A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D")
                .as_deref(),
            Some("qZk-NkcGgWq6PiVxeFDCbJzQ2J0")
        );
        assert_eq!(hex_to_base64url("abc"), None);
        assert_eq!(hex_to_base64url("zz"), None);
    }

    #[test]
    fn random_ids_look_like_uuids() {
        let id = random_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
