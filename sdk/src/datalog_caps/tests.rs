//! The caps against the blocks the SDK writes (within them) and blocks built to explode (over
//! them, each by the cap it names); the structural readers against blocks that try to smuggle
//! claims or delegations in through rules.

use std::time::{Duration, SystemTime};

use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};

use super::*;
use crate::attenuate::Attenuation;
use crate::derive::{derive, Derivation};
use crate::vocabulary::{authority_block, GrantClaims};

fn claims(holder: &ed25519_dalek::SigningKey) -> GrantClaims {
    let issued_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    GrantClaims {
        grant_id: "root-grant".into(),
        correlation_id: "c".into(),
        user: "alice".into(),
        agent: "coder-1".into(),
        holder: holder.verifying_key(),
        workspace: "demo".into(),
        task: "t".into(),
        purpose: "p".into(),
        profile: "coding".into(),
        scopes: vec![
            ("fs.read".into(), "".into()),
            ("fs.write".into(), "src/".into()),
        ],
        commands: vec![],
        limits: vec![],
        deny_globs: vec![],
        deny_regexes: vec![],
        approval: crate::vocabulary::Approval::NotRequired,
        shell: None,
        sandbox_level: None,
        child_limits: Vec::new(),
        http_rules: Vec::new(),
        issued_at,
        expires_at: issued_at + Duration::from_secs(900),
    }
}

fn grant(holder: &ed25519_dalek::SigningKey) -> Biscuit {
    authority_block(&claims(holder))
        .unwrap()
        .build(&KeyPair::new())
        .unwrap()
}

fn measured(token: &Biscuit) -> Result<(), CapExceeded> {
    check(&Structure::read(token).unwrap(), &DatalogCaps::default())
}

fn facts(n: usize) -> String {
    (0..n).map(|i| format!("f({i});\n")).collect()
}

#[test]
fn blocks_the_sdk_writes_are_within_the_default_caps() {
    let holder = crate::keys::generate();
    let root = grant(&holder);
    let mut token = root.clone();
    let mut key = holder;
    for _ in 0..4 {
        let child = crate::keys::generate();
        let derivation = Derivation {
            narrowing: Attenuation {
                operations: Some(["fs.read".to_string(), "fs.write".to_string()].into()),
                prefixes: Some((0..8).map(|i| format!("src/p{i}")).collect()),
                ..Default::default()
            },
            purpose: "sub".into(),
            derived_id: None,
        };
        token = derive(&token, &key, &child.verifying_key(), &derivation)
            .unwrap()
            .token;
        key = child;
    }
    measured(&token).unwrap();
}

#[test]
fn each_explosive_shape_is_refused_by_the_cap_it_exceeds() {
    let root = grant(&crate::keys::generate());
    let array: Vec<String> = (0..30).map(|i| i.to_string()).collect();
    let a = format!("[{}]", array.join(", "));
    let cases = [
        (facts(129), "max_block_facts"),
        (
            format!("{}g($a,$b) <- f($a), f($b), f($a), f($b), f($a);", facts(2)),
            "max_body_predicates",
        ),
        (
            format!(
                "{}g($a, $b, $c, $d) <- f($a), f($b), f($c), f($d);",
                facts(60)
            ),
            "max_rule_work",
        ),
        (
            format!(
                "{}check if f($a), f($b), f($c), $a + $b + $c < 0;",
                facts(60)
            ),
            "max_rule_work",
        ),
        (
            format!("check if {a}.all($x -> {a}.all($y -> {a}.all($z -> $x + $y + $z < 0)));"),
            "max_rule_work",
        ),
        (
            (0..9)
                .map(|i| format!("r{i}($x) <- resource($x);\n"))
                .collect(),
            "max_block_rules",
        ),
        (
            format!("check if {};", vec!["true"; 300].join(" && ")),
            "max_expression_ops",
        ),
    ];
    for (code, cap) in cases {
        let token = root
            .append(BlockBuilder::new().code(&code).unwrap())
            .unwrap();
        let err = measured(&token).unwrap_err();
        assert_eq!(err.cap, cap, "{err}");
        assert_eq!(err.place.split(' ').nth(1), Some("1"), "{err}");
    }
    // Over all appended blocks together, though each is within its own caps.
    let mut token = root.clone();
    for _ in 0..3 {
        token = token
            .append(BlockBuilder::new().code(facts(100)).unwrap())
            .unwrap();
    }
    assert_eq!(measured(&token).unwrap_err().cap, "max_token_facts");
}

#[test]
fn a_join_over_derived_facts_is_priced_at_the_authorizer_fact_cap() {
    let root = grant(&crate::keys::generate());
    let code = "g($x) <- resource($x);\ncheck if g($a), g($b), g($c);";
    let token = root
        .append(BlockBuilder::new().code(code).unwrap())
        .unwrap();
    assert_eq!(measured(&token).unwrap_err().cap, "max_rule_work");
}

#[test]
fn rules_cannot_add_a_claim_or_a_delegation() {
    let holder = crate::keys::generate();
    let root = grant(&holder);
    let thief = crate::keys::generate();
    // A first-party block whose rules would derive a wider scope and a delegation to a thief.
    let code = format!(
        "scope(\"fs.write\", \"\", \"\") <- resource($r);\n\
         delegation(hex:{h}, hex:{t}) <- resource($r);\n\
         delegation(hex:{h}, hex:{t});",
        h = hex::encode(holder.verifying_key().as_bytes()),
        t = hex::encode(thief.verifying_key().as_bytes()),
    );
    let token = root
        .append(BlockBuilder::new().code(&code).unwrap())
        .unwrap();
    let read = crate::vocabulary::read_claims(&token).unwrap();
    assert_eq!(read.scopes, claims(&holder).scopes);
    let links = crate::lineage::links(&token).unwrap();
    assert!(links.is_empty(), "{links:?}");
}
