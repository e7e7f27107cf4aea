//! Governed context retrieval (`context.retrieve`): the document sources this executor guards,
//! and retrieval from them filtered and redacted by the grant before anything leaves.
//!
//! `config.rs` opens the configured sources (`[[context_source]]`, `[context]`) at start;
//! `admission.rs` turns a request into a [`ContextCall`] bound to what the grant (all its
//! blocks, `trust_sdk::vocabulary::context`) lets it read; `tool_source.rs` binds a call for an
//! HTTP source to the upstream call of its certified tool. Both kinds of source produce
//! `candidates::Candidates` of documents checked by `labels.rs`: `scan.rs` walks a directory
//! source without following a symbolic link (`front_matter.rs` reads each document's labels);
//! `upstream_read.rs` fetches an HTTP source's answer through the tool exchange and
//! `tool_response.rs` reads it strictly. `run.rs` dispatches one retrieval; `retrieve.rs`
//! filters, redacts (`redaction.rs`), matches and limits the candidates of either kind; and
//! `record.rs` says in provenance which documents (by id and digest) were returned, through
//! which kind of source and tool, and how often each redaction rule applied, never a redacted
//! value.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::workspace::Workspace;

pub mod admission;
mod candidates;
pub mod config;
mod front_matter;
mod labels;
pub mod record;
mod redaction;
pub mod retrieve;
pub mod run;
mod scan;
pub mod tool_response;
pub mod tool_source;
mod upstream_read;

pub use admission::ContextCall;
pub use retrieve::{AppliedRedaction, ContextOutcome, ReturnedDocument};

/// The kinds of context source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// A tree of text/markdown documents with front-matter labels.
    Directory,
    /// A business API reached through a registered, certified tool (`tool_source.rs`).
    Http,
}

impl SourceKind {
    /// `"directory"` or `"http"`, as the configuration and the records spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Directory => "directory",
            SourceKind::Http => "http",
        }
    }
}

/// Where a source's documents come from.
#[derive(Clone)]
pub enum SourceOrigin {
    /// The source's root, opened once at start; every document is resolved below it by the
    /// kernel (`openat2`, no symbolic links, no mount crossing).
    Directory(Workspace),
    /// The id of the tool whose upstream serves the documents; it must be certified in the
    /// catalog at each retrieval.
    Tool(String),
}

/// One configured source.
#[derive(Clone)]
pub struct ContextSource {
    pub name: String,
    pub origin: SourceOrigin,
}

impl ContextSource {
    /// The source's kind.
    pub fn kind(&self) -> SourceKind {
        match self.origin {
            SourceOrigin::Directory(_) => SourceKind::Directory,
            SourceOrigin::Tool(_) => SourceKind::Http,
        }
    }
}

/// The executor's `[context]` settings.
#[derive(Debug, Clone)]
pub struct ContextSettings {
    /// A document larger than this is skipped (counted as oversized), never read whole.
    pub max_document_bytes: u64,
    /// At most this many documents are read per request; more and the result is truncated.
    pub max_scan_documents: usize,
    /// What the grant's `customer_id` redaction matches; a grant needing it is refused when unset.
    pub customer_id: Option<Arc<regex::Regex>>,
}

impl Default for ContextSettings {
    fn default() -> Self {
        ContextSettings {
            max_document_bytes: 1 << 20,
            max_scan_documents: 10_000,
            customer_id: None,
        }
    }
}

/// Every source this executor guards, by name, and its settings.
#[derive(Clone, Default)]
pub struct ContextSources {
    pub sources: BTreeMap<String, ContextSource>,
    pub settings: ContextSettings,
}

impl ContextSources {
    /// The source called `name`.
    pub fn get(&self, name: &str) -> Option<&ContextSource> {
        self.sources.get(name)
    }
}

impl fmt::Debug for ContextSources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextSources")
            .field("sources", &self.sources.keys().collect::<Vec<_>>())
            .field("settings", &self.settings)
            .finish()
    }
}
