//! Ingest from a file source, the broker excluded: NDJSON bid requests (from `bidlake gen
//! --stdout`) through the same decode → flatten → Parquet → `fast_append` path as `bidlake
//! ingest`, into a local SQL-catalog lake. Reports events/s, events per CPU-second and peak RSS.
//! A thread of its own reads the file, as librdkafka's fetcher reads the broker; its CPU time is
//! reported beside the ingest's, not in it.
//! Run by scripts/bench-ingest.sh; by hand:
//!
//!   bidlake gen --stdout --rate 0 --count 1000000 --seed 1 > /tmp/requests.ndjson
//!   cargo bench -p bidlake-ingest --bench ingest_file -- /tmp/requests.ndjson [--rate 100000]
//!
//! `--rate N` paces the source to N events/s (for memory at a sustained rate); 0 = flat out.
//! `--commit-interval SECS` and `--commit-rows N` as in `bidlake ingest` (defaults 10 s, 2M).
//! `--buffer-bytes N` as `bidlake ingest --buffer-bytes` (default 128 MiB).
//! `--decode-only` only decodes the JSON (to see what decoding costs alone).
//! `--data-dir DIR` keeps the lake in DIR (a `bidlake --data-dir`, for `bidlake query` and
//! scripts/bench-query.sh) instead of a temporary directory removed at the end.
//! `--funnel N` loads all four tables instead of reading a file: N bid requests and their funnel
//! (the generator's default rates, seed 1), spread over the 24 hours before now, committed every
//! `--commit-rows` bid requests (for scripts/bench-query.sh's funnel queries).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)] // a benchmark program

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bidlake_gen::{Event, FunnelRates, Generator, Topic, now_micros};
use bidlake_ingest::progress::Progress;
use bidlake_ingest::sink::{TableSink, WriteOptions};
use bidlake_lake::pinned::{Attempt, commit_pinned};
use bidlake_lake::setup::setup_lake;
use bidlake_lake::{LakeArgs, open_lake};
use bidlake_tables::EventTable;
use bidlake_tables::EventTimeWindow;
use bidlake_tables::Source;
use iceberg::transaction::{ApplyTransactionAction, Transaction};

struct Options {
    path: String,
    rate: u64,
    commit_interval: Duration,
    commit_rows: usize,
    data_dir: Option<std::path::PathBuf>,
    decode_only: bool,
    buffer_bytes: usize,
    funnel: Option<u64>,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut options = Options {
        path: String::new(),
        rate: 0,
        commit_interval: Duration::from_secs(10),
        commit_rows: 2_000_000,
        data_dir: None,
        decode_only: false,
        buffer_bytes: 128 << 20,
        funnel: None,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().expect("a value after the flag");
        match arg.as_str() {
            "--rate" => options.rate = value().parse().expect("--rate N"),
            "--commit-interval" => {
                options.commit_interval = Duration::from_secs_f64(value().parse().expect("secs"));
            }
            "--commit-rows" => options.commit_rows = value().parse().expect("--commit-rows N"),
            "--data-dir" => options.data_dir = Some(value().into()),
            "--decode-only" => options.decode_only = true,
            "--buffer-bytes" => options.buffer_bytes = value().parse().expect("--buffer-bytes N"),
            "--funnel" => options.funnel = Some(value().parse().expect("--funnel N")),
            path => options.path = path.to_owned(),
        }
    }
    assert!(
        !options.path.is_empty() || options.funnel.is_some(),
        "usage: ingest_file FILE.ndjson [--rate N] | ingest_file --funnel N"
    );
    options
}

/// CPU seconds (user + system) of this process, and its peak RSS in MiB, from /proc (Linux).
fn usage() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let peak_kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    (cpu_seconds("/proc/self/stat"), peak_kib / 1024.0)
}

/// CPU seconds (user + system) from a stat(5) file: a process's or a thread's.
fn cpu_seconds(stat_path: &str) -> f64 {
    let stat = std::fs::read_to_string(stat_path).expect("a /proc stat file");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> =
        stat.rsplit_once(')').expect("a stat line").1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of stat(5); 2 of them precede index 0 here.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    const TICKS_PER_SECOND: f64 = 100.0; // USER_HZ on Linux
    ticks / TICKS_PER_SECOND
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    match options.funnel {
        Some(requests) => runtime.block_on(load_funnel(options, requests)),
        None => runtime.block_on(run(options)),
    }
}

