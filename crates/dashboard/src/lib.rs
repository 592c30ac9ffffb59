//! The dashboard of `bidlake up` (on 8081 like the original platform's Flink UI): a live page,
//! `/api/status` (JSON) and Prometheus `/metrics`, all rendered from one [`Status`] that a
//! sampler refreshes every second from the generator's and ingest's counters and the tables'
//! snapshot summaries. `bidlake status` reads the same JSON.

mod prometheus;
mod query_api;
pub mod status;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use bidlake_gen::{GenMetrics, Topic};
use bidlake_ingest::metrics::IngestMetrics;
use bidlake_lake::Lake;

pub use query_api::QueryLimits;
use status::{
    BrokerStatus, Commit, DeadLetter, Failure, GeneratorStatus, IngestStatus, Sample, TableStatus,
    TopicStatus, millis,
};
pub use status::{Service, Status, table_stats};

/// Why the dashboard could not serve.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("listening on {addr} for the dashboard ({hint}): {source}")]
    Bind {
        addr: SocketAddr,
        hint: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("serving the dashboard: {0}")]
    Serve(#[source] std::io::Error),
}

/// Samples kept for the throughput chart: ten minutes at one a second.
const HISTORY: usize = 600;
const TABLES_EVERY: Duration = Duration::from_secs(3);

/// Where the numbers come from.
#[derive(Debug)]
pub struct Sources {
    pub generator: Option<(Arc<GenMetrics>, u64)>,
    pub ingest: Option<Arc<IngestMetrics>>,
    pub lake: Lake,
    /// (topic, table) of each event stream, in `Topic::ALL` order.
    pub streams: Vec<(String, String)>,
    pub services: Vec<Service>,
    pub maintenance: Option<Arc<bidlake_maintain::MaintenanceMetrics>>,
    /// The embedded broker's data directory and the retention of its topics, if it runs here.
    pub broker: Option<(std::path::PathBuf, Option<Duration>)>,
    /// Limits of `/api/query` (the SQL console and the analytics page).
    pub query: QueryLimits,
}

#[derive(Debug)]
pub struct Dashboard {
    sources: Sources,
    query: query_api::QueryService,
    started: Instant,
    state: Mutex<Sampled>,
}

/// What the sampler computed last.
#[derive(Debug, Default)]
struct Sampled {
    history: VecDeque<Sample>,
    /// Per stream: (produced, ingested rows) at the last sample, and the rates since.
    last: Vec<(u64, u64)>,
    rates: Vec<(f64, f64)>,
    last_at: Option<Instant>,
    tables: Vec<TableStatus>,
    tables_at: Option<Instant>,
    broker_disk: u64,
}

impl Dashboard {
    pub fn new(sources: Sources) -> Arc<Self> {
        let query = query_api::QueryService::new(sources.query.clone());
        Arc::new(Self { sources, query, started: Instant::now(), state: Mutex::default() })
    }

