//! Manifest merging. Every append adds a manifest and every later commit's manifest list names
//! all of them, so without merging a table's commits and scans grow with its history. Merging
//! writes the data manifests of each partition spec as one (a `replace` snapshot that changes no
//! data, as Iceberg's rewrite-manifests action does), planned on one version of the table and
//! re-planned when an append commits first.

use bidlake_lake::Lake;
use iceberg::spec::ManifestContentType;
use iceberg::table::Table;

use crate::Result;
use crate::reach::{ManifestCache, manifest_list};
use crate::replace::{Outcome, Replacement, commit_retrying};

/// Data manifests a snapshot may name before they are merged: few enough that an append's
/// manifest list and a scan's planning stay small, enough that a merge is not a commit of its own
/// after every append.
pub const MIN_MANIFESTS_TO_MERGE: usize = 8;

/// What a merge did to one table.
#[derive(Debug, Clone, Default)]
pub struct MergeReport {
    /// Data manifests of the current snapshot before and after.
    pub before: usize,
    pub after: usize,
    pub snapshot_id: Option<i64>,
    /// Why nothing was committed, when nothing was.
    pub skipped: Option<String>,
}

/// Merges `table`'s data manifests if its current snapshot names at least `min_count` of them.
pub async fn merge(
    lake: &Lake,
    table: &Table,
    min_count: usize,
    dry_run: bool,
    cache: &mut ManifestCache,
) -> Result<MergeReport> {
    let name = table.identifier().to_string();
    let mut report = MergeReport { before: data_manifests(table).await?, ..Default::default() };
    report.after = report.before;
    if report.before < min_count.max(2) {
        report.skipped = Some(format!("{} data manifests, fewer than {min_count}", report.before));
        return Ok(report);
    }
    if dry_run {
        report.after = 1;
        return Ok(report);
    }
    let replacement = Replacement {
        rewritten: Default::default(),
        added: Vec::new(),
        properties: [(
            "bidlake.maintenance.merged-manifests".to_owned(),
            report.before.to_string(),
        )]
        .into(),
        merge_manifests: true,
        operation: iceberg::spec::Operation::Replace,
    };
    match commit_retrying(lake, table, &replacement, cache).await? {
        Outcome::Committed { table, snapshot_id } => {
            report.after = data_manifests(&table).await?;
            report.snapshot_id = Some(snapshot_id);
            tracing::info!(table = %name, before = report.before, after = report.after, "manifests merged");
        }
        Outcome::Stale(reason) => report.skipped = Some(reason),
        Outcome::Conflict => report.skipped = Some("the table kept changing".into()),
    }
    Ok(report)
}

/// Data manifests the table's current snapshot names.
pub async fn data_manifests(table: &Table) -> Result<usize> {
    let Some(snapshot) = table.metadata().current_snapshot() else { return Ok(0) };
    let list = manifest_list(table, snapshot).await?;
    Ok(list.iter().filter(|m| m.content == ManifestContentType::Data).count())
}
