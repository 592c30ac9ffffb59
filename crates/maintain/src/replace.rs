//! The `replace` snapshot a compaction or a manifest merge commits, built by hand (iceberg 0.10.1
//! has neither a rewrite action nor manifest merging): a manifest of the new files (ADDED), each
//! manifest that held a rewritten file written again with its other files EXISTING (or, when
//! merging, every data manifest of a partition spec written as one), the rewritten files DELETED
//! in a manifest of their own, every other manifest carried over as is, and a manifest list over
//! all of them. It is planned against one exact version of the table and committed only if
//! `main` still points at that version's snapshot, so concurrent appends are never dropped: on
//! a conflict the caller reloads the table and plans again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use bidlake_lake::Lake;
use bidlake_lake::commit::commit_updates;
use bidlake_lake::pinned::Attempt;
use iceberg::spec::{
    DataFile, MAIN_BRANCH, Manifest, ManifestContentType, ManifestFile, ManifestListWriter,
    ManifestWriterBuilder, Operation, Snapshot, SnapshotReference, SnapshotRetention,
    SnapshotSummaryCollector, Summary, TableMetadata, TableProperties,
};
use iceberg::table::Table;
use iceberg::{TableRequirement, TableUpdate};

use crate::reach::{ManifestCache, manifest_list};
use crate::{Context, Error, Result};

/// Summary keys of ingest's progress (crates/lake/src/progress.rs): `bidlake.kafka.<topic>.*`.
/// Ingest resumes from the latest snapshot that records a topic's offsets, so a replace snapshot
/// carries them forward: after expiry its parents may be gone.
const PROGRESS_PREFIX: &str = "bidlake.kafka.";
/// Summary keys of an aggregate table's progress (the event-table snapshots it has consumed),
/// carried forward the same way.
const AGGREGATE_PREFIX: &str = "bidlake.aggregate.";

/// What a compaction commits.
#[derive(Debug)]
pub struct Replacement {
    /// Paths of the data files rewritten, exactly as the manifests name them.
    pub rewritten: HashSet<String>,
    pub added: Vec<DataFile>,
    /// `bidlake.compaction.*` summary entries.
    pub properties: HashMap<String, String>,
    /// Merge every data manifest of a partition spec into one (the manifest list then stays
    /// short however many appends came before). Without it only the manifests that hold a
    /// rewritten file are written again, and those left without a live file are dropped.
    pub merge_manifests: bool,
    /// `Replace` for a rewrite of the same rows (compaction, merging); `Overwrite` when the
    /// rows change (an aggregate table's windows recomputed).
    pub operation: Operation,
}

/// How one commit attempt ended.
#[derive(Debug)]
pub enum Outcome {
    Committed {
        table: Box<Table>,
        snapshot_id: i64,
    },
    /// `main` moved on; reload and try again.
    Conflict,
    /// The rewrite no longer applies (a rewritten file is gone); give it up.
    Stale(String),
}

/// A replace snapshot's manifests, written once against one version of the table. They are
/// committed on top of whatever appends come after that version ([`commit_prepared`]): a retry
/// after a conflict only writes a new manifest list, so it stays cheap however many files the
/// replacement rewrote, and a compaction is not starved by an ingest that commits every 100 ms.
#[derive(Debug)]
pub struct Prepared {
    snapshot_id: i64,
    commit_id: uuid::Uuid,
    /// The manifests of the planned-on version it replaces (rewritten or merged).
    consumed: HashSet<String>,
    /// The manifests written for it: the added files' and the rewritten or merged ones.
    manifests: Vec<ManifestFile>,
    /// Every file written for it (manifests and manifest lists).
    written: Vec<String>,
    /// The data files it deletes, as their manifests listed them.
    deleted: Vec<DataFile>,
    /// Manifests replaced and created by merging.
    replaced: usize,
    created: usize,
    attempts: usize,
}

