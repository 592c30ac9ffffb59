//! `bidlake`: the command line of the platform.

mod allocator;
mod catalog;
mod consume;
mod maintain;
mod query;
mod setup;
mod status;
mod up;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bidlake_gen::GenArgs;
use bidlake_kafka::KafkaArgs;
use clap::{Parser, Subcommand};

/// Streaming data lake for adtech: OpenRTB 2.6 events from Kafka into Apache Iceberg tables.
#[derive(Debug, Parser)]
#[command(name = "bidlake", version, about, propagate_version = true)]
struct Cli {
    /// Data directory of the embedded defaults (catalog, warehouse, broker storage).
    #[arg(long, env = "BIDLAKE_DATA_DIR", default_value = "./bidlake-data", global = true)]
    data_dir: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate OpenRTB 2.6 bid requests and their funnel (responses, impressions, clicks) to Kafka,
    /// or bid requests as NDJSON to standard output (--stdout).
    Gen {
        #[command(flatten)]
        gen_args: GenArgs,
        #[command(flatten)]
        kafka: KafkaArgs,
    },
    /// Run the platform on one machine with embedded defaults: a Kafka-protocol broker on
    /// 127.0.0.1, setup, the generator, ingest, the aggregate tables, the REST catalog (8181) and
    /// the dashboard (8081).
    Up(up::UpArgs),
    /// Create the topics, their dead-letter topics, the namespace and the tables (idempotent);
    /// --check reports what exists.
    Setup(setup::SetupArgs),
    /// Stream the topics into the Iceberg tables, exactly once, with a dead-letter path.
    Ingest {
        #[command(flatten)]
        ingest: bidlake_ingest::IngestArgs,
        #[command(flatten)]
        kafka: KafkaArgs,
        #[command(flatten)]
        lake: bidlake_lake::LakeArgs,
        #[command(flatten)]
        maintain: bidlake_maintain::AutoMaintainArgs,
        /// Keep the aggregate tables up to date in this process too, as `bidlake up` does: from
        /// the rows ingest commits, without reading back the files it wrote. Off by default
        /// (`bidlake aggregate` is the same as a process of its own).
        #[arg(
            long = "aggregate",
            env = "BIDLAKE_AGGREGATE",
            num_args = 0..=1,
            default_missing_value = "true",
            value_name = "BOOL"
        )]
        aggregate: Option<bool>,
        #[command(flatten)]
        aggregate_args: bidlake_aggregate::AggregateArgs,
    },
    /// Run SQL over the tables (DataFusion), e.g. `bidlake query "SELECT COUNT(*) FROM
    /// db.bid_requests"`; without SQL, read statements from standard input.
    Query(query::QueryArgs),
    /// The Iceberg REST catalog server: `bidlake catalog serve --port 8181`.
    Catalog {
        #[command(subcommand)]
        command: catalog::CatalogCommand,
    },
    /// What runs, lag, last commits and table sizes: from a running `bidlake up`'s dashboard, or
    /// from the catalog when none answers.
    Status(status::StatusArgs),
    /// Print a topic's records from the beginning, one per line (like kcat -C).
    Consume(consume::ConsumeArgs),
    /// Keep the aggregate tables (hourly impressions by country, rolling bidder metrics, hourly
    /// funnel by publisher) up to date with the event tables, exactly once; `bidlake up` runs it.
    Aggregate {
        #[command(flatten)]
        aggregate: bidlake_aggregate::AggregateArgs,
        /// Catch up once with the event tables as they are now, and exit.
        #[arg(long)]
        once: bool,
        #[command(flatten)]
        lake: bidlake_lake::LakeArgs,
    },
    /// Compact small data files, expire old snapshots and remove orphan files (all three unless
    /// --compact, --expire-snapshots or --remove-orphans picks some); safe while ingest runs.
    Maintain(maintain::MaintainCmd),
}

