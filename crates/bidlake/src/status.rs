//! `bidlake status`: what a running `bidlake up` reports (its dashboard's `/api/status`), or,
//! when none answers, what the lake itself says (table sizes and last commits) and, when the
//! broker answers, how far each table is behind its topic.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use bidlake_dashboard::Status;
use bidlake_dashboard::status::{TableStatus, TopicStatus};
use bidlake_ingest::lag;
use bidlake_kafka::{KafkaArgs, TopicArgs, wait_for_broker};
use bidlake_lake::{Lake, LakeArgs, open_lake};
use bidlake_tables::EventTable;

use crate::Error;

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The dashboard of the `bidlake up` to ask.
    #[arg(long, env = "BIDLAKE_DASHBOARD_URL", default_value = "http://127.0.0.1:8081")]
    pub dashboard_url: String,

    /// Print the dashboard's JSON instead of text.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub lake: LakeArgs,

    #[command(flatten)]
    pub kafka: KafkaArgs,

    #[command(flatten)]
    pub topics: TopicArgs,
}

pub async fn status(data_dir: &Path, args: StatusArgs) -> Result<(), Error> {
    let url = format!("{}/api/status", args.dashboard_url.trim_end_matches('/'));
    match fetch(&url).await {
        Ok(text) => {
            let status: Status = serde_json::from_str(&text).map_err(|err| {
                Error::Up(format!("{url} answered, but not with bidlake's status: {err}"))
            })?;
            if args.json {
                println!("{text}");
            } else {
                print!("{}", render_running(&status, &args.dashboard_url));
            }
        }
        Err(reason) => {
            let lake = open_lake(args.lake.resolve(data_dir)?).await?;
            let tables = bidlake_dashboard::table_stats(&lake).await?;
            let lag = topic_lag(&lake, &tables, &args.kafka, &args.topics).await;
            if args.json {
                let topics = lag.unwrap_or_default();
                let status = Status { tables, topics, ..Status::default() };
                println!("{}", serde_json::to_string(&status).unwrap_or_default());
            } else {
                println!(
                    "no bidlake up answers at {} ({reason}); from the catalog {}:",
                    args.dashboard_url,
                    lake.config.catalog_display()
                );
                print!("{}", render_tables(&tables));
                match lag {
                    Ok(topics) => print!("\n{}", render_lag(&topics, &args.kafka)),
                    Err(why) => println!("\nno lag: {why}"),
                }
            }
        }
    }
    Ok(())
}

async fn fetch(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .map_err(|err| err.to_string())?;
    let response = client.get(url).send().await.map_err(|err| {
        if err.is_connect() { "nothing listens there".to_owned() } else { err.to_string() }
    })?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.text().await.map_err(|err| err.to_string())
}

fn render_running(status: &Status, url: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "bidlake up, running for {} s (dashboard {url})", status.uptime_secs);
    for service in &status.services {
        let _ = writeln!(out, "  {:<10} {}  {}", service.name, service.address, service.state);
    }
    let _ = writeln!(
        out,
        "\n{:<16} {:<18} {:>12} {:>10} {:>12} {:>10} {:>12} {:>8} {:>8}",
        "topic", "table", "produced", "prod/s", "ingested", "ingest/s", "committed", "lag", "DLQ"
    );
    for t in &status.topics {
        let _ = writeln!(
            out,
            "{:<16} {:<18} {:>12} {:>10.0} {:>12} {:>10.0} {:>12} {:>8} {:>8}",
            t.topic,
            t.table,
            t.produced,
            t.produced_per_sec,
            t.ingested_rows,
            t.ingested_per_sec,
            t.committed_rows,
            t.lag,
            t.dead_letters
        );
    }
    for t in status.topics.iter().filter(|t| !t.unread_with_lag.is_empty()) {
        let _ = writeln!(
            out,
            "warning: {} partition(s) {:?} have lag and are not read by this bidlake up",
            t.topic, t.unread_with_lag
        );
    }
    for problem in status.topics.iter().flat_map(|t| &t.problems) {
        let _ = writeln!(out, "warning: {problem}");
    }
    for (topic, why) in status.ingest.iter().flat_map(|i| &i.halted) {
        let _ = writeln!(out, "error: ingest of {topic} stopped: {why}");
    }
    if let Some(why) = status.ingest.as_ref().and_then(|i| i.lag_error.as_ref()) {
        let _ = writeln!(out, "warning: the lag could not be measured lately: {why}");
    }
    if let Some(ingest) = &status.ingest {
        let _ = write!(out, "\ncommits: {}", ingest.commits);
        if let Some(last) = ingest.recent_commits.first() {
            let _ = write!(
                out,
                " (last {} {}: {} files, {} rows, {} bytes)",
                time(last.at_ms),
                last.table,
                last.files,
                last.rows,
                last.bytes
            );
        }
        let _ = writeln!(out, "\ndead letters: {}", ingest.dead_letters);
        for dead in ingest.recent_dead_letters.iter().take(5) {
            let _ = writeln!(out, "  {}: {}", dead.topic, dead.reason);
        }
    }
    if let Some(m) = &status.maintenance {
        let _ = writeln!(
            out,
            "\nmaintenance: every {} s, {} rounds, {} compactions ({} files into {}), {} manifest merges, {} snapshots expired, {} files deleted, {} failures",
            m.every_secs,
            m.rounds,
            m.compactions,
            m.files_rewritten,
            m.files_written,
            m.manifest_merges,
            m.snapshots_expired,
            m.files_deleted,
            m.failures
        );
        if let Some(failure) = &m.last_failure {
            let _ = writeln!(out, "  last failure at {}: {}", time(failure.at_ms), failure.error);
        }
    }
    if let Some(broker) = &status.broker {
        let _ = writeln!(out, "broker storage: {} bytes", broker.disk_bytes);
    }
    out.push('\n');
    out.push_str(&render_tables(&status.tables));
    out
}

