//! The subset check: what it accepts, and a precise error for each way out of the subset.

use serde_json::json;

use super::*;

fn invoice_schema() -> Value {
    json!({
        "type": "object",
        "description": "Validate one invoice",
        "properties": {
            "invoice_id": {"type": "string", "pattern": "^INV-[0-9]{1,8}$", "maxLength": 12},
            "amount": {"type": "number", "minimum": 0, "maximum": 100000},
            "currency": {"type": "string", "enum": ["EUR", "USD"]},
            "lines": {"type": "integer", "minimum": 1},
            "urgent": {"type": "boolean", "description": "same day"}
        },
        "required": ["invoice_id", "amount"],
        "additionalProperties": false
    })
}

fn with(mut schema: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    schema
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.to_string(), value);
    schema
}

fn without(mut schema: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    schema
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key);
    schema
}

#[test]
fn a_schema_inside_the_subset_is_accepted_with_its_parameters() {
    let parameters = check(&invoice_schema()).unwrap();
    let names: Vec<_> = parameters.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        ["amount", "currency", "invoice_id", "lines", "urgent"]
    );
    let amount = &parameters[0];
    assert_eq!(amount.kind, ParameterType::Number);
    assert!(amount.required);
    assert!(!parameters[1].required);
    let empty = json!({"type": "object", "properties": {}, "additionalProperties": false});
    assert_eq!(check(&empty).unwrap(), vec![]);
}

#[test]
fn unknown_keywords_are_refused_where_they_stand() {
    for (pointer, keyword) in [
        ("/$ref", "$ref"),
        ("/patternProperties", "patternProperties"),
        ("/properties/amount/exclusiveMaximum", "exclusiveMaximum"),
        ("/properties/invoice_id/format", "format"),
        ("/properties/currency/items", "items"),
    ] {
        let err = check(&with(invoice_schema(), pointer, json!(1))).unwrap_err();
        let at = pointer.rsplit_once('/').unwrap().0.to_string();
        assert_eq!(
            err,
            SchemaError::UnknownKeyword {
                at,
                keyword: keyword.into()
            },
            "{pointer}"
        );
    }
}

#[test]
fn additional_properties_must_be_false() {
    let expected = SchemaError::AdditionalProperties {
        at: "/additionalProperties".into(),
    };
    for value in [json!(true), json!({}), json!("false")] {
        let schema = with(invoice_schema(), "/additionalProperties", value);
        assert_eq!(check(&schema).unwrap_err(), expected);
    }
    let missing = without(invoice_schema(), "/additionalProperties");
    assert_eq!(check(&missing).unwrap_err(), expected);
    assert!(expected
        .to_string()
        .contains("`additionalProperties` to false"));
}

#[test]
fn patterns_must_compile_with_the_regex_crate() {
    for pattern in ["(unclosed", "a{2,1}", "(?<=look)behind", "\\p{NoSuchClass}"] {
        let schema = with(
            invoice_schema(),
            "/properties/invoice_id/pattern",
            json!(pattern),
        );
        match check(&schema).unwrap_err() {
            SchemaError::BadPattern { property, detail } => {
                assert_eq!(property, "invoice_id");
                assert!(!detail.is_empty(), "{pattern}");
            }
            other => panic!("{pattern}: {other}"),
        }
    }
    // Too large once compiled: refused rather than slow at every call.
    let huge = with(
        invoice_schema(),
        "/properties/invoice_id/pattern",
        json!("\\w{1000}\\w{1000}\\w{1000}"),
    );
    assert!(matches!(
        check(&huge).unwrap_err(),
        SchemaError::BadPattern { .. }
    ));
}

