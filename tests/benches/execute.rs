//! `Execute` end to end over gRPC on the real executor and authority processes: admission,
//! a 4 KiB `fs.read`, its durable provenance (one `read_only` record: a read has no intent
//! record), the reply. The records written per execution are counted from the export.
//!
//! Floors measured in the same run: a no-op gRPC round trip on the same executor
//! (`GetIdentity`), the raw admission floor for the same grant (parse + verify + authorize +
//! holder proof `verify_strict`), and the in-process provenance append (group-committed sled
//! flush), also reported on its own as records/s at several concurrencies.
//!
//! Run with `cargo bench -p trust-tests --bench execute`. Prints figures; asserts nothing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use biscuit_auth::builder;
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit};
use common::*;
use tool_executor::operations::{Operation, OperationLimits};
use tool_executor::provenance_log::ProvenanceLog;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::execute_response::Result as R;
use trust_sdk::client::{ExecutorClient, Transport};
use trust_sdk::provenance::{parameters_digest, ProvenanceEntry, ProvenanceRecord, RecordKind};
use trust_tests::{Cluster, ClusterOptions};

const PATH: &str = "src/bench.txt";
const FILE_BYTES: usize = 4096;
const PER_LEVEL_DEFAULT: usize = 2_000;
const LEVEL_BUDGET_DEFAULT: Duration = Duration::from_secs(6);
const LEVELS_DEFAULT: &[usize] = &[1, 8, 32];
const APPEND_LEVELS: &[usize] = &[1, 8, 32, 128];
const APPEND_BUDGET: Duration = Duration::from_secs(2);

/// `name` from the environment, parsed, or `default` (for profiling runs: longer levels, one
/// concurrency, no append section).
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Client counts to run (`EXECUTE_LEVELS=1,8,32`).
fn levels() -> Vec<usize> {
    std::env::var("EXECUTE_LEVELS")
        .ok()
        .map(|v| v.split(',').filter_map(|c| c.trim().parse().ok()).collect())
        .filter(|l: &Vec<usize>| !l.is_empty())
        .unwrap_or_else(|| LEVELS_DEFAULT.to_vec())
}

fn read_op() -> pb::invocation::Operation {
    pb::invocation::Operation::Read(pb::ReadRequest {
        path: PATH.into(),
        offset: 0,
        length: 0,
    })
}

#[derive(Clone, Copy, PartialEq)]
enum Call {
    Execute,
    Identity,
}

struct Level {
    clients: usize,
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    stats: Stats,
}

impl Level {
    fn rate(&self) -> f64 {
        per_sec(self.ok, self.elapsed)
    }
}

