use std::collections::BTreeSet;
use std::path::Path;

use ed25519_dalek::SigningKey;
use serde_json::json;
use trust_sdk::provenance::{
    parameters_digest, seal, verify_jsonl, verify_jsonl_from, ChainAnchor, ChainError,
    ChainSummary, ProvenanceEntry, ProvenanceRecord, RecordKind,
};

use super::*;

fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[3u8; 32])
}

fn record(n: u64, agent: &str) -> ProvenanceRecord {
    let parameters = json!({"path": format!("src/{n}.rs"), "max_bytes": 4096, "ratio": 0.1});
    ProvenanceRecord {
        time_ms: 1_700_000_000_000 + n as i64,
        kind: if n & 1 == 0 {
            RecordKind::Intent
        } else {
            RecordKind::Refusal
        },
        request_id: format!("req-{agent}-{n}"),
        grant_id: Some(format!("grant-{agent}")),
        lineage: vec!["grant-root".into(), format!("grant-{agent}")],
        agent: Some(agent.into()),
        user: Some("alice".into()),
        task: Some(format!("task-{}", n % 3)),
        operation: if n & 1 == 0 {
            "read_file"
        } else {
            "write_file"
        }
        .into(),
        resources: vec![format!("/ws/src/{n}.rs")],
        parameters_digest: parameters_digest(&parameters),
        parameters,
        decision: if n & 1 == 0 { "allow" } else { "refuse" }.into(),
        reasons: vec!["rule:1".into()],
        status: Some(
            if n & 1 == 0 {
                "ok"
            } else {
                "PERMISSION_DENIED"
            }
            .into(),
        ),
        ..ProvenanceRecord::default()
    }
}

fn to_jsonl(entries: impl IntoIterator<Item = Result<ProvenanceEntry, ProvenanceError>>) -> String {
    let mut out = String::new();
    for entry in entries {
        out.push_str(&serde_json::to_string(&entry.unwrap()).unwrap());
        out.push('\n');
    }
    out
}

fn verify_export(
    log: &ProvenanceLog,
    allow_unsealed_tail: bool,
) -> Result<ChainSummary, ChainError> {
    verify_jsonl(
        to_jsonl(log.export(0)).as_bytes(),
        &log.public_key(),
        allow_unsealed_tail,
    )
}

async fn append_n(log: &ProvenanceLog, from: u64, count: u64) {
    for n in from..from + count {
        log.append(record(n, "solo")).await.unwrap();
    }
}

