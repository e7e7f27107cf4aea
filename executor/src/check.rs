//! Authorize-only checks (the `Check` RPC): the full admission of an `Execute` request and a
//! provenance record, executing nothing; and the record of an operation the agent ran itself
//! after such a check (a Claude Code tool, reported by its PostToolUse hook).
//!
//! The answer is allow, deny or approval-required, naming the check that decided. A grant
//! minted under a shadow-mode profile (`shadow_mode(true)` in its authority block,
//! [`trust_sdk::vocabulary::shadow`]) gets allow where the profile's policy would refuse, and
//! the record says what enforcement would have answered. Shadow mode covers only the
//! profile's policy checks ([`SHADOWED_CHECKS`]) and only after the holder proof passed: a bad,
//! stolen, revoked or expired grant is refused in shadow mode too. `Execute` never honours
//! shadow mode: mediated execution always enforces.
//!
//! A check consumes its holder proof like an execution does (the replay cache), so a proof
//! made for a check can never be executed afterwards.

use std::time::{Instant, SystemTime};

use biscuit_auth::Biscuit;
use trust_sdk::clock::millis;
use trust_sdk::provenance::{ProvenanceRecord, RecordKind};

use crate::admission::{Attempt, ExecuteCall};
use crate::error::Refusal;
use crate::execution::{record_of, Execution};
use crate::operations::Operation;

/// Refusals of the profile's policy, which a shadow-mode grant records but does not answer.
/// Identity, integrity, freshness, confinement and input checks are never shadowed.
pub const SHADOWED_CHECKS: &[&str] = &[
    "grant-scope",
    "deny-rule",
    "shell-policy",
    "shell-approval",
    "command",
    "network-hosts",
];

/// What a check answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckDecision {
    Allow,
    Deny,
    ApprovalRequired,
}

impl CheckDecision {
    /// `allow`, `deny` or `approval_required`.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckDecision::Allow => "allow",
            CheckDecision::Deny => "deny",
            CheckDecision::ApprovalRequired => "approval_required",
        }
    }

    /// The decision enforcement gives a refusal: approval-required for a shell command the
    /// grant's shell policy sends to a person, deny otherwise.
    fn of_refusal(refusal: &Refusal) -> Self {
        match refusal.check {
            "shell-approval" => CheckDecision::ApprovalRequired,
            _ => CheckDecision::Deny,
        }
    }
}

/// What an agent says happened when it ran a checked operation itself (not covered by the
/// holder proof, which covers the operation only).
#[derive(Debug, Clone, Default)]
pub struct ToolReport {
    pub tool: String,
    pub tool_use_id: String,
    /// `ok`, or a short error text.
    pub status: String,
    pub outcome_sha256: String,
    pub outcome_size: u64,
}

/// The answer to a check, with the sequence of its durable record.
#[derive(Debug, Clone)]
pub struct CheckAnswer {
    pub request_id: String,
    pub decision: CheckDecision,
    /// The check that decided; `admitted` when every check passed.
    pub check: String,
    pub message: String,
    /// The grant is in shadow mode and enforcement would have answered this instead.
    pub would_deny: Option<CheckDecision>,
    pub shadow: bool,
    /// The gRPC code name a refused `Execute` would have answered with ("" when allowed).
    pub code: &'static str,
    pub sequence: u64,
}

/// The longest report status kept in a record.
const MAX_REPORT_STATUS: usize = 200;

impl Execution {
    /// Admits `call` at `now` without running it and records the decision (a `check` record,
    /// or a `reported` one with `report`). Only a provenance failure is an error: nothing is
    /// answered without its record.
    pub async fn check(
        &self,
        call: &ExecuteCall,
        report: Option<&ToolReport>,
        now: SystemTime,
    ) -> Result<CheckAnswer, Refusal> {
        let started = Instant::now();
        let announced = self.provenance.announce();
        let time_ms = millis(now);
        let admitted = self.admission.admit_bounded(call, now).await;
        let (mut attempt, refusal, operation) = match admitted {
            Ok(a) => (a.attempt, None, Some(a.operation)),
            Err(refused) => (refused.attempt, Some(refused.refusal), None),
        };
        let refusal = refusal.or_else(|| {
            (!self.provenance.is_healthy()).then(|| {
                Refusal::unavailable("provenance", "provenance log is not writable; refusing")
            })
        });
        if let Some(Operation::Shell { verdict, .. }) = &operation {
            attempt
                .passed
                .push(crate::shell_admission::record_reason(verdict));
        }
        let shadow = match &refusal {
            Some(r) => self.shadows(call, &attempt, r),
            None => false,
        };
        let answer = answer_of(&attempt, refusal.as_ref(), operation.as_ref(), shadow);
        let kind = match report {
            Some(_) => RecordKind::Reported,
            None => RecordKind::Check,
        };
        let request_id = attempt.request_id.clone();
        let mut record = check_record(attempt, time_ms, kind, refusal.as_ref(), shadow);
        if let Some(report) = report {
            add_report(&mut record, report);
        }
        record.duration_us = Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(0));
        let sequence = match self.provenance.append_announced(record, announced).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e, "cannot record a check; refusing");
                return Err(Refusal::unavailable(
                    "provenance",
                    "the check could not be recorded",
                ));
            }
        };
        tracing::info!(request_id = %request_id, decision = answer.decision.as_str(),
            check = %answer.check, shadow, reported = report.is_some(), sequence, "checked");
        Ok(CheckAnswer {
            request_id,
            sequence,
            ..answer
        })
    }

    /// Whether `refusal` is answered as allow because the presented grant is in shadow mode:
    /// a policy refusal, after the holder proof, of a grant whose verified authority block
    /// states `shadow_mode(true)`. Anything that cannot be established is not shadow mode.
    fn shadows(&self, call: &ExecuteCall, attempt: &Attempt, refusal: &Refusal) -> bool {
        if !SHADOWED_CHECKS.contains(&refusal.check)
            || !attempt.passed.iter().any(|c| c == "holder-proof")
        {
            return false;
        }
        let keys = self.admission.trust_state().root_keys();
        let Ok(token) = Biscuit::from(&call.grant, trust_sdk::client::root_key_provider(&keys))
        else {
            return false;
        };
        trust_sdk::structure::Structure::read(&token)
            .and_then(|s| trust_sdk::vocabulary::shadow::is_shadow(&s))
            .unwrap_or(false)
    }
}

