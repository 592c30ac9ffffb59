//! `bidlake up`: the platform on one machine with embedded defaults.
//!
//! It runs the Kafka-protocol broker (tansu, supervised; or an external cluster), `setup`, the
//! generator, the ingest job, the Iceberg REST catalog (8181) and the dashboard (8081).
//! Stopping (Ctrl-C) stops the generator, then ingest commits what it holds, then the servers
//! and the broker.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bidlake_catalog::CatalogService;
use bidlake_dashboard::{Dashboard, QueryLimits, Service, Sources};
use bidlake_gen::{GenArgs, GenMetrics};
use bidlake_ingest::metrics::IngestMetrics;
use bidlake_ingest::{Assignment, IngestArgs, IngestSettings, Job};
use bidlake_kafka::KafkaArgs;
use bidlake_kafka::embedded::EmbeddedBroker;
use bidlake_lake::{LakeArgs, LakeConfig, open_lake};
use bidlake_maintain::AutoMaintainArgs;

use crate::Error;
use crate::catalog::until;
use crate::maintain::Background;
use crate::setup::{SetupArgs, setup};

#[derive(Debug, Clone, clap::Args)]
pub struct UpArgs {
    /// Port of the embedded Kafka broker on 127.0.0.1.
    #[arg(long, env = "BIDLAKE_KAFKA_PORT", default_value_t = 9092)]
    pub kafka_port: u16,

    /// Port of the Iceberg REST catalog on 127.0.0.1.
    #[arg(long, env = "CATALOG_PORT", default_value_t = 8181)]
    pub catalog_port: u16,

    /// Port of the dashboard (/, /api/status, /metrics) on 127.0.0.1.
    #[arg(long, env = "BIDLAKE_DASHBOARD_PORT", default_value_t = 8081)]
    pub dashboard_port: u16,

    /// Use this Kafka cluster instead of starting the embedded broker.
    #[arg(long = "bootstrap-servers", env = "KAFKA_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,

    #[command(flatten)]
    pub gen_args: GenArgs,

    #[command(flatten)]
    pub ingest: IngestSettings,

    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub maintain: AutoMaintainArgs,

    #[command(flatten)]
    pub aggregate: bidlake_aggregate::AggregateArgs,

    /// Rows a query of the SQL console or `/api/query` returns at most.
    #[arg(long, env = "QUERY_MAX_ROWS", default_value_t = 10_000)]
    pub query_max_rows: usize,

    /// A query of the SQL console or `/api/query` still running after this is cancelled.
    #[arg(long, env = "QUERY_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub query_timeout: Duration,
}

/// How long the embedded broker keeps records (of the topics `up` creates): a day of lag is
/// plenty to catch up from, and a laptop running `up` for weeks keeps a day of events on disk.
const EMBEDDED_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Restarts of the embedded broker tolerated within a minute before `up` gives up.
const MAX_RESTARTS_PER_MINUTE: usize = 3;

pub async fn up(data_dir: &Path, mut args: UpArgs, stop: Arc<AtomicBool>) -> Result<(), Error> {
    if args.maintain.enabled_or(true) {
        args.maintain.validate()?;
    }
    if args.bootstrap_servers.is_none() {
        args.gen_args.topics.topic_retention.get_or_insert(EMBEDDED_RETENTION);
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|err| Error::DataDir { path: data_dir.to_owned(), source: err })?;
    let data_dir = data_dir.canonicalize().unwrap_or_else(|_| data_dir.to_owned());
    // Ports first: a port in use stops `up` before anything starts.
    let listeners = Listeners {
        catalog: bidlake_catalog::bind(
            SocketAddr::from((Ipv4Addr::LOCALHOST, args.catalog_port)),
            "choose another with --catalog-port or CATALOG_PORT",
        )
        .await?,
        dashboard: bidlake_dashboard::bind(
            SocketAddr::from((Ipv4Addr::LOCALHOST, args.dashboard_port)),
            "choose another with --dashboard-port or BIDLAKE_DASHBOARD_PORT",
        )
        .await?,
    };

    let broker = match &args.bootstrap_servers {
        Some(_) => None,
        None => {
            let dir = data_dir.join("kafka");
            let port = args.kafka_port;
            let broker = tokio::task::spawn_blocking(move || EmbeddedBroker::start(&dir, port))
                .await
                .map_err(|err| Error::Task(err.to_string()))??;
            Some(Arc::new(Mutex::new(broker)))
        }
    };
    let bootstrap = match (&args.bootstrap_servers, &broker) {
        (Some(servers), _) => servers.clone(),
        (None, Some(broker)) => broker.lock().map(|b| b.bootstrap()).unwrap_or_default(),
        (None, None) => unreachable!("either an external or an embedded broker"),
    };
    let kafka = KafkaArgs::for_bootstrap(bootstrap);
    let broker_failure = Arc::new(Mutex::new(None::<String>));
    // The broker is supervised until the platform is down: ingest still commits and leaves
    // after `stop` is raised, and needs the broker for that.
    let platform_done = Arc::new(AtomicBool::new(false));
    let supervisor = broker.clone().map(|broker| {
        tokio::spawn(supervise(
            broker,
            kafka.clone(),
            platform_done.clone(),
            stop.clone(),
            broker_failure.clone(),
        ))
    });

    let result =
        run_platform(&data_dir, &args, &kafka, broker.is_some(), listeners, stop.clone()).await;

    stop.store(true, Ordering::SeqCst);
    platform_done.store(true, Ordering::SeqCst);
    if let Some(supervisor) = supervisor {
        let _ = supervisor.await;
    }
    if let Some(broker) = broker {
        tokio::task::spawn_blocking(move || {
            if let Ok(mut broker) = broker.lock() {
                broker.stop(Duration::from_secs(10));
            }
        })
        .await
        .map_err(|err| Error::Task(err.to_string()))?;
    }
    if let Some(failure) = broker_failure.lock().ok().and_then(|f| f.clone()) {
        return Err(Error::Up(failure));
    }
    result?;
    eprintln!("bidlake stopped; data kept in {}", data_dir.display());
    Ok(())
}

