//! Argument constraints of `tool.invoke`: what a grant lets its holder pass to one tool.
//!
//! A constraint names one parameter of one tool and bounds its value: equality
//! (`currency == "EUR"`), a set (`currency in ["EUR", "USD"]`), a numeric bound
//! (`amount <= 1000`, `amount >= 1`), a string prefix (`account starts_with "DE"`), a regex
//! (`memo matches "^[a-z ]*$"`), or a task field carried in the grant
//! (`invoice_id == task.invoice`, the authority block's `task_field("invoice", "123")`).
//!
//! Each constraint is a Biscuit check over the ambient facts the executor supplies for one call
//! (`tool_arg(NAME, VALUE)` per top-level scalar argument: integers, strings and booleans;
//! nothing for other values, so a constraint on one refuses):
//!
//! ```text
//! check if operation($op), $op != "tool.invoke"
//!       or resource($r), $r != "TOOL"
//!       or tool_arg("amount", $v), $v.type() == "integer", $v <= 1000;
//! ```
//!
//! A constrained argument must be present. Every block's checks must pass, so a block appended
//! later (a derived grant, or the stock `biscuit` command line) can add constraints and never
//! lift one: a derived grant only ever tightens. Beside each check, the block states the
//! constraint as data (`arg_constraint(TOOL, TEXT)` in the authority block,
//! `narrow_tool_arg(TOOL, TEXT)` in a derivation block) so that `DescribeTool` can narrow a
//! schema and the SDK can refuse a widening up front; enforcement never reads those facts.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use biscuit_auth::builder::{self, Check, Fact, Term};

use crate::error::SdkError;
use crate::structure::Structure;

/// The ambient fact the executor supplies per argument: `tool_arg(NAME, VALUE)`.
pub const TOOL_ARG: &str = "tool_arg";
/// A constraint as data in the authority block: `arg_constraint(TOOL, TEXT)`.
pub const ARG_CONSTRAINT: &str = "arg_constraint";
/// A constraint as data in a derivation block: `narrow_tool_arg(TOOL, TEXT)`.
pub const NARROW_TOOL_ARG: &str = "narrow_tool_arg";
/// A task field carried in the authority block: `task_field(NAME, VALUE)`.
pub const TASK_FIELD: &str = "task_field";
/// Most task fields one grant carries.
pub const MAX_TASK_FIELDS: usize = 32;
/// Longest task field value, in bytes.
pub const MAX_TASK_FIELD_BYTES: usize = 256;

/// A value a constraint compares with.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArgValue {
    Int(i64),
    Str(String),
    Bool(bool),
}

impl ArgValue {
    fn term(&self) -> Term {
        match self {
            ArgValue::Int(i) => builder::int(*i),
            ArgValue::Str(s) => builder::string(s),
            ArgValue::Bool(b) => builder::boolean(*b),
        }
    }

    /// The JSON form of the value.
    pub fn json(&self) -> serde_json::Value {
        match self {
            ArgValue::Int(i) => serde_json::Value::from(*i),
            ArgValue::Str(s) => serde_json::Value::from(s.clone()),
            ArgValue::Bool(b) => serde_json::Value::from(*b),
        }
    }

    /// The value of a JSON argument as the executor states it (`None`: no fact).
    pub fn of_json(value: &serde_json::Value) -> Option<ArgValue> {
        match value {
            serde_json::Value::String(s) => Some(ArgValue::Str(s.clone())),
            serde_json::Value::Bool(b) => Some(ArgValue::Bool(*b)),
            serde_json::Value::Number(n) => n.as_i64().map(ArgValue::Int),
            _ => None,
        }
    }

    /// A task field's value: an integer when it reads as one, a string otherwise.
    pub fn of_task_field(text: &str) -> ArgValue {
        match text.parse::<i64>() {
            Ok(i) if i.to_string() == text => ArgValue::Int(i),
            _ => ArgValue::Str(text.to_string()),
        }
    }
}

