//! The replace commit against a real SQL catalog (SQLite) and a local warehouse, with appends
//! landing between planning and committing, as ingest's do: the commit conflicts, is planned
//! again on the new snapshot and keeps the append; a rewrite whose files are gone gives up.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow_array::{
    ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
    new_null_array,
};
use arrow_schema::DataType;
use bidlake_lake::setup::setup_lake;
use bidlake_lake::{Lake, LakeArgs, open_lake};
use bidlake_maintain::expire::expire;
use bidlake_maintain::manifests::{data_manifests, merge};
use bidlake_maintain::plan::{plan, plan_selected};
use bidlake_maintain::reach::{ManifestCache, ReachCache, Reachable};
use bidlake_maintain::replace::{Outcome, Replacement, commit};
use bidlake_maintain::rewrite::Rewriter;
use bidlake_maintain::{MaintainArgs, Selection};
use futures::TryStreamExt;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataFileFormat, Literal, Operation, PartitionKey, Struct};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::file::properties::WriterProperties;

const DAY: i32 = 20_000; // 2024-10-04
const TARGET: u64 = 1 << 20;

/// A new embedded lake whose `db.clicks` holds `files` appends of 10 rows each (offsets 0-9,
/// 10-19, ...), a data file and a manifest each.
async fn lake_with_clicks(dir: &std::path::Path, files: i64) -> Lake {
    let lake = open_lake(LakeArgs::embedded().resolve(dir).unwrap()).await.unwrap();
    setup_lake(&lake, false).await.unwrap();
    for i in 0..files {
        append(&lake, i * 10, 10).await;
    }
    lake
}

/// Appends one data file of `rows` clicks (offsets `first..first+rows` of partition 0) to
/// `db.clicks`, recording the next offset in the summary as ingest does.
async fn append(lake: &Lake, first: i64, rows: i64) {
    let table = lake.load_table("clicks").await.unwrap();
    let metadata = table.metadata();
    let schema = metadata.current_schema().clone();
    let arrow = Arc::new(schema_to_arrow_schema(&schema).unwrap());
    let micros = i64::from(DAY) * 86_400_000_000;
    let columns: Vec<ArrayRef> = arrow
        .fields()
        .iter()
        .map(|field| -> ArrayRef {
            let offsets = first..first + rows;
            match (field.name().as_str(), field.data_type()) {
                ("click_id", _) => {
                    Arc::new(StringArray::from_iter_values(offsets.map(|o| format!("click-{o}"))))
                }
                ("kafka_partition", _) => Arc::new(Int32Array::from(vec![0; rows as usize])),
                // The column a test adds by schema evolution.
                ("note", _) => {
                    Arc::new(StringArray::from_iter_values(offsets.map(|o| format!("note-{o}"))))
                }
                ("kafka_offset", _) => Arc::new(Int64Array::from_iter_values(offsets)),
                ("event_timestamp", DataType::Timestamp(_, tz)) => Arc::new(
                    TimestampMicrosecondArray::from_iter_values(offsets.map(|o| micros + o))
                        .with_timezone_opt(tz.clone()),
                ),
                (_, data_type) => new_null_array(data_type, rows as usize),
            }
        })
        .collect();
    let batch = RecordBatch::try_new(arrow, columns).unwrap();

    let rolling = RollingFileWriterBuilder::new_with_default_file_size(
        ParquetWriterBuilder::new(WriterProperties::builder().build(), schema.clone()),
        table.file_io().clone(),
        DefaultLocationGenerator::new(metadata).unwrap(),
        DefaultFileNameGenerator::new(format!("test-{first}"), None, DataFileFormat::Parquet),
    );
    let key = PartitionKey::new(
        metadata.default_partition_spec().as_ref().clone(),
        schema,
        Struct::from_iter([Some(Literal::date(DAY))]),
    );
    let mut writer = DataFileWriterBuilder::new(rolling).build(Some(key)).await.unwrap();
    writer.write(batch).await.unwrap();
    let files = writer.close().await.unwrap();

    let tx = Transaction::new(&table);
    let properties =
        HashMap::from([("bidlake.kafka.clicks.offsets".to_owned(), format!("0:{}", first + rows))]);
    let tx = tx
        .fast_append()
        .add_data_files(files)
        .set_snapshot_properties(properties)
        .apply(tx)
        .unwrap();
    tx.commit(lake.catalog.as_ref()).await.unwrap();
}

