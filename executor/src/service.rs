//! The gRPC edge of the executor: admission → intent record → run → outcome record → reply.
//!
//! No execution is acknowledged without its durable record; no operation with side effects
//! (`fs.write`, `fs.patch`, `proc.run`) runs without a durable intent record; every refusal is
//! recorded too. A read-only operation ([`READ_ONLY_OPERATIONS`]) changes nothing, so it has no
//! intent record: it runs right after admission and one `ReadOnly` record (decision, reasons and
//! outcome) is made durable before the reply. If that record cannot be written the result is
//! withheld (`UNAVAILABLE`), as it is when an outcome record cannot be written.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use trust_proto::common::v1::SignedRequest;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::executor_server::Executor;
use trust_sdk::provenance::{
    parameters_digest, ProvenanceEntry, ProvenanceRecord, RecordKind, READ_ONLY_OPERATIONS,
};
use trust_sdk::signed::{self, ReplayGuard};

use crate::admission::{Admission, AttemptContext};
use crate::error::{Refusal, RefusalKind};
use crate::operations::{self, OperationError, OperationLimits, Outcome};
use crate::provenance_log::{Announced, ProvenanceFilter, ProvenanceLog};
use crate::status;
use crate::workspace::Workspace;

/// Shared state of the executor service.
pub struct ExecutorService {
    pub(crate) executor_id: String,
    pub(crate) admission: Admission,
    pub(crate) provenance: ProvenanceLog,
    pub(crate) workspaces: HashMap<String, Arc<Workspace>>,
    pub(crate) operation_limits: OperationLimits,
    pub(crate) auditors: HashMap<String, ed25519_dalek::VerifyingKey>,
    pub(crate) audit_replay: ReplayGuard,
}

/// The wall clock, read only here at the edge.
#[expect(
    clippy::disallowed_methods,
    reason = "the service edge is where the clock is read"
)]
pub fn now() -> SystemTime {
    SystemTime::now()
}

pub fn millis(t: SystemTime) -> i64 {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The fields every record of this attempt shares, from a copy of its context.
fn base_record(ctx: &AttemptContext, time_ms: i64, kind: RecordKind) -> ProvenanceRecord {
    let digest = parameters_digest(&ctx.parameters);
    record_of(ctx.clone(), time_ms, kind, digest)
}

/// The record of an attempt, taking its context (no copies of its strings); `decision` "allow"
/// and the checks passed as reasons, which a refusal overwrites.
fn record_of(
    ctx: AttemptContext,
    time_ms: i64,
    kind: RecordKind,
    parameters_digest: String,
) -> ProvenanceRecord {
    let AttemptContext {
        request_id,
        operation,
        resources,
        claims,
        grant_id,
        lineage,
        holder,
        parameters,
        passed,
    } = ctx;
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
        ..Default::default()
    }
}

fn micros_since(started: Instant) -> Option<u64> {
    Some(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX))
}

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
        other => Refusal::new(RefusalKind::Internal, "operation", other.to_string()),
    }
}

