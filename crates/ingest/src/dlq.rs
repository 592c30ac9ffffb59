//! The dead-letter path: every record that cannot become a row goes, byte for byte, to
//! `<topic>-dlq` with headers naming the reason and the source. Dead letters are delivered
//! before the commit that covers their offsets; after a crash, the letters written but not
//! committed are found again by scanning the DLQ partition, so none is written twice.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::time::Duration;

use bidlake_kafka::KafkaArgs;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, future_producer::DeliveryFuture};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::{Error, Result};
use bidlake_tables::Reject;

pub const HEADER_ERROR: &str = "error";
pub const HEADER_TOPIC: &str = "source.topic";
pub const HEADER_PARTITION: &str = "source.partition";
pub const HEADER_OFFSET: &str = "source.offset";

pub const HEADER_VALUE_DROPPED: &str = "value.dropped";

/// A dead letter: the record's key and value and where it came from.
struct Letter {
    dlq_topic: String,
    dlq_partition: i32,
    source_topic: String,
    source_partition: i32,
    source_offset: i64,
    reason: String,
    key: Option<Vec<u8>>,
    /// The value's size, kept to say what was dropped when the value cannot be delivered.
    value_len: usize,
}

impl Letter {
    /// The letter's headers; `dropped` when it goes without its value.
    fn headers(&self, dropped: bool) -> OwnedHeaders {
        let p = self.source_partition.to_string();
        let o = self.source_offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header { key: HEADER_ERROR, value: Some(self.reason.as_str()) })
            .insert(Header { key: HEADER_TOPIC, value: Some(self.source_topic.as_str()) })
            .insert(Header { key: HEADER_PARTITION, value: Some(p.as_str()) })
            .insert(Header { key: HEADER_OFFSET, value: Some(o.as_str()) });
        if !dropped {
            return headers;
        }
        let why = format!(
            "{} bytes, more than the dead-letter topic takes; the record is at {}/{} offset {} \
             until the topic's retention removes it",
            self.value_len, self.source_topic, self.source_partition, self.source_offset
        );
        headers.insert(Header { key: HEADER_VALUE_DROPPED, value: Some(why.as_str()) })
    }
}

/// A dead letter in flight.
struct Pending {
    letter: Letter,
    delivery: DeliveryFuture,
}

#[allow(missing_debug_implementations)] // the producer has no Debug
pub struct DeadLetters {
    /// How to create the producer.
    config: ClientConfig,
    /// Created for the first letter: rdkafka's producer runs a polling thread that spins for
    /// the last millisecond of every 100 ms poll (its timeout is rounded down to whole
    /// milliseconds; docs/benchmarks.md), which an ingest without dead letters need not pay.
    producer: Option<FutureProducer>,
    /// Partition count of each DLQ topic.
    partitions: HashMap<String, i32>,
    /// In flight, oldest first.
    pending: VecDeque<Pending>,
    /// Per (source topic, source partition), the DLQ offset after its last delivered letter.
    delivered: BTreeMap<(String, i32), i64>,
    /// Letters the broker refused as too large, to send again without their value.
    refused: Vec<Letter>,
}

/// The DLQ partition that holds the dead letters of a source partition.
pub fn dlq_partition(source_partition: i32, dlq_partitions: i32) -> i32 {
    source_partition.rem_euclid(dlq_partitions.max(1))
}

fn too_large(err: &KafkaError) -> bool {
    matches!(
        err,
        KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
            | KafkaError::MessageProduction(RDKafkaErrorCode::InvalidMessageSize)
    )
}

impl DeadLetters {
    pub fn new(kafka: &KafkaArgs, partitions: HashMap<String, i32>) -> Self {
        let config = kafka.client_config_with(&[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("compression.type", "lz4"),
            ("linger.ms", "5"),
        ]);
        Self {
            config,
            producer: None,
            partitions,
            pending: VecDeque::new(),
            delivered: BTreeMap::new(),
            refused: Vec::new(),
        }
    }

    /// The producer, created on first use.
    fn producer(&mut self) -> Result<&FutureProducer> {
        let producer = match self.producer.take() {
            Some(producer) => producer,
            None => self.config.create().map_err(|source| Error::Consumer {
                context: format!(
                    "creating the dead-letter producer for {}",
                    self.config.get("bootstrap.servers").unwrap_or("?")
                ),
                source,
            })?,
        };
        Ok(self.producer.insert(producer))
    }

