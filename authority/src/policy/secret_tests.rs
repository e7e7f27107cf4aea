//! Secret references in profiles and grants: which a grant carries, the TTL ceiling, and the
//! profile errors.

use std::path::Path;
use std::time::{Duration, SystemTime};

use super::*;
use crate::profile::Profile;

const PROFILE: &str = r#"
[profile]
name = "p"
workspace = "w"
users = ["alice"]
agents = ["coder-1"]
default_ttl = "30m"
max_ttl = "2h"
secret_max_ttl = "1h"

[commands]
publish = ["npm", "publish"]
test = ["npm", "test"]

[[allow]]
operations = ["proc.run"]
resources = ["publish", "test"]

[[secret]]
name = "npm-token"
operation = "proc.run"
resource = "publish"
inject = "env:NPM_TOKEN"
"#;

fn parse(src: &str) -> Result<Profile, crate::profile::ProfileErrors> {
    Profile::from_toml_str(src, Path::new("p.toml"))
}

fn decide(scopes: &[(&str, &str)], ttl: Option<Duration>) -> Decision {
    let set = ProfileSet::new(vec![parse(PROFILE).unwrap_or_else(|e| panic!("{e}"))])
        .unwrap_or_else(|e| panic!("{e}"));
    let request = GrantRequest {
        agent_id: "coder-1".into(),
        user: "alice".into(),
        workspace: "w".into(),
        task: "t".into(),
        purpose: "p".into(),
        scopes: scopes.iter().map(|(o, r)| Scope::new(*o, *r)).collect(),
        ttl,
        task_fields: Default::default(),
    };
    evaluate(
        &request,
        &set,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000),
    )
}

#[test]
fn a_grant_carries_only_the_references_its_scopes_cover() {
    let publish = decide(&[("proc.run", "publish")], Some(Duration::from_secs(600)));
    let envelope = publish
        .envelope
        .unwrap_or_else(|| panic!("{}", publish.reason));
    assert_eq!(envelope.secret_refs.len(), 1);
    assert_eq!(envelope.secret_refs[0].name, "npm-token");
    let test = decide(&[("proc.run", "test")], None);
    let envelope = test.envelope.unwrap_or_else(|| panic!("{}", test.reason));
    assert!(envelope.secret_refs.is_empty());
    // Without secrets the profile's 30m default stands.
    assert_eq!(envelope.ttl(), Duration::from_secs(1800));
}

#[test]
fn a_grant_with_a_reference_cannot_outlive_secret_max_ttl() {
    let long = decide(&[("proc.run", "publish")], Some(Duration::from_secs(7200)));
    assert_eq!(long.effect, Effect::Deny);
    assert_eq!(long.rule_ids, vec![SECRET_TTL.to_string()]);
    assert!(
        long.reason
            .contains("secret references (`npm-token`) and a TTL of 2h")
            && long.reason.contains("secret_max_ttl of 1h"),
        "{}",
        long.reason
    );
    let exact = decide(&[("proc.run", "publish")], Some(Duration::from_secs(3600)));
    assert!(exact.is_allowed(), "{}", exact.reason);
    let unstated = decide(&[("proc.run", "publish")], None);
    let ttl = unstated.envelope.map(|e| e.ttl());
    assert_eq!(ttl, Some(Duration::from_secs(1800)));
}

#[test]
fn profile_secret_errors_are_precise() {
    let bad = |from: &str, to: &str, fragment: &str| {
        let src = PROFILE.replacen(from, to, 1);
        let err = parse(&src).map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(fragment), "{fragment}: {err}");
    };
    bad(
        "inject = \"env:NPM_TOKEN\"",
        "inject = \"env:PATH\"",
        "this variable is reserved",
    );
    bad(
        "inject = \"env:NPM_TOKEN\"",
        "inject = \"file:/x\"",
        "expected `env:VAR` or `header:Name`",
    );
    bad(
        "inject = \"env:NPM_TOKEN\"",
        "inject = \"header:Authorization\"",
        "proc.run takes `env:VAR` targets, not `header:Authorization`",
    );
    bad(
        "resource = \"publish\"",
        "resource = \"deploy\"",
        "command `deploy` is not defined",
    );
    bad(
        "operation = \"proc.run\"\nresource",
        "operation = \"fs.read\"\nresource",
        "runs no child process",
    );
    bad(
        "name = \"npm-token\"",
        "name = \"npm token\"",
        "secret name `npm token`",
    );
    bad(
        "secret_max_ttl = \"1h\"",
        "secret_max_ttl = \"25h\"",
        "at most 24h",
    );
    bad(
        "inject = \"env:NPM_TOKEN\"",
        "inject = \"env:NPM_TOKEN\"\ncolour = 1",
        "unknown field `colour`",
    );
    let twice = format!(
        "{PROFILE}\n[[secret]]\nname = \"other\"\noperation = \"proc.run\"\nresource = \"*\"\ninject = \"env:NPM_TOKEN\"\n"
    );
    let err = parse(&twice).map(|_| ()).unwrap_err().to_string();
    assert!(
        err.contains("`env:NPM_TOKEN` is already the target of `npm-token`"),
        "{err}"
    );
}