impl Prepared {
    /// Deletes the manifests written for a replacement that will never be committed.
    pub async fn discard(&self, table: &Table) {
        delete_quietly(table, &self.written).await;
    }
}

/// Commit attempts before a replacement gives up on a table that keeps moving (each retry only
/// writes a manifest list, so many are cheap).
const MAX_ATTEMPTS: u32 = 100;

/// Prepares the replace snapshot on `table` as loaded and commits it, on top of whatever appends
/// come first, until it is committed (`Committed`) or cannot be (`Stale`, with the reason; its
/// manifests are then deleted, the replacement's data files are the caller's).
pub async fn commit_retrying(
    lake: &Lake,
    table: &Table,
    replacement: &Replacement,
    cache: &mut ManifestCache,
) -> Result<Outcome> {
    let name = table.identifier().to_string();
    let mut prepared = match prepare(table, replacement, cache).await? {
        Ok(prepared) => prepared,
        Err(reason) => return Ok(Outcome::Stale(reason)),
    };
    let mut current = table.clone();
    for attempt in 1..=MAX_ATTEMPTS {
        match commit_prepared(lake, &current, &mut prepared, replacement, cache).await? {
            Outcome::Conflict => {
                tracing::debug!(table = %name, attempt, "the table changed meanwhile; committing on top of it");
                tokio::time::sleep(retry_pause()).await;
                current = lake.load_table(current.identifier().name()).await?;
            }
            Outcome::Stale(reason) => {
                prepared.discard(table).await;
                return Ok(Outcome::Stale(reason));
            }
            committed => return Ok(committed),
        }
    }
    prepared.discard(table).await;
    Ok(Outcome::Stale(format!("the table changed on each of {MAX_ATTEMPTS} commit attempts")))
}

/// A short random pause before committing again: another writer that commits on a fixed
/// interval (ingest) is not met at the same moment every time.
fn retry_pause() -> std::time::Duration {
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    std::time::Duration::from_millis(5 + high % 95)
}

/// Plans the replace snapshot on `table` as loaded and commits it if the table is unchanged;
/// nothing it wrote is left behind when it is not committed.
pub async fn commit(
    lake: &Lake,
    table: &Table,
    replacement: &Replacement,
    cache: &mut ManifestCache,
) -> Result<Outcome> {
    let mut prepared = match prepare(table, replacement, cache).await? {
        Ok(prepared) => prepared,
        Err(reason) => return Ok(Outcome::Stale(reason)),
    };
    let outcome = commit_prepared(lake, table, &mut prepared, replacement, cache).await?;
    if !matches!(outcome, Outcome::Committed { .. }) {
        prepared.discard(table).await;
    }
    Ok(outcome)
}

/// Writes the manifests of the replace snapshot planned on `table` as loaded; `Err` says why the
/// replacement no longer applies.
pub async fn prepare(
    table: &Table,
    replacement: &Replacement,
    cache: &mut ManifestCache,
) -> Result<Result<Prepared, String>> {
    let metadata = table.metadata();
    let Some(parent) = metadata.current_snapshot() else {
        return Ok(Err("the table has no snapshot any more".into()));
    };
    let list = manifest_list(table, parent).await?;
    let manifests = cache.load(table, &list).await?;

    // Every rewritten file must still be live, and nobody may have added deletes meanwhile.
    let mut live = HashSet::new();
    let mut deleted: Vec<DataFile> = Vec::new();
    for (file, manifest) in &manifests {
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            if file.content == ManifestContentType::Deletes {
                return Ok(Err("delete files were committed meanwhile".into()));
            }
            if replacement.rewritten.contains(entry.file_path()) && live.insert(entry.file_path()) {
                deleted.push(entry.data_file().clone());
            }
        }
    }
    if live.len() != replacement.rewritten.len() {
        return Ok(Err(format!(
            "{} of the {} rewritten files are no longer in the table",
            replacement.rewritten.len() - live.len(),
            replacement.rewritten.len()
        )));
    }

    let mut prepared = Prepared {
        snapshot_id: unique_snapshot_id(metadata),
        commit_id: uuid::Uuid::new_v4(),
        consumed: HashSet::new(),
        manifests: Vec::new(),
        written: Vec::new(),
        deleted,
        replaced: 0,
        created: 0,
        attempts: 0,
    };
    let written = write_manifests(table, &manifests, replacement, &mut prepared).await;
    if let Err(err) = written {
        prepared.discard(table).await;
        return Err(err);
    }
    Ok(Ok(prepared))
}