    /// Sends a dead letter; returns once librdkafka has queued it. A value too large for the
    /// producer or the broker goes without its value, and a header saying so: one record must
    /// never stop its partition.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &mut self,
        dlq_topic: &str,
        source_topic: &str,
        source_partition: i32,
        source_offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        reject: &Reject,
    ) -> Result<()> {
        let letter = Letter {
            dlq_topic: dlq_topic.to_owned(),
            dlq_partition: dlq_partition(
                source_partition,
                self.partitions.get(dlq_topic).copied().unwrap_or(1),
            ),
            source_topic: source_topic.to_owned(),
            source_partition,
            source_offset,
            reason: reject.to_string(),
            key: key.map(<[u8]>::to_vec),
            value_len: value.map_or(0, <[u8]>::len),
        };
        self.enqueue(letter, value).await
    }

    /// Queues `letter` with `value` (`None`: no value, a tombstone or a dropped value).
    async fn enqueue(&mut self, letter: Letter, value: Option<&[u8]>) -> Result<()> {
        let mut value = value;
        loop {
            let dropped = value.is_none() && letter.value_len > 0;
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(&letter.dlq_topic)
                .partition(letter.dlq_partition)
                .headers(letter.headers(dropped));
            if let Some(value) = value {
                record = record.payload(value);
            }
            if let Some(key) = &letter.key {
                record = record.key(key.as_slice());
            }
            match self.producer()?.send_result(record) {
                Ok(delivery) => {
                    self.pending.push_back(Pending { letter, delivery });
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // Back-pressure: wait for what is in flight.
                    if !self.settle_oldest().await? {
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                    }
                }
                Err((err, _)) if too_large(&err) && value.is_some() => {
                    tracing::warn!(topic = %letter.source_topic, partition = letter.source_partition, offset = letter.source_offset, bytes = letter.value_len, "a rejected record is too large for its dead-letter topic; its letter goes without the value");
                    value = None;
                }
                Err((err, _)) => {
                    return Err(Error::DeadLetter {
                        topic: letter.dlq_topic.clone(),
                        reason: err.to_string(),
                    });
                }
            }
        }
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Waits until every dead letter is on the broker. Returns, per (source topic, source
    /// partition), the DLQ offset after its last letter delivered since the last flush.
    pub async fn flush(&mut self) -> Result<BTreeMap<(String, i32), i64>> {
        loop {
            while self.settle_oldest().await? {}
            if self.refused.is_empty() {
                return Ok(std::mem::take(&mut self.delivered));
            }
            for letter in std::mem::take(&mut self.refused) {
                self.enqueue(letter, None).await?;
            }
        }
    }

    /// Awaits the oldest letter in flight; false when none is. A letter the broker refused as
    /// too large is kept to be sent again without its value.
    async fn settle_oldest(&mut self) -> Result<bool> {
        let Some(pending) = self.pending.pop_front() else { return Ok(false) };
        let letter = pending.letter;
        let result = pending.delivery.await.map_err(|_| Error::DeadLetter {
            topic: letter.dlq_topic.clone(),
            reason: "the producer went away before delivery".into(),
        })?;
        match result {
            Ok(delivery) => {
                let mark = self
                    .delivered
                    .entry((letter.source_topic, letter.source_partition))
                    .or_insert(0);
                *mark = (*mark).max(delivery.offset + 1);
            }
            Err((err, message)) if too_large(&err) && message.payload().is_some() => {
                tracing::warn!(topic = %letter.source_topic, partition = letter.source_partition, offset = letter.source_offset, bytes = letter.value_len, "the broker refused a dead letter as too large; sending it without the value");
                self.refused.push(letter);
            }
            Err((err, _)) => {
                return Err(Error::DeadLetter { topic: letter.dlq_topic, reason: err.to_string() });
            }
        }
        Ok(true)
    }
}

/// Dead letters of one source partition already on the DLQ from `from` on (the letters a
/// crashed or fenced run wrote without committing).
#[derive(Debug, Default)]
pub struct Scan {
    /// Source offsets that already have a dead letter.
    pub offsets: HashSet<i64>,
    /// The DLQ partition's end when scanned.
    pub end: i64,
}

/// Reads DLQ partition `dlq_partition(source_partition)` from `from` (its start when `None`) to
/// its current end and collects the source offsets of `source_topic`/`source_partition`.
/// Blocking: run it on a blocking thread.
pub fn scan(
    kafka: &KafkaArgs,
    dlq_topic: &str,
    dlq_partitions: i32,
    source_topic: &str,
    source_partition: i32,
    from: Option<i64>,
) -> Result<Scan> {
    let partition = dlq_partition(source_partition, dlq_partitions);
    let consumer: BaseConsumer = kafka
        .client_config_with(&[
            ("group.id", "bidlake-dlq-scan"),
            ("enable.auto.commit", "false"),
            ("enable.partition.eof", "false"),
        ])
        .create()
        .map_err(|source| Error::Consumer { context: "creating the DLQ scanner".into(), source })?;
    let timeout = Duration::from_secs(10);
    let (low, high) =
        consumer.fetch_watermarks(dlq_topic, partition, timeout).map_err(|source| {
            Error::Consumer {
                context: format!("reading the offsets of {dlq_topic}/{partition}"),
                source,
            }
        })?;
    let start = from.unwrap_or(low).max(low);
    let mut result = Scan { offsets: HashSet::new(), end: high };
    if start >= high {
        return Ok(result);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(dlq_topic, partition, Offset::Offset(start)).map_err(|source| {
        Error::Consumer { context: format!("seeking {dlq_topic}/{partition}"), source }
    })?;
    consumer.assign(&tpl).map_err(|source| Error::Consumer {
        context: format!("reading {dlq_topic}/{partition}"),
        source,
    })?;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let mut next = start;
    while next < high {
        if std::time::Instant::now() > deadline {
            return Err(Error::DeadLetter {
                topic: dlq_topic.to_owned(),
                reason: format!(
                    "scanning partition {partition} from {start} to {high} did not finish in 120 s"
                ),
            });
        }
        let Some(message) = consumer.poll(Duration::from_millis(500)) else { continue };
        let message = message.map_err(|source| Error::Consumer {
            context: format!("reading {dlq_topic}/{partition}"),
            source,
        })?;
        next = message.offset() + 1;
        let Some(headers) = message.headers() else { continue };
        let (mut topic, mut part, mut offset) = (None, None, None);
        for header in headers.iter() {
            let value = header.value.and_then(|v| std::str::from_utf8(v).ok());
            match header.key {
                HEADER_TOPIC => topic = value,
                HEADER_PARTITION => part = value.and_then(|v| v.parse::<i32>().ok()),
                HEADER_OFFSET => offset = value.and_then(|v| v.parse::<i64>().ok()),
                _ => {}
            }
        }
        if topic == Some(source_topic)
            && part == Some(source_partition)
            && let Some(offset) = offset
        {
            result.offsets.insert(offset);
        }
    }
    Ok(result)
}
