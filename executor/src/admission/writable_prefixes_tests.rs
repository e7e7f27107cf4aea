//! `writable_prefixes` through two delegation hops: a prefix is writable by a child only where
//! the authority block and every hop hold it, and not at all once a hop drops the writes.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use trust_sdk::lineage::Link;
use trust_sdk::vocabulary::{Approval, GrantClaims};

use super::writable_prefixes;

fn claims() -> GrantClaims {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    GrantClaims {
        grant_id: "root".into(),
        correlation_id: "c".into(),
        user: "alice".into(),
        agent: "coder-1".into(),
        holder: trust_sdk::keys::generate().verifying_key(),
        workspace: "demo".into(),
        task: "t".into(),
        purpose: "p".into(),
        profile: "coding".into(),
        scopes: vec![
            ("fs.read".into(), "".into()),
            ("fs.write".into(), "src".into()),
            ("fs.patch".into(), "tests".into()),
        ],
        commands: vec![("test".into(), vec!["sh".into(), "run-tests.sh".into()])],
        limits: vec![],
        deny_globs: vec![],
        deny_regexes: vec![],
        approval: Approval::NotRequired,
        issued_at: now,
        expires_at: now + Duration::from_secs(600),
        shell: None,
        sandbox_level: None,
        child_limits: vec![],
        http_rules: Vec::new(),
    }
}

fn hop(id: &str, operations: Option<&[&str]>, prefixes: &[&str]) -> Link {
    Link {
        block: 1,
        from: trust_sdk::keys::generate().verifying_key(),
        to: trust_sdk::keys::generate().verifying_key(),
        derived_id: id.into(),
        parent_id: "root".into(),
        purpose: "sub-task".into(),
        operations: operations
            .map(|ops| ops.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>()),
        prefixes: Some(prefixes.iter().map(|s| s.to_string()).collect()),
        commands: None,
        expires_at: None,
        limits: vec![],
    }
}

#[test]
fn two_hops_keep_only_what_every_hop_holds() {
    let claims = claims();
    assert_eq!(writable_prefixes(&claims, &[]), ["src", "tests"]);
    let first = hop("d1", None, &["src/a", "tests"]);
    let second = hop("d2", None, &["src/a/b", "tests/x", "docs"]);
    assert_eq!(
        writable_prefixes(&claims, std::slice::from_ref(&first)),
        ["src/a", "tests"]
    );
    // `docs` was never writable; `src/a` and `tests` are narrowed by the second hop.
    assert_eq!(
        writable_prefixes(&claims, &[first.clone(), second]),
        ["src/a/b", "tests/x"]
    );
    // A second hop that widens (`src`) gains nothing beyond the first hop's `src/a`.
    let widening = hop("d2", None, &["src", "tests"]);
    assert_eq!(
        writable_prefixes(&claims, &[first.clone(), widening]),
        ["src/a", "tests"]
    );
    // A hop that keeps no write operation leaves the workspace read-only to a child.
    let read_only = hop("d2", Some(&["fs.read", "proc.run"]), &["src/a"]);
    assert!(writable_prefixes(&claims, &[first, read_only]).is_empty());
}
