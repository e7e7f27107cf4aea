//! Scale (issue 6): minting and admission with 1,000 vs 1,000,000 grants in the registry and
//! 100,000 revoked ids, and the authority's resident memory at each size.
//!
//! - Two authorities run side by side from the test kit: "small" with 1,000 grants in its
//!   registry and "large" with up to 1,000,000 grants (100,000 of them revoked, one block id
//!   each: 100,000 revoked ids). The registry is written directly with
//!   `trust_authority::registry::SledRegistry` (batched `record_grants`, `revoke_grants`) plus
//!   one decision-log entry per grant written into the registry's `decisions` tree in the
//!   registry's own encoding, while the authority is stopped; then the authority is started on
//!   it. Filling stops early if it would take more than `SCALE_PREFILL_SECS` (default 60 s);
//!   the figure printed says how many grants were actually there.
//! - `RequestGrant` over gRPC (1 and 32 clients) alternates between the two authorities in
//!   rounds, so background load hits both alike.
//! - Resident memory (VmRSS, and the peak VmHWM) of each authority process after start and
//!   after the minting rounds, from /proc/PID/status.
//! - Admission in process (`Admission::admit`, 3-block grants) with 0 vs 100,000 revoked ids in
//!   `TrustState` (installed through `TrustState::apply_revocations`, as the feed does), first
//!   and repeated use, plus repeated use cycling over 1,000 vs 12,000 live grants (more than the
//!   executor's verified-grant cache holds).
//! - The executor process started against the large authority: time until it has synced the
//!   100,000 revocations and admits a request, and its resident memory.
//!
//! Run with `cargo bench -p trust-tests --bench scale` (`SCALE_GRANTS=N` and
//! `SCALE_PREFILL_SECS=S` override the large size and the fill budget). Prints figures; asserts
//! nothing.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use biscuit_auth::KeyPair;
use common::*;
use ed25519_dalek::SigningKey;
use sha2::{Digest, Sha256};
use tool_executor::admission::Admission;
use tool_executor::config::AdmissionLimits;
use tool_executor::operations::OperationLimits;
use tool_executor::trust_state::RevocationEntry;
use tool_executor::trust_state::TrustState;
use trust_authority::registry::{DecisionEntry, GrantEntry, Registry, SledRegistry};
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1 as pb;
use trust_sdk::attenuate::{attenuate, Attenuation};
use trust_sdk::client::{AuthorityClient, GrantSpec};
use trust_sdk::vocabulary::GrantClaims;
use trust_tests::{Cluster, ClusterOptions};

const SMALL: usize = 1_000;
const LARGE: usize = 1_000_000;
const REVOKED: usize = 100_000;
const PREFILL_BATCH: usize = 10_000;
const REVOKE_BATCH: usize = 1_000;
const ROUNDS: usize = 2;
/// (clients, most grants, time budget) per measured level.
const LEVELS: &[(usize, usize, Duration)] = &[
    (1, 1_500, Duration::from_secs(3)),
    (32, 6_000, Duration::from_secs(4)),
];
const SCOPES: &[(&str, &str)] = &[("fs.read", ""), ("proc.run", "test")];
const PATH: &str = "src/calc.sh";
/// Admission samples per case.
const ADMIT: usize = 1_500;
const ADMIT_CHUNK: usize = 50;
/// Live grants cycled through for the cache-capacity case (above the executor's cache size).
const WIDE: usize = 12_000;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

// ---------------------------------------------------------------- registry prefill

struct Prefill {
    target: usize,
    grants: usize,
    decisions: usize,
    revoked_ids: usize,
    grants_time: Duration,
    revoke_time: Duration,
    decisions_time: Duration,
    disk_bytes: u64,
    stopped_early: bool,
}

/// Ids shaped like the authority's (UUID v7 text), in time order, before any live grant.
fn prefill_id(base: u128, i: usize) -> String {
    uuid::Uuid::from_u128(base + i as u128).to_string()
}