async fn write_manifests(
    table: &Table,
    manifests: &[(ManifestFile, Arc<Manifest>)],
    replacement: &Replacement,
    prepared: &mut Prepared,
) -> Result<()> {
    let metadata = table.metadata();
    let (snapshot_id, commit_id) = (prepared.snapshot_id, prepared.commit_id);
    let manifest_path =
        |n: usize| format!("{}/metadata/{commit_id}-m{n}.avro", metadata.location());
    let mut next_path = 0..;
    if !replacement.added.is_empty() {
        let path = manifest_path(next_path.next().unwrap_or_default());
        let output = table.file_io().new_output(&path).context(|| format!("creating {path}"))?;
        let mut added = ManifestWriterBuilder::new(
            output,
            Some(snapshot_id),
            metadata.current_schema().clone(),
            metadata.default_partition_spec().as_ref().clone(),
        )
        .build_v2_data();
        for file in &replacement.added {
            // A negative sequence number: inherited from the manifest list at commit.
            added.add_file(file.clone(), -1).context(|| format!("adding a file to {path}"))?;
        }
        prepared.written.push(path.clone());
        prepared
            .manifests
            .push(added.write_manifest_file().await.context(|| format!("writing {path}"))?);
    }

    // Manifests that hold a rewritten file are written again, and those with no live file left
    // (a previous replace's record of what it deleted) dropped; with `merge_manifests`, all
    // data manifests of a partition spec become one.
    let mut groups: BTreeMap<i32, Vec<&(ManifestFile, Arc<Manifest>)>> = BTreeMap::new();
    for source in manifests {
        let (file, manifest) = source;
        let touched = manifest
            .entries()
            .iter()
            .any(|e| e.is_alive() && replacement.rewritten.contains(e.file_path()));
        if replacement.merge_manifests && file.content == ManifestContentType::Data {
            groups.entry(file.partition_spec_id).or_default().push(source);
        } else if file.content == ManifestContentType::Data
            && manifest.entries().iter().all(|e| !e.is_alive())
        {
            prepared.consumed.insert(file.manifest_path.clone());
        } else if touched {
            prepared.consumed.insert(file.manifest_path.clone());
            let mut paths = || manifest_path(next_path.next().unwrap_or_default());
            let rewritten =
                rewrite_manifests(table, &mut paths, &[source], replacement, prepared).await?;
            prepared.manifests.extend(rewritten);
        }
    }
    for sources in groups.values() {
        prepared.consumed.extend(sources.iter().map(|(file, _)| file.manifest_path.clone()));
        prepared.replaced += sources.len();
        let mut paths = || manifest_path(next_path.next().unwrap_or_default());
        let merged = rewrite_manifests(table, &mut paths, sources, replacement, prepared).await?;
        prepared.created += merged.len();
        prepared.manifests.extend(merged);
    }
    Ok(())
}

