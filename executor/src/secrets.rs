//! The secrets broker: secrets sealed at rest in the executor's own store, put by operators,
//! never read back through any API, resolved from a grant's references at exec time, and
//! scrubbed (with their common encodings) from everything that leaves the executor.
//!
//! By job: [`sealing_key`] loads the key (a 0600 file outside the data directory, or an
//! environment variable) and seals/opens values; [`store`] keeps sealed values in sled;
//! [`encodings`] lists the forms a value may leak in; [`scrubber`] replaces them in output;
//! [`broker`] resolves a grant's references for one operation; [`exec_use`] injects them into a
//! child and scrubs its outcome; [`fingerprints`] exports keyed digests of the forms for
//! `trustctl secrets scan`.

pub mod broker;
pub mod config;
pub mod encodings;
pub mod exec_use;
pub mod fingerprints;
pub mod scrubber;
pub mod sealing_key;
pub mod store;

#[cfg(test)]
mod tests;

pub use broker::{ResolvedSecret, SecretBroker};
pub use config::SecretsConfig;
pub use scrubber::Scrubber;
pub use sealing_key::{KeySource, SealingKey};
pub use store::{SecretEntry, SecretStore};

use std::fmt;

use zeroize::Zeroizing;

/// Shortest accepted value, in bytes: shorter values (and their encodings) would match
/// ordinary text when output is scrubbed or a diff is scanned.
pub const MIN_VALUE_BYTES: usize = 8;
/// Longest accepted value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 << 10;

/// Why a secret operation failed. No variant ever carries a value.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum SecretError {
    #[error("secrets key: {0}")]
    Key(String),
    #[error("secret store: {0}")]
    Store(String),
    #[error("invalid secret: {0}")]
    Invalid(String),
    #[error("secret `{0}` is not in the store")]
    Unknown(String),
    #[error("secret `{0}` does not decrypt under the configured key (wrong key, or the record was altered)")]
    Undecryptable(String),
    #[error("no secrets key is configured (`secrets_key_file` or `secrets_key_env`)")]
    NotConfigured,
}

/// A secret value in memory: zeroed when dropped, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Checks and wraps a value: UTF-8 text without NUL, [`MIN_VALUE_BYTES`] to
    /// [`MAX_VALUE_BYTES`] long (values go into environment variables and headers).
    pub fn new(bytes: Vec<u8>) -> Result<Self, SecretError> {
        let value = SecretValue(Zeroizing::new(bytes));
        let len = value.0.len();
        if len < MIN_VALUE_BYTES {
            return Err(SecretError::Invalid(format!(
                "the value is {len} bytes; at least {MIN_VALUE_BYTES} are required (shorter values would match ordinary text)"
            )));
        }
        if len > MAX_VALUE_BYTES {
            return Err(SecretError::Invalid(format!(
                "the value is {len} bytes, more than the limit of {MAX_VALUE_BYTES}"
            )));
        }
        if std::str::from_utf8(&value.0).is_err() || value.0.contains(&0) {
            return Err(SecretError::Invalid(
                "the value must be UTF-8 text without NUL bytes".into(),
            ));
        }
        Ok(value)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The value as text ([`SecretValue::new`] checked it is UTF-8).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue([redacted; {} bytes])", self.0.len())
    }
}

/// The broker `config` asks for: off without a key source; otherwise the key is loaded (and
/// checked: a key file readable by its owner only, outside `data_dir`) and the store opened
/// under `data_dir/secrets`.
pub fn open_broker(
    config: &SecretsConfig,
    data_dir: &std::path::Path,
) -> Result<SecretBroker, SecretError> {
    let Some(source) = &config.key_source else {
        tracing::info!("no secrets key configured: the secrets broker is off");
        return Ok(SecretBroker::disabled());
    };
    let key = SealingKey::load(source, data_dir)?;
    Ok(SecretBroker::new(SecretStore::open(
        &data_dir.join("secrets"),
        key,
    )?))
}
