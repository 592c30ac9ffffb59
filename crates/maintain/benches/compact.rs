//! Compaction throughput and memory: NDJSON bid requests (from `bidlake gen --stdout`) are
//! ingested through the same sink and pinned `fast_append` as `bidlake ingest`, in small commits
//! (the small files a short commit interval leaves), into a local SQL-catalog lake; then
//! `maintain --compact` rewrites them, and `--expire-snapshots` deletes what it replaced.
//! Reports MB/s of input, rows/s, CPU-s and peak RSS of the compaction alone (VmHWM is reset
//! through /proc/self/clear_refs before it starts). Run by scripts/bench-maintain.sh; by hand:
//!
//!   cargo bench -p bidlake-maintain --bench compact -- [--requests 1000000] [--commit-rows N]
//!     [--target-file-size 128MiB] [--sort-by device_geo_country,site_domain] [FILE.ndjson]
//!
//! Without a file, `--requests` bid requests are generated (seed 1) as `bidlake gen --stdout`
//! would write them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark program

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bidlake_ingest::progress::Progress;
use bidlake_ingest::sink::{TableSink, WriteOptions};
use bidlake_lake::pinned::{Attempt, commit_pinned};
use bidlake_lake::setup::setup_lake;
use bidlake_lake::{Lake, LakeArgs, open_lake};
use bidlake_maintain::{MaintainArgs, parse_size};
use bidlake_tables::EventTable;
use bidlake_tables::EventTimeWindow;
use bidlake_tables::Source;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

struct Options {
    path: String,
    requests: u64,
    commit_rows: usize,
    target_file_size: u64,
    sort_by: Vec<String>,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut options = Options {
        path: String::new(),
        requests: 1_000_000,
        commit_rows: 10_000,
        target_file_size: 128 << 20,
        sort_by: Vec::new(),
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--commit-rows" => options.commit_rows = value().parse().expect("--commit-rows N"),
            "--requests" => options.requests = value().parse().expect("--requests N"),
            "--target-file-size" => options.target_file_size = parse_size(&value()).unwrap(),
            "--sort-by" => options.sort_by = value().split(',').map(str::to_owned).collect(),
            path => options.path = path.to_owned(),
        }
    }
    options
}

/// CPU seconds (user + system) of this process, and its peak RSS in MiB, from /proc (Linux).
fn usage() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    let fields: Vec<&str> =
        stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    const TICKS_PER_SECOND: f64 = 100.0; // USER_HZ on Linux
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let peak_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (ticks / TICKS_PER_SECOND, peak_kib / 1024.0)
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(run(options));
}