fn write_options(options: &Options) -> WriteOptions {
    WriteOptions {
        batch_rows: 8192,
        target_file_size: 256 << 20,
        buffer_bytes: options.buffer_bytes,
        zstd_level: 1,
        file_prefix: "bench".into(),
    }
}

/// N bid requests and their funnel into the four tables, event times over the last 24 hours.
async fn load_funnel(options: Options, requests: u64) {
    let dir = options.data_dir.clone().expect("--funnel needs --data-dir");
    let lake = open_lake(LakeArgs::embedded().resolve(&dir).unwrap()).await.unwrap();
    setup_lake(&lake, false).await.unwrap();
    let write = write_options(&options);
    let mut sinks = Vec::new();
    for table in EventTable::ALL {
        let loaded = lake.load_table(table.name()).await.unwrap();
        sinks.push(TableSink::new(table, loaded, &write, Default::default()).expect("a sink"));
    }
    let sink_of = |topic: Topic| match topic {
        Topic::BidRequests => 0,
        Topic::BidResponses => 1,
        Topic::Impressions => 2,
        Topic::Clicks => 3,
    };
    let rates = FunnelRates { bid_response: 0.60, win: 0.15, click: 0.02 };
    let mut generator = Generator::new(1, Some(rates));
    let mut event = Event::default();
    let end = now_micros();
    let start = end - 24 * 3_600_000_000;
    let step = (end - start) / requests.max(1) as i64;
    let mut offsets = [0i64; 4];
    let started = Instant::now();
    let append = |event: &Event, sinks: &mut Vec<TableSink>, offsets: &mut [i64; 4]| {
        let index = sink_of(event.topic);
        let source = Source { partition: 0, offset: offsets[index] };
        offsets[index] += 1;
        sinks[index].append(&event.value, None, source, &EventTimeWindow::ANY).unwrap();
    };
    for i in 0..requests {
        let now = start + i as i64 * step;
        while generator.next_due(now, &mut event) {
            append(&event, &mut sinks, &mut offsets);
        }
        generator.next_request(now, &mut event);
        append(&event, &mut sinks, &mut offsets);
        for sink in &mut sinks {
            sink.write_full().await.unwrap();
        }
        if (i + 1) % options.commit_rows as u64 == 0 {
            for (index, sink) in sinks.iter_mut().enumerate() {
                commit(&lake, sink, offsets[index]).await;
            }
        }
    }
    while generator.next_due(i64::MAX, &mut event) {
        append(&event, &mut sinks, &mut offsets);
    }
    for (index, sink) in sinks.iter_mut().enumerate() {
        sink.write_full().await.unwrap();
        if sink.rows() > 0 {
            commit(&lake, sink, offsets[index]).await;
        }
    }
    println!(
        "funnel: {requests} bid requests, {} responses, {} impressions, {} clicks in {:.1} s",
        offsets[1],
        offsets[2],
        offsets[3],
        started.elapsed().as_secs_f64()
    );
}

