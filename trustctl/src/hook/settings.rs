//! `trustctl hook install|uninstall claude-code`: our PreToolUse and PostToolUse hooks in a
//! project's `.claude/settings.json`, next to whatever else is there.
//!
//! Install adds one matcher group (`"*"`) per event whose only hook is our command, unless an
//! identical one is there (running it twice changes nothing; a group of ours with another
//! command is updated in place). Uninstall removes exactly our hook entries (commands that run
//! `trustctl hook claude-code`), then any matcher group and event list that became empty. Every
//! other key, event, group and hook is kept as it was (key order may be normalized). The file
//! is rewritten only when something changed, atomically.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

/// The events our hook answers.
const EVENTS: [&str; 2] = ["PreToolUse", "PostToolUse"];
/// What our command ends with; the first word is a `trustctl` binary.
const SUFFIX: &str = " hook claude-code";
/// Seconds Claude Code waits for our hook.
const TIMEOUT_SECS: u64 = 30;

/// Agents whose hook configuration we can install.
#[derive(ValueEnum, Debug, Clone, Copy)]
pub enum HookedAgent {
    /// Claude Code (`.claude/settings.json`).
    ClaudeCode,
}

/// Arguments of `trustctl hook install` and `uninstall`.
#[derive(Args, Debug)]
pub struct InstallArgs {
    /// The agent whose settings to change.
    #[arg(value_enum)]
    pub agent: HookedAgent,
    /// The project directory (its `.claude/settings.json`); default the current directory.
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// The command Claude Code runs; default this `trustctl` binary's absolute path followed by
    /// `hook claude-code`.
    #[arg(long)]
    pub command: Option<String>,
}

fn settings_path(args: &InstallArgs) -> anyhow::Result<PathBuf> {
    let project = match &args.project {
        Some(p) => p.clone(),
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    Ok(project.join(".claude").join("settings.json"))
}

fn our_command(args: &InstallArgs) -> anyhow::Result<String> {
    if let Some(command) = &args.command {
        if !is_ours(command) {
            bail!("--command must run `trustctl ...{SUFFIX}`, so that uninstall can find it");
        }
        return Ok(command.clone());
    }
    let exe = std::env::current_exe().context("cannot find this trustctl binary")?;
    let exe = exe.to_string_lossy();
    if exe.contains(char::is_whitespace) || exe.contains(['"', '\'', '$', '`', '\\']) {
        bail!("the trustctl path `{exe}` needs quoting; pass --command");
    }
    Ok(format!("{exe}{SUFFIX}"))
}

/// Whether a hook command is ours: `.../trustctl hook claude-code`.
fn is_ours(command: &str) -> bool {
    let Some(program) = command.trim().strip_suffix(SUFFIX) else {
        return false;
    };
    Path::new(program.trim())
        .file_name()
        .is_some_and(|name| name == "trustctl")
}

fn our_group(command: &str) -> Value {
    json!({
        "matcher": "*",
        "hooks": [{"type": "command", "command": command, "timeout": TIMEOUT_SECS}],
    })
}

/// The hooks of a matcher group that are ours.
fn group_is_ours(group: &Value) -> bool {
    let hooks = group.get("hooks").and_then(Value::as_array);
    hooks.is_some_and(|h| {
        !h.is_empty()
            && h.iter().all(|hook| {
                hook.get("command")
                    .and_then(Value::as_str)
                    .is_some_and(is_ours)
            })
    })
}

fn read_settings(path: &Path) -> anyhow::Result<Value> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(json!({})),
        Ok(bytes) => {
            let value: Value = serde_json::from_slice(&bytes)
                .with_context(|| format!("`{}` is not valid JSON; not changed", path.display()))?;
            if !value.is_object() {
                bail!("`{}` is not a JSON object; not changed", path.display());
            }
            Ok(value)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(e).with_context(|| format!("cannot read `{}`", path.display())),
    }
}

fn write_settings(path: &Path, value: &Value) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create `{}`", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, text).with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))
}

