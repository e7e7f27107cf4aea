//! Admission: every check a request passes before anything runs, in the documented order.
//!
//! size and shape → decode invocation → parse token → revocation ids → signatures and
//! root key id → claims and delegation chain, read as data → holder proof → static Datalog
//! caps → replay cache → Datalog authorization with ambient facts → parameter validation.
//! The first failure refuses with the name of its check. No block's Datalog is evaluated
//! before the holder proof and the caps have passed ([`trust_sdk::structure`],
//! [`trust_sdk::datalog_caps`]); [`Admission::admit_bounded`] runs it off the async workers
//! within a budget ([`crate::admission_bounds`]).
//! Admission is a plain function of the request, the trusted state and the clock.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use biscuit_auth::builder::{self, Term};
use biscuit_auth::error::{FailedCheck, Logic, Token};
use biscuit_auth::{AuthorizerBuilder, AuthorizerLimits, Biscuit, UnverifiedBiscuit};
use sha2::{Digest, Sha256};
use trust_sdk::invocation::Requested;
use trust_sdk::once_cache::{OnceCache, OnceError};
use trust_sdk::operation::Operation as Kind;
use trust_sdk::vocabulary::{authority_check_at, AuthorityCheck, GrantClaims};

use crate::admission_bounds::{budget_refusal, AdmissionBounds, AdmissionGate};
use crate::bounded_cache::BoundedCache;
use crate::config::AdmissionLimits;
use crate::error::Refusal;
use crate::operations::{NamedCommand, Operation, OperationLimits};
use crate::trust_state::TrustState;
use crate::workspace::PathReason;
use trust_sdk::clock::millis;
use trust_sdk::datalog_caps::CapExceeded;

/// A request as presented: the grant, the signed invocation bytes, the holder's key and its
/// proof over both. The proof covers these exact bytes, so they are kept as they arrived.
#[derive(Debug, Clone, Default)]
pub struct ExecuteCall {
    pub grant: Vec<u8>,
    pub invocation: Vec<u8>,
    pub holder_key: Vec<u8>,
    pub proof: Vec<u8>,
}

/// What was learned about an attempt; provenance records it, admitted or not.
#[derive(Debug, Clone, Default)]
pub struct Attempt {
    pub request_id: String,
    pub operation: String,
    pub resources: Vec<String>,
    pub claims: Option<Arc<GrantClaims>>,
    /// The presented grant's id: the authority's grant id, or the deepest derived id.
    pub grant_id: Option<String>,
    /// Grant ids from the authority-minted root down to the presented grant.
    pub lineage: Vec<String>,
    pub holder: Option<String>,
    pub parameters: serde_json::Value,
    /// Digest of `parameters` (computed once, when the invocation is decoded).
    pub parameters_digest: String,
    /// Checks passed, in order, for the record of why it was allowed.
    pub passed: Vec<String>,
    /// Process instances (issue 16): the authority block's `process_instance(INSTANCE, STEP)`,
    /// copied into the record.
    pub process_step: Option<trust_sdk::vocabulary::process::ProcessStepRef>,
}

/// An admitted request: the operation to run, why it may run, and the attempt to record.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub attempt: Attempt,
    pub claims: Arc<GrantClaims>,
    pub operation: Operation,
    /// The grant's deny rules, compiled: walks skip these paths entirely.
    pub hidden: Arc<Vec<regex::Regex>>,
    /// Workspace prefixes a child process of this grant may write.
    pub writable: Arc<Vec<String>>,
    /// The grant's secret references (authority block only; see `secrets.rs`).
    pub secret_refs: Arc<Vec<trust_sdk::vocabulary::SecretRef>>,
}

/// A refused request: the check that refused it and what was learned before, for its record.
#[derive(Debug, Clone)]
pub struct Refused {
    pub attempt: Attempt,
    pub refusal: Refusal,
}

/// What the checks before Datalog established: everything the evaluation needs, owned, so that
/// it can run on the blocking pool.
struct Prepared {
    verified: Arc<VerifiedGrant>,
    operation: Operation,
    resources: Vec<String>,
    params: Vec<(&'static str, i64)>,
    parameters_digest: String,
    holder: ed25519_dalek::VerifyingKey,
    now: SystemTime,
    /// A `proc.run`'s working directory ([`run_cwd`]), stated to Datalog as `cwd`.
    cwd: Option<String>,
    /// Further ambient facts of the operation (`tool_arg` for `tool.invoke`).
    facts: Vec<builder::Fact>,
}

impl Prepared {
    /// Step 8: Datalog authorization, once per resource, with ambient facts from the executor.
    fn authorize(&self, limits: &AuthorizerLimits) -> Result<(), Refusal> {
        for resource in &self.resources {
            authorize(
                &self.verified.token,
                &self.verified.claims,
                self.operation.name(),
                resource,
                &self.params,
                &self.parameters_digest,
                &self.holder,
                self.now,
                self.cwd.as_deref(),
                &self.facts,
                limits,
            )?;
        }
        Ok(())
    }
}

/// What steps 1-7 established about the grant and the request (before its operation).
struct GrantChecked {
    verified: Arc<VerifiedGrant>,
    invocation: trust_sdk::invocation::Invocation,
    holder: ed25519_dalek::VerifyingKey,
}

/// A grant admitted to look at tools (`ListTools`, `DescribeTool`): verified, proved by its
/// holder for this request, for a served workspace; and the question whether its Datalog would
/// let `tool.invoke` reach a tool at all (argument constraints aside).
pub struct ToolViewer<'a> {
    admission: &'a Admission,
    verified: Arc<VerifiedGrant>,
    holder: ed25519_dalek::VerifyingKey,
    parameters_digest: String,
    now: SystemTime,
    /// The tool id the invocation names (`""` for a listing).
    pub tool_id: String,
    pub attempt: Attempt,
}

