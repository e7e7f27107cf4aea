//! Strict, span-aware profile parsing: walks toml's spanned document tree so that every
//! error carries the line of the offending key or value, and collects all errors.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::claude_rules::{parse_claude_rule, resolve};
use super::glob::ResourcePattern;
use super::process_section::ProcessError;
use super::{
    Limits, Profile, ProfileError, Rule, RuleKind, DEFAULT_DEFAULT_TTL, DEFAULT_MAX_TTL,
    TTL_CEILING,
};
use crate::policy::{RESERVED_RULE_IDS, RESERVED_RULE_ID_PREFIX};
use crate::request::Operation;
use trust_sdk::duration::{format_duration, parse_duration};

type Value<'i> = Spanned<DeValue<'i>>;

const TOP_KEYS: &[&str] = &[
    "profile", "limits", "commands", "allow", "deny", "approval", "process", "shell", "sandbox",
    "secret",
];
const PROFILE_KEYS: &[&str] = &[
    "name",
    "workspace",
    "workspace_root",
    "description",
    "users",
    "agents",
    "default_ttl",
    "max_ttl",
    // Shadow mode for rollout (the Claude Code hook's `Check`).
    "shadow",
    // Secrets broker (`secret_section.rs`).
    "secret_max_ttl",
];
const RULE_KEYS: &[&str] = &[
    "id",
    "description",
    "rule",
    "operations",
    "resources",
    "approvals_required",
    "approved_uses",
    // net.http allow rules: the methods and path prefixes their hosts are restricted to.
    "methods",
    "paths",
    // tool.invoke allow rules: argument constraints (`profile/tool_arguments.rs`).
    "arguments",
    // context.retrieve allow rules (`context_rules.rs`, `CONTEXT_RULE_KEYS`).
    "classifications",
    "max_classification",
    "jurisdictions",
    "window_from",
    "window_to",
    "max_age",
    "max_documents",
    "max_bytes",
    "redact",
];
/// Most distinct approvers an `[[approval]]` rule may require.
const MAX_APPROVALS_REQUIRED: i64 = 10;
/// Most executions an `[[approval]]` rule may allow one approved grant.
const MAX_APPROVED_USES: i64 = 1000;

struct Ctx<'a> {
    file: &'a Path,
    line_starts: Vec<usize>,
    errors: Vec<ProfileError>,
}

impl<'a> Ctx<'a> {
    fn new(file: &'a Path, src: &str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(src.match_indices('\n').map(|(i, _)| i + 1));
        Self {
            file,
            line_starts,
            errors: Vec::new(),
        }
    }

    /// 1-based line containing byte `offset`.
    fn line(&self, offset: usize) -> usize {
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i.max(1),
        }
    }

    fn err(&mut self, span: &Range<usize>, message: impl Into<String>) {
        let line = self.line(span.start);
        self.errors
            .push(ProfileError::new(self.file, line, message));
    }

    fn finish(mut self) -> Vec<ProfileError> {
        self.errors.sort_by_key(|e| e.line);
        self.errors
    }
}

fn check_keys(ctx: &mut Ctx<'_>, table: &DeTable<'_>, allowed: &[&str], within: &str) {
    for (key, _) in table.iter() {
        let name: &str = key.get_ref();
        if !allowed.contains(&name) {
            ctx.err(
                &key.span(),
                format!(
                    "unknown key `{name}` in {within} (expected one of: {})",
                    allowed.join(", ")
                ),
            );
        }
    }
}

