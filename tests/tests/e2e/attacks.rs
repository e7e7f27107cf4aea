//! The attack table: every row is one way to try to get the executor to do something it must
//! not, run against one real cluster. For every row the test checks the exact gRPC code and the
//! name of the check that refused, that nothing changed on disk (inside the workspace and in a
//! sibling `outside` directory holding a secret), and that the attempt left exactly the
//! provenance records it should (a refusal, or an intent plus a failed outcome when the kernel
//! confinement refused at execution time). The whole log is verified at the end.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use biscuit_auth::builder::{self as bb, Term};
use biscuit_auth::{Biscuit, BlockBuilder, KeyPair};
use ed25519_dalek::SigningKey;
use prost::Message;
use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::invocation::Operation as Op;
use trust_sdk::attenuate::{attenuation_block, Attenuation};
use trust_sdk::client::{now_ms, prepare_execute, root_key_provider, ExecutorClient};
use trust_sdk::provenance::{ProvenanceEntry, ProvenanceRecord, RecordKind, READ_ONLY_OPERATIONS};
use trust_sdk::SdkError;
use trust_tests::{Cluster, ClusterOptions};

use crate::support::*;

const SECRET: &str = "TOP-SECRET-outside-the-workspace-7f3a\n";
const MAX_TOKEN_BYTES: usize = 8192;
const MAX_REQUEST_BYTES: usize = 65536;

const UNAUTHENTICATED: &str = "Unauthenticated";
const DENIED: &str = "PermissionDenied";
const INVALID: &str = "InvalidArgument";
const NOT_FOUND: &str = "NotFound";

/// Grants and keys the rows build their requests from.
struct Fx {
    agent: SigningKey,
    intruder: SigningKey,
    /// fs.read/list/search on everything, fs.write/patch on `src/`, proc.run `test`.
    broad: Vec<u8>,
    /// Another grant with the same scopes (for proofs made for a different token).
    other_broad: Vec<u8>,
    /// fs.read on everything, nothing else.
    read_only: Vec<u8>,
    /// Revoked by the admin during setup.
    revoked: Vec<u8>,
    /// `revoked` narrowed by its holder after the revocation (a new block, same lineage).
    revoked_narrowed: Vec<u8>,
    /// The grant whose every byte the byte-flip row tampers with.
    flip: Vec<u8>,
    /// The authority block of `broad`, signed by a stranger's key under the real key id.
    forged: Vec<u8>,
    /// The same, under a root key id the authority never had.
    unknown_kid: Vec<u8>,
    /// `broad` plus a block that expired an hour ago.
    expired: Vec<u8>,
    /// `read_only` plus a block stating `scope("fs.write", "", "")`.
    widened_scope: Vec<u8>,
    /// `read_only` plus an attenuation block naming fs.write (which the SDK would refuse).
    widened_ops: Vec<u8>,
    /// `read_only` plus a block defining a `rm` command and a proc.run scope for it.
    widened_cmd: Vec<u8>,
    /// `broad` plus a block asserting ambient facts (`operation`, `resource`, `time`).
    ambient_facts: Vec<u8>,
    /// `broad` plus a block asserting `holder_proof(<agent key>)`.
    smuggled_holder: Vec<u8>,
    /// `broad` plus a block asserting `delegation(<agent key>, <intruder key>)`.
    smuggled_delegation: Vec<u8>,
    /// `broad` plus a third-party block signed by the holder: `delegation(<holder>, <intruder>)`.
    delegated: Vec<u8>,
    /// A key nobody registered or delegated to.
    stranger: SigningKey,
    /// `read_only` plus 17 empty-ish blocks (more than the executor's 16).
    many_blocks: Vec<u8>,
    /// An absolute path outside every workspace a refused write must not create.
    tmp_target: String,
}

type Build = Box<dyn Fn(&Fx) -> pb::ExecuteRequest>;

enum Plan {
    /// Send once; must be refused.
    Once(Build),
    /// Send the same request twice: the first is served, the second refused.
    Replay(Build),
    /// Send fresh requests until refused (at most ~3 s): a revocation takes a poll to apply.
    UntilRefused(Build),
    /// Flip every byte of `Fx::flip` in turn, re-prove, send: each must be refused.
    EachByteFlipped,
}

struct Row {
    name: String,
    code: &'static str,
    /// The check the refusal must name (any one of these).
    checks: Vec<&'static str>,
    /// Refused before the invocation is decoded: the record has no request id.
    anonymous: bool,
    plan: Plan,
}

impl Row {
    fn new(
        name: impl Into<String>,
        code: &'static str,
        check: &'static str,
        build: impl Fn(&Fx) -> pb::ExecuteRequest + 'static,
    ) -> Row {
        Row {
            name: name.into(),
            code,
            checks: vec![check],
            anonymous: false,
            plan: Plan::Once(Box::new(build)),
        }
    }

    /// A row whose request is `op` under the broad grant, proved by its holder.
    fn op(
        name: impl Into<String>,
        code: &'static str,
        check: &'static str,
        op: impl Fn() -> Op + 'static,
    ) -> Row {
        Row::new(name, code, check, move |fx| {
            prepare_execute(&fx.broad, &fx.agent, op(), now_ms())
        })
    }

    /// Also accept another check name (for a refusal whose naming is being refined).
    fn or_check(mut self, check: &'static str) -> Row {
        self.checks.push(check);
        self
    }

    fn anonymous(mut self) -> Row {
        self.anonymous = true;
        self
    }
}

struct Attempt {
    request: pb::ExecuteRequest,
    result: Result<pb::ExecuteResponse, SdkError>,
}

/// A fresh invocation (new request id and nonce) for `op` at `timestamp_ms`.
fn invocation(op: Option<Op>, timestamp_ms: i64) -> pb::Invocation {
    pb::Invocation {
        request_id: uuid::Uuid::now_v7().to_string(),
        timestamp_ms,
        nonce: uuid::Uuid::new_v4().as_bytes().to_vec(),
        operation: op,
    }
}

/// A request carrying `invocation` under `grant`, proved by `key` (which is also the holder key sent).
fn proved(grant: &[u8], key: &SigningKey, invocation: Vec<u8>) -> pb::ExecuteRequest {
    let proof = trust_sdk::proof::prove(grant, &invocation, key);
    pb::ExecuteRequest {
        grant: grant.to_vec(),
        invocation,
        holder_key: key.verifying_key().as_bytes().to_vec(),
        proof,
    }
}

/// Deterministic filler bytes (xorshift), so the "random" rows are reproducible.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

fn write_in(path: &str) -> Op {
    write(path, b"attack payload\n")
}

fn patch_at(path: &str, diff: &str) -> Op {
    Op::Patch(pb::PatchRequest {
        path: path.into(),
        diff: diff.into(),
    })
}

