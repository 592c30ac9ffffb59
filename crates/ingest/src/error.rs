use rdkafka::error::KafkaError;

/// Errors of the ingest job; each names what failed and, where it can, what to change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(#[from] bidlake_kafka::Error),

    #[error(transparent)]
    Lake(#[from] bidlake_lake::Error),

    #[error(transparent)]
    TableDefinition(#[from] bidlake_tables::Error),

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
    Consumer {
        context: String,
        #[source]
        source: KafkaError,
    },

    #[error(
        "writing to the dead-letter topic {topic}: {reason}; nothing was committed, the records will be read again"
    )]
    DeadLetter { topic: String, reason: String },

    #[error("invalid ingest setting: {0}")]
    Config(String),

    #[error(
        "ingest stopped for a table another writer changed: {0}; undo the change (or drop the table and run `bidlake setup`), then start ingest again: its records are still on the broker"
    )]
    Halted(String),

    #[error("a background task failed: {0}")]
    Task(String),
}

impl Error {
    /// Whether waiting and trying again can help: an outage of the broker, the catalog or the
    /// storage. What a person must fix (a setting, a missing or incompatible table, bad
    /// credentials the catalog names) is not.
    pub fn is_transient(&self) -> bool {
        if refused_credentials(&self.to_string()) {
            return false;
        }
        match self {
            Error::Config(_)
            | Error::Halted(_)
            | Error::Arrow { .. }
            | Error::TableDefinition(_) => false,
            Error::Lake(lake) => !matches!(
                lake,
                bidlake_lake::Error::Config(_)
                    | bidlake_lake::Error::MissingTable { .. }
                    | bidlake_lake::Error::SchemaMismatch { .. }
                    | bidlake_lake::Error::OpenCatalog { .. }
                    | bidlake_lake::Error::TableDefinition(_)
            ),
            Error::Kafka(kafka) => !matches!(kafka, bidlake_kafka::Error::Config(_)),
            Error::Iceberg { source, .. } => !matches!(
                source.kind(),
                iceberg::ErrorKind::TableNotFound
                    | iceberg::ErrorKind::NamespaceNotFound
                    | iceberg::ErrorKind::FeatureUnsupported
                    | iceberg::ErrorKind::DataInvalid
                    | iceberg::ErrorKind::PreconditionFailed
            ),
            Error::Consumer { .. } | Error::DeadLetter { .. } | Error::Task(_) => true,
        }
    }

    pub fn iceberg(context: impl Into<String>, source: iceberg::Error) -> Self {
        Error::Iceberg { context: context.into(), source: Box::new(source) }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether an error says the catalog or the storage refused our credentials (HTTP 401/403, as
/// the REST client and the S3 layer report them): waiting does not fix that.
fn refused_credentials(message: &str) -> bool {
    ["401 Unauthorized", "403 Forbidden", "PermissionDenied"].iter().any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outages_are_waited_out_and_what_a_person_must_fix_is_not() {
        let outage = Error::DeadLetter {
            topic: "t-dlq".into(),
            reason: "Local: Broker transport failure".into(),
        };
        assert!(outage.is_transient());
        let locked = Error::iceberg(
            "committing to bid_requests",
            iceberg::Error::new(iceberg::ErrorKind::Unexpected, "database is locked"),
        );
        assert!(locked.is_transient());
        let refused = Error::iceberg(
            "committing to bid_requests",
            iceberg::Error::new(
                iceberg::ErrorKind::Unexpected,
                "Received response with unexpected status code",
            )
            .with_context("status", "401 Unauthorized"),
        );
        assert!(!refused.is_transient(), "{refused}");
        let unavailable = Error::iceberg(
            "loading bid_requests",
            iceberg::Error::new(
                iceberg::ErrorKind::Unexpected,
                "Received response with unexpected status code",
            )
            .with_context("status", "503 Service Unavailable"),
        );
        assert!(unavailable.is_transient(), "a catalog answering 5xx is waited out");
        assert!(!Error::Config("COMMIT_INTERVAL".into()).is_transient());
        assert!(!Error::Halted("db.bid_requests changed".into()).is_transient());
    }
}
