//! Maintenance that runs itself, in the process that ingests (`bidlake up`, `bidlake ingest
//! --maintain`). Every round, for each table of the namespace:
//! - compaction, in each partition being written, of the files of each size tier (under 1 MiB,
//!   then 8 times larger each) that holds `--maintain-min-files`, and of every small file of a
//!   partition nothing was added to for `--maintain-quiet-after` (the day that ended, a country
//!   that went quiet);
//! - manifest merging once the current snapshot names [`MIN_MANIFESTS_TO_MERGE`] data manifests;
//! - snapshot expiry past `--maintain-retain-snapshots` (with the files only they referenced);
//! - orphan removal every `--maintain-orphans-every`, of files older than
//!   `--maintain-orphan-older-than`.
//!
//! The first two also run between rounds, every [`BETWEEN_ROUNDS_EVERY`], where they are due: a
//! table that gained `--maintain-min-files` data files since it was last planned is compacted
//! as a round would (its full tiers, its quiet partitions), and its manifests are merged. So
//! the small files a query opens are bounded by the partitions being written and the tier size,
//! not by how many commits a round interval holds.
//!
//! The actions are the ones `bidlake maintain` runs, with the same concurrency rules: each
//! commit is planned on one version of the table and re-planned when ingest commits first, so
//! ingest is never blocked or fenced and no row is lost or doubled. A failed round is logged,
//! counted and tried again at the next one; it never stops ingest. What each round did goes into
//! [`MaintenanceMetrics`], which the dashboard and `/metrics` read.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bidlake_lake::Lake;
use iceberg::table::Table;

use crate::manifests::MIN_MANIFESTS_TO_MERGE;
use crate::reach::{ManifestCache, ReachCache};
use crate::{
    Error, MIN_ORPHAN_AGE, MaintainArgs, Result, Selection, compact, expire, manifests, orphans,
};

/// How often, between rounds, each table is checked for full size tiers to compact and for
/// [`MIN_MANIFESTS_TO_MERGE`] data manifests to merge. Ingest adds a manifest and a file per
/// partition per commit: at a 100 ms commit interval a round a minute would leave scans planning
/// hundreds of manifests and opening thousands of small files before it. A check reads the
/// table's metadata; compaction is planned only where the table gained `--maintain-min-files`
/// files since its last plan (Iceberg's Flink maintenance triggers on a data file count the
/// same way), and either commits only where there is something to do. The tiers, not the
/// trigger, decide how often a file is rewritten: a tier is compacted once it holds
/// `--maintain-min-files`, between rounds or at one.
pub const BETWEEN_ROUNDS_EVERY: Duration = Duration::from_secs(2);