impl fmt::Display for ArgValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Int(i) => write!(f, "{i}"),
            ArgValue::Str(s) => write!(f, "{}", serde_json::Value::from(s.as_str())),
            ArgValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// How a constraint bounds its parameter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ArgRule {
    /// `== VALUE`
    Equals(ArgValue),
    /// `in [VALUE, ...]`
    OneOf(Vec<ArgValue>),
    /// `<= N` (an integer)
    AtMost(i64),
    /// `>= N` (an integer)
    AtLeast(i64),
    /// `starts_with "TEXT"` (a string)
    Prefix(String),
    /// `matches "REGEX"` (a string; unanchored unless the regex anchors itself)
    Pattern(String),
    /// `== task.FIELD`: equal to the grant's task field of that name
    TaskField(String),
}

/// One constraint on one parameter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ArgConstraint {
    pub parameter: String,
    pub rule: ArgRule,
}

/// A constraint on one tool's parameter.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
pub struct ToolArgConstraint {
    pub tool: String,
    pub constraint: ArgConstraint,
}

fn invalid(text: &str, why: &str) -> SdkError {
    SdkError::InvalidRequest(format!("argument constraint `{text}`: {why}"))
}

fn is_parameter_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// A value as written: `"quoted"` (JSON string syntax), an integer, `true`/`false`, or a bare
/// word (a string).
fn parse_value(text: &str, whole: &str) -> Result<ArgValue, SdkError> {
    let text = text.trim();
    if text.starts_with('"') {
        return serde_json::from_str::<String>(text)
            .map(ArgValue::Str)
            .map_err(|e| invalid(whole, &format!("bad string {text}: {e}")));
    }
    if let Ok(i) = text.parse::<i64>() {
        return Ok(ArgValue::Int(i));
    }
    match text {
        "true" => Ok(ArgValue::Bool(true)),
        "false" => Ok(ArgValue::Bool(false)),
        "" => Err(invalid(whole, "a value is missing")),
        word if word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c)) =>
        {
            Ok(ArgValue::Str(word.to_string()))
        }
        other => Err(invalid(
            whole,
            &format!("`{other}` is not a value (quote strings with \")"),
        )),
    }
}

fn parse_string(text: &str, whole: &str) -> Result<String, SdkError> {
    match parse_value(text, whole)? {
        ArgValue::Str(s) => Ok(s),
        _ => Err(invalid(whole, "expects a string")),
    }
}

fn parse_int(text: &str, whole: &str) -> Result<i64, SdkError> {
    text.trim()
        .parse::<i64>()
        .map_err(|_| invalid(whole, "a numeric bound is an integer"))
}

/// Splits `[a, "b,c", 3]` into values.
fn parse_set(text: &str, whole: &str) -> Result<Vec<ArgValue>, SdkError> {
    let inner = text
        .trim()
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .ok_or_else(|| invalid(whole, "a set is written `[a, b, ...]`"))?;
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in inner.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                current.push(c);
            }
            '\\' if quoted => {
                escaped = true;
                current.push(c);
            }
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            ',' if !quoted => items.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    if !current.trim().is_empty() || !items.is_empty() {
        items.push(current);
    }
    let mut values = items
        .iter()
        .map(|i| parse_value(i, whole))
        .collect::<Result<Vec<_>, _>>()?;
    if values.is_empty() {
        return Err(invalid(whole, "a set names at least one value"));
    }
    values.sort();
    values.dedup();
    Ok(values)
}

impl FromStr for ArgConstraint {
    type Err = SdkError;

