//! `context.retrieve` from an HTTP source through real servers over TLS: the source reads
//! through a tool registered and certified at the authority (it reaches the executor on the
//! signed feed); a loopback JSON API (`trust_tests::json_api`) stands in for the CRM behind
//! it and counts the calls it receives; the tool's credential lives in the secrets broker.
//!
//! Only permitted classifications, jurisdictions and dates leave, redacted; the planted
//! emails, IBANs and the tool's credential (echoed by the CRM) are absent from the response
//! and the provenance export, which names the source's kind, the tool and the returned
//! documents. Attacks: a draft tool, a revoked tool, a tool whose upstream is outside
//! `[tools] upstream_hosts`, a malformed, oversized or failed answer, a directory-only grant
//! for another source; each is refused precisely, recorded, and (but the answers) reaches no
//! upstream.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::ContextRetrieveResult;
use trust_sdk::client::{ContextQuery, ExecutorClient, RegistryKind};
use trust_sdk::provenance::ProvenanceEntry;
use trust_sdk::vocabulary::context::{day_of, format_day};
use trust_sdk::SdkError;
use trust_tests::json_api::JsonApi;
use trust_tests::{Cluster, ClusterOptions};

const API_KEY: &str = "crm-key-e2e-0123456789abcdef";

/// Values the CRM answers with that must never leave the executor.
const PLANTED: &[&str] = &[
    "claims.desk@insure.example",
    "jane.doe@customer.example",
    "DE89 3704 0044 0532 0130 00",
    "GB29NWBK60161331926819",
    API_KEY,
];

const RULE: &str = r#"
[[allow]]
id = "crm-read"
operations = ["context.retrieve"]
resources = ["crm-docs", "crm-drafts", "crm-far", "kb"]
max_classification = "internal"
jurisdictions = ["EU"]
max_age = "365d"
max_documents = 10
redact = ["mask:email", "drop:iban"]
"#;

fn doc(id: &str, class: &str, jurisdiction: &str, date: &str, content: &str) -> Value {
    json!({"id": id, "title": format!("Account {id}"), "classification": class,
        "owner": "crm-team", "jurisdiction": jurisdiction, "date": date, "content": content})
}

/// The CRM's answer: two permitted documents, three filtered ones, three unlabeled, one huge.
fn crm_answer() -> String {
    let today = day_of(trust_sdk::clock::now());
    let (recent, older, stale) = (
        format_day(today - 10),
        format_day(today - 20),
        format_day(today - 800),
    );
    let mut public = doc("pub-1", "public", "EU", &recent,
        &format!("Write to claims.desk@insure.example.\nRefunds go to DE89 3704 0044 0532 0130 00 only.\nEcho {API_KEY}.\nRenewal notes."));
    public["fields"] = json!({"iban": "GB29NWBK60161331926819",
        "contact": "jane.doe@customer.example", "region": "north"});
    let mut unknown_label = doc("bad-1", "public", "EU", &recent, "BAD-BODY");
    unknown_label["classification"] = json!("secret");
    json!({"documents": [
        public,
        doc("int-1", "internal", "EU", &older, "Renewal call logged."),
        doc("conf-1", "confidential", "EU", &recent, "CONFIDENTIAL-BODY"),
        doc("us-1", "public", "US", &recent, "US-BODY"),
        doc("old-1", "internal", "EU", &stale, "STALE-BODY"),
        unknown_label,
        doc("twin", "public", "EU", &recent, "TWIN-BODY"),
        doc("twin", "public", "EU", &recent, "TWIN-BODY"),
        doc("huge-1", "public", "EU", &recent, &"HUGE-BODY ".repeat(1000)),
    ]})
    .to_string()
}

fn tool(id: &str, port: u16) -> String {
    json!({
        "id": id, "version": 1, "owner": "crm-platform", "risk": "low", "state": "draft",
        "description": "search CRM documents",
        "parameters": {"type": "object", "properties": {
            "query": {"type": "string", "maxLength": 256},
            "jurisdictions": {"type": "string", "maxLength": 64}},
            "required": ["query"], "additionalProperties": false},
        "upstream": {"method": "POST", "url_template": format!("http://127.0.0.1:{port}/search")},
        "secret": {"name": "crm-key", "header": "X-Api-Key"}
    })
    .to_string()
}

