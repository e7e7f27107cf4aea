//! Tests of every operation and of the confinement against the usual attacks,
//! on real temporary directories and real child processes.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tempfile::TempDir;

use super::*;
use crate::workspace::{ReplaceMode, Workspace};

const SECRET: &str = "top secret\n";

/// One temporary directory holding the workspace `ws/` and a sibling
/// `outside/` (same filesystem) with `outside/secret.txt`.
struct Fixture {
    _tmp: TempDir,
    root: PathBuf,
    outside: PathBuf,
    ws: Workspace,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        let outside = tmp.path().join("outside");
        fs::create_dir(&root).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret.txt"), SECRET).unwrap();
        let ws = Workspace::open(&root).unwrap();
        Fixture {
            _tmp: tmp,
            root,
            outside,
            ws,
        }
    }

    fn file(&self, rel: &str, content: &str) {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    fn read(&self, rel: &str) -> String {
        fs::read_to_string(self.root.join(rel)).unwrap()
    }

    fn secret_unchanged(&self) {
        assert_eq!(
            fs::read_to_string(self.outside.join("secret.txt")).unwrap(),
            SECRET
        );
    }

    async fn exec(&self, op: Operation) -> Result<Outcome, OperationError> {
        execute(&op, &self.ws, &OperationLimits::default()).await
    }

    async fn exec_with(
        &self,
        op: Operation,
        limits: &OperationLimits,
    ) -> Result<Outcome, OperationError> {
        execute(&op, &self.ws, limits).await
    }
}

fn read_op(path: &str) -> Operation {
    Operation::Read {
        path: path.to_string(),
        offset: 0,
        length: 0,
    }
}

fn write_op(path: &str, content: &str) -> Operation {
    Operation::Write {
        path: path.to_string(),
        content: content.as_bytes().to_vec(),
        expected_sha256: None,
        create_only: false,
    }
}

fn list_op(path: &str, max_depth: u32, max_entries: u32) -> Operation {
    Operation::List {
        path: path.to_string(),
        max_depth,
        max_entries,
    }
}

fn search_op(path: &str, pattern: &str, regex: bool) -> Operation {
    Operation::Search {
        path: path.to_string(),
        pattern: pattern.to_string(),
        regex,
        case_insensitive: false,
        max_matches: 0,
    }
}

fn patch_op(path: &str, diff: &str) -> Operation {
    Operation::Patch {
        path: path.to_string(),
        diff: diff.to_string(),
    }
}

fn run_op(argv: &[&str], cwd: &str, timeout: Duration) -> Operation {
    Operation::Run {
        command: NamedCommand {
            name: "test".to_string(),
            argv: argv.iter().map(|s| s.to_string()).collect(),
        },
        cwd: cwd.to_string(),
        timeout,
    }
}

fn expect_read(o: Outcome) -> ReadOutcome {
    match o {
        Outcome::Read(r) => r,
        other => panic!("not a read outcome: {other:?}"),
    }
}

fn expect_list(o: Outcome) -> ListOutcome {
    match o {
        Outcome::List(r) => r,
        other => panic!("not a list outcome: {other:?}"),
    }
}

fn expect_search(o: Outcome) -> SearchOutcome {
    match o {
        Outcome::Search(r) => r,
        other => panic!("not a search outcome: {other:?}"),
    }
}

fn expect_write(o: Outcome) -> WriteOutcome {
    match o {
        Outcome::Write(r) => r,
        other => panic!("not a write outcome: {other:?}"),
    }
}

fn expect_patch(o: Outcome) -> PatchOutcome {
    match o {
        Outcome::Patch(r) => r,
        other => panic!("not a patch outcome: {other:?}"),
    }
}

fn assert_invalid_path(r: Result<Outcome, OperationError>) {
    match r {
        Err(OperationError::InvalidPath { .. }) => {}
        other => panic!("expected InvalidPath, got {other:?}"),
    }
}

fn assert_outside(r: Result<Outcome, OperationError>) {
    match r {
        Err(OperationError::OutsideWorkspace(_)) => {}
        other => panic!("expected OutsideWorkspace, got {other:?}"),
    }
}

/// No error message may show the workspace's host path.
fn assert_no_host_path(f: &Fixture, err: &OperationError) {
    let msg = err.to_string();
    let tmp = f.root.parent().unwrap().to_str().unwrap();
    assert!(!msg.contains(tmp), "message leaks host path: {msg}");
}

// ---------------------------------------------------------------- fs.read

