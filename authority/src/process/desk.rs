//! The `ProcessDesk`: starts instances, records step transitions and answers for an
//! instance's state, one action at a time. Every transition, and every refused one, is also a
//! decision-log entry (`task` = `process-instance:<id>`).

use std::sync::{Mutex, MutexGuard};

use super::instance::{self, ProcessInstance, StepRefusal};
use super::step_revocation;
use super::store::InstanceStore;
use crate::error::{AuthorityError, InternalError};
use crate::profile::{ProcessDef, ProfileSet};
use crate::registry::{DecisionEntry, Registry};
use crate::request::{check_len, MAX_ID};
use crate::revocation::RevocationFeed;

/// Longest note on a transition, or reason on a start.
const MAX_NOTE: usize = 2048;

/// Decision-log effect of a started instance.
pub const PROCESS_STARTED: &str = "process_started";
/// Decision-log effect of a completed step.
pub const STEP_COMPLETED: &str = "step_completed";
/// Decision-log effect of a refused start or completion.
pub const PROCESS_REFUSED: &str = "process_refused";

pub use super::instance::instance_task;

/// A signed request to start an instance.
#[derive(Debug, Clone)]
pub struct Start<'a> {
    pub principal: &'a str,
    pub workspace: &'a str,
    pub process: &'a str,
    pub business_key: &'a str,
    pub reason: &'a str,
}

/// A signed request to complete the current step.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub principal: &'a str,
    pub instance_id: &'a str,
    pub step: &'a str,
    pub exception: &'a str,
    pub note: &'a str,
}

/// Process instances: their store, and the lock that makes each action on them atomic.
pub struct ProcessDesk {
    store: InstanceStore,
    lock: Mutex<()>,
}

/// The error a refusal is answered with.
fn refusal_error(refusal: &StepRefusal) -> AuthorityError {
    let message = format!("{} (rule `{}`)", refusal.reason, refusal.rule_id);
    match refusal.rule_id {
        instance::PROCESS_NOT_FOUND => AuthorityError::NotFound(message),
        instance::PROCESS_NOT_ACTIVE
        | instance::PROCESS_OUT_OF_ORDER
        | instance::PROCESS_UNKNOWN_EXCEPTION => AuthorityError::FailedPrecondition(message),
        _ => AuthorityError::PermissionDenied(message),
    }
}

/// The definition of `instance`'s process, from the loaded profiles.
pub fn definition<'p>(
    profiles: &'p ProfileSet,
    workspace: &str,
    process: &str,
) -> Result<&'p ProcessDef, StepRefusal> {
    profiles
        .for_workspace(workspace)
        .and_then(|p| p.process(process))
        .ok_or_else(|| StepRefusal {
            rule_id: instance::PROCESS_NOT_FOUND,
            reason: format!("workspace `{workspace}` defines no process `{process}`"),
        })
}

impl ProcessDesk {
    pub fn new(store: InstanceStore) -> Self {
        Self {
            store,
            lock: Mutex::new(()),
        }
    }

