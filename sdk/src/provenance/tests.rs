use ed25519_dalek::SigningKey;
use serde_json::{json, Value};

use super::*;

fn executor_key() -> SigningKey {
    SigningKey::from_bytes(&[7u8; 32])
}

fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[9u8; 32])
}

fn unsealed_record(i: u64) -> ProvenanceRecord {
    let kind = match i % 4 {
        0 => RecordKind::Intent,
        1 => RecordKind::Outcome,
        2 => RecordKind::Refusal,
        _ => RecordKind::ReadOnly,
    };
    let parameters = json!({
        "path": format!("src/file{i}.rs"),
        "limit": i,
        "nested": {"zeta": [1.5, 0.300_000_000_000_000_04, -2e-300], "alpha": null, "ünï": "\u{1F600}\n"},
    });
    ProvenanceRecord {
        sequence: 0,
        prev_hash: String::new(),
        hash: String::new(),
        time_ms: 1_700_000_000_000 + i as i64,
        kind,
        request_id: format!("req-{i}"),
        grant_id: Some("grant-child".into()),
        lineage: vec!["grant-root".into(), "block-1".into()],
        correlation_id: Some(format!("corr-{}", i / 2)),
        agent: Some("agent-a".into()),
        user: Some("alice".into()),
        task: Some("task-1".into()),
        holder_key: Some("ab".repeat(32)),
        operation: "fs.read".into(),
        resources: vec![format!("/ws/src/file{i}.rs")],
        parameters_digest: parameters_digest(&parameters),
        parameters,
        decision: if kind == RecordKind::Refusal {
            "refuse"
        } else {
            "allow"
        }
        .into(),
        reasons: vec!["rule:read-src".into()],
        status: Some(
            if kind == RecordKind::Refusal {
                "PERMISSION_DENIED"
            } else {
                "ok"
            }
            .into(),
        ),
        outcome_digest: kind.has_outcome().then(|| "cd".repeat(32)),
        outcome_size: kind.has_outcome().then_some(42),
        duration_us: kind.has_outcome().then_some(1234),
        intent_sequence: (kind == RecordKind::Outcome).then(|| i.saturating_sub(1)),
        process_instance: None,
        process_step: None,
    }
}

fn entry_line(entry: &ProvenanceEntry) -> String {
    serde_json::to_string(entry).unwrap()
}

/// `n` records sealed into a chain, a checkpoint after every `every`-th record and one after the
/// last record.
fn chain(n: u64, every: u64) -> Vec<String> {
    let key = executor_key();
    let mut lines = Vec::new();
    let mut prev = GENESIS_HASH.to_owned();
    for i in 1..=n {
        let mut record = unsealed_record(i);
        record.sequence = i;
        seal(&mut record, &prev);
        prev.clone_from(&record.hash);
        let time = record.time_ms;
        lines.push(entry_line(&ProvenanceEntry::Record(record)));
        if i.checked_rem(every) == Some(0) || i == n {
            let checkpoint = sign_checkpoint(&key, i, &prev, time + 1);
            lines.push(entry_line(&ProvenanceEntry::Checkpoint(checkpoint)));
        }
    }
    lines
}

fn verify(lines: &[String], allow_unsealed_tail: bool) -> Result<ChainSummary, ChainError> {
    let text = lines.join("\n") + "\n";
    verify_jsonl(
        text.as_bytes(),
        &executor_key().verifying_key(),
        allow_unsealed_tail,
    )
}

fn parse(line: &str) -> ProvenanceEntry {
    serde_json::from_str(line).unwrap()
}

/// Index in `lines` of the record with `sequence` (0-based; the line number is index + 1).
fn index_of(lines: &[String], sequence: u64) -> usize {
    lines
        .iter()
        .position(|l| matches!(parse(l), ProvenanceEntry::Record(r) if r.sequence == sequence))
        .unwrap()
}

fn edit_record(lines: &mut [String], sequence: u64, edit: impl FnOnce(&mut ProvenanceRecord)) {
    let index = index_of(lines, sequence);
    let ProvenanceEntry::Record(mut record) = parse(&lines[index]) else {
        unreachable!()
    };
    edit(&mut record);
    lines[index] = entry_line(&ProvenanceEntry::Record(record));
}

