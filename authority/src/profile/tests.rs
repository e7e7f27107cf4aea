use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("profiles")
        .join("coding.toml")
}

fn parse(src: &str) -> Result<Profile, ProfileErrors> {
    Profile::from_toml_str(src, Path::new("test.toml"))
}

fn lines_and_messages(errors: &ProfileErrors) -> Vec<(usize, String)> {
    errors
        .errors
        .iter()
        .map(|e| (e.line, e.message.clone()))
        .collect()
}

fn assert_error(src: &str, line: usize, fragment: &str) {
    let errors = parse(src).expect_err("profile should be rejected");
    assert!(
        errors
            .errors
            .iter()
            .any(|e| e.line == line && e.message.contains(fragment)),
        "expected an error on line {line} containing {fragment:?}, got:\n{errors}"
    );
}

const MINIMAL: &str = r#"
[profile]
name = "p"
workspace = "w"
users = ["u"]
agents = ["a"]
"#;

#[test]
fn example_profile_loads() {
    let set = load_profiles(&[example_path()]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(set.len(), 1);
    let p = set.for_workspace("demo").expect("demo profile");
    assert_eq!(p.name, "coding");
    assert_eq!(p.users, vec!["alice"]);
    assert_eq!(p.agents, vec!["coder-1"]);
    assert_eq!(p.default_ttl, Duration::from_secs(15 * 60));
    assert_eq!(p.max_ttl, Duration::from_secs(3600));
    assert_eq!(
        p.command("test"),
        Some(&["sh".to_string(), "run-tests.sh".to_string()][..])
    );
    assert_eq!(p.limits, Limits::default());
    assert_eq!(p.allow.len(), 4);
    let edit = p
        .allow
        .iter()
        .find(|r| r.id == "edit-src")
        .expect("edit-src");
    assert_eq!(edit.claude_rule.as_deref(), Some("Edit(src/**)"));
    assert_eq!(
        edit.operations,
        vec![Operation::FsWrite, Operation::FsPatch]
    );
    let run = p
        .allow
        .iter()
        .find(|r| r.id == "run-tests")
        .expect("run-tests");
    assert_eq!(run.resources.len(), 1);
    assert!(run.resources[0].is_match("test"));
    assert_eq!(p.deny.len(), 1);
    assert_eq!(p.deny[0].operations, Operation::ALL.to_vec());
    let globs: Vec<&str> = p.deny[0].resources.iter().map(|r| r.pattern()).collect();
    assert_eq!(
        globs,
        vec![
            "**/.env",
            "**/.env.*",
            "**/*.pem",
            "**/.git/config",
            "~/.ssh/**",
            "secrets/**"
        ]
    );
    assert_eq!(p.approval[0].operations, vec![Operation::NetHttp]);
    assert_eq!(p.processes.len(), 1);
    assert_eq!(p.processes[0].steps.len(), 3);
    assert_eq!(p.processes[0].steps[1].approval, Some(false));
    let root = p.workspace_root.as_ref().expect("workspace_root");
    assert!(
        root.ends_with("../examples/demo-workspace"),
        "{}",
        root.display()
    );
    assert!(root.starts_with(example_path().parent().expect("parent")));
    assert_eq!(p.deny[0].line, 43);
}

#[test]
fn example_profile_directory_loads() {
    let dir = example_path().parent().expect("profiles dir").to_path_buf();
    let set = load_profiles(&[dir]).unwrap_or_else(|e| panic!("{e}"));
    assert!(set.for_workspace("demo").is_some());
}

#[test]
fn minimal_profile_gets_defaults() {
    let p = parse(MINIMAL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.default_ttl, DEFAULT_DEFAULT_TTL);
    assert_eq!(p.max_ttl, DEFAULT_MAX_TTL);
    assert!(p.allow.is_empty() && p.deny.is_empty() && p.approval.is_empty());
    assert!(p.workspace_root.is_none());
    assert_eq!(p.name_line, 3);
    assert_eq!(p.workspace_line, 4);
}

#[test]
fn malformed_profile_reports_every_error_with_its_line() {
    let src = r#"[profile]
name = "broken"
workspace = "w"
users = ["u"]
agents = ["a"]
max_ttl = "48h"
colour = "blue"

[[allow]]
operations = ["fs.read", "fs.delete"]
resources = ["src/["]

[[allow]]
rule = "Grep(src/**)"

[[deny]]
resources = ["ok/**"]
extra = true
"#;
    let errors = parse(src).expect_err("malformed profile must be rejected");
    let got = lines_and_messages(&errors);
    let expect: &[(usize, &str)] = &[
        (6, "max_ttl `48h` exceeds the 24h ceiling"),
        (7, "unknown key `colour` in [profile]"),
        (10, "unknown operation `fs.delete`"),
        (11, "bad glob `src/[`"),
        (14, "unsupported tool `Grep`"),
        (18, "unknown key `extra` in [[deny]] entry 1"),
    ];
    assert_eq!(got.len(), expect.len(), "{errors}");
    for ((line, message), (want_line, want)) in got.iter().zip(expect) {
        assert_eq!(line, want_line, "{message}");
        assert!(
            message.contains(want),
            "{message:?} should contain {want:?}"
        );
    }
    let shown = errors.to_string();
    assert_eq!(shown.lines().count(), expect.len());
    for line in shown.lines() {
        assert!(line.starts_with("test.toml:"), "{line}");
    }
    assert!(shown
        .lines()
        .next()
        .is_some_and(|l| l.starts_with("test.toml:6: max_ttl")));
}

#[test]
fn errors_across_files_are_all_reported() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    let c = dir.path().join("c.toml");
    let missing = dir.path().join("missing.toml");
    std::fs::write(&a, MINIMAL).expect("write a");
    std::fs::write(&b, MINIMAL.replace("\"p\"", "\"q\"")).expect("write b");
    std::fs::write(&c, "[profile\nname = 1\n").expect("write c");
    let errors = load_profiles(&[a.clone(), b.clone(), c.clone(), missing.clone()])
        .expect_err("should fail");
    let shown = errors.to_string();
    assert!(
        errors.errors.iter().any(|e| e.file == c && e.line == 1),
        "{shown}"
    );
    assert!(
        errors
            .errors
            .iter()
            .any(|e| e.file == missing && e.line == 0),
        "{shown}"
    );
    assert!(
        errors
            .errors
            .iter()
            .any(|e| e.file == b && e.line == 4 && e.message.contains("already has a profile")),
        "{shown}"
    );
}

