/// Errors of `bidlake maintain`; each names what failed and, where a user can fix it, what to
/// change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] bidlake_lake::Error),

    #[error("invalid maintenance setting: {0}")]
    Config(String),

    #[error("unknown table {table} in namespace {namespace}; the catalog has: {available}")]
    UnknownTable { table: String, namespace: String, available: String },

    #[error("{context}: {source}")]
    Iceberg {
        context: String,
        #[source]
        source: Box<iceberg::Error>,
    },

    #[error("{context}: {source}")]
    Arrow {
        context: String,
        #[source]
        source: arrow_schema::ArrowError,
    },

    #[error("{context}: {source}")]
    Storage {
        context: String,
        #[source]
        source: opendal::Error,
    },
}

impl Error {
    pub fn iceberg(context: impl Into<String>, source: iceberg::Error) -> Self {
        Error::Iceberg { context: context.into(), source: Box::new(source) }
    }

    pub fn arrow(context: impl Into<String>, source: arrow_schema::ArrowError) -> Self {
        Error::Arrow { context: context.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Adds what maintenance was doing to an error of the iceberg crate.
pub(crate) trait Context<T> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, iceberg::Error> {
    fn context(self, context: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::iceberg(context(), source))
    }
}
