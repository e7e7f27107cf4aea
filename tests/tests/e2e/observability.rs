//! What operators see of a run: Prometheus metrics scraped with `curl` from both servers'
//! loopback endpoints, and JSON log lines that carry request and correlation ids and never a
//! grant, a key or a TLS private key.

use base64::Engine;
use trust_proto::authority::v1::Effect;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

/// `curl -sf URL`: the body of a real scrape.
fn curl(url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sf", "--max-time", "10", url])
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "curl {url}: {out:?}");
    String::from_utf8(out.stdout).expect("metrics are text")
}

/// The value of the sample line starting with `series` (name and labels as rendered).
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// Every spelling of `bytes` a careless log line could carry.
fn spellings(bytes: &[u8]) -> Vec<String> {
    vec![
        hex::encode(bytes),
        base64::engine::general_purpose::STANDARD.encode(bytes),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_decisions_and_logs_carry_ids_but_no_secret() {
    let cluster = Cluster::start(ClusterOptions {
        telemetry: true,
        ..Default::default()
    })
    .unwrap();
    let answer = cluster
        .grant("observed", &[("fs.read", "src/")])
        .await
        .unwrap();
    assert_eq!(answer.effect, Effect::Allow, "{answer:?}");
    let denied = cluster
        .grant("observed-deny", &[("fs.read", "config/.env")])
        .await
        .unwrap();
    assert_eq!(denied.effect, Effect::Deny, "{denied:?}");
    let grant = answer.grant.clone().unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    exec.execute(&grant, &cluster.agent_key, read("src/calc.sh"))
        .await
        .unwrap();
    let refused = exec
        .execute(
            &grant,
            &cluster.agent_key,
            write("src/calc.sh", b"exit 0\n"),
        )
        .await
        .unwrap_err();
    assert_eq!(code(&refused), "PermissionDenied", "{refused}");

    // Metrics, scraped the way an operator would.
    let executor = cluster.executor.as_ref().unwrap();
    let url = executor
        .metrics_url()
        .expect("the executor logs its metrics address");
    let metrics = curl(&url);
    let executed = sample(
        &metrics,
        r#"trust_executor_decisions_total{outcome="executed",rule="fs.read"}"#,
    );
    assert!(executed >= Some(1.0), "{metrics}");
    let refusals: f64 = metrics
        .lines()
        .filter(|l| l.starts_with(r#"trust_executor_decisions_total{outcome="refused""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(refusals >= 1.0, "{metrics}");
    for series in [
        "trust_executor_admission_seconds_count",
        "trust_executor_provenance_append_seconds_count",
    ] {
        assert!(sample(&metrics, series) >= Some(2.0), "{series}: {metrics}");
    }
    assert!(
        sample(&metrics, "trust_executor_revocation_feed_lag_seconds").is_some(),
        "{metrics}"
    );
    let authority_metrics = curl(&cluster.authority.metrics_url().unwrap());
    let allowed: f64 = authority_metrics
        .lines()
        .filter(|l| l.starts_with(r#"trust_authority_decisions_total{effect="allow""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    let denials: f64 = authority_metrics
        .lines()
        .filter(|l| l.starts_with(r#"trust_authority_decisions_total{effect="deny""#))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!(allowed >= 1.0 && denials >= 1.0, "{authority_metrics}");
    assert!(
        sample(&authority_metrics, "trust_authority_grant_seconds_count") >= Some(2.0),
        "{authority_metrics}"
    );
    assert!(
        sample(&authority_metrics, "trust_authority_pending_approvals").is_some(),
        "{authority_metrics}"
    );
    // Only GET /metrics is served.
    let other = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(url.replace("/metrics", "/debug"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&other.stdout), "404");

    // Logs: one JSON object per line; request lines carry their ids.
    let executor_log = executor.log();
    let authority_log = cluster.authority.log();
    for (name, log) in [("executor", &executor_log), ("authority", &authority_log)] {
        for line in log.lines().filter(|l| !l.trim().is_empty()) {
            serde_json::from_str::<serde_json::Value>(line)
                .unwrap_or_else(|e| panic!("{name} log line is not JSON ({e}): {line}"));
        }
    }
    let lines: Vec<serde_json::Value> = executor_log
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let about_requests: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|v| matches!(v["message"].as_str(), Some("executed" | "refused")))
        .collect();
    assert_eq!(about_requests.len(), 2, "{executor_log}");
    for line in about_requests {
        assert!(
            line["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{line}"
        );
        assert_eq!(
            line["correlation_id"].as_str(),
            Some(answer.correlation_id.as_str()),
            "{line}"
        );
    }
    let decided = authority_log
        .lines()
        .filter(|l| l.contains("grant request decided"))
        .filter(|l| l.contains(&answer.correlation_id))
        .count();
    assert_eq!(decided, 1, "{authority_log}");

    // No secret of the run in either log: the grant, any principal's key, a TLS key.
    let mut secrets: Vec<String> = spellings(&grant);
    let mut keys = vec![
        &cluster.agent_key,
        &cluster.other_agent_key,
        &cluster.admin_key,
        &cluster.auditor_key,
    ];
    keys.extend(cluster.approvers.iter().map(|(_, k)| k));
    for key in keys {
        secrets.extend(spellings(key.as_bytes()));
    }
    let tls = cluster.tls.as_ref().unwrap();
    for pem in [tls.dir.join("authority.key"), tls.dir.join("executor.key")] {
        let text = std::fs::read_to_string(&pem).unwrap();
        secrets.extend(
            text.lines()
                .filter(|l| !l.starts_with("-----") && l.len() > 16)
                .map(str::to_string),
        );
    }
    assert!(secrets.len() > 20);
    for secret in &secrets {
        assert!(
            !executor_log.contains(secret.as_str()),
            "executor log leaks"
        );
        assert!(
            !authority_log.contains(secret.as_str()),
            "authority log leaks"
        );
    }
}
