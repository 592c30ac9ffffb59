//! The ingest loop: consume → decode → flatten → write → commit, for every topic of the group.
//!
//! Exactly once rests on three rules. The table's snapshots carry the Kafka offsets they cover,
//! and a partition resumes from there, never from the group's committed offsets (those are only
//! advisory, for lag tools). A commit is planned against the table as loaded and only goes
//! through if every partition it covers still stands where this batch started, so a writer that
//! lost a partition to another is fenced. Dead letters reach the broker before the commit that
//! covers them, and a restarted partition first collects the letters already written.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bidlake_kafka::{KafkaArgs, TopicArgs, TopicSpec};
use bidlake_lake::setup::require_compatible;
use bidlake_lake::{KeptTables, Lake};
use bidlake_tables::{CommittedRows, EventTable};
use iceberg::spec::DataFile;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use crate::config::{Assignment, IngestArgs};
use crate::dlq::{self, DeadLetters};
use crate::exactly_once::{self, Batch, Covered, Outcome};
use crate::metrics::{CommitRecord, IngestMetrics, TopicMetrics};
use crate::progress::Progress;
use crate::sink::{TableSink, WriteOptions};
use crate::{Error, Result};
use bidlake_tables::EventTimeWindow;
use bidlake_tables::Source;

/// Offsets the rebalance callback positions newly assigned partitions at: the last progress
/// this process saw in the tables. It may be behind the table (another process committed
/// since), never ahead; records below the table's real offsets are skipped on arrival.
type OffsetCache = Arc<Mutex<HashMap<(String, i32), i64>>>;

/// How long a stopping ingest waits for its consumer to close (leave its group, if any).
const CONSUMER_CLOSE_WAIT: Duration = Duration::from_secs(5);

/// The ingest consumer. Dropped, it closes on a thread of its own, waited for at most
/// [`CONSUMER_CLOSE_WAIT`]: librdkafka's close waits for the group coordinator without a
/// bound, so a broker that was down when ingest stopped held the process until it was killed
/// (docs/reliability.md). By then every record read is in its table or is read again by the
/// next run, so not waiting loses nothing.
struct IngestConsumer(Option<Arc<StreamConsumer<IngestContext>>>);

impl std::ops::Deref for IngestConsumer {
    type Target = Arc<StreamConsumer<IngestContext>>;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("the consumer is taken only when it is dropped")
    }
}

impl Drop for IngestConsumer {
    fn drop(&mut self) {
        let Some(consumer) = self.0.take() else { return };
        let (closed, close_done) = std::sync::mpsc::channel();
        let closing = std::thread::Builder::new().name("kafka-close".into()).spawn(move || {
            drop(consumer);
            let _ = closed.send(());
        });
        // Without a thread of its own (none could be made) it closed here, unbounded.
        if closing.is_ok() && close_done.recv_timeout(CONSUMER_CLOSE_WAIT).is_err() {
            tracing::warn!(
                "the broker did not answer while the consumer closed ({}s); stopping without a \
                 clean close: nothing is lost (what was read is in the tables or is read again \
                 by the next run), but a consumer group may keep this member until the broker \
                 expires it",
                CONSUMER_CLOSE_WAIT.as_secs()
            );
        }
    }
}

struct IngestContext {
    offsets: OffsetCache,
    /// Set by every assignment or revocation; the loop then restarts its batch.
    rebalanced: Arc<AtomicBool>,
    metrics: Arc<IngestMetrics>,
}

impl ClientContext for IngestContext {}

impl ConsumerContext for IngestContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        self.metrics.rebalances.fetch_add(1, Ordering::Relaxed);
        let cooperative = matches!(
            consumer.rebalance_protocol(),
            rdkafka::consumer::RebalanceProtocol::Cooperative
        );
        let result = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let cache = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
                let assigned: Vec<(String, i32)> =
                    tpl.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect();
                for (topic, partition) in assigned {
                    let offset = match cache.get(&(topic.clone(), partition)) {
                        Some(offset) => Offset::Offset(*offset),
                        None => Offset::Beginning,
                    };
                    let _ = tpl.set_partition_offset(&topic, partition, offset);
                }
                drop(cache);
                tracing::info!(partitions = %describe(tpl), "partitions assigned");
                if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                tracing::info!(partitions = %describe(tpl), "partitions revoked");
                if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() }
            }
            other => {
                tracing::warn!(error = ?other, "rebalance error; dropping the assignment");
                consumer.unassign()
            }
        };
        if let Err(err) = result {
            tracing::error!(error = %err, "applying a rebalance failed");
        }
        // Set once the assignment is applied: the loop then opens what it was given.
        self.rebalanced.store(true, Ordering::SeqCst);
    }
}

fn describe(tpl: &TopicPartitionList) -> String {
    tpl.elements()
        .iter()
        .map(|e| format!("{}/{}", e.topic(), e.partition()))
        .collect::<Vec<_>>()
        .join(",")
}

/// Where one Kafka partition stands in the current batch.
struct PartitionState {
    /// The table's offset when this batch started (`None`: the table has none yet).
    started: Option<i64>,
    /// The next offset to take.
    next: i64,
    /// False until the first record at `next` (or a retention gap) confirmed the position.
    positioned: bool,
    /// Source offsets that already have a dead letter (written by a run that did not commit).
    dead_lettered: HashSet<i64>,
    /// DLQ rescan start to record with the next commit.
    dlq_mark: Option<i64>,
    /// The DLQ's end when it was scanned, and the highest offset found there.
    scanned_end: i64,
    scanned_max: Option<i64>,
    records: u64,
}