    /// Parses `NAME <= N`, `NAME >= N`, `NAME < N`, `NAME > N`, `NAME == VALUE`,
    /// `NAME == task.FIELD`, `NAME in [V, ...]`, `NAME starts_with "TEXT"`,
    /// `NAME matches "REGEX"`.
    fn from_str(whole: &str) -> Result<Self, SdkError> {
        let text = whole.trim();
        let name_end = text
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(text.len());
        let (parameter, rest) = text.split_at(name_end);
        if !is_parameter_name(parameter) {
            return Err(invalid(
                whole,
                "starts with a parameter name (letters, digits, `_`)",
            ));
        }
        let rest = rest.trim_start();
        let rule = if let Some(v) = rest.strip_prefix("<=") {
            ArgRule::AtMost(parse_int(v, whole)?)
        } else if let Some(v) = rest.strip_prefix(">=") {
            ArgRule::AtLeast(parse_int(v, whole)?)
        } else if let Some(v) = rest.strip_prefix("==") {
            match v.trim().strip_prefix("task.") {
                Some(field) if is_parameter_name(field) => ArgRule::TaskField(field.to_string()),
                Some(_) => return Err(invalid(whole, "a task field is `task.NAME`")),
                None => ArgRule::Equals(parse_value(v, whole)?),
            }
        } else if let Some(v) = rest.strip_prefix('<') {
            let n = parse_int(v, whole)?;
            ArgRule::AtMost(
                n.checked_sub(1)
                    .ok_or_else(|| invalid(whole, "out of range"))?,
            )
        } else if let Some(v) = rest.strip_prefix('>') {
            let n = parse_int(v, whole)?;
            ArgRule::AtLeast(
                n.checked_add(1)
                    .ok_or_else(|| invalid(whole, "out of range"))?,
            )
        } else if let Some(v) = rest.strip_prefix("in ") {
            ArgRule::OneOf(parse_set(v, whole)?)
        } else if let Some(v) = rest.strip_prefix("starts_with ") {
            ArgRule::Prefix(parse_string(v, whole)?)
        } else if let Some(v) = rest.strip_prefix("matches ") {
            let pattern = parse_string(v, whole)?;
            regex::Regex::new(&pattern).map_err(|e| invalid(whole, &format!("bad regex: {e}")))?;
            ArgRule::Pattern(pattern)
        } else {
            return Err(invalid(
                whole,
                "expected `<=`, `>=`, `<`, `>`, `==`, `in`, `starts_with` or `matches` after the name",
            ));
        };
        Ok(ArgConstraint {
            parameter: parameter.to_string(),
            rule,
        })
    }
}

impl fmt::Display for ArgConstraint {
    /// The canonical text, which parses back to the same constraint.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let p = &self.parameter;
        match &self.rule {
            ArgRule::Equals(v) => write!(f, "{p} == {v}"),
            ArgRule::OneOf(vs) => {
                let items: Vec<String> = vs.iter().map(ToString::to_string).collect();
                write!(f, "{p} in [{}]", items.join(", "))
            }
            ArgRule::AtMost(n) => write!(f, "{p} <= {n}"),
            ArgRule::AtLeast(n) => write!(f, "{p} >= {n}"),
            ArgRule::Prefix(s) => write!(f, "{p} starts_with {}", ArgValue::Str(s.clone())),
            ArgRule::Pattern(s) => write!(f, "{p} matches {}", ArgValue::Str(s.clone())),
            ArgRule::TaskField(t) => write!(f, "{p} == task.{t}"),
        }
    }
}

/// Stored (an envelope, an approval) as its canonical text.
impl serde::Serialize for ArgConstraint {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

impl<'de> serde::Deserialize<'de> for ArgConstraint {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl ArgConstraint {
    /// The body of the check's last alternative, reading `$v` (the argument).
    fn body(&self) -> &'static str {
        match &self.rule {
            ArgRule::Equals(_) => "$v == {value}",
            ArgRule::OneOf(_) => "{value}.contains($v)",
            ArgRule::AtMost(_) => "$v.type() == \"integer\", $v <= {value}",
            ArgRule::AtLeast(_) => "$v.type() == \"integer\", $v >= {value}",
            ArgRule::Prefix(_) => "$v.type() == \"string\", $v.starts_with({value})",
            ArgRule::Pattern(_) => "$v.type() == \"string\", $v.matches({value})",
            ArgRule::TaskField(_) => "task_field({value}, $t), $v == $t",
        }
    }

