use std::time::Duration;

use bidlake_kafka::TopicArgs;

/// Settings of `bidlake ingest`. Flags win over environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub settings: IngestSettings,

    /// Ingest only these tables (bid_requests, bid_responses, impressions, clicks); default all.
    #[arg(long = "table", value_delimiter = ',')]
    pub tables: Vec<String>,

    /// Stop after this long (for benchmarks and scripts); default: run until stopped.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Stop once every partition is caught up (no lag) and everything is committed.
    #[arg(long)]
    pub until_caught_up: bool,

    #[command(flatten)]
    pub topics: TopicArgs,
}

/// How ingest groups, commits and writes; shared by `bidlake ingest` and `bidlake up`.
#[derive(Debug, Clone, clap::Args)]
pub struct IngestSettings {
    /// Kafka consumer group; more processes in one group share the partitions.
    #[arg(long, env = "INGEST_GROUP_ID", default_value = "bidlake-ingest")]
    pub group_id: String,

    /// Commit at least this often (the original platform committed every 60 s).
    #[arg(long, env = "COMMIT_INTERVAL", default_value = "10s", value_parser = humantime::parse_duration)]
    pub commit_interval: Duration,

    /// Commit once a table has taken this many rows since its last commit.
    #[arg(long, env = "COMMIT_ROWS", default_value_t = 2_000_000)]
    pub commit_rows: usize,

    /// Commit once this many bytes of records were consumed since the last commit.
    #[arg(long, env = "COMMIT_BYTES", default_value_t = 1 << 30)]
    pub commit_bytes: u64,

    /// Rows a table partition collects before they are encoded into its Parquet file.
    #[arg(long, env = "INGEST_BATCH_ROWS", default_value_t = 8192)]
    pub batch_rows: usize,

    /// A data file rolls over to a new one beyond this many bytes.
    #[arg(long, env = "TARGET_FILE_SIZE", default_value_t = 256 << 20)]
    pub target_file_size: usize,

    /// Memory the open Parquet files of a table may take (estimated: 128 KiB per column of
    /// each open file, plus its unfinished row group). Beyond it the largest file is closed
    /// early and goes into the next commit: memory stays bounded at any rate and number of
    /// partitions, at the cost of more, smaller files. With 128 MiB, 1M bid requests per commit
    /// over 34 partitions (100,000/s, 10 s commits) gave no extra files and a 222 MiB peak RSS.
    #[arg(long, env = "INGEST_BUFFER_BYTES", default_value_t = 128 << 20)]
    pub buffer_bytes: usize,

    /// zstd level of the Parquet files. 1: fresh files are small and short-lived (compaction
    /// rewrites them, at its own default of 3); level 1 cost less CPU and memory than 3 and
    /// its files came out no larger.
    #[arg(long, env = "PARQUET_ZSTD_LEVEL", default_value_t = 1)]
    pub zstd_level: i32,

    /// A CSV file of `currency,usd_per_unit` lines to convert prices to USD with (the `*_usd`
    /// columns), replacing the built-in approximate rates; a currency it leaves out gets no USD
    /// price.
    #[arg(long, env = "EXCHANGE_RATES")]
    pub exchange_rates: Option<std::path::PathBuf>,

    /// Events before this time (RFC 3339) go to the dead-letter topic, not the table.
    #[arg(long, env = "EVENT_TIME_EARLIEST", default_value = "2000-01-01T00:00:00Z", value_parser = parse_time)]
    pub event_time_earliest: i64,

    /// Events more than this far ahead of the ingest's clock go to the dead-letter topic.
    #[arg(long, env = "EVENT_TIME_MAX_AHEAD", default_value = "1d", value_parser = humantime::parse_duration)]
    pub event_time_max_ahead: Duration,

    /// How partitions are shared out: `group` (a Kafka consumer group: more ingest processes
    /// in the group share the partitions) or `all` (this process reads every partition itself
    /// and joins no group; for a single ingest, as under `bidlake up`, so that a crashed run's
    /// group member can never hold partitions back). Default: `group`; `up` with its embedded
    /// broker: `all`.
    #[arg(long, env = "INGEST_ASSIGNMENT", value_enum)]
    pub assignment: Option<Assignment>,

