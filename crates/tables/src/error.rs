/// Errors of the table definitions: a definition iceberg refuses is a bug in bidlake.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("building the {what} of table {table}: {source}")]
    Spec {
        table: &'static str,
        what: &'static str,
        #[source]
        source: Box<iceberg::Error>,
    },

    #[error(
        "reading the exchange rates file {path}: {source}; check EXCHANGE_RATES (--exchange-rates)"
    )]
    ExchangeRatesFile {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error("exchange rates in {file}: {reason}; check EXCHANGE_RATES (--exchange-rates)")]
    ExchangeRates { file: String, reason: String },
}

impl Error {
    pub(crate) fn spec(table: &'static str, what: &'static str, source: iceberg::Error) -> Self {
        Error::Spec { table, what, source: Box::new(source) }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