#[test]
fn valid_chain_verifies() {
    let lines = chain(20, 5);
    assert_eq!(lines.len(), 24);
    let summary = verify(&lines, false).unwrap();
    assert_eq!(summary.records, 20);
    assert_eq!(summary.checkpoints, 4);
    assert_eq!(summary.last_sequence, 20);
    assert_eq!(summary.last_checkpoint, 20);
    assert_eq!(summary.unsealed_tail, 0);
    assert_eq!(summary.last_checkpoint_time_ms, Some(1_700_000_000_021));
    let ProvenanceEntry::Record(last) = parse(&lines[22]) else {
        unreachable!()
    };
    assert_eq!(summary.last_hash, last.hash);
}

#[test]
fn entry_json_shape() {
    let lines = chain(2, 5);
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["record"]["sequence"], 1);
    assert_eq!(first["record"]["kind"], "outcome");
    assert_eq!(first["record"]["prev_hash"], GENESIS_HASH);
    assert_eq!(first["record"]["hash"].as_str().unwrap().len(), 64);
    let last: Value = serde_json::from_str(&lines[2]).unwrap();
    assert_eq!(last["checkpoint"]["sequence"], 2);
    assert_eq!(
        last["checkpoint"]["executor_key"],
        hex::encode(executor_key().verifying_key().as_bytes())
    );
}

#[test]
fn edited_field_is_a_hash_mismatch() {
    let mut lines = chain(20, 5);
    edit_record(&mut lines, 7, |r| r.decision = "refuse".into());
    let line = index_of(&lines, 7) + 1;
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::HashMismatch { line, sequence: 7 })
    );
}

#[test]
fn edited_parameters_are_a_hash_mismatch() {
    let mut lines = chain(20, 5);
    edit_record(&mut lines, 12, |r| {
        r.parameters["path"] = json!("/etc/shadow")
    });
    let line = index_of(&lines, 12) + 1;
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::HashMismatch { line, sequence: 12 })
    );

    // Also through a raw text edit that keeps the JSON valid.
    let mut lines = chain(20, 5);
    let index = index_of(&lines, 3);
    lines[index] = lines[index].replace("src/file3.rs\"", "src/file4.rs\"");
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::HashMismatch {
            line: index + 1,
            sequence: 3
        })
    );
}

#[test]
fn edited_and_rehashed_record_breaks_the_next_link() {
    let mut lines = chain(20, 5);
    edit_record(&mut lines, 7, |r| {
        r.decision = "refuse".into();
        let prev = r.prev_hash.clone();
        seal(r, &prev);
    });
    let line = index_of(&lines, 8) + 1;
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::BrokenLink { line, sequence: 8 })
    );
}

#[test]
fn rewritten_chain_fails_at_the_next_checkpoint() {
    let mut lines = chain(20, 5);
    // Edit record 7 and re-seal everything after it, as a forger without the key would.
    let mut prev = {
        let ProvenanceEntry::Record(r) = parse(&lines[index_of(&lines, 6)]) else {
            unreachable!()
        };
        r.hash
    };
    for sequence in 7..=20 {
        edit_record(&mut lines, sequence, |r| {
            if sequence == 7 {
                r.decision = "refuse".into();
            }
            seal(r, &prev);
            prev.clone_from(&r.hash);
        });
    }
    // The checkpoint covering record 10 comes right after it.
    let line = index_of(&lines, 10) + 2;
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::CheckpointMismatch { line, sequence: 10 })
    );
}

#[test]
fn deleted_record_is_out_of_order() {
    let mut lines = chain(20, 5);
    let index = index_of(&lines, 9);
    lines.remove(index);
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::OutOfOrder {
            line: index + 1,
            expected: 9,
            found: 10
        })
    );
}

#[test]
fn swapped_records_are_out_of_order() {
    let mut lines = chain(20, 5);
    let a = index_of(&lines, 12);
    let b = index_of(&lines, 13);
    lines.swap(a, b);
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::OutOfOrder {
            line: a + 1,
            expected: 12,
            found: 13
        })
    );
}

#[test]
fn inserted_copy_is_out_of_order() {
    let mut lines = chain(20, 5);
    let copy = lines[index_of(&lines, 4)].clone();
    let at = index_of(&lines, 16);
    lines.insert(at, copy);
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::OutOfOrder {
            line: at + 1,
            expected: 16,
            found: 4
        })
    );
}

