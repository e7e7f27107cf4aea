//! Shell command classification (`trust_sdk::shell`) with arbitrary text.
//!
//! Nothing may panic; a command that cannot be parsed or classified is denied with rule
//! `unparsable`, one with anything unresolved is denied, and the decision reports exactly the
//! classification's categories. The same text must classify the same way twice (determinism).
//!
//! `trust_sdk::shell` catches panics inside `brush-parser` (0.4 unwraps a `None` in its tokenizer
//! on some input) and denies the command; libFuzzer's panic hook would abort on them first, so
//! this target's hook lets panics located in `brush-parser` unwind and aborts on any other.
#![no_main]

use std::sync::Once;

use libfuzzer_sys::fuzz_target;
use trust_sdk::shell::{classify, decide, evaluate, Effect, ShellPolicy};

static HOOK: Once = Once::new();

fuzz_target!(|data: &[u8]| {
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            let in_parser = info
                .location()
                .is_some_and(|l| l.file().contains("brush-parser"));
            if !in_parser {
                eprintln!("{info}");
                std::process::abort();
            }
        }));
    });
    let command = String::from_utf8_lossy(data);
    let policy = ShellPolicy::coding_default();
    let decision = evaluate(&command, &policy);
    match classify(&command) {
        Err(error) => {
            assert_eq!(decision.effect, Effect::Deny, "{command:?}: {error}");
            assert_eq!(decision.rule, "unparsable", "{command:?}");
        }
        Ok(classification) => {
            assert_eq!(decision, decide(&classification, &policy), "{command:?}");
            assert_eq!(decision.categories, classification.categories);
            if !classification.unresolved.is_empty() {
                assert_eq!(decision.effect, Effect::Deny, "{command:?}");
            }
            for e in &classification.evidence {
                if let Some(i) = e.command {
                    assert!(i < classification.commands.len(), "{command:?}");
                }
            }
        }
    }
});
