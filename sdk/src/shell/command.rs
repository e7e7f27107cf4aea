//! The simple commands a shell command would run, as the classifier sees them: program and
//! arguments after normalisation, redirections, how each was reached, and flags.

use serde::Serialize;

use super::normalize;

/// How a simple command was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Written in the command itself (also inside pipelines, lists, subshells, loops, functions).
    Script,
    /// Inside `$(...)` or backquotes.
    Substitution,
    /// Inside `<(...)` or `>(...)`.
    ProcessSubstitution,
    /// The arguments of `eval`.
    Eval,
    /// A script string given to a shell or wrapper (`sh -c`, `su -c`, `watch`, `trap`, `env -S`).
    ScriptString,
    /// Literal code piped or redirected into a shell (`echo ... | sh`, `bash <<EOF`).
    Stdin,
    /// The command `xargs` (or `parallel`) runs.
    Xargs,
    /// The command `find -exec` runs.
    FindExec,
    /// Literal text written where it runs later (a shell profile, a git hook, a crontab line).
    Persisted,
}

/// What a redirection does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RedirectKind {
    Read,
    Write,
    Append,
    ReadWrite,
    /// `>&2`, `2>&1`, `<&3`: duplicates a descriptor.
    Duplicate,
    HereDocument,
    HereString,
}

/// One redirection of a simple command, with its target normalised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redirect {
    pub kind: RedirectKind,
    pub fd: Option<i32>,
    /// The file (or descriptor, or here-document delimiter).
    pub target: String,
}

/// One command that would run, after normalisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SimpleCommand {
    /// Program and arguments after quote removal and expansion; empty for a bare assignment.
    pub argv: Vec<String>,
    /// `NAME=value` prefixes (and `env NAME=value`).
    pub assignments: Vec<(String, String)>,
    pub redirects: Vec<Redirect>,
    /// Wrappers looked through, outermost first (`sudo`, `timeout`, `xargs`, ...).
    pub wrappers: Vec<String>,
    pub via: Via,
    /// Standard input comes from a pipe.
    pub piped_stdin: bool,
    /// Code an interpreter was given (`-c`/`-e` argument, here-document or literal stdin).
    pub code: Option<String>,
    /// How the program name had to be normalised (`${IFS}`, quotes inside the word, ...).
    pub obfuscation: Vec<String>,
    /// Variables the words read.
    pub references: Vec<String>,
    /// The program name is only known at run time.
    pub dynamic_program: bool,
    /// Some argument is only known at run time.
    pub dynamic_arguments: bool,
    /// The command calls the function it is defined in.
    pub recursive: bool,
}

impl SimpleCommand {
    /// The program's name without its directory, or `""` for a bare assignment.
    pub fn program(&self) -> &str {
        self.argv
            .first()
            .map(|a| normalize::program_name(a))
            .unwrap_or("")
    }

    /// Program and arguments joined by spaces (what `Bash(...)` patterns match).
    pub fn text(&self) -> String {
        self.argv.join(" ")
    }
}

/// Structural facts about a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    Pipeline,
    List,
    Background,
    Subshell,
    Substitution,
    ProcessSubstitution,
    HereDocument,
    Function,
    Loop,
    Eval,
    ScriptString,
    /// A shell or interpreter reads its program from a pipe or here-document.
    PipesIntoInterpreter,
    /// Some word needed de-obfuscation.
    Obfuscated,
}

impl Flag {
    pub fn as_str(&self) -> &'static str {
        match self {
            Flag::Pipeline => "pipeline",
            Flag::List => "list",
            Flag::Background => "background",
            Flag::Subshell => "subshell",
            Flag::Substitution => "substitution",
            Flag::ProcessSubstitution => "process_substitution",
            Flag::HereDocument => "here_document",
            Flag::Function => "function",
            Flag::Loop => "loop",
            Flag::Eval => "eval",
            Flag::ScriptString => "script_string",
            Flag::PipesIntoInterpreter => "pipes_into_interpreter",
            Flag::Obfuscated => "obfuscated",
        }
    }
}