    fn value_term(&self) -> Term {
        match &self.rule {
            ArgRule::Equals(v) => v.term(),
            ArgRule::OneOf(vs) => Term::Set(vs.iter().map(ArgValue::term).collect()),
            ArgRule::AtMost(n) | ArgRule::AtLeast(n) => builder::int(*n),
            ArgRule::Prefix(s) | ArgRule::Pattern(s) | ArgRule::TaskField(s) => builder::string(s),
        }
    }

    /// Whether `value` (the argument, `None` when absent) passes, with the grant's task fields:
    /// the same answer the check gives (the executor's Datalog is what enforces it).
    pub fn admits(
        &self,
        value: Option<&serde_json::Value>,
        task_fields: &BTreeMap<String, String>,
    ) -> bool {
        let Some(v) = value.and_then(ArgValue::of_json) else {
            return false;
        };
        match (&self.rule, &v) {
            (ArgRule::Equals(want), _) => &v == want,
            (ArgRule::OneOf(set), _) => set.contains(&v),
            (ArgRule::AtMost(n), ArgValue::Int(i)) => i <= n,
            (ArgRule::AtLeast(n), ArgValue::Int(i)) => i >= n,
            (ArgRule::Prefix(p), ArgValue::Str(s)) => s.starts_with(p.as_str()),
            (ArgRule::Pattern(p), ArgValue::Str(s)) => {
                regex::Regex::new(p).is_ok_and(|r| r.is_match(s))
            }
            (ArgRule::TaskField(t), _) => task_fields
                .get(t)
                .is_some_and(|f| ArgValue::of_task_field(f) == v),
            _ => false,
        }
    }

    /// Whether every value `self` admits is admitted by `outer` too, as far as can be told
    /// statically (`false` when unsure); a narrowing that fails this for a constraint of the
    /// grant on the same parameter asks for a value the grant does not allow.
    pub fn within(&self, outer: &ArgConstraint) -> bool {
        if self.parameter != outer.parameter {
            return false;
        }
        let values = |rule: &ArgRule| -> Option<Vec<ArgValue>> {
            match rule {
                ArgRule::Equals(v) => Some(vec![v.clone()]),
                ArgRule::OneOf(vs) => Some(vs.clone()),
                _ => None,
            }
        };
        if let Some(mine) = values(&self.rule) {
            let probe = |v: &ArgValue| outer.admits(Some(&v.json()), &BTreeMap::new());
            return match &outer.rule {
                ArgRule::TaskField(_) => false,
                _ => mine.iter().all(probe),
            };
        }
        match (&self.rule, &outer.rule) {
            (ArgRule::AtMost(a), ArgRule::AtMost(b)) => a <= b,
            (ArgRule::AtLeast(a), ArgRule::AtLeast(b)) => a >= b,
            (ArgRule::Prefix(a), ArgRule::Prefix(b)) => a.starts_with(b.as_str()),
            (ArgRule::Pattern(a), ArgRule::Pattern(b)) => a == b,
            (ArgRule::TaskField(a), ArgRule::TaskField(b)) => a == b,
            _ => false,
        }
    }
}

impl ToolArgConstraint {
    pub fn new(tool: &str, constraint: ArgConstraint) -> Result<Self, SdkError> {
        if !crate::tools::is_valid_id(tool) {
            return Err(SdkError::InvalidRequest(format!(
                "tool id `{tool}` is not a valid tool id"
            )));
        }
        Ok(ToolArgConstraint {
            tool: tool.to_string(),
            constraint,
        })
    }

