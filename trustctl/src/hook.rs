//! `trustctl hook ...`: agents' hook protocols (gate mode) and their installation.
//!
//! `hook claude-code` answers Claude Code's PreToolUse and PostToolUse hooks
//! ([`claude_code`]) with the tool call mapped to an executor operation ([`tool_map`]) and
//! decided by the executor's `Check`; `hook install|uninstall claude-code` edits a project's
//! `.claude/settings.json` ([`settings`]).

use std::process::ExitCode;

use clap::Subcommand;

mod claude_code;
mod settings;
mod tool_map;

/// Hook commands.
#[derive(Subcommand, Debug)]
pub enum HookCommand {
    /// Answer one Claude Code hook call (PreToolUse or PostToolUse JSON on standard input).
    ///
    /// PreToolUse prints `hookSpecificOutput.permissionDecision` allow, deny or ask with the
    /// deciding check in `permissionDecisionReason`, exit 0; when it cannot decide (bad input,
    /// no session, executor down) it denies and exits 2 (fail closed). PostToolUse records the
    /// outcome at the executor (exit 1 if it cannot).
    ClaudeCode(claude_code::ClaudeCodeArgs),
    /// Add our PreToolUse and PostToolUse hooks to a project's `.claude/settings.json`,
    /// keeping every other setting and hook (running it twice changes nothing).
    Install(settings::InstallArgs),
    /// Remove exactly our hooks from a project's `.claude/settings.json`.
    Uninstall(settings::InstallArgs),
}

pub async fn run(command: &HookCommand) -> anyhow::Result<ExitCode> {
    match command {
        HookCommand::ClaudeCode(args) => claude_code::run(args).await,
        HookCommand::Install(args) => settings::install(args),
        HookCommand::Uninstall(args) => settings::uninstall(args),
    }
}
