//! Running the generator: to standard output as NDJSON, or to Kafka with delivery accounting.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bidlake_kafka::{KafkaArgs, TopicSpec};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Message};

use crate::clock::{Micros, now_micros};
use crate::generator::{Event, Generator, Topic};
use crate::{Error, GenArgs, Result};

/// What a run generated, per topic, and what the broker acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub seed: u64,
    pub bid_requests: u64,
    pub bid_responses: u64,
    pub impressions: u64,
    pub clicks: u64,
    /// Acknowledged by the broker (Kafka runs only).
    pub delivered: u64,
    pub failed: u64,
}

impl Summary {
    pub fn events(&self) -> u64 {
        self.bid_requests + self.bid_responses + self.impressions + self.clicks
    }

    fn count(&mut self, topic: Topic) {
        match topic {
            Topic::BidRequests => self.bid_requests += 1,
            Topic::BidResponses => self.bid_responses += 1,
            Topic::Impressions => self.impressions += 1,
            Topic::Clicks => self.clicks += 1,
        }
    }
}

/// What a running generator has done, live: the dashboard and `status` read it.
#[derive(Debug, Default)]
pub struct GenMetrics {
    /// Events handed to the producer, by `Topic as usize`.
    pub produced: [AtomicU64; 4],
    /// Acknowledged by the broker.
    pub delivered: AtomicU64,
    pub failed: AtomicU64,
    pub last_error: Mutex<Option<String>>,
}

impl GenMetrics {
    pub fn produced(&self, topic: Topic) -> u64 {
        self.produced[topic as usize].load(Ordering::Relaxed)
    }
}

/// The seed of a run: the user's, or one picked from the clock (and logged, to repeat the run).
pub fn seed_or_random(seed: Option<u64>) -> u64 {
    seed.unwrap_or_else(|| {
        let seed = now_micros() as u64 ^ (u64::from(std::process::id()) << 32);
        tracing::info!(seed, "no --seed given; pass --seed {seed} to repeat this run");
        seed
    })
}

/// Writes bid requests to `out`, one JSON object per line, until the count, the duration or
/// `stop`. A closed pipe (`| head`) ends the run quietly.
pub fn write_ndjson(args: &GenArgs, stop: &AtomicBool, out: impl Write) -> Result<Summary> {
    // Checked here too, so a bad setting is reported whichever way the generator runs.
    args.funnel_rates()?;
    let traffic = args.traffic()?;
    let seed = seed_or_random(args.seed);
    let mut generator = Generator::new(seed, None).with_traffic(traffic);
    let mut event = Event::default();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut pace = Pace::new(args)?;
    let mut summary = Summary { seed, ..Summary::default() };
    while let Some(at) = pace.next_request(summary.bid_requests, stop) {
        generator.next_request(at, &mut event);
        event.value.push(b'\n');
        match out.write_all(&event.value) {
            Ok(()) => summary.count(Topic::BidRequests),
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(summary),
            Err(err) => return Err(Error::Stdout(err)),
        }
    }
    match out.flush() {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Stdout(err)),
        _ => Ok(summary),
    }
}

/// Produces bid requests and their funnel to Kafka until the count, the duration or `stop`,
/// then produces the funnel events still pending and waits until the broker has acknowledged
/// everything. Fails if any event was not delivered.
pub async fn produce(args: &GenArgs, kafka: &KafkaArgs, stop: Arc<AtomicBool>) -> Result<Summary> {
    produce_with_metrics(args, kafka, stop, Arc::default()).await
}

/// [`produce`], counting into `metrics` as it goes.
pub async fn produce_with_metrics(
    args: &GenArgs,
    kafka: &KafkaArgs,
    stop: Arc<AtomicBool>,
    metrics: Arc<GenMetrics>,
) -> Result<Summary> {
    let rates = args.funnel_rates()?;
    let specs: Vec<TopicSpec> =
        args.topics.event_topics().iter().map(|name| TopicSpec::of(*name, &args.topics)).collect();
    let created = bidlake_kafka::ensure_topics(kafka, &specs).await?;
    if !created.is_empty() {
        tracing::info!(topics = ?created, "created missing topics");
    }
    let traffic = args.traffic()?;
    let pace = Pace::new(args)?;
    let producer: ThreadedProducer<Deliveries> = args
        .producer
        .client_config(kafka)
        .create_with_context(Deliveries(metrics))
        .map_err(Error::Producer)?;
    let args = args.clone();
    tokio::task::spawn_blocking(move || {
        let seed = seed_or_random(args.seed);
        let generator = Generator::new(seed, Some(rates)).with_traffic(traffic);
        produce_loop(&args, generator, pace, seed, &producer, &stop)
    })
    .await
    .map_err(|err| Error::Task(err.to_string()))?
}