#[tokio::test]
async fn read_whole_range_and_cap() {
    let f = Fixture::new();
    f.file("dir/hello.txt", "hello world");
    let r = expect_read(f.exec(read_op("dir/hello.txt")).await.unwrap());
    assert_eq!(r.data, b"hello world");
    assert_eq!(r.file_size, 11);
    assert!(!r.truncated);
    assert_eq!(r.sha256, sha256_hex(b"hello world"));

    let r = expect_read(
        f.exec(Operation::Read {
            path: "./dir//hello.txt".to_string(),
            offset: 6,
            length: 3,
        })
        .await
        .unwrap(),
    );
    assert_eq!(r.data, b"wor");
    assert!(r.truncated);

    let limits = OperationLimits {
        max_read_bytes: 4,
        ..OperationLimits::default()
    };
    let r = expect_read(
        f.exec_with(read_op("dir/hello.txt"), &limits)
            .await
            .unwrap(),
    );
    assert_eq!(r.data, b"hell");
    assert!(r.truncated);
    let r = expect_read(
        f.exec_with(
            Operation::Read {
                path: "dir/hello.txt".to_string(),
                offset: 0,
                length: 1 << 30,
            },
            &limits,
        )
        .await
        .unwrap(),
    );
    assert_eq!(r.data, b"hell");

    let r = expect_read(
        f.exec(Operation::Read {
            path: "dir/hello.txt".to_string(),
            offset: 100,
            length: 0,
        })
        .await
        .unwrap(),
    );
    assert!(r.data.is_empty());
    assert!(!r.truncated);
}

#[tokio::test]
async fn read_errors() {
    let f = Fixture::new();
    f.file("d/x", "x");
    assert!(matches!(
        f.exec(read_op("missing")).await,
        Err(OperationError::NotFound(_))
    ));
    assert!(matches!(
        f.exec(read_op("d")).await,
        Err(OperationError::InvalidInput(_))
    ));
    assert!(matches!(
        f.exec(read_op("")).await,
        Err(OperationError::InvalidInput(_))
    ));
    // A file used as a directory.
    assert_invalid_path(f.exec(read_op("d/x/y")).await);
}

#[tokio::test]
async fn read_fifo_is_refused_without_blocking() {
    let f = Fixture::new();
    rustix::fs::mknodat(
        f.ws.root_fd(),
        "fifo",
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o644),
        0,
    )
    .unwrap();
    assert!(matches!(
        f.exec(read_op("fifo")).await,
        Err(OperationError::InvalidInput(_))
    ));
}

// ---------------------------------------------------------------- fs.list

#[tokio::test]
async fn list_walks_sorted_with_depth_and_cap() {
    let f = Fixture::new();
    f.file("b.txt", "bb");
    f.file("a/one.txt", "1");
    f.file("a/deep/two.txt", "22");
    f.file("c/three.txt", "333");
    symlink(&f.outside, f.root.join("out")).unwrap();

    let l = expect_list(f.exec(list_op("", 0, 0)).await.unwrap());
    let paths: Vec<_> = l.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "a",
            "a/deep",
            "a/deep/two.txt",
            "a/one.txt",
            "b.txt",
            "c",
            "c/three.txt",
            "out"
        ]
    );
    assert!(!l.truncated);
    let out = l.entries.iter().find(|e| e.path == "out").unwrap();
    assert_eq!(out.kind, EntryKind::Symlink);
    let b = l.entries.iter().find(|e| e.path == "b.txt").unwrap();
    assert_eq!((b.kind, b.size), (EntryKind::File, 2));
    assert_eq!(l.entries[0].kind, EntryKind::Directory);
    // Nothing from behind the symlink.
    assert!(!l.entries.iter().any(|e| e.path.contains("secret")));

    let l = expect_list(f.exec(list_op(".", 1, 0)).await.unwrap());
    let paths: Vec<_> = l.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["a", "b.txt", "c", "out"]);

    let l = expect_list(f.exec(list_op("a", 0, 0)).await.unwrap());
    let paths: Vec<_> = l.entries.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["a/deep", "a/deep/two.txt", "a/one.txt"]);

    let l = expect_list(f.exec(list_op("", 0, 3)).await.unwrap());
    assert_eq!(l.entries.len(), 3);
    assert!(l.truncated);

    let limits = OperationLimits {
        max_list_entries: 2,
        ..OperationLimits::default()
    };
    let l = expect_list(f.exec_with(list_op("", 0, 100), &limits).await.unwrap());
    assert_eq!(l.entries.len(), 2);
    assert!(l.truncated);

    // Listing a symlink reports the link itself.
    let l = expect_list(f.exec(list_op("out", 0, 0)).await.unwrap());
    assert_eq!(l.entries.len(), 1);
    assert_eq!(l.entries[0].kind, EntryKind::Symlink);

    // `out/` normalizes to `out`: the link itself, never its target.
    let l = expect_list(f.exec(list_op("out/", 0, 0)).await.unwrap());
    assert_eq!(l.entries.len(), 1);
    assert_eq!(
        (l.entries[0].path.as_str(), l.entries[0].kind),
        ("out", EntryKind::Symlink)
    );
    // Through the symlink: refused by the kernel.
    assert_outside(f.exec(list_op("out/x", 0, 0)).await);
    assert_invalid_path(f.exec(list_op("..", 0, 0)).await);
}

