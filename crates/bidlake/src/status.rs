//! `bidlake status`: what a running `bidlake up` reports (its dashboard's `/api/status`), or,
//! when none answers, what the lake itself says (table sizes and last commits).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use bidlake_dashboard::Status;
use bidlake_dashboard::status::TableStatus;
use bidlake_lake::{LakeArgs, open_lake};

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
            if args.json {
                let status = Status { tables, ..Status::default() };
                println!("{}", serde_json::to_string(&status).unwrap_or_default());
            } else {
                println!(
                    "no bidlake up answers at {} ({reason}); from the catalog {}:",
                    args.dashboard_url,
                    lake.config.catalog_display()
                );
                print!("{}", render_tables(&tables));
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

fn time(ms: u64) -> String {
    let text = bidlake_gen::format_timestamp(ms as i64 * 1000);
    String::from_utf8_lossy(&text[..19]).replace('T', " ") + "Z"
}
