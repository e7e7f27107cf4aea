//! Admission of derived grants (issue 4): chains of depth 1, 2, 4 and 8, each level narrowed
//! with `trust_sdk::derive::derive` and bound to a new key, the request proved by the last key.
//!
//! For every depth, in one run and interleaved in chunks (so background load hits every case
//! alike):
//! - first use: a chain the executor has never seen (a fresh root grant and a fresh chain per
//!   sample, derived before timing), against the raw floor on the same request
//!   (`Biscuit::from` with every block signature + authorize with the executor's ambient facts
//!   + one `verify_strict` of the holder proof);
//! - repeated use: the same token with a fresh proof (the executor's verified-grant cache),
//!   against the floor for an already-verified token (authorize + `verify_strict`).
//!
//! Run with `cargo bench -p trust-tests --bench delegation`. Prints figures; asserts nothing.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use biscuit_auth::builder;
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit, KeyPair, PublicKey};
use common::*;
use ed25519_dalek::SigningKey;
use tool_executor::admission::Admission;
use tool_executor::config::AdmissionLimits;
use tool_executor::operations::{Operation, OperationLimits};
use tool_executor::trust_state::TrustState;
use trust_proto::executor::v1 as pb;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::derive::{derive, Derivation};
use trust_sdk::vocabulary::GrantClaims;

const PATH: &str = "src/calc.sh";
/// The read asks for 4 KiB: the first hop narrows `read_bytes` to 64 KiB.
const DEPTHS: &[usize] = &[1, 2, 4, 8];
/// First-use samples per depth (each needs its own freshly derived chain).
const FIRST: usize = 400;
/// Repeated-use samples per depth.
const REPEATED: usize = 2_000;
/// First-use requests per chunk (repeated use runs `REPEATED / FIRST` times as many).
const CHUNK: usize = 20;

struct Keys {
    root: KeyPair,
    root_pk: PublicKey,
    root_vk: ed25519_dalek::VerifyingKey,
}

fn read_op() -> pb::invocation::Operation {
    pb::invocation::Operation::Read(pb::ReadRequest {
        path: PATH.into(),
        offset: 0,
        length: 4096,
    })
}

/// Claims shaped like the coding profile's grant for `fs.read` and `fs.list` on the whole workspace.
fn claims(holder: &SigningKey, grant_id: &str) -> anyhow::Result<GrantClaims> {
    coding_claims(
        &holder.verifying_key(),
        grant_id,
        "orchestrator",
        "delegation benchmark",
        &[("fs.read", ""), ("fs.list", "")],
    )
}

/// One hop's narrowing: the first hop drops `fs.list` and narrows to `src`, later hops restate it
/// (each hop is a full delegation block: facts, narrowing checks and the holder re-binding).
fn narrowing(level: usize) -> Derivation {
    Derivation {
        narrowing: Attenuation {
            operations: Some(vec!["fs.read".into()]),
            prefixes: Some(vec!["src".into()]),
            limits: if level == 1 {
                vec![("read_bytes".into(), 65_536)]
            } else {
                Vec::new()
            },
            ..Default::default()
        },
        purpose: format!("subtask at depth {level}"),
        derived_id: None,
    }
}

/// A fresh root grant and a chain of `depth` derivations; returns the token bytes, the key that
/// holds the last level, and how long each `derive` took.
fn chain(
    keys: &Keys,
    grant_id: &str,
    depth: usize,
    derive_times: &mut Vec<Duration>,
) -> anyhow::Result<(Vec<u8>, SigningKey)> {
    let mut holder = trust_sdk::keys::generate();
    let mut token = trust_sdk::vocabulary::authority_block(&claims(&holder, grant_id)?)?
        .root_key_id(1)
        .build(&keys.root)?;
    for level in 1..=depth {
        let child = trust_sdk::keys::generate();
        let t = Instant::now();
        let derived = derive(&token, &holder, &child.verifying_key(), &narrowing(level))?;
        derive_times.push(t.elapsed());
        token = derived.token;
        holder = child;
    }
    Ok((token.to_vec()?, holder))
}