/// The cluster: the rule, a secrets key and admin, `[tools]` naming the CRM only, the HTTP
/// sources and a directory source.
async fn cluster(crm: &JsonApi) -> Cluster {
    let mut cluster = Cluster::start(ClusterOptions {
        profile_extra: RULE.into(),
        start_executor: false,
        ..Default::default()
    })
    .unwrap();
    let key_file = cluster.path("secrets.key");
    let key: [u8; 32] = rand_bytes();
    std::fs::write(
        &key_file,
        base64::engine::general_purpose::STANDARD.encode(key),
    )
    .unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    std::fs::create_dir_all(cluster.path("kb")).unwrap();
    let admin = trust_sdk::keys::generate();
    let config = std::fs::read_to_string(&cluster.executor_config).unwrap();
    let config = format!(
        r#"secrets_key_file = "secrets.key"
{config}
[[secret_admin_keys]]
id = "ops"
public_key = "{admin}"

[tools]
upstream_hosts = ["127.0.0.1:{port}"]
max_response_bytes = 65536

[context]
max_document_bytes = 4096

[[context_source]]
name = "crm-docs"
kind = "http"
tool = "crm-search"

[[context_source]]
name = "crm-drafts"
kind = "http"
tool = "crm-draft"

[[context_source]]
name = "crm-far"
kind = "http"
tool = "crm-far"

[[context_source]]
name = "kb"
kind = "directory"
path = "kb"
"#,
        admin = hex::encode(admin.verifying_key().as_bytes()),
        port = crm.port
    );
    std::fs::write(&cluster.executor_config, config).unwrap();
    cluster.start_executor().unwrap();
    let mut executor = cluster.executor_client().await.unwrap();
    executor
        .put_secret(
            "secret-admin:ops",
            &admin,
            "crm-key",
            API_KEY.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    cluster
}

fn rand_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    out
}

fn query(source: &str, text: &str) -> ContextQuery {
    ContextQuery {
        source: source.into(),
        query: text.into(),
        ..Default::default()
    }
}

fn rpc(err: SdkError) -> (String, String) {
    match err {
        SdkError::Rpc { code, message } => (code, message),
        other => panic!("not an rpc error: {other}"),
    }
}

fn ids(result: &ContextRetrieveResult) -> Vec<&str> {
    result.documents.iter().map(|d| d.id.as_str()).collect()
}

