//! Compaction of one table: plan on the current snapshot, rewrite every bin, then commit one
//! `replace` snapshot. While the rewrite runs, ingest may commit appends; the commit then
//! conflicts, and is planned again on the new snapshot (keeping the appends) as long as every
//! rewritten file is still live. Otherwise the compaction is given up and its files deleted, so
//! no row is ever lost or doubled.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bidlake_lake::Lake;
use futures::{StreamExt, TryStreamExt};
use iceberg::spec::DataFile;
use iceberg::table::Table;

use crate::plan::{FileStats, Plan, plan_selected};
use crate::progress::RewriteProgress;
use crate::reach::ManifestCache;
use crate::replace::{Outcome, Replacement, commit_retrying, delete_quietly};
use crate::rewrite::Rewriter;
use crate::{Context, Error, MaintainArgs, Result};

/// What compaction did to (or, in a dry run, planned for) one table.
#[derive(Debug, Clone, Default)]
pub struct CompactionReport {
    /// Bins planned: (partition, files, bytes).
    pub bins: Vec<(String, usize, u64)>,
    pub input: FileStats,
    pub output: FileStats,
    /// The replace snapshot committed.
    pub snapshot_id: Option<i64>,
    /// Why nothing was committed, when nothing was.
    pub skipped: Option<String>,
    pub rewrite_time: Duration,
}