fn opt_string(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    key: &str,
    within: &str,
) -> Option<Spanned<String>> {
    let value = table.get(key)?;
    match value.get_ref() {
        DeValue::String(s) => Some(Spanned::new(value.span(), s.to_string())),
        other => {
            ctx.err(
                &value.span(),
                format!(
                    "`{key}` in {within} must be a string, not {}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

fn req_string(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    key: &str,
    within: &str,
    at: &Range<usize>,
) -> Option<Spanned<String>> {
    if table.get(key).is_none() {
        ctx.err(at, format!("{within} is missing `{key}`"));
        return None;
    }
    let value = opt_string(ctx, table, key, within)?;
    if value.get_ref().trim().is_empty() {
        ctx.err(
            &value.span(),
            format!("`{key}` in {within} must not be empty"),
        );
        return None;
    }
    Some(value)
}

/// An array of strings: `None` if absent (or not an array, which is reported).
fn opt_string_array(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    key: &str,
    within: &str,
) -> Option<Spanned<Vec<Spanned<String>>>> {
    let value = table.get(key)?;
    let DeValue::Array(items) = value.get_ref() else {
        ctx.err(
            &value.span(),
            format!(
                "`{key}` in {within} must be an array of strings, not {}",
                value.get_ref().type_str()
            ),
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items.iter() {
        match item.get_ref() {
            DeValue::String(s) => out.push(Spanned::new(item.span(), s.to_string())),
            other => ctx.err(
                &item.span(),
                format!(
                    "`{key}` in {within} must contain only strings, found {}",
                    other.type_str()
                ),
            ),
        }
    }
    Some(Spanned::new(value.span(), out))
}

fn names_list(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    key: &str,
    within: &str,
    at: &Range<usize>,
) -> Vec<String> {
    let Some(list) = opt_string_array(ctx, table, key, within) else {
        if table.get(key).is_none() {
            ctx.err(at, format!("{within} is missing `{key}`"));
        }
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in list.into_inner() {
        if item.get_ref().trim().is_empty() {
            ctx.err(
                &item.span(),
                format!("`{key}` in {within} must not contain empty names"),
            );
        } else {
            out.push(item.into_inner());
        }
    }
    out
}

fn operations_list(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    within: &str,
) -> Option<Spanned<Vec<Operation>>> {
    let list = opt_string_array(ctx, table, "operations", within)?;
    let span = list.span();
    let mut ops = Vec::new();
    for item in list.into_inner() {
        match Operation::parse(item.get_ref()) {
            Some(op) if !ops.contains(&op) => ops.push(op),
            Some(_) => {}
            None => {
                let known: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
                ctx.err(
                    &item.span(),
                    format!(
                        "unknown operation `{}` in {within} (known: {})",
                        item.get_ref(),
                        known.join(", ")
                    ),
                );
            }
        }
    }
    Some(Spanned::new(span, ops))
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Parses one profile file's text. Errors are sorted by line.
pub(super) fn parse_profile(src: &str, file: &Path) -> Result<Profile, Vec<ProfileError>> {
    let mut ctx = Ctx::new(file, src);
    let (doc, syntax_errors) = DeTable::parse_recoverable(src);
    if !syntax_errors.is_empty() {
        for e in syntax_errors {
            let span = e.span().unwrap_or(0..0);
            let message = e.message().trim().replace('\n', "; ");
            ctx.err(&span, format!("TOML syntax error: {message}"));
        }
        return Err(ctx.finish());
    }
    let doc_span = doc.span();
    let doc = doc.get_ref();
    check_keys(&mut ctx, doc, TOP_KEYS, "the profile file");

    let header = parse_header(&mut ctx, doc, &doc_span);
    let limits = parse_limits(&mut ctx, doc);
    let commands = parse_commands(&mut ctx, doc);
    let profile_name = header
        .name
        .as_ref()
        .map(|n| n.get_ref().clone())
        .unwrap_or_else(|| "profile".to_string());
    let mut allow = parse_rules(&mut ctx, doc, RuleKind::Allow, &profile_name, &commands);
    super::context_rules::attach(src, &mut allow, |span, m| {
        ctx.err(
            &span.unwrap_or_else(|| doc.get("allow").map_or(0..0, |v| v.span())),
            m,
        )
    });
    let deny = parse_rules(&mut ctx, doc, RuleKind::Deny, &profile_name, &commands);
    let approval = parse_rules(&mut ctx, doc, RuleKind::Approval, &profile_name, &commands);
    check_rule_ids(&mut ctx, allow.iter().chain(&deny).chain(&approval));
    let line_starts = ctx.line_starts.clone();
    let line_of = move |offset: usize| match line_starts.binary_search(&offset) {
        Ok(i) => i + 1,
        Err(i) => i.max(1),
    };
    let processes =
        super::process_section::parse_processes(src, &line_of).unwrap_or_else(|errors| {
            for error in errors {
                match error {
                    ProcessError::Span(span, message) => {
                        let span =
                            span.unwrap_or_else(|| doc.get("process").map_or(0..0, |v| v.span()));
                        ctx.err(&span, message);
                    }
                    ProcessError::Line(line, message) => {
                        ctx.errors.push(ProfileError::new(ctx.file, line, message))
                    }
                }
            }
            Vec::new()
        });
    let (shell, sandbox) =
        super::child_sections::parse_child_sections(src).unwrap_or_else(|errors| {
            for (span, message) in errors {
                let span = span.unwrap_or_else(|| {
                    doc.get("shell")
                        .or(doc.get("sandbox"))
                        .map_or(0..0, |v| v.span())
                });
                ctx.err(&span, message);
            }
            (None, Default::default())
        });

    let command_names: Vec<&str> = commands.keys().map(String::as_str).collect();
    let secrets =
        super::secret_section::parse_secret_section(src, &command_names).unwrap_or_else(|errors| {
            for (span, message) in errors {
                let span = span.unwrap_or_else(|| {
                    doc.get("secret")
                        .or(doc.get("profile"))
                        .map_or(0..0, |v| v.span())
                });
                ctx.err(&span, message);
            }
            Default::default()
        });
    let (Some(name), Some(workspace)) = (header.name, header.workspace) else {
        return Err(ctx.finish());
    };
    if !ctx.errors.is_empty() {
        return Err(ctx.finish());
    }
    let name_line = ctx.line(name.span().start);
    let workspace_line = ctx.line(workspace.span().start);
    let base = file.parent().unwrap_or_else(|| Path::new(""));
    Ok(Profile {
        name: name.into_inner(),
        workspace: workspace.into_inner(),
        workspace_root: header.workspace_root.map(|r| base.join(r)),
        description: header.description,
        users: header.users,
        agents: header.agents,
        default_ttl: header.default_ttl,
        max_ttl: header.max_ttl,
        shadow: header.shadow,
        limits,
        commands,
        allow,
        deny,
        approval,
        processes,
        shell,
        sandbox,
        secrets,
        source: file.to_path_buf(),
        name_line,
        workspace_line,
    })
}

struct Header {
    name: Option<Spanned<String>>,
    workspace: Option<Spanned<String>>,
    workspace_root: Option<String>,
    description: Option<String>,
    users: Vec<String>,
    agents: Vec<String>,
    default_ttl: Duration,
    max_ttl: Duration,
    shadow: bool,
}

fn parse_header(ctx: &mut Ctx<'_>, doc: &DeTable<'_>, doc_span: &Range<usize>) -> Header {
    let mut header = Header {
        name: None,
        workspace: None,
        workspace_root: None,
        description: None,
        users: Vec::new(),
        agents: Vec::new(),
        default_ttl: DEFAULT_DEFAULT_TTL,
        max_ttl: DEFAULT_MAX_TTL,
        shadow: false,
    };
    let within = "[profile]";
    let Some(value) = doc.get("profile") else {
        ctx.err(&(doc_span.start..doc_span.start), "missing [profile] table");
        return header;
    };
    let DeValue::Table(table) = value.get_ref() else {
        ctx.err(&value.span(), "`profile` must be a table: write [profile]");
        return header;
    };
    let at = value.span();
    check_keys(ctx, table, PROFILE_KEYS, within);

    header.name = req_string(ctx, table, "name", within, &at);
    if let Some(name) = &header.name {
        if !is_name(name.get_ref()) {
            ctx.err(
                &name.span(),
                format!(
                    "profile name `{}` may only contain letters, digits, `_`, `-` and `.`",
                    name.get_ref()
                ),
            );
        }
    }
    header.workspace = req_string(ctx, table, "workspace", within, &at);
    header.workspace_root =
        opt_string(ctx, table, "workspace_root", within).map(Spanned::into_inner);
    header.description = opt_string(ctx, table, "description", within).map(Spanned::into_inner);
    header.users = names_list(ctx, table, "users", within, &at);
    header.agents = names_list(ctx, table, "agents", within, &at);
    if let Some(v) = table.get("shadow") {
        match v.get_ref() {
            DeValue::Boolean(b) => header.shadow = *b,
            other => ctx.err(
                &v.span(),
                format!(
                    "`shadow` in {within} must be true or false, not {}",
                    other.type_str()
                ),
            ),
        }
    }

    let max = parse_ttl(ctx, table, "max_ttl", within);
    if let Some(max) = &max {
        if *max.get_ref() > TTL_CEILING {
            ctx.err(
                &max.span(),
                format!(
                    "max_ttl `{}` exceeds the {} ceiling",
                    format_duration(*max.get_ref()),
                    format_duration(TTL_CEILING)
                ),
            );
        } else {
            header.max_ttl = *max.get_ref();
        }
    }
    match parse_ttl(ctx, table, "default_ttl", within) {
        Some(default) => {
            if *default.get_ref() > header.max_ttl {
                ctx.err(
                    &default.span(),
                    format!(
                        "default_ttl `{}` exceeds max_ttl `{}`",
                        format_duration(*default.get_ref()),
                        format_duration(header.max_ttl)
                    ),
                );
            } else {
                header.default_ttl = *default.get_ref();
            }
        }
        None => header.default_ttl = DEFAULT_DEFAULT_TTL.min(header.max_ttl),
    }
    header
}

/// A TTL value: `None` if absent or invalid (invalid values are reported).
fn parse_ttl(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    key: &str,
    within: &str,
) -> Option<Spanned<Duration>> {
    let text = opt_string(ctx, table, key, within)?;
    match parse_duration(text.get_ref()) {
        Ok(d) if d.is_zero() => {
            ctx.err(&text.span(), format!("`{key}` must be greater than zero"));
            None
        }
        Ok(d) => Some(Spanned::new(text.span(), d)),
        Err(message) => {
            ctx.err(&text.span(), format!("`{key}`: {message}"));
            None
        }
    }
}

fn parse_limits(ctx: &mut Ctx<'_>, doc: &DeTable<'_>) -> Limits {
    let mut limits = Limits::default();
    let Some(value) = doc.get("limits") else {
        return limits;
    };
    let DeValue::Table(table) = value.get_ref() else {
        ctx.err(&value.span(), "`limits` must be a table: write [limits]");
        return limits;
    };
    for (key, val) in table.iter() {
        let name: &str = key.get_ref();
        let Some(slot) = limits.slot(name) else {
            ctx.err(
                &key.span(),
                format!(
                    "unknown key `{name}` in [limits] (expected one of: {})",
                    Limits::KEYS.join(", ")
                ),
            );
            continue;
        };
        match val.get_ref() {
            DeValue::Integer(int) => match i64::from_str_radix(int.as_str(), int.radix()) {
                Ok(n) if n > 0 => *slot = n,
                Ok(_) => ctx.err(
                    &val.span(),
                    format!("limit `{name}` must be greater than zero"),
                ),
                Err(_) => ctx.err(&val.span(), format!("limit `{name}` is too large")),
            },
            other => ctx.err(
                &val.span(),
                format!(
                    "limit `{name}` must be an integer, not {}",
                    other.type_str()
                ),
            ),
        }
    }
    limits
}

fn parse_commands(ctx: &mut Ctx<'_>, doc: &DeTable<'_>) -> BTreeMap<String, Vec<String>> {
    let mut commands = BTreeMap::new();
    let Some(value) = doc.get("commands") else {
        return commands;
    };
    let DeValue::Table(table) = value.get_ref() else {
        ctx.err(
            &value.span(),
            "`commands` must be a table: write [commands]",
        );
        return commands;
    };
    for (key, val) in table.iter() {
        let name: &str = key.get_ref();
        if !is_name(name) {
            ctx.err(
                &key.span(),
                format!("command name `{name}` may only contain letters, digits, `_`, `-` and `.`"),
            );
            continue;
        }
        let DeValue::Array(items) = val.get_ref() else {
            ctx.err(
                &val.span(),
                format!(
                    "command `{name}` must be an argv array of strings, e.g. [\"sh\", \"run.sh\"]"
                ),
            );
            continue;
        };
        let mut argv = Vec::new();
        for item in items.iter() {
            match item.get_ref() {
                DeValue::String(s) => argv.push(s.to_string()),
                other => ctx.err(
                    &item.span(),
                    format!(
                        "command `{name}` must contain only strings, found {}",
                        other.type_str()
                    ),
                ),
            }
        }
        if argv.first().is_none_or(|program| program.is_empty()) {
            ctx.err(
                &val.span(),
                format!("command `{name}` needs a non-empty program name"),
            );
            continue;
        }
        commands.insert(name.to_string(), argv);
    }
    commands
}

fn parse_rules(
    ctx: &mut Ctx<'_>,
    doc: &DeTable<'_>,
    kind: RuleKind,
    profile: &str,
    commands: &BTreeMap<String, Vec<String>>,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    let Some(value) = doc.get(kind.as_str()) else {
        return rules;
    };
    let DeValue::Array(items) = value.get_ref() else {
        ctx.err(
            &value.span(),
            format!("`{kind}` must be an array of tables: write [[{kind}]]"),
        );
        return rules;
    };
    for (index, item) in items.iter().enumerate() {
        let DeValue::Table(table) = item.get_ref() else {
            ctx.err(
                &item.span(),
                format!("each [[{kind}]] entry must be a table"),
            );
            continue;
        };
        if let Some(rule) = parse_rule(ctx, table, item, kind, index, profile, commands) {
            rules.push(rule);
        }
    }
    rules
}

fn parse_rule(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    item: &Value<'_>,
    kind: RuleKind,
    index: usize,
    profile: &str,
    commands: &BTreeMap<String, Vec<String>>,
) -> Option<Rule> {
    let before = ctx.errors.len();
    let at = item.span();
    let within = format!("[[{kind}]] entry {}", index + 1);
    check_keys(ctx, table, RULE_KEYS, &within);

    let id = match opt_string(ctx, table, "id", &within) {
        Some(id)
            if id.get_ref().trim().is_empty() || id.get_ref().chars().any(char::is_whitespace) =>
        {
            ctx.err(
                &id.span(),
                format!(
                    "rule id `{}` must be non-empty without spaces",
                    id.get_ref()
                ),
            );
            String::new()
        }
        Some(id)
            if RESERVED_RULE_IDS.contains(&id.get_ref().as_str())
                || id.get_ref().starts_with(RESERVED_RULE_ID_PREFIX) =>
        {
            ctx.err(
                &id.span(),
                format!(
                    "rule id `{}` is reserved for the authority's own decisions",
                    id.get_ref()
                ),
            );
            String::new()
        }
        Some(id) => id.into_inner(),
        None => format!("{profile}.{kind}[{index}]"),
    };
    let description = opt_string(ctx, table, "description", &within).map(Spanned::into_inner);
    let approvals_required = approval_count(
        ctx,
        table,
        kind,
        &within,
        "approvals_required",
        MAX_APPROVALS_REQUIRED,
    );
    let approved_uses = approval_count(
        ctx,
        table,
        kind,
        &within,
        "approved_uses",
        MAX_APPROVED_USES,
    );
    let rule_text = opt_string(ctx, table, "rule", &within);
    let has_operations = table.get("operations").is_some();
    let has_resources = table.get("resources").is_some();
    let line = ctx.line(at.start);

    let (operations, resources, claude_rule) = if let Some(text) = rule_text {
        if has_operations || has_resources {
            ctx.err(
                &text.span(),
                format!("{within}: use either `rule` or `operations`/`resources`, not both"),
            );
        }
        let parsed = match parse_claude_rule(text.get_ref()) {
            Ok(parsed) => parsed,
            Err(message) => {
                ctx.err(&text.span(), message);
                return None;
            }
        };
        let resolved = match resolve(&parsed, commands) {
            Ok(resolved) => resolved,
            Err(message) => {
                ctx.err(
                    &text.span(),
                    format!("rule `{}`: {message}", text.get_ref()),
                );
                return None;
            }
        };
        if resolved.resources.is_empty() && kind != RuleKind::Deny {
            ctx.err(
                &text.span(),
                format!(
                    "rule `{}` matches no command defined in [commands]",
                    text.get_ref()
                ),
            );
        }
        (
            resolved.operations,
            resolved.resources,
            Some(text.into_inner()),
        )
    } else {
        let operations = operations_list(ctx, table, &within);
        if let Some(ops) = &operations {
            if ops.get_ref().is_empty() && table.get("operations").is_some_and(is_empty_array) {
                ctx.err(
                    &ops.span(),
                    format!("`operations` in {within} must not be empty"),
                );
            }
        }
        let mut resources = Vec::new();
        if let Some(list) = opt_string_array(ctx, table, "resources", &within) {
            if list.get_ref().is_empty() {
                ctx.err(
                    &list.span(),
                    format!("`resources` in {within} must not be empty"),
                );
            }
            for pattern in list.into_inner() {
                match ResourcePattern::new(pattern.get_ref()) {
                    Ok(p) => resources.push(p),
                    Err(message) => ctx.err(&pattern.span(), message),
                }
            }
        }
        match kind {
            RuleKind::Allow if !has_operations => {
                ctx.err(&at, format!("{within} needs `rule` or `operations`"));
            }
            RuleKind::Allow if !has_resources => {
                ctx.err(
                    &at,
                    format!("{within} needs `resources` alongside `operations`"),
                );
            }
            RuleKind::Deny | RuleKind::Approval if !has_operations && !has_resources => {
                ctx.err(
                    &at,
                    format!("{within} needs `rule`, `operations` or `resources`"),
                );
            }
            _ => {}
        }
        let operations = match operations {
            Some(ops) => ops.into_inner(),
            None => Operation::ALL.to_vec(),
        };
        if !has_resources {
            match ResourcePattern::new("**") {
                Ok(all) => resources.push(all),
                Err(message) => ctx.err(&at, message),
            }
        }
        (operations, resources, None)
    };

    let (http_methods, http_paths) = http_restrictions(ctx, table, kind, &operations, &within);
    let tool_arguments = match opt_string_array(ctx, table, "arguments", &within) {
        None => Vec::new(),
        Some(list) => {
            let span = list.span();
            super::tool_arguments::constraints(kind, &operations, &within, span, list.into_inner())
                .unwrap_or_else(|errors| {
                    for (span, message) in errors {
                        ctx.err(&span, message);
                    }
                    Vec::new()
                })
        }
    };
    if ctx.errors.len() > before {
        return None;
    }
    Some(Rule {
        http_methods,
        http_paths,
        tool_arguments,
        context: None,
        id,
        kind,
        operations,
        resources,
        claude_rule,
        description,
        line,
        approvals_required,
        approved_uses,
    })
}

/// `methods` and `paths` of a `net.http` allow rule: upper-case method names and path
/// prefixes (starting with `/`, printable ASCII, no `..` or `.` segment, no `%`).
fn http_restrictions(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    kind: RuleKind,
    operations: &[Operation],
    within: &str,
) -> (Vec<String>, Vec<String>) {
    let methods = opt_string_array(ctx, table, "methods", within);
    let paths = opt_string_array(ctx, table, "paths", within);
    let mut out = (Vec::new(), Vec::new());
    if methods.is_none() && paths.is_none() {
        return out;
    }
    if kind != RuleKind::Allow || operations != [Operation::NetHttp] {
        let span = methods.as_ref().or(paths.as_ref()).map(|m| m.span());
        if let Some(span) = span {
            ctx.err(
                &span,
                format!(
                    "{within}: `methods` and `paths` belong to [[allow]] rules of `net.http` only"
                ),
            );
        }
        return out;
    }
    for method in methods.map(Spanned::into_inner).unwrap_or_default() {
        let m = method.get_ref();
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_uppercase()) || m == "CONNECT" {
            ctx.err(
                &method.span(),
                format!(
                    "{within}: method `{m}` is not an upper-case HTTP method (CONNECT excluded)"
                ),
            );
        } else {
            out.0.push(m.clone());
        }
    }
    for path in paths.map(Spanned::into_inner).unwrap_or_default() {
        let p = path.get_ref();
        let dot_segment = p.split('/').any(|s| s == "." || s == "..");
        let printable =
            p.bytes().all(|b| b.is_ascii_graphic()) && !p.contains(['%', '\\', '#', '?']);
        if !p.starts_with('/') || dot_segment || !printable {
            ctx.err(
                &path.span(),
                format!("{within}: path prefix `{p}` must start with `/`, be printable ASCII without `%`, `\\`, `?`, `#` and have no `.` or `..` segment"),
            );
        } else {
            out.1.push(p.clone());
        }
    }
    out
}

/// A count of an `[[approval]]` rule: `approvals_required` (m of n, 1 to
/// [`MAX_APPROVALS_REQUIRED`]) or `approved_uses` (1 to [`MAX_APPROVED_USES`]); 1 when absent.
fn approval_count(
    ctx: &mut Ctx<'_>,
    table: &DeTable<'_>,
    kind: RuleKind,
    within: &str,
    key: &str,
    max: i64,
) -> u32 {
    let Some(value) = table.get(key) else {
        return 1;
    };
    if kind != RuleKind::Approval {
        ctx.err(
            &value.span(),
            format!("`{key}` in {within} is only allowed in [[approval]] rules"),
        );
        return 1;
    }
    match value.get_ref() {
        DeValue::Integer(int) => match i64::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if (1..=max).contains(&n) => u32::try_from(n).unwrap_or(1),
            _ => {
                ctx.err(
                    &value.span(),
                    format!("`{key}` in {within} must be between 1 and {max}"),
                );
                1
            }
        },
        other => {
            ctx.err(
                &value.span(),
                format!(
                    "`{key}` in {within} must be an integer, not {}",
                    other.type_str()
                ),
            );
            1
        }
    }
}

fn is_empty_array(value: &Value<'_>) -> bool {
    matches!(value.get_ref(), DeValue::Array(items) if items.is_empty())
}

fn check_rule_ids<'r>(ctx: &mut Ctx<'_>, rules: impl Iterator<Item = &'r Rule>) {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut duplicates = Vec::new();
    for rule in rules {
        if let Some(first) = seen.insert(&rule.id, rule.line) {
            duplicates.push((rule.id.clone(), rule.line, first));
        }
    }
    for (id, line, first) in duplicates {
        ctx.errors.push(ProfileError::new(
            ctx.file,
            line,
            format!("duplicate rule id `{id}` (first used on line {first})"),
        ));
    }
}
