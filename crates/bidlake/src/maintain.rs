//! `bidlake maintain`: compaction, manifest merging, snapshot expiry and orphan-file removal, with
//! a summary per table on standard output (and, in a dry run, everything that would change); and
//! the same on a schedule beside ingest ([`Background`]).

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bidlake_lake::{Lake, LakeArgs, open_lake};
use bidlake_maintain::{AutoMaintainArgs, MaintainArgs, MaintenanceMetrics, TableReport};

use crate::Error;

#[derive(Debug, clap::Args)]
pub struct MaintainCmd {
    #[command(flatten)]
    pub maintain: MaintainArgs,
    #[command(flatten)]
    pub lake: LakeArgs,
}

pub async fn maintain(data_dir: &Path, args: MaintainCmd) -> Result<(), Error> {
    // Bad settings fail before the catalog is opened.
    args.maintain.validate()?;
    let lake = open_lake(args.lake.resolve(data_dir)?).await?;
    let reports = bidlake_maintain::run(&lake, &args.maintain).await?;
    let mut out = std::io::stdout().lock();
    print(&mut out, &args.maintain, &reports).map_err(Error::Stdout)
}

fn print(
    out: &mut impl Write,
    args: &MaintainArgs,
    reports: &[TableReport],
) -> std::io::Result<()> {
    if args.dry_run {
        writeln!(out, "dry run: nothing was changed; this is what maintain would do")?;
    }
    for report in reports {
        writeln!(out, "{}", report.table)?;
        let (b, a) = (report.before, report.after);
        writeln!(
            out,
            "  data files   {} -> {} ({} -> {}, {} rows)",
            b.files,
            a.files,
            bytes(b.bytes),
            bytes(a.bytes),
            a.records
        )?;
        if let Some(c) = &report.compaction {
            let verb = if args.dry_run { "would rewrite" } else { "rewrote" };
            match (&c.skipped, c.snapshot_id) {
                (Some(reason), _) => writeln!(out, "  compaction   nothing rewritten: {reason}")?,
                (None, snapshot) => {
                    write!(
                        out,
                        "  compaction   {verb} {} files ({}) in {} bins into {} files",
                        c.input.files,
                        bytes(c.input.bytes),
                        c.bins.len(),
                        c.output.files
                    )?;
                    if let Some(id) = snapshot {
                        let secs = c.rewrite_time.as_secs_f64().max(1e-3);
                        write!(
                            out,
                            " ({}); replace snapshot {id}; {:.1} MB/s",
                            bytes(c.output.bytes),
                            c.input.bytes as f64 / 1e6 / secs
                        )?;
                    }
                    writeln!(out)?;
                }
            }
            if args.dry_run {
                for (partition, files, size) in &c.bins {
                    writeln!(out, "    {files} files ({}) of {partition} into one", bytes(*size))?;
                }
            }
        }
        if let Some(m) = &report.manifests {
            match (&m.skipped, args.dry_run) {
                (Some(_), _) => {
                    writeln!(out, "  manifests    {} data manifests, left as they are", m.before)?
                }
                (None, true) => writeln!(
                    out,
                    "  manifests    would merge {} data manifests into one",
                    m.before
                )?,
                (None, false) => writeln!(
                    out,
                    "  manifests    merged {} data manifests into {}",
                    m.before, m.after
                )?,
            }
        }
        if let Some(e) = &report.expiry {
            let verb = if args.dry_run { "would expire" } else { "expired" };
            writeln!(
                out,
                "  expiry       {verb} {} snapshots, {} {} files only they referenced",
                e.expired.len(),
                if args.dry_run { "would delete" } else { "deleted" },
                e.files.len()
            )?;
            if args.dry_run {
                for id in &e.expired {
                    writeln!(out, "    snapshot {id}")?;
                }
                for file in &e.files {
                    writeln!(out, "    {file}")?;
                }
            }
        }
        if let Some(o) = &report.orphans {
            writeln!(
                out,
                "  orphans      {} {} ({}) of {} files listed; {} unreferenced but younger than {} kept",
                if args.dry_run { "would delete" } else { "deleted" },
                o.orphans.len(),
                bytes(o.bytes()),
                o.listed,
                o.young,
                humantime::format_duration(args.orphan_older_than)
            )?;
            if args.dry_run {
                for file in &o.orphans {
                    writeln!(out, "    {}", file.url)?;
                }
            }
        }
        writeln!(out, "  time         {:.1} s", report.elapsed.as_secs_f64())?;
    }
    Ok(())
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{value:.1} {}", UNITS[unit]) }
}

/// Table maintenance running beside ingest in this process (`up`, `ingest --maintain`).
#[derive(Debug)]
pub struct Background {
    stop: Arc<AtomicBool>,
    abort: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    pub metrics: Arc<MaintenanceMetrics>,
}

/// How long a round in progress may go on after the process is asked to stop. Stopping it
/// sooner is safe (a commit is atomic; files written for one that never happens are orphans),
/// but a person pressing Ctrl-C should not wait for a large compaction.
const STOP_WAIT: Duration = Duration::from_secs(10);

impl Background {
    pub fn start(lake: &Lake, settings: AutoMaintainArgs) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let metrics = Arc::new(MaintenanceMetrics::default());
        let (abort, aborted) = tokio::sync::oneshot::channel::<()>();
        let (lake, for_rounds, flag) = (lake.clone(), metrics.clone(), stop.clone());
        // On a thread of its own, driven by this runtime: compaction's rewrite stream is not a
        // `Send` future, so it cannot be a task of its own.
        let runtime = tokio::runtime::Handle::current();
        let task = tokio::task::spawn_blocking(move || {
            let rounds = bidlake_maintain::background::run(lake, settings, for_rounds, flag);
            runtime.block_on(async {
                tokio::select! {
                    () = rounds => {}
                    _ = aborted => {}
                }
            });
        });
        Self { stop, abort: Some(abort), task, metrics }
    }

    pub async fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if tokio::time::timeout(STOP_WAIT, &mut self.task).await.is_err() {
            tracing::info!("stopping the maintenance round in progress");
            if let Some(abort) = self.abort.take() {
                let _ = abort.send(());
            }
            let _ = self.task.await;
        }
    }
}
