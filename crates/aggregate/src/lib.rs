//! `bidlake aggregate`: the aggregate tables (crates/tables/src/aggregates.rs) kept up to date
//! from the event tables, exactly once.
//!
//! Each round, for each aggregate table: find the rows appended to the event tables since the
//! snapshots it consumed last (recorded in its own snapshot summary, as ingest records Kafka
//! offsets), turn their event-time ranges into the hours of windows they can change, recompute
//! those hours with the table's SQL over the event tables pinned at their current snapshots,
//! and commit one snapshot that replaces those hours' files and records the snapshots read. A
//! crash before the commit leaves nothing; after it, the next round starts from what it
//! recorded. The result of a round depends only on the event tables' snapshots, so an aggregate
//! row always equals its SQL over the event tables as of the snapshots recorded with it, late
//! events included, and no reader has to apply deletes to get it.
//!
//! Why a sibling of ingest and not part of it: it reads committed rows only (so it inherits the
//! event tables' exactly-once instead of needing its own), it runs SQL (DataFusion stays out of
//! the ingest path), and a failing aggregate never holds back the raw data.

mod changes;
mod error;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bidlake_lake::Lake;
use bidlake_lake::pinned::{Attempt, commit_pinned};
use bidlake_maintain::reach::{ManifestCache, manifest_list};
use bidlake_maintain::replace::{self, Outcome, Replacement};
use bidlake_tables::aggregates::HOUR_MICROS;
use bidlake_tables::{AggregateTable, EventTable};
use iceberg::spec::{Literal, Operation, PrimitiveLiteral};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

pub use changes::Changes;
pub use error::{Error, Result};

/// Summary key of the event-table snapshot an aggregate table has consumed.
fn consumed_key(source: EventTable) -> String {
    format!("bidlake.aggregate.{}.snapshot-id", source.name())
}

/// How the aggregate tables are kept (`bidlake aggregate`, and `bidlake up`).
#[derive(Debug, Clone, clap::Args)]
pub struct AggregateArgs {
    /// How often the aggregate tables catch up with the event tables. Their rows appear within
    /// about this long of the raw rows they come from (plus ingest's commit interval).
    #[arg(long = "aggregate-interval", env = "AGGREGATE_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub interval: Duration,
}

impl Default for AggregateArgs {
    fn default() -> Self {
        Self { interval: Duration::from_secs(10) }
    }
}

/// What one round did to one aggregate table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Hours of windows recomputed.
    pub hours: usize,
    /// Rows written for them.
    pub rows: usize,
    /// Everything was recomputed (first round, or the consumed snapshots had expired).
    pub everything: bool,
    /// The table moved meanwhile (another writer); the next round does it again.
    pub conflict: bool,
}

/// Rounds every `interval` until `stop`; with `once`, one round that fails on the first error.
pub async fn run(
    lake: &Lake,
    args: &AggregateArgs,
    once: bool,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    if args.interval.is_zero() {
        return Err(Error::Config(
            "AGGREGATE_INTERVAL (--aggregate-interval) must be more than 0".into(),
        ));
    }
    let mut cache = ManifestCache::default();
    loop {
        let started = Instant::now();
        for table in AggregateTable::ALL {
            match round(lake, table, &mut cache).await {
                Ok(report) if report.hours > 0 || report.conflict => tracing::info!(
                    table = table.name(),
                    hours = report.hours,
                    rows = report.rows,
                    everything = report.everything,
                    conflict = report.conflict,
                    took_ms = started.elapsed().as_millis() as u64,
                    "aggregated"
                ),
                Ok(_) => {}
                Err(err) if once || err.is_for_a_person() => return Err(err),
                Err(err) => tracing::warn!(
                    table = table.name(),
                    error = %bidlake_lake::error_chain(&err),
                    "aggregating failed; trying again next round"
                ),
            }
        }
        if once || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let due = started + args.interval;
        while Instant::now() < due {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            tokio::time::sleep((due - Instant::now()).min(Duration::from_millis(200))).await;
        }
    }
}

