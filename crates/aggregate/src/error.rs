/// Errors of `bidlake aggregate`; each names the table and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Lake(#[from] bidlake_lake::Error),

    #[error(transparent)]
    Maintain(#[from] bidlake_maintain::Error),

    #[error(transparent)]
    TableDefinition(#[from] bidlake_tables::Error),

    #[error("computing {table}: {source}")]
    Query {
        table: &'static str,
        #[source]
        source: bidlake_query::Error,
    },

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

    #[error(
        "the memory of recent events has more than 4,294,967,295 distinct countries, publishers and bidders; it is loaded again"
    )]
    TooManyNames,

    #[error("invalid aggregate setting: {0}")]
    Config(String),
}

impl Error {
    pub(crate) fn iceberg(context: impl Into<String>, source: iceberg::Error) -> Self {
        Error::Iceberg { context: context.into(), source: Box::new(source) }
    }
}

impl Error {
    /// What waiting cannot fix: a missing table or one with another schema (run `bidlake
    /// setup`), a bad setting.
    pub fn is_for_a_person(&self) -> bool {
        matches!(
            self,
            Error::Config(_)
                | Error::TableDefinition(_)
                | Error::Lake(
                    bidlake_lake::Error::MissingTable { .. }
                        | bidlake_lake::Error::SchemaMismatch { .. }
                        | bidlake_lake::Error::Config(_)
                )
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
