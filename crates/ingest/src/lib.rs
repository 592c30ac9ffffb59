//! The ingest job (DESIGN §3): consume → decode → flatten → write → commit. What each table's
//! rows are (decode and flatten) is in the `bidlake-tables` crate, one module per table.

mod config;
pub mod dlq;
mod error;
pub mod exactly_once;
mod job;
pub mod lag;
pub mod metrics;
pub mod sink;

/// The offsets format is a table contract; it lives with the lake.
pub use bidlake_lake::progress;
pub use config::{Assignment, IngestArgs, IngestSettings};
pub use error::{Error, Result};
pub use job::Job;
