//! Undoing obfuscation: word expansion (quotes, `${IFS}`, ANSI-C, variables), wrappers, literal outputs.
//!
//! Everything here is pure: variable values and command substitutions are asked of an
//! [`Expander`] that the AST walker in `parse.rs` implements.

use base64::Engine as _;
use brush_parser::word::{self, Parameter, ParameterExpr, WordPiece, WordPieceWithSource};
use brush_parser::ParserOptions;

use super::ShellError;

/// Answers what a word expansion needs from its surroundings.
pub(super) trait Expander {
    /// The value of a variable set earlier in the same command, if known.
    fn variable(&mut self, name: &str) -> Option<String>;
    /// Classifies a command substitution's script and returns its output if it is a literal.
    fn substitution(&mut self, script: &str) -> Result<Option<String>, ShellError>;
    /// Remembers an assignment made by `${X:=value}`.
    fn assign(&mut self, name: &str, value: &str);
}

/// A word after expansion and field splitting, with what it took to get there.
#[derive(Debug, Default, Clone)]
pub(super) struct Expanded {
    pub fields: Vec<String>,
    /// Some part is only known at run time (an unknown variable, a non-literal substitution).
    pub dynamic: bool,
    /// Quotes or backslashes inside an otherwise unquoted word (`c''url`, `\c\u\r\l`).
    pub split_quotes: bool,
    /// Whether any part of the word was quoted.
    pub quoted: bool,
    /// `${IFS}` (or `$IFS`) was used.
    pub ifs: bool,
    /// ANSI-C quoting with hexadecimal, octal or unicode escapes.
    pub ansi_escapes: bool,
    /// A variable set earlier in the command supplied part of the word.
    pub from_variable: bool,
    /// A command substitution with a literal output supplied part of the word.
    pub from_substitution: bool,
    /// A parameter transformation (`${X:0:2}`, `${X/a/b}`, ...) was needed.
    pub transformed: bool,
    /// Unquoted glob characters.
    pub glob: bool,
    /// Names of the variables read.
    pub references: Vec<String>,
}

impl Expanded {
    /// The fields joined by spaces.
    pub fn joined(&self) -> String {
        self.fields.join(" ")
    }
}

/// One character of an expanded word and whether field splitting applies to it.
type Piece = (char, bool);

/// Expands one shell word (or a here-document body when `heredoc`).
pub(super) fn expand_word(
    raw: &str,
    heredoc: bool,
    options: &ParserOptions,
    expander: &mut dyn Expander,
) -> Result<Expanded, ShellError> {
    let pieces = guarded(raw, || {
        if heredoc {
            word::parse_heredoc(raw, options)
        } else {
            word::parse(raw, options)
        }
        .map_err(|e| ShellError::Syntax {
            input: clip(raw),
            reason: e.to_string(),
        })
    })?;
    let mut out = Expanded::default();
    let mut chars: Vec<Piece> = Vec::new();
    let top_level = pieces.len();
    let mut had_unquoted_text = false;
    for piece in &pieces {
        if matches!(piece.piece, WordPiece::Text(_)) {
            had_unquoted_text = true;
        }
    }
    expand_pieces(raw, &pieces, false, options, expander, &mut out, &mut chars)?;
    if top_level > 1
        && had_unquoted_text
        && pieces.iter().any(|p| {
            matches!(
                p.piece,
                WordPiece::SingleQuotedText(_)
                    | WordPiece::DoubleQuotedSequence(_)
                    | WordPiece::EscapeSequence(_)
                    | WordPiece::AnsiCQuotedText(_)
            )
        })
    {
        out.split_quotes = true;
    }
    if top_level > 1
        && pieces
            .iter()
            .all(|p| matches!(p.piece, WordPiece::EscapeSequence(_)))
    {
        out.split_quotes = true;
    }
    if heredoc {
        out.fields = vec![chars.iter().map(|(c, _)| *c).collect()];
    } else {
        out.fields = split_fields(&chars, out.quoted);
    }
    Ok(out)
}

