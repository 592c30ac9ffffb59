//! Old metadata files: every commit writes a new `*.metadata.json`, and nothing in iceberg-rust
//! 0.10 deletes the old ones, so a table committed every second would leave 86,400 a day. As
//! Iceberg's other writers do when a table sets `write.metadata.delete-after-commit.enabled`,
//! a commit deletes the metadata files that fell out of the table's metadata log (which keeps
//! `write.metadata.previous-versions-max` entries).

use std::collections::HashSet;

use iceberg::table::Table;

use crate::{CatalogKind, Lake};

/// Whether a commit deletes the metadata files it drops from the log (Iceberg's property).
pub const DELETE_AFTER_COMMIT: &str = "write.metadata.delete-after-commit.enabled";
/// How many earlier metadata files the log keeps (Iceberg's property; its default is 100).
pub const PREVIOUS_VERSIONS_MAX: &str = "write.metadata.previous-versions-max";

/// The properties bidlake creates its tables with: a day of 1 s commits keeps 25 files.
pub fn table_properties() -> [(&'static str, &'static str); 2] {
    [(DELETE_AFTER_COMMIT, "true"), (PREVIOUS_VERSIONS_MAX, "25")]
}

/// The metadata files `before` knew (its own and its log) that `committed` no longer lists.
pub fn dropped(before: &Table, committed: &Table) -> Vec<String> {
    let listed = |table: &Table| -> HashSet<String> {
        table
            .metadata()
            .metadata_log()
            .iter()
            .map(|entry| entry.metadata_file.clone())
            .chain(table.metadata_location().map(str::to_owned))
            .collect()
    };
    let kept = listed(committed);
    let mut gone: Vec<String> = listed(before).into_iter().filter(|f| !kept.contains(f)).collect();
    gone.sort();
    gone
}

/// Deletes the metadata files the commit from `before` to `committed` dropped from the log,
/// when the table asks for it and the catalog is bidlake's own SQL catalog (a REST catalog
/// server owns its metadata files). Best effort: a file left behind costs only disk, so a
/// failure is logged, not returned.
pub async fn delete_dropped(lake: &Lake, before: &Table, committed: &Table) {
    if !matches!(lake.config.catalog, CatalogKind::Sql { .. }) {
        return;
    }
    let enabled = committed
        .metadata()
        .properties()
        .get(DELETE_AFTER_COMMIT)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if !enabled {
        return;
    }
    for file in dropped(before, committed) {
        if let Err(err) = committed.file_io().delete(&file).await {
            tracing::warn!(%file, error = %err, "deleting an old metadata file failed; it stays on disk");
        }
    }
}