/// Opens the log's sled database directly, waiting (bounded) for a just-closed handle to
/// release sled's file lock.
fn open_db(dir: &Path) -> sled::Db {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        match sled::open(dir) {
            Ok(db) => return db,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("could not acquire lock"), "{e}");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Rewrites the stored record `sequence` (with the log closed).
fn tamper(dir: &Path, sequence: u64, edit: impl FnOnce(&mut Option<ProvenanceRecord>)) {
    let db = open_db(dir);
    let records = db.open_tree(RECORDS_TREE).unwrap();
    let mut stored = records
        .get(sequence.to_be_bytes())
        .unwrap()
        .map(|bytes| serde_json::from_slice::<ProvenanceRecord>(&bytes).unwrap());
    edit(&mut stored);
    match stored {
        Some(record) => {
            records
                .insert(sequence.to_be_bytes(), serde_json::to_vec(&record).unwrap())
                .unwrap();
        }
        None => {
            records.remove(sequence.to_be_bytes()).unwrap();
        }
    }
    db.flush().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_get_contiguous_sequences_and_export_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 16).unwrap();
    let mut tasks = Vec::new();
    for agent in 0..50 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut sequences = Vec::new();
            for n in 0..4 {
                let sequence = log
                    .append(record(n, &format!("agent-{agent}")))
                    .await
                    .unwrap();
                sequences.push(sequence);
            }
            sequences
        }));
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        let sequences = task.await.unwrap();
        // Each task's own appends are ordered.
        assert!(sequences.windows(2).all(|w| w[0] < w[1]));
        all.extend(sequences);
    }
    assert_eq!(all, (1..=200).collect::<BTreeSet<u64>>());
    assert_eq!(log.last_sequence(), 200);
    assert!(log.is_healthy());

    let (checkpoint, entries) = log.export_sealed(0, 1_800_000_000_000).unwrap();
    assert_eq!(checkpoint.sequence, 200);
    let text = to_jsonl(entries);
    let summary = verify_jsonl(text.as_bytes(), &log.public_key(), false).unwrap();
    assert_eq!(summary.records, 200);
    assert_eq!(summary.last_sequence, 200);
    assert_eq!(summary.last_checkpoint, 200);
    assert_eq!(summary.last_checkpoint_time_ms, Some(1_800_000_000_000));
    // 200 / 16 = 12 periodic checkpoints, plus the export's.
    assert_eq!(summary.checkpoints, 13);
    assert_eq!(log.verify_stored().unwrap().records, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn announced_appends_share_flushes_and_an_unkept_announcement_blocks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 16).unwrap();
    // An announcement nobody keeps (a request that went away): appends still complete, the
    // writer only waits up to MAX_LINGER per batch for it.
    let stray = log.announce();
    let mut tasks = Vec::new();
    for agent in 0..20 {
        let log = log.clone();
        tasks.push(tokio::spawn(async move {
            let mut sequences = Vec::new();
            for n in 0..5 {
                let announced = log.announce();
                tokio::task::yield_now().await;
                let record = record(n, &format!("agent-{agent}"));
                sequences.push(log.append_announced(record, announced).await.unwrap());
                // Withdrawn without appending: must not hold anything up either.
                drop(log.announce());
            }
            sequences
        }));
    }
    let mut all = BTreeSet::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    drop(stray);
    assert_eq!(all, (1..=100).collect::<BTreeSet<u64>>());
    assert_eq!(log.inner.shared.announced.load(Ordering::SeqCst), 0);
    assert_eq!(log.verify_stored().unwrap().records, 100);
}

#[tokio::test]
async fn reopened_log_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
        append_n(&log, 1, 7).await;
        let clone = log.clone();
        drop(log);
        assert_eq!(clone.last_sequence(), 7);
    }
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    assert_eq!(log.last_sequence(), 7);
    assert_eq!(log.append(record(8, "solo")).await.unwrap(), 8);
    append_n(&log, 9, 2).await;
    log.checkpoint_now(1_900_000_000_000).unwrap();
    let summary = verify_export(&log, false).unwrap();
    assert_eq!(
        (summary.records, summary.checkpoints, summary.last_sequence),
        (10, 1, 10)
    );
    drop(log);

    // Again, after a checkpoint was written.
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    assert_eq!(log.append(record(11, "solo")).await.unwrap(), 11);
    assert!(matches!(
        verify_export(&log, false),
        Err(ChainError::TruncatedAfterCheckpoint {
            sequence: 11,
            unsealed: 1,
            ..
        })
    ));
}

#[tokio::test]
async fn an_unfinished_snapshot_does_not_stop_the_log_from_opening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
        append_n(&log, 1, 3).await;
    }
    // What a full disk or a crash during sled's snapshot leaves behind.
    let unfinished = dir.path().join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&unfinished, b"").unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    assert_eq!(log.last_sequence(), 3);
    assert!(!unfinished.exists());
}

#[tokio::test]
async fn stored_record_is_sealed_by_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    let mut input = record(1, "solo");
    input.sequence = 99;
    input.hash = "bogus".into();
    assert_eq!(log.append(input.clone()).await.unwrap(), 1);
    let stored = log.query(&ProvenanceFilter::default()).unwrap();
    let mut expected = input;
    expected.sequence = 1;
    seal(&mut expected, trust_sdk::provenance::GENESIS_HASH);
    assert_eq!(stored, vec![expected]);
}