    fn sampled(&self) -> std::sync::MutexGuard<'_, Sampled> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn counters(&self) -> Vec<(u64, u64)> {
        self.sources
            .streams
            .iter()
            .zip(Topic::ALL)
            .map(|((topic, _), kind)| {
                let produced = self
                    .sources
                    .generator
                    .as_ref()
                    .map_or(0, |(generator, _)| generator.produced(kind));
                let ingested = self
                    .sources
                    .ingest
                    .as_ref()
                    .map_or(0, |ingest| ingest.topic(topic).rows.load(Ordering::Relaxed));
                (produced, ingested)
            })
            .collect()
    }

    /// Takes one sample: rates since the last one, and table sizes every few seconds.
    pub async fn sample(&self) {
        let counters = self.counters();
        {
            let mut state = self.sampled();
            let now = Instant::now();
            if let Some(last_at) = state.last_at {
                let secs = now.duration_since(last_at).as_secs_f64().max(1e-3);
                let rates: Vec<(f64, f64)> = counters
                    .iter()
                    .zip(&state.last)
                    .map(|(now, before)| {
                        (
                            now.0.saturating_sub(before.0) as f64 / secs,
                            now.1.saturating_sub(before.1) as f64 / secs,
                        )
                    })
                    .collect();
                let sample = Sample {
                    at_ms: millis(SystemTime::now()),
                    produced_per_sec: rates.iter().map(|r| r.0).sum(),
                    ingested_per_sec: rates.iter().map(|r| r.1).sum(),
                };
                if state.history.len() >= HISTORY {
                    state.history.pop_front();
                }
                state.history.push_back(sample);
                state.rates = rates;
            }
            state.last = counters;
            state.last_at = Some(now);
        }
        let due = self.sampled().tables_at.is_none_or(|at| at.elapsed() >= TABLES_EVERY);
        if due {
            match table_stats(&self.sources.lake).await {
                Ok(tables) => {
                    let mut state = self.sampled();
                    state.tables = tables;
                    state.tables_at = Some(Instant::now());
                }
                Err(err) => tracing::warn!("dashboard: reading table sizes: {err}"),
            }
            if let Some((dir, _)) = &self.sources.broker {
                let dir = dir.clone();
                let used = tokio::task::spawn_blocking(move || status::disk_use(&dir)).await;
                self.sampled().broker_disk = used.unwrap_or_default();
            }
        }
    }

    /// Samples every second until `stop` is raised.
    pub async fn run_sampler(self: Arc<Self>, stop: Arc<std::sync::atomic::AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            self.sample().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    pub fn status(&self) -> Status {
        let state = self.sampled();
        let counters = self.counters();
        let ingest = self.sources.ingest.as_deref();
        let lag = ingest
            .map(|i| i.lag.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default();
        let assigned = ingest
            .map(|i| i.assigned.lock().unwrap_or_else(|e| e.into_inner()).clone())
            .unwrap_or_default();
        let topics = self
            .sources
            .streams
            .iter()
            .enumerate()
            .map(|(i, (topic, table))| {
                let metrics = ingest.map(|ingest| ingest.topic(topic));
                let load = |f: fn(&bidlake_ingest::metrics::TopicMetrics) -> u64| {
                    metrics.as_deref().map_or(0, f)
                };
                let (produced_per_sec, ingested_per_sec) =
                    state.rates.get(i).copied().unwrap_or_default();
                TopicStatus {
                    topic: topic.clone(),
                    table: table.clone(),
                    produced: counters[i].0,
                    produced_per_sec,
                    consumed: load(|m| m.consumed.load(Ordering::Relaxed)),
                    ingested_rows: counters[i].1,
                    ingested_per_sec,
                    committed_rows: load(|m| m.committed_rows.load(Ordering::Relaxed)),
                    dead_letters: load(|m| m.dead_letters.load(Ordering::Relaxed)),
                    ..partition_status(topic, &lag, &assigned)
                }
            })
            .collect::<Vec<_>>();
        let generator = self.sources.generator.as_ref().map(|(generator, rate)| GeneratorStatus {
            target_rate: *rate,
            delivered: generator.delivered.load(Ordering::Relaxed),
            failed: generator.failed.load(Ordering::Relaxed),
            last_error: generator.last_error.lock().ok().and_then(|e| e.clone()),
        });
        let ingest = ingest.map(|ingest| IngestStatus {
            commits: ingest.commits.load(Ordering::Relaxed),
            fenced: ingest.fenced.load(Ordering::Relaxed),
            rebalances: ingest.rebalances.load(Ordering::Relaxed),
            lag: ingest.total_lag(),
            lag_error: ingest.lag_error.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            retries: ingest.retries.load(Ordering::Relaxed),
            last_failure: ingest
                .last_failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ref()
                .map(|(at, error)| Failure { at_ms: millis(*at), error: error.clone() }),
            halted: ingest.halted.lock().unwrap_or_else(|e| e.into_inner()).clone(),
            dead_letters: topics.iter().map(|t| t.dead_letters).sum(),
            dead_letters_by_kind: ingest
                .rejects_by_kind
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|(kind, n)| ((*kind).to_owned(), *n))
                .collect(),
            recent_dead_letters: ingest
                .recent_rejects
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .rev()
                .map(|(topic, reason)| DeadLetter { topic: topic.clone(), reason: reason.clone() })
                .collect(),
            recent_commits: ingest
                .recent_commits
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .rev()
                .map(|c| Commit {
                    at_ms: millis(c.at),
                    table: c.table.clone(),
                    snapshot_id: c.snapshot_id,
                    files: c.files,
                    rows: c.rows,
                    bytes: c.bytes,
                })
                .collect(),
        });
        Status {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            uptime_secs: self.started.elapsed().as_secs(),
            services: self.sources.services.clone(),
            topics,
            generator,
            ingest,
            tables: state.tables.clone(),
            maintenance: self.sources.maintenance.as_ref().map(|m| m.snapshot().into()),
            broker: self.sources.broker.as_ref().map(|(_, retention)| BrokerStatus {
                disk_bytes: state.broker_disk,
                retention_secs: retention.map(|r| r.as_secs()),
            }),
            history: state.history.iter().copied().collect(),
        }
    }

    pub fn router(self: &Arc<Self>) -> Router {
        Router::new()
            .route("/", get(page))
            .route("/console", get(console_page))
            .route("/analytics", get(analytics_page))
            .route("/api/status", get(api_status))
            .route("/api/query", get(query_api::get_query).post(query_api::post_query))
            .route("/api/query/cancel", axum::routing::post(query_api::cancel_query))
            .route("/api/examples", get(examples))
            .route("/metrics", get(metrics))
            .with_state(self.clone())
    }
}