async fn run(mut options: Options) {
    let dir = tempfile::tempdir().unwrap();
    if options.path.is_empty() {
        #[derive(clap::Parser)]
        struct Gen {
            #[command(flatten)]
            args: bidlake_gen::GenArgs,
        }
        use clap::Parser;
        let count = options.requests.to_string();
        let generator =
            Gen::parse_from(["gen", "--stdout", "--rate", "0", "--seed", "1", "--count", &count]);
        let path = dir.path().join("requests.ndjson");
        let file = File::create(&path).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        bidlake_gen::write_ndjson(&generator.args, &stop, file).unwrap();
        options.path = path.to_str().unwrap().to_owned();
    }
    let lake = open_lake(LakeArgs::embedded().resolve(dir.path()).unwrap()).await.unwrap();
    setup_lake(&lake, false).await.unwrap();

    let started = Instant::now();
    let (events, commits) = ingest_small_commits(&lake, &options).await;
    println!(
        "small files: {events} bid requests in {commits} commits of {} rows ({:.1} s)",
        options.commit_rows,
        started.elapsed().as_secs_f64()
    );

    // Peak RSS from here on: the compaction's, not the ingest's above.
    std::fs::write("/proc/self/clear_refs", "5").expect("resetting VmHWM");
    let mut args = MaintainArgs::all();
    args.compact = true;
    args.tables = vec!["bid_requests".into()];
    args.target_file_size = options.target_file_size;
    args.sort_by = options.sort_by.clone();
    let (cpu_start, _) = usage();
    let started = Instant::now();
    let reports = bidlake_maintain::run(&lake, &args).await.unwrap();
    let wall = started.elapsed().as_secs_f64();
    let (cpu_end, peak_rss) = usage();
    let report = &reports[0];
    let compaction = report.compaction.as_ref().unwrap();
    let input_mb = compaction.input.bytes as f64 / 1e6;
    println!(
        "compaction{}: {} files ({:.1} MB, {} rows) -> {} files ({:.1} MB) in {wall:.2} s wall \
         ({:.2} s rewriting), {:.2} CPU-s: {:.1} MB/s of input, {:.0} rows/s; peak RSS \
         {peak_rss:.0} MiB",
        if options.sort_by.is_empty() {
            String::new()
        } else {
            format!(" sorted by {}", options.sort_by.join(","))
        },
        compaction.input.files,
        input_mb,
        compaction.input.records,
        compaction.output.files,
        compaction.output.bytes as f64 / 1e6,
        compaction.rewrite_time.as_secs_f64(),
        cpu_end - cpu_start,
        input_mb / wall,
        compaction.input.records as f64 / wall,
    );

    let mut args = MaintainArgs::all();
    args.expire_snapshots = true;
    args.retain_snapshots_older_than = Duration::ZERO;
    let started = Instant::now();
    let reports = bidlake_maintain::run(&lake, &args).await.unwrap();
    let expired: usize =
        reports.iter().filter_map(|r| r.expiry.as_ref()).map(|e| e.expired.len()).sum();
    let deleted: usize =
        reports.iter().filter_map(|r| r.expiry.as_ref()).map(|e| e.files.len()).sum();
    println!(
        "expiry: {expired} snapshots, {deleted} files deleted in {:.2} s",
        started.elapsed().as_secs_f64()
    );
}

/// Ingests the file into `bid_requests`, committing every `commit_rows` rows.
async fn ingest_small_commits(lake: &Lake, options: &Options) -> (u64, usize) {
    let table = EventTable::BidRequests;
    let write = WriteOptions {
        batch_rows: 8192,
        target_file_size: 256 << 20,
        buffer_bytes: 128 << 20,
        zstd_level: 3,
        file_prefix: "bench".into(),
    };
    let mut sink = TableSink::new(
        table,
        lake.load_table(table.name()).await.unwrap(),
        &write,
        Default::default(),
    )
    .expect("a sink");
    let reader = BufReader::with_capacity(1 << 20, File::open(&options.path).expect("the file"));
    let (mut events, mut commits, mut offset) = (0u64, 0usize, 0i64);
    for line in reader.split(b'\n') {
        let line = line.expect("reading the file");
        if line.is_empty() {
            continue;
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let _ =
            sink.append(&line, Some(now), Source { partition: 0, offset }, &EventTimeWindow::ANY);
        offset += 1;
        events += 1;
        sink.write_full().await.unwrap();
        if sink.rows() >= options.commit_rows {
            commit(lake, &mut sink, offset).await;
            commits += 1;
        }
    }
    if sink.rows() > 0 {
        commit(lake, &mut sink, offset).await;
        commits += 1;
    }
    (events, commits)
}

async fn commit(lake: &Lake, sink: &mut TableSink, next: i64) {
    let files = sink.close().await.unwrap();
    let table = lake.load_table(sink.table().name()).await.unwrap();
    let mut progress = Progress::read(&table, "bid-requests");
    progress.offsets.insert(0, next);
    let tx = Transaction::new(&table);
    let tx = tx
        .fast_append()
        .add_data_files(files)
        .set_snapshot_properties(progress.properties("bid-requests"))
        .apply(tx)
        .unwrap();
    match commit_pinned(lake, &table, tx).await.unwrap() {
        Attempt::Committed(table) => sink.set_table(*table),
        Attempt::Conflict => panic!("no other writer exists in the benchmark"),
    }
}
