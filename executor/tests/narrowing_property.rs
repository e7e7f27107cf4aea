//! Property: a derived grant never allows more than its parent (monotonic narrowing).
//!
//! Random grants (random operations and path prefixes), random delegation chains (random
//! narrowings, and some hand-forced widening blocks the SDK would refuse), random requests.
//! For every level, if the executor's real admission admits a request under the derived
//! grant proved by its holder, it must admit the same request under the parent grant proved
//! by the parent's holder. 10,000 cases per run (`PROPTEST_CASES` overrides).
//!
//! `tool.invoke` is one of the operations: the root grant carries random argument constraints
//! on tool `pay` (bounds, sets, prefixes, patterns), each hop may add more (`--arg`), and
//! requests carry random arguments, so a derived grant must never accept an argument its
//! parent rejects.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use biscuit_auth::{Biscuit, KeyPair};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use tool_executor::admission::Admission;
use tool_executor::config::AdmissionLimits;
use tool_executor::operations::OperationLimits;
use tool_executor::trust_state::TrustState;
use trust_proto::executor::v1 as pb;
use trust_sdk::attenuate::Attenuation;
use trust_sdk::derive::{delegation_block, derive, Derivation};
use trust_sdk::vocabulary::tool_args::{ArgConstraint, ToolArgConstraint, ARG_CONSTRAINT};
use trust_sdk::vocabulary::{Approval, GrantClaims};

const OPS: [&str; 5] = ["fs.read", "fs.list", "fs.write", "proc.run", "tool.invoke"];
/// The one tool of the catalog, its constraints, and the argument values requests draw from.
const TOOL: &str = "pay";
const CONSTRAINTS: [&str; 14] = [
    "amount <= 1000",
    "amount <= 50",
    "amount <= 5000",
    "amount >= 10",
    "amount >= 0",
    "currency in [EUR, USD]",
    "currency in [EUR]",
    "currency in [EUR, USD, GBP]",
    "currency == USD",
    "memo starts_with a",
    "memo starts_with ab",
    "memo starts_with b",
    "memo matches \"^a+$\"",
    "memo matches \"b\"",
];
const AMOUNTS: [i64; 8] = [0, 5, 10, 49, 50, 51, 1000, 4000];
const CURRENCIES: [&str; 3] = ["EUR", "USD", "GBP"];
const MEMOS: [&str; 5] = ["", "a", "aa", "ab", "b"];
const PATHS: [&str; 7] = [
    "",
    "src",
    "src/a",
    "src/a/b.rs",
    "src/c.rs",
    "docs",
    "docs/x.md",
];
const COMMANDS: [&str; 2] = ["test", "lint"];

#[derive(Debug, Clone)]
struct Hop {
    ops: Option<Vec<&'static str>>,
    prefixes: Option<Vec<&'static str>>,
    commands: Option<Vec<&'static str>>,
    limit: Option<i64>,
    /// Further argument constraints on `pay`.
    tool_args: Vec<&'static str>,
    /// Sign the block by hand, skipping the SDK's widening check.
    forced: bool,
}

#[derive(Debug, Clone)]
struct Case {
    ops: Vec<&'static str>,
    prefixes: Vec<&'static str>,
    hops: Vec<Hop>,
    op: &'static str,
    resource: &'static str,
    length: u64,
    /// The root grant's argument constraints on `pay`.
    tool_args: Vec<&'static str>,
    /// A `tool.invoke` request's arguments: amount, currency, memo.
    args: (i64, &'static str, &'static str),
}

fn subset<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
) -> impl Strategy<Value = Vec<T>> {
    proptest::sample::subsequence(items.to_vec(), 0..=items.len())
}

fn hop() -> impl Strategy<Value = Hop> {
    (
        proptest::option::weighted(0.5, subset(&OPS)),
        proptest::option::weighted(0.5, subset(&PATHS)),
        proptest::option::weighted(0.3, subset(&COMMANDS)),
        proptest::option::weighted(0.3, 1i64..8192),
        proptest::bool::weighted(0.3),
        proptest::sample::subsequence(CONSTRAINTS.to_vec(), 0..=2),
    )
        .prop_map(|(ops, prefixes, commands, limit, forced, tool_args)| Hop {
            ops,
            prefixes,
            commands,
            limit,
            tool_args,
            forced,
        })
}