#[derive(Debug)]
struct Listeners {
    catalog: tokio::net::TcpListener,
    dashboard: tokio::net::TcpListener,
}

/// Setup, then the REST catalog and the dashboard, and the generator and the ingest job side by
/// side until `stop` (or until the generator's --count/--duration is reached and ingest has
/// taken everything).
async fn run_platform(
    data_dir: &Path,
    args: &UpArgs,
    kafka: &KafkaArgs,
    embedded: bool,
    listeners: Listeners,
    stop: Arc<AtomicBool>,
) -> Result<(), Error> {
    setup(
        data_dir,
        SetupArgs {
            check: false,
            skip_topics: false,
            topics: args.gen_args.topics.clone(),
            kafka: kafka.clone(),
            lake: args.lake.clone(),
        },
    )
    .await?;
    let config = args.lake.resolve(data_dir)?;
    let lake = open_lake(config.clone()).await?;
    let metrics = Arc::new(IngestMetrics::default());
    let gen_metrics = Arc::new(GenMetrics::default());
    let mut settings = args.ingest.clone();
    if embedded {
        // Ours is the only ingest on the embedded broker: reading every partition itself, it
        // never waits on a group member that a crashed run left behind (tansu 0.6 keeps such a
        // member, with its partitions, forever).
        settings.assignment.get_or_insert(Assignment::All);
    }
    let ingest_args = IngestArgs::all_tables(settings, args.gen_args.topics.clone());
    let mut job = Job::start(ingest_args, kafka.clone(), lake.clone(), metrics.clone()).await?;
    // The aggregator below takes the rows and tables ingest commits instead of reading them back.
    let handoff = crate::hand_off_to_aggregator(&mut job);
    let maintenance =
        args.maintain.enabled_or(true).then(|| Background::start(&lake, args.maintain.clone()));

    let addresses = Addresses {
        kafka: kafka.bootstrap_servers.clone(),
        catalog: format!("http://{}", local_addr(&listeners.catalog)),
        dashboard: format!("http://{}", local_addr(&listeners.dashboard)),
    };
    let servers_stop = Arc::new(AtomicBool::new(false));
    let servers_stop_for_sampler = servers_stop.clone();
    let catalog = CatalogService::open(
        &lake,
        args.lake.catalog_token.clone(),
        args.lake.catalog_credential.clone(),
    )
    .await?;
    let aggregate_lake = lake.clone();
    let dashboard = Dashboard::new(Sources {
        generator: Some((gen_metrics.clone(), args.gen_args.rate)),
        ingest: Some(metrics),
        lake,
        streams: args
            .gen_args
            .topics
            .event_topics()
            .iter()
            .zip(bidlake_tables::EventTable::ALL)
            .map(|(topic, table)| {
                ((*topic).to_owned(), format!("{}.{}", config.namespace, table.name()))
            })
            .collect(),
        services: vec![
            service("kafka", &addresses.kafka),
            service("catalog", &addresses.catalog),
            service("dashboard", &addresses.dashboard),
        ],
        maintenance: maintenance.as_ref().map(|m| m.metrics.clone()),
        broker: embedded.then(|| (data_dir.join("kafka"), args.gen_args.topics.topic_retention)),
        query: QueryLimits {
            max_rows: args.query_max_rows.max(1),
            timeout: args.query_timeout,
            token: args.lake.catalog_token.clone(),
            ..QueryLimits::default()
        },
    });
    let servers = [
        tokio::spawn(report_failure(
            "the REST catalog",
            bidlake_catalog::serve_on(catalog, listeners.catalog, until(servers_stop.clone())),
            stop.clone(),
        )),
        tokio::spawn(report_failure(
            "the dashboard",
            bidlake_dashboard::serve(
                dashboard.clone(),
                listeners.dashboard,
                until(servers_stop.clone()),
            ),
            stop.clone(),
        )),
        tokio::spawn(async move {
            dashboard.run_sampler(servers_stop_for_sampler).await;
            Ok(())
        }),
    ];
    // The aggregate tables follow the event tables' commits; a failed round is retried by the
    // next, so it never stops the platform.
    let aggregator = {
        let (lake, args, stop) = (aggregate_lake, args.aggregate.clone(), servers_stop.clone());
        tokio::spawn(async move {
            bidlake_aggregate::run(&lake, &args, false, Some(handoff), stop).await
        })
    };
    print_banner(data_dir, &addresses, embedded, &args.gen_args, &config);

    // Ingest drains on its own flag, raised only after the generator has stopped: it goes on
    // until every partition is in its table (for at most a few seconds), so that a clean stop
    // leaves no lag. Both run in this task: the job holds borrowed Kafka records across
    // awaits, so it is not a `Send` future to spawn.
    let ingest_drain = Arc::new(AtomicBool::new(false));
    let ingest_done = AtomicBool::new(false);
    let ingest = async {
        let result = job.run_draining(Arc::default(), ingest_drain.clone()).await;
        if result.is_err() {
            stop.store(true, Ordering::SeqCst); // the generator too
        }
        ingest_done.store(true, Ordering::SeqCst);
        result
    };
    let generate = async {
        let generated =
            bidlake_gen::produce_with_metrics(&args.gen_args, kafka, stop.clone(), gen_metrics)
                .await;
        // The generator may end by itself (--count, --duration): keep ingesting until stopped.
        while generated.is_ok()
            && !stop.load(Ordering::SeqCst)
            && !ingest_done.load(Ordering::SeqCst)
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        ingest_drain.store(true, Ordering::SeqCst);
        generated
    };
    let (generated, ingested) = tokio::join!(generate, ingest);
    if let Some(maintenance) = maintenance {
        maintenance.stop().await;
    }
    servers_stop.store(true, Ordering::SeqCst);
    let mut server_failure = None;
    match aggregator.await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => server_failure = Some(bidlake_lake::error_chain(&err)),
        Err(err) => server_failure = Some(format!("the aggregator failed: {err}")),
    }
    for server in servers {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(message)) => server_failure = Some(message),
            Err(err) => server_failure = Some(format!("a server task failed: {err}")),
        }
    }
    generated?;
    ingested?;
    match server_failure {
        Some(message) => Err(Error::Up(message)),
        None => Ok(()),
    }
}

