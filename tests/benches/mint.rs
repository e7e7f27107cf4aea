//! Grant minting: the raw Biscuit floor (build + sign + serialize) against `RequestGrant`
//! end to end over gRPC on the real authority process (durable sled registry, one flush per
//! grant before it is returned).
//!
//! Run with `cargo bench -p trust-tests --bench mint`. Prints figures; asserts nothing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use biscuit_auth::{Biscuit, KeyPair};
use common::*;
use trust_proto::authority::v1::Effect;
use trust_sdk::client::{AuthorityClient, GrantSpec};
use trust_tests::{Cluster, ClusterOptions};

/// Grant requests per concurrency level (a time budget may stop a level earlier).
const GRANTS_PER_LEVEL: usize = 2_000;
const LEVEL_BUDGET: Duration = Duration::from_secs(6);
const LEVELS: &[usize] = &[1, 8, 32];
const SCOPES: &[(&str, &str)] = &[("fs.read", ""), ("proc.run", "test")];

fn spec(task: &str) -> GrantSpec {
    GrantSpec {
        user: "alice".into(),
        workspace: "demo".into(),
        task: task.into(),
        purpose: "benchmark grant".into(),
        scopes: SCOPES
            .iter()
            .map(|(o, r)| (o.to_string(), r.to_string()))
            .collect(),
        ..Default::default()
    }
}

/// Build + sign + serialize one grant with the given claims (what `minting::mint` does).
fn raw_mint(
    claims: &mut trust_sdk::vocabulary::GrantClaims,
    key: &KeyPair,
    i: usize,
) -> anyhow::Result<usize> {
    claims.grant_id = format!("0190bench-{i:012}");
    let token = trust_sdk::vocabulary::authority_block(claims)?
        .root_key_id(1)
        .build(key)?;
    let _ids = token.revocation_identifiers();
    Ok(token.to_vec()?.len())
}

/// Raw `db.insert` + `db.flush()` of a grant-sized value on sled: the durability floor.
fn sled_flush_floor(dir: &std::path::Path) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let db = sled::open(dir)?;
    let value = vec![b'x'; 600];
    let mut i = 0u64;
    let out = sample(50, 5_000, Duration::from_secs(3), || {
        i += 1;
        db.insert(i.to_be_bytes(), value.as_slice())?;
        db.flush()?;
        Ok(())
    })?;
    Ok(out)
}

/// CPU time (user + system) a process has used so far, from /proc/PID/stat (clock ticks).
fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis((utime + stime) * 10))
}

struct Level {
    clients: usize,
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    elapsed: Duration,
    stats: Stats,
    /// CPU time the authority process and this (client) process used during the level.
    authority_cpu: Option<Duration>,
    client_cpu: Option<Duration>,
}

