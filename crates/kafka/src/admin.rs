use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;

use crate::{Error, KafkaArgs, Result};

/// A topic bidlake needs, with the layout it gets when bidlake creates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// `None` leaves the replication factor to the broker's default.
    pub replication: Option<i32>,
    /// `retention.ms` (with `cleanup.policy=delete`); `None` leaves it to the broker.
    pub retention: Option<Duration>,
}

impl TopicSpec {
    pub fn new(name: impl Into<String>, partitions: i32) -> Self {
        Self { name: name.into(), partitions, replication: None, retention: None }
    }

    /// A topic as `args` asks bidlake to create its topics.
    pub fn of(name: impl Into<String>, args: &crate::TopicArgs) -> Self {
        Self { retention: args.topic_retention, ..Self::new(name, args.partitions) }
    }
}

/// Asks the cluster for its metadata until it answers, backing off between attempts, for at most
/// `args.connect_timeout`. A broker that is still starting is normal under `bidlake up` and in
/// orchestrated deployments, so an unreachable broker is only an error once the window has passed.
pub async fn wait_for_broker(args: &KafkaArgs) -> Result<Metadata> {
    let admin = std::sync::Arc::new(admin_client(args)?);
    let started = Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let attempt_timeout = Duration::from_secs(2).min(args.connect_timeout.max(backoff));
        // librdkafka's metadata call blocks; keep it off the async workers.
        let client = admin.clone();
        let result = tokio::task::spawn_blocking(move || {
            client.inner().fetch_metadata(None, attempt_timeout)
        })
        .await
        .map_err(|err| Error::Task(err.to_string()))?;
        let failure = match result {
            Ok(metadata) if !metadata.brokers().is_empty() => return Ok(metadata),
            // Answered, but with no broker to talk to: as good as unreachable for now.
            Ok(_) => KafkaError::MetadataFetch(RDKafkaErrorCode::BrokerTransportFailure),
            Err(err) => err,
        };
        if started.elapsed() >= args.connect_timeout {
            return Err(Error::Unreachable {
                bootstrap: args.bootstrap_servers.clone(),
                waited: started.elapsed(),
                source: failure,
            });
        }
        tracing::debug!(bootstrap = %args.bootstrap_servers, error = %failure, "broker not reachable yet; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// Creates the topics of `specs` that the cluster does not have yet, and returns their names.
/// Existing topics are left as they are, whatever their partition count.
pub async fn ensure_topics(args: &KafkaArgs, specs: &[TopicSpec]) -> Result<Vec<String>> {
    let metadata = wait_for_broker(args).await?;
    let missing: Vec<&TopicSpec> = specs
        .iter()
        .filter(|spec| !metadata.topics().iter().any(|t| t.name() == spec.name))
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }

    let admin = admin_client(args)?;
    let retention: Vec<Option<String>> =
        missing.iter().map(|spec| spec.retention.map(|r| r.as_millis().to_string())).collect();
    let new_topics: Vec<NewTopic<'_>> = missing
        .iter()
        .zip(&retention)
        .map(|(spec, retention)| {
            let topic = NewTopic::new(
                &spec.name,
                spec.partitions,
                TopicReplication::Fixed(spec.replication.unwrap_or(-1)),
            );
            match retention {
                Some(ms) => topic.set("cleanup.policy", "delete").set("retention.ms", ms),
                None => topic,
            }
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|source| Error::Kafka { context: "creating topics".into(), source })?;

    let mut created = Vec::new();
    for result in results {
        match result {
            Ok(topic) => created.push(topic),
            // Another process created it between our metadata read and our request.
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(Error::CreateTopic { topic, reason: code.to_string() });
            }
        }
    }
    Ok(created)
}

fn admin_client(args: &KafkaArgs) -> Result<AdminClient<DefaultClientContext>> {
    args.client_config()
        .create()
        .map_err(|source| Error::Client { bootstrap: args.bootstrap_servers.clone(), source })
}

/// Asks a broker whether it still serves: a process can be up and listening and still fail
/// every request (tansu 0.6 does after its storage failed).
#[allow(missing_debug_implementations)] // the client has no Debug
pub struct BrokerProbe {
    admin: std::sync::Arc<AdminClient<DefaultClientContext>>,
}

impl BrokerProbe {
    pub fn new(args: &KafkaArgs) -> Result<Self> {
        Ok(Self { admin: std::sync::Arc::new(admin_client(args)?) })
    }

    /// Whether the cluster answered a metadata request with at least one broker within
    /// `timeout`.
    pub async fn answers(&self, timeout: Duration) -> bool {
        let client = self.admin.clone();
        tokio::task::spawn_blocking(move || client.inner().fetch_metadata(None, timeout))
            .await
            .is_ok_and(|result| result.is_ok_and(|metadata| !metadata.brokers().is_empty()))
    }
}
