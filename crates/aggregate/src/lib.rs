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
//! Recomputing an hour costs the hour's rows, so a long-running aggregator keeps the recent
//! events in memory (crates/aggregate/src/warm.rs) and, where an aggregate table consumed exactly
//! the snapshots the memory is at, adds what the new rows change to its stored rows instead; the
//! hours the memory cannot vouch for are recomputed as above, in the same commit.
//!
//! Why a sibling of ingest and not part of it: it reads committed rows only (so it inherits the
//! event tables' exactly-once instead of needing its own), it runs SQL (DataFusion stays out of
//! the ingest path), and a failing aggregate never holds back the raw data.

mod changes;
mod error;
mod read;
mod rows;
/// The memory of recent events; public for its benchmark (benches/warm.rs).
pub mod warm;
mod write;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bidlake_lake::pinned::{Attempt, commit_pinned};
use bidlake_lake::{KeptTables, Lake};
use bidlake_maintain::reach::{ManifestCache, manifest_list};
use bidlake_maintain::replace::{self, Outcome, Replacement};
use bidlake_tables::aggregates::{HOUR_MICROS, Reach};
use bidlake_tables::{AggregateTable, EventTable};
use iceberg::spec::{DataFile, Literal, Operation, PrimitiveLiteral};
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

pub use bidlake_tables::CommittedRows;
pub use changes::Changes;
pub use error::{Error, Result};
use warm::{Acc, Applied, Group, Sums, Warm};

/// Summary key of the event-table snapshot an aggregate table has consumed.
fn consumed_key(source: EventTable) -> String {
    format!("bidlake.aggregate.{}.snapshot-id", source.name())
}

/// How the aggregate tables are kept (`bidlake aggregate`, and `bidlake up`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AggregateArgs {
    /// How often the aggregate tables catch up with the event tables. In ingest's process (`up`,
    /// `ingest --aggregate`) a round starts just after one of ingest's commits, by default every
    /// other one (twice `--commit-interval`), so that their rows appear within a commit interval
    /// and a round's time of the raw rows they come from; in a process of its own (`bidlake
    /// aggregate`), by default every 10 s.
    #[arg(long = "aggregate-interval", env = "AGGREGATE_INTERVAL", value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub interval: Option<Duration>,
}

impl AggregateArgs {
    /// A process of its own catches up this often unless told.
    pub const ALONE_EVERY: Duration = Duration::from_secs(10);

    /// The interval rounds keep: the one given, else every other commit of an ingest in this
    /// process (`commit_interval`), else [`Self::ALONE_EVERY`]. A round every other commit
    /// rather than every one pays a round's cost, most of the aggregates' CPU beside ingest,
    /// half as often (docs/benchmarks.md, issue 16's figures), and still shows their rows within
    /// two commit intervals of the raw rows.
    pub fn interval(&self, commit_interval: Option<Duration>) -> Duration {
        self.interval.unwrap_or_else(|| commit_interval.map_or(Self::ALONE_EVERY, |c| c * 2))
    }
}

/// What one round did to one aggregate table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Hours of windows written (recomputed or added to).
    pub hours: usize,
    /// Of those, hours whose stored rows the new events were added to.
    pub hours_added_to: usize,
    /// Rows written for them.
    pub rows: usize,
    /// Everything was recomputed (first round, or the consumed snapshots had expired).
    pub everything: bool,
    /// The table moved meanwhile (another writer); the next round does it again.
    pub conflict: bool,
}

/// What a process keeps between rounds: the recent events ([`warm`]) and the aggregate rows it
/// last wrote or read, so that a round adds its changes to them instead of recomputing hours.
#[derive(Default)]
struct Memory {
    warm: Option<Warm>,
    stored: HashMap<AggregateTable, Stored>,
    /// The tables as last loaded or committed here or by an ingest in this process: loaded
    /// again only when the catalog moved.
    tables: KeptTables,
    /// How the last round got its new events: appends whose rows ingest handed over, and
    /// data files read.
    from_ingest: usize,
    files_read: usize,
}

/// An aggregate table's rows per hour of windows, as of its snapshot `snapshot`.
struct Stored {
    snapshot: i64,
    hours: HashMap<i64, Sums>,
}

/// Hours of aggregate rows kept in memory, back from the clock's hour: those the window's
/// rows reach.
const STORED_HOURS: i64 = 3;