impl ToolViewer<'_> {
    pub fn claims(&self) -> &GrantClaims {
        &self.verified.claims
    }

    /// The tools the grant names and its tool facts.
    pub fn grant_tools(&self) -> &crate::tool_admission::GrantTools {
        &self.verified.tools
    }

    /// Whether every block's checks let `tool.invoke` reach `tool_id`, argument constraints
    /// aside (run without `tool_arg` facts, a failure of those checks alone still counts as
    /// reachable). A refusal of the grant itself (holder, expiry) is returned as such.
    pub fn reaches(&self, tool_id: &str) -> Result<bool, Refusal> {
        let params: Vec<(&'static str, i64)> = trust_sdk::vocabulary::LIMIT_NAMES
            .iter()
            .map(|n| (*n, 0))
            .collect();
        let outcome = authorize(
            &self.verified.token,
            &self.verified.claims,
            Kind::ToolInvoke.as_str(),
            tool_id,
            &params,
            &self.parameters_digest,
            &self.holder,
            self.now,
            None,
            &[],
            &self.admission.authorizer_limits,
        );
        match outcome {
            Ok(()) => Ok(true),
            Err(r) if r.check == "argument-constraint" => Ok(true),
            Err(r) if r.kind == crate::error::RefusalKind::Unauthenticated => Err(r),
            Err(r) if r.check == "datalog-budget" => Err(r),
            Err(_) => Ok(false),
        }
    }
}

/// What the checks yield for [`Admitted`].
struct Checked {
    claims: Arc<GrantClaims>,
    operation: Operation,
    hidden: Arc<Vec<regex::Regex>>,
    writable: Arc<Vec<String>>,
    secret_refs: Arc<Vec<trust_sdk::vocabulary::SecretRef>>,
}

/// The admission pipeline with its caches.
pub struct Admission {
    trust: Arc<TrustState>,
    limits: AdmissionLimits,
    operation_limits: OperationLimits,
    served: Vec<String>,
    authorizer_limits: AuthorizerLimits,
    /// Concurrent admissions, the Datalog pool and its budget.
    gate: AdmissionGate,
    /// Holder proofs seen, until their freshness window has passed.
    replay: Mutex<OnceCache<[u8; 64]>>,
    /// Proofs made before this process started cannot be in its (in-memory) replay
    /// cache, so they are refused: a request captured before a restart cannot be replayed.
    started_ms: i64,
    verified: Mutex<BoundedCache<[u8; 32], Arc<VerifiedGrant>>>,
    /// Compiled deny patterns by pattern list: grants of one profile share them.
    compiled_denies: Mutex<BoundedCache<Vec<String>, Arc<Vec<regex::Regex>>>>,
    /// tool.invoke: the tool catalog and the upstream policy (`None`: no tool exists here).
    tools: Option<crate::tool_admission::ToolDesk>,
}

/// A token whose signatures were verified under one key set, and what it states.
///
/// Cached by the SHA-256 of its exact bytes: repeated use of a grant pays for the holder
/// proof and Datalog, not for re-verifying the chain. Revocation and expiry are still
/// checked on every request; a key-set change invalidates the entry.
struct VerifiedGrant {
    token: Biscuit,
    claims: Arc<GrantClaims>,
    hidden: Arc<Vec<regex::Regex>>,
    revocation_ids: Vec<Vec<u8>>,
    keys_version: u64,
    /// Root grant id, then each derived id.
    lineage: Vec<String>,
    /// The key that must prove possession: the holder, or the last delegate.
    current_holder: ed25519_dalek::VerifyingKey,
    /// Workspace prefixes a child process may write ([`writable_prefixes`]).
    writable: Arc<Vec<String>>,
    /// Secret references of the authority block.
    secret_refs: Arc<Vec<trust_sdk::vocabulary::SecretRef>>,
    /// The tools the grant names and its tool facts (`tool_admission.rs`).
    tools: Arc<crate::tool_admission::GrantTools>,
    /// The first static Datalog cap the appended blocks exceed, refused after the holder proof.
    over_cap: Option<CapExceeded>,
    /// The authority block's `process_instance` (issue 16).
    process_step: Option<trust_sdk::vocabulary::process::ProcessStepRef>,
}

/// Workspace prefixes a child process of this grant may write: the authority block's
/// `fs.write`/`fs.patch` scopes, narrowed by every delegation hop (a prefix is kept only where
/// every hop's prefixes hold it). Attenuation blocks written by other tools state no prefixes
/// the executor can read back, so they do not narrow this (their checks still bound `fs.*`).
fn writable_prefixes(claims: &GrantClaims, links: &[trust_sdk::lineage::Link]) -> Vec<String> {
    use trust_sdk::path::within;
    let scope = trust_sdk::narrowing::EffectiveScope::of(claims, links);
    let writes = |op: &str| Kind::parse(op).is_some_and(Kind::writes_files);
    if !scope.operations.iter().any(|op| writes(op)) {
        return Vec::new();
    }
    let granted: Vec<&String> = claims
        .scopes
        .iter()
        .filter(|(op, _)| writes(op))
        .map(|(_, prefix)| prefix)
        .collect();
    let hops = scope.prefix_sets.get(1..).unwrap_or_default();
    let mut out: Vec<String> = granted
        .iter()
        .map(|p| p.to_string())
        .chain(hops.iter().flatten().cloned())
        .filter(|c| granted.iter().any(|g| within(c, g)))
        .filter(|c| hops.iter().all(|set| set.iter().any(|s| within(c, s))))
        .collect();
    out.sort();
    out.dedup();
    out
}