/// A 64-byte block revocation id (a block signature in a real grant), as hex.
fn revocation_id(seed: &str, i: usize) -> Vec<u8> {
    let a: [u8; 32] = Sha256::digest(format!("{seed}-{i}-a").as_bytes()).into();
    let b: [u8; 32] = Sha256::digest(format!("{seed}-{i}-b").as_bytes()).into();
    [a, b].concat()
}

/// Writes up to `target` grants (and `revoked` revocations) into the registry at `dir`,
/// stopping the grant phase once `budget` is spent.
fn prefill(dir: &Path, target: usize, revoked: usize, budget: Duration) -> anyhow::Result<Prefill> {
    let base_grant = uuid::Uuid::now_v7().as_u128() & !0xffff_ffff_u128;
    let base_decision = (uuid::Uuid::now_v7().as_u128() & !0xffff_ffff_u128) + (1 << 40);
    let now = now_ms();
    let mut out = Prefill {
        target,
        grants: 0,
        decisions: 0,
        revoked_ids: 0,
        grants_time: Duration::ZERO,
        revoke_time: Duration::ZERO,
        decisions_time: Duration::ZERO,
        disk_bytes: 0,
        stopped_early: false,
    };
    {
        let registry = SledRegistry::open(dir)?;
        // The grant phase may use 45% of the budget: decisions cost about as much again.
        let grant_budget = budget.mul_f64(0.45);
        let start = Instant::now();
        while out.grants < target {
            if start.elapsed() > grant_budget {
                out.stopped_early = true;
                break;
            }
            let batch: Vec<GrantEntry> = (out.grants..(out.grants + PREFILL_BATCH).min(target))
                .map(|i| GrantEntry {
                    grant_id: prefill_id(base_grant, i),
                    parent_grant_id: None,
                    agent: "coder-1".into(),
                    user: "alice".into(),
                    workspace: "demo".into(),
                    task: format!("prefill-task-{}", i / 100),
                    correlation_id: prefill_id(base_decision + (1 << 41), i),
                    decision_id: prefill_id(base_decision, i),
                    issued_at_ms: now,
                    expires_at_ms: now + 15 * 60 * 1000,
                    root_key_id: 1,
                    revocation_ids: vec![hex::encode(revocation_id("prefill", i))],
                    revoked: false,
                    skill: None,
                })
                .collect();
            registry.record_grants(&batch)?;
            out.grants += batch.len();
        }
        out.grants_time = start.elapsed();
        // Revocations: the oldest `revoked` grants, in batches (one transaction + flush each).
        let start = Instant::now();
        let to_revoke = revoked.min(out.grants);
        let mut at = 0;
        while at < to_revoke {
            let ids: Vec<String> = (at..(at + REVOKE_BATCH).min(to_revoke))
                .map(|i| prefill_id(base_grant, i))
                .collect();
            let decision = DecisionEntry {
                decision_id: uuid::Uuid::now_v7().to_string(),
                time_ms: now,
                effect: "revoked".into(),
                reason: "scale benchmark prefill".into(),
                actor: "admin:ops".into(),
                revoked_grant_ids: ids.clone(),
                ..Default::default()
            };
            let entries = registry.revoke_grants(&ids, "scale benchmark", now, &decision)?;
            out.revoked_ids += entries.len();
            at += ids.len();
        }
        out.revoke_time = start.elapsed();
    }
    // One decision-log entry per grant, as `record_issue` writes it (the registry has no batch
    // call for decisions, and one flush per entry would take an hour): same tree, same key,
    // same serde_json encoding, one flush per batch.
    let start = Instant::now();
    {
        let db = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            .open()?;
        let decisions = db.open_tree("decisions")?;
        let scopes: Vec<(String, String)> = SCOPES
            .iter()
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .collect();
        let mut i = 0;
        while i < out.grants {
            let mut batch = sled::Batch::default();
            for j in i..(i + PREFILL_BATCH).min(out.grants) {
                let entry = DecisionEntry {
                    decision_id: prefill_id(base_decision, j),
                    time_ms: now,
                    agent: "coder-1".into(),
                    user: "alice".into(),
                    workspace: "demo".into(),
                    task: format!("prefill-task-{}", j / 100),
                    scopes: scopes.clone(),
                    effect: "allow".into(),
                    rule_ids: vec!["coding/read-anything".into()],
                    reason: "allowed by profile `coding`".into(),
                    grant_id: Some(prefill_id(base_grant, j)),
                    ..Default::default()
                };
                batch.insert(entry.decision_id.as_bytes(), serde_json::to_vec(&entry)?);
                out.decisions += 1;
            }
            decisions.apply_batch(batch)?;
            db.flush()?;
            i += PREFILL_BATCH;
        }
    }
    out.decisions_time = start.elapsed();
    out.disk_bytes = disk_usage(dir);
    Ok(out)
}

fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(m) = e.metadata() {
                total += if m.is_dir() {
                    disk_usage(&e.path())
                } else {
                    m.blocks() * 512
                };
            }
        }
    }
    total
}

// ---------------------------------------------------------------- authorities

struct Authority {
    name: &'static str,
    cluster: Cluster,
    prefill: Prefill,
    start_time: Duration,
    rss_start: Option<Mem>,
    rss_after: Option<Mem>,
    levels: Vec<LevelTotal>,
}

#[derive(Clone, Copy)]
struct Mem {
    rss_kib: u64,
    hwm_kib: u64,
}

fn mem(pid: Option<u32>) -> Option<Mem> {
    let pid = pid?;
    Some(Mem {
        rss_kib: proc_status_kib(pid, "VmRSS")?,
        hwm_kib: proc_status_kib(pid, "VmHWM")?,
    })
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

fn show_mem(m: Option<Mem>) -> String {
    match m {
        Some(m) => format!("{} MiB (peak {} MiB)", mib(m.rss_kib), mib(m.hwm_kib)),
        None => "?".into(),
    }
}

/// Starts an authority from the kit, stops it, fills its registry, starts it again.
fn authority(
    name: &'static str,
    grants: usize,
    revoked: usize,
    budget: Duration,
) -> anyhow::Result<Authority> {
    let mut cluster = Cluster::start(ClusterOptions {
        start_executor: false,
        ..Default::default()
    })?;
    cluster.authority.kill9();
    let prefill = prefill(
        &cluster.path("authority-data").join("registry"),
        grants,
        revoked,
        budget,
    )?;
    let t = Instant::now();
    cluster.authority.restart(None)?;
    let start_time = t.elapsed();
    // Settle, then read resident memory at rest.
    std::thread::sleep(Duration::from_millis(500));
    let rss_start = mem(cluster.authority.pid());
    Ok(Authority {
        name,
        cluster,
        prefill,
        start_time,
        rss_start,
        rss_after: None,
        levels: LEVELS
            .iter()
            .map(|(c, _, _)| LevelTotal {
                clients: *c,
                ok: 0,
                errors: 0,
                first_error: None,
                elapsed: Duration::ZERO,
                samples: Vec::new(),
            })
            .collect(),
    })
}

fn spec(task: &str) -> GrantSpec {
    GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: task.into(),
        purpose: "scale benchmark grant".into(),
        scopes: SCOPES
            .iter()
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .collect(),
        ..Default::default()
    }
}

struct LevelTotal {
    clients: usize,
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    samples: Vec<Duration>,
}

