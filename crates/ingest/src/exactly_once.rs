//! The exactly-once commit, as one tested step. A batch's data files go into its table together
//! with the Kafka offsets they cover (and where a rescan of the dead-letter topic must start),
//! in one atomic commit, and only if:
//! - every partition the batch covers still stands, in the table, where the batch began
//!   (otherwise another writer took it: the batch is fenced, never rebased onto theirs);
//! - the table is still one bidlake's rows fit (another engine may have changed it);
//! - the batch's files are young enough that orphan removal cannot have deleted them.
//!
//! The commit is pinned to the table version these checks read: if the table moves on in
//! between, the commit fails as a conflict and the checks run again on the new version.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bidlake_lake::Lake;
use bidlake_lake::pinned::{Attempt, commit_pinned};
use bidlake_lake::progress::Progress;
use bidlake_lake::setup::differences;
use bidlake_tables::EventTable;
use iceberg::spec::DataFile;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

use crate::{Error, Result};

/// Summary key naming the process that wrote a snapshot.
pub const WRITER_KEY: &str = "bidlake.writer";

/// What a batch covers of one Kafka partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Covered {
    /// The table's offset for the partition when the batch began (`None`: it had none).
    pub started: Option<i64>,
    /// The next offset to consume after the batch.
    pub next: i64,
    /// Where a rescan of the dead-letter topic starts after this commit (`None`: leave what is
    /// recorded). It never moves back.
    pub dlq_mark: Option<i64>,
}

/// One table's batch, ready to commit.
#[derive(Debug)]
pub struct Batch<'a> {
    pub table: EventTable,
    pub topic: &'a str,
    pub files: &'a [DataFile],
    pub partitions: BTreeMap<i32, Covered>,
    /// Which process wrote it (recorded in the snapshot summary).
    pub writer: &'a str,
    /// The files are committed before this time (wall clock) or not at all.
    pub commit_by: SystemTime,
    /// The table as this process last committed it (or loaded it at the start): tried first,
    /// so a commit reads no metadata file when nobody else committed meanwhile.
    pub known: Option<&'a Table>,
}

#[derive(Debug)]
pub enum Outcome {
    Committed {
        table: Box<Table>,
        progress: Progress,
    },
    /// Another writer committed these partitions since the batch began.
    Fenced(Vec<i32>),
    /// Past `commit_by`: orphan removal may have deleted the batch's files.
    TooOld,
    /// The table no longer takes bidlake's rows: what changed.
    Changed(String),
}

