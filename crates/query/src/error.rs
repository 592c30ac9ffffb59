use datafusion::error::DataFusionError;

/// Errors of `bidlake query`; SQL errors carry DataFusion's message, with the line and column
/// where the parser has them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] bidlake_lake::Error),

    /// The statement is wrong: unknown table or column, a syntax error, a type mismatch.
    #[error("{0}")]
    Sql(String),

    #[error("{context}: {source}")]
    DataFusion {
        context: String,
        #[source]
        source: Box<DataFusionError>,
    },

    #[error(
        "no table has snapshot {0}; `bidlake query --snapshots TABLE` lists a table's snapshots"
    )]
    NoSuchSnapshot(i64),

    #[error("writing the result: {0}")]
    Output(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn datafusion(context: String, source: DataFusionError) -> Self {
        Self::DataFusion { context, source: Box::new(source) }
    }

    /// A failed statement, worded for the person who typed it.
    pub(crate) fn from_sql(err: DataFusionError) -> Self {
        let err = err.find_root().to_string();
        // DataFusion prefixes its messages with the error's kind; keep the useful part.
        let text = err
            .strip_prefix("Error during planning: ")
            .or_else(|| err.strip_prefix("SQL error: "))
            .or_else(|| err.strip_prefix("Schema error: "))
            .unwrap_or(&err);
        Self::Sql(text.trim().to_owned())
    }
}