#[test]
fn malformed_values_are_refused_with_their_place() {
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!([]), "", "must be a JSON object"),
        (
            with(invoice_schema(), "/type", json!("array")),
            "/type",
            "must be \"object\"",
        ),
        (
            without(invoice_schema(), "/properties"),
            "",
            "`properties` is required",
        ),
        (
            with(invoice_schema(), "/required", json!(["nope"])),
            "/required",
            "`nope` is not a property",
        ),
        (
            with(invoice_schema(), "/required", json!(["amount", "amount"])),
            "/required",
            "twice",
        ),
        (
            with(invoice_schema(), "/properties/amount/type", json!("array")),
            "/properties/amount",
            "type `array`",
        ),
        (
            with(
                invoice_schema(),
                "/properties/amount/type",
                json!(["number", "null"]),
            ),
            "/properties/amount",
            "one type name",
        ),
        (
            without(invoice_schema(), "/properties/amount/type"),
            "/properties/amount",
            "`type` is required",
        ),
        (
            with(invoice_schema(), "/properties/amount/minimum", json!(5e6)),
            "/properties/amount",
            "`minimum` is above `maximum`",
        ),
        (
            with(invoice_schema(), "/properties/amount/minimum", json!("0")),
            "/properties/amount",
            "`minimum` must be a number",
        ),
        (
            with(invoice_schema(), "/properties/amount/pattern", json!("x")),
            "/properties/amount",
            "`pattern` does not apply to a number parameter",
        ),
        (
            with(invoice_schema(), "/properties/invoice_id/minimum", json!(1)),
            "/properties/invoice_id",
            "`minimum` does not apply to a string parameter",
        ),
        (
            with(
                invoice_schema(),
                "/properties/invoice_id/minLength",
                json!(20),
            ),
            "/properties/invoice_id",
            "`minLength` is above `maxLength`",
        ),
        (
            with(
                invoice_schema(),
                "/properties/invoice_id/maxLength",
                json!(-1),
            ),
            "/properties/invoice_id",
            "non-negative integer",
        ),
        (
            with(invoice_schema(), "/properties/currency/enum", json!([])),
            "/properties/currency",
            "non-empty array",
        ),
        (
            with(
                invoice_schema(),
                "/properties/currency/enum",
                json!(["EUR", 1]),
            ),
            "/properties/currency",
            "value 1 is not of the parameter's type",
        ),
        (
            with(
                invoice_schema(),
                "/properties/currency/enum",
                json!(["EUR", "EUR"]),
            ),
            "/properties/currency",
            "twice",
        ),
        (
            with(invoice_schema(), "/properties/lines/enum", json!([1.5])),
            "/properties/lines",
            "1.5 is not of the parameter's type",
        ),
        (
            with(
                invoice_schema(),
                "/properties/bad-name",
                json!({"type": "string"}),
            ),
            "/properties/bad-name",
            "parameter name `bad-name`",
        ),
        (
            with(invoice_schema(), "/properties/urgent/description", json!(3)),
            "/properties/urgent",
            "`description` must be a string",
        ),
        (
            with(invoice_schema(), "/properties/urgent", json!("boolean")),
            "/properties/urgent",
            "must be a JSON object",
        ),
    ];
    for (schema, at, why) in cases {
        match check(&schema) {
            Err(SchemaError::Invalid {
                at: got,
                why: reason,
            }) => {
                assert_eq!(got, at, "{why}");
                assert!(reason.contains(why), "{reason} should say {why}");
            }
            other => panic!("{why}: {other:?}"),
        }
    }
}

#[test]
fn too_many_properties_are_refused() {
    let properties: Map<String, Value> = (0..=MAX_PROPERTIES)
        .map(|i| (format!("p{i}"), json!({"type": "string"})))
        .collect();
    let schema = json!({"type": "object", "properties": properties, "additionalProperties": false});
    assert!(check(&schema)
        .unwrap_err()
        .to_string()
        .contains("more than 64"));
}

#[test]
fn parameter_names() {
    assert!(is_parameter_name("invoice_id"));
    assert!(is_parameter_name("_x9"));
    assert!(!is_parameter_name(""));
    assert!(!is_parameter_name("9lives"));
    assert!(!is_parameter_name("a.b"));
    assert!(!is_parameter_name(&"a".repeat(MAX_PROPERTY_NAME_BYTES + 1)));
}
