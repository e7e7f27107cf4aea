//! From command text to the flat list of normalised simple commands that would run.
//!
//! `brush-parser` gives the AST; the walker here visits every command in it (pipelines, lists,
//! compound commands, function bodies, substitutions, process substitutions, here-documents),
//! expands words through `normalize.rs` with the variables set so far, looks through wrappers and
//! re-parses script strings (`eval`, `sh -c`, literal code piped into a shell) one level deeper.

use std::collections::{BTreeMap, BTreeSet};

use brush_parser::ast::{self, Command, CommandPrefixOrSuffixItem, CompoundCommand, IoRedirect};
use brush_parser::{Parser, ParserOptions};
use serde::Serialize;

use super::categories::{self, Category, Evidence};
use super::command::{Flag, Redirect, RedirectKind, SimpleCommand, Via};
use super::normalize::{self, Expanded, Expander, Unwrapped};
use super::ShellError;

/// The longest command accepted, in bytes.
pub const MAX_INPUT_BYTES: usize = 64 * 1024;
/// The deepest bracket and keyword nesting accepted (checked before parsing).
pub const MAX_NESTING: usize = 64;
/// The deepest parenthesis nesting accepted in one text: `brush-parser` 0.4 backtracks
/// exponentially on runs of `(` (24 take 20 s), 10 take milliseconds.
pub const MAX_PARENTHESES: usize = 10;
/// How many times a script string may be re-parsed inside another (`eval`, `sh -c`, `$(...)`).
pub const MAX_DEPTH: u32 = 8;
/// The most simple commands one command may expand to.
pub const MAX_COMMANDS: usize = 1024;
/// The most AST nodes and words visited for one command (loops are walked once per value).
const MAX_STEPS: usize = 100_000;
/// How many values of a `for` loop are walked with the loop variable bound.
const MAX_LOOP_VALUES: usize = 8;

/// What [`classify`] found: the commands, the boundaries they cross and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub commands: Vec<SimpleCommand>,
    pub categories: BTreeSet<Category>,
    pub evidence: Vec<Evidence>,
    pub flags: BTreeSet<Flag>,
    /// What could not be resolved before run time; a non-empty list is a denial (`unclassified`).
    pub unresolved: Vec<String>,
}

impl Classification {
    /// Whether the command crosses `category`.
    pub fn has(&self, category: Category) -> bool {
        self.categories.contains(&category)
    }
}

/// Parses, normalises and classifies a shell command. Deterministic, no IO.
pub fn classify(command: &str) -> Result<Classification, ShellError> {
    if command.len() > MAX_INPUT_BYTES {
        return Err(ShellError::TooLong(command.len()));
    }
    if command.contains('\0') {
        return Err(ShellError::Nul);
    }
    if command.trim().is_empty() {
        return Err(ShellError::Empty);
    }
    let mut walker = Walker::default();
    walker.script(command, &Ctx::top())?;
    let Walker {
        commands,
        mut flags,
        mut unresolved,
        ..
    } = walker;
    let mut evidence = Vec::new();
    for (index, cmd) in commands.iter().enumerate() {
        categories::command_evidence(cmd, index, &mut evidence);
        if !cmd.obfuscation.is_empty() {
            flags.insert(Flag::Obfuscated);
        }
        if cmd.dynamic_program {
            unresolved.push(format!(
                "program name `{}` is only known at run time",
                cmd.argv.first().map(String::as_str).unwrap_or("")
            ));
        }
    }
    categories::derived_evidence(&commands, &flags, &mut evidence);
    let categories = evidence.iter().map(|e| e.category).collect();
    Ok(Classification {
        commands,
        categories,
        evidence,
        flags,
        unresolved,
    })
}

