//! Tidy checks over the source tree, run as tests: each service has one wire edge.
//!
//! * Below a service's `rpc/` nothing names tonic or the generated types (`trust_proto`,
//!   `pb::`): domain code takes and returns domain types.
//! * gRPC statuses are built in one file per service (its status module), nowhere else.
//! * No `crate::` import cycle between the files of a crate.
//!
//! [`EDGES`] lists the services; adding one is one row.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "tests"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use regex::Regex;
use trust_tests::binaries::workspace_root;

/// One service's wire edge: its sources, the folder (and module file) of its edge, and the
/// one file that builds gRPC statuses.
struct Edge {
    src: &'static str,
    rpc_dir: &'static str,
    rpc_module: &'static str,
    status_file: &'static str,
}

const EDGES: &[Edge] = &[
    Edge {
        src: "authority/src",
        rpc_dir: "authority/src/rpc",
        rpc_module: "authority/src/rpc.rs",
        status_file: "authority/src/rpc/status.rs",
    },
    Edge {
        src: "executor/src",
        rpc_dir: "executor/src/rpc",
        rpc_module: "executor/src/rpc.rs",
        status_file: "executor/src/rpc/status.rs",
    },
];

/// Words that name the wire below the edge.
const WIRE_WORDS: &str = r"\btonic\b|\btrust_proto\b|\bpb::";
/// A status built by hand: `Status::new`, `Status::internal(..)`, `Status::from(..)`, ...
const STATUS_BUILT: &str = r"\bStatus::[a-z_]+|\bStatus\s*\{";

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The file's code without comments (line comments and doc comments).
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `(file, line number, line)` of every match of `pattern` in `files`.
fn offences(files: &[PathBuf], pattern: &Regex) -> Vec<String> {
    let root = workspace_root();
    let mut out = Vec::new();
    for file in files {
        for (n, line) in code(file).lines().enumerate() {
            if pattern.is_match(line) {
                let shown = file.strip_prefix(&root).unwrap_or(file);
                out.push(format!("{}:{}: {}", shown.display(), n + 1, line.trim()));
            }
        }
    }
    out
}

#[test]
fn nothing_below_the_edge_names_the_wire() {
    let root = workspace_root();
    let pattern = Regex::new(WIRE_WORDS).unwrap();
    for edge in EDGES {
        let below: Vec<PathBuf> = rust_files(&root.join(edge.src))
            .into_iter()
            .filter(|f| !f.starts_with(root.join(edge.rpc_dir)) && *f != root.join(edge.rpc_module))
            .collect();
        assert!(!below.is_empty(), "no sources under {}", edge.src);
        let found = offences(&below, &pattern);
        assert!(
            found.is_empty(),
            "outside {} nothing may name tonic or generated types:\n{}",
            edge.rpc_dir,
            found.join("\n")
        );
    }
}

#[test]
fn statuses_are_built_in_one_file_per_service() {
    let root = workspace_root();
    let pattern = Regex::new(STATUS_BUILT).unwrap();
    for edge in EDGES {
        let status_file = root.join(edge.status_file);
        assert!(status_file.exists(), "{} is missing", edge.status_file);
        let others: Vec<PathBuf> = rust_files(&root.join(edge.src))
            .into_iter()
            .filter(|f| *f != status_file)
            .collect();
        let found = offences(&others, &pattern);
        assert!(
            found.is_empty(),
            "statuses are built only in {}:\n{}",
            edge.status_file,
            found.join("\n")
        );
    }
}

/// The file a `crate::a::b::c` path lives in: the longest prefix that is a file of `src`.
fn module_file(src: &Path, path: &str) -> Option<PathBuf> {
    let segments: Vec<&str> = path.split("::").collect();
    (1..=segments.len()).rev().find_map(|n| {
        let mut file = src.join(segments[..n].join("/"));
        file.set_extension("rs");
        file.exists().then_some(file)
    })
}

