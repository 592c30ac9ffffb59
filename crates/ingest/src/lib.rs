//! The ingest job (DESIGN §3): consume → decode → flatten → write → commit.

pub mod columns;
mod config;
pub mod decode;
pub mod dlq;
mod error;
mod job;
pub mod metrics;
pub mod progress;
pub mod sink;
pub mod timestamp;

pub use config::{IngestArgs, IngestSettings};
pub use error::{Error, Result};
pub use job::Job;
