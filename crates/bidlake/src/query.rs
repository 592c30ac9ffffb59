//! `bidlake query`: SQL over the lake's tables, printed as a table, CSV or JSON.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use bidlake_ingest::timestamp::parse_micros;
use bidlake_lake::{LakeArgs, open_lake};
use bidlake_query::{Format, TimeTravel, run, session, write_batches};

use crate::Error;

#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The SQL statement, e.g. "SELECT COUNT(*) FROM db.bid_requests". Without one, statements
    /// are read from standard input, each ending with `;` (an interactive prompt on a terminal).
    pub sql: Option<String>,

    /// How to print the result.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,

    /// Read the tables as of this snapshot id (time travel).
    #[arg(long, conflicts_with = "as_of")]
    pub snapshot_id: Option<i64>,

    /// Read the tables as they were at this time, e.g. 2026-11-25T10:00:00Z (time travel).
    #[arg(long)]
    pub as_of: Option<String>,

    /// List the snapshots of this table (e.g. db.bid_requests) instead of running SQL.
    #[arg(long, value_name = "TABLE", conflicts_with = "sql")]
    pub snapshots: Option<String>,

    #[command(flatten)]
    pub lake: LakeArgs,
}

pub async fn query(data_dir: &Path, args: QueryArgs) -> Result<(), Error> {
    let at = match (&args.snapshot_id, &args.as_of) {
        (Some(id), _) => TimeTravel::Snapshot(*id),
        (None, Some(text)) => TimeTravel::AsOf(
            parse_micros(text)
                .ok_or_else(|| {
                    Error::Setup(format!(
                        "--as-of {text:?} is not a time like 2026-11-25T10:00:00Z"
                    ))
                })?
                .div_euclid(1000),
        ),
        (None, None) => TimeTravel::Current,
    };
    let lake = open_lake(args.lake.resolve(data_dir)?).await?;
    if let Some(table) = &args.snapshots {
        return list_snapshots(&lake, table).await;
    }
    let ctx = session(&lake, at).await?;
    let stdout = std::io::stdout();
    match &args.sql {
        Some(sql) => {
            let batches = run(&ctx, sql).await?;
            write_batches(&batches, args.format, &mut stdout.lock())?;
        }
        None => {
            let interactive = std::io::stdin().is_terminal();
            let prompt = |continued: bool| {
                if interactive {
                    eprint!("{}", if continued { "     ...> " } else { "bidlake> " });
                    let _ = std::io::stderr().flush();
                }
            };
            let mut statement = String::new();
            prompt(false);
            for line in std::io::stdin().lock().lines() {
                let line = line.map_err(Error::Stdin)?;
                statement.push_str(&line);
                statement.push('\n');
                if !line.trim_end().ends_with(';') {
                    prompt(!statement.trim().is_empty());
                    continue;
                }
                let sql = std::mem::take(&mut statement);
                match run(&ctx, &sql).await {
                    Ok(batches) => write_batches(&batches, args.format, &mut stdout.lock())?,
                    // A mistake at the prompt is not the end of the session.
                    Err(err) if interactive => eprintln!("error: {err}"),
                    Err(err) => return Err(err.into()),
                }
                prompt(false);
            }
        }
    }
    Ok(())
}

async fn list_snapshots(lake: &bidlake_lake::Lake, table: &str) -> Result<(), Error> {
    let name = table.rsplit('.').next().unwrap_or(table);
    let table = lake.load_table(name).await?;
    let metadata = table.metadata();
    let mut snapshots: Vec<_> = metadata.snapshots().collect();
    snapshots.sort_by_key(|s| s.timestamp_ms());
    println!(
        "{:<20}  {:<24}  {:<10}  {:>12}  {:>12}",
        "snapshot_id", "committed_at", "operation", "added_rows", "total_rows"
    );
    for s in snapshots {
        let summary = s.summary();
        let get = |key: &str| summary.additional_properties.get(key).cloned().unwrap_or_default();
        let at = humantime::format_rfc3339_millis(
            std::time::UNIX_EPOCH
                + std::time::Duration::from_millis(s.timestamp_ms().max(0) as u64),
        );
        println!(
            "{:<20}  {:<24}  {:<10}  {:>12}  {:>12}",
            s.snapshot_id(),
            at.to_string(),
            summary.operation.as_str(),
            get("added-records"),
            get("total-records"),
        );
    }
    Ok(())
}
