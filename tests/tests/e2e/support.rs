//! Small helpers shared by the end-to-end test modules.

use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::invocation::Operation as Op;

pub fn read(path: &str) -> Op {
    Op::Read(pb::ReadRequest { path: path.into(), offset: 0, length: 0 })
}

pub fn list(path: &str) -> Op {
    Op::List(pb::ListRequest { path: path.into(), max_depth: 0, max_entries: 0 })
}

pub fn search(path: &str, pattern: &str) -> Op {
    Op::Search(pb::SearchRequest { path: path.into(), pattern: pattern.into(), ..Default::default() })
}

pub fn write(path: &str, content: &[u8]) -> Op {
    Op::Write(pb::WriteRequest { path: path.into(), content: content.to_vec(), ..Default::default() })
}

pub fn patch(diff: &str) -> Op {
    Op::Patch(pb::PatchRequest { path: String::new(), diff: diff.into() })
}

pub fn run(command: &str) -> Op {
    Op::Run(pb::RunRequest { command: command.into(), cwd: String::new(), timeout_ms: 0 })
}

pub const FIX_ADD: &str = "--- a/src/calc.sh\n+++ b/src/calc.sh\n@@ -1,4 +1,4 @@\n # A tiny shell \"library\" the demo agent fixes: add() has a bug.\n add() {\n-  echo $(($1 - $2))\n+  echo $(($1 + $2))\n }\n";

/// gRPC code name of an SDK error, e.g. "PermissionDenied".
pub fn code(err: &trust_sdk::SdkError) -> String {
    match err {
        trust_sdk::SdkError::Rpc { code, .. } => code.clone(),
        other => format!("not an rpc error: {other}"),
    }
}
