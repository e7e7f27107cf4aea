//! Small helpers shared by the end-to-end test modules.

use trust_proto::executor::v1 as pb;
use trust_proto::executor::v1::invocation::Operation as Op;

pub fn read(path: &str) -> Op {
    Op::Read(pb::ReadRequest {
        path: path.into(),
        offset: 0,
        length: 0,
    })
}

pub fn list(path: &str) -> Op {
    Op::List(pb::ListRequest {
        path: path.into(),
        max_depth: 0,
        max_entries: 0,
    })
}

pub fn search(path: &str, pattern: &str) -> Op {
    Op::Search(pb::SearchRequest {
        path: path.into(),
        pattern: pattern.into(),
        ..Default::default()
    })
}

pub fn write(path: &str, content: &[u8]) -> Op {
    Op::Write(pb::WriteRequest {
        path: path.into(),
        content: content.to_vec(),
        ..Default::default()
    })
}

pub fn patch(diff: &str) -> Op {
    Op::Patch(pb::PatchRequest {
        path: String::new(),
        diff: diff.into(),
    })
}

pub fn run(command: &str) -> Op {
    Op::Run(pb::RunRequest {
        command: command.into(),
        cwd: String::new(),
        timeout_ms: 0,
        file_sha256: Default::default(),
    })
}

pub const FIX_ADD: &str = "--- a/src/calc.sh\n+++ b/src/calc.sh\n@@ -1,4 +1,4 @@\n # A tiny shell \"library\" the demo agent fixes: add() has a bug.\n add() {\n-  echo $(($1 - $2))\n+  echo $(($1 + $2))\n }\n";

/// gRPC code name of an SDK error, e.g. "PermissionDenied".
pub fn code(err: &trust_sdk::SdkError) -> String {
    match err {
        trust_sdk::SdkError::Rpc { code, .. } => code.clone(),
        other => format!("not an rpc error: {other}"),
    }
}

/// A picture of a directory tree that does not follow symbolic links: relative path →
/// kind and identity (`dir`, `file` with mode, inode, link count, size, mtime and SHA-256,
/// `symlink -> target`, or `other`). Two equal snapshots mean nothing under `root` was
/// created, removed, replaced (even with identical content) or modified.
pub fn snapshot(root: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    use sha2::Digest;
    use std::os::unix::fs::MetadataExt;

    fn walk(
        root: &std::path::Path,
        dir: &std::path::Path,
        out: &mut std::collections::BTreeMap<String, String>,
    ) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let kind = meta.file_type();
            let desc = if kind.is_symlink() {
                format!(
                    "symlink -> {}",
                    std::fs::read_link(&path).unwrap().display()
                )
            } else if kind.is_dir() {
                walk(root, &path, out);
                format!(
                    "dir mode={:o} ino={} mtime={}.{}",
                    meta.mode(),
                    meta.ino(),
                    meta.mtime(),
                    meta.mtime_nsec()
                )
            } else if kind.is_file() {
                let digest = sha2::Sha256::digest(std::fs::read(&path).unwrap());
                format!(
                    "file mode={:o} ino={} nlink={} size={} mtime={}.{} sha256={}",
                    meta.mode(),
                    meta.ino(),
                    meta.nlink(),
                    meta.size(),
                    meta.mtime(),
                    meta.mtime_nsec(),
                    hex::encode(digest)
                )
            } else {
                format!("other mode={:o}", meta.mode())
            };
            out.insert(rel, desc);
        }
    }

    let mut out = std::collections::BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// The request id inside an `ExecuteRequest`'s invocation bytes, if they decode to one.
pub fn request_id_of(request: &pb::ExecuteRequest) -> Option<String> {
    use prost::Message;
    pb::Invocation::decode(request.invocation.as_slice())
        .ok()
        .map(|i| i.request_id)
        .filter(|id| !id.is_empty())
}