#[test]
fn truncated_tail_is_detected_unless_allowed() {
    // Checkpoints after 5, 10, 15, 20 and 22; cut the last checkpoint off.
    let mut lines = chain(22, 5);
    let last = lines.pop().unwrap();
    assert!(matches!(parse(&last), ProvenanceEntry::Checkpoint(_)));
    let line = index_of(&lines, 21) + 1;
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::TruncatedAfterCheckpoint {
            line,
            sequence: 21,
            unsealed: 2,
            last_checkpoint: 20
        })
    );
    let summary = verify(&lines, true).unwrap();
    assert_eq!(summary.unsealed_tail, 2);
    assert_eq!(summary.last_checkpoint, 20);
    assert_eq!(summary.last_sequence, 22);

    // Cutting records off after the last checkpoint as well leaves a shorter, still unsealed tail.
    lines.pop();
    assert!(matches!(
        verify(&lines, false),
        Err(ChainError::TruncatedAfterCheckpoint {
            sequence: 21,
            unsealed: 1,
            ..
        })
    ));
}

#[test]
fn export_without_checkpoint_fails_unless_allowed() {
    let lines: Vec<String> = chain(3, 10)
        .into_iter()
        .filter(|l| l.starts_with("{\"record\""))
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(verify(&lines, false), Err(ChainError::NoCheckpoint));
    assert_eq!(verify(&lines, true).unwrap().unsealed_tail, 3);

    let key = executor_key().verifying_key();
    assert_eq!(
        verify_jsonl(&b""[..], &key, false),
        Err(ChainError::NoCheckpoint)
    );
    let empty = verify_jsonl(&b""[..], &key, true).unwrap();
    assert_eq!((empty.records, empty.last_sequence), (0, 0));

    // An empty log sealed by a checkpoint at sequence 0 verifies.
    let genesis = sign_checkpoint(&executor_key(), 0, GENESIS_HASH, 5);
    let text = entry_line(&ProvenanceEntry::Checkpoint(genesis));
    let summary = verify_jsonl(text.as_bytes(), &key, false).unwrap();
    assert_eq!(
        (
            summary.records,
            summary.checkpoints,
            summary.last_checkpoint
        ),
        (0, 1, 0)
    );
}

#[test]
fn checkpoint_forged_with_another_key_is_rejected() {
    let mut lines = chain(20, 5);
    let index = index_of(&lines, 10) + 1;
    let ProvenanceEntry::Checkpoint(real) = parse(&lines[index]) else {
        unreachable!()
    };

    // Signed by another key (and naming it).
    let forged = sign_checkpoint(&other_key(), real.sequence, &real.hash, real.time_ms);
    lines[index] = entry_line(&ProvenanceEntry::Checkpoint(forged.clone()));
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::WrongExecutorKey { line: index + 1 })
    );

    // Signed by another key but naming the executor's key.
    let mut disguised = forged;
    disguised.executor_key = real.executor_key.clone();
    lines[index] = entry_line(&ProvenanceEntry::Checkpoint(disguised));
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::BadCheckpointSignature { line: index + 1 })
    );

    // The real checkpoint with its time changed.
    let mut retimed = real;
    retimed.time_ms += 1;
    lines[index] = entry_line(&ProvenanceEntry::Checkpoint(retimed));
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::BadCheckpointSignature { line: index + 1 })
    );
}

#[test]
fn changed_checkpoint_key_is_rejected() {
    let mut lines = chain(20, 5);
    let index = index_of(&lines, 15) + 1;
    let ProvenanceEntry::Checkpoint(mut checkpoint) = parse(&lines[index]) else {
        unreachable!()
    };
    checkpoint.executor_key = hex::encode(other_key().verifying_key().as_bytes());
    lines[index] = entry_line(&ProvenanceEntry::Checkpoint(checkpoint));
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::WrongExecutorKey { line: index + 1 })
    );

    // Verifying the untouched export against the wrong key fails at the first checkpoint.
    let lines = chain(20, 5);
    let text = lines.join("\n");
    assert_eq!(
        verify_jsonl(text.as_bytes(), &other_key().verifying_key(), false),
        Err(ChainError::WrongExecutorKey { line: 6 })
    );
}

#[test]
fn misplaced_checkpoint_is_rejected() {
    let mut lines = chain(20, 5);
    let index = index_of(&lines, 10) + 1;
    let checkpoint = lines.remove(index);
    lines.insert(index - 2, checkpoint);
    assert_eq!(
        verify(&lines, false),
        Err(ChainError::CheckpointOutOfPlace {
            line: index - 1,
            sequence: 10,
            expected: 8
        })
    );
}

