//! What a compaction rewrites: per partition, the data files below the small-file threshold,
//! packed into bins of at most the target size (first fit, largest first). A bin becomes one new
//! file; a bin of one file would only copy it, so it is left alone.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use iceberg::spec::{DataContentType, DataFile, FormatVersion, ManifestContentType, Struct};
use iceberg::table::Table;

use crate::reach::{ManifestCache, manifest_list};
use crate::{Result, Selection};

/// Size tiers of a partition still being written: files under 1 MiB, then each tier 8 times the
/// size of the one before. A tier is compacted once it holds enough files, so a file is rewritten
/// about once per tier it passes through (not on every round), and a partition keeps at most a
/// few files per tier.
const TIER_BASE: u64 = 1 << 20;
const TIER_RATIO: u64 = 8;

/// The size tier of a file of `size` bytes.
fn tier(size: u64) -> u32 {
    let mut tier = 0;
    let mut bound = TIER_BASE;
    while size >= bound {
        tier += 1;
        bound = bound.saturating_mul(TIER_RATIO);
    }
    tier
}

/// The files of a partition still being written that a round compacts: those of every size tier
/// that holds at least `min_files`.
fn full_tiers(files: Vec<DataFile>, min_files: usize) -> Vec<DataFile> {
    let mut tiers: BTreeMap<u32, Vec<DataFile>> = BTreeMap::new();
    for file in files {
        tiers.entry(tier(file.file_size_in_bytes())).or_default().push(file);
    }
    tiers.into_values().filter(|files| files.len() >= min_files).flatten().collect()
}

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
    let min_files = selection.min_files.max(2);
    for (partition_path, (partition, files)) in small_files {
        let quiet = quiet_before.is_some_and(|before| newest[&partition_path] <= before);
        let files = match selection.quiet_after {
            // Still being written: the tiers with enough files, so that what earlier rounds
            // compacted is not rewritten on every round.
            Some(_) if !quiet => full_tiers(files, min_files),
            // Quiet, or `maintain` by hand: every small file.
            _ => files,
        };
        if files.len() < 2 {
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
    fn a_partition_being_written_compacts_the_tiers_with_enough_files() {
        let mib = 1 << 20;
        assert_eq!(
            (tier(0), tier(mib - 1), tier(mib), tier(8 * mib - 1), tier(8 * mib)),
            (0, 0, 1, 1, 2)
        );
        // Three fresh files and two files earlier rounds wrote: with 3 per tier, only the fresh.
        let files = vec![
            file("a", 10),
            file("b", 20),
            file("c", 30),
            file("old1", 2 * mib),
            file("old2", 3 * mib),
        ];
        let chosen = full_tiers(files.clone(), 3);
        assert_eq!(chosen.iter().map(DataFile::file_path).collect::<Vec<_>>(), ["a", "b", "c"]);
        // A third file in the 1 MiB tier: that tier goes too.
        let mut more = files;
        more.push(file("old3", 4 * mib));
        assert_eq!(full_tiers(more, 3).len(), 6);
    }

    #[test]
    fn a_file_alone_in_its_bin_is_not_rewritten() {
        assert!(pack(vec![file("a", 90), file("b", 80)], 100).is_empty());
        assert!(pack(vec![file("a", 1)], 100).is_empty());
    }
}
