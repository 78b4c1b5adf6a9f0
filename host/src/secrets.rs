//! Encryption at rest of the secrets the host must read back (a tenant's
//! executor token): the operator's 32-byte key, where it comes from, and
//! sealing and opening values with it.
//!
//! Values are sealed with ChaCha20-Poly1305 (an AEAD) under a fresh random
//! 96-bit nonce, stored as `nonce ‖ ciphertext ‖ tag`. The caller binds
//! each value to its place (`context`, e.g. the tenant and the field) as
//! associated data, so a sealed value copied to another tenant's row does
//! not open there. A value that does not open (another key, a changed
//! byte, another place) is an error, never garbage.
//!
//! The key comes from the operator's config (`secrets_key`,
//! `SMSTRIGGER_SECRETS_KEY`: 64 hex digits or standard base64 of 32
//! bytes); without one, the server generates [`KEY_FILE`] in the data
//! directory on first start (mode 0600) and uses it from then on, so a
//! demo needs no setup. What is hashed rather than sealed (API keys) and
//! what stays readable (webhook secrets, needed to check HMACs) is the
//! store's business, not this module's.

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

/// The key file the server generates in the data directory when the
/// operator configures no key.
pub const KEY_FILE: &str = "secrets.key";

/// Bytes of a key: ChaCha20-Poly1305 takes 256 bits.
pub const KEY_BYTES: usize = 32;

/// Bytes of the random nonce in front of every sealed value.
const NONCE_BYTES: usize = 12;

/// What went wrong with a key or a sealed value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configured key that is not 32 bytes in hex or base64.
    #[error("the secrets key must be {KEY_BYTES} bytes as 64 hex digits or base64: {reason}")]
    BadKey { reason: String },
    /// A sealed value that does not open under this key and context.
    #[error("a sealed secret ({context}) does not open with this secrets key")]
    WrongKey { context: String },
    /// Reading or writing the key file.
    #[error("secrets key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// The operator's key for secrets at rest. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsKey([u8; KEY_BYTES]);

impl fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretsKey(redacted)")
    }
}

impl std::str::FromStr for SecretsKey {
    type Err = Error;

    /// Reads 64 hex digits or standard base64 of 32 bytes (surrounding
    /// whitespace ignored); anything else is [`Error::BadKey`].
    fn from_str(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let bytes = if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|e| bad_key(e.to_string()))?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|_| bad_key("neither 64 hex digits nor base64"))?
        };
        let bytes: [u8; KEY_BYTES] = bytes
            .try_into()
            .map_err(|b: Vec<u8>| bad_key(format!("{} bytes", b.len())))?;
        Ok(Self(bytes))
    }
}

impl<'de> serde::Deserialize<'de> for SecretsKey {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn bad_key(reason: impl Into<String>) -> Error {
    Error::BadKey {
        reason: reason.into(),
    }
}

impl SecretsKey {
    /// A new random key from the OS.
    pub fn generate() -> Self {
        use rand::TryRng;
        let mut bytes = [0u8; KEY_BYTES];
        rand::rngs::SysRng
            .try_fill_bytes(&mut bytes)
            .expect("the OS random source");
        Self(bytes)
    }

    /// The key in `data_dir`'s [`KEY_FILE`], generating it (mode 0600,
    /// created exclusively) when there is none; says in the log when it
    /// generated one. A file that holds no valid key is an error: the
    /// sealed secrets would not open with a new one.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, Error> {
        let path = data_dir.join(KEY_FILE);
        let io = |source| Error::Io {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => return text.parse(),
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            Err(_) => {}
        }
        let key = Self::generate();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(io)?;
        std::io::Write::write_all(&mut file, format!("{}\n", hex::encode(key.0)).as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(io)?;
        tracing::warn!(
            path = %path.display(),
            "no secrets_key configured: generated one for secrets at rest; keep this file \
             (and back it up) or set SMSTRIGGER_SECRETS_KEY to its contents"
        );
        Ok(key)
    }

    /// Seals `plaintext`, bound to `context`: `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        use rand::TryRng;
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rngs::SysRng
            .try_fill_bytes(&mut nonce)
            .expect("the OS random source");
        let sealed = self
            .cipher()
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 seals any length the host stores");
        [nonce.as_slice(), &sealed].concat()
    }

    /// Opens what [`Self::seal`] sealed under this key and `context`; any
    /// other key, context or changed byte is [`Error::WrongKey`].
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        let wrong = || Error::WrongKey {
            context: context.into(),
        };
        if sealed.len() < NONCE_BYTES {
            return Err(wrong());
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| wrong())
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(Key::from_slice(&self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_its_key_and_context() {
        let key = SecretsKey::generate();
        let sealed = key.seal("tenant 1 token", b"hunter2");
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(key.open("tenant 1 token", &sealed).unwrap(), b"hunter2");
        assert!(key.open("tenant 2 token", &sealed).is_err(), "moved row");
        assert!(
            SecretsKey::generate()
                .open("tenant 1 token", &sealed)
                .is_err()
        );
        let mut flipped = sealed.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(key.open("tenant 1 token", &flipped).is_err());
        assert!(key.open("tenant 1 token", &sealed[..5]).is_err());
        assert_ne!(key.seal("c", b"x"), key.seal("c", b"x"), "fresh nonces");
    }

    #[test]
    fn keys_parse_from_hex_or_base64_and_anything_else_is_named() {
        let hex_key: SecretsKey = "ab".repeat(32).parse().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode([0xab; 32]);
        assert_eq!(b64.parse::<SecretsKey>().unwrap(), hex_key);
        for bad in ["", "abcd", &"ab".repeat(31), "not a key at all!"] {
            let err = bad.parse::<SecretsKey>().unwrap_err();
            assert!(err.to_string().contains("32 bytes"), "{bad}: {err}");
        }
        assert_eq!(format!("{hex_key:?}"), "SecretsKey(redacted)");
    }

    #[test]
    fn a_generated_key_file_is_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = SecretsKey::load_or_create(dir.path()).unwrap();
        assert_eq!(SecretsKey::load_or_create(dir.path()).unwrap(), first);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(KEY_FILE), "garbage").unwrap();
        assert!(SecretsKey::load_or_create(dir.path()).is_err());
    }
}
