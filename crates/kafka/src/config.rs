use std::time::Duration;

use rdkafka::ClientConfig;

use crate::{Error, Result};

/// How to reach the Kafka cluster. Flags win over environment variables.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Kafka bootstrap servers, comma separated.
    #[arg(long, env = "KAFKA_BOOTSTRAP_SERVERS", default_value = "localhost:9092")]
    pub bootstrap_servers: String,

    /// Any librdkafka property as KEY=VALUE, repeatable (e.g. security.protocol=SASL_SSL,
    /// sasl.mechanisms=SCRAM-SHA-512). The environment variable takes a comma-separated list.
    /// Its value may hold a password, so --help does not print it.
    #[arg(
        short = 'X',
        long = "kafka-property",
        env = "KAFKA_PROPERTIES",
        hide_env_values = true,
        value_name = "KEY=VALUE",
        value_delimiter = ',',
        value_parser = parse_property
    )]
    pub properties: Vec<(String, String)>,

    /// How long to keep retrying while the broker is not reachable yet (e.g. 30s, 2m).
    #[arg(long, env = "KAFKA_CONNECT_TIMEOUT", default_value = "30s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,
}

impl KafkaArgs {
    /// Settings for a client on `bootstrap_servers`; the passthrough properties are applied last,
    /// so a user can override anything bidlake sets.
    pub fn client_config(&self) -> ClientConfig {
        self.client_config_with(&[])
    }

    /// Like `client_config`, with bidlake's own settings for one kind of client first; the
    /// user's `-X` properties still win over them.
    pub fn client_config_with(&self, defaults: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_servers);
        for (key, value) in defaults {
            config.set(*key, *value);
        }
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        config
    }

    pub fn for_bootstrap(bootstrap_servers: impl Into<String>) -> Self {
        Self {
            bootstrap_servers: bootstrap_servers.into(),
            properties: Vec::new(),
            connect_timeout: Duration::from_secs(30),
        }
    }
}

fn parse_property(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(Error::Config(format!("{s:?} is not KEY=VALUE (e.g. -X security.protocol=SSL)"))),
    }
}

/// The event topics, named as in the original platform's configuration.
#[derive(Debug, Clone, clap::Args)]
pub struct TopicArgs {
    #[arg(long, env = "TOPIC_BID_REQUESTS", default_value = "bid-requests")]
    pub topic_bid_requests: String,
    #[arg(long, env = "TOPIC_BID_RESPONSES", default_value = "bid-responses")]
    pub topic_bid_responses: String,
    #[arg(long, env = "TOPIC_IMPRESSIONS", default_value = "impressions")]
    pub topic_impressions: String,
    #[arg(long, env = "TOPIC_CLICKS", default_value = "clicks")]
    pub topic_clicks: String,
    /// Partitions of a topic bidlake creates (existing topics keep theirs).
    #[arg(long, env = "TOPIC_PARTITIONS", default_value_t = 3)]
    pub partitions: i32,
    /// How long the broker keeps the records of a topic bidlake creates (`retention.ms`, with
    /// `cleanup.policy=delete`); existing topics keep theirs. Default: the broker's own; 24h on
    /// `up`'s embedded broker.
    #[arg(long, env = "TOPIC_RETENTION", value_parser = humantime::parse_duration)]
    pub topic_retention: Option<std::time::Duration>,
}

impl Default for TopicArgs {
    fn default() -> Self {
        Self {
            topic_bid_requests: "bid-requests".into(),
            topic_bid_responses: "bid-responses".into(),
            topic_impressions: "impressions".into(),
            topic_clicks: "clicks".into(),
            partitions: 3,
            topic_retention: None,
        }
    }
}

impl TopicArgs {
    /// The four event topics, in funnel order.
    pub fn event_topics(&self) -> [&str; 4] {
        [
            &self.topic_bid_requests,
            &self.topic_bid_responses,
            &self.topic_impressions,
            &self.topic_clicks,
        ]
    }

    /// The dead-letter topic of `topic`.
    pub fn dlq(topic: &str) -> String {
        format!("{topic}-dlq")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_needs_a_key_and_an_equals_sign() {
        assert_eq!(
            parse_property("linger.ms = 5").unwrap(),
            ("linger.ms".to_owned(), "5".to_owned())
        );
        assert_eq!(parse_property("sasl.password=a=b").unwrap().1, "a=b");
        let err = parse_property("linger.ms").unwrap_err().to_string();
        assert!(err.contains("not KEY=VALUE"), "{err}");
        assert!(parse_property("=5").is_err());
    }

    #[test]
    fn passthrough_properties_override_defaults() {
        let mut args = KafkaArgs::for_bootstrap("127.0.0.1:1");
        args.properties.push(("bootstrap.servers".into(), "127.0.0.1:2".into()));
        assert_eq!(args.client_config().get("bootstrap.servers"), Some("127.0.0.1:2"));
    }
}