/// What opening a partition needs to look up on the broker.
struct Opening {
    kafka: KafkaArgs,
    consumer: Arc<StreamConsumer<IngestContext>>,
    dlq_topic: String,
    dlq_partitions: i32,
    topic: String,
    partition: i32,
    /// The table's offset for the partition, and where its DLQ scan starts.
    started: Option<i64>,
    dlq_mark: Option<i64>,
}

impl Opening {
    /// The dead letters already written for the partition and, when the table has no offset
    /// for it, its log start. Blocking: run it on a blocking thread.
    fn look_up(self) -> Result<PartitionState> {
        let Opening {
            kafka,
            consumer,
            dlq_topic,
            dlq_partitions,
            topic,
            partition,
            started,
            dlq_mark,
        } = self;
        let scan = dlq::scan(&kafka, &dlq_topic, dlq_partitions, &topic, partition, dlq_mark)?;
        let (low, high) = consumer
            .fetch_watermarks(&topic, partition, Duration::from_secs(10))
            .map_err(|source| Error::Consumer {
                context: format!("reading the offsets of {topic}/{partition}"),
                source,
            })?;
        let next = started.unwrap_or(low);
        // Said out loud, never skipped in silence (status and the dashboard show it too).
        let standing = crate::lag::PartitionLag {
            topic: topic.clone(),
            partition,
            low,
            high,
            committed: started,
        };
        if let Some(problem) = standing.problem() {
            tracing::error!("{problem}");
        }
        let scanned_max = scan.offsets.iter().copied().max();
        Ok(PartitionState {
            started,
            next,
            positioned: false,
            dead_lettered: scan.offsets,
            dlq_mark,
            scanned_end: scan.end,
            scanned_max,
            records: 0,
        })
    }
}

struct TopicState {
    /// Why ingest of this table stopped while the others go on, if it did.
    halted: Option<String>,
    dlq_topic: String,
    dlq_partitions: i32,
    sink: TableSink,
    partitions: BTreeMap<i32, PartitionState>,
    metrics: Arc<TopicMetrics>,
    /// Consumed since the last commit.
    bytes: u64,
    records: u64,
}

#[allow(missing_debug_implementations)] // the consumer has no Debug
pub struct Job {
    args: IngestArgs,
    kafka: KafkaArgs,
    lake: Lake,
    consumer: IngestConsumer,
    dead_letters: DeadLetters,
    topics: HashMap<String, TopicState>,
    offsets: OffsetCache,
    rebalanced: Arc<AtomicBool>,
    metrics: Arc<IngestMetrics>,
    options: WriteOptions,
    batch_started: Instant,
    /// When the batch started by the wall clock, which goes on while the process is stopped or
    /// the machine sleeps (the age orphan removal judges files by).
    batch_started_at: SystemTime,
    /// The event times the tables take; "now" moves on at every commit.
    window: EventTimeWindow,
    /// Why the batch must start again from the tables before the next record, if it must.
    restart_needed: Option<&'static str>,
    /// Where committed rows go for an aggregator in this process, if one runs.
    handoff: Option<CommittedRows>,
    /// Woken after every commit cycle that committed rows, for that aggregator to start its
    /// round then.
    commits: Option<Arc<tokio::sync::Notify>>,
    /// The tables as this process last committed them, for the lag measurement to read
    /// without loading their metadata again.
    tables: KeptTables,
}

/// The loop's clocks: progress logs, idleness and the caught-up check.
struct Pace {
    last_log: Instant,
    last_consumed: u64,
    idle_since: Option<Instant>,
    last_check: Instant,
}

impl Default for Pace {
    fn default() -> Self {
        Self {
            last_log: Instant::now(),
            last_consumed: 0,
            idle_since: None,
            last_check: Instant::now(),
        }
    }
}

enum Step {
    Go,
    CaughtUp,
}

/// Backoff through an outage: 1 s, doubling to 30 s; a failure a minute after the last one
/// starts a new outage.
#[derive(Default)]
struct Outage {
    attempt: u32,
    last: Option<Instant>,
}

impl Outage {
    fn next(&mut self) -> (u32, Duration) {
        if self.last.is_some_and(|t| t.elapsed() > Duration::from_secs(60)) {
            self.attempt = 0;
        }
        self.last = Some(Instant::now());
        self.attempt += 1;
        let backoff =
            Duration::from_secs(1 << (self.attempt - 1).min(5)).min(Duration::from_secs(30));
        (self.attempt, backoff)
    }
}

/// How long the broker may hold a fetch waiting for data. At librdkafka's 500 ms, rows through
/// tansu reached the table ~0.3 s later at a 1 s commit interval (p50 1.14 s, 0.85 s at 100 ms):
/// a tenth of the interval, at most 500 ms, keeps it out of the way.
fn fetch_wait(commit_interval: Duration) -> Duration {
    (commit_interval / 10).clamp(Duration::from_millis(10), Duration::from_millis(500))
}

/// Which tables to ingest and from which topics.
fn selected(args: &IngestArgs) -> Result<Vec<(EventTable, String)>> {
    let topics = args.topics.event_topics();
    let all: Vec<(EventTable, String)> =
        EventTable::ALL.iter().zip(topics).map(|(t, topic)| (*t, topic.to_owned())).collect();
    if args.tables.is_empty() {
        return Ok(all);
    }
    let mut chosen = Vec::new();
    for name in &args.tables {
        match all.iter().find(|(t, _)| t.name() == name.trim()) {
            Some(entry) => chosen.push(entry.clone()),
            None => {
                return Err(Error::Config(format!(
                    "--table {name:?}: the tables are bid_requests, bid_responses, impressions, clicks"
                )));
            }
        }
    }
    Ok(chosen)
}