#[tokio::test]
async fn periodic_checkpoints_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 5).unwrap();
    append_n(&log, 1, 12).await;
    let entries: Vec<ProvenanceEntry> = log.export(0).map(Result::unwrap).collect();
    let shape: Vec<String> = entries
        .iter()
        .map(|e| match e {
            ProvenanceEntry::Record(r) => format!("r{}", r.sequence),
            ProvenanceEntry::Checkpoint(c) => format!("c{}", c.sequence),
        })
        .collect();
    let expected: Vec<String> = "r1 r2 r3 r4 r5 c5 r6 r7 r8 r9 r10 c10 r11 r12"
        .split(' ')
        .map(String::from)
        .collect();
    assert_eq!(shape, expected);
    // A periodic checkpoint carries the time of the record it covers.
    let ProvenanceEntry::Checkpoint(c5) = &entries[5] else {
        unreachable!()
    };
    assert_eq!(c5.time_ms, 1_700_000_000_005);

    let summary = verify_export(&log, true).unwrap();
    assert_eq!(
        (
            summary.checkpoints,
            summary.last_checkpoint,
            summary.unsealed_tail
        ),
        (2, 10, 2)
    );
    assert!(matches!(
        verify_export(&log, false),
        Err(ChainError::TruncatedAfterCheckpoint {
            sequence: 11,
            unsealed: 2,
            last_checkpoint: 10,
            ..
        })
    ));
    log.checkpoint_now(1_700_000_000_100).unwrap();
    assert_eq!(verify_export(&log, false).unwrap().checkpoints, 3);
}

#[tokio::test]
async fn partial_export_verifies_from_an_earlier_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    append_n(&log, 1, 6).await;
    let (first, entries) = log.export_sealed(0, 10).unwrap();
    verify_jsonl(to_jsonl(entries).as_bytes(), &log.public_key(), false).unwrap();

    append_n(&log, 7, 4).await;
    let (second, entries) = log.export_sealed(first.sequence, 20).unwrap();
    assert_eq!(second.sequence, 10);
    let text = to_jsonl(entries);
    // Starts with the checkpoint at the anchor, then records 7..=10 and the new checkpoint.
    assert_eq!(text.lines().count(), 6);
    let summary = verify_jsonl_from(
        text.as_bytes(),
        &log.public_key(),
        ChainAnchor::from(&first),
        false,
    )
    .unwrap();
    assert_eq!((summary.records, summary.last_sequence), (4, 10));
}

#[tokio::test]
async fn empty_log_exports_a_genesis_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 5).unwrap();
    assert_eq!(log.last_sequence(), 0);
    assert!(log.export(0).next().is_none());
    let (checkpoint, entries) = log.export_sealed(0, 1).unwrap();
    assert_eq!(checkpoint.sequence, 0);
    let summary = verify_jsonl(to_jsonl(entries).as_bytes(), &log.public_key(), false).unwrap();
    assert_eq!((summary.records, summary.checkpoints), (0, 1));
    drop(log);
    // And it reopens.
    let log = ProvenanceLog::open(dir.path(), signing_key(), 5).unwrap();
    assert_eq!(log.append(record(1, "solo")).await.unwrap(), 1);
}

#[tokio::test]
async fn open_refuses_an_edited_last_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 5).unwrap();
    append_n(&log, 1, 6).await;
    drop(log);
    tamper(dir.path(), 6, |r| {
        r.as_mut().unwrap().decision = "tampered".into()
    });
    let error = ProvenanceLog::open(dir.path(), signing_key(), 5)
        .err()
        .unwrap();
    assert!(
        matches!(&error, ProvenanceError::Corrupt(m) if m.contains("record 6")),
        "{error}"
    );
}

#[tokio::test]
async fn open_refuses_an_edited_record_before_the_last() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    append_n(&log, 1, 6).await;
    drop(log);
    tamper(dir.path(), 5, |r| {
        r.as_mut().unwrap().resources.push("/etc/passwd".into())
    });
    let error = ProvenanceLog::open(dir.path(), signing_key(), 0)
        .err()
        .unwrap();
    assert!(
        matches!(&error, ProvenanceError::Corrupt(m) if m.contains("record 5")),
        "{error}"
    );
}

