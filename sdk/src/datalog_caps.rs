//! Static caps on the Datalog of a grant's appended blocks, checked before anything evaluates it.
//!
//! Biscuit checks its run limits (facts, iterations, time) only between iterations, never
//! inside one rule: a single rule or check that joins many facts, or one expression that
//! iterates a large set inside another, can run for minutes and grow without bound before a
//! limit is looked at. So every block after the authority's (written by whoever held the grant,
//! not by the authority) is measured first: facts, rules and checks per block and per token,
//! predicates per rule body, operations and depth per expression, and an upper bound on the
//! work of each rule and check (the size of its join times the cost of its expressions).
//! A token over any cap is refused with the cap's name; one within them evaluates in time
//! bounded by the caps. The authority block is the authority's own and is not measured.

use std::collections::HashMap;

use biscuit_auth::datalog::{Binary, Op, Rule, Term};

use crate::structure::{BlockContent, Structure};

/// The caps, per appended block and over all appended blocks of a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatalogCaps {
    pub max_block_facts: u64,
    pub max_block_rules: u64,
    pub max_block_checks: u64,
    pub max_token_facts: u64,
    pub max_token_rules: u64,
    pub max_token_checks: u64,
    /// Predicates in one rule body or check query: the width of its join.
    pub max_body_predicates: u64,
    /// Operations in one expression, counting those inside closures.
    pub max_expression_ops: u64,
    /// Stack depth or closure nesting of one expression.
    pub max_expression_depth: u64,
    pub max_token_expression_ops: u64,
    /// Upper bound on one rule's or query's work: join size times expression cost.
    pub max_rule_work: u64,
    /// The same, summed over every rule and query of the appended blocks.
    pub max_token_work: u64,
}

impl Default for DatalogCaps {
    /// Generous for the blocks the SDK writes (a delegation or attenuation block has a few
    /// dozen facts, no rules and checks of one or two predicates), small enough that the
    /// worst token within them evaluates in milliseconds.
    fn default() -> Self {
        Self {
            max_block_facts: 128,
            max_block_rules: 8,
            max_block_checks: 32,
            max_token_facts: 256,
            max_token_rules: 16,
            max_token_checks: 64,
            max_body_predicates: 4,
            max_expression_ops: 512,
            max_expression_depth: 32,
            max_token_expression_ops: 4_096,
            max_rule_work: 20_000,
            max_token_work: 100_000,
        }
    }
}

/// A token over one cap: which cap, where, and by how much.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place} has {found} {what}, cap `{cap}` is {limit}")]
pub struct CapExceeded {
    /// The configuration name of the cap, such as `max_block_facts`.
    pub cap: &'static str,
    /// `block 2`, `block 2 rule 0`, `block 1 check 3`, or `the appended blocks`.
    pub place: String,
    pub what: &'static str,
    pub found: u64,
    pub limit: u64,
}

/// Facts the executor's authorizer adds to every evaluation, with how many of each at most:
/// appended checks join against them too.
pub const AMBIENT_FACTS: [(&str, usize, u64); 7] = [
    ("time", 1, 1),
    ("operation", 1, 1),
    ("resource", 1, 1),
    ("holder_proof", 1, 1),
    ("served_workspace", 1, 1),
    ("param_digest", 1, 1),
    ("param", 2, 32),
];

/// What the work bound assumes a rule-derived predicate holds: the authorizer's fact cap.
const DERIVED_FACTS: u64 = 2_000;
/// A regular expression is compiled each time it is evaluated: it weighs as many operations.
const REGEX_WEIGHT: u64 = 64;

fn over(
    cap: &'static str,
    place: impl Into<String>,
    what: &'static str,
    found: u64,
    limit: u64,
) -> Result<(), CapExceeded> {
    if found > limit {
        return Err(CapExceeded {
            cap,
            place: place.into(),
            what,
            found,
            limit,
        });
    }
    Ok(())
}