#[test]
fn duplicate_profile_names_are_rejected() {
    let one = parse(MINIMAL).expect("one");
    let two = parse(&MINIMAL.replace("\"w\"", "\"w2\"")).expect("two");
    let errors = ProfileSet::new(vec![one, two]).expect_err("duplicate name");
    assert!(errors.errors[0]
        .message
        .contains("profile name `p` is already used"));
}

#[test]
fn header_mistakes() {
    assert_error("[profile]\nname = \"p\"\n", 1, "missing `workspace`");
    assert_error("x = 1\n", 1, "missing [profile] table");
    assert_error(
        &format!("{MINIMAL}default_ttl = \"2h\"\n"),
        7,
        "exceeds max_ttl",
    );
    assert_error(
        &format!("{MINIMAL}default_ttl = \"0s\"\n"),
        7,
        "greater than zero",
    );
    assert_error(
        &format!("{MINIMAL}max_ttl = \"soon\"\n"),
        7,
        "invalid duration",
    );
    assert_error(&MINIMAL.replace("\"p\"", "\"a b\""), 3, "profile name");
    assert_error(&MINIMAL.replace("[\"u\"]", "[\"u\", 3]"), 5, "only strings");
}

#[test]
fn limits_and_commands_mistakes() {
    assert_error(
        &format!("{MINIMAL}[limits]\nread_bytes = 0\n"),
        8,
        "greater than zero",
    );
    assert_error(
        &format!("{MINIMAL}[limits]\nread_byte = 5\n"),
        8,
        "unknown key `read_byte`",
    );
    assert_error(
        &format!("{MINIMAL}[limits]\nread_bytes = \"5\"\n"),
        8,
        "must be an integer",
    );
    assert_error(
        &format!("{MINIMAL}[commands]\ntest = \"cargo test\"\n"),
        8,
        "argv array",
    );
    assert_error(
        &format!("{MINIMAL}[commands]\ntest = []\n"),
        8,
        "non-empty program",
    );
    let p = parse(&format!(
        "{MINIMAL}[limits]\nread_bytes = 0x10\nlist_entries = 1_000\n"
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.limits.read_bytes, 16);
    assert_eq!(p.limits.list_entries, 1000);
    assert_eq!(p.limits.write_bytes, Limits::default().write_bytes);
}

#[test]
fn rule_shape_mistakes() {
    assert_error(
        &format!("{MINIMAL}[[allow]]\nid = \"x\"\n"),
        7,
        "needs `rule` or `operations`",
    );
    assert_error(
        &format!("{MINIMAL}[[allow]]\noperations = [\"fs.read\"]\n"),
        7,
        "needs `resources`",
    );
    assert_error(
        &format!("{MINIMAL}[[deny]]\nid = \"x\"\n"),
        7,
        "needs `rule`, `operations`",
    );
    assert_error(
        &format!("{MINIMAL}[[allow]]\nrule = \"Read(**)\"\nresources = [\"a\"]\n"),
        8,
        "not both",
    );
    assert_error(
        &format!("{MINIMAL}[allow]\nrule = \"Read(**)\"\n"),
        7,
        "array of tables",
    );
    assert_error(
        &format!("{MINIMAL}[[allow]]\noperations = []\nresources = [\"a\"]\n"),
        8,
        "must not be empty",
    );
    assert_error(
        &format!("{MINIMAL}[[allow]]\nid = \"d\"\nrule = \"Read(a)\"\n[[deny]]\nid = \"d\"\nresources = [\"b\"]\n"),
        10,
        "duplicate rule id `d` (first used on line 7)",
    );
    assert_error(
        &format!("{MINIMAL}[[deny]]\nid = \"default-deny\"\nresources = [\"b\"]\n"),
        8,
        "reserved",
    );
}

#[test]
fn claude_rules_resolve_against_commands() {
    let src = format!(
        "{MINIMAL}[commands]\ntest = [\"cargo\", \"test\"]\nlint = [\"cargo\", \"clippy\"]\n\
         [[allow]]\nrule = \"Bash(cargo test:*)\"\n[[allow]]\nrule = \"Read(src/**)\"\n\
         [[approval]]\nrule = \"WebFetch(domain:docs.rs)\"\n"
    );
    let p = parse(&src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.allow[0].id, "p.allow[0]");
    assert_eq!(p.allow[1].id, "p.allow[1]");
    assert_eq!(p.approval[0].id, "p.approval[0]");
    let bash = &p.allow[0];
    assert_eq!(bash.operations, vec![Operation::ProcRun]);
    assert!(bash.resources.iter().any(|r| r.is_match("test")));
    assert!(!bash.resources.iter().any(|r| r.is_match("lint")));
    assert_eq!(
        p.allow[1].operations,
        vec![Operation::FsRead, Operation::FsList, Operation::FsSearch]
    );
    assert_eq!(p.approval[0].operations, vec![Operation::NetHttp]);

    assert_error(
        &format!("{MINIMAL}[commands]\nlint = [\"cargo\", \"clippy\"]\n[[allow]]\nrule = \"Bash(cargo test)\"\n"),
        10,
        "matches no command",
    );
    // A deny rule may name a command the profile does not (yet) define.
    parse(&format!("{MINIMAL}[[deny]]\nrule = \"Bash(rm:*)\"\n")).unwrap_or_else(|e| panic!("{e}"));
    assert_error(
        &format!("{MINIMAL}[[allow]]\nrule = \"Edit(src/[a)\"\n"),
        8,
        "bad glob",
    );
    assert_error(
        &format!("{MINIMAL}[[allow]]\nrule = \"WebFetch(x)\"\n"),
        8,
        "WebFetch",
    );
}

#[test]
fn process_mistakes() {
    assert_error(
        &format!("{MINIMAL}[[process]]\nname = \"x\"\nsteps = [{{ name = \"a\", operations = [\"fs.nope\"], resources = [\"**\"], agents = [\"bot\"] }}]\n"),
        9,
        "unknown operation `fs.nope`",
    );
    assert_error(
        &format!("{MINIMAL}[[process]]\nname = \"x\"\nsteps = [{{ name = \"a\", operations = [\"fs.read\"], agents = [\"bot\"] }}]\n"),
        9,
        "without `resources`",
    );
    assert_error(
        &format!("{MINIMAL}[[process]]\nname = \"x\"\nsteps = [{{ name = \"a\", agents = [\"bot\"], why = 1 }}]\n"),
        9,
        "unknown field `why`",
    );
    assert_error(
        &format!("{MINIMAL}[[process]]\nname = \"x\"\nsteps = [{{ name = \"a\" }}]\n"),
        9,
        "names nobody who may perform it",
    );
    assert_error(
        &format!("{MINIMAL}[[process]]\nname = \"x\"\ndistinct = [\"a\", \"b\"]\nsteps = [{{ name = \"a\", agents = [\"bot\"], exceptions = {{ no = \"a\" }} }}]\n"),
        7,
        "names unknown step `b`",
    );
}

/// A process step's `context.retrieve` scope carries an allow rule's context keys, strictly.
#[test]
fn process_context_scopes() {
    let step = |keys: &str| {
        format!(
            "{MINIMAL}[[process]]\nname = \"x\"\n[[process.steps]]\nname = \"a\"\nagents = [\"a\"]\n{keys}"
        )
    };
    let ok = step(
        "[[process.steps.scopes]]\noperations = [\"context.retrieve\"]\nresources = [\"kb\"]\n\
         max_classification = \"internal\"\njurisdictions = [\"EU\"]\nmax_documents = 3\n\
         redact = [\"mask:iban\"]\n",
    );
    let p = parse(&ok).unwrap_or_else(|e| panic!("{e}"));
    let context = p.processes[0].steps[0].scopes[0].context.as_ref().unwrap();
    assert_eq!(
        context.classifications.iter().collect::<Vec<_>>(),
        vec!["internal", "public"]
    );
    assert_eq!(context.max_documents, 3);
    assert_eq!(context.redactions.len(), 1);
    // On the step's own operations/resources too.
    let own = step("operations = [\"context.retrieve\"]\nresources = [\"kb\"]\nclassifications = [\"public\"]\njurisdictions = [\"*\"]\n");
    let p = parse(&own).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.processes[0].steps[0].scopes[0].context.is_some());

    // Deny by default: a context scope without its limits does not load.
    assert_error(
        &step("operations = [\"context.retrieve\"]\nresources = [\"kb\"]\n"),
        9,
        "must state what the step may read",
    );
    assert_error(
        &step("scopes = [{ operations = [\"context.retrieve\"], resources = [\"kb\"], classifications = [\"public\"] }]\n"),
        9,
        "needs `jurisdictions`",
    );
    assert_error(
        &step("scopes = [{ operations = [\"context.retrieve\", \"fs.read\"], resources = [\"kb\"], classifications = [\"public\"], jurisdictions = [\"*\"] }]\n"),
        9,
        "names no other operation",
    );
    assert_error(
        &step("operations = [\"fs.read\"]\nresources = [\"kb\"]\nmax_documents = 3\n"),
        9,
        "context keys belong to scopes of `context.retrieve` only",
    );
    assert_error(
        &step("scopes = [{ operations = [\"context.retrieve\"], resources = [\"kb\"], max_classification = \"secret\", jurisdictions = [\"*\"], redact = [\"hide:email\"] }]\n"),
        9,
        "unknown classification `secret`",
    );
    assert_error(
        &step("scopes = [{ operations = [\"context.retrieve\"], resources = [\"kb\"], max_classification = \"secret\", jurisdictions = [\"*\"], redact = [\"hide:email\"] }]\n"),
        9,
        "redaction `hide:email`",
    );
    let typo = parse(&step("scopes = [{ operations = [\"context.retrieve\"], resources = [\"kb\"], max_classfication = \"public\" }]\n"))
        .expect_err("a misspelt key is refused");
    assert!(
        typo.to_string()
            .contains("unknown field `max_classfication`"),
        "{typo}"
    );
    assert_error(&step("max_documents = 3\n"), 9, "without `operations`");
}