impl Job {
    /// Connects to the broker and the catalog and checks the tables; nothing is consumed yet.
    pub async fn start(
        args: IngestArgs,
        kafka: KafkaArgs,
        lake: Lake,
        metrics: Arc<IngestMetrics>,
    ) -> Result<Job> {
        args.settings.validate()?;
        let selected = selected(&args)?;
        let rates = Arc::new(args.settings.exchange_rates()?);

        // Tables first: an unknown table or a foreign schema is the user's to fix, before any
        // record is read.
        let mut tables = Vec::new();
        for (table, topic) in &selected {
            let iceberg = lake.load_table(table.name()).await?;
            require_compatible(&lake, &table.definition()?, &iceberg)?;
            tables.push((*table, topic.clone(), iceberg));
        }

        // The DLQ topics must exist before the first dead letter; the event topics too, so a
        // subscription does not wait on auto-creation.
        let mut specs = Vec::new();
        for (_, topic, _) in &tables {
            specs.push(TopicSpec::of(topic.clone(), &args.topics));
            specs.push(TopicSpec::of(TopicArgs::dlq(topic), &args.topics));
        }
        bidlake_kafka::ensure_topics(&kafka, &specs).await?;
        let metadata = bidlake_kafka::wait_for_broker(&kafka).await?;
        let partitions_of = |name: &str| {
            metadata.topics().iter().find(|t| t.name() == name).map(|t| t.partitions().len() as i32)
        };

        let options = WriteOptions {
            batch_rows: args.settings.batch_rows,
            target_file_size: args.settings.target_file_size,
            buffer_bytes: args.settings.buffer_bytes,
            zstd_level: args.settings.zstd_level,
            file_prefix: format!("bidlake-{}", uuid::Uuid::new_v4()),
        };
        let offsets: OffsetCache = Arc::default();
        let mut topics = HashMap::new();
        let mut dlq_partitions = HashMap::new();
        for (table, topic, iceberg) in tables {
            let dlq_topic = TopicArgs::dlq(&topic);
            let n = partitions_of(&dlq_topic).unwrap_or(args.topics.partitions).max(1);
            dlq_partitions.insert(dlq_topic.clone(), n);
            let progress = Progress::read(&iceberg, &topic);
            {
                let mut cache = offsets.lock().unwrap_or_else(|e| e.into_inner());
                for (p, o) in &progress.offsets {
                    cache.insert((topic.clone(), *p), *o);
                }
            }
            tracing::info!(table = table.name(), %topic, offsets = ?progress.offsets, "resuming from the table");
            topics.insert(
                topic.clone(),
                TopicState {
                    halted: None,
                    dlq_topic,
                    dlq_partitions: n,
                    sink: TableSink::new(table, iceberg, &options, Arc::clone(&rates))?,
                    partitions: BTreeMap::new(),
                    metrics: metrics.topic(&topic),
                    bytes: 0,
                    records: 0,
                },
            );
        }

        let rebalanced = Arc::new(AtomicBool::new(false));
        let context = IngestContext {
            offsets: offsets.clone(),
            rebalanced: rebalanced.clone(),
            metrics: metrics.clone(),
        };
        let fetch_wait_ms = fetch_wait(args.settings.commit_interval).as_millis().to_string();
        let config = kafka.client_config_with(&[
            ("group.id", &args.settings.group_id),
            ("fetch.wait.max.ms", &fetch_wait_ms),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            // Bounded prefetch: back-pressure on the broker rather than memory.
            ("queued.max.messages.kbytes", "65536"),
        ]);
        let consumer: StreamConsumer<IngestContext> =
            config.create_with_context(context).map_err(|source| Error::Consumer {
                context: format!("creating the consumer for {}", kafka.bootstrap_servers),
                source,
            })?;
        let names: Vec<&str> = topics.keys().map(String::as_str).collect();
        match args.settings.assignment.unwrap_or_default() {
            Assignment::Group => consumer.subscribe(&names).map_err(|source| Error::Consumer {
                context: format!("subscribing to {}", names.join(", ")),
                source,
            })?,
            Assignment::All => {
                // No group membership: nothing a crashed run left in the group can hold a
                // partition back. The table's offsets place each partition, as after a
                // rebalance; two such processes are kept apart by the commit's fencing.
                let mut tpl = TopicPartitionList::new();
                let cache = offsets.lock().unwrap_or_else(|e| e.into_inner());
                for name in &names {
                    let n = partitions_of(name).filter(|n| *n > 0).ok_or_else(|| {
                        Error::Config(format!("topic {name} has no partitions on the broker"))
                    })?;
                    for partition in 0..n {
                        let offset = match cache.get(&((*name).to_owned(), partition)) {
                            Some(offset) => Offset::Offset(*offset),
                            None => Offset::Beginning,
                        };
                        tpl.add_partition_offset(name, partition, offset).map_err(|source| {
                            Error::Consumer {
                                context: format!("assigning {name}/{partition}"),
                                source,
                            }
                        })?;
                    }
                }
                drop(cache);
                consumer.assign(&tpl).map_err(|source| Error::Consumer {
                    context: format!("assigning every partition of {}", names.join(", ")),
                    source,
                })?;
                tracing::info!(partitions = %describe(&tpl), "reading every partition (no consumer group)");
                // The loop opens what was assigned, as it does after a rebalance.
                rebalanced.store(true, Ordering::SeqCst);
            }
        }
        let dead_letters = DeadLetters::new(&kafka, dlq_partitions);

        let window = args.settings.event_time_window(SystemTime::now());
        Ok(Job {
            args,
            kafka,
            lake,
            consumer: IngestConsumer(Some(Arc::new(consumer))),
            dead_letters,
            topics,
            offsets,
            rebalanced,
            metrics,
            window,
            restart_needed: None,
            handoff: None,
            commits: None,
            tables: KeptTables::default(),
            options,
            batch_started: Instant::now(),
            batch_started_at: SystemTime::now(),
        })
    }

