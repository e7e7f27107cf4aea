//! Appended blocks built to make Datalog evaluation explode, for the attack tests and the
//! attack binary (`trust-admission-attack`).
//!
//! Every block fits a default executor's 16 KiB token limit together with a grant. Evaluated
//! without bounds, the joins and nested closures run for seconds to minutes and the rule join
//! grows the process by gigabytes; an executor with the static caps refuses each before any
//! evaluation.

use biscuit_auth::builder::{self, Binary, Expression, Op, Rule, Term};
use biscuit_auth::BlockBuilder;

/// One attack: a short name and the block that carries it.
pub struct DatalogAttack {
    pub name: &'static str,
    /// The `[admission]` cap a default executor refuses it by.
    pub cap: &'static str,
    pub block: BlockBuilder,
}

/// `f(0)` … `f(n - 1)`, as Datalog source.
fn facts(n: usize) -> String {
    (0..n).map(|i| format!("f({i});\n")).collect()
}

fn array(n: usize) -> String {
    let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// A check whose one expression is `1 + (1 + (… + 1))`, `depth` values deep on the stack.
fn deep_expression(depth: usize) -> anyhow::Result<builder::Check> {
    let mut ops: Vec<Op> = (0..depth).map(|_| Op::Value(Term::Integer(1))).collect();
    ops.extend((1..depth).map(|_| Op::Binary(Binary::Add)));
    ops.push(Op::Value(Term::Integer(-1)));
    ops.push(Op::Binary(Binary::Equal));
    let query = Rule::new(
        builder::pred("query", &[] as &[Term]),
        vec![],
        vec![Expression { ops }],
        vec![],
    );
    Ok(builder::Check {
        queries: vec![query],
        kind: builder::CheckKind::One,
    })
}

/// Every attack kind, each in a fresh block.
pub fn attacks() -> anyhow::Result<Vec<DatalogAttack>> {
    let join_facts = facts(60);
    let closure = format!(
        "check if {a}.all($x -> {a}.all($y -> {a}.all($z -> {a}.all($w -> $x + $y + $z + $w < 0))));\n",
        a = array(30)
    );
    Ok(vec![
        DatalogAttack {
            name: "cartesian join in a rule (60^4 derived facts)",
            cap: "max_rule_work",
            block: BlockBuilder::new().code(format!(
                "{join_facts}g($a, $b, $c, $d) <- f($a), f($b), f($c), f($d);\n"
            ))?,
        },
        DatalogAttack {
            name: "cartesian join in a check (60^4 bindings, never true)",
            cap: "max_rule_work",
            block: BlockBuilder::new().code(format!(
                "{join_facts}check if f($a), f($b), f($c), f($d), $a + $b + $c + $d < 0;\n"
            ))?,
        },
        DatalogAttack {
            name: "many facts (300 in one block)",
            cap: "max_block_facts",
            block: BlockBuilder::new().code(facts(300))?,
        },
        DatalogAttack {
            name: "deep expression (600 values on the stack)",
            cap: "max_expression_depth",
            block: BlockBuilder::new().check(deep_expression(600)?)?,
        },
        DatalogAttack {
            name: "nested closures (30^4 evaluations)",
            cap: "max_rule_work",
            block: BlockBuilder::new().code(closure)?,
        },
    ])
}
