//! Shared helpers for the benchmark binaries: machine info, percentiles and table formatting.
//!
//! Benchmarks print figures only; nothing here asserts on timings.

#![allow(dead_code)]

use std::time::{Duration, SystemTime};

/// Every bench measures in-process work (floors, admission) with the allocator the
/// `trust-authority` and `tool-executor` binaries use.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Number of CPUs the process may use (what `nproc` prints).
pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The CPU model from /proc/cpuinfo.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// The current UTC date and time, as `date -u` prints it.
pub fn date() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Prints the title and the machine header of a benchmark report.
pub fn header(title: &str) {
    println!("# {title}");
    println!();
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    println!(
        "machine: nproc = {}, CPU = {}, date = {}, load average at start = {load}, profile = {}, allocator = mimalloc",
        cores(),
        cpu_model(),
        date(),
        if cfg!(debug_assertions) {
            "debug (figures meaningless)"
        } else {
            "release"
        }
    );
    println!();
}

/// Milliseconds since the Unix epoch (the SDK's clock).
pub fn now_ms() -> i64 {
    trust_sdk::clock::now_ms()
}

/// The wall clock (the SDK's clock).
pub fn now_system() -> SystemTime {
    trust_sdk::clock::now()
}

/// Percentiles of a set of latency samples.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub mean: Duration,
}

impl Stats {
    pub fn of(samples: &mut [Duration]) -> Self {
        samples.sort_unstable();
        let n = samples.len();
        if n == 0 {
            return Self {
                n,
                p50: Duration::ZERO,
                p99: Duration::ZERO,
                mean: Duration::ZERO,
            };
        }
        let at = |q: usize| samples[((n * q) / 100).min(n - 1)];
        let total: Duration = samples.iter().sum();
        Self {
            n,
            p50: at(50),
            p99: at(99),
            mean: total / u32::try_from(n).unwrap_or(u32::MAX),
        }
    }
}

/// Microseconds with one decimal.
pub fn us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

/// Operations per second, rounded.
pub fn per_sec(count: usize, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        0.0
    } else {
        count as f64 / elapsed.as_secs_f64()
    }
}

/// `1234.5` → `"1,235"`.
pub fn rate(v: f64) -> String {
    let digits = (v.round() as u64).to_string();
    let mut groups: Vec<&str> = Vec::new();
    let mut end = digits.len();
    while end > 3 {
        groups.push(&digits[end - 3..end]);
        end -= 3;
    }
    groups.push(&digits[..end]);
    groups.reverse();
    groups.join(",")
}

/// Runs `f` repeatedly, timing each call, until `max` calls or `budget` elapsed (at least `min`).
pub fn sample<F: FnMut() -> anyhow::Result<()>>(
    min: usize,
    max: usize,
    budget: Duration,
    mut f: F,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let mut samples = Vec::with_capacity(max.min(1 << 20));
    let start = std::time::Instant::now();
    while samples.len() < max && (samples.len() < min || start.elapsed() < budget) {
        let t = std::time::Instant::now();
        f()?;
        samples.push(t.elapsed());
    }
    Ok((samples, start.elapsed()))
}

/// A `kB` field (such as `VmRSS` or `VmHWM`) of /proc/PID/status, in KiB.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Claims shaped like the coding profile's grant (its deny rules and limits) for `agent`,
/// bound to `holder`, with `scopes` as (operation, prefix) pairs.
pub fn coding_claims(
    holder: &ed25519_dalek::VerifyingKey,
    grant_id: &str,
    agent: &str,
    purpose: &str,
    scopes: &[(&str, &str)],
) -> anyhow::Result<trust_sdk::vocabulary::GrantClaims> {
    let now = now_system();
    let deny_globs = [
        ".env",
        "**/*.pem",
        "**/.git/config",
        "~/.ssh/**",
        "secrets/**",
    ];
    let mut deny_regexes = Vec::new();
    for g in deny_globs {
        let pattern =
            trust_authority::profile::ResourcePattern::new(g).map_err(anyhow::Error::msg)?;
        deny_regexes.push(pattern.regex().to_string());
    }
    Ok(trust_sdk::vocabulary::GrantClaims {
        grant_id: grant_id.to_string(),
        correlation_id: format!("corr-{grant_id}"),
        user: "alice".into(),
        agent: agent.into(),
        holder: *holder,
        workspace: "demo".into(),
        task: "bench".into(),
        purpose: purpose.into(),
        profile: "coding".into(),
        scopes: scopes
            .iter()
            .map(|(op, prefix)| (op.to_string(), prefix.to_string()))
            .collect(),
        commands: vec![("test".into(), vec!["sh".into(), "run-tests.sh".into()])],
        limits: vec![
            ("read_bytes".into(), 1_048_576),
            ("write_bytes".into(), 1_048_576),
            ("list_entries".into(), 1000),
            ("search_matches".into(), 200),
            ("run_timeout_ms".into(), 120_000),
            ("output_bytes".into(), 1_048_576),
        ],
        deny_globs: deny_globs.iter().map(|g| g.to_string()).collect(),
        deny_regexes,
        approval: trust_sdk::vocabulary::Approval::NotRequired,
        issued_at: now,
        expires_at: now + Duration::from_secs(15 * 60),
        shell: None,
        sandbox_level: None,
        child_limits: vec![],
        http_rules: Vec::new(),
    })
}

/// Whether to run the kit's servers in plaintext (`BENCH_INSECURE_PLAINTEXT=1`, the baseline
/// that shows what TLS costs) rather than TLS (the default); prints which.
pub fn insecure_plaintext() -> bool {
    let plaintext = std::env::var("BENCH_INSECURE_PLAINTEXT").is_ok_and(|v| v == "1");
    println!(
        "transport: {}",
        if plaintext {
            "plaintext (BENCH_INSECURE_PLAINTEXT=1, loopback)"
        } else {
            "TLS 1.3 (rustls, ring, ECDSA P-256 certificates; the executor's feed over mutual TLS)"
        }
    );
    plaintext
}
