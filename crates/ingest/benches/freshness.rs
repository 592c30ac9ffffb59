//! Freshness of a table `bidlake ingest` wrote: for every row, the time from its event
//! (`event_timestamp`, set by `bidlake gen` as it produces) to the commit that made it visible.
//! Each snapshot records the next Kafka offset per partition, so a row (partition, offset)
//! became visible with the first snapshot whose offset for its partition is beyond it.
//! Run by scripts/bench-ingest.sh after an ingest at a 1 s commit interval:
//!
//!   cargo bench -p bidlake-ingest --bench freshness -- DATA_DIR [TOPIC]

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
    let mut lags_ms = Vec::new();
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
            lags_ms.push(visible - events.value(i) / 1000);
        }
    }
    lags_ms.sort_unstable();
    let pick = |q: f64| lags_ms[((lags_ms.len() - 1) as f64 * q).round() as usize];
    println!(
        "freshness over {} rows and {} commits: p50 {} ms, p99 {} ms, max {} ms",
        lags_ms.len(),
        commits.len(),
        pick(0.50),
        pick(0.99),
        lags_ms.last().copied().unwrap_or_default()
    );
}
