use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;
use crate::profile::{load_profiles, Profile, ProfileSet};
use crate::request::{GrantRequest, Scope};

const MAIN: &str = r#"
[profile]
name = "test"
workspace = "demo"
users = ["alice"]
agents = ["coder-1"]
default_ttl = "15m"
max_ttl = "1h"

[limits]
read_bytes = 4096

[commands]
test = ["cargo", "test"]
lint = ["cargo", "clippy"]
deploy = ["sh", "deploy.sh"]

[[allow]]
id = "read-anything"
operations = ["fs.read", "fs.list", "fs.search"]
resources = ["**"]

[[allow]]
id = "edit-src"
rule = "Edit(src/**)"

[[allow]]
id = "write-docs"
operations = ["fs.write"]
resources = ["README.md", "docs/*.md"]

[[allow]]
id = "run-t"
operations = ["proc.run"]
resources = ["t*"]

[[deny]]
id = "secrets"
resources = [".env", "**/*.pem", "secrets/**", "~/.ssh/**"]

[[deny]]
id = "generated"
operations = ["fs.write", "fs.patch"]
resources = ["src/generated/**"]

[[deny]]
id = "no-evil"
operations = ["net.http"]
resources = ["*.evil.example"]

[[approval]]
id = "network"
operations = ["net.http"]
resources = ["*"]

[[approval]]
id = "deploy"
operations = ["proc.run"]
resources = ["deploy"]

[[approval]]
id = "lib-write"
operations = ["fs.write"]
resources = ["src/lib.rs"]

[[approval]]
id = "pem-approval"
operations = ["fs.read"]
resources = ["**/*.pem"]
"#;

const CLAUDE: &str = r#"
[profile]
name = "claude"
workspace = "claude-ws"
users = ["alice"]
agents = ["coder-1"]

[commands]
test = ["cargo", "test"]
lint = ["cargo", "clippy"]

[[allow]]
rule = "Read(src/**)"

[[allow]]
rule = "Bash(cargo test:*)"

[[allow]]
rule = "WebFetch(domain:docs.rs)"
"#;

fn profiles() -> ProfileSet {
    let main =
        Profile::from_toml_str(MAIN, Path::new("main.toml")).unwrap_or_else(|e| panic!("{e}"));
    let claude =
        Profile::from_toml_str(CLAUDE, Path::new("claude.toml")).unwrap_or_else(|e| panic!("{e}"));
    ProfileSet::new(vec![main, claude]).unwrap_or_else(|e| panic!("{e}"))
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
}

fn request(workspace: &str, scopes: &[(&str, &str)], ttl: Option<Duration>) -> GrantRequest {
    GrantRequest {
        agent_id: "coder-1".into(),
        user: "alice".into(),
        workspace: workspace.into(),
        task: "fix-123".into(),
        purpose: "fix the bug".into(),
        scopes: scopes
            .iter()
            .map(|(op, res)| Scope::new(*op, *res))
            .collect(),
        ttl,
        task_fields: Default::default(),
    }
}

const MIN: Duration = Duration::from_secs(60);

struct Row {
    name: &'static str,
    workspace: &'static str,
    user: &'static str,
    agent: &'static str,
    scopes: &'static [(&'static str, &'static str)],
    ttl: Option<Duration>,
    effect: Effect,
    rule_ids: &'static [&'static str],
    /// For Allow rows: the effective TTL.
    granted_ttl: Option<Duration>,
}

const fn row(
    name: &'static str,
    scopes: &'static [(&'static str, &'static str)],
    effect: Effect,
    rule_ids: &'static [&'static str],
) -> Row {
    Row {
        name,
        workspace: "demo",
        user: "alice",
        agent: "coder-1",
        scopes,
        ttl: None,
        effect,
        rule_ids,
        granted_ttl: None,
    }
}

use Effect::{Allow, ApprovalRequired as Approval, Deny};

