//! Per-request proof of possession of a grant's holder key.
//!
//! For each execution the holder signs
//! `"trust.executor.v1/Execute\n" || sha256(grant) || sha256(invocation)` with its key.
//! The invocation carries the operation and its parameters, a request id, a timestamp
//! and a random nonce, so a proof is bound to one token, one exact operation, and a few
//! seconds; the executor keeps a replay cache keyed by the signature. One ed25519
//! signature per request instead of a third-party Biscuit block: see ARCHITECTURE.md,
//! "Holder binding", for the measured reasoning.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::SdkError;

const DOMAIN: &[u8] = b"trust.executor.v1/Execute\n";

/// The bytes a holder proof signs.
pub fn proof_input(grant: &[u8], invocation: &[u8]) -> Vec<u8> {
    proof_input_for_digest(&Sha256::digest(grant).into(), invocation)
}

/// [`proof_input`] for a grant whose SHA-256 the caller already has.
fn proof_input_for_digest(grant_sha256: &[u8; 32], invocation: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(DOMAIN.len() + 64);
    input.extend_from_slice(DOMAIN);
    input.extend_from_slice(grant_sha256);
    input.extend_from_slice(&Sha256::digest(invocation));
    input
}

/// Signs a proof for `invocation` under `grant` with the holder's key.
pub fn prove(grant: &[u8], invocation: &[u8], holder: &SigningKey) -> Vec<u8> {
    holder
        .sign(&proof_input(grant, invocation))
        .to_bytes()
        .to_vec()
}

/// Verifies a proof made by [`prove`].
pub fn verify(
    grant: &[u8],
    invocation: &[u8],
    holder: &VerifyingKey,
    proof: &[u8],
) -> Result<(), SdkError> {
    verify_for_digest(&Sha256::digest(grant).into(), invocation, holder, proof)
}

/// [`verify`] for a grant whose SHA-256 the caller already computed (the executor keys its
/// verified-grant cache by it).
pub fn verify_for_digest(
    grant_sha256: &[u8; 32],
    invocation: &[u8],
    holder: &VerifyingKey,
    proof: &[u8],
) -> Result<(), SdkError> {
    let signature = Signature::from_slice(proof)
        .map_err(|_| SdkError::BadSignature("holder proof must be 64 bytes".into()))?;
    holder
        .verify_strict(
            &proof_input_for_digest(grant_sha256, invocation),
            &signature,
        )
        .map_err(|_| {
            SdkError::BadSignature(
                "holder proof does not verify for this grant and invocation".into(),
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    #[test]
    fn proof_binds_grant_invocation_and_key() {
        let holder = keys::generate();
        let proof = prove(b"grant", b"invocation", &holder);
        verify(b"grant", b"invocation", &holder.verifying_key(), &proof).unwrap();
        assert!(verify(b"grant2", b"invocation", &holder.verifying_key(), &proof).is_err());
        assert!(verify(b"grant", b"invocation2", &holder.verifying_key(), &proof).is_err());
        assert!(verify(
            b"grant",
            b"invocation",
            &keys::generate().verifying_key(),
            &proof
        )
        .is_err());
        assert!(verify(
            b"grant",
            b"invocation",
            &holder.verifying_key(),
            &proof[..10]
        )
        .is_err());
    }
}
