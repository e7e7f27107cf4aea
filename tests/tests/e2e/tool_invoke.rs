//! `tool.invoke`, `ListTools` and `DescribeTool` over real servers: tools registered and
//! certified at the authority reach the executor on the signed feed; a profile grants them
//! with argument constraints; a loopback HTTP service stands in for the business API and
//! counts the calls it receives; the tool's credential lives in the executor's secrets broker.
//!
//! One cluster for the whole scene: an invoice agent that may validate an invoice, and (with a
//! second grant) pay at most 1000 of it, for the invoice its task names.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1 as epb;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::client::{ExecutorClient, GrantSpec, RegistryKind};
use trust_sdk::derive::{derive, Derivation};
use trust_sdk::vocabulary::tool_args::ToolArgConstraint;
use trust_sdk::SdkError;
use trust_tests::json_api::JsonApi;
use trust_tests::{Cluster, ClusterOptions};

const API_KEY: &str = "erp-key-e2e-0123456789abcdef";

/// The stand-in business API: echoes every request, so a test sees what a scrubber must hide.
async fn serve_api() -> JsonApi {
    let api = JsonApi::start().await.unwrap();
    api.echo();
    api
}

fn tool(id: &str, method: &str, path: &str, port: u16, parameters: Value) -> Value {
    json!({
        "id": id, "version": 1, "owner": "finance-platform", "risk": "high", "state": "draft",
        "description": format!("{id} against the ERP"),
        "parameters": parameters,
        "upstream": {"method": method, "url_template": format!("http://127.0.0.1:{port}{path}")},
        "secret": {"name": "erp-key", "header": "X-Api-Key"}
    })
}

const PROFILE_EXTRA: &str = r#"
[[allow]]
id = "invoice-validate"
operations = ["tool.invoke"]
resources = ["invoice-validate"]
arguments = ["invoice_id == task.invoice"]

[[allow]]
id = "invoice-pay"
operations = ["tool.invoke"]
resources = ["invoice-pay"]
arguments = ["amount <= 1000", "invoice_id == task.invoice"]

[[allow]]
id = "invoice-release"
operations = ["tool.invoke"]
resources = ["invoice-release"]
arguments = ["invoice_id == task.invoice"]

[[approval]]
id = "release-needs-a-person"
operations = ["tool.invoke"]
resources = ["invoice-release"]
"#;