fn render_tables(tables: &[TableStatus]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:>12} {:>10} {:>12} {:>10}  last commit",
        "table", "rows", "files", "bytes", "snapshots"
    );
    for t in tables {
        let _ = writeln!(
            out,
            "{:<20} {:>12} {:>10} {:>12} {:>10}  {}",
            t.table,
            t.rows,
            t.data_files,
            t.bytes,
            t.snapshots,
            t.last_commit_ms.map_or_else(|| "never".to_owned(), time)
        );
    }
    out
}

/// For each event table, the records of its topic that no commit covers yet: every partition's
/// high watermark against the offset the table's latest commit recorded.
async fn topic_lag(
    lake: &Lake,
    tables: &[TableStatus],
    kafka: &KafkaArgs,
    topics: &TopicArgs,
) -> Result<Vec<TopicStatus>, String> {
    // A status line should not hang on a broker that is down.
    let quick = KafkaArgs {
        connect_timeout: kafka.connect_timeout.min(Duration::from_secs(3)),
        ..kafka.clone()
    };
    let metadata = wait_for_broker(&quick).await.map_err(|err| err.to_string())?;
    let streams: Vec<(String, String)> = EventTable::ALL
        .into_iter()
        .zip(topics.event_topics())
        .filter(|(_, topic)| metadata.topics().iter().any(|t| t.name() == *topic))
        .map(|(table, topic)| (table.name().to_owned(), topic.to_owned()))
        .collect();
    let client = lag::client(&quick).map_err(|err| err.to_string())?;
    let partitions =
        lag::measure(lake, &Default::default(), &client, &streams, Duration::from_secs(3))
            .await
            .map_err(|err| err.to_string())?;
    Ok(streams
        .iter()
        .map(|(table, topic)| {
            let name = format!("{}.{}", lake.config.namespace, table);
            let mut status = TopicStatus {
                topic: topic.clone(),
                committed_rows: tables.iter().find(|t| t.table == name).map_or(0, |t| t.rows),
                table: name,
                ..TopicStatus::default()
            };
            for p in partitions.iter().filter(|p| p.topic == *topic) {
                status.partitions += 1;
                status.lag += p.lag();
                status.problems.extend(p.problem());
            }
            status
        })
        .collect())
}

fn render_lag(topics: &[TopicStatus], kafka: &KafkaArgs) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<20} {:<20} {:>12}  (records not yet committed, broker {})",
        "topic", "table", "lag", kafka.bootstrap_servers
    );
    for t in topics {
        let _ = writeln!(out, "{:<20} {:<20} {:>12}", t.topic, t.table, t.lag);
    }
    for problem in topics.iter().flat_map(|t| &t.problems) {
        let _ = writeln!(out, "warning: {problem}");
    }
    out
}

fn time(ms: u64) -> String {
    let text = bidlake_gen::format_timestamp(ms as i64 * 1000);
    String::from_utf8_lossy(&text[..19]).replace('T', " ") + "Z"
}
