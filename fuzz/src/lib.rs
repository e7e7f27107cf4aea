//! Fixtures shared by the fuzz targets and the seed-corpus generator: fixed keys, a fixed clock,
//! a real grant, and an in-process `Admission` with the root key installed (set up the way
//! `tests/benches/admission.rs` does).
//!
//! Everything is deterministic except Biscuit's per-block ephemeral keys, so a grant written
//! into the seed corpus stays valid for the targets: same root key, and a clock fixed inside its
//! validity.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use biscuit_auth::KeyPair;
use ed25519_dalek::SigningKey;
use prost::Message;
use tool_executor::admission::Admission;
use tool_executor::config::AdmissionLimits;
use tool_executor::operations::OperationLimits;
use tool_executor::trust_state::TrustState;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::vocabulary::{Approval, GrantClaims};

/// The targets' clock: 2026-09-21, well inside the fixture grant's validity.
pub const NOW_MS: i64 = 1_790_000_000_000;

pub fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(NOW_MS as u64)
}

pub fn root_key() -> SigningKey {
    SigningKey::from_bytes(&[1u8; 32])
}

pub fn holder_key() -> SigningKey {
    SigningKey::from_bytes(&[2u8; 32])
}

/// Deny rules of the fixture grant, as (glob, anchored regex).
pub const DENY: [(&str, &str); 3] = [
    (".env", r"^\.env$"),
    ("secrets/**", r"^secrets/.*$"),
    ("**/*.pem", r"^(.*/)?[^/]*\.pem$"),
];

/// Claims like the coding profile's: read anywhere, write and patch under `src/`, run `test`.
pub fn claims(grant_id: &str) -> GrantClaims {
    GrantClaims {
        grant_id: grant_id.to_string(),
        correlation_id: format!("corr-{grant_id}"),
        user: "alice".into(),
        agent: "coder-1".into(),
        holder: holder_key().verifying_key(),
        workspace: "demo".into(),
        task: "fuzz".into(),
        purpose: "fuzzing admission".into(),
        profile: "coding".into(),
        scopes: vec![
            ("fs.read".into(), String::new()),
            ("fs.list".into(), String::new()),
            ("fs.search".into(), String::new()),
            ("fs.write".into(), "src/".into()),
            ("fs.patch".into(), "src/".into()),
        ],
        commands: vec![("test".into(), vec!["sh".into(), "run-tests.sh".into()])],
        limits: vec![
            ("read_bytes".into(), 1_048_576),
            ("write_bytes".into(), 1_048_576),
            ("list_entries".into(), 1000),
            ("search_matches".into(), 200),
            ("run_timeout_ms".into(), 120_000),
            ("output_bytes".into(), 1_048_576),
        ],
        deny_globs: DENY.iter().map(|(g, _)| g.to_string()).collect(),
        deny_regexes: DENY.iter().map(|(_, r)| r.to_string()).collect(),
        approval: Approval::NotRequired,
        issued_at: now() - Duration::from_secs(60),
        expires_at: now() + Duration::from_secs(3600),
        shell: None,
        sandbox_level: None,
        child_limits: vec![],
        http_rules: Vec::new(),
    }
}

/// A real grant signed by the fixture root key (key id 1).
pub fn grant(grant_id: &str) -> Vec<u8> {
    let root = trust_sdk::keys::to_biscuit_private(&root_key()).expect("fixture root key");
    trust_sdk::vocabulary::authority_block(&claims(grant_id))
        .expect("fixture claims")
        .root_key_id(1)
        .build(&KeyPair::from(&root))
        .expect("fixture grant")
        .to_vec()
        .expect("fixture grant serializes")
}

/// Invocation bytes for `operation` at the fixture clock.
pub fn invocation(operation: Op, request_id: &str) -> Vec<u8> {
    pb::Invocation {
        request_id: request_id.to_string(),
        timestamp_ms: NOW_MS,
        nonce: vec![7u8; 16],
        operation: Some(operation),
    }
    .encode_to_vec()
}

/// An `ExecuteRequest` with a valid holder proof over exactly these grant and invocation bytes.
pub fn request(grant: &[u8], invocation: &[u8]) -> pb::ExecuteRequest {
    let holder = holder_key();
    pb::ExecuteRequest {
        grant: grant.to_vec(),
        invocation: invocation.to_vec(),
        holder_key: holder.verifying_key().as_bytes().to_vec(),
        proof: trust_sdk::proof::prove(grant, invocation, &holder),
    }
}

/// An `Admission` that trusts the fixture root key, serves `demo`, and started an hour before
/// the fixture clock. Its replay cache fills up, so callers make a new one now and then.
pub struct Fixture {
    trust: Arc<TrustState>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let trust = Arc::new(TrustState::open(&dir.path().join("trust")).expect("trust state"));
        trust.install(vec![(1, root_key().verifying_key(), true)], NOW_MS);
        Self { trust, _dir: dir }
    }

    pub fn admission(&self) -> Admission {
        Admission::new(
            Arc::clone(&self.trust),
            AdmissionLimits {
                max_token_bytes: 16 * 1024,
                max_blocks: 16,
                max_request_bytes: 4 * 1024 * 1024,
                proof_window: Duration::from_secs(30),
                revocation_max_staleness: Duration::from_secs(3600),
                max_delegation_depth: 8,
            },
            OperationLimits::default(),
            vec!["demo".into()],
            now() - Duration::from_secs(3600),
        )
    }
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

/// Whether `resource` is one the fixture grant's deny rules cover.
pub fn denied(resource: &str) -> bool {
    resource == ".env" || resource.starts_with("secrets/") || resource.ends_with(".pem")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &str) -> Op {
        Op::Read(pb::ReadRequest {
            path: path.into(),
            offset: 0,
            length: 0,
        })
    }

    /// The fixtures admit what the grant allows and refuse the rest, so the targets reach
    /// Datalog and the operation checks rather than failing early.
    #[test]
    fn the_fixture_grant_is_admitted_for_what_it_allows() {
        let fixture = Fixture::new();
        let admission = fixture.admission();
        let token = grant("test-grant");
        let allowed = request(&token, &invocation(read("src/calc.sh"), "r1"));
        let admitted = admission.admit(&tool_executor::rpc::execute_call(allowed), now());
        assert!(admitted.is_ok(), "{:?}", admitted.err());
        let denied_read = request(&token, &invocation(read(".env"), "r2"));
        assert!(admission
            .admit(&tool_executor::rpc::execute_call(denied_read), now())
            .is_err());
        let write = Op::Write(pb::WriteRequest {
            path: "README.md".into(),
            ..Default::default()
        });
        let outside = request(&token, &invocation(write, "r3"));
        assert!(admission
            .admit(&tool_executor::rpc::execute_call(outside), now())
            .is_err());
        assert!(denied("secrets/a") && denied("x/key.pem") && !denied("src/calc.sh"));
    }
}