fn run_in(command: &str, cwd: &str) -> Op {
    Op::Run(pb::RunRequest {
        command: command.into(),
        cwd: cwd.into(),
        timeout_ms: 0,
        file_sha256: Default::default(),
    })
}

fn append(token: &Biscuit, block: BlockBuilder) -> Vec<u8> {
    token.append(block).unwrap().to_vec().unwrap()
}

fn block(code: &str) -> BlockBuilder {
    BlockBuilder::new().code(code).unwrap()
}

fn hex_key(key: &SigningKey) -> String {
    format!("hex:{}", hex::encode(key.verifying_key().as_bytes()))
}

/// Every row of the table.
fn rows() -> Vec<Row> {
    let long_path = "a/".repeat(2500);
    let mut rows =
        vec![
        // ---- The grant itself -------------------------------------------------------------
        Row::new(
            "forged signature: authority block signed by another root key under the real key id",
            UNAUTHENTICATED,
            "signature",
            |fx| prepare_execute(&fx.forged, &fx.agent, read("README.md"), now_ms()),
        ),
        Row::new(
            "root key id the authority does not have",
            UNAUTHENTICATED,
            "signature",
            |fx| prepare_execute(&fx.unknown_kid, &fx.agent, read("README.md"), now_ms()),
        ),
        Row {
            name: "every single byte of a grant flipped (re-proved by the holder)".into(),
            code: UNAUTHENTICATED,
            checks: vec!["grant-format", "signature", "grant-claims"],
            anonymous: false,
            plan: Plan::EachByteFlipped,
        },
        Row::new(
            "grant that is not a biscuit at all",
            UNAUTHENTICATED,
            "grant-format",
            |fx| {
                let garbage = noise(1024, 0x5eed);
                proved(
                    &garbage,
                    &fx.agent,
                    invocation(Some(read("README.md")), now_ms()).encode_to_vec(),
                )
            },
        ),
        Row::new(
            "expired grant (appended block with an expiry an hour ago)",
            UNAUTHENTICATED,
            "expiry",
            |fx| prepare_execute(&fx.expired, &fx.agent, read("README.md"), now_ms()),
        ),
        Row {
            name: "revoked grant".into(),
            code: UNAUTHENTICATED,
            checks: vec!["revocation"],
            anonymous: false,
            plan: Plan::UntilRefused(Box::new(|fx| {
                prepare_execute(&fx.revoked, &fx.agent, read("src/calc.sh"), now_ms())
            })),
        },
        Row {
            name: "revoked grant, narrowed by a new block after the revocation".into(),
            code: UNAUTHENTICATED,
            checks: vec!["revocation"],
            anonymous: false,
            plan: Plan::UntilRefused(Box::new(|fx| {
                prepare_execute(&fx.revoked_narrowed, &fx.agent, read("src/calc.sh"), now_ms())
            })),
        },
        Row::new("empty grant", UNAUTHENTICATED, "grant-present", |fx| {
            proved(
                &[],
                &fx.agent,
                invocation(Some(read("README.md")), now_ms()).encode_to_vec(),
            )
        })
        .anonymous(),
        Row::new(
            "operation not granted (read-only grant, fs.write)",
            DENIED,
            "grant-scope",
            |fx| prepare_execute(&fx.read_only, &fx.agent, write_in("src/new.txt"), now_ms()),
        ),
        Row::new(
            "widened grant: appended block states scope(\"fs.write\", \"\", \"\")",
            DENIED,
            "grant-scope",
            |fx| {
                prepare_execute(
                    &fx.widened_scope,
                    &fx.agent,
                    write_in("src/new.txt"),
                    now_ms(),
                )
            },
        ),
        Row::new(
            "widened grant: appended attenuation block names fs.write",
            DENIED,
            "grant-scope",
            |fx| {
                prepare_execute(
                    &fx.widened_ops,
                    &fx.agent,
                    write_in("src/new.txt"),
                    now_ms(),
                )
            },
        ),
        Row::new(
            "widened grant: appended block defines command `rm` (argv writes a file)",
            DENIED,
            "command",
            |fx| prepare_execute(&fx.widened_cmd, &fx.agent, run("rm"), now_ms()),
        ),
        Row::new(
            "appended block asserts ambient facts: operation/resource/time, then reads .env",
            DENIED,
            "deny-rule",
            |fx| prepare_execute(&fx.ambient_facts, &fx.agent, read(".env"), now_ms()),
        )
        .or_check("grant-scope"),
        Row::new(
            "stolen grant, appended block asserts holder_proof(<holder>)",
            UNAUTHENTICATED,
            "holder-binding",
            |fx| {
                proved(
                    &fx.smuggled_holder,
                    &fx.intruder,
                    invocation(Some(read("README.md")), now_ms()).encode_to_vec(),
                )
            },
        ),
        Row::new(
            "stolen grant, appended block asserts delegation(<holder>, <thief>)",
            UNAUTHENTICATED,
            "holder-binding",
            |fx| {
                proved(
                    &fx.smuggled_delegation,
                    &fx.intruder,
                    invocation(Some(read("README.md")), now_ms()).encode_to_vec(),
                )
            },
        ),
        Row::new(
            "grant delegated by its holder to the intruder, used by a third key",
            UNAUTHENTICATED,
            "holder-binding",
            |fx| {
                let inv = invocation(Some(read("README.md")), now_ms()).encode_to_vec();
                proved(&fx.delegated, &fx.stranger, inv)
            },
        ),
        Row::new(
            "more blocks than the executor accepts",
            INVALID,
            "block-count",
            |fx| prepare_execute(&fx.many_blocks, &fx.agent, read("README.md"), now_ms()),
        ),
        Row::new(
            "oversized token (20 KiB of noise)",
            INVALID,
            "token-size",
            |fx| {
                let big = noise(20 * 1024, 0xb16);
                proved(
                    &big,
                    &fx.agent,
                    invocation(Some(read("README.md")), now_ms()).encode_to_vec(),
                )
            },
        )
        .anonymous(),
        // ---- The holder proof --------------------------------------------------------------
        Row::new(
            "no proof (empty proof bytes)",
            UNAUTHENTICATED,
            "holder-proof",
            |fx| {
                let mut r = prepare_execute(&fx.broad, &fx.agent, read("README.md"), now_ms());
                r.proof.clear();
                r
            },
        )
        .anonymous(),
        Row::new(
            "truncated proof (63 bytes)",
            UNAUTHENTICATED,
            "holder-proof",
            |fx| {
                let mut r = prepare_execute(&fx.broad, &fx.agent, read("README.md"), now_ms());
                r.proof.pop();
                r
            },
        )
        .anonymous(),
        Row::new(
            "holder key of the wrong length (31 bytes)",
            UNAUTHENTICATED,
            "holder-proof",
            |fx| {
                let mut r = prepare_execute(&fx.broad, &fx.agent, read("README.md"), now_ms());
                r.holder_key.pop();
                r
            },
        )
        .anonymous(),
        Row::new(
            "stolen grant proved by another registered agent's key",
            UNAUTHENTICATED,
            "holder-binding",
            |fx| prepare_execute(&fx.broad, &fx.intruder, read("README.md"), now_ms()),
        ),
        Row::new(
            "holder's key claimed, proof signed by another key",
            UNAUTHENTICATED,
            "holder-proof",
            |fx| {
                let inv = invocation(Some(read("README.md")), now_ms()).encode_to_vec();
                let mut r = proved(&fx.broad, &fx.intruder, inv);
                r.holder_key = fx.agent.verifying_key().as_bytes().to_vec();
                r
            },
        ),
        Row::new(
            "identity-point holder key with an all-zero signature (weak-key forgery)",
            UNAUTHENTICATED,
            "holder-proof",
            |fx| {
                let mut identity = [0u8; 32];
                identity[0] = 1;
                let mut proof = vec![0u8; 64];
                proof[0] = 1;
                pb::ExecuteRequest {
                    grant: fx.broad.clone(),
                    invocation: invocation(Some(read("README.md")), now_ms()).encode_to_vec(),
                    holder_key: identity.to_vec(),
                    proof,
                }
            },
        ),
        Row::new(
            "proof made for another operation (read proof, write sent)",
            UNAUTHENTICATED,
            "holder-proof",
            |fx| {
                let a = proved(
                    &fx.broad,
                    &fx.agent,
                    invocation(Some(read("src/calc.sh")), now_ms()).encode_to_vec(),
                );
                let mut b = proved(
                    &fx.broad,
                    &fx.agent,
                    invocation(Some(write_in("src/calc.sh")), now_ms()).encode_to_vec(),
                );
                b.proof = a.proof;
                b
            },
        ),
        Row::new(
            "proof made for another resource (src/calc.sh proof, README.md sent)",
            UNAUTHENTICATED,
            "holder-proof",
            |fx| {
                let ts = now_ms();
                let mut inv = invocation(Some(read("src/calc.sh")), ts);
                let a = proved(&fx.broad, &fx.agent, inv.encode_to_vec());
                inv.operation = Some(read("README.md"));
                let mut b = proved(&fx.broad, &fx.agent, inv.encode_to_vec());
                b.proof = a.proof;
                b
            },
        ),
        Row::new(
            "proof made for another grant",
            UNAUTHENTICATED,
            "holder-proof",
            |fx| {
                let inv = invocation(Some(read("README.md")), now_ms()).encode_to_vec();
                let mut r = proved(&fx.broad, &fx.agent, inv.clone());
                r.proof = trust_sdk::proof::prove(&fx.other_broad, &inv, &fx.agent);
                r
            },
        ),
        Row {
            name: "replayed proof (the exact same request twice)".into(),
            code: UNAUTHENTICATED,
            checks: vec!["replay"],
            anonymous: false,
            plan: Plan::Replay(Box::new(|fx| {
                prepare_execute(&fx.broad, &fx.agent, read("src/calc.sh"), now_ms())
            })),
        },
        Row::new(
            "stale proof (invocation 10 minutes old)",
            UNAUTHENTICATED,
            "proof-freshness",
            |fx| prepare_execute(&fx.broad, &fx.agent, read("README.md"), now_ms() - 600_000),
        ),
        Row::new(
            "proof from the future (invocation 10 minutes ahead)",
            UNAUTHENTICATED,
            "proof-freshness",
            |fx| prepare_execute(&fx.broad, &fx.agent, read("README.md"), now_ms() + 600_000),
        ),
        // ---- The invocation ----------------------------------------------------------------
        Row::new("malformed invocation bytes", INVALID, "invocation", |fx| {
            let mut garbage = vec![0xff; 11];
            garbage.extend(noise(53, 0xbad));
            proved(&fx.broad, &fx.agent, garbage)
        })
        .anonymous(),
        Row::new(
            "operation missing from the invocation",
            INVALID,
            "invocation",
            |fx| {
                proved(
                    &fx.broad,
                    &fx.agent,
                    invocation(None, now_ms()).encode_to_vec(),
                )
            },
        ),
        Row::new("empty request id", INVALID, "invocation", |fx| {
            let mut inv = invocation(Some(read("README.md")), now_ms());
            inv.request_id.clear();
            proved(&fx.broad, &fx.agent, inv.encode_to_vec())
        })
        .anonymous(),
        Row::new("nonce shorter than 16 bytes", INVALID, "invocation", |fx| {
            let mut inv = invocation(Some(read("README.md")), now_ms());
            inv.nonce.truncate(4);
            proved(&fx.broad, &fx.agent, inv.encode_to_vec())
        }),
        Row::new(
            "oversized request (content above max_request_bytes)",
            INVALID,
            "request-size",
            |fx| {
                let content = vec![b'x'; MAX_REQUEST_BYTES + 1];
                prepare_execute(
                    &fx.broad,
                    &fx.agent,
                    write("src/big.txt", &content),
                    now_ms(),
                )
            },
        )
        .anonymous(),
        Row::new(
            "run timeout above the executor's ceiling",
            INVALID,
            "parameters",
            |fx| {
                let op = Op::Run(pb::RunRequest {
                    command: "test".into(),
                    cwd: String::new(),
                    timeout_ms: 3_600_000,
                    file_sha256: Default::default(),
                });
                prepare_execute(&fx.broad, &fx.agent, op, now_ms())
            },
        ),
        Row::new("empty search pattern", INVALID, "parameters", |fx| {
            prepare_execute(&fx.broad, &fx.agent, search("src", ""), now_ms())
        }),
        // ---- Grant scope (a valid grant that does not cover the request) -------------------
        Row::op(
            "write README.md (fs.write granted on src/ only)",
            DENIED,
            "grant-scope",
            || write_in("README.md"),
        ),
        Row::op(
            "write tests/x (fs.write granted on src/ only)",
            DENIED,
            "grant-scope",
            || write_in("tests/x.sh"),
        ),
        Row::op(
            "write srcevil/x (prefix confusion with src/)",
            DENIED,
            "grant-scope",
            || write_in("srcevil/x"),
        ),
        Row::op(
            "write over the directory `src` (the scope names it; refused as a directory)",
            INVALID,
            "parameters",
            || write_in("src"),
        ),
        Row::op(
            "patch README.md (fs.patch granted on src/ only)",
            DENIED,
            "grant-scope",
            || patch("--- a/README.md\n+++ b/README.md\n@@ -1 +1 @@\n-x\n+y\n"),
        ),
        Row::op("read deny-listed .env", DENIED, "deny-rule", || read(".env"))
            .or_check("grant-scope"),
        Row::op(
            "read ./.env (normalizes to the deny-listed .env)",
            DENIED,
            "deny-rule",
            || read("./.env"),
        )
        .or_check("grant-scope"),
        Row::op(
            "read secrets/x.pem (deny-listed under the granted read prefix)",
            DENIED,
            "deny-rule",
            || read("secrets/x.pem"),
        )
        .or_check("grant-scope"),
        Row::op(
            "write src/key.pem (deny-listed under the granted write prefix)",
            DENIED,
            "deny-rule",
            || write_in("src/key.pem"),
        )
        .or_check("grant-scope"),
        Row::op(
            "write src/.git/config (deny-listed under the granted write prefix)",
            DENIED,
            "deny-rule",
            || write_in("src/.git/config"),
        )
        .or_check("grant-scope"),
        Row::op(
            "proc.run a command not named in the grant (`rm`)",
            DENIED,
            "command",
            || run("rm"),
        ),
        Row::op(
            "proc.run the program name instead of the command name (`sh`)",
            DENIED,
            "command",
            || run("sh"),
        ),
        Row::new(
            "proc.run with a grant that has no command",
            DENIED,
            "command",
            |fx| prepare_execute(&fx.read_only, &fx.agent, run("test"), now_ms()),
        ),
        // ---- Path escapes, refused lexically at admission ---------------------------------
        Row::op(
            "read ../outside/secret",
            DENIED,
            "workspace-confinement",
            || read("../outside/secret"),
        ),
        Row::op(
            "read src/../../outside/secret",
            DENIED,
            "workspace-confinement",
            || read("src/../../outside/secret"),
        ),
        Row::op("read ./../x", DENIED, "workspace-confinement", || {
            read("./../x")
        }),
        Row::op("read ..", DENIED, "workspace-confinement", || read("..")),
        Row::op("read src/..", DENIED, "workspace-confinement", || {
            read("src/..")
        }),
        Row::op("read /etc/passwd", DENIED, "workspace-confinement", || {
            read("/etc/passwd")
        }),
        Row::op("read //etc/passwd", DENIED, "workspace-confinement", || {
            read("//etc/passwd")
        }),
        Row::op(
            "read src/..\\..\\x (backslashes)",
            DENIED,
            "workspace-confinement",
            || read("src/..\\..\\x"),
        ),
        Row::op(
            "read ..\\outside\\secret (backslashes)",
            DENIED,
            "workspace-confinement",
            || read("..\\outside\\secret"),
        ),
        Row::op("read src/\\0/../.. (NUL byte)", INVALID, "path", || {
            read("src/\0/../..")
        }),
        Row::op("read a 5000-byte path", INVALID, "path", move || {
            read(&long_path)
        }),
        Row::op(
            "read /proc/self/root/etc/passwd",
            DENIED,
            "workspace-confinement",
            || read("/proc/self/root/etc/passwd"),
        ),
        Row::op(
            "read /proc/self/cwd/README.md",
            DENIED,
            "workspace-confinement",
            || read("/proc/self/cwd/README.md"),
        ),
        Row::op("list ..", DENIED, "workspace-confinement", || list("..")),
        Row::op("list /", DENIED, "workspace-confinement", || list("/")),
        Row::op(
            "search rooted at ..",
            DENIED,
            "workspace-confinement",
            || search("..", "SECRET"),
        ),
        Row::op(
            "search rooted at ../outside",
            DENIED,
            "workspace-confinement",
            || search("../outside", "SECRET"),
        ),
        Row::op(
            "write ../outside/secret",
            DENIED,
            "workspace-confinement",
            || write_in("../outside/secret"),
        ),
        Row::op(
            "write src/../../outside/secret",
            DENIED,
            "workspace-confinement",
            || write_in("src/../../outside/secret"),
        ),
        Row::new(
            "write an absolute path in /tmp",
            DENIED,
            "workspace-confinement",
            |fx| prepare_execute(&fx.broad, &fx.agent, write_in(&fx.tmp_target), now_ms()),
        ),
        Row::op(
            "patch whose diff targets ../outside/secret",
            DENIED,
            "workspace-confinement",
            || patch("--- a/../outside/secret\n+++ b/../outside/secret\n@@ -1 +1 @@\n-x\n+y\n"),
        ),
        Row::op(
            "patch with +++ b/../../outside/secret",
            DENIED,
            "workspace-confinement",
            || patch("--- a/src/calc.sh\n+++ b/../../outside/secret\n@@ -1 +1 @@\n-x\n+y\n"),
        ),
        Row::op(
            "patch with +++ b//etc/passwd",
            DENIED,
            "workspace-confinement",
            || patch("--- /dev/null\n+++ b//etc/passwd\n@@ -0,0 +1 @@\n+y\n"),
        ),
        Row::op("patch based at ..", DENIED, "workspace-confinement", || {
            patch_at(
                "..",
                "--- a/outside/secret\n+++ b/outside/secret\n@@ -1 +1 @@\n-x\n+y\n",
            )
        }),
        // ---- Names that look like escapes but are ordinary names: must not leave ----------
        Row::op(
            "read %2e%2e/outside/secret (percent-encoded, a literal name)",
            NOT_FOUND,
            "operation",
            || read("%2e%2e/outside/secret"),
        ),
        Row::op(
            "read ..%2fsecret (a literal name)",
            NOT_FOUND,
            "operation",
            || read("..%2fsecret"),
        ),
        Row::op(
            "read \u{ff0e}\u{ff0e}/outside/secret (fullwidth dots, a literal name)",
            NOT_FOUND,
            "operation",
            || read("\u{ff0e}\u{ff0e}/outside/secret"),
        ),
        Row::op(
            "read proc/self/root/etc/passwd (relative)",
            NOT_FOUND,
            "operation",
            || read("proc/self/root/etc/passwd"),
        ),
        // ---- Refused by the kernel confinement at execution time --------------------------
        Row::op(
            "read src/leak (symlink to ../../outside/secret)",
            DENIED,
            "workspace-confinement",
            || read("src/leak"),
        ),
        Row::op(
            "read src/leak/ (trailing slash on the symlink)",
            DENIED,
            "workspace-confinement",
            || read("src/leak/"),
        ),
        Row::op(
            "read src/outdir/secret (through a symlink to the outside directory)",
            DENIED,
            "workspace-confinement",
            || read("src/outdir/secret"),
        ),
        Row::op(
            "read abs/passwd (through an absolute symlink to /etc)",
            DENIED,
            "workspace-confinement",
            || read("abs/passwd"),
        ),
        Row::op(
            "read src/hard (hard link to outside/secret)",
            DENIED,
            "workspace-confinement",
            || read("src/hard"),
        ),
        Row::op(
            "list src/outdir/secret (through a symlink to the outside directory)",
            DENIED,
            "workspace-confinement",
            || list("src/outdir/secret"),
        ),
        Row::op(
            "search rooted at src/outdir (symlink to the outside directory)",
            DENIED,
            "workspace-confinement",
            || search("src/outdir", "SECRET"),
        ),
        Row::op(
            "write src/outdir/secret (parent component is a symlink to outside)",
            DENIED,
            "workspace-confinement",
            || write_in("src/outdir/secret"),
        ),
        Row::op(
            "write src/outdir/new.txt (create through a symlinked parent)",
            DENIED,
            "workspace-confinement",
            || write_in("src/outdir/new.txt"),
        ),
        Row::op(
            "write src/leak (the target is a symlink to outside)",
            DENIED,
            "workspace-confinement",
            || write_in("src/leak"),
        ),
        Row::op(
            "write src/hard (the target is hard-linked to outside)",
            DENIED,
            "workspace-confinement",
            || write_in("src/hard"),
        ),
        Row::op(
            "patch that creates src/outdir/new (through a symlinked parent)",
            DENIED,
            "workspace-confinement",
            || patch("--- /dev/null\n+++ b/src/outdir/new\n@@ -0,0 +1 @@\n+y\n"),
        ),
        Row::op(
            "patch of src/leak (the target is a symlink to outside)",
            DENIED,
            "workspace-confinement",
            || {
                patch(&format!(
                    "--- a/src/leak\n+++ b/src/leak\n@@ -1 +1 @@\n-{}+pwned\n",
                    SECRET
                ))
            },
        ),
        Row::op(
            "proc.run test with cwd ../outside",
            DENIED,
            "workspace-confinement",
            || run_in("test", "../outside"),
        ),
        Row::op(
            "proc.run test with cwd /",
            DENIED,
            "workspace-confinement",
            || run_in("test", "/"),
        ),
        Row::op(
            "proc.run test with cwd src/outdir (symlink to outside)",
            DENIED,
            "workspace-confinement",
            || run_in("test", "src/outdir"),
        ),
    ];
    for row in &mut rows {
        row.name = row.name.replace('\0', "\\0");
    }
    rows
}

