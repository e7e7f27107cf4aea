//! Minted blocks against the text reference, claims round trips, and the documented checks.

use super::*;
use biscuit_auth::datalog::SymbolTable;
use biscuit_auth::{Biscuit, BiscuitBuilder, KeyPair};

fn claims() -> GrantClaims {
    let issued_at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
    GrantClaims {
        grant_id: "01a205d3-7ec5-71b9-9058-8f5efe79b60d".into(),
        correlation_id: "01a205d3-7ec5-71b9-9058-8f5de3d148cb".into(),
        user: "alice".into(),
        agent: "coder-1".into(),
        holder: crate::keys::generate().verifying_key(),
        workspace: "demo".into(),
        task: "interop".into(),
        purpose: "cli test".into(),
        profile: "coding".into(),
        scopes: vec![("fs.read".into(), "".into())],
        commands: vec![],
        limits: vec![],
        deny_globs: vec![],
        deny_regexes: vec![],
        approval: Approval::NotRequired,
        issued_at,
        expires_at: issued_at + std::time::Duration::from_secs(900),
        shell: None,
        sandbox_level: None,
        child_limits: vec![],
        http_rules: Vec::new(),
    }
}

/// Representative grants: minimal, every deny shape (incl. the regex fallback), every
/// limit, commands, awkward strings, and approved grants.
fn cases() -> Vec<(&'static str, GrantClaims)> {
    let mut out = vec![("minimal", claims())];

    let mut c = claims();
    c.scopes = vec![
        ("fs.read".into(), "".into()),
        ("fs.patch".into(), "src".into()),
        ("fs.write".into(), "docs/".into()),
    ];
    c.commands = vec![
        ("test".into(), vec!["sh".into(), "run-tests.sh".into()]),
        ("lint".into(), vec![]),
    ];
    c.limits = LIMIT_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), 1_048_576 + i as i64))
        .collect();
    for glob in [
        ".env",
        "target/**",
        "**/id_rsa",
        "**/*.pem",
        "secrets/*.key",
    ] {
        c.deny_globs.push(glob.to_string());
    }
    c.deny_regexes = vec![
        r"^\.env$".into(),
        r"^target/.*$".into(),
        r"^(?:/?|.*/)id_rsa$".into(),
        r"^(?:/?|.*/)[^/]*\.pem$".into(),
        r"^secrets/[^/]*\.key$".into(),
    ];
    out.push(("deny rules, limits, commands", c.clone()));

    let mut odd = c.clone();
    odd.purpose = "quotes \" and \\ backslashes, {braces}, $dollar, ünïcode".into();
    odd.task = "task with \"quotes\"".into();
    odd.commands = vec![("run \"it\"".into(), vec!["a\\b".into(), "{x}".into()])];
    odd.limits = vec![("read_bytes".into(), 0), ("output_bytes".into(), i64::MAX)];
    out.push(("awkward strings", odd));

    let mut approved = c.clone();
    approved.approval = Approval::Approved {
        approver: "bob".into(),
        parameters_digest: "ab".repeat(32),
        max_uses: 3,
    };
    out.push(("approved", approved));

    let mut approved_minimal = claims();
    approved_minimal.approval = Approval::Approved {
        approver: "carol".into(),
        parameters_digest: "0f".repeat(32),
        max_uses: 1,
    };
    out.push(("approved, minimal", approved_minimal));

    let mut shell = c.clone();
    shell.scopes.push(("shell.exec".into(), "".into()));
    let mut policy = crate::shell::ShellPolicy::coding_default();
    policy.deny = vec!["Bash(rm:*)".into(), "git push".into()];
    policy.ask = vec!["Bash(npm test:*)".into()];
    shell.shell = Some(policy.canonical());
    shell.sandbox_level = Some("no-cgroup+no-userns".into());
    shell.child_limits = CHILD_LIMIT_NAMES
        .iter()
        .enumerate()
        .map(|(i, n)| (n.to_string(), 1 + i as i64))
        .collect();
    out.push(("shell policy, sandbox level, child limits", shell));
    let mut http = c.clone();
    http.scopes
        .push(("net.http".into(), "api.example.com:8443".into()));
    http.http_rules = vec![HttpRule {
        destination: "api.example.com:8443".into(),
        methods: vec!["GET".into(), "HEAD".into()],
        path_prefixes: vec!["/repos/".into()],
    }];
    out.push(("net.http methods and path prefixes", http));
    out
}

/// `read_claims` returns facts in Datalog's (set) order.
fn sorted(mut c: GrantClaims) -> GrantClaims {
    c.scopes.sort();
    c.commands.sort();
    c.limits.sort();
    c.deny_globs.sort();
    c.deny_regexes.sort();
    c.child_limits.sort();
    c.http_rules
        .sort_by(|a, b| a.destination.cmp(&b.destination));
    for rule in &mut c.http_rules {
        rule.methods.sort();
        rule.path_prefixes.sort();
    }
    c
}

