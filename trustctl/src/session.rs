//! `trustctl session start|show|end`: an agent session's grant and key, kept in a git-ignored
//! state directory of the project (`.trust/` by default) for `trustctl hook claude-code`.
//!
//! The directory is created 0700 with its own `.gitignore` (`*`), so nothing in it is ever
//! committed; the key and the grant are written 0600. `session start` loads the agent key
//! (`--key`, copied in) or the one already in the directory, or creates one (printing its
//! public key for the operator to register), asks the authority for the grant and refuses it
//! when the profile that decided is not `--profile`. A Claude Code `session_id` may key a
//! session (`--session-id`); the hook then prefers it over the project's default session.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use biscuit_auth::Biscuit;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use trust_proto::authority::v1::Effect;
use trust_sdk::client::{AuthorityClient, GrantSpec};

use crate::util;

/// Name of the state directory inside a project.
pub const STATE_DIR: &str = ".trust";

/// Scopes every session asks for: reading, listing and searching the workspace.
const BASE_SCOPES: [&str; 3] = ["fs.read=", "fs.list=", "fs.search="];

/// Session commands.
#[derive(Subcommand, Debug)]
pub enum SessionCommand {
    /// Obtain a session's grant from the authority and store it, with the agent key, in the
    /// project's state directory (`.trust/`, git-ignored, files 0600).
    ///
    /// Asks for `fs.read=`, `fs.list=` and `fs.search=` plus every --scope; refuses the grant
    /// unless the authority's deciding profile is --profile. Exit code 0 when the session is
    /// stored, 2 when the authority denies, 3 when it needs approval, 1 on any error.
    Start(Box<StartArgs>),
    /// Show the stored session: profile, task, grant id, expiry, endpoints.
    Show(ShowArgs),
    /// End the session: delete its grant and record (the agent key stays for the next one).
    End(ShowArgs),
}

/// Where a session lives.
#[derive(Args, Debug, Clone)]
pub struct Location {
    /// The project (workspace root) the session is for; default `$CLAUDE_PROJECT_DIR`, else
    /// the current directory.
    #[arg(long)]
    pub project: Option<PathBuf>,
    /// The state directory; default `PROJECT/.trust`.
    #[arg(long, env = "TRUST_STATE_DIR")]
    pub state_dir: Option<PathBuf>,
    /// A Claude Code session id to key this session by (default: the project's session).
    #[arg(long)]
    pub session_id: Option<String>,
}

/// Arguments of `trustctl session start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    #[command(flatten)]
    pub location: Location,
    /// The authority profile the session must be decided by (the grant's `profile`).
    #[arg(long)]
    pub profile: String,
    /// Task name (recorded in the grant and in provenance).
    #[arg(long)]
    pub task: String,
    /// Authority endpoint.
    #[arg(long, env = "TRUST_AUTHORITY")]
    pub authority: String,
    /// Executor endpoint the hook asks (`Check`).
    #[arg(long, env = "TRUST_EXECUTOR")]
    pub executor: String,
    #[command(flatten)]
    pub tls: crate::transport::TransportArgs,
    /// Agent id (registered with the authority).
    #[arg(long, env = "TRUST_AGENT")]
    pub agent: String,
    /// The agent's hex secret key file, copied into the state directory; without it the key
    /// already there is used, or a new one is created (register its public key first).
    #[arg(long)]
    pub key: Option<PathBuf>,
    /// User the agent acts for.
    #[arg(long, env = "TRUST_USER")]
    pub user: String,
    /// Workspace the grant is for (the authority's name for the project).
    #[arg(long, env = "TRUST_WORKSPACE")]
    pub workspace: String,
    /// More OP=RESOURCE scopes (`fs.patch=src/`, `shell.exec=`), repeatable.
    #[arg(long = "scope", value_name = "OP=RESOURCE")]
    pub scopes: Vec<String>,
    /// Lifetime such as 1h (the profile's default when omitted).
    #[arg(long, value_parser = trust_sdk::duration::parse_duration_or_seconds)]
    pub ttl: Option<std::time::Duration>,
}

/// Arguments of `trustctl session show` and `end`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    #[command(flatten)]
    pub location: Location,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// What a stored session says (`session.json`); the grant and key are files beside it.
#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub profile: String,
    pub task: String,
    pub agent: String,
    pub user: String,
    pub workspace: String,
    /// Absolute path of the project: tool paths are made relative to it.
    pub project: PathBuf,
    pub authority: String,
    pub executor: String,
    pub ca: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_plaintext: bool,
    pub grant_id: String,
    pub expires_at_ms: i64,
    /// The grant's authority block states shadow mode (`Check` records, never enforces).
    pub shadow: bool,
    /// File names inside the state directory.
    pub grant_file: String,
    pub key_file: String,
}

