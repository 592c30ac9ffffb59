//! Lag as the table sees it: for every partition of a topic, the broker's high watermark against
//! the offset the table's last commit recorded. Not the consumer's position (which a crashed or
//! stalled run leaves wherever it was), and not only the partitions this process reads.

use std::sync::Arc;
use std::time::Duration;

use bidlake_kafka::KafkaArgs;
use bidlake_lake::{KeptTables, Lake};
use rdkafka::consumer::{BaseConsumer, Consumer};
use serde::{Deserialize, Serialize};

use crate::progress::Progress;
use crate::{Error, Result};

/// Where one partition of a topic stands against its table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionLag {
    pub topic: String,
    pub partition: i32,
    /// The broker's log start and end (high watermark).
    pub low: i64,
    pub high: i64,
    /// The next offset the table's last commit recorded; `None`: nothing committed yet.
    pub committed: Option<i64>,
}

impl PartitionLag {
    /// Records on the broker that no commit covers yet.
    pub fn lag(&self) -> i64 {
        (self.high - self.committed.unwrap_or(self.low).max(self.low)).max(0)
    }

    /// Records retention deleted before the table took them (the log start moved past the
    /// table's offset).
    pub fn lost_to_retention(&self) -> i64 {
        self.committed.map_or(0, |c| (self.low - c).max(0))
    }

    /// Offsets the table has that the topic no longer has (the topic was recreated, or a
    /// different cluster answers): the table's offset is past the high watermark.
    pub fn ahead_of_topic(&self) -> i64 {
        self.committed.map_or(0, |c| (c - self.high).max(0))
    }

    /// What a person should know about this partition, if anything.
    pub fn problem(&self) -> Option<String> {
        let (topic, partition) = (&self.topic, self.partition);
        if self.ahead_of_topic() > 0 {
            return Some(format!(
                "{topic}/{partition}: the table has offsets up to {} but the topic ends at {}; \
                 was the topic deleted and created again? ingest skips records below the table's \
                 offset, so new records there are not ingested until the topic passes it",
                self.committed.unwrap_or_default(),
                self.high
            ));
        }
        if self.lost_to_retention() > 0 {
            return Some(format!(
                "{topic}/{partition}: {} records (offsets {} to {}) were deleted by the topic's \
                 retention before ingest took them",
                self.lost_to_retention(),
                self.committed.unwrap_or_default(),
                self.low
            ));
        }
        None
    }
}

/// How long a partition with lag that this process does not read may keep its table offset
/// before it is called stalled.
pub const STALL_AFTER: Duration = Duration::from_secs(60);

/// Partitions with lag that nobody seems to read: not read by this process, and their table
/// offset has not moved for `STALL_AFTER`. Under a consumer group, a member that crashed and
/// was never expired (tansu 0.6 expires none) holds its partitions like this.
#[derive(Debug, Default)]
pub struct Stalls {
    /// (topic, partition) → the table offset last seen and when it was first seen there.
    seen: std::collections::HashMap<(String, i32), (Option<i64>, std::time::Instant)>,
    /// When each stalled partition was last reported.
    reported: std::collections::HashMap<(String, i32), std::time::Instant>,
}

impl Stalls {
    /// Takes a measurement; returns the partitions to report now (each at most once per
    /// `STALL_AFTER`).
    pub fn observe(
        &mut self,
        lags: &[PartitionLag],
        read_here: &std::collections::BTreeSet<(String, i32)>,
        now: std::time::Instant,
    ) -> Vec<PartitionLag> {
        let mut stalled = Vec::new();
        for lag in lags {
            let key = (lag.topic.clone(), lag.partition);
            let since = match self.seen.get(&key) {
                Some((committed, since)) if *committed == lag.committed => *since,
                _ => now,
            };
            self.seen.insert(key.clone(), (lag.committed, since));
            let stuck = lag.lag() > 0
                && !read_here.contains(&key)
                && now.duration_since(since) >= STALL_AFTER;
            let due =
                self.reported.get(&key).is_none_or(|at| now.duration_since(*at) >= STALL_AFTER);
            if stuck && due {
                self.reported.insert(key, now);
                stalled.push(lag.clone());
            }
        }
        stalled
    }
}