    /// The tables as this job last committed them, shared with readers in the same process
    /// (its lag measurement, an aggregator) so that loading one costs a catalog row.
    pub fn kept_tables(&self) -> KeptTables {
        self.tables.clone()
    }

    /// How often this job commits.
    pub fn commit_interval(&self) -> Duration {
        self.args.settings.commit_interval
    }

    /// Hands the rows of every commit to `handoff`, for an aggregator in this process to take
    /// instead of reading back the files just written, and wakes `commits` after every commit
    /// cycle that committed rows.
    pub fn hand_committed_rows_to(
        &mut self,
        handoff: CommittedRows,
        commits: Arc<tokio::sync::Notify>,
    ) {
        for state in self.topics.values_mut() {
            // A table whose columns another engine changed: the aggregator reads its files.
            if let Err(err) = state.sink.keep_written_rows() {
                tracing::warn!(table = state.sink.table().name(), error = %err, "the aggregator reads this table's new files instead of taking its rows from ingest");
            }
        }
        self.handoff = Some(handoff);
        self.commits = Some(commits);
    }

    /// Runs until `stop` is set (then commits what it holds) or `--duration` passes.
    pub async fn run(self, stop: Arc<AtomicBool>) -> Result<()> {
        self.run_draining(stop, Arc::default()).await
    }

    /// Like [`Job::run`], and once `drain` is raised, goes on until every partition is in its
    /// table (at most `DRAIN_LIMIT`), then commits and stops: how `up` stops after its generator,
    /// so that what was produced is in the tables.
    pub async fn run_draining(self, stop: Arc<AtomicBool>, drain: Arc<AtomicBool>) -> Result<()> {
        let streams = self
            .topics
            .iter()
            .map(|(topic, state)| (state.sink.table().name().to_owned(), topic.clone()))
            .collect();
        let lag = tokio::spawn(measure_lag(
            self.lake.clone(),
            self.tables.clone(),
            self.kafka.clone(),
            streams,
            self.metrics.clone(),
        ));
        let result = self.consume(stop, drain).await;
        lag.abort();
        result
    }

    async fn consume(mut self, stop: Arc<AtomicBool>, drain: Arc<AtomicBool>) -> Result<()> {
        let started = Instant::now();
        let mut pace = Pace::default();
        let mut outage = Outage::default();
        let mut draining_since: Option<Instant> = None;
        self.batch_started = Instant::now();
        self.batch_started_at = SystemTime::now();
        while !stop.load(Ordering::SeqCst)
            && self.args.duration.is_none_or(|d| started.elapsed() < d)
        {
            if drain.load(Ordering::SeqCst) {
                let since = *draining_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= DRAIN_LIMIT {
                    tracing::warn!(
                        "not caught up after {DRAIN_LIMIT:?}; stopping with lag (the next run reads it)"
                    );
                    break;
                }
            }
            let until_caught_up = self.args.until_caught_up || draining_since.is_some();
            match self.step(&mut pace, until_caught_up).await {
                Ok(Step::Go) => {}
                Ok(Step::CaughtUp) => break,
                Err(err) if err.is_transient() => self.wait_out(err, &mut outage, &stop).await,
                Err(err) => return Err(err),
            }
        }
        if let Some(why) = self.restart_needed.take() {
            // A failure part-way through a commit left the batch incomplete (its files closed,
            // its offsets not committed): committing now would move the offsets past records
            // its files no longer hold.
            tracing::info!(
                "stopping without a commit: the batch is incomplete after {why}; its records are read again by the next run"
            );
            for state in self.topics.values_mut() {
                state.sink.abort();
            }
        } else {
            tracing::info!("stopping: committing what is held");
            self.commit_all().await?;
        }
        self.log_progress(pace.last_log.elapsed(), pace.last_consumed);
        self.consumer.unsubscribe();
        let halted: Vec<String> = self.topics.values().filter_map(|t| t.halted.clone()).collect();
        if !halted.is_empty() {
            return Err(Error::Halted(halted.join("; ")));
        }
        Ok(())
    }

