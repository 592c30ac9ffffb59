//! What the ingest job has done, in one place: the log line, `status` and the dashboard read it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::lag::PartitionLag;
use bidlake_tables::RejectKind;

#[derive(Debug, Default)]
pub struct TopicMetrics {
    pub consumed: AtomicU64,
    pub bytes: AtomicU64,
    pub rows: AtomicU64,
    pub dead_letters: AtomicU64,
    /// Records below the table's offsets (already committed by an earlier run), skipped.
    pub skipped: AtomicU64,
    pub committed_rows: AtomicU64,
}

#[derive(Debug, Clone)]
pub struct CommitRecord {
    pub at: SystemTime,
    pub table: String,
    pub snapshot_id: i64,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub records: u64,
}

#[derive(Debug, Default)]
pub struct IngestMetrics {
    pub topics: Mutex<BTreeMap<String, std::sync::Arc<TopicMetrics>>>,
    pub commits: AtomicU64,
    pub fenced: AtomicU64,
    pub rebalances: AtomicU64,
    pub recent_commits: Mutex<Vec<CommitRecord>>,
    /// The last dead-letter reasons, newest last.
    pub recent_rejects: Mutex<Vec<(String, String)>>,
    pub rejects_by_kind: Mutex<BTreeMap<&'static str, u64>>,
    /// Every partition of every ingested topic against its table, as last measured.
    pub lag: Mutex<Vec<PartitionLag>>,
    /// Why the lag could not be measured last time, if it could not.
    pub lag_error: Mutex<Option<String>>,
    /// The partitions this process reads.
    pub assigned: Mutex<BTreeSet<(String, i32)>>,
    /// Times ingest waited out an outage (broker, catalog, storage) and started again, and the
    /// last error that made it.
    pub retries: AtomicU64,
    pub last_failure: Mutex<Option<(SystemTime, String)>>,
    /// Topics whose table stopped taking rows (another engine changed it), and why.
    pub halted: Mutex<BTreeMap<String, String>>,
}

const KEEP: usize = 20;

impl IngestMetrics {
    pub fn topic(&self, topic: &str) -> std::sync::Arc<TopicMetrics> {
        let mut topics = self.topics.lock().unwrap_or_else(|e| e.into_inner());
        topics.entry(topic.to_owned()).or_default().clone()
    }

    pub fn rejected(&self, topic: &str, kind: RejectKind, reason: &str) {
        let mut recent = self.recent_rejects.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= KEEP {
            recent.remove(0);
        }
        recent.push((topic.to_owned(), reason.chars().take(300).collect()));
        *self
            .rejects_by_kind
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(kind.code())
            .or_default() += 1;
    }

    pub fn committed(&self, record: CommitRecord) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent_commits.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() >= KEEP {
            recent.remove(0);
        }
        recent.push(record);
    }

    pub fn total_lag(&self) -> i64 {
        self.lag.lock().unwrap_or_else(|e| e.into_inner()).iter().map(PartitionLag::lag).sum()
    }

    /// Records a measurement of every partition's lag.
    pub fn measured(&self, result: Result<Vec<PartitionLag>, String>) {
        match result {
            Ok(lags) => {
                *self.lag.lock().unwrap_or_else(|e| e.into_inner()) = lags;
                *self.lag_error.lock().unwrap_or_else(|e| e.into_inner()) = None;
            }
            Err(why) => *self.lag_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(why),
        }
    }

    /// Records a failure that ingest waits out.
    pub fn failed(&self, error: &str) {
        self.retries.fetch_add(1, Ordering::Relaxed);
        *self.last_failure.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((SystemTime::now(), error.chars().take(500).collect()));
    }

    pub fn halted(&self, topic: &str, why: String) {
        self.halted.lock().unwrap_or_else(|e| e.into_inner()).insert(topic.to_owned(), why);
    }

    pub fn set_assigned(&self, partitions: BTreeSet<(String, i32)>) {
        *self.assigned.lock().unwrap_or_else(|e| e.into_inner()) = partitions;
    }
}
