//! Minting: turns an allowed decision's envelope into a signed, holder-bound Biscuit grant.
//!
//! Pure apart from the signature's randomness: ids, clock and keys are parameters.

use biscuit_auth::builder;
use biscuit_auth::KeyPair;
use ed25519_dalek::VerifyingKey;
use trust_sdk::vocabulary::{self, Approval, GrantClaims};

use crate::error::{AuthorityError, InternalError};
use crate::policy::GrantEnvelope;
use crate::request::{GrantRequest, Operation};

// tool.invoke: task fields and argument constraints.
mod tool_arguments;

/// Who the grant is for, beyond what policy decided.
#[derive(Debug, Clone)]
pub struct MintContext {
    pub grant_id: String,
    pub correlation_id: String,
    pub holder: VerifyingKey,
}

/// A signed grant and what the registry needs to know about it.
#[derive(Debug, Clone)]
pub struct MintedGrant {
    pub token: Vec<u8>,
    pub claims: GrantClaims,
    pub root_key_id: u32,
    /// Hex revocation id of each block (one: the authority block).
    pub revocation_ids: Vec<String>,
}

/// Signs a grant for `request` within `envelope` with the root key `(key_id, key)`.
pub fn mint(
    request: &GrantRequest,
    envelope: &GrantEnvelope,
    context: &MintContext,
    key_id: u32,
    key: &KeyPair,
) -> Result<MintedGrant, AuthorityError> {
    mint_with(request, envelope, context, key_id, key, None)
}

/// What approvers approved: who (in order), the parameter digest, and how many uses.
#[derive(Debug, Clone, Copy)]
pub struct Approved<'a> {
    pub approvers: &'a [String],
    pub parameters_digest: &'a str,
    /// Executions the grant is good for (`approved_uses(N)`); the executor counts them.
    pub max_uses: u32,
}

/// Signs a grant that approvers approved for exactly the parameters whose digest is
/// `parameters_digest`: the authority block states `approval("approved", APPROVER, DIGEST)`
/// once per approver (in the order they approved), `approved_uses(N)`, and checks
/// `param_digest($d), $d == DIGEST`.
pub fn mint_approved(
    request: &GrantRequest,
    envelope: &GrantEnvelope,
    context: &MintContext,
    key_id: u32,
    key: &KeyPair,
    approved: &Approved<'_>,
) -> Result<MintedGrant, AuthorityError> {
    if approved.approvers.is_empty()
        || approved.parameters_digest.is_empty()
        || approved.max_uses == 0
    {
        return Err(InternalError::Invariant(
            "an approved grant needs approvers, a digest and at least one use",
        )
        .into());
    }
    mint_with(request, envelope, context, key_id, key, Some(approved))
}

