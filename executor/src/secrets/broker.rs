//! Resolves a grant's secret references for one operation on one resource into values and
//! where they go: the only path by which a value leaves the store, and only into the child's
//! environment (or, for `net.http`, a request header).

use trust_sdk::vocabulary::{InjectTarget, SecretRef};

use super::scrubber::Scrubber;
use super::store::SecretStore;
use super::{SecretError, SecretValue};

/// One resolved reference: what it names, and the opened value.
#[derive(Debug)]
pub struct ResolvedSecret {
    pub reference: SecretRef,
    pub value: SecretValue,
}

impl ResolvedSecret {
    pub fn target(&self) -> &InjectTarget {
        &self.reference.target
    }
}

/// The broker: the store when a sealing key is configured.
pub struct SecretBroker {
    store: Option<SecretStore>,
}

impl SecretBroker {
    /// A broker over `store`.
    pub fn new(store: SecretStore) -> Self {
        SecretBroker { store: Some(store) }
    }

    /// A broker without a key: every put is refused, and so is every run whose grant names a
    /// secret reference.
    pub fn disabled() -> Self {
        SecretBroker { store: None }
    }

    /// The store, or [`SecretError::NotConfigured`].
    pub fn store(&self) -> Result<&SecretStore, SecretError> {
        self.store.as_ref().ok_or(SecretError::NotConfigured)
    }

    /// The references of `refs` that apply to `operation` on `resource`, each with its value.
    /// An unknown or undecryptable secret, or two secrets for one target, refuses them all.
    pub fn resolve(
        &self,
        refs: &[SecretRef],
        operation: &str,
        resource: &str,
    ) -> Result<Vec<ResolvedSecret>, SecretError> {
        let applicable: Vec<&SecretRef> = refs
            .iter()
            .filter(|r| r.applies_to(operation, resource))
            .collect();
        if applicable.is_empty() {
            return Ok(Vec::new());
        }
        let store = self.store()?;
        let mut resolved: Vec<ResolvedSecret> = Vec::with_capacity(applicable.len());
        for reference in applicable {
            if let Some(other) = resolved.iter().find(|r| r.target() == &reference.target) {
                if other.reference.name != reference.name {
                    return Err(SecretError::Invalid(format!(
                        "secrets `{}` and `{}` both target `{}`",
                        other.reference.name, reference.name, reference.target
                    )));
                }
                continue;
            }
            let value = store.open_value(&reference.name)?;
            resolved.push(ResolvedSecret {
                reference: reference.clone(),
                value,
            });
        }
        Ok(resolved)
    }
}

/// A scrubber for the values of `resolved`.
pub fn scrubber_for(resolved: &[ResolvedSecret]) -> Scrubber {
    Scrubber::new(
        resolved
            .iter()
            .map(|r| (r.reference.name.as_str(), &r.value)),
    )
}
