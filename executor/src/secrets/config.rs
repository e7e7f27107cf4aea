//! The secrets broker's part of the executor configuration: who may manage secrets and where
//! the sealing key comes from.

use std::path::PathBuf;

use ed25519_dalek::VerifyingKey;

use super::sealing_key::KeySource;

/// Secret admins and the sealing key's source (`None`: the broker is off, every put and every
/// run whose grant names a secret is refused).
#[derive(Debug, Clone, Default)]
pub struct SecretsConfig {
    pub admins: Vec<(String, VerifyingKey)>,
    pub key_source: Option<KeySource>,
}

impl SecretsConfig {
    /// Parses the fields, adding every problem to `errors`: a bad admin key, both key sources
    /// at once, or a key variable a child would inherit through `env_allowlist`.
    pub fn parse(
        admins: Vec<(String, String)>,
        key_file: Option<PathBuf>,
        key_env: Option<String>,
        env_allowlist: &[String],
        errors: &mut Vec<String>,
    ) -> SecretsConfig {
        let mut parsed = Vec::new();
        for (id, hex_key) in admins {
            match trust_sdk::keys::verifying_key_from_hex(&hex_key) {
                Ok(k) => parsed.push((id, k)),
                Err(e) => errors.push(format!("secret_admin_keys `{id}`: {e}")),
            }
        }
        let key_source = match (key_file, key_env) {
            (Some(_), Some(_)) => {
                errors.push("set one of secrets_key_file and secrets_key_env, not both".into());
                None
            }
            (Some(file), None) => Some(KeySource::File(file)),
            (None, Some(var)) => {
                if env_allowlist.contains(&var) {
                    errors.push(format!(
                        "secrets_key_env `{var}` is in limits.env_allowlist: every child would inherit the sealing key"
                    ));
                }
                Some(KeySource::Env(var))
            }
            (None, None) => None,
        };
        SecretsConfig {
            admins: parsed,
            key_source,
        }
    }
}
