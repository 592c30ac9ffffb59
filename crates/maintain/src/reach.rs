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

/// What reachability needs of the manifest lists and manifests it has read: the manifests a list
/// names and the live files a manifest names. Both never change once written, so a process keeps
/// one of these per table from one maintenance round to the next and reads only what is new. Only
/// paths are kept: a decoded manifest carries the table's schema and every file's column
/// metrics, and holding the manifests of every retained snapshot at once was what made a
/// maintenance round of a long-running ingest take a hundred MiB or more (docs/benchmarks.md).
#[derive(Debug, Default)]
pub struct ReachCache {
    /// Manifest list path -> the manifests it names.
    lists: HashMap<String, Arc<[Arc<str>]>>,
    /// Manifest path -> its live (added or existing) data and delete files.
    live: HashMap<Arc<str>, Arc<[String]>>,
    /// Paths asked for since [`ReachCache::forget_unused`] was last called.
    used: HashSet<String>,
}

impl ReachCache {
    /// The manifests `snapshot`'s manifest list names, reading the list and the manifests not
    /// read before.
    async fn manifests_of(
        &mut self,
        table: &Table,
        snapshot: &SnapshotRef,
    ) -> Result<Arc<[Arc<str>]>> {
        let list_path = snapshot.manifest_list();
        self.used.insert(list_path.to_owned());
        if let Some(names) = self.lists.get(list_path) {
            let names = names.clone();
            self.used.extend(names.iter().map(|m| m.to_string()));
            return Ok(names);
        }
        let list = manifest_list(table, snapshot).await?;
        let missing: Vec<ManifestFile> = list
            .iter()
            .filter(|m| !self.live.contains_key(m.manifest_path.as_str()))
            .cloned()
            .collect();
        let io = table.file_io();
        let loaded: Vec<(String, Arc<[String]>)> = futures::stream::iter(missing)
            .map(|file| async move {
                let manifest = file
                    .load_manifest(io)
                    .await
                    .context(|| format!("reading the manifest {}", file.manifest_path))?;
                let live: Arc<[String]> = manifest
                    .entries()
                    .iter()
                    .filter(|e| e.is_alive())
                    .map(|e| e.file_path().to_owned())
                    .collect();
                Ok::<_, crate::Error>((file.manifest_path, live))
            })
            .buffer_unordered(LOAD_CONCURRENCY)
            .try_collect()
            .await?;
        for (path, live) in loaded {
            self.live.insert(path.into(), live);
        }
        // The names share the strings of the `live` keys.
        let names: Arc<[Arc<str>]> = list
            .iter()
            .filter_map(|m| {
                self.live.get_key_value(m.manifest_path.as_str()).map(|(k, _)| k.clone())
            })
            .collect();
        self.used.extend(names.iter().map(|m| m.to_string()));
        self.lists.insert(list_path.to_owned(), names.clone());
        Ok(names)
    }

    /// How many manifest lists and manifests it holds the paths of.
    pub fn held(&self) -> (usize, usize) {
        (self.lists.len(), self.live.len())
    }

    /// Drops what was not asked for since the last call: the lists and manifests of snapshots
    /// that have been expired since. A call after nothing was asked for keeps everything.
    pub fn forget_unused(&mut self) {
        if self.used.is_empty() {
            return;
        }
        let used = std::mem::take(&mut self.used);
        self.lists.retain(|path, _| used.contains(path));
        self.live.retain(|path, _| used.contains(&**path));
    }
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
        cache: &mut ReachCache,
    ) -> Result<Reachable> {
        let mut reachable = Reachable::default();
        for snapshot in snapshots {
            reachable.manifest_lists.insert(snapshot.manifest_list().to_owned());
            for manifest in cache.manifests_of(table, snapshot).await?.iter() {
                if reachable.manifests.insert(manifest.to_string())
                    && let Some(live) = cache.live.get(manifest)
                {
                    reachable.content.extend(live.iter().cloned());
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
    pub async fn of_table(table: &Table, cache: &mut ReachCache) -> Result<Reachable> {
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
