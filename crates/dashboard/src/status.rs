//! The platform's status as one serializable value: what `/api/status` returns, what the page
//! and `/metrics` render and what `bidlake status` prints.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use bidlake_lake::Lake;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub uptime_secs: u64,
    /// What runs and where (broker, catalog, dashboard, generator, ingest).
    pub services: Vec<Service>,
    /// One row per event topic and the table it feeds.
    pub topics: Vec<TopicStatus>,
    pub generator: Option<GeneratorStatus>,
    pub ingest: Option<IngestStatus>,
    pub tables: Vec<TableStatus>,
    /// Table maintenance running in this process, if it does.
    #[serde(default)]
    pub maintenance: Option<MaintenanceStatus>,
    /// The embedded broker's storage, if this process runs one.
    #[serde(default)]
    pub broker: Option<BrokerStatus>,
    /// Throughput samples, oldest first, one a second over the last minutes.
    pub history: Vec<Sample>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    pub address: String,
    pub state: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TopicStatus {
    pub topic: String,
    pub table: String,
    pub produced: u64,
    pub produced_per_sec: f64,
    pub consumed: u64,
    pub ingested_rows: u64,
    pub ingested_per_sec: f64,
    pub committed_rows: u64,
    pub dead_letters: u64,
    /// Records on the broker that the table's last commit does not cover, over every partition.
    pub lag: i64,
    /// The topic's partitions, and how many of them this process reads (under `up` with its
    /// embedded broker: all). A partition with lag that nobody reads shows here.
    #[serde(default)]
    pub partitions: usize,
    #[serde(default)]
    pub read_here: usize,
    /// Partitions with lag that this process does not read.
    #[serde(default)]
    pub unread_with_lag: Vec<i32>,
    /// What a person should know: records lost to retention, a recreated topic.
    #[serde(default)]
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct GeneratorStatus {
    pub target_rate: u64,
    pub delivered: u64,
    pub failed: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestStatus {
    pub commits: u64,
    pub fenced: u64,
    pub rebalances: u64,
    pub lag: i64,
    /// Why the lag could not be measured lately (the broker does not answer), if so.
    #[serde(default)]
    pub lag_error: Option<String>,
    /// Times ingest waited out an outage (broker, catalog, storage) and started again, and
    /// the last failure that made it.
    #[serde(default)]
    pub retries: u64,
    #[serde(default)]
    pub last_failure: Option<Failure>,
    /// Topics whose table stopped taking rows (another engine changed it), and why.
    #[serde(default)]
    pub halted: BTreeMap<String, String>,
    pub dead_letters: u64,
    pub dead_letters_by_kind: BTreeMap<String, u64>,
    /// The last dead-letter reasons, newest first.
    pub recent_dead_letters: Vec<DeadLetter>,
    /// The last commits, newest first.
    pub recent_commits: Vec<Commit>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Failure {
    pub at_ms: u64,
    pub error: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeadLetter {
    pub topic: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Commit {
    pub at_ms: u64,
    pub table: String,
    pub snapshot_id: i64,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MaintenanceStatus {
    pub every_secs: u64,
    pub rounds: u64,
    pub last_round_ms: Option<u64>,
    pub last_round_took_ms: Option<u64>,
    pub compactions: u64,
    pub files_rewritten: u64,
    pub files_written: u64,
    pub manifest_merges: u64,
    pub snapshots_expired: u64,
    pub files_deleted: u64,
    pub orphans_deleted: u64,
    pub failures: u64,
    pub last_failure: Option<Failure>,
    /// Per table: what its last round did.
    pub tables: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct BrokerStatus {
    /// Bytes under the broker's data directory.
    pub disk_bytes: u64,
    /// How long it keeps records of the topics bidlake created, if bounded.
    pub retention_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableStatus {
    pub table: String,
    pub snapshots: usize,
    pub rows: u64,
    pub data_files: u64,
    pub bytes: u64,
    pub last_commit_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
pub struct Sample {
    pub at_ms: u64,
    pub produced_per_sec: f64,
    pub ingested_per_sec: f64,
}

pub(crate) fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

impl From<bidlake_maintain::MaintenanceSnapshot> for MaintenanceStatus {
    fn from(m: bidlake_maintain::MaintenanceSnapshot) -> Self {
        Self {
            every_secs: m.every.as_secs(),
            rounds: m.rounds,
            last_round_ms: m.last_round.map(|(at, _)| millis(at)),
            last_round_took_ms: m.last_round.map(|(_, took)| took.as_millis() as u64),
            compactions: m.compactions,
            files_rewritten: m.files_rewritten,
            files_written: m.files_written,
            manifest_merges: m.manifest_merges,
            snapshots_expired: m.snapshots_expired,
            files_deleted: m.files_deleted,
            orphans_deleted: m.orphans_deleted,
            failures: m.failures,
            last_failure: m.last_failure.map(|(at, error)| Failure { at_ms: millis(at), error }),
            tables: m.tables,
        }
    }
}

/// Bytes of the files under `dir` (the embedded broker's storage).
pub fn disk_use(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => disk_use(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Sizes of the lake's tables from their current snapshots' summaries (no file is read).
pub async fn table_stats(lake: &Lake) -> Result<Vec<TableStatus>, bidlake_lake::Error> {
    let mut stats = Vec::new();
    for table in bidlake_tables::EventTable::ALL {
        let table = match lake.load_table(table.name()).await {
            Ok(table) => table,
            Err(bidlake_lake::Error::MissingTable { .. }) => continue,
            Err(err) => return Err(err),
        };
        let metadata = table.metadata();
        let summary = metadata.current_snapshot().map(|s| &s.summary().additional_properties);
        let total = |key: &str| {
            summary.and_then(|props| props.get(key)).and_then(|v| v.parse().ok()).unwrap_or(0)
        };
        stats.push(TableStatus {
            table: table.identifier().to_string(),
            snapshots: metadata.snapshots().count(),
            rows: total("total-records"),
            data_files: total("total-data-files"),
            bytes: total("total-files-size"),
            last_commit_ms: metadata.current_snapshot().map(|s| s.timestamp_ms().max(0) as u64),
        });
    }
    Ok(stats)
}
