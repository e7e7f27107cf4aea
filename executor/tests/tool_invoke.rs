//! `tool.invoke`, `ListTools` and `DescribeTool` through the executor's real admission and
//! execution (provenance in sled, the secrets broker, the net exchange) against a loopback
//! HTTP service standing in for a business API, which counts the calls it receives. The tool
//! catalog is filled directly (the authority's registry feed fills it in production).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use biscuit_auth::{Biscuit, KeyPair};
use ed25519_dalek::SigningKey;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tool_executor::admission::Admission;
use tool_executor::config::AdmissionLimits;
use tool_executor::error::{Refusal, RefusalKind};
use tool_executor::execution::Execution;
use tool_executor::grant_uses::GrantUses;
use tool_executor::operations::{OperationLimits, Outcome};
use tool_executor::provenance_log::{ProvenanceFilter, ProvenanceLog};
use tool_executor::secrets::{SealingKey, SecretBroker, SecretStore, SecretValue};
use tool_executor::tool_admission::{ToolDesk, ToolsConfig};
use tool_executor::tool_catalog::ToolCatalog;
use tool_executor::trust_state::TrustState;
use tool_executor::workspace::Workspace;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::clock::{now, now_ms};
use trust_sdk::derive::{delegation_block, derive, Derivation};
use trust_sdk::tools::{Certification, RiskRating, ToolDefinition, ToolSecret, ToolUpstream};
use trust_sdk::vocabulary::tool_args::{task_field_fact, ToolArgConstraint, ARG_CONSTRAINT};
use trust_sdk::vocabulary::{Approval, GrantClaims};

const API_KEY: &str = "erp-key-0123456789abcdef";

/// The loopback business API: counts requests, answers with what it received.
struct Api {
    port: u16,
    calls: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<String>>>,
}

async fn serve_api() -> Api {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, s) = (Arc::clone(&calls), Arc::clone(&seen));
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (c, s) = (Arc::clone(&c), Arc::clone(&s));
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (n, v) = l.split_once(':')?;
                        n.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while buf.len() < head_end + length {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                c.fetch_add(1, Ordering::SeqCst);
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                s.lock().unwrap().push(format!("{head}{body}"));
                let line = head.lines().next().unwrap_or_default().to_string();
                let key = head
                    .lines()
                    .find_map(|l| {
                        l.strip_prefix("x-api-key: ")
                            .or(l.strip_prefix("X-Api-Key: "))
                    })
                    .unwrap_or("")
                    .to_string();
                // A careless API echoes the credential: the executor must scrub it.
                let reply =
                    json!({"ok": true, "request": line, "echo_key": key, "body": body}).to_string();
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                    reply.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    Api { port, calls, seen }
}

fn tool(id: &str, method: &str, path: &str, port: u16, parameters: Value) -> ToolDefinition {
    ToolDefinition {
        id: id.into(),
        version: 3,
        owner: "finance-platform".into(),
        risk: RiskRating::High,
        state: Certification::Certified,
        description: format!("{id} (test)"),
        parameters,
        upstream: ToolUpstream {
            method: method.into(),
            url_template: format!("http://127.0.0.1:{port}{path}"),
        },
        secret: Some(ToolSecret {
            name: "erp-key".into(),
            header: "X-Api-Key".into(),
        }),
    }
}

fn catalog(port: u16) -> Arc<ToolCatalog> {
    let catalog = Arc::new(ToolCatalog::new());
    catalog.put_tool(tool(
        "invoice-validate",
        "GET",
        "/invoices/{invoice_id}/validate",
        port,
        json!({
            "type": "object",
            "properties": {"invoice_id": {"type": "string", "pattern": "^INV-[0-9]{1,8}$"}},
            "required": ["invoice_id"],
            "additionalProperties": false
        }),
    ));
    catalog.put_tool(tool(
        "invoice-pay",
        "POST",
        "/invoices/{invoice_id}/pay",
        port,
        json!({
            "type": "object",
            "properties": {
                "invoice_id": {"type": "string", "pattern": "^INV-[0-9]{1,8}$"},
                "amount": {"type": "integer", "minimum": 1, "maximum": 100000},
                "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]}
            },
            "required": ["invoice_id", "amount", "currency"],
            "additionalProperties": false
        }),
    ));
    let mut draft = tool(
        "payroll-run",
        "POST",
        "/payroll",
        port,
        json!({"type": "object"}),
    );
    draft.state = Certification::Draft;
    catalog.put_tool(draft);
    catalog
}