async fn live_files(table: &Table) -> HashSet<String> {
    let tasks: Vec<_> = table
        .scan()
        .select_all()
        .build()
        .unwrap()
        .plan_files()
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    tasks.iter().map(|t| t.data_file_path().to_owned()).collect()
}

/// How many files a scan of `table` (with `filter`) plans.
async fn planned_files(table: &Table, filter: Option<iceberg::expr::Predicate>) -> usize {
    let mut scan = table.scan().select_all();
    if let Some(filter) = filter {
        scan = scan.with_filter(filter);
    }
    let tasks: Vec<_> =
        scan.build().unwrap().plan_files().await.unwrap().try_collect().await.unwrap();
    tasks.len()
}

/// Every row of `table`'s current snapshot, with `columns` (all when `None`).
async fn scan(table: &Table, columns: Option<&[&str]>) -> Vec<RecordBatch> {
    let scan = match columns {
        Some(columns) => table.scan().select(columns.iter().copied()),
        None => table.scan().select_all(),
    };
    scan.build().unwrap().to_arrow().await.unwrap().try_collect().await.unwrap()
}

async fn offsets(table: &Table) -> Vec<i64> {
    let mut offsets: Vec<i64> = scan(table, None)
        .await
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name("kafka_offset")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            a.values().to_vec()
        })
        .collect();
    offsets.sort_unstable();
    offsets
}