/// Checks bracket and keyword nesting before the recursive-descent parser sees the text and
/// returns the deepest nesting found.
fn check_nesting(text: &str) -> Result<usize, ShellError> {
    let mut depth: usize = 0;
    let mut max: usize = 0;
    let mut word = String::new();
    let close_word = |word: &mut String, depth: &mut usize, max: &mut usize| {
        match word.as_str() {
            "if" | "case" | "do" | "then" | "while" | "until" | "for" | "select" | "function" => {
                *depth += 1;
                *max = (*max).max(*depth);
            }
            "fi" | "esac" | "done" => *depth = depth.saturating_sub(1),
            _ => {}
        }
        word.clear();
    };
    let mut parens: usize = 0;
    for c in text.chars() {
        match c {
            '(' => parens += 1,
            ')' => parens = parens.saturating_sub(1),
            _ => {}
        }
        if parens > MAX_PARENTHESES {
            return Err(ShellError::TooDeep);
        }
        match c {
            '(' | '{' | '[' | '`' => {
                close_word(&mut word, &mut depth, &mut max);
                depth += 1;
                max = max.max(depth);
            }
            ')' | '}' | ']' => {
                close_word(&mut word, &mut depth, &mut max);
                depth = depth.saturating_sub(1);
            }
            c if c.is_ascii_alphanumeric() => word.push(c),
            _ => close_word(&mut word, &mut depth, &mut max),
        }
        if max > MAX_NESTING {
            return Err(ShellError::TooDeep);
        }
    }
    close_word(&mut word, &mut depth, &mut max);
    if max > MAX_NESTING {
        return Err(ShellError::TooDeep);
    }
    Ok(max)
}

/// Refuses here-document delimiters that are missing or hold an expansion (`<<y$(`, `$(<< &&`):
/// real delimiters are plain words, and `brush-parser` 0.4 can loop without end on such input.
fn check_heredoc_delimiters(text: &str) -> Result<(), ShellError> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'<' && bytes[i + 1] == b'<' {
            let mut j = i + 2;
            if bytes.get(j) == Some(&b'<') {
                i += 3;
                continue;
            }
            if bytes.get(j) == Some(&b'-') {
                j += 1;
            }
            while bytes.get(j).is_some_and(|b| *b == b' ' || *b == b'\t') {
                j += 1;
            }
            let start = j;
            while let Some(&b) = bytes.get(j) {
                if b.is_ascii_whitespace() || b";|&<>()".contains(&b) {
                    break;
                }
                j += 1;
            }
            let end = if bytes.get(j) == Some(&b'(') {
                j + 1
            } else {
                j
            };
            let delimiter = &bytes[start..end.min(bytes.len())];
            if delimiter.is_empty() || delimiter.iter().any(|b| b"$`(".contains(b)) {
                return Err(ShellError::Syntax {
                    input: normalize::clip(text),
                    reason: "here-document delimiter is missing or holds an expansion".to_string(),
                });
            }
            i = j.max(i + 2);
        } else {
            i += 1;
        }
    }
    Ok(())
}

/// Where the walker is: how deep in re-parses, how it got there, what feeds stdin.
#[derive(Debug, Clone)]
struct Ctx {
    depth: u32,
    via: Via,
    piped: bool,
    /// Known text on stdin (a literal upstream, a here-document).
    stdin: Option<String>,
    wrappers: Vec<String>,
    /// Bracket and keyword nesting used by the enclosing texts.
    nesting: usize,
}

impl Ctx {
    fn top() -> Ctx {
        Ctx {
            depth: 0,
            via: Via::Script,
            piped: false,
            stdin: None,
            wrappers: Vec::new(),
            nesting: 0,
        }
    }

    fn nested(&self, via: Via) -> Ctx {
        Ctx {
            depth: self.depth + 1,
            via,
            piped: false,
            stdin: None,
            wrappers: self.wrappers.clone(),
            nesting: self.nesting,
        }
    }
}

#[derive(Default)]
struct Walker {
    vars: BTreeMap<String, String>,
    commands: Vec<SimpleCommand>,
    flags: BTreeSet<Flag>,
    unresolved: Vec<String>,
    steps: usize,
    functions: Vec<String>,
    options: ParserOptions,
    /// Context used while expanding words (substitutions are one level deeper).
    word_ctx: Option<Ctx>,
    /// The texts being walked, innermost last (to look at the source behind a node).
    texts: Vec<String>,
    /// Nested `find -exec` levels being walked.
    run_depth: usize,
}