fn case() -> impl Strategy<Value = Case> {
    (
        subset(&OPS),
        subset(&PATHS),
        proptest::collection::vec(hop(), 1..=3),
        proptest::sample::select(OPS.to_vec()),
        proptest::sample::select([PATHS.as_slice(), COMMANDS.as_slice(), &["other"]].concat()),
        prop_oneof![3 => 1u64..4096, 1 => 0u64..8192],
        any::<proptest::sample::Index>(),
        any::<proptest::sample::Index>(),
        proptest::bool::weighted(0.7),
        (
            proptest::sample::subsequence(CONSTRAINTS.to_vec(), 0..=3),
            proptest::sample::select(AMOUNTS.to_vec()),
            proptest::sample::select(CURRENCIES.to_vec()),
            proptest::sample::select(MEMOS.to_vec()),
        ),
    )
        .prop_map(
            |(ops, prefixes, hops, op, resource, length, oi, pi, aim, tool)| {
                // Aim most requests inside the root grant, so narrowing (not the root) decides.
                let (op, resource) = if aim && !ops.is_empty() {
                    let op = ops[oi.index(ops.len())];
                    let resource = if op == "tool.invoke" {
                        TOOL
                    } else if op == "proc.run" {
                        COMMANDS[pi.index(COMMANDS.len())]
                    } else if prefixes.is_empty() {
                        resource
                    } else {
                        let base = prefixes[pi.index(prefixes.len())];
                        PATHS
                            .iter()
                            .copied()
                            .find(|p| p.starts_with(base) && p.len() > base.len())
                            .unwrap_or(base)
                    };
                    (op, resource)
                } else {
                    (op, resource)
                };
                let (tool_args, amount, currency, memo) = tool;
                Case {
                    ops,
                    prefixes,
                    hops,
                    op,
                    resource,
                    length,
                    tool_args,
                    args: (amount, currency, memo),
                }
            },
        )
}

struct World {
    root: KeyPair,
    admission: Admission,
    _dir: tempfile::TempDir,
}

use trust_sdk::clock::{now, now_ms};

fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let root = KeyPair::new();
    let trust = Arc::new(TrustState::open(&dir.path().join("trust")).unwrap());
    let root_vk = trust_sdk::keys::verifying_key_from_bytes(&root.public().to_bytes()).unwrap();
    trust.install(vec![(1, root_vk, true)], now_ms() + 3_600_000);
    let catalog = Arc::new(tool_executor::tool_catalog::ToolCatalog::new());
    catalog.put_tool(trust_sdk::tools::ToolDefinition {
        id: TOOL.into(),
        version: 1,
        owner: "finance".into(),
        risk: trust_sdk::tools::RiskRating::High,
        state: trust_sdk::tools::Certification::Certified,
        description: "pay".into(),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {
                "amount": {"type": "integer", "minimum": 0, "maximum": 100000},
                "currency": {"type": "string", "enum": CURRENCIES},
                "memo": {"type": "string"}
            },
            "required": ["amount", "currency", "memo"],
            "additionalProperties": false
        }),
        upstream: trust_sdk::tools::ToolUpstream {
            method: "POST".into(),
            url_template: "http://127.0.0.1:9/pay".into(),
        },
        secret: None,
    });
    let desk = tool_executor::tool_admission::ToolDesk::new(
        catalog,
        tool_executor::tool_admission::ToolsConfig {
            upstream_hosts: vec!["127.0.0.1:9".into()],
            ..Default::default()
        },
    );
    let admission = Admission::new(
        trust,
        AdmissionLimits {
            max_token_bytes: 64 * 1024,
            max_blocks: 16,
            max_request_bytes: 4 * 1024 * 1024,
            proof_window: Duration::from_secs(30),
            revocation_max_staleness: Duration::from_secs(7200),
            max_delegation_depth: 8,
        },
        OperationLimits::default(),
        vec!["demo".into()],
        SystemTime::UNIX_EPOCH,
    )
    .with_tools(desk);
    World {
        root,
        admission,
        _dir: dir,
    }
}

