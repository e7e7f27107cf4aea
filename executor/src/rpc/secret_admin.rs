//! Secret admins' signed requests: put, list and delete secrets and export their keyed
//! fingerprints. No reply carries a value.

use std::collections::HashMap;

use tonic::Status;
use trust_proto::common::v1::{Freshness, SignedRequest};
use trust_proto::executor::v1 as pb;
use trust_sdk::signed::ReplayGuard;

use super::status;
use crate::secrets::{fingerprints, SecretBroker, SecretValue};

/// The configured secret admins and the replay guard their requests pass.
pub struct SecretAdminDesk {
    pub admins: HashMap<String, ed25519_dalek::VerifyingKey>,
    pub replay: ReplayGuard,
}

impl SecretAdminDesk {
    /// The verified body of a secret admin's signed request for `rpc`, or why it is refused.
    fn authenticate<M: prost::Message + Default>(
        &self,
        rpc: &str,
        request: &SignedRequest,
        freshness: impl Fn(&M) -> Option<Freshness>,
        now_ms: i64,
    ) -> Result<M, Status> {
        let role = super::audit::Role {
            prefix: "secret-admin:",
            name: "a secret admin",
            keys: &self.admins,
            replay: &self.replay,
        };
        super::audit::authenticate_as(&role, rpc, request, freshness, now_ms)
    }

    /// `PutSecret`: seals and stores the value; replies with its name and version.
    pub fn put(
        &self,
        broker: &SecretBroker,
        request: &SignedRequest,
        now_ms: i64,
    ) -> Result<pb::PutSecretResponse, Status> {
        let body: pb::PutSecretBody = self.authenticate(
            "PutSecret",
            request,
            |b: &pb::PutSecretBody| b.freshness.clone(),
            now_ms,
        )?;
        let value = SecretValue::new(body.value).map_err(status::secret)?;
        let store = broker.store().map_err(status::secret)?;
        let version = store
            .put(&body.name, &value, now_ms)
            .map_err(status::secret)?;
        tracing::info!(secret = %body.name, version, signer = %request.signer_id, "secret put");
        Ok(pb::PutSecretResponse {
            name: body.name,
            version,
        })
    }

    /// `ListSecrets`: names, versions and times.
    pub fn list(
        &self,
        broker: &SecretBroker,
        request: &SignedRequest,
        now_ms: i64,
    ) -> Result<pb::ListSecretsResponse, Status> {
        let _: pb::ListSecretsBody = self.authenticate(
            "ListSecrets",
            request,
            |b: &pb::ListSecretsBody| b.freshness.clone(),
            now_ms,
        )?;
        let entries = broker
            .store()
            .and_then(|s| s.list())
            .map_err(status::secret)?;
        Ok(pb::ListSecretsResponse {
            secrets: entries
                .into_iter()
                .map(|e| pb::SecretInfo {
                    name: e.name,
                    version: e.version,
                    created_ms: e.created_ms,
                    updated_ms: e.updated_ms,
                })
                .collect(),
        })
    }

    /// `DeleteSecret`.
    pub fn delete(
        &self,
        broker: &SecretBroker,
        request: &SignedRequest,
        now_ms: i64,
    ) -> Result<pb::DeleteSecretResponse, Status> {
        let body: pb::DeleteSecretBody = self.authenticate(
            "DeleteSecret",
            request,
            |b: &pb::DeleteSecretBody| b.freshness.clone(),
            now_ms,
        )?;
        broker
            .store()
            .and_then(|s| s.delete(&body.name))
            .map_err(status::secret)?;
        tracing::info!(secret = %body.name, signer = %request.signer_id, "secret deleted");
        Ok(pb::DeleteSecretResponse {})
    }

    /// `ExportSecretFingerprints`: a fresh key and the keyed digests of every value's forms.
    pub fn fingerprints(
        &self,
        broker: &SecretBroker,
        request: &SignedRequest,
        now_ms: i64,
    ) -> Result<pb::SecretFingerprints, Status> {
        let _: pb::ExportSecretFingerprintsBody = self.authenticate(
            "ExportSecretFingerprints",
            request,
            |b: &pb::ExportSecretFingerprintsBody| b.freshness.clone(),
            now_ms,
        )?;
        let set = broker
            .store()
            .and_then(fingerprints::export)
            .map_err(status::secret)?;
        Ok(pb::SecretFingerprints {
            key: set.key.to_vec(),
            fingerprints: set
                .fingerprints
                .into_iter()
                .map(|f| pb::SecretFingerprint {
                    name: f.name,
                    length: u32::try_from(f.length).unwrap_or(u32::MAX),
                    digest: f.digest.to_vec(),
                })
                .collect(),
        })
    }
}