/// What an ingest in the same process hands the aggregator (`bidlake up`, `bidlake ingest
/// --aggregate`): the rows of its commits, the tables as its commits left them, and a wake-up
/// after each commit cycle.
#[derive(Debug, Clone)]
pub struct Handoff {
    pub rows: CommittedRows,
    pub tables: KeptTables,
    /// Woken after each of ingest's commit cycles that committed rows.
    pub commits: Arc<tokio::sync::Notify>,
    /// How often ingest commits.
    pub commit_interval: Duration,
}

/// When the round after one that started at `started` starts, given `interval`: on a clock,
/// or, beside an ingest (`commit_interval`), just after the first of its commits from half a
/// commit interval before `interval` is up, so that the aggregates follow the raw rows by a
/// round's time instead of by up to `interval`; without such a commit (an idle stream, or
/// commits far apart), half a commit interval after `interval` is up, or at most another
/// `interval` (other writers' rows wait no longer than that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NextRound {
    earliest: Instant,
    latest: Instant,
}

impl NextRound {
    fn after(started: Instant, interval: Duration, commit_interval: Option<Duration>) -> Self {
        let due = started + interval;
        match commit_interval {
            None => NextRound { earliest: due, latest: due },
            Some(commits) => NextRound {
                earliest: due.checked_sub(commits / 2).unwrap_or(started).max(started),
                latest: due + (commits / 2).min(interval),
            },
        }
    }
}