fn produce_loop(
    args: &GenArgs,
    mut generator: Generator,
    mut pace: Pace,
    seed: u64,
    producer: &ThreadedProducer<Deliveries>,
    stop: &AtomicBool,
) -> Result<Summary> {
    let topic_names = args.topics.event_topics();
    let topic_name = |topic: Topic| topic_names[topic as usize];
    let mut event = Event::default();
    let mut summary = Summary { seed, ..Summary::default() };
    let mut progress = Progress::new();

    let send = |event: &Event, summary: &mut Summary| -> Result<()> {
        let topic = topic_name(event.topic);
        let mut record = BaseRecord::to(topic).key(event.key.as_bytes()).payload(&event.value);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                // librdkafka's queue is full: the broker is slower than us. Wait, never drop.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                    record = returned;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((source, _)) => return Err(Error::Produce { topic: topic.to_owned(), source }),
            }
        }
        summary.count(event.topic);
        producer.context().0.produced[event.topic as usize].fetch_add(1, Ordering::Relaxed);
        Ok(())
    };

    while let Some(now) = pace.next_request(summary.bid_requests, stop) {
        generator.next_request(now, &mut event);
        send(&event, &mut summary)?;
        while generator.next_due(now, &mut event) {
            send(&event, &mut summary)?;
        }
        progress.maybe_log(&summary, producer, &generator);
    }
    // The funnel of every request produced is produced too, so no impression lacks its request.
    while generator.next_due(Micros::MAX, &mut event) {
        send(&event, &mut summary)?;
    }

    tracing::info!(events = summary.events(), "flushing to the broker");
    if producer.flush(args.producer.flush_timeout).is_err() {
        return Err(Error::FlushTimeout(producer.in_flight_count().max(0) as u64));
    }
    let deliveries = &producer.context().0;
    summary.delivered = deliveries.delivered.load(Ordering::Relaxed);
    summary.failed = deliveries.failed.load(Ordering::Relaxed);
    progress.log_final(&summary);
    if summary.failed > 0 {
        let last_error =
            deliveries.last_error.lock().map(|e| e.clone().unwrap_or_default()).unwrap_or_default();
        return Err(Error::Undelivered {
            failed: summary.failed,
            produced: summary.events(),
            last_error,
        });
    }
    Ok(summary)
}

/// Counts the broker's acknowledgements; librdkafka calls it from its own thread.
#[derive(Debug)]
struct Deliveries(Arc<GenMetrics>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let metrics = &self.0;
        match result {
            Ok(_) => {
                metrics.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((err, message)) => {
                let failed = metrics.failed.fetch_add(1, Ordering::Relaxed) + 1;
                let reason = format!("{err} (topic {})", message.topic());
                // The first failure is worth a line of its own; the rest show in the progress line.
                if failed == 1 {
                    tracing::error!(%reason, "an event was not delivered");
                }
                if let Ok(mut last) = metrics.last_error.lock() {
                    *last = Some(reason);
                }
            }
        }
    }
}

/// When each bid request happens, and when a run is over: first the backfill's history (event
/// times spread over the past `--backfill-hours` at `--rate`, written as fast as the broker takes
/// them), then real time at `--rate`.
#[derive(Debug)]
struct Pace {
    history: Option<History>,
    /// Set when real time starts (at once without a backfill).
    live: Option<Live>,
    interval: Option<Duration>,
    count: Option<u64>,
    duration: Option<Duration>,
}

/// The backfill: request `i` of it happens at `start + i / rate`, until that is the present.
#[derive(Debug)]
struct History {
    start: Micros,
    rate: f64,
    next: u64,
}

#[derive(Debug)]
struct Live {
    start: Instant,
    /// Requests produced before real time started (the backfill's).
    before: u64,
    deadline: Option<Instant>,
}