fn rows() -> Vec<Row> {
    vec![
        // Allow.
        row(
            "read a prefix",
            &[("fs.read", "src/")],
            Allow,
            &["read-anything"],
        ),
        row(
            "list the whole workspace",
            &[("fs.list", "")],
            Allow,
            &["read-anything"],
        ),
        row(
            "patch via Edit() rule",
            &[("fs.patch", "src/main.rs")],
            Allow,
            &["edit-src"],
        ),
        row(
            "write inside a prefix dir",
            &[("fs.write", "src/a/b.rs")],
            Allow,
            &["edit-src"],
        ),
        row(
            "exact glob allows a file",
            &[("fs.write", "docs/guide.md")],
            Allow,
            &["write-docs"],
        ),
        row(
            "several scopes",
            &[
                ("fs.read", ""),
                ("fs.patch", "src/lib.rs"),
                ("proc.run", "test"),
            ],
            Allow,
            &["read-anything", "edit-src", "run-t"],
        ),
        row(
            "normalized resource",
            &[("fs.patch", "./src//main.rs")],
            Allow,
            &["edit-src"],
        ),
        // Deny rules, and deny winning over allow and approval.
        row("deny rule", &[("fs.read", ".env")], Deny, &["secrets"]),
        row(
            "deny wins over allow",
            &[("fs.read", "certs/key.pem")],
            Deny,
            &["secrets"],
        ),
        row(
            "deny wins over edit allow",
            &[("fs.write", "src/generated/x.rs")],
            Deny,
            &["generated"],
        ),
        row(
            "deny covers the dir itself",
            &[("fs.list", "secrets")],
            Deny,
            &["secrets"],
        ),
        row(
            "deny covers the dir prefix",
            &[("fs.list", "secrets/")],
            Deny,
            &["secrets"],
        ),
        row(
            "deny wins over approval",
            &[("net.http", "api.evil.example")],
            Deny,
            &["no-evil"],
        ),
        row(
            "deny in one scope beats approval in another",
            &[("net.http", "api.github.com"), ("fs.read", ".env")],
            Deny,
            &["secrets"],
        ),
        // Malformed requests.
        row(
            "unknown operation",
            &[("fs.delete", "src/main.rs")],
            Deny,
            &["unknown-operation"],
        ),
        row(
            "dotdot resource",
            &[("fs.read", "src/../.env")],
            Deny,
            &["invalid-resource"],
        ),
        row(
            "absolute resource",
            &[("fs.read", "/etc/passwd")],
            Deny,
            &["invalid-resource"],
        ),
        row(
            "backslash resource",
            &[("fs.read", "src\\main.rs")],
            Deny,
            &["invalid-resource"],
        ),
        row(
            "NUL in resource",
            &[("fs.read", "src/a\0b")],
            Deny,
            &["invalid-resource"],
        ),
        row(
            "command with args",
            &[("proc.run", "cargo test")],
            Deny,
            &["invalid-resource"],
        ),
        row(
            "url instead of host",
            &[("net.http", "https://x.org/")],
            Deny,
            &["invalid-resource"],
        ),
        row("empty request", &[], Deny, &["empty-request"]),
        // Default deny.
        row(
            "outside any allow prefix",
            &[("fs.write", "Cargo.toml")],
            Deny,
            &["default-deny"],
        ),
        row(
            "prefix boundary",
            &[("fs.write", "srcx/a.rs")],
            Deny,
            &["default-deny"],
        ),
        row(
            "exact glob is not a prefix",
            &[("fs.write", "docs/")],
            Deny,
            &["default-deny"],
        ),
        row(
            "exact glob needs an exact match",
            &[("fs.write", "docs/a/b.md")],
            Deny,
            &["default-deny"],
        ),
        row(
            "write the whole workspace",
            &[("fs.write", "")],
            Deny,
            &["default-deny"],
        ),
        row(
            "command not allowed",
            &[("proc.run", "lint")],
            Deny,
            &["default-deny"],
        ),
        // Commands.
        row(
            "unknown command",
            &[("proc.run", "tidy")],
            Deny,
            &["unknown-command"],
        ),
        // Approval.
        row(
            "approval required",
            &[("net.http", "api.github.com")],
            Approval,
            &["network"],
        ),
        row(
            "approval with allowed scopes",
            &[("fs.read", "src/"), ("net.http", "crates.io")],
            Approval,
            &["network"],
        ),
        row(
            "approval for a command",
            &[("proc.run", "deploy")],
            Approval,
            &["deploy"],
        ),
        row(
            "approval for a file",
            &[("fs.write", "src/lib.rs")],
            Approval,
            &["lib-write"],
        ),
        row(
            "prefix grant excludes approval paths",
            &[("fs.write", "src/")],
            Allow,
            &["edit-src"],
        ),
        row(
            "no approval for a sibling",
            &[("fs.write", "src/main.rs")],
            Allow,
            &["edit-src"],
        ),
        // TTL.
        Row {
            ttl: Some(5 * 60 * MIN),
            granted_ttl: Some(60 * MIN),
            ..row(
                "ttl above ceiling is clamped",
                &[("fs.read", "src/")],
                Allow,
                &["read-anything", "ttl-ceiling"],
            )
        },
        Row {
            ttl: Some(60 * MIN),
            granted_ttl: Some(60 * MIN),
            ..row(
                "ttl at ceiling",
                &[("fs.read", "src/")],
                Allow,
                &["read-anything"],
            )
        },
        Row {
            ttl: Some(5 * MIN),
            granted_ttl: Some(5 * MIN),
            ..row(
                "ttl below ceiling",
                &[("fs.read", "src/")],
                Allow,
                &["read-anything"],
            )
        },
        Row {
            granted_ttl: Some(15 * MIN),
            ..row(
                "default ttl",
                &[("fs.read", "src/")],
                Allow,
                &["read-anything"],
            )
        },
        Row {
            ttl: Some(Duration::ZERO),
            ..row("zero ttl", &[("fs.read", "src/")], Deny, &["invalid-ttl"])
        },
        // Principals and workspace.
        Row {
            user: "bob",
            ..row(
                "wrong user",
                &[("fs.read", "src/")],
                Deny,
                &["user-not-permitted"],
            )
        },
        Row {
            agent: "coder-2",
            ..row(
                "wrong agent",
                &[("fs.read", "src/")],
                Deny,
                &["agent-not-permitted"],
            )
        },
        Row {
            workspace: "prod",
            ..row(
                "unknown workspace",
                &[("fs.read", "src/")],
                Deny,
                &["no-profile"],
            )
        },
        Row {
            user: "bob",
            agent: "coder-2",
            ..row(
                "user checked before agent",
                &[("fs.read", "src/")],
                Deny,
                &["user-not-permitted"],
            )
        },
        Row {
            user: "bob",
            workspace: "prod",
            ..row("workspace checked first", &[], Deny, &["no-profile"])
        },
        // Claude Code rule forms.
        Row {
            workspace: "claude-ws",
            ..row(
                "Read(src/**) allows src",
                &[("fs.search", "src/")],
                Allow,
                &["claude.allow[0]"],
            )
        },
        Row {
            workspace: "claude-ws",
            ..row(
                "Read(src/**) is not Edit",
                &[("fs.write", "src/a.rs")],
                Deny,
                &["default-deny"],
            )
        },
        Row {
            workspace: "claude-ws",
            ..row(
                "Read(src/**) stops at src",
                &[("fs.read", "README.md")],
                Deny,
                &["default-deny"],
            )
        },
        Row {
            workspace: "claude-ws",
            ..row(
                "Bash(cargo test:*) allows test",
                &[("proc.run", "test")],
                Allow,
                &["claude.allow[1]"],
            )
        },
        Row {
            workspace: "claude-ws",
            ..row(
                "Bash(cargo test:*) denies lint",
                &[("proc.run", "lint")],
                Deny,
                &["default-deny"],
            )
        },
        Row {
            workspace: "claude-ws",
            ..row(
                "WebFetch(domain:docs.rs)",
                &[("net.http", "Docs.RS")],
                Allow,
                &["claude.allow[2]"],
            )
        },
        Row {
            workspace: "claude-ws",
            ..row(
                "WebFetch other host",
                &[("net.http", "docs.rs.evil")],
                Deny,
                &["default-deny"],
            )
        },
    ]
}