    /// Holds every other action on instances off until dropped.
    pub(crate) fn lock(&self) -> Result<MutexGuard<'_, ()>, AuthorityError> {
        self.lock
            .lock()
            .map_err(|_| InternalError::Poisoned("process desk").into())
    }

    pub(crate) fn store(&self) -> &InstanceStore {
        &self.store
    }

    /// Records a refusal in the decision log and returns the error it is answered with.
    fn refuse(
        registry: &dyn Registry,
        refusal: &StepRefusal,
        principal: &str,
        workspace: &str,
        instance_id: &str,
        now_ms: i64,
    ) -> AuthorityError {
        let entry = entry(
            PROCESS_REFUSED,
            principal,
            workspace,
            instance_id,
            vec![refusal.rule_id.to_string()],
            refusal.reason.clone(),
            now_ms,
        );
        match registry.record_issue(&entry, None) {
            Ok(()) => refusal_error(refusal),
            Err(e) => e,
        }
    }

    /// Starts an instance of `start.process` for `start.business_key`, at its first step.
    pub fn start(
        &self,
        start: &Start<'_>,
        profiles: &ProfileSet,
        registry: &dyn Registry,
        now_ms: i64,
    ) -> Result<ProcessInstance, AuthorityError> {
        for (field, value, max) in [
            ("workspace", start.workspace, MAX_ID),
            ("process", start.process, MAX_ID),
            ("business_key", start.business_key, MAX_ID),
            ("reason", start.reason, MAX_NOTE),
        ] {
            check_len(field, value, max)?;
        }
        if start.business_key.trim().is_empty() {
            return Err(AuthorityError::InvalidArgument(
                "`business_key` is required".into(),
            ));
        }
        let _guard = self.lock()?;
        let instance_id = uuid::Uuid::now_v7().to_string();
        let refuse = |r: &StepRefusal| {
            Self::refuse(registry, r, start.principal, start.workspace, "", now_ms)
        };
        let def = definition(profiles, start.workspace, start.process).map_err(|r| refuse(&r))?;
        let decision_id = uuid::Uuid::now_v7().to_string();
        let instance = ProcessInstance::start(
            def,
            instance_id,
            start.workspace,
            start.business_key,
            start.principal,
            now_ms,
            start.reason,
            decision_id.clone(),
        )
        .map_err(|r| refuse(&r))?;
        self.store.insert_new(&instance)?;
        let mut entry = entry(
            PROCESS_STARTED,
            start.principal,
            start.workspace,
            &instance.instance_id,
            vec![format!("process:{}", def.name)],
            format!(
                "started process `{}` for business key `{}` at step `{}`",
                def.name,
                start.business_key,
                instance.current_step.as_deref().unwrap_or_default()
            ),
            now_ms,
        );
        entry.decision_id = decision_id;
        registry.record_issue(&entry, None)?;
        tracing::info!(instance = %instance.instance_id, process = %def.name,
            by = %start.principal, "process instance started");
        Ok(instance)
    }

    /// Completes the current step of an instance as `completion.principal`, then revokes the
    /// completed step's live grants (the completion is durable first: a crash in between is
    /// caught by [`ProcessDesk::sweep`] at the next start).
    pub fn complete(
        &self,
        completion: &Completion<'_>,
        profiles: &ProfileSet,
        registry: &dyn Registry,
        feed: &RevocationFeed,
        now_ms: i64,
    ) -> Result<ProcessInstance, AuthorityError> {
        check_len("instance_id", completion.instance_id, MAX_ID)?;
        check_len("step", completion.step, MAX_ID)?;
        check_len("exception", completion.exception, MAX_ID)?;
        check_len("note", completion.note, MAX_NOTE)?;
        let _guard = self.lock()?;
        let refuse = |r: &StepRefusal, workspace: &str| {
            Self::refuse(
                registry,
                r,
                completion.principal,
                workspace,
                completion.instance_id,
                now_ms,
            )
        };
        let mut instance = self.store.get(completion.instance_id)?.ok_or_else(|| {
            let refusal = StepRefusal {
                rule_id: instance::PROCESS_NOT_FOUND,
                reason: format!("no process instance `{}`", completion.instance_id),
            };
            refuse(&refusal, "")
        })?;
        let def = definition(profiles, &instance.workspace, &instance.process)
            .map_err(|r| refuse(&r, &instance.workspace))?;
        let decision_id = uuid::Uuid::now_v7().to_string();
        instance
            .complete(
                def,
                completion.step,
                completion.exception,
                completion.principal,
                now_ms,
                decision_id.clone(),
                completion.note,
            )
            .map_err(|r| refuse(&r, &instance.workspace))?;
        self.store.update(&instance)?;
        let transition = if completion.exception.is_empty() {
            String::new()
        } else {
            format!(" by exception `{}`", completion.exception)
        };
        let mut entry = entry(
            STEP_COMPLETED,
            completion.principal,
            &instance.workspace,
            &instance.instance_id,
            vec![def.rule_id(completion.step)],
            format!(
                "step `{}` completed{transition}; {}",
                completion.step,
                match &instance.current_step {
                    Some(next) => format!("now at step `{next}`"),
                    None => format!("instance {}", instance.status.as_str()),
                }
            ),
            now_ms,
        );
        entry.decision_id = decision_id;
        registry.record_issue(&entry, None)?;
        tracing::info!(instance = %instance.instance_id, step = %completion.step,
            by = %completion.principal, "process step completed");
        if let Some(record) = instance.history.last() {
            step_revocation::revoke_step_grants(
                &instance,
                record,
                completion.principal,
                now_ms,
                registry,
                feed,
            )?;
        }
        Ok(instance)
    }

    /// At start-up: revokes the live grants of every completed step (a crash may have cut
    /// off a completion's revocation). Returns how many revocations it recorded.
    pub fn sweep(
        &self,
        registry: &dyn Registry,
        feed: &RevocationFeed,
        now_ms: i64,
    ) -> Result<usize, AuthorityError> {
        let _guard = self.lock()?;
        step_revocation::sweep(&self.store, registry, feed, now_ms)
    }

    /// The instance `instance_id`, for a reader: an admin or approver (`overseer`), or a
    /// principal with a part in the process.
    pub fn get(
        &self,
        instance_id: &str,
        reader: &str,
        overseer: bool,
        profiles: &ProfileSet,
    ) -> Result<ProcessInstance, AuthorityError> {
        check_len("instance_id", instance_id, MAX_ID)?;
        let not_found = || AuthorityError::NotFound(format!("no process instance `{instance_id}`"));
        let instance = self.store.get(instance_id)?.ok_or_else(not_found)?;
        let involved = definition(profiles, &instance.workspace, &instance.process)
            .is_ok_and(|def| def.involves(reader));
        if !overseer && !involved {
            // Same answer as a missing instance: a stranger learns nothing of its existence.
            return Err(not_found());
        }
        Ok(instance)
    }
}

/// A decision-log entry about an instance.
fn entry(
    effect: &str,
    principal: &str,
    workspace: &str,
    instance_id: &str,
    rule_ids: Vec<String>,
    reason: String,
    now_ms: i64,
) -> DecisionEntry {
    let is_agent = !principal.contains(':');
    DecisionEntry {
        decision_id: uuid::Uuid::now_v7().to_string(),
        time_ms: now_ms,
        agent: if is_agent {
            principal.to_string()
        } else {
            String::new()
        },
        workspace: workspace.to_string(),
        task: if instance_id.is_empty() {
            String::new()
        } else {
            instance_task(instance_id)
        },
        effect: effect.to_string(),
        rule_ids,
        reason,
        actor: principal.to_string(),
        ..Default::default()
    }
}
