//! The tool and skill registry: admins register versions (drafts), certify them and revoke
//! them; every action is one registry transaction with its decision-log entry, and each
//! certification or revocation is an entry of the signed revocation feed that carries it to
//! executors (`revocation.rs`).
//!
//! Rules: a version is registered as a draft and must be above every version of its id; a
//! draft is certified only if it is above every certified or revoked version (executors keep
//! the latest version they were sent, so an older one could never take effect there); revoking
//! an id revokes all its versions. The version *in force* is the highest certified or revoked
//! one: a tool or skill is usable only when that version is certified. A skill is certified only
//! when each tool it needs is in force at the version it names. Drafts never leave the
//! authority.

mod definition_check;
pub(crate) mod skill_grant;
mod skill_revocation;

pub use definition_check::{check_skill, check_tool, check_url_template};
pub use skill_grant::{decide as decide_skill, prepare as prepare_skill};
pub use skill_grant::{resolve_skill, SkillAsk, SkillPins, SKILL_NOT_GRANTABLE, TOOL_INVOKE};
pub use skill_revocation::sweep as sweep_revoked_skills;

use trust_sdk::tools::{CatalogChange, Certification, SkillDefinition, ToolDefinition};

use crate::error::{AuthorityError, InternalError};
use crate::registry::{CatalogWrite, DecisionEntry, Registry};
use crate::revocation::RevocationFeed;

/// Longest reason an admin may give.
const MAX_REASON_BYTES: usize = 1024;

/// What one registry action did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryChanged {
    pub id: String,
    pub version: u32,
    pub state: Certification,
    /// The feed entry carrying it to executors (0 for a draft, which is not published).
    pub sequence: u64,
    pub decision_id: String,
}

/// A tool or a skill, as the registry's rules see them.
trait Versioned: Clone {
    const KIND: &'static str;
    fn id(&self) -> &str;
    fn version(&self) -> u32;
    fn state(&self) -> Certification;
    fn set_state(&mut self, state: Certification);
    fn change(&self) -> CatalogChange;
    fn stored(registry: &dyn Registry, id: &str) -> Result<Vec<Self>, AuthorityError>;
    fn write(versions: Vec<Self>, decision: DecisionEntry) -> CatalogWrite;
}

impl Versioned for ToolDefinition {
    const KIND: &'static str = "tool";
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn state(&self) -> Certification {
        self.state
    }
    fn set_state(&mut self, state: Certification) {
        self.state = state;
    }
    fn change(&self) -> CatalogChange {
        CatalogChange::Tool(self.clone())
    }
    fn stored(registry: &dyn Registry, id: &str) -> Result<Vec<Self>, AuthorityError> {
        registry.tool_versions(id)
    }
    fn write(versions: Vec<Self>, decision: DecisionEntry) -> CatalogWrite {
        CatalogWrite {
            tool: Some(versions),
            skill: None,
            decision,
            published: None,
            reason: String::new(),
        }
    }
}

impl Versioned for SkillDefinition {
    const KIND: &'static str = "skill";
    fn id(&self) -> &str {
        &self.id
    }
    fn version(&self) -> u32 {
        self.version
    }
    fn state(&self) -> Certification {
        self.state
    }
    fn set_state(&mut self, state: Certification) {
        self.state = state;
    }
    fn change(&self) -> CatalogChange {
        CatalogChange::Skill(self.clone())
    }
    fn stored(registry: &dyn Registry, id: &str) -> Result<Vec<Self>, AuthorityError> {
        registry.skill_versions(id)
    }
    fn write(versions: Vec<Self>, decision: DecisionEntry) -> CatalogWrite {
        CatalogWrite {
            tool: None,
            skill: Some(versions),
            decision,
            published: None,
            reason: String::new(),
        }
    }
}

/// The version in force: the highest certified or revoked one.
fn in_force<T: Versioned>(versions: &[T]) -> Option<&T> {
    versions
        .iter()
        .filter(|v| v.state() != Certification::Draft)
        .max_by_key(|v| v.version())
}

/// The version of tool `id` that is in force and certified, if any.
pub fn certified_tool_version(
    registry: &dyn Registry,
    id: &str,
) -> Result<Option<u32>, AuthorityError> {
    let versions = registry.tool_versions(id)?;
    Ok(in_force(&versions)
        .filter(|t| t.state == Certification::Certified)
        .map(|t| t.version))
}

/// The certified version of skill `id` in force, if any.
fn certified_skill(
    registry: &dyn Registry,
    id: &str,
) -> Result<Option<SkillDefinition>, AuthorityError> {
    let versions = registry.skill_versions(id)?;
    Ok(in_force(&versions)
        .filter(|s| s.state == Certification::Certified)
        .cloned())
}

fn check_reason(reason: &str) -> Result<(), AuthorityError> {
    crate::request::check_len("reason", reason, MAX_REASON_BYTES)
}