impl Pace {
    fn new(args: &GenArgs) -> Result<Self> {
        let history = match args.backfill_hours {
            0.0 => None,
            hours if !(0.0..=BACKFILL_HOURS_MAX).contains(&hours) => {
                return Err(Error::InvalidBackfill(format!(
                    "BACKFILL_HOURS (--backfill-hours) is {hours}; it must be between 0 and {BACKFILL_HOURS_MAX}"
                )));
            }
            _ if args.rate == 0 => {
                return Err(Error::InvalidBackfill(
                    "BACKFILL_HOURS (--backfill-hours) needs a rate: the history has \
                     EVENTS_PER_SECOND (--rate) requests per second of event time; set it above 0"
                        .into(),
                ));
            }
            hours => Some(History {
                start: now_micros() - (hours * 3_600e6) as Micros,
                rate: args.rate as f64,
                next: 0,
            }),
        };
        let mut pace = Self {
            history,
            live: None,
            interval: (args.rate > 0).then(|| Duration::from_secs_f64(1.0 / args.rate as f64)),
            count: args.count,
            duration: args.duration,
        };
        if pace.history.is_none() {
            pace.start_live(0);
        } else {
            tracing::info!(hours = args.backfill_hours, rate = args.rate, "backfilling history");
        }
        Ok(pace)
    }

    fn start_live(&mut self, before: u64) {
        let start = Instant::now();
        let deadline = self.duration.map(|d| start + d);
        self.live = Some(Live { start, before, deadline });
    }

    /// The event time of the next request, once it is due; `None` when the run is over (the
    /// count, the duration or `stop`). `produced` is the number of requests so far.
    fn next_request(&mut self, produced: u64, stop: &AtomicBool) -> Option<Micros> {
        if stop.load(Ordering::Relaxed) || self.count.is_some_and(|count| produced >= count) {
            return None;
        }
        if let Some(history) = &mut self.history {
            let at = history.start + (history.next as f64 * 1e6 / history.rate) as Micros;
            if at < now_micros() {
                history.next += 1;
                return Some(at);
            }
            tracing::info!(requests = history.next, "backfill done; producing in real time");
            self.history = None;
            self.start_live(produced);
        }
        let live = self.live.as_ref()?;
        if live.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return None;
        }
        if let Some(interval) = self.interval {
            let due = live.start + interval.mul_f64((produced - live.before) as f64);
            loop {
                let now = Instant::now();
                if now >= due || stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(100)));
            }
            if stop.load(Ordering::Relaxed) {
                return None;
            }
        }
        Some(now_micros())
    }
}

/// A year of history at most: more is a typo, and would take days to write.
const BACKFILL_HOURS_MAX: f64 = 24.0 * 366.0;

/// A progress line every few seconds.
#[derive(Debug)]
struct Progress {
    started: Instant,
    last: Instant,
    last_requests: u64,
}

impl Progress {
    const EVERY: Duration = Duration::from_secs(5);

    fn new() -> Self {
        let now = Instant::now();
        Self { started: now, last: now, last_requests: 0 }
    }

    fn maybe_log(
        &mut self,
        summary: &Summary,
        producer: &ThreadedProducer<Deliveries>,
        generator: &Generator,
    ) {
        let elapsed = self.last.elapsed();
        if elapsed < Self::EVERY {
            return;
        }
        let rate = (summary.bid_requests - self.last_requests) as f64 / elapsed.as_secs_f64();
        let deliveries = &producer.context().0;
        tracing::info!(
            requests_per_sec = rate.round() as u64,
            bid_requests = summary.bid_requests,
            bid_responses = summary.bid_responses,
            impressions = summary.impressions,
            clicks = summary.clicks,
            delivered = deliveries.delivered.load(Ordering::Relaxed),
            failed = deliveries.failed.load(Ordering::Relaxed),
            in_flight = producer.in_flight_count(),
            funnel_pending = generator.pending(),
            "producing"
        );
        self.last = Instant::now();
        self.last_requests = summary.bid_requests;
    }

    fn log_final(&self, summary: &Summary) {
        let secs = self.started.elapsed().as_secs_f64();
        tracing::info!(
            seed = summary.seed,
            bid_requests = summary.bid_requests,
            bid_responses = summary.bid_responses,
            impressions = summary.impressions,
            clicks = summary.clicks,
            delivered = summary.delivered,
            failed = summary.failed,
            requests_per_sec = (summary.bid_requests as f64 / secs.max(1e-9)).round() as u64,
            "done"
        );
    }
}
