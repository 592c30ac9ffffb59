//! What the ingest job has done, in one place: the log line, `status` and the dashboard read it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::SystemTime;

use crate::decode::RejectKind;

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
    /// (topic, partition) → consumer lag, from librdkafka's statistics.
    pub lag: Mutex<BTreeMap<(String, i32), i64>>,
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
        self.lag.lock().unwrap_or_else(|e| e.into_inner()).values().filter(|l| **l > 0).sum()
    }
}
