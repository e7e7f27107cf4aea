//! What the MCP front knows of a grant: its bytes, decoded from the forms a grant travels in,
//! and its claims, read only after its signature verified against the authority's root keys.
//!
//! The front uses the claims for one thing: which tools to list. Admission stays at the
//! executor, which checks every call again.

use std::path::Path;

use base64::Engine;
use biscuit_auth::Biscuit;
use trust_sdk::client::{root_key_provider, AuthorityClient};
use trust_sdk::vocabulary::{read_claims, GrantClaims};

/// Why a presented grant cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GrantViewError {
    #[error("grant file `{path}`: {reason}")]
    File { path: String, reason: String },
    #[error("the grant is not base64 (URL-safe or standard) nor Biscuit bytes")]
    NotBase64,
    #[error("the grant is empty")]
    Empty,
    #[error("the authority's root keys are not available: {0}")]
    Keys(String),
    #[error("the grant does not verify against the authority's root keys: {0}")]
    Unverified(String),
    #[error("the grant's claims cannot be read: {0}")]
    Claims(String),
}

/// Reads a grant file: base64 text (what `trustctl` writes) or raw Biscuit bytes.
pub fn read_grant_file(path: &Path) -> Result<Vec<u8>, GrantViewError> {
    let bytes = std::fs::read(path).map_err(|e| GrantViewError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    decode_grant(&bytes)
}

/// Decodes a grant: URL-safe base64 (padded or not), standard base64, or raw Biscuit bytes.
pub fn decode_grant(bytes: &[u8]) -> Result<Vec<u8>, GrantViewError> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
    if let Ok(text) = std::str::from_utf8(bytes) {
        let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if text.is_empty() {
            return Err(GrantViewError::Empty);
        }
        for engine in [&URL_SAFE, &URL_SAFE_NO_PAD, &STANDARD] {
            if let Ok(decoded) = engine.decode(&text) {
                return Ok(decoded);
            }
        }
        if text.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(GrantViewError::NotBase64);
        }
    }
    Ok(bytes.to_vec())
}

/// Verifies `grant` against the authority's current root keys and reads its claims.
pub async fn verified_claims(
    authority: &AuthorityClient,
    grant: &[u8],
) -> Result<GrantClaims, GrantViewError> {
    let keys = authority
        .clone()
        .public_keys()
        .await
        .map_err(|e| GrantViewError::Keys(e.to_string()))?;
    let token = Biscuit::from(grant, root_key_provider(&keys))
        .map_err(|e| GrantViewError::Unverified(e.to_string()))?;
    read_claims(&token).map_err(|e| GrantViewError::Claims(e.to_string()))
}
