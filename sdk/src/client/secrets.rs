//! The executor's secret admin RPCs, signed by a secret admin: put, list and delete secrets,
//! and export their keyed fingerprints. No call returns a value.

use ed25519_dalek::SigningKey;
use trust_proto::executor::v1 as epb;

use super::ExecutorClient;
use crate::clock::now_ms;
use crate::error::SdkError;
use crate::signed;

impl ExecutorClient {
    /// Stores `value` under `name` (a new version if it exists); returns the version.
    pub async fn put_secret(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        name: &str,
        value: Vec<u8>,
    ) -> Result<u64, SdkError> {
        let body = epb::PutSecretBody {
            freshness: Some(signed::freshness(now_ms())),
            name: name.to_string(),
            value,
        };
        let request = signed::sign("PutSecret", &body, admin_id, admin_key);
        Ok(self.inner.put_secret(request).await?.into_inner().version)
    }

    /// Names, versions and times of every secret.
    pub async fn list_secrets(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
    ) -> Result<Vec<epb::SecretInfo>, SdkError> {
        let body = epb::ListSecretsBody {
            freshness: Some(signed::freshness(now_ms())),
        };
        let request = signed::sign("ListSecrets", &body, admin_id, admin_key);
        Ok(self.inner.list_secrets(request).await?.into_inner().secrets)
    }

    /// Deletes `name`.
    pub async fn delete_secret(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
        name: &str,
    ) -> Result<(), SdkError> {
        let body = epb::DeleteSecretBody {
            freshness: Some(signed::freshness(now_ms())),
            name: name.to_string(),
        };
        let request = signed::sign("DeleteSecret", &body, admin_id, admin_key);
        self.inner.delete_secret(request).await?;
        Ok(())
    }

    /// A fresh fingerprint set: a random key and the keyed digests of every value's forms.
    pub async fn secret_fingerprints(
        &mut self,
        admin_id: &str,
        admin_key: &SigningKey,
    ) -> Result<epb::SecretFingerprints, SdkError> {
        let body = epb::ExportSecretFingerprintsBody {
            freshness: Some(signed::freshness(now_ms())),
        };
        let request = signed::sign("ExportSecretFingerprints", &body, admin_id, admin_key);
        Ok(self
            .inner
            .export_secret_fingerprints(request)
            .await?
            .into_inner())
    }
}
