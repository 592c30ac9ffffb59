use std::time::Duration;

use rdkafka::error::KafkaError;

/// Errors of the Kafka plumbing; each names what the user has to check or change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "could not reach the Kafka broker(s) at {bootstrap} within {waited:?}: {source}; \
         check that the broker runs and that KAFKA_BOOTSTRAP_SERVERS (--bootstrap-servers) points at it"
    )]
    Unreachable {
        bootstrap: String,
        waited: Duration,
        #[source]
        source: KafkaError,
    },

    #[error("embedded broker: {0}")]
    Embedded(String),

    #[error("invalid Kafka client setting: {0}")]
    Config(String),

    #[error("creating Kafka client for {bootstrap}: {source}")]
    Client {
        bootstrap: String,
        #[source]
        source: KafkaError,
    },

    #[error("a Kafka client task failed: {0}")]
    Task(String),

    #[error("creating topic {topic}: {reason}")]
    CreateTopic { topic: String, reason: String },

    #[error("{context}: {source}")]
    Kafka {
        context: String,
        #[source]
        source: KafkaError,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
