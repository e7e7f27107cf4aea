//! Replay caches by role: agents' request nonces and operators' (admins and approvers) are
//! remembered in separate guards, each with a quota per signer, so no agent's flood of signed
//! requests can leave an admin's revocation or an approver's decision without room.

use std::time::Duration;

use trust_sdk::signed::ReplayGuard;

use crate::config::ReplayQuotas;
use crate::principals::Role;

/// The replay guards of the authority's signed requests.
#[derive(Debug)]
pub struct ReplayCaches {
    agents: ReplayGuard,
    operators: ReplayGuard,
}

impl ReplayCaches {
    /// Guards with the clock `window`, refusing bodies signed before `started_ms`.
    pub fn new(window: Duration, quotas: ReplayQuotas, started_ms: i64) -> Self {
        Self {
            agents: ReplayGuard::new(window, quotas.per_agent).not_before(started_ms),
            operators: ReplayGuard::new(window, quotas.per_operator).not_before(started_ms),
        }
    }

    /// The guard a request signed in `role` passes.
    pub fn for_role(&self, role: Role) -> &ReplayGuard {
        match role {
            Role::Agent => &self.agents,
            Role::Admin | Role::Approver | Role::Overseer => &self.operators,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trust_sdk::signed::freshness;

    #[test]
    fn an_agent_flood_leaves_operators_room() {
        let caches = ReplayCaches::new(
            Duration::from_secs(30),
            ReplayQuotas {
                per_agent: 5,
                per_operator: 2,
            },
            0,
        );
        let now = 100_000;
        let agents = caches.for_role(Role::Agent);
        for _ in 0..5 {
            agents.admit("coder-1", Some(&freshness(now)), now).unwrap();
        }
        assert!(agents.admit("coder-1", Some(&freshness(now)), now).is_err());
        // An admin and an approver still pass, even one named like the flooding agent.
        for role in [Role::Admin, Role::Approver] {
            caches
                .for_role(role)
                .admit("coder-1", Some(&freshness(now)), now)
                .unwrap();
        }
        caches
            .for_role(Role::Admin)
            .admit("admin:ops", Some(&freshness(now)), now)
            .unwrap();
    }
}
