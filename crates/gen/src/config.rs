use std::time::Duration;

use bidlake_kafka::{KafkaArgs, TopicArgs};

use crate::funnel::FunnelRates;
use crate::request::TrafficShares;
use crate::{Error, Result};

/// `bidlake gen`: what to generate, how fast, and where to.
#[derive(Debug, Clone, clap::Args)]
pub struct GenArgs {
    /// Bid requests per second (their funnel events come on top); 0 = as fast as possible.
    #[arg(long, env = "EVENTS_PER_SECOND", default_value_t = 10)]
    pub rate: u64,

    /// Stop after this many bid requests (and their funnel).
    #[arg(long, env = "GEN_COUNT")]
    pub count: Option<u64>,

    /// Stop after this long (e.g. 30s, 5m, 1h).
    #[arg(long, env = "GEN_DURATION", value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Seed for the random streams; the same seed gives the same events apart from timestamps.
    /// Without it, a seed is picked and logged.
    #[arg(long, env = "GEN_SEED")]
    pub seed: Option<u64>,

    /// Write bid requests as NDJSON to standard output instead of producing to Kafka.
    #[arg(long)]
    pub stdout: bool,

    /// Hours of history to produce first: event times spread over the past N hours at `--rate`
    /// (funnel included, in causal order), as fast as the broker takes them; then real time.
    #[arg(long, env = "BACKFILL_HOURS", default_value_t = 0.0)]
    pub backfill_hours: f64,

    /// Share of bid requests priced in EUR, GBP or JPY (`cur`, `imp.bidfloorcur`; their
    /// responses and impressions too) instead of USD.
    #[arg(long, env = "FOREIGN_CURRENCY_SHARE", default_value_t = 0.10)]
    pub foreign_currency_share: f64,

    /// Share of bid requests from test publishers (`publisher.id` starting with `test-`).
    #[arg(long, env = "TEST_TRAFFIC_SHARE", default_value_t = 0.05)]
    pub test_traffic_share: f64,

    /// Share of bid requests whose `device.ip` is a private (RFC 1918) address.
    #[arg(long, env = "PRIVATE_IP_SHARE", default_value_t = 0.02)]
    pub private_ip_share: f64,

    /// Share of bid requests that get a bid response.
    #[arg(long, env = "BID_RESPONSE_RATE", default_value_t = 0.60)]
    pub bid_response_rate: f64,

    /// Share of bid responses that win and become an impression.
    #[arg(long, env = "WIN_RATE", default_value_t = 0.15)]
    pub win_rate: f64,

    /// Share of impressions that get clicked.
    #[arg(long, env = "CLICK_RATE", default_value_t = 0.02)]
    pub click_rate: f64,

    #[command(flatten)]
    pub producer: ProducerArgs,

    #[command(flatten)]
    pub topics: TopicArgs,
}

/// Producer settings passed through to librdkafka (anything else: `-X key=value`).
#[derive(Debug, Clone, clap::Args)]
pub struct ProducerArgs {
    /// Acknowledgements the leader waits for: 0, 1 or all.
    #[arg(long, env = "KAFKA_ACKS", default_value = "all")]
    pub acks: String,

    /// Compression: none, gzip, lz4 or zstd.
    #[arg(long, env = "KAFKA_COMPRESSION", default_value = "lz4")]
    pub compression: String,

    /// Largest batch per partition, in bytes.
    #[arg(long, env = "KAFKA_BATCH_SIZE", default_value_t = 1_000_000)]
    pub batch_size: u64,

    /// How long to wait for a batch to fill, in milliseconds.
    #[arg(long, env = "KAFKA_LINGER_MS", default_value_t = 5)]
    pub linger_ms: u64,

    /// How long to wait at the end of a run for the broker to acknowledge what was sent.
    #[arg(long, env = "KAFKA_FLUSH_TIMEOUT", default_value = "60s", value_parser = humantime::parse_duration)]
    pub flush_timeout: Duration,
}

impl Default for ProducerArgs {
    fn default() -> Self {
        Self {
            acks: "all".into(),
            compression: "lz4".into(),
            batch_size: 1_000_000,
            linger_ms: 5,
            flush_timeout: Duration::from_secs(60),
        }
    }
}

impl ProducerArgs {
    /// librdkafka settings of the producer; the user's `-X` properties still override them.
    pub fn client_config(&self, kafka: &KafkaArgs) -> rdkafka::ClientConfig {
        let (batch_size, linger_ms) = (self.batch_size.to_string(), self.linger_ms.to_string());
        kafka.client_config_with(&[
            ("acks", &self.acks),
            ("compression.type", &self.compression),
            ("batch.size", &batch_size),
            ("linger.ms", &linger_ms),
            // Retries never duplicate or reorder within a partition.
            ("enable.idempotence", "true"),
        ])
    }
}

impl GenArgs {
    /// The shares of traffic a pipeline would filter or convert, checked.
    pub fn traffic(&self) -> Result<TrafficShares> {
        for (name, value) in [
            ("FOREIGN_CURRENCY_SHARE (--foreign-currency-share)", self.foreign_currency_share),
            ("TEST_TRAFFIC_SHARE (--test-traffic-share)", self.test_traffic_share),
            ("PRIVATE_IP_SHARE (--private-ip-share)", self.private_ip_share),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::InvalidRate { name, value });
            }
        }
        Ok(TrafficShares {
            foreign_currency: self.foreign_currency_share,
            test_publisher: self.test_traffic_share,
            private_ip: self.private_ip_share,
        })
    }

    /// The funnel shares, checked.
    pub fn funnel_rates(&self) -> Result<FunnelRates> {
        for (name, value) in [
            ("BID_RESPONSE_RATE (--bid-response-rate)", self.bid_response_rate),
            ("WIN_RATE (--win-rate)", self.win_rate),
            ("CLICK_RATE (--click-rate)", self.click_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(Error::InvalidRate { name, value });
            }
        }
        Ok(FunnelRates {
            bid_response: self.bid_response_rate,
            win: self.win_rate,
            click: self.click_rate,
        })
    }
}