/// Commits `prepared` on `table` as loaded (its current snapshot the parent), if every manifest
/// it replaces is still there and nothing since deleted a file it rewrote.
pub async fn commit_prepared(
    lake: &Lake,
    table: &Table,
    prepared: &mut Prepared,
    replacement: &Replacement,
    cache: &mut ManifestCache,
) -> Result<Outcome> {
    let metadata = table.metadata();
    let Some(parent) = metadata.current_snapshot() else {
        return Ok(Outcome::Stale("the table has no snapshot any more".into()));
    };
    let list = manifest_list(table, parent).await?;
    let listed: HashSet<&str> = list.iter().map(|m| m.manifest_path.as_str()).collect();
    if !prepared.consumed.iter().all(|m| listed.contains(m.as_str())) {
        return Ok(Outcome::Stale("another commit rewrote the manifests it replaces".into()));
    }
    // What came since (appends): carried as they are, unless they delete what was rewritten.
    let carried: Vec<ManifestFile> =
        list.into_iter().filter(|m| !prepared.consumed.contains(&m.manifest_path)).collect();
    for (file, manifest) in cache.load(table, &carried).await? {
        for entry in manifest.entries() {
            if file.content == ManifestContentType::Deletes && entry.is_alive() {
                return Ok(Outcome::Stale("delete files were committed meanwhile".into()));
            }
            if !entry.is_alive() && replacement.rewritten.contains(entry.file_path()) {
                return Ok(Outcome::Stale(format!(
                    "{} was deleted by another commit",
                    entry.file_path()
                )));
            }
        }
    }

    prepared.attempts += 1;
    let (snapshot_id, commit_id) = (prepared.snapshot_id, prepared.commit_id);
    let sequence_number = metadata.next_sequence_number();
    let list_path = format!(
        "{}/metadata/snap-{snapshot_id}-{}-{commit_id}.avro",
        metadata.location(),
        prepared.attempts
    );
    let output =
        table.file_io().new_output(&list_path).context(|| format!("creating {list_path}"))?;
    let mut list_writer = ManifestListWriter::v2(
        output.writer().await.context(|| format!("creating {list_path}"))?,
        snapshot_id,
        Some(parent.snapshot_id()),
        sequence_number,
    );
    let kept = carried.len();
    list_writer
        .add_manifests(prepared.manifests.iter().cloned().chain(carried))
        .context(|| format!("writing {list_path}"))?;
    list_writer.close().await.context(|| format!("writing {list_path}"))?;

    let mut summary = summary(metadata, parent, &prepared.deleted, replacement)?;
    if replacement.merge_manifests {
        let changes =
            ManifestChanges { created: prepared.created, replaced: prepared.replaced, kept };
        changes.record(&mut summary);
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
        .max(metadata.last_updated_ms());
    let snapshot = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(parent.snapshot_id()))
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(now_ms)
        .with_manifest_list(list_path.clone())
        .with_summary(summary)
        .with_schema_id(metadata.current_schema_id())
        .build();
    let updates = vec![
        TableUpdate::AddSnapshot { snapshot },
        TableUpdate::SetSnapshotRef {
            ref_name: MAIN_BRANCH.to_owned(),
            reference: SnapshotReference::new(
                snapshot_id,
                SnapshotRetention::branch(None, None, None),
            ),
        },
    ];
    let requirements = vec![
        TableRequirement::UuidMatch { uuid: metadata.uuid() },
        TableRequirement::RefSnapshotIdMatch {
            r#ref: MAIN_BRANCH.to_owned(),
            snapshot_id: Some(parent.snapshot_id()),
        },
    ];
    match commit_updates(lake, table, requirements, updates).await {
        Ok(Attempt::Committed(table)) => Ok(Outcome::Committed { table, snapshot_id }),
        Ok(Attempt::Conflict) => {
            // Nothing references this attempt's manifest list; the manifests serve the next.
            delete_quietly(table, std::slice::from_ref(&list_path)).await;
            Ok(Outcome::Conflict)
        }
        // Unknown state: leave the list to orphan removal rather than risk a referenced file.
        Err(err) => Err(err.into()),
    }
}

