//! One execution: admission → intent record → run → outcome record, and the record of every
//! refusal.
//!
//! No execution is acknowledged without its durable record; no operation with side effects
//! (`fs.write`, `fs.patch`, `proc.run`) runs without a durable intent record; every refusal is
//! recorded too. A read-only operation ([`trust_sdk::operation::Operation::is_read_only`]) changes nothing, so it has
//! no intent record: it runs right after admission and one `ReadOnly` record (decision, reasons
//! and outcome) is made durable before the reply. If that record cannot be written the result
//! is withheld (`UNAVAILABLE`), as it is when an outcome record cannot be written.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use trust_sdk::provenance::{ProvenanceRecord, RecordKind};
use trust_sdk::vocabulary::Approval;

use crate::admission::{Admission, Attempt, ExecuteCall, Refused};
use crate::error::{Refusal, RefusalKind};
use crate::grant_uses::GrantUses;
use crate::operations::{self, OperationError, OperationLimits, Outcome};
use crate::provenance_log::{Announced, ProvenanceLog};
use crate::run_binding;
use crate::secrets::exec_use as secrets;
use crate::workspace::Workspace;
use trust_sdk::clock::millis;

/// What the executor needs to run one request.
pub struct Execution {
    pub admission: Admission,
    pub provenance: ProvenanceLog,
    pub workspaces: HashMap<String, Arc<Workspace>>,
    pub operation_limits: OperationLimits,
    /// Uses of approved grants, consumed durably before they run.
    pub grant_uses: GrantUses,
    /// Secrets the grants' references name, injected at exec time (`secrets.rs`).
    pub secrets: crate::secrets::SecretBroker,
}

/// An acknowledged execution: its outcome and the sequence of its durable record.
#[derive(Debug)]
pub struct Executed {
    pub request_id: String,
    pub sequence: u64,
    pub outcome: Outcome,
}

/// The record of an attempt, taking it (no copies of its strings); `decision` "allow" and the
/// checks passed as reasons, which a refusal overwrites.
pub(crate) fn record_of(attempt: Attempt, time_ms: i64, kind: RecordKind) -> ProvenanceRecord {
    let Attempt {
        request_id,
        operation,
        resources,
        claims,
        grant_id,
        lineage,
        holder,
        parameters,
        parameters_digest,
        passed,
        process_step,
    } = attempt;
    let claims = claims.as_deref();
    ProvenanceRecord {
        time_ms,
        kind,
        request_id,
        grant_id,
        lineage,
        correlation_id: claims.map(|c| c.correlation_id.clone()),
        agent: claims.map(|c| c.agent.clone()),
        user: claims.map(|c| c.user.clone()),
        task: claims.map(|c| c.task.clone()),
        holder_key: holder,
        operation,
        resources,
        parameters_digest,
        parameters,
        decision: "allow".into(),
        reasons: passed,
        process_instance: process_step.as_ref().map(|p| p.instance_id.clone()),
        process_step: process_step.map(|p| p.step),
        ..Default::default()
    }
}

fn micros_since(started: Instant) -> Option<u64> {
    Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))
}

/// The refusal an operation's failure becomes.
fn operation_refusal(e: OperationError) -> Refusal {
    use OperationError as E;
    let message = e.to_string();
    match e {
        E::InvalidPath { .. } | E::OutsideWorkspace(_) | E::HardLink(_) => {
            Refusal::denied("workspace-confinement", message)
        }
        E::InvalidInput(_) | E::TooLarge(_) => Refusal::invalid("parameters", message),
        E::NotFound(_) => Refusal::new(RefusalKind::NotFound, "operation", message),
        E::PreconditionFailed(_) | E::PatchRejected(_) => {
            Refusal::new(RefusalKind::FailedPrecondition, "operation", message)
        }
        E::Io(_) => Refusal::new(RefusalKind::Internal, "operation", message),
        E::Sandbox(_) => Refusal::new(RefusalKind::FailedPrecondition, "sandbox", message),
        E::Net(net) => crate::http_admission::refusal(net),
        E::Context(c) => Refusal::new(RefusalKind::FailedPrecondition, c.check(), message),
        E::McpUpstream(_) => Refusal::new(RefusalKind::FailedPrecondition, "mcp-upstream", message),
    }
}

