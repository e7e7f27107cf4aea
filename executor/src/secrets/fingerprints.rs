//! Keyed digests of every stored value's forms, for `trustctl secrets scan`: a fresh random
//! key `k` and, for each form, `HMAC-SHA256(k, form)` with its length. A scanner digests every
//! substring of those lengths of a diff and compares, so it never holds a value in clear.
//! (Whoever holds a set can test guesses of a value offline: keep it 0600, like a key.)

use rand::RngCore;
use ring::hmac;

use super::encodings::forms;
use super::store::SecretStore;
use super::SecretError;

/// One form's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    pub name: String,
    pub length: usize,
    pub digest: [u8; 32],
}

/// A fingerprint set: the key and the digests of every form of every stored value.
#[derive(Debug, Clone)]
pub struct FingerprintSet {
    pub key: [u8; 32],
    pub fingerprints: Vec<Fingerprint>,
}

/// `HMAC-SHA256(key, bytes)`.
pub fn digest(key: &[u8; 32], bytes: &[u8]) -> [u8; 32] {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut out = [0u8; 32];
    out.copy_from_slice(hmac::sign(&key, bytes).as_ref());
    out
}

/// A fresh fingerprint set of every value in `store`.
pub fn export(store: &SecretStore) -> Result<FingerprintSet, SecretError> {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    let mut fingerprints = Vec::new();
    for (name, value) in store.open_all()? {
        for form in forms(value.as_bytes()) {
            fingerprints.push(Fingerprint {
                name: name.clone(),
                length: form.len(),
                digest: digest(&key, &form),
            });
        }
    }
    Ok(FingerprintSet { key, fingerprints })
}
