//! `bidlake setup`: topics (and their dead-letter topics) on the broker; warehouse, namespace
//! and tables in the catalog. Idempotent; `--check` only reports.

use std::path::Path;

use bidlake_kafka::{KafkaArgs, TopicArgs, TopicSpec};
use bidlake_lake::setup::{State, setup_lake};
use bidlake_lake::{LakeArgs, open_lake};

use crate::Error;

#[derive(Debug, clap::Args)]
pub struct SetupArgs {
    /// Only report what exists and what is missing; change nothing. Exits non-zero when
    /// anything is missing or differs.
    #[arg(long)]
    pub check: bool,

    /// Leave the broker alone (set up only the lake).
    #[arg(long)]
    pub skip_topics: bool,

    #[command(flatten)]
    pub topics: TopicArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub lake: LakeArgs,
}

pub async fn setup(data_dir: &Path, args: SetupArgs) -> Result<(), Error> {
    let mut lines: Vec<(String, String)> = Vec::new();
    let mut incomplete = false;

    if !args.skip_topics {
        let mut specs = Vec::new();
        for topic in args.topics.event_topics() {
            specs.push(TopicSpec::of(topic, &args.topics));
            specs.push(TopicSpec::of(TopicArgs::dlq(topic), &args.topics));
        }
        let metadata = bidlake_kafka::wait_for_broker(&args.kafka).await?;
        let created = if args.check {
            Vec::new()
        } else {
            bidlake_kafka::ensure_topics(&args.kafka, &specs).await?
        };
        for spec in &specs {
            let existing =
                metadata.topics().iter().find(|t| t.name() == spec.name && t.error().is_none());
            let state = match existing {
                _ if created.contains(&spec.name) => {
                    format!("created ({} partitions)", spec.partitions)
                }
                Some(t) => format!("exists ({} partitions)", t.partitions().len()),
                None => {
                    incomplete = true;
                    "missing".to_owned()
                }
            };
            lines.push((format!("topic {}", spec.name), state));
        }
    }

    let config = args.lake.resolve(data_dir)?;
    let lake = open_lake(config).await?;
    for item in setup_lake(&lake, args.check).await? {
        if matches!(item.state, State::Missing | State::Differs(_) | State::LacksColumns(_)) {
            incomplete = true;
        }
        lines.push((item.what, item.state.to_string()));
    }

    let width = lines.iter().map(|(what, _)| what.len()).max().unwrap_or(0);
    println!(
        "catalog {} ({}), warehouse {}",
        lake.config.catalog_name,
        lake.config.catalog_display(),
        lake.config.warehouse
    );
    for (what, state) in &lines {
        println!("  {what:<width$}  {state}");
    }
    let differs = lines.iter().any(|(_, s)| s.starts_with("differs"));
    if differs {
        return Err(Error::Setup("a table exists with another schema than bidlake writes (see above); bidlake does not change it: rename or drop it, or point CATALOG_NAMESPACE elsewhere".into()));
    }
    if args.check && incomplete {
        return Err(Error::Setup("setup is incomplete; run `bidlake setup`".into()));
    }
    Ok(())
}
