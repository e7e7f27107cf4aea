//! The JSON Schema subset a tool's parameters may use, checked when the tool is registered.
//!
//! A schema is an object with `type: "object"`, `properties`, optional `required` and
//! `additionalProperties: false` (required: a tool never takes a parameter its schema does not
//! name). Each property has a `type` (`string`, `integer`, `number`, `boolean`) and may have
//! `enum`, `minimum`/`maximum` (numbers), `minLength`/`maxLength` and `pattern` (strings; the
//! pattern must compile with the `regex` crate, the engine the executor matches with).
//! `description` is accepted as an annotation at both levels. Every other keyword is refused:
//! a validator that ignored a keyword it does not know would enforce less than the schema
//! says.

use serde_json::{Map, Value};

/// Most properties one tool may take.
pub const MAX_PROPERTIES: usize = 64;

/// Longest property name, in bytes.
pub const MAX_PROPERTY_NAME_BYTES: usize = 64;

/// Largest compiled pattern (the `regex` crate's size limit), so a pattern cannot make every
/// call expensive.
pub const MAX_PATTERN_BYTES: usize = 64 * 1024;

/// Keywords of the schema object itself.
const TOP_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "description",
];

/// Keywords of one property.
const PROPERTY_KEYWORDS: &[&str] = &[
    "type",
    "enum",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "description",
];

/// Why a parameter schema is outside the subset; `at` is a JSON pointer into the schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    #[error("schema keyword `{keyword}` at `{at}` is not in the supported subset")]
    UnknownKeyword { at: String, keyword: String },
    #[error("schema must set `additionalProperties` to false (at `{at}`)")]
    AdditionalProperties { at: String },
    #[error("pattern of property `{property}` does not compile: {detail}")]
    BadPattern { property: String, detail: String },
    #[error("schema is invalid at `{at}`: {why}")]
    Invalid { at: String, why: String },
}

/// The type of one parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterType {
    String,
    Integer,
    Number,
    Boolean,
}

impl ParameterType {
    fn parse(name: &str) -> Option<ParameterType> {
        match name {
            "string" => Some(ParameterType::String),
            "integer" => Some(ParameterType::Integer),
            "number" => Some(ParameterType::Number),
            "boolean" => Some(ParameterType::Boolean),
            _ => None,
        }
    }

    fn admits(self, value: &Value) -> bool {
        match self {
            ParameterType::String => value.is_string(),
            ParameterType::Integer => value.is_i64() || value.is_u64(),
            ParameterType::Number => value.is_number(),
            ParameterType::Boolean => value.is_boolean(),
        }
    }
}

/// One parameter of a checked schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub name: String,
    pub kind: ParameterType,
    pub required: bool,
}

/// Whether `name` may name a parameter: `[A-Za-z_][A-Za-z0-9_]*`, at most
/// [`MAX_PROPERTY_NAME_BYTES`] (it appears in URL templates and grant constraints).
pub fn is_parameter_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= MAX_PROPERTY_NAME_BYTES
}

fn invalid(at: &str, why: impl Into<String>) -> SchemaError {
    SchemaError::Invalid {
        at: at.to_string(),
        why: why.into(),
    }
}

fn only_known(object: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), SchemaError> {
    match object.keys().find(|k| !known.contains(&k.as_str())) {
        Some(keyword) => Err(SchemaError::UnknownKeyword {
            at: at.to_string(),
            keyword: keyword.clone(),
        }),
        None => Ok(()),
    }
}

fn description(object: &Map<String, Value>, at: &str) -> Result<(), SchemaError> {
    match object.get("description") {
        None | Some(Value::String(_)) => Ok(()),
        Some(_) => Err(invalid(at, "`description` must be a string")),
    }
}

/// Checks `schema` against the subset; returns its parameters in name order.
pub fn check(schema: &Value) -> Result<Vec<Parameter>, SchemaError> {
    let top = schema
        .as_object()
        .ok_or_else(|| invalid("", "the schema must be a JSON object"))?;
    only_known(top, TOP_KEYWORDS, "")?;
    description(top, "")?;
    if top.get("type") != Some(&Value::String("object".into())) {
        return Err(invalid("/type", "the schema's `type` must be \"object\""));
    }
    if top.get("additionalProperties") != Some(&Value::Bool(false)) {
        return Err(SchemaError::AdditionalProperties {
            at: "/additionalProperties".into(),
        });
    }
    let properties = match top.get("properties") {
        Some(Value::Object(p)) => p,
        Some(_) => return Err(invalid("/properties", "`properties` must be an object")),
        None => return Err(invalid("", "`properties` is required")),
    };
    if properties.len() > MAX_PROPERTIES {
        return Err(invalid(
            "/properties",
            format!("more than {MAX_PROPERTIES} properties"),
        ));
    }
    let required = required_names(top.get("required"), properties)?;
    properties
        .iter()
        .map(|(name, property)| {
            let kind = check_property(name, property)?;
            Ok(Parameter {
                name: name.clone(),
                kind,
                required: required.contains(name),
            })
        })
        .collect()
}