fn expand_pieces(
    raw: &str,
    pieces: &[WordPieceWithSource],
    in_quotes: bool,
    options: &ParserOptions,
    expander: &mut dyn Expander,
    out: &mut Expanded,
    chars: &mut Vec<Piece>,
) -> Result<(), ShellError> {
    for piece in pieces {
        match &piece.piece {
            WordPiece::Text(text) => {
                if !in_quotes
                    && (text.contains(['*', '?']) || (text.contains('[') && text.contains(']')))
                {
                    out.glob = true;
                }
                push(chars, text, false);
            }
            WordPiece::SingleQuotedText(text) => {
                out.quoted = true;
                push(chars, text, false);
            }
            WordPiece::AnsiCQuotedText(text) => {
                out.quoted = true;
                let (decoded, escapes) = decode_ansi_c(text);
                out.ansi_escapes |= escapes;
                push(chars, &decoded, false);
            }
            WordPiece::DoubleQuotedSequence(inner)
            | WordPiece::GettextDoubleQuotedSequence(inner) => {
                out.quoted = true;
                expand_pieces(raw, inner, true, options, expander, out, chars)?;
            }
            WordPiece::TildeExpansion(tilde) => {
                let text = match tilde {
                    word::TildeExpr::Home => "~".to_string(),
                    word::TildeExpr::UserHome(user) => format!("~{user}"),
                    _ => "~+".to_string(),
                };
                push(chars, &text, false);
            }
            WordPiece::ParameterExpansion(expr) => {
                let value = expand_parameter(expr, options, expander, out)?;
                push(chars, &value, !in_quotes);
            }
            WordPiece::CommandSubstitution(script) => {
                let value = substitute(script, expander, out)?;
                push(chars, &value, !in_quotes);
            }
            WordPiece::BackquotedCommandSubstitution(script) => {
                let script = unescape_backquoted(script);
                let value = substitute(&script, expander, out)?;
                push(chars, &value, !in_quotes);
            }
            WordPiece::EscapeSequence(seq) => {
                let rest: String = seq.chars().skip(1).collect();
                if rest != "\n" {
                    push(chars, &rest, false);
                }
            }
            WordPiece::ArithmeticExpression(expr)
                if !raw_starts_with(raw, piece.start_index, "$((") =>
            {
                // `brush-parser` 0.4 reads `$( (cmd) )` as `$(( cmd ))`: a command substitution.
                let value = substitute(&expr.value, expander, out)?;
                push(chars, &value, !in_quotes);
            }
            WordPiece::ArithmeticExpression(expr) => {
                // `$(( a[$(cmd)] ))` runs `cmd`: expand the text for its substitutions.
                if expr.value.contains("$(") || expr.value.contains('`') {
                    let _ = expand_word(&expr.value, true, options, expander)?;
                }
                out.dynamic = true;
                push(chars, "0", false);
            }
        }
    }
    Ok(())
}

/// Whether `raw` has `prefix` at byte `index` (false when `index` is not a boundary).
fn raw_starts_with(raw: &str, index: usize, prefix: &str) -> bool {
    raw.get(index..).is_some_and(|s| s.starts_with(prefix))
}

fn push(chars: &mut Vec<Piece>, text: &str, splittable: bool) {
    chars.extend(text.chars().map(|c| (c, splittable)));
}

fn substitute(
    script: &str,
    expander: &mut dyn Expander,
    out: &mut Expanded,
) -> Result<String, ShellError> {
    match expander.substitution(script)? {
        Some(value) => {
            out.from_substitution = true;
            Ok(value.trim_end_matches('\n').to_string())
        }
        None => {
            out.dynamic = true;
            Ok("$(...)".to_string())
        }
    }
}

fn parameter_name(parameter: &Parameter) -> Option<&str> {
    match parameter {
        Parameter::Named(name) => Some(name),
        Parameter::NamedWithIndex { name, .. } | Parameter::NamedWithAllIndices { name, .. } => {
            Some(name)
        }
        _ => None,
    }
}