/// The refusal when provenance cannot be written: nothing runs or is acknowledged.
fn provenance_unavailable(message: &'static str) -> Refusal {
    Refusal::unavailable("provenance", message)
}

impl Execution {
    /// What a child process must not see: the grant's deny globs and the sensitive class.
    fn hidden_globs(&self, deny_globs: &[String]) -> Arc<Vec<String>> {
        let mut globs: Vec<String> = deny_globs.to_vec();
        globs.extend(trust_sandbox::SENSITIVE_GLOBS.iter().map(|g| g.to_string()));
        Arc::new(globs)
    }

    /// Admits `call` at `now`, runs it inside its bounds and records it; or refuses it, recorded.
    pub async fn execute(&self, call: &ExecuteCall, now: SystemTime) -> Result<Executed, Refusal> {
        let started = Instant::now();
        // This execution will append a record once admitted (or refused): the log's writer may
        // wait briefly for it to share a flush with the records already queued.
        let announced = self.provenance.announce();
        let time_ms = millis(now);
        let admission = self.admission.admit_bounded(call, now).await;
        crate::metrics::admission_took(started.elapsed());
        let admitted = match admission {
            Ok(a) => a,
            Err(refused) => return Err(self.refuse(*refused, time_ms, started, announced).await),
        };
        let Some(workspace) = self.workspaces.get(&admitted.claims.workspace).cloned() else {
            let refusal = Refusal::denied("workspace", "workspace is not guarded here");
            let refused = Refused {
                attempt: admitted.attempt,
                refusal,
            };
            return Err(self.refuse(refused, time_ms, started, announced).await);
        };
        if !self.provenance.is_healthy() {
            let refused = Refused {
                attempt: admitted.attempt,
                refusal: provenance_unavailable("provenance log is not writable; refusing to run"),
            };
            return Err(self.refuse(refused, time_ms, started, announced).await);
        }
        // The files a `proc.run` executes are the declared (for an approved grant: approved)
        // ones; and an approved grant is good for a counted number of uses, of which this one
        // is spent (durably) before anything runs. Otherwise the attempt is refused, recorded.
        let approved = matches!(admitted.claims.approval, Approval::Approved { .. });
        let bound = run_binding::check(
            &admitted.operation,
            &admitted.attempt.parameters,
            approved,
            &workspace,
        )
        .and_then(|()| self.grant_uses.consume(&admitted.claims));
        if let Err(refusal) = bound {
            let refused = Refused {
                attempt: admitted.attempt,
                refusal,
            };
            return Err(self.refuse(refused, time_ms, started, announced).await);
        }
        let mut admitted = admitted;
        if let operations::Operation::Shell { verdict, .. } = &admitted.operation {
            // The record says how the shell text was classified and which rule decided.
            let reason = crate::shell_admission::record_reason(verdict);
            admitted.attempt.passed.push(reason);
        }
        // Secrets the grant names for this operation: resolved before anything runs (an
        // unknown or undecryptable one refuses the run, recorded); the records name them.
        let mut secret_use =
            match secrets::prepare(&self.secrets, &admitted.secret_refs, &admitted.operation) {
                Ok(secret_use) => secret_use,
                Err(refusal) => {
                    let refused = Refused {
                        attempt: admitted.attempt,
                        refusal,
                    };
                    return Err(self.refuse(refused, time_ms, started, announced).await);
                }
            };
        // tool.invoke: the tool's own secret, as its header (the agent never sees it).
        let injected = crate::tool_admission::inject_secret(
            &self.secrets,
            &mut admitted.operation,
            &mut secret_use,
        );
        if let Err(refusal) = injected {
            let refused = Refused {
                attempt: admitted.attempt,
                refusal,
            };
            return Err(self.refuse(refused, time_ms, started, announced).await);
        }
        admitted.attempt.passed.extend(secret_use.reasons.clone());
        if let operations::Operation::Http(call) = &mut admitted.operation {
            call.secret_headers = secret_use.headers.clone();
        }
        // net.http: the first hop's name resolved once and every address checked, or refused.
        if let Err(refusal) = crate::http_admission::pin_first_hop(&mut admitted.operation).await {
            let refused = Refused {
                attempt: admitted.attempt,
                refusal,
            };
            return Err(self.refuse(refused, time_ms, started, announced).await);
        }
        admitted
            .attempt
            .passed
            .extend(crate::http_admission::record_reason(&admitted.operation));
        admitted
            .attempt
            .passed
            .extend(crate::tool_admission::record_reason(&admitted.operation));
        if let (true, Some(sandbox)) = (
            admitted.operation.kind().runs_child(),
            &self.operation_limits.sandbox,
        ) {
            // The record says what the kernel enforces for this child.
            admitted
                .attempt
                .passed
                .push(format!("sandbox {}", sandbox.report()));
            // Egress proxy: the network this child gets (`none`, or the hosts it may reach).
            let hosts = crate::egress_proxy::GrantedHosts::of_claims(&admitted.claims);
            admitted.attempt.passed.push(hosts.network_reason());
        }
        // An operation with side effects runs only after its intent is durable; a read-only
        // one gets a single record after it ran (below), durable before the reply.
        let read_only = admitted.operation.kind().is_read_only();
        let (intent_sequence, announced) = if read_only {
            // A small read keeps its announcement (it appends within microseconds); a listing,
            // a search or a large read may take a while, so the writer must not wait for it.
            let quick = matches!(admitted.operation, operations::Operation::Read { .. });
            (None, quick.then_some(announced))
        } else {
            let intent = record_of(admitted.attempt.clone(), time_ms, RecordKind::Intent);
            let appending = Instant::now();
            let appended = self.provenance.append_announced(intent, announced).await;
            crate::metrics::provenance_append_took(appending.elapsed());
            match appended {
                Ok(seq) => (Some(seq), None),
                Err(e) => {
                    tracing::error!(request_id = %admitted.attempt.request_id, error = %e,
                        "cannot write intent record; refusing");
                    return Err(provenance_unavailable(
                        "provenance log is not writable; refusing to run",
                    ));
                }
            }
        };
        let limits = OperationLimits {
            hidden: Arc::clone(&admitted.hidden),
            writable: Arc::clone(&admitted.writable),
            // Only a child process needs the globs (file operations use the compiled `hidden`).
            hidden_globs: match admitted.operation.kind().runs_child() {
                true => self.hidden_globs(&admitted.claims.deny_globs),
                false => Arc::clone(&self.operation_limits.hidden_globs),
            },
            run_limits: crate::shell_admission::child_limits(
                &self.operation_limits.run_limits,
                &admitted.claims,
            ),
            egress_hosts: Arc::new(crate::egress_proxy::GrantedHosts::of_claims(
                &admitted.claims,
            )),
            secret_env: Arc::clone(&secret_use.env),
            ..self.operation_limits.clone()
        };
        let result = operations::execute(&admitted.operation, &workspace, &limits).await;
        let result = result.map(|outcome| filter_denied(outcome, &admitted.hidden));
        // Nothing the child printed leaves with a value in it (nor does its record).
        let result = result.map(|outcome| secrets::scrub_outcome(outcome, &secret_use.scrubber));
        let request_id = admitted.attempt.request_id.clone();
        let kind = if read_only {
            RecordKind::ReadOnly
        } else {
            RecordKind::Outcome
        };
        let mut record = record_of(admitted.attempt, time_ms, kind);
        record.intent_sequence = intent_sequence;
        record.duration_us = micros_since(started);
        match &result {
            Ok(outcome) => {
                record.status = Some("ok".into());
                record.outcome_digest = Some(outcome.digest());
                record.outcome_size = Some(outcome.size());
                record.reasons.extend(operations::egress_lines(outcome));
                if let Outcome::Http(http) = outcome {
                    record
                        .reasons
                        .push(crate::http_admission::outcome_reason(http));
                }
                if let Outcome::Tool(tool) = outcome {
                    record
                        .reasons
                        .push(crate::tool_admission::outcome_reason(tool));
                }
                if let Outcome::Context(context) = outcome {
                    record
                        .reasons
                        .extend(crate::context::record::lines(context));
                }
            }
            Err(e) => record.status = Some(secret_use.scrubber.scrub_str(&e.to_string()).into()),
        }
        let appending = Instant::now();
        let appended = match announced {
            Some(announced) => self.provenance.append_announced(record, announced).await,
            None => self.provenance.append(record).await,
        };
        crate::metrics::provenance_append_took(appending.elapsed());
        let sequence = match appended {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(request_id = %request_id, error = %e,
                    "cannot write outcome record; not acknowledging");
                return Err(provenance_unavailable("the outcome could not be recorded"));
            }
        };
        let outcome = result.map_err(|e| {
            let mut refusal = operation_refusal(e);
            refusal.message = secret_use.scrubber.scrub_str(&refusal.message).into_owned();
            crate::metrics::refused(refusal.check);
            refusal
        })?;
        crate::metrics::executed(admitted.operation.name());
        tracing::info!(request_id = %request_id, correlation_id = %admitted.claims.correlation_id,
            operation = admitted.operation.name(), grant_id = %admitted.claims.grant_id,
            sequence, "executed");
        Ok(Executed {
            request_id,
            sequence,
            outcome,
        })
    }

    /// Records a refusal (best effort: the request is refused either way) and returns it.
    async fn refuse(
        &self,
        refused: Refused,
        time_ms: i64,
        started: Instant,
        announced: Announced,
    ) -> Refusal {
        let Refused { attempt, refusal } = refused;
        let request_id = attempt.request_id.clone();
        let correlation_id = (attempt.claims.as_deref())
            .map(|c| c.correlation_id.clone())
            .unwrap_or_default();
        let mut record = record_of(attempt, time_ms, RecordKind::Refusal);
        record.decision = "refuse".into();
        record.reasons = vec![refusal.check.to_string(), refusal.message.clone()];
        record.status = Some(refusal.kind.code_name().to_string());
        record.duration_us = micros_since(started);
        let appending = Instant::now();
        if let Err(e) = self.provenance.append_announced(record, announced).await {
            tracing::error!(request_id = %request_id, correlation_id = %correlation_id,
                error = %e, "cannot record a refusal");
        }
        crate::metrics::provenance_append_took(appending.elapsed());
        crate::metrics::refused(refusal.check);
        tracing::info!(request_id = %request_id, correlation_id = %correlation_id,
            check = refusal.check, kind = ?refusal.kind, "refused");
        refusal
    }
}

/// Drops list entries and search matches on paths a deny rule of the grant covers.
/// (A second layer: the walks already skip these paths; `denies` are compiled once per grant.)
fn filter_denied(outcome: Outcome, denies: &[regex::Regex]) -> Outcome {
    let denied = |p: &str| denies.iter().any(|r| r.is_match(p));
    match outcome {
        Outcome::List(mut l) => {
            l.entries.retain(|e| !denied(&e.path));
            Outcome::List(l)
        }
        Outcome::Search(mut s) => {
            s.matches.retain(|m| !denied(&m.path));
            Outcome::Search(s)
        }
        other => other,
    }
}
