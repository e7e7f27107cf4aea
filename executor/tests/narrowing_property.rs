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
//!
//! `context.retrieve` is one too: the root grant reads source `kb` with random classifications,
//! jurisdictions, window, limits and redactions; each hop may narrow them (`--context`), and
//! requests carry random filters. Beyond admission, what a derived grant's admitted call may
//! read (every label and date, the limits, the redactions) must lie within its parent's.
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
use trust_sdk::vocabulary::context::{
    context_facts, format_day, ContextGrant, Redaction, RedactionMode, RedactionRule,
    CLASSIFICATIONS,
};
use trust_sdk::vocabulary::context_narrowing::ContextNarrowing;
use trust_sdk::vocabulary::tool_args::{ArgConstraint, ToolArgConstraint, ARG_CONSTRAINT};
use trust_sdk::vocabulary::{Approval, GrantClaims};

const OPS: [&str; 6] = [
    "fs.read",
    "fs.list",
    "fs.write",
    "proc.run",
    "tool.invoke",
    "context.retrieve",
];
/// The one context source, and the labels and days grants and requests draw from.
const SOURCE: &str = "kb";
const JURISDICTIONS: [&str; 3] = ["EU", "UK", "US"];
const DAYS: [i64; 5] = [100, 200, 300, 400, 500];
const REDACTIONS: [&str; 4] = ["mask:email", "drop:email", "mask:iban", "drop:iban"];
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
    /// A narrowing of what `kb` may be read of.
    context: Option<ContextHop>,
    /// Sign the block by hand, skipping the SDK's widening check.
    forced: bool,
}

/// One hop's `--context kb:...` flags, each optional.
#[derive(Debug, Clone)]
struct ContextHop {
    classifications: Option<Vec<&'static str>>,
    jurisdictions: Option<Vec<&'static str>>,
    window_from: Option<i64>,
    window_to: Option<i64>,
    max_documents: Option<u32>,
    max_bytes: Option<u64>,
    redactions: Vec<&'static str>,
    /// Keep it within the root grant's (most hops), or leave it raw.
    clamped: bool,
}

impl ContextHop {
    /// This narrowing with every value kept within what `root` reads.
    fn within(&self, root: &ContextCase) -> ContextHop {
        let keep = |v: &Option<Vec<&'static str>>, held: &[&'static str]| {
            v.as_ref().and_then(|v| {
                let kept: Vec<_> = v
                    .iter()
                    .copied()
                    .filter(|x| held.contains(x) || held.contains(&"*"))
                    .collect();
                (!kept.is_empty()).then_some(kept)
            })
        };
        let (from, to) = root.window;
        let window_from = self.window_from.map(|d| d.clamp(from, to));
        ContextHop {
            classifications: keep(&self.classifications, &root.classifications),
            jurisdictions: keep(&self.jurisdictions, &root.jurisdictions),
            window_from,
            window_to: self
                .window_to
                .map(|d| d.clamp(window_from.unwrap_or(from), to)),
            max_documents: self.max_documents.map(|n| n.min(root.max_documents)),
            max_bytes: self.max_bytes.map(|n| n.min(root.max_bytes)),
            redactions: self.redactions.clone(),
            clamped: true,
        }
    }
}

/// What the root grant reads of `kb`, and what a request asks of it.
#[derive(Debug, Clone)]
struct ContextCase {
    classifications: Vec<&'static str>,
    /// May hold `*`.
    jurisdictions: Vec<&'static str>,
    window: (i64, i64),
    max_documents: u32,
    max_bytes: u64,
    redactions: Vec<&'static str>,
    /// The request's own filters.
    asked_classifications: Vec<&'static str>,
    asked_jurisdictions: Vec<&'static str>,
    asked_from: Option<i64>,
    asked_to: Option<i64>,
    asked_documents: u32,
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
    context: ContextCase,
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
        proptest::option::weighted(0.6, context_hop()),
    )
        .prop_map(
            |(ops, prefixes, commands, limit, forced, tool_args, context)| Hop {
                ops,
                prefixes,
                commands,
                limit,
                tool_args,
                context,
                forced,
            },
        )
}