/// Rounds every `interval` until `stop`; with `once`, one round that fails on the first error.
/// With `handoff`, the rows an ingest in this process committed are taken from it instead of
/// read back from the files it wrote, and the tables it committed are not loaded again.
pub async fn run(
    lake: &Lake,
    args: &AggregateArgs,
    once: bool,
    handoff: Option<Handoff>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let (rows, tables, commits) = match handoff {
        Some(Handoff { rows, tables, commits, commit_interval }) => {
            (Some(rows), tables, Some((commits, commit_interval)))
        }
        None => (None, KeptTables::default(), None),
    };
    // However this ends, ingest holds nothing more for it.
    let _closing = CloseOnDrop(rows.clone());
    let interval = args.interval(commits.as_ref().map(|c| c.1));
    if interval.is_zero() {
        return Err(Error::Config(
            "AGGREGATE_INTERVAL (--aggregate-interval) must be more than 0".into(),
        ));
    }
    let mut cache = ManifestCache::default();
    let mut memory = Memory { tables, ..Memory::default() };
    loop {
        let started = Instant::now();
        let reports = catch_up(lake, &mut cache, &mut memory, once, rows.as_ref()).await;
        cache.forget_unused();
        let reports = match reports {
            Ok(reports) => reports,
            Err(err) if once || err.is_for_a_person() => return Err(err),
            Err(err) => {
                tracing::warn!(error = %bidlake_lake::error_chain(&err), "aggregating failed; trying again next round");
                Vec::new()
            }
        };
        for (table, result) in reports {
            match result {
                Ok(report) if report.hours > 0 || report.conflict => tracing::info!(
                    table = table.name(),
                    hours = report.hours,
                    hours_added_to = report.hours_added_to,
                    rows = report.rows,
                    everything = report.everything,
                    conflict = report.conflict,
                    appends_from_ingest = memory.from_ingest,
                    event_files_read = memory.files_read,
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
        let next = NextRound::after(started, interval, commits.as_ref().map(|c| c.1));
        if !wait_for_round(next, commits.as_ref().map(|c| c.0.as_ref()), &stop).await {
            return Ok(());
        }
    }
}

/// Waits until the next round is to start (see [`NextRound`]); `false` if `stop` was raised.
async fn wait_for_round(
    next: NextRound,
    commits: Option<&tokio::sync::Notify>,
    stop: &AtomicBool,
) -> bool {
    let step = Duration::from_millis(200);
    let until = |at: Instant| (at.saturating_duration_since(Instant::now())).min(step);
    while Instant::now() < next.earliest {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        tokio::time::sleep(until(next.earliest)).await;
    }
    let Some(commits) = commits else { return !stop.load(Ordering::Relaxed) };
    // Registered from here on: a commit ending while this waits wakes it.
    let committed = commits.notified();
    tokio::pin!(committed);
    while Instant::now() < next.latest {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        tokio::select! {
            () = &mut committed => break,
            () = tokio::time::sleep(until(next.latest)) => {}
        }
    }
    !stop.load(Ordering::Relaxed)
}

struct CloseOnDrop(Option<CommittedRows>);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        if let Some(handoff) = &self.0 {
            handoff.close();
        }
    }
}

/// One round over every aggregate table: the event tables' new rows taken into memory, then
/// each aggregate brought up to date with the event tables as loaded here.
async fn catch_up(
    lake: &Lake,
    cache: &mut ManifestCache,
    memory: &mut Memory,
    once: bool,
    handoff: Option<&CommittedRows>,
) -> Result<Vec<(AggregateTable, Result<RoundReport>)>> {
    let mut sources: BTreeMap<EventTable, Table> = BTreeMap::new();
    for source in EventTable::ALL {
        sources.insert(source, memory.tables.load(lake, source.name()).await?);
    }
    let current: BTreeMap<EventTable, Option<i64>> = sources
        .iter()
        .map(|(t, table)| (*t, table.metadata().current_snapshot().map(|s| s.snapshot_id())))
        .collect();
    let now = now_micros();
    // A one-off run recomputes; memory pays off only over many rounds.
    let applied = if once {
        None
    } else {
        match remember(memory, &sources, &current, cache, handoff, now).await {
            Ok(applied) => applied,
            Err(err) => {
                tracing::warn!(error = %bidlake_lake::error_chain(&err), "reading the new events failed; recomputing this round");
                memory.warm = None;
                None
            }
        }
    };
    let mut reports = Vec::new();
    for table in AggregateTable::ALL {
        let report = round(lake, table, cache, &sources, &current, applied.as_ref(), memory).await;
        if report.is_err() {
            memory.stored.remove(&table);
        }
        reports.push((table, report));
    }
    if memory.warm.is_none() && !once {
        // The fill reads the tables as they are now; rows handed over before it are in them
        // (and a later append it was not handed is read from its files).
        if let Some(handoff) = handoff {
            handoff.clear();
        }
        if let Err(err) = fill(memory, lake, &sources, &current, now).await {
            tracing::warn!(error = %bidlake_lake::error_chain(&err), "loading the recent events failed; recomputing until it works");
        }
    }
    Ok(reports)
}

/// Takes the rows appended since the memory's snapshots into it: the snapshots it was at and
/// what the new rows change. `None` if there is no memory or it cannot follow (the history
/// was rewritten or expired): it is filled again after this round.
async fn remember(
    memory: &mut Memory,
    sources: &BTreeMap<EventTable, Table>,
    current: &BTreeMap<EventTable, Option<i64>>,
    cache: &mut ManifestCache,
    handoff: Option<&CommittedRows>,
    now: i64,
) -> Result<Option<(BTreeMap<EventTable, Option<i64>>, Applied)>> {
    memory.from_ingest = 0;
    memory.files_read = 0;
    let Some(warm) = memory.warm.as_mut() else { return Ok(None) };
    let before = warm.snapshots.clone();
    let mut batches = Vec::new();
    let mut old_files = Vec::new();
    for (source, table) in sources {
        let Some(since) = before.get(source).copied() else { return Ok(drop_memory(memory)) };
        if since == current[source] {
            continue;
        }
        let Some(since) = since else { return Ok(drop_memory(memory)) };
        let Some(appends) = changes::appends_since(table, since, true) else {
            return Ok(drop_memory(memory));
        };
        for append in appends {
            // Rows an ingest in this process committed: no need to read its files back.
            let handed = handoff.and_then(|h| h.take(*source, append.snapshot_id()));
            if let Some(rows) = handed {
                batches.extend(rows.into_iter().map(|rows| (*source, rows)));
                memory.from_ingest += 1;
                continue;
            }
            let files = changes::files_added(table, &append, cache).await?;
            // Files wholly older than the ids the memory keeps are not read: their hours are
            // recomputed, as before there was a memory.
            let (new, old): (Vec<_>, Vec<_>) = files.into_iter().partition(|file| {
                changes::event_time_range(table, file).is_none_or(|(_, hi)| hi >= warm.ids_from())
            });
            for file in &old {
                old_files.push((*source, changes::event_time_range(table, file)));
            }
            memory.files_read += new.len();
            for batch in read::files(table, &new, warm::columns(*source)).await? {
                batches.push((*source, batch));
            }
        }
    }
    let mut applied = warm.apply(&batches, now, current.clone())?;
    for (source, range) in old_files {
        let range = range.unwrap_or((0, i64::MAX / 2));
        for aggregate in AggregateTable::ALL {
            for reach in aggregate.reaches().iter().filter(|r| r.source == source) {
                hours_reached(reach, range, applied.cold.entry(aggregate).or_default());
            }
        }
    }
    Ok(Some((before, applied)))
}

fn drop_memory<T>(memory: &mut Memory) -> Option<T> {
    memory.warm = None;
    None
}

/// Fills a new memory from the event tables as loaded for this round.
async fn fill(
    memory: &mut Memory,
    lake: &Lake,
    sources: &BTreeMap<EventTable, Table>,
    current: &BTreeMap<EventTable, Option<i64>>,
    now: i64,
) -> Result<()> {
    let mut warm = Warm::new(current.clone(), now);
    let pinned: Vec<Table> = sources.values().cloned().collect();
    let session = bidlake_query::session_over(lake, &pinned, None)
        .await
        .map_err(|source| Error::Query { table: "the recent events", source })?;
    let at = bidlake_tables::aggregates::timestamp_literal;
    for source in EventTable::ALL {
        // Ids only from where the memory checks them, an hour at a time (a firehose's hours
        // are millions of ids); whole rows from its floor.
        let columns = warm::columns(source);
        let ids = match source {
            EventTable::BidRequests => "request_id",
            EventTable::BidResponses => "response_id",
            EventTable::Impressions => "impression_id",
            EventTable::Clicks => "click_id",
        };
        let only_ids = columns
            .iter()
            .map(|c| match *c {
                "event_timestamp" => "event_timestamp".to_owned(),
                c if c == ids => c.to_owned(),
                c => format!("NULL AS {c}"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        let table = source.name();
        let mut queries = Vec::new();
        let mut from = warm.ids_from();
        while from < warm.floor() {
            let to = (from + HOUR_MICROS).min(warm.floor());
            queries.push(format!(
                "SELECT {only_ids} FROM {table} WHERE event_timestamp >= {} AND event_timestamp < {}",
                at(from),
                at(to)
            ));
            from = to;
        }
        queries.push(format!(
            "SELECT {} FROM {table} WHERE event_timestamp >= {}",
            columns.join(", "),
            at(warm.floor())
        ));
        for sql in queries {
            let batches = bidlake_query::run(&session, &sql)
                .await
                .map_err(|source| Error::Query { table: "the recent events", source })?;
            for batch in &batches {
                warm.load(source, batch)?;
            }
        }
    }
    tracing::debug!(trees = warm.trees(), "recent events loaded");
    memory.warm = Some(warm);
    Ok(())
}

/// Brings one aggregate table up to date with the event tables as loaded in `sources`: by
/// adding the changes `applied` found to its stored rows where it consumed exactly the
/// snapshots they follow, and by recomputing with SQL every other hour the new rows reach.
async fn round(
    lake: &Lake,
    aggregate: AggregateTable,
    cache: &mut ManifestCache,
    sources: &BTreeMap<EventTable, Table>,
    current: &BTreeMap<EventTable, Option<i64>>,
    applied: Option<&(BTreeMap<EventTable, Option<i64>>, Applied)>,
    memory: &mut Memory,
) -> Result<RoundReport> {
    let target = memory.tables.load(lake, aggregate.name()).await?;
    bidlake_lake::setup::require_compatible(lake, &aggregate.definition()?, &target)?;
    let reaches = aggregate.reaches();
    let read: BTreeSet<EventTable> = reaches.iter().map(|r| r.source).collect();
    let consumed = consumed(&target);
    let target_snapshot = target.metadata().current_snapshot().map(|s| s.snapshot_id());
    if read.iter().all(|t| consumed.get(t).copied() == current[t]) {
        // Up to date: the next round can add to its rows (read from it as needed).
        if let Some(snapshot) = target_snapshot {
            let stored = memory
                .stored
                .entry(aggregate)
                .or_insert_with(|| Stored { snapshot, hours: HashMap::new() });
            if stored.snapshot != snapshot {
                *stored = Stored { snapshot, hours: HashMap::new() };
            }
        }
        return Ok(RoundReport::default());
    }

    // Changes to add to stored rows, if this table is where the memory was.
    let mut hours = BTreeSet::new();
    let mut everything = target_snapshot.is_none();
    let mut added_to: BTreeMap<i64, Sums> = BTreeMap::new();
    let stored = memory.stored.get_mut(&aggregate).filter(|s| Some(s.snapshot) == target_snapshot);
    let follows = |before: &BTreeMap<EventTable, Option<i64>>| {
        read.iter().all(|t| consumed.get(t).copied() == before.get(t).copied().flatten())
    };
    match (applied, stored) {
        (Some((before, applied)), Some(stored)) if !everything && follows(before) => {
            hours = applied.cold.get(&aggregate).cloned().unwrap_or_default();
            for (group, delta) in applied.deltas.get(&aggregate).into_iter().flatten() {
                let hour = warm::hour_of(group.0);
                if !delta.is_zero() && !hours.contains(&hour) {
                    added_to.entry(hour).or_default().insert(group.clone(), *delta);
                }
            }
            // Stored rows of the hours to add to, read from the table where not in memory.
            let missing: Vec<i64> =
                added_to.keys().copied().filter(|h| !stored.hours.contains_key(h)).collect();
            for hour in missing {
                match read_hour(&target, aggregate, hour, cache).await? {
                    Some(rows) => {
                        stored.hours.insert(hour, rows);
                    }
                    None => {
                        added_to.remove(&hour);
                        hours.insert(hour);
                    }
                }
            }
            for (hour, deltas) in &mut added_to {
                let rows = stored.hours.entry(*hour).or_default();
                for (group, delta) in deltas.drain() {
                    rows.entry(group).or_default().add(&delta);
                }
            }
        }
        _ => {
            memory.stored.remove(&aggregate);
            for reach in &reaches {
                let table = &sources[&reach.source];
                match changes::appended(table, consumed.get(&reach.source).copied(), cache).await? {
                    Changes::Ranges(found) => {
                        for range in found {
                            hours_reached(reach, range, &mut hours);
                        }
                    }
                    Changes::Everything => everything = true,
                }
            }
            if everything {
                hours.clear();
                for reach in &reaches {
                    for range in changes::everything(&sources[&reach.source], cache).await? {
                        hours_reached(reach, range, &mut hours);
                    }
                }
            }
        }
    }

    // Recompute the hours that need it over the event tables exactly as loaded.
    let prefix = format!("bidlake-aggregate-{}", uuid::Uuid::new_v4());
    let mut added = Vec::new();
    let mut rows = 0;
    let mut recomputed: HashMap<i64, Option<Vec<(Group, Acc)>>> = HashMap::new();
    if !hours.is_empty() {
        let pinned: Vec<Table> = read.iter().map(|t| sources[t].clone()).collect();
        let session = bidlake_query::session_over(lake, &pinned, None)
            .await
            .map_err(|source| Error::Query { table: aggregate.name(), source })?;
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
            let mut sums = Some(Vec::new());
            for batch in &batches {
                sums = match (sums, rows::from_batch(aggregate, batch)?) {
                    (Some(mut all), Some(more)) => {
                        all.extend(more);
                        Some(all)
                    }
                    _ => None,
                };
            }
            recomputed.insert(hour, sums);
        }
    }
    // The hours added to, written whole from their sums.
    if let Some(stored) = memory.stored.get(&aggregate) {
        for hour in added_to.keys() {
            let Some(sums) = stored.hours.get(hour) else { continue };
            let mut hour_rows: Vec<(&Group, &Acc)> =
                sums.iter().filter(|(_, acc)| !acc.is_zero()).collect();
            hour_rows.sort_by(|a, b| a.0.cmp(b.0));
            rows += hour_rows.len();
            let batch = rows::to_batch(aggregate, &hour_rows)?;
            added.extend(write::hour_files(&target, *hour, &[batch], &prefix).await?);
        }
    }
    let written: BTreeSet<i64> = hours.iter().chain(added_to.keys()).copied().collect();

    // One snapshot: those hours' old files out, the new ones in, the snapshots read recorded.
    let (rewritten, manifests) =
        live_files(&target, cache, |hour| everything || written.contains(&hour)).await?;
    let mut properties: HashMap<String, String> = HashMap::new();
    for source in &read {
        if let Some(id) = current[source] {
            properties.insert(consumed_key(*source), id.to_string());
        }
    }
    properties.insert("bidlake.aggregate.hours-recomputed".into(), hours.len().to_string());
    properties.insert("bidlake.aggregate.hours-added-to".into(), added_to.len().to_string());
    let report = RoundReport {
        hours: written.len(),
        hours_added_to: added_to.len(),
        rows,
        everything,
        conflict: false,
    };
    let committed: Option<i64> = if rewritten.is_empty() {
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
            // The table as the commit left it (SQL: built from what it wrote; REST: the
            // catalog's answer to the commit), so its current snapshot is this one.
            Ok(Attempt::Committed(table)) => {
                let Some(snapshot) = table.metadata().current_snapshot() else { return Ok(report) };
                let snapshot = snapshot.snapshot_id();
                memory.tables.offer(*table);
                Some(snapshot)
            }
            Ok(Attempt::Conflict) => None,
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
            merge_manifests: manifests >= MERGE_MANIFESTS_AT,
            operation: Operation::Overwrite,
        };
        match replace::commit(lake, &target, &replacement, cache).await {
            // Not the returned table's current snapshot: through a REST catalog it is loaded
            // after the commit, and another writer may have come after.
            Ok(Outcome::Committed { snapshot_id, table }) => {
                memory.tables.offer(*table);
                Some(snapshot_id)
            }
            Ok(Outcome::Conflict | Outcome::Stale(_)) => None,
            Err(e) => {
                discard(&target, &added).await;
                return Err(e.into());
            }
        }
    };
    let Some(snapshot) = committed else {
        discard(&target, &added).await;
        memory.stored.remove(&aggregate);
        return Ok(RoundReport { conflict: true, ..report });
    };
    // What the table now holds, for the next round to add to.
    let stored = memory
        .stored
        .entry(aggregate)
        .or_insert_with(|| Stored { snapshot, hours: HashMap::new() });
    stored.snapshot = snapshot;
    for (hour, sums) in recomputed {
        match sums {
            Some(sums) => {
                stored.hours.insert(hour, sums.into_iter().collect());
            }
            None => {
                stored.hours.remove(&hour);
            }
        }
    }
    if everything {
        stored.hours.retain(|hour, _| hours.contains(hour));
    }
    let oldest = warm::hour_of(now_micros()) - STORED_HOURS * HOUR_MICROS;
    stored.hours.retain(|hour, _| *hour >= oldest);
    Ok(report)
}

/// An aggregate table's rows of the windows of one hour, as sums; `None` if they cannot be
/// taken apart (see [`rows::from_batch`]).
async fn read_hour(
    target: &Table,
    aggregate: AggregateTable,
    hour: i64,
    cache: &mut ManifestCache,
) -> Result<Option<Sums>> {
    let (files, _) = live_data_files(target, cache, |h| h == hour).await?;
    let columns: Vec<String> = target
        .metadata()
        .current_schema()
        .as_struct()
        .fields()
        .iter()
        .map(|f| f.name.clone())
        .collect();
    let columns: Vec<&str> = columns.iter().map(String::as_str).collect();
    let mut sums = Sums::default();
    for batch in read::files(target, &files, &columns).await? {
        let Some(rows) = rows::from_batch(aggregate, &batch)? else { return Ok(None) };
        sums.extend(rows);
    }
    Ok(Some(sums))
}

/// Adds to `hours` the hours of windows that rows of `reach.source` with event times in
/// `[lo, hi]` (µs) can change.
pub(crate) fn hours_reached(reach: &Reach, (lo, hi): (i64, i64), hours: &mut BTreeSet<i64>) {
    let (earliest, latest) = plausible_event_times();
    let first = hour_of(lo.saturating_sub(reach.before_micros).max(earliest));
    let last = hour_of(hi.saturating_add(reach.after_micros).min(latest));
    let mut hour = first;
    while hour <= last {
        hours.insert(hour);
        hour += HOUR_MICROS;
    }
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

/// How many manifests an aggregate table's snapshot may list before a commit merges them into
/// one. A round rewrites the manifests holding the hours it replaces and adds one, and the
/// hours left behind keep theirs, so the list grows by about one an hour; merging them every
/// round instead would rewrite every hour of history every round (Iceberg's own appends merge
/// past `commit.manifest.min-count-to-merge` the same way).
const MERGE_MANIFESTS_AT: usize = 16;

/// Paths of the aggregate table's live data files whose window hour `replace` says to replace,
/// and how many manifests its current snapshot lists.
async fn live_files(
    target: &Table,
    cache: &mut ManifestCache,
    replace: impl Fn(i64) -> bool,
) -> Result<(std::collections::HashSet<String>, usize)> {
    let (files, manifests) = live_data_files(target, cache, replace).await?;
    Ok((files.into_iter().map(|f| f.file_path().to_owned()).collect(), manifests))
}

/// The aggregate table's live data files whose window hour `wanted` accepts (and any file
/// without an hour), and how many manifests its current snapshot lists.
async fn live_data_files(
    target: &Table,
    cache: &mut ManifestCache,
    wanted: impl Fn(i64) -> bool,
) -> Result<(Vec<DataFile>, usize)> {
    let mut files = Vec::new();
    let Some(current) = target.metadata().current_snapshot() else { return Ok((files, 0)) };
    let list = manifest_list(target, current).await?;
    let manifests = list.len();
    for (_, manifest) in cache.load(target, &list).await? {
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let hour = match entry.data_file().partition().fields().first() {
                Some(Some(Literal::Primitive(PrimitiveLiteral::Int(h)))) => {
                    i64::from(*h) * HOUR_MICROS
                }
                _ => i64::MIN,
            };
            if hour == i64::MIN || wanted(hour) {
                files.push(entry.data_file().clone());
            }
        }
    }
    Ok((files, manifests))
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
    (YEAR_2000, now_micros().saturating_add(2 * 24 * HOUR_MICROS))
}

fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(HOUR_MICROS) * HOUR_MICROS
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn beside_an_ingest_rounds_come_every_other_commit_unless_told() {
        let default = AggregateArgs::default();
        assert_eq!(default.interval(Some(10 * SECOND)), 20 * SECOND);
        assert_eq!(default.interval(Some(SECOND / 10)), SECOND / 5);
        assert_eq!(default.interval(None), AggregateArgs::ALONE_EVERY);
        let told = AggregateArgs { interval: Some(3 * SECOND) };
        assert_eq!(told.interval(Some(10 * SECOND)), 3 * SECOND);
        assert_eq!(told.interval(None), 3 * SECOND);
    }

    #[test]
    fn beside_an_ingest_a_round_waits_for_the_commit_nearest_its_interval() {
        let t = Instant::now();
        // On a clock: the interval.
        assert_eq!(
            NextRound::after(t, 10 * SECOND, None),
            NextRound { earliest: t + 10 * SECOND, latest: t + 10 * SECOND }
        );
        // Commits every 10 s: the first commit from 5 s on (the next one, at about 10 s).
        assert_eq!(
            NextRound::after(t, 10 * SECOND, Some(10 * SECOND)),
            NextRound { earliest: t + 5 * SECOND, latest: t + 15 * SECOND }
        );
        // Every other commit: the one at about 20 s, not the one at 10 s.
        assert_eq!(
            NextRound::after(t, 20 * SECOND, Some(10 * SECOND)),
            NextRound { earliest: t + 15 * SECOND, latest: t + 25 * SECOND }
        );
        // Rounds more often than commits: after every commit, and every 2 s without one.
        assert_eq!(
            NextRound::after(t, SECOND, Some(10 * SECOND)),
            NextRound { earliest: t, latest: t + 2 * SECOND }
        );
    }

    #[tokio::test]
    async fn a_round_starts_on_the_commit_that_ends_its_wait_and_not_before_its_earliest() {
        let commits = Arc::new(tokio::sync::Notify::new());
        let stop = AtomicBool::new(false);
        let t = Instant::now();
        let next = NextRound { earliest: t + Duration::from_millis(100), latest: t + 60 * SECOND };
        // A commit before the earliest start does not count.
        commits.notify_waiters();
        let notifier = {
            let commits = commits.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                commits.notify_waiters();
            })
        };
        assert!(wait_for_round(next, Some(&commits), &stop).await);
        let waited = t.elapsed();
        notifier.await.unwrap();
        assert!(waited >= Duration::from_millis(300), "started before the commit: {waited:?}");
        assert!(waited < 30 * SECOND, "waited for the latest start instead: {waited:?}");
        // Without a commit it starts at the latest; a stop ends the wait at once.
        let next = NextRound { earliest: t, latest: Instant::now() + Duration::from_millis(50) };
        assert!(wait_for_round(next, Some(&commits), &stop).await);
        stop.store(true, Ordering::Relaxed);
        let next = NextRound { earliest: t, latest: Instant::now() + 60 * SECOND };
        assert!(!wait_for_round(next, Some(&commits), &stop).await);
    }
}