    /// One turn of the loop: restart the batch if needed, take a record, commit when due.
    async fn step(&mut self, pace: &mut Pace, until_caught_up: bool) -> Result<Step> {
        if self.rebalanced.swap(false, Ordering::SeqCst) {
            self.restart_batch("the group rebalanced").await?;
        } else if let Some(why) = self.restart_needed.take() {
            self.restart_batch(why).await?;
        }
        // A handle of our own, so the borrowed record does not borrow the job.
        let consumer = self.consumer.clone();
        let received = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
        match received {
            Ok(Ok(message)) => {
                pace.idle_since = None;
                self.take(&message).await?;
            }
            Ok(Err(err)) => {
                // Transient broker errors are retried by librdkafka; log and go on.
                tracing::warn!(error = %err, "consumer error");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => {
                pace.idle_since.get_or_insert_with(Instant::now);
            }
        }
        if self.commit_due() {
            self.commit_all().await?;
        }
        if pace.last_log.elapsed() >= Duration::from_secs(5) {
            pace.last_consumed = self.log_progress(pace.last_log.elapsed(), pace.last_consumed);
            pace.last_log = Instant::now();
        }
        if until_caught_up
            && pace.idle_since.is_some_and(|t| t.elapsed() >= Duration::from_secs(1))
            && pace.last_check.elapsed() >= Duration::from_secs(1)
        {
            pace.last_check = Instant::now();
            if self.caught_up().await? {
                return Ok(Step::CaughtUp);
            }
        }
        Ok(Step::Go)
    }

    /// An outage of the broker, the catalog or the storage: wait (backing off), then drop the
    /// uncommitted batch and start again from the tables. Nothing is lost or doubled: the
    /// batch's files were never committed, and its records are read again.
    async fn wait_out(&mut self, err: Error, outage: &mut Outage, stop: &AtomicBool) {
        let (attempt, backoff) = outage.next();
        self.metrics.failed(&err.to_string());
        tracing::warn!(error = %err, attempt, retry_in = ?backoff, "ingest cannot go on for now; it will start again from the tables' offsets (nothing is lost)");
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.restart_needed = Some("recovering from an outage");
    }

    /// Every partition of every topic (not only this process's share) is in its table, and
    /// nothing is held uncommitted.
    async fn caught_up(&self) -> Result<bool> {
        if self.topics.values().any(|t| t.records > 0) {
            return Ok(false);
        }
        let consumer = self.consumer.clone();
        let names: Vec<String> = self
            .topics
            .iter()
            .filter(|(_, t)| t.halted.is_none())
            .map(|(k, _)| k.clone())
            .collect();
        let ends = tokio::task::spawn_blocking(move || -> Result<Vec<(String, i32, i64, i64)>> {
            let mut ends = Vec::new();
            for topic in names {
                let metadata = consumer
                    .fetch_metadata(Some(&topic), Duration::from_secs(10))
                    .map_err(|source| Error::Consumer {
                        context: format!("reading the partitions of {topic}"),
                        source,
                    })?;
                for t in metadata.topics() {
                    for p in t.partitions() {
                        let (low, high) = consumer
                            .fetch_watermarks(&topic, p.id(), Duration::from_secs(10))
                            .map_err(|source| Error::Consumer {
                                context: format!("reading the offsets of {topic}/{}", p.id()),
                                source,
                            })?;
                        ends.push((topic.clone(), p.id(), low, high));
                    }
                }
            }
            Ok(ends)
        })
        .await
        .map_err(|e| Error::Task(e.to_string()))??;
        let mut progress = HashMap::new();
        for (topic, state) in &self.topics {
            let table = self.lake.load_table(state.sink.table().name()).await?;
            progress.insert(topic.clone(), Progress::read(&table, topic));
        }
        Ok(ends.iter().all(|(topic, partition, low, high)| {
            let done =
                progress.get(topic).and_then(|p| p.offsets.get(partition)).copied().unwrap_or(*low);
            done >= *high
        }))
    }

    fn commit_due(&self) -> bool {
        let held = self.topics.values().any(|t| t.records > 0);
        held && (self.batch_started.elapsed() >= self.args.settings.commit_interval
            || self.topics.values().any(|t| t.sink.rows() >= self.args.settings.commit_rows)
            || self.topics.values().map(|t| t.bytes).sum::<u64>()
                >= self.args.settings.commit_bytes
            || self.too_many_partitions())
    }

    /// A batch spread over very many table partitions (event times scattered over years, say)
    /// is committed early: each partition holds builders and a file, so their number bounds
    /// the memory.
    fn too_many_partitions(&self) -> bool {
        let limit = self.args.settings.max_partitions_per_batch;
        let Some((topic, state)) = self.topics.iter().find(|(_, t)| t.sink.partitions() >= limit)
        else {
            return false;
        };
        tracing::info!(
            %topic,
            partitions = state.sink.partitions(),
            records = state.records,
            "this batch has rows for {limit} table partitions (days and countries): committing it early to bound memory (INGEST_MAX_PARTITIONS_PER_BATCH)"
        );
        true
    }

    /// One record: skip it if the table has it, else make it a row or a dead letter.
    async fn take(&mut self, message: &BorrowedMessage<'_>) -> Result<()> {
        let topic = message.topic();
        let partition = message.partition();
        let offset = message.offset();
        let open = |job: &Self| {
            job.topics
                .get(topic)
                .is_some_and(|t| t.halted.is_some() || t.partitions.contains_key(&partition))
        };
        if !open(self) {
            self.open_assigned().await?;
            if !open(self) {
                self.open_partitions(topic, vec![partition]).await?;
            }
        }
        let Some(state) = self.topics.get_mut(topic) else { return Ok(()) };
        if state.halted.is_some() {
            // Left on the broker: the table's offsets do not move past it.
            return Ok(());
        }
        let Some(p) = state.partitions.get_mut(&partition) else { return Ok(()) };

        if offset < p.next {
            state.metrics.skipped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(());
        }
        if offset > p.next && !p.positioned {
            // The consumer starts where the group last committed; the table may be behind it
            // (or the records may be gone, by retention).
            let (low, _) = self
                .consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(10))
                .map_err(|source| Error::Consumer {
                    context: format!("reading the offsets of {topic}/{partition}"),
                    source,
                })?;
            if low > p.next {
                tracing::warn!(%topic, partition, from = p.next, to = low, "records between the table's offset and the log start were deleted by retention before ingest took them");
                p.positioned = true;
            } else {
                tracing::info!(%topic, partition, at = offset, to = p.next, "seeking back to the table's offset");
                self.consumer
                    .seek(topic, partition, Offset::Offset(p.next), Duration::from_secs(10))
                    .map_err(|source| Error::Consumer {
                        context: format!("seeking {topic}/{partition} to {}", p.next),
                        source,
                    })?;
                return Ok(());
            }
        }
        p.positioned = true;

        let payload = message.payload();
        let value = payload.unwrap_or_default();
        let kafka_timestamp = message.timestamp().to_millis();
        state.metrics.consumed.fetch_add(1, Ordering::Relaxed);
        state.metrics.bytes.fetch_add(value.len() as u64, Ordering::Relaxed);
        state.bytes += value.len() as u64;
        state.records += 1;
        p.records += 1;
        p.next = offset + 1;
        let appended = match payload {
            Some(value) => state.sink.append(
                value,
                kafka_timestamp,
                Source { partition, offset },
                &self.window,
            ),
            None => Err(bidlake_tables::decode::tombstone()),
        };
        match appended {
            Ok(rows) => {
                state.metrics.rows.fetch_add(rows as u64, Ordering::Relaxed);
            }
            Err(reject) => {
                state.metrics.dead_letters.fetch_add(1, Ordering::Relaxed);
                self.metrics.rejected(topic, reject.kind, &reject.to_string());
                if !p.dead_lettered.contains(&offset) {
                    self.dead_letters
                        .send(
                            &state.dlq_topic,
                            topic,
                            partition,
                            offset,
                            message.key(),
                            payload,
                            &reject,
                        )
                        .await?;
                }
            }
        }
        state.sink.write_full().await
    }