/// The snapshot summary: Iceberg's standard keys for the files added and deleted, totals carried
/// from the parent, ingest's progress carried forward, and bidlake's compaction keys.
fn summary(
    metadata: &TableMetadata,
    parent: &Snapshot,
    deleted: &[DataFile],
    replacement: &Replacement,
) -> Result<Summary> {
    let schema = metadata.current_schema().clone();
    let spec = metadata.default_partition_spec().clone();
    let mut collector = SnapshotSummaryCollector::default();
    let limit = metadata
        .properties()
        .get(TableProperties::PROPERTY_WRITE_PARTITION_SUMMARY_LIMIT)
        .and_then(|v| v.parse().ok())
        .unwrap_or(TableProperties::PROPERTY_WRITE_PARTITION_SUMMARY_LIMIT_DEFAULT);
    collector.set_partition_summary_limit(limit);
    for file in &replacement.added {
        collector.add_file(file, schema.clone(), spec.clone());
    }
    for file in deleted {
        collector.remove_file(file, schema.clone(), spec.clone());
    }
    let mut properties = progress_of(metadata, parent);
    properties.extend(replacement.properties.clone());
    properties.extend(collector.build());

    let previous = &parent.summary().additional_properties;
    for (total, added, removed) in [
        ("total-data-files", "added-data-files", "deleted-data-files"),
        ("total-records", "added-records", "deleted-records"),
        ("total-files-size", "added-files-size", "removed-files-size"),
        ("total-delete-files", "added-delete-files", "removed-delete-files"),
        ("total-position-deletes", "added-position-deletes", "removed-position-deletes"),
        ("total-equality-deletes", "added-equality-deletes", "removed-equality-deletes"),
    ] {
        // Like Iceberg: no total when the parent had none.
        let Some(before) = previous.get(total).and_then(|v| v.parse::<u64>().ok()) else {
            continue;
        };
        let get = |key: &str| properties.get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let after = (before + get(added)).saturating_sub(get(removed));
        properties.insert(total.to_owned(), after.to_string());
    }
    Ok(Summary { operation: replacement.operation.clone(), additional_properties: properties })
}

/// Ingest's progress as the table records it: for each topic, every `bidlake.kafka.<topic>.`
/// entry of the newest ancestor (from `parent` back) that records the topic's offsets.
pub fn progress_of(metadata: &TableMetadata, parent: &Snapshot) -> HashMap<String, String> {
    let mut found = HashSet::new();
    let mut carried = HashMap::new();
    let mut aggregate_found = false;
    let mut snapshot = Some(parent);
    while let Some(s) = snapshot {
        let props = &s.summary().additional_properties;
        if !aggregate_found && props.keys().any(|k| k.starts_with(AGGREGATE_PREFIX)) {
            aggregate_found = true;
            for (k, v) in props.iter().filter(|(k, _)| k.starts_with(AGGREGATE_PREFIX)) {
                carried.insert(k.clone(), v.clone());
            }
            // An aggregate table: ingest records nothing in it, so the rest of its history
            // (every snapshot it keeps, walked on every commit) has nothing more to carry.
            if found.is_empty() && !props.keys().any(|k| k.starts_with(PROGRESS_PREFIX)) {
                break;
            }
        }
        for key in props.keys() {
            let Some(topic) =
                key.strip_prefix(PROGRESS_PREFIX).and_then(|k| k.strip_suffix(".offsets"))
            else {
                continue;
            };
            if found.insert(topic.to_owned()) {
                let prefix = format!("{PROGRESS_PREFIX}{topic}.");
                for (k, v) in props.iter().filter(|(k, _)| k.starts_with(&prefix)) {
                    carried.insert(k.clone(), v.clone());
                }
            }
        }
        snapshot =
            s.parent_snapshot_id().and_then(|id| metadata.snapshot_by_id(id)).map(|s| s.as_ref());
    }
    carried
}

/// How a merge changed the manifest list, in Iceberg's summary keys (as its rewrite-manifests
/// action reports them).
#[derive(Debug, Default)]
struct ManifestChanges {
    created: usize,
    replaced: usize,
    kept: usize,
}

impl ManifestChanges {
    fn record(&self, summary: &mut Summary) {
        let props = &mut summary.additional_properties;
        props.insert("manifests-created".into(), self.created.to_string());
        props.insert("manifests-replaced".into(), self.replaced.to_string());
        props.insert("manifests-kept".into(), self.kept.to_string());
    }
}