impl Walker {
    fn step(&mut self) -> Result<(), ShellError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(ShellError::TooManyCommands);
        }
        Ok(())
    }

    fn script(&mut self, text: &str, ctx: &Ctx) -> Result<(), ShellError> {
        if ctx.depth > MAX_DEPTH {
            return Err(ShellError::TooManyLevels);
        }
        // Nesting counts across re-parses: decoded text cannot start a fresh budget.
        let nesting = ctx.nesting + check_nesting(text)?;
        if nesting > MAX_NESTING {
            return Err(ShellError::TooDeep);
        }
        let ctx = &Ctx {
            nesting,
            ..ctx.clone()
        };
        check_heredoc_delimiters(text)?;
        let mut parser = Parser::new(std::io::BufReader::new(text.as_bytes()), &self.options);
        let program = normalize::guarded(text, || {
            parser.parse_program().map_err(|e| ShellError::Syntax {
                input: normalize::clip(text),
                reason: e.to_string(),
            })
        })?;
        self.texts.push(text.to_string());
        let result = program
            .complete_commands
            .iter()
            .try_for_each(|list| self.compound_list(list, ctx));
        self.texts.pop();
        result
    }

    fn compound_list(&mut self, list: &ast::CompoundList, ctx: &Ctx) -> Result<(), ShellError> {
        if list.0.len() > 1 {
            self.flags.insert(Flag::List);
        }
        for ast::CompoundListItem(and_or, separator) in &list.0 {
            if matches!(separator, ast::SeparatorOperator::Async) {
                self.flags.insert(Flag::Background);
            }
            self.pipeline(&and_or.first, ctx)?;
            if !and_or.additional.is_empty() {
                self.flags.insert(Flag::List);
            }
            for next in &and_or.additional {
                let (ast::AndOr::And(p) | ast::AndOr::Or(p)) = next;
                self.pipeline(p, ctx)?;
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, pipeline: &ast::Pipeline, ctx: &Ctx) -> Result<(), ShellError> {
        self.step()?;
        if pipeline.seq.len() > 1 {
            self.flags.insert(Flag::Pipeline);
        }
        let mut stage_ctx = ctx.clone();
        for (i, command) in pipeline.seq.iter().enumerate() {
            if i > 0 {
                stage_ctx.piped = true;
            }
            let output = self.command(command, &stage_ctx)?;
            stage_ctx.stdin = output;
        }
        Ok(())
    }

    /// Walks one command; returns its stdout when it is a known literal.
    fn command(&mut self, command: &Command, ctx: &Ctx) -> Result<Option<String>, ShellError> {
        self.step()?;
        match command {
            Command::Simple(simple) => self.simple(simple, ctx),
            Command::Compound(compound, redirects) => {
                let mut extra = Vec::new();
                if let Some(list) = redirects {
                    for r in &list.0 {
                        extra.push(self.redirect(r, ctx)?);
                    }
                }
                self.compound(compound, ctx)?;
                if !extra.is_empty() {
                    self.push(SimpleCommand {
                        redirects: extra,
                        ..empty(ctx)
                    })?;
                }
                Ok(None)
            }
            Command::Function(def) => {
                self.flags.insert(Flag::Function);
                let name = def.fname.value.clone();
                self.functions.push(name);
                let result = self.compound(&def.body.0, ctx);
                self.functions.pop();
                result?;
                Ok(None)
            }
            Command::ExtendedTest(test, _) => {
                self.extended_test(&test.expr, ctx)?;
                Ok(None)
            }
        }
    }

    fn extended_test(&mut self, expr: &ast::ExtendedTestExpr, ctx: &Ctx) -> Result<(), ShellError> {
        self.step()?;
        match expr {
            ast::ExtendedTestExpr::And(a, b) | ast::ExtendedTestExpr::Or(a, b) => {
                self.extended_test(a, ctx)?;
                self.extended_test(b, ctx)
            }
            ast::ExtendedTestExpr::Not(a) | ast::ExtendedTestExpr::Parenthesized(a) => {
                self.extended_test(a, ctx)
            }
            ast::ExtendedTestExpr::UnaryTest(_, w) => self.word(&w.value, ctx).map(|_| ()),
            ast::ExtendedTestExpr::BinaryTest(_, a, b) => {
                self.word(&a.value, ctx)?;
                self.word(&b.value, ctx).map(|_| ())
            }
        }
    }

    fn compound(&mut self, compound: &CompoundCommand, ctx: &Ctx) -> Result<(), ShellError> {
        self.step()?;
        match compound {
            CompoundCommand::Arithmetic(a) => {
                // `brush-parser` 0.4 reads nested subshells `( ( cmd ) )` as `(( cmd ))`: only
                // text that really starts with `((` is arithmetic; otherwise walk it as commands.
                let start = a.loc.start.index;
                let genuine = self
                    .texts
                    .last()
                    .map(|t| t.chars().skip(start).take(2).eq("((".chars()))
                    .unwrap_or(false);
                if genuine {
                    self.arithmetic(&a.expr.value, ctx)
                } else {
                    self.flags.insert(Flag::Subshell);
                    self.script(&a.expr.value, &ctx.nested(Via::Script))
                }
            }
            CompoundCommand::ArithmeticForClause(f) => {
                self.flags.insert(Flag::Loop);
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arithmetic(&e.value, ctx)?;
                }
                self.compound_list(&f.body.list, ctx)
            }
            CompoundCommand::BraceGroup(g) => self.compound_list(&g.list, ctx),
            CompoundCommand::Subshell(s) => {
                self.flags.insert(Flag::Subshell);
                self.compound_list(&s.list, ctx)
            }
            CompoundCommand::ForClause(f) => {
                self.flags.insert(Flag::Loop);
                let mut values = Vec::new();
                let mut dynamic = false;
                for w in f.values.iter().flatten() {
                    let e = self.word(&w.value, ctx)?;
                    dynamic |= e.dynamic;
                    values.extend(e.fields);
                }
                let previous = self.vars.get(&f.variable_name).cloned();
                if values.is_empty() || dynamic {
                    self.vars.remove(&f.variable_name);
                    self.compound_list(&f.body.list, ctx)?;
                }
                for value in values.iter().take(MAX_LOOP_VALUES) {
                    self.vars.insert(f.variable_name.clone(), value.clone());
                    self.compound_list(&f.body.list, ctx)?;
                }
                if values.len() > MAX_LOOP_VALUES {
                    self.vars.remove(&f.variable_name);
                    self.compound_list(&f.body.list, ctx)?;
                }
                match previous {
                    Some(v) => self.vars.insert(f.variable_name.clone(), v),
                    None => self.vars.remove(&f.variable_name),
                };
                Ok(())
            }
            CompoundCommand::CaseClause(c) => {
                self.word(&c.value.value, ctx)?;
                for item in &c.cases {
                    for p in &item.patterns {
                        self.word(&p.value, ctx)?;
                    }
                    if let Some(body) = &item.cmd {
                        self.compound_list(body, ctx)?;
                    }
                }
                Ok(())
            }
            CompoundCommand::IfClause(i) => {
                self.compound_list(&i.condition, ctx)?;
                self.compound_list(&i.then, ctx)?;
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.compound_list(c, ctx)?;
                    }
                    self.compound_list(&e.body, ctx)?;
                }
                Ok(())
            }
            CompoundCommand::WhileClause(w) | CompoundCommand::UntilClause(w) => {
                self.flags.insert(Flag::Loop);
                self.compound_list(&w.0, ctx)?;
                self.compound_list(&w.1.list, ctx)
            }
            CompoundCommand::Coprocess(c) => {
                self.flags.insert(Flag::Background);
                self.command(&c.body, ctx).map(|_| ())
            }
        }
    }

    fn arithmetic(&mut self, text: &str, ctx: &Ctx) -> Result<(), ShellError> {
        if text.contains("$(") || text.contains('`') {
            let _ = self.word_heredoc(text, ctx)?;
        }
        Ok(())
    }

    fn word(&mut self, raw: &str, ctx: &Ctx) -> Result<Expanded, ShellError> {
        self.step()?;
        let previous = self.word_ctx.replace(ctx.clone());
        let options = self.options.clone();
        let result = normalize::expand_word(raw, false, &options, self);
        self.word_ctx = previous;
        result
    }

    fn word_heredoc(&mut self, raw: &str, ctx: &Ctx) -> Result<Expanded, ShellError> {
        self.step()?;
        let previous = self.word_ctx.replace(ctx.clone());
        let options = self.options.clone();
        let result = normalize::expand_word(raw, true, &options, self);
        self.word_ctx = previous;
        result
    }

    fn process_substitution(
        &mut self,
        sub: &ast::SubshellCommand,
        ctx: &Ctx,
    ) -> Result<(), ShellError> {
        self.flags.insert(Flag::ProcessSubstitution);
        let inner = ctx.nested(Via::ProcessSubstitution);
        if inner.depth > MAX_DEPTH {
            return Err(ShellError::TooManyLevels);
        }
        self.compound_list(&sub.list, &inner)
    }

    fn redirect(&mut self, r: &IoRedirect, ctx: &Ctx) -> Result<Redirect, ShellError> {
        self.step()?;
        Ok(match r {
            IoRedirect::File(fd, kind, target) => {
                use ast::IoFileRedirectKind as K;
                let kind = match kind {
                    K::Read => RedirectKind::Read,
                    K::Write | K::Clobber => RedirectKind::Write,
                    K::Append => RedirectKind::Append,
                    K::ReadAndWrite => RedirectKind::ReadWrite,
                    K::DuplicateInput | K::DuplicateOutput => RedirectKind::Duplicate,
                };
                let target = match target {
                    ast::IoFileRedirectTarget::Filename(w)
                    | ast::IoFileRedirectTarget::Duplicate(w) => {
                        let e = self.word(&w.value, ctx)?;
                        e.joined()
                    }
                    ast::IoFileRedirectTarget::Fd(n) => n.to_string(),
                    ast::IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        self.process_substitution(sub, ctx)?;
                        "/dev/fd/63".to_string()
                    }
                };
                // `>&file` with a file name (not a descriptor) writes the file.
                let kind = if kind == RedirectKind::Duplicate
                    && !target.chars().all(|c| c.is_ascii_digit() || c == '-')
                {
                    RedirectKind::Write
                } else {
                    kind
                };
                Redirect {
                    kind,
                    fd: *fd,
                    target,
                }
            }
            IoRedirect::HereDocument(fd, doc) => {
                self.flags.insert(Flag::HereDocument);
                let body = if doc.requires_expansion {
                    self.word_heredoc(&doc.doc.value, ctx)?.joined()
                } else {
                    doc.doc.value.clone()
                };
                Redirect {
                    kind: RedirectKind::HereDocument,
                    fd: *fd,
                    target: body,
                }
            }
            IoRedirect::HereString(fd, w) => {
                let e = self.word(&w.value, ctx)?;
                Redirect {
                    kind: RedirectKind::HereString,
                    fd: *fd,
                    target: format!("{}\n", e.joined()),
                }
            }
            IoRedirect::OutputAndError(w, append) => {
                let e = self.word(&w.value, ctx)?;
                Redirect {
                    kind: if *append {
                        RedirectKind::Append
                    } else {
                        RedirectKind::Write
                    },
                    fd: None,
                    target: e.joined(),
                }
            }
        })
    }

    fn push(&mut self, cmd: SimpleCommand) -> Result<(), ShellError> {
        if self.commands.len() >= MAX_COMMANDS {
            return Err(ShellError::TooManyCommands);
        }
        self.commands.push(cmd);
        Ok(())
    }

    fn simple(
        &mut self,
        simple: &ast::SimpleCommand,
        ctx: &Ctx,
    ) -> Result<Option<String>, ShellError> {
        let mut assignments = Vec::new();
        let mut redirects = Vec::new();
        let mut words: Vec<Expanded> = Vec::new();
        for item in simple.prefix.iter().flat_map(|p| p.0.iter()) {
            self.item(
                item,
                true,
                ctx,
                &mut assignments,
                &mut redirects,
                &mut words,
            )?;
        }
        if let Some(w) = &simple.word_or_name {
            let e = self.program_word(&w.value, ctx)?;
            words.push(e);
        }
        for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
            self.item(
                item,
                false,
                ctx,
                &mut assignments,
                &mut redirects,
                &mut words,
            )?;
        }
        let mut argv: Vec<String> = Vec::new();
        let mut obfuscation = Vec::new();
        let mut references = Vec::new();
        let mut dynamic_program = false;
        for (i, e) in words.iter().enumerate() {
            references.extend(e.references.iter().cloned());
            if i == 0 {
                obfuscation.extend(program_obfuscation(e));
                dynamic_program = e.dynamic || e.glob || e.transformed;
            } else {
                if e.ifs {
                    obfuscation.push("`${IFS}` used as a word separator".to_string());
                }
                if e.ansi_escapes {
                    obfuscation.push("ANSI-C escapes spell an argument".to_string());
                }
            }
            argv.extend(e.fields.iter().cloned());
        }
        if words.first().is_some_and(|w| w.fields.is_empty()) {
            // `$EMPTY cmd`: the first non-empty field is the program.
            dynamic_program = true;
        }
        if argv.is_empty() {
            // A bare assignment sets variables for what follows.
            // A value still holding `$` came from something unknown: forget the variable.
            for (name, value) in &assignments {
                if value.contains('$') {
                    self.vars.remove(name);
                } else {
                    self.vars.insert(name.clone(), value.clone());
                }
            }
        }
        let dynamic_arguments = words.iter().skip(1).any(|w| w.dynamic);
        let cmd = SimpleCommand {
            argv,
            assignments,
            dynamic_arguments,
            redirects,
            obfuscation,
            references,
            dynamic_program,
            piped_stdin: ctx.piped,
            ..empty(ctx)
        };
        self.run(cmd, ctx)
    }

    fn item(
        &mut self,
        item: &CommandPrefixOrSuffixItem,
        in_prefix: bool,
        ctx: &Ctx,
        assignments: &mut Vec<(String, String)>,
        redirects: &mut Vec<Redirect>,
        words: &mut Vec<Expanded>,
    ) -> Result<(), ShellError> {
        match item {
            CommandPrefixOrSuffixItem::IoRedirect(r) => redirects.push(self.redirect(r, ctx)?),
            CommandPrefixOrSuffixItem::Word(w) => words.push(self.word(&w.value, ctx)?),
            CommandPrefixOrSuffixItem::AssignmentWord(a, _) => {
                let mut dynamic = false;
                let value = match &a.value {
                    ast::AssignmentValue::Scalar(v) => {
                        let e = self.word(&v.value, ctx)?;
                        dynamic |= e.dynamic;
                        e.fields.concat()
                    }
                    ast::AssignmentValue::Array(items) => {
                        let mut values = Vec::new();
                        for (_, v) in items {
                            let e = self.word(&v.value, ctx)?;
                            dynamic |= e.dynamic;
                            values.push(e.joined());
                        }
                        values.join(" ")
                    }
                };
                let name = match &a.name {
                    ast::AssignmentName::VariableName(n) => n.clone(),
                    ast::AssignmentName::ArrayElementName(n, _) => n.clone(),
                };
                if in_prefix {
                    assignments.push((name, value));
                } else {
                    // `export X=1` / `declare X=1`: an argument that assigns.
                    if dynamic {
                        self.vars.remove(&name);
                    } else {
                        self.vars.insert(name.clone(), value.clone());
                    }
                    words.push(Expanded {
                        fields: vec![format!("{name}={value}")],
                        dynamic,
                        ..Expanded::default()
                    });
                }
            }
            CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                self.process_substitution(sub, ctx)?;
                words.push(Expanded {
                    fields: vec!["/dev/fd/63".to_string()],
                    ..Expanded::default()
                });
            }
        }
        Ok(())
    }

    /// Expands the program word, also undoing `{curl,-s,URL}` brace expansion.
    fn program_word(&mut self, raw: &str, ctx: &Ctx) -> Result<Expanded, ShellError> {
        if raw.starts_with('{') && raw.ends_with('}') && raw.contains(',') && raw.len() > 2 {
            let inner = &raw[1..raw.len() - 1];
            let mut e = Expanded::default();
            for part in inner.split(',') {
                let p = self.word(part, ctx)?;
                e.dynamic |= p.dynamic;
                e.references.extend(p.references);
                e.fields.extend(p.fields);
            }
            e.split_quotes = true;
            return Ok(e);
        }
        self.word(raw, ctx)
    }

    /// Looks through wrappers and script strings, then records the command.
    fn run(&mut self, mut cmd: SimpleCommand, ctx: &Ctx) -> Result<Option<String>, ShellError> {
        self.step()?;
        let mut wrappers = ctx.wrappers.clone();
        let heredoc = cmd
            .redirects
            .iter()
            .rev()
            .find(|r| {
                matches!(
                    r.kind,
                    RedirectKind::HereDocument | RedirectKind::HereString
                )
            })
            .map(|r| r.target.clone());
        let stdin_file = cmd
            .redirects
            .iter()
            .any(|r| r.kind == RedirectKind::Read && r.fd.unwrap_or(0) == 0);
        let mut stdin = heredoc
            .clone()
            .or_else(|| if stdin_file { None } else { ctx.stdin.clone() });
        let mut has_stdin = heredoc.is_some() || stdin_file || ctx.piped;
        loop {
            self.step()?;
            match normalize::unwrap(&cmd.argv) {
                Unwrapped::Plain => break,
                Unwrapped::Wrapper {
                    name,
                    start,
                    assignments,
                } => {
                    if start >= cmd.argv.len() {
                        break;
                    }
                    wrappers.push(name);
                    cmd.assignments.extend(assignments);
                    cmd.argv.drain(..start);
                }
                Unwrapped::Script { runner, code } => {
                    self.flags.insert(Flag::ScriptString);
                    if cmd.dynamic_arguments {
                        self.unresolved.push(format!(
                            "script given to `{runner}` is only known at run time"
                        ));
                    }
                    let mut inner = ctx.nested(Via::ScriptString);
                    inner.wrappers = wrappers.clone();
                    inner.wrappers.push(runner);
                    inner.piped = cmd.piped_stdin;
                    inner.stdin = stdin.clone();
                    self.record_wrapper_only(&cmd, &wrappers, ctx)?;
                    self.script(&code, &inner)?;
                    return Ok(None);
                }
                Unwrapped::Eval { code } => {
                    self.flags.insert(Flag::Eval);
                    let mut inner = ctx.nested(Via::Eval);
                    inner.wrappers = wrappers.clone();
                    inner.piped = cmd.piped_stdin;
                    inner.stdin = stdin.clone();
                    self.record_wrapper_only(&cmd, &wrappers, ctx)?;
                    if cmd.dynamic_program || cmd.dynamic_arguments {
                        self.unresolved
                            .push("`eval` of text only known at run time".to_string());
                    }
                    self.script(&code, &inner)?;
                    return Ok(None);
                }
                Unwrapped::Xargs { name, inner } => {
                    // What xargs runs (maybe a wrapper or `sh -c`) reads its arguments, not stdin.
                    wrappers.push(name);
                    cmd.argv = inner;
                    cmd.via = Via::Xargs;
                    cmd.piped_stdin = false;
                    stdin = None;
                    has_stdin = false;
                }
                Unwrapped::FindExec { find, inner } => {
                    let mut find_cmd = cmd.clone();
                    find_cmd.argv = find;
                    find_cmd.wrappers = wrappers.clone();
                    self.push(find_cmd)?;
                    self.run_depth += 1;
                    if self.run_depth > MAX_DEPTH as usize {
                        return Err(ShellError::TooManyLevels);
                    }
                    for argv in inner {
                        let mut sub = cmd.clone();
                        sub.argv = argv;
                        sub.via = Via::FindExec;
                        sub.redirects.clear();
                        sub.obfuscation.clear();
                        sub.dynamic_program = false;
                        let mut inner_ctx = ctx.clone();
                        inner_ctx.wrappers = wrappers.clone();
                        inner_ctx.wrappers.push("find".to_string());
                        inner_ctx.piped = false;
                        inner_ctx.stdin = None;
                        self.run(sub, &inner_ctx)?;
                    }
                    self.run_depth -= 1;
                    return Ok(None);
                }
            }
        }
        cmd.wrappers = wrappers;
        if let Some(name) = cmd.argv.first() {
            if self.functions.iter().any(|f| f == name) {
                cmd.recursive = true;
            }
        }
        let program = cmd.program().to_string();
        let mut reparse: Option<String> = None;
        if normalize::reads_code_from_stdin(&cmd.argv) && has_stdin {
            self.flags.insert(Flag::PipesIntoInterpreter);
            match &stdin {
                Some(code) if normalize::is_shell(&program) => reparse = Some(code.clone()),
                Some(code) => cmd.code = Some(code.clone()),
                None => self.unresolved.push(format!(
                    "code fed to `{program}` on stdin is only known at run time"
                )),
            }
        } else if let Some(code) = normalize::interpreter_code(&cmd.argv) {
            cmd.code = Some(code);
        }
        let output = normalize::literal_output(&cmd.argv, stdin.as_deref());
        let persisted = persisted_text(&cmd, output.as_deref(), stdin.as_deref());
        let wrappers = cmd.wrappers.clone();
        self.push(cmd)?;
        if let Some(code) = reparse {
            let mut inner = ctx.nested(Via::Stdin);
            inner.wrappers = wrappers.clone();
            self.script(&code, &inner)?;
        }
        if let Some(text) = persisted {
            let mut inner = ctx.nested(Via::Persisted);
            inner.wrappers = wrappers;
            self.script(&text, &inner)?;
        }
        Ok(output)
    }

    /// Keeps a record of redirections and wrappers of a command whose body is re-parsed.
    fn record_wrapper_only(
        &mut self,
        cmd: &SimpleCommand,
        wrappers: &[String],
        ctx: &Ctx,
    ) -> Result<(), ShellError> {
        if !cmd.redirects.is_empty()
            || !cmd.obfuscation.is_empty()
            || wrappers.len() > ctx.wrappers.len()
            || !cmd.assignments.is_empty()
        {
            let mut record = cmd.clone();
            record.argv.truncate(1);
            record.wrappers = wrappers.to_vec();
            record.code = None;
            self.push(record)?;
        }
        Ok(())
    }
}