/// The authority's own rule ids, process ones included, are not a profile's to use.
#[test]
fn process_rule_ids_are_reserved() {
    for id in [
        "process-segregation-of-duties",
        "process-out-of-order",
        "process-not-starter",
        "process:x/a",
    ] {
        assert_error(
            &format!("{MINIMAL}[[allow]]\nid = \"{id}\"\noperations = [\"fs.read\"]\nresources = [\"b\"]\n"),
            8,
            "reserved",
        );
    }
}

#[test]
fn syntax_errors_are_located() {
    let errors = parse("[profile]\nname = \"p\"\nworkspace = \n").expect_err("syntax");
    assert_eq!(errors.errors.len(), 1, "{errors}");
    assert_eq!(errors.errors[0].line, 3, "{errors}");
    assert!(errors.errors[0].message.starts_with("TOML syntax error"));
}

/// Paths used to check that the regex sources in grants agree with the globs.
const PROBE_PATHS: &[&str] = &[
    "",
    ".env",
    "a/.env",
    ".envrc",
    "key.pem",
    "certs/key.pem",
    "a/b/c/key.pem",
    "key.pem.bak",
    ".git/config",
    "sub/.git/config",
    ".git/config.bak",
    "secrets",
    "secrets/",
    "secrets/a",
    "secrets/a/b",
    "not-secrets/a",
    "~/.ssh/id_rsa",
    "src/main.rs",
    "src/a/b.rs",
    "src/a.rs",
    "docs/été.md",
    "docs/ete.md",
    "docs/snow☃.txt",
    "x/y/z",
];