/// Runs a server to its end; if it fails, says which one and stops the platform.
async fn report_failure<E: std::fmt::Display>(
    name: &'static str,
    server: impl std::future::Future<Output = Result<(), E>>,
    stop: Arc<AtomicBool>,
) -> Result<(), String> {
    server.await.map_err(|err| {
        let message = format!("{name} stopped: {err}");
        tracing::error!("{message}; stopping");
        stop.store(true, Ordering::SeqCst);
        message
    })
}

#[derive(Debug)]
struct Addresses {
    kafka: String,
    catalog: String,
    dashboard: String,
}

fn local_addr(listener: &tokio::net::TcpListener) -> String {
    listener.local_addr().map(|addr| addr.to_string()).unwrap_or_else(|_| "?".to_owned())
}

fn service(name: &str, address: &str) -> Service {
    Service { name: name.to_owned(), address: address.to_owned(), state: "running".to_owned() }
}

/// How often `up` asks the embedded broker for its metadata, and how many unanswered asks in
/// a row make it restart the broker: tansu 0.6 can keep running, and listening, after its
/// storage failed, answering no request at all.
const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
const UNANSWERED_BEFORE_RESTART: u32 = 4;

/// Watches the embedded broker until `done`; restarts it when it dies or stops answering, and
/// stops everything (`stop`) with the broker's last words when it keeps failing.
async fn supervise(
    broker: Arc<Mutex<EmbeddedBroker>>,
    kafka: KafkaArgs,
    done: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<String>>>,
) {
    let probe = match bidlake_kafka::BrokerProbe::new(&kafka) {
        Ok(probe) => Some(probe),
        Err(err) => {
            tracing::warn!(error = %err, "cannot health-check the embedded broker");
            None
        }
    };
    let mut restarts: Vec<Instant> = Vec::new();
    let mut last_probe = Instant::now();
    let mut unanswered = 0;
    while !done.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let exited =
            broker.lock().ok().and_then(|mut b| b.exited().map(|status| (status, b.log_tail(10))));
        let (what, log) = match exited {
            Some((status, log)) => (format!("exited ({status})"), log),
            None => {
                let Some(probe) =
                    probe.as_ref().filter(|_| last_probe.elapsed() >= HEALTH_INTERVAL)
                else {
                    continue;
                };
                last_probe = Instant::now();
                if probe.answers(HEALTH_INTERVAL).await {
                    unanswered = 0;
                    continue;
                }
                unanswered += 1;
                tracing::warn!(
                    unanswered,
                    "the embedded Kafka broker did not answer a metadata request"
                );
                if unanswered < UNANSWERED_BEFORE_RESTART || done.load(Ordering::Relaxed) {
                    continue;
                }
                let log = broker.lock().map(|b| b.log_tail(10)).unwrap_or_default();
                (format!("runs but answered no request for {unanswered} checks in a row"), log)
            }
        };
        unanswered = 0;
        tracing::error!("the embedded Kafka broker {what}; its last log lines:\n{log}");
        restarts.retain(|at| at.elapsed() < Duration::from_secs(60));
        let restarted = if restarts.len() < MAX_RESTARTS_PER_MINUTE {
            restarts.push(Instant::now());
            let broker = broker.clone();
            tokio::task::spawn_blocking(move || {
                let mut broker = broker.lock().map_err(|_| "broker state poisoned".to_owned())?;
                broker.kill();
                let (dir, port) = (broker.dir().to_owned(), broker.port());
                *broker = EmbeddedBroker::start(&dir, port).map_err(|err| err.to_string())?;
                Ok::<_, String>(())
            })
            .await
            .unwrap_or_else(|err| Err(err.to_string()))
        } else {
            Err(format!("it failed {MAX_RESTARTS_PER_MINUTE} times within a minute"))
        };
        match restarted {
            Ok(()) => tracing::warn!("restarted the embedded Kafka broker"),
            Err(reason) => {
                if let Ok(mut failure) = failure.lock() {
                    *failure = Some(format!(
                        "the embedded Kafka broker {what} and could not be restarted: {reason}; last log lines:\n{log}"
                    ));
                }
                stop.store(true, Ordering::SeqCst);
                return;
            }
        }
    }
}

