//! What a grant may read of each `context.retrieve` source it is granted: the allow rule's
//! classifications, jurisdictions, window (a `max_age` becomes a start date at `now`), limits and
//! redactions, carried as grant facts (`trust_sdk::vocabulary::context`).

use std::time::SystemTime;

use trust_sdk::operation::Operation;
use trust_sdk::vocabulary::context::{day_of, ContextGrant, LAST_DAY};

use crate::profile::Profile;

/// One grant per granted `context.retrieve` source, from the allow rule that granted it. A
/// source whose rule states no context keys gets none (and the executor refuses it).
pub(super) fn context_grants<'a>(
    profile: &Profile,
    granted: impl Iterator<Item = (Operation, &'a String, Option<&'a str>)>,
    now: SystemTime,
) -> Vec<ContextGrant> {
    let mut grants: Vec<ContextGrant> = Vec::new();
    for (operation, source, allow_rule) in granted {
        if operation != Operation::ContextRetrieve || grants.iter().any(|g| &g.source == source) {
            continue;
        }
        // The rule of that id that covers this source: a process step's scopes share one id.
        let Some(rule) = allow_rule
            .and_then(|id| {
                profile.allow.iter().find(|r| {
                    r.id == id
                        && r.context.is_some()
                        && r.operations.contains(&Operation::ContextRetrieve)
                        && r.resources.iter().any(|p| p.is_match(source))
                })
            })
            .and_then(|r| r.context.as_ref())
        else {
            continue;
        };
        let today = day_of(now);
        let by_age = rule
            .max_age
            .map(|age| today - i64::try_from(age.as_secs() / 86_400).unwrap_or(i64::MAX / 2));
        let from_day = [rule.window_from, by_age]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
        grants.push(ContextGrant {
            source: source.clone(),
            classifications: rule.classifications.clone(),
            jurisdictions: rule.jurisdictions.clone(),
            from_day,
            to_day: rule.window_to.unwrap_or(LAST_DAY),
            max_documents: rule.max_documents,
            max_bytes: rule.max_bytes,
            redactions: rule.redactions.clone(),
        });
    }
    grants
}
