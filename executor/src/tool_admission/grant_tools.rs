//! What a grant says about tools, read once when the grant is verified: the tools its
//! authority block names for `tool.invoke`, as narrowed by each delegation hop, and its tool
//! facts (task fields, argument constraints as data, version pins, skill).

use trust_sdk::lineage::Link;
use trust_sdk::operation::Operation;
use trust_sdk::vocabulary::tool_args::ToolGrant;
use trust_sdk::vocabulary::{directory_form, GrantClaims};

/// One delegation hop's narrowing: its operations and its prefixes (`None`: not narrowed).
type HopNarrowing = (Option<Vec<String>>, Option<Vec<String>>);

/// The tools a grant names, and its tool facts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GrantTools {
    /// The authority block's `tool.invoke` scope resources (`""`: every tool).
    granted: Vec<String>,
    /// Per delegation hop, its operations and prefixes (`None`: not narrowed).
    hops: Vec<HopNarrowing>,
    pub tool_grant: ToolGrant,
}

fn covers(prefix: &str, id: &str) -> bool {
    prefix.is_empty() || prefix == id || id.starts_with(&directory_form(prefix))
}

impl GrantTools {
    pub fn of(claims: &GrantClaims, links: &[Link], tool_grant: ToolGrant) -> Self {
        let op = Operation::ToolInvoke.as_str();
        GrantTools {
            granted: claims
                .scopes
                .iter()
                .filter(|(o, _)| o == op)
                .map(|(_, r)| r.clone())
                .collect(),
            hops: links
                .iter()
                .map(|l| {
                    (
                        l.operations.as_ref().map(|o| o.iter().cloned().collect()),
                        l.prefixes.clone(),
                    )
                })
                .collect(),
            tool_grant,
        }
    }

    /// Whether the authority block names tool `id` for `tool.invoke` and no delegation hop
    /// narrowed it away. (Admission's Datalog still decides; this keeps a tool the grant does
    /// not name from being looked at any further.)
    pub fn names(&self, id: &str) -> bool {
        let op = Operation::ToolInvoke.as_str();
        let granted = self.granted.iter().any(|p| covers(p, id));
        let kept = self.hops.iter().all(|(ops, prefixes)| {
            ops.as_ref().is_none_or(|o| o.iter().any(|x| x == op))
                && prefixes
                    .as_ref()
                    .is_none_or(|ps| ps.iter().any(|p| covers(p, id)))
        });
        granted && kept
    }
}