    /// Parses `TOOL:CONSTRAINT` (`invoice-pay:amount <= 50`), the command line's form.
    pub fn parse_scoped(text: &str) -> Result<Self, SdkError> {
        let (tool, constraint) = text.split_once(':').ok_or_else(|| {
            invalid(
                text,
                "write `TOOL:CONSTRAINT`, such as `invoice-pay:amount<=50`",
            )
        })?;
        ToolArgConstraint::new(tool.trim(), constraint.parse()?)
    }

    /// The check that enforces this constraint (see the module documentation).
    pub fn check(&self) -> Result<Check, SdkError> {
        let source = format!(
            "check if operation($op), $op != \"tool.invoke\" or resource($r), $r != {{tool}} \
             or tool_arg({{name}}, $v), {}",
            self.constraint.body()
        );
        let bad = |e: biscuit_auth::error::Token| {
            SdkError::InvalidGrant(format!("argument constraint check: {e}"))
        };
        let mut check = Check::try_from(source.as_str()).map_err(bad)?;
        check.set("tool", self.tool.as_str()).map_err(bad)?;
        check
            .set("name", self.constraint.parameter.as_str())
            .map_err(bad)?;
        check
            .set("value", self.constraint.value_term())
            .map_err(bad)?;
        Ok(check)
    }

    /// The fact stating the constraint as data: `PREDICATE(TOOL, TEXT)`.
    pub fn fact(&self, predicate: &str) -> Fact {
        builder::fact(
            predicate,
            &[
                builder::string(&self.tool),
                builder::string(&self.constraint.to_string()),
            ],
        )
    }
}

impl fmt::Display for ToolArgConstraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.tool, self.constraint)
    }
}

/// The kind of bound a rule sets, for comparing a narrowing with the grant: two rules of one
/// family on one parameter are comparable (`<=` with `<=`, a set with a set).
fn family(rule: &ArgRule) -> u8 {
    match rule {
        ArgRule::AtMost(_) => 1,
        ArgRule::AtLeast(_) => 2,
        ArgRule::Equals(_) | ArgRule::OneOf(_) => 3,
        ArgRule::Prefix(_) => 4,
        ArgRule::Pattern(_) => 5,
        ArgRule::TaskField(_) => 6,
    }
}

/// Refuses a narrowing whose constraints ask for more than the grant's: a constraint on a
/// grant without `tool.invoke`, or one looser than a comparable constraint the grant already
/// carries (`amount <= 5000` under `amount <= 50`). The checks would hold either way (every
/// block's checks must pass); this says so before a token is made.
pub fn check_narrows(
    operations: &std::collections::BTreeSet<String>,
    held: &[ToolArgConstraint],
    asked: &[ToolArgConstraint],
) -> Result<(), SdkError> {
    if asked.is_empty() {
        return Ok(());
    }
    if !operations.contains(crate::operation::Operation::ToolInvoke.as_str()) {
        return Err(SdkError::Widening(
            "operation `tool.invoke` is not in the grant".into(),
        ));
    }
    for new in asked {
        let looser = held.iter().find(|old| {
            old.tool == new.tool
                && old.constraint.parameter == new.constraint.parameter
                && family(&old.constraint.rule) == family(&new.constraint.rule)
                && family(&new.constraint.rule) <= 4
                && !new.constraint.within(&old.constraint)
        });
        if let Some(old) = looser {
            return Err(SdkError::Widening(format!(
                "argument constraint `{new}` is looser than the grant's `{old}`"
            )));
        }
    }
    Ok(())
}

/// The fact carrying one task field in the authority block.
pub fn task_field_fact(name: &str, value: &str) -> Fact {
    builder::fact(
        TASK_FIELD,
        &[builder::string(name), ArgValue::of_task_field(value).term()],
    )
}