fn trustctl(args: &[&str]) -> std::process::Output {
    let bin = trust_tests::binaries::binary("trustctl", "trustctl").unwrap();
    let mut child = Command::new(bin)
        .args(args)
        .env_remove("TRUST_EXECUTOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// The cluster: the tool profile, `[tools]` naming the API, a secrets key and a secret admin.
async fn cluster(api: &JsonApi) -> Cluster {
    let options = ClusterOptions {
        profile_extra: PROFILE_EXTRA.into(),
        start_executor: false,
        ..Default::default()
    };
    let mut cluster = Cluster::start(options).unwrap();
    let key_file = cluster.path("secrets.key");
    let out = trustctl(&["secrets", "new-key", "--out", key_file.to_str().unwrap()]);
    assert!(out.status.success(), "{out:?}");
    let admin = trust_sdk::keys::generate();
    let config = std::fs::read_to_string(&cluster.executor_config).unwrap();
    let config = format!(
        "secrets_key_file = \"secrets.key\"\n{config}\n[[secret_admin_keys]]\nid = \"ops\"\npublic_key = \"{}\"\n\n[tools]\nupstream_hosts = [\"127.0.0.1:{}\"]\nmax_response_bytes = 65536\n",
        hex::encode(admin.verifying_key().as_bytes()),
        api.port
    );
    std::fs::write(&cluster.executor_config, config).unwrap();
    cluster.start_executor().unwrap();
    let mut executor = cluster.executor_client().await.unwrap();
    executor
        .put_secret(
            "secret-admin:ops",
            &admin,
            "erp-key",
            API_KEY.as_bytes().to_vec(),
        )
        .await
        .unwrap();
    let mut registry = cluster.authority_client().await.unwrap();
    let invoice = json!({"type": "string", "pattern": "^INV-[0-9]{1,8}$"});
    for definition in [
        tool(
            "invoice-validate",
            "GET",
            "/invoices/{invoice_id}/validate",
            api.port,
            json!({"type": "object", "properties": {"invoice_id": invoice},
                   "required": ["invoice_id"], "additionalProperties": false}),
        ),
        tool(
            "invoice-pay",
            "POST",
            "/invoices/{invoice_id}/pay",
            api.port,
            json!({"type": "object",
                   "properties": {"invoice_id": invoice,
                                  "amount": {"type": "integer", "minimum": 1, "maximum": 100000},
                                  "currency": {"type": "string", "enum": ["EUR", "USD"]}},
                   "required": ["invoice_id", "amount", "currency"],
                   "additionalProperties": false}),
        ),
        tool(
            "invoice-release",
            "POST",
            "/invoices/{invoice_id}/release",
            api.port,
            json!({"type": "object", "properties": {"invoice_id": invoice},
                   "required": ["invoice_id"], "additionalProperties": false}),
        ),
    ] {
        let id = definition["id"].as_str().unwrap().to_string();
        registry
            .register_definition(
                &cluster.admin_id,
                &cluster.admin_key,
                RegistryKind::Tool,
                &definition.to_string(),
                "e2e",
            )
            .await
            .unwrap();
        registry
            .certify(
                &cluster.admin_id,
                &cluster.admin_key,
                RegistryKind::Tool,
                &id,
                1,
                "reviewed",
            )
            .await
            .unwrap();
    }
    cluster
}

async fn grant(cluster: &Cluster, tools: &[&str]) -> Vec<u8> {
    let mut authority = cluster.authority_client().await.unwrap();
    let spec = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "INV-7".into(),
        purpose: "validate invoice INV-7".into(),
        scopes: tools
            .iter()
            .map(|t| ("tool.invoke".to_string(), t.to_string()))
            .collect(),
        task_fields: BTreeMap::from([("invoice".to_string(), "INV-7".to_string())]),
        ..Default::default()
    };
    let answer = authority
        .request_grant(&cluster.agent_id, &cluster.agent_key, &spec)
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{}", answer.reason);
    answer.grant.unwrap()
}

/// Waits (up to 10 s) until `grant` lists exactly `expected`.
async fn until_listed(
    executor: &mut ExecutorClient,
    grant: &[u8],
    key: &ed25519_dalek::SigningKey,
    expected: &[&str],
) -> Duration {
    let started = Instant::now();
    loop {
        let listed: Vec<String> = executor
            .list_tools(grant, key)
            .await
            .unwrap()
            .tools
            .into_iter()
            .map(|t| t.tool_id)
            .collect();
        if listed == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "listed {listed:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn rpc(err: SdkError) -> (String, String) {
    match err {
        SdkError::Rpc { code, message } => (code, message),
        other => panic!("not an rpc error: {other}"),
    }
}

/// The stock `biscuit` command line (installed by `scripts/install-test-tools.sh`), or `None`
/// with a notice; `TRUST_REQUIRE_BISCUIT_CLI` makes its absence a failure.
fn biscuit_cli() -> Option<&'static str> {
    let found = Command::new("biscuit")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        found || std::env::var_os("TRUST_REQUIRE_BISCUIT_CLI").is_none(),
        "TRUST_REQUIRE_BISCUIT_CLI is set but `biscuit` is not on PATH"
    );
    if !found {
        eprintln!("SKIPPED the biscuit CLI case: `biscuit` is not on PATH");
    }
    found.then_some("biscuit")
}

async fn invoke(
    executor: &mut ExecutorClient,
    grant: &[u8],
    key: &ed25519_dalek::SigningKey,
    tool: &str,
    args: Value,
) -> Result<epb::ToolInvokeResult, (String, String)> {
    match executor
        .invoke_tool(grant, key, tool, &args.to_string(), 0)
        .await
    {
        Ok(r) => match r.result {
            Some(epb::execute_response::Result::ToolInvoke(t)) => Ok(t),
            other => panic!("not a tool result: {other:?}"),
        },
        Err(e) => Err(rpc(e)),
    }
}