/// Brings one aggregate table up to date with the event tables as they are now.
pub async fn round(
    lake: &Lake,
    aggregate: AggregateTable,
    cache: &mut ManifestCache,
) -> Result<RoundReport> {
    let target = lake.load_table(aggregate.name()).await?;
    bidlake_lake::setup::require_compatible(lake, &aggregate.definition()?, &target)?;
    let reaches = aggregate.reaches();
    let mut sources: BTreeMap<EventTable, Table> = BTreeMap::new();
    for reach in &reaches {
        if let std::collections::btree_map::Entry::Vacant(entry) = sources.entry(reach.source) {
            entry.insert(lake.load_table(reach.source.name()).await?);
        }
    }
    let consumed = consumed(&target);
    let current: BTreeMap<EventTable, Option<i64>> = sources
        .iter()
        .map(|(t, table)| (*t, table.metadata().current_snapshot().map(|s| s.snapshot_id())))
        .collect();
    if current.iter().all(|(t, id)| consumed.get(t).copied() == *id) {
        return Ok(RoundReport::default());
    }

    // The hours of windows the new rows can change.
    let mut ranges: Vec<(bidlake_tables::aggregates::Reach, (i64, i64))> = Vec::new();
    let mut everything = target.metadata().current_snapshot().is_none();
    for reach in &reaches {
        let table = &sources[&reach.source];
        match changes::appended(table, consumed.get(&reach.source).copied(), cache).await? {
            Changes::Ranges(found) => ranges.extend(found.into_iter().map(|r| (*reach, r))),
            Changes::Everything => everything = true,
        }
    }
    if everything {
        ranges.clear();
        for reach in &reaches {
            let all = changes::everything(&sources[&reach.source], cache).await?;
            ranges.extend(all.into_iter().map(|r| (*reach, r)));
        }
    }
    let mut hours = BTreeSet::new();
    let (earliest, latest) = plausible_event_times();
    for (reach, (lo, hi)) in ranges {
        let first = hour_of(lo.saturating_sub(reach.before_micros).max(earliest));
        let last = hour_of(hi.saturating_add(reach.after_micros).min(latest));
        let mut hour = first;
        while hour <= last {
            hours.insert(hour);
            hour += HOUR_MICROS;
        }
    }

    // Recompute them over the event tables exactly as loaded above.
    let pinned: Vec<Table> = sources.values().cloned().collect();
    let session = bidlake_query::session_over(lake, &pinned, None)
        .await
        .map_err(|source| Error::Query { table: aggregate.name(), source })?;
    let prefix = format!("bidlake-aggregate-{}", uuid::Uuid::new_v4());
    let mut added = Vec::new();
    let mut rows = 0;
    for &hour in &hours {
        let sql = aggregate.sql(hour, hour + HOUR_MICROS);
        let batches = bidlake_query::run(&session, &sql)
            .await
            .map_err(|source| Error::Query { table: aggregate.name(), source })?;
        let n: usize = batches.iter().map(|b| b.num_rows()).sum();
        if n > 0 {
            rows += n;
            added.extend(write::hour_files(&target, hour, &batches, &prefix).await?);
        }
    }

    // One snapshot: those hours' old files out, the new ones in, the snapshots read recorded.
    let rewritten = live_files(&target, cache, |hour| everything || hours.contains(&hour)).await?;
    let mut properties: HashMap<String, String> = HashMap::new();
    for (source, id) in &current {
        if let Some(id) = id {
            properties.insert(consumed_key(*source), id.to_string());
        }
    }
    properties.insert("bidlake.aggregate.hours-recomputed".into(), hours.len().to_string());
    let report = RoundReport { hours: hours.len(), rows, everything, conflict: false };
    let committed = if rewritten.is_empty() {
        let tx = Transaction::new(&target);
        let tx = tx
            .fast_append()
            .with_check_duplicate(false)
            .add_data_files(added.clone())
            .set_snapshot_properties(properties)
            .apply(tx)
            .map_err(|e| {
                Error::iceberg(format!("planning the commit to {}", aggregate.name()), e)
            })?;
        match commit_pinned(lake, &target, tx).await {
            Ok(Attempt::Committed(_)) => true,
            Ok(Attempt::Conflict) => false,
            Err(e) => {
                discard(&target, &added).await;
                return Err(Error::iceberg(format!("committing to {}", aggregate.name()), e));
            }
        }
    } else {
        let replacement = Replacement {
            rewritten,
            added: added.clone(),
            properties,
            merge_manifests: true,
            operation: Operation::Overwrite,
        };
        match replace::commit(lake, &target, &replacement, cache).await {
            Ok(Outcome::Committed { .. }) => true,
            Ok(Outcome::Conflict | Outcome::Stale(_)) => false,
            Err(e) => {
                discard(&target, &added).await;
                return Err(e.into());
            }
        }
    };
    if !committed {
        discard(&target, &added).await;
        return Ok(RoundReport { conflict: true, ..report });
    }
    Ok(report)
}

/// The event-table snapshots the aggregate table has consumed: from the newest snapshot of its
/// history that records them.
fn consumed(target: &Table) -> HashMap<EventTable, i64> {
    let metadata = target.metadata();
    let mut snapshot = metadata.current_snapshot();
    while let Some(s) = snapshot {
        let props = &s.summary().additional_properties;
        let found: HashMap<EventTable, i64> = EventTable::ALL
            .into_iter()
            .filter_map(|t| Some((t, props.get(&consumed_key(t))?.parse().ok()?)))
            .collect();
        if !found.is_empty() {
            return found;
        }
        snapshot = s.parent_snapshot_id().and_then(|id| metadata.snapshot_by_id(id));
    }
    HashMap::new()
}

/// Paths of the aggregate table's live data files whose window hour `replace` says to replace.
async fn live_files(
    target: &Table,
    cache: &mut ManifestCache,
    replace: impl Fn(i64) -> bool,
) -> Result<std::collections::HashSet<String>> {
    let mut paths = std::collections::HashSet::new();
    let Some(current) = target.metadata().current_snapshot() else { return Ok(paths) };
    let list = manifest_list(target, current).await?;
    for (_, manifest) in cache.load(target, &list).await? {
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let hour = match entry.data_file().partition().fields().first() {
                Some(Some(Literal::Primitive(PrimitiveLiteral::Int(h)))) => {
                    i64::from(*h) * HOUR_MICROS
                }
                _ => i64::MIN,
            };
            if hour == i64::MIN || replace(hour) {
                paths.insert(entry.file_path().to_owned());
            }
        }
    }
    Ok(paths)
}

/// Deletes files written for a commit that did not happen (orphan removal would, later).
async fn discard(target: &Table, files: &[iceberg::spec::DataFile]) {
    let paths: Vec<String> = files.iter().map(|f| f.file_path().to_owned()).collect();
    replace::delete_quietly(target, &paths).await;
}

/// Event times a window can have: ingest takes none before 2000 or more than a day ahead, so a
/// file without bounds (another writer's) does not make a round walk every hour of all time.
fn plausible_event_times() -> (i64, i64) {
    const YEAR_2000: i64 = 946_684_800_000_000;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    (YEAR_2000, now.saturating_add(2 * 24 * HOUR_MICROS))
}

fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(HOUR_MICROS) * HOUR_MICROS
}