async fn run_level(cluster: &Cluster, clients: usize, total: usize) -> anyhow::Result<Level> {
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
        let spec = spec(&format!("bench-c{clients}-t{c}"));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            let mut first_error = None;
            barrier.wait().await;
            let start = Instant::now();
            while issued.fetch_add(1, Ordering::Relaxed) < total && start.elapsed() < LEVEL_BUDGET {
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
    let authority_pid = cluster.authority.pid().map(|p| p.to_string());
    let cpu = || {
        (
            authority_pid.as_deref().and_then(cpu_time),
            cpu_time("self"),
        )
    };
    let cpu_before = cpu();
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
    let cpu_after = cpu();
    let diff = |a: Option<Duration>, b: Option<Duration>| Some(b?.saturating_sub(a?));
    let ok = all.len();
    Ok(Level {
        clients,
        ok,
        errors,
        first_error,
        elapsed,
        stats: Stats::of(&mut all),
        authority_cpu: diff(cpu_before.0, cpu_after.0),
        client_cpu: diff(cpu_before.1, cpu_after.1),
    })
}

fn main() -> anyhow::Result<()> {
    header("mint: RequestGrant over gRPC vs. the raw Biscuit minting floor");
    let n_cores = cores();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(n_cores)
        .enable_all()
        .build()?;
    let cluster = Cluster::start(ClusterOptions {
        start_executor: false,
        insecure_plaintext: insecure_plaintext(),
        ..Default::default()
    })?;

    // The raw floor mints exactly the claims the authority puts in a real grant for these scopes.
    let (template, real_len) = runtime.block_on(async {
        let mut client = cluster.authority_client().await?;
        let keys = client.public_keys().await?;
        let answer = client
            .request_grant(&cluster.agent_id, &cluster.agent_key, &spec("template"))
            .await?;
        let bytes = answer
            .grant
            .context("the authority did not grant the template request")?;
        let token = Biscuit::from(&bytes, trust_sdk::client::root_key_provider(&keys))?;
        anyhow::Ok((trust_sdk::vocabulary::read_claims(&token)?, bytes.len()))
    })?;

    // (a) Raw floor, one thread.
    let key = KeyPair::new();
    let mut claims = template.clone();
    let mut i = 0usize;
    let mut raw_len = 0usize;
    for _ in 0..200 {
        i += 1;
        raw_len = raw_mint(&mut claims, &key, i)?;
    }
    let (mut raw_samples, raw_elapsed) = sample(500, 100_000, Duration::from_secs(3), || {
        i += 1;
        raw_mint(&mut claims, &key, i).map(|_| ())
    })?;
    // Where the raw floor's time goes: the builder (facts + checks filled from templates
    // parsed once), build (symbols, serialize, sign), to_vec.
    let mut parts: [Vec<Duration>; 5] = Default::default();
    let parts_start = Instant::now();
    while parts[0].len() < 20_000 && parts_start.elapsed() < Duration::from_secs(2) {
        i += 1;
        claims.grant_id = format!("0190bench-{i:012}");
        let t = Instant::now();
        let b = trust_sdk::vocabulary::authority_block(&claims)?.root_key_id(1);
        let t1 = Instant::now();
        let token = b.build(&key)?;
        let t2 = Instant::now();
        let bytes = token.to_vec()?;
        let t3 = Instant::now();
        std::hint::black_box(bytes);
        parts[0].push(t1 - t);
        parts[1].push(t2 - t1);
        parts[2].push(t3 - t2);
        // The authority block as it was built before the check templates (Datalog text
        // parsed per grant), for comparison.
        let t = Instant::now();
        let old = trust_sdk::vocabulary::authority_block_from_text(&claims)?;
        parts[4].push(t.elapsed());
        std::hint::black_box(old);
    }
    // The request signature the authority checks on every RequestGrant (decode included).
    let agent_key = trust_sdk::keys::generate();
    let body = trust_proto::authority::v1::GrantRequestBody {
        agent_id: "coder-1".into(),
        user: "alice".into(),
        workspace: "demo".into(),
        task: "bench".into(),
        purpose: "benchmark grant".into(),
        ..Default::default()
    };
    let signed = trust_sdk::signed::sign("RequestGrant", &body, "coder-1", &agent_key);
    let agent_vk = agent_key.verifying_key();
    let verify_start = Instant::now();
    while parts[3].len() < 5_000 && verify_start.elapsed() < Duration::from_secs(1) {
        let t = Instant::now();
        let decoded: trust_proto::authority::v1::GrantRequestBody =
            trust_sdk::signed::verify("RequestGrant", &signed, &agent_vk)?;
        parts[3].push(t.elapsed());
        std::hint::black_box(decoded);
    }
    let parts: Vec<Stats> = parts.iter_mut().map(|p| Stats::of(p)).collect();
    let raw_n = raw_samples.len();
    let raw = Stats::of(&mut raw_samples);
    let raw_rate = per_sec(raw_n, raw_elapsed);
    let ceiling = raw_rate * n_cores as f64;

    // Raw floor on every core at once (what ×cores assumes).
    let parallel_budget = Duration::from_secs(2);
    let parallel_start = Instant::now();
    let handles: Vec<_> = (0..n_cores)
        .map(|t| {
            let mut claims = template.clone();
            std::thread::spawn(move || -> anyhow::Result<usize> {
                let key = KeyPair::new();
                let start = Instant::now();
                let mut n = 0usize;
                while start.elapsed() < parallel_budget {
                    raw_mint(&mut claims, &key, t * 10_000_000 + n)?;
                    n += 1;
                }
                Ok(n)
            })
        })
        .collect();
    let mut parallel_n = 0;
    for h in handles {
        parallel_n += h
            .join()
            .map_err(|_| anyhow::anyhow!("raw mint thread panicked"))??;
    }
    let parallel_rate = per_sec(parallel_n, parallel_start.elapsed());

    // Durability floor: sled insert + flush on the same filesystem as the authority's data.
    let sled_dir = tempfile::tempdir()?;
    let (mut flush_samples, flush_elapsed) = sled_flush_floor(sled_dir.path())?;
    let flush_n = flush_samples.len();
    let flush = Stats::of(&mut flush_samples);
    let flush_rate = per_sec(flush_n, flush_elapsed);

    // gRPC floor: a round trip that does no work (GetPublicKeys), one client.
    let rpc = runtime.block_on(async {
        let mut client = cluster.authority_client().await?;
        for _ in 0..100 {
            client.public_keys().await?;
        }
        let mut samples = Vec::new();
        let start = Instant::now();
        while samples.len() < 5_000 && start.elapsed() < Duration::from_secs(2) {
            let t = Instant::now();
            client.public_keys().await?;
            samples.push(t.elapsed());
        }
        let n = samples.len();
        anyhow::Ok((Stats::of(&mut samples), per_sec(n, start.elapsed())))
    })?;

    // (b) RequestGrant end to end.
    let levels = runtime.block_on(async {
        // Warm up connections, the authority's caches and the sled files.
        run_level(&cluster, 4, 100).await?;
        let mut out = Vec::new();
        for &c in LEVELS {
            out.push(run_level(&cluster, c, GRANTS_PER_LEVEL).await?);
        }
        anyhow::Ok(out)
    })?;

    println!(
        "grant: scopes {SCOPES:?}; authority-minted token {real_len} B, raw floor token {raw_len} B"
    );
    println!();
    println!("| measurement | clients | n | per second | p50 | p99 | ratio |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| raw mint floor: authority_block + build(sign) + to_vec, 1 thread | - | {raw_n} | {} | {} µs | {} µs | 1.00 (floor) |",
        rate(raw_rate),
        us(raw.p50),
        us(raw.p99)
    );
    println!(
        "| raw mint × {n_cores} cores (ceiling = 1-thread rate × cores) | - | - | {} | - | - | - |",
        rate(ceiling)
    );
    println!(
        "| raw mint measured on {n_cores} threads at once | - | {parallel_n} | {} | - | - | {:.2} of ceiling |",
        rate(parallel_rate),
        parallel_rate / ceiling
    );
    println!(
        "| sled insert + flush (durability floor, 1 thread) | - | {flush_n} | {} | {} µs | {} µs | - |",
        rate(flush_rate),
        us(flush.p50),
        us(flush.p99)
    );
    println!(
        "| floor: no-op gRPC round trip (GetPublicKeys) | 1 | {} | {} | {} ms | {} ms | - |",
        rpc.0.n,
        rate(rpc.1),
        ms(rpc.0.p50),
        ms(rpc.0.p99)
    );
    for l in &levels {
        let grants_per_sec = per_sec(l.ok, l.elapsed);
        println!(
            "| RequestGrant over gRPC (signed request, policy, mint, sled flush) | {} | {} | {} | {} ms | {} ms | {:.3} of raw × cores; p50 = {:.1} × raw p50 |",
            l.clients,
            l.ok,
            rate(grants_per_sec),
            ms(l.stats.p50),
            ms(l.stats.p99),
            grants_per_sec / ceiling,
            l.stats.p50.as_secs_f64() / raw.p50.as_secs_f64().max(1e-9),
        );
    }
    println!();
    println!("where the raw floor's time goes (p50 µs, 1 thread, same run):");
    println!();
    println!("| authority_block (facts + check templates) | build (symbols, serialize, ed25519 sign) | to_vec | request signature verify + decode (per RequestGrant) | for comparison: authority_block_from_text (Datalog text parsed per grant) |");
    println!("| ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| {} | {} | {} | {} | {} |",
        us(parts[0].p50),
        us(parts[1].p50),
        us(parts[2].p50),
        us(parts[3].p50),
        us(parts[4].p50)
    );
    println!();
    println!("CPU time per granted request, by process (/proc/PID/stat, 10 ms ticks; less sensitive to other load on the machine than wall-clock rates):");
    println!();
    println!("| clients | authority CPU µs / grant | client (bench) CPU µs / grant | authority grants per CPU-second |");
    println!("| ---: | ---: | ---: | ---: |");
    for l in &levels {
        let per = |cpu: Option<Duration>| {
            cpu.filter(|_| l.ok > 0)
                .map(|c| format!("{:.0}", c.as_secs_f64() * 1e6 / l.ok as f64))
                .unwrap_or_else(|| "-".into())
        };
        let per_cpu_sec = l
            .authority_cpu
            .filter(|c| !c.is_zero())
            .map(|c| rate(l.ok as f64 / c.as_secs_f64()))
            .unwrap_or_else(|| "-".into());
        println!(
            "| {} | {} | {} | {} |",
            l.clients,
            per(l.authority_cpu),
            per(l.client_cpu),
            per_cpu_sec
        );
    }
    println!();
    for l in &levels {
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
        "notes: client and server share the same {n_cores} cores (client signing and gRPC encoding count against the server); \
         each level stops at {GRANTS_PER_LEVEL} grants or {}s; ratio = grants/s ÷ (raw mint/s × cores).",
        LEVEL_BUDGET.as_secs()
    );
    drop(cluster);
    Ok(())
}