#[tokio::test]
async fn open_refuses_a_rehashed_record_under_a_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 5).unwrap();
    append_n(&log, 1, 10).await;
    drop(log);
    // A forger who recomputes the hash keeps the link intact, but not the checkpoint.
    tamper(dir.path(), 10, |r| {
        let record = r.as_mut().unwrap();
        record.decision = "tampered".into();
        let prev = record.prev_hash.clone();
        seal(record, &prev);
    });
    let error = ProvenanceLog::open(dir.path(), signing_key(), 5)
        .err()
        .unwrap();
    assert!(
        matches!(&error, ProvenanceError::Corrupt(m) if m.contains("checkpoint 10")),
        "{error}"
    );
}

#[tokio::test]
async fn open_refuses_a_truncated_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 5).unwrap();
    append_n(&log, 1, 10).await;
    drop(log);
    tamper(dir.path(), 10, |r| *r = None);
    let error = ProvenanceLog::open(dir.path(), signing_key(), 5)
        .err()
        .unwrap();
    assert!(
        matches!(&error, ProvenanceError::Corrupt(m) if m.contains("truncated")),
        "{error}"
    );
}

#[tokio::test]
async fn open_refuses_a_garbled_record() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    append_n(&log, 1, 3).await;
    drop(log);
    {
        let db = open_db(dir.path());
        let records = db.open_tree(RECORDS_TREE).unwrap();
        records
            .insert(3u64.to_be_bytes(), &b"{\"sequence\": 3"[..])
            .unwrap();
        db.flush().unwrap();
    }
    let error = ProvenanceLog::open(dir.path(), signing_key(), 0)
        .err()
        .unwrap();
    assert!(matches!(error, ProvenanceError::Corrupt(_)), "{error}");
}

#[tokio::test]
async fn open_refuses_another_executor_key() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    append_n(&log, 1, 2).await;
    drop(log);
    let other = SigningKey::from_bytes(&[4u8; 32]);
    let error = ProvenanceLog::open(dir.path(), other, 0).err().unwrap();
    assert!(matches!(error, ProvenanceError::KeyMismatch(_)), "{error}");
    // The right key still opens it.
    ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
}

#[tokio::test]
async fn verify_stored_finds_tampering_in_the_middle() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 5).unwrap();
    append_n(&log, 1, 12).await;
    drop(log);
    tamper(dir.path(), 3, |r| {
        r.as_mut().unwrap().decision = "tampered".into()
    });
    // The tip is intact, so the log opens; the full check finds the edit.
    let log = ProvenanceLog::open(dir.path(), signing_key(), 5).unwrap();
    let error = log.verify_stored().unwrap_err();
    assert!(
        matches!(&error, ProvenanceError::Corrupt(m) if m.contains("record 3")),
        "{error}"
    );
    assert!(matches!(
        verify_export(&log, true),
        Err(ChainError::HashMismatch {
            line: 3,
            sequence: 3
        })
    ));
}

