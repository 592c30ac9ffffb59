//! Real components for tests. No mocks: a test that needs Kafka gets a real Kafka-protocol broker
//! (tansu, a separate process with SQLite storage) on 127.0.0.1 and a free port, stopped when the
//! test ends.
//!
//! Helpers panic with a message naming what to fix: they only run inside tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker;
mod kafka;

pub use broker::{Broker, free_port, tansu_binary};
pub use kafka::{Record, consume, produce};