fn count(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Measures every appended block of `structure` against `caps`.
pub fn check(structure: &Structure, caps: &DatalogCaps) -> Result<(), CapExceeded> {
    let appended = structure.blocks().get(1..).unwrap_or_default();
    // Per block first: the cheapest counts, and they bound the rest of the pass.
    let (mut facts, mut rules, mut checks) = (0u64, 0u64, 0u64);
    for block in appended {
        let place = format!("block {}", block.index);
        over(
            "max_block_facts",
            &*place,
            "facts",
            count(block.facts.len()),
            caps.max_block_facts,
        )?;
        over(
            "max_block_rules",
            &*place,
            "rules",
            count(block.rules.len()),
            caps.max_block_rules,
        )?;
        over(
            "max_block_checks",
            &*place,
            "checks",
            count(block.checks.len()),
            caps.max_block_checks,
        )?;
        facts += count(block.facts.len());
        rules += count(block.rules.len());
        checks += count(block.checks.len());
    }
    let all = "the appended blocks";
    over("max_token_facts", all, "facts", facts, caps.max_token_facts)?;
    over("max_token_rules", all, "rules", rules, caps.max_token_rules)?;
    over(
        "max_token_checks",
        all,
        "checks",
        checks,
        caps.max_token_checks,
    )?;
    let universe = FactUniverse::of(structure);
    let (mut ops, mut work) = (0u64, 0u64);
    for block in appended {
        let queries = block
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (format!("block {} rule {i}", block.index), r))
            .chain(block.checks.iter().enumerate().flat_map(|(i, c)| {
                c.queries
                    .iter()
                    .map(move |q| (format!("block {} check {i}", block.index), q))
            }));
        for (place, rule) in queries {
            let measured = measure_rule(block, rule, &universe, caps, &place)?;
            ops = ops.saturating_add(measured.ops);
            work = work.saturating_add(measured.work);
        }
    }
    over(
        "max_token_expression_ops",
        all,
        "expression operations",
        ops,
        caps.max_token_expression_ops,
    )?;
    over(
        "max_token_work",
        all,
        "units of work",
        work,
        caps.max_token_work,
    )
}

/// How many facts each predicate (name and arity) can match, over the whole token.
struct FactUniverse {
    facts: HashMap<(String, usize), u64>,
    /// Elements of every collection term of the token together: no collection an expression
    /// can build (a union of them all, at most) is longer, so no closure runs more often.
    largest_collection: u64,
}

impl FactUniverse {
    fn of(structure: &Structure) -> Self {
        let mut facts: HashMap<(String, usize), u64> = HashMap::new();
        for (name, arity, n) in AMBIENT_FACTS {
            *facts.entry((name.to_string(), arity)).or_default() += n;
        }
        let mut largest_collection = 1u64;
        for block in structure.blocks() {
            for fact in &block.facts {
                let p = &fact.predicate;
                let name = block.name_of(p).unwrap_or_default().to_string();
                *facts.entry((name, p.terms.len())).or_default() += 1;
                for term in &p.terms {
                    largest_collection = largest_collection.saturating_add(collection_len(term));
                }
            }
            for rule in block
                .rules
                .iter()
                .chain(block.checks.iter().flat_map(|c| c.queries.iter()))
            {
                for op in rule.expressions.iter().flat_map(|e| e.ops.iter()) {
                    largest_collection = largest_collection.saturating_add(op_collection_len(op));
                }
            }
        }
        for block in structure.blocks() {
            for rule in &block.rules {
                let name = block.name_of(&rule.head).unwrap_or_default().to_string();
                facts.insert((name, rule.head.terms.len()), DERIVED_FACTS);
            }
        }
        Self {
            facts,
            largest_collection,
        }
    }

    fn matching(&self, name: &str, arity: usize) -> u64 {
        self.facts
            .get(&(name.to_string(), arity))
            .copied()
            .unwrap_or(0)
    }
}