fn sign(block: BiscuitBuilder, root: &KeyPair, next: &KeyPair) -> Biscuit {
    block
        .root_key_id(7)
        .build_with_key_pair(root, SymbolTable::new(), next)
        .unwrap()
}

#[test]
fn template_block_is_byte_identical_to_the_parsed_text_block() {
    let root = KeyPair::new();
    for (name, claims) in cases() {
        let next = KeyPair::new();
        let next_again = KeyPair::from(&next.private());
        let fast = sign(authority_block(&claims).unwrap(), &root, &next);
        let text = sign(
            authority_block_from_text(&claims).unwrap(),
            &root,
            &next_again,
        );
        assert_eq!(
            fast.print_block_source(0).unwrap(),
            text.print_block_source(0).unwrap(),
            "{name}: Datalog differs"
        );
        // Same symbols in the same order, same facts and checks, same keys: same bytes.
        assert_eq!(
            fast.to_vec().unwrap(),
            text.to_vec().unwrap(),
            "{name}: token bytes differ"
        );
        assert_eq!(
            sorted(read_claims(&fast).unwrap()),
            sorted(claims),
            "{name}: claims"
        );
    }
}

#[test]
fn repeated_and_interleaved_mints_stay_identical() {
    // The deny-template cache and the holder-key cache must not leak between grants.
    let root = KeyPair::new();
    let all = cases();
    for round in 0..3 {
        for (name, claims) in all.iter().rev() {
            let mut claims = claims.clone();
            if round == 1 {
                claims.holder = crate::keys::generate().verifying_key();
            }
            let next = KeyPair::new();
            let fast = sign(authority_block(&claims).unwrap(), &root, &next);
            let text = sign(
                authority_block_from_text(&claims).unwrap(),
                &root,
                &KeyPair::from(&next.private()),
            );
            assert_eq!(fast.to_vec().unwrap(), text.to_vec().unwrap(), "{name}");
        }
    }
}

#[test]
fn both_constructions_refuse_the_same_bad_claims() {
    let mut unknown_limit = claims();
    unknown_limit.limits = vec![("bogus".into(), 1)];
    let mut unpaired = claims();
    unpaired.deny_globs = vec![".env".into()];
    for bad in [unknown_limit, unpaired] {
        assert!(authority_block(&bad).is_err());
        assert!(authority_block_from_text(&bad).is_err());
    }
}

#[test]
fn the_documented_checks_are_what_a_grant_prints() {
    let (_, c) = cases().swap_remove(1);
    let token = sign(
        authority_block(&c).unwrap(),
        &KeyPair::new(),
        &KeyPair::new(),
    );
    let source = token.print_block_source(0).unwrap();
    for line in [
        r#"check if resource($r), $r != ".env";"#,
        r#"check if resource($r), !$r.starts_with("target/");"#,
        r#"check if resource($r), $r != "id_rsa", !$r.ends_with("/id_rsa");"#,
        r#"check if resource($r), !$r.ends_with(".pem");"#,
        r#"check if resource($r), !$r.matches("^secrets/[^/]*\.key$");"#,
        r#"check if param("read_bytes", $v), $v <= 1048576;"#,
        r#"check if served_workspace($w), $w == "demo";"#,
    ] {
        assert!(source.contains(line), "missing `{line}` in\n{source}");
    }
}

/// `authority_check_at` names exactly the check `authority_block` wrote at each position.
#[test]
fn check_positions_name_the_checks_written_there() {
    for (name, c) in cases() {
        let token = sign(
            authority_block(&c).unwrap(),
            &KeyPair::new(),
            &KeyPair::new(),
        );
        let source = token.print_block_source(0).unwrap();
        let checks: Vec<&str> = source.lines().filter(|l| l.starts_with("check ")).collect();
        for (i, check) in checks.iter().enumerate() {
            let role = authority_check_at(i, &c).unwrap_or_else(|| panic!("{name}: check {i}"));
            let expected = match role {
                AuthorityCheck::Expiry => "check if time($t)".to_string(),
                AuthorityCheck::Scope => "check if operation($op), resource($r), scope(".into(),
                AuthorityCheck::Workspace => "check if served_workspace(".into(),
                AuthorityCheck::HolderBinding => "check if holder_proof(".into(),
                AuthorityCheck::Deny(_) => "check if resource($r), ".into(),
                AuthorityCheck::Limit(j) => format!("check if param({:?}, $v)", c.limits[j].0),
                AuthorityCheck::ApprovedParameters => "check if param_digest($d)".into(),
            };
            assert!(
                check.starts_with(&expected),
                "{name}: check {i} is `{check}`, position says {role:?}"
            );
        }
        assert_eq!(authority_check_at(checks.len(), &c), None, "{name}");
    }
}