fn lookup(
    parameter: &Parameter,
    expander: &mut dyn Expander,
    out: &mut Expanded,
) -> Option<String> {
    let name = parameter_name(parameter)?;
    if !out.references.iter().any(|r| r == name) {
        out.references.push(name.to_string());
    }
    if name == "IFS" {
        out.ifs = true;
        return Some(" ".to_string());
    }
    if let Some(value) = expander.variable(name) {
        out.from_variable = true;
        return Some(value);
    }
    if name == "HOME" {
        return Some("~".to_string());
    }
    None
}

fn placeholder(parameter: &Parameter, out: &mut Expanded) -> String {
    out.dynamic = true;
    match parameter_name(parameter) {
        Some(name) => format!("${name}"),
        None => "$?".to_string(),
    }
}

fn expand_parameter(
    expr: &ParameterExpr,
    options: &ParserOptions,
    expander: &mut dyn Expander,
    out: &mut Expanded,
) -> Result<String, ShellError> {
    Ok(match expr {
        ParameterExpr::Parameter {
            parameter,
            indirect: false,
        } => match lookup(parameter, expander, out) {
            Some(v) => v,
            None => placeholder(parameter, out),
        },
        ParameterExpr::UseDefaultValues {
            parameter,
            indirect: false,
            default_value,
            ..
        } => match lookup(parameter, expander, out) {
            Some(v) if !v.is_empty() => v,
            _ => {
                out.from_variable = true;
                sub(default_value, options, expander, out)?
            }
        },
        ParameterExpr::AssignDefaultValues {
            parameter,
            indirect: false,
            default_value,
            ..
        } => match lookup(parameter, expander, out) {
            Some(v) if !v.is_empty() => v,
            _ => {
                let value = sub(default_value, options, expander, out)?;
                if let Some(name) = parameter_name(parameter) {
                    expander.assign(name, &value);
                }
                value
            }
        },
        ParameterExpr::UseAlternativeValue {
            parameter,
            indirect: false,
            alternative_value,
            ..
        } => match lookup(parameter, expander, out) {
            Some(v) if !v.is_empty() => sub(alternative_value, options, expander, out)?,
            Some(_) => String::new(),
            None => {
                out.dynamic = true;
                sub(alternative_value, options, expander, out)?
            }
        },
        ParameterExpr::Substring {
            parameter,
            indirect: false,
            offset,
            length,
        } => {
            out.transformed = true;
            let value = lookup(parameter, expander, out);
            let offset = offset.value.trim().parse::<usize>().ok();
            let length = match length {
                Some(l) => l.value.trim().parse::<usize>().ok().map(Some),
                None => Some(None),
            };
            match (value, offset, length) {
                (Some(v), Some(o), Some(l)) => {
                    let chars = v.chars().skip(o);
                    match l {
                        Some(l) => chars.take(l).collect(),
                        None => chars.collect(),
                    }
                }
                _ => placeholder(parameter, out),
            }
        }
        ParameterExpr::ParameterLength { .. } => {
            out.dynamic = true;
            "0".to_string()
        }
        other => {
            out.transformed = true;
            out.dynamic = true;
            let parameter = match other {
                ParameterExpr::Parameter { parameter, .. }
                | ParameterExpr::UseDefaultValues { parameter, .. }
                | ParameterExpr::AssignDefaultValues { parameter, .. }
                | ParameterExpr::IndicateErrorIfNullOrUnset { parameter, .. }
                | ParameterExpr::UseAlternativeValue { parameter, .. }
                | ParameterExpr::RemoveSmallestSuffixPattern { parameter, .. }
                | ParameterExpr::RemoveLargestSuffixPattern { parameter, .. }
                | ParameterExpr::RemoveSmallestPrefixPattern { parameter, .. }
                | ParameterExpr::RemoveLargestPrefixPattern { parameter, .. }
                | ParameterExpr::Substring { parameter, .. }
                | ParameterExpr::Transform { parameter, .. }
                | ParameterExpr::UppercaseFirstChar { parameter, .. }
                | ParameterExpr::UppercasePattern { parameter, .. }
                | ParameterExpr::LowercaseFirstChar { parameter, .. }
                | ParameterExpr::LowercasePattern { parameter, .. }
                | ParameterExpr::ReplaceSubstring { parameter, .. } => Some(parameter),
                _ => None,
            };
            match parameter {
                Some(p) => {
                    let _ = lookup(p, expander, out);
                    placeholder(p, out)
                }
                None => "$?".to_string(),
            }
        }
    })
}