struct World {
    root: KeyPair,
    execution: Execution,
    api: Api,
    _dir: tempfile::TempDir,
}

async fn world() -> World {
    let api = serve_api().await;
    let dir = tempfile::tempdir().unwrap();
    let root = KeyPair::new();
    let trust = Arc::new(TrustState::open(&dir.path().join("trust")).unwrap());
    let root_vk = trust_sdk::keys::verifying_key_from_bytes(&root.public().to_bytes()).unwrap();
    trust.install(vec![(1, root_vk, true)], now_ms() + 3_600_000);
    let desk = ToolDesk::new(
        catalog(api.port),
        ToolsConfig {
            upstream_hosts: vec![format!("127.0.0.1:{}", api.port)],
            max_response_bytes: 64 * 1024,
            timeout: Duration::from_secs(10),
        },
    );
    let admission = Admission::new(
        trust,
        AdmissionLimits {
            max_token_bytes: 64 * 1024,
            max_blocks: 16,
            max_request_bytes: 4 * 1024 * 1024,
            proof_window: Duration::from_secs(30),
            revocation_max_staleness: Duration::from_secs(7200),
            max_delegation_depth: 8,
        },
        OperationLimits::default(),
        vec!["demo".into()],
        SystemTime::UNIX_EPOCH,
    )
    .with_tools(desk);
    let ws_root = dir.path().join("ws");
    std::fs::create_dir(&ws_root).unwrap();
    let mut workspaces = HashMap::new();
    workspaces.insert(
        "demo".to_string(),
        Arc::new(Workspace::open(&ws_root).unwrap()),
    );
    let store = SecretStore::open(
        &dir.path().join("secrets"),
        SealingKey::from_bytes(&[7u8; 32]).unwrap(),
    )
    .unwrap();
    store
        .put(
            "erp-key",
            &SecretValue::new(API_KEY.as_bytes().to_vec()).unwrap(),
            now_ms(),
        )
        .unwrap();
    let execution = Execution {
        admission,
        provenance: ProvenanceLog::open(
            &dir.path().join("provenance"),
            trust_sdk::keys::generate(),
            0,
        )
        .unwrap(),
        workspaces,
        operation_limits: OperationLimits::default(),
        grant_uses: GrantUses::open(&dir.path().join("uses"), now_ms()).unwrap(),
        secrets: SecretBroker::new(store),
    };
    World {
        root,
        execution,
        api,
        _dir: dir,
    }
}

/// A grant for `tools` with `constraints` (`TOOL:CONSTRAINT`) and task fields, minted as the
/// authority mints one (`authority/src/minting/tool_arguments.rs`).
fn mint(
    world: &World,
    holder: &SigningKey,
    tools: &[&str],
    constraints: &[&str],
    task: &[(&str, &str)],
) -> Biscuit {
    let claims = GrantClaims {
        grant_id: uuid::Uuid::now_v7().to_string(),
        correlation_id: "c".into(),
        user: "alice".into(),
        agent: "invoice-agent".into(),
        holder: holder.verifying_key(),
        workspace: "demo".into(),
        task: "INV-7".into(),
        purpose: "test".into(),
        profile: "finance".into(),
        scopes: tools
            .iter()
            .map(|t| ("tool.invoke".to_string(), t.to_string()))
            .collect(),
        commands: vec![],
        limits: vec![],
        deny_globs: vec![],
        deny_regexes: vec![],
        approval: Approval::NotRequired,
        issued_at: now(),
        expires_at: now() + Duration::from_secs(600),
        shell: None,
        sandbox_level: None,
        child_limits: vec![],
        http_rules: vec![],
    };
    let mut block = trust_sdk::vocabulary::authority_block(&claims).unwrap();
    for (name, value) in task {
        block = block.fact(task_field_fact(name, value)).unwrap();
    }
    for text in constraints {
        let c = ToolArgConstraint::parse_scoped(text).unwrap();
        block = block
            .fact(c.fact(ARG_CONSTRAINT))
            .unwrap()
            .check(c.check().unwrap())
            .unwrap();
    }
    block.root_key_id(1).build(&world.root).unwrap()
}