// ---------------------------------------------------------------- fs.search

#[tokio::test]
async fn search_literal_regex_and_case() {
    let f = Fixture::new();
    f.file("src/main.rs", "fn main() {\n    println!(\"Hello\");\n}\n");
    f.file("src/lib.rs", "pub fn hello() {}\r\npub fn a.b() {}\n");
    f.file("README", "say hello\n");

    let s = expect_search(f.exec(search_op("", "hello", false)).await.unwrap());
    let found: Vec<_> = s
        .matches
        .iter()
        .map(|m| (m.path.as_str(), m.line_number, m.line.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            ("README", 1, "say hello"),
            ("src/lib.rs", 1, "pub fn hello() {}")
        ]
    );
    assert_eq!(s.files_scanned, 3);
    assert!(!s.truncated);

    let mut op = search_op("src", "HELLO", false);
    if let Operation::Search {
        case_insensitive, ..
    } = &mut op
    {
        *case_insensitive = true;
    }
    let s = expect_search(f.exec(op).await.unwrap());
    assert_eq!(s.matches.len(), 2);

    // Literal: the dot is not a wildcard.
    let s = expect_search(f.exec(search_op("", "a.b", false)).await.unwrap());
    assert_eq!(s.matches.len(), 1);
    let s = expect_search(
        f.exec(search_op("", "fn [a-z]+\\(\\)", true))
            .await
            .unwrap(),
    );
    assert_eq!(s.matches.len(), 2);
    let s = expect_search(f.exec(search_op("", "a(b", false)).await.unwrap());
    assert!(s.matches.is_empty());

    // A single file.
    let s = expect_search(
        f.exec(search_op("src/main.rs", "main", false))
            .await
            .unwrap(),
    );
    assert_eq!(s.matches.len(), 1);
    assert_eq!(s.matches[0].line_number, 1);
    assert_eq!(s.files_scanned, 1);
}

#[tokio::test]
async fn search_skips_binary_large_symlinked_and_caps() {
    let f = Fixture::new();
    f.file("text.txt", "needle\nneedle\nneedle\n");
    fs::write(f.root.join("bin.dat"), b"needle\0binary").unwrap();
    f.file("big.txt", &"needle\n".repeat(100));
    fs::write(f.outside.join("also.txt"), "needle outside\n").unwrap();
    symlink(&f.outside, f.root.join("out")).unwrap();
    symlink(f.outside.join("also.txt"), f.root.join("also.txt")).unwrap();

    let limits = OperationLimits {
        max_search_file_bytes: 100,
        ..OperationLimits::default()
    };
    let s = expect_search(
        f.exec_with(search_op("", "needle", false), &limits)
            .await
            .unwrap(),
    );
    assert_eq!(s.matches.len(), 3);
    assert!(s.matches.iter().all(|m| m.path == "text.txt"));
    assert_eq!(s.binary_files_skipped, 1);
    assert_eq!(s.files_scanned, 1);

    let mut op = search_op("", "needle", false);
    if let Operation::Search { max_matches, .. } = &mut op {
        *max_matches = 2;
    }
    let s = expect_search(f.exec_with(op, &limits).await.unwrap());
    assert_eq!(s.matches.len(), 2);
    assert!(s.truncated);

    assert_outside(f.exec(search_op("out", "needle", false)).await);
    assert_outside(f.exec(search_op("out/also.txt", "needle", false)).await);
}

#[tokio::test]
async fn search_rejects_bad_patterns() {
    let f = Fixture::new();
    assert!(matches!(
        f.exec(search_op("", "a(b", true)).await,
        Err(OperationError::InvalidInput(_))
    ));
    assert!(matches!(
        f.exec(search_op("", "", false)).await,
        Err(OperationError::InvalidInput(_))
    ));
    assert!(matches!(
        f.exec(search_op("", "\\w{1000}{1000}", true)).await,
        Err(OperationError::TooLarge(_))
    ));
}

// ---------------------------------------------------------------- fs.write