/// Expands the word inside `${X:-word}` and similar.
fn sub(
    raw: &Option<String>,
    options: &ParserOptions,
    expander: &mut dyn Expander,
    out: &mut Expanded,
) -> Result<String, ShellError> {
    match raw {
        Some(raw) => {
            let inner = expand_word(raw, false, options, expander)?;
            out.dynamic |= inner.dynamic;
            out.references.extend(inner.references.iter().cloned());
            Ok(inner.joined())
        }
        None => Ok(String::new()),
    }
}

fn split_fields(chars: &[Piece], quoted: bool) -> Vec<String> {
    let mut fields = Vec::new();
    let mut current = String::new();
    let mut started = false;
    for &(c, splittable) in chars {
        if splittable && c.is_whitespace() {
            if started {
                fields.push(std::mem::take(&mut current));
                started = false;
            }
        } else {
            current.push(c);
            started = true;
        }
    }
    if started || (fields.is_empty() && quoted) {
        fields.push(current);
    }
    fields
}

/// Undoes the backslash escapes of a backquoted substitution (`` \` ``, `\$`, `\\`).
fn unescape_backquoted(script: &str) -> String {
    let mut out = String::with_capacity(script.len());
    let mut chars = script.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(&next) = chars.peek() {
                if matches!(next, '`' | '$' | '\\') {
                    out.push(next);
                    chars.next();
                    continue;
                }
            }
        }
        out.push(c);
    }
    out
}

/// Decodes the body of `$'...'` (or `echo -e` / `printf` text); the flag says whether hexadecimal,
/// octal or unicode escapes were used.
pub(super) fn decode_ansi_c(text: &str) -> (String, bool) {
    let mut out = String::with_capacity(text.len());
    let mut numeric = false;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if c != '\\' || i >= chars.len() {
            out.push(c);
            continue;
        }
        let e = chars[i];
        i += 1;
        let simple = match e {
            'n' => Some('\n'),
            't' => Some('\t'),
            'r' => Some('\r'),
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'e' | 'E' => Some('\u{1b}'),
            'f' => Some('\u{c}'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            '\'' => Some('\''),
            '"' => Some('"'),
            '?' => Some('?'),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            continue;
        }
        let (radix, max, skip) = match e {
            'x' => (16, 2, 0),
            'u' => (16, 4, 0),
            'U' => (16, 8, 0),
            '0'..='7' => (8, 3, 1),
            _ => {
                out.push('\\');
                out.push(e);
                continue;
            }
        };
        // Octal escapes start at the digit just read.
        let start = i - skip;
        let mut end = start;
        while end < chars.len() && end - start < max && chars[end].is_digit(radix) {
            end += 1;
        }
        let digits: String = chars[start..end].iter().collect();
        match u32::from_str_radix(&digits, radix)
            .ok()
            .and_then(char::from_u32)
        {
            Some(decoded) if !digits.is_empty() => {
                numeric = true;
                out.push(decoded);
                i = end;
            }
            _ => {
                out.push('\\');
                out.push(e);
            }
        }
    }
    (out, numeric)
}

/// What a command's first words say about the command that really runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Unwrapped {
    /// Nothing to unwrap.
    Plain,
    /// A wrapper (`sudo`, `env`, `timeout`, ...): the real command starts at `start`.
    Wrapper {
        name: String,
        start: usize,
        assignments: Vec<(String, String)>,
    },
    /// A shell given a script string (`sh -c CODE`, `su -c CODE`, `watch CODE`, `env -S CODE`).
    Script { runner: String, code: String },
    /// `eval ARGS`: the arguments joined by spaces are a script.
    Eval { code: String },
    /// `xargs [opts] CMD ...` (or `parallel`): CMD runs with arguments read from stdin.
    Xargs { name: String, inner: Vec<String> },
    /// `find ... -exec CMD ... ;`: `find` itself without the `-exec` parts and each CMD.
    FindExec {
        find: Vec<String>,
        inner: Vec<Vec<String>>,
    },
}