/// The grant's `scope` facts: `fs.*` prefixes as requested (no trailing `/`), `proc.run`
/// none (its `command` facts name the commands), and one `shell.exec` scope on the whole
/// workspace (its resource at the executor is the working directory; the command is decided
/// by the grant's shell policy).
fn grant_scopes(envelope: &GrantEnvelope) -> Vec<(String, String)> {
    let mut scopes: Vec<(String, String)> = Vec::new();
    for s in &envelope.scopes {
        let scope = match Operation::parse(&s.operation) {
            Some(Operation::ProcRun) => continue,
            Some(Operation::ShellExec) => (s.operation.clone(), String::new()),
            _ => (
                s.operation.clone(),
                s.resource.trim_end_matches('/').to_string(),
            ),
        };
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    scopes
}

fn mint_with(
    request: &GrantRequest,
    envelope: &GrantEnvelope,
    context: &MintContext,
    key_id: u32,
    key: &KeyPair,
    approved: Option<&Approved<'_>>,
) -> Result<MintedGrant, AuthorityError> {
    let (approvers, parameters_digest): (&[String], &str) = match approved {
        Some(a) => (a.approvers, a.parameters_digest),
        None => (&[], ""),
    };
    let approval = match (approved, approvers.first()) {
        (Some(a), Some(first)) => Approval::Approved {
            approver: first.clone(),
            parameters_digest: parameters_digest.to_string(),
            max_uses: a.max_uses,
        },
        _ => Approval::NotRequired,
    };
    let claims = GrantClaims {
        grant_id: context.grant_id.clone(),
        correlation_id: context.correlation_id.clone(),
        user: request.user.clone(),
        agent: request.agent_id.clone(),
        holder: context.holder,
        workspace: envelope.workspace.clone(),
        task: request.task.clone(),
        purpose: request.purpose.clone(),
        profile: envelope.profile.clone(),
        scopes: grant_scopes(envelope),
        commands: envelope.commands.clone(),
        limits: envelope.limits.clone(),
        deny_globs: envelope.deny_globs.clone(),
        deny_regexes: envelope.deny_regexes.clone(),
        approval,
        issued_at: envelope.issued_at,
        expires_at: envelope.expires_at,
        shell: envelope.shell.clone(),
        sandbox_level: envelope.sandbox_level.clone(),
        child_limits: envelope.child_limits.clone(),
        http_rules: envelope.http_rules.clone(),
    };
    let mut block = vocabulary::authority_block(&claims)?;
    if envelope.shadow {
        block = block
            .fact(vocabulary::shadow::shadow_fact())
            .map_err(|e| InternalError::Minting(e.to_string()))?;
    }
    // Process instances (issue 16): the one step of one instance this grant is for.
    if let Some(step) = &envelope.process_step {
        block = block
            .fact(step.fact())
            .map_err(|e| InternalError::Minting(e.to_string()))?;
    }
    // Governed context retrieval: what the grant may read of each source it names.
    for fact in vocabulary::context::context_facts(&envelope.context_grants) {
        block = block
            .fact(fact)
            .map_err(|e| InternalError::Minting(e.to_string()))?;
    }
    // Secret references (names, never values): the executor resolves them at exec time.
    for reference in &envelope.secret_refs {
        block = block
            .fact(reference.fact())
            .map_err(|e| InternalError::Minting(e.to_string()))?;
    }
    // A skill grant: `skill(ID, V)` and `tool_version(TOOL, V)` for each of its tools.
    for fact in envelope.skill_pins.iter().flat_map(|pins| pins.facts()) {
        block = block
            .fact(fact)
            .map_err(|e| InternalError::Minting(e.to_string()))?;
    }
    // tool.invoke: the task fields and each argument constraint (a check, and its text).
    block = tool_arguments::add(block, &request.task_fields, &envelope.tool_arguments)?;
    // Every further approver of an m-of-n approval is named by its own `approval` fact.
    for approver in approvers.iter().skip(1) {
        block = block
            .fact(builder::fact(
                "approval",
                &[
                    builder::string("approved"),
                    builder::string(approver),
                    builder::string(parameters_digest),
                ],
            ))
            .map_err(|e| InternalError::Minting(e.to_string()))?;
    }
    let token = block
        .root_key_id(key_id)
        .build(key)
        .map_err(|e| InternalError::Minting(e.to_string()))?;
    let revocation_ids = token
        .revocation_identifiers()
        .iter()
        .map(hex::encode)
        .collect();
    let bytes = token.to_vec().map_err(|e| InternalError::Serialize {
        what: "grant",
        detail: e.to_string(),
    })?;
    Ok(MintedGrant {
        token: bytes,
        claims,
        root_key_id: key_id,
        revocation_ids,
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::{Duration, SystemTime};

    use biscuit_auth::datalog::SymbolTable;

    use super::*;
    use crate::policy;
    use crate::profile::{Profile, ProfileSet};
    use crate::request::Scope;

    const PROFILE: &str = r#"
[profile]
name = "mint-test"
workspace = "demo"
users = ["alice"]
agents = ["coder-1"]
default_ttl = "15m"
max_ttl = "1h"

[limits]
read_bytes = 4096
write_bytes = 65536
run_timeout_ms = 120000

[commands]
test = ["sh", "run-tests.sh", "--quiet \"x\""]

[[allow]]
id = "read-anything"
operations = ["fs.read", "fs.list", "fs.search"]
resources = ["**"]

[[allow]]
id = "edit-src"
rule = "Edit(src/**)"

[[allow]]
id = "run-test"
operations = ["proc.run"]
resources = ["test"]

[[deny]]
id = "secrets"
resources = [".env", "**/*.pem", "secrets/**", "**/id_rsa", "config/*.key"]
"#;

    fn envelope(scopes: &[(&str, &str)]) -> (GrantRequest, GrantEnvelope) {
        let profile = Profile::from_toml_str(PROFILE, Path::new("mint-test.toml"))
            .unwrap_or_else(|e| panic!("{e}"));
        let set = ProfileSet::new(vec![profile]).unwrap_or_else(|e| panic!("{e}"));
        let request = GrantRequest {
            agent_id: "coder-1".into(),
            user: "alice".into(),
            workspace: "demo".into(),
            task: "T-1".into(),
            purpose: "a \"quoted\" purpose".into(),
            scopes: scopes.iter().map(|(o, r)| Scope::new(*o, *r)).collect(),
            ttl: Some(Duration::from_secs(600)),
            task_fields: Default::default(),
        };
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
        let decision = policy::evaluate(&request, &set, now);
        let envelope = decision
            .envelope
            .unwrap_or_else(|| panic!("not allowed: {}", decision.reason));
        (request, envelope)
    }

    /// The claims `mint_with` puts in the authority block, rebuilt with the Datalog-text
    /// construction the templates replaced: the minted block must print the same.
    #[test]
    fn minted_blocks_print_what_the_datalog_text_construction_prints() {
        let root = KeyPair::new();
        let holder = trust_sdk::keys::generate().verifying_key();
        let context = MintContext {
            grant_id: "g-1".into(),
            correlation_id: "c-1".into(),
            holder,
        };
        let digest = "ab".repeat(32);
        for scopes in [
            &[("fs.read", "")][..],
            &[("fs.read", ""), ("fs.patch", "src/"), ("proc.run", "test")][..],
        ] {
            let (request, envelope) = envelope(scopes);
            assert!(envelope.deny_globs.len() >= 5, "{:?}", envelope.deny_globs);
            for approvers in [vec![], vec!["carol".to_string(), "dave".to_string()]] {
                let minted = if approvers.is_empty() {
                    mint(&request, &envelope, &context, 3, &root)
                } else {
                    let approved = Approved {
                        approvers: &approvers,
                        parameters_digest: &digest,
                        max_uses: 2,
                    };
                    mint_approved(&request, &envelope, &context, 3, &root, &approved)
                }
                .unwrap_or_else(|e| panic!("{e}"));
                let token = biscuit_auth::Biscuit::from(&minted.token, root.public())
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut reference = vocabulary::authority_block_from_text(&minted.claims)
                    .unwrap_or_else(|e| panic!("{e}"));
                for approver in approvers.iter().skip(1) {
                    reference = reference
                        .fact(builder::fact(
                            "approval",
                            &[
                                builder::string("approved"),
                                builder::string(approver),
                                builder::string(&digest),
                            ],
                        ))
                        .unwrap_or_else(|e| panic!("{e}"));
                }
                let reference = reference
                    .root_key_id(3)
                    .build_with_symbols(&root, SymbolTable::new())
                    .unwrap_or_else(|e| panic!("{e}"));
                let printed = token
                    .print_block_source(0)
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    printed,
                    reference
                        .print_block_source(0)
                        .unwrap_or_else(|e| panic!("{e}")),
                    "scopes {scopes:?}, approvers {approvers:?}"
                );
                if !approvers.is_empty() {
                    assert!(
                        printed.contains(&format!("check if param_digest($d), $d == \"{digest}\""))
                    );
                    assert!(printed
                        .contains(&format!("approval(\"approved\", \"dave\", \"{digest}\")")));
                    assert!(printed.contains("approved_uses(2)"), "{printed}");
                }
            }
        }
    }
}