fn mint(world: &World, case: &Case, holder: &SigningKey, id: u64) -> Biscuit {
    let claims = GrantClaims {
        grant_id: format!("grant-{id}"),
        correlation_id: "c".into(),
        user: "alice".into(),
        agent: "coder-1".into(),
        holder: holder.verifying_key(),
        workspace: "demo".into(),
        task: "prop".into(),
        purpose: "property".into(),
        profile: "coding".into(),
        scopes: case
            .ops
            .iter()
            .filter(|o| **o != "proc.run" && **o != "tool.invoke")
            .flat_map(|o| {
                case.prefixes
                    .iter()
                    .map(move |p| (o.to_string(), p.to_string()))
            })
            .chain(
                case.ops
                    .contains(&"tool.invoke")
                    .then(|| ("tool.invoke".to_string(), TOOL.to_string())),
            )
            .collect(),
        commands: if case.ops.contains(&"proc.run") {
            vec![("test".into(), vec!["true".into()])]
        } else {
            vec![]
        },
        limits: vec![("read_bytes".into(), 4096)],
        deny_globs: vec!["docs/x.md".into()],
        deny_regexes: vec!["^docs/x\\.md$".into()],
        approval: Approval::NotRequired,
        issued_at: now(),
        expires_at: now() + Duration::from_secs(600),
        shell: None,
        sandbox_level: None,
        child_limits: vec![],
        http_rules: Vec::new(),
    };
    let mut block = trust_sdk::vocabulary::authority_block(&claims).unwrap();
    for c in tool_constraints(&case.tool_args) {
        block = block
            .fact(c.fact(ARG_CONSTRAINT))
            .unwrap()
            .check(c.check().unwrap())
            .unwrap();
    }
    block.root_key_id(1).build(&world.root).unwrap()
}

fn tool_constraints(texts: &[&str]) -> Vec<ToolArgConstraint> {
    texts
        .iter()
        .map(|t| ToolArgConstraint::new(TOOL, t.parse::<ArgConstraint>().unwrap()).unwrap())
        .collect()
}

fn derivation(h: &Hop) -> Derivation {
    let strings = |v: &Option<Vec<&str>>| {
        v.as_ref()
            .map(|v| v.iter().map(|s| s.to_string()).collect())
    };
    Derivation {
        narrowing: Attenuation {
            operations: strings(&h.ops),
            prefixes: strings(&h.prefixes),
            commands: strings(&h.commands),
            expires_at: None,
            limits: h
                .limit
                .map(|l| vec![("read_bytes".to_string(), l)])
                .unwrap_or_default(),
            tool_arguments: tool_constraints(&h.tool_args),
        },
        purpose: "p".into(),
        derived_id: None,
    }
}

/// The next level, or None when the SDK (rightly) refuses an unforced widening.
fn next_level(
    parent: &Biscuit,
    parent_key: &SigningKey,
    child: &SigningKey,
    h: &Hop,
    depth: usize,
) -> Option<Biscuit> {
    let d = derivation(h);
    if !h.forced {
        return derive(parent, parent_key, &child.verifying_key(), &d)
            .ok()
            .map(|g| g.token);
    }
    let block = delegation_block(
        &parent_key.verifying_key(),
        &child.verifying_key(),
        &format!("forced-{depth}"),
        "unchecked",
        &d,
    )
    .ok()?;
    let request = parent.third_party_request().unwrap();
    let signed = request
        .create_block(
            &trust_sdk::keys::to_biscuit_private(parent_key).unwrap(),
            block,
        )
        .unwrap();
    Some(
        parent
            .append_third_party(
                trust_sdk::keys::to_biscuit_public(&parent_key.verifying_key()).unwrap(),
                signed,
            )
            .unwrap(),
    )
}

fn operation(case: &Case) -> pb::invocation::Operation {
    use pb::invocation::Operation as Op;
    match case.op {
        "fs.read" => Op::Read(pb::ReadRequest {
            path: case.resource.into(),
            offset: 0,
            length: case.length,
        }),
        "fs.list" => Op::List(pb::ListRequest {
            path: case.resource.into(),
            max_depth: 1,
            max_entries: 10,
        }),
        "fs.write" => Op::Write(pb::WriteRequest {
            path: case.resource.into(),
            content: vec![b'x'; case.length as usize % 64],
            ..Default::default()
        }),
        "tool.invoke" => trust_sdk::client::tool_operation(
            case.resource,
            &serde_json::json!({"amount": case.args.0, "currency": case.args.1, "memo": case.args.2})
                .to_string(),
            0,
        ),
        _ => Op::Run(pb::RunRequest {
            command: case.resource.into(),
            cwd: String::new(),
            timeout_ms: 0,
            file_sha256: Default::default(),
        }),
    }
}