    /// A batch whose files are older than this when it is due (the process was stopped or the
    /// machine suspended) is dropped and read again rather than committed: orphan removal may
    /// have deleted its files. At most 30m (half of maintain's shortest orphan age).
    #[arg(long, env = "INGEST_MAX_UNCOMMITTED_AGE", default_value = "30m", value_parser = humantime::parse_duration)]
    pub max_uncommitted_age: Duration,

    /// A table's batch with rows for this many table partitions (days and countries) is
    /// committed early: each holds builders and an open file, so this bounds the memory when
    /// event times scatter over many days.
    #[arg(long, env = "INGEST_MAX_PARTITIONS_PER_BATCH", default_value_t = 1_000)]
    pub max_partitions_per_batch: usize,
}

/// How an ingest process gets its partitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Assignment {
    /// Join the consumer group; the group shares the partitions out.
    #[default]
    Group,
    /// Read every partition of every topic, without joining a group.
    All,
}

fn parse_time(text: &str) -> Result<i64, String> {
    bidlake_tables::timestamp::parse_micros(text)
        .ok_or_else(|| format!("{text:?} is not an RFC 3339 time such as 2000-01-01T00:00:00Z"))
}

impl IngestArgs {
    /// Every table from `topics`, until stopped (what `bidlake up` runs).
    pub fn all_tables(settings: IngestSettings, topics: TopicArgs) -> Self {
        Self { settings, tables: Vec::new(), duration: None, until_caught_up: false, topics }
    }
}

impl IngestSettings {
    /// The rates prices are converted to USD at: the user's file, or the built-in ones.
    pub fn exchange_rates(&self) -> crate::Result<bidlake_tables::ExchangeRates> {
        let rates = match &self.exchange_rates {
            Some(path) => bidlake_tables::ExchangeRates::load(path)?,
            None => bidlake_tables::ExchangeRates::built_in(),
        };
        tracing::info!(source = %rates.source, currencies = rates.len(), "exchange rates to USD");
        Ok(rates)
    }

    /// The event times a table takes, as of `now`.
    pub fn event_time_window(&self, now: std::time::SystemTime) -> bidlake_tables::EventTimeWindow {
        let now = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
        let ahead = i64::try_from(self.event_time_max_ahead.as_micros()).unwrap_or(i64::MAX);
        bidlake_tables::EventTimeWindow {
            earliest: self.event_time_earliest,
            latest: now.saturating_add(ahead),
        }
    }

    pub fn validate(&self) -> crate::Result<()> {
        let bad = |what: &str| Err(crate::Error::Config(what.to_owned()));
        if self.commit_interval.is_zero() {
            return bad("COMMIT_INTERVAL (--commit-interval) must be more than 0");
        }
        if self.commit_rows == 0 || self.batch_rows == 0 || self.max_partitions_per_batch == 0 {
            return bad(
                "COMMIT_ROWS, INGEST_BATCH_ROWS and INGEST_MAX_PARTITIONS_PER_BATCH must be at least 1",
            );
        }
        if !(1..=22).contains(&self.zstd_level) {
            return bad("PARQUET_ZSTD_LEVEL must be between 1 and 22");
        }
        if self.max_uncommitted_age > bidlake_lake::MAX_UNCOMMITTED_AGE {
            return bad(
                "INGEST_MAX_UNCOMMITTED_AGE (--max-uncommitted-age) must be at most 30m: older \
                 files may already be deleted as orphans by maintain",
            );
        }
        if self.max_uncommitted_age < self.commit_interval * 2 {
            return bad(
                "INGEST_MAX_UNCOMMITTED_AGE (--max-uncommitted-age) must be at least twice \
                 COMMIT_INTERVAL (--commit-interval), or every batch would be too old to commit",
            );
        }
        if self.group_id.trim().is_empty() {
            return bad("INGEST_GROUP_ID must not be empty");
        }
        Ok(())
    }
}
