//! In-process admission of an `fs.read` against the raw Biscuit + ed25519 floor.
//!
//! Grants of 1 block (authority block only) and 3 blocks (two attenuation blocks). Every request
//! carries a new invocation and holder proof, prepared outside the timed section. "First use"
//! presents a grant the executor has not seen before; "repeated use" presents the same grant
//! again with a new proof.
//!
//! Run with `cargo bench -p trust-tests --bench admission`. Prints figures; asserts nothing.

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
use trust_sdk::attenuate::{attenuate, Attenuation};
use trust_sdk::vocabulary::GrantClaims;

const PATH: &str = "src/calc.sh";
/// Most requests per measurement (each also stops after `BUDGET`).
const COUNT: usize = 2_000;
const BUDGET: Duration = Duration::from_secs(3);
/// Requests per case before switching to the next case.
const CHUNK: usize = 50;

struct Keys {
    root: KeyPair,
    root_pk: PublicKey,
    root_vk: ed25519_dalek::VerifyingKey,
    holder: SigningKey,
}

fn read_op() -> pb::invocation::Operation {
    pb::invocation::Operation::Read(pb::ReadRequest {
        path: PATH.into(),
        offset: 0,
        length: 0,
    })
}

/// Claims shaped like the coding profile's grant for `fs.read` on the whole workspace.
fn claims(keys: &Keys, grant_id: &str) -> anyhow::Result<GrantClaims> {
    coding_claims(
        &keys.holder.verifying_key(),
        grant_id,
        "coder-1",
        "admission benchmark",
        &[("fs.read", "")],
    )
}

/// A serialized grant with `blocks` blocks (1 or 3).
fn grant(keys: &Keys, grant_id: &str, blocks: usize) -> anyhow::Result<Vec<u8>> {
    let mut token = trust_sdk::vocabulary::authority_block(&claims(keys, grant_id)?)?
        .root_key_id(1)
        .build(&keys.root)?;
    if blocks >= 3 {
        token = attenuate(
            &token,
            &Attenuation {
                operations: Some(vec!["fs.read".into()]),
                prefixes: Some(vec!["src".into()]),
                limits: vec![("read_bytes".into(), 1_048_576)],
                ..Default::default()
            },
        )?;
        token = attenuate(
            &token,
            &Attenuation {
                prefixes: Some(vec![PATH.into()]),
                expires_at: Some(now_system() + Duration::from_secs(10 * 60)),
                ..Default::default()
            },
        )?;
    }
    Ok(token.to_vec()?)
}

fn prepare(grant: &[u8], keys: &Keys) -> pb::ExecuteRequest {
    trust_sdk::client::prepare_execute(grant, &keys.holder, read_op(), now_ms())
}