/// Reads new provenance records as an auditor, remembering how far it has read.
struct Audit {
    last: u64,
}

impl Audit {
    async fn new_records(
        &mut self,
        cluster: &Cluster,
        exec: &mut ExecutorClient,
    ) -> Vec<ProvenanceRecord> {
        let lines = exec
            .export_provenance(&cluster.auditor_id, &cluster.auditor_key, self.last)
            .await
            .unwrap();
        let mut records = Vec::new();
        for line in lines {
            if let ProvenanceEntry::Record(r) =
                serde_json::from_str::<ProvenanceEntry>(&line).unwrap()
            {
                assert_eq!(r.sequence, self.last + 1, "export is not contiguous");
                self.last = r.sequence;
                records.push(r);
            }
        }
        records
    }
}

fn rpc_error(err: &SdkError) -> (&str, &str) {
    match err {
        SdkError::Rpc { code, message } => (code, message),
        other => panic!("not an rpc error: {other}"),
    }
}

/// Checks that `records` are exactly the provenance of `attempts`: a refusal naming the check for
/// each request refused at admission, an intent plus a failed outcome (one failed `read_only`
/// record for a read-only operation) for each refused at execution time, an intent plus an "ok"
/// outcome (one "ok" `read_only` record) for each served one, and nothing else.
fn check_records(row: &Row, attempts: &[Attempt], records: &[ProvenanceRecord]) {
    let name = &row.name;
    let mut used = vec![false; records.len()];
    let mut take = |pred: &dyn Fn(&ProvenanceRecord) -> bool| -> Option<usize> {
        let i = (0..records.len()).find(|&i| !used[i] && pred(&records[i]))?;
        used[i] = true;
        Some(i)
    };
    for attempt in attempts {
        let id = request_id_of(&attempt.request);
        match &attempt.result {
            Ok(_) => {
                let id = id.clone().unwrap();
                // A read-only operation has one record; any other an intent and an outcome.
                let single = take(&|r| {
                    r.kind == RecordKind::ReadOnly
                        && r.request_id == id
                        && r.status.as_deref() == Some("ok")
                        && READ_ONLY_OPERATIONS.contains(&r.operation.as_str())
                });
                if single.is_none() {
                    take(&|r| r.kind == RecordKind::Intent && r.request_id == id)
                        .unwrap_or_else(|| panic!("{name}: no intent for served request {id}"));
                    take(&|r| {
                        r.kind == RecordKind::Outcome
                            && r.request_id == id
                            && r.status.as_deref() == Some("ok")
                    })
                    .unwrap_or_else(|| panic!("{name}: no ok outcome for served request {id}"));
                }
            }
            Err(_) if row.anonymous => {
                let i = take(&|r| r.kind == RecordKind::Refusal && r.request_id.is_empty())
                    .unwrap_or_else(|| {
                        panic!("{name}: no anonymous refusal record; got {records:#?}")
                    });
                let r = &records[i];
                assert_eq!(r.status.as_deref(), Some(row.code), "{name}: {r:?}");
                assert!(row.checks.contains(&r.reasons[0].as_str()), "{name}: {r:?}");
                assert_eq!(r.decision, "refuse", "{name}");
            }
            Err(_) => {
                let id = id
                    .clone()
                    .unwrap_or_else(|| panic!("{name}: request id does not decode"));
                if let Some(i) = take(&|r| r.kind == RecordKind::Refusal && r.request_id == id) {
                    let r = &records[i];
                    assert_eq!(r.status.as_deref(), Some(row.code), "{name}: {r:?}");
                    assert!(row.checks.contains(&r.reasons[0].as_str()), "{name}: {r:?}");
                    assert_eq!(r.decision, "refuse", "{name}");
                } else {
                    // Admitted, then refused by the operation itself (kernel confinement, not
                    // found): one failed read-only record, or an intent and a failed outcome.
                    let request_id = id.as_str();
                    let failed = |kind: RecordKind| {
                        move |r: &ProvenanceRecord| {
                            r.kind == kind
                                && r.request_id == request_id
                                && r.status.as_deref().is_some_and(|s| s != "ok")
                        }
                    };
                    let i = match take(&failed(RecordKind::ReadOnly)) {
                        Some(i) => i,
                        None => {
                            take(&|r| r.kind == RecordKind::Intent && r.request_id == id)
                                .unwrap_or_else(|| {
                                    panic!(
                                        "{name}: neither a refusal nor an intent for {id}: \
                                         {records:#?}"
                                    )
                                });
                            take(&failed(RecordKind::Outcome)).unwrap_or_else(|| {
                                panic!("{name}: no failed outcome for {id}: {records:#?}")
                            })
                        }
                    };
                    assert!(
                        records[i].outcome_digest.is_none(),
                        "{name}: failed outcome carries a digest"
                    );
                }
            }
        }
    }
    let extra: Vec<_> = records
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(r, _)| r)
        .collect();
    assert!(
        extra.is_empty(),
        "{name}: unexpected provenance records {extra:#?}"
    );
}