fn admits(world: &World, grant: &Biscuit, key: &SigningKey, op: pb::invocation::Operation) -> bool {
    let request = trust_sdk::client::prepare_execute(&grant.to_vec().unwrap(), key, op, now_ms());
    world
        .admission
        .admit(&tool_executor::rpc::execute_call(request), now())
        .is_ok()
}

#[test]
fn a_derived_grant_never_allows_more_than_its_parent() {
    let world = world();
    let cases: u32 = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        ..ProptestConfig::default()
    });
    let counter = std::cell::Cell::new(0u64);
    let allowed_children = std::cell::Cell::new(0u64);
    let allowed_tool_calls = std::cell::Cell::new(0u64);
    runner
        .run(&case(), |case| {
            counter.set(counter.get() + 1);
            let mut keys = vec![trust_sdk::keys::generate()];
            let mut levels = vec![mint(&world, &case, &keys[0], counter.get())];
            for (depth, h) in case.hops.iter().enumerate() {
                let child = trust_sdk::keys::generate();
                let Some(next) = next_level(
                    levels.last().unwrap(),
                    keys.last().unwrap(),
                    &child,
                    h,
                    depth,
                ) else {
                    break;
                };
                levels.push(next);
                keys.push(child);
            }
            for i in (1..levels.len()).rev() {
                if admits(&world, &levels[i], &keys[i], operation(&case)) {
                    allowed_children.set(allowed_children.get() + 1);
                    if case.op == "tool.invoke" {
                        allowed_tool_calls.set(allowed_tool_calls.get() + 1);
                    }
                    prop_assert!(
                        admits(&world, &levels[i - 1], &keys[i - 1], operation(&case)),
                        "level {i} allowed {} on `{}` but level {} refused it",
                        case.op,
                        case.resource,
                        i - 1
                    );
                }
            }
            Ok(())
        })
        .unwrap();
    println!(
        "{} cases, {} (level, request) pairs allowed by a derived grant ({} of them tool calls), each also allowed by its parent",
        counter.get(),
        allowed_children.get(),
        allowed_tool_calls.get()
    );
    assert!(
        allowed_tool_calls.get() > u64::from(cases) / 400,
        "the generator rarely produced an allowed tool call"
    );
    assert!(
        allowed_children.get() > u64::from(cases) / 25,
        "the generator rarely produced an allowed request"
    );
}

/// Regression: `check all` fails when nothing matches, which once made a grant without deny
/// rules (or an attenuation limiting only `read_bytes`) refuse everything.
#[test]
fn grants_without_deny_rules_or_with_one_limit_still_admit_other_operations() {
    let world = world();
    let holder = trust_sdk::keys::generate();
    let case = Case {
        ops: vec!["fs.read", "fs.write"],
        prefixes: vec!["src"],
        hops: vec![],
        op: "fs.write",
        resource: "src/c.rs",
        length: 10,
        tool_args: vec![],
        args: (0, "EUR", ""),
    };
    let mut grant = mint(&world, &case, &holder, 1);
    // Re-mint without deny rules.
    let mut claims = trust_sdk::vocabulary::read_claims(&grant).unwrap();
    claims.deny_globs.clear();
    claims.deny_regexes.clear();
    claims.limits.clear();
    grant = trust_sdk::vocabulary::authority_block(&claims)
        .unwrap()
        .root_key_id(1)
        .build(&world.root)
        .unwrap();
    assert!(
        admits(&world, &grant, &holder, operation(&case)),
        "no deny rules, no limits"
    );
    let limited = trust_sdk::attenuate::attenuate(
        &grant,
        &Attenuation {
            limits: vec![("read_bytes".into(), 100)],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(
        admits(&world, &limited, &holder, operation(&case)),
        "a read limit must not block writes"
    );
    let big_read = Case {
        op: "fs.read",
        length: 4000,
        ..case.clone()
    };
    assert!(
        !admits(&world, &limited, &holder, operation(&big_read)),
        "the read limit binds reads"
    );
    let small_read = Case {
        op: "fs.read",
        length: 50,
        ..case
    };
    assert!(admits(&world, &limited, &holder, operation(&small_read)));
}
