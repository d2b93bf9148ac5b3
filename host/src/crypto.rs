//! Encryption at rest: the master keyring and the sealed-value envelope.
//!
//! Every secret the store keeps (client secrets, passwords, access, refresh and ID tokens) is
//! sealed with XChaCha20-Poly1305 under the keyring's *active* master key. A sealed value is
//!
//! ```text
//! 0x01 | key id (8 bytes) | nonce (24 bytes) | ciphertext and tag
//! ```
//!
//! The key id (the first 8 bytes of a BLAKE3 key derivation of the key) says which master
//! key opens it, so keys can be rotated: a keyring holds the active key plus older keys
//! that still open old values, and [`crate::store::Store::reencrypt`] re-seals everything
//! under the active key. The associated data binds each value to its place (table, record,
//! column), so a ciphertext copied into another row or column does not open.
//!
//! Master keys come from an environment variable or a key file: base64 of 32 bytes, one key
//! per line (or comma-separated in the variable), the first one active.
//! [`Keyring::load_or_create_file`] generates a key file with mode 0600 on first use.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 8;
const NONCE_LEN: usize = 24;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

/// Identifies a master key (derived from the key; not secret).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId([u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// A 256-bit master key. Zeroed on drop; never printed.
struct MasterKey {
    id: KeyId,
    cipher: XChaCha20Poly1305,
    bytes: Zeroizing<[u8; 32]>,
}

impl MasterKey {
    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> Self {
        let derived = blake3::derive_key("grantbox 2026 master key id", bytes.as_ref());
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&derived[..KEY_ID_LEN]);
        let cipher = XChaCha20Poly1305::new(bytes.as_ref().into());
        Self {
            id: KeyId(id),
            cipher,
            bytes,
        }
    }

    fn generate() -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        Self::from_bytes(bytes)
    }

    fn encoded(&self) -> Zeroizing<String> {
        Zeroizing::new(B64.encode(self.bytes.as_ref()))
    }
}

/// Where the master keys come from (for error messages).
#[derive(Debug, Clone)]
pub enum KeySource {
    /// An environment variable.
    Env(String),
    /// A key file.
    File(PathBuf),
    /// Generated in memory (tests, benchmarks): lost when the process ends.
    Ephemeral,
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeySource::Env(v) => write!(f, "environment variable {v}"),
            KeySource::File(p) => write!(f, "key file {}", p.display()),
            KeySource::Ephemeral => f.write_str("ephemeral key"),
        }
    }
}

/// The master keys: one active key that seals, and older keys that still open.
pub struct Keyring {
    keys: Vec<MasterKey>,
    source: KeySource,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("source", &self.source)
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

fn crypto_err(source: &KeySource, message: impl fmt::Display) -> Error {
    Error::Crypto(format!("{source}: {message}"))
}

impl Keyring {
    /// A keyring with one freshly generated key that lives only in memory.
    pub fn ephemeral() -> Self {
        Self {
            keys: vec![MasterKey::generate()],
            source: KeySource::Ephemeral,
        }
    }

    /// Parses keys: base64 of 32 bytes each, separated by newlines or commas; `#` starts a
    /// comment line. The first key is the active one.
    pub fn parse(text: &str, source: KeySource) -> Result<Self> {
        let mut keys = Vec::new();
        for (i, item) in text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .flat_map(|l| l.split(','))
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let decoded =
                Zeroizing::new(B64.decode(item).map_err(|_| {
                    crypto_err(&source, format!("key {} is not valid base64", i + 1))
                })?);
            let bytes: [u8; 32] = decoded.as_slice().try_into().map_err(|_| {
                crypto_err(
                    &source,
                    format!(
                        "key {} is {} bytes long, expected 32 (base64 of 32 random bytes)",
                        i + 1,
                        decoded.len()
                    ),
                )
            })?;
            keys.push(MasterKey::from_bytes(Zeroizing::new(bytes)));
        }
        if keys.is_empty() {
            return Err(crypto_err(&source, "no key found"));
        }
        Ok(Self { keys, source })
    }