const REPLAY_CAPACITY: usize = 1_000_000;
/// Parsed grants are about 20 KiB each in memory: 2,048 of them bound the cache to ~40 MiB.
const VERIFIED_CAPACITY: usize = 2_048;
/// Distinct deny-pattern lists (one per profile envelope, in practice).
const DENY_SETS_CAPACITY: usize = 1_000;

impl Admission {
    pub fn new(
        trust: Arc<TrustState>,
        limits: AdmissionLimits,
        operation_limits: OperationLimits,
        served: Vec<String>,
        started: SystemTime,
    ) -> Self {
        let sweep_every_ms =
            i64::try_from(limits.proof_window.as_millis() / 10).unwrap_or(i64::MAX);
        Self {
            started_ms: millis(started),
            trust,
            limits,
            operation_limits,
            served,
            authorizer_limits: AdmissionBounds::default().authorizer_limits(),
            gate: AdmissionGate::new(AdmissionBounds::default()),
            // Swept every tenth of the proof window: memory tracks the rate, not uptime.
            replay: Mutex::new(OnceCache::new(REPLAY_CAPACITY, sweep_every_ms)),
            verified: Mutex::new(BoundedCache::new(VERIFIED_CAPACITY)),
            compiled_denies: Mutex::new(BoundedCache::new(DENY_SETS_CAPACITY)),
            tools: None,
        }
    }

    /// The same pipeline with business tools (`tool.invoke`) from `desk`.
    pub fn with_tools(mut self, desk: crate::tool_admission::ToolDesk) -> Self {
        self.tools = Some(desk);
        self
    }

    /// The tool catalog and upstream policy, when this executor has tools.
    pub fn tools(&self) -> Option<&crate::tool_admission::ToolDesk> {
        self.tools.as_ref()
    }

    /// The trusted keys and revocations admission checks against (read by `check.rs` for
    /// shadow mode).
    pub fn trust_state(&self) -> &TrustState {
        &self.trust
    }

    /// The same pipeline under `bounds` (the `[admission]` configuration).
    pub fn with_bounds(mut self, bounds: AdmissionBounds) -> Self {
        self.authorizer_limits = bounds.authorizer_limits();
        self.gate = AdmissionGate::new(bounds);
        self
    }

    /// Runs every admission check on `call` at time `now` on this thread: what to run, or why
    /// not, each with the attempt as far as it got. Datalog runs here too, within biscuit's run
    /// limits only; a server uses [`Admission::admit_bounded`].
    pub fn admit(&self, call: &ExecuteCall, now: SystemTime) -> Result<Admitted, Box<Refused>> {
        let mut attempt = Attempt::default();
        let checked = self.prepare(call, now, &mut attempt).and_then(|prepared| {
            prepared.authorize(&self.authorizer_limits)?;
            self.finish(prepared, &mut attempt)
        });
        Self::decided(checked, attempt)
    }

    /// [`Admission::admit`] within the admission bounds: a place among the concurrent
    /// admissions (or `admission-capacity`), then Datalog on the blocking pool within its
    /// budget (or `datalog-budget`).
    pub async fn admit_bounded(
        &self,
        call: &ExecuteCall,
        now: SystemTime,
    ) -> Result<Admitted, Box<Refused>> {
        let mut attempt = Attempt::default();
        let checked = async {
            let _place = self.gate.enter().await?;
            let prepared = self.prepare(call, now, &mut attempt)?;
            let limits = self.authorizer_limits.clone();
            let prepared = self
                .gate
                .evaluate(move || prepared.authorize(&limits).map(|()| prepared))
                .await?;
            self.finish(prepared, &mut attempt)
        }
        .await;
        Self::decided(checked, attempt)
    }