impl Session {
    /// The transport flags this session connects with.
    pub fn transport(&self) -> crate::transport::TransportArgs {
        crate::transport::TransportArgs {
            ca: self.ca.clone(),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            insecure_plaintext: self.insecure_plaintext,
        }
    }
}

/// A session's files.
pub struct SessionFiles {
    pub dir: PathBuf,
    pub record: PathBuf,
    pub grant: PathBuf,
    pub key: PathBuf,
}

/// The file names for an optional Claude Code session id (letters, digits, `-`, `_`).
pub fn session_files(dir: &Path, session_id: Option<&str>) -> anyhow::Result<SessionFiles> {
    let suffix = match session_id {
        None => String::new(),
        Some(id) => {
            let ok = !id.is_empty()
                && id.len() <= 128
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !ok {
                bail!("session id `{id}` must be 1 to 128 letters, digits, `-` or `_`");
            }
            format!("-{id}")
        }
    };
    Ok(SessionFiles {
        dir: dir.to_path_buf(),
        record: dir.join(format!("session{suffix}.json")),
        grant: dir.join(format!("grant{suffix}.b64")),
        key: dir.join("agent.key"),
    })
}

/// The project directory: `--project`, else `$CLAUDE_PROJECT_DIR`, else the current one.
fn project_dir(location: &Location) -> anyhow::Result<PathBuf> {
    let dir = match (&location.project, std::env::var_os("CLAUDE_PROJECT_DIR")) {
        (Some(p), _) => p.clone(),
        (None, Some(p)) => PathBuf::from(p),
        (None, None) => std::env::current_dir().context("cannot read the current directory")?,
    };
    if dir.is_absolute() {
        return Ok(dir);
    }
    Ok(std::env::current_dir()
        .context("cannot read the current directory")?
        .join(dir))
}

fn state_dir(location: &Location, project: &Path) -> PathBuf {
    location
        .state_dir
        .clone()
        .unwrap_or_else(|| project.join(STATE_DIR))
}

