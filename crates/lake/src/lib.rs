//! The lake side of bidlake: where the Iceberg catalog and the warehouse are (configuration
//! contract of DESIGN §1), and `setup`, which creates the tables bidlake writes (each table's
//! definition is in the `bidlake-tables` crate).

pub mod bucket;
mod catalog;
pub mod commit;
mod error;
pub mod metadata_files;
pub mod pinned;
pub mod progress;
mod settings;
pub mod setup;
pub mod storage;

pub use catalog::{KeptTables, Lake, open_lake};

use std::time::Duration;

/// The shortest orphan retention `maintain` accepts: a writer's files exist before its commit
/// references them (ingest writes for up to a commit interval, a compaction for as long as its
/// rewrite takes), so a young unreferenced file is most likely in flight, not an orphan.
pub const MIN_ORPHAN_AGE: Duration = Duration::from_secs(3600);

/// The oldest files (by wall clock) a writer still commits. A writer stopped for longer (SIGSTOP,
/// a suspended laptop) may find its files deleted as orphans; it drops them and writes again
/// instead. Half of `MIN_ORPHAN_AGE`, leaving the commit in flight a margin.
pub const MAX_UNCOMMITTED_AGE: Duration = Duration::from_secs(1800);
pub use error::error_chain;
pub use error::{Error, IcebergContext, Result};
pub use settings::{CatalogKind, LakeArgs, LakeConfig, Secret, Storage};