#[test]
fn deny_regexes_compile_and_agree_with_globs() {
    let globs = [
        ".env",
        "**/*.pem",
        "**/.git/config",
        "~/.ssh/**",
        "secrets/**",
        "src/*.rs",
        "src/**/*.rs",
        "docs/é*.md",
        "docs/*☃*",
        "x/?/z",
        "{a,b}/**",
        "[a-c]/*",
        "**",
    ];
    for glob in globs {
        let pattern = ResourcePattern::new(glob).unwrap_or_else(|e| panic!("{e}"));
        let re = regex::Regex::new(pattern.regex())
            .unwrap_or_else(|e| panic!("regex for `{glob}` ({}) rejected: {e}", pattern.regex()));
        assert!(pattern.regex().starts_with('^') && pattern.regex().ends_with('$'));
        for path in PROBE_PATHS {
            assert_eq!(
                re.is_match(path),
                pattern.is_match(path),
                "glob `{glob}` / regex `{}` disagree on `{path}`",
                pattern.regex()
            );
        }
    }
    let p = load_profiles(&[example_path()]).unwrap_or_else(|e| panic!("{e}"));
    for rule in &p.profiles()[0].deny {
        for pattern in &rule.resources {
            assert!(regex::Regex::new(pattern.regex()).is_ok());
        }
    }
}

