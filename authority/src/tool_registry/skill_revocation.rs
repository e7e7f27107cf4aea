//! Revoking a skill revokes the grants issued for it: every live grant whose registry entry
//! names the skill (its authority block states `skill(ID, VERSION)`; derived grants inherit
//! it) is revoked through the revocation feed, in a decision-log entry that names the skill
//! revocation's entry. A crash between the two is caught by the sweep at start-up, which
//! revokes every live grant of a revoked skill.

use std::collections::BTreeSet;

use trust_sdk::tools::Certification;

use crate::error::AuthorityError;
use crate::registry::{DecisionEntry, GrantEntry, Registry};
use crate::revocation::{self, RevocationFeed, Revoked};

/// The actor the start-up sweep records its revocations under.
pub const SWEEP_ACTOR: &str = "authority:skill-sweep";

fn of_skill(grant: &GrantEntry, skills: &BTreeSet<String>) -> bool {
    grant
        .skill
        .as_ref()
        .is_some_and(|(id, _)| skills.contains(id))
}

/// Revokes every live grant of skill `skill_id` as `actor`; `cause` says why (the skill
/// revocation's decision). `None` when no grant of the skill is live.
pub fn revoke_skill_grants(
    skill_id: &str,
    cause: &str,
    actor: &str,
    now_ms: i64,
    registry: &dyn Registry,
    feed: &RevocationFeed,
) -> Result<Option<Revoked>, AuthorityError> {
    let skills = BTreeSet::from([skill_id.to_string()]);
    let grant_ids: Vec<String> = registry
        .find_grants(&|g| of_skill(g, &skills) && revocation::live(g, now_ms))?
        .into_iter()
        .map(|g| g.grant_id)
        .collect();
    if grant_ids.is_empty() {
        return Ok(None);
    }
    let what = format!("grants of skill `{skill_id}` (skill revoked)");
    let decision = DecisionEntry {
        decision_id: uuid::Uuid::now_v7().to_string(),
        effect: revocation::REVOKED.into(),
        rule_ids: vec![format!("skill:{skill_id}")],
        reason: format!("revoked {what} ({} grant(s)); {cause}", grant_ids.len()),
        actor: actor.to_string(),
        ..Default::default()
    };
    revocation::revoke_grant_ids(&grant_ids, decision, &what, now_ms, registry, feed).map(Some)
}

/// At start-up: revokes the live grants of every revoked skill (a crash may have cut off a
/// skill revocation's grant revocations). Returns how many revocations it recorded.
pub fn sweep(
    registry: &dyn Registry,
    feed: &RevocationFeed,
    now_ms: i64,
) -> Result<usize, AuthorityError> {
    let (_, skills) = registry.catalog()?;
    let mut ids: Vec<&str> = skills.iter().map(|s| s.id.as_str()).collect();
    ids.dedup();
    let revoked: BTreeSet<String> = ids
        .into_iter()
        .filter(|id| {
            skills
                .iter()
                .filter(|s| s.id == *id)
                .all(|s| s.state == Certification::Revoked)
        })
        .map(str::to_string)
        .collect();
    if revoked.is_empty() {
        return Ok(0);
    }
    let live: BTreeSet<String> = registry
        .find_grants(&|g| of_skill(g, &revoked) && revocation::live(g, now_ms))?
        .into_iter()
        .filter_map(|g| g.skill.map(|(id, _)| id))
        .collect();
    let mut recorded = 0;
    for skill_id in &live {
        let cause = "found live at start-up after the skill was revoked";
        if revoke_skill_grants(skill_id, cause, SWEEP_ACTOR, now_ms, registry, feed)?.is_some() {
            recorded += 1;
        }
    }
    Ok(recorded)
}