fn request(
    grant: &Biscuit,
    key: &SigningKey,
    tool: &str,
    args: Value,
) -> trust_proto::executor::v1::ExecuteRequest {
    trust_sdk::client::prepare_execute(
        &grant.to_vec().unwrap(),
        key,
        trust_sdk::client::tool_operation(tool, &args.to_string(), 0),
        now_ms(),
    )
}

async fn invoke(
    world: &World,
    grant: &Biscuit,
    key: &SigningKey,
    tool: &str,
    args: Value,
) -> Result<Outcome, Refusal> {
    let call = tool_executor::rpc::execute_call(request(grant, key, tool, args));
    world
        .execution
        .execute(&call, now())
        .await
        .map(|e| e.outcome)
}

async fn describe(
    world: &World,
    grant: &Biscuit,
    key: &SigningKey,
    tool: &str,
) -> Result<Value, Refusal> {
    let call = tool_executor::rpc::execute_call(request(grant, key, tool, json!({})));
    world
        .execution
        .describe_tool(&call, now())
        .await
        .map(|v| json!({"id": v.id, "parameters": v.parameters, "constraints": v.constraints}))
}

async fn list(world: &World, grant: &Biscuit, key: &SigningKey) -> Vec<String> {
    let call = tool_executor::rpc::execute_call(request(grant, key, "", json!({})));
    let (_, views) = world.execution.list_tools(&call, now()).await.unwrap();
    views.into_iter().map(|v| v.id).collect()
}

