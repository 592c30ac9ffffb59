//! `bidlake consume`: print a topic's records, like kafka-console-consumer or kcat.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bidlake_kafka::KafkaArgs;
use rdkafka::Message;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::Error;

#[derive(Debug, Clone, clap::Args)]
pub struct ConsumeArgs {
    /// The topic to read, from its beginning.
    pub topic: String,

    /// Stop after this many records.
    #[arg(long, alias = "max-messages")]
    pub count: Option<u64>,

    /// Stop when no record arrives for this long (e.g. 5s); without it, wait for Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// Print each record as KEY<TAB>VALUE.
    #[arg(long)]
    pub keys: bool,

    #[command(flatten)]
    pub kafka: KafkaArgs,
}

/// Prints records to standard output, one per line; returns how many.
pub async fn consume(args: ConsumeArgs, stop: Arc<AtomicBool>) -> Result<u64, Error> {
    bidlake_kafka::wait_for_broker(&args.kafka).await?;
    tokio::task::spawn_blocking(move || print_records(&args, &stop))
        .await
        .map_err(|err| Error::Task(err.to_string()))?
}

fn print_records(args: &ConsumeArgs, stop: &AtomicBool) -> Result<u64, Error> {
    // A throwaway group that commits nothing: reading never moves anyone's offsets.
    let consumer: BaseConsumer = args
        .kafka
        .client_config()
        .set("group.id", format!("bidlake-consume-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|source| {
            Error::Kafka(bidlake_kafka::Error::Client {
                bootstrap: args.kafka.bootstrap_servers.clone(),
                source,
            })
        })?;
    consumer.subscribe(&[&args.topic]).map_err(|source| {
        Error::Kafka(bidlake_kafka::Error::Kafka {
            context: format!("subscribing to {}", args.topic),
            source,
        })
    })?;

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut printed = 0;
    let mut last = Instant::now();
    while !stop.load(Ordering::Relaxed) && args.count.is_none_or(|count| printed < count) {
        if args.idle_timeout.is_some_and(|idle| last.elapsed() >= idle) {
            break;
        }
        let Some(result) = consumer.poll(Duration::from_millis(200)) else { continue };
        let message = result.map_err(|source| {
            Error::Kafka(bidlake_kafka::Error::Kafka {
                context: format!("reading {}", args.topic),
                source,
            })
        })?;
        let mut line = Vec::with_capacity(message.payload_len() + 64);
        if args.keys {
            line.extend_from_slice(message.key().unwrap_or_default());
            line.push(b'\t');
        }
        line.extend_from_slice(message.payload().unwrap_or_default());
        line.push(b'\n');
        match out.write_all(&line).and_then(|()| out.flush()) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => break,
            Err(err) => return Err(Error::Stdout(err)),
        }
        printed += 1;
        last = Instant::now();
    }
    Ok(printed)
}