/// Settings of the maintenance that runs beside ingest.
#[derive(Debug, Clone, clap::Args)]
pub struct AutoMaintainArgs {
    /// Maintain the tables in this process on a schedule (compaction, manifest merging, snapshot
    /// expiry, orphan removal). On by default in `up`, off in `ingest`; `--maintain=false` turns
    /// it off.
    #[arg(
        id = "maintain",
        long = "maintain",
        env = "BIDLAKE_MAINTAIN",
        num_args = 0..=1,
        default_missing_value = "true",
        value_name = "BOOL"
    )]
    pub enabled: Option<bool>,

    /// Time between maintenance rounds.
    #[arg(id = "maintain_every", value_name = "DURATION",
        long = "maintain-every", env = "MAINTAIN_EVERY", default_value = "1m", value_parser = humantime::parse_duration)]
    pub every: Duration,

    /// In a partition being written, the files of a size tier are compacted once there are this
    /// many (tiers: under 1 MiB, then each 8 times larger).
    #[arg(
        id = "maintain_min_files",
        value_name = "N",
        long = "maintain-min-files",
        env = "MAINTAIN_MIN_FILES",
        default_value_t = 8
    )]
    pub min_files: usize,

    /// A partition with two or more small files is compacted once nothing was added to it for
    /// this long.
    #[arg(id = "maintain_quiet_after", value_name = "DURATION",
        long = "maintain-quiet-after", env = "MAINTAIN_QUIET_AFTER", default_value = "10m", value_parser = humantime::parse_duration)]
    pub quiet_after: Duration,

    /// Snapshots older than this are expired (time travel reaches this far back).
    #[arg(id = "maintain_retain_snapshots", value_name = "DURATION",
        long = "maintain-retain-snapshots", env = "MAINTAIN_RETAIN_SNAPSHOTS", default_value = "1h", value_parser = humantime::parse_duration)]
    pub retain_snapshots: Duration,

    /// How often orphan files are looked for.
    #[arg(id = "maintain_orphans_every", value_name = "DURATION",
        long = "maintain-orphans-every", env = "MAINTAIN_ORPHANS_EVERY", default_value = "6h", value_parser = humantime::parse_duration)]
    pub orphans_every: Duration,

    /// Only unreferenced files older than this are orphans; at least 1h.
    #[arg(id = "maintain_orphan_older_than", value_name = "DURATION",
        long = "maintain-orphan-older-than", env = "MAINTAIN_AUTO_ORPHAN_OLDER_THAN", default_value = "1d", value_parser = humantime::parse_duration)]
    pub orphan_older_than: Duration,

    /// Size compaction aims for per data file.
    #[arg(id = "maintain_target_file_size", value_name = "SIZE",
        long = "maintain-target-file-size", env = "MAINTAIN_TARGET_FILE_SIZE", default_value = "128MiB", value_parser = crate::parse_size)]
    pub target_file_size: u64,
}

impl AutoMaintainArgs {
    /// Whether maintenance runs, given the command's default.
    pub fn enabled_or(&self, default: bool) -> bool {
        self.enabled.unwrap_or(default)
    }

    /// Rejects settings that cannot work, naming the flag to fix.
    pub fn validate(&self) -> Result<()> {
        if self.every < Duration::from_secs(1) {
            return Err(Error::Config("--maintain-every must be at least 1s (e.g. 1m)".into()));
        }
        if self.min_files < 2 {
            return Err(Error::Config("--maintain-min-files must be at least 2".into()));
        }
        if self.orphan_older_than < MIN_ORPHAN_AGE {
            return Err(Error::Config(format!(
                "--maintain-orphan-older-than {} is too short: files younger than 1h may belong \
                 to a commit in flight; use 1h or more (default 1d)",
                humantime::format_duration(self.orphan_older_than)
            )));
        }
        self.maintain_args(false).validate()
    }

    /// The settings of one `maintain` run these stand for.
    fn maintain_args(&self, orphans: bool) -> MaintainArgs {
        MaintainArgs {
            compact: true,
            expire_snapshots: true,
            remove_orphans: orphans,
            retain_snapshots_older_than: self.retain_snapshots,
            orphan_older_than: self.orphan_older_than,
            target_file_size: self.target_file_size,
            // One core: ingest has the others.
            parallelism: Some(1),
            selection: Selection { min_files: self.min_files, quiet_after: Some(self.quiet_after) },
            ..MaintainArgs::all()
        }
    }
}

/// What maintenance has done so far, for the dashboard and `/metrics`.
#[derive(Debug, Default)]
pub struct MaintenanceMetrics {
    state: Mutex<MaintenanceSnapshot>,
}

/// A copy of [`MaintenanceMetrics`] at one moment.
#[derive(Debug, Clone, Default)]
pub struct MaintenanceSnapshot {
    pub every: Duration,
    pub rounds: u64,
    /// When the last round ended and how long it took.
    pub last_round: Option<(SystemTime, Duration)>,
    pub compactions: u64,
    pub files_rewritten: u64,
    pub files_written: u64,
    pub manifest_merges: u64,
    pub snapshots_expired: u64,
    /// Files of expired snapshots and orphans deleted.
    pub files_deleted: u64,
    pub orphans_deleted: u64,
    pub failures: u64,
    pub last_failure: Option<(SystemTime, String)>,
    /// Per table (`db.bid_requests`): what its last round did, in words.
    pub tables: BTreeMap<String, String>,
}