#[test]
fn decision_table() {
    let set = profiles();
    let rows = rows();
    assert!(rows.len() >= 20);
    let mut failures = Vec::new();
    for r in &rows {
        let mut req = request(r.workspace, r.scopes, r.ttl);
        req.user = r.user.into();
        req.agent_id = r.agent.into();
        let d = evaluate(&req, &set, now());
        let ids: Vec<&str> = d.rule_ids.iter().map(String::as_str).collect();
        if d.effect != r.effect || ids != r.rule_ids {
            failures.push(format!(
                "{}: expected {:?} {:?}, got {:?} {:?} ({})",
                r.name, r.effect, r.rule_ids, d.effect, ids, d.reason
            ));
            continue;
        }
        let prefix = match r.effect {
            Allow => "allowed: ",
            Deny => "denied: ",
            Approval => "approval required: ",
        };
        if !d.reason.starts_with(prefix) || d.reason.contains('\n') {
            failures.push(format!("{}: bad reason {:?}", r.name, d.reason));
        }
        for id in &d.rule_ids {
            if !d.reason.contains(&format!("`{id}`"))
                && !matches!(
                    id.as_str(),
                    "no-profile"
                        | "user-not-permitted"
                        | "agent-not-permitted"
                        | "empty-request"
                        | "unknown-operation"
                        | "invalid-resource"
                        | "default-deny"
                        | "unknown-command"
                        | "invalid-ttl"
                )
            {
                failures.push(format!(
                    "{}: reason {:?} does not name rule `{id}`",
                    r.name, d.reason
                ));
            }
        }
        match (&d.envelope, r.effect) {
            (Some(env), Allow) => {
                assert_eq!(env.issued_at, now(), "{}", r.name);
                if let Some(ttl) = r.granted_ttl {
                    assert_eq!(env.expires_at, now() + ttl, "{}", r.name);
                    assert_eq!(env.ttl(), ttl, "{}", r.name);
                }
                assert_eq!(
                    env.ttl_clamped,
                    r.rule_ids.contains(&"ttl-ceiling"),
                    "{}",
                    r.name
                );
                assert_eq!(env.scopes.len(), r.scopes.len(), "{}", r.name);
            }
            (None, Deny | Approval) => {}
            (env, effect) => failures.push(format!("{}: {effect:?} with envelope {env:?}", r.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn ttl_clamp_is_explained() {
    let d = evaluate(
        &request("demo", &[("fs.read", "src/")], Some(5 * 60 * MIN)),
        &profiles(),
        now(),
    );
    assert_eq!(d.effect, Effect::Allow);
    let env = d.envelope.expect("envelope");
    assert_eq!(env.expires_at, now() + Duration::from_secs(3600));
    assert!(env.ttl_clamped);
    assert!(
        d.reason.contains("ttl-ceiling") && d.reason.contains("5h") && d.reason.contains("1h"),
        "{}",
        d.reason
    );
}

#[test]
fn envelope_is_least_privilege() {
    let req = request(
        "demo",
        &[
            ("fs.read", "./src/"),
            ("fs.patch", "src/main.rs"),
            ("proc.run", "test"),
            ("fs.read", "src/"),
        ],
        None,
    );
    let d = evaluate(&req, &profiles(), now());
    assert_eq!(d.effect, Effect::Allow, "{}", d.reason);
    assert_eq!(
        d.reason,
        "allowed: fs.read on `src/` by rule `read-anything`, fs.patch on `src/main.rs` by rule \
         `edit-src`, proc.run on `test` by rule `run-t` for task `fix-123` for 15m"
    );
    let env = d.envelope.expect("envelope");
    assert_eq!(env.profile, "test");
    assert_eq!(env.workspace, "demo");
    assert_eq!(
        env.scopes,
        vec![
            Scope::new("fs.read", "src/"),
            Scope::new("fs.patch", "src/main.rs"),
            Scope::new("proc.run", "test"),
        ]
    );
    assert_eq!(
        env.commands,
        vec![(
            "test".to_string(),
            vec!["cargo".to_string(), "test".to_string()]
        )]
    );
    // `secrets` applies to every operation; `generated` to fs.write/fs.patch (patch granted);
    // `no-evil` only to net.http (not granted, not a path rule); then the sensitive class.
    assert_eq!(
        env.deny_globs[..5],
        [
            ".env",
            "**/*.pem",
            "secrets/**",
            "~/.ssh/**",
            "src/generated/**"
        ]
    );
    assert!(env.deny_globs[5..].iter().all(|g| g.starts_with("**/")));
    assert_eq!(env.deny_globs.len(), env.deny_regexes.len());
    assert_eq!(env.limits[0], ("read_bytes".to_string(), 4096));
    assert_eq!(env.limits.len(), 6);
    assert!(env
        .limits
        .contains(&("run_timeout_ms".to_string(), 120_000)));
}

#[test]
fn deny_globs_follow_granted_operations() {
    let set = profiles();
    let read = evaluate(&request("demo", &[("fs.read", "")], None), &set, now());
    let env = read.envelope.expect("envelope");
    assert_eq!(
        env.deny_globs[..4],
        [".env", "**/*.pem", "secrets/**", "~/.ssh/**"]
    );
    // The sensitive class follows (`**/*.pem` is already there), every fs grant carries it.
    let class = trust_sdk::sensitive::grant_globs();
    assert_eq!(env.deny_globs.len(), 4 + class.len() - 1);
    assert!(class.iter().all(|g| env.deny_globs.contains(g)));
    let run = evaluate(&request("demo", &[("proc.run", "test")], None), &set, now());
    assert!(run.envelope.expect("envelope").deny_globs.is_empty());
}

#[test]
fn envelope_deny_regexes_compile_and_enforce() {
    let d = evaluate(
        &request("demo", &[("fs.write", "src/a.rs"), ("fs.read", "")], None),
        &profiles(),
        now(),
    );
    let env = d.envelope.expect("envelope");
    let regexes: Vec<regex::Regex> = env
        .deny_regexes
        .iter()
        .map(|r| regex::Regex::new(r).unwrap_or_else(|e| panic!("{r}: {e}")))
        .collect();
    let denied = |path: &str| regexes.iter().any(|re| re.is_match(path));
    for path in [
        ".env",
        "a/b/key.pem",
        "secrets/x",
        "src/generated/mod.rs",
        "src/lib.rs",
    ] {
        assert!(denied(path), "{path} should be denied");
    }
    // `.env` is denied at any depth by the sensitive class (the profile's rule names only `.env`).
    assert!(denied("src/.env"));
    for path in [
        "src/main.rs",
        "src/env",
        "README.md",
        "secretsx/a",
        "src/generated",
    ] {
        assert!(!denied(path), "{path} should not be denied");
    }
}

#[test]
fn deny_reason_names_the_rule() {
    let d = evaluate(
        &request("demo", &[("fs.read", ".env")], None),
        &profiles(),
        now(),
    );
    assert_eq!(
        d.reason,
        "denied: fs.read on `.env` matches deny rule `secrets`"
    );
}

#[test]
fn evaluation_is_pure() {
    let set = profiles();
    let req = request(
        "demo",
        &[("fs.read", "src/"), ("proc.run", "test")],
        Some(10 * MIN),
    );
    assert_eq!(evaluate(&req, &set, now()), evaluate(&req, &set, now()));
    let later = now() + Duration::from_secs(7);
    let env = evaluate(&req, &set, later).envelope.expect("envelope");
    assert_eq!(env.issued_at, later);
    assert_eq!(env.expires_at, later + 10 * MIN);
}

#[test]
fn ttl_overflowing_the_clock_is_invalid() {
    // A profile whose max is the 24h ceiling, evaluated at the end of representable time.
    let src = MAIN.replace("max_ttl = \"1h\"", "max_ttl = \"24h\"");
    let p = Profile::from_toml_str(&src, Path::new("x.toml")).unwrap_or_else(|e| panic!("{e}"));
    let set = ProfileSet::new(vec![p]).unwrap_or_else(|e| panic!("{e}"));
    let req = request(
        "demo",
        &[("fs.read", "src/")],
        Some(Duration::from_secs(3600)),
    );
    let ok = evaluate(&req, &set, now());
    assert_eq!(ok.effect, Effect::Allow);
    let far = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(i64::MAX as u64 - 10));
    if let Some(far) = far {
        let d = evaluate(&req, &set, far);
        assert_eq!(d.rule_ids, vec!["invalid-ttl"]);
    }
}

#[test]
fn example_profile_demo_flow() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("profiles")
        .join("coding.toml");
    let set = load_profiles(&[path]).unwrap_or_else(|e| panic!("{e}"));
    type Case<'a> = (&'a [(&'a str, &'a str)], Effect, &'a [&'a str]);
    let cases: &[Case] = &[
        (
            &[
                ("fs.read", "src/"),
                ("fs.patch", "src/lib.rs"),
                ("proc.run", "test"),
            ],
            Effect::Allow,
            &["read-anything", "edit-src", "run-tests"],
        ),
        (
            &[("fs.write", "tests/it.rs")],
            Effect::Allow,
            &["edit-tests"],
        ),
        (&[("fs.read", ".env")], Effect::Deny, &["secrets"]),
        (
            &[("fs.read", "config/.git/config")],
            Effect::Deny,
            &["secrets"],
        ),
        (&[("fs.read", ".git/config")], Effect::Deny, &["secrets"]),
        (
            &[("fs.write", "README.md")],
            Effect::Deny,
            &["default-deny"],
        ),
        (
            &[("net.http", "api.github.com")],
            Effect::ApprovalRequired,
            &["network"],
        ),
        (&[("proc.run", "lint")], Effect::Deny, &["default-deny"]),
    ];
    for (scopes, effect, ids) in cases {
        let d = evaluate(&request("demo", scopes, None), &set, now());
        assert_eq!(
            (
                d.effect,
                d.rule_ids.iter().map(String::as_str).collect::<Vec<_>>()
            ),
            (*effect, ids.to_vec()),
            "{scopes:?}: {}",
            d.reason
        );
    }
}

#[test]
fn normalize_resource_rules() {
    use crate::request::Operation::{FsRead, NetHttp, ProcRun};
    assert_eq!(
        normalize_resource(FsRead, "./src//a.rs").as_deref(),
        Ok("src/a.rs")
    );
    assert_eq!(normalize_resource(FsRead, "./").as_deref(), Ok(""));
    assert_eq!(
        normalize_resource(FsRead, "src/./a/").as_deref(),
        Ok("src/a/")
    );
    assert!(normalize_resource(FsRead, "..").is_err());
    assert!(normalize_resource(FsRead, "a/..").is_err());
    assert!(normalize_resource(FsRead, "a/\nb").is_err());
    assert_eq!(
        normalize_resource(NetHttp, "API.github.com:443").as_deref(),
        Ok("api.github.com:443")
    );
    assert!(normalize_resource(NetHttp, "a..b").is_err());
    assert!(normalize_resource(NetHttp, "a:0").is_err());
    assert!(normalize_resource(ProcRun, "").is_err());
    assert!(normalize_resource(ProcRun, "../x").is_err());
}

#[test]
fn prefix_grant_carries_pending_approval_globs() {
    let d = evaluate(
        &request("demo", &[("fs.write", "src/")], None),
        &profiles(),
        now(),
    );
    assert_eq!(d.effect, Effect::Allow, "{}", d.reason);
    let env = d.envelope.expect("envelope");
    assert!(
        env.deny_globs.contains(&"src/lib.rs".to_string()),
        "{:?}",
        env.deny_globs
    );
    assert!(
        !env.deny_globs.contains(&"*".to_string()),
        "net.http approval is not a path rule"
    );
}

#[test]
fn approved_requests_are_allowed() {
    let set = profiles();
    let approved = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let net = request(
        "demo",
        &[("net.http", "api.github.com"), ("fs.read", "src/")],
        None,
    );
    let d = evaluate_with_approvals(&net, &set, now(), &approved(&["network"]));
    assert_eq!(d.effect, Effect::Allow, "{}", d.reason);
    assert_eq!(d.rule_ids, vec!["network", "read-anything"]);
    assert!(
        d.reason
            .contains("net.http on `api.github.com` by rule `network`"),
        "{}",
        d.reason
    );

    let lib = request("demo", &[("fs.write", "src/")], None);
    let d = evaluate_with_approvals(&lib, &set, now(), &approved(&["lib-write"]));
    let env = d.envelope.expect("envelope");
    assert!(!env.deny_globs.contains(&"src/lib.rs".to_string()));

    let lib_file = request("demo", &[("fs.write", "src/lib.rs")], None);
    let d = evaluate_with_approvals(&lib_file, &set, now(), &approved(&["lib-write"]));
    assert_eq!(d.rule_ids, vec!["edit-src", "lib-write"], "{}", d.reason);
    assert!(
        d.reason.contains("by rules `edit-src` and `lib-write`"),
        "{}",
        d.reason
    );

    // Approving a different rule does not help; deny still wins.
    let d = evaluate_with_approvals(&net, &set, now(), &approved(&["deploy"]));
    assert_eq!(d.effect, Effect::ApprovalRequired);
    let evil = request("demo", &[("net.http", "x.evil.example")], None);
    let d = evaluate_with_approvals(&evil, &set, now(), &approved(&["network"]));
    assert_eq!(d.rule_ids, vec!["no-evil"]);
}
