//! The README demo's business-API scene: an invoice agent that may validate invoices but not
//! pay them. A loopback HTTP service stands in for the ERP and counts what reaches it; the
//! tools are registered and certified at the authority and reach the executor on the signed
//! feed. Included by `bin/trust-demo.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_sdk::client::{GrantSpec, RegistryKind};
use trust_tests::Cluster;

/// The stand-in ERP: answers every request with `{"valid": true}` and counts them.
pub type Erp = trust_tests::json_api::JsonApi;

/// Starts the ERP on a free loopback port.
pub async fn start_erp() -> anyhow::Result<Erp> {
    let erp = Erp::start().await?;
    erp.set_reply(200, r#"{"valid":true}"#);
    Ok(erp)
}

/// Executor configuration naming the ERP as the one host tool upstreams may reach.
pub fn executor_extra(erp: &Erp) -> String {
    format!("\n[tools]\nupstream_hosts = [\"127.0.0.1:{}\"]\n", erp.port)
}

/// The profile rule: `invoice-validate` for the invoice the task names; nothing for paying.
pub const PROFILE_EXTRA: &str = r#"
[[allow]]
id = "invoice-validate"
operations = ["tool.invoke"]
resources = ["invoice-validate"]
arguments = ["invoice_id == task.invoice"]
"#;

fn definition(id: &str, method: &str, path: &str, port: u16) -> String {
    let invoice = json!({"type": "string", "pattern": "^INV-[0-9]{1,8}$"});
    let mut properties = json!({"invoice_id": invoice});
    let mut required = vec!["invoice_id"];
    if id == "invoice-pay" {
        properties["amount"] = json!({"type": "integer", "minimum": 1, "maximum": 100000});
        required.push("amount");
    }
    json!({
        "id": id, "version": 1, "owner": "finance-platform", "risk": "high", "state": "draft",
        "description": format!("{id} at the ERP"),
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": false},
        "upstream": {"method": method, "url_template": format!("http://127.0.0.1:{port}{path}")}
    })
    .to_string()
}

fn refusal(
    result: Result<trust_proto::executor::v1::ExecuteResponse, trust_sdk::SdkError>,
) -> String {
    match result {
        Ok(_) => "ALLOWED (unexpected)".to_string(),
        Err(e) => e.to_string(),
    }
}

/// The scene: register and certify two tools, grant one, use it, and show the other is
/// invisible and unreachable.
pub async fn scene(cluster: &Cluster, erp: &Erp) -> anyhow::Result<()> {
    let mut authority = cluster.authority_client().await?;
    for (id, method, path) in [
        ("invoice-validate", "GET", "/invoices/{invoice_id}/validate"),
        ("invoice-pay", "POST", "/invoices/{invoice_id}/pay"),
    ] {
        let json = definition(id, method, path, erp.port);
        authority
            .register_definition(
                &cluster.admin_id,
                &cluster.admin_key,
                RegistryKind::Tool,
                &json,
                "demo",
            )
            .await?;
        let change = authority
            .certify(
                &cluster.admin_id,
                &cluster.admin_key,
                RegistryKind::Tool,
                id,
                1,
                "reviewed",
            )
            .await?;
        println!(
            "    admin registers and certifies `{id}` v1 (feed entry #{})",
            change.sequence
        );
    }
    let ask = |tool: &str| GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: "INV-7".into(),
        purpose: "validate invoice INV-7".into(),
        scopes: vec![("tool.invoke".to_string(), tool.to_string())],
        task_fields: BTreeMap::from([("invoice".to_string(), "INV-7".to_string())]),
        ..Default::default()
    };
    let pay = authority
        .request_grant(&cluster.agent_id, &cluster.agent_key, &ask("invoice-pay"))
        .await?;
    println!(
        "    a grant for `invoice-pay`: {:?} ({})",
        pay.effect, pay.reason
    );
    anyhow::ensure!(pay.effect != Effect::Allow, "paying was granted");
    let answer = authority
        .request_grant(
            &cluster.agent_id,
            &cluster.agent_key,
            &ask("invoice-validate"),
        )
        .await?;
    anyhow::ensure!(
        answer.effect == Effect::Allow,
        "validation refused: {}",
        answer.reason
    );
    let grant = answer.grant.context("no grant")?;
    println!(
        "    a grant for `invoice-validate` with task field invoice=INV-7: {:?} by {:?}",
        answer.effect, answer.rule_ids
    );
    let mut exec = cluster.executor_client().await?;
    let key = &cluster.agent_key;
    let started = Instant::now();
    let listed = loop {
        let listed = exec.list_tools(&grant, key).await?;
        if !listed.tools.is_empty() || started.elapsed() > Duration::from_secs(10) {
            break listed;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    for tool in &listed.tools {
        println!(
            "    ListTools shows `{}` v{}, constraints {:?}",
            tool.tool_id, tool.version, tool.constraints
        );
    }
    let ok = exec
        .invoke_tool(
            &grant,
            key,
            "invoice-validate",
            r#"{"invoice_id":"INV-7"}"#,
            0,
        )
        .await?;
    if let Some(R::ToolInvoke(t)) = ok.result {
        println!(
            "    invoke `invoice-validate` {{\"invoice_id\":\"INV-7\"}}: HTTP {} {} (record #{})",
            t.status,
            String::from_utf8_lossy(&t.body),
            ok.provenance_sequence
        );
    }
    let before = erp.calls();
    let other = exec
        .invoke_tool(
            &grant,
            key,
            "invoice-validate",
            r#"{"invoice_id":"INV-8"}"#,
            0,
        )
        .await;
    println!("    the same for INV-8: {}", refusal(other));
    let paid = exec
        .invoke_tool(
            &grant,
            key,
            "invoice-pay",
            r#"{"invoice_id":"INV-7","amount":50}"#,
            0,
        )
        .await;
    println!("    invoke `invoice-pay`: {}", refusal(paid));
    let ghost = exec.invoke_tool(&grant, key, "no-such-tool", "{}", 0).await;
    println!(
        "    invoke `no-such-tool` (does not exist): {}",
        refusal(ghost)
    );
    let after = erp.calls();
    println!(
        "    the ERP received {} request(s) in all; {} from the three refused calls",
        after,
        after - before
    );
    anyhow::ensure!(after == before, "a refused call reached the ERP");
    Ok(())
}
