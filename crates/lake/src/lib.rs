//! The lake side of bidlake: where the Iceberg catalog and the warehouse are (configuration
//! contract of DESIGN §1), the tables bidlake writes (data contract of DESIGN §2), and `setup`,
//! which creates them.

pub mod bucket;
mod catalog;
pub mod commit;
mod error;
pub mod pinned;
mod settings;
pub mod setup;
pub mod tables;

pub use catalog::{Lake, open_lake};
pub use error::{Error, IcebergContext, Result};
pub use settings::{CatalogKind, LakeArgs, LakeConfig, Secret, Storage};
