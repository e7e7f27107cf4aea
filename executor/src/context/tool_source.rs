//! An HTTP context source at admission: the retrieval bound to the call of its tool, exactly
//! as `tool.invoke` would make it (the certified definition from the catalog, the arguments
//! validated against the tool's schema, the upstream checked against `[tools] upstream_hosts`),
//! or refused naming the source and the tool. Never a fallback: a tool that is not certified
//! here now refuses the retrieval before anything is sent.
//!
//! The contract a tool serving a context source follows: it takes its arguments in a JSON
//! body (`POST`, `PUT` or `PATCH`, no `{placeholder}` in its URL, so the query never appears
//! in a URL, a log line or a record) and its schema declares a string property `query`, which
//! receives the query's terms (lower-cased, space-separated). Each of `classifications`,
//! `jurisdictions` (comma-separated strings: a tool schema has scalar properties only),
//! `date_from`, `date_to` (`YYYY-MM-DD`) and `max_documents` (integer) is sent too when the
//! schema declares it: what the bound grant leaves readable, a hint to the upstream only (the
//! executor filters whatever comes back). The answer is read
//! by `tool_response.rs`.
//!
//! The agent's grant needs `context.retrieve` on the source only, never `tool.invoke` on the
//! tool: the operator chose the tool for the source.

use serde_json::{json, Map, Value};
use trust_sdk::tools::{Certification, ToolDefinition};
use trust_sdk::vocabulary::context::{format_day, ContextGrant, ANY_JURISDICTION, LAST_DAY};

use super::admission::ContextCall;
use super::{ContextSources, SourceOrigin};
use crate::error::{Refusal, RefusalKind};
use crate::net::HttpLimits;
use crate::tool_admission::{upstream_call, ToolCall, ToolDesk};

/// Most schema violations one refusal lists.
const MAX_LISTED_ERRORS: usize = 5;

fn refused(source: &str, tool: &str, why: impl std::fmt::Display) -> Refusal {
    Refusal::new(
        RefusalKind::FailedPrecondition,
        "context-tool",
        format!(
            "context source `{source}` reads through tool `{tool}`, {why}; nothing was retrieved"
        ),
    )
}

/// When `call`'s source is an HTTP source, binds it to the upstream call of its certified tool
/// (`call.upstream`); a directory source is left as it is. Runs after the grant was bound.
pub fn bind(
    call: &mut ContextCall,
    sources: &ContextSources,
    desk: Option<&ToolDesk>,
    http: &HttpLimits,
) -> Result<(), Refusal> {
    let Some(source) = sources.get(&call.source) else {
        return Ok(());
    };
    let SourceOrigin::Tool(tool_id) = &source.origin else {
        return Ok(());
    };
    let source = source.name.as_str();
    let Some(grant) = call.grant.as_ref() else {
        return Err(refused(
            source,
            tool_id,
            "but the request was not bound to a grant",
        ));
    };
    let Some(desk) = desk else {
        return Err(refused(
            source,
            tool_id,
            "but this executor has no tool catalog",
        ));
    };
    let Some(tool) = desk.catalog.certified_tool(tool_id) else {
        let why = match desk.catalog.tool_state(tool_id) {
            Some(Certification::Revoked) => "which is revoked",
            _ => "which is not certified here (unknown, or a draft: drafts never reach executors)",
        };
        return Err(refused(source, tool_id, why));
    };
    let method = tool.upstream.method.to_ascii_uppercase();
    if !matches!(method.as_str(), "POST" | "PUT" | "PATCH")
        || tool.upstream.url_template.contains('{')
    {
        return Err(refused(
            source,
            tool_id,
            format!(
                "whose upstream (`{method}`, URL with or without placeholders) does not take its arguments in a JSON body only (POST, PUT or PATCH, no `{{placeholder}}` in the URL)"
            ),
        ));
    }
    let arguments = arguments(&tool, &call.terms, grant);
    check_schema(&tool, &arguments).map_err(|why| refused(source, tool_id, why))?;
    let arguments_json = Value::Object(arguments.clone()).to_string();
    if arguments_json.len() as u64 > http.max_request_bytes {
        return Err(refused(
            source,
            tool_id,
            format!(
                "but its arguments are {} bytes, limit {}",
                arguments_json.len(),
                http.max_request_bytes
            ),
        ));
    }
    let http_call = upstream_call(&tool, &arguments, desk, http).map_err(|r| Refusal {
        message: format!(
            "context source `{source}` reads through tool `{tool_id}`, whose upstream is refused: {}",
            r.message
        ),
        ..r
    })?;
    call.upstream = Some(Box::new(ToolCall {
        tool_id: tool.id.clone(),
        version: tool.version,
        arguments_sha256: trust_sdk::parameters::arguments_digest(&arguments_json),
        arguments,
        http: http_call,
        secret: tool.secret.clone(),
        skill: None,
        max_response_bytes: desk.config.max_response_bytes,
    }));
    Ok(())
}

