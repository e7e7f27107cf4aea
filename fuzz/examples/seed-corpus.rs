//! Writes the generated seeds into `fuzz/corpus/<target>/`: a real grant and real invocations
//! (for `admission`), real signed request bodies and messages (for `proto_decode`). The path and
//! diff seeds are plain text files kept in the repository as written.
//!
//! Run from `fuzz/`: `cargo run --example seed-corpus`.

use std::path::Path;

use prost::Message;
use trust_fuzz::{grant, invocation, request, NOW_MS};
use trust_proto::authority::v1 as apb;
use trust_proto::common::v1::Freshness;
use trust_proto::executor::v1 as epb;
use trust_proto::executor::v1::invocation::Operation as Op;

const FIX_ADD: &str = "--- a/src/calc.sh\n+++ b/src/calc.sh\n@@ -1,4 +1,4 @@\n # A tiny shell \"library\" the demo agent fixes: add() has a bug.\n add() {\n-  echo $(($1 - $2))\n+  echo $(($1 + $2))\n }\n";

fn save(target: &str, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), bytes)
}

fn ops() -> Vec<(&'static str, Op)> {
    vec![
        (
            "read",
            Op::Read(epb::ReadRequest {
                path: "src/calc.sh".into(),
                offset: 0,
                length: 0,
            }),
        ),
        (
            "read-denied",
            Op::Read(epb::ReadRequest {
                path: ".env".into(),
                offset: 0,
                length: 0,
            }),
        ),
        (
            "list",
            Op::List(epb::ListRequest {
                path: String::new(),
                max_depth: 2,
                max_entries: 100,
            }),
        ),
        (
            "search",
            Op::Search(epb::SearchRequest {
                path: "src".into(),
                pattern: "add".into(),
                ..Default::default()
            }),
        ),
        (
            "write",
            Op::Write(epb::WriteRequest {
                path: "src/new.txt".into(),
                content: b"hello".to_vec(),
                ..Default::default()
            }),
        ),
        (
            "write-outside",
            Op::Write(epb::WriteRequest {
                path: "README.md".into(),
                content: b"x".to_vec(),
                ..Default::default()
            }),
        ),
        (
            "patch",
            Op::Patch(epb::PatchRequest {
                path: String::new(),
                diff: FIX_ADD.into(),
            }),
        ),
        (
            "run",
            Op::Run(epb::RunRequest {
                command: "test".into(),
                cwd: String::new(),
                timeout_ms: 0,
                file_sha256: Default::default(),
            }),
        ),
    ]
}

fn main() -> std::io::Result<()> {
    let token = grant("seed-grant");
    for (name, op) in ops() {
        let invocation = invocation(op, &format!("seed-{name}"));
        // Mode 0: a whole ExecuteRequest.
        let mut whole = vec![0u8];
        whole.extend(request(&token, &invocation).encode_to_vec());
        save("admission", &format!("request-{name}"), &whole)?;
        // Mode 1: u16 token length ‖ token ‖ invocation.
        let mut split = vec![1u8];
        split.extend((token.len() as u16).to_be_bytes());
        split.extend(&token);
        split.extend(&invocation);
        save("admission", &format!("token-and-invocation-{name}"), &split)?;
        // Mode 2: an invocation under the real grant.
        let mut inv = vec![2u8];
        inv.extend(&invocation);
        save("admission", &format!("invocation-{name}"), &inv)?;
        // proto_decode: 19 = Invocation, 18 = ExecuteRequest.
        let mut p = vec![19u8];
        p.extend(&invocation);
        save("proto_decode", &format!("invocation-{name}"), &p)?;
    }
    let mut p = vec![18u8];
    p.extend(request(&token, &invocation(ops().remove(0).1, "seed")).encode_to_vec());
    save("proto_decode", "execute-request", &p)?;
    let freshness = Some(Freshness {
        timestamp_ms: NOW_MS,
        nonce: vec![5u8; 16],
    });
    let body = apb::GrantRequestBody {
        freshness: freshness.clone(),
        agent_id: "coder-1".into(),
        user: "alice".into(),
        workspace: "demo".into(),
        task: "fix-add".into(),
        purpose: "fix the add bug".into(),
        scopes: vec![
            apb::Scope {
                operation: "fs.read".into(),
                resource: String::new(),
            },
            apb::Scope {
                operation: "fs.patch".into(),
                resource: "src/".into(),
            },
        ],
        ttl_seconds: 600,
        ..Default::default()
    };
    let mut p = vec![0u8];
    p.extend(body.encode_to_vec());
    save("proto_decode", "grant-request-body", &p)?;
    let key = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let signed = trust_sdk::signed::sign("RequestGrant", &body, "coder-1", &key);
    let mut p = vec![14u8];
    p.extend(signed.encode_to_vec());
    save("proto_decode", "signed-request", &p)?;
    let mut p = vec![23u8];
    p.extend(signed.encode_to_vec());
    save("proto_decode", "signed-request-any-body", &p)?;
    let mut p = vec![5u8];
    p.extend(
        apb::DeriveGrantBody {
            freshness: freshness.clone(),
            derived_grant: token.clone(),
        }
        .encode_to_vec(),
    );
    save("proto_decode", "derive-grant-body", &p)?;
    let mut p = vec![12u8];
    p.extend(
        epb::ExportProvenanceBody {
            freshness: freshness.clone(),
            after_sequence: 42,
        }
        .encode_to_vec(),
    );
    save("proto_decode", "export-provenance-body", &p)?;
    let mut p = vec![16u8];
    p.extend(apb::ListRevocationsRequest { after_sequence: 7 }.encode_to_vec());
    save("proto_decode", "list-revocations", &p)?;
    println!("seeds written under {}/corpus", env!("CARGO_MANIFEST_DIR"));
    Ok(())
}
