//! Business tools and skills as the authority's registry holds them and its signed feed
//! carries them to executors.
//!
//! A **tool** is one call to a business API the executor makes on an agent's behalf: its
//! typed parameters (a JSON Schema subset), the upstream it calls and the secret it uses. A
//! **skill** is a versioned procedure that needs a fixed set of tools. Both have an owner, a
//! risk rating and a certification state; only a certified tool or skill is granted or run.
//!
//! These are the shared shapes: the registry (authority), the feed, the executor's catalog and
//! `tool.invoke` all speak them. Each definition serializes to JSON (the registry's stored form
//! and the feed's payload).

use serde::{Deserialize, Serialize};

/// Longest tool or skill id, in bytes.
pub const MAX_ID_BYTES: usize = 64;

/// How much harm a wrong call can do; profiles and approvals may key on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskRating {
    Low,
    Medium,
    High,
    Critical,
}

/// Where a tool or skill stands: only `Certified` is ever granted or run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Certification {
    Draft,
    Certified,
    Revoked,
}

/// The business API a tool calls: method and URL template (`{name}` is replaced by the
/// URL-encoded value of parameter `name`). The template's host must be one the executor's
/// destination policy admits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolUpstream {
    pub method: String,
    pub url_template: String,
}

/// The secret a tool's upstream call carries: the executor's secret `name`, set as request
/// header `header`. The agent never sees its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolSecret {
    pub name: String,
    pub header: String,
}

/// One version of one tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    /// Lowercase ASCII letters, digits, `-`, `_`, `.`; at most [`MAX_ID_BYTES`].
    pub id: String,
    /// Starts at 1; a new version replaces the previous one in the catalog.
    pub version: u32,
    /// The principal (person or team) answerable for the tool.
    pub owner: String,
    pub risk: RiskRating,
    pub state: Certification,
    pub description: String,
    /// The parameter schema (a JSON Schema subset: `type: object`, `properties`, `required`,
    /// `additionalProperties: false`; per property `type`, `enum`, `minimum`/`maximum`,
    /// `minLength`/`maxLength`, `pattern`).
    pub parameters: serde_json::Value,
    pub upstream: ToolUpstream,
    #[serde(default)]
    pub secret: Option<ToolSecret>,
}

/// A tool a skill needs, at one version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ToolVersion {
    pub id: String,
    pub version: u32,
}

/// One version of one skill.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkillDefinition {
    pub id: String,
    pub version: u32,
    pub owner: String,
    pub risk: RiskRating,
    pub state: Certification,
    /// Hex SHA-256 of the skill's content; a new digest is a new version that needs
    /// certification before any grant names it.
    pub content_digest: String,
    /// Exactly the tools a grant naming this skill covers.
    pub tools: Vec<ToolVersion>,
}

/// One registry change as the signed feed carries it: the whole definition after the change
/// (registered, certified or revoked). Executors keep the latest version of each id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CatalogChange {
    Tool(ToolDefinition),
    Skill(SkillDefinition),
}

impl CatalogChange {
    /// `tool ID vN STATE` or `skill ID vN STATE`, for logs and feed reasons.
    pub fn describe(&self) -> String {
        let (kind, id, version, state) = match self {
            CatalogChange::Tool(t) => ("tool", &t.id, t.version, t.state),
            CatalogChange::Skill(s) => ("skill", &s.id, s.version, s.state),
        };
        format!("{kind} `{id}` v{version} {}", state.as_str())
    }
}

impl Certification {
    /// `"draft"`, `"certified"` or `"revoked"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Certification::Draft => "draft",
            Certification::Certified => "certified",
            Certification::Revoked => "revoked",
        }
    }
}

impl RiskRating {
    /// `"low"`, `"medium"`, `"high"` or `"critical"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskRating::Low => "low",
            RiskRating::Medium => "medium",
            RiskRating::High => "high",
            RiskRating::Critical => "critical",
        }
    }
}

/// Whether `id` is a well-formed tool or skill id.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_BYTES
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
        && !id.starts_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_valid_id("invoice-validation"));
        assert!(is_valid_id("crm.credit_issue"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("Invoice"));
        assert!(!is_valid_id("a/b"));
        assert!(!is_valid_id(".hidden"));
        assert!(!is_valid_id(&"a".repeat(MAX_ID_BYTES + 1)));
    }

    #[test]
    fn definitions_round_trip_as_json() {
        let tool = ToolDefinition {
            id: "invoice-validation".into(),
            version: 1,
            owner: "finance-platform".into(),
            risk: RiskRating::Medium,
            state: Certification::Certified,
            description: "Validate an invoice".into(),
            parameters: serde_json::json!({"type": "object", "properties": {}, "additionalProperties": false}),
            upstream: ToolUpstream {
                method: "POST".into(),
                url_template: "https://erp.example/invoices/{invoice_id}/validate".into(),
            },
            secret: Some(ToolSecret {
                name: "erp-token".into(),
                header: "Authorization".into(),
            }),
        };
        let json = serde_json::to_string(&tool).unwrap();
        assert!(json.contains("\"risk\":\"medium\""));
        assert_eq!(serde_json::from_str::<ToolDefinition>(&json).unwrap(), tool);
    }
}
