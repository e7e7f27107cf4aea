//! The authority's signed root key set, and the one check that decides whether a holder of
//! trusted keys accepts a new one.
//!
//! The authority publishes `{version, issued_at_ms, keys}` signed by every key that still
//! verifies, so after a rotation the previous key vouches for the new one and a holder that
//! pinned only the old key accepts the new set. A set is accepted only when a key the holder
//! already trusts signed it and its version is not lower than the one held (an older set
//! replayed is refused); a different set under the version held is refused too.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

/// Domain separation: no other signed message of the system starts with these bytes.
const CONTEXT: &[u8] = b"trust.v1/key-set\n";

/// One root key of the set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySetEntry {
    pub id: u32,
    /// Hex ed25519 public key.
    pub public_key: String,
    /// The key that signs new grants (exactly one is active).
    pub active: bool,
}

/// What the authority states about its root keys at one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySet {
    /// Grows with every rotation or retirement.
    pub version: u64,
    pub issued_at_ms: i64,
    /// Keys that verify grants; retired keys are absent.
    pub keys: Vec<KeySetEntry>,
}

/// One signature over a key set's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySetSignature {
    /// Hex public key of the signer.
    pub public_key: String,
    /// Hex ed25519 signature over the context and the body.
    pub signature: String,
}

/// A key set as published: its body (JSON text, signed byte for byte) and signatures.
/// This is also the format of a key-set file an operator pins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedKeySet {
    pub body: String,
    pub signatures: Vec<KeySetSignature>,
}

/// Why a key set was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("key set is malformed: {0}")]
    Malformed(String),
    #[error("key set is not signed by any trusted root key (signed by {signers})")]
    Untrusted { signers: String },
    #[error("key set version {offered} is older than the version {held} already accepted (an old key set replayed)")]
    Older { offered: u64, held: u64 },
    #[error(
        "key set version {version} differs from the one already accepted under the same version"
    )]
    Conflicting { version: u64 },
}

fn message(body: &str) -> Vec<u8> {
    let mut m = CONTEXT.to_vec();
    m.extend_from_slice(body.as_bytes());
    m
}

impl KeySet {
    /// The keys as (id, key, active); fails on a key that does not decode.
    pub fn root_keys(&self) -> Result<Vec<(u32, VerifyingKey, bool)>, KeySetError> {
        self.keys
            .iter()
            .map(|k| {
                crate::keys::verifying_key_from_hex(&k.public_key)
                    .map(|key| (k.id, key, k.active))
                    .map_err(|e| KeySetError::Malformed(format!("key {}: {e}", k.id)))
            })
            .collect()
    }

    /// Signs the set with each of `signers`.
    pub fn sign(&self, signers: &[&SigningKey]) -> Result<SignedKeySet, KeySetError> {
        let body =
            serde_json::to_string(self).map_err(|e| KeySetError::Malformed(e.to_string()))?;
        let m = message(&body);
        let signatures = signers
            .iter()
            .map(|s| KeySetSignature {
                public_key: hex::encode(s.verifying_key().as_bytes()),
                signature: hex::encode(s.sign(&m).to_bytes()),
            })
            .collect();
        Ok(SignedKeySet { body, signatures })
    }
}

impl SignedKeySet {
    /// The body, parsed without checking any signature (for display and for pinning files).
    pub fn unverified(&self) -> Result<KeySet, KeySetError> {
        let set: KeySet =
            serde_json::from_str(&self.body).map_err(|e| KeySetError::Malformed(e.to_string()))?;
        set.root_keys()?;
        if set.keys.iter().filter(|k| k.active).count() != 1 {
            return Err(KeySetError::Malformed(
                "exactly one key must be active".into(),
            ));
        }
        Ok(set)
    }

    /// Whether some signature is a valid one by a key in `trusted`.
    fn signed_by_any(&self, trusted: &[VerifyingKey]) -> bool {
        let m = message(&self.body);
        self.signatures.iter().any(|s| {
            let Ok(key) = crate::keys::verifying_key_from_hex(&s.public_key) else {
                return false;
            };
            let Ok(bytes) = hex::decode(&s.signature) else {
                return false;
            };
            let Ok(signature) = Signature::from_slice(&bytes) else {
                return false;
            };
            trusted.contains(&key) && key.verify(&m, &signature).is_ok()
        })
    }

    /// Accepts this set if a key in `trusted` signed it and it does not go back from `held`.
    /// An identical re-publication of the held set is accepted (nothing changes).
    pub fn verify(
        &self,
        trusted: &[VerifyingKey],
        held: Option<&KeySet>,
    ) -> Result<KeySet, KeySetError> {
        let set = self.unverified()?;
        if !self.signed_by_any(trusted) {
            let signers = self
                .signatures
                .iter()
                .map(|s| format!("`{}`", s.public_key))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(KeySetError::Untrusted {
                signers: if signers.is_empty() {
                    "nobody".into()
                } else {
                    signers
                },
            });
        }
        if let Some(held) = held {
            if set.version < held.version {
                return Err(KeySetError::Older {
                    offered: set.version,
                    held: held.version,
                });
            }
            if set.version == held.version && set != *held {
                return Err(KeySetError::Conflicting {
                    version: set.version,
                });
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests;
