//! Which records a query returns, and the export iterator over records and checkpoints.

use super::*;

/// Which records [`ProvenanceLog::query`] returns. Every field that is set must match:
///
/// * `grant_id` matches the record's grant or any grant in its lineage (so a root grant also finds
///   the records of grants attenuated from it);
/// * `resource_prefix` matches if any resource starts with it (plain string prefix);
/// * `since_ms` is inclusive, `until_ms` exclusive;
/// * `limit` caps the number of records returned (the first ones in chain order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProvenanceFilter {
    pub grant_id: Option<String>,
    pub task: Option<String>,
    pub agent: Option<String>,
    pub user: Option<String>,
    pub operation: Option<String>,
    pub resource_prefix: Option<String>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    pub limit: Option<usize>,
    /// Process instances (issue 16): only records of grants bound to this instance.
    pub process_instance: Option<String>,
}

impl ProvenanceFilter {
    /// Whether `record` passes the filter (ignores `limit`).
    pub fn matches(&self, record: &ProvenanceRecord) -> bool {
        fn same(wanted: &Option<String>, actual: &Option<String>) -> bool {
            wanted.as_ref().is_none_or(|w| actual.as_ref() == Some(w))
        }
        let grant_ok = self.grant_id.as_ref().is_none_or(|g| {
            record.grant_id.as_ref() == Some(g) || record.lineage.iter().any(|l| l == g)
        });
        grant_ok
            && same(&self.task, &record.task)
            && same(&self.agent, &record.agent)
            && same(&self.user, &record.user)
            && self
                .operation
                .as_ref()
                .is_none_or(|o| *o == record.operation)
            && self
                .resource_prefix
                .as_ref()
                .is_none_or(|p| record.resources.iter().any(|r| r.starts_with(p.as_str())))
            && self.since_ms.is_none_or(|since| record.time_ms >= since)
            && self.until_ms.is_none_or(|until| record.time_ms < until)
            && same(&self.process_instance, &record.process_instance)
    }
}

pub(super) type EntrySources = (
    std::iter::Peekable<sled::Iter>,
    std::iter::Peekable<sled::Iter>,
);

/// Iterator over exported entries; see [`ProvenanceLog::export`]. Owns its handles on the store
/// (it keeps the database open while it lives) and is `Send`.
pub struct ExportIter {
    /// The record and checkpoint iterators, or the error to report once (store unavailable).
    pub(super) source: Result<EntrySources, Option<ProvenanceError>>,
    pub(super) done: bool,
}

impl Iterator for ExportIter {
    type Item = Result<ProvenanceEntry, ProvenanceError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (records, checkpoints) = match &mut self.source {
            Ok(sources) => sources,
            Err(error) => {
                self.done = true;
                return error.take().map(Err);
            }
        };
        let take_checkpoint = match (records.peek(), checkpoints.peek()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(Err(_)), _) => false,
            (_, Some(Err(_))) => true,
            // Big-endian keys sort numerically; a checkpoint goes right after its record.
            (Some(Ok((record, _))), Some(Ok((checkpoint, _)))) => checkpoint < record,
        };
        let item = if take_checkpoint {
            checkpoints.next().map(|item| {
                let (k, v) = item?;
                Ok(ProvenanceEntry::Checkpoint(decode_checkpoint(
                    decode_key(&k)?,
                    &v,
                )?))
            })
        } else {
            records.next().map(|item| {
                let (k, v) = item?;
                Ok(ProvenanceEntry::Record(decode_record(decode_key(&k)?, &v)?))
            })
        };
        match item {
            None | Some(Err(_)) => self.done = true,
            Some(Ok(_)) => {}
        }
        item
    }
}