/// The program's name without its directory (`/usr/bin/curl` → `curl`).
pub(super) fn program_name(argv0: &str) -> &str {
    argv0.rsplit('/').next().unwrap_or(argv0)
}

/// Programs that are shells (they run script text).
pub(super) fn is_shell(name: &str) -> bool {
    matches!(
        name,
        "sh" | "bash" | "zsh" | "dash" | "ksh" | "ash" | "mksh" | "yash" | "fish" | "csh" | "tcsh"
    )
}

/// Programs that interpret code in another language.
pub(super) fn interpreter(name: &str) -> Option<&'static str> {
    let base = name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
    Some(match base {
        "python" | "pypy" => "python",
        "node" | "nodejs" | "deno" | "bun" => "node",
        "perl" => "perl",
        "ruby" | "irb" => "ruby",
        "php" => "php",
        "lua" | "luajit" => "lua",
        "Rscript" => "r",
        "osascript" => "osascript",
        "pwsh" | "powershell" => "powershell",
        "tclsh" | "wish" | "expect" => "tcl",
        _ => return None,
    })
}

fn is_assignment(word: &str) -> Option<(String, String)> {
    let (name, value) = word.split_once('=')?;
    let valid = !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with(|c: char| c.is_ascii_digit());
    valid.then(|| (name.to_string(), value.to_string()))
}

/// Skips options of a wrapper: `with_value` lists options that take the next word.
fn skip_options(argv: &[String], from: usize, with_value: &[&str]) -> usize {
    let mut i = from;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" {
            return i + 1;
        }
        if !a.starts_with('-') || a == "-" {
            break;
        }
        if with_value.contains(&a) {
            i += 2;
        } else {
            i += 1;
        }
    }
    i
}