/// The executor's ambient facts for this read, as `Admission::authorize` supplies them.
struct Ambient {
    params: Vec<(&'static str, i64)>,
    digest: String,
    limits: AuthorizerLimits,
}

fn authorize(
    token: &Biscuit,
    holder: &ed25519_dalek::VerifyingKey,
    ambient: &Ambient,
    now: SystemTime,
) -> anyhow::Result<()> {
    let mut b = AuthorizerBuilder::new()
        .set_limits(ambient.limits.clone())
        .fact(builder::fact("time", &[builder::date(&now)]))?
        .fact(builder::fact("operation", &[builder::string("fs.read")]))?
        .fact(builder::fact("resource", &[builder::string(PATH)]))?
        .fact(builder::fact(
            "holder_proof",
            &[builder::bytes(holder.as_bytes())],
        ))?
        .fact(builder::fact(
            "served_workspace",
            &[builder::string("demo")],
        ))?
        .fact(builder::fact(
            "param_digest",
            &[builder::string(&ambient.digest)],
        ))?;
    for (name, value) in &ambient.params {
        b = b.fact(builder::fact(
            "param",
            &[builder::string(name), builder::int(*value)],
        ))?;
    }
    let mut authorizer = b.policy("allow if true")?.build(token)?;
    authorizer.authorize()?;
    Ok(())
}

/// The first-use floor: parse + every block signature, authorize, one `verify_strict`.
fn floor_first(
    request: &pb::ExecuteRequest,
    holder: &ed25519_dalek::VerifyingKey,
    keys: &Keys,
    ambient: &Ambient,
) -> anyhow::Result<()> {
    let token = Biscuit::from(&request.grant, keys.root_pk)?;
    authorize(&token, holder, ambient, now_system())?;
    trust_sdk::proof::verify(&request.grant, &request.invocation, holder, &request.proof)?;
    Ok(())
}

/// The repeated-use floor: the token is already verified; authorize and one `verify_strict`.
fn floor_repeated(
    token: &Biscuit,
    request: &pb::ExecuteRequest,
    holder: &ed25519_dalek::VerifyingKey,
    ambient: &Ambient,
) -> anyhow::Result<()> {
    authorize(token, holder, ambient, now_system())?;
    trust_sdk::proof::verify(&request.grant, &request.invocation, holder, &request.proof)?;
    Ok(())
}

fn admit(admission: &Admission, request: &pb::ExecuteRequest) -> anyhow::Result<()> {
    let call = tool_executor::rpc::execute_call(request.clone());
    admission
        .admit(&call, now_system())
        .map(|_| ())
        .map_err(|r| anyhow::anyhow!("admission refused: {}", r.refusal))
}

fn timed<F: FnMut() -> anyhow::Result<()>>(
    out: &mut Vec<Duration>,
    mut f: F,
) -> anyhow::Result<()> {
    let t = Instant::now();
    f()?;
    out.push(t.elapsed());
    Ok(())
}

struct DepthResult {
    depth: usize,
    blocks: usize,
    token_bytes: usize,
    derive_per_hop: Stats,
    first_floor: Stats,
    first: Stats,
    repeated_floor: Stats,
    repeated: Stats,
    parse_verify: Stats,
    authz: Stats,
    proof: Stats,
    claims_lineage: Stats,
}

fn ratio(a: Stats, b: Stats) -> String {
    format!("{:.2}", a.p50.as_secs_f64() / b.p50.as_secs_f64().max(1e-9))
}

fn main() -> anyhow::Result<()> {
    header("delegation: admission of derived-grant chains (depth 1, 2, 4, 8), first and repeated use, vs. raw floors");
    let root_sk = trust_sdk::keys::generate();
    let keys = Keys {
        root: KeyPair::from(&trust_sdk::keys::to_biscuit_private(&root_sk)?),
        root_pk: trust_sdk::keys::to_biscuit_public(&root_sk.verifying_key())?,
        root_vk: root_sk.verifying_key(),
    };
    let dir = tempfile::tempdir()?;
    let trust = Arc::new(TrustState::open(&dir.path().join("trust"))?);
    trust.install(vec![(1, keys.root_vk, true)], now_ms());
    let operation_limits = OperationLimits::default();
    let ambient = Ambient {
        params: Operation::Read {
            path: PATH.into(),
            offset: 0,
            length: 4096,
        }
        .all_params(&operation_limits),
        digest: trust_sdk::provenance::parameters_digest(&trust_sdk::parameters::redacted(
            &read_op(),
        )),
        limits: AuthorizerLimits {
            max_facts: 2_000,
            max_iterations: 200,
            max_time: Duration::from_millis(1_000),
        },
    };
    let admission = Admission::new(
        Arc::clone(&trust),
        AdmissionLimits {
            max_token_bytes: 64 * 1024,
            max_blocks: 16,
            max_request_bytes: 4 * 1024 * 1024,
            // Requests are signed before the timed section; a wide window keeps them valid.
            proof_window: Duration::from_secs(300),
            revocation_max_staleness: Duration::from_secs(3600),
            max_delegation_depth: 8,
        },
        operation_limits,
        vec!["demo".into()],
        SystemTime::UNIX_EPOCH,
    );

    let run_start = Instant::now();
    let mut results = Vec::new();
    for &depth in DEPTHS {
        // Fresh chains for first use (derived before timing), one chain for repeated use.
        let mut derive_times = Vec::new();
        let mut fresh = Vec::with_capacity(FIRST);
        for i in 0..FIRST {
            let (bytes, holder) = chain(
                &keys,
                &format!("root-d{depth}-{i:06}"),
                depth,
                &mut derive_times,
            )?;
            fresh.push((bytes, holder));
        }
        let (reused, reused_holder) = chain(
            &keys,
            &format!("root-d{depth}-reused"),
            depth,
            &mut derive_times,
        )?;
        let reused_vk = reused_holder.verifying_key();
        let reused_token = Biscuit::from(&reused, keys.root_pk)?;
        let blocks = reused_token.block_count();
        // Warm up (and check every path admits) on grants that are not measured.
        for i in 0..10 {
            let (g, h) = chain(&keys, &format!("warm-d{depth}-{i}"), depth, &mut Vec::new())?;
            let r = trust_sdk::client::prepare_execute(&g, &h, read_op(), now_ms());
            floor_first(&r, &h.verifying_key(), &keys, &ambient)?;
            admit(&admission, &r)?;
            admit(
                &admission,
                &trust_sdk::client::prepare_execute(&reused, &reused_holder, read_op(), now_ms()),
            )?;
        }

        let first_requests: Vec<_> = fresh
            .iter()
            .map(|(g, h)| {
                (
                    trust_sdk::client::prepare_execute(g, h, read_op(), now_ms()),
                    h.verifying_key(),
                )
            })
            .collect();
        let repeated_requests: Vec<_> = (0..REPEATED)
            .map(|_| {
                trust_sdk::client::prepare_execute(&reused, &reused_holder, read_op(), now_ms())
            })
            .collect();
        let floor_requests: Vec<_> = (0..REPEATED)
            .map(|_| {
                trust_sdk::client::prepare_execute(&reused, &reused_holder, read_op(), now_ms())
            })
            .collect();
        let per_chunk = REPEATED / FIRST * CHUNK;
        let (mut first_floor, mut first, mut repeated_floor, mut repeated) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for c in 0..FIRST.div_ceil(CHUNK) {
            let fr = c * CHUNK..((c + 1) * CHUNK).min(FIRST);
            let rr = c * per_chunk..((c + 1) * per_chunk).min(REPEATED);
            // The floor reads nothing into the executor, so it runs on the same requests
            // (the executor still sees each chain for the first time).
            for (r, h) in &first_requests[fr.clone()] {
                timed(&mut first_floor, || floor_first(r, h, &keys, &ambient))?;
            }
            for (r, _) in &first_requests[fr] {
                timed(&mut first, || admit(&admission, r))?;
            }
            for r in &repeated_requests[rr.clone()] {
                timed(&mut repeated, || admit(&admission, r))?;
            }
            for r in &floor_requests[rr] {
                timed(&mut repeated_floor, || {
                    floor_repeated(&reused_token, r, &reused_vk, &ambient)
                })?;
            }
        }

        // Where the time goes (same run, untimed set-up).
        let mut parse_verify = Vec::new();
        for (g, _) in fresh.iter().take(200) {
            timed(&mut parse_verify, || {
                Biscuit::from(g, keys.root_pk)?;
                Ok(())
            })?;
        }
        let tokens: Vec<Biscuit> = fresh
            .iter()
            .take(200)
            .map(|(g, _)| Biscuit::from(g, keys.root_pk))
            .collect::<Result<_, _>>()?;
        let mut authz = Vec::new();
        for (t, (_, h)) in tokens.iter().zip(&fresh) {
            let vk = h.verifying_key();
            timed(&mut authz, || authorize(t, &vk, &ambient, now_system()))?;
        }
        let mut proof = Vec::new();
        for r in floor_requests.iter().take(500) {
            timed(&mut proof, || {
                trust_sdk::proof::verify(&r.grant, &r.invocation, &reused_vk, &r.proof)?;
                Ok(())
            })?;
        }
        // What a verified-grant cache miss adds after the signatures: claims and the lineage.
        let mut claims_lineage = Vec::new();
        for t in &tokens {
            timed(&mut claims_lineage, || {
                let claims = trust_sdk::vocabulary::read_claims(t)?;
                let links = trust_sdk::lineage::links(t)?;
                trust_sdk::lineage::current_holder(&claims.holder, &links)?;
                Ok(())
            })?;
        }
        results.push(DepthResult {
            depth,
            blocks,
            token_bytes: reused.len(),
            derive_per_hop: Stats::of(&mut derive_times),
            first_floor: Stats::of(&mut first_floor),
            first: Stats::of(&mut first),
            repeated_floor: Stats::of(&mut repeated_floor),
            repeated: Stats::of(&mut repeated),
            parse_verify: Stats::of(&mut parse_verify),
            authz: Stats::of(&mut authz),
            proof: Stats::of(&mut proof),
            claims_lineage: Stats::of(&mut claims_lineage),
        });
    }

    println!(
        "request: fs.read `{PATH}` proved by the last delegate's key; each hop = one third-party block signed by the \
         parent's key (narrow to fs.read under `src`, re-bind to a new key); AdmissionLimits.max_delegation_depth = 8; \
         one core, sequential; total run {:.1} s",
        run_start.elapsed().as_secs_f64()
    );
    println!();
    println!("| depth | blocks | token B | measurement | n | p50 µs | p99 µs | per second (1 core, at p50) | ratio p50 / floor p50 |");
    println!("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &results {
        let row = |label: &str, s: Stats, floor: Option<Stats>| {
            println!(
                "| {} | {} | {} | {label} | {} | {} | {} | {} | {} |",
                r.depth,
                r.blocks,
                r.token_bytes,
                s.n,
                us(s.p50),
                us(s.p99),
                rate(1.0 / s.p50.as_secs_f64().max(1e-9)),
                floor
                    .map(|f| ratio(s, f))
                    .unwrap_or_else(|| "1.00 (floor)".into())
            )
        };
        row(
            "floor, first use: Biscuit::from (all signatures) + authorize + verify_strict",
            r.first_floor,
            None,
        );
        row(
            "admit, first use (chain never seen)",
            r.first,
            Some(r.first_floor),
        );
        row(
            "floor, repeated use: authorize + verify_strict",
            r.repeated_floor,
            None,
        );
        row(
            "admit, repeated use (same token, new proof)",
            r.repeated,
            Some(r.repeated_floor),
        );
    }
    println!();
    println!("where the time goes (p50 µs, same run):");
    println!();
    println!("| depth | Biscuit::from (parse + every block signature) | authorizer build + authorize | holder proof verify (sha256 ×2 + verify_strict) | read_claims + lineage::links (cache miss only) | derive, one hop (offline, client side) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in &results {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.depth,
            us(r.parse_verify.p50),
            us(r.authz.p50),
            us(r.proof.p50),
            us(r.claims_lineage.p50),
            us(r.derive_per_hop.p50),
        );
    }
    println!();
    println!(
        "notes: first use presents a chain derived from a fresh root grant per sample, so the executor's verified-grant \
         cache (keyed by SHA-256 of the token bytes) never hits; its floor runs on the same requests. Repeated use presents \
         one chain per depth with a new invocation and proof each time. Cases run interleaved: {CHUNK} first-use and \
         {} repeated-use requests per chunk.",
        REPEATED / FIRST * CHUNK
    );
    Ok(())
}
