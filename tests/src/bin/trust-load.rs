//! `trust-load`: a bounded load generator for the real services on loopback.
//!
//! Drives a mix of grant requests (`RequestGrant`), derivations (`trust_sdk::derive::derive`,
//! registered with `DeriveGrant` unless `--no-register`), and executions (`fs.read`, `fs.list`,
//! `fs.search`, `fs.write`, `fs.read` with a derived grant, and `proc.run` at a low rate), each
//! with a fresh holder proof. It stops by itself at `--requests` or `--duration`, whichever
//! comes first, and prints throughput, latency percentiles per kind, errors by gRPC status and
//! the resident memory (VmRSS) of each service at the start and the end.
//!
//! Without `--authority`/`--executor` it starts the real `trust-authority` and `tool-executor`
//! binaries with the test kit (on 127.0.0.1, same profile as this binary), so
//! `cargo run --release -p trust-tests --bin trust-load -- --duration 60s` is self-contained.
//! Only loopback endpoints are accepted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use biscuit_auth::Biscuit;
use clap::Parser;
use ed25519_dalek::SigningKey;
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::client::{
    now_ms, root_key_provider, AuthorityClient, ExecutorClient, GrantSpec, Transport,
};
use trust_sdk::derive::{derive, Derivation};
use trust_sdk::SdkError;
use trust_tests::{Cluster, ClusterOptions};

/// Longest run accepted (a guard against a typo such as `--duration 600m`).
const MAX_DURATION: Duration = Duration::from_secs(4 * 3600);

/// Bounded mixed load against the Trust Authority services on loopback.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// CA certificate (PEM) of running services (with --authority/--executor).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Plaintext instead of TLS (loopback only): the running services', or the kit's.
    #[arg(long, conflicts_with = "ca")]
    insecure_plaintext: bool,
    /// Authority endpoint of running services (default: start them with the test kit).
    #[arg(long, requires = "executor")]
    authority: Option<String>,
    /// Executor endpoint of running services.
    #[arg(long, requires = "authority")]
    executor: Option<String>,
    /// Agent id to request grants as (running services only; the kit registers `coder-1`).
    #[arg(long, default_value = "coder-1")]
    agent_id: String,
    /// The agent's ed25519 key file (required with --authority/--executor).
    #[arg(long)]
    agent_key: Option<PathBuf>,
    #[arg(long, default_value = "alice")]
    user: String,
    #[arg(long, default_value = "demo")]
    workspace: String,
    /// Process ids of running services, for their resident memory.
    #[arg(long)]
    authority_pid: Option<u32>,
    #[arg(long)]
    executor_pid: Option<u32>,
    /// Stop after this many requests.
    #[arg(long, default_value_t = 1_000_000)]
    requests: u64,
    /// Stop after this long (such as 60s, 10m, 1500ms).
    #[arg(long, default_value = "60s", value_parser = trust_sdk::duration::parse_duration_or_seconds)]
    duration: Duration,
    /// Requests in flight at once (one client connection pair per worker).
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Requests per second over all workers; 0 runs as fast as the services answer.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Relative weights of the request kinds: grant, derive, read, dread (read with a derived
    /// grant), list, search, write.
    #[arg(
        long,
        default_value = "grant=5,derive=2,read=50,dread=5,list=10,search=10,write=18"
    )]
    mix: String,
    /// One `proc.run` (the workspace's `test` command) at most this often; 0s disables it.
    #[arg(long, default_value = "2s", value_parser = trust_sdk::duration::parse_duration_or_seconds)]
    run_every: Duration,
    /// Derive offline only; do not register derived grants with the authority.
    #[arg(long)]
    no_register: bool,
    /// Give up on one request after this long (counted as DeadlineExceeded).
    #[arg(long, default_value = "10s", value_parser = trust_sdk::duration::parse_duration_or_seconds)]
    request_timeout: Duration,
    /// Sample the services' resident memory this often.
    #[arg(long, default_value = "5s", value_parser = trust_sdk::duration::parse_duration_or_seconds)]
    sample_every: Duration,
    /// Exit with status 1 if any request failed.
    #[arg(long)]
    fail_on_error: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Grant,
    Derive,
    Read,
    DerivedRead,
    List,
    Search,
    Write,
    Run,
}

