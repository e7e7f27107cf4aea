//! Storage faults under the authority's registry, on the real binary (127.0.0.1 only):
//!
//! * a full disk (a small tmpfs holding the whole data directory) and an unwritable registry
//!   directory (`chattr +i`): grant requests are refused with UNAVAILABLE (nothing issued),
//!   health reports NOT_SERVING, and once space or write access returns the same process
//!   serves again by itself; every grant acknowledged before, during and after is in the
//!   registry, also after a restart;
//! * a truncated registry (acknowledged writes lost): the authority refuses to start and says
//!   why, instead of serving without the grants, decisions and revocations it lost;
//! * an internal failure (a key store that cannot be written): the client gets a generic
//!   message with a correlation id, and only the authority's log has the detail, under that id.
//!
//! Mounting a tmpfs and `chattr` need root: those tests print SKIP and pass where they cannot
//! inject the fault.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::time::{Duration, Instant};

use trust_sdk::client::AuthorityClient;
use trust_sdk::SdkError;
use trust_tests::binaries::binary;
use trust_tests::faults::{
    copy_dir, fill_disk, health, refused_to_start, truncate_half, wait_health, Immutable, Tmpfs,
};
use trust_tests::{Cluster, ClusterOptions};

const SERVICE: &str = "trust.authority.v1.Authority";
const HEALTH_WITHIN: Duration = Duration::from_secs(10);

fn code(err: &SdkError) -> String {
    match err {
        SdkError::Rpc { code, .. } => code.clone(),
        other => format!("not an rpc error: {other}"),
    }
}