/// Literal text a command writes where it will run later: `echo ... >> ~/.bashrc`,
/// `... | tee .git/hooks/pre-commit`, `echo '* * * * * cmd' | crontab -` (the schedule removed).
fn persisted_text(
    cmd: &SimpleCommand,
    output: Option<&str>,
    stdin: Option<&str>,
) -> Option<String> {
    let program = cmd.program();
    if program == "crontab" {
        let from_stdin = cmd.argv.len() == 1 || cmd.argv.get(1).is_some_and(|a| a == "-");
        if !from_stdin {
            return None;
        }
        let lines: Vec<String> = stdin?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                if l.starts_with('@') {
                    l.split_once(char::is_whitespace)
                        .map(|(_, c)| c)
                        .unwrap_or("")
                        .to_string()
                } else {
                    l.split_whitespace().skip(5).collect::<Vec<_>>().join(" ")
                }
            })
            .collect();
        return Some(lines.join("\n"));
    }
    if program == "tee"
        && cmd.argv[1..]
            .iter()
            .any(|a| super::categories::shell_script_path(a))
    {
        return stdin.map(str::to_string);
    }
    let writes_persistent = cmd.redirects.iter().any(|r| {
        matches!(r.kind, RedirectKind::Write | RedirectKind::Append)
            && super::categories::shell_script_path(&r.target)
    });
    if writes_persistent {
        return output.map(str::to_string);
    }
    None
}