/// Creates the state directory 0700 (tightening an existing one) with a `.gitignore` of `*`.
pub fn create_state_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create `{}`", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict `{}` to 0700", dir.display()))?;
    let ignore = dir.join(".gitignore");
    if !ignore.exists() {
        std::fs::write(
            &ignore,
            "# Trust Authority session state: never commit.\n*\n",
        )
        .with_context(|| format!("cannot write `{}`", ignore.display()))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` 0600, atomically (a temporary file renamed over it).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot create `{}`", tmp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write `{}`", path.display()))
}

/// The agent key: `--key` copied in, or the one in the state directory, or a new one.
fn agent_key(args: &StartArgs, files: &SessionFiles) -> anyhow::Result<ed25519_dalek::SigningKey> {
    if let Some(path) = &args.key {
        let key = util::load_key(path)?;
        let mut text = hex::encode(key.to_bytes());
        text.push('\n');
        write_private(&files.key, text.as_bytes())?;
        return Ok(key);
    }
    if files.key.exists() {
        return util::load_key(&files.key);
    }
    let key = trust_sdk::keys::generate();
    trust_sdk::keys::save(&key, &files.key)?;
    eprintln!(
        "created agent key {} (public key {}); register it for agent `{}` at the authority",
        files.key.display(),
        hex::encode(key.verifying_key().as_bytes()),
        args.agent
    );
    Ok(key)
}

fn absolute(path: &Option<PathBuf>) -> anyhow::Result<Option<PathBuf>> {
    path.as_ref()
        .map(|p| {
            std::fs::canonicalize(p).with_context(|| format!("cannot resolve `{}`", p.display()))
        })
        .transpose()
}

async fn start(args: &StartArgs) -> anyhow::Result<ExitCode> {
    let project = project_dir(&args.location)?;
    let dir = state_dir(&args.location, &project);
    create_state_dir(&dir)?;
    let files = session_files(&dir, args.location.session_id.as_deref())?;
    let key = agent_key(args, &files)?;
    let scopes = BASE_SCOPES
        .iter()
        .map(|s| s.to_string())
        .chain(args.scopes.iter().cloned())
        .map(|s| util::parse_pair(&s, "scope"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let spec = GrantSpec {
        user: args.user.clone(),
        workspace: args.workspace.clone(),
        task: args.task.clone(),
        purpose: format!("agent session under profile `{}`", args.profile),
        scopes,
        ttl: args.ttl,
        ..Default::default()
    };
    let transport = args.tls.transport()?;
    let mut client = AuthorityClient::connect(args.authority.clone(), &transport)
        .await
        .map_err(util::sdk)?;
    let answer = client
        .request_grant(&args.agent, &key, &spec)
        .await
        .map_err(util::sdk)?;
    let grant = match (answer.effect, answer.grant) {
        (Effect::Allow, Some(grant)) => grant,
        (Effect::ApprovalRequired, _) => {
            eprintln!(
                "approval required by rules [{}]: {} (approval id {})",
                answer.rule_ids.join(", "),
                answer.reason,
                answer.approval_id
            );
            return Ok(ExitCode::from(3));
        }
        (effect, _) => {
            eprintln!(
                "{effect:?} by rules [{}]: {}",
                answer.rule_ids.join(", "),
                answer.reason
            );
            return Ok(ExitCode::from(2));
        }
    };
    let keys = client.public_keys().await.map_err(util::sdk)?;
    let token = Biscuit::from(&grant, trust_sdk::client::root_key_provider(&keys))
        .context("the authority's grant does not verify under its own keys")?;
    let structure = trust_sdk::structure::Structure::read(&token)?;
    let claims = trust_sdk::vocabulary::claims_from_structure(&structure)?;
    if claims.profile != args.profile {
        bail!(
            "the authority decided this session under profile `{}`, not `{}`; the grant was not stored",
            claims.profile,
            args.profile
        );
    }
    let shadow = trust_sdk::vocabulary::shadow::is_shadow(&structure)?;
    let session = Session {
        profile: claims.profile.clone(),
        task: args.task.clone(),
        agent: args.agent.clone(),
        user: args.user.clone(),
        workspace: args.workspace.clone(),
        project,
        authority: args.authority.clone(),
        executor: args.executor.clone(),
        ca: absolute(&args.tls.ca)?,
        tls_cert: absolute(&args.tls.tls_cert)?,
        tls_key: absolute(&args.tls.tls_key)?,
        insecure_plaintext: args.tls.insecure_plaintext,
        grant_id: answer.grant_id.clone(),
        expires_at_ms: answer.expires_at_ms,
        shadow,
        grant_file: file_name(&files.grant),
        key_file: file_name(&files.key),
    };
    write_private(&files.grant, util::encode_grant(&grant).as_bytes())?;
    write_private(&files.record, &serde_json::to_vec_pretty(&session)?)?;
    println!(
        "session started: grant {} under profile `{}`{} for task `{}`, expires {}; state in {}",
        session.grant_id,
        session.profile,
        if shadow { " (shadow mode)" } else { "" },
        session.task,
        util::format_rfc3339(session.expires_at_ms / 1000),
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads the session stored at `files`.
pub fn load(files: &SessionFiles) -> anyhow::Result<Session> {
    let text = std::fs::read(&files.record)
        .with_context(|| format!("no session at `{}`", files.record.display()))?;
    serde_json::from_slice(&text)
        .with_context(|| format!("session `{}` is malformed", files.record.display()))
}

fn located(location: &Location) -> anyhow::Result<SessionFiles> {
    let project = project_dir(location)?;
    session_files(
        &state_dir(location, &project),
        location.session_id.as_deref(),
    )
}

fn show(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let files = located(&args.location)?;
    let session = load(&files)?;
    if args.json {
        println!("{}", serde_json::to_string(&session)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "profile:  {}{}\ntask:     {}\nagent:    {} for {} in workspace {}\nproject:  {}\ngrant:    {} (expires {})\nexecutor: {}\nauthority: {}",
        session.profile,
        if session.shadow { " (shadow mode)" } else { "" },
        session.task,
        session.agent,
        session.user,
        session.workspace,
        session.project.display(),
        session.grant_id,
        util::format_rfc3339(session.expires_at_ms / 1000),
        session.executor,
        session.authority
    );
    Ok(ExitCode::SUCCESS)
}

fn end(args: &ShowArgs) -> anyhow::Result<ExitCode> {
    let files = located(&args.location)?;
    let session = load(&files)?;
    for path in [&files.grant, &files.record] {
        std::fs::remove_file(path)
            .with_context(|| format!("cannot remove `{}`", path.display()))?;
    }
    println!(
        "session ended: grant {} removed from {}",
        session.grant_id,
        files.dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn run(command: &SessionCommand) -> anyhow::Result<ExitCode> {
    match command {
        SessionCommand::Start(args) => start(args).await,
        SessionCommand::Show(args) => show(args),
        SessionCommand::End(args) => end(args),
    }
}