/// Measures every partition of each `(table, topic)`. The broker calls block; they run on a
/// blocking thread with `timeout` each.
pub async fn measure(
    lake: &Lake,
    tables: &KeptTables,
    client: &Arc<BaseConsumer>,
    streams: &[(String, String)],
    timeout: Duration,
) -> Result<Vec<PartitionLag>> {
    let mut committed = Vec::new();
    for (table, topic) in streams {
        // A missing table has committed nothing: every retained record is lag.
        let progress = match tables.load(lake, table).await {
            Ok(loaded) => Progress::read(&loaded, topic),
            Err(_) => Progress::default(),
        };
        committed.push((topic.clone(), progress));
    }
    let client = client.clone();
    tokio::task::spawn_blocking(move || {
        let mut lags = Vec::new();
        for (topic, progress) in committed {
            let metadata = client.fetch_metadata(Some(&topic), timeout).map_err(|source| {
                Error::Consumer { context: format!("reading the partitions of {topic}"), source }
            })?;
            let partitions: Vec<i32> = metadata
                .topics()
                .iter()
                .filter(|t| t.name() == topic)
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            for partition in partitions {
                let (low, high) =
                    client.fetch_watermarks(&topic, partition, timeout).map_err(|source| {
                        Error::Consumer {
                            context: format!("reading the offsets of {topic}/{partition}"),
                            source,
                        }
                    })?;
                lags.push(PartitionLag {
                    topic: topic.clone(),
                    partition,
                    low,
                    high,
                    committed: progress.offsets.get(&partition).copied(),
                });
            }
        }
        Ok(lags)
    })
    .await
    .map_err(|err| Error::Task(err.to_string()))?
}

/// A client for [`measure`].
pub fn client(kafka: &KafkaArgs) -> Result<Arc<BaseConsumer>> {
    let consumer: BaseConsumer =
        kafka.client_config().create().map_err(|source| Error::Consumer {
            context: format!("creating a client for {}", kafka.bootstrap_servers),
            source,
        })?;
    Ok(Arc::new(consumer))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(low: i64, high: i64, committed: Option<i64>) -> PartitionLag {
        PartitionLag { topic: "t".into(), partition: 0, low, high, committed }
    }

    #[test]
    fn lag_is_what_the_broker_holds_beyond_the_tables_offset() {
        assert_eq!(at(0, 100, Some(40)).lag(), 60);
        assert_eq!(at(0, 100, None).lag(), 100);
        assert_eq!(at(30, 100, None).lag(), 70, "nothing committed: the retained records");
        assert_eq!(at(0, 100, Some(100)).lag(), 0);
        assert!(at(0, 100, Some(40)).problem().is_none());
    }

    #[test]
    fn a_partition_with_lag_that_nobody_reads_is_reported_once_a_minute() {
        let start = std::time::Instant::now();
        let mut stalls = Stalls::default();
        let here = std::collections::BTreeSet::from([("t".to_owned(), 1)]);
        let mut read_here = at(0, 100, Some(10));
        read_here.partition = 1;
        let lags = [at(0, 100, Some(10)), read_here];
        assert!(stalls.observe(&lags, &here, start).is_empty(), "not yet a minute");
        let later = start + STALL_AFTER;
        let reported = stalls.observe(&lags, &here, later);
        assert_eq!(
            reported.iter().map(|l| l.partition).collect::<Vec<_>>(),
            [0],
            "only the unread one"
        );
        assert!(
            stalls.observe(&lags, &here, later + Duration::from_secs(5)).is_empty(),
            "once a minute"
        );
        // Someone else reads it: its table offset moves, and it is not stalled any more.
        let moved = [at(0, 100, Some(50))];
        assert!(stalls.observe(&moved, &here, later + STALL_AFTER).is_empty());
    }

    #[test]
    fn retention_past_the_table_and_a_recreated_topic_are_reported_with_counts() {
        let gone = at(50, 100, Some(20));
        assert_eq!((gone.lag(), gone.lost_to_retention()), (50, 30));
        assert!(gone.problem().is_some_and(|p| p.contains("30 records")));
        let recreated = at(0, 10, Some(500));
        assert_eq!((recreated.lag(), recreated.ahead_of_topic()), (0, 490));
        assert!(recreated.problem().is_some_and(|p| p.contains("created again")));
    }
}
