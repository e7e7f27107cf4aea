//! Shell command classification for `shell.exec`: parse, normalise, name the boundaries crossed, decide.
//!
//! A raw shell command is turned into a decision in three deterministic steps, with no IO:
//!
//! 1. [`classify`] parses the command with a real shell parser into pipelines, and-or lists,
//!    subshells, redirections, command and process substitutions and here-documents, and flattens
//!    it into the [`SimpleCommand`]s that would run. On the way it undoes the usual obfuscations:
//!    quotes inside words (`c''url`), `${IFS}`, ANSI-C strings (`$'\x63url'`), variables set earlier
//!    in the same command (`X=cu; Y=rl; $X$Y`), `eval`, `sh -c` / `bash -c` strings, code piped into
//!    a shell from `echo`/`printf`/`base64 -d`, `xargs`, `find -exec`, wrappers (`env`, `sudo`,
//!    `timeout`, `nohup`, ...) and interpreters given code with `-c`/`-e`.
//! 2. Each simple command is classified by the boundaries it crosses ([`Category`]), each with its
//!    [`Evidence`]; what cannot be resolved (a program name only known at run time, code piped into
//!    an interpreter from an unknown source) is recorded as unresolved.
//! 3. [`decide`] applies a [`ShellPolicy`] (per-category effect, Claude Code `Bash(...)` patterns,
//!    dangerous combinations) and returns a [`ShellDecision`] naming the rule that decided.
//!    [`evaluate`] does both steps and denies what cannot be parsed (rule `unparsable`).
//!
//! # Parser
//!
//! Parsing uses [`brush_parser`] (MIT, the parser of the `brush` shell, maintained): a POSIX and
//! bash grammar with a full AST (pipelines, and-or lists, compound commands, subshells, function
//! definitions, redirections, here-documents, here-strings, process substitution, assignments) and
//! a word parser that splits words into quoted, ANSI-C, parameter, command-substitution and
//! arithmetic pieces. The alternatives were `yash-syntax` (GPL-3.0, which this Apache-2.0 project
//! cannot take), `conch-parser` (unmaintained since 2017) and tokenisers such as `shlex` (no
//! grammar). `brush-parser` asks for Rust 1.88.
//!
//! # Bounds
//!
//! Input is capped at [`MAX_INPUT_BYTES`], parentheses at [`MAX_PARENTHESES`] deep, bracket and
//! keyword nesting at [`MAX_NESTING`] (checked
//! before the parser sees the text, so a deeply nested input cannot exhaust the stack), re-parsing
//! (`eval`, `sh -c`, substitutions) at [`MAX_DEPTH`] levels and the flattened script at
//! [`MAX_COMMANDS`] simple commands. Exceeding any of them is a [`ShellError`], and an error is a
//! denial. Known `brush-parser` 0.4 defects are contained: here-document delimiters on which it
//! loops are refused before parsing, a panic inside it becomes a syntax error, and nested
//! subshells it reads as arithmetic (`( ( cmd ) )`) are walked as commands.
mod categories;
mod command;
mod decide;
mod normalize;
mod parse;

pub use categories::{Category, Evidence, Source};
pub use command::{Flag, Redirect, RedirectKind, SimpleCommand, Via};
pub use decide::{decide, evaluate, Combination, Effect, ShellDecision, ShellPolicy};
pub use parse::{
    classify, Classification, MAX_COMMANDS, MAX_DEPTH, MAX_INPUT_BYTES, MAX_NESTING,
    MAX_PARENTHESES,
};

/// Why a command could not be classified; every one of them is a denial (rule `unparsable`).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ShellError {
    #[error("command is empty")]
    Empty,
    #[error("command is {0} bytes, more than the {MAX_INPUT_BYTES} allowed")]
    TooLong(usize),
    #[error("command nests deeper than {MAX_NESTING} levels or {MAX_PARENTHESES} parentheses")]
    TooDeep,
    #[error(
        "command re-parses (`eval`, `sh -c`, substitutions) more than {MAX_DEPTH} levels deep"
    )]
    TooManyLevels,
    #[error("command expands to more than {MAX_COMMANDS} simple commands")]
    TooManyCommands,
    #[error("command contains a NUL byte")]
    Nul,
    #[error("cannot parse `{input}`: {reason}")]
    Syntax { input: String, reason: String },
    #[error("unknown category `{0}`")]
    UnknownCategory(String),
    #[error("unknown effect `{0}`")]
    UnknownEffect(String),
}

#[cfg(test)]
mod tests;