#[test]
fn malformed_lines_are_rejected() {
    let mut lines = chain(20, 5);
    lines[4] = "{\"record\": {\"sequence\": 5,".into();
    assert!(matches!(
        verify(&lines, false),
        Err(ChainError::Malformed { line: 5, .. })
    ));

    let mut lines = chain(20, 5);
    lines[2] = "not json".into();
    assert!(matches!(
        verify(&lines, false),
        Err(ChainError::Malformed { line: 3, .. })
    ));

    // An added field would escape the hash: it is refused.
    let mut lines = chain(20, 5);
    let index = index_of(&lines, 2);
    lines[index] = lines[index].replacen("{\"sequence\":", "{\"extra\":1,\"sequence\":", 1);
    assert!(
        matches!(verify(&lines, false), Err(ChainError::Malformed { line, .. }) if line == index + 1)
    );

    // So would an unknown entry type.
    let mut lines = chain(20, 5);
    lines.insert(3, "{\"note\": {}}".into());
    assert!(matches!(
        verify(&lines, false),
        Err(ChainError::Malformed { line: 4, .. })
    ));
}

#[test]
fn blank_lines_and_crlf_are_tolerated() {
    let lines = chain(6, 5);
    let text = format!("\n{}\r\n\n", lines.join("\r\n"));
    let summary = verify_jsonl(text.as_bytes(), &executor_key().verifying_key(), false).unwrap();
    assert_eq!(summary.records, 6);
}

#[test]
fn partial_export_verifies_from_an_anchor() {
    let lines = chain(20, 5);
    let index = index_of(&lines, 10) + 1;
    let ProvenanceEntry::Checkpoint(anchor) = parse(&lines[index]) else {
        unreachable!()
    };
    let tail = lines[index + 1..].join("\n");
    let key = executor_key().verifying_key();
    let summary =
        verify_jsonl_from(tail.as_bytes(), &key, ChainAnchor::from(&anchor), false).unwrap();
    assert_eq!((summary.records, summary.last_sequence), (10, 20));

    // The tail alone does not verify from the start of the chain.
    assert_eq!(
        verify_jsonl(tail.as_bytes(), &key, false),
        Err(ChainError::OutOfOrder {
            line: 1,
            expected: 1,
            found: 11
        })
    );
    // Nor from an anchor with the wrong hash.
    let wrong = ChainAnchor {
        sequence: 10,
        hash: GENESIS_HASH.into(),
    };
    assert_eq!(
        verify_jsonl_from(tail.as_bytes(), &key, wrong, false),
        Err(ChainError::BrokenLink {
            line: 1,
            sequence: 11
        })
    );
}