#[allow(
    clippy::too_many_arguments,
    reason = "one bench level's knobs, named at the call site"
)]
async fn run_level(
    endpoint: &str,
    transport: &Transport,
    grant: &Arc<Vec<u8>>,
    key: &ed25519_dalek::SigningKey,
    call: Call,
    clients: usize,
    total: usize,
    budget: Duration,
) -> anyhow::Result<Level> {
    let issued = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let mut client = ExecutorClient::connect(endpoint.to_string(), transport).await?;
        let grant = Arc::clone(grant);
        let key = key.clone();
        let issued = Arc::clone(&issued);
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut first_error: Option<String> = None;
            barrier.wait().await;
            let start = Instant::now();
            while issued.fetch_add(1, Ordering::Relaxed) < total && start.elapsed() < budget {
                let outcome = match call {
                    Call::Execute => {
                        // A fresh invocation and proof for every request (proofs are single-use).
                        let request =
                            trust_sdk::client::prepare_execute(&grant, &key, read_op(), now_ms());
                        let t = Instant::now();
                        let reply = client.send(request).await;
                        let took = t.elapsed();
                        match reply {
                            Ok(r) => match r.result {
                                Some(R::Read(read)) if read.data.len() == FILE_BYTES => Ok(took),
                                other => Err(format!("unexpected result: {other:?}")),
                            },
                            Err(e) => Err(e.to_string()),
                        }
                    }
                    Call::Identity => {
                        let t = Instant::now();
                        client
                            .identity()
                            .await
                            .map(|_| t.elapsed())
                            .map_err(|e| e.to_string())
                    }
                };
                match outcome {
                    Ok(took) => latencies.push(took),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies, errors, first_error)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    for t in tasks {
        let (l, e, f) = t.await?;
        all.extend(l);
        errors += e;
        if first_error.is_none() {
            first_error = f;
        }
    }
    let elapsed = start.elapsed();
    Ok(Level {
        clients,
        ok: all.len(),
        errors,
        first_error,
        elapsed,
        stats: Stats::of(&mut all),
    })
}

/// A record shaped like the executor's record of this read.
fn record(i: usize) -> ProvenanceRecord {
    let parameters = serde_json::json!({"path": PATH, "offset": 0, "length": 0});
    ProvenanceRecord {
        time_ms: now_ms(),
        kind: RecordKind::ReadOnly,
        request_id: format!("0190bench-{i:012}"),
        grant_id: Some("0190bench-grant".into()),
        lineage: vec!["ab".repeat(32)],
        correlation_id: Some("0190bench-correlation".into()),
        agent: Some("coder-1".into()),
        user: Some("alice".into()),
        task: Some("bench".into()),
        holder_key: Some("cd".repeat(32)),
        operation: "fs.read".into(),
        resources: vec![PATH.into()],
        parameters_digest: parameters_digest(&parameters),
        parameters,
        decision: "allow".into(),
        reasons: vec![
            "revocation".into(),
            "signature".into(),
            "holder-proof".into(),
            "grant-scope".into(),
            "parameters".into(),
        ],
        ..Default::default()
    }
}

struct AppendLevel {
    appenders: usize,
    records: usize,
    elapsed: Duration,
    stats: Stats,
}

async fn append_level(log: &ProvenanceLog, appenders: usize) -> anyhow::Result<AppendLevel> {
    let barrier = Arc::new(tokio::sync::Barrier::new(appenders + 1));
    let mut tasks = Vec::new();
    for a in 0..appenders {
        let log = log.clone();
        let barrier = Arc::clone(&barrier);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            barrier.wait().await;
            let start = Instant::now();
            let mut i = a * 10_000_000;
            while start.elapsed() < APPEND_BUDGET {
                i += 1;
                let t = Instant::now();
                log.append(record(i)).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    barrier.wait().await;
    let start = Instant::now();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let elapsed = start.elapsed();
    Ok(AppendLevel {
        appenders,
        records: all.len(),
        elapsed,
        stats: Stats::of(&mut all),
    })
}

/// Raw admission floor for an already-verified `grant`: authorize with the ambient facts and
/// verify the holder proof.
fn admission_floor(
    grant: &[u8],
    keys: &[(u32, ed25519_dalek::VerifyingKey, bool)],
    holder: &ed25519_dalek::SigningKey,
) -> anyhow::Result<Stats> {
    let requests: Vec<_> = (0..1000)
        .map(|_| trust_sdk::client::prepare_execute(grant, holder, read_op(), now_ms()))
        .collect();
    let holder_vk = holder.verifying_key();
    // The executor's ambient `param` facts: the read's own, and 0 for every other limit name.
    let params = Operation::Read {
        path: PATH.into(),
        offset: 0,
        length: 0,
    }
    .all_params(&OperationLimits::default());
    // The executor caches verified grants, so a reused grant's floor skips parse + signatures.
    let token = Biscuit::from(grant, trust_sdk::client::root_key_provider(keys))?;
    let mut samples = Vec::new();
    for r in &requests {
        let t = Instant::now();
        let mut b = AuthorizerBuilder::new()
            .set_limits(AuthorizerLimits {
                max_facts: 2_000,
                max_iterations: 200,
                // A floor, not a bound: a preempted sample on a busy machine must not end the run.
                max_time: Duration::from_secs(5),
            })
            .fact(builder::fact("time", &[builder::date(&now_system())]))?
            .fact(builder::fact("operation", &[builder::string("fs.read")]))?
            .fact(builder::fact("resource", &[builder::string(PATH)]))?;
        for (name, value) in &params {
            b = b.fact(builder::fact(
                "param",
                &[builder::string(name), builder::int(*value)],
            ))?;
        }
        let mut authorizer = b
            .fact(builder::fact(
                "holder_proof",
                &[builder::bytes(holder_vk.as_bytes())],
            ))?
            .fact(builder::fact(
                "served_workspace",
                &[builder::string("demo")],
            ))?
            .policy("allow if true")?
            .build(&token)?;
        authorizer.authorize()?;
        trust_sdk::proof::verify(&r.grant, &r.invocation, &holder_vk, &r.proof)?;
        samples.push(t.elapsed());
    }
    Ok(Stats::of(&mut samples))
}

/// What the executor recorded for the fs.read executions after `after`.
struct Recorded {
    /// Each execution's `duration_us` from the record carrying its outcome: admission (+ the
    /// durable intent, where there is one) + the read, before that record is written.
    durations: Stats,
    /// Records written per execution (2 for intent + outcome, 1 for a single read-only record).
    records_per_execution: f64,
    /// Last sequence seen.
    last: u64,
}

async fn server_durations(
    client: &mut ExecutorClient,
    cluster: &Cluster,
    after: u64,
) -> anyhow::Result<Recorded> {
    let lines = client
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, after)
        .await?;
    let mut samples = Vec::new();
    let mut records = 0usize;
    let mut last = after;
    for line in lines {
        if let ProvenanceEntry::Record(r) = serde_json::from_str::<ProvenanceEntry>(&line)? {
            last = last.max(r.sequence);
            if r.operation == "fs.read" && r.kind != RecordKind::Refusal {
                records += 1;
                if r.kind.has_outcome() {
                    samples.push(Duration::from_micros(r.duration_us.unwrap_or(0)));
                }
            }
        }
    }
    Ok(Recorded {
        records_per_execution: records as f64 / samples.len().max(1) as f64,
        durations: Stats::of(&mut samples),
        last,
    })
}

fn main() -> anyhow::Result<()> {
    header("execute: fs.read of 4 KiB over gRPC with durable provenance vs. floors");
    let per_level = env_or("EXECUTE_PER_LEVEL", PER_LEVEL_DEFAULT);
    let level_budget = Duration::from_secs(env_or(
        "EXECUTE_BUDGET_SECS",
        LEVEL_BUDGET_DEFAULT.as_secs(),
    ));
    let levels_wanted = levels();
    let append_levels: &[usize] = if env_or("EXECUTE_SKIP_APPEND", 0u8) == 1 {
        &[]
    } else {
        APPEND_LEVELS
    };
    let n_cores = cores();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n_cores)
        .enable_all()
        .build()?;
    let cluster = Cluster::start(ClusterOptions {
        insecure_plaintext: insecure_plaintext(),
        ..ClusterOptions::default()
    })?;
    let content: Vec<u8> = (0..FILE_BYTES).map(|i| b'a' + (i % 26) as u8).collect();
    std::fs::write(cluster.workspace.join(PATH), &content)?;
    let endpoint = cluster.executor_endpoint();
    let transport = cluster.transport();

    let (levels, floors, servers, grant_len, admission) = runtime.block_on(async {
        let answer = cluster.grant("bench-execute", &[("fs.read", "")]).await?;
        let grant = Arc::new(
            answer
                .grant
                .context("the authority refused the benchmark grant")?,
        );
        let keys = cluster.authority_client().await?.public_keys().await?;
        // Wait for the executor's first revocation sync (admission fails closed until then).
        let mut client = cluster.executor_client().await?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match client.execute(&grant, &cluster.agent_key, read_op()).await {
                Ok(_) => break,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => return Err(anyhow::anyhow!("executor never admitted the grant: {e}")),
            }
        }
        let admission = admission_floor(&grant, &keys, &cluster.agent_key)?;
        // Warm up.
        run_level(
            &endpoint,
            &transport,
            &grant,
            &cluster.agent_key,
            Call::Execute,
            4,
            200,
            level_budget,
        )
        .await?;
        run_level(
            &endpoint,
            &transport,
            &grant,
            &cluster.agent_key,
            Call::Identity,
            4,
            200,
            level_budget,
        )
        .await?;
        let mut seen = server_durations(&mut client, &cluster, 0).await?.last;
        let mut levels = Vec::new();
        let mut floors = Vec::new();
        let mut servers = Vec::new();
        for &c in &levels_wanted {
            levels.push(
                run_level(
                    &endpoint,
                    &transport,
                    &grant,
                    &cluster.agent_key,
                    Call::Execute,
                    c,
                    per_level,
                    level_budget,
                )
                .await?,
            );
            let server = server_durations(&mut client, &cluster, seen).await?;
            seen = server.last;
            servers.push(server);
            floors.push(
                run_level(
                    &endpoint,
                    &transport,
                    &grant,
                    &cluster.agent_key,
                    Call::Identity,
                    c,
                    per_level,
                    Duration::from_secs(3),
                )
                .await?,
            );
        }
        anyhow::Ok((levels, floors, servers, grant.len(), admission))
    })?;
    drop(cluster);

    // Provenance append on its own (in process, same filesystem as the executor's data).
    let dir = tempfile::tempdir()?;
    let appends = runtime.block_on(async {
        let log = ProvenanceLog::open(
            &dir.path().join("provenance"),
            trust_sdk::keys::generate(),
            16,
        )?;
        for i in 0..50 {
            log.append(record(i)).await?;
        }
        let mut out = Vec::new();
        for &a in append_levels {
            out.push(append_level(&log, a).await?);
        }
        anyhow::Ok(out)
    })?;
    let append_at = |c: usize| appends.iter().find(|a| a.appenders == c);

    println!(
        "request: fs.read `{PATH}` ({FILE_BYTES} B), grant {grant_len} B (1 block), fresh proof per request (signed untimed, client side); \
         executor checkpoint_every = 16"
    );
    println!();
    println!("| measurement | clients | n | per second | p50 ms | p99 ms | ratio to floor |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| floor: raw admission of an already-verified grant (authorize + verify_strict), 1 core | - | {} | {} | {} | {} | - |",
        admission.n,
        rate(1.0 / admission.p50.as_secs_f64().max(1e-9)),
        ms(admission.p50),
        ms(admission.p99)
    );
    for ((l, f), server) in levels.iter().zip(&floors).zip(&servers) {
        println!(
            "| floor: no-op gRPC round trip (GetIdentity) | {} | {} | {} | {} | {} | - |",
            f.clients,
            f.ok,
            rate(f.rate()),
            ms(f.stats.p50),
            ms(f.stats.p99)
        );
        let append = append_at(l.clients);
        // Each execution appends its records one after the other, C executions in flight.
        let per_exec = server.records_per_execution.max(1.0);
        let provenance_ceiling = append.map(|a| per_sec(a.records, a.elapsed) / per_exec);
        let cpu_ceiling = n_cores as f64 / admission.p50.as_secs_f64().max(1e-9);
        let ceiling = [Some(f.rate()), provenance_ceiling, Some(cpu_ceiling)]
            .into_iter()
            .flatten()
            .fold(f64::INFINITY, f64::min);
        let latency_floor = f.stats.p50
            + admission.p50
            + append
                .map(|a| a.stats.p50.mul_f64(per_exec))
                .unwrap_or_default();
        println!(
            "| Execute fs.read (admit, read, {:.2} durable records each) | {} | {} | {} | {} | {} | {:.2} of ceiling {}/s; p50 = {:.1} × floor p50 {} ms |",
            server.records_per_execution,
            l.clients,
            l.ok,
            rate(l.rate()),
            ms(l.stats.p50),
            ms(l.stats.p99),
            l.rate() / ceiling,
            rate(ceiling),
            l.stats.p50.as_secs_f64() / latency_floor.as_secs_f64().max(1e-9),
            ms(latency_floor),
        );
        println!(
            "| executor-side part of those (`duration_us` of the record with the outcome: admit + read, + intent flush if any) | {} | {} | - | {} | {} | - |",
            l.clients,
            server.durations.n,
            ms(server.durations.p50),
            ms(server.durations.p99)
        );
    }
    println!();
    println!("provenance append alone (in-process ProvenanceLog, group commit, one sled flush per batch):");
    println!();
    println!("| concurrent appenders | records | records/s | p50 ms | p99 ms | est. flushes/s (records/s ÷ appenders) |");
    println!("| ---: | ---: | ---: | ---: | ---: | --- |");
    for a in &appends {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            a.appenders,
            a.records,
            rate(per_sec(a.records, a.elapsed)),
            ms(a.stats.p50),
            ms(a.stats.p99),
            rate(per_sec(a.records, a.elapsed) / a.appenders as f64),
        );
    }
    println!();
    for l in levels.iter().chain(&floors) {
        if l.errors > 0 {
            println!(
                "clients {}: {} requests failed; first: {}",
                l.clients,
                l.errors,
                l.first_error.as_deref().unwrap_or("?")
            );
        }
    }
    println!(
        "notes: the grant is reused, so the executor's verified-grant cache applies and the admission floor is authorize + holder proof; \
         ceiling = min(GetIdentity/s at the same C, provenance records/s at the same C ÷ records per execution, cores ÷ raw admission); \
         latency floor = GetIdentity p50 + raw admission p50 + records per execution × append p50 at the same C. \
         Client and servers share the same {n_cores} cores. Each level stops at {per_level} requests or {}s.",
        level_budget.as_secs()
    );
    Ok(())
}
