//! Revocation reach: how long from an admin's `RevokeGrant` until a running executor refuses
//! the grant, over 1,000 revocations, on the real authority and executor processes.
//!
//! For each of 1,000 grants (each already used once, so the executor has it verified and
//! cached): revoke it, then execute with it until the executor refuses it for revocation.
//! Alongside, a `WatchRevocations` subscriber in this process records when each revocation
//! arrives on the feed. Printed:
//! - RevokeGrant round trip (the authority answers after the revocation is durable);
//! - revoke → on the feed (what every executor's stream sees);
//! - revoke → refused at the executor (the first refused execution returned);
//! - how many executions were still admitted after `RevokeGrant` had returned.
//!
//! Run with `cargo bench -p trust-tests --bench revocation`. Prints figures; asserts nothing.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use common::*;
use trust_proto::authority::v1::Effect;
use trust_proto::executor::v1 as pb;
use trust_sdk::client::{GrantSpec, RevocationTarget};
use trust_tests::{Cluster, ClusterOptions};

const REVOCATIONS: usize = 1_000;

fn read_op() -> pb::invocation::Operation {
    pb::invocation::Operation::Read(pb::ReadRequest {
        path: "src/calc.sh".into(),
        offset: 0,
        length: 64,
    })
}

fn row(name: &str, samples: &mut [Duration]) {
    let s = Stats::of(samples);
    let max = samples.iter().max().copied().unwrap_or_default();
    println!(
        "| {name} | {} | {} | {} | {} | {} |",
        s.n,
        ms(s.p50),
        ms(s.p99),
        ms(s.mean),
        ms(max)
    );
}

fn main() -> anyhow::Result<()> {
    header("revocation: revoke-to-refusal latency at a running executor");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores())
        .enable_all()
        .build()?;
    let cluster = Cluster::start(ClusterOptions::default())?;
    runtime.block_on(async {
        let mut authority = cluster.authority_client().await?;
        let mut exec = cluster.executor_client().await?;

        // 1,000 grants, each used once so the executor has verified and cached it.
        let mut grants = Vec::with_capacity(REVOCATIONS);
        let minting = Instant::now();
        for i in 0..REVOCATIONS {
            let spec = GrantSpec {
                user: "alice".into(),
                workspace: "demo".into(),
                task: format!("bench-revoke-{i}"),
                purpose: "revocation benchmark".into(),
                scopes: vec![("fs.read".into(), String::new())],
                ..Default::default()
            };
            let answer = authority.request_grant(&cluster.agent_id, &cluster.agent_key, &spec).await?;
            anyhow::ensure!(answer.effect == Effect::Allow, "grant {i} was not allowed: {}", answer.reason);
            let grant = answer.grant.context("allowed answer without a grant")?;
            exec.execute(&grant, &cluster.agent_key, read_op()).await?;
            grants.push((answer.grant_id, grant));
        }
        println!("setup: {REVOCATIONS} grants minted and used once in {:.1} s", minting.elapsed().as_secs_f64());

        // A feed subscriber, as an executor would be, noting when each grant's revocation arrives.
        let arrivals: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let mut feed_client = cluster.feed_client().await?;
        let start_cursor = feed_client.list_revocations(0).await?.latest_sequence;
        let mut feed = feed_client.watch_revocations(start_cursor, Duration::from_millis(250)).await?;
        let seen = Arc::clone(&arrivals);
        let watcher = tokio::spawn(async move {
            while let Ok(Some(r)) = feed.message().await {
                if r.sequence != 0 {
                    if let Ok(mut seen) = seen.lock() {
                        seen.insert(r.grant_id, Instant::now());
                    }
                }
            }
        });

        let mut rpc = Vec::with_capacity(REVOCATIONS);
        let mut started = Vec::with_capacity(REVOCATIONS);
        let mut to_refusal = Vec::with_capacity(REVOCATIONS);
        let mut admitted_after_ack = 0usize;
        let run = Instant::now();
        for (grant_id, grant) in &grants {
            let t0 = Instant::now();
            let target = RevocationTarget::Grant { grant_id: grant_id.clone(), include_derived: false };
            authority.revoke(&cluster.admin_id, &cluster.admin_key, &target, "benchmark").await?;
            let acked = Instant::now();
            loop {
                match exec.execute(grant, &cluster.agent_key, read_op()).await {
                    Ok(_) => admitted_after_ack += 1,
                    Err(e) if e.to_string().contains("revoked") => break,
                    Err(e) => anyhow::bail!("unexpected refusal: {e}"),
                }
                anyhow::ensure!(t0.elapsed() < Duration::from_secs(30), "grant {grant_id} never refused");
            }
            to_refusal.push(t0.elapsed());
            rpc.push(acked - t0);
            started.push((grant_id.clone(), t0));
        }
        let total = run.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        watcher.abort();
        let mut to_feed: Vec<Duration> = {
            let seen = arrivals.lock().map_err(|_| anyhow::anyhow!("arrivals lock poisoned"))?;
            started
                .iter()
                .filter_map(|(id, t0)| seen.get(id).map(|at| at.saturating_duration_since(*t0)))
                .collect()
        };

        println!(
            "{REVOCATIONS} revocations, one at a time, in {:.1} s; executor heartbeat (revocation_poll_ms) = 100 ms, \
             revocation_max_staleness_secs = 10",
            total.as_secs_f64()
        );
        println!();
        println!("| measurement | n | p50 ms | p99 ms | mean ms | max ms |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        row("RevokeGrant round trip (durable before the answer)", &mut rpc);
        row("revoke issued → revocation on the WatchRevocations feed", &mut to_feed);
        row("revoke issued → first refused execution returned (end to end)", &mut to_refusal);
        println!();
        println!(
            "executions admitted after RevokeGrant had returned: {admitted_after_ack} of {REVOCATIONS} revocations \
             (each would have been refused a moment later)"
        );
        println!(
            "notes: the end-to-end figure includes the RevokeGrant round trip (a sled flush) and one Execute round trip \
             (which writes its own provenance record); client and servers share the same {} cores.",
            cores()
        );
        Ok(())
    })
}