fn empty(ctx: &Ctx) -> SimpleCommand {
    SimpleCommand {
        argv: Vec::new(),
        assignments: Vec::new(),
        redirects: Vec::new(),
        wrappers: ctx.wrappers.clone(),
        via: ctx.via,
        piped_stdin: ctx.piped,
        code: None,
        obfuscation: Vec::new(),
        references: Vec::new(),
        dynamic_program: false,
        dynamic_arguments: false,
        recursive: false,
    }
}

fn program_obfuscation(e: &Expanded) -> Vec<String> {
    let name = e.fields.first().cloned().unwrap_or_default();
    let mut out = Vec::new();
    if e.split_quotes {
        out.push(format!(
            "quotes, escapes or braces inside the program name `{name}`"
        ));
    }
    if e.ansi_escapes {
        out.push(format!("ANSI-C escapes spell the program name `{name}`"));
    }
    if e.ifs {
        out.push("`${IFS}` used as a word separator".to_string());
    }
    if e.from_variable && !e.dynamic {
        out.push(format!("program name `{name}` assembled from variables"));
    }
    if e.from_substitution && !e.dynamic {
        out.push(format!(
            "program name `{name}` produced by a command substitution"
        ));
    }
    if e.transformed {
        out.push("program name built by a parameter transformation".to_string());
    }
    if e.glob {
        out.push(format!("glob in the program name `{name}`"));
    }
    out
}

impl Expander for Walker {
    fn variable(&mut self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn substitution(&mut self, script: &str) -> Result<Option<String>, ShellError> {
        self.flags.insert(Flag::Substitution);
        let outer = self.word_ctx.clone().unwrap_or_else(Ctx::top);
        let inner = outer.nested(Via::Substitution);
        let before = self.commands.len();
        self.script(script, &inner)?;
        // A single literal command (`$(echo curl)`, `$(printf ...)`) has a known output.
        let added = &self.commands[before..];
        if added.len() == 1 && added[0].redirects.is_empty() {
            Ok(normalize::literal_output(&added[0].argv, None))
        } else {
            Ok(None)
        }
    }

    fn assign(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_string(), value.to_string());
    }
}