/// A topic's lag over all its partitions, which of them this process reads, and what is wrong.
fn partition_status(
    topic: &str,
    lag: &[bidlake_ingest::lag::PartitionLag],
    assigned: &std::collections::BTreeSet<(String, i32)>,
) -> TopicStatus {
    let mut status = TopicStatus::default();
    for p in lag.iter().filter(|p| p.topic == topic) {
        let read_here = assigned.contains(&(p.topic.clone(), p.partition));
        status.partitions += 1;
        status.read_here += usize::from(read_here);
        status.lag += p.lag();
        if !read_here && p.lag() > 0 {
            status.unread_with_lag.push(p.partition);
        }
        status.problems.extend(p.problem());
    }
    status
}

/// Binds the dashboard's address, naming the flag that changes it when the port is taken.
pub async fn bind(addr: SocketAddr, hint: &'static str) -> Result<tokio::net::TcpListener, Error> {
    tokio::net::TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, hint, source })
}

/// Serves on `listener` until `stop` resolves.
pub async fn serve(
    dashboard: Arc<Dashboard>,
    listener: tokio::net::TcpListener,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    axum::serve(listener, dashboard.router())
        .with_graceful_shutdown(stop)
        .await
        .map_err(Error::Serve)
}

async fn page() -> Html<&'static str> {
    Html(include_str!("page.html"))
}

/// The SQL console: one page, no build step, nothing fetched from outside.
async fn console_page() -> Html<&'static str> {
    Html(include_str!("console.html"))
}

/// The analytics page: funnel, revenue and rates over the tables, through `/api/query`.
async fn analytics_page() -> Html<&'static str> {
    Html(include_str!("analytics.html"))
}

/// The original platform's example queries, for the console's list.
async fn examples() -> Json<serde_json::Value> {
    let list: Vec<serde_json::Value> = bidlake_query::EXAMPLES
        .iter()
        .map(|e| serde_json::json!({ "name": e.name, "title": e.title, "sql": e.sql }))
        .collect();
    Json(serde_json::Value::Array(list))
}

async fn api_status(State(dashboard): State<Arc<Dashboard>>) -> Json<Status> {
    Json(dashboard.status())
}

async fn metrics(State(dashboard): State<Arc<Dashboard>>) -> impl IntoResponse {
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        prometheus::render(&dashboard.status()),
    )
}