/// The top-level items of a `crate::{a::B, c::{D, E}}` group: `a::B`, `c`.
fn group_items(group: &str) -> Vec<String> {
    let (mut items, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for c in group.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .iter()
        .map(|i| i.split("::{").next().unwrap_or("").trim().to_string())
        .filter(|i| !i.is_empty())
        .collect()
}

/// Which files of `src` each file names through `crate::` paths, or through `super::` paths to
/// a sibling file (a child naming its own parent module is how Rust nests modules, not a cycle).
fn crate_imports(src: &Path) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
    let path = Regex::new(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)").unwrap();
    let group = Regex::new(r"crate::\{([^;]*)\}").unwrap();
    let sibling = Regex::new(r"\bsuper::([a-z_][a-z0-9_]*)").unwrap();
    let mut graph = BTreeMap::new();
    for file in rust_files(src) {
        let text = code(&file);
        let mut names: Vec<String> = path
            .captures_iter(&text)
            .map(|c| c[1].to_string())
            .collect();
        for c in group.captures_iter(&text) {
            names.extend(group_items(&c[1]));
        }
        let mut deps: BTreeSet<PathBuf> = names
            .iter()
            .filter_map(|n| module_file(src, n))
            .filter(|d| *d != file)
            .collect();
        if let Some(dir) = file.parent() {
            deps.extend(
                sibling
                    .captures_iter(&text)
                    .map(|c| dir.join(format!("{}.rs", &c[1])))
                    .filter(|d| d.exists() && *d != file),
            );
        }
        graph.insert(file, deps);
    }
    graph
}

/// Every library and binary crate of the workspace: none may have an import cycle.
const CRATE_SOURCES: &[&str] = &[
    "sdk/src",
    "trustctl/src",
    "sandbox/src",
    "authority/src",
    "executor/src",
    "tests/src",
];

/// Every cycle found by a depth-first walk, as the files around it.
fn cycles(graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Vec<Vec<PathBuf>> {
    fn walk(
        node: &PathBuf,
        graph: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        state: &mut BTreeMap<PathBuf, bool>,
        stack: &mut Vec<PathBuf>,
        found: &mut Vec<Vec<PathBuf>>,
    ) {
        state.insert(node.clone(), false);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next) {
                Some(false) => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    found.push(cycle);
                }
                Some(true) => {}
                None => walk(next, graph, state, stack, found),
            }
        }
        stack.pop();
        state.insert(node.clone(), true);
    }
    let (mut state, mut stack, mut found) = (BTreeMap::new(), Vec::new(), Vec::new());
    for node in graph.keys() {
        if !state.contains_key(node) {
            walk(node, graph, &mut state, &mut stack, &mut found);
        }
    }
    found
}

#[test]
fn no_import_cycle_between_files() {
    let root = workspace_root();
    for crate_src in CRATE_SOURCES {
        let src = root.join(crate_src);
        let found: Vec<String> = cycles(&crate_imports(&src))
            .iter()
            .map(|cycle| {
                cycle
                    .iter()
                    .map(|f| f.strip_prefix(&src).unwrap_or(f).display().to_string())
                    .collect::<Vec<_>>()
                    .join(" -> ")
            })
            .collect();
        assert!(
            found.is_empty(),
            "import cycles in {}:\n{}",
            crate_src,
            found.join("\n")
        );
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("a.rs", "use crate::b::Thing;\n");
    write("b.rs", "use crate::{c, d::Other};\n// use crate::a;\n");
    write("c.rs", "fn f() { crate::a::g() }\n");
    write("d.rs", "use crate::a::{self, X};\n");
    let graph = crate_imports(dir.path());
    let found = cycles(&graph);
    assert!(!found.is_empty(), "{graph:?}");
    let names: BTreeSet<String> = found
        .iter()
        .flatten()
        .map(|f| f.file_name().unwrap().to_string_lossy().to_string())
        .collect();
    assert_eq!(
        names,
        ["a.rs", "b.rs", "c.rs", "d.rs"]
            .map(String::from)
            .into_iter()
            .collect()
    );
    assert_eq!(group_items("c, d::Other"), vec!["c", "d::Other"]);
    assert_eq!(group_items("a::{self, X}, b"), vec!["a", "b"]);
}

#[test]
fn the_cycle_check_finds_a_cycle_between_sibling_modules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("shell")).unwrap();
    let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    write("shell.rs", "mod parse;\nmod categories;\n");
    write(
        "shell/parse.rs",
        "use super::categories::Category;\nuse super::ShellError;\n",
    );
    write("shell/categories.rs", "use super::parse::SimpleCommand;\n");
    let found = cycles(&crate_imports(dir.path()));
    assert_eq!(found.len(), 1, "{found:?}");
    // A child naming its parent module (`super::ShellError` is in shell.rs) is no cycle.
    write("shell/categories.rs", "use super::ShellError;\n");
    assert!(cycles(&crate_imports(dir.path())).is_empty());
}