fn print_banner(
    data_dir: &Path,
    addresses: &Addresses,
    embedded: bool,
    gen_args: &GenArgs,
    lake: &LakeConfig,
) {
    let bootstrap = &addresses.kafka;
    let exe: PathBuf = std::env::current_exe().unwrap_or_else(|_| "bidlake".into());
    let exe = exe.display();
    let broker = if embedded {
        format!("{bootstrap}  (embedded tansu, storage {}/kafka)", data_dir.display())
    } else {
        format!("{bootstrap}  (external)")
    };
    let rate = match gen_args.rate {
        0 => "as fast as possible".to_owned(),
        rate => format!("{rate} bid requests/s"),
    };
    println!(
        "\nbidlake is up (data in {data})\n\
         \n  Kafka broker   {broker}\
         \n  generator      {rate}, plus responses, impressions and clicks\
         \n  topics         {topics}\
         \n  ingest         into {namespace}.bid_requests, bid_responses, impressions, clicks\
         \n  aggregates     {namespace}.hourly_impressions_by_geo, rolling_metrics_by_bidder, hourly_funnel_by_publisher\
         \n  catalog        {catalog} (Iceberg SQL catalog \"{catalog_name}\"; PyIceberg and DuckDB read it)\
         \n  REST catalog   {rest}  (Iceberg REST: Spark, Trino, PyIceberg RestCatalog)\
         \n  warehouse      {warehouse}\
         \n  dashboard      {dashboard}  (JSON at /api/status, Prometheus at /metrics)\
         \n\nTry, in another shell:\
         \n  {exe} query --data-dir {data} \"SELECT COUNT(*) FROM {namespace}.bid_requests\"\
         \n  {exe} consume bid-requests --count 3 --bootstrap-servers {bootstrap}\
         \n  find {data}/warehouse -name '*.parquet' | head\
         \n\nCtrl-C stops everything cleanly (ingest commits what it holds first).\n",
        data = data_dir.display(),
        topics = gen_args.topics.event_topics().join(", "),
        namespace = lake.namespace,
        catalog = lake.catalog_display(),
        catalog_name = lake.catalog_name,
        warehouse = lake.warehouse,
        rest = addresses.catalog,
        dashboard = addresses.dashboard,
    );
}
