//! Snapshot expiry: iceberg's own expire action decides which snapshots go (older than the
//! retention, never the current one, never fewer than --retain-last) and removes them from the
//! metadata; then the manifest lists, manifests, data and statistics files that only expired
//! snapshots referenced are deleted. "Only" is decided from the table as committed: whatever a
//! retained snapshot references stays. Appends that commit meanwhile reference retained
//! manifests and new files only, so they never need what expiry deletes.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bidlake_lake::Lake;
use bidlake_lake::pinned::{Attempt, commit_pinned, preview};
use futures::StreamExt;
use iceberg::spec::SnapshotRef;
use iceberg::table::Table;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

use crate::reach::{ReachCache, Reachable};
use crate::storage::canonical;
use crate::{Context, MaintainArgs, Result};

/// What expiry removed (or would remove) from one table.
#[derive(Debug, Clone, Default)]
pub struct ExpiryReport {
    pub expired: Vec<i64>,
    /// Files deleted (or, in a dry run, to delete).
    pub files: Vec<String>,
}

/// Commit attempts before giving up on a table that keeps moving.
const MAX_ATTEMPTS: u32 = 20;
/// Deletes in flight at once.
const DELETE_CONCURRENCY: usize = 16;

pub async fn expire(
    lake: &Lake,
    table: &Table,
    args: &MaintainArgs,
    cache: &mut ReachCache,
) -> Result<ExpiryReport> {
    let name = table.identifier().to_string();
    let cutoff = SystemTime::now()
        .checked_sub(args.retain_snapshots_older_than)
        .unwrap_or(UNIX_EPOCH)
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64;
    let plan = |table: &Table| -> Result<Transaction> {
        let tx = Transaction::new(table);
        tx.expire_snapshots()
            .expire_older_than_ms(cutoff)
            .retain_last(args.retain_last)
            .apply(tx)
            .context(|| format!("planning the snapshot expiry of {name}"))
    };

    let mut before = table.clone();
    let mut after = preview(&lake.catalog, &before, plan(&before)?)
        .await
        .context(|| format!("planning the snapshot expiry of {name}"))?;
    if expired(&before, &after).is_empty() {
        return Ok(ExpiryReport::default());
    }
    if !args.dry_run {
        let mut attempt = 1;
        loop {
            match commit_pinned(lake, &before, plan(&before)?)
                .await
                .context(|| format!("committing the snapshot expiry of {name}"))?
            {
                Attempt::Committed(table) => {
                    after = *table;
                    break;
                }
                Attempt::Conflict if attempt < MAX_ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                    before = lake.load_table(before.identifier().name()).await?;
                }
                Attempt::Conflict => {
                    return Err(crate::Error::Config(format!(
                        "{name} changed on each of {MAX_ATTEMPTS} attempts to expire snapshots; try again"
                    )));
                }
            }
        }
    }
    let gone: Vec<SnapshotRef> = expired(&before, &after);
    let mut report =
        ExpiryReport { expired: gone.iter().map(|s| s.snapshot_id()).collect(), files: Vec::new() };
    report.expired.sort_unstable();
    tracing::info!(table = %name, snapshots = report.expired.len(), dry_run = args.dry_run, "snapshots expired");

    // What the expired snapshots referenced, less what any snapshot still there references.
    let referenced = Reachable::of(&before, &gone, cache).await?;
    let kept = Reachable::of_table(&after, cache).await?;
    let kept: HashSet<String> = kept.all().map(|p| canonical(p)).collect();
    report.files = referenced.all().filter(|p| !kept.contains(&canonical(p))).cloned().collect();
    report.files.sort();
    if !args.dry_run {
        let io = after.file_io().clone();
        let results: Vec<_> = futures::stream::iter(report.files.clone())
            .map(|path| {
                let io = io.clone();
                async move {
                    let result = io.delete(&path).await;
                    (path, result)
                }
            })
            .buffer_unordered(DELETE_CONCURRENCY)
            .collect()
            .await;
        for (path, result) in results {
            result.context(|| {
                format!("deleting {path}, which only expired snapshots of {name} referenced")
            })?;
        }
        tracing::info!(table = %name, files = report.files.len(), "deleted the files of expired snapshots");
    }
    Ok(report)
}

/// Snapshots of `before` that `after` no longer has.
fn expired(before: &Table, after: &Table) -> Vec<SnapshotRef> {
    let kept: HashSet<i64> = after.metadata().snapshots().map(|s| s.snapshot_id()).collect();
    before.metadata().snapshots().filter(|s| !kept.contains(&s.snapshot_id())).cloned().collect()
}
