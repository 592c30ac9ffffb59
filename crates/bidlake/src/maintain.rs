//! `bidlake maintain`: compaction, snapshot expiry and orphan-file removal, with a summary per
//! table on standard output (and, in a dry run, everything that would change).

use std::io::Write;
use std::path::Path;

use bidlake_lake::{LakeArgs, open_lake};
use bidlake_maintain::{MaintainArgs, TableReport};

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