fn pay_args(amount: i64) -> Value {
    json!({"invoice_id": "INV-7", "amount": amount, "currency": "EUR"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certified_tool_within_its_constraints_calls_the_api_with_the_secret_hidden() {
    let world = world().await;
    let holder = trust_sdk::keys::generate();
    let grant = mint(
        &world,
        &holder,
        &["invoice-validate", "invoice-pay"],
        &[
            "invoice-pay:amount <= 1000",
            "invoice-pay:invoice_id == task.invoice",
        ],
        &[("invoice", "INV-7")],
    );
    let outcome = invoke(&world, &grant, &holder, "invoice-pay", pay_args(250))
        .await
        .unwrap();
    let Outcome::Tool(tool) = outcome else {
        panic!("not a tool outcome")
    };
    assert_eq!(tool.http.status, 200);
    assert_eq!(tool.version, 3);
    assert_eq!(world.api.calls.load(Ordering::SeqCst), 1);
    let seen = world.api.seen.lock().unwrap().join("\n");
    assert!(
        seen.starts_with("POST /invoices/INV-7/pay HTTP/1.1"),
        "{seen}"
    );
    assert!(seen.contains(API_KEY), "the API receives the secret");
    assert!(seen.contains("\"amount\":250"), "{seen}");
    let body = String::from_utf8(tool.http.body.clone()).unwrap();
    assert!(
        !body.contains(API_KEY),
        "the agent never sees the secret: {body}"
    );
    assert_eq!(
        tool.arguments_sha256,
        trust_sdk::parameters::arguments_digest(&pay_args(250).to_string())
    );
    // The record names the tool, its version, both digests and the secret by name only.
    let records = world
        .execution
        .provenance
        .query(&ProvenanceFilter {
            operation: Some("tool.invoke".into()),
            ..Default::default()
        })
        .unwrap();
    let outcome_record = records.last().unwrap();
    let reasons = outcome_record.reasons.join("\n");
    assert!(
        reasons.contains("tool id=invoice-pay version=3 arguments_sha256="),
        "{reasons}"
    );
    assert!(
        reasons.contains(&format!("result_sha256={}", tool.result_sha256())),
        "{reasons}"
    );
    assert!(
        reasons.contains("secret erp-key for tool invoice-pay"),
        "{reasons}"
    );
    assert!(!format!("{records:?}").contains(API_KEY));
    assert_eq!(outcome_record.resources, vec!["invoice-pay".to_string()]);
    // A GET tool: arguments go into the URL only.
    let ok = invoke(
        &world,
        &grant,
        &holder,
        "invoice-validate",
        json!({"invoice_id": "INV-9"}),
    )
    .await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(world.api.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_are_refused_before_any_upstream_call() {
    let world = world().await;
    let holder = trust_sdk::keys::generate();
    let grant = mint(
        &world,
        &holder,
        &["invoice-pay"],
        &[
            "invoice-pay:amount <= 1000",
            "invoice-pay:invoice_id == task.invoice",
        ],
        &[("invoice", "INV-7")],
    );
    for (what, args, check) in [
        (
            "out of the schema's range",
            pay_args(500_000),
            "tool-arguments",
        ),
        (
            "wrong type",
            json!({"invoice_id": "INV-7", "amount": "250", "currency": "EUR"}),
            "tool-arguments",
        ),
        (
            "extra",
            json!({"invoice_id": "INV-7", "amount": 5, "currency": "EUR", "note": "x"}),
            "tool-arguments",
        ),
        (
            "missing",
            json!({"invoice_id": "INV-7", "currency": "EUR"}),
            "tool-arguments",
        ),
        (
            "pattern",
            json!({"invoice_id": "INV-7/../admin", "amount": 5, "currency": "EUR"}),
            "tool-arguments",
        ),
        (
            "not in the enum",
            json!({"invoice_id": "INV-7", "amount": 5, "currency": "JPY"}),
            "tool-arguments",
        ),
        (
            "above the grant's bound",
            pay_args(1001),
            "argument-constraint",
        ),
        (
            "another invoice than the task's",
            json!({"invoice_id": "INV-8", "amount": 5, "currency": "EUR"}),
            "argument-constraint",
        ),
    ] {
        let refusal = invoke(&world, &grant, &holder, "invoice-pay", args)
            .await
            .unwrap_err();
        assert_eq!(refusal.check, check, "{what}: {refusal}");
    }
    assert_eq!(
        world.api.calls.load(Ordering::SeqCst),
        0,
        "nothing reached the API"
    );
    // Each refusal is recorded, naming its check.
    let refusals = world
        .execution
        .provenance
        .query(&ProvenanceFilter {
            operation: Some("tool.invoke".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(refusals.len(), 8);
    assert!(refusals.iter().all(|r| r.decision == "refuse"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_the_grant_lacks_is_indistinguishable_from_one_that_does_not_exist() {
    let world = world().await;
    let holder = trust_sdk::keys::generate();
    let grant = mint(&world, &holder, &["invoice-validate"], &[], &[]);
    assert_eq!(
        list(&world, &grant, &holder).await,
        vec!["invoice-validate"]
    );
    let lacking = describe(&world, &grant, &holder, "invoice-pay")
        .await
        .unwrap_err();
    let missing = describe(&world, &grant, &holder, "no-such-tool")
        .await
        .unwrap_err();
    let draft = describe(&world, &grant, &holder, "payroll-run")
        .await
        .unwrap_err();
    assert_eq!(lacking.kind, RefusalKind::NotFound);
    assert_eq!(
        (lacking.kind, lacking.check, lacking.to_string()),
        (missing.kind, missing.check, missing.to_string())
    );
    assert_eq!(lacking, draft);
    // Invoking: the same answer again, and nothing reaches the API.
    let invoked = invoke(&world, &grant, &holder, "invoice-pay", pay_args(5))
        .await
        .unwrap_err();
    let invoked_missing = invoke(&world, &grant, &holder, "no-such-tool", pay_args(5))
        .await
        .unwrap_err();
    assert_eq!(invoked, invoked_missing);
    assert_eq!(invoked, lacking);
    assert_eq!(world.api.calls.load(Ordering::SeqCst), 0);
    // The granted tool is described, schema and all.
    let shown = describe(&world, &grant, &holder, "invoice-validate")
        .await
        .unwrap();
    assert_eq!(
        shown["parameters"]["properties"]["invoice_id"]["pattern"],
        "^INV-[0-9]{1,8}$"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_show_only_what_the_grant_lets_the_caller_set() {
    let world = world().await;
    let holder = trust_sdk::keys::generate();
    let grant = mint(
        &world,
        &holder,
        &["invoice-pay"],
        &[
            "invoice-pay:amount <= 1000",
            "invoice-pay:currency in [EUR, CHF]",
            "invoice-pay:invoice_id == task.invoice",
        ],
        &[("invoice", "INV-7")],
    );
    let shown = describe(&world, &grant, &holder, "invoice-pay")
        .await
        .unwrap();
    let p = &shown["parameters"]["properties"];
    assert_eq!(p["amount"]["maximum"], json!(1000));
    assert_eq!(p["currency"]["enum"], json!(["EUR"]));
    assert_eq!(p["invoice_id"]["enum"], json!(["INV-7"]));
    assert_eq!(
        shown["constraints"],
        json!([
            "amount <= 1000",
            "currency in [\"CHF\", \"EUR\"]",
            "invoice_id == task.invoice"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_derived_grant_tightens_amount_to_50_and_cannot_widen_it_back() {
    let world = world().await;
    let parent_key = trust_sdk::keys::generate();
    let child_key = trust_sdk::keys::generate();
    let grant = mint(
        &world,
        &parent_key,
        &["invoice-pay"],
        &["invoice-pay:amount <= 1000"],
        &[],
    );
    let narrowing = |text: &str| Derivation {
        narrowing: Attenuation {
            tool_arguments: vec![ToolArgConstraint::parse_scoped(text).unwrap()],
            ..Default::default()
        },
        purpose: "small refunds".into(),
        derived_id: None,
    };
    let derived = derive(
        &grant,
        &parent_key,
        &child_key.verifying_key(),
        &narrowing("invoice-pay:amount <= 50"),
    )
    .unwrap();
    let (derived, derived_id) = (derived.token, derived.derived_id);
    assert!(
        invoke(&world, &derived, &child_key, "invoice-pay", pay_args(50))
            .await
            .is_ok()
    );
    let refused = invoke(&world, &derived, &child_key, "invoice-pay", pay_args(51))
        .await
        .unwrap_err();
    assert_eq!(refused.check, "argument-constraint", "{refused}");
    // The parent still may.
    assert!(
        invoke(&world, &grant, &parent_key, "invoice-pay", pay_args(51))
            .await
            .is_ok()
    );
    // The SDK refuses to widen back, naming both constraints.
    let grandchild = trust_sdk::keys::generate();
    let widen = derive(
        &derived,
        &child_key,
        &grandchild.verifying_key(),
        &narrowing("invoice-pay:amount <= 1000"),
    );
    let err = widen.unwrap_err().to_string();
    assert!(
        err.contains("amount <= 1000") && err.contains("amount <= 50"),
        "{err}"
    );
    // A block signed by hand that "widens" still only adds a check: 51 stays refused.
    let block = delegation_block(
        &child_key.verifying_key(),
        &grandchild.verifying_key(),
        "forced-widening",
        &derived_id,
        &narrowing("invoice-pay:amount <= 1000"),
    )
    .unwrap();
    let signed = derived
        .third_party_request()
        .unwrap()
        .create_block(
            &trust_sdk::keys::to_biscuit_private(&child_key).unwrap(),
            block,
        )
        .unwrap();
    let forced = derived
        .append_third_party(
            trust_sdk::keys::to_biscuit_public(&child_key.verifying_key()).unwrap(),
            signed,
        )
        .unwrap();
    let refused = invoke(&world, &forced, &grandchild, "invoice-pay", pay_args(51))
        .await
        .unwrap_err();
    assert_eq!(refused.check, "argument-constraint", "{refused}");
    assert!(
        invoke(&world, &forced, &grandchild, "invoice-pay", pay_args(50))
            .await
            .is_ok()
    );
    // What the derived grant shows: the tighter maximum.
    let shown = describe(&world, &derived, &child_key, "invoice-pay")
        .await
        .unwrap();
    assert_eq!(
        shown["parameters"]["properties"]["amount"]["maximum"],
        json!(50)
    );
    assert_eq!(world.api.calls.load(Ordering::SeqCst), 3);
}