/// Why `result` is not the refusal `row` expects (`None` if it is).
fn refusal_mismatch(
    row: &Row,
    what: &str,
    result: &Result<pb::ExecuteResponse, SdkError>,
) -> Option<String> {
    let name = &row.name;
    let err = match result {
        Ok(r) => return Some(format!("{name}{what}: was served: {r:?}")),
        Err(e) => e,
    };
    let (code, message) = rpc_error(err);
    if code != row.code {
        return Some(format!(
            "{name}{what}: expected {}, got {code}: {message}",
            row.code
        ));
    }
    if !row
        .checks
        .iter()
        .any(|c| message.starts_with(&format!("{c}: ")))
    {
        return Some(format!(
            "{name}{what}: message does not name one of the checks {:?}: {message}",
            row.checks
        ));
    }
    if message.contains(SECRET.trim()) {
        return Some(format!("{name}{what}: the secret leaked in the message"));
    }
    None
}

async fn send(exec: &mut ExecutorClient, request: pb::ExecuteRequest) -> Attempt {
    let result = exec.send(request.clone()).await;
    Attempt { request, result }
}

/// Runs one row; returns every attempt made and every way the answers differ from the row.
async fn run_row(row: &Row, fx: &Fx, exec: &mut ExecutorClient) -> (Vec<Attempt>, Vec<String>) {
    match &row.plan {
        Plan::Once(build) => {
            let a = send(exec, build(fx)).await;
            let failures = refusal_mismatch(row, "", &a.result).into_iter().collect();
            (vec![a], failures)
        }
        Plan::Replay(build) => {
            let request = build(fx);
            let first = send(exec, request.clone()).await;
            assert!(
                first.result.is_ok(),
                "{}: the first use was refused: {:?}",
                row.name,
                first.result
            );
            let second = send(exec, request).await;
            let failures = refusal_mismatch(row, " (second use)", &second.result)
                .into_iter()
                .collect();
            (vec![first, second], failures)
        }
        Plan::UntilRefused(build) => {
            let deadline = Instant::now() + Duration::from_secs(3);
            let mut attempts = Vec::new();
            loop {
                let a = send(exec, build(fx)).await;
                let served = a.result.is_ok();
                attempts.push(a);
                if !served || Instant::now() > deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let failures = refusal_mismatch(row, "", &attempts.last().unwrap().result)
                .into_iter()
                .collect();
            (attempts, failures)
        }
        Plan::EachByteFlipped => {
            let grant = fx.flip.clone();
            // Every byte with all its bits flipped, then every byte with only its lowest bit
            // flipped (the subtler change for varints, lengths and tags).
            let cases: Vec<(usize, u8)> = [0xff, 0x01]
                .into_iter()
                .flat_map(|mask| (0..grant.len()).map(move |i| (i, mask)))
                .collect();
            let mut attempts = Vec::with_capacity(cases.len());
            let mut failures = Vec::new();
            let mut checks: BTreeMap<String, usize> = BTreeMap::new();
            for chunk in cases.chunks(32) {
                let mut set = tokio::task::JoinSet::new();
                for (n, &(i, mask)) in chunk.iter().enumerate() {
                    let mut tampered = grant.clone();
                    tampered[i] ^= mask;
                    let op = Some(read("src/calc.sh"));
                    let request = proved(
                        &tampered,
                        &fx.agent,
                        invocation(op, now_ms()).encode_to_vec(),
                    );
                    let mut client = exec.clone();
                    set.spawn(async move { (n, send(&mut client, request).await) });
                }
                let mut done: Vec<(usize, Attempt)> = set.join_all().await;
                done.sort_by_key(|(n, _)| *n);
                for ((i, mask), (_, a)) in chunk.iter().zip(done) {
                    let what = format!(" (byte {i} of {} ^ {mask:#04x})", grant.len());
                    failures.extend(refusal_mismatch(row, &what, &a.result));
                    if let Err(SdkError::Rpc { message, .. }) = &a.result {
                        let check = message.split(':').next().unwrap_or_default();
                        *checks.entry(check.to_string()).or_default() += 1;
                    }
                    attempts.push(a);
                }
            }
            eprintln!(
                "byte flips of a {}-byte grant: {} requests, refused by {checks:?}",
                grant.len(),
                attempts.len()
            );
            (attempts, failures)
        }
    }
}

/// Builds every grant the rows need (and revokes one).
async fn fixture(cluster: &Cluster) -> Fx {
    let broad_scopes = [
        ("fs.read", ""),
        ("fs.list", ""),
        ("fs.search", ""),
        ("fs.write", "src/"),
        ("fs.patch", "src/"),
        ("proc.run", "test"),
    ];
    let grant = |task: &'static str, scopes: &'static [(&'static str, &'static str)]| async move {
        let answer = cluster.grant(task, scopes).await.unwrap();
        assert!(answer.grant.is_some(), "{task}: {answer:?}");
        answer
    };
    let broad_answer = cluster.grant("attacks-broad", &broad_scopes).await.unwrap();
    let broad = broad_answer.grant.clone().unwrap();
    let other_broad = cluster
        .grant("attacks-other", &broad_scopes)
        .await
        .unwrap()
        .grant
        .unwrap();
    let read_only = grant("attacks-read-only", &[("fs.read", "")])
        .await
        .grant
        .unwrap();
    let revoked_answer = grant("attacks-revoked", &[("fs.read", "src/")]).await;
    let flip = grant("attacks-flip", &[("fs.read", "src/")])
        .await
        .grant
        .unwrap();

    let mut authority = cluster.authority_client().await.unwrap();
    authority
        .revoke_grant(
            &cluster.admin_id,
            &cluster.admin_key,
            &revoked_answer.grant_id,
            "attack table",
        )
        .await
        .unwrap();
    let keys = authority.public_keys().await.unwrap();
    let parse = |bytes: &[u8]| Biscuit::from(bytes, root_key_provider(&keys)).unwrap();
    let broad_token = parse(&broad);
    let read_only_token = parse(&read_only);

    let claims = trust_sdk::vocabulary::read_claims(&broad_token).unwrap();
    let stranger = KeyPair::new();
    let forged = trust_sdk::vocabulary::authority_block(&claims)
        .unwrap()
        .root_key_id(broad_answer.root_key_id)
        .build(&stranger)
        .unwrap()
        .to_vec()
        .unwrap();
    let missing_id = 4242;
    assert!(keys.iter().all(|(id, _, _)| *id != missing_id));
    let unknown_kid = trust_sdk::vocabulary::authority_block(&claims)
        .unwrap()
        .root_key_id(missing_id)
        .build(&stranger)
        .unwrap()
        .to_vec()
        .unwrap();

    let an_hour_ago = SystemTime::UNIX_EPOCH + Duration::from_millis((now_ms() - 3_600_000) as u64);
    let expired = append(
        &broad_token,
        attenuation_block(&Attenuation {
            expires_at: Some(an_hour_ago),
            ..Default::default()
        })
        .unwrap(),
    );
    let widened_scope = append(&read_only_token, block(r#"scope("fs.write", "", "");"#));
    let widened_ops = append(
        &read_only_token,
        attenuation_block(&Attenuation {
            operations: Some(vec!["fs.read".into(), "fs.write".into()]),
            prefixes: Some(vec![String::new()]),
            ..Default::default()
        })
        .unwrap(),
    );
    let argv = Term::Array(
        ["sh", "-c", "echo pwned > pwned.txt"]
            .iter()
            .map(|a| bb::string(a))
            .collect(),
    );
    let widened_cmd = append(
        &read_only_token,
        BlockBuilder::new()
            .fact(bb::fact("command", &[bb::string("rm"), argv]))
            .unwrap()
            .fact(bb::fact(
                "scope",
                &[bb::string("proc.run"), bb::string("rm"), bb::string("rm/")],
            ))
            .unwrap(),
    );
    let ambient_facts = append(
        &broad_token,
        block(r#"operation("fs.read"); resource("README.md"); time(2000-01-01T00:00:00Z);"#),
    );
    let smuggled_holder = append(
        &broad_token,
        block(&format!("holder_proof({});", hex_key(&cluster.agent_key))),
    );
    let smuggled_delegation = append(
        &broad_token,
        block(&format!(
            "delegation({}, {});",
            hex_key(&cluster.agent_key),
            hex_key(&cluster.other_agent_key)
        )),
    );
    let holder_private = trust_sdk::keys::to_biscuit_private(&cluster.agent_key).unwrap();
    let holder_public =
        trust_sdk::keys::to_biscuit_public(&cluster.agent_key.verifying_key()).unwrap();
    let delegation_block = broad_token
        .third_party_request()
        .unwrap()
        .create_block(
            &holder_private,
            // A well-formed hop (its own id, naming the root as parent), so that what refuses
            // the third key is the holder binding, not the chain's shape.
            block(&format!(
                "delegation({}, {}); derived_grant(\"intruder-hop\", {:?});",
                hex_key(&cluster.agent_key),
                hex_key(&cluster.other_agent_key),
                trust_sdk::vocabulary::read_claims(&broad_token)
                    .unwrap()
                    .grant_id
            )),
        )
        .unwrap();
    let delegated = broad_token
        .append_third_party(holder_public, delegation_block)
        .unwrap()
        .to_vec()
        .unwrap();
    let mut padded = read_only_token.clone();
    for _ in 0..17 {
        padded = padded.append(block("check if true;")).unwrap();
    }
    let many_blocks = padded.to_vec().unwrap();
    for (name, token) in [
        ("broad", &broad),
        ("expired", &expired),
        ("many_blocks", &many_blocks),
        ("flip", &flip),
    ] {
        assert!(
            token.len() <= MAX_TOKEN_BYTES,
            "{name} is {} bytes, over the test's token limit",
            token.len()
        );
    }

    Fx {
        agent: cluster.agent_key.clone(),
        intruder: cluster.other_agent_key.clone(),
        broad,
        other_broad,
        read_only,
        revoked_narrowed: append(
            &parse(revoked_answer.grant.as_ref().unwrap()),
            attenuation_block(&Attenuation {
                prefixes: Some(vec!["src/calc.sh".into()]),
                ..Default::default()
            })
            .unwrap(),
        ),
        revoked: revoked_answer.grant.unwrap(),
        flip,
        forged,
        unknown_kid,
        expired,
        widened_scope,
        widened_ops,
        widened_cmd,
        ambient_facts,
        smuggled_holder,
        smuggled_delegation,
        delegated,
        stranger: trust_sdk::keys::generate(),
        many_blocks,
        tmp_target: format!("/tmp/trust-attack-{}", uuid::Uuid::new_v4()),
    }
}

/// The sibling `outside` directory with a secret, and links from the workspace towards it.
fn plant_links(cluster: &Cluster) -> std::path::PathBuf {
    let outside = cluster.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret"), SECRET).unwrap();
    let ws = &cluster.workspace;
    std::os::unix::fs::symlink("../../outside/secret", ws.join("src/leak")).unwrap();
    std::os::unix::fs::symlink("../../outside", ws.join("src/outdir")).unwrap();
    std::os::unix::fs::symlink("/etc", ws.join("abs")).unwrap();
    std::fs::hard_link(outside.join("secret"), ws.join("src/hard")).unwrap();
    // The links must resolve on the host (so a refusal is the executor's doing, not a dangling link).
    assert_eq!(
        std::fs::read_to_string(ws.join("src/leak")).unwrap(),
        SECRET
    );
    assert_eq!(
        std::fs::read_to_string(ws.join("src/outdir/secret")).unwrap(),
        SECRET
    );
    outside
}

/// Races reads and writes of `src/swap/secret` against a thread that keeps replacing `src/swap`
/// (a real directory) with a symlink to `outside` and back. Returns how the requests ended.
async fn swap_race(
    cluster: &Cluster,
    fx: &Fx,
    exec: &mut ExecutorClient,
) -> BTreeMap<String, usize> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    let swap = cluster.workspace.join("src/swap");
    let stop = Arc::new(AtomicBool::new(false));
    let racer = {
        let (swap, stop) = (swap.clone(), Arc::clone(&stop));
        std::thread::spawn(move || {
            let clear = |p: &Path| match std::fs::symlink_metadata(p) {
                Ok(m) if m.file_type().is_symlink() => drop(std::fs::remove_file(p)),
                Ok(_) => drop(std::fs::remove_dir_all(p)),
                Err(_) => {}
            };
            let mut swaps = 0u64;
            while !stop.load(Ordering::Relaxed) {
                clear(&swap);
                let _ = std::fs::create_dir(&swap);
                std::thread::sleep(Duration::from_micros(300));
                clear(&swap);
                let _ = std::os::unix::fs::symlink("../../outside", &swap);
                std::thread::sleep(Duration::from_micros(300));
                swaps += 1;
            }
            clear(&swap);
            swaps
        })
    };
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    for i in 0..150 {
        let op = if i % 2 == 0 {
            write("src/swap/secret", b"pwned\n")
        } else {
            read("src/swap/secret")
        };
        let result = exec.execute(&fx.broad, &fx.agent, op).await;
        assert!(
            !format!("{result:?}").contains(SECRET.trim()),
            "the secret leaked through the swap: {result:?}"
        );
        let label = match &result {
            Ok(_) if i % 2 == 0 => "write ok".to_string(),
            Ok(_) => "read ok".to_string(),
            Err(e) => code(e),
        };
        *outcomes.entry(label).or_default() += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let swaps = racer.join().unwrap();
    assert!(swaps > 0);
    outcomes
}

fn both(ws: &Path, outside: &Path) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    (snapshot(ws), snapshot(outside))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn attack_table() {
    let options = ClusterOptions {
        executor_extra: format!("\n[limits]\nmax_request_bytes = {MAX_REQUEST_BYTES}\nmax_token_bytes = {MAX_TOKEN_BYTES}\n"),
        ..Default::default()
    };
    let cluster = Cluster::start(options).unwrap();
    let outside = plant_links(&cluster);
    let fx = fixture(&cluster).await;
    let mut exec = cluster.executor_client().await.unwrap();
    let mut audit = Audit { last: 0 };
    audit.new_records(&cluster, &mut exec).await;

    let baseline = both(&cluster.workspace, &outside);
    let rows = rows();
    assert!(rows.len() >= 40, "only {} rows", rows.len());
    let started = Instant::now();
    let mut failures = Vec::new();
    for row in &rows {
        let (attempts, row_failures) = run_row(row, &fx, &mut exec).await;
        failures.extend(row_failures);
        assert_eq!(
            both(&cluster.workspace, &outside),
            baseline,
            "{}: the disk changed",
            row.name
        );
        assert!(
            !Path::new(&fx.tmp_target).exists(),
            "{}: {} was created",
            row.name,
            fx.tmp_target
        );
        let records = audit.new_records(&cluster, &mut exec).await;
        check_records(row, &attempts, &records);
    }
    assert!(
        failures.is_empty(),
        "{} attempts were not refused as the table says:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} attack rows refused in {:?}",
        rows.len(),
        started.elapsed()
    );

    // Listing a link names the link itself (like `ls -ld`) and never what it points to.
    let link = exec
        .execute(&fx.broad, &fx.agent, list("src/outdir"))
        .await
        .unwrap();
    let Some(pb::execute_response::Result::List(link)) = &link.result else {
        panic!("not a list result")
    };
    let paths: Vec<_> = link
        .entries
        .iter()
        .map(|e| (e.path.as_str(), e.kind()))
        .collect();
    assert_eq!(paths, [("src/outdir", pb::EntryKind::Symlink)], "{link:?}");

    // Recursive operations see the links but never read through them.
    let listed = exec.execute(&fx.broad, &fx.agent, list("")).await.unwrap();
    let searched = exec
        .execute(&fx.broad, &fx.agent, search("", SECRET.trim()))
        .await
        .unwrap();
    let Some(pb::execute_response::Result::Search(found)) = &searched.result else {
        panic!("not a search result")
    };
    assert!(
        found.matches.is_empty(),
        "search read through a link: {found:?}"
    );
    assert!(!format!("{listed:?}{searched:?}").contains(SECRET.trim()));
    assert_eq!(
        both(&cluster.workspace, &outside),
        baseline,
        "recursive operations changed the disk"
    );

    // A directory swapped for a symlink to `outside` (and back) while reads and writes race
    // through it: whatever each request's fate, nothing outside changes and nothing leaks.
    let swap_race = swap_race(&cluster, &fx, &mut exec).await;
    assert_eq!(
        snapshot(&outside),
        baseline.1,
        "the swap race changed the outside directory"
    );
    eprintln!("swap race: {swap_race:?}");

    // The whole log, every refusal included, verifies against the executor's key.
    let lines = exec
        .export_provenance(&cluster.auditor_id, &cluster.auditor_key, 0)
        .await
        .unwrap();
    let (_, key) = exec.identity().await.unwrap();
    let summary =
        trust_sdk::provenance::verify_jsonl(std::io::Cursor::new(lines.join("\n")), &key, false)
            .unwrap();
    assert!(summary.records >= audit.last, "{summary:?}");
}

/// A proof captured before the executor restarts must not be accepted by the restarted one.
/// Today the replay cache lives only in memory, so within the proof window (30 s) a captured
/// request runs again after a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn replay_across_executor_restart() {
    let mut cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let grant = cluster
        .grant("attacks-restart", &[("fs.read", "")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let request = prepare_execute(&grant, &cluster.agent_key, read("README.md"), now_ms());
    let mut exec = cluster.executor_client().await.unwrap();
    exec.send(request.clone()).await.unwrap();
    cluster.start_executor().unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    // Until its first revocation sync the new executor answers UNAVAILABLE (before the replay
    // cache is consulted, so those attempts do not spend the proof).
    let deadline = Instant::now() + Duration::from_secs(3);
    let err = loop {
        let err = exec
            .send(request.clone())
            .await
            .expect_err("a proof was replayed after the executor restarted");
        if code(&err) != "Unavailable" || Instant::now() > deadline {
            break err;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(code(&err), UNAUTHENTICATED, "{err}");
}

/// A search over the workspace must not reveal anything about files the grant denies: its answer
/// for a pattern only a denied file contains must equal its answer for a pattern nothing contains.
/// Today denied files are scanned and their matches dropped afterwards (`filter_denied` in
/// `executor/src/service.rs`), so `truncated` and `files_scanned` answer "does `.env` match this
/// regex?", enough to read `.env` out one guess at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn search_is_no_oracle_for_denied_files() {
    let cluster = Cluster::start(ClusterOptions::default()).unwrap();
    let grant = cluster
        .grant("attacks-oracle", &[("fs.search", "")])
        .await
        .unwrap()
        .grant
        .unwrap();
    let mut exec = cluster.executor_client().await.unwrap();
    let mut ask = async |pattern: &str| {
        let op = Op::Search(pb::SearchRequest {
            path: String::new(),
            pattern: pattern.into(),
            regex: true,
            max_matches: 1,
            ..Default::default()
        });
        match exec
            .execute(&grant, &cluster.agent_key, op)
            .await
            .unwrap()
            .result
        {
            Some(pb::execute_response::Result::Search(s)) => s,
            other => panic!("not a search result: {other:?}"),
        }
    };
    // `.env` holds a comment naming "A fake secret" and `API_TOKEN=demo-token-...`; nothing else
    // in the workspace has these bytes. Two matches in the denied file against one.
    let hit = ask("A fake secret|API_TOKEN=demo").await;
    let miss = ask("A fake secret|API_TOKEN=zzzz").await;
    assert!(hit.matches.is_empty(), "{hit:?}");
    assert_eq!(
        hit, miss,
        "the answer differs when only a denied file matches"
    );
}
