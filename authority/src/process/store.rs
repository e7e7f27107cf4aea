//! Durable process instances on sled (`<data_dir>/processes`): each write is one transaction
//! over the instances and their business keys, flushed before it returns.

use std::path::Path;
use std::time::{Duration, Instant};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::instance::ProcessInstance;
use crate::error::{AuthorityError, InternalError};

/// How long opening waits for the file lock of a store a previous process still holds.
const OPEN_LOCK_WAIT: Duration = Duration::from_secs(10);

/// The instances, by id, and the instance of each (workspace, process, business key).
pub struct InstanceStore {
    db: sled::Db,
    instances: sled::Tree,
    business_keys: sled::Tree,
}

fn business_key(workspace: &str, process: &str, key: &str) -> Vec<u8> {
    [workspace, process, key].join("\0").into_bytes()
}

fn encode(instance: &ProcessInstance) -> Result<Vec<u8>, AuthorityError> {
    serde_json::to_vec(instance).map_err(|e| {
        InternalError::Serialize {
            what: "process instance",
            detail: e.to_string(),
        }
        .into()
    })
}

fn decode(bytes: &[u8]) -> Result<ProcessInstance, AuthorityError> {
    serde_json::from_slice(bytes)
        .map_err(|e| AuthorityError::Storage(format!("stored process instance is corrupt: {e}")))
}

impl InstanceStore {
    /// Opens (creating) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, AuthorityError> {
        trust_sdk::store_files::remove_unfinished_snapshots(dir)
            .map_err(|(path, e)| AuthorityError::Config(format!("{}: {e}", path.display())))?;
        let deadline = Instant::now() + OPEN_LOCK_WAIT;
        let db = loop {
            match sled::Config::new().path(dir).open() {
                Ok(db) => break db,
                Err(sled::Error::Io(e))
                    if Instant::now() < deadline
                        && e.to_string().contains("could not acquire lock") =>
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(AuthorityError::Config(format!(
                        "cannot open process store `{}`: {e}",
                        dir.display()
                    )))
                }
            }
        };
        Ok(Self {
            instances: db.open_tree("instances")?,
            business_keys: db.open_tree("business_keys")?,
            db,
        })
    }

    /// The instance `instance_id`, if any.
    pub fn get(&self, instance_id: &str) -> Result<Option<ProcessInstance>, AuthorityError> {
        self.instances
            .get(instance_id.as_bytes())?
            .map(|bytes| decode(&bytes))
            .transpose()
    }

    /// Stores a new instance; `AlreadyExists` when its business key already has one.
    pub fn insert_new(&self, instance: &ProcessInstance) -> Result<(), AuthorityError> {
        let value = encode(instance)?;
        let key = business_key(
            &instance.workspace,
            &instance.process,
            &instance.business_key,
        );
        let result = (&self.instances, &self.business_keys).transaction(|(instances, keys)| {
            if let Some(existing) = keys.get(&key)? {
                let existing = String::from_utf8_lossy(&existing).into_owned();
                return Err(ConflictableTransactionError::Abort(
                    AuthorityError::AlreadyExists(format!(
                        "process `{}` already has instance `{existing}` for business key `{}`",
                        instance.process, instance.business_key
                    )),
                ));
            }
            keys.insert(key.as_slice(), instance.instance_id.as_bytes())?;
            instances.insert(instance.instance_id.as_bytes(), value.as_slice())?;
            Ok(())
        });
        match result {
            Ok(()) => {}
            Err(TransactionError::Abort(e)) => return Err(e),
            Err(TransactionError::Storage(e)) => return Err(e.into()),
        }
        self.db.flush()?;
        Ok(())
    }

    /// Replaces an existing instance's state; durable on return.
    pub fn update(&self, instance: &ProcessInstance) -> Result<(), AuthorityError> {
        self.instances
            .insert(instance.instance_id.as_bytes(), encode(instance)?)?;
        self.db.flush()?;
        Ok(())
    }

    /// Every instance (a full scan).
    pub fn instances(&self) -> Result<Vec<ProcessInstance>, AuthorityError> {
        self.instances.iter().map(|item| decode(&item?.1)).collect()
    }
}