fn log_tail(cluster: &Cluster) -> String {
    let log = cluster.authority.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn cluster_without_executor() -> Cluster {
    Cluster::start(ClusterOptions {
        start_executor: false,
        ..Default::default()
    })
    .unwrap()
}

/// What the outage tests share: refuse during the fault, then serve again in the same process.
struct Outage {
    cluster: Cluster,
    /// Grant ids the authority returned (acknowledged), in order.
    acked: Vec<String>,
    requests: usize,
}

impl Outage {
    async fn start(cluster: Cluster) -> Self {
        let mut outage = Self {
            cluster,
            acked: Vec::new(),
            requests: 0,
        };
        for _ in 0..5 {
            outage.grant("before").await.unwrap();
        }
        assert_eq!(
            health(
                &outage.cluster.authority_endpoint(),
                SERVICE,
                outage.cluster.ca_file().as_deref()
            ),
            "SERVING"
        );
        outage
    }

    /// Requests one grant; an issued one is remembered as acknowledged.
    async fn grant(&mut self, phase: &str) -> Result<(), SdkError> {
        self.requests += 1;
        let task = format!("{phase}-{}", self.requests);
        let answer = self
            .cluster
            .grant(&task, &[("fs.read", "src/")])
            .await
            .map_err(|e| match e.downcast::<SdkError>() {
                Ok(sdk) => sdk,
                Err(other) => SdkError::Transport(other.to_string()),
            })?;
        assert!(
            answer.grant.is_some(),
            "{task} was not allowed: {}",
            answer.reason
        );
        self.acked.push(answer.grant_id);
        Ok(())
    }

    /// Requests until one is refused (the fault is noticed), then checks that further requests
    /// are refused with UNAVAILABLE and that health says NOT_SERVING while the fault lasts.
    async fn expect_refusing(&mut self, fault: &str) {
        let mut first = None;
        for _ in 0..2_000 {
            if let Err(e) = self.grant("during").await {
                first = Some(e);
                break;
            }
        }
        let first = first.unwrap_or_else(|| panic!("{fault}: 2,000 grants were issued"));
        assert_eq!(code(&first), "Unavailable", "{fault}: {first}");
        for _ in 0..3 {
            let err = self
                .grant("refused")
                .await
                .expect_err("a grant was issued during the outage");
            assert_eq!(code(&err), "Unavailable", "{fault}: {err}");
        }
        let endpoint = self.cluster.authority_endpoint();
        wait_health(
            &endpoint,
            SERVICE,
            self.cluster.ca_file().as_deref(),
            "NOT_SERVING",
            HEALTH_WITHIN,
        )
        .await
        .unwrap_or_else(|e| panic!("{fault}: {e}"));
        // Recovery attempts keep failing while the fault lasts (three attempts at least).
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let err = self
            .grant("still-refused")
            .await
            .expect_err("a grant was issued while the fault lasted");
        assert_eq!(code(&err), "Unavailable", "{fault}: {err}");
        assert_eq!(
            health(&endpoint, SERVICE, self.cluster.ca_file().as_deref()),
            "NOT_SERVING"
        );
        println!(
            "{fault}: grant requests refused with UNAVAILABLE ({}), health NOT_SERVING",
            first
        );
    }

    /// After the fault is gone: the same process serves again by itself; every grant it
    /// acknowledged is in the registry, and still is after a restart.
    async fn expect_recovered(&mut self, fault: &str) {
        let pid = self.cluster.authority.pid();
        let started = Instant::now();
        let deadline = started + Duration::from_secs(20);
        loop {
            match self.grant("after").await {
                Ok(()) => break,
                Err(e) => {
                    assert_eq!(code(&e), "Unavailable", "{fault}: {e}");
                    assert!(
                        Instant::now() < deadline,
                        "{fault}: did not recover by itself: {e}\nauthority log (end):\n{}",
                        log_tail(&self.cluster)
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        let took = started.elapsed();
        assert_eq!(
            self.cluster.authority.pid(),
            pid,
            "the authority was restarted"
        );
        let endpoint = self.cluster.authority_endpoint();
        wait_health(
            &endpoint,
            SERVICE,
            self.cluster.ca_file().as_deref(),
            "SERVING",
            HEALTH_WITHIN,
        )
        .await
        .unwrap_or_else(|e| panic!("{fault}: {e}"));
        for _ in 0..5 {
            self.grant("recovered").await.unwrap();
        }
        self.assert_all_registered(fault).await;
        tokio::task::block_in_place(|| {
            self.cluster.authority.kill9();
            self.cluster.authority.restart(None)
        })
        .unwrap();
        self.assert_all_registered(&format!("{fault}, after kill -9 and restart"))
            .await;
        println!(
            "{fault}: the same authority process (pid {pid:?}) issued grants again {} ms after \
             the fault was removed, health SERVING; all {} acknowledged grants are in the \
             registry, also after kill -9 and a restart",
            took.as_millis(),
            self.acked.len()
        );
    }

    async fn assert_all_registered(&self, context: &str) {
        let mut admin =
            AuthorityClient::connect(self.cluster.authority_endpoint(), &self.cluster.transport())
                .await
                .unwrap();
        for id in &self.acked {
            let record = admin
                .get_grant(&self.cluster.admin_id, &self.cluster.admin_key, id)
                .await
                .unwrap_or_else(|e| {
                    panic!("{context}: grant {id} was acknowledged but is not in the registry: {e}")
                });
            assert_eq!(&record.grant_id, id);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_grants_reports_not_serving_and_recovers_by_itself() {
    let mut cluster = cluster_without_executor();
    // Move the whole data directory (keys and registry) onto a 4 MiB tmpfs.
    tokio::task::block_in_place(|| cluster.authority.kill9());
    let data = cluster.path("authority-data");
    let saved = cluster.path("authority-data-saved");
    copy_dir(&data, &saved).unwrap();
    std::fs::remove_dir_all(&data).unwrap();
    let Some(mount) = Tmpfs::mount(&data, "4m") else {
        println!("SKIP: cannot mount a tmpfs (needs root and mount permission); the full-disk test did not run");
        return;
    };
    copy_dir(&saved, &data).unwrap();
    tokio::task::block_in_place(|| cluster.authority.restart(None)).unwrap();
    let mut outage = Outage::start(cluster).await;
    let filler = data.join("filler");
    fill_disk(&filler, 8 << 20);
    outage.expect_refusing("authority, disk full").await;
    std::fs::remove_file(&filler).unwrap();
    outage.expect_recovered("authority, disk full").await;
    drop(outage);
    drop(mount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unwritable_registry_directory_refuses_grants_then_recovers_by_itself() {
    let cluster = cluster_without_executor();
    let registry = cluster.path("authority-data/registry");
    let mut outage = Outage::start(cluster).await;
    let Some(immutable) = Immutable::set(&registry) else {
        println!(
            "SKIP: `chattr +i` is not supported here; the unwritable-registry test did not run"
        );
        return;
    };
    outage
        .expect_refusing("authority, unwritable registry")
        .await;
    drop(immutable);
    outage
        .expect_recovered("authority, unwritable registry")
        .await;
}

/// sled recovers a damaged log by keeping the intact prefix; the commit mark tells the
/// authority that acknowledged writes were in the part that was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_registry_stops_the_authority_at_start_with_a_clear_message() {
    let mut cluster = cluster_without_executor();
    for i in 0..50 {
        cluster
            .grant(&format!("damage-{i}"), &[("fs.read", "")])
            .await
            .unwrap();
    }
    tokio::task::block_in_place(|| cluster.authority.kill9());
    truncate_half(&cluster.path("authority-data/registry/db")).unwrap();
    let bin = binary("trust-authority", "trust-authority").unwrap();
    let args = vec![
        "serve".to_string(),
        "--config".into(),
        cluster.authority_config.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    let (message, status) =
        tokio::task::block_in_place(|| refused_to_start(&bin, &args, Duration::from_secs(30)))
            .unwrap_or_else(|e| panic!("did not refuse to start: {e}"));
    assert!(
        message.contains("acknowledged") && message.contains("missing"),
        "unclear message: {message}"
    );
    println!("truncated registry: refused to start ({status}): {message}");
}

/// The key store is replaced by a plain file, so `RotateRootKey` cannot write its new key: an
/// internal failure. The admin sees `INTERNAL` with a correlation id and nothing about the
/// file system; the authority's log names the same id with the detail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internal_failure_reaches_the_client_as_a_correlation_id_and_the_log_has_the_detail() {
    let cluster = cluster_without_executor();
    let keys = cluster.path("authority-data/keys");
    std::fs::rename(&keys, cluster.path("authority-data/keys-moved")).unwrap();
    std::fs::write(&keys, b"not a directory").unwrap();
    let mut client = cluster.authority_client().await.unwrap();
    let err = client
        .rotate_root_key(&cluster.admin_id, &cluster.admin_key)
        .await
        .unwrap_err();
    let SdkError::Rpc { code, message } = &err else {
        panic!("not an rpc error: {err}");
    };
    assert_eq!(code, "Internal", "{message}");
    let id = message
        .strip_prefix("internal error (correlation id ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not a generic message with a correlation id: {message}"));
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{message}");
    for detail in ["root-2.key", "keys", "directory", "os error"] {
        assert!(
            !message.contains(detail),
            "detail `{detail}` sent: {message}"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let line = loop {
        let log = cluster.authority.log();
        if let Some(line) = log.lines().find(|l| l.contains(id)) {
            break line.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "correlation id {id} not logged:\n{}",
            log_tail(&cluster)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        line.contains("root-2.key") && line.contains("internal error"),
        "the log line lacks the detail: {line}"
    );
    // The authority still serves: a grant request is answered.
    cluster.grant("after", &[("fs.read", "")]).await.unwrap();
}