#[tokio::test]
async fn write_create_replace_and_preconditions() {
    let f = Fixture::new();
    let w = expect_write(f.exec(write_op("new/dir/file.txt", "v1")).await.unwrap());
    assert!(w.created);
    assert_eq!(w.bytes_written, 2);
    assert_eq!(w.sha256, sha256_hex(b"v1"));
    assert_eq!(f.read("new/dir/file.txt"), "v1");
    let mode = fs::metadata(f.root.join("new/dir/file.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);

    let w = expect_write(f.exec(write_op("new/dir/file.txt", "v2")).await.unwrap());
    assert!(!w.created);
    assert_eq!(f.read("new/dir/file.txt"), "v2");

    // create_only refuses an existing file.
    let r = f
        .exec(Operation::Write {
            path: "new/dir/file.txt".to_string(),
            content: b"v3".to_vec(),
            expected_sha256: None,
            create_only: true,
        })
        .await;
    assert!(matches!(r, Err(OperationError::PreconditionFailed(_))));
    assert_eq!(f.read("new/dir/file.txt"), "v2");
    let w = expect_write(
        f.exec(Operation::Write {
            path: "fresh.txt".to_string(),
            content: b"x".to_vec(),
            expected_sha256: None,
            create_only: true,
        })
        .await
        .unwrap(),
    );
    assert!(w.created);

    // expected_sha256: matching (any case), different, missing file.
    let good = sha256_hex(b"v2").to_uppercase();
    let w = expect_write(
        f.exec(Operation::Write {
            path: "new/dir/file.txt".to_string(),
            content: b"v3".to_vec(),
            expected_sha256: Some(good.clone()),
            create_only: false,
        })
        .await
        .unwrap(),
    );
    assert!(!w.created);
    assert_eq!(f.read("new/dir/file.txt"), "v3");
    let r = f
        .exec(Operation::Write {
            path: "new/dir/file.txt".to_string(),
            content: b"v4".to_vec(),
            expected_sha256: Some(good.clone()),
            create_only: false,
        })
        .await;
    assert!(matches!(r, Err(OperationError::PreconditionFailed(_))));
    assert_eq!(f.read("new/dir/file.txt"), "v3");
    let r = f
        .exec(Operation::Write {
            path: "nope/missing.txt".to_string(),
            content: b"v".to_vec(),
            expected_sha256: Some(good),
            create_only: false,
        })
        .await;
    assert!(matches!(r, Err(OperationError::PreconditionFailed(_))));
    // A failed precondition creates no parent directory.
    assert!(!f.root.join("nope").exists());
    let r = f
        .exec(Operation::Write {
            path: "x".to_string(),
            content: b"v".to_vec(),
            expected_sha256: Some("zz".to_string()),
            create_only: false,
        })
        .await;
    assert!(matches!(r, Err(OperationError::InvalidInput(_))));

    // No temporary files left behind.
    let leftovers: Vec<_> = fs::read_dir(f.root.join("new/dir"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1);
}

#[tokio::test]
async fn write_limits_and_bad_targets() {
    let f = Fixture::new();
    let limits = OperationLimits {
        max_write_bytes: 3,
        ..OperationLimits::default()
    };
    assert!(matches!(
        f.exec_with(write_op("a", "four"), &limits).await,
        Err(OperationError::TooLarge(_))
    ));
    assert!(!f.root.join("a").exists());
    fs::create_dir(f.root.join("dir")).unwrap();
    assert!(matches!(
        f.exec(write_op("dir", "x")).await,
        Err(OperationError::InvalidInput(_))
    ));
    assert_invalid_path(f.exec(write_op("", "x")).await);
    assert_invalid_path(f.exec(write_op(".", "x")).await);
    // Percent encoding is a literal name inside the workspace.
    f.exec(write_op("%2e%2e/x", "lit")).await.unwrap();
    assert_eq!(f.read("%2e%2e/x"), "lit");
}

// ---------------------------------------------------------------- fs.patch

#[tokio::test]
async fn patch_multi_file_with_creation() {
    let f = Fixture::new();
    f.file("src/a.txt", "one\ntwo\nthree\n");
    f.file("src/c.txt", "alpha\n-- dashes\nomega\n");
    let diff = "\
diff --git a/a.txt b/a.txt
index 000..111 100644
--- a/a.txt
+++ b/a.txt
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
--- a/c.txt
+++ b/c.txt
@@ -1,3 +1,2 @@
 alpha
--- dashes
 omega
--- /dev/null
+++ b/new/b.txt
@@ -0,0 +1,2 @@
+hello
+world
";
    let op = patch_op("src", diff);
    assert_eq!(
        op.resources().unwrap(),
        ["src/a.txt", "src/c.txt", "src/new/b.txt"]
    );
    let p = expect_patch(f.exec(op).await.unwrap());
    assert_eq!(f.read("src/a.txt"), "one\nTWO\nthree\n");
    assert_eq!(f.read("src/c.txt"), "alpha\nomega\n");
    assert_eq!(f.read("src/new/b.txt"), "hello\nworld\n");
    assert_eq!(p.files.len(), 3);
    assert_eq!(p.files[0].path, "src/a.txt");
    assert_eq!(p.files[0].hunks, 1);
    assert_eq!(p.files[0].sha256, sha256_hex(b"one\nTWO\nthree\n"));
    assert_eq!(p.files[2].path, "src/new/b.txt");
}

#[tokio::test]
async fn patch_handles_missing_final_newline() {
    let f = Fixture::new();
    f.file("n.txt", "keep\nold");
    let diff = "\
--- a/n.txt
+++ b/n.txt
@@ -1,2 +1,2 @@
 keep
-old
\\ No newline at end of file
+new
\\ No newline at end of file
";
    expect_patch(f.exec(patch_op("", diff)).await.unwrap());
    assert_eq!(f.read("n.txt"), "keep\nnew");
}

#[tokio::test]
async fn patch_with_one_bad_hunk_writes_nothing() {
    let f = Fixture::new();
    f.file("a.txt", "one\ntwo\nthree\n");
    f.file("b.txt", "x\ny\nz\n");
    let diff = "\
--- a/a.txt
+++ b/a.txt
@@ -1,3 +1,3 @@
 one
-two
+TWO
 three
--- /dev/null
+++ b/created.txt
@@ -0,0 +1 @@
+new
--- a/b.txt
+++ b/b.txt
@@ -1,2 +1,2 @@
 x
-y
+Y
@@ -3,1 +3,1 @@
-not-there
+Z
";
    let r = f.exec(patch_op("", diff)).await;
    assert!(matches!(r, Err(OperationError::PatchRejected(_))), "{r:?}");
    assert_eq!(f.read("a.txt"), "one\ntwo\nthree\n");
    assert_eq!(f.read("b.txt"), "x\ny\nz\n");
    assert!(!f.root.join("created.txt").exists());
}

#[tokio::test]
async fn patch_refuses_escapes_and_unsupported_forms() {
    let f = Fixture::new();
    f.file("sub/x", "a\n");
    for target in ["../x", "a/../../x", "b/../x", "/etc/passwd"] {
        let diff = format!("--- a/x\n+++ {target}\n@@ -1 +1 @@\n-a\n+b\n");
        let op = patch_op("sub", &diff);
        assert!(
            matches!(op.resources(), Err(OperationError::InvalidPath { .. })),
            "{target}"
        );
        let diff = format!("--- /dev/null\n+++ {target}\n@@ -0,0 +1 @@\n+b\n");
        assert_invalid_path(f.exec(patch_op("sub", &diff)).await);
    }
    assert_eq!(f.read("sub/x"), "a\n");
    assert!(!f.root.parent().unwrap().join("x").exists());

    let deletion = "--- a/x\n+++ /dev/null\n@@ -1 +0,0 @@\n-a\n";
    assert!(matches!(
        f.exec(patch_op("sub", deletion)).await,
        Err(OperationError::InvalidInput(_))
    ));
    let rename = "--- a/x\n+++ b/y\n@@ -1 +1 @@\n-a\n+b\n";
    assert!(matches!(
        patch_op("sub", rename).resources(),
        Err(OperationError::InvalidInput(_))
    ));
    for garbage in [
        "",
        "just text\n",
        "@@ -1 +1 @@\n-a\n+b\n",
        "--- a/x\n+++ b/x\n",
    ] {
        assert!(
            matches!(
                patch_op("sub", garbage).resources(),
                Err(OperationError::InvalidInput(_))
            ),
            "{garbage:?}"
        );
    }
    // Hunk longer than its header says.
    let long = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n+c\n";
    assert!(patch_op("sub", long).resources().is_err());
    // Creating a file that exists is refused.
    let create = "--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+b\n";
    assert!(matches!(
        f.exec(patch_op("sub", create)).await,
        Err(OperationError::PatchRejected(_))
    ));
    // Patching a missing file.
    let missing = "--- a/nope\n+++ b/nope\n@@ -1 +1 @@\n-a\n+b\n";
    assert!(matches!(
        f.exec(patch_op("sub", missing)).await,
        Err(OperationError::NotFound(_))
    ));
    assert_eq!(f.read("sub/x"), "a\n");
}

#[tokio::test]
async fn patch_through_symlink_is_refused() {
    let f = Fixture::new();
    symlink(f.outside.join("secret.txt"), f.root.join("s.txt")).unwrap();
    symlink(&f.outside, f.root.join("out")).unwrap();
    let diff = "--- a/s.txt\n+++ b/s.txt\n@@ -1 +1 @@\n-top secret\n+pwned\n";
    assert_outside(f.exec(patch_op("", diff)).await);
    let diff = "--- a/secret.txt\n+++ b/secret.txt\n@@ -1 +1 @@\n-top secret\n+pwned\n";
    assert_outside(f.exec(patch_op("out", diff)).await);
    let create = "--- /dev/null\n+++ b/out/new.txt\n@@ -0,0 +1 @@\n+x\n";
    assert_outside(f.exec(patch_op("", create)).await);
    f.secret_unchanged();
    assert!(!f.outside.join("new.txt").exists());
}

// ---------------------------------------------------------------- attacks

#[tokio::test]
async fn traversal_absolute_nul_and_long_paths_are_refused() {
    let f = Fixture::new();
    let long = "a/".repeat(3000);
    let long_component = "c".repeat(256);
    for bad in [
        "..",
        "../outside/secret.txt",
        "a/../../outside/secret.txt",
        "./..",
        "./../outside/secret.txt",
        "/etc/passwd",
        f.outside.join("secret.txt").to_str().unwrap(),
        "secret\0.txt",
        "..\\outside\\secret.txt",
        long.as_str(),
        long_component.as_str(),
    ] {
        let r = f.exec(read_op(bad)).await;
        assert_invalid_path(r.clone());
        if !bad.starts_with('/') {
            // (An absolute path is echoed back as the caller gave it.)
            assert_no_host_path(&f, &r.unwrap_err());
        }
        assert_invalid_path(f.exec(write_op(bad, "pwned")).await);
        assert_invalid_path(f.exec(list_op(bad, 0, 0)).await);
        assert_invalid_path(f.exec(search_op(bad, "secret", false)).await);
        assert_invalid_path(f.exec(run_op(&["true"], bad, Duration::ZERO)).await);
        assert!(read_op(bad).resources().is_err());
    }
    f.secret_unchanged();
}

#[tokio::test]
async fn symlinks_to_outside_are_refused_by_the_kernel() {
    let f = Fixture::new();
    symlink(f.outside.join("secret.txt"), f.root.join("file-link")).unwrap();
    symlink(&f.outside, f.root.join("dir-link")).unwrap();
    fs::create_dir(f.root.join("mid")).unwrap();
    symlink("../../outside", f.root.join("mid/up")).unwrap();
    symlink("/", f.root.join("rootlink")).unwrap();
    symlink("/proc/self/root", f.root.join("proclink")).unwrap();

    for path in [
        "file-link",
        "dir-link/secret.txt",
        "mid/up/secret.txt",
        "rootlink/etc/passwd",
        "proclink/etc/passwd",
        "proclink/proc/self/root/etc/passwd",
    ] {
        let r = f.exec(read_op(path)).await;
        assert_outside(r.clone());
        assert_no_host_path(&f, &r.unwrap_err());
        assert_outside(f.exec(search_op(path, "secret", false)).await);
    }
    assert_outside(f.exec(list_op("dir-link/x", 0, 0)).await);
    assert_outside(f.exec(list_op("mid/up/sub", 0, 0)).await);
    // Listing `mid` shows the link, not what it points to.
    let l = expect_list(f.exec(list_op("mid", 0, 0)).await.unwrap());
    assert_eq!(l.entries.len(), 1);
    assert_eq!(l.entries[0].kind, EntryKind::Symlink);
    assert_outside(f.exec(run_op(&["true"], "dir-link", Duration::ZERO)).await);
    // A symlink that stays inside is refused too: none is ever followed.
    f.file("real.txt", "inside");
    symlink("real.txt", f.root.join("inner-link")).unwrap();
    assert_outside(f.exec(read_op("inner-link")).await);
    // `/proc/self/root` spelled as a relative path is just a missing file.
    assert!(matches!(
        f.exec(read_op("proc/self/root/etc/passwd")).await,
        Err(OperationError::NotFound(_))
    ));
    f.secret_unchanged();
}

#[tokio::test]
async fn writes_through_symlinks_never_touch_outside() {
    let f = Fixture::new();
    symlink(f.outside.join("secret.txt"), f.root.join("file-link")).unwrap();
    symlink(&f.outside, f.root.join("dir-link")).unwrap();

    assert_outside(f.exec(write_op("file-link", "pwned")).await);
    assert_outside(f.exec(write_op("dir-link/secret.txt", "pwned")).await);
    assert_outside(f.exec(write_op("dir-link/new.txt", "pwned")).await);
    assert_outside(f.exec(write_op("dir-link/deeper/new.txt", "pwned")).await);
    f.secret_unchanged();
    assert!(!f.outside.join("new.txt").exists());
    assert!(!f.outside.join("deeper").exists());
}

#[tokio::test]
async fn symlink_swapped_in_between_two_writes() {
    let f = Fixture::new();
    f.exec(write_op("f.txt", "first")).await.unwrap();
    fs::remove_file(f.root.join("f.txt")).unwrap();
    symlink(f.outside.join("secret.txt"), f.root.join("f.txt")).unwrap();
    assert_outside(f.exec(write_op("f.txt", "second")).await);
    f.secret_unchanged();

    // Swapped in after the checks, during the write: replaced, not followed.
    fs::remove_file(f.root.join("f.txt")).unwrap();
    f.file("f.txt", "first");
    let parent = f.ws.parent("f.txt", false).unwrap();
    let info = parent.stat_target().unwrap().unwrap();
    parent.check_replaceable(&info).unwrap();
    fs::remove_file(f.root.join("f.txt")).unwrap();
    symlink(f.outside.join("secret.txt"), f.root.join("f.txt")).unwrap();
    parent
        .replace_target(b"second", ReplaceMode::Replace)
        .unwrap();
    f.secret_unchanged();
    let meta = fs::symlink_metadata(f.root.join("f.txt")).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(f.read("f.txt"), "second");
}

#[tokio::test]
async fn parent_directory_swapped_for_symlink_during_write() {
    let f = Fixture::new();
    f.file("d/f.txt", "v1");
    let parent = f.ws.parent("d/f.txt", false).unwrap();
    fs::rename(f.root.join("d"), f.root.join("moved")).unwrap();
    symlink(&f.outside, f.root.join("d")).unwrap();
    parent.replace_target(b"v2", ReplaceMode::Replace).unwrap();
    // The write landed in the directory that was opened, not outside.
    assert_eq!(f.read("moved/f.txt"), "v2");
    assert!(!f.outside.join("f.txt").exists());
    f.secret_unchanged();
}

#[tokio::test]
async fn hard_link_to_outside_file_is_refused() {
    let f = Fixture::new();
    fs::hard_link(f.outside.join("secret.txt"), f.root.join("hard.txt")).unwrap();
    let r = f.exec(read_op("hard.txt")).await;
    assert!(matches!(r, Err(OperationError::HardLink(_))), "{r:?}");
    let r = f.exec(write_op("hard.txt", "pwned")).await;
    assert!(matches!(r, Err(OperationError::HardLink(_))), "{r:?}");
    let diff = "--- a/hard.txt\n+++ b/hard.txt\n@@ -1 +1 @@\n-top secret\n+pwned\n";
    let r = f.exec(patch_op("", diff)).await;
    assert!(matches!(r, Err(OperationError::HardLink(_))), "{r:?}");
    let s = expect_search(f.exec(search_op("", "secret", false)).await.unwrap());
    assert!(s.matches.is_empty());
    f.secret_unchanged();
}

// ---------------------------------------------------------------- proc.run

// proc.run with real child processes in the real sandbox: `executor/tests/run.rs` (it needs
// the executor binary as the sandbox launcher). What is refused before anything starts:

#[tokio::test]
async fn run_refuses_before_starting_anything() {
    let f = Fixture::new();
    assert!(matches!(
        f.exec(run_op(&["true"], "missing", Duration::ZERO)).await,
        Err(OperationError::NotFound(_))
    ));
    assert!(matches!(
        f.exec(run_op(&[], "", Duration::ZERO)).await,
        Err(OperationError::InvalidInput(_))
    ));
    // Without a sandbox nothing runs unconfined.
    assert!(matches!(
        f.exec(run_op(&["true"], "", Duration::ZERO)).await,
        Err(OperationError::Sandbox(_))
    ));
}

// ---------------------------------------------------------------- metadata

#[test]
fn names_resources_and_params() {
    let limits = OperationLimits::default();
    assert_eq!(read_op("./a//b/").name(), "fs.read");
    assert_eq!(read_op("./a//b/").resources().unwrap(), ["a/b"]);
    assert_eq!(read_op("").resources().unwrap(), [""]);
    assert_eq!(read_op("x").params(&limits), [("read_bytes", 1 << 20)]);
    assert_eq!(
        Operation::Read {
            path: "x".into(),
            offset: 0,
            length: 10
        }
        .params(&limits),
        [("read_bytes", 10)]
    );
    assert_eq!(list_op("d", 0, 0).name(), "fs.list");
    assert_eq!(
        list_op("d", 0, 0).params(&limits),
        [("list_entries", 1000), ("list_depth", 8)]
    );
    assert_eq!(
        list_op("d", 2, 5).params(&limits),
        [("list_entries", 5), ("list_depth", 2)]
    );
    assert_eq!(search_op("d", "x", false).name(), "fs.search");
    assert_eq!(
        search_op("d", "x", false).params(&limits),
        [("search_matches", 200)]
    );
    assert_eq!(write_op("w", "abc").name(), "fs.write");
    assert_eq!(write_op("w", "abc").params(&limits), [("write_bytes", 3)]);
    let diff = "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n";
    let p = patch_op("", diff);
    assert_eq!(p.name(), "fs.patch");
    assert_eq!(p.resources().unwrap(), ["x"]);
    assert_eq!(p.params(&limits), [("write_bytes", diff.len() as i64)]);
    let r = run_op(&["cargo", "test"], "", Duration::from_secs(5));
    assert_eq!(r.name(), "proc.run");
    assert_eq!(r.resources().unwrap(), ["test"]);
    assert_eq!(
        r.params(&limits),
        [("run_timeout_ms", 5000), ("output_bytes", 1 << 20)]
    );
    assert_eq!(
        run_op(&["x"], "", Duration::ZERO).params(&limits)[0],
        ("run_timeout_ms", 120_000)
    );
    // Every limit name of the grant vocabulary gets a value, 0 where it does not apply.
    let all = write_op("w", "abc").all_params(&limits);
    assert_eq!(all.len(), trust_sdk::vocabulary::LIMIT_NAMES.len());
    assert!(all.contains(&("write_bytes", 3)) && all.contains(&("read_bytes", 0)));
    assert!(run_op(&[], "", Duration::ZERO).resources().is_err());
    assert!(matches!(
        read_op("../x").resources(),
        Err(OperationError::InvalidPath { .. })
    ));
}

#[test]
fn digest_is_stable_and_distinguishes_outcomes() {
    let a = Outcome::Write(WriteOutcome {
        sha256: sha256_hex(b"x"),
        bytes_written: 1,
        created: true,
    });
    let b = Outcome::Write(WriteOutcome {
        sha256: sha256_hex(b"x"),
        bytes_written: 1,
        created: false,
    });
    assert_eq!(a.digest(), a.clone().digest());
    assert_ne!(a.digest(), b.digest());
    assert_eq!(a.digest().len(), 64);
    assert_eq!(a.size(), a.encode().len() as u64);
    // Length prefixes keep field boundaries unambiguous.
    let m = |path: &str, line: &str| {
        Outcome::Search(SearchOutcome {
            matches: vec![SearchMatch {
                path: path.into(),
                line_number: 1,
                line: line.into(),
            }],
            truncated: false,
            files_scanned: 1,
            binary_files_skipped: 0,
        })
    };
    assert_ne!(m("ab", "c").digest(), m("a", "bc").digest());
    let empty_read = Outcome::Read(ReadOutcome {
        data: vec![],
        file_size: 0,
        truncated: false,
        sha256: sha256_hex(b""),
    });
    let empty_list = Outcome::List(ListOutcome {
        entries: vec![],
        truncated: false,
    });
    assert_ne!(empty_read.digest(), empty_list.digest());
}

#[test]
fn errors_are_lowercase_without_trailing_period() {
    let errs = [
        OperationError::InvalidPath {
            path: "x".into(),
            reason: "bad".into(),
        },
        OperationError::InvalidInput("x".into()),
        OperationError::NotFound("`x`".into()),
        OperationError::OutsideWorkspace("x".into()),
        OperationError::HardLink("x".into()),
        OperationError::PreconditionFailed("x".into()),
        OperationError::TooLarge("x".into()),
        OperationError::PatchRejected("x".into()),
        OperationError::Io("x".into()),
    ];
    for e in errs {
        let msg = e.to_string();
        assert_eq!(msg, msg.to_lowercase());
        assert!(!msg.ends_with('.'));
        assert!(!e.kind().is_empty());
    }
}

#[test]
fn workspace_root_path_is_canonical() {
    let tmp = tempfile::tempdir().unwrap();
    let ws = Workspace::open(tmp.path()).unwrap();
    assert_eq!(ws.root_path(), fs::canonicalize(tmp.path()).unwrap());
    assert!(Path::new(ws.root_path()).is_absolute());
}

/// Found by the `unified_diff` fuzz target: a hunk start near `u64::MAX` overflowed an
/// addition inside diffy's parser. Such headers are refused before diffy sees them.
#[test]
fn a_hunk_header_with_huge_numbers_is_refused_not_a_panic() {
    let input = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../fuzz/regressions/unified_diff/hunk-start-overflow"
    ))
    .unwrap();
    let diff = String::from_utf8_lossy(&input).to_string();
    let op = Operation::Patch {
        path: String::new(),
        diff,
    };
    let _ = op.resources();
    let diff = "--- a/x\n+++ b/x\n@@ -18446744073709551615 +1,2 @@\n-a\n+b\n+c\n".to_string();
    let op = Operation::Patch {
        path: String::new(),
        diff,
    };
    assert!(
        matches!(op.resources(), Err(OperationError::InvalidInput(_))),
        "{:?}",
        op.resources()
    );
}
