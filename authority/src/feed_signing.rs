//! Signs what the revocation feed says: each entry and each heartbeat states the authority's
//! epoch, its latest sequence and its clock under the active root key.
//!
//! The epoch is chosen at the first start of a data dir (`<data_dir>/epoch`) and travels with
//! it: an authority restored from a backup keeps its epoch and its older, lower sequence, so an
//! executor whose cursor is ahead sees the sequence go backwards; a fresh data dir has another
//! epoch.

use std::path::Path;
use std::sync::Arc;

use trust_sdk::feed_statement::{FeedStatement, SignedFeedStatement};

use crate::error::AuthorityError;
use crate::keyring::Keyring;
use crate::registry::RevocationEntry;

/// The feed's signer: the keyring and this data dir's epoch.
#[derive(Debug)]
pub struct FeedSigner {
    keyring: Arc<Keyring>,
    epoch: String,
}

/// Reads `<data_dir>/epoch`, creating it on first start.
fn epoch(data_dir: &Path) -> Result<String, AuthorityError> {
    let path = data_dir.join("epoch");
    let config = |e: std::io::Error| AuthorityError::Config(format!("`{}`: {e}", path.display()));
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => Ok(text.trim().to_string()),
        Ok(_) => Err(AuthorityError::Config(format!(
            "`{}` is empty",
            path.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let epoch = uuid::Uuid::now_v7().to_string();
            let tmp = data_dir.join("epoch.tmp");
            std::fs::write(&tmp, &epoch).map_err(config)?;
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .map_err(config)?;
            std::fs::rename(&tmp, &path).map_err(config)?;
            Ok(epoch)
        }
        Err(e) => Err(config(e)),
    }
}

impl FeedSigner {
    pub fn open(data_dir: &Path, keyring: Arc<Keyring>) -> Result<Self, AuthorityError> {
        Ok(Self {
            keyring,
            epoch: epoch(data_dir)?,
        })
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// A heartbeat: "everything up to `latest_sequence` was recorded (and sent) by `now_ms`".
    pub fn heartbeat(
        &self,
        latest_sequence: u64,
        now_ms: i64,
    ) -> Result<SignedFeedStatement, AuthorityError> {
        self.keyring.sign_feed(&FeedStatement {
            epoch: self.epoch.clone(),
            sequence: 0,
            latest_sequence,
            time_ms: now_ms,
            revocation_id: String::new(),
            grant_id: String::new(),
            registry: None,
        })
    }

    /// One entry of the feed.
    pub fn entry(
        &self,
        entry: &RevocationEntry,
        latest_sequence: u64,
        now_ms: i64,
    ) -> Result<SignedFeedStatement, AuthorityError> {
        self.keyring.sign_feed(&FeedStatement {
            epoch: self.epoch.clone(),
            sequence: entry.sequence,
            latest_sequence: latest_sequence.max(entry.sequence),
            time_ms: now_ms,
            revocation_id: entry.revocation_id.clone(),
            grant_id: entry.grant_id.clone(),
            registry: entry.registry.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_epoch_is_kept_by_the_data_dir() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Arc::new(Keyring::open(dir.path()).unwrap());
        let first = FeedSigner::open(dir.path(), Arc::clone(&ring)).unwrap();
        let again = FeedSigner::open(dir.path(), Arc::clone(&ring)).unwrap();
        assert_eq!(first.epoch(), again.epoch());
        let other = tempfile::tempdir().unwrap();
        let elsewhere = FeedSigner::open(other.path(), ring).unwrap();
        assert_ne!(first.epoch(), elsewhere.epoch());
    }
}