#[test]
fn canonical_bytes_ignore_key_order_and_cover_every_field() {
    let mut a = unsealed_record(1);
    a.parameters =
        serde_json::from_str(r#"{"b": 1, "a": {"y": 2, "x": [3, {"q": 1, "p": 2}]}}"#).unwrap();
    let mut b = a.clone();
    b.parameters =
        serde_json::from_str(r#"{"a": {"x": [3, {"p": 2, "q": 1}], "y": 2}, "b": 1}"#).unwrap();
    assert_eq!(canonical_bytes(&a), canonical_bytes(&b));
    assert_eq!(
        parameters_digest(&a.parameters),
        parameters_digest(&b.parameters)
    );
    assert_eq!(
        canonical_json(&a.parameters),
        br#"{"a":{"x":[3,{"p":2,"q":1}],"y":2},"b":1}"#
    );
    assert!(canonical_bytes(&a).starts_with(RECORD_DOMAIN));

    // The hash field itself is excluded; every other field is covered.
    let mut hashed = a.clone();
    hashed.hash = "ff".repeat(32);
    assert_eq!(canonical_bytes(&a), canonical_bytes(&hashed));
    type Edit = Box<dyn Fn(&mut ProvenanceRecord)>;
    let variants: Vec<Edit> = vec![
        Box::new(|r| r.sequence += 1),
        Box::new(|r| r.prev_hash = "1".into()),
        Box::new(|r| r.time_ms += 1),
        Box::new(|r| r.kind = RecordKind::Refusal),
        Box::new(|r| r.grant_id = None),
        Box::new(|r| r.lineage.pop().map(drop).unwrap_or_default()),
        Box::new(|r| r.holder_key = None),
        Box::new(|r| r.resources.push("/x".into())),
        Box::new(|r| r.reasons.clear()),
        Box::new(|r| r.outcome_size = Some(1)),
        Box::new(|r| r.intent_sequence = Some(9)),
        Box::new(|r| r.process_instance = Some("i-1".into())),
        Box::new(|r| r.process_step = Some("prepare".into())),
    ];
    for edit in variants {
        let mut edited = a.clone();
        edit(&mut edited);
        assert_ne!(canonical_bytes(&a), canonical_bytes(&edited));
    }
}

#[test]
fn sealed_records_survive_a_json_round_trip() {
    let mut record = unsealed_record(4);
    record.parameters = json!({
        "floats": [0.1, 0.300_000_000_000_000_04, 1e300, 5e-324, 123_456_789.123_456_78, -0.0],
        "big": u64::MAX,
        "neg": i64::MIN,
    });
    seal(&mut record, GENESIS_HASH);
    let text = serde_json::to_string(&record).unwrap();
    let back: ProvenanceRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, record);
    assert_eq!(record_hash(&back), record.hash);
}

#[test]
fn checkpoint_signature_covers_its_fields() {
    let key = executor_key();
    let hash = "ab".repeat(32);
    let checkpoint = sign_checkpoint(&key, 3, &hash, 99);
    assert_eq!(checkpoint.verify_signature(&key.verifying_key()), Ok(()));
    let mut message = CHECKPOINT_DOMAIN.to_vec();
    message.extend_from_slice(&3u64.to_be_bytes());
    message.extend_from_slice(&[0xab; 32]);
    message.extend_from_slice(&99i64.to_be_bytes());
    assert_eq!(checkpoint_message(3, &hash, 99), Some(message));

    let mut moved = checkpoint.clone();
    moved.sequence = 4;
    assert_eq!(
        moved.verify_signature(&key.verifying_key()),
        Err(CheckpointFault::BadSignature)
    );
    let bad = sign_checkpoint(&key, 3, "not hex", 99);
    assert_eq!(
        bad.verify_signature(&key.verifying_key()),
        Err(CheckpointFault::MalformedHash)
    );
}

#[test]
fn arbitrary_floats_survive_a_json_round_trip_after_sealing() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed);
    let floats: Vec<Value> = (0..5000)
        .map(|_| f64::from_bits(rng.gen::<u64>()))
        .filter(|f| f.is_finite())
        .map(|f| json!(f))
        .collect();
    let mut record = unsealed_record(5);
    record.parameters = json!({ "floats": floats });
    seal(&mut record, GENESIS_HASH);
    let text = serde_json::to_string(&record).unwrap();
    let back: ProvenanceRecord = serde_json::from_str(&text).unwrap();
    assert_eq!(back, record);
    assert_eq!(record_hash(&back), record.hash);
}

/// The canonical bytes the way they were first defined: the record (with `hash` = "") turned into
/// a `serde_json::Value`, then written with sorted keys. `canonical_bytes` writes the fields
/// directly and must produce exactly these bytes, or every existing log would stop verifying.
fn canonical_bytes_via_value(record: &ProvenanceRecord) -> Vec<u8> {
    let mut unhashed = record.clone();
    unhashed.hash = String::new();
    let mut out = RECORD_DOMAIN.to_vec();
    out.extend_from_slice(&canonical_json(&serde_json::to_value(&unhashed).unwrap()));
    out
}

