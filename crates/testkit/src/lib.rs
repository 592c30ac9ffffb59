//! Real components for tests. No mocks: a test that needs Kafka gets a real Kafka-protocol broker
//! (tansu, a separate process with SQLite storage) on 127.0.0.1 and a free port, stopped when the
//! test ends; S3 is a `moto_server`; PyIceberg and DuckDB read what we write.
//!
//! Helpers panic with a message naming what to fix: they only run inside tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod broker;
mod catalog;
mod cli;
mod kafka;
mod lake;
mod python;
mod web;

pub use broker::{Broker, free_port, tansu_binary};
pub use catalog::CatalogServer;
pub use cli::{Running, bidlake_command, bidlake_lake_command, run_ok};
pub use kafka::{Record, consume, produce, records_on_broker};
pub use lake::{assert_each_once, column_sum, scan, scan_lake, sources};
pub use python::{
    S3_ACCESS_KEY, S3_SECRET_KEY, S3Server, Seen, python_venv, read_with_python, repo_root,
    run_python,
};
pub use web::{http_get, render_dom, screenshot};
