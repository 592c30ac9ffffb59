/// Errors of the generator; each says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{name} must be between 0 and 1, got {value}")]
    InvalidRate { name: &'static str, value: f64 },

    #[error("{0}")]
    InvalidBackfill(String),

    #[error(transparent)]
    Kafka(#[from] bidlake_kafka::Error),

    #[error("creating the Kafka producer: {0}")]
    Producer(#[source] rdkafka::error::KafkaError),

    #[error("producing to topic {topic}: {source}")]
    Produce {
        topic: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },

    #[error(
        "{failed} of {produced} events were not delivered to Kafka (last error: {last_error}); \
         check the broker's logs and the producer settings"
    )]
    Undelivered { failed: u64, produced: u64, last_error: String },

    #[error(
        "{0} events were still waiting for the broker when the flush timed out; they may be lost"
    )]
    FlushTimeout(u64),

    #[error("writing events to standard output: {0}")]
    Stdout(#[source] std::io::Error),

    #[error("the generator task failed: {0}")]
    Task(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