/// One level of `RequestGrant` load; adds its figures to `total`.
async fn run_level(
    cluster: &Cluster,
    clients: usize,
    most: usize,
    budget: Duration,
    total: &mut LevelTotal,
) -> anyhow::Result<()> {
    let issued = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client =
            AuthorityClient::connect(cluster.authority_endpoint(), &cluster.transport()).await?;
        let key = cluster.agent_key.clone();
        let agent = cluster.agent_id.clone();
        let issued = Arc::clone(&issued);
        let barrier = Arc::clone(&barrier);
        let spec = spec(&format!("scale-c{clients}-t{c}"));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            barrier.wait().await;
            let start = Instant::now();
            while issued.fetch_add(1, Ordering::Relaxed) < most && start.elapsed() < budget {
                let t = Instant::now();
                let answer = client.request_grant(&agent, &key, &spec).await;
                let took = t.elapsed();
                match answer {
                    Ok(a) if a.effect == Effect::Allow && a.grant.is_some() => latencies.push(took),
                    Ok(a) => {
                        errors += 1;
                        first_error
                            .get_or_insert(format!("not allowed: {:?} {}", a.effect, a.reason));
                    }
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e.to_string());
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    for t in tasks {
        let (l, e, f) = t.await?;
        total.ok += l.len();
        total.samples.extend(l);
        total.errors += e;
        if total.first_error.is_none() {
            total.first_error = f;
        }
    }
    total.elapsed += start.elapsed();
    Ok(())
}

// ---------------------------------------------------------------- admission

struct AdmitKeys {
    root: KeyPair,
    root_vk: ed25519_dalek::VerifyingKey,
    holder: SigningKey,
}

fn read_op() -> pb::invocation::Operation {
    pb::invocation::Operation::Read(pb::ReadRequest {
        path: PATH.into(),
        offset: 0,
        length: 0,
    })
}

/// Claims shaped like the coding profile's grant for `fs.read` on the whole workspace.
fn claims(keys: &AdmitKeys, grant_id: &str) -> anyhow::Result<GrantClaims> {
    coding_claims(
        &keys.holder.verifying_key(),
        grant_id,
        "coder-1",
        "scale benchmark",
        &[("fs.read", "")],
    )
}

/// A 3-block grant: the authority block and two attenuation blocks.
fn grant3(keys: &AdmitKeys, grant_id: &str) -> anyhow::Result<Vec<u8>> {
    let mut token = trust_sdk::vocabulary::authority_block(&claims(keys, grant_id)?)?
        .root_key_id(1)
        .build(&keys.root)?;
    token = attenuate(
        &token,
        &Attenuation {
            operations: Some(vec!["fs.read".into()]),
            prefixes: Some(vec!["src".into()]),
            limits: vec![("read_bytes".into(), 1_048_576)],
            ..Default::default()
        },
    )?;
    token = attenuate(
        &token,
        &Attenuation {
            prefixes: Some(vec![PATH.into()]),
            expires_at: Some(now_system() + Duration::from_secs(10 * 60)),
            ..Default::default()
        },
    )?;
    Ok(token.to_vec()?)
}

fn new_admission(trust: &Arc<TrustState>) -> Admission {
    Admission::new(
        Arc::clone(trust),
        AdmissionLimits {
            max_token_bytes: 16 * 1024,
            max_blocks: 16,
            max_request_bytes: 4 * 1024 * 1024,
            // Requests are signed before the timed section; a wide window keeps them valid.
            proof_window: Duration::from_secs(300),
            revocation_max_staleness: Duration::from_secs(3600),
            max_delegation_depth: 8,
        },
        OperationLimits::default(),
        vec!["demo".into()],
        SystemTime::UNIX_EPOCH,
    )
}

fn admit(admission: &Admission, request: &pb::ExecuteRequest) -> anyhow::Result<()> {
    let call = tool_executor::rpc::execute_call(request.clone());
    admission
        .admit(&call, now_system())
        .map(|_| ())
        .map_err(|r| anyhow::anyhow!("admission refused: {}", r.refusal))
}

struct AdmissionFigures {
    install_time: Duration,
    revoked_in_state: usize,
    first: [Stats; 2],
    repeated: [Stats; 2],
    narrow: Stats,
    wide: Stats,
}

fn admission_figures(runtime: &tokio::runtime::Runtime) -> anyhow::Result<AdmissionFigures> {
    let root_sk = trust_sdk::keys::generate();
    let keys = AdmitKeys {
        root: KeyPair::from(&trust_sdk::keys::to_biscuit_private(&root_sk)?),
        root_vk: root_sk.verifying_key(),
        holder: trust_sdk::keys::generate(),
    };
    let dir = tempfile::tempdir()?;
    let empty = Arc::new(TrustState::open(&dir.path().join("trust-empty"))?);
    empty.install(vec![(1, keys.root_vk, true)], now_ms());
    let full = Arc::new(TrustState::open(&dir.path().join("trust-full"))?);
    full.install(vec![(1, keys.root_vk, true)], now_ms());
    // 100,000 revoked ids through the feed's own entry point (in memory, then durably).
    let revocations: Vec<RevocationEntry> = (0..REVOKED)
        .map(|i| RevocationEntry {
            sequence: i as u64 + 1,
            grant_id: format!("revoked-{i}"),
            revocation_id: revocation_id("executor", i),
            reason: "scale benchmark".into(),
            catalog: None,
        })
        .collect();
    let t = Instant::now();
    for page in revocations.chunks(10_000) {
        runtime
            .block_on(full.apply_revocations(page))
            .map_err(anyhow::Error::msg)?;
    }
    let install_time = t.elapsed();
    let revoked_in_state = full.revocation_cursor() as usize;
    let admissions = [new_admission(&empty), new_admission(&full)];

    let fresh: Vec<Vec<Vec<u8>>> = (0..2)
        .map(|s| {
            (0..ADMIT)
                .map(|i| grant3(&keys, &format!("scale-first-{s}-{i:06}")))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .collect::<anyhow::Result<_>>()?;
    let reused = grant3(&keys, "scale-reused")?;
    let prepare =
        |g: &[u8]| trust_sdk::client::prepare_execute(g, &keys.holder, read_op(), now_ms());
    for a in &admissions {
        for _ in 0..20 {
            admit(a, &prepare(&reused))?;
        }
    }
    let first_requests: Vec<Vec<_>> = fresh
        .iter()
        .map(|set| set.iter().map(|g| prepare(g)).collect())
        .collect();
    let repeated_requests: Vec<Vec<_>> = (0..2)
        .map(|_| (0..ADMIT).map(|_| prepare(&reused)).collect())
        .collect();
    let mut first = [Vec::new(), Vec::new()];
    let mut repeated = [Vec::new(), Vec::new()];
    for at in (0..ADMIT).step_by(ADMIT_CHUNK) {
        let chunk = at..(at + ADMIT_CHUNK).min(ADMIT);
        for s in 0..2 {
            for r in &first_requests[s][chunk.clone()] {
                let t = Instant::now();
                admit(&admissions[s], r)?;
                first[s].push(t.elapsed());
            }
            for r in &repeated_requests[s][chunk.clone()] {
                let t = Instant::now();
                admit(&admissions[s], r)?;
                repeated[s].push(t.elapsed());
            }
        }
    }

    // Repeated use across many live grants: 1,000 (all cached) vs 12,000 (more than the
    // verified-grant cache holds). Each on its own admission with 100,000 revoked ids; the
    // second pass is measured.
    let cycle = |n: usize, tag: &str| -> anyhow::Result<Stats> {
        let admission = new_admission(&full);
        let grants: Vec<Vec<u8>> = (0..n)
            .map(|i| grant3(&keys, &format!("scale-{tag}-{i:06}")))
            .collect::<anyhow::Result<_>>()?;
        for g in &grants {
            admit(&admission, &prepare(g))?;
        }
        let measured: Vec<_> = grants.iter().take(ADMIT).map(|g| prepare(g)).collect();
        let mut samples = Vec::new();
        for r in &measured {
            let t = Instant::now();
            admit(&admission, r)?;
            samples.push(t.elapsed());
        }
        Ok(Stats::of(&mut samples))
    };
    let narrow = cycle(SMALL, "narrow")?;
    let wide = cycle(WIDE, "wide")?;
    Ok(AdmissionFigures {
        install_time,
        revoked_in_state,
        first: [Stats::of(&mut first[0]), Stats::of(&mut first[1])],
        repeated: [Stats::of(&mut repeated[0]), Stats::of(&mut repeated[1])],
        narrow,
        wide,
    })
}

// ---------------------------------------------------------------- main

fn main() -> anyhow::Result<()> {
    header("scale: minting and admission with 1,000 vs 1,000,000 grants and 100,000 revoked ids; authority memory");
    let run_start = Instant::now();
    let large_target = env_usize("SCALE_GRANTS", LARGE);
    let budget = Duration::from_secs(env_usize("SCALE_PREFILL_SECS", 60) as u64);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .enable_all()
        .build()?;

    let mut small = authority("small", SMALL, 0, budget)?;
    let mut large = authority("large", large_target, REVOKED, budget)?;
    // Write back the fill's dirty pages now, so no measurement shares the disk with them.
    let t = Instant::now();
    std::process::Command::new("sync").status()?;
    let sync_time = t.elapsed();
    eprintln!(
        "prefill done in {:.1} s: {} grants",
        run_start.elapsed().as_secs_f64(),
        large.prefill.grants
    );

    runtime.block_on(async {
        // Warm connections, caches and files on both.
        for a in [&small, &large] {
            let mut scratch = LevelTotal {
                clients: 4,
                ok: 0,
                errors: 0,
                first_error: None,
                elapsed: Duration::ZERO,
                samples: Vec::new(),
            };
            run_level(&a.cluster, 4, 200, Duration::from_secs(2), &mut scratch).await?;
        }
        for _ in 0..ROUNDS {
            for a in [&mut small, &mut large] {
                for (i, (clients, most, level_budget)) in LEVELS.iter().enumerate() {
                    run_level(&a.cluster, *clients, *most, *level_budget, &mut a.levels[i]).await?;
                }
            }
        }
        anyhow::Ok(())
    })?;
    for a in [&mut small, &mut large] {
        a.rss_after = mem(a.cluster.authority.pid());
    }

    // The executor against the large authority: time to sync 100,000 revocations and admit.
    let executor_ready = runtime.block_on(async {
        let answer = large
            .cluster
            .grant("scale-executor", &[("fs.read", "")])
            .await?;
        let grant = answer
            .grant
            .context("the large authority refused a grant")?;
        // Build (or confirm) the executor binary first: the kit runs cargo once per process.
        trust_tests::binaries::binary("tool-executor", "tool-executor")?;
        let t = Instant::now();
        large.cluster.start_executor()?;
        let started = t.elapsed();
        let mut client = large.cluster.executor_client().await?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match client
                .execute(&grant, &large.cluster.agent_key, read_op())
                .await
            {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(anyhow::anyhow!("executor never admitted: {e}")),
            }
        }
        let ready = t.elapsed();
        let pid = large.cluster.executor.as_ref().and_then(|e| e.pid());
        anyhow::Ok((started, ready, mem(pid)))
    })?;

    let admission = admission_figures(&runtime)?;

    // ---- report
    println!(
        "registry prefill (large): {} of {} grants target in {:.1} s ({}/s via record_grants in batches of {PREFILL_BATCH}){}; \
         {} revoked ids via revoke_grants in batches of {REVOKE_BATCH} in {:.1} s; {} decision entries in {:.1} s ({}/s); \
         registry on disk {} MiB (small: {} MiB); `sync` afterwards {:.1} s",
        rate(large.prefill.grants as f64),
        rate(large.prefill.target as f64),
        large.prefill.grants_time.as_secs_f64(),
        rate(per_sec(large.prefill.grants, large.prefill.grants_time)),
        if large.prefill.stopped_early {
            format!(" — STOPPED EARLY at the {} s fill budget", budget.as_secs())
        } else {
            String::new()
        },
        rate(large.prefill.revoked_ids as f64),
        large.prefill.revoke_time.as_secs_f64(),
        rate(large.prefill.decisions as f64),
        large.prefill.decisions_time.as_secs_f64(),
        rate(per_sec(large.prefill.decisions, large.prefill.decisions_time)),
        mib(large.prefill.disk_bytes / 1024),
        mib(small.prefill.disk_bytes / 1024),
        sync_time.as_secs_f64(),
    );
    println!();
    println!("| authority | grants in registry | revoked ids | start (process up, registry open) | RSS after start | RSS after minting |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for a in [&small, &large] {
        println!(
            "| {} | {} | {} | {} ms | {} | {} |",
            a.name,
            rate(a.prefill.grants as f64),
            rate(a.prefill.revoked_ids as f64),
            a.start_time.as_millis(),
            show_mem(a.rss_start),
            show_mem(a.rss_after),
        );
    }
    println!();
    println!("| RequestGrant over gRPC | clients | n | grants/s | p50 ms | p99 ms | large ÷ small (grants/s; p99) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    let mut stats = Vec::new();
    for a in [&mut small, &mut large] {
        let s: Vec<(usize, usize, f64, Stats)> = a
            .levels
            .iter_mut()
            .map(|l| {
                (
                    l.clients,
                    l.ok,
                    per_sec(l.ok, l.elapsed),
                    Stats::of(&mut l.samples),
                )
            })
            .collect();
        stats.push(s);
    }
    for (ai, a) in [&small, &large].iter().enumerate() {
        for (li, (clients, n, r, s)) in stats[ai].iter().enumerate() {
            let (_, _, small_rate, small_stats) = stats[0][li];
            println!(
                "| {} ({} grants) | {clients} | {n} | {} | {} | {} | {} |",
                a.name,
                rate(a.prefill.grants as f64),
                rate(*r),
                ms(s.p50),
                ms(s.p99),
                if ai == 0 {
                    "1.00".into()
                } else {
                    format!(
                        "{:.2}; {:.2}",
                        r / small_rate.max(1e-9),
                        s.p99.as_secs_f64() / small_stats.p99.as_secs_f64().max(1e-9)
                    )
                }
            );
        }
    }
    for a in [&small, &large] {
        for l in &a.levels {
            if l.errors > 0 {
                println!(
                    "{} clients {}: {} requests failed; first: {}",
                    a.name,
                    l.clients,
                    l.errors,
                    l.first_error.as_deref().unwrap_or("?")
                );
            }
        }
    }
    println!();
    println!(
        "executor started against the large authority: process up in {} ms, first request admitted after {} ms \
         (revocation feed from cursor 0: {} revoked ids); executor RSS then {}",
        executor_ready.0.as_millis(),
        executor_ready.1.as_millis(),
        rate(large.prefill.revoked_ids as f64),
        show_mem(executor_ready.2),
    );
    println!();
    println!(
        "admission in process, 3-block grant with holder proof, one core; {} revoked ids installed with \
         TrustState::apply_revocations in {} ms:",
        rate(admission.revoked_in_state as f64),
        admission.install_time.as_millis()
    );
    println!();
    println!(
        "| admission | revoked ids in TrustState | n | p50 µs | p99 µs | ratio p50 to 0 revoked |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (label, pair) in [
        ("first use", admission.first),
        ("repeated use", admission.repeated),
    ] {
        for (s, revoked) in pair.iter().zip([0, REVOKED]) {
            println!(
                "| {label} | {} | {} | {} | {} | {:.2} |",
                rate(revoked as f64),
                s.n,
                us(s.p50),
                us(s.p99),
                s.p50.as_secs_f64() / pair[0].p50.as_secs_f64().max(1e-9)
            );
        }
    }
    println!(
        "| repeated use cycling over {} live grants (all in the verified-grant cache) | {} | {} | {} | {} | - |",
        rate(SMALL as f64),
        rate(REVOKED as f64),
        admission.narrow.n,
        us(admission.narrow.p50),
        us(admission.narrow.p99)
    );
    println!(
        "| repeated use cycling over {} live grants (more than the verified-grant cache holds) | {} | {} | {} | {} | {:.2} of the 1,000 case |",
        rate(WIDE as f64),
        rate(REVOKED as f64),
        admission.wide.n,
        us(admission.wide.p50),
        us(admission.wide.p99),
        admission.wide.p50.as_secs_f64() / admission.narrow.p50.as_secs_f64().max(1e-9)
    );
    println!();
    println!(
        "notes: both authorities run at once and the minting rounds alternate between them ({ROUNDS} rounds; levels {:?} \
         stop at their grant count or time budget); client and servers share the same {} cores. The registry fill \
         writes grants with the registry's batch call and decisions straight into its `decisions` tree (same \
         encoding), so it costs far less than {} RequestGrant calls would. Whole run {:.0} s.",
        LEVELS.iter().map(|(c, n, b)| format!("{c} clients: {n} or {}s", b.as_secs())).collect::<Vec<_>>(),
        cores(),
        rate(large.prefill.grants as f64),
        run_start.elapsed().as_secs_f64()
    );
    Ok(())
}
