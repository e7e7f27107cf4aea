//! The methods and path prefixes a granted `net.http` host is restricted to: those of the
//! profile's allow rule that granted it (`methods`, `paths`), carried as grant facts.

use trust_sdk::operation::Operation;
use trust_sdk::vocabulary::HttpRule;

use crate::profile::Profile;

/// One rule per granted `net.http` resource whose allow rule names methods or paths.
pub(super) fn http_rules<'a>(
    profile: &Profile,
    granted: impl Iterator<Item = (Operation, &'a String, Option<&'a str>)>,
) -> Vec<HttpRule> {
    let mut rules: Vec<HttpRule> = Vec::new();
    for (operation, resource, allow_rule) in granted {
        if operation != Operation::NetHttp || rules.iter().any(|r| &r.destination == resource) {
            continue;
        }
        let Some(rule) = allow_rule.and_then(|id| profile.allow.iter().find(|r| r.id == id)) else {
            continue;
        };
        if rule.http_methods.is_empty() && rule.http_paths.is_empty() {
            continue;
        }
        rules.push(HttpRule {
            destination: resource.clone(),
            methods: rule.http_methods.clone(),
            path_prefixes: rule.http_paths.clone(),
        });
    }
    rules
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    use crate::policy::{evaluate, Effect};
    use crate::profile::{Profile, ProfileSet};
    use crate::request::{GrantRequest, Scope};

    const PROFILE: &str = r#"
[profile]
name = "api"
workspace = "demo"
users = ["alice"]
agents = ["coder-1"]

[[allow]]
id = "github-read"
operations = ["net.http"]
resources = ["api.github.com"]
methods = ["GET", "HEAD"]
paths = ["/repos/"]

[[allow]]
id = "docs"
operations = ["net.http"]
resources = ["docs.rs"]
"#;

    fn profile(text: &str) -> Result<Profile, String> {
        Profile::from_toml_str(text, Path::new("api.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_allow_rules_methods_and_paths_are_carried_for_the_hosts_they_granted() {
        let set = ProfileSet::new(vec![profile(PROFILE).unwrap()]).unwrap();
        let request = GrantRequest {
            agent_id: "coder-1".into(),
            user: "alice".into(),
            workspace: "demo".into(),
            task: "t".into(),
            purpose: "p".into(),
            scopes: vec![
                Scope::new("net.http", "api.github.com"),
                Scope::new("net.http", "docs.rs"),
            ],
            ttl: None,
            task_fields: Default::default(),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let decision = evaluate(&request, &set, now);
        assert_eq!(decision.effect, Effect::Allow, "{}", decision.reason);
        let envelope = decision.envelope.unwrap();
        assert_eq!(envelope.http_rules.len(), 1, "{:?}", envelope.http_rules);
        let rule = &envelope.http_rules[0];
        assert_eq!(rule.destination, "api.github.com");
        assert_eq!(rule.methods, ["GET", "HEAD"]);
        assert_eq!(rule.path_prefixes, ["/repos/"]);
    }

    #[test]
    fn methods_and_paths_are_checked_when_the_profile_loads() {
        let bad = [
            (
                "methods = [\"GET\"]",
                "operations = [\"fs.read\"]",
                "belong to [[allow]] rules of `net.http`",
            ),
            (
                "methods = [\"get\"]",
                "operations = [\"net.http\"]",
                "not an upper-case HTTP method",
            ),
            (
                "methods = [\"CONNECT\"]",
                "operations = [\"net.http\"]",
                "not an upper-case HTTP method",
            ),
            (
                "paths = [\"repos/\"]",
                "operations = [\"net.http\"]",
                "must start with `/`",
            ),
            (
                "paths = [\"/repos/../admin\"]",
                "operations = [\"net.http\"]",
                "`..` segment",
            ),
            (
                "paths = [\"/repos/%2e%2e/\"]",
                "operations = [\"net.http\"]",
                "without `%`",
            ),
        ];
        for (line, operations, fragment) in bad {
            let text = format!(
                "[profile]\nname = \"p\"\nworkspace = \"demo\"\nusers = [\"alice\"]\nagents = [\"a\"]\n\n\
                 [[allow]]\n{operations}\nresources = [\"api.github.com\"]\n{line}\n"
            );
            let err = profile(&text).unwrap_err();
            assert!(err.contains(fragment), "{line}: {err}");
        }
    }
}