    /// Reads the keys from environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self> {
        let source = KeySource::Env(var.to_owned());
        let value = Zeroizing::new(
            std::env::var(var).map_err(|_| crypto_err(&source, "is not set or not UTF-8"))?,
        );
        Self::parse(&value, source)
    }

    /// Reads the keys from a key file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let source = KeySource::File(path.to_owned());
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| Error::Io {
            path: path.to_owned(),
            source: e,
        })?);
        Self::parse(&text, source)
    }

    /// Reads the key file, or creates it (mode 0600, one new key) if it does not exist.
    pub fn load_or_create_file(path: &Path) -> Result<Self> {
        if path.exists() {
            return Self::from_file(path);
        }
        let ring = Self {
            keys: vec![MasterKey::generate()],
            source: KeySource::File(path.to_owned()),
        };
        ring.write_file(path, true)?;
        tracing::info!(path = %path.display(), key_id = %ring.active_id(), "generated a new master key file");
        Ok(ring)
    }

    /// Writes every key to `path` (mode 0600), atomically (temporary file + rename).
    fn write_file(&self, path: &Path, create_new: bool) -> Result<()> {
        let io = |e| Error::Io {
            path: path.to_owned(),
            source: e,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut text = Zeroizing::new(String::from(
            "# grantbox master keys (base64, 32 bytes each); the first one is active.\n",
        ));
        for k in &self.keys {
            text.push_str(&k.encoded());
            text.push('\n');
        }
        let tmp = path.with_extension("tmp");
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp).map_err(io)?;
        file.write_all(text.as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        drop(file);
        if create_new && path.exists() {
            let _ = std::fs::remove_file(&tmp);
            return Err(crypto_err(
                &self.source,
                "appeared while it was being created",
            ));
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        Ok(())
    }

    /// Generates a new key and makes it the active one; the old keys stay to open old
    /// values. When the keys come from a file, the file is rewritten first.
    pub fn rotate(&mut self) -> Result<KeyId> {
        let key = MasterKey::generate();
        let id = key.id;
        self.keys.insert(0, key);
        if let KeySource::File(path) = &self.source {
            self.write_file(path, false)?;
        }
        Ok(id)
    }

    /// Drops every key but the active one (after everything was re-sealed). When the keys
    /// come from a file, the file is rewritten.
    pub fn retire_old_keys(&mut self) -> Result<usize> {
        let removed = self.keys.len().saturating_sub(1);
        self.keys.truncate(1);
        if removed > 0
            && let KeySource::File(path) = &self.source
        {
            self.write_file(path, false)?;
        }
        Ok(removed)
    }

    /// Where the keys come from.
    pub fn source(&self) -> &KeySource {
        &self.source
    }

    /// The id of the key that seals new values.
    pub fn active_id(&self) -> KeyId {
        self.keys[0].id
    }

    /// Ids of all keys, active first.
    pub fn key_ids(&self) -> Vec<KeyId> {
        self.keys.iter().map(|k| k.id).collect()
    }

    /// Seals `plaintext`, bound to `aad` (where the value is kept).
    pub fn seal(&self, aad: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let key = &self.keys[0];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = key
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::Crypto("encryption failed".into()))?;
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
        out.push(VERSION);
        out.extend_from_slice(&key.id.0);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// The key id a sealed value was sealed with.
    pub fn sealed_key_id(sealed: &[u8]) -> Option<KeyId> {
        if sealed.len() < HEADER_LEN || sealed[0] != VERSION {
            return None;
        }
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&sealed[1..1 + KEY_ID_LEN]);
        Some(KeyId(id))
    }

    /// Opens a sealed value. `aad` must be what it was sealed with.
    pub fn open(&self, aad: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let id = Self::sealed_key_id(sealed)
            .ok_or_else(|| Error::Crypto(format!("{aad}: not a sealed value")))?;
        let key = self.keys.iter().find(|k| k.id == id).ok_or_else(|| {
            Error::Crypto(format!(
                "{aad}: sealed with master key {id}, which the {} does not hold",
                self.source
            ))
        })?;
        let nonce = XNonce::from_slice(&sealed[1 + KEY_ID_LEN..HEADER_LEN]);
        key.cipher
            .decrypt(
                nonce,
                Payload {
                    msg: &sealed[HEADER_LEN..],
                    aad: aad.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| {
                Error::Crypto(format!(
                    "{aad}: does not open with master key {id} (corrupted, or moved from another record)"
                ))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_binding() {
        let ring = Keyring::ephemeral();
        let sealed = ring.seal("connections/a/refresh_token", b"s3cret").unwrap();
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(
            ring.open("connections/a/refresh_token", &sealed)
                .unwrap()
                .as_slice(),
            b"s3cret"
        );
        let moved = ring
            .open("connections/b/refresh_token", &sealed)
            .unwrap_err();
        assert!(
            moved.to_string().contains("moved from another record"),
            "{moved}"
        );
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(ring.open("connections/a/refresh_token", &tampered).is_err());
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let mut ring = Keyring::ephemeral();
        let old_id = ring.active_id();
        let sealed = ring.seal("x", b"v").unwrap();
        let new_id = ring.rotate().unwrap();
        assert_ne!(old_id, new_id);
        assert_eq!(Keyring::sealed_key_id(&sealed), Some(old_id));
        assert_eq!(ring.open("x", &sealed).unwrap().as_slice(), b"v");
        let resealed = ring.seal("x", b"v").unwrap();
        assert_eq!(Keyring::sealed_key_id(&resealed), Some(new_id));
        ring.retire_old_keys().unwrap();
        let err = ring.open("x", &sealed).unwrap_err().to_string();
        assert!(err.contains(&old_id.to_string()), "{err}");
    }

    #[test]
    fn key_file_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/master.key");
        let ring = Keyring::load_or_create_file(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = Keyring::load_or_create_file(&path).unwrap();
        assert_eq!(ring.active_id(), again.active_id());
        assert!(!format!("{again:?}").contains(&*again.keys[0].encoded()));
    }

    #[test]
    fn bad_keys_are_named() {
        let e = Keyring::parse("bm90IDMyIGJ5dGVz", KeySource::Env("K".into()))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("environment variable K") && e.contains("expected 32"),
            "{e}"
        );
        let e = Keyring::parse("%%%", KeySource::Env("K".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not valid base64"), "{e}");
    }
}
