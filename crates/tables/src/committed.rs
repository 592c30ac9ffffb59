//! The rows a commit added to an event table, handed by ingest to the aggregator running in the
//! same process (`bidlake up`, `bidlake ingest --aggregate`), so that the aggregator need not
//! read back the files ingest has just written. A shortcut only: the rows of a snapshot that
//! were not handed over (another process's commits, commits dropped for room) are read from the
//! table's files as before.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow_array::RecordBatch;

use crate::EventTable;

/// What the hand-off holds at most; beyond it the oldest commits are dropped (their rows are
/// then read from the files).
pub const MAX_HELD_BYTES: usize = 64 << 20;

/// Rows of committed snapshots, per event table and snapshot id: [`CommittedRows::push`] by
/// the writer once its commit has succeeded, [`CommittedRows::take`] by the reader.
#[derive(Clone, Default)]
pub struct CommittedRows {
    held: Arc<Mutex<Held>>,
}

#[derive(Default)]
struct Held {
    commits: VecDeque<Commit>,
    bytes: usize,
    /// The reader has stopped: nothing is held any more.
    closed: bool,
}

struct Commit {
    table: EventTable,
    snapshot_id: i64,
    batches: Vec<RecordBatch>,
    bytes: usize,
}

impl CommittedRows {
    /// Hands over the rows `table`'s snapshot `snapshot_id` added: every row of it, with the
    /// columns [`crate::aggregates::columns_read`] lists, in that order.
    pub fn push(&self, table: EventTable, snapshot_id: i64, batches: Vec<RecordBatch>) {
        let bytes = batches.iter().map(RecordBatch::get_array_memory_size).sum::<usize>();
        if bytes > MAX_HELD_BYTES {
            return;
        }
        let mut held = self.lock();
        if held.closed {
            return;
        }
        while held.bytes + bytes > MAX_HELD_BYTES {
            let Some(oldest) = held.commits.pop_front() else { break };
            held.bytes -= oldest.bytes;
        }
        held.bytes += bytes;
        held.commits.push_back(Commit { table, snapshot_id, batches, bytes });
    }

    /// The rows of `table`'s snapshot `snapshot_id`, if they were handed over and are still
    /// held; taking them drops every older commit of the table (the reader has moved past
    /// them).
    pub fn take(&self, table: EventTable, snapshot_id: i64) -> Option<Vec<RecordBatch>> {
        let mut held = self.lock();
        let position =
            held.commits.iter().position(|c| c.table == table && c.snapshot_id == snapshot_id)?;
        let mut kept = VecDeque::with_capacity(held.commits.len());
        let mut taken = None;
        for (i, commit) in std::mem::take(&mut held.commits).into_iter().enumerate() {
            if i == position {
                taken = Some(commit);
            } else if i > position || commit.table != table {
                kept.push_back(commit);
            }
        }
        held.commits = kept;
        held.bytes = held.commits.iter().map(|c| c.bytes).sum();
        taken.map(|c| c.batches)
    }

    /// Drops everything held (a reader that starts over from the tables).
    pub fn clear(&self) {
        let mut held = self.lock();
        held.commits.clear();
        held.bytes = 0;
    }

    /// The reader has stopped for good: drops what is held and everything pushed from now on.
    pub fn close(&self) {
        let mut held = self.lock();
        held.commits.clear();
        held.bytes = 0;
        held.closed = true;
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> MutexGuard<'_, Held> {
        // A panic while holding it leaves nothing half-done that matters: rows are a shortcut.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for CommittedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let held = self.lock();
        f.debug_struct("CommittedRows")
            .field("commits", &held.commits.len())
            .field("bytes", &held.bytes)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use arrow_array::{ArrayRef, Int64Array};

    use super::*;

    fn rows(n: usize) -> Vec<RecordBatch> {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![1; n]));
        vec![RecordBatch::try_from_iter([("event_timestamp", values)]).unwrap()]
    }

    #[test]
    fn a_commit_is_taken_once_and_older_ones_of_its_table_go_with_it() {
        let handed = CommittedRows::default();
        handed.push(EventTable::BidRequests, 1, rows(1));
        handed.push(EventTable::Clicks, 7, rows(2));
        handed.push(EventTable::BidRequests, 2, rows(3));
        assert_eq!(handed.take(EventTable::BidRequests, 2).unwrap()[0].num_rows(), 3);
        assert!(handed.take(EventTable::BidRequests, 2).is_none(), "taken once");
        assert!(handed.take(EventTable::BidRequests, 1).is_none(), "older: dropped");
        assert_eq!(handed.take(EventTable::Clicks, 7).unwrap()[0].num_rows(), 2);
        assert_eq!(handed.bytes(), 0);
    }

    #[test]
    fn the_oldest_commits_are_dropped_for_room() {
        let handed = CommittedRows::default();
        let big = rows(MAX_HELD_BYTES / 8 / 2 - 1024);
        handed.push(EventTable::BidRequests, 1, big.clone());
        handed.push(EventTable::BidRequests, 2, big.clone());
        handed.push(EventTable::BidRequests, 3, big);
        assert!(handed.bytes() <= MAX_HELD_BYTES);
        assert!(handed.take(EventTable::BidRequests, 1).is_none());
        assert!(handed.take(EventTable::BidRequests, 3).is_some());
        handed.push(EventTable::BidRequests, 4, rows(MAX_HELD_BYTES / 8 + 1));
        assert!(handed.take(EventTable::BidRequests, 4).is_none(), "too big to hold at all");
    }

    #[test]
    fn nothing_is_held_once_the_reader_has_stopped() {
        let handed = CommittedRows::default();
        handed.push(EventTable::Clicks, 1, rows(1));
        handed.close();
        handed.push(EventTable::Clicks, 2, rows(1));
        assert_eq!(handed.bytes(), 0);
        assert!(handed.take(EventTable::Clicks, 2).is_none());
    }
}
