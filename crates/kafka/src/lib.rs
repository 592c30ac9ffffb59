//! Kafka plumbing shared by every bidlake process that talks to a broker.
//!
//! - [`KafkaArgs`]: the connection settings of the configuration contract (`KAFKA_BOOTSTRAP_SERVERS`,
//!   passthrough librdkafka properties for TLS/SASL and tuning), as flags and environment variables.
//! - [`TopicArgs`]: the names of the four event topics and their dead-letter topics.
//! - [`wait_for_broker`]: retry with backoff until the cluster answers, or a clear error.
//! - [`ensure_topics`]: create the topics that are missing, leave existing ones alone.
//! - [`embedded`]: the tansu broker that `bidlake up` and the tests run on 127.0.0.1.

mod admin;
mod config;
pub mod embedded;
mod error;

pub use admin::{BrokerProbe, TopicSpec, ensure_topics, wait_for_broker};
pub use config::{KafkaArgs, TopicArgs};
pub use error::{Error, Result};