fn pay(amount: i64) -> Value {
    json!({"invoice_id": "INV-7", "amount": amount, "currency": "EUR"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_agent_validates_and_pays_within_its_grant_and_sees_nothing_else() {
    let api = serve_api().await;
    let cluster = cluster(&api).await;
    let key = &cluster.agent_key;
    let mut executor = cluster.executor_client().await.unwrap();
    let validate_only = grant(&cluster, &["invoice-validate"]).await;
    let both = grant(&cluster, &["invoice-validate", "invoice-pay"]).await;
    until_listed(
        &mut executor,
        &both,
        key,
        &["invoice-pay", "invoice-validate"],
    )
    .await;

    // A grant lacking a tool cannot list it, describe it, or tell it from a missing tool.
    let listed = until_listed(&mut executor, &validate_only, key, &["invoice-validate"]).await;
    assert!(listed < Duration::from_secs(1));
    let lacking = rpc(executor
        .describe_tool(&validate_only, key, "invoice-pay")
        .await
        .unwrap_err());
    let missing = rpc(executor
        .describe_tool(&validate_only, key, "invoice-refund")
        .await
        .unwrap_err());
    assert_eq!(lacking.0, "NotFound", "{lacking:?}");
    assert_eq!(lacking, missing, "byte for byte");
    let invoked_lacking = invoke(&mut executor, &validate_only, key, "invoice-pay", pay(5))
        .await
        .unwrap_err();
    let invoked_missing = invoke(&mut executor, &validate_only, key, "invoice-refund", pay(5))
        .await
        .unwrap_err();
    assert_eq!(invoked_lacking, invoked_missing);
    assert_eq!(invoked_lacking, lacking);
    assert_eq!(api.calls(), 0);

    // Validate: within its constraint, the API is called with the credential, the agent never
    // sees it.
    let validated = invoke(
        &mut executor,
        &validate_only,
        key,
        "invoice-validate",
        json!({"invoice_id": "INV-7"}),
    )
    .await
    .unwrap();
    assert_eq!(validated.status, 200);
    assert_eq!(validated.tool_version, 1);
    assert_eq!(api.calls(), 1);
    assert!(
        api.requests()[0].contains(API_KEY),
        "the API got the credential"
    );
    let body = String::from_utf8(validated.body.clone()).unwrap();
    assert!(body.contains("GET /invoices/INV-7/validate"), "{body}");
    assert!(!body.contains(API_KEY), "the echo is scrubbed: {body}");
    assert_eq!(
        validated.arguments_sha256,
        trust_sdk::parameters::arguments_digest(&json!({"invoice_id": "INV-7"}).to_string())
    );

    // Pay within the constraints; then every bad argument is refused before any call.
    let paid = invoke(&mut executor, &both, key, "invoice-pay", pay(250))
        .await
        .unwrap();
    assert_eq!(paid.status, 200);
    assert_eq!(api.calls(), 2);
    for (what, args, code, check) in [
        (
            "out of range",
            pay(500_000),
            "InvalidArgument",
            "tool-arguments",
        ),
        (
            "wrong type",
            json!({"invoice_id": "INV-7", "amount": "250", "currency": "EUR"}),
            "InvalidArgument",
            "tool-arguments",
        ),
        (
            "extra",
            json!({"invoice_id": "INV-7", "amount": 5, "currency": "EUR", "iban": "X"}),
            "InvalidArgument",
            "tool-arguments",
        ),
        (
            "missing",
            json!({"invoice_id": "INV-7", "currency": "EUR"}),
            "InvalidArgument",
            "tool-arguments",
        ),
        (
            "pattern",
            json!({"invoice_id": "../admin", "amount": 5, "currency": "EUR"}),
            "InvalidArgument",
            "tool-arguments",
        ),
        (
            "above the grant's 1000",
            pay(1001),
            "PermissionDenied",
            "argument-constraint",
        ),
        (
            "not the task's invoice",
            json!({"invoice_id": "INV-8", "amount": 5, "currency": "EUR"}),
            "PermissionDenied",
            "argument-constraint",
        ),
    ] {
        let (got, message) = invoke(&mut executor, &both, key, "invoice-pay", args)
            .await
            .unwrap_err();
        assert_eq!(got, code, "{what}: {message}");
        assert!(message.starts_with(check), "{what}: {message}");
    }
    assert_eq!(api.calls(), 2, "no refused call reached the API");

    // The schema shows what the grant allows: the maximum lowered, the invoice fixed.
    let described = executor
        .describe_tool(&both, key, "invoice-pay")
        .await
        .unwrap();
    let schema: Value = serde_json::from_str(&described.parameters_json).unwrap();
    assert_eq!(schema["properties"]["amount"]["maximum"], json!(1000));
    assert_eq!(schema["properties"]["invoice_id"]["enum"], json!(["INV-7"]));

    // A sub-agent gets `amount <= 50`: 50 passes, 51 does not, and it cannot widen back.
    let sub = trust_sdk::keys::generate();
    let narrowing = |text: &str| Derivation {
        narrowing: Attenuation {
            tool_arguments: vec![ToolArgConstraint::parse_scoped(text).unwrap()],
            ..Default::default()
        },
        purpose: "small payments".into(),
        derived_id: None,
    };
    let keys = cluster
        .authority_client()
        .await
        .unwrap()
        .public_keys()
        .await
        .unwrap();
    let token =
        biscuit_auth::Biscuit::from(&both, trust_sdk::client::root_key_provider(&keys)).unwrap();
    let derived = derive(
        &token,
        key,
        &sub.verifying_key(),
        &narrowing("invoice-pay:amount<=50"),
    )
    .unwrap();
    let derived_bytes = derived.token.to_vec().unwrap();
    assert!(
        invoke(&mut executor, &derived_bytes, &sub, "invoice-pay", pay(50))
            .await
            .is_ok()
    );
    let (code, message) = invoke(&mut executor, &derived_bytes, &sub, "invoice-pay", pay(51))
        .await
        .unwrap_err();
    assert_eq!(code, "PermissionDenied");
    assert!(message.starts_with("argument-constraint"), "{message}");
    let described = executor
        .describe_tool(&derived_bytes, &sub, "invoice-pay")
        .await
        .unwrap();
    let schema: Value = serde_json::from_str(&described.parameters_json).unwrap();
    assert_eq!(schema["properties"]["amount"]["maximum"], json!(50));
    let widen = derive(
        &derived.token,
        &sub,
        &trust_sdk::keys::generate().verifying_key(),
        &narrowing("invoice-pay:amount<=1000"),
    );
    assert!(matches!(widen, Err(SdkError::Widening(_))), "{widen:?}");
    assert_eq!(api.calls(), 3);

    // The stock `biscuit` CLI narrows the same way: its block is the documented check over the
    // executor's `tool_arg` facts, and the executor holds the call to it.
    if let Some(cli) = biscuit_cli() {
        let file = cluster.dir.path().join("both.b64");
        std::fs::write(&file, token.to_base64().unwrap()).unwrap();
        let out = Command::new(cli)
            .arg("attenuate")
            .arg(&file)
            .args([
                "--block",
                r#"check if operation($op), $op != "tool.invoke" or resource($r), $r != "invoice-pay" or tool_arg("amount", $v), $v <= 20;"#,
            ])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let narrowed = biscuit_auth::Biscuit::from_base64(
            String::from_utf8(out.stdout).unwrap().trim(),
            trust_sdk::client::root_key_provider(&keys),
        )
        .unwrap()
        .to_vec()
        .unwrap();
        assert!(
            invoke(&mut executor, &narrowed, key, "invoice-pay", pay(20))
                .await
                .is_ok()
        );
        let (code, message) = invoke(&mut executor, &narrowed, key, "invoice-pay", pay(21))
            .await
            .unwrap_err();
        assert_eq!(code, "PermissionDenied", "{message}");
        assert_eq!(
            api.calls(),
            4,
            "the call over the CLI's bound never reached the API"
        );
    }
    let calls = api.calls();

    // A revoked tool is refused at the running executor within the revocation bound.
    let mut registry = cluster.authority_client().await.unwrap();
    let revoked_at = Instant::now();
    registry
        .revoke_definition(
            &cluster.admin_id,
            &cluster.admin_key,
            RegistryKind::Tool,
            "invoice-validate",
            "e2e",
        )
        .await
        .unwrap();
    until_listed(&mut executor, &validate_only, key, &[]).await;
    assert!(
        revoked_at.elapsed() < Duration::from_secs(10),
        "within revocation_max_staleness"
    );
    let refused = invoke(
        &mut executor,
        &validate_only,
        key,
        "invoice-validate",
        json!({"invoice_id": "INV-7"}),
    )
    .await
    .unwrap_err();
    assert_eq!(refused, lacking, "a revoked tool answers as a missing one");
    assert_eq!(api.calls(), calls);

    // A tool behind an approval rule: the approver sees the task fields, and the approved
    // grant carries them, so `invoice_id == task.invoice` holds the call to INV-7.
    let release = trust_sdk::client::tool_operation(
        "invoice-release",
        &json!({"invoice_id": "INV-7"}).to_string(),
        0,
    );
    let spec = GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "INV-7".into(),
        purpose: "release invoice INV-7".into(),
        scopes: vec![("tool.invoke".into(), "invoice-release".into())],
        task_fields: BTreeMap::from([("invoice".to_string(), "INV-7".to_string())]),
        ..Default::default()
    }
    .with_parameters(&release);
    let mut authority = cluster.authority_client().await.unwrap();
    let pending = authority
        .request_grant(&cluster.agent_id, &cluster.agent_key, &spec)
        .await
        .unwrap();
    assert_eq!(
        pending.effect,
        Effect::ApprovalRequired,
        "{}",
        pending.reason
    );
    let (carol, carol_key) = cluster.approver("carol");
    let shown = authority
        .list_approvals(&carol, carol_key, true)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.approval_id == pending.approval_id)
        .unwrap();
    assert_eq!(
        shown.task_fields.get("invoice").map(String::as_str),
        Some("INV-7")
    );
    authority
        .decide_approval(
            &carol,
            carol_key,
            &trust_sdk::client::ApprovalDecision::on(&shown, true, "ok"),
        )
        .await
        .unwrap();
    let approved = authority
        .await_approval(
            &cluster.agent_id,
            &cluster.agent_key,
            &pending.approval_id,
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(approved.effect, Effect::Allow, "{}", approved.reason);
    let released = executor
        .execute(&approved.grant.unwrap(), key, release)
        .await;
    assert!(released.is_ok(), "{released:?}");
    assert_eq!(api.calls(), calls + 1);
}
