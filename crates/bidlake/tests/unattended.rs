//! Running unattended: the maintenance ingest runs beside itself (`ingest --maintain`, on by
//! default in `up`) and the embedded broker's retention, driven from the outside against the
//! real binary and a real broker (tansu), checked as a user would: rows in the tables, files
//! on disk, records on the broker.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bidlake_testkit::{
    Broker, assert_each_once, bidlake_command, records_on_broker, run_ok, scan, sources,
};

const BIDLAKE: &str = env!("CARGO_BIN_EXE_bidlake");

fn bidlake(broker: &Broker, data_dir: &Path) -> Command {
    bidlake_command(BIDLAKE, broker, data_dir)
}

fn count_files(dir: &Path, suffix: &str) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries.flatten().filter(|e| e.file_name().to_string_lossy().ends_with(suffix)).count()
        })
        .unwrap_or(0)
}

/// A lake set up on a broker of its own, where a generator ran beside an ingest.
struct Ran {
    broker: Broker,
    dir: tempfile::TempDir,
    /// Ingest's log.
    log: String,
}

impl Ran {
    fn data(&self) -> &Path {
        self.dir.path()
    }
}

/// A generator run with `generate` beside an ingest with `ingest_args` (its log in
/// `ingest.log`), on a new broker and lake; once the generator is done and `settle` has passed,
/// a person's Ctrl-C stops ingest, which must still have been running and must exit cleanly.
fn generate_beside_ingest(generate: &[&str], ingest_args: &[&str], settle: Duration) -> Ran {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(bidlake(&broker, data).arg("setup"));
    let mut generator = bidlake(&broker, data)
        .arg("gen")
        .args(generate)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log_path = data.join("ingest.log");
    let mut ingest = bidlake(&broker, data)
        .args(["ingest", "--assignment", "all", "--duration", "120s"])
        .args(ingest_args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    assert!(generator.wait().unwrap().success());
    std::thread::sleep(settle);
    assert!(
        ingest.try_wait().unwrap().is_none(),
        "ingest ended by itself:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    // Ctrl-C: ingest commits what it holds, maintenance stops between steps.
    assert!(
        Command::new("kill").args(["-INT", &ingest.id().to_string()]).status().unwrap().success()
    );
    let stopped = Instant::now();
    assert!(ingest.wait().unwrap().success());
    assert!(stopped.elapsed() < Duration::from_secs(30), "stopping took {:?}", stopped.elapsed());
    let log = std::fs::read_to_string(&log_path).unwrap();
    Ran { broker, dir, log }
}

#[test]
fn maintenance_beside_ingest_loses_and_doubles_nothing_and_metadata_stays_bounded() {
    // A stream of ~20 s with its funnel, while ingest commits every 200 ms and maintains every
    // second: compactions, manifest merges and expiries race its commits the whole time.
    let ran = generate_beside_ingest(
        &["--count", "3000", "--rate", "150", "--seed", "15"],
        &[
            "--commit-interval",
            "200ms",
            "--maintain",
            "--maintain-every",
            "1s",
            "--maintain-min-files",
            "4",
            "--maintain-retain-snapshots",
            "3s",
        ],
        Duration::from_secs(4),
    );
    let (broker, data, log) = (&ran.broker, ran.data(), &ran.log);
    for done in ["compaction committed", "snapshots expired"] {
        assert!(log.contains(done), "no {done:?} in the ingest log:\n{log}");
    }
    assert!(!log.contains("fenced"), "maintenance fenced ingest:\n{log}");
    assert!(!log.contains("background maintenance failed"), "{log}");

    // Whatever was left on the broker, then every record is exactly one row.
    run_ok(bidlake(broker, data).args(["ingest", "--until-caught-up", "--assignment", "all"]));
    for (topic, table) in [
        ("bid-requests", "bid_requests"),
        ("bid-responses", "bid_responses"),
        ("impressions", "impressions"),
        ("clicks", "clicks"),
    ] {
        let rows = assert_each_once(&scan(data, table), table);
        let letters = records_on_broker(&broker.bootstrap(), &format!("{topic}-dlq"));
        assert_eq!(letters, 0, "{topic}: dead letters from the generator's valid events");
        assert_eq!(rows, records_on_broker(&broker.bootstrap(), topic), "{table}: rows");
        assert_eq!(sources(&scan(data, table)).len(), rows);
    }

    // Hundreds of commits, yet the metadata files are the table's log (25) and the current one.
    let metadata = data.join("warehouse/db/bid_requests/metadata");
    let commits = log.matches("committed table=\"bid_requests\"").count();
    // More commits than the metadata log keeps (the count varies with the machine's load).
    assert!(commits > 30, "only {commits} commits to bid_requests");
    let json = count_files(&metadata, ".metadata.json");
    assert!(json <= 26, "{json} metadata files after {commits} commits");
    // Expired snapshots took their manifest lists with them.
    let lists = std::fs::read_dir(&metadata)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("snap-"))
        .count();
    assert!(lists < commits / 2, "{lists} manifest lists after {commits} commits");
}

#[test]
fn between_rounds_small_files_are_compacted_and_manifests_merged() {
    // ~10 s of requests committed every 100 ms: ~100 appends, each a manifest and a file per
    // country. No round comes (the first would an hour after the start), so only the checks
    // between rounds can compact the files and merge the manifests.
    let ran = generate_beside_ingest(
        &["--count", "1500", "--rate", "150", "--seed", "18", "--bid-response-rate", "0"],
        &["--commit-interval", "100ms", "--maintain", "--maintain-every", "1h"],
        Duration::from_secs(3),
    );
    let (broker, data, log) = (&ran.broker, ran.data(), &ran.log);
    let appends = log.matches("committed table=\"bid_requests\"").count();
    assert!(appends > 40, "only {appends} commits to bid_requests:\n{log}");
    for done in ["compaction committed", "manifests merged"] {
        assert!(log.contains(done), "no {done:?} between rounds:\n{log}");
    }

    // What a user's scan plans over and opens: the current snapshot's manifests and files.
    let count = |sql: &str| -> usize {
        let out = run_ok(bidlake(broker, data).args(["query", "--format", "csv", sql]));
        String::from_utf8(out.stdout).unwrap().lines().nth(1).unwrap().parse().unwrap()
    };
    let manifests = count("SELECT COUNT(*) FROM \"bid_requests$manifests\" WHERE content = 0");
    assert!(manifests < appends / 2, "{manifests} data manifests after {appends} appends");
    // No snapshot expired (that is a round's), so every file ever written is still on disk.
    let live = count("SELECT COUNT(*) FROM \"bid_requests$files\"");
    let written = parquet_files(&data.join("warehouse/db/bid_requests/data"));
    assert!(live * 2 < written, "{live} live data files of {written} written");

    let rows = assert_each_once(&scan(data, "bid_requests"), "bid_requests");
    assert_eq!(rows, 1500);
}

/// Parquet files under `dir`, at any depth (one directory per partition).
fn parquet_files(dir: &Path) -> usize {
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files += parquet_files(&path);
        } else if path.extension().is_some_and(|e| e == "parquet") {
            files += 1;
        }
    }
    files
}

#[test]
fn the_embedded_broker_removes_records_past_their_retention() {
    let broker = Broker::start_with_cleanup(Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    // Topics bidlake creates get the retention (as `up` gives its embedded broker 24 h).
    run_ok(bidlake(&broker, data).args(["setup", "--topic-retention", "3s"]));
    run_ok(bidlake(&broker, data).args(["gen", "--count", "200", "--rate", "0"]));
    let bootstrap = broker.bootstrap();
    let held = records_on_broker(&bootstrap, "bid-requests");
    assert_eq!(held, 200);
    let started = Instant::now();
    while records_on_broker(&bootstrap, "bid-requests") > 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "records past their retention still on the broker after {:?}",
            started.elapsed()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
