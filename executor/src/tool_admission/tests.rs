use std::collections::BTreeMap;

use serde_json::json;
use trust_sdk::tools::{Certification, RiskRating, ToolDefinition, ToolUpstream};
use trust_sdk::vocabulary::tool_args::ArgConstraint;

use super::schema::{narrowed_schema, validate_arguments};
use super::upstream::fill_template;

fn tool() -> ToolDefinition {
    ToolDefinition {
        id: "invoice-pay".into(),
        version: 2,
        owner: "finance".into(),
        risk: RiskRating::High,
        state: Certification::Certified,
        description: "Pay an invoice".into(),
        parameters: json!({
            "type": "object",
            "properties": {
                "invoice_id": {"type": "string", "pattern": "^INV-[0-9]+$"},
                "amount": {"type": "integer", "minimum": 1, "maximum": 100000},
                "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]}
            },
            "required": ["invoice_id", "amount"],
            "additionalProperties": false
        }),
        upstream: ToolUpstream {
            method: "POST".into(),
            url_template: "http://127.0.0.1:9/invoices/{invoice_id}/pay".into(),
        },
        secret: None,
    }
}

#[test]
fn schema_refuses_each_kind_of_bad_argument() {
    let t = tool();
    assert!(validate_arguments(&t, r#"{"invoice_id":"INV-1","amount":5}"#).is_ok());
    for (args, needle) in [
        (r#"{"invoice_id":"INV-1","amount":500000}"#, "maximum"),
        (r#"{"invoice_id":"INV-1","amount":"5"}"#, "integer"),
        (r#"{"invoice_id":"INV-1","amount":5,"note":"x"}"#, "note"),
        (r#"{"invoice_id":"INV-1"}"#, "amount"),
        (r#"{"invoice_id":"1; DROP","amount":5}"#, "INV-"),
        (r#"[1]"#, "object"),
        (r#"{"#, "not JSON"),
    ] {
        let refusal = validate_arguments(&t, args).unwrap_err();
        assert_eq!(refusal.check, "tool-arguments", "{args}");
        assert!(
            refusal.message.contains(needle),
            "{args}: {}",
            refusal.message
        );
    }
}

#[test]
fn templates_encode_arguments_as_one_segment() {
    let t = tool();
    let args = json!({"invoice_id": "a/../b?x=1", "amount": 5});
    let url = fill_template(&t, args.as_object().unwrap()).unwrap();
    assert_eq!(url, "http://127.0.0.1:9/invoices/a%2F..%2Fb%3Fx%3D1/pay");
    let missing = json!({"amount": 5});
    assert_eq!(
        fill_template(&t, missing.as_object().unwrap())
            .unwrap_err()
            .check,
        "tool-arguments"
    );
}

#[test]
fn schemas_narrow_to_the_constraints() {
    let t = tool();
    let constraints: Vec<ArgConstraint> = [
        "amount <= 50",
        "currency in [EUR, CHF]",
        "invoice_id == task.invoice",
    ]
    .iter()
    .map(|c| c.parse().unwrap())
    .collect();
    let task = BTreeMap::from([("invoice".to_string(), "INV-7".to_string())]);
    let narrowed = narrowed_schema(&t.parameters, &constraints, &task);
    let p = &narrowed["properties"];
    assert_eq!(p["amount"]["maximum"], json!(50));
    assert_eq!(p["amount"]["minimum"], json!(1));
    assert_eq!(p["currency"]["enum"], json!(["EUR"]));
    assert_eq!(p["invoice_id"]["enum"], json!(["INV-7"]));
    assert!(narrowed["required"]
        .as_array()
        .unwrap()
        .contains(&json!("currency")));
    // A wider constraint never widens the schema.
    let wide: Vec<ArgConstraint> = vec!["amount <= 1000000".parse().unwrap()];
    let same = narrowed_schema(&t.parameters, &wide, &task);
    assert_eq!(same["properties"]["amount"]["maximum"], json!(100000));
}