/// Looks through wrappers and script-taking commands at the start of `argv`.
pub(super) fn unwrap(argv: &[String]) -> Unwrapped {
    let Some(first) = argv.first() else {
        return Unwrapped::Plain;
    };
    let name = program_name(first);
    let wrapper = |start: usize| Unwrapped::Wrapper {
        name: name.to_string(),
        start,
        assignments: Vec::new(),
    };
    match name {
        "sudo" => {
            let start = skip_options(
                argv,
                1,
                &[
                    "-u", "-g", "-h", "-p", "-C", "-D", "-R", "-T", "-U", "-r", "-t",
                ],
            );
            wrapper(start)
        }
        "doas" => wrapper(skip_options(argv, 1, &["-u", "-C"])),
        "pkexec" | "runuser" => wrapper(skip_options(argv, 1, &["-u", "--user", "-g"])),
        "su" => {
            if let Some(i) = argv.iter().position(|a| a == "-c" || a == "--command") {
                if let Some(code) = argv.get(i + 1) {
                    return Unwrapped::Script {
                        runner: name.to_string(),
                        code: code.clone(),
                    };
                }
            }
            Unwrapped::Plain
        }
        "env" => {
            let mut i = 1;
            let mut assignments = Vec::new();
            while i < argv.len() {
                let a = argv[i].as_str();
                if a == "-S" || a == "--split-string" {
                    let code = argv[i + 1..].join(" ");
                    return Unwrapped::Script {
                        runner: "env".to_string(),
                        code,
                    };
                }
                if let Some(rest) = a.strip_prefix("-S") {
                    let mut code = rest.to_string();
                    for more in &argv[i + 1..] {
                        code.push(' ');
                        code.push_str(more);
                    }
                    return Unwrapped::Script {
                        runner: "env".to_string(),
                        code,
                    };
                }
                if matches!(a, "-u" | "--unset" | "-C" | "--chdir") {
                    i += 2;
                } else if a.starts_with('-') {
                    i += 1;
                } else if let Some(pair) = is_assignment(a) {
                    assignments.push(pair);
                    i += 1;
                } else {
                    break;
                }
            }
            if i >= argv.len() {
                // `env` alone prints the environment.
                return Unwrapped::Plain;
            }
            Unwrapped::Wrapper {
                name: name.to_string(),
                start: i,
                assignments,
            }
        }
        "nohup" | "setsid" | "time" | "builtin" | "unbuffer" | "caffeinate" | "catchsegv"
        | "exec" | "chronic" | "ltrace" | "torsocks" | "proxychains" | "proxychains4"
        | "firejail" | "xvfb-run" | "dbus-launch" => {
            wrapper(skip_options(argv, 1, &["-a", "-c", "-s"]))
        }
        "command" => {
            if argv.get(1).is_some_and(|a| a == "-v" || a == "-V") {
                return Unwrapped::Plain;
            }
            wrapper(skip_options(argv, 1, &[]))
        }
        "nice" => wrapper(skip_options(argv, 1, &["-n", "--adjustment"])),
        "ionice" => wrapper(skip_options(argv, 1, &["-c", "-n", "-p", "-t"])),
        "stdbuf" => wrapper(skip_options(argv, 1, &["-i", "-o", "-e"])),
        "strace" => wrapper(skip_options(argv, 1, &["-e", "-o", "-p", "-s", "-u", "-E"])),
        "chrt" | "taskset" => {
            let i = skip_options(argv, 1, &[]);
            wrapper(i + 1)
        }
        "timeout" => {
            let i = skip_options(argv, 1, &["-s", "--signal", "-k", "--kill-after"]);
            wrapper(i + 1)
        }
        "flock" => {
            let i = skip_options(argv, 1, &["-w", "--timeout", "-E", "--conflict-exit-code"]);
            // `flock FILE -c CODE` or `flock FILE CMD ...`
            if argv.get(i + 1).is_some_and(|a| a == "-c") {
                if let Some(code) = argv.get(i + 2) {
                    return Unwrapped::Script {
                        runner: name.to_string(),
                        code: code.clone(),
                    };
                }
            }
            wrapper(i + 1)
        }
        "watch" => {
            let i = skip_options(argv, 1, &["-n", "--interval", "-d", "-g"]);
            Unwrapped::Script {
                runner: name.to_string(),
                code: argv.get(i..).map(|a| a.join(" ")).unwrap_or_default(),
            }
        }
        "busybox" | "toybox" => wrapper(1),
        // `alias x='cmd'`: the value runs wherever the alias is used.
        "alias" => {
            let code: Vec<&str> = argv[1..]
                .iter()
                .filter_map(|a| a.split_once('=').map(|(_, v)| v))
                .collect();
            if code.is_empty() {
                Unwrapped::Plain
            } else {
                Unwrapped::Script {
                    runner: name.to_string(),
                    code: code.join("\n"),
                }
            }
        }
        "eval" => Unwrapped::Eval {
            code: argv[1..].join(" "),
        },
        "trap" => match argv.get(1) {
            Some(code) if !code.starts_with('-') => Unwrapped::Script {
                runner: name.to_string(),
                code: code.clone(),
            },
            _ => Unwrapped::Plain,
        },
        "script" => match argv.iter().position(|a| a == "-c" || a == "--command") {
            Some(i) => match argv.get(i + 1) {
                Some(code) => Unwrapped::Script {
                    runner: name.to_string(),
                    code: code.clone(),
                },
                None => Unwrapped::Plain,
            },
            None => Unwrapped::Plain,
        },
        "xargs" | "parallel" => {
            let start = skip_options(
                argv,
                1,
                &[
                    "-n",
                    "-I",
                    "-L",
                    "-P",
                    "-d",
                    "-E",
                    "-s",
                    "-a",
                    "-j",
                    "--jobs",
                    "-S",
                    "--delimiter",
                    "--max-args",
                    "--max-procs",
                    "--arg-file",
                ],
            );
            let mut inner: Vec<String> = argv
                .get(start..)
                .map(<[String]>::to_vec)
                .unwrap_or_default();
            if inner.is_empty() {
                inner.push("echo".to_string());
            }
            if name == "parallel" {
                // `parallel CMD ::: args`
                if let Some(p) = inner.iter().position(|a| a.starts_with(":::")) {
                    inner.truncate(p);
                }
            }
            Unwrapped::Xargs {
                name: name.to_string(),
                inner,
            }
        }
        "find" => {
            let mut find = Vec::new();
            let mut inner = Vec::new();
            let mut i = 0;
            while i < argv.len() {
                let a = argv[i].as_str();
                if matches!(a, "-exec" | "-execdir" | "-ok" | "-okdir") {
                    let mut cmd = Vec::new();
                    i += 1;
                    while i < argv.len() && argv[i] != ";" && argv[i] != "+" {
                        cmd.push(argv[i].clone());
                        i += 1;
                    }
                    if !cmd.is_empty() {
                        inner.push(cmd);
                    }
                } else {
                    find.push(argv[i].clone());
                }
                i += 1;
            }
            if inner.is_empty() {
                Unwrapped::Plain
            } else {
                Unwrapped::FindExec { find, inner }
            }
        }
        _ if is_shell(name) => match shell_code(argv) {
            Some(code) => Unwrapped::Script {
                runner: name.to_string(),
                code,
            },
            None => Unwrapped::Plain,
        },
        _ => Unwrapped::Plain,
    }
}

