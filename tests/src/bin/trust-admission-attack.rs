//! `trust-admission-attack`: appended blocks built to explode Datalog, sent to a real executor.
//!
//! Starts the authority and the executor with the test kit (loopback, same profile as this
//! binary), mints one grant, and sends, per attack kind (`trust_tests::datalog_attacks`), a
//! bounded number of requests without a valid holder proof (signed by a stranger's key) and
//! with one (signed by the holder). For each it prints the refusal, the executor's own time
//! per request (the `duration_us` of its provenance record, median and maximum), the round
//! trip, and the executor's peak and current resident memory (VmHWM, VmRSS of
//! `/proc/<pid>/status`) before and after, next to legitimate `fs.read` requests measured in
//! the same run. It stops by itself.
//!
//! `cargo run --release -p trust-tests --bin trust-admission-attack -- --requests 50`

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use biscuit_auth::Biscuit;
use clap::Parser;
use ed25519_dalek::SigningKey;
use trust_proto::executor::v1 as pb;
use trust_sdk::client::{now_ms, prepare_execute, root_key_provider, ExecutorClient};
use trust_sdk::provenance::ProvenanceEntry;
use trust_tests::datalog_attacks::attacks;
use trust_tests::{Cluster, ClusterOptions};

/// Explosive blocks against a real executor: its time and memory per refused request.
#[derive(Parser, Debug)]
#[command(about)]
struct Args {
    /// Requests per attack kind and variant (and legitimate reads per measurement).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    requests: u32,
}

/// VmHWM and VmRSS of `pid`, in KiB.
fn memory(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("malformed status line")?
            .parse()?)
    };
    Ok((field("VmHWM:")?, field("VmRSS:")?))
}

fn read_readme() -> pb::invocation::Operation {
    pb::invocation::Operation::Read(pb::ReadRequest {
        path: "README.md".into(),
        offset: 0,
        length: 0,
    })
}

/// Median and maximum of `values` (microseconds).
fn median_max(values: &mut [u64]) -> (u64, u64) {
    values.sort_unstable();
    let median = values.get(values.len() / 2).copied().unwrap_or(0);
    (median, values.last().copied().unwrap_or(0))
}

struct Measured {
    outcome: String,
    executor_us: (u64, u64),
    round_trip_us: (u64, u64),
    memory_before: (u64, u64),
    memory_after: (u64, u64),
}

struct Run<'a> {
    cluster: &'a Cluster,
    exec: ExecutorClient,
    pid: u32,
    requests: u32,
    /// Provenance records exported so far.
    last: u64,
}

impl Run<'_> {
    /// `duration_us` of every record since the last call, by request id.
    async fn durations(&mut self) -> anyhow::Result<HashMap<String, u64>> {
        let lines = self
            .exec
            .export_provenance(
                &self.cluster.auditor_id,
                &self.cluster.auditor_key,
                self.last,
            )
            .await?;
        let mut out = HashMap::new();
        for line in lines {
            if let ProvenanceEntry::Record(r) = serde_json::from_str::<ProvenanceEntry>(&line)? {
                self.last = self.last.max(r.sequence);
                out.insert(r.request_id.clone(), r.duration_us.unwrap_or(0));
            }
        }
        Ok(out)
    }

    async fn measure(&mut self, grant: &[u8], holder: &SigningKey) -> anyhow::Result<Measured> {
        let memory_before = memory(self.pid)?;
        let mut ids = Vec::new();
        let mut round_trips = Vec::new();
        let mut outcomes: HashMap<String, u32> = HashMap::new();
        for _ in 0..self.requests {
            let request = prepare_execute(grant, holder, read_readme(), now_ms());
            ids.push(trust_sdk::invocation::decode(&request.invocation).request_id);
            let started = Instant::now();
            let result = self.exec.send(request).await;
            round_trips.push(u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX));
            let outcome = match result {
                Ok(_) => "served".to_string(),
                Err(trust_sdk::SdkError::Rpc { code, message }) => {
                    let check = message.split(':').next().unwrap_or_default().to_string();
                    format!("{code} {check}")
                }
                Err(e) => format!("error {e}"),
            };
            *outcomes.entry(outcome).or_default() += 1;
        }
        let memory_after = memory(self.pid)?;
        let durations = self.durations().await?;
        let mut executor: Vec<u64> = ids
            .iter()
            .filter_map(|id| durations.get(id).copied())
            .collect();
        let mut outcome: Vec<String> = outcomes
            .into_iter()
            .map(|(o, n)| format!("{o} ×{n}"))
            .collect();
        outcome.sort();
        Ok(Measured {
            outcome: outcome.join(", "),
            executor_us: median_max(&mut executor),
            round_trip_us: median_max(&mut round_trips),
            memory_before,
            memory_after,
        })
    }
}

fn print_row(kind: &str, variant: &str, m: &Measured) {
    let ms = |us: u64| format!("{:.3}", us as f64 / 1000.0);
    println!(
        "| {kind} | {variant} | {} | {} / {} | {} / {} | {} → {} | {} → {} |",
        m.outcome,
        ms(m.executor_us.0),
        ms(m.executor_us.1),
        ms(m.round_trip_us.0),
        ms(m.round_trip_us.1),
        m.memory_before.0 / 1024,
        m.memory_after.0 / 1024,
        m.memory_before.1 / 1024,
        m.memory_after.1 / 1024,
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let cluster = Cluster::start(ClusterOptions::default())?;
    let pid = cluster
        .executor
        .as_ref()
        .and_then(|e| e.pid())
        .context("the executor has no process id")?;
    let answer = cluster
        .grant("attack", &[("fs.read", ""), ("fs.list", "")])
        .await?;
    let grant = answer.grant.context("no grant was issued")?;
    let keys = cluster.authority_client().await?.public_keys().await?;
    let token = Biscuit::from(&grant, root_key_provider(&keys))?;
    let stranger = trust_sdk::keys::generate();
    let mut run = Run {
        exec: cluster.executor_client().await?,
        cluster: &cluster,
        pid,
        requests: args.requests,
        last: 0,
    };
    // Warm up: connection, grant cache, allocator.
    run.measure(&grant, &cluster.agent_key).await?;
    println!(
        "{} requests per row; executor time = duration_us of its provenance record; memory in MiB",
        args.requests
    );
    println!();
    println!("| attack | holder proof | refused by | executor ms (median / max) | round trip ms (median / max) | VmHWM before → after | VmRSS before → after |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    print_row(
        "legitimate fs.read",
        "valid",
        &run.measure(&grant, &cluster.agent_key).await?,
    );
    for attack in attacks()? {
        let bytes = token.append(attack.block)?.to_vec()?;
        print_row(
            attack.name,
            "stranger's key",
            &run.measure(&bytes, &stranger).await?,
        );
        print_row(
            attack.name,
            "valid",
            &run.measure(&bytes, &cluster.agent_key).await?,
        );
        print_row(
            "legitimate fs.read",
            "valid",
            &run.measure(&grant, &cluster.agent_key).await?,
        );
    }
    // Give the executor a moment, then report where it ended.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (hwm, rss) = memory(pid)?;
    println!();
    println!(
        "executor at the end: VmHWM {} MiB, VmRSS {} MiB",
        hwm / 1024,
        rss / 1024
    );
    Ok(())
}
