//! Root signing keys on disk: generated on first start, 0600, rotated by id.
//!
//! Layout under `<data_dir>/keys/`: `root-<id>.key` (hex secret, mode 0600) and
//! `keyring.json` (`{"active": id, "retired": [ids], "version": n, "changed_at_ms": t}`),
//! replaced atomically. A new key signs after rotation; older keys still verify (by the root
//! key id every token carries) until they are retired. Every change raises the version of
//! the published key set, which every key that still verifies signs (`signed_key_set`), so an
//! executor that pinned the previous key accepts the rotation. `key-set.json` beside them is
//! the current signed set, for operators to pin (it holds public keys only).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;

use biscuit_auth::KeyPair;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use trust_sdk::feed_statement::{FeedStatement, SignedFeedStatement};
use trust_sdk::key_set::{KeySet, KeySetEntry, SignedKeySet};

use crate::error::{AuthorityError, InternalError};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
struct KeyringFile {
    active: u32,
    #[serde(default)]
    retired: Vec<u32>,
    /// Version of the published key set; grows with every rotation and retirement.
    #[serde(default = "first_version")]
    version: u64,
    #[serde(default)]
    changed_at_ms: i64,
}

fn first_version() -> u64 {
    1
}

struct RootKey {
    id: u32,
    signing: SigningKey,
}

/// The authority's root keys.
pub struct Keyring {
    dir: PathBuf,
    state: RwLock<(KeyringFile, Vec<RootKey>)>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path, e: std::io::Error) -> AuthorityError {
    AuthorityError::Config(format!("key store `{}`: {e}", path.display()))
}

