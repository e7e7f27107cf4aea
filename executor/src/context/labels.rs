//! A document's labels checked strictly, whichever source they came from (a directory
//! document's front matter, an HTTP source's JSON): the one definition of a labelled
//! [`Document`] both kinds of source produce.
//!
//! Required: `id`, `classification`, `owner`, `jurisdiction`, `date`; `title` optional. Every
//! label and field value is at most [`MAX_VALUE_BYTES`] without control characters; at most
//! [`MAX_FIELDS`] fields with plain names. Anything else makes the document unlabeled.

use std::collections::BTreeMap;

use trust_sdk::vocabulary::context::{classification_rank, is_jurisdiction, parse_day};

/// Most structured fields.
pub const MAX_FIELDS: usize = 64;
/// Longest label or field value, in bytes.
pub const MAX_VALUE_BYTES: usize = 4096;

/// A labelled document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub id: String,
    pub title: String,
    pub classification: String,
    pub owner: String,
    pub jurisdiction: String,
    /// Days since 1970-01-01.
    pub day: i64,
    pub fields: BTreeMap<String, String>,
    pub body: String,
}

/// Why a document's labels were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("labels: {0}")]
pub struct LabelError(String);

/// A label error saying `message`.
pub fn bad(message: impl Into<String>) -> LabelError {
    LabelError(message.into())
}

/// The labels of one document as read, before they are checked.
#[derive(Debug, Default)]
pub struct RawLabels<'a> {
    pub id: Option<&'a str>,
    pub title: Option<&'a str>,
    pub classification: Option<&'a str>,
    pub owner: Option<&'a str>,
    pub jurisdiction: Option<&'a str>,
    pub date: Option<&'a str>,
}

/// Whether `id` is a document id: 1 to 128 bytes of letters, digits, `.`, `_`, `-`.
fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// Whether `name` is a field name: 1 to 64 letters, digits, `_`, `-`.
pub fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
}

/// Checks one label or field value: its length and no control character.
pub fn check_value(key: &str, value: &str) -> Result<(), LabelError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(bad(format!(
            "`{key}` is longer than {MAX_VALUE_BYTES} bytes"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(format!("a control character in `{key}`")));
    }
    Ok(())
}

/// The document of `labels`, `fields` and `body`, or why its labels are refused.
pub fn document(
    labels: &RawLabels<'_>,
    fields: BTreeMap<String, String>,
    body: String,
) -> Result<Document, LabelError> {
    let required = |key: &str, value: Option<&str>| -> Result<String, LabelError> {
        let value = value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| bad(format!("`{key}` is missing")))?;
        check_value(key, value)?;
        Ok(value.to_string())
    };
    let id = required("id", labels.id)?;
    if !is_id(&id) {
        return Err(bad(format!("id `{}`", id.escape_debug())));
    }
    let classification = required("classification", labels.classification)?;
    if classification_rank(&classification).is_none() {
        return Err(bad(format!("unknown classification `{classification}`")));
    }
    let jurisdiction = required("jurisdiction", labels.jurisdiction)?;
    if !is_jurisdiction(&jurisdiction) || jurisdiction == "*" {
        return Err(bad(format!("jurisdiction `{jurisdiction}`")));
    }
    let date = required("date", labels.date)?;
    let day = parse_day(&date).ok_or_else(|| bad(format!("date `{date}` is not YYYY-MM-DD")))?;
    let owner = required("owner", labels.owner)?;
    let title = labels.title.unwrap_or_default();
    check_value("title", title)?;
    if fields.len() > MAX_FIELDS {
        return Err(bad(format!("more than {MAX_FIELDS} fields")));
    }
    for (name, value) in &fields {
        if !is_field_name(name) {
            return Err(bad(format!("field name `{}`", name.escape_debug())));
        }
        check_value(name, value)?;
    }
    Ok(Document {
        id,
        title: title.to_string(),
        classification,
        owner,
        jurisdiction,
        day,
        fields,
        body,
    })
}