#[test]
fn home_globs_never_match_workspace_paths() {
    let p = ResourcePattern::new("~/.ssh/**").expect("glob");
    for path in ["", ".ssh/id_rsa", "home/.ssh/id_rsa", "src/main.rs"] {
        assert!(!p.is_match(path), "{path}");
    }
}

#[test]
fn approval_rules_may_require_several_distinct_approvers() {
    let src = format!(
        "{MINIMAL}[[approval]]\nid = \"release\"\noperations = [\"fs.write\"]\nresources = [\"release/**\"]\n\
         approvals_required = 2\n[[approval]]\nid = \"deploy\"\noperations = [\"fs.write\"]\nresources = [\"deploy/**\"]\n"
    );
    let p = parse(&src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.approval[0].approvals_required, 2);
    assert_eq!(p.approval[1].approvals_required, 1);
    assert_error(
        &format!("{MINIMAL}[[approval]]\noperations = [\"fs.write\"]\napprovals_required = 0\n"),
        9,
        "between 1 and 10",
    );
    assert_error(
        &format!(
            "{MINIMAL}[[approval]]\noperations = [\"fs.write\"]\napprovals_required = \"two\"\n"
        ),
        9,
        "must be an integer",
    );
    assert_error(
        &format!("{MINIMAL}[[deny]]\nresources = [\"a\"]\napprovals_required = 2\n"),
        9,
        "only allowed in [[approval]] rules",
    );
}

#[test]
fn approval_rules_are_single_use_unless_they_allow_a_count() {
    let src = format!(
        "{MINIMAL}[[approval]]\nid = \"release\"\noperations = [\"fs.write\"]\napproved_uses = 3\n\
         [[approval]]\nid = \"deploy\"\noperations = [\"fs.write\"]\n"
    );
    let p = parse(&src).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(p.approval[0].approved_uses, 3);
    assert_eq!(p.approval[1].approved_uses, 1);
    assert_error(
        &format!("{MINIMAL}[[approval]]\noperations = [\"fs.write\"]\napproved_uses = 0\n"),
        9,
        "between 1 and 1000",
    );
    assert_error(
        &format!("{MINIMAL}[[allow]]\noperations = [\"fs.read\"]\napproved_uses = 2\n"),
        9,
        "only allowed in [[approval]] rules",
    );
}
