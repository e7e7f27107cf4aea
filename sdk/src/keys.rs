//! Ed25519 keys for agents, operators and executors: generate, store with 0600 permissions, load.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::rngs::OsRng;

use crate::error::SdkError;

/// Generates a new signing key from the operating system's randomness.
pub fn generate() -> SigningKey {
    SigningKey::generate(&mut OsRng)
}

/// Writes `key` as hex to `path`, created with mode 0600; refuses to overwrite.
pub fn save(key: &SigningKey, path: &Path) -> Result<(), SdkError> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| SdkError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    let mut text = hex::encode(key.to_bytes());
    text.push('\n');
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| SdkError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

/// Reads a hex-encoded 32-byte secret key written by [`save`].
pub fn load(path: &Path) -> Result<SigningKey, SdkError> {
    let text = std::fs::read_to_string(path).map_err(|e| SdkError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    signing_key_from_hex(text.trim()).map_err(|_| SdkError::KeyFile {
        path: path.display().to_string(),
        reason: "expected 64 hex characters".into(),
    })
}

/// Parses a hex-encoded 32-byte secret key.
pub fn signing_key_from_hex(text: &str) -> Result<SigningKey, SdkError> {
    let bytes =
        hex::decode(text).map_err(|_| SdkError::InvalidKey("secret key is not hex".into()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| SdkError::InvalidKey("secret key must be 32 bytes".into()))?;
    Ok(SigningKey::from_bytes(&bytes))
}

/// Parses a 32-byte ed25519 public key given as raw bytes.
pub fn verifying_key_from_bytes(bytes: &[u8]) -> Result<VerifyingKey, SdkError> {
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
        SdkError::InvalidKey(format!("public key must be 32 bytes, got {}", bytes.len()))
    })?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| SdkError::InvalidKey("public key is not a valid ed25519 point".into()))
}

/// Parses a hex-encoded ed25519 public key (an optional `ed25519/` prefix is accepted).
pub fn verifying_key_from_hex(text: &str) -> Result<VerifyingKey, SdkError> {
    let text = text.trim();
    let text = text.strip_prefix("ed25519/").unwrap_or(text);
    let bytes = hex::decode(text)
        .map_err(|_| SdkError::InvalidKey(format!("public key `{text}` is not hex")))?;
    verifying_key_from_bytes(&bytes)
}

/// Converts an ed25519-dalek public key to the Biscuit representation.
pub fn to_biscuit_public(key: &VerifyingKey) -> Result<biscuit_auth::PublicKey, SdkError> {
    biscuit_auth::PublicKey::from_bytes(key.as_bytes(), biscuit_auth::builder::Algorithm::Ed25519)
        .map_err(|e| SdkError::InvalidKey(e.to_string()))
}

/// Converts an ed25519-dalek secret key to the Biscuit representation.
pub fn to_biscuit_private(key: &SigningKey) -> Result<biscuit_auth::PrivateKey, SdkError> {
    biscuit_auth::PrivateKey::from_bytes(&key.to_bytes(), biscuit_auth::builder::Algorithm::Ed25519)
        .map_err(|e| SdkError::InvalidKey(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saved_key_is_private_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.key");
        let key = generate();
        save(&key, &path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(load(&path).unwrap().to_bytes(), key.to_bytes());
        assert!(
            save(&key, &path).is_err(),
            "must not overwrite an existing key"
        );
    }

    #[test]
    fn rejects_malformed_public_keys() {
        assert!(verifying_key_from_hex("zz").is_err());
        assert!(verifying_key_from_hex("abcd").is_err());
        let key = generate().verifying_key();
        let text = format!("ed25519/{}", hex::encode(key.as_bytes()));
        assert_eq!(verifying_key_from_hex(&text).unwrap(), key);
    }
}