fn required_names(
    required: Option<&Value>,
    properties: &Map<String, Value>,
) -> Result<Vec<String>, SchemaError> {
    let Some(required) = required else {
        return Ok(Vec::new());
    };
    let items = required
        .as_array()
        .ok_or_else(|| invalid("/required", "`required` must be an array of names"))?;
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        let name = item
            .as_str()
            .ok_or_else(|| invalid("/required", "`required` must be an array of names"))?;
        if !properties.contains_key(name) {
            return Err(invalid(
                "/required",
                format!("required parameter `{name}` is not a property"),
            ));
        }
        if names.iter().any(|n| n == name) {
            return Err(invalid("/required", format!("`{name}` is listed twice")));
        }
        names.push(name.to_string());
    }
    Ok(names)
}

fn check_property(name: &str, property: &Value) -> Result<ParameterType, SchemaError> {
    let at = format!("/properties/{name}");
    if !is_parameter_name(name) {
        return Err(invalid(
            &at,
            format!("parameter name `{name}` is not `[A-Za-z_][A-Za-z0-9_]*` of at most {MAX_PROPERTY_NAME_BYTES} bytes"),
        ));
    }
    let object = property
        .as_object()
        .ok_or_else(|| invalid(&at, "a property must be a JSON object"))?;
    only_known(object, PROPERTY_KEYWORDS, &at)?;
    description(object, &at)?;
    let kind = match object.get("type") {
        Some(Value::String(t)) => ParameterType::parse(t).ok_or_else(|| {
            invalid(
                &at,
                format!("type `{t}` is not one of string, integer, number, boolean"),
            )
        })?,
        Some(_) => return Err(invalid(&at, "`type` must be one type name")),
        None => return Err(invalid(&at, "`type` is required")),
    };
    let for_kinds = |keyword: &str, kinds: &[ParameterType]| {
        if object.contains_key(keyword) && !kinds.contains(&kind) {
            Err(invalid(
                &at,
                format!("`{keyword}` does not apply to a {kind:?} parameter").to_lowercase(),
            ))
        } else {
            Ok(())
        }
    };
    for keyword in ["minimum", "maximum"] {
        for_kinds(keyword, &[ParameterType::Integer, ParameterType::Number])?;
    }
    for keyword in ["minLength", "maxLength", "pattern"] {
        for_kinds(keyword, &[ParameterType::String])?;
    }
    let number = |keyword: &str| -> Result<Option<f64>, SchemaError> {
        match object.get(keyword) {
            None => Ok(None),
            Some(v) => v
                .as_f64()
                .map(Some)
                .ok_or_else(|| invalid(&at, format!("`{keyword}` must be a number"))),
        }
    };
    if let (Some(min), Some(max)) = (number("minimum")?, number("maximum")?) {
        if min > max {
            return Err(invalid(&at, "`minimum` is above `maximum`"));
        }
    }
    let length = |keyword: &str| -> Result<Option<u64>, SchemaError> {
        match object.get(keyword) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid(&at, format!("`{keyword}` must be a non-negative integer"))),
        }
    };
    if let (Some(min), Some(max)) = (length("minLength")?, length("maxLength")?) {
        if min > max {
            return Err(invalid(&at, "`minLength` is above `maxLength`"));
        }
    }
    if let Some(pattern) = object.get("pattern") {
        let pattern = pattern
            .as_str()
            .ok_or_else(|| invalid(&at, "`pattern` must be a string"))?;
        regex::RegexBuilder::new(pattern)
            .size_limit(MAX_PATTERN_BYTES)
            .build()
            .map_err(|e| SchemaError::BadPattern {
                property: name.to_string(),
                detail: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            })?;
    }
    if let Some(values) = object.get("enum") {
        let values = values
            .as_array()
            .filter(|v| !v.is_empty())
            .ok_or_else(|| invalid(&at, "`enum` must be a non-empty array"))?;
        for (i, value) in values.iter().enumerate() {
            if !kind.admits(value) {
                return Err(invalid(
                    &at,
                    format!("`enum` value {value} is not of the parameter's type"),
                ));
            }
            if values[..i].contains(value) {
                return Err(invalid(&at, format!("`enum` lists {value} twice")));
            }
        }
    }
    Ok(kind)
}

#[cfg(test)]
mod tests;
