//! bidlake's event generator: realistic OpenRTB 2.6 bid requests and the funnel that follows
//! them (bid responses, impressions, clicks), deterministic for a seed, written as JSON in the
//! original platform's wire format and produced to Kafka, or printed as NDJSON.
//!
//! The data path: [`Generator`] writes each event straight into a reused buffer
//! (`request`, `funnel`, over the tables of `catalog`), and [`produce`] hands it to librdkafka
//! at the configured rate, counting what the broker acknowledges.

mod catalog;
mod clock;
mod config;
mod error;
mod funnel;
mod generator;
mod json;
mod request;
mod rng;
mod run;

pub use clock::{Micros, TimestampFormatter, format_timestamp, now_micros};
pub use config::{GenArgs, ProducerArgs};
pub use error::{Error, Result};
pub use funnel::FunnelRates;
pub use generator::{Event, Generator, Topic};
pub use request::TrafficShares;
pub use run::{GenMetrics, Summary, produce, produce_with_metrics, seed_or_random, write_ndjson};
