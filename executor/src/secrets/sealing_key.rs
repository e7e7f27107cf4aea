//! The key that seals secrets at rest: loaded from a file readable by its owner only and kept
//! outside the executor's data directory, or from an environment variable; never stored beside
//! the data. Sealing is ChaCha20-Poly1305 (ring) with a random nonce per value and the secret's
//! name and version as associated data, so a sealed value moved to another name or version
//! does not open.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use zeroize::Zeroizing;

use super::SecretError;

/// Where the sealing key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A file holding base64 of 32 bytes, mode 0600 (or 0400), owned by the executor's user.
    File(PathBuf),
    /// An environment variable holding base64 of 32 bytes.
    Env(String),
}

/// The loaded sealing key.
pub struct SealingKey {
    key: LessSafeKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SealingKey([redacted])")
    }
}

/// The associated data a sealed value is bound to.
fn aad(name: &str, version: u64) -> Vec<u8> {
    format!("trust.v1/secret\n{name}\n{version}").into_bytes()
}

impl SealingKey {
    /// Loads the key from `source`; a file must not lie inside `data_dir`.
    pub fn load(source: &KeySource, data_dir: &Path) -> Result<Self, SecretError> {
        match source {
            KeySource::File(path) => {
                check_key_file(path, data_dir)?;
                let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
                    SecretError::Key(format!("cannot read `{}`: {e}", path.display()))
                })?);
                Self::from_base64(&text)
                    .map_err(|why| SecretError::Key(format!("`{}`: {why}", path.display())))
            }
            KeySource::Env(var) => {
                let text = Zeroizing::new(std::env::var(var).map_err(|_| {
                    SecretError::Key(format!("environment variable `{var}` is not set"))
                })?);
                Self::from_base64(&text)
                    .map_err(|why| SecretError::Key(format!("environment variable `{var}`: {why}")))
            }
        }
    }

    /// A key from base64 text of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| "the key is not base64".to_string())?,
        );
        Self::from_bytes(&bytes)
    }

    /// A key from exactly 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != 32 {
            return Err(format!("the key is {} bytes; 32 are required", bytes.len()));
        }
        let unbound =
            UnboundKey::new(&CHACHA20_POLY1305, bytes).map_err(|_| "unusable key".to_string())?;
        Ok(SealingKey {
            key: LessSafeKey::new(unbound),
        })
    }

    /// Base64 of 32 fresh random bytes: what `trustctl secrets new-key` prints.
    pub fn generate_base64() -> String {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        base64::engine::general_purpose::STANDARD.encode(bytes.as_ref())
    }

    /// Seals `value` for `name` at `version`: the nonce followed by ciphertext and tag.
    pub fn seal(&self, name: &str, version: u64, value: &[u8]) -> Result<Vec<u8>, SecretError> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let mut sealed = value.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad(name, version)),
                &mut sealed,
            )
            .map_err(|_| SecretError::Store("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens what [`Self::seal`] produced for `name` at `version`.
    pub fn open(
        &self,
        name: &str,
        version: u64,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SecretError> {
        let undecryptable = || SecretError::Undecryptable(name.to_string());
        if sealed.len() < NONCE_LEN {
            return Err(undecryptable());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| undecryptable())?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad(name, version)), &mut buf)
            .map_err(|_| undecryptable())?
            .len();
        buf.truncate(len);
        Ok(buf)
    }
}

/// Refuses a key file that others may read or write, that another user owns, that is not a
/// regular file, or that lies inside the executor's data directory.
pub fn check_key_file(path: &Path, data_dir: &Path) -> Result<(), SecretError> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| SecretError::Key(format!("key file `{shown}`: {e}")))?;
    if !meta.is_file() {
        return Err(SecretError::Key(format!(
            "key file `{shown}` is not a regular file"
        )));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(SecretError::Key(format!(
            "key file `{shown}` has mode {mode:04o}; it must be readable by its owner only (chmod 600 `{shown}`)"
        )));
    }
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != euid {
        return Err(SecretError::Key(format!(
            "key file `{shown}` is owned by uid {}, not by the executor's uid {euid}",
            meta.uid()
        )));
    }
    let canonical = std::fs::canonicalize(path)
        .map_err(|e| SecretError::Key(format!("key file `{shown}`: {e}")))?;
    // The data directory may not exist yet: compare against its canonical form when it does,
    // and its lexical absolute form otherwise.
    let data = std::fs::canonicalize(data_dir).unwrap_or_else(|_| absolute(data_dir));
    if canonical.starts_with(&data) || absolute(path).starts_with(absolute(data_dir)) {
        return Err(SecretError::Key(format!(
            "key file `{shown}` is inside the executor's data directory `{}`: a copy of the data would carry its key; keep the key elsewhere",
            data_dir.display()
        )));
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