#[tokio::test]
async fn a_replace_replans_over_an_append_and_gives_up_when_its_files_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_clicks(dir.path(), 4).await;

    // Plan and rewrite on the table as it is now.
    let planned = lake.load_table("clicks").await.unwrap();
    let mut cache = ManifestCache::default();
    let compaction = plan(&planned, &mut cache, TARGET, TARGET).await.unwrap();
    assert_eq!(compaction.bins.len(), 1);
    assert_eq!(compaction.bins[0].files.len(), 4);
    let rewriter = Rewriter::new(&planned, TARGET, 3, &["kafka_offset".to_owned()]).unwrap();
    let added = rewriter.rewrite(&compaction.bins[0]).await.unwrap();
    assert_eq!(added.iter().map(|f| f.record_count()).sum::<u64>(), 40);
    // --sort-by kafka_offset: the new file holds the rows in offset order.
    let path = added[0].file_path().trim_start_matches("file://");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(path).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let in_file: Vec<i64> = reader
        .flat_map(|b| {
            let b = b.unwrap();
            let a = b
                .column_by_name("kafka_offset")
                .unwrap()
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            a.values().to_vec()
        })
        .collect();
    assert_eq!(in_file, (0..40).collect::<Vec<_>>());
    let rewritten: HashSet<String> =
        compaction.bins[0].files.iter().map(|f| f.file_path().to_owned()).collect();
    let replacement = Replacement {
        rewritten: rewritten.clone(),
        added: added.clone(),
        properties: HashMap::new(),
        merge_manifests: false,
        operation: iceberg::spec::Operation::Replace,
    };

    // Ingest commits meanwhile.
    append(&lake, 40, 10).await;
    let appended = lake.load_table("clicks").await.unwrap();
    let appended_file: HashSet<String> =
        live_files(&appended).await.difference(&rewritten).cloned().collect();
    assert_eq!(appended_file.len(), 1);

    // Planned on the old version: refused, nothing of the attempt left behind.
    let metadata_dir = dir.path().join("warehouse/db/clicks/metadata");
    let files_before = std::fs::read_dir(&metadata_dir).unwrap().count();
    assert!(matches!(
        commit(&lake, &planned, &replacement, &mut cache).await.unwrap(),
        Outcome::Conflict
    ));
    assert_eq!(std::fs::read_dir(&metadata_dir).unwrap().count(), files_before);

    // Planned again on the append: committed on top of it, keeping it.
    let Outcome::Committed { snapshot_id, .. } =
        commit(&lake, &appended, &replacement, &mut cache).await.unwrap()
    else {
        panic!("the re-planned replace did not commit");
    };
    let table = lake.load_table("clicks").await.unwrap();
    let snapshot = table.metadata().current_snapshot().unwrap();
    assert_eq!(snapshot.snapshot_id(), snapshot_id);
    assert_eq!(snapshot.parent_snapshot_id(), appended.metadata().current_snapshot_id());
    assert_eq!(snapshot.summary().operation, Operation::Replace);
    let summary = &snapshot.summary().additional_properties;
    assert_eq!(
        summary["bidlake.kafka.clicks.offsets"], "0:50",
        "the append's offsets carried forward"
    );
    assert_eq!(summary["deleted-data-files"], "4");
    assert_eq!(summary["total-records"], "50");
    let live = live_files(&table).await;
    let expected: HashSet<String> =
        added.iter().map(|f| f.file_path().to_owned()).chain(appended_file).collect();
    assert_eq!(live, expected);
    assert_eq!(offsets(&table).await, (0..50).collect::<Vec<_>>());

    // The same files rewritten again (a second compaction that planned on the old version):
    // they are gone, so it gives up instead of resurrecting or doubling rows.
    let again = Replacement {
        rewritten,
        added: rewriter.rewrite(&compaction.bins[0]).await.unwrap(),
        properties: HashMap::new(),
        merge_manifests: false,
        operation: iceberg::spec::Operation::Replace,
    };
    assert!(matches!(commit(&lake, &table, &again, &mut cache).await.unwrap(), Outcome::Stale(_)));
    assert_eq!(
        offsets(&lake.load_table("clicks").await.unwrap()).await,
        (0..50).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn replacing_one_file_again_and_again_without_merging_keeps_the_manifest_list_short() {
    // As the aggregator rewrites the current hour every round: each replace leaves a manifest
    // that records only what it deleted, which the next one drops.
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_clicks(dir.path(), 3).await;
    let mut cache = ManifestCache::default();
    let first = lake.load_table("clicks").await.unwrap();
    let plan = plan(&first, &mut cache, TARGET, TARGET).await.unwrap();
    let mut current = plan.bins[0].files[0].clone();
    for round in 0..4 {
        let table = lake.load_table("clicks").await.unwrap();
        let bin = bidlake_maintain::plan::Bin {
            partition_path: plan.bins[0].partition_path.clone(),
            partition: plan.bins[0].partition.clone(),
            files: vec![current.clone()],
        };
        let rewriter = Rewriter::new(&table, TARGET, 3, &[]).unwrap();
        let added = rewriter.rewrite(&bin).await.unwrap();
        let replacement = Replacement {
            rewritten: HashSet::from([current.file_path().to_owned()]),
            added: added.clone(),
            properties: HashMap::new(),
            merge_manifests: false,
            operation: Operation::Replace,
        };
        let Outcome::Committed { table, .. } =
            commit(&lake, &table, &replacement, &mut cache).await.unwrap()
        else {
            panic!("round {round} did not commit");
        };
        let snapshot = table.metadata().current_snapshot().unwrap();
        let listed = table.manifest_list_reader(snapshot).load().await.unwrap().entries().len();
        // The two untouched appends, the one just added, the one that deleted the old file.
        assert_eq!(listed, 4, "round {round}: manifests listed");
        assert_eq!(offsets(&table).await, (0..30).collect::<Vec<_>>(), "round {round}");
        current = added[0].clone();
    }
}

#[tokio::test]
async fn merged_manifests_keep_every_row_and_ingests_progress() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_clicks(dir.path(), 6).await;
    let table = lake.load_table("clicks").await.unwrap();
    let files = live_files(&table).await;
    let mut cache = ManifestCache::default();

    // Below the threshold: nothing happens.
    let report = merge(&lake, &table, 7, false, &mut cache).await.unwrap();
    assert_eq!((report.before, report.snapshot_id), (6, None));

    // Planned on a version an append has since left behind: the merged manifest goes on top of
    // the append, whose manifest is kept as it is.
    append(&lake, 60, 10).await;
    let report = merge(&lake, &table, 4, false, &mut cache).await.unwrap();
    assert_eq!(report.before, 6);
    assert_eq!(report.after, 2);
    let merged = lake.load_table("clicks").await.unwrap();
    let snapshot = merged.metadata().current_snapshot().unwrap();
    assert_eq!(Some(snapshot.snapshot_id()), report.snapshot_id);
    assert_eq!(snapshot.summary().operation, Operation::Replace);
    let summary = &snapshot.summary().additional_properties;
    assert_eq!(summary["bidlake.kafka.clicks.offsets"], "0:70", "the append's offsets carried");
    assert_eq!(summary["manifests-replaced"], "6");
    assert_eq!(summary["manifests-created"], "1");
    assert_eq!(summary["manifests-kept"], "1");
    assert_eq!(summary["total-records"], "70");
    assert_eq!(live_files(&merged).await.len(), files.len() + 1);
    assert_eq!(offsets(&merged).await, (0..70).collect::<Vec<_>>());
    // The first attempt's manifest list is gone; the merged manifest serves the commit.
    let lists = std::fs::read_dir(dir.path().join("warehouse/db/clicks/metadata"))
        .unwrap()
        .flatten()
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with(&format!("snap-{}-", snapshot.snapshot_id()))
        })
        .count();
    assert_eq!(lists, 1, "manifest lists of the merge's snapshot id");

    // Appends after a merge add to it; merging again leaves one manifest.
    append(&lake, 70, 10).await;
    let table = lake.load_table("clicks").await.unwrap();
    assert_eq!(data_manifests(&table).await.unwrap(), 3);
    merge(&lake, &table, 2, false, &mut cache).await.unwrap();
    let table = lake.load_table("clicks").await.unwrap();
    assert_eq!(data_manifests(&table).await.unwrap(), 1);
    assert_eq!(offsets(&table).await, (0..80).collect::<Vec<_>>());
}

