//! The grant issuer: signs a grant with the active root key and describes it for the
//! registry, the same way for `RequestGrant` and for a fully approved approval.

use std::sync::{Arc, RwLock};

use biscuit_auth::KeyPair;
use ed25519_dalek::VerifyingKey;
use trust_sdk::clock::millis;

use crate::error::AuthorityError;
use crate::keyring::Keyring;
use crate::minting::{self, Approved, MintContext};
use crate::policy::GrantEnvelope;
use crate::registry::GrantEntry;
use crate::request::GrantRequest;

/// Signs grants with the keyring's active key.
pub struct GrantIssuer {
    keyring: Arc<Keyring>,
    /// The active root key as a Biscuit key pair, converted once per key rather than per
    /// grant: `Keyring::active` rebuilds the pair from the secret key, which derives the
    /// public key (a scalar multiplication, about as costly as a signature) on every call.
    active: RwLock<Option<CachedKey>>,
}

struct CachedKey {
    id: u32,
    public: Vec<u8>,
    pair: Arc<KeyPair>,
}

/// What one grant is issued for.
pub struct Issue<'a> {
    pub request: &'a GrantRequest,
    pub envelope: &'a GrantEnvelope,
    pub holder: VerifyingKey,
    pub correlation_id: &'a str,
    /// The decision-log entry the grant is recorded with.
    pub decision_id: &'a str,
    /// For an approved request: the approvers (in order), the parameter digest they approved
    /// and the uses the grant is good for.
    pub approved: Option<Approved<'a>>,
}

/// A signed grant and its registry entry (not yet recorded).
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: Vec<u8>,
    pub entry: GrantEntry,
}

impl GrantIssuer {
    pub fn new(keyring: Arc<Keyring>) -> Self {
        Self {
            keyring,
            active: RwLock::new(None),
        }
    }

    /// Mints a grant under a fresh grant id and builds its registry entry.
    pub fn issue(&self, issue: &Issue<'_>) -> Result<Issued, AuthorityError> {
        let grant_id = uuid::Uuid::now_v7().to_string();
        let (key_id, key) = self.active_key()?;
        let context = MintContext {
            grant_id: grant_id.clone(),
            correlation_id: issue.correlation_id.to_string(),
            holder: issue.holder,
        };
        let minted = match issue.approved {
            None => minting::mint(issue.request, issue.envelope, &context, key_id, &key)?,
            Some(approved) => minting::mint_approved(
                issue.request,
                issue.envelope,
                &context,
                key_id,
                &key,
                &approved,
            )?,
        };
        let entry = GrantEntry {
            grant_id,
            parent_grant_id: None,
            agent: issue.request.agent_id.clone(),
            user: issue.request.user.clone(),
            workspace: issue.envelope.workspace.clone(),
            task: issue.request.task.clone(),
            correlation_id: context.correlation_id,
            decision_id: issue.decision_id.to_string(),
            issued_at_ms: millis(issue.envelope.issued_at),
            expires_at_ms: millis(issue.envelope.expires_at),
            root_key_id: key_id,
            revocation_ids: minted.revocation_ids,
            revoked: false,
            skill: issue
                .envelope
                .skill_pins
                .as_ref()
                .map(|pins| (pins.skill_id.clone(), pins.skill_version)),
        };
        Ok(Issued {
            token: minted.token,
            entry,
        })
    }

    /// The active root key `(id, pair)`. The cached pair is used only while the keyring still
    /// names the same id and public key as active (a rotation, from any caller, shows at once).
    fn active_key(&self) -> Result<(u32, Arc<KeyPair>), AuthorityError> {
        let active = self
            .keyring
            .public_keys()
            .into_iter()
            .find_map(|(id, key, active)| active.then(|| (id, key.to_bytes())));
        if let Some((id, public)) = active {
            if let Ok(cache) = self.active.read() {
                if let Some(c) = cache.as_ref().filter(|c| c.id == id && c.public == public) {
                    return Ok((c.id, Arc::clone(&c.pair)));
                }
            }
        }
        let (id, pair) = self.keyring.active()?;
        let pair = Arc::new(pair);
        if let Ok(mut cache) = self.active.write() {
            *cache = Some(CachedKey {
                id,
                public: pair.public().to_bytes(),
                pair: Arc::clone(&pair),
            });
        }
        Ok((id, pair))
    }
}
