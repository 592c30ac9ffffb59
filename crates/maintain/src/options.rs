use std::time::Duration;

use crate::{Error, Result};

pub use bidlake_lake::MIN_ORPHAN_AGE;

/// Settings of `bidlake maintain`. Without an action flag, all three actions run.
#[derive(Debug, Clone, clap::Args)]
pub struct MaintainArgs {
    /// Rewrite small data files of each partition into files near --target-file-size.
    #[arg(long)]
    pub compact: bool,

    /// Remove snapshots older than --retain-snapshots-older-than from the metadata, then the
    /// files only they referenced.
    #[arg(long)]
    pub expire_snapshots: bool,

    /// Delete files under the table's location that no metadata references and that are older
    /// than --orphan-older-than.
    #[arg(long)]
    pub remove_orphans: bool,

    /// Only this table (db.bid_requests or bid_requests); repeatable. Default: every table of
    /// the namespace.
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,

    /// Print what would change and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Size compaction aims for per data file (e.g. 128MiB, 64MB, 1000000).
    #[arg(long, env = "MAINTAIN_TARGET_FILE_SIZE", default_value = "128MiB", value_parser = parse_size)]
    pub target_file_size: u64,

    /// Data files below this size are rewritten. Default: 75% of --target-file-size.
    #[arg(long, env = "MAINTAIN_SMALL_FILE_SIZE", value_parser = parse_size)]
    pub small_file_size: Option<u64>,

    /// Sort the rows of each rewritten file by these columns (e.g. device_geo_country,site_domain).
    #[arg(long, env = "MAINTAIN_SORT_BY", value_delimiter = ',')]
    pub sort_by: Vec<String>,

    /// Groups of small files rewritten at once (each takes a core while it runs, and with
    /// --sort-by holds its rows in memory). Default: the number of cores.
    #[arg(long, env = "MAINTAIN_PARALLELISM")]
    pub parallelism: Option<usize>,

    /// zstd level of the rewritten Parquet files.
    #[arg(long, env = "PARQUET_ZSTD_LEVEL", default_value_t = 3)]
    pub zstd_level: i32,

    /// Snapshots older than this are expired (the current one and --retain-last are always kept).
    #[arg(
        long,
        env = "MAINTAIN_RETAIN_SNAPSHOTS_OLDER_THAN",
        default_value = "7d",
        value_parser = humantime::parse_duration,
        visible_alias = "expire-older-than"
    )]
    pub retain_snapshots_older_than: Duration,

    /// Always keep at least this many of the newest snapshots.
    #[arg(long, env = "MAINTAIN_RETAIN_LAST", default_value_t = 1)]
    pub retain_last: usize,

    /// Only files older than this (by last-modified time) count as orphans; at least 1h.
    #[arg(long, env = "MAINTAIN_ORPHAN_OLDER_THAN", default_value = "7d", value_parser = humantime::parse_duration)]
    pub orphan_older_than: Duration,

    /// Which partitions compaction rewrites: `maintain` takes every partition with two small
    /// files; maintenance beside ingest leaves the ones being written until they have more.
    #[arg(skip = Selection::ALL)]
    pub selection: Selection,
}

/// The partitions a compaction rewrites.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    /// A partition with this many small files is compacted.
    pub min_files: usize,
    /// A partition with two or more small files is compacted once nothing was added to it for
    /// this long (`None`: no partition counts as quiet).
    pub quiet_after: Option<Duration>,
}

impl Selection {
    /// Every partition with two or more small files.
    pub const ALL: Selection = Selection { min_files: 2, quiet_after: None };
}

/// Which actions a run takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actions {
    pub compact: bool,
    pub expire: bool,
    pub orphans: bool,
}

impl MaintainArgs {
    /// The defaults with no action flag (every action).
    pub fn all() -> Self {
        Self {
            compact: false,
            expire_snapshots: false,
            remove_orphans: false,
            tables: Vec::new(),
            dry_run: false,
            target_file_size: 128 << 20,
            small_file_size: None,
            sort_by: Vec::new(),
            parallelism: None,
            zstd_level: 3,
            retain_snapshots_older_than: Duration::from_secs(7 * 86_400),
            retain_last: 1,
            orphan_older_than: Duration::from_secs(7 * 86_400),
            selection: Selection::ALL,
        }
    }

