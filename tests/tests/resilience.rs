//! Crash and fault tests on the real binaries (127.0.0.1 only):
//!
//! * `kill -9` of the authority, then of the executor, at random moments under load: after
//!   every restart each grant a client received is in the registry (admin `GetGrant`), each
//!   execution a client saw acknowledged has its records (intent and outcome for a write, the
//!   one read-only record for a read; found by request id and sequence in a signed export), and
//!   the chain verifies;
//! * a full disk (a 2 MiB tmpfs) and an unwritable directory (`chattr +i`) under the
//!   executor's provenance log: executions are refused with UNAVAILABLE, health reports
//!   NOT_SERVING, and once space (or write access) returns the same process serves again by
//!   itself (the same faults under the authority's registry: `authority_faults.rs`);
//! * damaged data directories at start (provenance log, registry, keyring): the binary exits
//!   non-zero with a clear message instead of serving.
//!
//! Rounds per crash test: `TRUST_CRASH_ROUNDS` (default 3; `scripts/crash-rounds.sh` runs 20).
//! The random moments come from `TRUST_CRASH_SEED` (default: the clock), printed for replay.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use prost::Message;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::client::{now_ms, prepare_execute, AuthorityClient, ExecutorClient, GrantSpec};
use trust_sdk::provenance::{ChainAnchor, ProvenanceEntry, RecordKind, READ_ONLY_OPERATIONS};
use trust_tests::binaries::binary;
use trust_tests::faults::{
    self, copy_dir, fill_disk, refused_to_start, truncate_half, Immutable, Tmpfs,
};
use trust_tests::{Cluster, ClusterOptions};

/// Most requests one load worker sends in a test (a bound on every loop).
const MAX_REQUESTS_PER_WORKER: u64 = 200_000;
/// How long a restarted service may take to serve again.
const SERVE_AGAIN_WITHIN: Duration = Duration::from_secs(30);