/// Compacts `table`; `table` must be freshly loaded.
pub async fn compact(
    lake: &Lake,
    table: &Table,
    args: &MaintainArgs,
    cache: &mut ManifestCache,
) -> Result<CompactionReport> {
    let name = table.identifier().to_string();
    let small = args.small_file_threshold();
    let plan: Plan =
        plan_selected(table, cache, small, args.target_file_size, args.selection).await?;
    let mut report = CompactionReport {
        bins: plan
            .bins
            .iter()
            .map(|b| (b.partition_path.clone(), b.files.len(), b.bytes()))
            .collect(),
        input: plan.input(),
        ..Default::default()
    };
    if let Some(reason) = plan.unsupported {
        tracing::warn!(table = %name, %reason, "not compacting");
        report.skipped = Some(reason);
        return Ok(report);
    }
    if plan.bins.is_empty() {
        report.skipped = Some(if args.selection == crate::Selection::ALL {
            "no partition has two or more small files".into()
        } else {
            format!(
                "no partition has {} or more small files, or two and nothing new for a while",
                args.selection.min_files
            )
        });
        return Ok(report);
    }
    tracing::info!(
        table = %name,
        files = report.input.files,
        bytes = report.input.bytes,
        bins = plan.bins.len(),
        small_file_size = small,
        target_file_size = args.target_file_size,
        "compaction planned"
    );
    if args.dry_run {
        report.output.files = plan.bins.len();
        report.output.bytes = report.input.bytes;
        report.output.records = report.input.records;
        return Ok(report);
    }

    // Rewrite, a few bins at once (each bin is decoded and encoded on one core).
    let started = Instant::now();
    let rewriter =
        Arc::new(Rewriter::new(table, args.target_file_size, args.zstd_level, &args.sort_by)?);
    let total = plan.bins.len();
    let parallelism = args.rewrite_parallelism();
    let mut rewrites = futures::stream::iter(plan.bins.iter().cloned())
        .map(|bin| {
            let rewriter = rewriter.clone();
            async move {
                let bytes = bin.bytes();
                let partition = bin.partition_path.clone();
                let files = tokio::spawn(async move { rewriter.rewrite(&bin).await })
                    .await
                    .map_err(|e| Error::Config(format!("a rewrite task failed: {e}")))
                    .and_then(|r| r);
                (files, bytes, partition)
            }
        })
        .buffer_unordered(parallelism);
    let mut added: Vec<DataFile> = Vec::new();
    let mut failure = None;
    let (mut done, mut done_bytes) = (0usize, 0u64);
    let mut progress = RewriteProgress::new(&name.to_string(), total);
    while let Some((files, bytes, partition)) = rewrites.next().await {
        match files {
            Ok(files) => added.extend(files),
            Err(err) => {
                // Let the rewrites in flight finish, so every file written can be deleted.
                failure.get_or_insert(err);
                continue;
            }
        }
        done += 1;
        done_bytes += bytes;
        progress.update(done, done_bytes, &partition.to_string());
    }
    drop(rewrites);
    if let Some(err) = failure {
        discard(table, &added, &rewriter.file_prefix).await;
        return Err(err);
    }
    report.rewrite_time = started.elapsed();
    report.output = FileStats {
        files: added.len(),
        bytes: added.iter().map(DataFile::file_size_in_bytes).sum(),
        records: added.iter().map(DataFile::record_count).sum(),
    };

    let mut properties = HashMap::from([
        ("bidlake.compaction.rewritten-files".to_owned(), report.input.files.to_string()),
        ("bidlake.compaction.rewritten-bytes".to_owned(), report.input.bytes.to_string()),
        ("bidlake.compaction.written-files".to_owned(), report.output.files.to_string()),
        ("bidlake.compaction.written-bytes".to_owned(), report.output.bytes.to_string()),
        ("bidlake.compaction.target-file-size".to_owned(), args.target_file_size.to_string()),
        ("bidlake.compaction.partitions".to_owned(), count_partitions(&plan).to_string()),
    ]);
    if !args.sort_by.is_empty() {
        properties.insert("bidlake.compaction.sort-by".to_owned(), args.sort_by.join(","));
    }
    let replacement = Replacement {
        rewritten: plan
            .bins
            .iter()
            .flat_map(|b| b.files.iter().map(|f| f.file_path().to_owned()))
            .collect(),
        added,
        properties,
        // The manifests are being rewritten anyway; one per spec keeps every later append's
        // manifest list short.
        merge_manifests: true,
        operation: iceberg::spec::Operation::Replace,
    };

    // A rewrite that outlasted another process's orphan retention may have lost its files;
    // committing then would reference missing data. (The commit's retries take milliseconds.)
    let missing = missing_files(table, &replacement.added).await?;
    let outcome = if missing > 0 {
        Outcome::Stale(format!(
            "{missing} of the files it wrote vanished before the commit (was orphan removal \
             run with a retention shorter than this compaction took?)"
        ))
    } else {
        commit_retrying(lake, table, &replacement, cache).await?
    };
    match outcome {
        Outcome::Committed { snapshot_id, .. } => {
            tracing::info!(table = %name, snapshot_id, "compaction committed");
            report.snapshot_id = Some(snapshot_id);
        }
        not_committed => {
            let reason = match not_committed {
                Outcome::Stale(reason) => reason,
                _ => "the table kept changing".to_owned(),
            };
            tracing::warn!(table = %name, %reason, "compaction abandoned; its files are deleted");
            discard(table, &replacement.added, &rewriter.file_prefix).await;
            report.skipped = Some(reason);
        }
    }
    Ok(report)
}

/// How many of `files` are not in storage.
async fn missing_files(table: &Table, files: &[DataFile]) -> Result<usize> {
    let io = table.file_io();
    let found: Vec<bool> = futures::stream::iter(files)
        .map(|file| async move {
            io.exists(file.file_path())
                .await
                .context(|| format!("checking that {} exists", file.file_path()))
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    Ok(found.iter().filter(|exists| !**exists).count())
}

fn count_partitions(plan: &Plan) -> usize {
    plan.bins.iter().map(|b| b.partition_path.as_str()).collect::<HashSet<_>>().len()
}

/// Deletes a compaction's files that will never be committed.
async fn discard(table: &Table, files: &[DataFile], prefix: &str) {
    let paths: Vec<String> = files.iter().map(|f| f.file_path().to_owned()).collect();
    delete_quietly(table, &paths).await;
    tracing::info!(files = paths.len(), prefix, "deleted the uncommitted files of this compaction");
}
