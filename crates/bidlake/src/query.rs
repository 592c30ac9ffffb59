//! `bidlake query`: SQL over the lake's tables, printed as a table, CSV or JSON.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use bidlake_lake::{LakeArgs, open_lake};
use bidlake_query::{
    EXAMPLES, Format, Reading, RecordBatch, SessionContext, TimeTravel, example, run, session,
    write_batches,
};
use bidlake_tables::timestamp::parse_micros;

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

    /// Run one of the original platform's analytical queries by name (`--examples` lists them).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["sql", "snapshots"])]
    pub example: Option<String>,

    /// List the example queries: name and what each answers, with its SQL (one JSON object per
    /// line with `--format json`).
    #[arg(long, conflicts_with_all = ["sql", "snapshots", "example"])]
    pub examples: bool,

    /// Print how long each statement took inside the process (planning and execution), on
    /// standard error, as DuckDB's `.timer on` does: start-up and opening the tables not counted.
    #[arg(long)]
    pub timing: bool,

    /// Threads (partitions) a query runs on; one per core by default.
    #[arg(long, env = "QUERY_THREADS", value_name = "N")]
    pub threads: Option<usize>,

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
    if args.examples {
        return list_examples(args.format);
    }
    let sql = match &args.example {
        Some(name) => Some(
            example(name)
                .ok_or_else(|| {
                    let names: Vec<&str> = EXAMPLES.iter().map(|e| e.name).collect();
                    Error::Setup(format!(
                        "there is no example query {name:?}; the examples are: {}",
                        names.join(", ")
                    ))
                })?
                .sql
                .to_owned(),
        ),
        None => args.sql.clone(),
    };
    let lake = open_lake(args.lake.resolve(data_dir)?).await?;
    if let Some(table) = &args.snapshots {
        return list_snapshots(&lake, table).await;
    }
    let opened = Instant::now();
    let ctx = session(&lake, Reading { at, threads: args.threads }).await?;
    if args.timing {
        eprintln!("opening the tables took {}", millis(opened.elapsed()));
    }
    let stdout = std::io::stdout();
    match &sql {
        Some(sql) => {
            let batches = run_timed(&ctx, sql, args.timing).await?;
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
                let (complete, rest) = split_statements(&statement);
                statement = rest;
                for sql in complete {
                    match run_timed(&ctx, &sql, args.timing).await {
                        Ok(batches) => write_batches(&batches, args.format, &mut stdout.lock())?,
                        // A mistake at the prompt is not the end of the session.
                        Err(err) if interactive => eprintln!("error: {err}"),
                        Err(err) => return Err(err.into()),
                    }
                }
                prompt(!statement.trim().is_empty());
            }
        }
    }
    Ok(())
}

fn list_examples(format: Format) -> Result<(), Error> {
    let mut out = std::io::stdout().lock();
    for example in EXAMPLES {
        let written = match format {
            Format::Json => {
                let line = serde_json::json!({
                    "name": example.name, "title": example.title, "sql": example.sql,
                });
                writeln!(out, "{line}")
            }
            _ => writeln!(out, "{:<26} {}", example.name, example.title),
        };
        written.map_err(Error::Stdout)?;
    }
    Ok(())
}

/// Runs one statement; with `timing`, prints how long it took on standard error.
async fn run_timed(
    ctx: &SessionContext,
    sql: &str,
    timing: bool,
) -> Result<Vec<RecordBatch>, bidlake_query::Error> {
    let started = Instant::now();
    let result = run(ctx, sql).await;
    if timing {
        eprintln!("query took {}", millis(started.elapsed()));
    }
    result
}

/// A duration as `12.3 ms`.
fn millis(duration: Duration) -> String {
    format!("{:.1} ms", duration.as_secs_f64() * 1000.0)
}

/// The statements `text` completes (each ended by a `;` outside quotes), and what is left over.
fn split_statements(text: &str) -> (Vec<String>, String) {
    let mut complete = Vec::new();
    let mut start = 0;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';') => {
                let sql = text[start..=i].trim();
                if sql != ";" {
                    complete.push(sql.to_owned());
                }
                start = i + 1;
            }
            (None, _) => {}
        }
    }
    (complete, text[start..].to_owned())
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

#[cfg(test)]
mod tests {
    use super::split_statements;

    #[test]
    fn statements_end_at_semicolons_outside_quotes() {
        let (complete, rest) =
            split_statements("SELECT 1; SELECT ';' AS x;\nSELECT \"a;b\" FROM t;  ; SELECT 2");
        assert_eq!(complete, ["SELECT 1;", "SELECT ';' AS x;", "SELECT \"a;b\" FROM t;"]);
        assert_eq!(rest, " SELECT 2");
    }
}