/// The script string of `sh -c CODE` (also `bash -lc CODE`, `bash -c -- CODE`).
fn shell_code(argv: &[String]) -> Option<String> {
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if a == "--" {
            i += 1;
            continue;
        }
        if a == "-o" || a == "+o" || a == "-O" || a == "+O" || a == "--rcfile" || a == "--init-file"
        {
            i += 2;
            continue;
        }
        if a.starts_with('-') && !a.starts_with("--") && a.len() > 1 && a[1..].contains('c') {
            let mut j = i + 1;
            while argv.get(j).is_some_and(|w| w == "--") {
                j += 1;
            }
            return argv.get(j).cloned();
        }
        if a.starts_with('-') || a.starts_with('+') {
            i += 1;
            continue;
        }
        return None;
    }
    None
}

/// Whether an interpreter or shell invoked with `argv` reads its program from stdin.
pub(super) fn reads_code_from_stdin(argv: &[String]) -> bool {
    let Some(first) = argv.first() else {
        return false;
    };
    let name = program_name(first);
    if is_shell(name) {
        if shell_code(argv).is_some() {
            return false;
        }
        let mut i = 1;
        while i < argv.len() {
            let a = argv[i].as_str();
            if a == "-s" || a == "-" {
                return true;
            }
            if a == "-o" || a == "+o" || a == "--rcfile" || a == "--init-file" {
                i += 2;
                continue;
            }
            if a.starts_with('-') || a.starts_with('+') {
                i += 1;
                continue;
            }
            return false;
        }
        return true;
    }
    if interpreter(name).is_some() {
        if interpreter_code(argv).is_some() {
            return false;
        }
        let mut i = 1;
        while i < argv.len() {
            let a = argv[i].as_str();
            if a == "-" {
                return true;
            }
            if a == "-m" || a == "-r" || a == "-I" || a == "-W" || a == "-X" {
                return false;
            }
            if a.starts_with('-') {
                i += 1;
                continue;
            }
            return false;
        }
        return true;
    }
    false
}

