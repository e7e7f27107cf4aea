//! `ListTools` and `DescribeTool`: the certified tools a grant lets its holder reach, each
//! schema narrowed to the parameters and values the grant lets it set.
//!
//! A tool is shown when the catalog holds it certified, the grant's authority block names it
//! (as narrowed by each delegation hop), and every block's Datalog lets `tool.invoke` reach it
//! (argument constraints aside). Describing any other tool answers `tool-not-found`, exactly
//! as for a tool that does not exist, after the same work: the catalog lookup, the grant's
//! names and one Datalog run happen on every path. Each answer is recorded (a `check` record).

use std::time::SystemTime;

use trust_sdk::provenance::RecordKind;
use trust_sdk::tools::ToolDefinition;

use crate::admission::ToolViewer;
use crate::error::Refusal;
use crate::execution::{record_of, Execution};
use crate::tool_admission::{narrowed_schema, not_found};
use trust_sdk::clock::millis;

/// One tool as a grant lets its holder see it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolView {
    pub id: String,
    pub version: u32,
    pub description: String,
    pub risk: String,
    pub owner: String,
    /// The parameter schema narrowed to the grant's constraints.
    pub parameters: serde_json::Value,
    /// The grant's constraints on the tool, as text.
    pub constraints: Vec<String>,
}

fn view(tool: &ToolDefinition, viewer: &ToolViewer<'_>) -> ToolView {
    let grant = &viewer.grant_tools().tool_grant;
    let constraints: Vec<_> = grant.constraints_on(&tool.id).collect();
    let risk = serde_json::to_value(tool.risk)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    ToolView {
        id: tool.id.clone(),
        version: tool.version,
        description: tool.description.clone(),
        risk,
        owner: tool.owner.clone(),
        parameters: narrowed_schema(
            &tool.parameters,
            constraints.iter().copied(),
            &grant.task_fields,
        ),
        constraints: constraints.iter().map(ToString::to_string).collect(),
    }
}

/// The certified tool `id` if the grant reaches it: the same lookups and one Datalog run
/// whether or not the tool exists.
fn reachable(
    execution: &Execution,
    viewer: &ToolViewer<'_>,
    id: &str,
) -> Result<Option<ToolDefinition>, Refusal> {
    let found = execution
        .admission
        .tools()
        .and_then(|desk| desk.catalog.certified_tool(id));
    let named = viewer.grant_tools().names(id);
    let reaches = viewer.reaches(id)?;
    Ok(found.filter(|_| named && reaches))
}

impl Execution {
    /// The tools the grant of `call` reaches, by id, and the request id.
    pub async fn list_tools(
        &self,
        call: &crate::admission::ExecuteCall,
        now: SystemTime,
    ) -> Result<(String, Vec<ToolView>), Refusal> {
        let viewer = match self.admission.admit_tool_viewer(call, now) {
            Ok(v) => v,
            Err(refused) => {
                self.record_view(refused.attempt, now, Some(&refused.refusal))
                    .await;
                return Err(refused.refusal);
            }
        };
        let candidates = self
            .admission
            .tools()
            .map(|desk| desk.catalog.certified_tools())
            .unwrap_or_default();
        let mut views = Vec::new();
        for tool in &candidates {
            if viewer.grant_tools().names(&tool.id) && viewer.reaches(&tool.id).is_ok_and(|r| r) {
                views.push(view(tool, &viewer));
            }
        }
        // A refusal of the grant itself (expired, not its holder) refuses the listing.
        if let Err(refusal) = viewer.reaches("") {
            self.record_view(viewer.attempt, now, Some(&refusal)).await;
            return Err(refusal);
        }
        let mut attempt = viewer.attempt;
        attempt.passed.push(format!("tools listed={}", views.len()));
        let request_id = attempt.request_id.clone();
        self.record_view(attempt, now, None).await;
        Ok((request_id, views))
    }

    /// The tool the invocation of `call` names, as its grant lets its holder see it; a tool
    /// the grant does not reach answers as one that does not exist.
    pub async fn describe_tool(
        &self,
        call: &crate::admission::ExecuteCall,
        now: SystemTime,
    ) -> Result<ToolView, Refusal> {
        let viewer = match self.admission.admit_tool_viewer(call, now) {
            Ok(v) => v,
            Err(refused) => {
                self.record_view(refused.attempt, now, Some(&refused.refusal))
                    .await;
                return Err(refused.refusal);
            }
        };
        let id = viewer.tool_id.clone();
        let answer = reachable(self, &viewer, &id)
            .and_then(|found| found.ok_or_else(|| not_found(&id)))
            .map(|tool| view(&tool, &viewer));
        let mut attempt = viewer.attempt;
        attempt.resources = vec![id];
        self.record_view(attempt, now, answer.as_ref().err()).await;
        answer
    }

    /// Records a look at tools (a `check` record), refused or not. Best effort: the answer
    /// shows nothing beyond what the grant allows, so it does not wait on the log.
    async fn record_view(
        &self,
        attempt: crate::admission::Attempt,
        now: SystemTime,
        refusal: Option<&Refusal>,
    ) {
        let mut record = record_of(attempt, millis(now), RecordKind::Check);
        if let Some(refusal) = refusal {
            record.decision = "refuse".into();
            record.reasons = vec![refusal.check.to_string(), refusal.message.clone()];
            record.status = Some(refusal.kind.code_name().to_string());
        }
        if let Err(e) = self.provenance.append(record).await {
            tracing::error!(error = %e, "cannot record a look at tools");
        }
    }
}