/// Four appends to `db.clicks`, then a compaction (with a manifest merge, as a round does) that
/// rewrites three of the four files and keeps the fourth: the compacted table.
async fn compact_three_of_four(lake: &Lake, cache: &mut ManifestCache) -> Table {
    for i in 0..4 {
        append(lake, i * 10, 10).await;
    }
    let table = lake.load_table("clicks").await.unwrap();
    let compaction = plan(&table, cache, TARGET, TARGET).await.unwrap();
    let files = &compaction.bins[0].files[..3];
    let bin = bidlake_maintain::plan::Bin { files: files.to_vec(), ..compaction.bins[0].clone() };
    let added = Rewriter::new(&table, TARGET, 3, &[]).unwrap().rewrite(&bin).await.unwrap();
    let replacement = Replacement {
        rewritten: files.iter().map(|f| f.file_path().to_owned()).collect(),
        added,
        properties: HashMap::new(),
        merge_manifests: true,
        operation: Operation::Replace,
    };
    let Outcome::Committed { table, .. } = commit(lake, &table, &replacement, cache).await.unwrap()
    else {
        panic!("the compaction did not commit");
    };
    *table
}

/// A compaction's record of the files it deleted is a manifest of its own, with no live entry:
/// scans skip it by its counts (it is not even opened), and the next round drops it. Kept
/// inside the merged manifest, every query until the next round decoded those dead entries
/// (hundreds per round at 100-ms commits, docs/benchmarks.md "Running for weeks").
#[tokio::test]
async fn a_compactions_deleted_files_are_a_manifest_of_their_own_that_scans_do_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(LakeArgs::embedded().resolve(dir.path()).unwrap()).await.unwrap();
    setup_lake(&lake, false).await.unwrap();
    let mut cache = ManifestCache::default();
    let table = compact_three_of_four(&lake, &mut cache).await;

    let snapshot = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    let counts: Vec<(u32, u32, u32)> = list
        .entries()
        .iter()
        .map(|m| {
            let count = |c: Option<u32>| c.unwrap();
            (
                count(m.added_files_count),
                count(m.existing_files_count),
                count(m.deleted_files_count),
            )
        })
        .collect();
    let mut sorted = counts.clone();
    sorted.sort_unstable();
    // (added, existing, deleted): the deleted files alone, the one kept file, the new file.
    assert_eq!(sorted, vec![(0, 0, 3), (0, 1, 0), (1, 0, 0)], "manifests of the compaction");
    assert_eq!(snapshot.summary().additional_properties["deleted-data-files"], "3");

    // The record of what was deleted is not read by a scan: moved away, the rows still read.
    let dead = list
        .entries()
        .iter()
        .find(|m| m.added_files_count == Some(0) && m.existing_files_count == Some(0))
        .unwrap();
    let dead_path = dead.manifest_path.trim_start_matches("file://").to_owned();
    std::fs::rename(&dead_path, format!("{dead_path}.away")).unwrap();
    assert_eq!(offsets(&table).await, (0..40).collect::<Vec<_>>());
    assert_eq!(live_files(&table).await.len(), 2);
    std::fs::rename(format!("{dead_path}.away"), &dead_path).unwrap();

    // The next round (a merge after another append) drops it.
    append(&lake, 40, 10).await;
    let table = lake.load_table("clicks").await.unwrap();
    merge(&lake, &table, 2, false, &mut cache).await.unwrap();
    let table = lake.load_table("clicks").await.unwrap();
    let snapshot = table.metadata().current_snapshot().unwrap();
    let list = table.manifest_list_reader(snapshot).load().await.unwrap();
    assert!(
        list.entries().iter().all(|m| m.manifest_path != dead.manifest_path),
        "the record of the earlier compaction's deletions is dropped"
    );
    assert_eq!(list.entries().len(), 1);
    assert_eq!(offsets(&table).await, (0..50).collect::<Vec<_>>());
}