impl MaintenanceMetrics {
    pub fn snapshot(&self) -> MaintenanceSnapshot {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, change: impl FnOnce(&mut MaintenanceSnapshot)) {
        change(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// Runs maintenance rounds every `settings.every` until `stop` is raised. The first round comes
/// one interval after the start, so a start-up is not slowed down by it.
pub async fn run(
    lake: Lake,
    settings: AutoMaintainArgs,
    metrics: Arc<MaintenanceMetrics>,
    stop: Arc<AtomicBool>,
) {
    metrics.update(|m| m.every = settings.every);
    tracing::info!(every = %humantime::format_duration(settings.every), retain_snapshots = %humantime::format_duration(settings.retain_snapshots), "table maintenance runs in the background");
    let mut orphans_due = Instant::now() + settings.orphans_every;
    let mut reach = HashMap::new();
    let mut planned_at = HashMap::new();
    loop {
        let next = Instant::now() + settings.every;
        let mut check_due = Instant::now() + BETWEEN_ROUNDS_EVERY;
        while Instant::now() < next {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            if Instant::now() >= check_due {
                between_rounds(&lake, &settings, &metrics, &stop, &mut planned_at).await;
                check_due = Instant::now() + BETWEEN_ROUNDS_EVERY;
            }
            tokio::time::sleep(Duration::from_millis(200).min(settings.every)).await;
        }
        let orphans = Instant::now() >= orphans_due;
        if orphans {
            orphans_due = Instant::now() + settings.orphans_every;
        }
        round(&lake, &settings, &metrics, orphans, &stop, &mut reach).await;
    }
}

/// One round over every table of the namespace. `reach` keeps, per table, what earlier rounds
/// read of the snapshots' manifest lists and manifests.
pub async fn round(
    lake: &Lake,
    settings: &AutoMaintainArgs,
    metrics: &MaintenanceMetrics,
    orphans: bool,
    stop: &AtomicBool,
    reach: &mut HashMap<String, ReachCache>,
) {
    let started = Instant::now();
    let args = settings.maintain_args(orphans);
    let tables = match crate::resolve_tables(lake, &[]).await {
        Ok(tables) => tables,
        Err(err) => return failed(metrics, "listing the tables", &err),
    };
    let mut locations = Vec::new();
    if orphans {
        for name in &tables {
            match lake.load_table(name).await {
                Ok(table) => locations.push(table.metadata().location().to_owned()),
                Err(err) => return failed(metrics, name, &err.into()),
            }
        }
    }
    reach.retain(|name, _| tables.contains(name));
    for name in &tables {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let reach = reach.entry(name.clone()).or_default();
        let done = maintain_table(lake, name, &args, &locations, metrics, reach).await;
        reach.forget_unused();
        match done {
            Ok(done) => metrics.update(|m| {
                m.tables.insert(lake.ident(name).to_string(), done);
            }),
            Err(err) => failed(metrics, name, &err),
        }
    }
    metrics.update(|m| {
        m.rounds += 1;
        m.last_round = Some((SystemTime::now(), started.elapsed()));
    });
}

/// Between rounds: compacts the full size tiers of each table that gained
/// `--maintain-min-files` data files since it was last planned (`planned_at` keeps, per table,
/// how many it had then; the first check only notes it, so a start-up is not slowed down), then
/// merges its data manifests where it names [`MIN_MANIFESTS_TO_MERGE`]. Runs in the rounds'
/// task, so it never races a round; it races only ingest's appends, as a round does. A failure
/// is left to the next check or round to report.
async fn between_rounds(
    lake: &Lake,
    settings: &AutoMaintainArgs,
    metrics: &MaintenanceMetrics,
    stop: &AtomicBool,
    planned_at: &mut HashMap<String, u64>,
) {
    let tables = match crate::resolve_tables(lake, &[]).await {
        Ok(tables) => tables,
        Err(err) => {
            tracing::debug!(error = %err, "check between rounds: listing the tables failed");
            return;
        }
    };
    planned_at.retain(|name, _| tables.contains(name));
    let args = settings.maintain_args(false);
    for name in &tables {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let checked = async {
            let mut table = lake.load_table(name).await?;
            let files = data_files(&table);
            // A round's compaction or expiry may have taken files away since.
            let last = planned_at.entry(name.clone()).or_insert(files);
            *last = (*last).min(files);
            if files >= *last + settings.min_files as u64 {
                let mut cache = ManifestCache::default();
                let compaction = compact::compact(lake, &table, &args, &mut cache).await?;
                let mut now = files;
                if compaction.snapshot_id.is_some() {
                    count_compaction(metrics, &compaction);
                    now = (files + compaction.output.files as u64)
                        .saturating_sub(compaction.input.files as u64);
                    // The merge plans on the table as compacted.
                    table = lake.load_table(name).await?;
                }
                planned_at.insert(name.clone(), now);
            }
            let mut cache = ManifestCache::default();
            manifests::merge(lake, &table, MIN_MANIFESTS_TO_MERGE, false, &mut cache).await
        };
        match checked.await {
            Ok(report) if report.snapshot_id.is_some() => {
                metrics.update(|m| m.manifest_merges += 1)
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(table = %name, error = %err, "check between rounds failed"),
        }
    }
}

/// The live data files of `table`'s current snapshot, as its summary counts them (0 without).
fn data_files(table: &Table) -> u64 {
    table
        .metadata()
        .current_snapshot()
        .and_then(|s| s.summary().additional_properties.get("total-data-files"))
        .and_then(|files| files.parse().ok())
        .unwrap_or(0)
}

fn count_compaction(metrics: &MaintenanceMetrics, compaction: &compact::CompactionReport) {
    metrics.update(|m| {
        m.compactions += 1;
        m.files_rewritten += compaction.input.files as u64;
        m.files_written += compaction.output.files as u64;
    });
}

fn failed(metrics: &MaintenanceMetrics, what: &str, err: &Error) {
    tracing::warn!(table = what, error = %err, "background maintenance failed; trying again next round");
    metrics.update(|m| {
        m.failures += 1;
        m.last_failure = Some((SystemTime::now(), format!("{what}: {err}")));
    });
}

/// Maintains one table; says what it did.
async fn maintain_table(
    lake: &Lake,
    name: &str,
    args: &MaintainArgs,
    locations: &[String],
    metrics: &MaintenanceMetrics,
    reach: &mut ReachCache,
) -> Result<String> {
    // Decoded manifests are large; a round keeps those it needs only while it runs.
    let mut cache = ManifestCache::default();
    let mut done = Vec::new();

    let table = lake.load_table(name).await?;
    let compaction = compact::compact(lake, &table, args, &mut cache).await?;
    if compaction.snapshot_id.is_some() {
        count_compaction(metrics, &compaction);
        done.push(format!(
            "compacted {} files into {}",
            compaction.input.files, compaction.output.files
        ));
    }

    let table = lake.load_table(name).await?;
    let merge = manifests::merge(lake, &table, MIN_MANIFESTS_TO_MERGE, false, &mut cache).await?;
    if merge.snapshot_id.is_some() {
        metrics.update(|m| m.manifest_merges += 1);
        done.push(format!("merged {} manifests into {}", merge.before, merge.after));
    }

    let table = lake.load_table(name).await?;
    let expiry = expire::expire(lake, &table, args, reach).await?;
    if !expiry.expired.is_empty() {
        metrics.update(|m| {
            m.snapshots_expired += expiry.expired.len() as u64;
            m.files_deleted += expiry.files.len() as u64;
        });
        done.push(format!(
            "expired {} snapshots ({} files deleted)",
            expiry.expired.len(),
            expiry.files.len()
        ));
    }

    if args.remove_orphans {
        let table = lake.load_table(name).await?;
        let report = orphans::remove_orphans(lake, &table, locations, args, reach).await?;
        if !report.orphans.is_empty() {
            metrics.update(|m| {
                m.orphans_deleted += report.orphans.len() as u64;
                m.files_deleted += report.orphans.len() as u64;
            });
            done.push(format!("removed {} orphan files", report.orphans.len()));
        }
    }
    Ok(if done.is_empty() { "nothing to do".to_owned() } else { done.join(", ") })
}
