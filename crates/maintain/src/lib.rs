//! `bidlake maintain`: keeping the tables fast and their storage bounded while ingest writes.
//!
//! - compaction ([`compact`]): small data files of a partition are rewritten into files near a
//!   target size and committed as one `replace` snapshot that carries ingest's Kafka offsets;
//! - manifest merging ([`manifests`]): the data manifests appends left behind become one;
//! - snapshot expiry ([`expire`]): old snapshots leave the metadata, and files only they needed
//!   are deleted;
//! - orphan-file removal ([`orphans`]): files under a table's location that nothing references.
//!
//! Each action is safe to run while `ingest` commits: none deletes a file a retained snapshot or
//! a commit in flight needs, and a compaction that raced an append re-plans its commit on top of
//! it or gives up. [`background`] runs them on a schedule beside ingest.

pub mod background;
pub mod compact;
mod error;
pub mod expire;
pub mod manifests;
mod options;
pub mod orphans;
pub mod plan;
mod progress;
pub mod reach;
pub mod replace;
pub mod rewrite;
pub mod storage;

use std::time::{Duration, Instant};

use bidlake_lake::Lake;
use iceberg::table::Table;

pub use background::{AutoMaintainArgs, MaintenanceMetrics, MaintenanceSnapshot};
pub use compact::CompactionReport;
pub(crate) use error::Context;
pub use error::{Error, Result};
pub use expire::ExpiryReport;
pub use options::{Actions, MIN_ORPHAN_AGE, MaintainArgs, Selection, parse_size};
pub use orphans::OrphanReport;
pub use plan::FileStats;

use crate::reach::{ManifestCache, ReachCache};

/// What maintenance did to one table.
#[derive(Debug, Clone)]
pub struct TableReport {
    /// `namespace.table`.
    pub table: String,
    /// Live data files of the current snapshot before and after (estimated in a dry run).
    pub before: FileStats,
    pub after: FileStats,
    pub compaction: Option<CompactionReport>,
    /// Manifest merging (runs with compaction).
    pub manifests: Option<manifests::MergeReport>,
    pub expiry: Option<ExpiryReport>,
    pub orphans: Option<OrphanReport>,
    pub elapsed: Duration,
    pub dry_run: bool,
}

/// Runs the actions `args` asks for on each of its tables, one table after the other.
pub async fn run(lake: &Lake, args: &MaintainArgs) -> Result<Vec<TableReport>> {
    args.validate()?;
    let tables = resolve_tables(lake, &args.tables).await?;
    let actions = args.actions();
    let mut locations = Vec::new();
    if actions.orphans {
        for name in &tables {
            locations.push(lake.load_table(name).await?.metadata().location().to_owned());
        }
    }
    let mut reports = Vec::new();
    for name in &tables {
        let started = Instant::now();
        let mut cache = ManifestCache::default();
        let mut reach = ReachCache::default();
        let table = lake.load_table(name).await?;
        let before = live_files(&table, &mut cache).await?;
        let mut report = TableReport {
            table: table.identifier().to_string(),
            before,
            after: before,
            compaction: None,
            manifests: None,
            expiry: None,
            orphans: None,
            elapsed: Duration::ZERO,
            dry_run: args.dry_run,
        };
        if actions.compact {
            let compaction = compact::compact(lake, &table, args, &mut cache).await?;
            if args.dry_run {
                report.after.files =
                    report.after.files - compaction.input.files + compaction.output.files;
            }
            report.compaction = Some(compaction);
            let table = lake.load_table(name).await?;
            report.manifests = Some(
                manifests::merge(
                    lake,
                    &table,
                    manifests::MIN_MANIFESTS_TO_MERGE,
                    args.dry_run,
                    &mut cache,
                )
                .await?,
            );
        }
        if actions.expire {
            let table = lake.load_table(name).await?;
            report.expiry = Some(expire::expire(lake, &table, args, &mut reach).await?);
        }
        if actions.orphans {
            let table = lake.load_table(name).await?;
            report.orphans =
                Some(orphans::remove_orphans(lake, &table, &locations, args, &mut reach).await?);
        }
        if !args.dry_run {
            let table = lake.load_table(name).await?;
            report.after = live_files(&table, &mut cache).await?;
        }
        report.elapsed = started.elapsed();
        reports.push(report);
    }
    Ok(reports)
}

/// The tables to maintain: every table of the namespace, or the ones named (with or without
/// the namespace, e.g. `db.bid_requests` or `bid_requests`), which must exist.
async fn resolve_tables(lake: &Lake, wanted: &[String]) -> Result<Vec<String>> {
    let namespace = lake.namespace();
    let catalog = lake.config.catalog_display();
    let exists = lake
        .catalog
        .namespace_exists(&namespace)
        .await
        .context(|| format!("reaching the catalog {catalog} (check CATALOG_URI)"))?;
    if !exists {
        return Err(Error::Config(format!(
            "the catalog {catalog} has no namespace {}; run `bidlake setup` or set CATALOG_NAMESPACE",
            lake.config.namespace
        )));
    }
    let mut available: Vec<String> = lake
        .catalog
        .list_tables(&namespace)
        .await
        .context(|| format!("listing the tables of {} in {catalog}", lake.config.namespace))?
        .into_iter()
        .map(|t| t.name().to_owned())
        .collect();
    available.sort();
    if wanted.is_empty() {
        return Ok(available);
    }
    let prefix = format!("{}.", lake.config.namespace);
    let with_catalog = format!("{}.{prefix}", lake.config.catalog_name);
    let mut tables = Vec::new();
    for name in wanted {
        let short =
            name.strip_prefix(&with_catalog).or_else(|| name.strip_prefix(&prefix)).unwrap_or(name);
        if !available.iter().any(|t| t == short) {
            return Err(Error::UnknownTable {
                table: name.clone(),
                namespace: lake.config.namespace.clone(),
                available: if available.is_empty() {
                    "no tables (run `bidlake setup`)".into()
                } else {
                    available.iter().map(|t| format!("{prefix}{t}")).collect::<Vec<_>>().join(", ")
                },
            });
        }
        if !tables.iter().any(|t| t == short) {
            tables.push(short.to_owned());
        }
    }
    Ok(tables)
}

/// The live data files of the table's current snapshot.
async fn live_files(table: &Table, cache: &mut ManifestCache) -> Result<FileStats> {
    let mut stats = FileStats::default();
    let Some(snapshot) = table.metadata().current_snapshot() else { return Ok(stats) };
    let list = reach::manifest_list(table, snapshot).await?;
    for (_, manifest) in cache.load(table, &list).await? {
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            stats.files += 1;
            stats.bytes += entry.file_size_in_bytes();
            stats.records += entry.record_count();
        }
    }
    Ok(stats)
}