/// Writes the live entries of `sources` (manifests of one partition spec) again: the files kept
/// as EXISTING (with their sequence numbers and the snapshot that added them) in one manifest,
/// the rewritten files as DELETED in a manifest of their own. Entries deleted by earlier snapshots
/// are dropped (the spec allows it). Kept apart, the record of what this snapshot deleted is a
/// manifest with no live file, which scans skip by its counts in the manifest list (as
/// Iceberg's own planning does) instead of decoding hundreds of dead entries on every query
/// until the next round drops them. Nothing is written for an empty side.
async fn rewrite_manifests(
    table: &Table,
    paths: &mut (dyn FnMut() -> String + Send),
    sources: &[&(ManifestFile, Arc<Manifest>)],
    replacement: &Replacement,
    prepared: &mut Prepared,
) -> Result<Vec<ManifestFile>> {
    let metadata = table.metadata();
    let Some((first, _)) = sources.first() else { return Ok(Vec::new()) };
    let spec = metadata.partition_spec_by_id(first.partition_spec_id).ok_or_else(|| {
        Error::Config(format!(
            "{} names partition spec {} that {} does not have",
            first.manifest_path,
            first.partition_spec_id,
            table.identifier()
        ))
    })?;
    let (mut kept, mut deleted) = (Vec::new(), Vec::new());
    for (file, manifest) in sources {
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let sequence = entry.sequence_number().ok_or_else(|| {
                Error::Config(format!(
                    "{} lists {} without a sequence number",
                    file.manifest_path,
                    entry.file_path()
                ))
            })?;
            let file_sequence = entry.file_sequence_number.or(Some(sequence));
            if replacement.rewritten.contains(entry.file_path()) {
                deleted.push((entry, sequence, file_sequence));
            } else {
                let added_by = entry.snapshot_id().unwrap_or(file.added_snapshot_id);
                kept.push((entry, added_by, sequence, file_sequence));
            }
        }
    }
    let snapshot_id = prepared.snapshot_id;
    let new_writer = |path: &str| -> Result<_> {
        let output = table.file_io().new_output(path).context(|| format!("creating {path}"))?;
        Ok(ManifestWriterBuilder::new(
            output,
            Some(snapshot_id),
            metadata.current_schema().clone(),
            spec.as_ref().clone(),
        )
        .build_v2_data())
    };
    let mut written = Vec::new();
    if !kept.is_empty() {
        let path = paths();
        prepared.written.push(path.clone());
        let mut writer = new_writer(&path)?;
        for (entry, added_by, sequence, file_sequence) in kept {
            writer
                .add_existing_file(entry.data_file().clone(), added_by, sequence, file_sequence)
                .context(|| format!("adding an entry to {path}"))?;
        }
        written.push(writer.write_manifest_file().await.context(|| format!("writing {path}"))?);
    }
    if !deleted.is_empty() {
        let path = paths();
        prepared.written.push(path.clone());
        let mut writer = new_writer(&path)?;
        for (entry, sequence, file_sequence) in deleted {
            writer
                .add_delete_file(entry.data_file().clone(), sequence, file_sequence)
                .context(|| format!("adding an entry to {path}"))?;
        }
        written.push(writer.write_manifest_file().await.context(|| format!("writing {path}"))?);
    }
    Ok(written)
}

fn unique_snapshot_id(metadata: &TableMetadata) -> i64 {
    loop {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        let id = ((high ^ low) >> 1) as i64;
        if id != 0 && metadata.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

/// Deletes files nothing references; a failure only leaves them for orphan removal.
pub async fn delete_quietly(table: &Table, paths: &[String]) {
    for path in paths {
        if let Err(err) = table.file_io().delete(path).await {
            tracing::warn!(file = %path, error = %err, "could not delete an unused file; orphan removal will");
        }
    }
}