impl Kind {
    const WEIGHTED: [Kind; 7] = [
        Kind::Grant,
        Kind::Derive,
        Kind::Read,
        Kind::DerivedRead,
        Kind::List,
        Kind::Search,
        Kind::Write,
    ];

    fn mix_name(self) -> &'static str {
        match self {
            Kind::Grant => "grant",
            Kind::Derive => "derive",
            Kind::Read => "read",
            Kind::DerivedRead => "dread",
            Kind::List => "list",
            Kind::Search => "search",
            Kind::Write => "write",
            Kind::Run => "run",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Grant => "RequestGrant",
            Kind::Derive => "derive + DeriveGrant",
            Kind::Read => "Execute fs.read",
            Kind::DerivedRead => "Execute fs.read (derived grant)",
            Kind::List => "Execute fs.list",
            Kind::Search => "Execute fs.search",
            Kind::Write => "Execute fs.write",
            Kind::Run => "Execute proc.run",
        }
    }
}

/// Cumulative weights, for picking a kind from a random number.
struct Mix(Vec<(Kind, u64)>);

impl Mix {
    fn parse(text: &str) -> anyhow::Result<Self> {
        let mut weights = BTreeMap::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, weight) = part
                .split_once('=')
                .with_context(|| format!("mix entry `{part}` is not name=weight"))?;
            let kind = Kind::WEIGHTED
                .into_iter()
                .find(|k| k.mix_name() == name.trim())
                .with_context(|| format!("unknown kind `{name}` in --mix"))?;
            let weight: u64 = weight
                .trim()
                .parse()
                .with_context(|| format!("weight of `{name}`"))?;
            weights.insert(kind, weight);
        }
        let mut total = 0;
        let mut cumulative = Vec::new();
        for (kind, weight) in weights {
            if weight > 0 {
                total += weight;
                cumulative.push((kind, total));
            }
        }
        if cumulative.is_empty() {
            bail!("--mix gives every kind weight 0");
        }
        Ok(Self(cumulative))
    }

    fn pick(&self, random: u64) -> Kind {
        let total = self.0.last().map(|(_, t)| *t).unwrap_or(1);
        let point = random % total;
        self.0
            .iter()
            .find(|(_, upto)| point < *upto)
            .map(|(k, _)| *k)
            .unwrap_or(Kind::Read)
    }

    fn describe(&self) -> String {
        let mut previous = 0;
        self.0
            .iter()
            .map(|(k, upto)| {
                let weight = upto - previous;
                previous = *upto;
                format!("{}={weight}", k.mix_name())
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// splitmix64: a cheap, well-mixed pseudo-random number from a counter.
fn mix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Where the load goes and as whom.
struct Target {
    authority: String,
    executor: String,
    transport: Transport,
    agent_id: String,
    agent_key: SigningKey,
    user: String,
    workspace: String,
    authority_pid: Option<u32>,
    executor_pid: Option<u32>,
    description: String,
}

/// What every worker reports.
#[derive(Default)]
struct Tally {
    /// Latency in microseconds of each successful request, per kind.
    ok: BTreeMap<Kind, Vec<u32>>,
    /// (kind, status) → (count, first message).
    errors: BTreeMap<(Kind, String), (u64, String)>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        for (kind, mut samples) in other.ok {
            self.ok.entry(kind).or_default().append(&mut samples);
        }
        for (key, (count, first)) in other.errors {
            let entry = self.errors.entry(key).or_insert((0, first));
            entry.0 += count;
        }
    }

    fn error(&mut self, kind: Kind, status: String, message: String) {
        let entry = self.errors.entry((kind, status)).or_insert((0, message));
        entry.0 += 1;
    }
}

/// The gRPC status name of an SDK error (transport and client-side errors get their own).
fn status_of(error: &SdkError) -> (String, String) {
    match error {
        SdkError::Rpc { code, message } => (code.clone(), message.clone()),
        SdkError::Transport(message) => ("Transport".into(), message.clone()),
        other => ("Client".into(), other.to_string()),
    }
}

/// State shared by the workers.
struct Plan {
    target: Target,
    mix: Mix,
    requests: u64,
    duration: Duration,
    rate: f64,
    run_every_ms: i64,
    register: bool,
    request_timeout: Duration,
    root_keys: Vec<(u32, ed25519_dalek::VerifyingKey, bool)>,
    issued: AtomicU64,
    last_run_ms: AtomicI64,
    start: Instant,
}

impl Plan {
    fn spec(&self, task: String) -> GrantSpec {
        GrantSpec {
            user: self.target.user.clone(),
            workspace: self.target.workspace.clone(),
            task,
            purpose: "load generation".into(),
            scopes: [
                ("fs.read", ""),
                ("fs.list", ""),
                ("fs.search", ""),
                ("fs.write", "src/"),
                ("proc.run", "test"),
            ]
            .iter()
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .collect(),
            ..Default::default()
        }
    }

    /// The next request's index, waiting for its slot when a rate is set; `None` when the run
    /// is over (count or duration reached).
    async fn next(&self) -> Option<u64> {
        if self.start.elapsed() >= self.duration {
            return None;
        }
        let index = self.issued.fetch_add(1, Ordering::Relaxed);
        if index >= self.requests {
            return None;
        }
        if self.rate > 0.0 {
            let slot = Duration::from_secs_f64(index as f64 / self.rate);
            if slot >= self.duration {
                return None;
            }
            tokio::time::sleep_until((self.start + slot).into()).await;
        }
        (self.start.elapsed() < self.duration).then_some(index)
    }

    /// Claims the `proc.run` slot if one is due.
    fn run_due(&self) -> bool {
        if self.run_every_ms <= 0 {
            return false;
        }
        let now = now_ms();
        let last = self.last_run_ms.load(Ordering::Relaxed);
        now - last >= self.run_every_ms
            && self
                .last_run_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// One worker's grants.
struct Holding {
    grant: Vec<u8>,
    parsed: Option<Biscuit>,
    derived: Option<(Vec<u8>, SigningKey)>,
}

async fn request_grant(
    plan: &Plan,
    authority: &mut AuthorityClient,
    task: String,
) -> Result<Vec<u8>, SdkError> {
    let answer = authority
        .request_grant(
            &plan.target.agent_id,
            &plan.target.agent_key,
            &plan.spec(task),
        )
        .await?;
    match (answer.effect, answer.grant) {
        (Effect::Allow, Some(grant)) => Ok(grant),
        (effect, _) => Err(SdkError::Rpc {
            code: format!("Decision{effect:?}"),
            message: answer.reason,
        }),
    }
}

fn op_for(kind: Kind, worker: usize, index: u64) -> Op {
    match kind {
        Kind::List => Op::List(pb::ListRequest {
            path: String::new(),
            max_depth: 0,
            max_entries: 0,
        }),
        Kind::Search => Op::Search(pb::SearchRequest {
            path: "src".into(),
            pattern: "echo".into(),
            ..Default::default()
        }),
        Kind::Write => {
            // A bounded set of files per worker, so the workspace does not grow.
            let content = format!("worker {worker} request {index}\n").repeat(8);
            Op::Write(pb::WriteRequest {
                path: format!("src/load/w{worker}-{}.txt", index % 8),
                content: content.into_bytes(),
                ..Default::default()
            })
        }
        Kind::Run => Op::Run(pb::RunRequest {
            command: "test".into(),
            cwd: String::new(),
            timeout_ms: 0,
            file_sha256: Default::default(),
        }),
        Kind::DerivedRead => Op::Read(pb::ReadRequest {
            path: "src/calc.sh".into(),
            offset: 0,
            length: 0,
        }),
        Kind::Grant | Kind::Derive | Kind::Read => Op::Read(pb::ReadRequest {
            path: "src/calc.sh".into(),
            offset: 0,
            length: 0,
        }),
    }
}

async fn one_request(
    plan: &Plan,
    worker: usize,
    kind: Kind,
    index: u64,
    holding: &mut Holding,
    authority: &mut AuthorityClient,
    executor: &mut ExecutorClient,
) -> Result<(), SdkError> {
    match kind {
        Kind::Grant => {
            let grant = request_grant(plan, authority, format!("load-{worker}-{index}")).await?;
            holding.grant = grant;
            holding.parsed = None;
            Ok(())
        }
        Kind::Derive => {
            if holding.parsed.is_none() {
                let parsed = Biscuit::from(&holding.grant, root_key_provider(&plan.root_keys))
                    .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
                holding.parsed = Some(parsed);
            }
            let Some(parent) = holding.parsed.as_ref() else {
                return Err(SdkError::InvalidGrant("no parsed grant".into()));
            };
            let child = trust_sdk::keys::generate();
            let derivation = Derivation {
                narrowing: Attenuation {
                    operations: Some(vec!["fs.read".into()]),
                    prefixes: Some(vec!["src".into()]),
                    ..Default::default()
                },
                purpose: "load subtask".into(),
                derived_id: None,
            };
            let derived = derive(
                parent,
                &plan.target.agent_key,
                &child.verifying_key(),
                &derivation,
            )?;
            let bytes = derived
                .token
                .to_vec()
                .map_err(|e| SdkError::InvalidGrant(e.to_string()))?;
            if plan.register {
                authority
                    .register_derived(&plan.target.agent_id, &plan.target.agent_key, &bytes)
                    .await?;
            }
            holding.derived = Some((bytes, child));
            Ok(())
        }
        Kind::DerivedRead => match &holding.derived {
            Some((grant, key)) => executor
                .execute(grant, key, op_for(kind, worker, index))
                .await
                .map(drop),
            None => executor
                .execute(
                    &holding.grant,
                    &plan.target.agent_key,
                    op_for(kind, worker, index),
                )
                .await
                .map(drop),
        },
        Kind::Read | Kind::List | Kind::Search | Kind::Write | Kind::Run => executor
            .execute(
                &holding.grant,
                &plan.target.agent_key,
                op_for(kind, worker, index),
            )
            .await
            .map(drop),
    }
}

async fn worker(plan: Arc<Plan>, id: usize) -> anyhow::Result<Tally> {
    let mut authority =
        AuthorityClient::connect(plan.target.authority.clone(), &plan.target.transport).await?;
    let mut executor =
        ExecutorClient::connect(plan.target.executor.clone(), &plan.target.transport).await?;
    let grant = request_grant(&plan, &mut authority, format!("load-{id}-start"))
        .await
        .context("the first grant request failed")?;
    let mut holding = Holding {
        grant,
        parsed: None,
        derived: None,
    };
    let mut tally = Tally::default();
    while let Some(index) = plan.next().await {
        let kind = if plan.run_due() {
            Kind::Run
        } else {
            plan.mix.pick(mix64(index))
        };
        let started = Instant::now();
        let outcome = tokio::time::timeout(
            plan.request_timeout,
            one_request(
                &plan,
                id,
                kind,
                index,
                &mut holding,
                &mut authority,
                &mut executor,
            ),
        )
        .await;
        let took = started.elapsed();
        match outcome {
            Ok(Ok(())) => tally
                .ok
                .entry(kind)
                .or_default()
                .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX)),
            Ok(Err(error)) => {
                let (status, message) = status_of(&error);
                tally.error(kind, status, message);
            }
            Err(_) => tally.error(
                kind,
                "DeadlineExceeded".into(),
                format!(
                    "no answer within {:?} (client-side timeout)",
                    plan.request_timeout
                ),
            ),
        }
    }
    Ok(tally)
}

/// VmRSS of `pid` in KiB, from /proc/PID/status.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    f64::from(sorted[rank - 1]) / 1000.0
}

fn loopback_only(endpoint: &str) -> anyhow::Result<()> {
    let host = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .split(['/', ':'])
        .next()
        .unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if !(host == "127.0.0.1" || host == "localhost" || host == "::1" || endpoint.contains("[::1]"))
    {
        bail!(
            "`{endpoint}` is not a loopback endpoint; trust-load only sends traffic to 127.0.0.1"
        );
    }
    Ok(())
}

/// Waits until the executor admits and runs a read (its first revocation sync is done).
async fn wait_ready(target: &Target) -> anyhow::Result<()> {
    let mut authority =
        AuthorityClient::connect(target.authority.clone(), &target.transport).await?;
    let spec = GrantSpec {
        user: target.user.clone(),
        workspace: target.workspace.clone(),
        task: "load-ready".into(),
        purpose: "readiness probe".into(),
        scopes: vec![("fs.read".into(), String::new())],
        ..Default::default()
    };
    let grant = authority
        .request_grant(&target.agent_id, &target.agent_key, &spec)
        .await?
        .grant
        .context("the authority refused the readiness grant")?;
    let mut executor = ExecutorClient::connect(target.executor.clone(), &target.transport).await?;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let read = Op::Read(pb::ReadRequest {
            path: "src/calc.sh".into(),
            offset: 0,
            length: 0,
        });
        match executor.execute(&grant, &target.agent_key, read).await {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() >= deadline => bail!("the executor never became ready: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.duration > MAX_DURATION {
        bail!("--duration is capped at {} s", MAX_DURATION.as_secs());
    }
    if args.concurrency == 0 || args.concurrency > 1024 {
        bail!("--concurrency must be between 1 and 1024");
    }
    if !(args.rate >= 0.0 && args.rate.is_finite()) {
        bail!("--rate must be 0 (unlimited) or a positive number");
    }
    let mix = Mix::parse(&args.mix)?;
    // The kit's servers are started before the runtime, as the kit blocks.
    let mut cluster: Option<Cluster> = None;
    let target = match (&args.authority, &args.executor) {
        (Some(authority), Some(executor)) => {
            loopback_only(authority)?;
            loopback_only(executor)?;
            let key_path = args
                .agent_key
                .as_ref()
                .context("--agent-key is required with --authority/--executor")?;
            let transport = match (&args.ca, args.insecure_plaintext) {
                (_, true) => Transport::InsecurePlaintext,
                (Some(ca), false) => Transport::load(ca, None)?,
                (None, false) => bail!(
                    "--ca FILE (or --insecure-plaintext) is required with --authority/--executor"
                ),
            };
            Target {
                authority: authority.clone(),
                executor: executor.clone(),
                transport,
                agent_id: args.agent_id.clone(),
                agent_key: trust_sdk::keys::load(key_path)?,
                user: args.user.clone(),
                workspace: args.workspace.clone(),
                authority_pid: args.authority_pid,
                executor_pid: args.executor_pid,
                description: format!(
                    "running services: authority {authority}, executor {executor}"
                ),
            }
        }
        _ => {
            eprintln!("starting trust-authority and tool-executor with the test kit...");
            let started = Cluster::start(ClusterOptions {
                insecure_plaintext: args.insecure_plaintext,
                ..ClusterOptions::default()
            })?;
            let target = Target {
                authority: started.authority_endpoint(),
                executor: started.executor_endpoint(),
                transport: started.transport(),
                agent_id: started.agent_id.clone(),
                agent_key: started.agent_key.clone(),
                user: "alice".into(),
                workspace: "demo".into(),
                authority_pid: started.authority.pid(),
                executor_pid: started.executor.as_ref().and_then(|e| e.pid()),
                description: format!(
                    "kit cluster in {} (authority {}, executor {}, checkpoint_every 16)",
                    started.dir.path().display(),
                    started.authority_endpoint(),
                    started.executor_endpoint()
                ),
            };
            std::fs::create_dir_all(started.workspace.join("src/load"))?;
            cluster = Some(started);
            target
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(run(args, mix, target));
    drop(runtime);
    drop(cluster);
    let ok = result?;
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}

struct MemorySeries {
    name: &'static str,
    pid: Option<u32>,
    samples: Vec<u64>,
}

/// Runs the load and prints the report; false if `--fail-on-error` and something failed.
async fn run(args: Args, mix: Mix, target: Target) -> anyhow::Result<bool> {
    wait_ready(&target).await?;
    let root_keys = AuthorityClient::connect(target.authority.clone(), &target.transport)
        .await?
        .public_keys()
        .await?;
    let memory = Arc::new(Mutex::new(vec![
        MemorySeries {
            name: "trust-authority",
            pid: target.authority_pid,
            samples: Vec::new(),
        },
        MemorySeries {
            name: "tool-executor",
            pid: target.executor_pid,
            samples: Vec::new(),
        },
    ]));
    let sample = {
        let memory = Arc::clone(&memory);
        move || {
            if let Ok(mut series) = memory.lock() {
                for s in series.iter_mut() {
                    if let Some(kib) = s.pid.and_then(rss_kib) {
                        s.samples.push(kib);
                    }
                }
            }
        }
    };
    sample();
    let description = target.description.clone();
    let plan = Arc::new(Plan {
        target,
        mix,
        requests: args.requests,
        duration: args.duration,
        rate: args.rate,
        run_every_ms: i64::try_from(args.run_every.as_millis()).unwrap_or(i64::MAX),
        register: !args.no_register,
        request_timeout: args.request_timeout,
        root_keys,
        issued: AtomicU64::new(0),
        last_run_ms: AtomicI64::new(0),
        start: Instant::now(),
    });
    let sampler = {
        let sample = sample.clone();
        let every = args.sample_every.max(Duration::from_millis(100));
        let stop_at = plan.start + args.duration;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            while Instant::now() < stop_at {
                tick.tick().await;
                sample();
            }
        })
    };
    let mut tasks = Vec::new();
    for id in 0..args.concurrency {
        tasks.push(tokio::spawn(worker(Arc::clone(&plan), id)));
    }
    // Workers stop by themselves; this bound only matters if a service stops answering.
    let hard_stop =
        tokio::time::Instant::from(plan.start) + args.duration + args.request_timeout * 2;
    let mut tally = Tally::default();
    let mut worker_failures = Vec::new();
    for task in tasks {
        let abort = task.abort_handle();
        match tokio::time::timeout_at(hard_stop, task).await {
            Ok(Ok(Ok(t))) => tally.merge(t),
            Ok(Ok(Err(e))) => worker_failures.push(format!("{e:#}")),
            Ok(Err(e)) => worker_failures.push(e.to_string()),
            Err(_) => {
                abort.abort();
                worker_failures.push("worker did not stop in time (aborted)".into());
            }
        }
    }
    let elapsed = plan.start.elapsed();
    sampler.abort();
    sample();

    // Report.
    let ok_total: usize = tally.ok.values().map(Vec::len).sum();
    let error_total: u64 = tally.errors.values().map(|(c, _)| *c).sum();
    let total = ok_total as u64 + error_total;
    let stopped_by = if plan.issued.load(Ordering::Relaxed) >= args.requests {
        format!("request count ({})", args.requests)
    } else {
        format!("duration ({:.0} s)", args.duration.as_secs_f64())
    };
    println!("# trust-load");
    println!();
    println!(
        "target: {description}; profile: {}",
        if cfg!(debug_assertions) {
            "debug (figures meaningless)"
        } else {
            "release"
        }
    );
    println!(
        "machine: nproc = {}, load average at end = {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1),
        std::fs::read_to_string("/proc/loadavg")
            .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_default()
    );
    println!(
        "settings: concurrency {}, rate {}, mix {}, proc.run every {}, derived grants {}, \
         request timeout {:?}",
        args.concurrency,
        if args.rate > 0.0 {
            format!("{}/s", args.rate)
        } else {
            "unlimited".into()
        },
        plan.mix.describe(),
        if plan.run_every_ms > 0 {
            format!("{} ms", plan.run_every_ms)
        } else {
            "never".into()
        },
        if plan.register {
            "registered"
        } else {
            "not registered"
        },
        args.request_timeout
    );
    println!(
        "stopped by: {stopped_by} after {:.2} s; {total} requests, {ok_total} ok, {error_total} errors; \
         throughput {:.1} requests/s ({:.1} ok/s)",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64().max(1e-9),
        ok_total as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    println!();
    println!("| kind | ok | errors | ok/s | p50 ms | p90 ms | p99 ms | max ms |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut kinds: Vec<Kind> = tally.ok.keys().copied().collect();
    kinds.extend(tally.errors.keys().map(|(k, _)| *k));
    kinds.sort();
    kinds.dedup();
    for kind in kinds {
        let mut samples = tally.ok.get(&kind).cloned().unwrap_or_default();
        samples.sort_unstable();
        let errors: u64 = tally
            .errors
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, (c, _))| *c)
            .sum();
        println!(
            "| {} | {} | {errors} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} |",
            kind.label(),
            samples.len(),
            samples.len() as f64 / elapsed.as_secs_f64().max(1e-9),
            percentile(&samples, 0.50),
            percentile(&samples, 0.90),
            percentile(&samples, 0.99),
            samples
                .last()
                .map(|m| f64::from(*m) / 1000.0)
                .unwrap_or(0.0),
        );
    }
    println!();
    if tally.errors.is_empty() {
        println!("errors by status: none");
    } else {
        println!("errors by status:");
        println!();
        println!("| kind | status | count | first message |");
        println!("| --- | --- | ---: | --- |");
        for ((kind, status), (count, first)) in &tally.errors {
            let first: String = first.chars().take(160).collect();
            println!("| {} | {status} | {count} | {first} |", kind.label());
        }
    }
    for failure in &worker_failures {
        println!("worker failed: {failure}");
    }
    println!();
    println!(
        "resident memory (VmRSS, sampled every {:?}):",
        args.sample_every
    );
    println!();
    println!("| service | pid | start | end | min | max | end vs start |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    if let Ok(series) = memory.lock() {
        for s in series.iter() {
            match (s.pid, s.samples.first(), s.samples.last()) {
                (Some(pid), Some(first), Some(last)) => {
                    let min = s.samples.iter().min().copied().unwrap_or(0);
                    let max = s.samples.iter().max().copied().unwrap_or(0);
                    println!(
                        "| {} | {pid} | {} | {} | {} | {} | {:+.1}% |",
                        s.name,
                        mib(*first),
                        mib(*last),
                        mib(min),
                        mib(max),
                        (*last as f64 - *first as f64) * 100.0 / (*first as f64).max(1.0)
                    );
                }
                _ => println!(
                    "| {} | - | unknown (pass --{}-pid) | | | | |",
                    s.name,
                    s.name
                        .trim_start_matches("trust-")
                        .trim_start_matches("tool-")
                ),
            }
        }
    }
    if let Ok(series) = memory.lock() {
        println!();
        for s in series.iter().filter(|s| s.samples.len() > 2) {
            // At most 24 evenly spaced samples, first and last included.
            let n = s.samples.len();
            let picks = n.min(24);
            let shown: Vec<String> = (0..picks)
                .map(|i| i * (n - 1) / (picks - 1).max(1))
                .map(|i| format!("{:.0}", s.samples[i] as f64 / 1024.0))
                .collect();
            println!("{} VmRSS over the run (MiB): {}", s.name, shown.join(" "));
        }
    }
    Ok(!(args.fail_on_error && (error_total > 0 || !worker_failures.is_empty())))
}
