//! A deployment's private certificate authority: a CA certificate, and the service certificates
//! it signs for the authority, the executor and the executor's client identity (rcgen, pure
//! Rust, ECDSA P-256). `trustctl tls` and the test kit issue certificates with this code.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::SdkError;

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct CertifiedKey {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertifiedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertifiedKey")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<secret>")
            .finish()
    }
}

/// What a service certificate may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// TLS server authentication (the authority, the executor).
    pub server: bool,
    /// TLS client authentication (the executor towards the authority).
    pub client: bool,
}

fn certificate_error(what: &str) -> impl Fn(rcgen::Error) -> SdkError + '_ {
    move |e| SdkError::Certificate(format!("{what}: {e}"))
}

/// Valid from a minute ago (clock skew between hosts) for `valid_for`.
fn set_validity(params: &mut CertificateParams, valid_for: Duration) {
    let now = crate::clock::now();
    params.not_before = time::OffsetDateTime::from(now - Duration::from_secs(60));
    params.not_after = time::OffsetDateTime::from(now + valid_for);
}

/// A new self-signed CA named `common_name`, allowed to sign end-entity certificates only.
pub fn new_authority(common_name: &str, valid_for: Duration) -> Result<CertifiedKey, SdkError> {
    let key = KeyPair::generate().map_err(certificate_error("CA key"))?;
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    set_validity(&mut params, valid_for);
    let cert = params
        .self_signed(&key)
        .map_err(certificate_error("CA certificate"))?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A certificate for `names` (DNS names or IP addresses, written into the subject alternative
/// names), named `common_name`, for `usage`, signed by `ca`.
pub fn issue(
    ca: &CertifiedKey,
    common_name: &str,
    names: &[String],
    usage: Usage,
    valid_for: Duration,
) -> Result<CertifiedKey, SdkError> {
    if names.is_empty() {
        return Err(SdkError::Certificate(
            "a service certificate needs at least one DNS name or IP address".into(),
        ));
    }
    if !usage.server && !usage.client {
        return Err(SdkError::Certificate(
            "a service certificate needs server or client usage (or both)".into(),
        ));
    }
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(certificate_error("CA key"))?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key)
        .map_err(certificate_error("CA certificate"))?;
    let key = KeyPair::generate().map_err(certificate_error("service key"))?;
    let mut params = CertificateParams::new(names.to_vec())
        .map_err(certificate_error("subject alternative names"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    if usage.server {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
    }
    if usage.client {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    set_validity(&mut params, valid_for);
    let cert = params
        .signed_by(&key, &issuer)
        .map_err(certificate_error("service certificate"))?;
    Ok(CertifiedKey {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Writes `cert` as `<dir>/<name>.pem` (0644) and its key as `<dir>/<name>.key` (0600,
/// never replacing an existing key), creating `dir` (0700) if needed. Returns both paths.
pub fn write_files(
    cert: &CertifiedKey,
    dir: &Path,
    name: &str,
) -> Result<(PathBuf, PathBuf), SdkError> {
    let file_error = |path: &Path, e: std::io::Error| SdkError::KeyFile {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| file_error(dir, e))?;
    let cert_path = dir.join(format!("{name}.pem"));
    let key_path = dir.join(format!("{name}.key"));
    let write = |path: &Path, text: &str, mode: u32| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| file_error(path, e))?;
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| file_error(path, e))
    };
    write(&key_path, &cert.key_pem, 0o600)?;
    write(&cert_path, &cert.cert_pem, 0o644)?;
    Ok((cert_path, key_path))
}

/// Reads a certificate and key written by [`write_files`].
pub fn read_files(dir: &Path, name: &str) -> Result<CertifiedKey, SdkError> {
    let read = |path: PathBuf| {
        std::fs::read_to_string(&path).map_err(|e| SdkError::KeyFile {
            path: path.display().to_string(),
            reason: e.to_string(),
        })
    };
    Ok(CertifiedKey {
        cert_pem: read(dir.join(format!("{name}.pem")))?,
        key_pem: read(dir.join(format!("{name}.key")))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn issues_a_service_certificate_from_a_ca() {
        let ca = new_authority("test CA", DAY).unwrap();
        assert!(ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let usage = Usage {
            server: true,
            client: true,
        };
        let issued = issue(
            &ca,
            "authority",
            &["localhost".into(), "127.0.0.1".into()],
            usage,
            DAY,
        )
        .unwrap();
        assert!(issued.key_pem.contains("PRIVATE KEY"));
        assert_ne!(issued.cert_pem, ca.cert_pem);
    }

    #[test]
    fn writes_keys_0600_in_a_0700_directory_and_never_replaces_them() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let ca = new_authority("test CA", DAY).unwrap();
        let (cert, key) = write_files(&ca, &tls, "ca").unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        assert_eq!(mode(&cert), 0o644);
        assert_eq!(mode(&tls), 0o700);
        assert!(write_files(&ca, &tls, "ca").is_err());
        assert_eq!(read_files(&tls, "ca").unwrap().key_pem, ca.key_pem);
    }

    #[test]
    fn refuses_a_certificate_without_names_or_usage() {
        let ca = new_authority("test CA", DAY).unwrap();
        let none = Usage {
            server: false,
            client: false,
        };
        let server = Usage {
            server: true,
            client: false,
        };
        assert!(issue(&ca, "x", &["a".into()], none, DAY).is_err());
        assert!(issue(&ca, "x", &[], server, DAY).is_err());
    }
}
