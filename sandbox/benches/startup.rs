//! Start-up cost of the sandbox per command: `true` in the sandbox (empty workspace, and a
//! 2,000-file workspace walked for hidden files) next to a plain spawn of `true`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "bench"
)]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use trust_sandbox::{Launcher, Part, RequiredLevel, Sandbox, SandboxPolicy, SENSITIVE_GLOBS};

const RUNS: usize = 60;

fn stats(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let median = samples[samples.len() / 2];
    let p90 = samples[samples.len() * 9 / 10];
    (median, p90)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let launcher = Launcher::new(env!("CARGO_BIN_EXE_trust-sandbox-launch"), Vec::new());
    let probe_start = Instant::now();
    let sandbox = Sandbox::new(launcher, RequiredLevel::full());
    let probe = probe_start.elapsed();
    sandbox
        .check()
        .expect("the sandbox must apply on the bench machine");

    let empty = tempfile::tempdir().unwrap();
    let big = tempfile::tempdir().unwrap();
    for d in 0..40 {
        let dir = big.path().join(format!("dir{d}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..50 {
            std::fs::write(dir.join(format!("file{f}.rs")), "x").unwrap();
        }
        std::fs::write(dir.join(".env"), "SECRET").unwrap();
    }
    let plain_policy = SandboxPolicy::new(empty.path());
    let mut walked_policy = SandboxPolicy::new(big.path());
    walked_policy.hidden = SENSITIVE_GLOBS.iter().map(|s| s.to_string()).collect();
    let argv = vec!["true".to_string()];

    let mut plain = Vec::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let status = Command::new("true")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .status()
            .unwrap();
        assert!(status.success());
        plain.push(t.elapsed());
    }
    let no_cgroup = Sandbox::new(
        Launcher::new(env!("CARGO_BIN_EXE_trust-sandbox-launch"), Vec::new()),
        RequiredLevel::parse("no-cgroup").unwrap(),
    )
    .without(Part::CgroupMemory)
    .without(Part::CgroupPids);
    let run = |sandbox: &Sandbox, policy: &SandboxPolicy| {
        let mut samples = Vec::new();
        for _ in 0..RUNS {
            let t = Instant::now();
            let out = rt
                .block_on(sandbox.run(policy, &argv, Duration::from_secs(10), 1 << 16))
                .unwrap();
            assert_eq!(out.exit_code, Some(0));
            samples.push(t.elapsed());
        }
        samples
    };
    let sandboxed = run(&sandbox, &plain_policy);
    let without_cgroup = run(&no_cgroup, &plain_policy);
    let walked = run(&sandbox, &walked_policy);

    let (pm, p9) = stats(plain);
    println!(
        "sandbox start-up, `true`, {RUNS} runs each ({})",
        sandbox.report()
    );
    println!("probe at start: {:.1} ms", ms(probe));
    println!(
        "{:<44} {:>10} {:>10} {:>8}",
        "", "median ms", "p90 ms", "ratio"
    );
    println!(
        "{:<44} {:>10.2} {:>10.2} {:>8}",
        "plain spawn",
        ms(pm),
        ms(p9),
        "1.0x"
    );
    for (name, samples) in [
        ("sandboxed, empty workspace", sandboxed),
        (
            "sandboxed, level no-cgroup (no cgroup leaf)",
            without_cgroup,
        ),
        ("sandboxed, 2,000 files walked, 40 masked", walked),
    ] {
        let (m, p) = stats(samples);
        println!(
            "{:<44} {:>10.2} {:>10.2} {:>7.1}x",
            name,
            ms(m),
            ms(p),
            m.as_secs_f64() / pm.as_secs_f64()
        );
    }
}