fn rounds() -> usize {
    std::env::var("TRUST_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3usize)
        .clamp(1, 500)
}

/// splitmix64 pseudo-random numbers, seeded from `TRUST_CRASH_SEED` or the clock.
struct Rng(u64);

impl Rng {
    fn seeded(test: &str) -> Self {
        let seed = std::env::var("TRUST_CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| now_ms() as u64);
        println!("{test}: TRUST_CRASH_SEED={seed}");
        Self(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.next() % (to - from))
    }
}

fn spec(task: &str, scopes: &[(&str, &str)]) -> GrantSpec {
    GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: task.into(),
        purpose: format!("resilience {task}"),
        scopes: scopes
            .iter()
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .collect(),
        ..Default::default()
    }
}

fn write(path: &str, content: &[u8]) -> Op {
    Op::Write(pb::WriteRequest {
        path: path.into(),
        content: content.to_vec(),
        ..Default::default()
    })
}

fn read(path: &str) -> Op {
    Op::Read(pb::ReadRequest {
        path: path.into(),
        offset: 0,
        length: 0,
    })
}

fn code(err: &trust_sdk::SdkError) -> String {
    match err {
        trust_sdk::SdkError::Rpc { code, .. } => code.clone(),
        other => format!("not an rpc error: {other}"),
    }
}

/// Stops or pauses load workers. Checks run paused, so each round checks what the load did
/// up to then without the load outrunning the check.
#[derive(Default)]
struct Switch {
    stop: AtomicBool,
    pause: AtomicBool,
}

impl Switch {
    /// Whether the worker should end; sleeps a little while paused.
    async fn stopped(&self) -> bool {
        while self.pause.load(Ordering::SeqCst) && !self.stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.stop.load(Ordering::SeqCst)
    }

    /// Pauses the load and lets requests in flight finish.
    async fn pause(&self) {
        self.pause.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    fn resume(&self) {
        self.pause.store(false, Ordering::SeqCst);
    }
}

/// Waits (bounded) until `counter` exceeds `above`.
async fn wait_beyond(counter: &AtomicU64, above: u64, what: &str) {
    let deadline = Instant::now() + SERVE_AGAIN_WITHIN;
    while counter.load(Ordering::SeqCst) <= above {
        assert!(
            Instant::now() < deadline,
            "{what} did not serve again within {SERVE_AGAIN_WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// kill -9 of the authority
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_authority_under_load_loses_no_granted_grant() {
    let rounds = rounds();
    let mut rng = Rng::seeded("authority kill -9");
    let mut cluster = Cluster::start(ClusterOptions::default()).unwrap();
    // Restart on the same port, so the executor's revocation feed and the clients reconnect.
    let args: Vec<String> = vec![
        "serve".into(),
        "--config".into(),
        cluster.authority_config.display().to_string(),
        "--listen".into(),
        cluster.authority.addr.to_string(),
    ];
    let endpoint = cluster.authority_endpoint();
    let transport = cluster.transport();
    let received: Arc<Mutex<Vec<String>>> = Arc::default();
    let granted = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(Switch::default());
    let mut workers = Vec::new();
    for w in 0..3 {
        let (endpoint, received, granted, failed, stop) = (
            endpoint.clone(),
            received.clone(),
            granted.clone(),
            failed.clone(),
            stop.clone(),
        );
        let (agent, key) = (cluster.agent_id.clone(), cluster.agent_key.clone());
        let transport = transport.clone();
        workers.push(tokio::spawn(async move {
            let mut client: Option<AuthorityClient> = None;
            for n in 0..MAX_REQUESTS_PER_WORKER {
                if stop.stopped().await {
                    break;
                }
                let Some(c) = client.as_mut() else {
                    client = AuthorityClient::connect(endpoint.clone(), &transport)
                        .await
                        .ok();
                    if client.is_none() {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    continue;
                };
                let task = format!("crash-{w}-{n}");
                match c
                    .request_grant(&agent, &key, &spec(&task, &[("fs.read", "src/")]))
                    .await
                {
                    Ok(answer) => {
                        let id = answer.grant_id.clone();
                        assert!(
                            answer.grant.is_some(),
                            "the authority refused {task}: {}",
                            answer.reason
                        );
                        received.lock().unwrap().push(id);
                        granted.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                        client = None;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        }));
    }
    let mut verified = 0usize;
    for round in 1..=rounds {
        let before = granted.load(Ordering::SeqCst);
        wait_beyond(&granted, before, "the authority").await;
        let pause = rng.millis(50, 600);
        tokio::time::sleep(pause).await;
        let at_kill = granted.load(Ordering::SeqCst);
        tokio::task::block_in_place(|| cluster.authority.kill9());
        tokio::task::block_in_place(|| cluster.authority.restart(Some(args.clone()))).unwrap();
        let after_restart = granted.load(Ordering::SeqCst);
        wait_beyond(&granted, after_restart, "the restarted authority").await;
        stop.pause().await;
        // Every grant any client has received so far (up to the kill and since) is recorded.
        let ids: Vec<String> = received.lock().unwrap()[verified..].to_vec();
        let mut admin = cluster.authority_client().await.unwrap();
        for id in &ids {
            let record = admin
                .get_grant(&cluster.admin_id, &cluster.admin_key, id)
                .await
                .unwrap_or_else(|e| panic!("round {round}: grant {id} was acknowledged but is not in the registry: {e}"));
            assert_eq!(&record.grant_id, id);
            assert_eq!(record.agent_id, "coder-1");
        }
        verified += ids.len();
        stop.resume();
        println!(
            "authority round {round}/{rounds}: killed {} ms into the round with {at_kill} grants acknowledged; \
             restarted; {verified} grants checked in the registry so far",
            pause.as_millis()
        );
    }
    stop.stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    // The rest, acknowledged after the last check.
    let ids: Vec<String> = received.lock().unwrap()[verified..].to_vec();
    let mut admin = cluster.authority_client().await.unwrap();
    for id in &ids {
        admin
            .get_grant(&cluster.admin_id, &cluster.admin_key, id)
            .await
            .unwrap();
    }
    verified += ids.len();
    println!(
        "authority: {rounds} kill -9 rounds, {verified} acknowledged grants all in the registry, \
         {} requests failed while it was down",
        failed.load(Ordering::SeqCst)
    );
    // The executor still admits grants of the restarted authority (keys and feed are back).
    let grant = cluster
        .grant("after-crashes", &[("fs.read", "")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(&grant, &cluster.agent_key, read("src/calc.sh"))
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------------------------
// kill -9 of the executor
// ---------------------------------------------------------------------------------------------

/// An execution the client saw acknowledged.
#[derive(Debug, Clone)]
struct Acked {
    request_id: String,
    sequence: u64,
    operation: &'static str,
}

struct ExecutionLoad {
    endpoint: Arc<RwLock<String>>,
    acked: Arc<Mutex<Vec<Acked>>>,
    count: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    stop: Arc<Switch>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl ExecutionLoad {
    fn start(cluster: &Cluster, grant: Vec<u8>, workers: usize) -> Self {
        let load = Self {
            endpoint: Arc::new(RwLock::new(cluster.executor_endpoint())),
            acked: Arc::default(),
            count: Arc::default(),
            failed: Arc::default(),
            stop: Arc::default(),
            workers: Vec::new(),
        };
        let grant = Arc::new(grant);
        let workers = (0..workers)
            .map(|w| {
                let (endpoint, acked, count, failed, stop) = (
                    load.endpoint.clone(),
                    load.acked.clone(),
                    load.count.clone(),
                    load.failed.clone(),
                    load.stop.clone(),
                );
                let (grant, key) = (grant.clone(), cluster.agent_key.clone());
                let transport = cluster.transport();
                tokio::spawn(async move {
                    let mut client: Option<(String, ExecutorClient)> = None;
                    for n in 0..MAX_REQUESTS_PER_WORKER {
                        if stop.stopped().await {
                            break;
                        }
                        let current = endpoint.read().unwrap().clone();
                        let connected = matches!(&client, Some((e, _)) if *e == current);
                        if !connected {
                            client = ExecutorClient::connect(current.clone(), &transport)
                                .await
                                .ok()
                                .map(|c| (current, c));
                            if client.is_none() {
                                tokio::time::sleep(Duration::from_millis(20)).await;
                            }
                            continue;
                        }
                        let Some((_, c)) = client.as_mut() else {
                            continue;
                        };
                        let (op, operation) = if n % 3 == 0 {
                            (read("src/calc.sh"), "fs.read")
                        } else {
                            let content = format!("worker {w} write {n}\n");
                            (
                                write(&format!("src/crash/w{w}-{}.txt", n % 4), content.as_bytes()),
                                "fs.write",
                            )
                        };
                        let request = prepare_execute(&grant, &key, op, now_ms());
                        let request_id = pb::Invocation::decode(request.invocation.as_slice())
                            .unwrap()
                            .request_id;
                        match c.send(request).await {
                            Ok(reply) => {
                                assert_eq!(reply.request_id, request_id);
                                acked.lock().unwrap().push(Acked {
                                    request_id,
                                    sequence: reply.provenance_sequence,
                                    operation,
                                });
                                count.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(_) => {
                                failed.fetch_add(1, Ordering::SeqCst);
                                client = None;
                                tokio::time::sleep(Duration::from_millis(10)).await;
                            }
                        }
                    }
                })
            })
            .collect();
        Self { workers, ..load }
    }

    async fn stop(self) {
        self.stop.stop.store(true, Ordering::SeqCst);
        for w in self.workers {
            w.await.unwrap();
        }
    }
}

/// Provenance records by request id: (kind, sequence, intent sequence, status).
type Records = HashMap<String, Vec<(RecordKind, u64, Option<u64>, Option<String>)>>;

/// Exports the provenance after `anchor` (a signed export, sealed by a fresh checkpoint),
/// verifies the chain from the anchor, and returns the records by request id and the
/// checkpoint the export ends with (the next anchor).
async fn export_and_verify(cluster: &Cluster, anchor: &ChainAnchor) -> (Records, ChainAnchor, u64) {
    let mut exec = cluster.executor_client().await.unwrap();
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, anchor.sequence)
        .await
        .unwrap();
    let (_, key) = exec.identity().await.unwrap();
    let summary = trust_sdk::provenance::verify_jsonl_from(
        std::io::Cursor::new(lines.join("\n")),
        &key,
        anchor.clone(),
        false,
    )
    .unwrap_or_else(|e| panic!("the chain does not verify after a restart: {e}"));
    let mut by_request: HashMap<String, Vec<_>> = HashMap::new();
    let mut last = None;
    for line in &lines {
        match serde_json::from_str::<ProvenanceEntry>(line).unwrap() {
            ProvenanceEntry::Record(r) => by_request
                .entry(r.request_id.clone())
                .or_default()
                .push((r.kind, r.sequence, r.intent_sequence, r.status.clone())),
            ProvenanceEntry::Checkpoint(c) => {
                last = Some(ChainAnchor {
                    sequence: c.sequence,
                    hash: c.hash,
                })
            }
        }
    }
    (
        by_request,
        last.expect("a sealed export ends with a checkpoint"),
        summary.records,
    )
}

/// Every acknowledged execution has its record at the acknowledged sequence: for a read-only
/// operation one `ReadOnly` record (no intent), for any other an `Outcome` and the `Intent` it
/// names (written before the operation ran).
fn assert_recorded(acked: &[Acked], records: &Records, context: &str) {
    for a in acked {
        let found = records.get(&a.request_id).unwrap_or_else(|| {
            panic!(
                "{context}: acknowledged {} {} has no provenance record",
                a.operation, a.request_id
            )
        });
        let read_only = READ_ONLY_OPERATIONS.contains(&a.operation);
        let expected = if read_only {
            RecordKind::ReadOnly
        } else {
            RecordKind::Outcome
        };
        let outcome = found
            .iter()
            .find(|(kind, sequence, _, _)| *kind == expected && *sequence == a.sequence)
            .unwrap_or_else(|| {
                panic!(
                    "{context}: no {expected:?} record #{} for {} {}: {found:?}",
                    a.sequence, a.operation, a.request_id
                )
            });
        assert_eq!(outcome.3.as_deref(), Some("ok"), "{context}: {a:?}");
        if read_only {
            assert_eq!(
                outcome.2, None,
                "{context}: a read-only record names an intent"
            );
            assert!(
                !found.iter().any(|(kind, ..)| *kind == RecordKind::Intent),
                "{context}: read-only {} has an intent record: {found:?}",
                a.request_id
            );
            continue;
        }
        let intent = outcome.2.expect("an outcome names its intent");
        assert!(
            found
                .iter()
                .any(|(kind, sequence, _, _)| *kind == RecordKind::Intent && *sequence == intent),
            "{context}: no intent record #{intent} for {}",
            a.request_id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_executor_under_load_loses_no_acknowledged_execution() {
    let rounds = rounds();
    let mut rng = Rng::seeded("executor kill -9");
    let mut cluster = Cluster::start(ClusterOptions::default()).unwrap();
    std::fs::create_dir_all(cluster.workspace.join("src/crash")).unwrap();
    let grant = cluster
        .grant("executor-crash", &[("fs.read", ""), ("fs.write", "src/")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let load = ExecutionLoad::start(&cluster, grant, 3);
    let mut anchor = ChainAnchor::genesis();
    let mut verified = 0usize;
    // Records of every incremental export so far (an intent may precede the last anchor).
    let mut seen: Records = HashMap::new();
    for round in 1..=rounds {
        let before = load.count.load(Ordering::SeqCst);
        wait_beyond(&load.count, before, "the executor").await;
        let pause = rng.millis(50, 600);
        tokio::time::sleep(pause).await;
        let at_kill = load.count.load(Ordering::SeqCst);
        tokio::task::block_in_place(|| cluster.executor.as_mut().unwrap().kill9());
        tokio::task::block_in_place(|| cluster.start_executor()).unwrap();
        *load.endpoint.write().unwrap() = cluster.executor_endpoint();
        let after_restart = load.count.load(Ordering::SeqCst);
        wait_beyond(&load.count, after_restart, "the restarted executor").await;
        load.stop.pause().await;
        // Snapshot what clients saw acknowledged so far, then export: every one is on record.
        let acked: Vec<Acked> = load.acked.lock().unwrap()[verified..].to_vec();
        let (records, next, count) = export_and_verify(&cluster, &anchor).await;
        for (request_id, mut found) in records {
            seen.entry(request_id).or_default().append(&mut found);
        }
        assert_recorded(&acked, &seen, &format!("round {round}"));
        verified += acked.len();
        println!(
            "executor round {round}/{rounds}: killed {} ms into the round with {at_kill} executions acknowledged; \
             restarted; export from #{} verified ({count} records), {verified} acknowledged executions found so far",
            pause.as_millis(),
            anchor.sequence
        );
        anchor = next;
        load.stop.resume();
    }
    let failed = load.failed.load(Ordering::SeqCst);
    let all = load.acked.clone();
    load.stop().await;
    // The whole chain, from genesis, verifies and holds every acknowledged execution.
    let acked = all.lock().unwrap().clone();
    let (records, _, count) = export_and_verify(&cluster, &ChainAnchor::genesis()).await;
    assert_recorded(&acked, &records, "final export");
    println!(
        "executor: {rounds} kill -9 rounds, {} acknowledged executions all on record, whole chain of {count} records verifies, \
         {failed} requests failed while it was down",
        acked.len()
    );
}

// ---------------------------------------------------------------------------------------------
// Full disk and unwritable directory: fail closed, NOT_SERVING, recover by itself
// ---------------------------------------------------------------------------------------------

const EXECUTOR_SERVICE: &str = "trust.executor.v1.Executor";

/// `trustctl health` for the executor service: "SERVING", "NOT_SERVING", ...
fn health(cluster: &Cluster) -> String {
    faults::health(
        &cluster.executor_endpoint(),
        EXECUTOR_SERVICE,
        cluster.ca_file().as_deref(),
    )
}

async fn wait_health(cluster: &Cluster, wanted: &str) {
    faults::wait_health(
        &cluster.executor_endpoint(),
        EXECUTOR_SERVICE,
        cluster.ca_file().as_deref(),
        wanted,
        Duration::from_secs(15),
    )
    .await
    .unwrap();
}

/// What the outage tests share: refuse during the fault, then serve again in the same process.
struct Outage {
    cluster: Cluster,
    grant: Vec<u8>,
    acked: Vec<Acked>,
    exec: ExecutorClient,
}

impl Outage {
    async fn start(cluster: Cluster) -> Self {
        let grant = cluster
            .grant("outage", &[("fs.read", ""), ("fs.write", "src/")])
            .await
            .unwrap()
            .grant
            .unwrap();
        let exec = cluster.executor_client().await.unwrap();
        let mut outage = Self {
            cluster,
            grant,
            acked: Vec::new(),
            exec,
        };
        for i in 0..5 {
            outage.write(&format!("src/before-{i}.txt")).await.unwrap();
        }
        assert_eq!(health(&outage.cluster), "SERVING");
        outage
    }

    async fn write(&mut self, path: &str) -> Result<(), trust_sdk::SdkError> {
        let request = prepare_execute(
            &self.grant,
            &self.cluster.agent_key,
            write(path, b"data"),
            now_ms(),
        );
        let request_id = pb::Invocation::decode(request.invocation.as_slice())
            .unwrap()
            .request_id;
        let reply = self.exec.send(request).await?;
        self.acked.push(Acked {
            request_id,
            sequence: reply.provenance_sequence,
            operation: "fs.write",
        });
        Ok(())
    }

    /// Writes until one is refused (the fault is noticed), then checks that further requests
    /// are refused with UNAVAILABLE without running and that health says NOT_SERVING.
    async fn expect_refusing(&mut self, fault: &str) {
        let mut first = None;
        for i in 0..200 {
            if let Err(e) = self.write(&format!("src/during-{i}.txt")).await {
                first = Some(e);
                break;
            }
        }
        let first = first.unwrap_or_else(|| panic!("{fault}: 200 executions succeeded"));
        assert_eq!(code(&first), "Unavailable", "{fault}: {first}");
        for i in 0..3 {
            let path = format!("src/refused-{i}.txt");
            let err = self
                .write(&path)
                .await
                .expect_err("an execution ran during the outage");
            assert_eq!(code(&err), "Unavailable", "{fault}: {err}");
            assert!(
                !self.cluster.workspace.join(&path).exists(),
                "{fault}: {path} was written without its intent record"
            );
        }
        wait_health(&self.cluster, "NOT_SERVING").await;
        // Recovery attempts keep failing while the fault lasts (three attempts at least).
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let err = self
            .write("src/still-refused.txt")
            .await
            .expect_err("served while the fault lasted");
        assert_eq!(code(&err), "Unavailable", "{fault}: {err}");
        assert_eq!(health(&self.cluster), "NOT_SERVING");
        println!("{fault}: executions refused with UNAVAILABLE, health NOT_SERVING");
    }

    /// After the fault is gone: the same process serves again by itself, and every execution
    /// acknowledged before and after is on record in a chain that verifies.
    async fn expect_recovered(&mut self, fault: &str, pid: Option<u32>) {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(20);
        let mut n = 0;
        loop {
            n += 1;
            match self.write(&format!("src/after-{n}.txt")).await {
                Ok(()) => break,
                Err(e) => {
                    assert_eq!(code(&e), "Unavailable", "{fault}: {e}");
                    assert!(
                        Instant::now() < deadline,
                        "{fault}: did not recover by itself: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let took = started.elapsed();
        assert_eq!(
            self.cluster.executor.as_ref().unwrap().pid(),
            pid,
            "the executor was restarted"
        );
        wait_health(&self.cluster, "SERVING").await;
        for i in 0..5 {
            self.write(&format!("src/recovered-{i}.txt")).await.unwrap();
        }
        let (records, _, count) = export_and_verify(&self.cluster, &ChainAnchor::genesis()).await;
        assert_recorded(&self.acked, &records, fault);
        println!(
            "{fault}: the same executor process (pid {pid:?}) served again {} ms after the fault was removed, \
             health SERVING; chain of {count} records verifies with all {} acknowledged executions",
            took.as_millis(),
            self.acked.len()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_executions_reports_not_serving_and_recovers_by_itself() {
    let mut cluster = Cluster::start(ClusterOptions {
        start_executor: false,
        ..Default::default()
    })
    .unwrap();
    // The whole executor data directory on a 2 MiB tmpfs.
    let data = cluster.path("executor-data");
    let Some(mount) = Tmpfs::mount(&data, "2m") else {
        println!("SKIP: cannot mount a tmpfs (needs root and mount permission); the full-disk test did not run");
        return;
    };
    cluster.start_executor().unwrap();
    let pid = cluster.executor.as_ref().unwrap().pid();
    let mut outage = Outage::start(cluster).await;
    // Fill the disk.
    let filler = data.join("filler");
    fill_disk(&filler, 4 << 20);
    let free = Command::new("df").arg(&data).output().unwrap();
    println!(
        "disk full: {}",
        String::from_utf8_lossy(&free.stdout)
            .lines()
            .last()
            .unwrap_or("")
    );
    outage.expect_refusing("disk full").await;
    std::fs::remove_file(&filler).unwrap();
    outage.expect_recovered("disk full", pid).await;
    drop(outage);
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_provenance_directory_refuses_then_recovers_by_itself_without_a_restart() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let pid = cluster.executor.as_ref().unwrap().pid();
    let data = cluster.path("executor-data/provenance");
    let mut outage = Outage::start(cluster).await;
    let Some(immutable) = Immutable::set(&data) else {
        println!(
            "SKIP: `chattr +i` is not supported here; the unwritable-directory test did not run"
        );
        return;
    };
    outage.expect_refusing("unwritable directory").await;
    drop(immutable);
    outage.expect_recovered("unwritable directory", pid).await;
}

// ---------------------------------------------------------------------------------------------
// Damaged data directories at start
// ---------------------------------------------------------------------------------------------

fn garble_middle(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    let end = (middle + 4096).min(bytes.len());
    bytes[middle..end].iter_mut().for_each(|b| *b ^= 0x5a);
    std::fs::write(path, bytes).unwrap();
}

/// Writes `config` with its `data_dir` line replaced (the copy of the data to start on).
fn config_with_data_dir(config: &Path, data_dir: &str, name: &str) -> PathBuf {
    let text = std::fs::read_to_string(config).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("data_dir") {
                format!("data_dir = \"{data_dir}\"")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = config.with_file_name(name);
    std::fs::write(&path, text).unwrap();
    path
}

type Damage = (&'static str, &'static str, fn(&Path));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_provenance_log_stops_the_executor_at_start_with_a_clear_message() {
    let mut cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let grant = cluster
        .grant("damage", &[("fs.write", "src/")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    for i in 0..150 {
        exec.execute(
            &grant,
            &cluster.agent_key,
            write(&format!("src/d-{}.txt", i % 4), b"x"),
        )
        .await
        .unwrap();
    }
    tokio::task::block_in_place(|| cluster.executor.as_mut().unwrap().kill9());
    let bin = binary("tool-executor", "tool-executor").unwrap();
    let damages: [Damage; 5] = [
        ("log file cut in half", "db", |p| truncate_half(p).unwrap()),
        ("4 KiB of the log file garbled", "db", garble_middle),
        ("log file deleted", "db", |p| {
            std::fs::remove_file(p).unwrap()
        }),
        ("sled config garbled", "conf", |p| {
            std::fs::write(p, b"garbage garbage garbage garbage").unwrap()
        }),
        ("tip mark garbled", "provenance.tip", |p| {
            std::fs::write(p, b"\x00\x01 garbage").unwrap()
        }),
    ];
    let pristine = cluster.path("executor-data");
    for (i, (what, file, damage)) in damages.iter().enumerate() {
        let name = format!("executor-data-damaged-{i}");
        copy_dir(&pristine, &cluster.path(&name)).unwrap();
        damage(&cluster.path(&name).join("provenance").join(file));
        let config = config_with_data_dir(
            &cluster.executor_config,
            &name,
            &format!("executor-damaged-{i}.toml"),
        );
        let args = vec![
            "serve".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--authority".into(),
            cluster.authority_endpoint(),
        ];
        let (message, status) =
            tokio::task::block_in_place(|| refused_to_start(&bin, &args, Duration::from_secs(30)))
                .unwrap_or_else(|e| panic!("{what}: did not refuse to start: {e}"));
        assert!(
            message.contains("provenance")
                && (message.contains("corrupt") || message.contains("missing")),
            "{what}: unclear message: {message}"
        );
        println!("executor, {what}: refused to start ({status}): {message}");
    }
    // The undamaged directory still starts and serves, with its whole chain.
    tokio::task::block_in_place(|| cluster.start_executor()).unwrap();
    let (_, _, count) = export_and_verify(&cluster, &ChainAnchor::genesis()).await;
    assert!(count >= 300, "{count}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_keyring_or_registry_stops_the_authority_at_start_with_a_clear_message() {
    let mut cluster = Cluster::start(ClusterOptions {
        start_executor: false,
        ..Default::default()
    })
    .unwrap();
    for i in 0..20 {
        cluster
            .grant(&format!("damage-{i}"), &[("fs.read", "")])
            .await
            .unwrap();
    }
    tokio::task::block_in_place(|| cluster.authority.kill9());
    let bin = binary("trust-authority", "trust-authority").unwrap();
    let damages: [Damage; 4] = [
        ("garbage in keys/keyring.json", "keys/keyring.json", |p| {
            std::fs::write(p, b"{ not json").unwrap()
        }),
        ("empty keys/keyring.json", "keys/keyring.json", |p| {
            std::fs::write(p, b"").unwrap()
        }),
        ("active root key file garbled", "keys", |dir| {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|n| n != "keyring.json") {
                    std::fs::write(&path, b"not a key").unwrap();
                }
            }
        }),
        ("registry sled config garbled", "registry/conf", |p| {
            std::fs::write(p, b"garbage garbage garbage garbage").unwrap()
        }),
    ];
    let pristine = cluster.path("authority-data");
    for (i, (what, file, damage)) in damages.iter().enumerate() {
        let name = format!("authority-data-damaged-{i}");
        copy_dir(&pristine, &cluster.path(&name)).unwrap();
        damage(&cluster.path(&name).join(file));
        let config = config_with_data_dir(
            &cluster.authority_config,
            &name,
            &format!("authority-damaged-{i}.toml"),
        );
        let args = vec![
            "serve".to_string(),
            "--config".into(),
            config.display().to_string(),
            "--listen".into(),
            "127.0.0.1:0".into(),
        ];
        let (message, status) =
            tokio::task::block_in_place(|| refused_to_start(&bin, &args, Duration::from_secs(30)))
                .unwrap_or_else(|e| panic!("{what}: did not refuse to start: {e}"));
        let lower = message.to_lowercase();
        assert!(
            ["keyring", "key", "registry", "corrupt"]
                .iter()
                .any(|w| lower.contains(w)),
            "{what}: unclear message: {message}"
        );
        println!("authority, {what}: refused to start ({status}): {message}");
    }
    // The undamaged directory still starts.
    tokio::task::block_in_place(|| cluster.authority.restart(None)).unwrap();
    cluster
        .grant("after", &[("fs.read", "")])
        .await
        .unwrap()
        .grant
        .unwrap();
}
