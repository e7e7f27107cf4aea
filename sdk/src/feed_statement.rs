//! Signed statements of the revocation feed: every entry and every heartbeat carries the
//! authority's signature, its instance epoch, its latest revocation sequence and its clock.
//!
//! With these an executor detects what an unauthenticated feed hides: entries withheld
//! (a heartbeat states a latest sequence the executor never received), a sequence that went
//! backwards (an authority restored from a backup), a different authority instance (epoch),
//! and anything altered or injected on the way (a signature that does not verify).
//!
//! Tool and skill registry changes travel as entries of the same feed (`registry`: the full
//! definition after the change), so they are sequenced, signed and checked for withholding,
//! regression and tampering exactly as revocations are.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::tools::CatalogChange;

/// Domain separation from every other signed message of the system.
const CONTEXT: &[u8] = b"trust.v1/revocation-feed\n";

/// What one feed message states; `sequence == 0` is a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedStatement {
    /// Chosen by the authority on the first start of its data dir.
    pub epoch: String,
    /// This entry's sequence (0 for a heartbeat).
    pub sequence: u64,
    /// The highest sequence the authority has recorded when it signed this.
    pub latest_sequence: u64,
    /// The authority's clock.
    pub time_ms: i64,
    /// Hex block id revoked by this entry (empty for a heartbeat).
    #[serde(default)]
    pub revocation_id: String,
    #[serde(default)]
    pub grant_id: String,
    /// A registry change (JSON of [`CatalogChange`]); absent on revocations and heartbeats, so
    /// their signed bodies are unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}

/// A statement as it travels: its JSON bytes, the root key id that signed them, the signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedFeedStatement {
    pub body: Vec<u8>,
    pub key_id: u32,
    pub signature: Vec<u8>,
}

/// Why a feed message was not believed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedStatementError {
    #[error("feed message is not signed")]
    Unsigned,
    #[error("feed message is signed by root key {0}, which is not trusted")]
    UnknownKey(u32),
    #[error("feed message signature does not verify (altered or forged)")]
    BadSignature,
    #[error("feed message is malformed: {0}")]
    Malformed(String),
}

fn message(body: &[u8]) -> Vec<u8> {
    let mut m = CONTEXT.to_vec();
    m.extend_from_slice(body);
    m
}

impl FeedStatement {
    pub fn is_heartbeat(&self) -> bool {
        self.sequence == 0
    }

    /// The registry change this entry carries, if any.
    pub fn catalog_change(&self) -> Result<Option<CatalogChange>, FeedStatementError> {
        self.registry
            .as_deref()
            .map(|text| {
                serde_json::from_str(text)
                    .map_err(|e| FeedStatementError::Malformed(format!("registry change: {e}")))
            })
            .transpose()
    }

    /// Signs the statement with root key `key_id`.
    pub fn sign(
        &self,
        key_id: u32,
        key: &SigningKey,
    ) -> Result<SignedFeedStatement, FeedStatementError> {
        let body =
            serde_json::to_vec(self).map_err(|e| FeedStatementError::Malformed(e.to_string()))?;
        let signature = key.sign(&message(&body)).to_bytes().to_vec();
        Ok(SignedFeedStatement {
            body,
            key_id,
            signature,
        })
    }
}

impl SignedFeedStatement {
    /// The statement, if root key `key_id` among `keys` (id, key) signed it.
    pub fn verify(
        &self,
        keys: &[(u32, VerifyingKey)],
    ) -> Result<FeedStatement, FeedStatementError> {
        if self.signature.is_empty() {
            return Err(FeedStatementError::Unsigned);
        }
        let key = keys
            .iter()
            .find(|(id, _)| *id == self.key_id)
            .map(|(_, k)| k)
            .ok_or(FeedStatementError::UnknownKey(self.key_id))?;
        let signature =
            Signature::from_slice(&self.signature).map_err(|_| FeedStatementError::BadSignature)?;
        key.verify(&message(&self.body), &signature)
            .map_err(|_| FeedStatementError::BadSignature)?;
        serde_json::from_slice(&self.body).map_err(|e| FeedStatementError::Malformed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn heartbeat() -> FeedStatement {
        FeedStatement {
            epoch: "e".into(),
            sequence: 0,
            latest_sequence: 7,
            time_ms: 1,
            revocation_id: String::new(),
            grant_id: String::new(),
            registry: None,
        }
    }

    #[test]
    fn a_statement_without_a_registry_change_keeps_its_old_body() {
        let body = String::from_utf8(serde_json::to_vec(&heartbeat()).unwrap()).unwrap();
        assert!(!body.contains("registry"), "{body}");
        let old = r#"{"epoch":"e","sequence":0,"latest_sequence":7,"time_ms":1,"revocation_id":"","grant_id":""}"#;
        assert_eq!(
            serde_json::from_str::<FeedStatement>(old).unwrap(),
            heartbeat()
        );
        assert_eq!(heartbeat().catalog_change(), Ok(None));
    }

    #[test]
    fn signed_statements_verify_and_altered_ones_do_not() {
        let key = crate::keys::generate();
        let keys = [(3, key.verifying_key())];
        let signed = heartbeat().sign(3, &key).unwrap();
        assert_eq!(signed.verify(&keys).unwrap(), heartbeat());
        let mut altered = signed.clone();
        altered.body = serde_json::to_vec(&FeedStatement {
            latest_sequence: 2,
            ..heartbeat()
        })
        .unwrap();
        assert_eq!(altered.verify(&keys), Err(FeedStatementError::BadSignature));
        let stranger = crate::keys::generate().verifying_key();
        assert_eq!(
            signed.verify(&[(3, stranger)]),
            Err(FeedStatementError::BadSignature)
        );
        assert_eq!(
            signed.verify(&[(4, key.verifying_key())]),
            Err(FeedStatementError::UnknownKey(3))
        );
        let unsigned = SignedFeedStatement {
            signature: vec![],
            ..signed
        };
        assert_eq!(unsigned.verify(&keys), Err(FeedStatementError::Unsigned));
    }
}