    /// Admits `call` for looking at tools: steps 1-7 and the workspace, no operation and no
    /// Datalog yet (see [`ToolViewer::reaches`]). The invocation must name `tool.invoke`.
    pub fn admit_tool_viewer(
        &self,
        call: &ExecuteCall,
        now: SystemTime,
    ) -> Result<ToolViewer<'_>, Box<Refused>> {
        let mut attempt = Attempt::default();
        let checked = self.prepare_grant(call, now, &mut attempt).and_then(|g| {
            let Requested::ToolInvoke { tool_id, .. } = &g.invocation.requested else {
                return Err(Refusal::invalid(
                    "invocation",
                    "ListTools and DescribeTool take a tool.invoke invocation",
                ));
            };
            if !self.served.contains(&g.verified.claims.workspace) {
                return Err(Refusal::denied(
                    "workspace",
                    format!(
                        "this executor does not guard workspace `{}`",
                        g.verified.claims.workspace
                    ),
                ));
            }
            Ok((tool_id.clone(), g))
        });
        match checked {
            Ok((tool_id, g)) => Ok(ToolViewer {
                admission: self,
                parameters_digest: g.invocation.parameters_digest.clone(),
                verified: g.verified,
                holder: g.holder,
                now,
                tool_id,
                attempt,
            }),
            Err(refusal) => Err(Box::new(Refused { attempt, refusal })),
        }
    }

    fn decided(
        checked: Result<Checked, Refusal>,
        attempt: Attempt,
    ) -> Result<Admitted, Box<Refused>> {
        match checked {
            Ok(Checked {
                claims,
                operation,
                hidden,
                writable,
                secret_refs,
            }) => Ok(Admitted {
                attempt,
                claims,
                operation,
                hidden,
                writable,
                secret_refs,
            }),
            Err(refusal) => Err(Box::new(Refused { attempt, refusal })),
        }
    }

    /// Steps 1-7 in order, everything before Datalog; `ctx` collects what the record of the
    /// attempt states.
    fn prepare(
        &self,
        request: &ExecuteCall,
        now: SystemTime,
        ctx: &mut Attempt,
    ) -> Result<Prepared, Refusal> {
        let GrantChecked {
            verified,
            invocation,
            holder,
        } = self.prepare_grant(request, now, ctx)?;
        let claims = Arc::clone(&verified.claims);
        let requested = &invocation.requested;
        // Domain operation (argv of a named command comes from the grant, never the caller).
        let mut operation = match requested {
            Requested::ToolInvoke {
                tool_id,
                arguments_json,
                tool_version,
            } => crate::tool_admission::tool_operation(
                tool_id,
                arguments_json,
                *tool_version,
                &verified.tools,
                self.tools.as_ref(),
                &self.operation_limits.http,
            )?,
            _ => to_operation(requested, &claims, &self.operation_limits)?,
        };
        // context.retrieve: bound to what every block of the grant lets it read (`context.rs`).
        if let Operation::Context(call) = &mut operation {
            crate::context::admission::bind(call, &verified.token, &self.operation_limits.context)?;
            // An HTTP source: bound to the call of its certified tool (`tool_source.rs`).
            crate::context::tool_source::bind(
                call,
                &self.operation_limits.context,
                self.tools.as_ref(),
                &self.operation_limits.http,
            )?;
        }
        crate::shell_admission::check_child(&operation, &claims, &self.operation_limits)?;
        let resources = operation.resources().map_err(path_refusal)?;
        ctx.resources = resources.clone();
        if !self.served.contains(&claims.workspace) {
            return Err(Refusal::denied(
                "workspace",
                format!(
                    "this executor does not guard workspace `{}`",
                    claims.workspace
                ),
            ));
        }
        let params = operation.all_params(&self.operation_limits);
        let cwd = run_cwd(&operation, &verified.hidden)?;
        let facts = match &operation {
            Operation::Tool(call) => call.facts(),
            _ => Vec::new(),
        };
        Ok(Prepared {
            verified,
            operation,
            resources,
            params,
            // What an approved grant is bound to (`trust_sdk::parameters::digest`).
            parameters_digest: invocation.parameters_digest,
            holder,
            now,
            cwd,
            facts,
        })
    }

    /// Steps 1-7 up to the replay cache: the grant verified, the invocation decoded, the
    /// holder's proof checked and remembered; nothing about the operation yet.
    fn prepare_grant(
        &self,
        request: &ExecuteCall,
        now: SystemTime,
        ctx: &mut Attempt,
    ) -> Result<GrantChecked, Refusal> {
        let now_ms = millis(now);
        // 1. Size and shape, before parsing anything.
        let total = request.grant.len()
            + request.invocation.len()
            + request.holder_key.len()
            + request.proof.len();
        if total > self.limits.max_request_bytes {
            return Err(Refusal::invalid(
                "request-size",
                format!(
                    "request is {total} bytes, limit {}",
                    self.limits.max_request_bytes
                ),
            ));
        }
        if request.grant.is_empty() {
            return Err(Refusal::unauthenticated(
                "grant-present",
                "no grant was presented",
            ));
        }
        if request.grant.len() > self.limits.max_token_bytes {
            return Err(Refusal::invalid(
                "token-size",
                format!(
                    "grant is {} bytes, limit {}",
                    request.grant.len(),
                    self.limits.max_token_bytes
                ),
            ));
        }
        if request.holder_key.len() != 32 || request.proof.len() != 64 {
            return Err(Refusal::unauthenticated(
                "holder-proof",
                "holder key must be 32 bytes and proof 64 bytes",
            ));
        }
        // 2. The invocation: what is asked, and its freshness.
        let decoded = trust_sdk::invocation::decode(&request.invocation);
        ctx.request_id = decoded.request_id;
        let invocation = decoded
            .result
            .map_err(|e| Refusal::invalid("invocation", e.to_string()))?;
        if invocation.request_id.is_empty() || invocation.request_id.len() > 128 {
            return Err(Refusal::invalid(
                "invocation",
                "request id must be 1 to 128 bytes",
            ));
        }
        if invocation.nonce.len() < 16 || invocation.nonce.len() > 64 {
            return Err(Refusal::invalid(
                "invocation",
                "nonce must be 16 to 64 bytes",
            ));
        }
        let requested = &invocation.requested;
        ctx.operation = requested.operation().as_str().to_string();
        ctx.parameters = invocation.parameters.clone();
        ctx.parameters_digest = invocation.parameters_digest.clone();
        // 3-5. Parse, revocation, signatures: or the cached result for these exact bytes.
        let grant_sha256: [u8; 32] = Sha256::digest(&request.grant).into();
        let verified = self.verified_grant(&request.grant, &grant_sha256, now_ms, ctx)?;
        let claims = Arc::clone(&verified.claims);
        ctx.claims = Some(Arc::clone(&claims));
        ctx.process_step.clone_from(&verified.process_step);
        let depth = verified.lineage.len() - 1;
        if depth > self.limits.max_delegation_depth {
            return Err(Refusal::denied(
                "delegation-depth",
                format!(
                    "grant is delegated {depth} levels deep, limit {}",
                    self.limits.max_delegation_depth
                ),
            ));
        }
        // 6. Holder proof over this exact grant and invocation.
        let holder = trust_sdk::keys::verifying_key_from_bytes(&request.holder_key)
            .map_err(|e| Refusal::unauthenticated("holder-proof", e.to_string()))?;
        ctx.holder = Some(hex::encode(holder.as_bytes()));
        trust_sdk::proof::verify_for_digest(
            &grant_sha256,
            &request.invocation,
            &holder,
            &request.proof,
        )
        .map_err(|e| Refusal::unauthenticated("holder-proof", e.to_string()))?;
        if holder != verified.current_holder {
            return Err(Refusal::unauthenticated(
                "holder-binding",
                "the proof is not by the grant's current holder (the last key it was delegated to)",
            ));
        }
        let window = i64::try_from(self.limits.proof_window.as_millis()).unwrap_or(i64::MAX);
        let skew = (now_ms - invocation.timestamp_ms).abs();
        if skew > window {
            return Err(Refusal::unauthenticated(
                "proof-freshness",
                format!("proof is {skew} ms away from the executor clock (window {window} ms)"),
            ));
        }
        if invocation.timestamp_ms < self.started_ms {
            return Err(Refusal::unauthenticated(
                "proof-freshness",
                "proof predates this executor's start; sign a new one",
            ));
        }
        ctx.passed.push("holder-proof".into());
        // 6b. Static caps on the appended blocks' Datalog, now that the holder is known.
        if let Some(cap) = &verified.over_cap {
            return Err(Refusal::invalid(
                "datalog-caps",
                format!("grant exceeds a Datalog cap: {cap}"),
            ));
        }
        ctx.passed.push("datalog-caps".into());
        // 7. Replay cache keyed by the proof.
        self.remember_proof(&request.proof, invocation.timestamp_ms + window, now_ms)?;
        Ok(GrantChecked {
            verified,
            invocation,
            holder,
        })
    }

    /// Step 9, after Datalog (step 8, [`Prepared::authorize`]) passed.
    fn finish(&self, prepared: Prepared, ctx: &mut Attempt) -> Result<Checked, Refusal> {
        ctx.passed.push("grant-scope".into());
        // 9. The operation's own schema against the executor's limits.
        validate_against_limits(&prepared.operation, &self.operation_limits)?;
        ctx.passed.push("parameters".into());
        Ok(Checked {
            claims: Arc::clone(&prepared.verified.claims),
            operation: prepared.operation,
            hidden: Arc::clone(&prepared.verified.hidden),
            writable: Arc::clone(&prepared.verified.writable),
            secret_refs: Arc::clone(&prepared.verified.secret_refs),
        })
    }

    /// Steps 3-5: parse, revocation ids (and the freshness of the revocation view), signatures.
    fn verified_grant(
        &self,
        grant: &[u8],
        digest: &[u8; 32],
        now_ms: i64,
        ctx: &mut Attempt,
    ) -> Result<Arc<VerifiedGrant>, Refusal> {
        let keys_version = self.trust.keys_version();
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|mut m| m.get(digest))
            .filter(|v| v.keys_version == keys_version);
        if let Some(v) = cached {
            ctx.lineage = v.lineage.clone();
            ctx.grant_id = v.lineage.last().cloned();
            self.check_revocation(&v.revocation_ids, now_ms)?;
            ctx.passed.push("revocation".into());
            ctx.passed.push("signature".into());
            return Ok(v);
        }
        // 3. Parse the token (no signature work yet).
        let unverified = UnverifiedBiscuit::from(grant).map_err(|e| {
            Refusal::unauthenticated("grant-format", format!("grant does not parse: {e}"))
        })?;
        let block_count = unverified.block_count();
        if block_count > self.limits.max_blocks {
            return Err(Refusal::invalid(
                "block-count",
                format!(
                    "grant has {block_count} blocks, limit {}",
                    self.limits.max_blocks
                ),
            ));
        }
        // 4. Revocation: cheaper than signatures, and refused when the view is stale.
        let revocation_ids = unverified.revocation_identifiers();
        self.check_revocation(&revocation_ids, now_ms)?;
        ctx.passed.push("revocation".into());
        // 5. Signatures and root key id.
        let keys = self.trust.root_keys();
        let token: Biscuit = unverified
            .verify(trust_sdk::client::root_key_provider(&keys))
            .map_err(|e| {
                Refusal::unauthenticated(
                    "signature",
                    format!("grant signature does not verify: {e}"),
                )
            })?;
        ctx.passed.push("signature".into());
        // Claims and the delegation chain are read from the blocks as written: no block's
        // Datalog runs before the holder proof.
        let structure = trust_sdk::structure::Structure::read(&token)
            .map_err(|e| Refusal::unauthenticated("grant-format", e.to_string()))?;
        let claims = trust_sdk::vocabulary::claims_from_structure(&structure)
            .map_err(|e| Refusal::unauthenticated("grant-claims", e.to_string()))?;
        let links = trust_sdk::lineage::links_from(&structure)
            .map_err(|e| Refusal::unauthenticated("delegation-chain", e.to_string()))?;
        let over_cap =
            trust_sdk::datalog_caps::check(&structure, &self.gate.bounds().datalog).err();
        let current_holder = trust_sdk::lineage::current_holder(&claims.holder, &links)
            .map_err(|e| Refusal::unauthenticated("delegation-chain", e.to_string()))?;
        trust_sdk::lineage::check_ids(&claims.grant_id, &links)
            .map_err(|e| Refusal::unauthenticated("delegation-chain", e.to_string()))?;
        let mut lineage = vec![claims.grant_id.clone()];
        lineage.extend(links.iter().map(|l| l.derived_id.clone()));
        ctx.lineage = lineage.clone();
        ctx.grant_id = lineage.last().cloned();
        let hidden = self.compiled_denies(&claims.deny_regexes)?;
        let writable = Arc::new(writable_prefixes(&claims, &links));
        let secret_refs = trust_sdk::vocabulary::secret_refs_from_structure(&structure)
            .map_err(|e| Refusal::unauthenticated("grant-claims", e.to_string()))?;
        let process_step = trust_sdk::vocabulary::process::process_step_from_structure(&structure)
            .map_err(|e| Refusal::unauthenticated("grant-claims", e.to_string()))?;
        let tool_grant = trust_sdk::vocabulary::tool_args::tool_grant_from_structure(&structure)
            .map_err(|e| Refusal::unauthenticated("grant-claims", e.to_string()))?;
        let tools = Arc::new(crate::tool_admission::GrantTools::of(
            &claims, &links, tool_grant,
        ));
        let verified = Arc::new(VerifiedGrant {
            process_step,
            tools,
            lineage,
            current_holder,
            writable,
            secret_refs: Arc::new(secret_refs),
            token,
            hidden,
            claims: Arc::new(claims),
            revocation_ids,
            keys_version,
            over_cap,
        });
        if let Ok(mut cache) = self.verified.lock() {
            cache.insert(*digest, Arc::clone(&verified));
        }
        Ok(verified)
    }

    fn compiled_denies(&self, patterns: &[String]) -> Result<Arc<Vec<regex::Regex>>, Refusal> {
        if let Some(found) = self
            .compiled_denies
            .lock()
            .ok()
            .and_then(|mut m| m.get(&patterns.to_vec()))
        {
            return Ok(found);
        }
        let compiled = patterns
            .iter()
            .map(|r| regex::Regex::new(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                Refusal::unauthenticated(
                    "grant-claims",
                    format!("deny pattern does not compile: {e}"),
                )
            })?;
        let compiled = Arc::new(compiled);
        if let Ok(mut m) = self.compiled_denies.lock() {
            m.insert(patterns.to_vec(), Arc::clone(&compiled));
        }
        Ok(compiled)
    }

    fn check_revocation(&self, ids: &[Vec<u8>], now_ms: i64) -> Result<(), Refusal> {
        if let Some(alarm) = self.trust.alarm() {
            return Err(Refusal::unavailable("trust-alarm", alarm.to_string()));
        }
        let bound =
            i64::try_from(self.limits.revocation_max_staleness.as_millis()).unwrap_or(i64::MAX);
        match self.trust.staleness_ms(now_ms) {
            None => {
                return Err(Refusal::unavailable(
                    "revocation-freshness",
                    "the executor has not yet synced revocations with the authority",
                ))
            }
            Some(age) if age > bound => {
                let message = format!("revocation view is {age} ms old");
                return Err(Refusal::unavailable(
                    "revocation-freshness",
                    message + "; refusing until the authority is reachable",
                ));
            }
            Some(_) => {}
        }
        if let Some(block) = self.trust.first_revoked(ids) {
            return Err(Refusal::unauthenticated(
                "revocation",
                format!("block {block} of the grant is revoked"),
            ));
        }
        Ok(())
    }

    fn remember_proof(&self, proof: &[u8], expires_ms: i64, now_ms: i64) -> Result<(), Refusal> {
        let key: [u8; 64] = proof
            .try_into()
            .map_err(|_| Refusal::unauthenticated("holder-proof", "proof must be 64 bytes"))?;
        let mut seen = self
            .replay
            .lock()
            .map_err(|_| Refusal::unavailable("replay-cache", "replay cache is unusable"))?;
        seen.insert_once(key, expires_ms, now_ms)
            .map_err(|e| match e {
                OnceError::Replayed => {
                    Refusal::unauthenticated("replay", "this holder proof was already used")
                }
                OnceError::Full => {
                    Refusal::unavailable("replay-cache", "replay cache is full; retry shortly")
                }
            })
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "each ambient fact is one argument, and the run limits"
)]
fn authorize(
    token: &Biscuit,
    claims: &GrantClaims,
    operation: &str,
    resource: &str,
    params: &[(&'static str, i64)],
    param_digest: &str,
    holder: &ed25519_dalek::VerifyingKey,
    now: SystemTime,
    cwd: Option<&str>,
    facts: &[builder::Fact],
    limits: &AuthorizerLimits,
) -> Result<(), Refusal> {
    let internal =
        |e: Token| Refusal::denied("authorizer", format!("cannot build authorizer: {e}"));
    let mut b = AuthorizerBuilder::new()
        .set_limits(limits.clone())
        .fact(builder::fact("time", &[builder::date(&now)]))
        .map_err(internal)?
        .fact(builder::fact("operation", &[builder::string(operation)]))
        .map_err(internal)?
        .fact(builder::fact("resource", &[builder::string(resource)]))
        .map_err(internal)?
        .fact(builder::fact(
            "holder_proof",
            &[builder::bytes(holder.as_bytes())],
        ))
        .map_err(internal)?
        .fact(builder::fact(
            "served_workspace",
            &[builder::string(&claims.workspace)],
        ))
        .map_err(internal)?
        .fact(builder::fact(
            "param_digest",
            &[builder::string(param_digest)],
        ))
        .map_err(internal)?;
    if let Some(cwd) = cwd {
        b = b
            .fact(builder::fact("cwd", &[builder::string(cwd)]))
            .map_err(internal)?;
    }
    for (name, value) in params {
        b = b
            .fact(builder::fact(
                "param",
                &[builder::string(name), Term::Integer(*value)],
            ))
            .map_err(internal)?;
    }
    for fact in facts {
        b = b.fact(fact.clone()).map_err(internal)?;
    }
    let mut authorizer = b
        .policy("allow if true")
        .map_err(internal)?
        .build(token)
        .map_err(internal)?;
    match authorizer.authorize() {
        Ok(_) => Ok(()),
        Err(Token::FailedLogic(Logic::Unauthorized { checks, .. })) => {
            Err(crate::tool_admission::refine_refusal(
                classify(&checks, resource, claims),
                operation,
                resource,
                &checks,
            ))
        }
        Err(Token::RunLimit(biscuit_auth::error::RunLimit::Timeout)) => {
            Err(budget_refusal(limits.max_time))
        }
        Err(Token::RunLimit(e)) => Err(Refusal::denied(
            "datalog-budget",
            format!("authorization exceeded its limits: {e}"),
        )),
        Err(e) => Err(Refusal::denied(
            "grant-scope",
            format!("authorization failed: {e}"),
        )),
    }
}

/// The working directory of a `proc.run`, workspace-relative and normalised, or `None` for
/// other operations. It is part of what the grant authorizes: a directory the grant's deny
/// rules cover is no place to run from (refused here), and narrowed grants bound it by their
/// prefixes (`trust_sdk::attenuate` checks the ambient `cwd` fact for `proc.run`). `shell.exec`
/// needs neither: its working directory is its resource.
fn run_cwd(operation: &Operation, hidden: &[regex::Regex]) -> Result<Option<String>, Refusal> {
    let Operation::Run { cwd, .. } = operation else {
        return Ok(None);
    };
    let cwd = crate::workspace::normalize_relative(cwd).map_err(|e| path_refusal(e.into()))?;
    let as_directory = format!("{cwd}/");
    if !cwd.is_empty()
        && hidden
            .iter()
            .any(|r| r.is_match(&cwd) || r.is_match(&as_directory))
    {
        return Err(Refusal::denied(
            "deny-rule",
            format!("working directory `{cwd}` is covered by a deny rule carried by the grant"),
        ));
    }
    Ok(Some(cwd))
}

/// What a failed check enforced, as far as the refusal is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailedRole {
    HolderBinding,
    Expiry,
    ApprovedParameters,
    Deny,
    Scope,
}

/// The role of one failed check. The authority block's checks are named by their position
/// ([`authority_check_at`]: the vocabulary wrote them in that order). A later block (an
/// attenuation or delegation, possibly written by another tool) is named by the predicates its
/// failed check reads, parsed back into a check: `holder_proof`/`delegation` bind the holder,
/// `time` is an expiry, `param_digest` an approval binding; anything else narrows scope.
fn failed_role(check: &FailedCheck, claims: &GrantClaims) -> FailedRole {
    match check {
        FailedCheck::Block(b) if b.block_id == 0 => {
            let position = usize::try_from(b.check_id).unwrap_or(usize::MAX);
            match authority_check_at(position, claims) {
                Some(AuthorityCheck::HolderBinding) => FailedRole::HolderBinding,
                Some(AuthorityCheck::Expiry) => FailedRole::Expiry,
                Some(AuthorityCheck::ApprovedParameters) => FailedRole::ApprovedParameters,
                Some(AuthorityCheck::Deny(_)) => FailedRole::Deny,
                _ => FailedRole::Scope,
            }
        }
        FailedCheck::Block(b) => {
            let Ok(parsed) = builder::Check::try_from(b.rule.as_str()) else {
                return FailedRole::Scope;
            };
            let reads = |name: &str| {
                parsed
                    .queries
                    .iter()
                    .any(|q| q.body.iter().any(|p| p.name == name))
            };
            if reads("holder_proof") || reads("delegation") {
                FailedRole::HolderBinding
            } else if reads("time") {
                FailedRole::Expiry
            } else if reads("param_digest") {
                FailedRole::ApprovedParameters
            } else {
                FailedRole::Scope
            }
        }
        FailedCheck::Authorizer(_) => FailedRole::Scope,
    }
}

/// Names the decisive failed check; expiry and holder binding make the grant itself bad.
fn classify(checks: &[FailedCheck], resource: &str, claims: &GrantClaims) -> Refusal {
    let describe = |c: &FailedCheck| match c {
        FailedCheck::Block(b) => (b.block_id, b.rule.clone()),
        FailedCheck::Authorizer(a) => (u32::MAX, a.rule.clone()),
    };
    let Some(first) = checks.first() else {
        return Refusal::denied("grant-scope", "no policy matched");
    };
    let find = |role: FailedRole| {
        checks
            .iter()
            .find(|c| failed_role(c, claims) == role)
            .map(describe)
    };
    if let Some((block, rule)) = find(FailedRole::HolderBinding) {
        return Refusal::unauthenticated(
            "holder-binding",
            format!("block {block} check failed: {rule}"),
        );
    }
    if let Some((block, rule)) = find(FailedRole::Expiry) {
        return Refusal::unauthenticated(
            "expiry",
            format!("grant expired: block {block} check failed: {rule}"),
        );
    }
    if let Some((block, _)) = find(FailedRole::ApprovedParameters) {
        return Refusal::denied(
            "approved-parameters",
            format!("the parameters differ from the ones approved for this grant (block {block})"),
        );
    }
    if let Some((block, _)) = find(FailedRole::Deny) {
        return Refusal::denied(
            "deny-rule",
            format!("`{resource}` matches a deny rule carried by the grant (block {block})"),
        );
    }
    let (block, rule) = describe(first);
    Refusal::denied(
        "grant-scope",
        format!("`{resource}` is outside the grant: block {block} check failed: {rule}"),
    )
}

fn path_refusal(e: crate::operations::OperationError) -> Refusal {
    use crate::operations::OperationError as E;
    match e {
        E::InvalidPath {
            reason: PathReason::Lexical(lexical),
            ..
        } if lexical.is_malformed() => Refusal::invalid("path", e.to_string()),
        E::InvalidPath { .. } | E::OutsideWorkspace(_) | E::HardLink(_) => {
            Refusal::denied("workspace-confinement", e.to_string())
        }
        other => Refusal::invalid("invocation", other.to_string()),
    }
}

fn to_operation(
    requested: &Requested,
    claims: &GrantClaims,
    limits: &OperationLimits,
) -> Result<Operation, Refusal> {
    Ok(match requested {
        Requested::Read {
            path,
            offset,
            length,
        } => Operation::Read {
            path: path.clone(),
            offset: *offset,
            length: *length,
        },
        Requested::List {
            path,
            max_depth,
            max_entries,
        } => Operation::List {
            path: path.clone(),
            max_depth: *max_depth,
            max_entries: *max_entries,
        },
        Requested::Search {
            path,
            pattern,
            regex,
            case_insensitive,
            max_matches,
        } => Operation::Search {
            path: path.clone(),
            pattern: pattern.clone(),
            regex: *regex,
            case_insensitive: *case_insensitive,
            max_matches: *max_matches,
        },
        Requested::Write {
            path,
            content,
            expected_sha256,
            create_only,
        } => Operation::Write {
            path: path.clone(),
            content: content.clone(),
            expected_sha256: (!expected_sha256.is_empty()).then(|| expected_sha256.clone()),
            create_only: *create_only,
        },
        Requested::Patch { path, diff } => Operation::Patch {
            path: path.clone(),
            diff: diff.clone(),
        },
        Requested::Run {
            command,
            cwd,
            timeout_ms,
        } => {
            let (name, argv) = claims
                .commands
                .iter()
                .find(|(name, _)| name == command)
                .ok_or_else(|| {
                    Refusal::denied(
                        "command",
                        format!("command `{command}` is not named in the grant"),
                    )
                })?;
            if argv.is_empty() {
                return Err(Refusal::denied(
                    "command",
                    format!("command `{name}` has an empty argv"),
                ));
            }
            let grant_limit = claims
                .limits
                .iter()
                .find(|(n, _)| n == "run_timeout_ms")
                .and_then(|(_, v)| u64::try_from(*v).ok())
                .map(Duration::from_millis)
                .unwrap_or(limits.max_run_timeout);
            let timeout = if *timeout_ms == 0 {
                grant_limit.min(limits.max_run_timeout)
            } else {
                Duration::from_millis(u64::from(*timeout_ms))
            };
            Operation::Run {
                command: NamedCommand {
                    name: name.clone(),
                    argv: argv.clone(),
                },
                cwd: cwd.clone(),
                timeout,
            }
        }
        Requested::Shell {
            command,
            cwd,
            timeout_ms,
        } => crate::shell_admission::shell_operation(command, cwd, *timeout_ms, claims, limits)?,
        Requested::Http(http) => crate::http_admission::http_operation(http, claims, limits)?,
        // Admitted with the tool catalog (`Admission::prepare`), never here.
        Requested::ToolInvoke { .. } => {
            return Err(Refusal::invalid(
                "invocation",
                "tool.invoke is admitted with the tool catalog",
            ))
        }
        Requested::Context(requested) => {
            Operation::Context(crate::context::admission::call(requested)?)
        }
        Requested::McpCall {
            server,
            tool,
            arguments_json,
        } => crate::mcp_admission::mcp_operation(server, tool, arguments_json)?,
    })
}

fn validate_against_limits(op: &Operation, limits: &OperationLimits) -> Result<(), Refusal> {
    match op {
        Operation::Write { content, .. } if content.len() as u64 > limits.max_write_bytes => {
            Err(Refusal::invalid(
                "parameters",
                format!(
                    "content is {} bytes, executor limit {}",
                    content.len(),
                    limits.max_write_bytes
                ),
            ))
        }
        Operation::Run { timeout, .. } | Operation::Shell { timeout, .. }
            if *timeout > limits.max_run_timeout =>
        {
            Err(Refusal::invalid(
                "parameters",
                format!(
                    "timeout {} ms exceeds the executor limit",
                    timeout.as_millis()
                ),
            ))
        }
        Operation::Search { pattern, .. } if pattern.is_empty() || pattern.len() > 1024 => Err(
            Refusal::invalid("parameters", "search pattern must be 1 to 1024 bytes"),
        ),
        _ => Ok(()),
    }
}

mod presented_claims;
#[cfg(test)]
mod writable_prefixes_tests;
