//! The `trust.executor.v1.Executor` service: thin handlers that convert, call the domain and
//! convert back.

use std::sync::Arc;

use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use trust_proto::common::v1::SignedRequest;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::executor_server::Executor;
use trust_sdk::provenance::ProvenanceEntry;

use super::audit::AuditDesk;
use super::secret_admin::SecretAdminDesk;
use super::{convert, status};
use crate::execution::Execution;

/// Everything the service's handlers reach.
pub struct ExecutorState {
    pub executor_id: String,
    /// What the kernel enforces for child processes, and the level required.
    pub sandbox_report: String,
    pub execution: Execution,
    pub audit: AuditDesk,
    /// Operators who manage secrets (`secret_admin_keys`).
    pub secret_admins: SecretAdminDesk,
    /// Tool registry: the certified tools and skills the authority's feed keeps current.
    pub tool_catalog: Arc<crate::tool_catalog::ToolCatalog>,
}

pub use trust_sdk::clock::{millis, now};

type Reply<T> = Result<Response<T>, Status>;
type LineStream = ReceiverStream<Result<pb::ProvenanceLine, Status>>;

/// The tonic service: a cheap handle on the shared state.
#[derive(Clone)]
pub struct ExecutorApi(pub Arc<ExecutorState>);

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

/// One JSON line of an export or a query; a serialization failure is internal.
fn json_line<T: serde::Serialize>(value: &T) -> Result<String, Status> {
    serde_json::to_string(value).map_err(|e| status::internal("provenance line", &e))
}

#[tonic::async_trait]
impl Executor for ExecutorApi {
    async fn execute(&self, request: Request<pb::ExecuteRequest>) -> Reply<pb::ExecuteResponse> {
        let call = convert::execute_call(request.into_inner());
        match self.0.execution.execute(&call, now()).await {
            Ok(executed) => Ok(Response::new(convert::execute_response(executed))),
            Err(refusal) => Err(status::refused(refusal)),
        }
    }

    async fn get_identity(
        &self,
        _: Request<pb::GetIdentityRequest>,
    ) -> Reply<pb::ExecutorIdentity> {
        Ok(Response::new(pb::ExecutorIdentity {
            executor_id: self.0.executor_id.clone(),
            public_key: self.0.execution.provenance.public_key().as_bytes().to_vec(),
            sandbox: self.0.sandbox_report.clone(),
        }))
    }

    type ExportProvenanceStream = LineStream;

    async fn export_provenance(&self, request: Request<SignedRequest>) -> Reply<LineStream> {
        let request = request.into_inner();
        let body: pb::ExportProvenanceBody = self.0.audit.authenticate(
            "ExportProvenance",
            &request,
            |b: &pb::ExportProvenanceBody| b.freshness.clone(),
            millis(now()),
        )?;
        // Sealed by a fresh checkpoint so truncation of the export is detectable.
        let (_, entries) = self
            .0
            .execution
            .provenance
            .export_sealed(body.after_sequence, millis(now()))
            .map_err(|e| status::unavailable("the provenance log", &e))?;
        let lines = entries
            .map(|entry| {
                entry
                    .map_err(|e| status::unavailable("the provenance log", &e))
                    .and_then(|e: ProvenanceEntry| json_line(&e))
            })
            .collect();
        Ok(Response::new(stream_lines(lines)))
    }

    type QueryProvenanceStream = LineStream;

    async fn query_provenance(&self, request: Request<SignedRequest>) -> Reply<LineStream> {
        let request = request.into_inner();
        let body: pb::QueryProvenanceBody = self.0.audit.authenticate(
            "QueryProvenance",
            &request,
            |b: &pb::QueryProvenanceBody| b.freshness.clone(),
            millis(now()),
        )?;
        let records = self
            .0
            .execution
            .provenance
            .query(&convert::provenance_filter(body))
            .map_err(|e| status::unavailable("the provenance log", &e))?;
        let lines = records.iter().map(json_line).collect();
        Ok(Response::new(stream_lines(lines)))
    }

    async fn list_mcp_tools(
        &self,
        request: Request<pb::ListMcpToolsRequest>,
    ) -> Reply<pb::ListMcpToolsResponse> {
        let grant = request.into_inner().grant;
        let now_ms = trust_sdk::clock::millis(now());
        match crate::mcp_listing::listed_tools(&self.0.execution, &grant, now_ms).await {
            Ok(listing) => Ok(Response::new(convert::mcp_listing(listing))),
            Err(refusal) => Err(status::refused(refusal)),
        }
    }

    async fn check(&self, request: Request<pb::CheckRequest>) -> Reply<pb::CheckResponse> {
        let (call, report) = convert::check_call(request.into_inner());
        match self.0.execution.check(&call, report.as_ref(), now()).await {
            Ok(answer) => Ok(Response::new(convert::check_response(answer))),
            Err(refusal) => Err(status::refused(refusal)),
        }
    }

    async fn put_secret(&self, request: Request<SignedRequest>) -> Reply<pb::PutSecretResponse> {
        let secrets = &self.0.execution.secrets;
        let reply = self
            .0
            .secret_admins
            .put(secrets, &request.into_inner(), millis(now()));
        reply.map(Response::new)
    }

    async fn list_secrets(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::ListSecretsResponse> {
        let secrets = &self.0.execution.secrets;
        let reply = self
            .0
            .secret_admins
            .list(secrets, &request.into_inner(), millis(now()));
        reply.map(Response::new)
    }

    async fn delete_secret(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::DeleteSecretResponse> {
        let secrets = &self.0.execution.secrets;
        let reply = self
            .0
            .secret_admins
            .delete(secrets, &request.into_inner(), millis(now()));
        reply.map(Response::new)
    }

    async fn export_secret_fingerprints(
        &self,
        request: Request<SignedRequest>,
    ) -> Reply<pb::SecretFingerprints> {
        let secrets = &self.0.execution.secrets;
        let reply =
            self.0
                .secret_admins
                .fingerprints(secrets, &request.into_inner(), millis(now()));
        reply.map(Response::new)
    }

    async fn list_tools(
        &self,
        request: Request<pb::ExecuteRequest>,
    ) -> Reply<pb::ListToolsResponse> {
        let call = convert::execute_call(request.into_inner());
        match self.0.execution.list_tools(&call, now()).await {
            Ok((request_id, views)) => Ok(Response::new(pb::ListToolsResponse {
                request_id,
                tools: views.into_iter().map(convert::tool_description).collect(),
            })),
            Err(refusal) => Err(status::refused(refusal)),
        }
    }

    async fn describe_tool(
        &self,
        request: Request<pb::ExecuteRequest>,
    ) -> Reply<pb::ToolDescription> {
        let call = convert::execute_call(request.into_inner());
        match self.0.execution.describe_tool(&call, now()).await {
            Ok(view) => Ok(Response::new(convert::tool_description(view))),
            Err(refusal) => Err(status::refused(refusal)),
        }
    }
}