#[test]
fn canonical_bytes_match_the_value_route_for_every_field_and_kind() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0xc0ffee);
    let texts = [
        "",
        "plain",
        "quote \" and \\ backslash",
        "control \u{1}\u{1f}\t\r\n",
        "ünïcødé \u{1F600}",
        "\u{7f}\u{2028}",
    ];
    let text = |rng: &mut rand::rngs::StdRng| texts[rng.gen_range(0..texts.len())].to_owned();
    for i in 0..2_000u64 {
        let mut r = unsealed_record(i);
        r.kind = [
            RecordKind::Intent,
            RecordKind::Outcome,
            RecordKind::Refusal,
            RecordKind::ReadOnly,
        ][rng.gen_range(0..4)];
        r.sequence = rng.gen();
        r.time_ms = rng.gen();
        r.hash = text(&mut rng);
        r.prev_hash = text(&mut rng);
        r.request_id = text(&mut rng);
        r.operation = text(&mut rng);
        r.decision = text(&mut rng);
        r.parameters_digest = text(&mut rng);
        let maybe = |rng: &mut rand::rngs::StdRng| rng.gen_bool(0.5).then(|| text(rng));
        r.grant_id = maybe(&mut rng);
        r.correlation_id = maybe(&mut rng);
        r.agent = maybe(&mut rng);
        r.user = maybe(&mut rng);
        r.task = maybe(&mut rng);
        r.holder_key = maybe(&mut rng);
        r.status = maybe(&mut rng);
        r.outcome_digest = maybe(&mut rng);
        let list = |rng: &mut rand::rngs::StdRng| {
            (0..rng.gen_range(0..3))
                .map(|_| text(rng))
                .collect::<Vec<_>>()
        };
        r.lineage = list(&mut rng);
        r.resources = list(&mut rng);
        r.reasons = list(&mut rng);
        r.outcome_size = rng.gen_bool(0.5).then(|| rng.gen());
        r.duration_us = rng.gen_bool(0.5).then(|| rng.gen());
        r.intent_sequence = rng.gen_bool(0.5).then(|| rng.gen());
        r.process_instance = maybe(&mut rng);
        r.process_step = maybe(&mut rng);
        if rng.gen_bool(0.2) {
            r.parameters = Value::Null;
        }
        assert_eq!(
            canonical_bytes(&r),
            canonical_bytes_via_value(&r),
            "record {r:?}"
        );
    }
}

#[test]
fn record_hash_is_stable() {
    // Pinned: a change of the canonical form breaks every stored log and export.
    let mut record = unsealed_record(1);
    record.sequence = 1;
    seal(&mut record, GENESIS_HASH);
    let via_value = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(canonical_bytes_via_value(&record)))
    };
    assert_eq!(record.hash, via_value);
    assert_eq!(record.hash, PINNED_RECORD_1_HASH);
}

const PINNED_RECORD_1_HASH: &str =
    "ef37ade3b5df6b3b8e38b1835a47f4472f8206c57376a3dad75c9c950b54f886";

/// `lines` with `edit` applied to every record, then resealed and re-signed as the executor would
/// (so only rules other than hashes, links and signatures can catch the edit).
fn reseal(lines: &[String], edit: impl Fn(&mut ProvenanceRecord)) -> Vec<String> {
    let key = executor_key();
    let mut prev = GENESIS_HASH.to_owned();
    lines
        .iter()
        .map(|line| match parse(line) {
            ProvenanceEntry::Record(mut r) => {
                edit(&mut r);
                seal(&mut r, &prev);
                prev.clone_from(&r.hash);
                entry_line(&ProvenanceEntry::Record(r))
            }
            ProvenanceEntry::Checkpoint(c) => entry_line(&ProvenanceEntry::Checkpoint(
                sign_checkpoint(&key, c.sequence, &prev, c.time_ms),
            )),
        })
        .collect()
}

#[test]
fn read_only_record_for_a_side_effecting_operation_does_not_verify() {
    // Record 3 is a read_only record (see `unsealed_record`).
    let lines = chain(8, 4);
    assert!(matches!(
        parse(&lines[index_of(&lines, 3)]),
        ProvenanceEntry::Record(r) if r.kind == RecordKind::ReadOnly
    ));
    for operation in ["fs.write", "fs.patch", "proc.run", "anything"] {
        let forged = reseal(&lines, |r| {
            if r.sequence == 3 {
                r.operation = operation.into();
            }
        });
        assert_eq!(
            verify(&forged, false),
            Err(ChainError::NotReadOnly {
                line: index_of(&forged, 3) + 1,
                sequence: 3,
                operation: operation.into(),
            })
        );
        // The same operation in an intent/outcome pair is fine.
        let paired = reseal(&lines, |r| {
            if r.sequence == 3 {
                r.operation = operation.into();
                r.kind = RecordKind::Outcome;
            }
        });
        assert!(verify(&paired, false).is_ok());
    }
    for operation in READ_ONLY_OPERATIONS {
        let read = reseal(&lines, |r| r.operation = (*operation).to_owned());
        assert!(verify(&read, false).is_ok(), "{operation}");
    }
}