/// Whether the tool's schema declares property `name`.
fn declares(tool: &ToolDefinition, name: &str) -> bool {
    tool.parameters
        .get("properties")
        .and_then(Value::as_object)
        .is_some_and(|p| p.contains_key(name))
}

fn comma_list(items: &std::collections::BTreeSet<String>) -> String {
    items
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

/// The arguments sent: `query`, and each hint the schema declares.
fn arguments(tool: &ToolDefinition, terms: &[String], grant: &ContextGrant) -> Map<String, Value> {
    let mut out = Map::new();
    out.insert("query".into(), Value::from(terms.join(" ")));
    let mut hints: Vec<(&str, Value)> = vec![
        ("classifications", json!(comma_list(&grant.classifications))),
        ("max_documents", json!(grant.max_documents)),
    ];
    if !grant.jurisdictions.contains(ANY_JURISDICTION) {
        hints.push(("jurisdictions", json!(comma_list(&grant.jurisdictions))));
    }
    if grant.from_day > 0 {
        hints.push(("date_from", json!(format_day(grant.from_day))));
    }
    if grant.to_day < LAST_DAY {
        hints.push(("date_to", json!(format_day(grant.to_day))));
    }
    for (name, value) in hints {
        if declares(tool, name) {
            out.insert(name.into(), value);
        }
    }
    out
}

/// Checks `arguments` against the tool's schema (the maintained `jsonschema` crate, as
/// `tool.invoke` does). A violation is named by where it is and which schema rule it
/// breaks, never by the value (the query may be anything the agent typed).
fn check_schema(tool: &ToolDefinition, arguments: &Map<String, Value>) -> Result<(), String> {
    if !declares(tool, "query") {
        return Err("whose schema declares no `query` property".into());
    }
    let validator = jsonschema::validator_for(&tool.parameters)
        .map_err(|_| "whose schema does not compile".to_string())?;
    let instance = Value::Object(arguments.clone());
    let errors: Vec<String> = validator
        .iter_errors(&instance)
        .take(MAX_LISTED_ERRORS)
        .map(|e| format!("`{}` breaks `{}`", e.instance_path(), e.schema_path()))
        .collect();
    match errors.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "whose schema refuses the retrieval's arguments: {}",
            errors.join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use trust_sdk::tools::{RiskRating, ToolUpstream};

    fn tool(parameters: Value) -> ToolDefinition {
        ToolDefinition {
            id: "crm-search".into(),
            version: 3,
            owner: "crm".into(),
            risk: RiskRating::Low,
            state: Certification::Certified,
            description: "search the CRM".into(),
            parameters,
            upstream: ToolUpstream {
                method: "POST".into(),
                url_template: "http://127.0.0.1:9/search".into(),
            },
            secret: None,
        }
    }

    fn grant() -> ContextGrant {
        ContextGrant {
            source: "crm".into(),
            classifications: BTreeSet::from(["public".to_string()]),
            jurisdictions: BTreeSet::from(["EU".to_string()]),
            from_day: 19_000,
            to_day: LAST_DAY,
            max_documents: 5,
            max_bytes: 1000,
            redactions: Vec::new(),
        }
    }

    #[test]
    fn sends_the_query_and_only_the_hints_the_schema_declares() {
        let t = tool(json!({"type": "object", "properties": {
            "query": {"type": "string", "maxLength": 64},
            "jurisdictions": {"type": "string"}, "date_from": {"type": "string"}},
            "required": ["query"], "additionalProperties": false}));
        let args = arguments(&t, &["water".into(), "damage".into()], &grant());
        assert_eq!(
            Value::Object(args.clone()),
            json!({"query": "water damage", "jurisdictions": "EU", "date_from": format_day(19_000)})
        );
        assert_eq!(check_schema(&t, &args), Ok(()));
    }

    #[test]
    fn schema_refusals_name_the_rule_never_the_value() {
        let t = tool(json!({"type": "object", "properties": {
            "query": {"type": "string", "maxLength": 4}}, "required": ["query"]}));
        let args = arguments(&t, &["jane.doe@customer.example".into()], &grant());
        let why = check_schema(&t, &args).unwrap_err();
        assert!(
            why.contains("`/query` breaks `/properties/query/maxLength`"),
            "{why}"
        );
        assert!(!why.contains("jane.doe"), "{why}");
        let none = tool(json!({"type": "object", "properties": {"q": {"type": "string"}}}));
        assert!(check_schema(&none, &arguments(&none, &[], &grant()))
            .unwrap_err()
            .contains("no `query`"));
    }
}
