//! The string-test form of each deny glob (sdk `deny.rs`) denies exactly what its regex denies.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use trust_authority::profile::ResourcePattern;
use trust_sdk::deny::{deny_check, passes};

const GLOBS: &[&str] = &[
    ".env",
    "**/*.pem",
    "**/.git/config",
    "~/.ssh/**",
    "secrets/**",
    "config/prod.toml",
    "**/id_rsa",
    "**/*.key",
    "build/**",
    "src/*.rs",
    "**/secret?.txt",
];

fn corpus() -> Vec<String> {
    let names = [
        "",
        ".env",
        "env",
        "a.env",
        ".env.local",
        "x.pem",
        ".pem",
        "pem",
        "a/b.pem",
        "a/b.pem.bak",
        "a.pemx",
        ".git/config",
        "a/.git/config",
        "a/.git/config2",
        "x.git/config",
        "~/.ssh/id",
        "~/.ssh",
        "~/.sshx/a",
        "secrets",
        "secrets/a",
        "secrets/a/b",
        "secretsx/a",
        "a/secrets/b",
        "config/prod.toml",
        "config/prod.tomlx",
        "id_rsa",
        "a/id_rsa",
        "a/xid_rsa",
        "k.key",
        "a/b/c.key",
        "build",
        "build/x",
        "src/a.rs",
        "src/a/b.rs",
        "secret1.txt",
        "a/secret2.txt",
        "é/ß.pem",
        "a//b.pem",
        "src/.env",
    ];
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn string_checks_deny_exactly_what_the_regexes_deny() {
    let mut fast = 0;
    for glob in GLOBS {
        let pattern = ResourcePattern::new(glob).unwrap();
        let regex = regex::Regex::new(pattern.regex()).unwrap();
        let check = deny_check(glob, pattern.regex());
        let Some(_) = passes(&check, "") else {
            assert!(check.body.contains("matches"), "{glob}: {check:?}");
            continue;
        };
        fast += 1;
        for path in corpus() {
            assert_eq!(
                passes(&check, &path).unwrap(),
                !regex.is_match(&path),
                "glob `{glob}` ({check:?}) and its regex disagree on `{path}`"
            );
        }
    }
    assert!(fast >= 8, "most shapes should avoid regexes, got {fast}");
}
