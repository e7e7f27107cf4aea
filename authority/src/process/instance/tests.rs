//! The instance's rules, without IO: who may act in which step, in which order, and what a
//! completion records.

use std::path::Path;

use super::*;
use crate::profile::Profile;

/// `prepare` → `approve` (approval point; exception `rejected` → `rework`) → `release`, with
/// `rework` (exception step, back to `approve`) and `cancel` (exception step that ends).
const PROFILE: &str = r#"
[profile]
name = "finance"
workspace = "demo"
users = ["alice"]
agents = ["clerk", "checker", "payer"]

[[process]]
name = "pay"
started_by = ["clerk"]
roles = { clerks = ["clerk", "payer"], approvers = ["clerk", "checker", "approver:carol"] }
distinct = [["approve", "release"]]

[[process.steps]]
name = "prepare"
roles = ["clerks"]
operations = ["fs.write"]
resources = ["invoices/**"]
exceptions = { cancelled = "cancel" }

[[process.steps]]
name = "approve"
approval = true
roles = ["approvers"]
exceptions = { rejected = "rework" }

[[process.steps]]
name = "release"
agents = ["checker", "payer", "clerk"]
operations = ["fs.write"]
resources = ["payments/**"]

[[process.steps]]
name = "rework"
exception = true
next = "approve"
roles = ["clerks"]

[[process.steps]]
name = "cancel"
exception = true
agents = ["clerk"]
"#;