#[tokio::test]
async fn maintenance_beside_ingest_waits_for_enough_fresh_files_or_a_quiet_partition() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_clicks(dir.path(), 3).await;
    let mut cache = ManifestCache::default();
    let active = Selection { min_files: 4, quiet_after: Some(Duration::from_secs(3600)) };
    let quiet = Selection { min_files: 4, quiet_after: Some(Duration::ZERO) };

    // Three files in a partition written a moment ago: left alone, unless it counts as quiet.
    let table = lake.load_table("clicks").await.unwrap();
    let planned = plan_selected(&table, &mut cache, TARGET, TARGET, active).await.unwrap();
    assert!(planned.bins.is_empty());
    let planned = plan_selected(&table, &mut cache, TARGET, TARGET, quiet).await.unwrap();
    assert_eq!(planned.bins[0].files.len(), 3);

    // A fourth: compacted while still being written.
    append(&lake, 30, 10).await;
    let table = lake.load_table("clicks").await.unwrap();
    let planned = plan_selected(&table, &mut cache, TARGET, TARGET, active).await.unwrap();
    assert_eq!(planned.bins.len(), 1);
    assert_eq!(planned.bins[0].files.len(), 4);
}

/// Background maintenance keeps one `ReachCache` per table from round to round: what it says a
/// table references must equal what a fresh read says, after appends, a merge and an expiry, and
/// it must hold only the current snapshots' lists and manifests once the expired ones are gone.
#[tokio::test]
async fn the_reach_cache_kept_across_rounds_answers_as_a_fresh_read_and_forgets_expired_snapshots()
{
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(LakeArgs::embedded().resolve(dir.path()).unwrap()).await.unwrap();
    setup_lake(&lake, false).await.unwrap();
    let mut reach = ReachCache::default();
    for round in 0..3 {
        for i in 0..3 {
            append(&lake, (round * 3 + i) * 10, 10).await;
        }
        let table = lake.load_table("clicks").await.unwrap();
        let kept = Reachable::of_table(&table, &mut reach).await.unwrap();
        let fresh = Reachable::of_table(&table, &mut ReachCache::default()).await.unwrap();
        assert_eq!(kept.content, fresh.content, "round {round}");
        assert_eq!(kept.manifests, fresh.manifests, "round {round}");
        assert_eq!(kept.manifest_lists, fresh.manifest_lists, "round {round}");
        assert!(live_files(&table).await.is_subset(&kept.content), "round {round}");
        reach.forget_unused();
    }
    let snapshots = lake.load_table("clicks").await.unwrap().metadata().snapshots().count();
    assert_eq!(reach.held().0, snapshots, "one manifest list per snapshot");

    // Merge, then expire every snapshot but the current one through the kept cache.
    let table = lake.load_table("clicks").await.unwrap();
    merge(&lake, &table, 2, false, &mut ManifestCache::default()).await.unwrap();
    let table = lake.load_table("clicks").await.unwrap();
    let args = MaintainArgs {
        expire_snapshots: true,
        retain_snapshots_older_than: Duration::ZERO,
        ..MaintainArgs::all()
    };
    let report = expire(&lake, &table, &args, &mut reach).await.unwrap();
    assert_eq!(report.expired.len(), snapshots, "every snapshot before the merge's");
    assert!(!report.files.is_empty(), "the expired snapshots' lists and manifests deleted");
    for file in &report.files {
        assert!(!std::path::Path::new(file.trim_start_matches("file://")).exists(), "{file}");
    }
    reach.forget_unused();

    // The next round reads only the current snapshot and forgets the rest.
    let table = lake.load_table("clicks").await.unwrap();
    let kept = Reachable::of_table(&table, &mut reach).await.unwrap();
    reach.forget_unused();
    let fresh = Reachable::of_table(&table, &mut ReachCache::default()).await.unwrap();
    assert_eq!(kept.content, fresh.content);
    assert_eq!(kept.content, live_files(&table).await);
    assert_eq!(offsets(&table).await, (0..90).collect::<Vec<_>>());
    assert_eq!(reach.held(), (1, data_manifests(&table).await.unwrap()));
}