#[tokio::test]
async fn query_filters_records() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    for n in 1..=6 {
        log.append(record(n, "a")).await.unwrap();
        log.append(record(n, "b")).await.unwrap();
    }
    let all = log.query(&ProvenanceFilter::default()).unwrap();
    assert_eq!(all.len(), 12);
    assert!(all.windows(2).all(|w| w[0].sequence + 1 == w[1].sequence));

    let by_agent = ProvenanceFilter {
        agent: Some("b".into()),
        ..Default::default()
    };
    let found = log.query(&by_agent).unwrap();
    assert_eq!(found.len(), 6);
    assert!(found.iter().all(|r| r.agent.as_deref() == Some("b")));

    let by_grant = ProvenanceFilter {
        grant_id: Some("grant-a".into()),
        ..Default::default()
    };
    assert_eq!(log.query(&by_grant).unwrap().len(), 6);
    // The root grant appears in every record's lineage.
    let by_root = ProvenanceFilter {
        grant_id: Some("grant-root".into()),
        ..Default::default()
    };
    assert_eq!(log.query(&by_root).unwrap().len(), 12);

    let combined = ProvenanceFilter {
        agent: Some("a".into()),
        operation: Some("read_file".into()),
        task: Some("task-2".into()),
        user: Some("alice".into()),
        ..Default::default()
    };
    let found = log.query(&combined).unwrap();
    assert_eq!(
        found
            .iter()
            .map(|r| r.request_id.as_str())
            .collect::<Vec<_>>(),
        ["req-a-2"]
    );

    let by_resource = ProvenanceFilter {
        resource_prefix: Some("/ws/src/1".into()),
        ..Default::default()
    };
    assert_eq!(log.query(&by_resource).unwrap().len(), 2);

    let by_time = ProvenanceFilter {
        since_ms: Some(1_700_000_000_002),
        until_ms: Some(1_700_000_000_004),
        ..Default::default()
    };
    let found = log.query(&by_time).unwrap();
    assert_eq!(found.len(), 4);
    assert!(found
        .iter()
        .all(|r| (1_700_000_000_002..1_700_000_000_004).contains(&r.time_ms)));

    let limited = ProvenanceFilter {
        agent: Some("a".into()),
        limit: Some(2),
        ..Default::default()
    };
    let found = log.query(&limited).unwrap();
    assert_eq!(found.iter().map(|r| r.sequence).collect::<Vec<_>>(), [1, 3]);
    let none = ProvenanceFilter {
        limit: Some(0),
        ..Default::default()
    };
    assert!(log.query(&none).unwrap().is_empty());
    let nobody = ProvenanceFilter {
        agent: Some("c".into()),
        ..Default::default()
    };
    assert!(log.query(&nobody).unwrap().is_empty());
}

#[test]
fn handles_and_exports_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    fn assert_send<T: Send>() {}
    assert_send_sync::<ProvenanceLog>();
    assert_send::<ExportIter>();
    assert_send_sync::<ProvenanceError>();
}

/// Makes `path` (recursively) immutable while it lives: root ignores permission bits, so this
/// is how a test makes a directory unwritable (ext4/xfs/btrfs). Clears the flag on drop.
struct Immutable(std::path::PathBuf);

impl Immutable {
    fn set(path: &Path) -> Option<Self> {
        let ok = std::process::Command::new("chattr")
            .args(["-R", "+i"])
            .arg(path)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| Self(path.to_path_buf()))
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .args(["-R", "-i"])
            .arg(&self.0)
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovers_by_itself_once_the_store_is_writable_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    append_n(&log, 1, 3).await;
    let Some(guard) = Immutable::set(dir.path()) else {
        eprintln!("SKIP: `chattr +i` is not supported here; cannot make the store unwritable");
        return;
    };
    let error = log.append(record(4, "solo")).await.unwrap_err();
    assert!(matches!(error, ProvenanceError::Storage(_)), "{error}");
    assert!(!log.is_healthy());

    // During the outage appends fail at once (fail closed, nothing queues behind the disk),
    // and so do checkpoints and exports.
    let started = std::time::Instant::now();
    let error = log.append(record(4, "solo")).await.unwrap_err();
    assert!(matches!(error, ProvenanceError::Unavailable(_)), "{error}");
    assert!(
        started.elapsed() < RECOVERY_INTERVAL,
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(
        log.checkpoint_now(1),
        Err(ProvenanceError::Unavailable(_))
    ));
    // Several recovery attempts fail while the directory stays unwritable.
    tokio::time::sleep(RECOVERY_INTERVAL * 3).await;
    assert!(!log.is_healthy());
    assert!(log.append(record(4, "solo")).await.is_err());