fn context_hop() -> impl Strategy<Value = ContextHop> {
    (
        proptest::option::weighted(
            0.5,
            proptest::sample::subsequence(CLASSIFICATIONS.to_vec(), 1..=4),
        ),
        proptest::option::weighted(
            0.4,
            proptest::sample::subsequence(JURISDICTIONS.to_vec(), 1..=3),
        ),
        proptest::option::weighted(0.4, proptest::sample::select(DAYS.to_vec())),
        proptest::option::weighted(0.4, proptest::sample::select(DAYS.to_vec())),
        proptest::option::weighted(0.4, 0u32..12),
        proptest::option::weighted(0.4, 0u64..3000),
        (
            proptest::sample::subsequence(REDACTIONS.to_vec(), 0..=2),
            proptest::bool::weighted(0.8),
        ),
    )
        .prop_map(
            |(
                classifications,
                jurisdictions,
                window_from,
                window_to,
                max_documents,
                max_bytes,
                (redactions, clamped),
            )| {
                ContextHop {
                    clamped,
                    classifications,
                    jurisdictions,
                    window_from,
                    window_to,
                    max_documents,
                    max_bytes,
                    redactions,
                }
            },
        )
}

fn context_case() -> impl Strategy<Value = ContextCase> {
    (
        proptest::sample::subsequence(CLASSIFICATIONS.to_vec(), 1..=4),
        prop_oneof![
            1 => Just(vec!["*"]),
            3 => proptest::sample::subsequence(JURISDICTIONS.to_vec(), 1..=3),
        ],
        (
            proptest::sample::select(DAYS.to_vec()),
            proptest::sample::select(DAYS.to_vec()),
        ),
        (1u32..12, 1u64..3000),
        proptest::sample::subsequence(REDACTIONS.to_vec(), 0..=2),
        (
            prop_oneof![
                3 => Just(vec![]),
                1 => proptest::sample::subsequence(CLASSIFICATIONS.to_vec(), 1..=2),
            ],
            prop_oneof![
                3 => Just(vec![]),
                1 => proptest::sample::subsequence(JURISDICTIONS.to_vec(), 1..=2),
            ],
            proptest::option::weighted(0.3, proptest::sample::select(DAYS.to_vec())),
            proptest::option::weighted(0.3, proptest::sample::select(DAYS.to_vec())),
            0u32..12,
        ),
    )
        .prop_map(
            |(
                classifications,
                jurisdictions,
                (a, b),
                (max_documents, max_bytes),
                redactions,
                asked,
            )| {
                let (
                    asked_classifications,
                    asked_jurisdictions,
                    asked_from,
                    asked_to,
                    asked_documents,
                ) = asked;
                ContextCase {
                    classifications,
                    jurisdictions,
                    window: (a.min(b), a.max(b)),
                    max_documents,
                    max_bytes,
                    redactions,
                    asked_classifications,
                    asked_jurisdictions,
                    asked_from,
                    asked_to,
                    asked_documents,
                }
            },
        )
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
        context_case(),
    )
        .prop_map(
            |(ops, prefixes, hops, op, resource, length, oi, pi, aim, tool, context)| {
                // Aim most requests inside the root grant, so narrowing (not the root) decides.
                let (op, resource) = if aim && !ops.is_empty() {
                    let op = ops[oi.index(ops.len())];
                    let resource = if op == "tool.invoke" {
                        TOOL
                    } else if op == "context.retrieve" {
                        SOURCE
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
                    context,
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
    let kb = dir.path().join("kb");
    std::fs::create_dir(&kb).unwrap();
    let mut errors = Vec::new();
    let sources = tool_executor::context::config::load(
        vec![serde_json::from_value(serde_json::json!({
            "name": SOURCE, "kind": "directory", "path": kb,
        }))
        .unwrap()],
        Default::default(),
        dir.path(),
        &[],
        &[],
        &mut errors,
    );
    assert!(errors.is_empty(), "{errors:?}");
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
        OperationLimits {
            context: Arc::new(sources),
            ..OperationLimits::default()
        },
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
            .filter(|o| !["proc.run", "tool.invoke", "context.retrieve"].contains(*o))
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
            .chain(
                case.ops
                    .contains(&"context.retrieve")
                    .then(|| ("context.retrieve".to_string(), SOURCE.to_string())),
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
    if case.ops.contains(&"context.retrieve") {
        for fact in context_facts(&[root_context(&case.context)]) {
            block = block.fact(fact).unwrap();
        }
    }
    block.root_key_id(1).build(&world.root).unwrap()
}

fn redactions(texts: &[&str]) -> Vec<Redaction> {
    texts
        .iter()
        .map(|t| {
            let (mode, rule) = t.split_once(':').unwrap();
            Redaction {
                rule: RedactionRule::parse(rule).unwrap(),
                mode: RedactionMode::parse(mode).unwrap(),
            }
        })
        .collect()
}

/// What the root grant reads of `kb`.
fn root_context(c: &ContextCase) -> ContextGrant {
    let mut grant = ContextGrant {
        source: SOURCE.into(),
        classifications: c.classifications.iter().map(|s| s.to_string()).collect(),
        jurisdictions: c.jurisdictions.iter().map(|s| s.to_string()).collect(),
        from_day: c.window.0,
        to_day: c.window.1,
        max_documents: c.max_documents,
        max_bytes: c.max_bytes,
        redactions: Vec::new(),
    };
    for r in redactions(&c.redactions) {
        grant.add_redaction(r);
    }
    grant
}

fn context_narrowing(h: &ContextHop) -> ContextNarrowing {
    let set = |v: &Option<Vec<&str>>| {
        v.as_ref()
            .map(|v| v.iter().map(|s| s.to_string()).collect())
    };
    ContextNarrowing {
        source: SOURCE.into(),
        classifications: set(&h.classifications),
        jurisdictions: set(&h.jurisdictions),
        window_from: h.window_from,
        window_to: h.window_to,
        max_documents: h.max_documents,
        max_bytes: h.max_bytes,
        redactions: redactions(&h.redactions),
    }
}

fn tool_constraints(texts: &[&str]) -> Vec<ToolArgConstraint> {
    texts
        .iter()
        .map(|t| ToolArgConstraint::new(TOOL, t.parse::<ArgConstraint>().unwrap()).unwrap())
        .collect()
}

/// `root`: what the root grant reads of `kb`, if it does. An unforced hop's context narrowing
/// is mostly kept within it (`ContextHop::within`), because the SDK rightly refuses one that
/// is not and that would end most chains early; forced hops keep their raw values, which only
/// the executor's combination of blocks then holds in.
fn derivation(h: &Hop, root: Option<&ContextCase>) -> Derivation {
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
            context: match (&h.context, root) {
                (Some(c), _) if h.forced => vec![context_narrowing(c)],
                (Some(c), Some(root)) if c.clamped => vec![context_narrowing(&c.within(root))],
                (Some(c), Some(_)) => vec![context_narrowing(c)],
                _ => Vec::new(),
            },
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
    root: Option<&ContextCase>,
) -> Option<Biscuit> {
    let d = derivation(h, root);
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
        "context.retrieve" => {
            let c = &case.context;
            let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect();
            trust_sdk::client::context_operation(&trust_sdk::client::ContextQuery {
                source: case.resource.into(),
                query: String::new(),
                classifications: strings(&c.asked_classifications),
                jurisdictions: strings(&c.asked_jurisdictions),
                date_from: c.asked_from.map(format_day).unwrap_or_default(),
                date_to: c.asked_to.map(format_day).unwrap_or_default(),
                max_documents: c.asked_documents,
                max_bytes: 0,
            })
        }
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

fn admit(
    world: &World,
    grant: &Biscuit,
    key: &SigningKey,
    op: pb::invocation::Operation,
) -> Option<tool_executor::admission::Admitted> {
    let request = trust_sdk::client::prepare_execute(&grant.to_vec().unwrap(), key, op, now_ms());
    world
        .admission
        .admit(&tool_executor::rpc::execute_call(request), now())
        .ok()
}

fn admits(world: &World, grant: &Biscuit, key: &SigningKey, op: pb::invocation::Operation) -> bool {
    admit(world, grant, key, op).is_some()
}

/// What an admitted `context.retrieve` may read, as bound at admission.
fn bound_context(admitted: &tool_executor::admission::Admitted) -> ContextGrant {
    match &admitted.operation {
        tool_executor::operations::Operation::Context(call) => call.grant.clone().unwrap(),
        other => panic!("not a context call: {other:?}"),
    }
}

/// The first way `child` may read more than `parent`, if any.
fn reads_more(child: &ContextGrant, parent: &ContextGrant) -> Option<String> {
    for class in CLASSIFICATIONS {
        for j in JURISDICTIONS.iter().chain(&["ZZ"]) {
            for day in (0..=600).step_by(25) {
                if child.permits(class, j, day) && !parent.permits(class, j, day) {
                    return Some(format!("a {class} document of {j} dated day {day}"));
                }
            }
        }
    }
    if child.max_documents > parent.max_documents || child.max_bytes > parent.max_bytes {
        return Some("larger limits".into());
    }
    parent
        .redactions
        .iter()
        .find(|p| {
            !child
                .redactions
                .iter()
                .any(|c| c.rule == p.rule && c.mode >= p.mode)
        })
        .map(|p| format!("without redaction {}:{}", p.mode.as_str(), p.rule))
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
    let allowed_context_calls = std::cell::Cell::new(0u64);
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
                    case.ops
                        .contains(&"context.retrieve")
                        .then_some(&case.context),
                ) else {
                    break;
                };
                levels.push(next);
                keys.push(child);
            }
            for i in (1..levels.len()).rev() {
                if let Some(child) = admit(&world, &levels[i], &keys[i], operation(&case)) {
                    allowed_children.set(allowed_children.get() + 1);
                    if case.op == "tool.invoke" {
                        allowed_tool_calls.set(allowed_tool_calls.get() + 1);
                    }
                    let parent = admit(&world, &levels[i - 1], &keys[i - 1], operation(&case));
                    prop_assert!(
                        parent.is_some(),
                        "level {i} allowed {} on `{}` but level {} refused it",
                        case.op,
                        case.resource,
                        i - 1
                    );
                    if case.op == "context.retrieve" {
                        allowed_context_calls.set(allowed_context_calls.get() + 1);
                        let (child, parent) = (bound_context(&child), bound_context(&parent.unwrap()));
                        let more = reads_more(&child, &parent);
                        prop_assert!(
                            more.is_none(),
                            "level {i} may read {} that level {} may not: {child:?} against {parent:?}",
                            more.unwrap_or_default(),
                            i - 1
                        );
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    println!(
        "{} cases, {} (level, request) pairs allowed by a derived grant ({} of them tool calls, {} context retrievals), each also allowed by its parent",
        counter.get(),
        allowed_children.get(),
        allowed_tool_calls.get(),
        allowed_context_calls.get()
    );
    assert!(
        allowed_context_calls.get() > u64::from(cases) / 400,
        "the generator rarely produced an allowed context retrieval"
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
        context: ContextCase {
            classifications: vec!["public"],
            jurisdictions: vec!["*"],
            window: (0, 1),
            max_documents: 1,
            max_bytes: 1,
            redactions: vec![],
            asked_classifications: vec![],
            asked_jurisdictions: vec![],
            asked_from: None,
            asked_to: None,
            asked_documents: 0,
        },
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
