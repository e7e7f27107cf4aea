//! `trustctl`: the operator and agent command line for Trust Authority.
//!
//! One submodule per command group: `keys` (keygen, pubkey, root-keys), `grant` (request,
//! inspect, attenuate), `exec` (structured operations on an executor), `audit` (export,
//! verify, query provenance), `admin` (revoke, register agents, rotate keys, decision log) and
//! `approvals` (list, approve, deny, watch, await) and `tls` (a deployment's CA and service
//! certificates), `session` (an agent session's grant and key) and `hook` (Claude Code's hook
//! protocol and its installation), `secrets` (put, list, delete, fingerprints) and `secret_scan`
//! (scan, install-hooks); `transport` holds the TLS flags shared by every command that connects.
//!
//! Exit codes: 0 success; 1 error or refusal; `grant request` uses 2 for deny and 3 for
//! approval required (`approvals await` likewise: 2 denied or expired, 3 still pending);
//! `exec run` exits with the command's own exit code.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod admin;
mod approvals;
mod audit;
mod derive;
mod exec;
// `trustctl exec context` (`context.retrieve`).
mod exec_context;
mod grant;
mod health;
// Agent sessions and the Claude Code hook (gate mode).
mod hook;
mod keys;
mod narrowing;
// Process instances (issue 16).
mod process;
mod secret_scan;
mod secrets;
mod session;
mod tls;
// The authority's tool and skill registry.
mod tool_registry;
mod transport;
mod util;

/// Trust Authority command line: keys, grants, holder-proved execution, provenance audit and
/// administration.
#[derive(Parser, Debug)]
#[command(name = "trustctl", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Generate an ed25519 key: writes the hex secret (mode 0600) and prints the public key.
    Keygen(keys::KeygenArgs),
    /// Print the hex public key of a secret key file.
    Pubkey(keys::PubkeyArgs),
    /// Print the authority's root public keys (`ed25519/<hex>`, as `biscuit` takes them),
    /// verified against `--pinned` keys (unverified, with a warning, without it).
    RootKeys(keys::RootKeysArgs),
    /// Request, inspect and attenuate grants.
    #[command(subcommand)]
    Grant(grant::GrantCommand),
    /// Run one structured operation on an executor under a grant, with a holder proof.
    ///
    /// On refusal the gRPC code and message are printed to standard error and the exit code
    /// is 1.
    Exec(exec::ExecArgs),
    /// Export, verify and query the executor's tamper-evident provenance chain.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Administer the authority: revoke grants, register agents, rotate the root key.
    #[command(subcommand)]
    Admin(admin::AdminCommand),
    /// Approvals: list what waits for a person and decide it (approvers); await it (agents).
    #[command(subcommand)]
    Approvals(approvals::ApprovalsCommand),
    /// Ask a server's gRPC health service; exit 0 when SERVING (for container health checks).
    Health(health::HealthArgs),
    /// A deployment's private CA and service certificates for TLS on every link.
    #[command(subcommand)]
    Tls(tls::TlsCommand),
    /// An agent session: its grant and key in the project's git-ignored `.trust/` directory.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Agent hooks: answer Claude Code's PreToolUse/PostToolUse hooks under the session's
    /// grant (`hook claude-code`), and install or remove them in a project.
    #[command(subcommand)]
    Hook(hook::HookCommand),
    /// Secrets on the executor (put, list, delete: never read back), fingerprints, and the
    /// git hooks that refuse a commit or push holding a managed value.
    #[command(subcommand)]
    Secrets(secrets::SecretsCommand),
    /// The authority's tool registry (admin-signed): register, certify, revoke, list.
    #[command(subcommand)]
    Tools(tool_registry::RegistryCommand),
    /// The authority's skill registry (admin-signed): register, certify, revoke, list.
    #[command(subcommand)]
    Skills(tool_registry::RegistryCommand),
    /// Process instances: start one, complete its current step, show its state and history.
    #[command(subcommand)]
    Process(process::ProcessCommand),
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Keygen(args) => keys::keygen(args),
        Command::Pubkey(args) => keys::pubkey(args),
        Command::RootKeys(args) => keys::root_keys(args).await,
        Command::Grant(command) => grant::run(command).await,
        Command::Exec(args) => exec::run(args).await,
        Command::Audit(command) => audit::run(command).await,
        Command::Admin(command) => admin::run(command).await,
        Command::Approvals(command) => approvals::run(command).await,
        Command::Health(args) => health::run(args).await,
        Command::Tls(command) => tls::run(command),
        Command::Session(command) => session::run(command).await,
        Command::Hook(command) => hook::run(command).await,
        Command::Secrets(command) => secrets::run(command).await,
        Command::Tools(command) => {
            tool_registry::run(trust_sdk::client::RegistryKind::Tool, command).await
        }
        Command::Skills(command) => {
            tool_registry::run(trust_sdk::client::RegistryKind::Skill, command).await
        }
        Command::Process(command) => process::run(command).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trustctl: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("trustctl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed_and_every_command_has_help() {
        super::Cli::command().debug_assert();
        fn walk(cmd: &clap::Command, path: &str) {
            for sub in cmd.get_subcommands() {
                let name = format!("{path} {}", sub.get_name());
                assert!(sub.get_about().is_some(), "`{name}` has no help text");
                walk(sub, &name);
            }
        }
        walk(&super::Cli::command(), "trustctl");
    }
}