/// The event lists of `settings`, created when absent; an error when `hooks` is not an object
/// or an event is not a list (someone else's configuration we will not guess at).
fn event_list<'a>(settings: &'a mut Value, event: &str) -> anyhow::Result<&'a mut Vec<Value>> {
    let root = settings
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("settings are not a JSON object"))?;
    let hooks = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("`hooks` is not a JSON object; not changed"))?;
    hooks
        .entry(event)
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| anyhow::anyhow!("`hooks.{event}` is not a list; not changed"))
}

/// `settings` with our hooks installed for `command`.
pub fn installed(mut settings: Value, command: &str) -> anyhow::Result<Value> {
    let ours = our_group(command);
    for event in EVENTS {
        let list = event_list(&mut settings, event)?;
        match list.iter().position(group_is_ours) {
            Some(i) => {
                if let Some(slot) = list.get_mut(i) {
                    *slot = ours.clone();
                }
                // One group of ours per event.
                let mut seen = 0;
                list.retain(|g| {
                    let mine = group_is_ours(g);
                    seen += usize::from(mine);
                    !mine || seen == 1
                });
            }
            None => list.push(ours.clone()),
        }
    }
    Ok(settings)
}

/// `settings` without our hooks (and without groups and event lists only ours filled).
pub fn uninstalled(mut settings: Value) -> anyhow::Result<Value> {
    let Some(hooks) = settings.get_mut("hooks").and_then(Value::as_object_mut) else {
        return Ok(settings);
    };
    for event in EVENTS {
        let Some(list) = hooks.get_mut(event).and_then(Value::as_array_mut) else {
            continue;
        };
        for group in list.iter_mut() {
            if let Some(entries) = group.get_mut("hooks").and_then(Value::as_array_mut) {
                entries.retain(|hook| {
                    !hook
                        .get("command")
                        .and_then(Value::as_str)
                        .is_some_and(is_ours)
                });
            }
        }
        list.retain(|group| {
            group
                .get("hooks")
                .and_then(Value::as_array)
                .is_none_or(|h| !h.is_empty())
        });
        if list.is_empty() {
            hooks.remove(event);
        }
    }
    if hooks.is_empty() {
        if let Some(root) = settings.as_object_mut() {
            root.remove("hooks");
        }
    }
    Ok(settings)
}

fn apply(
    args: &InstallArgs,
    change: impl FnOnce(Value) -> anyhow::Result<Value>,
    done: &str,
) -> anyhow::Result<ExitCode> {
    let HookedAgent::ClaudeCode = args.agent;
    let path = settings_path(args)?;
    let before = read_settings(&path)?;
    let after = change(before.clone())?;
    if after == before {
        println!("{}: unchanged ({done} already)", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    write_settings(&path, &after)?;
    println!("{}: {done}", path.display());
    Ok(ExitCode::SUCCESS)
}

pub fn install(args: &InstallArgs) -> anyhow::Result<ExitCode> {
    let command = our_command(args)?;
    apply(
        args,
        |s| installed(s, &command),
        "trust hooks installed for PreToolUse and PostToolUse",
    )
}

pub fn uninstall(args: &InstallArgs) -> anyhow::Result<ExitCode> {
    apply(args, uninstalled, "trust hooks removed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_is_idempotent_and_uninstall_removes_exactly_ours() {
        let theirs = json!({
            "model": "x",
            "hooks": {
                "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "lint.sh"}]}],
                "Stop": [{"hooks": [{"type": "command", "command": "notify"}]}],
            }
        });
        let once = installed(theirs.clone(), "/bin/trustctl hook claude-code").unwrap();
        let twice = installed(once.clone(), "/bin/trustctl hook claude-code").unwrap();
        assert_eq!(once, twice);
        assert_eq!(once["hooks"]["PreToolUse"].as_array().unwrap().len(), 2);
        assert_eq!(uninstalled(twice).unwrap(), theirs);
        assert!(!is_ours("trustctl-evil hook claude-code"));
        assert!(is_ours("/usr/local/bin/trustctl hook claude-code"));
    }
}