#[derive(Debug, thiserror::Error)]
enum Error {
    #[error(transparent)]
    Gen(#[from] bidlake_gen::Error),
    #[error(transparent)]
    Kafka(#[from] bidlake_kafka::Error),
    #[error(transparent)]
    Lake(#[from] bidlake_lake::Error),
    #[error(transparent)]
    Ingest(#[from] bidlake_ingest::Error),
    #[error(transparent)]
    Query(#[from] bidlake_query::Error),
    #[error(transparent)]
    Maintain(#[from] bidlake_maintain::Error),
    #[error(transparent)]
    Aggregate(#[from] bidlake_aggregate::Error),
    #[error(transparent)]
    Catalog(#[from] bidlake_catalog::Error),
    #[error(transparent)]
    Dashboard(#[from] bidlake_dashboard::Error),
    #[error("reading standard input: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("{0}")]
    Setup(String),
    #[error("starting the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("creating the data directory {path} (set BIDLAKE_DATA_DIR or --data-dir): {source}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing to standard output: {0}")]
    Stdout(#[source] std::io::Error),
    #[error("a background task failed: {0}")]
    Task(String),
    #[error("{0}")]
    Up(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{}", bidlake_lake::error_chain(&err));
            eprintln!("error: {}", bidlake_lake::error_chain(&err));
            ExitCode::FAILURE
        }
    }
}

/// Threads for blocking work at most: file I/O on a laptop's disk gains nothing from more, and
/// the few long blocking tasks (the generator's loop, the broker's supervision) leave plenty.
const BLOCKING_THREADS: usize = 32;

/// How long an idle blocking thread waits for work before it ends (tokio's default is 10 s).
const BLOCKING_THREADS_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(600);

fn run(cli: Cli) -> Result<(), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // Local file I/O (opendal's file system service, through tokio::fs) runs on the
        // blocking pool, an operation a task. Bursts of it (a commit's files, maintenance's reads
        // and deletes) kept a hundred threads in ingest, each with allocator pages of its own,
        // and a thread idle for tokio's 10 s ends, to be made again by the next burst.
        .max_blocking_threads(BLOCKING_THREADS)
        .thread_keep_alive(BLOCKING_THREADS_KEPT_FOR)
        .build()
        .map_err(Error::Runtime)?;
    runtime.block_on(async move {
        match cli.command {
            Command::Gen { gen_args, kafka } => {
                let stop = stop_on_signal();
                if gen_args.stdout {
                    let stdout = std::io::stdout();
                    bidlake_gen::write_ndjson(&gen_args, &stop, stdout.lock())?;
                } else {
                    bidlake_gen::produce(&gen_args, &kafka, stop).await?;
                }
                Ok(())
            }
            Command::Up(args) => {
                allocator::hand_back_freed_memory_at_once();
                up::up(&cli.data_dir, args, stop_on_signal()).await
            }
            Command::Setup(args) => setup::setup(&cli.data_dir, args).await,
            Command::Ingest { ingest, kafka, lake, maintain, aggregate, aggregate_args } => {
                allocator::hand_back_freed_memory_at_once();
                let stop = stop_on_signal();
                let maintained = maintain.enabled_or(false);
                if maintained {
                    maintain.validate()?;
                }
                let lake = bidlake_lake::open_lake(lake.resolve(&cli.data_dir)?).await?;
                let metrics =
                    std::sync::Arc::new(bidlake_ingest::metrics::IngestMetrics::default());
                let mut job =
                    bidlake_ingest::Job::start(ingest, kafka, lake.clone(), metrics).await?;
                let background = maintained.then(|| maintain::Background::start(&lake, maintain));
                let aggregator = aggregate.unwrap_or(false).then(|| {
                    let handoff = hand_off_to_aggregator(&mut job);
                    let (lake, stop) = (lake.clone(), stop.clone());
                    tokio::spawn(async move {
                        let aggregated = bidlake_aggregate::run(
                            &lake,
                            &aggregate_args,
                            false,
                            Some(handoff),
                            stop,
                        )
                        .await;
                        // Ingest goes on: the aggregate tables catch up once this is fixed.
                        if let Err(err) = aggregated {
                            tracing::error!(
                                "the aggregate tables are not kept any more: {}",
                                bidlake_lake::error_chain(&err)
                            );
                        }
                    })
                });
                let result = job.run(stop.clone()).await;
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                if let Some(background) = background {
                    background.stop().await;
                }
                if let Some(aggregator) = aggregator
                    && let Err(err) = aggregator.await
                {
                    tracing::error!("the aggregator stopped abnormally: {err}");
                }
                Ok(result?)
            }
            Command::Query(args) => query::query(&cli.data_dir, args).await,
            Command::Catalog { command } => {
                allocator::hand_back_freed_memory_at_once();
                catalog::catalog(&cli.data_dir, command, stop_on_signal()).await
            }
            Command::Status(args) => status::status(&cli.data_dir, args).await,
            Command::Consume(args) => consume::consume(args, stop_on_signal()).await.map(|_| ()),
            Command::Maintain(args) => maintain::maintain(&cli.data_dir, args).await,
            Command::Aggregate { aggregate, once, lake } => {
                if !once {
                    allocator::hand_back_freed_memory_at_once();
                }
                let lake = bidlake_lake::open_lake(lake.resolve(&cli.data_dir)?).await?;
                let stop = stop_on_signal();
                bidlake_aggregate::run(&lake, &aggregate, once, None, stop)
                    .await
                    .map_err(Error::from)
            }
        }
    })
}

/// What an aggregator in ingest's process takes from `job` (`up`, `ingest --aggregate`): the
/// rows and tables of its commits, and a wake-up after each.
fn hand_off_to_aggregator(job: &mut bidlake_ingest::Job) -> bidlake_aggregate::Handoff {
    let handoff = bidlake_aggregate::Handoff {
        rows: bidlake_aggregate::CommittedRows::default(),
        tables: job.kept_tables(),
        commits: Default::default(),
        commit_interval: job.commit_interval(),
    };
    job.hand_committed_rows_to(handoff.rows.clone(), handoff.commits.clone());
    handoff
}

/// A flag raised by the first SIGINT or SIGTERM, so the running command can finish cleanly
/// (flush, commit); a second signal exits at once.
fn stop_on_signal() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    tokio::spawn(async move {
        for _ in 0..2 {
            if shutdown_signal().await.is_err() {
                return;
            }
            if flag.swap(true, Ordering::SeqCst) {
                eprintln!("second signal: exiting without waiting");
                // The embedded broker has a process group of its own: take it down too.
                bidlake_kafka::embedded::kill_running();
                std::process::exit(130);
            }
            tracing::info!(
                "stopping: finishing what is in flight (press Ctrl-C again to exit at once)"
            );
        }
    });
    stop
}

async fn shutdown_signal() -> std::io::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result,
        _ = terminate.recv() => Ok(()),
    }
}

fn init_logging() {
    // Logs go to standard error: standard output carries data (`gen --stdout`, `query`).
    let filter = tracing_subscriber::EnvFilter::try_from_env("BIDLAKE_LOG")
        .or_else(|_| tracing_subscriber::EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,rdkafka=warn,librdkafka=warn")
        });
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for people: log files and pipes get plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