/// The floor: parse + verify every block signature, authorize with the same ambient facts,
/// and verify the holder proof (one `verify_strict` over the proof input).
fn floor_once(
    request: &pb::ExecuteRequest,
    keys: &Keys,
    params: &[(&'static str, i64)],
    limits: &AuthorizerLimits,
    now: SystemTime,
) -> anyhow::Result<()> {
    let token = Biscuit::from(&request.grant, keys.root_pk)?;
    authorize(&token, keys, params, limits, now)?;
    trust_sdk::proof::verify(
        &request.grant,
        &request.invocation,
        &keys.holder.verifying_key(),
        &request.proof,
    )?;
    Ok(())
}

fn authorize(
    token: &Biscuit,
    keys: &Keys,
    params: &[(&'static str, i64)],
    limits: &AuthorizerLimits,
    now: SystemTime,
) -> anyhow::Result<()> {
    let mut b = AuthorizerBuilder::new()
        .set_limits(limits.clone())
        .fact(builder::fact("time", &[builder::date(&now)]))?
        .fact(builder::fact("operation", &[builder::string("fs.read")]))?
        .fact(builder::fact("resource", &[builder::string(PATH)]))?;
    for (name, value) in params {
        b = b.fact(builder::fact(
            "param",
            &[builder::string(name), builder::int(*value)],
        ))?;
    }
    let mut authorizer = b
        .fact(builder::fact(
            "holder_proof",
            &[builder::bytes(keys.holder.verifying_key().as_bytes())],
        ))?
        .fact(builder::fact(
            "served_workspace",
            &[builder::string("demo")],
        ))?
        .policy("allow if true")?
        .build(token)?;
    authorizer.authorize()?;
    Ok(())
}

/// Times `f` over each prepared item, stopping after `BUDGET`.
fn time_each<T, F: FnMut(&T) -> anyhow::Result<()>>(
    items: &[T],
    mut f: F,
) -> anyhow::Result<Stats> {
    let mut samples = Vec::with_capacity(items.len());
    let start = Instant::now();
    for item in items {
        let t = Instant::now();
        f(item)?;
        samples.push(t.elapsed());
        if start.elapsed() > BUDGET {
            break;
        }
    }
    Ok(Stats::of(&mut samples))
}

fn admit(admission: &Admission, request: &pb::ExecuteRequest) -> anyhow::Result<()> {
    let call = tool_executor::rpc::execute_call(request.clone());
    admission
        .admit(&call, now_system())
        .map(|_| ())
        .map_err(|r| anyhow::anyhow!("admission refused: {}", r.refusal))
}

struct Row {
    label: String,
    stats: Stats,
    floor: Option<Stats>,
}

fn main() -> anyhow::Result<()> {
    header("admission: in-process Admission::admit vs. raw Biscuit + ed25519 floor");
    let root_sk = trust_sdk::keys::generate();
    let keys = Keys {
        root: KeyPair::from(&trust_sdk::keys::to_biscuit_private(&root_sk)?),
        root_pk: trust_sdk::keys::to_biscuit_public(&root_sk.verifying_key())?,
        root_vk: root_sk.verifying_key(),
        holder: trust_sdk::keys::generate(),
    };
    let dir = tempfile::tempdir()?;
    let trust = Arc::new(TrustState::open(&dir.path().join("trust"))?);
    trust.install(vec![(1, keys.root_vk, true)], now_ms());
    let operation_limits = OperationLimits::default();
    // The executor's ambient `param` facts for this read: its own, and 0 for every other limit.
    let params = Operation::Read {
        path: PATH.into(),
        offset: 0,
        length: 0,
    }
    .all_params(&operation_limits);
    let admission = Admission::new(
        Arc::clone(&trust),
        AdmissionLimits {
            max_token_bytes: 16 * 1024,
            max_blocks: 16,
            max_request_bytes: 4 * 1024 * 1024,
            proof_window: Duration::from_secs(30),
            revocation_max_staleness: Duration::from_secs(3600),
            max_delegation_depth: 8,
        },
        operation_limits,
        vec!["demo".into()],
        std::time::UNIX_EPOCH,
    );
    let authorizer_limits = AuthorizerLimits {
        max_facts: 2_000,
        max_iterations: 200,
        // A floor, not a bound: a preempted sample on a busy machine must not end the run.
        max_time: Duration::from_secs(5),
    };

    let mut rows = Vec::new();
    let mut shape = String::new();
    let mut sizes = Vec::new();
    let mut components = Vec::new();
    for blocks in [1usize, 3] {
        // Distinct grants for first use, minted before any timing.
        let grants: Vec<Vec<u8>> = (0..COUNT)
            .map(|i| grant(&keys, &format!("grant-{blocks}-{i:06}"), blocks))
            .collect::<anyhow::Result<_>>()?;
        let reused = grant(&keys, &format!("grant-{blocks}-reused"), blocks)?;
        sizes.push((blocks, reused.len()));
        // Warm up both paths (and check they admit) before timing.
        for g in grants.iter().take(20) {
            floor_once(
                &prepare(g, &keys),
                &keys,
                &params,
                &authorizer_limits,
                now_system(),
            )?;
        }
        for _ in 0..20 {
            admit(&admission, &prepare(&reused, &keys))?;
        }

        // The three cases run interleaved in chunks, so background load hits them alike.
        let floor_requests: Vec<_> = grants.iter().map(|g| prepare(g, &keys)).collect();
        let first_requests: Vec<_> = grants.iter().map(|g| prepare(g, &keys)).collect();
        let repeated_requests: Vec<_> = (0..COUNT).map(|_| prepare(&reused, &keys)).collect();
        let reused_token = Biscuit::from(&reused, keys.root_pk)?;
        if blocks == 1 {
            // What the authority block actually checks (deny patterns and limits are Datalog
            // checks when the vocabulary emits them).
            let printed = reused_token.print();
            let checks: Vec<&str> = printed
                .lines()
                .filter(|l| l.trim_start().starts_with("check if"))
                .collect();
            shape = format!(
                "authority block: {} checks, of which {} `.matches()` deny checks and {} `param` limit checks",
                checks.len(),
                checks.iter().filter(|l| l.contains(".matches(")).count(),
                checks.iter().filter(|l| l.contains("param(")).count()
            );
        }
        let floor_same_requests: Vec<_> = (0..COUNT).map(|_| prepare(&reused, &keys)).collect();
        let (mut floor, mut first, mut repeated) = (Vec::new(), Vec::new(), Vec::new());
        let mut floor_same = Vec::new();
        let start = Instant::now();
        for at in (0..COUNT).step_by(CHUNK) {
            let chunk = at..(at + CHUNK).min(COUNT);
            for r in &floor_requests[chunk.clone()] {
                let t = Instant::now();
                floor_once(r, &keys, &params, &authorizer_limits, now_system())?;
                floor.push(t.elapsed());
            }
            for r in &first_requests[chunk.clone()] {
                let t = Instant::now();
                admit(&admission, r)?;
                first.push(t.elapsed());
            }
            for r in &repeated_requests[chunk.clone()] {
                let t = Instant::now();
                admit(&admission, r)?;
                repeated.push(t.elapsed());
            }
            for r in &floor_same_requests[chunk] {
                let t = Instant::now();
                authorize(
                    &reused_token,
                    &keys,
                    &params,
                    &authorizer_limits,
                    now_system(),
                )?;
                trust_sdk::proof::verify(
                    &r.grant,
                    &r.invocation,
                    &keys.holder.verifying_key(),
                    &r.proof,
                )?;
                floor_same.push(t.elapsed());
            }
            if start.elapsed() > BUDGET * 3 {
                break;
            }
        }
        let (floor, first, repeated) = (
            Stats::of(&mut floor),
            Stats::of(&mut first),
            Stats::of(&mut repeated),
        );
        let floor_same = Stats::of(&mut floor_same);

        // Components of the floor, and the claims read a first use adds.
        let requests: Vec<_> = (0..COUNT).map(|_| prepare(&reused, &keys)).collect();
        let proof = time_each(&requests, |r| {
            trust_sdk::proof::verify(
                &r.grant,
                &r.invocation,
                &keys.holder.verifying_key(),
                &r.proof,
            )
            .map_err(anyhow::Error::from)
        })?;
        let parse = time_each(&grants, |g| {
            Biscuit::from(g, keys.root_pk)?;
            Ok(())
        })?;
        let tokens: Vec<Biscuit> = grants
            .iter()
            .take(COUNT / 2)
            .map(|g| Biscuit::from(g, keys.root_pk))
            .collect::<Result<_, _>>()?;
        let authz = time_each(&tokens, |t| {
            authorize(t, &keys, &params, &authorizer_limits, now_system())
        })?;
        // biscuit-auth compiles the pattern of `$r.matches($x)` on every evaluation.
        let regexes = claims(&keys, "regexes")?.deny_regexes;
        let batches: Vec<&Vec<String>> = (0..COUNT / 2).map(|_| &regexes).collect();
        let compile = time_each(&batches, |set| {
            for r in set.iter() {
                regex::Regex::new(r)?;
            }
            Ok(())
        })?;
        let claims_read = time_each(&tokens, |t| {
            trust_sdk::vocabulary::read_claims(t)?;
            Ok(())
        })?;
        components.push((blocks, proof, parse, authz, compile, claims_read));

        rows.push(Row {
            label: format!("floor, {blocks} block(s): Biscuit::from + authorize + verify_strict"),
            stats: floor,
            floor: None,
        });
        rows.push(Row {
            label: format!("admit, {blocks} block(s), first use (grant not seen before)"),
            stats: first,
            floor: Some(floor),
        });
        rows.push(Row {
            label: format!(
                "floor, {blocks} block(s), already-verified token: authorize + verify_strict"
            ),
            stats: floor_same,
            floor: None,
        });
        rows.push(Row {
            label: format!("admit, {blocks} block(s), repeated use (same grant, new proof)"),
            stats: repeated,
            floor: Some(floor_same),
        });
    }

    let sizes: Vec<String> = sizes
        .iter()
        .map(|(b, n)| format!("{b} block(s) = {n} B"))
        .collect();
    println!(
        "request: fs.read `{PATH}`, ambient params {params:?}; token sizes: {}; {shape}; one core, sequential",
        sizes.join(", ")
    );
    println!();
    println!("| measurement | n | p50 µs | p99 µs | per second (1 core, at p50) | ratio p50 / floor p50 |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.label,
            r.stats.n,
            us(r.stats.p50),
            us(r.stats.p99),
            rate(1.0 / r.stats.p50.as_secs_f64().max(1e-9)),
            match r.floor {
                Some(f) => format!(
                    "{:.2}",
                    r.stats.p50.as_secs_f64() / f.p50.as_secs_f64().max(1e-9)
                ),
                None => "1.00 (floor)".into(),
            }
        );
    }
    println!();
    println!("where the time goes (p50 µs, same run):");
    println!();
    println!("| blocks | holder proof verify (sha256 ×2 + verify_strict) | Biscuit::from (parse + block signatures) | authorizer build + authorize | Regex::new × the grant's 5 deny regexes (paid inside authorize only by `.matches()` deny checks, which this grant no longer has, and by anything that compiles them per request) | read_claims (paid once per grant, on a verified-grant cache miss) |");
    println!("| ---: | ---: | ---: | ---: | ---: | ---: |");
    for (blocks, proof, parse, authz, compile, claims_read) in &components {
        println!(
            "| {blocks} | {} | {} | {} | {} | {} |",
            us(proof.p50),
            us(parse.p50),
            us(authz.p50),
            us(compile.p50),
            us(claims_read.p50)
        );
    }
    println!();
    println!(
        "notes: each admission uses a new invocation and holder proof (prepared untimed); first use is compared with the \
         full floor (parse + every block signature + authorize + holder proof); admission caches verified grants by the \
         SHA-256 of their bytes, so repeated use is compared with the floor for an already-verified token \
         (authorize + holder proof). The cases run interleaved in chunks of {CHUNK}."
    );
    Ok(())
}