async fn run(options: Options) {
    let temp = tempfile::tempdir().unwrap();
    let dir = options.data_dir.as_deref().unwrap_or(temp.path());
    let lake = open_lake(LakeArgs::embedded().resolve(dir).unwrap()).await.unwrap();
    setup_lake(&lake, false).await.unwrap();
    let table = EventTable::BidRequests;
    let write = write_options(&options);
    let mut sink = TableSink::new(
        table,
        lake.load_table(table.name()).await.unwrap(),
        &write,
        Default::default(),
    )
    .expect("a sink");

    // The source: a thread reads the file in blocks of whole lines, as a Kafka consumer's
    // fetcher hands over batches of records; its CPU time is the source's, not the ingest's.
    let (cpu_start, _) = usage();
    let (blocks, source) = std::sync::mpsc::sync_channel::<Block>(4);
    let path = options.path.clone();
    let reader = std::thread::spawn(move || read_blocks(&path, &blocks));
    let started = Instant::now();
    let mut batch_started = Instant::now();
    let (mut events, mut rejected, mut commits, mut files, mut bytes) = (0u64, 0u64, 0, 0, 0u64);
    let mut offset = 0i64;
    let mut peak_held = 0;
    let mut now = 0;
    let rates = bidlake_tables::ExchangeRates::built_in();
    for block in source {
        for line in block.lines() {
            if options.rate > 0 && events % 1000 == 0 {
                let due = Duration::from_secs_f64(events as f64 / options.rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
            // Stands in for the Kafka timestamp, used when a record has no event_timestamp
            // (read once per 1,000 records; the clock is not what this measures).
            if events % 1000 == 0 {
                now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
            }
            events += 1;
            if options.decode_only {
                // Where the time goes: JSON decoding alone, nothing written.
                rejected += u64::from(
                    bidlake_tables::bid_requests::bid_request(line, Some(now), &rates).is_err(),
                );
                continue;
            }
            if sink
                .append(line, Some(now), Source { partition: 0, offset }, &EventTimeWindow::ANY)
                .is_err()
            {
                rejected += 1;
            }
            offset += 1;
            sink.write_full().await.unwrap();
            // What the open files hold changes only when a batch is written (every few hundred
            // records); summing it per record would cost more than the job spends on a record.
            if events % 256 == 0 {
                peak_held = peak_held.max(sink.held_bytes());
            }
            if batch_started.elapsed() >= options.commit_interval
                || sink.rows() >= options.commit_rows
            {
                peak_held = peak_held.max(sink.held_bytes());
                let (f, b) = commit(&lake, &mut sink, offset).await;
                (commits, files, bytes) = (commits + 1, files + f, bytes + b);
                batch_started = Instant::now();
            }
        }
    }
    if sink.rows() > 0 {
        let (f, b) = commit(&lake, &mut sink, offset).await;
        (commits, files, bytes) = (commits + 1, files + f, bytes + b);
    }
    let wall = started.elapsed().as_secs_f64();
    let (cpu_end, peak_rss) = usage();
    let reading = reader.join().expect("the reading thread");
    let cpu = cpu_end - cpu_start - reading;
    println!(
        "file source: {events} events ({rejected} rejected) in {wall:.2} s wall, {cpu:.2} CPU-s \
         (and {reading:.2} CPU-s reading the file): {:.0} events/s, {:.0} events per CPU-second \
         ({:.0} with the reading); {commits} commits, {files} files, {:.1} MiB Parquet \
         ({:.0} B/event); peak RSS {peak_rss:.0} MiB, open files held up to {:.0} MiB",
        events as f64 / wall,
        events as f64 / cpu,
        events as f64 / (cpu + reading),
        bytes as f64 / (1 << 20) as f64,
        bytes as f64 / events.max(1) as f64,
        peak_held as f64 / (1 << 20) as f64,
    );
}

/// Lines of the file, read in one go.
struct Block {
    data: Vec<u8>,
    /// Where each line ends in `data` (its newline excluded).
    ends: Vec<usize>,
}

impl Block {
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        let starts = std::iter::once(0).chain(self.ends.iter().map(|end| end + 1));
        starts.zip(&self.ends).map(|(start, &end)| &self.data[start..end]).filter(|l| !l.is_empty())
    }
}

/// Sends the file's lines in blocks of about 1 MiB; returns the CPU-seconds it took.
fn read_blocks(path: &str, blocks: &std::sync::mpsc::SyncSender<Block>) -> f64 {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path).expect("the file"));
    loop {
        let mut block = Block { data: Vec::with_capacity(1 << 21), ends: Vec::new() };
        while block.data.len() < 1 << 20 {
            if reader.read_until(b'\n', &mut block.data).expect("reading the file") == 0 {
                break;
            }
            if block.data.last() == Some(&b'\n') {
                block.data.pop();
            }
            block.ends.push(block.data.len());
            block.data.push(b'\n');
        }
        if block.ends.is_empty() || blocks.send(block).is_err() {
            break;
        }
    }
    cpu_seconds("/proc/thread-self/stat")
}

/// Closes the sink's files and commits them with the offsets, as the ingest job does.
async fn commit(lake: &bidlake_lake::Lake, sink: &mut TableSink, next: i64) -> (usize, u64) {
    let files = sink.close().await.unwrap();
    let bytes = files.iter().map(|f| f.file_size_in_bytes()).sum();
    let count = files.len();
    let table = lake.load_table(sink.table().name()).await.unwrap();
    let mut progress = Progress::read(&table, "bench");
    progress.offsets.insert(0, next);
    let tx = Transaction::new(&table);
    let tx = tx
        .fast_append()
        .add_data_files(files)
        .set_snapshot_properties(progress.properties("bench"))
        .apply(tx)
        .unwrap();
    match commit_pinned(lake, &table, tx).await.unwrap() {
        Attempt::Committed(table) => sink.set_table(*table),
        Attempt::Conflict => panic!("no other writer exists in the benchmark"),
    }
    (count, bytes)
}
