//! Every request decoding path of both services: the prost decode of each request message
//! tonic hands a handler, the `Invocation` inside an `ExecuteRequest`, and each signed body
//! through `trust_sdk::signed::verify`.
//!
//! The first input byte picks the message; the rest is its encoding. A message that decodes
//! re-encodes to bytes that decode to the same message; `signed::verify` over a body signed
//! with a known key decodes exactly what a direct decode does (and never panics on arbitrary
//! `SignedRequest`s).
#![no_main]

use std::sync::OnceLock;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use trust_proto::authority::v1 as apb;
use trust_proto::common::v1::SignedRequest;
use trust_proto::executor::v1 as epb;
use trust_sdk::signed::{signing_input, verify};

fn keys() -> &'static (SigningKey, VerifyingKey) {
    static KEYS: OnceLock<(SigningKey, VerifyingKey)> = OnceLock::new();
    KEYS.get_or_init(|| {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let public = key.verifying_key();
        (key, public)
    })
}

fn roundtrip<M: Message + Default + PartialEq + std::fmt::Debug>(bytes: &[u8]) {
    if let Ok(message) = M::decode(bytes) {
        let again =
            M::decode(message.encode_to_vec().as_slice()).expect("a decoded message re-decodes");
        assert_eq!(message, again);
    }
}

/// `bytes` as the body of a request to `rpc`, signed by the known key.
fn signed<M: Message + Default + PartialEq + std::fmt::Debug>(rpc: &str, bytes: &[u8]) {
    let (key, public) = keys();
    let request = SignedRequest {
        body: bytes.to_vec(),
        signer_id: "fuzz".into(),
        signature: key.sign(&signing_input(rpc, bytes)).to_bytes().to_vec(),
    };
    let verified: Option<M> = verify(rpc, &request, public).ok();
    assert_eq!(verified, M::decode(bytes).ok(), "{rpc}");
    roundtrip::<M>(bytes);
    // The same body under another rpc name must not verify.
    assert!(verify::<M>("Other", &request, public).is_err());
}

/// An arbitrary `SignedRequest` against several body types: an answer, never a panic (a seed
/// may be validly signed by the known key, so it can verify).
fn arbitrary_signed(bytes: &[u8]) {
    let Ok(request) = SignedRequest::decode(bytes) else {
        return;
    };
    let (_, public) = keys();
    let _ = verify::<apb::GrantRequestBody>("RequestGrant", &request, public);
    let _ = verify::<apb::RevokeGrantBody>("RevokeGrant", &request, public);
    let _ = verify::<epb::ExportProvenanceBody>("ExportProvenance", &request, public);
    let _ = verify::<epb::QueryProvenanceBody>("QueryProvenance", &request, public);
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 24 {
        0 => signed::<apb::GrantRequestBody>("RequestGrant", bytes),
        1 => signed::<apb::RevokeGrantBody>("RevokeGrant", bytes),
        2 => signed::<apb::RegisterAgentBody>("RegisterAgent", bytes),
        3 => signed::<apb::RotateRootKeyBody>("RotateRootKey", bytes),
        4 => signed::<apb::GetGrantBody>("GetGrant", bytes),
        5 => signed::<apb::DeriveGrantBody>("DeriveGrant", bytes),
        6 => signed::<apb::WatchApprovalsBody>("WatchApprovals", bytes),
        7 => signed::<apb::ListApprovalsBody>("ListApprovals", bytes),
        8 => signed::<apb::DecideApprovalBody>("DecideApproval", bytes),
        9 => signed::<apb::AwaitApprovalBody>("AwaitApproval", bytes),
        10 => signed::<apb::SetAgentEnabledBody>("SetAgentEnabled", bytes),
        11 => signed::<apb::ListDecisionsBody>("ListDecisions", bytes),
        12 => signed::<epb::ExportProvenanceBody>("ExportProvenance", bytes),
        13 => signed::<epb::QueryProvenanceBody>("QueryProvenance", bytes),
        14 => roundtrip::<SignedRequest>(bytes),
        15 => roundtrip::<apb::GetPublicKeysRequest>(bytes),
        16 => roundtrip::<apb::ListRevocationsRequest>(bytes),
        17 => roundtrip::<apb::WatchRevocationsRequest>(bytes),
        18 => roundtrip::<epb::ExecuteRequest>(bytes),
        19 => roundtrip::<epb::Invocation>(bytes),
        20 => roundtrip::<epb::GetIdentityRequest>(bytes),
        21 => {
            // An ExecuteRequest's invocation bytes, as admission decodes them.
            if let Ok(request) = epb::ExecuteRequest::decode(bytes) {
                roundtrip::<epb::Invocation>(&request.invocation);
            }
        }
        _ => arbitrary_signed(bytes),
    }
});
