//! What a compaction rewrites: per partition, the data files below the small-file threshold,
//! packed into bins of at most the target size (first fit, largest first). A bin becomes one new
//! file; a bin of one file would only copy it, so it is left alone.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use iceberg::spec::{DataContentType, DataFile, FormatVersion, ManifestContentType, Struct};
use iceberg::table::Table;

use crate::reach::{ManifestCache, manifest_list};
use crate::{Result, Selection};

/// In a partition still being written, files under this fraction of the small-file size are the
/// fresh ones a round compacts.
const ACTIVE_TIER: u64 = 16;

/// Small files of one partition that become one file.
#[derive(Debug, Clone)]
pub struct Bin {
    /// The partition as a path (`event_timestamp_day=2026-11-25/device_geo_country=USA`).
    pub partition_path: String,
    pub partition: Struct,
    pub files: Vec<DataFile>,
}

impl Bin {
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(DataFile::file_size_in_bytes).sum()
    }
    pub fn records(&self) -> u64 {
        self.files.iter().map(DataFile::record_count).sum()
    }
}

/// The live data files of a table's current snapshot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    pub files: usize,
    pub bytes: u64,
    pub records: u64,
}

/// What a compaction of one table would do.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The snapshot the plan was made on.
    pub snapshot_id: Option<i64>,
    pub live: FileStats,
    pub bins: Vec<Bin>,
    /// Why the table cannot be compacted, when it cannot.
    pub unsupported: Option<String>,
}

impl Plan {
    pub fn input(&self) -> FileStats {
        FileStats {
            files: self.bins.iter().map(|b| b.files.len()).sum(),
            bytes: self.bins.iter().map(Bin::bytes).sum(),
            records: self.bins.iter().map(Bin::records).sum(),
        }
    }
}

/// Plans the compaction of every partition of `table`'s current snapshot.
pub async fn plan(
    table: &Table,
    cache: &mut ManifestCache,
    small: u64,
    target: u64,
) -> Result<Plan> {
    plan_selected(table, cache, small, target, Selection::ALL).await
}

/// Plans the compaction of the partitions of `table`'s current snapshot that `selection` takes.
pub async fn plan_selected(
    table: &Table,
    cache: &mut ManifestCache,
    small: u64,
    target: u64,
    selection: Selection,
) -> Result<Plan> {
    let metadata = table.metadata();
    let mut plan = Plan {
        snapshot_id: metadata.current_snapshot_id(),
        live: FileStats::default(),
        bins: Vec::new(),
        unsupported: None,
    };
    let Some(snapshot) = metadata.current_snapshot() else { return Ok(plan) };
    if metadata.format_version() != FormatVersion::V2 {
        plan.unsupported = Some(format!(
            "format version {} (compaction writes format v2 tables only)",
            metadata.format_version()
        ));
    }
    let spec = metadata.default_partition_spec().clone();
    let schema = metadata.current_schema().clone();

    // Small files of the default spec, by partition (ordered, so plans and logs are stable),
    // and when the newest of them was committed.
    let mut small_files: BTreeMap<String, (Struct, Vec<DataFile>)> = BTreeMap::new();
    let mut newest: BTreeMap<String, i64> = BTreeMap::new();
    let added_at = |snapshot_id: Option<i64>| {
        // A snapshot expired since counts as old.
        snapshot_id.and_then(|id| metadata.snapshot_by_id(id)).map_or(0, |s| s.timestamp_ms())
    };
    let list = manifest_list(table, snapshot).await?;
    for (file, manifest) in cache.load(table, &list).await? {
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            if file.content == ManifestContentType::Deletes
                || entry.content_type() != DataContentType::Data
            {
                // Rewriting data files under delete files would need the deletes applied and
                // their sequence numbers kept; ingest never writes deletes.
                plan.unsupported = Some("the table has delete files".into());
                continue;
            }
            let data = entry.data_file();
            plan.live.files += 1;
            plan.live.bytes += data.file_size_in_bytes();
            plan.live.records += data.record_count();
            if file.partition_spec_id == spec.spec_id() && data.file_size_in_bytes() < small {
                let path = spec.partition_to_path(data.partition(), schema.clone());
                let at = added_at(entry.snapshot_id().or(Some(file.added_snapshot_id)));
                let latest = newest.entry(path.clone()).or_insert(at);
                *latest = (*latest).max(at);
                small_files
                    .entry(path)
                    .or_insert_with(|| (data.partition().clone(), Vec::new()))
                    .1
                    .push(data.clone());
            }
        }
    }
    if plan.unsupported.is_some() {
        return Ok(plan);
    }
    let quiet_before = selection.quiet_after.map(|quiet| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        now.saturating_sub(quiet).as_millis() as i64
    });
    for (partition_path, (partition, mut files)) in small_files {
        let quiet = quiet_before.is_some_and(|before| newest[&partition_path] <= before);
        if selection.quiet_after.is_some() && !quiet {
            // Still being written: only the fresh small files, so that what earlier rounds
            // compacted is not rewritten on every round (it is, once, when the partition goes
            // quiet).
            files.retain(|f| f.file_size_in_bytes() < small / ACTIVE_TIER);
        }
        if files.len() < selection.min_files.max(2) && !(quiet && files.len() >= 2) {
            continue;
        }
        for files in pack(files, target) {
            plan.bins.push(Bin {
                partition_path: partition_path.clone(),
                partition: partition.clone(),
                files,
            });
        }
    }
    Ok(plan)
}

/// First-fit decreasing into bins of at most `target` bytes; bins of one file are dropped.
fn pack(mut files: Vec<DataFile>, target: u64) -> Vec<Vec<DataFile>> {
    files.sort_by(|a, b| {
        b.file_size_in_bytes().cmp(&a.file_size_in_bytes()).then(a.file_path().cmp(b.file_path()))
    });
    let mut bins: Vec<(u64, Vec<DataFile>)> = Vec::new();
    for file in files {
        let size = file.file_size_in_bytes();
        match bins.iter_mut().find(|(used, _)| used + size <= target) {
            Some((used, bin)) => {
                *used += size;
                bin.push(file);
            }
            None => bins.push((size, vec![file])),
        }
    }
    bins.into_iter().map(|(_, bin)| bin).filter(|bin| bin.len() > 1).collect()
}

#[cfg(test)]
mod tests {
    use iceberg::spec::{DataFileBuilder, DataFileFormat};

    use super::*;

    fn file(name: &str, size: u64) -> DataFile {
        DataFileBuilder::default()
            .content(DataContentType::Data)
            .file_path(name.to_owned())
            .file_format(DataFileFormat::Parquet)
            .file_size_in_bytes(size)
            .record_count(1)
            .partition(Struct::empty())
            .partition_spec_id(0)
            .build()
            .unwrap()
    }

    fn names(bins: &[Vec<DataFile>]) -> Vec<Vec<&str>> {
        bins.iter().map(|b| b.iter().map(DataFile::file_path).collect()).collect()
    }

    #[test]
    fn small_files_pack_into_bins_of_the_target_size() {
        let files = vec![file("a", 60), file("b", 50), file("c", 40), file("d", 30), file("e", 10)];
        // 60+40 | 50+30+10: first fit, largest first.
        assert_eq!(names(&pack(files, 100)), [vec!["a", "c"], vec!["b", "d", "e"]]);
    }

    #[test]
    fn a_file_alone_in_its_bin_is_not_rewritten() {
        assert!(pack(vec![file("a", 90), file("b", 80)], 100).is_empty());
        assert!(pack(vec![file("a", 1)], 100).is_empty());
    }
}