/// The vendored iceberg decodes manifests straight from their Avro bytes (vendor/README.md):
/// every manifest that appends, a compaction and a merge wrote decodes that way, to exactly
/// what iceberg's own reading through apache-avro's values gives, metrics included, and so does
/// each of them compressed as other engines write manifests.
#[tokio::test]
async fn manifests_decoded_directly_are_what_iceberg_reads_through_avro_values() {
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(LakeArgs::embedded().resolve(dir.path()).unwrap()).await.unwrap();
    setup_lake(&lake, false).await.unwrap();
    compact_three_of_four(&lake, &mut ManifestCache::default()).await;
    append(&lake, 40, 10).await;

    let (mut manifests, mut statuses, mut bounds) = (0, HashSet::new(), 0);
    for file in std::fs::read_dir(dir.path().join("warehouse/db/clicks/metadata")).unwrap() {
        let path = file.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".avro") || name.starts_with("snap-") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let direct = iceberg::spec::Manifest::parse_avro_directly(&bytes)
            .unwrap_or_else(|| panic!("{name} was not decoded directly"))
            .unwrap();
        let through_values = iceberg::spec::Manifest::parse_avro_through_values(&bytes).unwrap();
        assert_eq!(direct, through_values, "{name}");
        // The same manifest compressed, as other engines write them: read by another path.
        let deflated = deflated(&bytes);
        let direct = iceberg::spec::Manifest::parse_avro_directly(&deflated)
            .unwrap_or_else(|| panic!("{name}, compressed, was not decoded directly"))
            .unwrap();
        assert_eq!(direct, through_values, "{name}, compressed");
        assert_eq!(iceberg::spec::Manifest::parse_avro(&deflated).unwrap(), through_values);
        manifests += 1;
        for entry in direct.entries() {
            statuses.insert(format!("{:?}", entry.status()));
            bounds +=
                entry.data_file().lower_bounds().len() + entry.data_file().upper_bounds().len();
        }
    }
    assert_eq!(manifests, 8, "4 appends, the compaction's 3, the last append");
    assert_eq!(statuses.len(), 3, "ADDED, EXISTING and DELETED entries: {statuses:?}");
    assert!(bounds > 0, "entries with column bounds compared");
}

/// An Avro file written again with the deflate codec (the default of Java's and PyIceberg's
/// manifests), its metadata kept.
fn deflated(bytes: &[u8]) -> Vec<u8> {
    let reader = apache_avro::Reader::new(bytes).unwrap();
    let schema = reader.writer_schema().clone();
    let metadata = reader.user_metadata().clone();
    let codec = apache_avro::Codec::Deflate(Default::default());
    let mut writer = apache_avro::Writer::with_codec(&schema, Vec::new(), codec);
    for (key, value) in metadata {
        writer.add_user_metadata(key, value).unwrap();
    }
    for value in reader {
        writer.append(value.unwrap()).unwrap();
    }
    let deflated = writer.into_inner().unwrap();
    assert_ne!(deflated, bytes);
    deflated
}