/// Checks task fields a grant request names: at most [`MAX_TASK_FIELDS`], names like
/// parameters, values at most [`MAX_TASK_FIELD_BYTES`] without NUL.
pub fn check_task_fields(fields: &BTreeMap<String, String>) -> Result<(), SdkError> {
    if fields.len() > MAX_TASK_FIELDS {
        return Err(SdkError::InvalidRequest(format!(
            "{} task fields, at most {MAX_TASK_FIELDS}",
            fields.len()
        )));
    }
    for (name, value) in fields {
        if !is_parameter_name(name) {
            return Err(SdkError::InvalidRequest(format!(
                "task field `{name}`: a name is letters, digits and `_`"
            )));
        }
        if value.len() > MAX_TASK_FIELD_BYTES || value.contains('\0') {
            return Err(SdkError::InvalidRequest(format!(
                "task field `{name}`: at most {MAX_TASK_FIELD_BYTES} bytes, no NUL"
            )));
        }
    }
    Ok(())
}

/// The ambient `tool_arg` facts for one call's arguments (top-level scalars only).
pub fn tool_arg_facts(arguments: &serde_json::Map<String, serde_json::Value>) -> Vec<Fact> {
    arguments
        .iter()
        .filter_map(|(name, value)| {
            ArgValue::of_json(value)
                .map(|v| builder::fact(TOOL_ARG, &[builder::string(name), v.term()]))
        })
        .collect()
}

/// What a grant states about tools beyond its scopes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolGrant {
    /// Task fields of the authority block.
    pub task_fields: BTreeMap<String, String>,
    /// Every constraint stated as data, by any block (the authority block's, then each
    /// derivation's): each only narrows.
    pub constraints: Vec<ToolArgConstraint>,
    /// `tool_version(TOOL, VERSION)` pins of the authority block.
    pub versions: BTreeMap<String, u32>,
    /// `skill(SKILL, VERSION)` of the authority block: the skill the grant was minted for.
    pub skill: Option<(String, u32)>,
}

impl ToolGrant {
    /// The constraints on `tool`.
    pub fn constraints_on<'a>(&'a self, tool: &'a str) -> impl Iterator<Item = &'a ArgConstraint> {
        self.constraints
            .iter()
            .filter(move |c| c.tool == tool)
            .map(|c| &c.constraint)
    }
}

fn term_text(term: &Term) -> Option<String> {
    match term {
        Term::Str(s) => Some(s.clone()),
        Term::Integer(i) => Some(i.to_string()),
        _ => None,
    }
}

/// Reads [`ToolGrant`] from a decoded token. Constraint facts that do not parse are skipped
/// (they are descriptions; the checks enforce).
pub fn tool_grant_from_structure(structure: &Structure) -> Result<ToolGrant, SdkError> {
    let mut grant = ToolGrant::default();
    let authority = structure.authority()?;
    for fact in authority.facts_named(&[(TASK_FIELD, 2)])? {
        if let [Term::Str(name), value] = fact.predicate.terms.as_slice() {
            if let Some(value) = term_text(value) {
                grant.task_fields.insert(name.clone(), value);
            }
        }
    }
    for fact in authority.facts_named(&[("tool_version", 2)])? {
        if let [Term::Str(tool), Term::Integer(v)] = fact.predicate.terms.as_slice() {
            if let Ok(v) = u32::try_from(*v) {
                grant.versions.insert(tool.clone(), v);
            }
        }
    }
    for fact in authority.facts_named(&[("skill", 2)])? {
        if let [Term::Str(skill), Term::Integer(v)] = fact.predicate.terms.as_slice() {
            if let Ok(v) = u32::try_from(*v) {
                grant.skill = Some((skill.clone(), v));
            }
        }
    }
    for block in structure.blocks() {
        let predicate = if block.index == 0 {
            ARG_CONSTRAINT
        } else {
            NARROW_TOOL_ARG
        };
        for fact in block.facts_named(&[(predicate, 2)])? {
            if let [Term::Str(tool), Term::Str(text)] = fact.predicate.terms.as_slice() {
                if let Ok(constraint) = text.parse::<ArgConstraint>() {
                    grant.constraints.push(ToolArgConstraint {
                        tool: tool.clone(),
                        constraint,
                    });
                }
            }
        }
    }
    Ok(grant)
}