    /// Opens every assigned partition of the batch not open yet. Run as soon as the group
    /// assigns them, so the first records do not wait on the table and the DLQ scans.
    async fn open_assigned(&mut self) -> Result<()> {
        let assignment = self.consumer.assignment().map_err(|source| Error::Consumer {
            context: "reading the assignment".into(),
            source,
        })?;
        self.metrics.set_assigned(
            assignment.elements().iter().map(|e| (e.topic().to_owned(), e.partition())).collect(),
        );
        let mut closed: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for element in assignment.elements() {
            let (topic, partition) = (element.topic(), element.partition());
            if self.topics.get(topic).is_some_and(|t| !t.partitions.contains_key(&partition)) {
                closed.entry(topic.to_owned()).or_default().push(partition);
            }
        }
        for (topic, partitions) in closed {
            self.open_partitions(&topic, partitions).await?;
        }
        Ok(())
    }

    /// Where does the table stand for these partitions, and which dead letters exist already?
    /// One table load; the partitions' lookups (each a client of its own and a round trip or
    /// more to the broker) run side by side, `OPENING_AT_ONCE` at a time.
    async fn open_partitions(&mut self, topic: &str, partitions: Vec<i32>) -> Result<()> {
        const OPENING_AT_ONCE: usize = 8;
        let Some(state) = self.topics.get_mut(topic).filter(|t| t.halted.is_none()) else {
            return Ok(());
        };
        let table = self.lake.load_table(state.sink.table().name()).await?;
        let progress = Progress::read(&table, topic);
        state.sink.set_table(table);
        for chunk in partitions.chunks(OPENING_AT_ONCE) {
            let mut lookups = Vec::new();
            for &partition in chunk {
                let opening = Opening {
                    kafka: self.kafka.clone(),
                    consumer: self.consumer.clone(),
                    dlq_topic: state.dlq_topic.clone(),
                    dlq_partitions: state.dlq_partitions,
                    topic: topic.to_owned(),
                    partition,
                    started: progress.offsets.get(&partition).copied(),
                    dlq_mark: progress.dlq.get(&partition).copied(),
                };
                lookups.push((partition, tokio::task::spawn_blocking(move || opening.look_up())));
            }
            for (partition, lookup) in lookups {
                let opened = lookup.await.map_err(|e| Error::Task(e.to_string()))??;
                if !opened.dead_lettered.is_empty() {
                    tracing::info!(%topic, partition, dead_letters = opened.dead_lettered.len(), "dead letters of an uncommitted run found; they will not be written again");
                }
                state.partitions.insert(partition, opened);
            }
        }
        Ok(())
    }

    /// Drops the batch in flight and starts again from the tables (after a rebalance or when
    /// fenced). Nothing is lost: the records are read again from Kafka.
    async fn restart_batch(&mut self, why: &str) -> Result<()> {
        let held: u64 = self.topics.values().map(|t| t.records).sum();
        if held > 0 {
            tracing::info!(
                records = held,
                "{why}: dropping the uncommitted batch; its records will be read again"
            );
        }
        // Letters already sent stay valid: the next owner finds them by scanning.
        self.dead_letters.flush().await?;
        for state in self.topics.values_mut() {
            state.sink.abort();
            state.partitions.clear();
            state.bytes = 0;
            state.records = 0;
        }
        // Re-position every assigned partition at the table's offsets.
        let assignment = self.consumer.assignment().map_err(|source| Error::Consumer {
            context: "reading the assignment".into(),
            source,
        })?;
        let mut progress: HashMap<String, Progress> = HashMap::new();
        for element in assignment.elements() {
            let (topic, partition) = (element.topic().to_owned(), element.partition());
            let Some(state) = self.topics.get(&topic) else { continue };
            if !progress.contains_key(&topic) {
                let table = self.lake.load_table(state.sink.table().name()).await?;
                progress.insert(topic.clone(), Progress::read(&table, &topic));
            }
            if let Some(offset) = progress.get(&topic).and_then(|p| p.offsets.get(&partition)) {
                self.offsets
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert((topic.clone(), partition), *offset);
                if let Err(err) = self.consumer.seek(
                    &topic,
                    partition,
                    Offset::Offset(*offset),
                    Duration::from_secs(10),
                ) {
                    tracing::debug!(%topic, partition, error = %err, "seek after restart failed; the offset check will catch up");
                }
            }
        }
        self.open_assigned().await?;
        self.pause_halted();
        self.batch_started = Instant::now();
        self.batch_started_at = SystemTime::now();
        Ok(())
    }

