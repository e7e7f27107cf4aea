//! The claims of a grant presented without an invocation (the MCP gateway's `tools/list`):
//! the grant parses, is not revoked and verifies against the pinned root keys. No holder
//! proof and no Datalog: the answer only decides what is shown, never what runs.

use biscuit_auth::UnverifiedBiscuit;
use trust_sdk::vocabulary::GrantClaims;

use super::Admission;
use crate::error::Refusal;

impl Admission {
    /// The authority block's claims of `grant`, or the refusal naming the failed check.
    pub fn presented_claims(&self, grant: &[u8], now_ms: i64) -> Result<GrantClaims, Refusal> {
        let unverified = UnverifiedBiscuit::from(grant).map_err(|e| {
            Refusal::unauthenticated("grant-format", format!("grant does not parse: {e}"))
        })?;
        self.check_revocation(&unverified.revocation_identifiers(), now_ms)?;
        let keys = self.trust.root_keys();
        let token = unverified
            .verify(trust_sdk::client::root_key_provider(&keys))
            .map_err(|e| {
                Refusal::unauthenticated(
                    "signature",
                    format!("grant signature does not verify: {e}"),
                )
            })?;
        let structure = trust_sdk::structure::Structure::read(&token)
            .map_err(|e| Refusal::unauthenticated("grant-format", e.to_string()))?;
        trust_sdk::vocabulary::claims_from_structure(&structure)
            .map_err(|e| Refusal::unauthenticated("grant-claims", e.to_string()))
    }
}
