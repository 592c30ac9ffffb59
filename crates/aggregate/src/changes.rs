//! What changed in an event table since an aggregate last read it: the event-time ranges of the
//! rows appended after the snapshot it consumed, read from the data files' column bounds in the
//! appends' manifests (no data file is opened). Compactions (`replace` snapshots) add no rows
//! and are skipped.

use bidlake_maintain::reach::{ManifestCache, manifest_list};
use iceberg::spec::{DataFile, Literal, ManifestStatus, Operation, PrimitiveLiteral, SnapshotRef};
use iceberg::table::Table;

use crate::Result;

const DAY_MICROS: i64 = 86_400_000_000;

/// Rows appended since the consumed snapshot.
#[derive(Debug, Clone, PartialEq)]
pub enum Changes {
    /// Event-time ranges `[lo, hi]` (microseconds) of the appended rows; empty if none.
    Ranges(Vec<(i64, i64)>),
    /// The consumed snapshot is unknown (never consumed, or expired from the history): every
    /// window must be recomputed.
    Everything,
}

/// The rows appended to `table` after snapshot `since`, up to its current snapshot.
pub async fn appended(
    table: &Table,
    since: Option<i64>,
    cache: &mut ManifestCache,
) -> Result<Changes> {
    let Some(since) = since else {
        return Ok(match table.metadata().current_snapshot() {
            None => Changes::Ranges(Vec::new()),
            Some(_) => Changes::Everything,
        });
    };
    let Some(files) = appended_files(table, since, cache).await? else {
        return Ok(Changes::Everything);
    };
    let mut ranges = Vec::with_capacity(files.len());
    for file in &files {
        match event_time_range(table, file) {
            Some(range) => ranges.push(range),
            None => return Ok(Changes::Everything),
        }
    }
    Ok(Changes::Ranges(ranges))
}

/// The data files the appends after snapshot `since` added to `table`, up to its current
/// snapshot; `None` if `since` is not in its history.
async fn appended_files(
    table: &Table,
    since: i64,
    cache: &mut ManifestCache,
) -> Result<Option<Vec<DataFile>>> {
    let Some(appends) = appends_since(table, since, false) else { return Ok(None) };
    let mut files = Vec::new();
    for snapshot in appends {
        files.extend(files_added(table, &snapshot, cache).await?);
    }
    Ok(Some(files))
}

/// The appends after snapshot `since` up to `table`'s current snapshot, oldest first; `None`
/// if `since` is not in its history. Compactions (`replace`) add no rows and are skipped;
/// with `strict`, so is nothing else: any other operation (another writer's overwrite or
/// delete) gives `None`, for a reader that must see every change as an append.
pub fn appends_since(table: &Table, since: i64, strict: bool) -> Option<Vec<SnapshotRef>> {
    let metadata = table.metadata();
    let mut appends = Vec::new();
    let mut snapshot = metadata.current_snapshot();
    loop {
        match snapshot {
            Some(s) if s.snapshot_id() == since => break,
            Some(s) => {
                match s.summary().operation {
                    Operation::Append => appends.push(s.clone()),
                    Operation::Replace => {}
                    _ if strict => return None,
                    _ => {}
                }
                snapshot = s.parent_snapshot_id().and_then(|id| metadata.snapshot_by_id(id));
            }
            None => return None,
        }
    }
    appends.reverse();
    Some(appends)
}

/// The data files `snapshot` (an append of `table`) added.
pub async fn files_added(
    table: &Table,
    snapshot: &SnapshotRef,
    cache: &mut ManifestCache,
) -> Result<Vec<DataFile>> {
    let id = snapshot.snapshot_id();
    let list = manifest_list(table, snapshot).await?;
    let added: Vec<_> = list.into_iter().filter(|m| m.added_snapshot_id == id).collect();
    let mut files = Vec::new();
    for (_, manifest) in cache.load(table, &added).await? {
        for entry in manifest.entries() {
            if entry.status() == ManifestStatus::Added && entry.snapshot_id() == Some(id) {
                files.push(entry.data_file().clone());
            }
        }
    }
    Ok(files)
}

/// The event-time ranges of every row of `table` as it is now (for a full recompute).
pub async fn everything(table: &Table, cache: &mut ManifestCache) -> Result<Vec<(i64, i64)>> {
    let Some(current) = table.metadata().current_snapshot() else { return Ok(Vec::new()) };
    let list = manifest_list(table, current).await?;
    let mut ranges = Vec::new();
    for (_, manifest) in cache.load(table, &list).await? {
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            // A file without bounds or a day partition spans all of time: recompute from 1970.
            ranges.push(event_time_range(table, entry.data_file()).unwrap_or((0, i64::MAX / 2)));
        }
    }
    Ok(ranges)
}

/// A data file's `event_timestamp` bounds, or else the day its partition holds.
pub(crate) fn event_time_range(table: &Table, file: &DataFile) -> Option<(i64, i64)> {
    let id = table.metadata().current_schema().field_id_by_name("event_timestamp")?;
    let micros = |datum: Option<&iceberg::spec::Datum>| match datum.map(|d| d.literal()) {
        Some(PrimitiveLiteral::Long(v)) => Some(*v),
        _ => None,
    };
    if let (Some(lo), Some(hi)) =
        (micros(file.lower_bounds().get(&id)), micros(file.upper_bounds().get(&id)))
    {
        return Some((lo, hi));
    }
    match file.partition().fields().first() {
        Some(Some(Literal::Primitive(PrimitiveLiteral::Int(day)))) => {
            let start = i64::from(*day) * DAY_MICROS;
            Some((start, start + DAY_MICROS - 1))
        }
        _ => None,
    }
}