fn def() -> ProcessDef {
    let profile = Profile::from_toml_str(PROFILE, Path::new("finance.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    profile.process("pay").cloned().expect("process `pay`")
}

fn started(def: &ProcessDef) -> ProcessInstance {
    ProcessInstance::start(
        def,
        "i-1".into(),
        "demo",
        "INV-1",
        "clerk",
        1_000,
        "invoice received",
        "d-start".into(),
    )
    .expect("clerk starts it")
}

fn complete(
    instance: &mut ProcessInstance,
    def: &ProcessDef,
    step: &str,
    exception: &str,
    by: &str,
) -> Result<(), StepRefusal> {
    instance.complete(def, step, exception, by, 2_000, format!("d-{step}"), "")
}

fn grant(id: &str, agent: &str) -> StepGrant {
    StepGrant {
        grant_id: id.into(),
        agent: agent.into(),
        issued_at_ms: 1_500,
        expires_at_ms: 60_000,
        decision_id: format!("d-{id}"),
    }
}

fn refused_by(result: Result<(), StepRefusal>, rule: &str) -> StepRefusal {
    let refusal = result.expect_err("refused");
    assert_eq!(refusal.rule_id, rule, "{}", refusal.reason);
    refusal
}

#[test]
fn only_a_starter_starts_and_the_instance_begins_at_the_first_step() {
    let def = def();
    let refusal = ProcessInstance::start(
        &def,
        "i-2".into(),
        "demo",
        "INV-2",
        "checker",
        1_000,
        "",
        "d".into(),
    )
    .expect_err("checker may not start it");
    assert_eq!(refusal.rule_id, PROCESS_NOT_STARTER);
    let instance = started(&def);
    assert_eq!(instance.status, InstanceStatus::Active);
    assert_eq!(instance.current_step.as_deref(), Some("prepare"));
    assert!(instance.history.is_empty() && instance.current_grants.is_empty());
}

#[test]
fn steps_complete_only_in_order_and_only_by_their_performers() {
    let def = def();
    let mut instance = started(&def);
    let before = instance.clone();
    refused_by(
        complete(&mut instance, &def, "approve", "", "checker"),
        PROCESS_OUT_OF_ORDER,
    );
    refused_by(
        complete(&mut instance, &def, "", "", "clerk"),
        PROCESS_OUT_OF_ORDER,
    );
    refused_by(
        complete(&mut instance, &def, "prepare", "", "checker"),
        PROCESS_NOT_PERFORMER,
    );
    refused_by(
        complete(&mut instance, &def, "prepare", "lost", "clerk"),
        PROCESS_UNKNOWN_EXCEPTION,
    );
    assert_eq!(instance, before, "a refused completion changes nothing");
    complete(&mut instance, &def, "prepare", "", "clerk").unwrap();
    assert_eq!(instance.current_step.as_deref(), Some("approve"));
    // The same step cannot be completed twice.
    refused_by(
        complete(&mut instance, &def, "prepare", "", "clerk"),
        PROCESS_OUT_OF_ORDER,
    );
}

#[test]
fn an_approval_point_is_performed_by_nobody_who_acted_before() {
    let def = def();
    let mut instance = started(&def);
    // payer was granted for `prepare` (never completed it): that is acting in it too.
    instance.current_grants.push(grant("g-payer", "payer"));
    complete(&mut instance, &def, "prepare", "", "clerk").unwrap();
    let refusal = refused_by(
        complete(&mut instance, &def, "approve", "", "clerk"),
        PROCESS_APPROVAL_SEPARATION,
    );
    assert!(
        refusal.reason.contains("step `prepare`"),
        "{}",
        refusal.reason
    );
    // A person's approval is no different.
    assert!(instance
        .check_actor(&def, def.step("approve").unwrap(), "approver:carol")
        .is_ok());
    complete(&mut instance, &def, "approve", "", "checker").unwrap();
    assert_eq!(instance.current_step.as_deref(), Some("release"));
}

#[test]
fn segregation_of_duties_separates_the_distinct_steps() {
    let def = def();
    let mut instance = started(&def);
    complete(&mut instance, &def, "prepare", "", "clerk").unwrap();
    complete(&mut instance, &def, "approve", "", "checker").unwrap();
    refused_by(
        complete(&mut instance, &def, "release", "", "checker"),
        PROCESS_SEGREGATION,
    );
    // Not `distinct` from `prepare`: its preparer may release.
    complete(&mut instance, &def, "release", "", "clerk").unwrap();
    assert_eq!(instance.status, InstanceStatus::Completed);
    assert_eq!(instance.current_step, None);
    refused_by(
        complete(&mut instance, &def, "release", "", "clerk"),
        PROCESS_NOT_ACTIVE,
    );
    refused_by(
        complete(&mut instance, &def, "", "", "clerk"),
        PROCESS_NOT_ACTIVE,
    );
}

#[test]
fn a_grant_in_the_current_step_counts_as_acting_in_it() {
    let def = def();
    let mut instance = started(&def);
    complete(&mut instance, &def, "prepare", "", "clerk").unwrap();
    instance.current_grants.push(grant("g-approve", "checker"));
    assert!(instance.acted_in("approve", "checker"));
    assert!(!instance.acted_in("release", "checker"));
    complete(&mut instance, &def, "approve", "", "approver:carol").unwrap();
    // checker held a grant of `approve`: `distinct` keeps it from `release`.
    refused_by(
        instance.check_actor(&def, def.step("release").unwrap(), "checker"),
        PROCESS_SEGREGATION,
    );
}

#[test]
fn exceptions_are_explicit_transitions() {
    let def = def();
    let mut instance = started(&def);
    complete(&mut instance, &def, "prepare", "", "clerk").unwrap();
    // `approve` defines `rejected` only.
    refused_by(
        complete(&mut instance, &def, "approve", "cancelled", "checker"),
        PROCESS_UNKNOWN_EXCEPTION,
    );
    complete(&mut instance, &def, "approve", "rejected", "checker").unwrap();
    assert_eq!(instance.current_step.as_deref(), Some("rework"));
    assert_eq!(instance.history[1].exception, "rejected");
    assert_eq!(instance.history[1].next_step.as_deref(), Some("rework"));
    complete(&mut instance, &def, "rework", "", "clerk").unwrap();
    // `rework` leads back to `approve`, where checker's earlier approval is no bar but the
    // clerk (who prepared and reworked) still may not approve.
    assert_eq!(instance.current_step.as_deref(), Some("approve"));
    refused_by(
        complete(&mut instance, &def, "approve", "", "clerk"),
        PROCESS_APPROVAL_SEPARATION,
    );
    complete(&mut instance, &def, "approve", "", "checker").unwrap();
    assert_eq!(instance.current_step.as_deref(), Some("release"));
}

#[test]
fn an_exception_step_without_a_next_step_ends_the_instance() {
    let def = def();
    let mut instance = started(&def);
    complete(&mut instance, &def, "prepare", "cancelled", "clerk").unwrap();
    assert_eq!(instance.current_step.as_deref(), Some("cancel"));
    complete(&mut instance, &def, "cancel", "", "clerk").unwrap();
    assert_eq!(instance.status, InstanceStatus::Ended);
    assert_eq!(instance.current_step, None);
}

#[test]
fn completion_moves_the_step_grants_into_its_record() {
    let def = def();
    let mut instance = started(&def);
    instance.current_grants.push(grant("g-1", "clerk"));
    instance.current_grants.push(grant("g-2", "payer"));
    instance
        .complete(&def, "prepare", "", "clerk", 2_500, "d-p".into(), "done")
        .unwrap();
    assert!(instance.current_grants.is_empty());
    let record = &instance.history[0];
    assert_eq!(
        record
            .grants
            .iter()
            .map(|g| g.grant_id.as_str())
            .collect::<Vec<_>>(),
        vec!["g-1", "g-2"]
    );
    assert_eq!(
        (
            record.step.as_str(),
            record.performed_by.as_str(),
            record.completed_at_ms,
            record.decision_id.as_str(),
            record.note.as_str(),
            record.rule_id.as_str(),
            record.next_step.as_deref()
        ),
        (
            "prepare",
            "clerk",
            2_500,
            "d-p",
            "done",
            "process:pay/prepare",
            Some("approve")
        )
    );
}
