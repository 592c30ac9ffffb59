//! Which files a table's metadata references: the metadata files, and for each snapshot its
//! manifest list, its manifests and the data and delete files live in them. Expiry and orphan
//! removal both decide what to delete from these sets.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use iceberg::spec::{Manifest, ManifestFile, SnapshotRef};
use iceberg::table::Table;

use crate::{Context, Result};

/// Manifests loaded so far, by path. Manifests never change once written, so one cache serves
/// every version of a table.
#[derive(Debug, Default)]
pub struct ManifestCache {
    manifests: HashMap<String, Arc<Manifest>>,
    /// Paths asked for since [`ManifestCache::forget_unused`] was last called.
    used: HashSet<String>,
}

/// Manifests loaded at once.
const LOAD_CONCURRENCY: usize = 8;

impl ManifestCache {
    /// The manifests of `list`, loaded concurrently where not cached.
    pub async fn load(
        &mut self,
        table: &Table,
        list: &[ManifestFile],
    ) -> Result<Vec<(ManifestFile, Arc<Manifest>)>> {
        self.used.extend(list.iter().map(|m| m.manifest_path.clone()));
        let missing: Vec<ManifestFile> = list
            .iter()
            .filter(|m| !self.manifests.contains_key(&m.manifest_path))
            .cloned()
            .collect();
        let io = table.file_io();
        let loaded: Vec<(String, Manifest)> = futures::stream::iter(missing)
            .map(|file| async move {
                let manifest = file
                    .load_manifest(io)
                    .await
                    .context(|| format!("reading the manifest {}", file.manifest_path))?;
                Ok::<_, crate::Error>((file.manifest_path, manifest))
            })
            .buffer_unordered(LOAD_CONCURRENCY)
            .try_collect()
            .await?;
        for (path, manifest) in loaded {
            self.manifests.insert(path, Arc::new(manifest));
        }
        Ok(list
            .iter()
            .filter_map(|m| self.manifests.get(&m.manifest_path).map(|x| (m.clone(), x.clone())))
            .collect())
    }
}

impl ManifestCache {
    /// Drops the manifests not asked for since the last call, so that a process that lives
    /// long keeps those its tables still list, not every one it ever read.
    pub fn forget_unused(&mut self) {
        let used = std::mem::take(&mut self.used);
        self.manifests.retain(|path, _| used.contains(path));
    }
}

/// The manifests a snapshot's manifest list names.
pub async fn manifest_list(table: &Table, snapshot: &SnapshotRef) -> Result<Vec<ManifestFile>> {
    let list = table.manifest_list_reader(snapshot).load().await.context(|| {
        format!(
            "reading the manifest list {} of snapshot {}",
            snapshot.manifest_list(),
            snapshot.snapshot_id()
        )
    })?;
    Ok(list.entries().to_vec())
}

/// Files some snapshot of a table needs.
#[derive(Debug, Default, Clone)]
pub struct Reachable {
    pub manifest_lists: HashSet<String>,
    pub manifests: HashSet<String>,
    /// Data and delete files live (added or existing) in some snapshot.
    pub content: HashSet<String>,
    pub statistics: HashSet<String>,
}

impl Reachable {
    /// The files of `snapshots` of `table`.
    pub async fn of<'a>(
        table: &Table,
        snapshots: impl IntoIterator<Item = &'a SnapshotRef>,
        cache: &mut ManifestCache,
    ) -> Result<Reachable> {
        let mut reachable = Reachable::default();
        for snapshot in snapshots {
            reachable.manifest_lists.insert(snapshot.manifest_list().to_owned());
            let list = manifest_list(table, snapshot).await?;
            let fresh: Vec<ManifestFile> = list
                .into_iter()
                .filter(|m| !reachable.manifests.contains(&m.manifest_path))
                .collect();
            for (file, manifest) in cache.load(table, &fresh).await? {
                reachable.manifests.insert(file.manifest_path);
                for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
                    reachable.content.insert(entry.file_path().to_owned());
                }
            }
        }
        let metadata = table.metadata();
        reachable.statistics.extend(metadata.statistics_iter().map(|s| s.statistics_path.clone()));
        reachable
            .statistics
            .extend(metadata.partition_statistics_iter().map(|s| s.statistics_path.clone()));
        Ok(reachable)
    }

    /// The files of every snapshot of `table`.
    pub async fn of_table(table: &Table, cache: &mut ManifestCache) -> Result<Reachable> {
        let snapshots: Vec<SnapshotRef> = table.metadata().snapshots().cloned().collect();
        Reachable::of(table, &snapshots, cache).await
    }

    /// Every path, whatever its kind.
    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.manifest_lists
            .iter()
            .chain(&self.manifests)
            .chain(&self.content)
            .chain(&self.statistics)
    }
}

/// The metadata files a table's catalog entry points at: the current one and its log.
pub fn metadata_files(table: &Table) -> HashSet<String> {
    let mut files: HashSet<String> =
        table.metadata().metadata_log().iter().map(|m| m.metadata_file.clone()).collect();
    if let Some(current) = table.metadata_location() {
        files.insert(current.to_owned());
    }
    files
}