impl Keyring {
    /// Opens `<data_dir>/keys`, generating key 1 on first start.
    pub fn open(data_dir: &Path) -> Result<Self, AuthorityError> {
        let dir = data_dir.join("keys");
        std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io(&dir, e))?;
        let meta_path = dir.join("keyring.json");
        let file = if meta_path.exists() {
            let text = std::fs::read_to_string(&meta_path).map_err(|e| io(&meta_path, e))?;
            serde_json::from_str::<KeyringFile>(&text).map_err(|e| {
                AuthorityError::Config(format!("`{}` is corrupt: {e}", meta_path.display()))
            })?
        } else {
            let key = trust_sdk::keys::generate();
            write_secret(&dir, 1, &key)?;
            let file = KeyringFile {
                active: 1,
                retired: vec![],
                version: 1,
                changed_at_ms: trust_sdk::clock::now_ms(),
            };
            write_meta(&dir, &file)?;
            file
        };
        let mut keys = Vec::new();
        for entry in std::fs::read_dir(&dir).map_err(|e| io(&dir, e))? {
            let entry = entry.map_err(|e| io(&dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            let Some(id) = name
                .strip_prefix("root-")
                .and_then(|n| n.strip_suffix(".key"))
            else {
                continue;
            };
            let id: u32 = id
                .parse()
                .map_err(|_| AuthorityError::Config(format!("unexpected key file `{name}`")))?;
            let mode = entry
                .metadata()
                .map_err(|e| io(&entry.path(), e))?
                .permissions()
                .mode()
                & 0o777;
            if mode & 0o077 != 0 {
                return Err(AuthorityError::Config(format!(
                    "root key `{name}` is readable by others (mode {mode:o}); expected 0600"
                )));
            }
            let signing = trust_sdk::keys::load(&entry.path())
                .map_err(|e| AuthorityError::Config(e.to_string()))?;
            keys.push(RootKey { id, signing });
        }
        keys.sort_by_key(|k| k.id);
        if !keys.iter().any(|k| k.id == file.active) {
            return Err(AuthorityError::Config(format!(
                "active root key {} is missing from `{}`",
                file.active,
                dir.display()
            )));
        }
        let ring = Self {
            dir,
            state: RwLock::new((file, keys)),
        };
        ring.publish_key_set()?;
        Ok(ring)
    }

    /// The published key set, signed by every key that still verifies.
    pub fn signed_key_set(&self) -> Result<SignedKeySet, AuthorityError> {
        let state = self
            .state
            .read()
            .map_err(|_| InternalError::Poisoned("keyring"))?;
        let (file, keys) = &*state;
        let live: Vec<&RootKey> = keys
            .iter()
            .filter(|k| !file.retired.contains(&k.id))
            .collect();
        let set = KeySet {
            version: file.version,
            issued_at_ms: file.changed_at_ms,
            keys: live
                .iter()
                .map(|k| KeySetEntry {
                    id: k.id,
                    public_key: hex::encode(k.signing.verifying_key().as_bytes()),
                    active: k.id == file.active,
                })
                .collect(),
        };
        let signers: Vec<&SigningKey> = live.iter().map(|k| &k.signing).collect();
        set.sign(&signers).map_err(|e| {
            InternalError::Serialize {
                what: "key set",
                detail: e.to_string(),
            }
            .into()
        })
    }

    /// Signs a revocation-feed statement with the active key.
    pub fn sign_feed(
        &self,
        statement: &FeedStatement,
    ) -> Result<SignedFeedStatement, AuthorityError> {
        let state = self
            .state
            .read()
            .map_err(|_| InternalError::Poisoned("keyring"))?;
        let (file, keys) = &*state;
        let key = keys
            .iter()
            .find(|k| k.id == file.active)
            .ok_or(InternalError::Invariant("the active key vanished"))?;
        statement.sign(key.id, &key.signing).map_err(|e| {
            InternalError::Serialize {
                what: "feed statement",
                detail: e.to_string(),
            }
            .into()
        })
    }

    /// Writes `key-set.json` (public keys only) for operators to pin.
    fn publish_key_set(&self) -> Result<(), AuthorityError> {
        let set = self.signed_key_set()?;
        let text = serde_json::to_vec_pretty(&set).map_err(|e| InternalError::Serialize {
            what: "key set",
            detail: e.to_string(),
        })?;
        let path = self.dir.join("key-set.json");
        let tmp = self.dir.join("key-set.json.tmp");
        std::fs::write(&tmp, text).map_err(|e| io(&tmp, e))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
        sync_dir(&self.dir)
    }

    /// The key that signs new grants, as (id, Biscuit key pair).
    pub fn active(&self) -> Result<(u32, KeyPair), AuthorityError> {
        let state = self
            .state
            .read()
            .map_err(|_| InternalError::Poisoned("keyring"))?;
        let (file, keys) = &*state;
        let key = keys
            .iter()
            .find(|k| k.id == file.active)
            .ok_or(InternalError::Invariant("the active key vanished"))?;
        let private = trust_sdk::keys::to_biscuit_private(&key.signing)?;
        Ok((key.id, KeyPair::from(&private)))
    }

    /// Keys that still verify: (id, public key, active).
    pub fn public_keys(&self) -> Vec<(u32, VerifyingKey, bool)> {
        let Ok(state) = self.state.read() else {
            return Vec::new();
        };
        let (file, keys) = &*state;
        keys.iter()
            .filter(|k| !file.retired.contains(&k.id))
            .map(|k| (k.id, k.signing.verifying_key(), k.id == file.active))
            .collect()
    }

    /// Generates a new active key; the previous keys keep verifying.
    pub fn rotate(&self) -> Result<u32, AuthorityError> {
        let mut state = self
            .state
            .write()
            .map_err(|_| InternalError::Poisoned("keyring"))?;
        let (file, keys) = &mut *state;
        let id = keys.iter().map(|k| k.id).max().unwrap_or(0) + 1;
        let key = trust_sdk::keys::generate();
        write_secret(&self.dir, id, &key)?;
        let next = KeyringFile {
            active: id,
            retired: file.retired.clone(),
            version: file.version + 1,
            changed_at_ms: trust_sdk::clock::now_ms(),
        };
        write_meta(&self.dir, &next)?;
        *file = next;
        keys.push(RootKey { id, signing: key });
        drop(state);
        self.publish_key_set()?;
        Ok(id)
    }

    /// Stops `id` from verifying anything (it may not be the active key).
    pub fn retire(&self, id: u32) -> Result<(), AuthorityError> {
        let mut state = self
            .state
            .write()
            .map_err(|_| InternalError::Poisoned("keyring"))?;
        let (file, _) = &mut *state;
        if file.active == id {
            return Err(AuthorityError::InvalidArgument(
                "cannot retire the active key; rotate first".into(),
            ));
        }
        let mut next = file.clone();
        if !next.retired.contains(&id) {
            next.retired.push(id);
            next.version += 1;
            next.changed_at_ms = trust_sdk::clock::now_ms();
        }
        write_meta(&self.dir, &next)?;
        *file = next;
        drop(state);
        self.publish_key_set()
    }
}

fn write_secret(dir: &Path, id: u32, key: &SigningKey) -> Result<(), AuthorityError> {
    let path = dir.join(format!("root-{id}.key"));
    trust_sdk::keys::save(key, &path).map_err(|e| AuthorityError::Config(e.to_string()))?;
    sync_dir(dir)
}

fn write_meta(dir: &Path, file: &KeyringFile) -> Result<(), AuthorityError> {
    let path = dir.join("keyring.json");
    let tmp = dir.join("keyring.json.tmp");
    let text = serde_json::to_vec_pretty(file).map_err(|e| InternalError::Serialize {
        what: "keyring",
        detail: e.to_string(),
    })?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io(&tmp, e))?;
    f.write_all(&text)
        .and_then(|()| f.sync_all())
        .map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, &path).map_err(|e| io(&path, e))?;
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> Result<(), AuthorityError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_rotates_and_retires() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path()).unwrap();
        let (id, first) = ring.active().unwrap();
        assert_eq!(id, 1);
        let mode = std::fs::metadata(dir.path().join("keys/root-1.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(ring.rotate().unwrap(), 2);
        let reopened = Keyring::open(dir.path()).unwrap();
        let (id, second) = reopened.active().unwrap();
        assert_eq!(id, 2);
        assert_ne!(first.public().to_bytes(), second.public().to_bytes());
        assert_eq!(reopened.public_keys().len(), 2);
        assert!(reopened.retire(2).is_err());
        reopened.retire(1).unwrap();
        assert_eq!(Keyring::open(dir.path()).unwrap().public_keys().len(), 1);
    }

    #[test]
    fn the_previous_key_vouches_for_a_rotation_and_versions_grow() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open(dir.path()).unwrap();
        let first = ring.signed_key_set().unwrap();
        let pinned = first.unverified().unwrap().root_keys().unwrap()[0].1;
        let held = first.verify(&[pinned], None).unwrap();
        assert_eq!(held.version, 1);
        ring.rotate().unwrap();
        let second = ring.signed_key_set().unwrap();
        let held = second.verify(&[pinned], Some(&held)).unwrap();
        assert_eq!((held.version, held.keys.len()), (2, 2));
        assert!(first.verify(&[pinned], Some(&held)).is_err());
        let file: SignedKeySet =
            serde_json::from_slice(&std::fs::read(dir.path().join("keys/key-set.json")).unwrap())
                .unwrap();
        assert_eq!(file, second);
        ring.retire(1).unwrap();
        let third = ring.signed_key_set().unwrap().unverified().unwrap();
        assert_eq!((third.version, third.keys.len()), (3, 1));
    }

    #[test]
    fn refuses_world_readable_keys() {
        let dir = tempfile::tempdir().unwrap();
        drop(Keyring::open(dir.path()).unwrap());
        let path = dir.path().join("keys/root-1.key");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("readable by others"), "{err}");
    }
}