    /// Commits every table that holds records.
    async fn commit_all(&mut self) -> Result<()> {
        // The next interval starts now, not when this commit is done: a commit cycle (close
        // the files, commit through the catalog) would otherwise add to every interval.
        let started = Instant::now();
        let started_at = SystemTime::now();
        self.window = self.args.settings.event_time_window(started_at);
        // Dead letters first: once offsets are committed, their records are never read again.
        let marks = self.dead_letters.flush().await?;
        let topics: Vec<String> =
            self.topics.iter().filter(|(_, t)| t.records > 0).map(|(k, _)| k.clone()).collect();
        let mut dropped = None;
        let mut committed = false;
        for topic in topics {
            match self.commit_topic(&topic, &marks).await? {
                Outcome::Committed { .. } => committed = true,
                Outcome::Fenced(_) => dropped = Some("fenced"),
                Outcome::TooOld => dropped = Some("the batch was too old to commit"),
                Outcome::Changed(why) => self.halt(&topic, why),
            }
        }
        if committed && let Some(commits) = &self.commits {
            commits.notify_waiters();
        }
        if let Some(why) = dropped {
            self.restart_batch(why).await?;
        } else {
            self.batch_started =
                next_batch_start(started, Instant::now(), self.args.settings.commit_interval);
            self.batch_started_at = started_at;
        }
        Ok(())
    }

    /// Stops ingesting one table whose schema or partitioning another engine changed so that
    /// bidlake's rows no longer fit; the other tables go on. Its partitions are paused and its
    /// records left on the broker (the table's offsets do not move), to be read once a person
    /// has put the table right and restarted ingest.
    fn halt(&mut self, topic: &str, why: String) {
        let Some(state) = self.topics.get_mut(topic) else { return };
        tracing::error!(table = state.sink.table().name(), %topic, "ingest of this table stops: {why}; the other tables go on; its records stay on the broker until ingest is restarted");
        state.sink.abort();
        state.partitions.clear();
        state.bytes = 0;
        state.records = 0;
        state.halted = Some(why.clone());
        self.metrics.halted(topic, why);
        self.pause_halted();
    }

    /// Pauses the assigned partitions of halted tables (again after every reassignment).
    fn pause_halted(&self) {
        let Ok(assignment) = self.consumer.assignment() else { return };
        let mut tpl = TopicPartitionList::new();
        for element in assignment.elements() {
            if self.topics.get(element.topic()).is_some_and(|t| t.halted.is_some()) {
                tpl.add_partition(element.topic(), element.partition());
            }
        }
        if tpl.count() > 0
            && let Err(err) = self.consumer.pause(&tpl)
        {
            tracing::debug!(error = %err, "pausing the partitions of a halted table failed; its records are dropped as they arrive");
        }
    }

    /// Commits one table's batch (see [`exactly_once`]), and on success moves the batch's
    /// partitions on and reports the commit.
    async fn commit_topic(
        &mut self,
        topic: &str,
        marks: &BTreeMap<(String, i32), i64>,
    ) -> Result<Outcome> {
        let Some(state) = self.topics.get_mut(topic) else {
            return Ok(Outcome::Fenced(Vec::new()));
        };
        let files: Vec<DataFile> = state.sink.close().await?;
        let partitions = state
            .partitions
            .iter()
            .filter(|(_, s)| s.records > 0)
            .map(|(p, s)| {
                // Letters delivered now, else (none pending beyond the batch) the scanned end.
                let dlq_mark = match marks.get(&(topic.to_owned(), *p)) {
                    Some(delivered) => Some(*delivered),
                    None if s.scanned_max.is_none_or(|m| s.next > m) => Some(s.scanned_end),
                    None => s.dlq_mark,
                };
                (*p, Covered { started: s.started, next: s.next, dlq_mark })
            })
            .collect();
        let batch = Batch {
            table: state.sink.table(),
            topic,
            files: &files,
            partitions,
            writer: &self.options.file_prefix,
            commit_by: self.batch_started_at + self.args.settings.max_uncommitted_age,
            known: Some(state.sink.iceberg()),
        };
        let name = batch.table.name();
        let started = Instant::now();
        let outcome = exactly_once::commit(&self.lake, &batch).await?;
        let took = started.elapsed();
        let Outcome::Committed { table, progress } = &outcome else {
            match &outcome {
                Outcome::Fenced(moved) => {
                    self.metrics.fenced.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(table = name, %topic, partitions = ?moved, "fenced: another writer committed these partitions; dropping this batch");
                }
                Outcome::TooOld => {
                    tracing::warn!(
                        table = name,
                        "this batch's files are too old to commit (was the process stopped, or the machine asleep?): orphan removal may have deleted them; dropping the batch, its records will be read again"
                    );
                }
                _ => {}
            }
            return Ok(outcome);
        };
        let rows: u64 = files.iter().map(|f| f.record_count()).sum();
        let bytes: u64 = files.iter().map(|f| f.file_size_in_bytes()).sum();
        let snapshot_id = table.metadata().current_snapshot_id().unwrap_or_default();
        {
            let mut cache = self.offsets.lock().unwrap_or_else(|e| e.into_inner());
            for (p, o) in &progress.offsets {
                cache.insert((topic.to_owned(), *p), *o);
            }
        }
        // Advisory: lets lag tools see where the group stands.
        let mut tpl = TopicPartitionList::new();
        for (p, covered) in &batch.partitions {
            let _ = tpl.add_partition_offset(topic, *p, Offset::Offset(covered.next));
        }
        if let Err(err) = self.consumer.commit(&tpl, CommitMode::Async) {
            tracing::debug!(error = %err, "advisory offset commit failed");
        }
        state.metrics.committed_rows.fetch_add(rows, Ordering::Relaxed);
        self.metrics.committed(CommitRecord {
            at: SystemTime::now(),
            table: name.to_owned(),
            snapshot_id,
            files: files.len(),
            rows,
            bytes,
            records: state.records,
        });
        tracing::info!(
            table = name,
            snapshot_id,
            files = files.len(),
            rows,
            bytes,
            records = state.records,
            took_ms = (took.as_secs_f64() * 1e4).round() / 10.0,
            "committed"
        );
        let source = batch.table;
        state.sink.set_table(table.as_ref().clone());
        self.tables.offer(table.as_ref().clone());
        if let Some(handoff) = &self.handoff
            && let Some(rows) = state.sink.take_written_rows()
        {
            handoff.push(source, snapshot_id, rows);
        }
        for (p, s) in state.partitions.iter_mut() {
            if s.records > 0 {
                s.started = Some(s.next);
                s.records = 0;
            }
            s.dlq_mark = progress.dlq.get(p).copied();
        }
        state.bytes = 0;
        state.records = 0;
        Ok(outcome)
    }