/// The answer (without its record's sequence) for an attempt and its refusal, if any.
fn answer_of(
    attempt: &Attempt,
    refusal: Option<&Refusal>,
    operation: Option<&Operation>,
    shadow: bool,
) -> CheckAnswer {
    let base = CheckAnswer {
        request_id: String::new(),
        decision: CheckDecision::Allow,
        check: "admitted".into(),
        message: String::new(),
        would_deny: None,
        shadow: false,
        code: "",
        sequence: 0,
    };
    match refusal {
        None => CheckAnswer {
            message: allowed_message(attempt, operation),
            ..base
        },
        Some(r) if shadow => CheckAnswer {
            check: r.check.to_string(),
            message: r.message.clone(),
            would_deny: Some(CheckDecision::of_refusal(r)),
            shadow: true,
            code: r.kind.code_name(),
            ..base
        },
        Some(r) => CheckAnswer {
            decision: CheckDecision::of_refusal(r),
            check: r.check.to_string(),
            message: r.message.clone(),
            code: r.kind.code_name(),
            ..base
        },
    }
}

/// Why an admitted operation is allowed, in a sentence: the grant, its profile and task, the
/// operation and its resources, and for shell text the rule that allowed it.
fn allowed_message(attempt: &Attempt, operation: Option<&Operation>) -> String {
    let claims = attempt.claims.as_deref();
    let grant = attempt.grant_id.as_deref().unwrap_or("?");
    let profile = claims.map(|c| c.profile.as_str()).unwrap_or("?");
    let task = claims.map(|c| c.task.as_str()).unwrap_or("?");
    let mut message = format!(
        "{} on `{}` is within grant `{grant}` (profile `{profile}`, task `{task}`)",
        attempt.operation,
        attempt.resources.join("`, `"),
    );
    if let Some(Operation::Shell { verdict, .. }) = operation {
        let categories = match verdict.categories.is_empty() {
            true => "none".to_string(),
            false => verdict.categories.join(", "),
        };
        message.push_str(&format!(
            "; shell rule `{}` (categories: {categories})",
            verdict.rule
        ));
    }
    message
}

/// The record of a check: `allow` with the checks passed and status `checked`, or `refuse`
/// with the failed check; under shadow mode `allow` with `shadow` first among the reasons and
/// a status saying what enforcement would have answered.
fn check_record(
    attempt: Attempt,
    time_ms: i64,
    kind: RecordKind,
    refusal: Option<&Refusal>,
    shadow: bool,
) -> ProvenanceRecord {
    let mut record = record_of(attempt, time_ms, kind);
    match refusal {
        None => record.status = Some("checked".into()),
        Some(r) if shadow => {
            let would = CheckDecision::of_refusal(r).as_str();
            record.reasons = vec!["shadow".into(), r.check.to_string(), r.message.clone()];
            record.status = Some(format!("shadow: would {would}"));
        }
        Some(r) => {
            record.decision = "refuse".into();
            record.reasons = vec![r.check.to_string(), r.message.clone()];
            record.status = Some(r.kind.code_name().to_string());
        }
    }
    record
}

/// What the agent reported: the outcome's digest and size, and its status and tool among the
/// reasons (the admission's own status stays first).
fn add_report(record: &mut ProvenanceRecord, report: &ToolReport) {
    let status: String = report.status.chars().take(MAX_REPORT_STATUS).collect();
    let tool: String = report.tool.chars().take(MAX_REPORT_STATUS).collect();
    let tool_use: String = report.tool_use_id.chars().take(MAX_REPORT_STATUS).collect();
    record.reasons.push(format!(
        "reported by the agent: tool `{tool}` (call `{tool_use}`) status `{status}`"
    ));
    let digest = &report.outcome_sha256;
    if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        record.outcome_digest = Some(digest.to_ascii_lowercase());
        record.outcome_size = Some(report.outcome_size);
    }
}