/// Retrieves until the answer is no longer a `context-tool` refusal (the feed is on its way),
/// for at most 10 s.
async fn until_tool_settles(
    executor: &mut ExecutorClient,
    grant: &[u8],
    key: &ed25519_dalek::SigningKey,
    source: &str,
    settled: impl Fn(&Result<ContextRetrieveResult, (String, String)>) -> bool,
) -> Result<ContextRetrieveResult, (String, String)> {
    let started = Instant::now();
    loop {
        let got = executor
            .context_retrieve(grant, key, &query(source, ""))
            .await
            .map_err(rpc);
        if settled(&got) {
            return got;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not settled: {got:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_source_reads_through_its_certified_tool_and_only_permitted_documents_leave() {
    let crm = JsonApi::start().await.unwrap();
    let far = JsonApi::start().await.unwrap();
    let cluster = cluster(&crm).await;
    let mut registry = cluster.authority_client().await.unwrap();
    for (id, port, certify) in [
        ("crm-search", crm.port, true),
        ("crm-draft", crm.port, false),
        ("crm-far", far.port, true),
    ] {
        registry
            .register_definition(
                &cluster.admin_id,
                &cluster.admin_key,
                RegistryKind::Tool,
                &tool(id, port),
                "e2e",
            )
            .await
            .unwrap();
        if certify {
            registry
                .certify(
                    &cluster.admin_id,
                    &cluster.admin_key,
                    RegistryKind::Tool,
                    id,
                    1,
                    "reviewed",
                )
                .await
                .unwrap();
        }
    }
    let answer = cluster
        .grant(
            "crm",
            &[
                ("context.retrieve", "crm-docs"),
                ("context.retrieve", "crm-drafts"),
                ("context.retrieve", "crm-far"),
            ],
        )
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let grant = answer.grant.unwrap();
    let kb_only = cluster
        .grant("kb", &[("context.retrieve", "kb")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let key = &cluster.agent_key;
    let mut exec = cluster.executor_client().await.unwrap();
    crm.set_reply(200, crm_answer());

    // Only public/internal, EU, within a year; newest first; the rest skipped and counted.
    let all = until_tool_settles(
        &mut exec,
        &grant,
        key,
        "crm-docs",
        |g| !matches!(g, Err((_, m)) if m.starts_with("context-tool")),
    )
    .await
    .unwrap();
    assert_eq!(ids(&all), ["pub-1", "int-1"], "{all:?}");
    assert_eq!(all.unlabeled, 3, "the bad label and both twins: {all:?}");
    assert_eq!(all.oversized, 1, "{all:?}");
    let wire = format!("{all:?}");
    for value in PLANTED {
        assert!(!wire.contains(value), "`{value}` left the executor: {wire}");
    }
    for marker in [
        "CONFIDENTIAL-BODY",
        "US-BODY",
        "STALE-BODY",
        "BAD-BODY",
        "TWIN-BODY",
        "HUGE-BODY",
    ] {
        assert!(!wire.contains(marker), "{marker} returned: {wire}");
    }
    let public = &all.documents[0];
    assert!(
        public.content.contains("Write to [redacted:email]."),
        "{}",
        public.content
    );
    assert!(
        !public.content.contains("Refunds go to"),
        "{}",
        public.content
    );
    assert!(
        public.content.contains("Echo [secret:crm-key]."),
        "{}",
        public.content
    );
    assert!(!public.fields.contains_key("iban"));
    assert_eq!(
        public.fields.get("contact").map(String::as_str),
        Some("[redacted:email]")
    );
    assert_eq!(
        public.sha256,
        tool_executor::context::retrieve::document_digest(
            &public.id,
            &public.fields.clone().into_iter().collect(),
            &public.content
        )
    );
    // The CRM got the query and the grant's jurisdictions, with the credential as its header.
    let calls = crm.calls();
    let request = crm.requests().last().cloned().unwrap();
    assert!(request.starts_with("POST /search "), "{request}");
    assert!(
        request
            .to_lowercase()
            .contains(&format!("x-api-key: {API_KEY}")),
        "{request}"
    );
    let sent: Value = serde_json::from_str(request.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(sent, json!({"query": "", "jurisdictions": "EU"}));

    // Matching runs after scrubbing and redaction: no oracle on the credential or a value.
    for probe in ["crm-key-e2e", "claims.desk@insure.example", "quokka"] {
        let got = exec
            .context_retrieve(&grant, key, &query("crm-docs", probe))
            .await
            .unwrap();
        assert!(got.documents.is_empty(), "{probe}: {got:?}");
    }
    let renewal = exec
        .context_retrieve(&grant, key, &query("crm-docs", "RENEWAL"))
        .await
        .unwrap();
    assert_eq!(ids(&renewal), ["pub-1", "int-1"]);
    let calls = calls + 4;
    assert_eq!(crm.calls(), calls);

    // A directory-only grant for another source cannot reach the HTTP source.
    let (code, message) = rpc(exec
        .context_retrieve(&kb_only, key, &query("crm-docs", ""))
        .await
        .unwrap_err());
    assert_eq!(code, "PermissionDenied", "{message}");
    assert!(message.starts_with("context-scope"), "{message}");
    // A draft tool is refused, naming the source and the tool; nothing is sent.
    let (code, message) = rpc(exec
        .context_retrieve(&grant, key, &query("crm-drafts", ""))
        .await
        .unwrap_err());
    assert_eq!(code, "FailedPrecondition", "{message}");
    assert!(
        message.starts_with("context-tool")
            && message.contains("`crm-drafts`")
            && message.contains("`crm-draft`, which is not certified"),
        "{message}"
    );
    // A certified tool whose upstream is not in `[tools] upstream_hosts`: refused at the call
    // (its URL comes on the feed and may change with each certified version). A loopback
    // address is reached only when named exactly, so the check is `net-address`.
    let (code, message) = until_tool_settles(
        &mut exec,
        &grant,
        key,
        "crm-far",
        |g| !matches!(g, Err((_, m)) if m.starts_with("context-tool")),
    )
    .await
    .unwrap_err();
    assert_eq!(code, "PermissionDenied", "{message}");
    assert!(
        message.starts_with("net-address")
            && message.contains(
                "context source `crm-far` reads through tool `crm-far`, whose upstream is refused"
            ),
        "{message}"
    );
    assert_eq!(far.calls(), 0);
    assert_eq!(crm.calls(), calls, "no refused retrieval reached the CRM");

    // A malformed, an oversized and a failed answer: the whole retrieval is refused.
    for (status, body, needle) in [
        (200, "this is not json".to_string(), "not JSON"),
        (
            200,
            json!({"documents": [], "next": 1}).to_string(),
            "key `next`",
        ),
        (200, "x".repeat(70_000), "net-response-size"),
        (500, crm_answer(), "status 500"),
    ] {
        crm.set_reply(status, body);
        let (code, message) = rpc(exec
            .context_retrieve(&grant, key, &query("crm-docs", ""))
            .await
            .unwrap_err());
        assert_eq!(code, "FailedPrecondition", "{needle}: {message}");
        assert!(
            message.starts_with("context-upstream")
                && message.contains("`crm-docs`")
                && message.contains(needle),
            "{needle}: {message}"
        );
    }
    assert_eq!(crm.calls(), calls + 4);
    crm.set_reply(200, crm_answer());

    // Revoked at the authority: refused at the running executor, and nothing is sent.
    registry
        .revoke_definition(
            &cluster.admin_id,
            &cluster.admin_key,
            RegistryKind::Tool,
            "crm-search",
            "e2e",
        )
        .await
        .unwrap();
    let revoked = until_tool_settles(&mut exec, &grant, key, "crm-docs", |g| g.is_err()).await;
    let calls = crm.calls();
    let (code, message) = revoked.unwrap_err();
    assert_eq!(code, "FailedPrecondition", "{message}");
    assert!(
        message.contains("`crm-search`, which is revoked"),
        "{message}"
    );
    let again = exec
        .context_retrieve(&grant, key, &query("crm-docs", ""))
        .await
        .unwrap_err();
    assert!(rpc(again).1.contains("revoked"));
    assert_eq!(crm.calls(), calls);

    // Provenance: kind, tool and documents named; no planted value, no credential, no query.
    let export = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let bytes = export.join("\n");
    for value in PLANTED.iter().chain(&["quokka", "RENEWAL", "Renewal"]) {
        assert!(
            !bytes.contains(value),
            "`{value}` is in the provenance export"
        );
    }
    let records: Vec<_> = export
        .iter()
        .filter_map(
            |line| match serde_json::from_str::<ProvenanceEntry>(line).unwrap() {
                ProvenanceEntry::Record(r) if r.operation == "context.retrieve" => Some(r),
                _ => None,
            },
        )
        .collect();
    let first = records.iter().find(|r| r.decision == "allow").unwrap();
    let reasons = first.reasons.join("\n");
    for line in [
        "context-source crm-docs kind=http returned=2 truncated=false unlabeled=3 oversized=1"
            .to_string(),
        format!(
            "context-tool crm-docs tool=crm-search version=1 upstream=POST 127.0.0.1:{}",
            crm.port
        ),
        format!("context-document pub-1 sha256={}", all.documents[0].sha256),
        format!("context-document int-1 sha256={}", all.documents[1].sha256),
        "context-redaction email mode=mask count=2".to_string(),
        "context-redaction iban mode=drop count=2".to_string(),
        "secret crm-key for tool crm-search as header:X-Api-Key".to_string(),
    ] {
        assert!(reasons.contains(&line), "`{line}` missing from: {reasons}");
    }
    let refusals: Vec<String> = records
        .iter()
        .filter(|r| r.decision == "refuse")
        .map(|r| r.reasons.first().cloned().unwrap_or_default())
        .collect();
    for check in ["context-scope", "context-tool", "net-address"] {
        assert!(
            refusals.iter().any(|c| c == check),
            "no `{check}` refusal: {refusals:?}"
        );
    }
    let failed = records
        .iter()
        .filter(|r| {
            r.status
                .as_deref()
                .is_some_and(|s| s.contains("context source `crm-docs`"))
        })
        .count();
    assert_eq!(failed, 4, "each refused answer is recorded: {records:?}");
}