/// [`tool_grant_from_structure`] over a token.
pub fn tool_grant(token: &biscuit_auth::Biscuit) -> Result<ToolGrant, SdkError> {
    tool_grant_from_structure(&Structure::read(token)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_parse_and_print_canonically() {
        for (text, canonical) in [
            ("amount <= 1000", "amount <= 1000"),
            ("amount<=50", "amount <= 50"),
            ("amount < 51", "amount <= 50"),
            ("amount > 0", "amount >= 1"),
            (
                "currency in [EUR, \"USD\", EUR]",
                "currency in [\"EUR\", \"USD\"]",
            ),
            ("currency == EUR", "currency == \"EUR\""),
            ("urgent == true", "urgent == true"),
            ("invoice_id == task.invoice", "invoice_id == task.invoice"),
            ("account starts_with \"DE\"", "account starts_with \"DE\""),
            ("memo matches \"^[a-z ]*$\"", "memo matches \"^[a-z ]*$\""),
        ] {
            let c: ArgConstraint = text.parse().unwrap();
            assert_eq!(c.to_string(), canonical, "{text}");
            assert_eq!(canonical.parse::<ArgConstraint>().unwrap(), c);
        }
        for bad in [
            "",
            "1x <= 3",
            "amount <= many",
            "amount ~ 3",
            "memo matches \"(\"",
            "a in []",
            "a == task.",
            "a == $x",
        ] {
            assert!(bad.parse::<ArgConstraint>().is_err(), "{bad}");
        }
        let scoped = ToolArgConstraint::parse_scoped("invoice-pay:amount<=50").unwrap();
        assert_eq!(scoped.to_string(), "invoice-pay:amount <= 50");
        assert!(ToolArgConstraint::parse_scoped("Bad Tool:amount<=50").is_err());
    }

    #[test]
    fn admits_and_within() {
        let none = BTreeMap::new();
        let c = |t: &str| t.parse::<ArgConstraint>().unwrap();
        assert!(c("amount <= 50").admits(Some(&serde_json::json!(50)), &none));
        assert!(!c("amount <= 50").admits(Some(&serde_json::json!(51)), &none));
        assert!(!c("amount <= 50").admits(Some(&serde_json::json!("5")), &none));
        assert!(!c("amount <= 50").admits(None, &none));
        assert!(!c("amount <= 50").admits(Some(&serde_json::json!(1.5)), &none));
        assert!(c("c in [EUR, USD]").admits(Some(&serde_json::json!("USD")), &none));
        assert!(c("a starts_with DE").admits(Some(&serde_json::json!("DE12")), &none));
        assert!(!c("m matches \"^[a-z]+$\"").admits(Some(&serde_json::json!("A")), &none));
        let task = BTreeMap::from([("invoice".to_string(), "123".to_string())]);
        assert!(c("i == task.invoice").admits(Some(&serde_json::json!(123)), &task));
        assert!(!c("i == task.invoice").admits(Some(&serde_json::json!("123")), &task));
        assert!(c("amount <= 50").within(&c("amount <= 1000")));
        assert!(!c("amount <= 5000").within(&c("amount <= 1000")));
        assert!(c("c in [EUR]").within(&c("c in [EUR, USD]")));
        assert!(!c("c in [EUR, GBP]").within(&c("c in [EUR, USD]")));
        assert!(c("c == EUR").within(&c("c in [EUR, USD]")));
        assert!(c("a starts_with DE12").within(&c("a starts_with DE")));
        assert!(!c("a starts_with D").within(&c("a starts_with DE")));
        assert!(!c("b <= 5").within(&c("amount <= 1000")));
    }
}
