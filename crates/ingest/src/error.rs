use rdkafka::error::KafkaError;

/// Errors of the ingest job; each names what failed and, where it can, what to change.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Kafka(#[from] bidlake_kafka::Error),

    #[error(transparent)]
    Lake(#[from] bidlake_lake::Error),

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

    #[error("a background task failed: {0}")]
    Task(String),
}

impl Error {
    pub fn iceberg(context: impl Into<String>, source: iceberg::Error) -> Self {
        Error::Iceberg { context: context.into(), source: Box::new(source) }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
