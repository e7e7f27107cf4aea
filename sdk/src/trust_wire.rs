//! Wire forms of the signed key set and feed statements (`trust.authority.v1`), both ways.

use trust_proto::authority::v1 as apb;

use crate::feed_statement::SignedFeedStatement;
use crate::key_set::{KeySetSignature, SignedKeySet};

pub fn key_set_to_proto(set: &SignedKeySet) -> apb::SignedKeySet {
    apb::SignedKeySet {
        body: set.body.clone(),
        signatures: set
            .signatures
            .iter()
            .map(|s| apb::KeySetSignature {
                public_key: hex::decode(&s.public_key).unwrap_or_default(),
                signature: hex::decode(&s.signature).unwrap_or_default(),
            })
            .collect(),
    }
}

pub fn key_set_from_proto(set: &apb::SignedKeySet) -> SignedKeySet {
    SignedKeySet {
        body: set.body.clone(),
        signatures: set
            .signatures
            .iter()
            .map(|s| KeySetSignature {
                public_key: hex::encode(&s.public_key),
                signature: hex::encode(&s.signature),
            })
            .collect(),
    }
}

pub fn statement_to_proto(s: &SignedFeedStatement) -> apb::SignedFeedStatement {
    apb::SignedFeedStatement {
        body: s.body.clone(),
        key_id: s.key_id,
        signature: s.signature.clone(),
    }
}

/// A missing statement becomes an unsigned one, which verification refuses.
pub fn statement_from_proto(s: Option<&apb::SignedFeedStatement>) -> SignedFeedStatement {
    match s {
        Some(s) => SignedFeedStatement {
            body: s.body.clone(),
            key_id: s.key_id,
            signature: s.signature.clone(),
        },
        None => SignedFeedStatement {
            body: Vec::new(),
            key_id: 0,
            signature: Vec::new(),
        },
    }
}