/// Elements of the collections in `term`, nested ones included (0 for a scalar).
fn collection_len(term: &Term) -> u64 {
    let nested = |terms: &mut dyn Iterator<Item = &Term>| {
        terms.fold(0u64, |n, t| {
            n.saturating_add(1).saturating_add(collection_len(t))
        })
    };
    match term {
        Term::Set(s) => nested(&mut s.iter()),
        Term::Array(a) => nested(&mut a.iter()),
        Term::Map(m) => nested(&mut m.values()),
        _ => 0,
    }
}

fn op_collection_len(op: &Op) -> u64 {
    match op {
        Op::Value(term) => collection_len(term),
        Op::Closure(_, body) => body
            .iter()
            .fold(0u64, |n, op| n.saturating_add(op_collection_len(op))),
        _ => 0,
    }
}

struct Measured {
    ops: u64,
    work: u64,
}

fn measure_rule(
    block: &BlockContent,
    rule: &Rule,
    universe: &FactUniverse,
    caps: &DatalogCaps,
    place: &str,
) -> Result<Measured, CapExceeded> {
    over(
        "max_body_predicates",
        place,
        "body predicates",
        count(rule.body.len()),
        caps.max_body_predicates,
    )?;
    let mut ops = 0u64;
    let mut cost = 1u64;
    for expression in &rule.expressions {
        let shape = ExpressionShape::of(&expression.ops, universe.largest_collection);
        over(
            "max_expression_depth",
            place,
            "levels of expression depth",
            shape.depth,
            caps.max_expression_depth,
        )?;
        over(
            "max_expression_ops",
            place,
            "expression operations",
            shape.ops,
            caps.max_expression_ops,
        )?;
        ops = ops.saturating_add(shape.ops);
        cost = cost.saturating_add(shape.cost);
    }
    // The join enumerates every prefix of the body; bounded by the body's length times the
    // product of what each predicate can match (at least one, so a prefix is never hidden).
    let join = rule
        .body
        .iter()
        .map(|p| {
            let name = block.name_of(p).unwrap_or_default();
            universe.matching(name, p.terms.len()).max(1)
        })
        .fold(1u64, u64::saturating_mul)
        .saturating_mul(count(rule.body.len()).max(1));
    let work = join.saturating_mul(cost);
    over(
        "max_rule_work",
        place,
        "units of work",
        work,
        caps.max_rule_work,
    )?;
    Ok(Measured { ops, work })
}

/// Operations, depth and evaluation cost of one expression.
struct ExpressionShape {
    ops: u64,
    depth: u64,
    cost: u64,
}

impl ExpressionShape {
    fn of(ops: &[Op], largest_collection: u64) -> Self {
        let mut shape = Self {
            ops: 0,
            depth: 0,
            cost: 0,
        };
        let mut stack = 0u64;
        for (i, op) in ops.iter().enumerate() {
            shape.ops += 1;
            match op {
                Op::Value(_) => {
                    stack += 1;
                    shape.cost = shape.cost.saturating_add(1);
                }
                Op::Unary(_) => shape.cost = shape.cost.saturating_add(1),
                Op::Binary(b) => {
                    stack = stack.saturating_sub(1);
                    let weight = if matches!(b, Binary::Regex) {
                        REGEX_WEIGHT
                    } else {
                        1
                    };
                    shape.cost = shape.cost.saturating_add(weight);
                }
                Op::Closure(_, body) => {
                    stack += 1;
                    let inner = Self::of(body, largest_collection);
                    shape.ops = shape.ops.saturating_add(inner.ops);
                    shape.depth = shape.depth.max(inner.depth.saturating_add(1));
                    // A closure consumed by `all`/`any` (or anything but a lazy operator) runs
                    // once per element of a collection.
                    let once = matches!(
                        ops.get(i + 1),
                        Some(Op::Binary(Binary::LazyAnd | Binary::LazyOr | Binary::TryOr))
                    );
                    let runs = if once { 1 } else { largest_collection };
                    shape.cost = shape.cost.saturating_add(inner.cost.saturating_mul(runs));
                }
            }
            shape.depth = shape.depth.max(stack);
        }
        shape
    }
}

#[cfg(test)]
mod tests;