    drop(guard);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !log.is_healthy() {
        assert!(
            std::time::Instant::now() < deadline,
            "the log did not recover by itself"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The chain continues where the last durable record left it.
    assert_eq!(log.last_sequence(), 3);
    assert_eq!(log.append(record(4, "solo")).await.unwrap(), 4);
    let (checkpoint, entries) = log.export_sealed(0, 1_900_000_000_000).unwrap();
    assert_eq!(checkpoint.sequence, 4);
    let text = to_jsonl(entries);
    let summary = verify_jsonl(text.as_bytes(), &log.public_key(), false).unwrap();
    assert_eq!(summary.records, 4);
    // The recovery wrote a signed checkpoint covering the tip it found (record 3).
    let recovery_checkpoint = text.lines().any(|line| {
        matches!(
            serde_json::from_str::<ProvenanceEntry>(line).unwrap(),
            ProvenanceEntry::Checkpoint(c) if c.sequence == 3
        )
    });
    assert!(recovery_checkpoint, "{text}");
    assert_eq!(log.verify_stored().unwrap().records, 4);
    drop(log);
    // And the recovered directory opens normally.
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    assert_eq!(log.last_sequence(), 4);
}

/// sled recovers a damaged log file by dropping everything from the damage on; the tip mark
/// turns that silent loss into a refusal.
#[tokio::test]
async fn open_refuses_a_store_that_lost_acknowledged_records() {
    for damage in ["truncate", "garble", "delete"] {
        let dir = tempfile::tempdir().unwrap();
        let log = ProvenanceLog::open(dir.path(), signing_key(), 16).unwrap();
        append_n(&log, 1, 200).await;
        drop(log);
        let db = dir.path().join("db");
        let bytes = std::fs::read(&db).unwrap();
        match damage {
            "truncate" => std::fs::write(&db, &bytes[..bytes.len() / 2]).unwrap(),
            "garble" => {
                let mut garbled = bytes.clone();
                let middle = garbled.len() / 2;
                garbled[middle..middle + 4096]
                    .iter_mut()
                    .for_each(|b| *b ^= 0x5a);
                std::fs::write(&db, garbled).unwrap();
            }
            _ => std::fs::remove_file(&db).unwrap(),
        }
        let error = ProvenanceLog::open(dir.path(), signing_key(), 16)
            .err()
            .unwrap_or_else(|| panic!("{damage}: a damaged store was opened"));
        assert!(
            matches!(&error, ProvenanceError::Corrupt(m) if m.contains("missing")),
            "{damage}: {error}"
        );
    }
}

#[tokio::test]
async fn open_refuses_a_damaged_tip_mark_and_accepts_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    append_n(&log, 1, 3).await;
    drop(log);
    let mark = dir.path().join(TIP_MARK_FILE);
    let text = std::fs::read_to_string(&mark).unwrap();
    assert!(text.starts_with("3 "), "{text:?}");
    std::fs::write(&mark, b"\x00garbage").unwrap();
    let error = ProvenanceLog::open(dir.path(), signing_key(), 0)
        .err()
        .unwrap();
    assert!(
        matches!(&error, ProvenanceError::Corrupt(m) if m.contains("damaged")),
        "{error}"
    );
    // A mark naming another record 3 (a rewritten chain) is refused too.
    std::fs::write(&mark, format!("3 {}\n", "ab".repeat(32))).unwrap();
    let error = ProvenanceLog::open(dir.path(), signing_key(), 0)
        .err()
        .unwrap();
    assert!(
        matches!(&error, ProvenanceError::Corrupt(m) if m.contains("hash differs")),
        "{error}"
    );
    // A log from before the mark existed opens and gets one.
    std::fs::remove_file(&mark).unwrap();
    let log = ProvenanceLog::open(dir.path(), signing_key(), 0).unwrap();
    assert_eq!(log.append(record(4, "solo")).await.unwrap(), 4);
    drop(log);
    assert!(std::fs::read_to_string(&mark).unwrap().starts_with("4 "));
}
