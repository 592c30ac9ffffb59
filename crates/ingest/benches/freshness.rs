//! Freshness of a table `bidlake ingest` wrote: for every row, the time from its event
//! (`event_timestamp`, set by `bidlake gen` as it produces) to the commit that made it visible.
//! Each snapshot records the next Kafka offset per partition, so a row (partition, offset)
//! became visible with the first snapshot whose offset for its partition is beyond it.
//! Run by scripts/bench-ingest.sh after an ingest at a 1 s commit interval:
//!
//!   cargo bench -p bidlake-ingest --bench freshness -- DATA_DIR [TOPIC]
//!
//! Prints the figures over all rows, and over the rows after the first `WARMUP_SECS` (5) of
//! events: the generator starts with the ingest, so the first rows also wait for the group
//! join and the opening of the partitions (the table and the dead-letter topic read), a
//! one-time delay that is not the steady freshness a commit interval gives.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark program

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type, TimestampMicrosecondType};
use bidlake_ingest::progress::Progress;
use bidlake_lake::{LakeArgs, open_lake};
use futures::TryStreamExt;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let dir = args.next().expect("usage: freshness DATA_DIR [TOPIC]");
    let topic = args.next().unwrap_or_else(|| "bid-requests".into());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(Path::new(&dir), &topic));
}

async fn run(dir: &Path, topic: &str) {
    let lake = open_lake(LakeArgs::embedded().resolve(dir).unwrap()).await.unwrap();
    let table = lake.load_table("bid_requests").await.unwrap();

    // (commit time in ms, next offset per partition), oldest first.
    let mut commits: Vec<(i64, Progress)> = table
        .metadata()
        .snapshots()
        .filter_map(|s| Some((s.timestamp_ms(), Progress::of_snapshot(s, topic)?)))
        .collect();
    commits.sort_by_key(|(at, _)| *at);

    let stream = table
        .scan()
        .select(["kafka_partition", "kafka_offset", "event_timestamp"])
        .build()
        .unwrap()
        .to_arrow()
        .await
        .unwrap();
    let batches: Vec<_> = stream.try_collect().await.unwrap();
    // (event time, lag to visible) per row, in ms.
    let mut rows_ms = Vec::new();
    for batch in &batches {
        let partitions = batch.column(0).as_primitive::<Int32Type>();
        let offsets = batch.column(1).as_primitive::<Int64Type>();
        let events = batch.column(2).as_primitive::<TimestampMicrosecondType>();
        for i in 0..batch.num_rows() {
            let (p, o) = (partitions.value(i), offsets.value(i));
            let visible = commits
                .iter()
                .find(|(_, progress)| progress.offsets.get(&p).is_some_and(|next| *next > o))
                .map(|(at, _)| *at)
                .expect("every row is covered by a commit");
            let event = events.value(i) / 1000;
            rows_ms.push((event, visible - event));
        }
    }
    let warmup_ms: i64 =
        std::env::var("WARMUP_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5) * 1000;
    let first_event = rows_ms.iter().map(|(event, _)| *event).min().unwrap_or_default();
    let steady: Vec<i64> = rows_ms
        .iter()
        .filter(|(event, _)| *event >= first_event + warmup_ms)
        .map(|(_, lag)| *lag)
        .collect();
    let all: Vec<i64> = rows_ms.iter().map(|(_, lag)| *lag).collect();
    print_figures(&format!("freshness over {} commits, all", commits.len()), all);
    print_figures(&format!("freshness after the first {} s of events", warmup_ms / 1000), steady);
}

fn print_figures(what: &str, mut lags_ms: Vec<i64>) {
    lags_ms.sort_unstable();
    if lags_ms.is_empty() {
        println!("{what}: no rows");
        return;
    }
    let pick = |q: f64| lags_ms[((lags_ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what} {} rows: p50 {} ms, p99 {} ms, max {} ms",
        lags_ms.len(),
        pick(0.50),
        pick(0.99),
        lags_ms.last().copied().unwrap_or_default()
    );
}