impl ExecutorService {
    async fn execute(&self, request: pb::ExecuteRequest) -> Result<pb::ExecuteResponse, Status> {
        let started = Instant::now();
        // This execution will append a record once admitted (or refused): the log's writer may
        // wait briefly for it to share a flush with the records already queued.
        let announced = self.provenance.announce();
        let now = now();
        let mut ctx = AttemptContext::default();
        let admitted = match self.admission.admit(&request, now, &mut ctx) {
            Ok(a) => a,
            Err(refusal) => {
                return Err(self
                    .refuse(&ctx, millis(now), refusal, started, announced)
                    .await)
            }
        };
        let workspace = match self.workspaces.get(&admitted.claims.workspace) {
            Some(w) => Arc::clone(w),
            None => {
                let r = Refusal::denied("workspace", "workspace is not guarded here");
                return Err(self.refuse(&ctx, millis(now), r, started, announced).await);
            }
        };
        if !self.provenance.is_healthy() {
            let r = Refusal::unavailable(
                "provenance",
                "provenance log is not writable; refusing to run",
            );
            return Err(self.refuse(&ctx, millis(now), r, started, announced).await);
        }
        // An operation with side effects runs only after its intent is durable; a read-only
        // one gets a single record after it ran (below), durable before the reply.
        let read_only = READ_ONLY_OPERATIONS.contains(&admitted.operation.name());
        let time_ms = millis(now);
        let digest = parameters_digest(&ctx.parameters);
        let (intent_sequence, announced) = if read_only {
            // A small read keeps its announcement (it appends within microseconds); a listing,
            // a search or a large read may take a while, so the writer must not wait for it.
            let quick = matches!(admitted.operation, operations::Operation::Read { .. });
            (None, quick.then_some(announced))
        } else {
            let intent = record_of(ctx.clone(), time_ms, RecordKind::Intent, digest.clone());
            match self.provenance.append_announced(intent, announced).await {
                Ok(seq) => (Some(seq), None),
                Err(e) => {
                    tracing::error!(error = %e, "cannot write intent record; refusing");
                    return Err(Refusal::unavailable(
                        "provenance",
                        "provenance log is not writable; refusing to run",
                    )
                    .into());
                }
            }
        };
        let limits = OperationLimits {
            hidden: Arc::clone(&admitted.hidden),
            ..self.operation_limits.clone()
        };
        let result = operations::execute(&admitted.operation, &workspace, &limits).await;
        let result = result.map(|outcome| filter_denied(outcome, &admitted.hidden));
        let request_id = ctx.request_id.clone();
        let kind = if read_only {
            RecordKind::ReadOnly
        } else {
            RecordKind::Outcome
        };
        let mut record = record_of(ctx, time_ms, kind, digest);
        record.intent_sequence = intent_sequence;
        record.duration_us = micros_since(started);
        match &result {
            Ok(outcome) => {
                record.status = Some("ok".into());
                record.outcome_digest = Some(outcome.digest());
                record.outcome_size = Some(outcome.size());
            }
            Err(e) => record.status = Some(e.to_string()),
        }
        let appended = match announced {
            Some(announced) => self.provenance.append_announced(record, announced).await,
            None => self.provenance.append(record).await,
        };
        let sequence = match appended {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e, "cannot write outcome record; not acknowledging");
                return Err(Refusal::unavailable(
                    "provenance",
                    "the outcome could not be recorded",
                )
                .into());
            }
        };
        let outcome = result.map_err(operation_refusal)?;
        tracing::info!(request_id = %request_id, operation = admitted.operation.name(), grant_id = %admitted.claims.grant_id,
            sequence, "executed");
        Ok(pb::ExecuteResponse {
            request_id,
            provenance_sequence: sequence,
            result: Some(to_wire(outcome)),
        })
    }

    /// Records a refusal (best effort: the request is refused either way) and builds its status.
    async fn refuse(
        &self,
        ctx: &AttemptContext,
        time_ms: i64,
        refusal: Refusal,
        started: Instant,
        announced: Announced,
    ) -> Status {
        let code = status::code(refusal.kind);
        let mut record = base_record(ctx, time_ms, RecordKind::Refusal);
        record.decision = "refuse".into();
        record.reasons = vec![refusal.check.to_string(), refusal.message.clone()];
        record.status = Some(format!("{code:?}"));
        record.duration_us = micros_since(started);
        if let Err(e) = self.provenance.append_announced(record, announced).await {
            tracing::error!(error = %e, "cannot record a refusal");
        }
        tracing::info!(request_id = %ctx.request_id, check = refusal.check, code = ?code, "refused");
        refusal.into()
    }

    fn authenticate_auditor<M: prost::Message + Default>(
        &self,
        rpc: &str,
        request: &SignedRequest,
        freshness: impl Fn(&M) -> Option<trust_proto::common::v1::Freshness>,
    ) -> Result<M, Status> {
        let name = request
            .signer_id
            .strip_prefix("auditor:")
            .unwrap_or(&request.signer_id);
        let key = self.auditors.get(name).ok_or_else(|| {
            Status::unauthenticated(format!("`{}` is not an auditor", request.signer_id))
        })?;
        let body: M = signed::verify(rpc, request, key)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        self.audit_replay
            .admit(&request.signer_id, freshness(&body).as_ref(), millis(now()))
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        Ok(body)
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

fn to_wire(outcome: Outcome) -> pb::execute_response::Result {
    use pb::execute_response::Result as R;
    match outcome {
        Outcome::Read(r) => R::Read(pb::ReadResult {
            data: r.data,
            file_size: r.file_size,
            truncated: r.truncated,
            sha256: r.sha256,
        }),
        Outcome::List(l) => R::List(pb::ListResult {
            entries: l
                .entries
                .into_iter()
                .map(|e| pb::ListEntry {
                    path: e.path,
                    kind: match e.kind {
                        operations::EntryKind::File => pb::EntryKind::File,
                        operations::EntryKind::Directory => pb::EntryKind::Directory,
                        operations::EntryKind::Symlink => pb::EntryKind::Symlink,
                        operations::EntryKind::Other => pb::EntryKind::Other,
                    } as i32,
                    size: e.size,
                })
                .collect(),
            truncated: l.truncated,
        }),
        Outcome::Search(s) => R::Search(pb::SearchResult {
            matches: s
                .matches
                .into_iter()
                .map(|m| pb::SearchMatch {
                    path: m.path,
                    line_number: m.line_number,
                    line: m.line,
                })
                .collect(),
            truncated: s.truncated,
            files_scanned: s.files_scanned,
            binary_files_skipped: s.binary_files_skipped,
        }),
        Outcome::Write(w) => R::Write(pb::WriteResult {
            sha256: w.sha256,
            bytes_written: w.bytes_written,
            created: w.created,
        }),
        Outcome::Patch(p) => R::Patch(pb::PatchResult {
            files: p
                .files
                .into_iter()
                .map(|f| pb::PatchedFile {
                    path: f.path,
                    sha256: f.sha256,
                    hunks: f.hunks,
                })
                .collect(),
        }),
        Outcome::Run(r) => R::Run(pb::RunResult {
            exit_code: r.exit_code,
            signal: r.signal,
            stdout: r.stdout,
            stderr: r.stderr,
            stdout_truncated: r.stdout_truncated,
            stderr_truncated: r.stderr_truncated,
            timed_out: r.timed_out,
            duration_ms: u64::try_from(r.duration.as_millis()).unwrap_or(u64::MAX),
        }),
    }
}

type Reply<T> = Result<Response<T>, Status>;
type LineStream = ReceiverStream<Result<pb::ProvenanceLine, Status>>;

/// The tonic service: a cheap handle on the shared state.
#[derive(Clone)]
pub struct ExecutorApi(pub Arc<ExecutorService>);

fn stream_lines(lines: Vec<Result<String, Status>>) -> LineStream {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        for line in lines {
            if tx
                .send(line.map(|json| pb::ProvenanceLine { json }))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    ReceiverStream::new(rx)
}

#[tonic::async_trait]
impl Executor for ExecutorApi {
    async fn execute(&self, request: Request<pb::ExecuteRequest>) -> Reply<pb::ExecuteResponse> {
        self.0
            .execute(request.into_inner())
            .await
            .map(Response::new)
    }

    async fn get_identity(
        &self,
        _: Request<pb::GetIdentityRequest>,
    ) -> Reply<pb::ExecutorIdentity> {
        Ok(Response::new(pb::ExecutorIdentity {
            executor_id: self.0.executor_id.clone(),
            public_key: self.0.provenance.public_key().as_bytes().to_vec(),
        }))
    }

    type ExportProvenanceStream = LineStream;

    async fn export_provenance(&self, request: Request<SignedRequest>) -> Reply<LineStream> {
        let request = request.into_inner();
        let body: pb::ExportProvenanceBody = self.0.authenticate_auditor(
            "ExportProvenance",
            &request,
            |b: &pb::ExportProvenanceBody| b.freshness.clone(),
        )?;
        // Sealed by a fresh checkpoint so truncation of the export is detectable.
        let (_, entries) = self
            .0
            .provenance
            .export_sealed(body.after_sequence, millis(now()))
            .map_err(|e| Status::unavailable(format!("cannot export provenance: {e}")))?;
        let lines = entries
            .map(|entry| {
                entry
                    .map_err(|e| Status::unavailable(e.to_string()))
                    .and_then(|e: ProvenanceEntry| {
                        serde_json::to_string(&e).map_err(|e| Status::internal(e.to_string()))
                    })
            })
            .collect();
        Ok(Response::new(stream_lines(lines)))
    }

    type QueryProvenanceStream = LineStream;

    async fn query_provenance(&self, request: Request<SignedRequest>) -> Reply<LineStream> {
        let request = request.into_inner();
        let b: pb::QueryProvenanceBody = self.0.authenticate_auditor(
            "QueryProvenance",
            &request,
            |b: &pb::QueryProvenanceBody| b.freshness.clone(),
        )?;
        let some = |s: String| (!s.is_empty()).then_some(s);
        let filter = ProvenanceFilter {
            grant_id: some(b.grant_id),
            task: some(b.task),
            agent: some(b.agent),
            user: some(b.user),
            operation: some(b.operation),
            resource_prefix: some(b.resource_prefix),
            since_ms: (b.since_ms > 0).then_some(b.since_ms),
            until_ms: (b.until_ms > 0).then_some(b.until_ms),
            limit: (b.limit > 0).then_some(b.limit as usize),
        };
        let records = self
            .0
            .provenance
            .query(&filter)
            .map_err(|e| Status::unavailable(e.to_string()))?;
        let lines = records
            .into_iter()
            .map(|r| serde_json::to_string(&r).map_err(|e| Status::internal(e.to_string())))
            .collect();
        Ok(Response::new(stream_lines(lines)))
    }
}