    pub fn actions(&self) -> Actions {
        if !self.compact && !self.expire_snapshots && !self.remove_orphans {
            return Actions { compact: true, expire: true, orphans: true };
        }
        Actions {
            compact: self.compact,
            expire: self.expire_snapshots,
            orphans: self.remove_orphans,
        }
    }

    /// Files below this size are rewritten.
    pub fn small_file_threshold(&self) -> u64 {
        self.small_file_size.unwrap_or(self.target_file_size / 4 * 3)
    }

    /// How many groups are rewritten at once.
    pub fn rewrite_parallelism(&self) -> usize {
        self.parallelism
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }

    /// Rejects settings that cannot work or that would endanger data, naming the flag to fix.
    pub fn validate(&self) -> Result<()> {
        let actions = self.actions();
        if actions.orphans && self.orphan_older_than < MIN_ORPHAN_AGE {
            return Err(Error::Config(format!(
                "--orphan-older-than {} is too short: files younger than 1h may belong to a commit \
                 in flight (ingest, compaction); use 1h or more (default 7d)",
                humantime::format_duration(self.orphan_older_than)
            )));
        }
        if self.retain_last == 0 {
            return Err(Error::Config(
                "--retain-last must be at least 1 (the current snapshot is always kept)".into(),
            ));
        }
        if self.target_file_size < 1024 {
            return Err(Error::Config(format!(
                "--target-file-size {} is below 1 KiB; use e.g. 128MiB",
                self.target_file_size
            )));
        }
        if self.parallelism == Some(0) {
            return Err(Error::Config("--parallelism must be at least 1".into()));
        }
        if !(1..=22).contains(&self.zstd_level) {
            return Err(Error::Config("PARQUET_ZSTD_LEVEL must be between 1 and 22".into()));
        }
        if self.sort_by.iter().any(|c| c.trim().is_empty()) {
            return Err(Error::Config(
                "--sort-by names an empty column; use e.g. device_geo_country,site_domain".into(),
            ));
        }
        Ok(())
    }
}

/// A byte size: a number with an optional unit (B, KB, KiB, MB, MiB, GB, GiB; KB = 1000).
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '_').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.replace('_', "").parse().map_err(|_| {
        Error::Config(format!("{text:?} is not a size (e.g. 128MiB, 64MB or 1000000)"))
    })?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(Error::Config(format!(
                "unknown size unit {other:?} in {text:?} (use B, KB, KiB, MB, MiB, GB or GiB)"
            )));
        }
    };
    number.checked_mul(factor).ok_or_else(|| Error::Config(format!("{text:?} is too large")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_units() {
        assert_eq!(parse_size("128MiB").unwrap(), 128 << 20);
        assert_eq!(parse_size("64MB").unwrap(), 64_000_000);
        assert_eq!(parse_size("1_000").unwrap(), 1000);
        assert_eq!(parse_size("2 GiB").unwrap(), 2 << 30);
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("12 parsecs").unwrap_err().to_string().contains("unit"));
    }

    #[test]
    fn no_action_flag_means_every_action() {
        let mut args = MaintainArgs::all();
        assert_eq!(args.actions(), Actions { compact: true, expire: true, orphans: true });
        args.compact = true;
        assert_eq!(args.actions(), Actions { compact: true, expire: false, orphans: false });
        assert_eq!(args.small_file_threshold(), 96 << 20);
    }

    #[test]
    fn orphan_retention_under_an_hour_is_refused() {
        let mut args = MaintainArgs::all();
        args.orphan_older_than = Duration::from_secs(600);
        let err = args.validate().unwrap_err().to_string();
        assert!(err.contains("--orphan-older-than") && err.contains("1h"), "{err}");
        // Not checked when orphan removal does not run.
        args.compact = true;
        args.validate().unwrap();
    }
}
