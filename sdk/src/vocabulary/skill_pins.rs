//! Skill grants: `skill(SKILL_ID, VERSION)` names the skill a grant was minted for, and
//! `tool_version(TOOL_ID, VERSION)` pins each tool it covers to one version.
//!
//! The authority writes them into the authority block of a grant requested for a certified
//! skill (the grant's `tool.invoke` scopes are then exactly the skill's tools); the executor
//! refuses another version of a pinned tool and names the skill in the provenance record.
//! Only the authority block's facts count: an appended block cannot add or change a pin.

use biscuit_auth::builder::{self, Fact};

/// The predicate naming the skill behind a grant.
pub const SKILL: &str = "skill";

/// The predicate pinning a tool to one version.
pub const TOOL_VERSION: &str = "tool_version";

/// `skill(ID, VERSION)`.
pub fn skill_fact(id: &str, version: u32) -> Fact {
    builder::fact(
        SKILL,
        &[builder::string(id), builder::int(i64::from(version))],
    )
}

/// `tool_version(ID, VERSION)`.
pub fn tool_version_fact(id: &str, version: u32) -> Fact {
    builder::fact(
        TOOL_VERSION,
        &[builder::string(id), builder::int(i64::from(version))],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_read_as_datalog() {
        assert_eq!(
            skill_fact("month-end", 3).to_string(),
            "skill(\"month-end\", 3)"
        );
        assert_eq!(
            tool_version_fact("invoice-validation", 2).to_string(),
            "tool_version(\"invoice-validation\", 2)"
        );
    }
}
