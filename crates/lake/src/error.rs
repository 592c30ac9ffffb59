/// Errors of the lake side; each names what the user has to check or change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid lake setting: {0}")]
    Config(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("opening the {kind} catalog at {uri}: {source}; check CATALOG_URI (--catalog-uri)")]
    OpenCatalog {
        kind: &'static str,
        uri: String,
        #[source]
        source: Box<iceberg::Error>,
    },

    #[error("table {table} is missing; run `bidlake setup` first (catalog {catalog}, CATALOG_URI)")]
    MissingTable { table: String, catalog: String },

    #[error(
        "table {table} exists with a different schema or partitioning than bidlake writes:\n{differences}"
    )]
    SchemaMismatch { table: String, differences: String },

    #[error("creating bucket {bucket} at {endpoint}: {reason}")]
    Bucket { bucket: String, endpoint: String, reason: String },

    #[error("{context}: {source}; check CATALOG_URI and that the catalog is reachable")]
    Catalog {
        context: String,
        #[source]
        source: sqlx::Error,
    },

    #[error(
        "committing {table} through the REST catalog {uri}: {reason}; check CATALOG_URI, CATALOG_TOKEN or CATALOG_CREDENTIAL"
    )]
    RestCommit { table: String, uri: String, reason: String },

    #[error(transparent)]
    TableDefinition(#[from] bidlake_tables::Error),

    #[error("{context}: {source}")]
    Iceberg {
        context: String,
        #[source]
        source: Box<iceberg::Error>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what bidlake was doing to an error of the iceberg crate.
pub trait IcebergContext<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IcebergContext<T> for Result<T, iceberg::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Iceberg { context: context(), source: Box::new(source) })
    }
}

/// An error and its sources in one line, without repeating a source its message already has.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