/// The code an interpreter is given on its command line (`python -c`, `node -e`, `perl -e`, ...).
pub(super) fn interpreter_code(argv: &[String]) -> Option<String> {
    let name = program_name(argv.first()?);
    let kind = interpreter(name)?;
    let flags: &[&str] = match kind {
        "python" => &["-c"],
        "node" => &["-e", "--eval", "-p", "--print", "eval"],
        "perl" => &["-e", "-E"],
        "ruby" => &["-e"],
        "php" => &["-r"],
        "lua" => &["-e"],
        "r" => &["-e"],
        "osascript" => &["-e"],
        "powershell" => &[
            "-c",
            "-Command",
            "-command",
            "-EncodedCommand",
            "-enc",
            "-e",
            "-ec",
        ],
        _ => &["-c", "-e"],
    };
    let mut code = Vec::new();
    let mut i = 1;
    while i < argv.len() {
        let a = argv[i].as_str();
        if flags.contains(&a) {
            if let Some(c) = argv.get(i + 1) {
                code.push(c.clone());
            }
            i += 2;
            continue;
        }
        // Bundled short options ending in the code flag: `perl -ne CODE`, `python3 -Bc CODE`.
        if a.starts_with('-') && !a.starts_with("--") && a.len() > 2 {
            let last = a.chars().last().unwrap_or(' ');
            if flags.iter().any(|f| f.len() == 2 && f.ends_with(last)) {
                if let Some(c) = argv.get(i + 1) {
                    code.push(c.clone());
                }
                i += 2;
                continue;
            }
        }
        i += 1;
    }
    if code.is_empty() {
        None
    } else {
        Some(code.join("\n"))
    }
}

/// What a command writes to stdout when that is fixed by its words and its stdin.
pub(super) fn literal_output(argv: &[String], stdin: Option<&str>) -> Option<String> {
    let name = program_name(argv.first()?);
    let args = &argv[1..];
    match name {
        "echo" => {
            let mut i = 0;
            let mut newline = true;
            let mut escapes = false;
            while let Some(a) = args.get(i) {
                match a.as_str() {
                    "-n" => newline = false,
                    "-e" => escapes = true,
                    "-E" => escapes = false,
                    "-ne" | "-en" => {
                        newline = false;
                        escapes = true;
                    }
                    _ => break,
                }
                i += 1;
            }
            let mut text = args[i..].join(" ");
            if escapes {
                text = decode_ansi_c(&text).0;
            }
            if newline {
                text.push('\n');
            }
            Some(text)
        }
        "printf" => {
            let format = args.first()?;
            let rest = &args[1..];
            if rest.is_empty() {
                Some(decode_ansi_c(&format.replace("%%", "%")).0)
            } else if format == "%s" || format == "%s\\n" || format == "%b" {
                let joined = rest.concat();
                Some(if format == "%b" {
                    decode_ansi_c(&joined).0
                } else {
                    joined
                })
            } else {
                None
            }
        }
        "cat" if args.is_empty() || args == ["-"] => stdin.map(str::to_string),
        "base64" | "base32" if args.iter().any(|a| is_decode_flag(a)) => {
            let text: String = stdin?.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes = if name == "base64" {
                let engine = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
                );
                engine.decode(text).ok()?
            } else {
                return None;
            };
            String::from_utf8(bytes).ok()
        }
        "xxd" if args.iter().any(|a| a == "-r") && args.iter().any(|a| a == "-p" || a == "-ps") => {
            let text: String = stdin?.chars().filter(|c| !c.is_whitespace()).collect();
            String::from_utf8(hex::decode(text).ok()?).ok()
        }
        "rev" if args.is_empty() => Some(
            stdin?
                .lines()
                .map(|l| l.chars().rev().collect::<String>())
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        _ => None,
    }
}

/// `-d`, `--decode`, `-D` (and bundles such as `-di`).
pub(super) fn is_decode_flag(arg: &str) -> bool {
    arg == "--decode"
        || arg == "-D"
        || (arg.starts_with('-') && !arg.starts_with("--") && arg.contains('d'))
}

/// Runs a `brush-parser` call and turns a panic inside it into a syntax error, so a parser
/// defect is a denial and not a crash (0.4 unwraps a `None` in its tokenizer on some `${` input).
pub(super) fn guarded<T>(
    input: &str,
    parse: impl FnOnce() -> Result<T, ShellError>,
) -> Result<T, ShellError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).unwrap_or_else(|_| {
        Err(ShellError::Syntax {
            input: clip(input),
            reason: "the shell parser failed on this input".to_string(),
        })
    })
}

/// The input, shortened for an error message.
pub(super) fn clip(input: &str) -> String {
    const LIMIT: usize = 80;
    if input.len() <= LIMIT {
        return input.to_string();
    }
    let mut end = LIMIT;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &input[..end])
}
