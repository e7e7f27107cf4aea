//! What a revocation revokes: one grant (and its lineage), a task, an agent or a user.

/// The target of a `RevokeGrant`, shared by the authority and its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevocationTarget {
    /// One grant; with `include_derived`, also every registered grant derived from it.
    Grant {
        grant_id: String,
        include_derived: bool,
    },
    /// Every grant of a task.
    Task(String),
    /// Every grant of an agent; the agent is disabled and its pending approvals refused.
    Agent(String),
    /// Every grant for a user.
    User(String),
}

impl RevocationTarget {
    /// What the target covers, for the decision log and operators.
    pub fn describe(&self) -> String {
        match self {
            RevocationTarget::Grant {
                grant_id,
                include_derived: false,
            } => format!("grant `{grant_id}`"),
            RevocationTarget::Grant {
                grant_id,
                include_derived: true,
            } => format!("grant `{grant_id}` and every grant derived from it"),
            RevocationTarget::Task(t) => format!("every grant of task `{t}`"),
            RevocationTarget::Agent(a) => format!("every grant of agent `{a}`"),
            RevocationTarget::User(u) => format!("every grant for user `{u}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_each_target() {
        let grant = |include_derived| RevocationTarget::Grant {
            grant_id: "g".into(),
            include_derived,
        };
        assert_eq!(grant(false).describe(), "grant `g`");
        assert_eq!(
            grant(true).describe(),
            "grant `g` and every grant derived from it"
        );
        assert_eq!(
            RevocationTarget::Task("t".into()).describe(),
            "every grant of task `t`"
        );
        assert_eq!(
            RevocationTarget::Agent("a".into()).describe(),
            "every grant of agent `a`"
        );
        assert_eq!(
            RevocationTarget::User("u".into()).describe(),
            "every grant for user `u`"
        );
    }
}
