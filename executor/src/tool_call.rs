//! One admitted `tool.invoke` call and what came back: the shapes `operations` runs and
//! provenance records (admission builds them in `tool_admission.rs`).

use sha2::{Digest, Sha256};
use trust_sdk::tools::ToolSecret;
use trust_sdk::vocabulary::tool_args::tool_arg_facts;

use crate::net::{HttpCall, HttpLimits, HttpOutcome};

/// One admitted tool call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub tool_id: String,
    pub version: u32,
    /// The validated arguments (a JSON object).
    pub arguments: serde_json::Map<String, serde_json::Value>,
    /// [`trust_sdk::parameters::arguments_digest`] of the arguments as sent.
    pub arguments_sha256: String,
    /// The upstream request, built from the tool's method and URL template.
    pub http: HttpCall,
    /// The tool's secret, injected as its header at exec time.
    pub secret: Option<ToolSecret>,
    /// `skill(ID, VERSION)` of the grant, for the record.
    pub skill: Option<(String, u32)>,
    /// The upstream response ceiling (`[tools] max_response_bytes`).
    pub max_response_bytes: u64,
}

impl ToolCall {
    /// The ambient `tool_arg` facts of this call.
    pub fn facts(&self) -> Vec<biscuit_auth::builder::Fact> {
        tool_arg_facts(&self.arguments)
    }

    /// The `[http]` ceilings narrowed for this call: its response cap, no redirects.
    pub fn limits(&self, http: &HttpLimits) -> HttpLimits {
        HttpLimits {
            max_response_bytes: http.max_response_bytes.min(self.max_response_bytes),
            max_redirects: 0,
            ..http.clone()
        }
    }
}

/// What came back from a tool's upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    pub tool_id: String,
    pub version: u32,
    pub arguments_sha256: String,
    pub http: HttpOutcome,
}

impl ToolOutcome {
    /// Hex SHA-256 of the body as returned to the agent.
    pub fn result_sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.http.body))
    }

    /// The response's `Content-Type`, if any.
    pub fn content_type(&self) -> String {
        self.http
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }
}