/// Commits `batch`, checking again after every conflict until it is committed or must not be.
pub async fn commit(lake: &Lake, batch: &Batch<'_>) -> Result<Outcome> {
    let mut backoff = Duration::from_millis(50);
    let mut known = batch.known.filter(|_| lake.pins_exact_versions()).cloned();
    loop {
        let kept = known.is_some();
        let table = match known.take() {
            Some(table) => table,
            None => lake.load_table(batch.table.name()).await?,
        };
        match attempt(lake, &table, batch).await {
            Ok(Some(outcome)) => return Ok(outcome),
            Ok(None) => {
                tracing::debug!(table = batch.table.name(), "commit conflict; checking again");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            // The version kept from the last commit can be one that maintenance has since
            // replaced and expired, its manifest list deleted (a topic quiet for longer than
            // snapshots are kept): planning on it fails. Plan again on the catalog's version.
            Err(err) if kept => {
                tracing::debug!(table = batch.table.name(), error = %err, "the kept version is gone; reloading");
            }
            Err(err) => return Err(err),
        }
    }
}

/// One attempt against `table` as loaded; `None` when the table moved on since (a conflict).
pub async fn attempt(lake: &Lake, table: &Table, batch: &Batch<'_>) -> Result<Option<Outcome>> {
    let name = batch.table.name();
    if SystemTime::now() > batch.commit_by {
        return Ok(Some(Outcome::TooOld));
    }
    // Added columns are fine (these files read them as null); any other change is not.
    if let Some(changed) = differences(&batch.table.definition()?, table)? {
        return Ok(Some(Outcome::Changed(format!(
            "{} was changed by another writer and no longer takes bidlake's rows: {changed}",
            lake.ident(name)
        ))));
    }
    let mut progress = Progress::read(table, batch.topic);
    let moved: Vec<i32> = batch
        .partitions
        .iter()
        .filter(|(p, c)| progress.offsets.get(p).copied() != c.started)
        .map(|(p, _)| *p)
        .collect();
    if !moved.is_empty() {
        return Ok(Some(Outcome::Fenced(moved)));
    }
    for (p, covered) in &batch.partitions {
        progress.offsets.insert(*p, covered.next);
        if let Some(mark) = covered.dlq_mark {
            let recorded = progress.dlq.get(p).copied().unwrap_or(mark);
            progress.dlq.insert(*p, mark.max(recorded));
        }
    }
    // The progress goes into the snapshot's summary and the table's properties in one commit
    // (the properties outlive other engines' commits followed by snapshot expiry).
    let recorded = progress.properties(batch.topic);
    let mut summary = recorded.clone();
    summary.insert(WRITER_KEY.into(), batch.writer.to_owned());
    let planning = |source| Error::iceberg(format!("planning the commit to {name}"), source);
    let tx = Transaction::new(table);
    // No duplicate check: it reads every manifest of the table on every commit (a cost that
    // grows with the history), and the batch's files have names no other file has.
    let tx = tx
        .fast_append()
        .with_check_duplicate(false)
        .add_data_files(batch.files.to_vec())
        .set_snapshot_properties(summary)
        .apply(tx)
        .map_err(planning)?;
    let mut update = tx.update_table_properties();
    for (key, value) in recorded {
        update = update.set(key, value);
    }
    let tx = update.apply(tx).map_err(planning)?;
    match commit_pinned(lake, table, tx).await {
        Ok(Attempt::Committed(committed)) => {
            Ok(Some(Outcome::Committed { table: committed, progress }))
        }
        Ok(Attempt::Conflict) => Ok(None),
        Err(source) => Err(Error::iceberg(format!("committing to {name}"), source)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test: a failed unwrap is a failed test

    use bidlake_lake::LakeArgs;
    use bidlake_lake::setup::setup_lake;

    use super::*;
    use crate::sink::{TableSink, WriteOptions};
    use bidlake_tables::EventTimeWindow;
    use bidlake_tables::Source;

    const TOPIC: &str = "bid-requests";

    /// A SQL catalog on SQLite and a warehouse in a temporary directory, with bidlake's tables.
    async fn lake(dir: &std::path::Path) -> Lake {
        let lake =
            bidlake_lake::open_lake(LakeArgs::embedded().resolve(dir).unwrap()).await.unwrap();
        setup_lake(&lake, false).await.unwrap();
        lake
    }

    /// Real data files of `n` bid requests, written as ingest writes them (under names of
    /// their own).
    async fn files(lake: &Lake, n: usize) -> Vec<DataFile> {
        let table = lake.load_table("bid_requests").await.unwrap();
        let options = WriteOptions {
            batch_rows: 1024,
            target_file_size: 1 << 20,
            buffer_bytes: 1 << 24,
            zstd_level: 1,
            file_prefix: format!("test-{}", uuid::Uuid::new_v4()),
        };
        let mut sink =
            TableSink::new(EventTable::BidRequests, table, &options, Default::default()).unwrap();
        for i in 0..n {
            let record = format!(
                r#"{{"id":"r{i}","imp":[{{"id":"1"}}],"device":{{"geo":{{"country":"USA"}}}},"event_timestamp":"2026-11-24T08:00:00Z"}}"#
            );
            let source = Source { partition: 0, offset: i as i64 };
            sink.append(record.as_bytes(), None, source, &EventTimeWindow::ANY).unwrap();
        }
        sink.close().await.unwrap()
    }

    fn batch<'a>(files: &'a [DataFile], partitions: &[(i32, Covered)]) -> Batch<'a> {
        Batch {
            table: EventTable::BidRequests,
            topic: TOPIC,
            files,
            partitions: partitions.iter().copied().collect(),
            writer: "test",
            commit_by: SystemTime::now() + Duration::from_secs(60),
            known: None,
        }
    }

    fn covered(started: Option<i64>, next: i64) -> Covered {
        Covered { started, next, dlq_mark: None }
    }

    async fn progress(lake: &Lake) -> Progress {
        Progress::read(&lake.load_table("bid_requests").await.unwrap(), TOPIC)
    }

    #[tokio::test]
    async fn a_commit_records_its_offsets_in_the_summary_and_the_properties() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let files = files(&lake, 3).await;
        let outcome = commit(&lake, &batch(&files, &[(0, covered(None, 3))])).await.unwrap();
        let Outcome::Committed { table, progress } = outcome else { panic!("{outcome:?}") };
        assert_eq!(progress.offsets, BTreeMap::from([(0, 3)]));
        let summary = &table.metadata().current_snapshot().unwrap().summary().additional_properties;
        assert_eq!(
            summary.get("bidlake.kafka.bid-requests.offsets").map(String::as_str),
            Some("0:3")
        );
        assert_eq!(summary.get(WRITER_KEY).map(String::as_str), Some("test"));
        let properties = table.metadata().properties();
        assert_eq!(
            properties.get("bidlake.kafka.bid-requests.offsets").map(String::as_str),
            Some("0:3")
        );
    }

    #[tokio::test]
    async fn a_second_writer_committing_between_load_and_commit_fences_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let (ours, theirs) = (files(&lake, 3).await, files(&lake, 5).await);
        // Both began at the table's start of partition 0; we load the table first...
        let loaded = lake.load_table("bid_requests").await.unwrap();
        // ... the other writer commits partition 0 ...
        let other = commit(&lake, &batch(&theirs, &[(0, covered(None, 5))])).await.unwrap();
        assert!(matches!(other, Outcome::Committed { .. }), "{other:?}");
        // ... so our commit, pinned to what we loaded, is a conflict, not a rebase...
        let mine = batch(&ours, &[(0, covered(None, 3))]);
        assert!(attempt(&lake, &loaded, &mine).await.unwrap().is_none());
        // ... and checked again on the new version, it is fenced.
        let outcome = commit(&lake, &mine).await.unwrap();
        assert!(matches!(&outcome, Outcome::Fenced(moved) if moved == &[0]), "{outcome:?}");
        assert_eq!(progress(&lake).await.offsets, BTreeMap::from([(0, 5)]));
        let table = lake.load_table("bid_requests").await.unwrap();
        assert_eq!(table.metadata().snapshots().count(), 1, "one commit went through");
    }

    #[tokio::test]
    async fn a_table_kept_from_the_last_commit_is_committed_on_unless_anything_changed() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let (a, b, c) = (files(&lake, 1).await, files(&lake, 1).await, files(&lake, 1).await);
        let first = commit(&lake, &batch(&a, &[(0, covered(None, 1))])).await.unwrap();
        let Outcome::Committed { table: kept, .. } = first else { panic!("{first:?}") };
        // Nobody else committed: the kept version is committed on directly.
        let mut next = batch(&b, &[(0, covered(Some(1), 2))]);
        next.known = Some(&kept);
        let second = commit(&lake, &next).await.unwrap();
        let Outcome::Committed { table: kept_again, .. } = second else { panic!("{second:?}") };
        assert_eq!(kept_again.metadata().snapshots().count(), 2);

        // Another engine sets a property without writing a snapshot: the kept version is stale,
        // so the commit conflicts, is checked again on the new version and keeps the change.
        let table = lake.load_table("bid_requests").await.unwrap();
        let tx = Transaction::new(&table);
        let tx = tx
            .update_table_properties()
            .set("other.engine".into(), "was here".into())
            .apply(tx)
            .unwrap();
        tx.commit(lake.catalog.as_ref()).await.unwrap();
        let mut last = batch(&c, &[(0, covered(Some(2), 3))]);
        last.known = Some(&kept_again);
        assert!(attempt(&lake, &kept_again, &last).await.unwrap().is_none(), "stale: a conflict");
        let outcome = commit(&lake, &last).await.unwrap();
        let Outcome::Committed { table, .. } = outcome else { panic!("{outcome:?}") };
        assert_eq!(table.metadata().properties()["other.engine"], "was here", "not lost");
        assert_eq!(progress(&lake).await.offsets, BTreeMap::from([(0, 3)]));
    }

    #[tokio::test]
    async fn a_kept_version_whose_files_maintenance_expired_is_reloaded_not_fatal() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let (a, b, c) = (files(&lake, 1).await, files(&lake, 1).await, files(&lake, 1).await);
        let first = commit(&lake, &batch(&a, &[(0, covered(None, 1))])).await.unwrap();
        let Outcome::Committed { table: kept, .. } = first else { panic!("{first:?}") };
        // While this topic is quiet, another commit moves the table on and expiry deletes the
        // kept snapshot's manifest list (as background maintenance does after its retention).
        let other = commit(&lake, &batch(&b, &[(1, covered(None, 1))])).await.unwrap();
        assert!(matches!(other, Outcome::Committed { .. }), "{other:?}");
        let list = kept.metadata().current_snapshot().unwrap().manifest_list().to_owned();
        std::fs::remove_file(list.trim_start_matches("file://")).unwrap();
        // Planning on the kept version fails (its manifest list is gone) ...
        let mut next = batch(&c, &[(0, covered(Some(1), 2))]);
        assert!(attempt(&lake, &kept, &next).await.is_err());
        // ... so the commit plans again on the catalog's version and goes through.
        next.known = Some(&kept);
        let outcome = commit(&lake, &next).await.unwrap();
        assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
        assert_eq!(progress(&lake).await.offsets, BTreeMap::from([(0, 2), (1, 1)]));
    }

    #[tokio::test]
    async fn writers_of_different_partitions_both_commit_and_their_offsets_merge() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let (ours, theirs) = (files(&lake, 3).await, files(&lake, 5).await);
        let loaded = lake.load_table("bid_requests").await.unwrap();
        commit(&lake, &batch(&theirs, &[(1, covered(None, 5))])).await.unwrap();
        let mine = batch(&ours, &[(0, covered(None, 3))]);
        assert!(attempt(&lake, &loaded, &mine).await.unwrap().is_none(), "a conflict first");
        let outcome = commit(&lake, &mine).await.unwrap();
        assert!(matches!(outcome, Outcome::Committed { .. }), "{outcome:?}");
        assert_eq!(progress(&lake).await.offsets, BTreeMap::from([(0, 3), (1, 5)]));
    }

    #[tokio::test]
    async fn old_metadata_files_are_deleted_as_they_fall_out_of_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let metadata_dir = dir.path().join("warehouse/db/bid_requests/metadata");
        let count = || {
            std::fs::read_dir(&metadata_dir)
                .unwrap()
                .filter(|e| {
                    e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".metadata.json")
                })
                .count()
        };
        for next in 1..=40 {
            let covered = Covered { started: (next > 1).then_some(next - 1), next, dlq_mark: None };
            commit(&lake, &batch(&[], &[(0, covered)])).await.unwrap();
        }
        // The log keeps 25 earlier versions, and the current file is the 26th.
        let table = lake.load_table("bid_requests").await.unwrap();
        assert_eq!(table.metadata().metadata_log().len(), 25);
        assert_eq!(count(), 26, "41 metadata files were written");
        assert_eq!(progress(&lake).await.offsets, BTreeMap::from([(0, 40)]));
    }

    #[tokio::test]
    async fn the_dlq_mark_never_moves_back_and_a_late_batch_is_not_committed() {
        let dir = tempfile::tempdir().unwrap();
        let lake = lake(dir.path()).await;
        let files = files(&lake, 2).await;
        let first = Covered { started: None, next: 1, dlq_mark: Some(40) };
        commit(&lake, &batch(&files[..0], &[(0, first)])).await.unwrap();
        let second = Covered { started: Some(1), next: 2, dlq_mark: Some(7) };
        commit(&lake, &batch(&files[..0], &[(0, second)])).await.unwrap();
        assert_eq!(progress(&lake).await.dlq, BTreeMap::from([(0, 40)]));

        let mut late = batch(&files, &[(0, covered(Some(2), 4))]);
        late.commit_by = SystemTime::now() - Duration::from_secs(1);
        assert!(matches!(commit(&lake, &late).await.unwrap(), Outcome::TooOld));
        assert_eq!(progress(&lake).await.offsets, BTreeMap::from([(0, 2)]));
    }
}
