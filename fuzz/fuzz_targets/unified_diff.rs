//! Unified-diff parsing, through `Operation::Patch { .. }.resources()` (the executor's patch
//! parser, `operations/patch.rs`): the input's first line is the base directory, the rest the
//! diff. Every target file the parser reports is a normalized path inside the base directory,
//! so the grant is always checked against the files the patch would touch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tool_executor::operations::Operation;
use tool_executor::workspace::normalize_relative;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, diff) = text.split_once('\n').unwrap_or(("", text));
    let patch = Operation::Patch {
        path: path.to_string(),
        diff: diff.to_string(),
    };
    let Ok(resources) = patch.resources() else {
        return;
    };
    let base = normalize_relative(path).expect("the base was accepted, so it normalizes");
    for r in &resources {
        assert_eq!(
            normalize_relative(r).ok().as_deref(),
            Some(r.as_str()),
            "not normal: {r:?}"
        );
        assert!(!r.is_empty(), "a patch target names the workspace root");
        if !base.is_empty() {
            assert!(
                r.starts_with(&format!("{base}/")),
                "target {r:?} escapes the base directory {base:?}"
            );
        }
    }
});
