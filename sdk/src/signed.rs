//! Signed request bodies: how agents and operators authenticate to a service.
//!
//! The signer signs `"trust.v1/" + rpc + "\n" + body`, where `body` is the protobuf
//! encoding of the RPC's body message. The server verifies the signature over the bytes
//! it received and only then decodes them, so there is no canonical form to disagree on.
//! Every body embeds [`Freshness`] (timestamp and a random nonce): servers refuse a body
//! outside their clock window and remember nonces for the window to refuse replays.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use prost::Message;
use rand::RngCore;
use trust_proto::common::v1::{Freshness, SignedRequest};

use crate::error::SdkError;
use crate::once_cache::{OnceCache, OnceError};

/// Domain-separated bytes that a request signature covers.
pub fn signing_input(rpc: &str, body: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(body.len() + rpc.len() + 10);
    input.extend_from_slice(b"trust.v1/");
    input.extend_from_slice(rpc.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(body);
    input
}

/// A fresh timestamp + 16-byte random nonce.
pub fn freshness(now_ms: i64) -> Freshness {
    let mut nonce = vec![0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    Freshness {
        timestamp_ms: now_ms,
        nonce,
    }
}

/// Encodes and signs `body` for `rpc` as `signer_id`.
pub fn sign<M: Message>(rpc: &str, body: &M, signer_id: &str, key: &SigningKey) -> SignedRequest {
    let body = body.encode_to_vec();
    let signature = key.sign(&signing_input(rpc, &body));
    SignedRequest {
        body,
        signer_id: signer_id.to_string(),
        signature: signature.to_bytes().to_vec(),
    }
}

/// Verifies the signature of `request` for `rpc` against `key`, then decodes the body.
pub fn verify<M: Message + Default>(
    rpc: &str,
    request: &SignedRequest,
    key: &VerifyingKey,
) -> Result<M, SdkError> {
    let signature = Signature::from_slice(&request.signature)
        .map_err(|_| SdkError::BadSignature("signature must be 64 bytes".into()))?;
    key.verify(&signing_input(rpc, &request.body), &signature)
        .map_err(|_| {
            SdkError::BadSignature(format!(
                "signature by `{}` does not verify",
                request.signer_id
            ))
        })?;
    M::decode(request.body.as_slice())
        .map_err(|e| SdkError::InvalidRequest(format!("body does not decode: {e}")))
}

/// Refuses stale, future-dated and replayed request bodies.
///
/// Nonces are remembered for twice the clock window, which is as long as a body with
/// that nonce could still pass the timestamp check. Each signer has its own cache with its
/// own quota of live nonces, so one signer flooding requests fills only its own quota: the
/// others (an admin revoking, an approver deciding) are never refused for lack of room.
/// Signers are authenticated before they reach this guard, so the number of caches is
/// bounded by the number of principals; an emptied cache is dropped at the next prune.
#[derive(Debug)]
pub struct ReplayGuard {
    window: Duration,
    /// Bodies signed before this instant are refused: the in-memory nonce cache of a
    /// restarted server cannot know them, so they could otherwise be replayed.
    not_before_ms: i64,
    quota_per_signer: usize,
    seen: Mutex<SignerCaches>,
}

#[derive(Debug, Default)]
struct SignerCaches {
    by_signer: HashMap<String, OnceCache<Vec<u8>>>,
    next_prune_ms: i64,
}

impl ReplayGuard {
    /// A guard with a clock `window` that remembers at most `quota_per_signer` live nonces
    /// of each signer.
    pub fn new(window: Duration, quota_per_signer: usize) -> Self {
        Self {
            window,
            not_before_ms: i64::MIN,
            quota_per_signer,
            seen: Mutex::new(SignerCaches::default()),
        }
    }

    /// Refuses bodies timestamped before `started_ms` (the server's start).
    pub fn not_before(mut self, started_ms: i64) -> Self {
        self.not_before_ms = started_ms;
        self
    }

    /// Accepts `freshness` from `signer` at `now_ms` exactly once.
    pub fn admit(
        &self,
        signer: &str,
        freshness: Option<&Freshness>,
        now_ms: i64,
    ) -> Result<(), SdkError> {
        let freshness = freshness
            .ok_or_else(|| SdkError::Stale("body carries no timestamp and nonce".into()))?;
        if freshness.nonce.len() < 16 || freshness.nonce.len() > 64 {
            return Err(SdkError::InvalidRequest(
                "nonce must be 16 to 64 bytes".into(),
            ));
        }
        let window_ms = i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX);
        let skew = (now_ms - freshness.timestamp_ms).abs();
        if skew > window_ms {
            return Err(SdkError::Stale(format!(
                "timestamp is {skew} ms away from the server clock (window {window_ms} ms)"
            )));
        }
        if freshness.timestamp_ms < self.not_before_ms {
            return Err(SdkError::Stale(
                "signed before this server started; sign it again".into(),
            ));
        }
        let mut seen = self
            .seen
            .lock()
            .map_err(|_| SdkError::Stale("replay cache poisoned".into()))?;
        // Swept every tenth of the window: memory tracks the request rate, not uptime.
        let sweep_every_ms = (window_ms / 10).max(1);
        if now_ms >= seen.next_prune_ms {
            seen.by_signer.retain(|_, cache| {
                cache.sweep(now_ms);
                !cache.is_empty()
            });
            seen.next_prune_ms = now_ms.saturating_add(window_ms.max(1));
        }
        let quota = self.quota_per_signer;
        let cache = seen
            .by_signer
            .entry(signer.to_string())
            .or_insert_with(|| OnceCache::new(quota, sweep_every_ms));
        let expires_ms = freshness.timestamp_ms.saturating_add(window_ms);
        cache
            .insert_once(freshness.nonce.clone(), expires_ms, now_ms)
            .map_err(|e| match e {
                OnceError::Replayed => SdkError::Stale("nonce was already used (replay)".into()),
                OnceError::Full => SdkError::Stale(format!(
                    "replay cache of `{signer}` is full ({quota} requests within the clock window); retry shortly"
                )),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;

    #[test]
    fn signature_covers_rpc_name_and_body() {
        let key = keys::generate();
        let body = freshness(1_000);
        let req = sign("RequestGrant", &body, "agent-1", &key);
        let decoded: Freshness = verify("RequestGrant", &req, &key.verifying_key()).unwrap();
        assert_eq!(decoded, body);
        assert!(verify::<Freshness>("RevokeGrant", &req, &key.verifying_key()).is_err());
        let other = keys::generate();
        assert!(verify::<Freshness>("RequestGrant", &req, &other.verifying_key()).is_err());
        let mut tampered = req.clone();
        tampered.body[0] ^= 1;
        assert!(verify::<Freshness>("RequestGrant", &tampered, &key.verifying_key()).is_err());
    }

    #[test]
    fn replay_guard_refuses_stale_and_repeated_nonces() {
        let guard = ReplayGuard::new(Duration::from_secs(30), 100);
        let f = freshness(100_000);
        guard.admit("a", Some(&f), 100_500).unwrap();
        assert!(matches!(
            guard.admit("a", Some(&f), 100_600),
            Err(SdkError::Stale(_))
        ));
        let old = freshness(0);
        assert!(matches!(
            guard.admit("a", Some(&old), 100_000),
            Err(SdkError::Stale(_))
        ));
        let future = freshness(200_000);
        assert!(matches!(
            guard.admit("a", Some(&future), 100_000),
            Err(SdkError::Stale(_))
        ));
        assert!(guard.admit("a", None, 100_000).is_err());
        let restarted = ReplayGuard::new(Duration::from_secs(30), 100).not_before(100_400);
        assert!(matches!(
            restarted.admit("a", Some(&f), 100_500),
            Err(SdkError::Stale(_))
        ));
    }

    #[test]
    fn one_signer_filling_its_quota_leaves_the_others_room() {
        let guard = ReplayGuard::new(Duration::from_secs(30), 3);
        for _ in 0..3 {
            guard
                .admit("flooder", Some(&freshness(100_000)), 100_000)
                .unwrap();
        }
        let err = guard
            .admit("flooder", Some(&freshness(100_000)), 100_001)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("replay cache of `flooder` is full"),
            "{err}"
        );
        // Another signer still has its whole quota.
        for _ in 0..3 {
            guard
                .admit("admin:ops", Some(&freshness(100_000)), 100_002)
                .unwrap();
        }
        // Once the flood's window has passed, the flooder has room again.
        guard
            .admit("flooder", Some(&freshness(130_002)), 130_002)
            .unwrap();
    }
}
