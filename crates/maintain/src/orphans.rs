//! Orphan-file removal: files under a table's location that no metadata file, manifest list,
//! manifest, data, delete or statistics file reference names, and that are older than the
//! retention. Left by writers that died before committing, aborted commits, or tools that
//! expire snapshots without deleting files. The metadata is loaded before the listing, and the
//! retention (at least an hour) keeps every file a commit in flight is about to reference.

use std::collections::HashSet;
use std::time::SystemTime;

use bidlake_lake::Lake;
use iceberg::table::Table;

use crate::reach::{ReachCache, Reachable, metadata_files};
use crate::storage::{Listed, Tree, canonical};
use crate::{MaintainArgs, Result};

/// What orphan removal deleted (or, in a dry run, would delete) under one table.
#[derive(Debug, Clone, Default)]
pub struct OrphanReport {
    pub listed: usize,
    pub orphans: Vec<Listed>,
    /// Unreferenced files younger than the retention, left alone.
    pub young: usize,
}

impl OrphanReport {
    pub fn bytes(&self) -> u64 {
        self.orphans.iter().map(|o| o.size).sum()
    }
}

/// `locations` are those of the namespace's tables: the others' are never touched, even if nested
/// in this one's.
pub async fn remove_orphans(
    lake: &Lake,
    table: &Table,
    locations: &[String],
    args: &MaintainArgs,
    cache: &mut ReachCache,
) -> Result<OrphanReport> {
    let name = table.identifier().to_string();
    // Metadata first, listing second: a file committed in between is young.
    let mut referenced: HashSet<String> =
        metadata_files(table).iter().map(|p| canonical(p)).collect();
    referenced.extend(Reachable::of_table(table, cache).await?.all().map(|p| canonical(p)));
    let location = table.metadata().location();
    let tree = Tree::new(&lake.config, location)?;
    let listed = tree.list().await?;
    let cutoff = SystemTime::now() - args.orphan_older_than;
    let own = format!("{}/", canonical(location).trim_end_matches('/'));
    let foreign: Vec<String> = locations
        .iter()
        .map(|o| format!("{}/", canonical(o).trim_end_matches('/')))
        .filter(|o| o.starts_with(&own) && *o != own)
        .collect();

    let mut report = OrphanReport { listed: listed.len(), ..Default::default() };
    for file in listed {
        let path = canonical(&file.url);
        if referenced.contains(&path)
            || foreign.iter().any(|f| path.starts_with(f))
            // A Hadoop-style pointer to the current metadata; ours live in the catalog.
            || path.ends_with("/version-hint.text")
        {
            continue;
        }
        match file.modified {
            Some(modified) if modified < cutoff => report.orphans.push(file),
            _ => report.young += 1,
        }
    }
    report.orphans.sort_by(|a, b| a.url.cmp(&b.url));
    if !args.dry_run {
        for file in &report.orphans {
            tree.delete(&file.url).await?;
        }
    }
    tracing::info!(
        table = %name,
        listed = report.listed,
        orphans = report.orphans.len(),
        bytes = report.bytes(),
        young = report.young,
        dry_run = args.dry_run,
        "orphan files"
    );
    Ok(report)
}
