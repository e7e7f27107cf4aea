//! Sealed secrets in the executor's sled store (its own database under the data directory):
//! name → version, times and the sealed value. Every write is flushed before it is
//! acknowledged. Nothing here returns a value except `SecretStore::open_value`, which only
//! the broker calls at exec time.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::sealing_key::SealingKey;
use super::{SecretError, SecretValue};
use trust_sdk::vocabulary::is_secret_name;

const SECRETS_TREE: &str = "secrets";

/// What `list` shows about a secret: never its value or a digest of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretEntry {
    pub name: String,
    pub version: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct StoredSecret {
    version: u64,
    created_ms: i64,
    updated_ms: i64,
    /// Nonce, ciphertext and tag ([`SealingKey::seal`]), hex.
    sealed: String,
}

/// The sealed secrets and the key that opens them.
pub struct SecretStore {
    tree: sled::Tree,
    // The database is kept open as long as the store is.
    _db: sled::Db,
    key: SealingKey,
}

fn storage(e: impl std::fmt::Display) -> SecretError {
    SecretError::Store(e.to_string())
}

fn check_name(name: &str) -> Result<(), SecretError> {
    if is_secret_name(name) {
        Ok(())
    } else {
        Err(SecretError::Invalid(format!(
            "name `{name}`: 1 to 128 bytes of letters, digits, `.`, `_` or `-`, starting with a letter or digit"
        )))
    }
}

impl SecretStore {
    /// Opens (or creates) the store in `dir` with `key`.
    pub fn open(dir: &Path, key: SealingKey) -> Result<Self, SecretError> {
        trust_sdk::store_files::create_private_dir(dir)
            .map_err(|e| SecretError::Store(format!("`{}`: {e}", dir.display())))?;
        let db = sled::open(dir).map_err(storage)?;
        let tree = db.open_tree(SECRETS_TREE).map_err(storage)?;
        Ok(SecretStore { tree, _db: db, key })
    }

    fn stored(&self, name: &str) -> Result<Option<StoredSecret>, SecretError> {
        match self.tree.get(name.as_bytes()).map_err(storage)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| SecretError::Store(format!("record of `{name}`: {e}"))),
        }
    }

    /// Stores `value` under `name` (a new version if it exists), durably; returns the version.
    pub fn put(&self, name: &str, value: &SecretValue, now_ms: i64) -> Result<u64, SecretError> {
        check_name(name)?;
        let previous = self.stored(name)?;
        let version = previous.as_ref().map_or(1, |p| p.version + 1);
        let sealed = self.key.seal(name, version, value.as_bytes())?;
        let record = StoredSecret {
            version,
            created_ms: previous.as_ref().map_or(now_ms, |p| p.created_ms),
            updated_ms: now_ms,
            sealed: hex::encode(sealed),
        };
        let bytes = serde_json::to_vec(&record).map_err(storage)?;
        self.tree.insert(name.as_bytes(), bytes).map_err(storage)?;
        self.tree.flush().map_err(storage)?;
        Ok(version)
    }

    /// Deletes `name`, durably; [`SecretError::Unknown`] if it is not stored.
    pub fn delete(&self, name: &str) -> Result<(), SecretError> {
        check_name(name)?;
        if self
            .tree
            .remove(name.as_bytes())
            .map_err(storage)?
            .is_none()
        {
            return Err(SecretError::Unknown(name.to_string()));
        }
        self.tree.flush().map_err(storage)?;
        Ok(())
    }

    /// Names, versions and times of every secret, by name.
    pub fn list(&self) -> Result<Vec<SecretEntry>, SecretError> {
        let mut out = Vec::new();
        for item in self.tree.iter() {
            let (key, bytes) = item.map_err(storage)?;
            let name = String::from_utf8_lossy(&key).into_owned();
            let record: StoredSecret = serde_json::from_slice(&bytes)
                .map_err(|e| SecretError::Store(format!("record of `{name}`: {e}")))?;
            out.push(SecretEntry {
                name,
                version: record.version,
                created_ms: record.created_ms,
                updated_ms: record.updated_ms,
            });
        }
        Ok(out)
    }

    /// The value of `name`, opened: for the broker's injection and the scrubber, never for a
    /// reply.
    pub(crate) fn open_value(&self, name: &str) -> Result<SecretValue, SecretError> {
        let record = self
            .stored(name)?
            .ok_or_else(|| SecretError::Unknown(name.to_string()))?;
        let sealed =
            hex::decode(&record.sealed).map_err(|_| SecretError::Undecryptable(name.into()))?;
        let opened = self.key.open(name, record.version, &sealed)?;
        SecretValue::new(opened.to_vec()).map_err(|_| SecretError::Undecryptable(name.into()))
    }

    /// Every stored value, opened (for the fingerprint export).
    pub(crate) fn open_all(&self) -> Result<Vec<(String, SecretValue)>, SecretError> {
        self.list()?
            .into_iter()
            .map(|e| self.open_value(&e.name).map(|v| (e.name, v)))
            .collect()
    }
}
