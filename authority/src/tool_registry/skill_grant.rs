//! A grant request that names a skill: granted only for the skill's certified version in
//! force, and only while every tool it needs is certified at the version it names. The grant
//! then covers exactly `tool.invoke` on those tools, pinned to their versions.

use trust_sdk::tools::{is_valid_id, Certification};

use super::{certified_skill, certified_tool_version};
use crate::error::AuthorityError;
use crate::policy::{Decision, Effect};
use crate::registry::Registry;

/// The rule id of a denial because the skill (or one of its tools) cannot be granted.
pub const SKILL_NOT_GRANTABLE: &str = "skill-not-certified";

pub use trust_sdk::vocabulary::skill_pins::SkillPins;

/// The pins of skill `id` at `version`, or why it cannot be granted (a reason for the
/// denial).
pub fn resolve_skill(
    registry: &dyn Registry,
    id: &str,
    version: u32,
) -> Result<Result<SkillPins, String>, AuthorityError> {
    if !is_valid_id(id) {
        return Err(AuthorityError::InvalidArgument(format!(
            "`skill_id` `{}` is not a valid skill id",
            id.escape_debug()
        )));
    }
    let versions = registry.skill_versions(id)?;
    let Some(asked) = versions.iter().find(|s| s.version == version) else {
        return Ok(Err(format!(
            "denied: skill `{id}` has no version {version}"
        )));
    };
    if asked.state != Certification::Certified {
        return Ok(Err(format!(
            "denied: skill `{id}` v{version} is {}; only a certified skill is granted",
            asked.state.as_str()
        )));
    }
    match certified_skill(registry, id)? {
        Some(held) if held.version == version => {}
        Some(held) => {
            return Ok(Err(format!(
                "denied: skill `{id}` v{version} is superseded by v{}",
                held.version
            )))
        }
        None => return Ok(Err(format!("denied: skill `{id}` is not certified"))),
    }
    let mut tools = Vec::with_capacity(asked.tools.len());
    for needed in &asked.tools {
        let held = certified_tool_version(registry, &needed.id)?;
        if held != Some(needed.version) {
            return Ok(Err(format!(
                "denied: skill `{id}` v{version} needs tool `{}` v{}, which is not certified{}",
                needed.id,
                needed.version,
                held.map(|v| format!(" (v{v} is)")).unwrap_or_default()
            )));
        }
        tools.push((needed.id.clone(), needed.version));
    }
    Ok(Ok(SkillPins {
        skill_id: id.to_string(),
        skill_version: version,
        tools,
    }))
}

/// A grant request's skill, once looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkillAsk {
    /// The request names no skill.
    None,
    /// Grantable: the request's scopes are now exactly `tool.invoke` on each tool.
    Pins(SkillPins),
    /// Not grantable: the request is denied with this reason.
    Refused(String),
}

/// The operation a skill grant covers on each of its tools.
pub const TOOL_INVOKE: &str = "tool.invoke";

/// Looks up the skill a request names (`None`: none) and, when it can be granted, replaces
/// the request's scopes (which must be empty) with `tool.invoke` on each of its tools.
pub fn prepare(
    skill: Option<&(String, u32)>,
    scopes: &mut Vec<crate::request::Scope>,
    registry: &dyn Registry,
) -> Result<SkillAsk, AuthorityError> {
    let Some((id, version)) = skill else {
        return Ok(SkillAsk::None);
    };
    if !scopes.is_empty() {
        return Err(AuthorityError::InvalidArgument(
            "a grant request that names a skill names no scopes: the skill's tools are its scopes"
                .into(),
        ));
    }
    Ok(match resolve_skill(registry, id, *version)? {
        Ok(pins) => {
            *scopes = pins
                .tools
                .iter()
                .map(|(tool, _)| crate::request::Scope::new(TOOL_INVOKE, tool))
                .collect();
            SkillAsk::Pins(pins)
        }
        Err(reason) => SkillAsk::Refused(reason),
    })
}

/// Policy's decision for a skill request: a refused skill denies; an allowed grant carries the
/// pins; an approval-required one waits for its approval, which resolves the skill again when
/// it mints (`approvals.rs`), so the grant carries the pins of a skill still certified then.
pub fn decide(
    skill: SkillAsk,
    decision: impl FnOnce() -> Result<Decision, AuthorityError>,
) -> Result<Decision, AuthorityError> {
    let deny = |reason: String| Decision {
        effect: Effect::Deny,
        rule_ids: vec![SKILL_NOT_GRANTABLE.to_string()],
        reason,
        envelope: None,
    };
    match skill {
        SkillAsk::None => decision(),
        SkillAsk::Refused(reason) => Ok(deny(reason)),
        SkillAsk::Pins(pins) => {
            let mut decided = decision()?;
            match decided.effect {
                Effect::Allow => {
                    if let Some(envelope) = decided.envelope.as_mut() {
                        envelope.skill_pins = Some(pins);
                    }
                    Ok(decided)
                }
                Effect::ApprovalRequired | Effect::Deny => Ok(decided),
            }
        }
    }
}