fn decision(effect: String, reason: String, actor: &str, now_ms: i64) -> DecisionEntry {
    DecisionEntry {
        decision_id: uuid::Uuid::now_v7().to_string(),
        time_ms: now_ms,
        effect,
        reason,
        actor: actor.to_string(),
        ..Default::default()
    }
}

fn with_reason(what: String, reason: &str) -> String {
    if reason.is_empty() {
        what
    } else {
        format!("{what}: {reason}")
    }
}

/// Plans one change on the stored registry: the write, and the version and state it leaves.
type Plan<'a> =
    dyn FnMut(&dyn Registry) -> Result<(CatalogWrite, u32, Certification), AuthorityError> + 'a;

/// Who acts, when, why, and where the change is recorded and published.
pub struct RegistryAction<'a> {
    pub actor: &'a str,
    pub reason: &'a str,
    pub now_ms: i64,
    pub registry: &'a dyn Registry,
    pub feed: &'a RevocationFeed,
}

impl RegistryAction<'_> {
    /// Plans and writes one change; publishes its feed entry. `plan` returns the write and
    /// the version it is about.
    fn apply(&self, plan: &mut Plan<'_>) -> Result<RegistryChanged, AuthorityError> {
        check_reason(self.reason)?;
        let mut outcome = None;
        let entry = self.registry.change_catalog(
            &mut |registry| {
                let (write, version, state) = plan(registry)?;
                outcome = Some((write.decision.clone(), version, state));
                Ok(write)
            },
            self.now_ms,
        )?;
        let (decision, version, state) =
            outcome.ok_or(InternalError::Invariant("registry change without a plan"))?;
        if let Some(entry) = &entry {
            self.feed.publish(std::slice::from_ref(entry));
        }
        let sequence = entry.as_ref().map(|e| e.sequence).unwrap_or(0);
        tracing::warn!(effect = %decision.effect, reason = %decision.reason, by = %self.actor,
            sequence, "tool registry changed");
        Ok(RegistryChanged {
            id: String::new(),
            version,
            state,
            sequence,
            decision_id: decision.decision_id,
        })
    }

    fn register<T: Versioned>(&self, mut definition: T) -> Result<RegistryChanged, AuthorityError> {
        let kind = T::KIND;
        definition.set_state(Certification::Draft);
        let id = definition.id().to_string();
        let mut changed = self.apply(&mut |registry| {
            let mut versions = T::stored(registry, &id)?;
            if let Some(latest) = versions.iter().map(Versioned::version).max() {
                if definition.version() <= latest {
                    return Err(AuthorityError::FailedPrecondition(format!(
                        "{kind} `{id}` version {} is not above its latest version {latest}",
                        definition.version()
                    )));
                }
            }
            versions.push(definition.clone());
            let entry = decision(
                format!("{kind}_registered"),
                with_reason(
                    format!("registered {kind} `{id}` v{} (draft)", definition.version()),
                    self.reason,
                ),
                self.actor,
                self.now_ms,
            );
            Ok((
                T::write(versions, entry),
                definition.version(),
                Certification::Draft,
            ))
        })?;
        changed.id = id;
        Ok(changed)
    }

    fn certify<T: Versioned>(
        &self,
        id: &str,
        version: u32,
        ready: &dyn Fn(&dyn Registry, &T) -> Result<(), AuthorityError>,
    ) -> Result<RegistryChanged, AuthorityError> {
        let kind = T::KIND;
        let mut changed = self.apply(&mut |registry| {
            let mut versions = T::stored(registry, id)?;
            let held = in_force(&versions).map(|v| (v.version(), v.state()));
            let target = versions
                .iter_mut()
                .find(|v| v.version() == version)
                .ok_or_else(|| {
                    AuthorityError::NotFound(format!("{kind} `{id}` version {version}"))
                })?;
            match target.state() {
                Certification::Draft => {}
                state => {
                    return Err(AuthorityError::FailedPrecondition(format!(
                        "{kind} `{id}` v{version} is {}, not a draft",
                        state.as_str()
                    )))
                }
            }
            if let Some((newer, state)) = held.filter(|(v, _)| *v > version) {
                return Err(AuthorityError::FailedPrecondition(format!(
                    "{kind} `{id}` v{newer} is already {}: register a version above it",
                    state.as_str()
                )));
            }
            ready(registry, target)?;
            target.set_state(Certification::Certified);
            let change = target.change();
            let what = change.describe();
            let mut write = T::write(
                versions,
                decision(
                    format!("{kind}_certified"),
                    with_reason(format!("certified {kind} `{id}` v{version}"), self.reason),
                    self.actor,
                    self.now_ms,
                ),
            );
            write.published = Some(published(&change)?);
            write.reason = with_reason(what, self.reason);
            Ok((write, version, Certification::Certified))
        })?;
        changed.id = id.to_string();
        Ok(changed)
    }

    fn revoke<T: Versioned>(&self, id: &str) -> Result<RegistryChanged, AuthorityError> {
        let kind = T::KIND;
        let mut changed = self.apply(&mut |registry| {
            let mut versions = T::stored(registry, id)?;
            if versions.is_empty() {
                return Err(AuthorityError::NotFound(format!("{kind} `{id}`")));
            }
            if versions.iter().all(|v| v.state() == Certification::Revoked) {
                return Err(AuthorityError::FailedPrecondition(format!(
                    "{kind} `{id}` is already revoked"
                )));
            }
            for v in versions.iter_mut() {
                v.set_state(Certification::Revoked);
            }
            let latest = versions
                .iter()
                .max_by_key(|v| v.version())
                .ok_or(InternalError::Invariant("revoking no version"))?;
            let version = latest.version();
            let change = latest.change();
            let what = change.describe();
            let mut write = T::write(
                versions.clone(),
                decision(
                    format!("{kind}_revoked"),
                    with_reason(
                        format!("revoked {kind} `{id}` (every version, up to v{version})"),
                        self.reason,
                    ),
                    self.actor,
                    self.now_ms,
                ),
            );
            write.published = Some(published(&change)?);
            write.reason = with_reason(what, self.reason);
            Ok((write, version, Certification::Revoked))
        })?;
        changed.id = id.to_string();
        Ok(changed)
    }

    /// Registers a tool version as a draft (its `state` is ignored).
    pub fn register_tool(&self, tool: ToolDefinition) -> Result<RegistryChanged, AuthorityError> {
        check_tool(&tool)?;
        self.register(tool)
    }

    /// Certifies a draft tool version; executors receive it on the feed.
    pub fn certify_tool(&self, id: &str, version: u32) -> Result<RegistryChanged, AuthorityError> {
        self.certify::<ToolDefinition>(id, version, &|_, _| Ok(()))
    }

    /// Revokes every version of a tool; executors refuse it once the feed brings it.
    pub fn revoke_tool(&self, id: &str) -> Result<RegistryChanged, AuthorityError> {
        self.revoke::<ToolDefinition>(id)
    }

    /// Registers a skill version as a draft: every tool it needs must exist at the version
    /// it names (and not be revoked).
    pub fn register_skill(
        &self,
        skill: SkillDefinition,
    ) -> Result<RegistryChanged, AuthorityError> {
        check_skill(&skill)?;
        for needed in &skill.tools {
            let versions = self.registry.tool_versions(&needed.id)?;
            match versions.iter().find(|t| t.version == needed.version) {
                None => {
                    return Err(AuthorityError::FailedPrecondition(format!(
                        "skill `{}` needs tool `{}` v{}, which is not registered",
                        skill.id, needed.id, needed.version
                    )))
                }
                Some(t) if t.state == Certification::Revoked => {
                    return Err(AuthorityError::FailedPrecondition(format!(
                        "skill `{}` needs tool `{}` v{}, which is revoked",
                        skill.id, needed.id, needed.version
                    )))
                }
                Some(_) => {}
            }
        }
        self.register(skill)
    }

    /// Certifies a draft skill version: each tool it needs must be certified and in force at
    /// the version it names.
    pub fn certify_skill(&self, id: &str, version: u32) -> Result<RegistryChanged, AuthorityError> {
        self.certify::<SkillDefinition>(id, version, &|registry, skill| {
            for needed in &skill.tools {
                let held = certified_tool_version(registry, &needed.id)?;
                if held != Some(needed.version) {
                    return Err(AuthorityError::FailedPrecondition(format!(
                        "skill `{id}` v{version} needs tool `{}` v{}, but {}",
                        needed.id,
                        needed.version,
                        match held {
                            Some(v) => format!("v{v} is the certified version"),
                            None => "no version of it is certified".into(),
                        }
                    )));
                }
            }
            Ok(())
        })
    }

    /// Revokes every version of a skill: no grant names it any more, and every live grant
    /// issued for it is revoked (after the skill's revocation is durable: a crash in between
    /// is caught by [`sweep_revoked_skills`] at the next start).
    pub fn revoke_skill(&self, id: &str) -> Result<RegistryChanged, AuthorityError> {
        let changed = self.revoke::<SkillDefinition>(id)?;
        let cause = format!("skill revocation decision `{}`", changed.decision_id);
        skill_revocation::revoke_skill_grants(
            id,
            &cause,
            self.actor,
            self.now_ms,
            self.registry,
            self.feed,
        )?;
        Ok(changed)
    }
}

fn published(change: &CatalogChange) -> Result<String, AuthorityError> {
    serde_json::to_string(change).map_err(|e| {
        AuthorityError::from(InternalError::Serialize {
            what: "registry change",
            detail: e.to_string(),
        })
    })
}

#[cfg(test)]
mod tests;
