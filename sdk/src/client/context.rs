//! `context.retrieve` from the agent's side: the operation and the client call that sends it.

use ed25519_dalek::SigningKey;
use trust_proto::executor::v1 as epb;

use super::ExecutorClient;
use crate::error::SdkError;

/// What an agent asks of a context source; every filter only narrows what the grant permits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContextQuery {
    /// The source's configured name (the grant's resource).
    pub source: String,
    /// Case-insensitive plain terms, all of which must appear (never a pattern).
    pub query: String,
    pub classifications: Vec<String>,
    pub jurisdictions: Vec<String>,
    /// `YYYY-MM-DD` or empty.
    pub date_from: String,
    pub date_to: String,
    /// 0: the grant's limit.
    pub max_documents: u32,
    /// 0: the grant's limit.
    pub max_bytes: u64,
}

/// The `context.retrieve` operation for `query`.
pub fn context_operation(query: &ContextQuery) -> epb::invocation::Operation {
    epb::invocation::Operation::ContextRetrieve(epb::ContextRetrieveRequest {
        source: query.source.clone(),
        query: query.query.clone(),
        classifications: query.classifications.clone(),
        jurisdictions: query.jurisdictions.clone(),
        date_from: query.date_from.clone(),
        date_to: query.date_to.clone(),
        max_documents: query.max_documents,
        max_bytes: query.max_bytes,
    })
}

impl ExecutorClient {
    /// Retrieves documents of a context source under `grant`: the executor returns only the
    /// classifications, jurisdictions and dates the grant permits, within its limits, redacted.
    pub async fn context_retrieve(
        &mut self,
        grant: &[u8],
        holder: &SigningKey,
        query: &ContextQuery,
    ) -> Result<epb::ContextRetrieveResult, SdkError> {
        let response = self
            .execute(grant, holder, context_operation(query))
            .await?;
        match response.result {
            Some(epb::execute_response::Result::ContextRetrieve(result)) => Ok(result),
            _ => Err(SdkError::InvalidRequest(
                "the executor answered context.retrieve with another result".into(),
            )),
        }
    }
}