    fn log_progress(&self, elapsed: Duration, last_consumed: u64) -> u64 {
        let consumed: u64 =
            self.topics.values().map(|t| t.metrics.consumed.load(Ordering::Relaxed)).sum();
        let rows: u64 = self.topics.values().map(|t| t.metrics.rows.load(Ordering::Relaxed)).sum();
        let dead: u64 =
            self.topics.values().map(|t| t.metrics.dead_letters.load(Ordering::Relaxed)).sum();
        let rate = (consumed - last_consumed) as f64 / elapsed.as_secs_f64().max(0.001);
        tracing::info!(
            consumed,
            rows,
            dead_letters = dead,
            commits = self.metrics.commits.load(Ordering::Relaxed),
            lag = self.metrics.total_lag(),
            per_second = rate as u64,
            "ingest progress"
        );
        consumed
    }
}

/// When the next batch counts as started. The interval counts from the start of the previous
/// commit, so a commit's own duration does not add to every interval; but the loop takes no
/// record while it commits, so a commit as long as the interval would leave the next batch due
/// at its first record: one row per commit, each as slow as the last. The next batch therefore
/// always gets at least half an interval.
fn next_batch_start(commit_started: Instant, now: Instant, interval: Duration) -> Instant {
    commit_started.max(now.checked_sub(interval / 2).unwrap_or(now))
}

/// How long a draining ingest (`up` stopping) goes on to catch up before it stops anyway.
const DRAIN_LIMIT: Duration = Duration::from_secs(15);

/// How often the lag of every partition is measured against the tables.
const LAG_INTERVAL: Duration = Duration::from_secs(5);

/// Measures every partition's lag against its table every `LAG_INTERVAL`, into `metrics`.
async fn measure_lag(
    lake: Lake,
    tables: KeptTables,
    kafka: KafkaArgs,
    streams: Vec<(String, String)>,
    metrics: Arc<IngestMetrics>,
) {
    let client = match crate::lag::client(&kafka) {
        Ok(client) => client,
        Err(err) => {
            metrics.measured(Err(err.to_string()));
            return;
        }
    };
    let mut stalls = crate::lag::Stalls::default();
    loop {
        let measured = crate::lag::measure(&lake, &tables, &client, &streams, LAG_INTERVAL).await;
        match &measured {
            Ok(lags) => {
                let read_here = metrics.assigned.lock().unwrap_or_else(|e| e.into_inner()).clone();
                for stalled in stalls.observe(lags, &read_here, Instant::now()) {
                    tracing::warn!(topic = %stalled.topic, partition = stalled.partition, lag = stalled.lag(), "this partition has lag, no process here reads it and its table has not moved for a minute: if no other ingest of the group runs, a crashed member may still hold it (tansu 0.6 never expires one); INGEST_ASSIGNMENT=all reads every partition without a group");
                }
            }
            Err(err) => tracing::debug!(error = %err, "measuring the lag failed; trying again"),
        }
        metrics.measured(measured.map_err(|err| err.to_string()));
        tokio::time::sleep(LAG_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_batch_gets_at_least_half_an_interval_however_long_the_commit() {
        let interval = Duration::from_secs(1);
        let start = Instant::now();
        // A quick commit: the interval counts from its start.
        let quick = next_batch_start(start, start + Duration::from_millis(100), interval);
        assert_eq!(quick, start);
        // A commit as long as the interval: the next batch still consumes for half of one.
        let slow_end = start + Duration::from_millis(1200);
        let slow = next_batch_start(start, slow_end, interval);
        assert_eq!(slow, slow_end - Duration::from_millis(500));
    }

    #[test]
    fn an_outage_backs_off_from_one_second_to_thirty() {
        let mut outage = Outage::default();
        let waits: Vec<u64> = (0..8).map(|_| outage.next().1.as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30, 30]);
        outage.last = Instant::now().checked_sub(Duration::from_secs(61));
        assert_eq!(outage.next(), (1, Duration::from_secs(1)), "a new outage starts over");
    }

    #[test]
    fn the_fetch_wait_is_a_tenth_of_the_commit_interval_within_librdkafkas_default() {
        assert_eq!(fetch_wait(Duration::from_secs(1)), Duration::from_millis(100));
        assert_eq!(fetch_wait(Duration::from_secs(10)), Duration::from_millis(500));
        assert_eq!(fetch_wait(Duration::from_millis(20)), Duration::from_millis(10));
    }
}
