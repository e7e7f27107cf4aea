//! What a source offers one retrieval before the grant is applied: its labelled documents and
//! what was skipped. Every kind of source produces this (`scan.rs` for a directory,
//! `tool_response.rs` for an HTTP source); `retrieve.rs` filters, redacts and limits it.

use std::collections::BTreeMap;

use super::labels::Document;

/// The labelled documents of one read of a source, and what was skipped.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Labelled documents whose id no other document claims (once [`Candidates::drop_twins`]
    /// ran).
    pub documents: Vec<Document>,
    /// Documents skipped for missing or malformed labels or a duplicated id (and, for a
    /// directory, a file that is not a plain single-link file).
    pub unlabeled: u64,
    /// Documents over the size cap.
    pub oversized: u64,
    /// The read stopped at the scan cap.
    pub truncated: bool,
}

impl Candidates {
    /// Drops every document of `source` whose id another one claims too (an ambiguous id:
    /// neither is returned), counting them as unlabeled, and says so in the log.
    pub fn drop_twins(&mut self, source: &str) {
        let mut count: BTreeMap<String, usize> = BTreeMap::new();
        for d in &self.documents {
            *count.entry(d.id.clone()).or_default() += 1;
        }
        let before = self.documents.len();
        self.documents.retain(|d| count.get(&d.id) == Some(&1));
        let dropped = before - self.documents.len();
        self.unlabeled += dropped as u64;
        if dropped > 0 {
            tracing::warn!(
                source,
                documents = dropped,
                "context documents share an id; none of them is returned"
            );
        }
    }
}