/// Manifests written under two schemas of a table, read in one process: each keeps its own
/// schema (the vendored iceberg parses a manifest's header once per distinct header and keeps
/// it, vendor/README.md), and the rows of both read back, the added column null in the files
/// written before it and read by its field id in those after (the vendored reader's projection).
#[tokio::test]
async fn manifests_of_two_schemas_read_in_one_process_keep_their_own_schema() {
    use arrow_array::Array;
    use iceberg::spec::{PrimitiveType, Type};
    use iceberg::transaction::AddColumn;
    let dir = tempfile::tempdir().unwrap();
    let lake = open_lake(LakeArgs::embedded().resolve(dir.path()).unwrap()).await.unwrap();
    setup_lake(&lake, false).await.unwrap();
    append(&lake, 0, 10).await;
    let before = lake.load_table("clicks").await.unwrap();
    let columns = before.metadata().current_schema().as_struct().fields().len();
    // Read the first manifest now, so its header is the one parsed first.
    let first = ManifestCache::default()
        .load(
            &before,
            &bidlake_maintain::reach::manifest_list(
                &before,
                before.metadata().current_snapshot().unwrap(),
            )
            .await
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(first[0].1.metadata().schema().as_struct().fields().len(), columns);

    let tx = Transaction::new(&before);
    let tx = tx
        .update_schema()
        .add_column(AddColumn::optional("note", Type::Primitive(PrimitiveType::String)))
        .apply(tx)
        .unwrap();
    tx.commit(lake.catalog.as_ref()).await.unwrap();
    append(&lake, 10, 10).await;

    let table = lake.load_table("clicks").await.unwrap();
    let snapshot = table.metadata().current_snapshot().unwrap();
    let list = bidlake_maintain::reach::manifest_list(&table, snapshot).await.unwrap();
    let mut widths: Vec<usize> = ManifestCache::default()
        .load(&table, &list)
        .await
        .unwrap()
        .iter()
        .map(|(_, m)| m.metadata().schema().as_struct().fields().len())
        .collect();
    widths.sort_unstable();
    assert_eq!(
        widths,
        vec![columns, columns + 1],
        "each manifest with the schema it was written under"
    );
    assert_eq!(offsets(&table).await, (0..20).collect::<Vec<_>>());

    let mut notes: Vec<(i64, Option<String>)> = scan(&table, Some(&["note", "kafka_offset"]))
        .await
        .iter()
        .flat_map(|b| {
            let offsets = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap().clone();
            let notes = b.column(0).as_any().downcast_ref::<StringArray>().unwrap().clone();
            (0..b.num_rows()).map(move |i| {
                (offsets.value(i), notes.is_valid(i).then(|| notes.value(i).to_owned()))
            })
        })
        .collect();
    notes.sort_unstable();
    let expected: Vec<(i64, Option<String>)> =
        (0..20).map(|o| (o, (o >= 10).then(|| format!("note-{o}")))).collect();
    assert_eq!(notes, expected);
}

/// A scan without a filter reads the manifests without their data files' column statistics
/// (the vendored iceberg skips them, vendor/README.md); a scan with a filter, in the same process
/// and on the same table, still has them and prunes by them, whichever comes first.
#[tokio::test]
async fn scans_without_a_filter_skip_column_statistics_and_filtered_ones_still_prune_by_them() {
    use iceberg::expr::Reference;
    use iceberg::spec::Datum;
    let dir = tempfile::tempdir().unwrap();
    let lake = lake_with_clicks(dir.path(), 4).await;
    let table = lake.load_table("clicks").await.unwrap();
    // All four files are of one day: only their offsets' bounds can prune them.
    let from_30 = || Reference::new("kafka_offset").greater_than_or_equal_to(Datum::long(30));
    assert_eq!(planned_files(&table, None).await, 4, "no filter: every file");
    assert_eq!(planned_files(&table, Some(from_30())).await, 1, "pruned by the offsets' bounds");
    assert_eq!(planned_files(&table, None).await, 4);
    let fresh = lake.load_table("clicks").await.unwrap();
    let below_10 = Reference::new("kafka_offset").less_than(Datum::long(10));
    assert_eq!(planned_files(&fresh, Some(below_10)).await, 1, "a filtered scan first prunes too");

    // What the unfiltered scans decoded: the same entries, with no statistics.
    let list = bidlake_maintain::reach::manifest_list(
        &table,
        table.metadata().current_snapshot().unwrap(),
    )
    .await
    .unwrap();
    let bytes = std::fs::read(list[0].manifest_path.trim_start_matches("file://")).unwrap();
    let full = iceberg::spec::Manifest::parse_avro(&bytes).unwrap();
    let bare = iceberg::spec::Manifest::parse_avro_without_column_stats(&bytes).unwrap();
    assert_eq!(full.entries().len(), bare.entries().len());
    for (full, bare) in full.entries().iter().zip(bare.entries()) {
        let (f, b) = (full.data_file(), bare.data_file());
        assert!(!f.lower_bounds().is_empty() && !f.column_sizes().is_empty(), "{f:?}");
        assert_eq!(
            (f.file_path(), f.record_count(), f.file_size_in_bytes(), f.partition()),
            (b.file_path(), b.record_count(), b.file_size_in_bytes(), b.partition())
        );
        assert_eq!(full.status(), bare.status());
        assert!(b.lower_bounds().is_empty() && b.upper_bounds().is_empty());
        assert!(b.column_sizes().is_empty() && b.value_counts().is_empty());
        assert!(b.null_value_counts().is_empty() && b.nan_value_counts().is_empty());
    }
}
