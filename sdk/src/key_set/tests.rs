//! Key-set acceptance: who may sign, replays, conflicts, rotation chains.

use super::*;

fn set(version: u64, keys: &[(u32, &SigningKey, bool)]) -> KeySet {
    KeySet {
        version,
        issued_at_ms: 1_000 * i64::try_from(version).unwrap(),
        keys: keys
            .iter()
            .map(|(id, k, active)| KeySetEntry {
                id: *id,
                public_key: hex::encode(k.verifying_key().as_bytes()),
                active: *active,
            })
            .collect(),
    }
}

#[test]
fn a_set_signed_by_a_pinned_key_is_accepted() {
    let root = crate::keys::generate();
    let signed = set(1, &[(1, &root, true)]).sign(&[&root]).unwrap();
    let accepted = signed.verify(&[root.verifying_key()], None).unwrap();
    assert_eq!(accepted.version, 1);
    assert_eq!(accepted.root_keys().unwrap()[0].1, root.verifying_key());
}

#[test]
fn a_set_signed_by_a_stranger_is_refused_even_if_it_lists_the_pinned_key() {
    let root = crate::keys::generate();
    let stranger = crate::keys::generate();
    let signed = set(2, &[(1, &root, false), (2, &stranger, true)])
        .sign(&[&stranger])
        .unwrap();
    let err = signed.verify(&[root.verifying_key()], None).unwrap_err();
    assert!(matches!(err, KeySetError::Untrusted { .. }), "{err}");
}

#[test]
fn a_signature_copied_onto_another_body_is_refused() {
    let root = crate::keys::generate();
    let stranger = crate::keys::generate();
    let genuine = set(1, &[(1, &root, true)]).sign(&[&root]).unwrap();
    let mut forged = set(2, &[(1, &stranger, true)]).sign(&[&stranger]).unwrap();
    forged.signatures = genuine.signatures.clone();
    let err = forged.verify(&[root.verifying_key()], None).unwrap_err();
    assert!(matches!(err, KeySetError::Untrusted { .. }), "{err}");
}

#[test]
fn rotation_is_accepted_through_the_previous_key_and_old_sets_are_refused_afterwards() {
    let first = crate::keys::generate();
    let second = crate::keys::generate();
    let v1 = set(1, &[(1, &first, true)]).sign(&[&first]).unwrap();
    let v2 = set(2, &[(1, &first, false), (2, &second, true)])
        .sign(&[&first, &second])
        .unwrap();
    let held1 = v1.verify(&[first.verifying_key()], None).unwrap();
    let held2 = v2.verify(&[first.verifying_key()], Some(&held1)).unwrap();
    assert_eq!(held2.root_keys().unwrap().len(), 2);
    // The same set again is fine; the older one is a replay.
    assert_eq!(
        v2.verify(&[first.verifying_key()], Some(&held2)).unwrap(),
        held2
    );
    assert_eq!(
        v1.verify(&[first.verifying_key()], Some(&held2))
            .unwrap_err(),
        KeySetError::Older {
            offered: 1,
            held: 2
        }
    );
}

#[test]
fn a_different_set_under_the_held_version_is_refused() {
    let root = crate::keys::generate();
    let other = crate::keys::generate();
    let held = set(3, &[(1, &root, true)]);
    let conflicting = set(3, &[(1, &root, false), (2, &other, true)])
        .sign(&[&root])
        .unwrap();
    assert_eq!(
        conflicting
            .verify(&[root.verifying_key()], Some(&held))
            .unwrap_err(),
        KeySetError::Conflicting { version: 3 }
    );
}

#[test]
fn malformed_sets_are_refused() {
    let root = crate::keys::generate();
    let none_active = set(1, &[(1, &root, false)]).sign(&[&root]).unwrap();
    assert!(matches!(
        none_active.verify(&[root.verifying_key()], None),
        Err(KeySetError::Malformed(_))
    ));
    let garbage = SignedKeySet {
        body: "{".into(),
        signatures: vec![],
    };
    assert!(matches!(
        garbage.verify(&[root.verifying_key()], None),
        Err(KeySetError::Malformed(_))
    ));
}
