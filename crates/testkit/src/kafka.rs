use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

/// A record read back from the broker.
#[derive(Debug, Clone)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

impl Record {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// Produces raw records (any bytes, no key or a key) to one partition, and waits for delivery.
pub fn produce(bootstrap: &str, topic: &str, partition: i32, records: &[(Option<&[u8]>, &[u8])]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .create()
        .expect("creating a test producer");
    for (key, value) in records {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(*value).partition(partition);
        if let Some(key) = key {
            record = record.key(*key);
        }
        producer.send(record).map_err(|(e, _)| e).expect("queueing a test record");
    }
    producer.flush(Duration::from_secs(30)).expect("delivering the test records");
}

/// Reads `topics` from the beginning with a consumer group of its own until `expected` records
/// arrived, or nothing new came for `idle` (then returns what it has, for the test to judge).
pub fn consume(bootstrap: &str, topics: &[&str], expected: usize, idle: Duration) -> Vec<Record> {
    let group = format!("testkit-{}-{}", std::process::id(), Instant::now().elapsed().as_nanos());
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", &group)
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("creating a test consumer");
    consumer.subscribe(topics).expect("subscribing the test consumer");

    let mut records = Vec::with_capacity(expected.min(1 << 16));
    let mut last_progress = Instant::now();
    while records.len() < expected && last_progress.elapsed() < idle {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(message)) => {
                records.push(Record {
                    topic: message.topic().to_owned(),
                    partition: message.partition(),
                    offset: message.offset(),
                    key: message.key().map(<[u8]>::to_vec),
                    value: message.payload().unwrap_or_default().to_vec(),
                    headers: message
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    let v =
                                        h.value.map(String::from_utf8_lossy).unwrap_or_default();
                                    (h.key.to_owned(), v.into_owned())
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                });
                last_progress = Instant::now();
            }
            Some(Err(err)) => panic!("test consumer error: {err}"),
            None => {}
        }
    }
    records
}

/// How many records `topic` holds (high minus low watermark, over its partitions).
pub fn records_on_broker(bootstrap: &str, topic: &str) -> usize {
    let client: BaseConsumer =
        ClientConfig::new().set("bootstrap.servers", bootstrap).create().unwrap();
    let timeout = Duration::from_secs(10);
    let metadata = client.fetch_metadata(Some(topic), timeout).unwrap();
    metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| {
            let (low, high) = client.fetch_watermarks(topic, p.id(), timeout).unwrap();
            (high - low) as usize
        })
        .sum()
}
