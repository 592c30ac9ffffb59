//! The fault suite: what users and operators really do to a running platform, driven from the
//! outside against the real binary, a real broker (tansu) and the embedded lake. Every scenario
//! checks what a user would: rows in the table, letters in the dead-letter topic, files on disk,
//! the lag `status` and the dashboard report. docs/reliability.md lists each fault and what
//! bidlake promises.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use bidlake_testkit::{
    Broker, assert_each_once, bidlake_command, consume, free_port, http_get, records_on_broker,
    run_ok, scan, sources,
};
use rdkafka::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::Value;

const BIDLAKE: &str = env!("CARGO_BIN_EXE_bidlake");

fn bidlake(broker: &Broker, data_dir: &Path) -> Command {
    bidlake_command(BIDLAKE, broker, data_dir)
}

/// `ingest` until every partition is in its table; `--duration` keeps a stuck run from hanging
/// the test (it then fails the row checks).
fn ingest_until_caught_up(broker: &Broker, dir: &Path) -> Output {
    run_ok(bidlake(broker, dir).args([
        "ingest",
        "--until-caught-up",
        "--commit-interval",
        "1s",
        "--duration",
        "120s",
    ]))
}

/// `bidlake gen` of `count` bid requests, without the funnel.
fn generate_requests(broker: &Broker, data: &Path, count: usize) {
    let count = count.to_string();
    run_ok(
        bidlake(broker, data)
            .args(["gen", "--count", &count, "--rate", "0"])
            .args(["--bid-response-rate", "0"]),
    );
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap().as_string::<i32>();
            (0..b.num_rows())
                .map(|i| a.is_valid(i).then(|| a.value(i).to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// A record as a misbehaving producer may send it: any value or none, any Kafka timestamp.
struct Raw {
    value: Option<Vec<u8>>,
    timestamp: Option<i64>,
}

fn produce_raw(bootstrap: &str, topic: &str, records: &[Raw]) {
    produce_raw_to(bootstrap, topic, 0, records);
}

fn produce_raw_to(bootstrap: &str, topic: &str, partition: i32, records: &[Raw]) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Our own producer takes large records; the dead-letter producer keeps Kafka's 1 MB.
        .set("message.max.bytes", "4000000")
        .create()
        .unwrap();
    for record in records {
        let mut base = BaseRecord::<[u8], [u8]>::to(topic).partition(partition);
        if let Some(value) = &record.value {
            base = base.payload(value.as_slice());
        }
        if let Some(timestamp) = record.timestamp {
            base = base.timestamp(timestamp);
        }
        producer.send(base).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

fn request(id: &str, country: &str, event_timestamp: &str) -> Vec<u8> {
    format!(
        r#"{{"id":"{id}","imp":[{{"id":"1"}}],"device":{{"geo":{{"country":"{country}"}}}},"event_timestamp":"{event_timestamp}"}}"#
    )
    .into_bytes()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().map(Result::unwrap) {
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn poison_records_go_to_the_dead_letter_topic_and_never_stop_their_partition() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path()).arg("setup"));
    let now = "2026-11-24T08:00:00Z";
    let huge = format!(
        r#"{{"id":"huge","imp":[{{"id":"1"}}],"ext":{{"pad":"{}"}},"device":{{"geo":{{"country":"../x"}}}},"event_timestamp":"{now}"}}"#,
        "x".repeat(1_500_000)
    );
    // Deep nesting where bidlake reads nothing is skipped without recursion (no stack to
    // overflow); where it expects one of its fields, it is a type error.
    let deep_ignored = format!(
        r#"{{"id":"deep","imp":[{{"id":"1"}}],"ext":{}{},"device":{{"geo":{{"country":"FRA"}}}},"event_timestamp":"{now}"}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let deep_read = format!(
        r#"{{"id":"deep2","imp":[{{"id":"1","banner":{}{}}}],"event_timestamp":"{now}"}}"#,
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let bare = |v: Vec<u8>| Raw { value: Some(v), timestamp: None };
    // (record, the row's country or the dead letter's reason)
    let cases: Vec<(Raw, Result<&str, &str>)> = vec![
        (bare(request("ok-usa", "USA", now)), Ok("USA")),
        (bare(request("alpha-2", "US", now)), Ok("USA")),
        (bare(request("lower", "gbr", now)), Ok("GBR")),
        (bare(request("escape", "../../../../escaped", now)), Err("bad_country")),
        (bare(request("long", &"A".repeat(300), now)), Err("bad_country")),
        (bare(request("slash", "U/S", now)), Err("bad_country")),
        (bare(huge.into_bytes()), Err("bad_country")),
        (Raw { value: None, timestamp: None }, Err("tombstone")),
        (bare(deep_ignored.into_bytes()), Ok("FRA")),
        (bare(deep_read.into_bytes()), Err("wrong_type")),
        (bare(br#"{"id":"nan","imp":[{"id":"1","bidfloor":NaN}]}"#.to_vec()), Err("not_json")),
        (bare(br#"{"id":"inf","imp":[{"id":"1","bidfloor":Infinity}]}"#.to_vec()), Err("not_json")),
        (bare(request("1970", "USA", "1970-01-01T00:00:00Z")), Err("event_time_outside_window")),
        (bare(request("2999", "USA", "2999-01-01T00:00:00Z")), Err("event_time_outside_window")),
        (
            Raw {
                value: Some(br#"{"id":"kafka-time","imp":[{"id":"1"}]}"#.to_vec()),
                timestamp: Some(i64::MAX / 10),
            },
            Err("bad_timestamp"),
        ),
        (bare(request("ok-after", "DE", now)), Ok("DEU")),
    ];
    let records: Vec<Raw> =
        cases.iter().map(|(r, _)| Raw { value: r.value.clone(), timestamp: r.timestamp }).collect();
    produce_raw(&broker.bootstrap(), "bid-requests", &records);

    ingest_until_caught_up(&broker, dir.path());
    // Again: nothing loops, nothing is written twice.
    ingest_until_caught_up(&broker, dir.path());

    let table = scan(dir.path(), "bid_requests");
    assert_each_once(&table, "bid_requests");
    let rows: BTreeMap<i64, Option<String>> = sources(&table)
        .into_iter()
        .map(|(_, offset)| offset)
        .zip(strings(&table, "device_geo_country"))
        .collect();
    let dead =
        consume(&broker.bootstrap(), &["bid-requests-dlq"], usize::MAX, Duration::from_secs(3));
    for (offset, (_, expected)) in cases.iter().enumerate() {
        let offset = offset as i64;
        let letters: Vec<_> = dead
            .iter()
            .filter(|r| r.header("source.offset") == Some(&offset.to_string()))
            .collect();
        match expected {
            Ok(country) => {
                assert_eq!(
                    rows.get(&offset),
                    Some(&Some((*country).to_owned())),
                    "offset {offset}"
                );
                assert!(letters.is_empty(), "offset {offset} is a row and a dead letter");
            }
            Err(kind) => {
                assert!(!rows.contains_key(&offset), "offset {offset} became a row");
                assert_eq!(letters.len(), 1, "offset {offset}: one dead letter: {letters:#?}");
                let error = letters[0].header("error").unwrap();
                assert!(error.starts_with(&format!("{kind}: ")), "offset {offset}: {error}");
            }
        }
    }
    // The letter of the 1.5 MB record goes without its value, and says so and where it is.
    let huge_letter = dead.iter().find(|r| r.header("source.offset") == Some("6")).unwrap();
    assert!(huge_letter.value.is_empty());
    let dropped = huge_letter.header("value.dropped").unwrap();
    assert!(dropped.contains("bid-requests/0 offset 6"), "{dropped}");
    // The tombstone's letter is a tombstone too, byte for byte.
    assert!(dead.iter().find(|r| r.header("source.offset") == Some("7")).unwrap().value.is_empty());

    // Nothing was written outside the table's own directory.
    let warehouse = dir.path().join("warehouse");
    for file in files_under(&warehouse) {
        let inside = bidlake_tables::definitions()
            .unwrap()
            .iter()
            .any(|t| file.starts_with(warehouse.join("db").join(t.name)));
        assert!(inside, "{} is outside every table's location", file.display());
    }
    assert!(
        files_under(dir.path()).iter().all(|f| !f.to_string_lossy().contains("escaped")),
        "a path was built from a country"
    );
}

/// The lag `status` reports for each topic when no `bidlake up` answers: the broker's high
/// watermarks against the tables' committed offsets.
fn lag_without_up(broker: &Broker, dir: &Path) -> BTreeMap<String, i64> {
    lag_with_broker(&broker.bootstrap(), dir)
}

#[test]
fn lag_counts_every_partition_against_the_table_whoever_reads_it() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path()).arg("setup"));
    run_ok(bidlake(&broker, dir.path()).args(["gen", "--count", "300", "--rate", "0"]));
    // Nothing ingested: every record is lag, whatever a consumer group says.
    let before = lag_without_up(&broker, dir.path());
    assert_eq!(before["bid-requests"], 300, "{before:?}");
    ingest_until_caught_up(&broker, dir.path());
    let after = lag_without_up(&broker, dir.path());
    assert!(after.values().all(|lag| *lag == 0), "{after:?}");
    assert_eq!(
        scan(dir.path(), "bid_requests").iter().map(RecordBatch::num_rows).sum::<usize>(),
        300
    );
}

/// An interactive shell in a terminal (tmux, on a server of its own): commands are typed and
/// Ctrl-C pressed as a person does, so SIGINT goes to the whole foreground process group.
struct Terminal {
    socket: String,
}

impl Terminal {
    fn open(dir: &Path) -> Self {
        let socket = format!("bidlake-test-{}-{}", std::process::id(), free_port());
        let terminal = Self { socket };
        let status = terminal
            .tmux()
            .args(["new-session", "-d", "-s", "main", "-x", "200", "-y", "50", "-c"])
            .arg(dir)
            .args(["bash", "--norc", "--noprofile", "-i"])
            .status()
            .expect("tmux (Debian package tmux) runs the terminal tests");
        assert!(status.success(), "tmux new-session failed");
        terminal
    }

    fn tmux(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket, "-f", "/dev/null"]);
        command
    }

    fn type_line(&self, line: &str) {
        assert!(
            self.tmux().args(["send-keys", "-t", "main", "-l", line]).status().unwrap().success()
        );
        assert!(self.tmux().args(["send-keys", "-t", "main", "Enter"]).status().unwrap().success());
    }

    fn ctrl_c(&self) {
        assert!(self.tmux().args(["send-keys", "-t", "main", "C-c"]).status().unwrap().success());
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

/// `bidlake up` typed into a terminal, and what it leaves behind.
struct UpInTerminal<'a> {
    terminal: &'a Terminal,
    data: PathBuf,
    kafka: u16,
    catalog: u16,
    dashboard: u16,
}

impl<'a> UpInTerminal<'a> {
    fn on_free_ports(terminal: &'a Terminal, data: &Path) -> Self {
        Self {
            terminal,
            data: data.to_owned(),
            kafka: free_port(),
            catalog: free_port(),
            dashboard: free_port(),
        }
    }

    /// Types `bidlake up` (its log to `up-N.log`, its exit status to `exit-N`) and waits for
    /// its banner.
    fn start(&self, run: usize) {
        let unset = "env -u KAFKA_BOOTSTRAP_SERVERS -u BIDLAKE_DATA_DIR -u CATALOG_URI -u WAREHOUSE -u COMMIT_INTERVAL -u EVENTS_PER_SECOND";
        self.terminal.type_line(&format!(
            "{unset} {BIDLAKE} up --data-dir {data} --rate 100 --commit-interval 1s --kafka-port {} --catalog-port {} --dashboard-port {} > {data}/up-{run}.log 2>&1; echo \"exit=$?\" > {data}/exit-{run}",
            self.kafka,
            self.catalog,
            self.dashboard,
            data = self.data.display(),
        ));
        let log = self.data.join(format!("up-{run}.log"));
        wait_for(&format!("run {run} prints its banner"), Duration::from_secs(60), || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("bidlake is up"))
        });
    }

    /// Waits for run `run` to end, and returns its exit status as the shell saw it.
    fn exit_status(&self, run: usize) -> String {
        let file = self.data.join(format!("exit-{run}"));
        let log = self.data.join(format!("up-{run}.log"));
        wait_for(&format!("run {run} ends"), Duration::from_secs(60), || file.exists());
        let status = std::fs::read_to_string(&file).unwrap().trim().to_owned();
        if status != "exit=0" {
            eprintln!("{}", std::fs::read_to_string(log).unwrap_or_default());
        }
        status
    }

    fn api_status(&self) -> Value {
        let (code, body) = http_get(self.dashboard, "/api/status");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// The highest offset of each Kafka partition in `bid_requests`.
fn last_offsets(data: &Path) -> BTreeMap<i32, i64> {
    let mut last = BTreeMap::new();
    for (partition, offset) in sources(&scan(data, "bid_requests")) {
        let entry = last.entry(partition).or_insert(offset);
        *entry = (*entry).max(offset);
    }
    last
}

/// Waits until every one of the three partitions has rows past `before`: every partition is
/// being ingested, not some.
fn wait_for_every_partition(data: &Path, before: &BTreeMap<i32, i64>, run: usize) {
    wait_for(
        &format!("run {run} ingests all three partitions of bid-requests"),
        Duration::from_secs(60),
        || {
            let now = last_offsets(data);
            (0..3).all(|p| now.get(&p).is_some_and(|o| before.get(&p).is_none_or(|b| o > b)))
        },
    );
}

fn port_in_use(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
}

#[test]
fn ctrl_c_in_a_terminal_twice_then_kill_9_and_every_run_ingests_every_partition() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let terminal = Terminal::open(&data);
    let up = UpInTerminal::on_free_ports(&terminal, &data);

    let mut before = BTreeMap::new();
    for run in 1..=2 {
        up.start(run);
        wait_for_every_partition(&data, &before, run);
        let status = up.api_status();
        let topic = status["topics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["topic"] == "bid-requests")
            .unwrap();
        assert_eq!(
            (topic["partitions"].as_u64(), topic["read_here"].as_u64()),
            (Some(3), Some(3)),
            "{topic}"
        );
        terminal.ctrl_c();
        assert_eq!(up.exit_status(run), "exit=0", "Ctrl-C stops up cleanly");
        assert!(!port_in_use(up.kafka), "the broker stopped with up (run {run})");
        assert!(!data.join("kafka/tansu.pid").exists());
        before = last_offsets(&data);
    }

    // A crash: kill -9 of up. Its broker, in a process group of its own, lives on...
    up.start(3);
    wait_for_every_partition(&data, &before, 3);
    let pids = Command::new("pgrep")
        .args(["-f", &format!("up --data-dir {}", data.display())])
        .output()
        .unwrap();
    let pid = String::from_utf8_lossy(&pids.stdout).lines().next().unwrap().trim().to_owned();
    assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
    assert_eq!(up.exit_status(3), "exit=137");
    assert!(port_in_use(up.kafka), "the crashed run's broker still runs");
    before = last_offsets(&data);

    // ... and the next run stops it, starts its own and ingests every partition.
    up.start(4);
    wait_for_every_partition(&data, &before, 4);
    terminal.ctrl_c();
    assert_eq!(up.exit_status(4), "exit=0");

    // What a user checks afterwards: each record once, nothing left behind in any topic.
    let rows = assert_each_once(&scan(&data, "bid_requests"), "bid_requests");
    let broker =
        bidlake_kafka::embedded::EmbeddedBroker::start(&data.join("kafka"), up.kafka).unwrap();
    let lag = lag_with_broker(&broker.bootstrap(), &data);
    assert!(lag.values().all(|l| *l == 0), "a clean stop leaves no lag: {lag:?} ({rows} rows)");
    drop(broker);

    // Ctrl-C twice: up exits at once, and takes its broker down with it.
    before = last_offsets(&data);
    up.start(5);
    wait_for_every_partition(&data, &before, 5);
    terminal.ctrl_c();
    std::thread::sleep(Duration::from_millis(300));
    terminal.ctrl_c();
    assert_eq!(up.exit_status(5), "exit=130");
    wait_for("the broker is gone after a second Ctrl-C", Duration::from_secs(5), || {
        !port_in_use(up.kafka)
    });
    assert_each_once(&scan(&data, "bid_requests"), "bid_requests");
}

fn lag_with_broker(bootstrap: &str, data: &Path) -> BTreeMap<String, i64> {
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let mut command = bidlake_testkit::bidlake_lake_command(BIDLAKE, data);
    command.env("KAFKA_BOOTSTRAP_SERVERS", bootstrap);
    let out = run_ok(command.args(["status", "--json", "--dashboard-url", &nobody]));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["topic"].as_str().unwrap().to_owned(), t["lag"].as_i64().unwrap()))
        .collect()
}

#[test]
fn up_restarts_a_broker_that_still_runs_but_answers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_owned();
    let terminal = Terminal::open(&data);
    let up = UpInTerminal::on_free_ports(&terminal, &data);
    up.start(1);
    wait_for_every_partition(&data, &BTreeMap::new(), 1);
    // A stopped broker keeps its port and answers nothing, as tansu 0.6 did after its storage
    // failed.
    let pid_file = data.join("kafka/tansu.pid");
    let stopped = std::fs::read_to_string(&pid_file).unwrap();
    assert!(Command::new("kill").args(["-STOP", stopped.trim()]).status().unwrap().success());
    let before = last_offsets(&data);
    wait_for("up restarts the broker", Duration::from_secs(90), || {
        std::fs::read_to_string(&pid_file).is_ok_and(|pid| pid != stopped)
    });
    wait_for_every_partition(&data, &before, 1);
    let log = std::fs::read_to_string(data.join("up-1.log")).unwrap();
    assert!(log.contains("answered no request"), "{log}");
    terminal.ctrl_c();
    assert_eq!(up.exit_status(1), "exit=0");
    assert_each_once(&scan(&data, "bid_requests"), "bid_requests");
}

/// The data files of `table` that its current snapshot references.
fn referenced_files(data: &Path, table: &str) -> std::collections::HashSet<PathBuf> {
    use futures::TryStreamExt;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake =
            bidlake_lake::open_lake(bidlake_lake::LakeArgs::embedded().resolve(data).unwrap())
                .await
                .unwrap();
        let table = lake.load_table(table).await.unwrap();
        if table.metadata().current_snapshot().is_none() {
            return Default::default();
        }
        let tasks: Vec<_> =
            table.scan().build().unwrap().plan_files().await.unwrap().try_collect().await.unwrap();
        tasks
            .iter()
            .map(|t| PathBuf::from(t.data_file_path.trim_start_matches("file://")))
            .collect()
    })
}

#[test]
fn a_stopped_ingest_never_commits_files_that_orphan_removal_deleted() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(bidlake(&broker, data).arg("setup"));
    let mut generator = bidlake(&broker, data)
        .args(["gen", "--rate", "300", "--duration", "20s", "--seed", "5"])
        .spawn()
        .unwrap();
    let mut ingest = bidlake(&broker, data)
        .args(["ingest", "--table", "bid_requests", "--commit-interval", "1s"])
        .args(["--batch-rows", "16", "--max-uncommitted-age", "3s", "--duration", "120s"])
        .spawn()
        .unwrap();
    wait_for("the first commit", Duration::from_secs(60), || !last_offsets(data).is_empty());

    // The laptop lid closes: ingest stops with files written and not committed...
    let pid = ingest.id().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    std::thread::sleep(Duration::from_secs(5));
    // ... and orphan removal, past its age, deletes every file no snapshot references.
    let referenced = referenced_files(data, "bid_requests");
    let table_dir = data.join("warehouse/db/bid_requests/data");
    let mut deleted = 0;
    for file in files_under(&table_dir) {
        if !referenced.contains(&file) {
            std::fs::remove_file(&file).unwrap();
            deleted += 1;
        }
    }
    assert!(deleted > 0, "ingest was stopped with no file in flight; the test proves nothing");
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());

    assert!(generator.wait().unwrap().success());
    wait_for("ingest catches up", Duration::from_secs(60), || {
        lag_without_up(&broker, data)["bid-requests"] == 0
    });
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    assert!(ingest.wait().unwrap().success());
    // Every file the table references exists (the scan reads them all), each record once.
    let rows = assert_each_once(&scan(data, "bid_requests"), "bid_requests");
    let produced =
        consume(&broker.bootstrap(), &["bid-requests"], usize::MAX, Duration::from_secs(3));
    assert_eq!(rows, produced.len());
}

#[test]
fn progress_survives_another_engines_commit_and_the_expiry_of_every_bidlake_snapshot() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(bidlake(&broker, data).arg("setup"));
    let generate = |count: usize| generate_requests(&broker, data, count);
    generate(200);
    ingest_until_caught_up(&broker, data);

    // PyIceberg appends through the REST catalog: a snapshot with no bidlake summary...
    let catalog = bidlake_testkit::CatalogServer::start(BIDLAKE, data, ("CATALOG_TOKEN", "t"));
    let other = bidlake_testkit::run_python(
        "other_writer.py",
        &["--uri", &catalog.uri, "--table", "db.bid_requests", "--token", "t"],
        &[],
    );
    assert!(
        other["summary"].as_object().unwrap().keys().all(|k| !k.starts_with("bidlake.")),
        "{other}"
    );
    drop(catalog);
    // ... and expiry keeps only that one.
    run_ok(bidlake(&broker, data).args([
        "maintain",
        "--expire-snapshots",
        "--table",
        "bid_requests",
        "--retain-snapshots-older-than",
        "0s",
        "--retain-last",
        "1",
    ]));

    // Ingest resumes where it was: the 200 are not read again, the 100 new ones are added.
    generate(100);
    ingest_until_caught_up(&broker, data);
    let table = scan(data, "bid_requests");
    let ingested: Vec<_> = sources(&table).into_iter().filter(|(_, o)| *o >= 0).collect();
    assert_eq!(ingested.len(), 300, "each record once, after another engine's commit");
    assert_eq!(ingested.iter().collect::<std::collections::HashSet<_>>().len(), 300);
    assert_eq!(sources(&table).len(), 301, "and the other engine's row");
}

#[test]
fn a_table_changed_by_another_engine_while_ingest_runs_stops_alone_with_the_change_named() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(bidlake(&broker, data).arg("setup"));
    let generate = |count: usize| {
        let count = count.to_string();
        run_ok(
            bidlake(&broker, data)
                .args(["gen", "--count", &count, "--rate", "0"])
                .args(["--win-rate", "0.5"]),
        )
    };
    generate(100);
    let log = data.join("ingest.log");
    let mut ingest = bidlake(&broker, data)
        .args(["ingest", "--commit-interval", "1s", "--duration", "120s"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let rows = |table: &str| scan(data, table).iter().map(RecordBatch::num_rows).sum::<usize>();
    wait_for("the first 100 requests", Duration::from_secs(60), || rows("bid_requests") == 100);

    let catalog = bidlake_testkit::CatalogServer::start(BIDLAKE, data, ("CATALOG_TOKEN", "t"));
    let change = |how: &[&str]| {
        let mut args =
            vec!["--uri", catalog.uri.as_str(), "--table", "db.bid_requests", "--token", "t"];
        args.extend_from_slice(how);
        bidlake_testkit::run_python("other_writer.py", &args, &[]);
    };
    // A column added by another engine: ingest goes on.
    change(&["--add-column", "note"]);
    generate(100);
    wait_for("requests after a column was added", Duration::from_secs(60), || {
        rows("bid_requests") == 200
    });

    // A column renamed: that table stops, named; the others go on.
    change(&["--rename", "site_domain:domain"]);
    let impressions = rows("impressions");
    generate(100);
    wait_for("impressions after the rename", Duration::from_secs(60), || {
        rows("impressions") > impressions
    });
    wait_for("the halt is logged", Duration::from_secs(30), || {
        std::fs::read_to_string(&log).unwrap().contains("ingest of this table stops")
    });
    assert_eq!(rows("bid_requests"), 200, "nothing is written to the changed table");
    assert!(ingest.try_wait().unwrap().is_none(), "ingest goes on for the other tables");
    assert!(
        Command::new("kill").args(["-INT", &ingest.id().to_string()]).status().unwrap().success()
    );
    let status = ingest.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success(), "a halted table is reported by the exit status");
    assert!(text.contains("field id 7 is named domain, bidlake expects site_domain"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
}

/// Asserts the promise on `topic`: every produced (partition, offset) is exactly one row of
/// `table` or one dead letter, never both, never twice, none missing. Returns (rows, letters).
fn assert_every_record_once(
    broker: &Broker,
    data: &Path,
    topic: &str,
    table: &str,
) -> (usize, usize) {
    // Read until every record the broker holds is in (a group join on tansu can pause reading
    // for seconds).
    let bootstrap = broker.bootstrap();
    let read_all = |topic: &str| {
        let expected = records_on_broker(&bootstrap, topic);
        let records = consume(&bootstrap, &[topic], expected, Duration::from_secs(30));
        assert_eq!(records.len(), expected, "{topic}: read back every record");
        records
    };
    let produced = read_all(topic);
    let letters = read_all(&format!("{topic}-dlq"));
    let rows = sources(&scan(data, table));
    let mut seen: BTreeMap<(i32, i64), usize> = BTreeMap::new();
    for source in &rows {
        *seen.entry(*source).or_default() += 1;
    }
    for letter in &letters {
        let partition = letter.header("source.partition").unwrap().parse().unwrap();
        let offset = letter.header("source.offset").unwrap().parse().unwrap();
        *seen.entry((partition, offset)).or_default() += 1;
    }
    let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "{topic}: records landed twice (row or letter): {twice:?}");
    let missing: Vec<_> = produced
        .iter()
        .filter(|r| !seen.contains_key(&(r.partition, r.offset)))
        .map(|r| (r.partition, r.offset))
        .collect();
    assert!(
        missing.is_empty(),
        "{topic}: {} records neither a row nor a letter: {missing:?}",
        missing.len()
    );
    assert_eq!(seen.len(), produced.len(), "{topic}: rows or letters for records never produced");
    (rows.len(), letters.len())
}

#[test]
fn kill_9s_and_a_broker_restart_with_bad_records_mixed_in_lose_and_double_nothing() {
    // Kills in rounds 1 and 4, the broker restarted in round 2 and down for 15 s in round 5.
    kills_and_restarts(&[
        None,
        Some(Fault::Kill),
        Some(Fault::BrokerRestart),
        None,
        Some(Fault::Kill),
        Some(Fault::BrokerDown(Duration::from_secs(15))),
        None,
    ]);
}

/// The soak version (`scripts/soak-faults.sh`): `FAULT_SOAK_ROUNDS` rounds (default 60), each
/// followed by a kill -9 of ingest at a random moment, and a broker restart every tenth.
#[test]
#[ignore = "a soak of several minutes: scripts/soak-faults.sh runs it"]
fn soak_dozens_of_kill_9s_and_broker_restarts() {
    let rounds: usize =
        std::env::var("FAULT_SOAK_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(60);
    let faults: Vec<Option<Fault>> = (1..=rounds)
        .map(|n| Some(if n % 10 == 0 { Fault::BrokerRestart } else { Fault::Kill }))
        .collect();
    kills_and_restarts(&faults);
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Kill,
    BrokerRestart,
    /// The broker killed, and started again after this long.
    BrokerDown(Duration),
}

/// Rounds of good and bad records into every partition of `bid-requests`, each followed by its
/// fault while ingest (one process reading every partition) works; then a last ingest catches
/// up and every record must be exactly one row or one dead letter.
fn kills_and_restarts(faults: &[Option<Fault>]) {
    let mut broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(bidlake(&broker, data).arg("setup"));
    let spawn_ingest = |broker: &Broker| {
        bidlake(broker, data)
            .args(["ingest", "--table", "bid_requests", "--commit-interval", "500ms"])
            .args(["--batch-rows", "32"])
            // The only ingest on this broker: no group a killed run could stay a member of.
            .args(["--assignment", "all", "--duration", "600s"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    let now = "2026-11-24T08:00:00Z";
    let round = |broker: &Broker, n: usize| {
        let records: Vec<Raw> = (0..60)
            .map(|i| {
                let id = format!("r{n}-{i}");
                Raw {
                    value: Some(match i % 6 {
                        0 => b"{not json".to_vec(),
                        1 => request(&id, "../../x", now),
                        2 => request(&id, "US", now),
                        _ => request(&id, "DEU", now),
                    }),
                    timestamp: None,
                }
            })
            .collect();
        for partition in 0..3 {
            produce_raw_to(&broker.bootstrap(), "bid-requests", partition, &records);
        }
    };
    // The moment of each kill varies from round to round (a fixed sequence: reproducible).
    let mut jitter = 0x2545_f491_u64;
    let mut ingest = spawn_ingest(&broker);
    for (n, fault) in faults.iter().enumerate() {
        round(&broker, n);
        jitter =
            jitter.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        std::thread::sleep(Duration::from_millis(300 + (jitter >> 33) % 1_500));
        match fault {
            Some(Fault::Kill) => {
                ingest.kill().unwrap();
                ingest.wait().unwrap();
                ingest = spawn_ingest(&broker);
            }
            Some(Fault::BrokerRestart) => broker.restart(),
            Some(Fault::BrokerDown(down)) => {
                broker.kill();
                std::thread::sleep(*down);
                broker.restart();
            }
            None => {}
        }
    }
    ingest.kill().unwrap();
    ingest.wait().unwrap();
    run_ok(bidlake(&broker, data).args([
        "ingest",
        "--until-caught-up",
        "--assignment",
        "all",
        "--duration",
        "300s",
    ]));
    let (rows, letters) = assert_every_record_once(&broker, data, "bid-requests", "bid_requests");
    let rounds = faults.len();
    assert_eq!((rows, letters), (rounds * 3 * 40, rounds * 3 * 20));
    eprintln!("{rounds} rounds: {rows} rows and {letters} dead letters, each record once");
}

/// `ingest` of bid_requests alone, committing every second for at most `duration`, its log in
/// `log`; returns once it has landed the 100 requests generated first.
fn ingest_landing_100_requests(broker: &Broker, data: &Path, duration: &str, log: &Path) -> Child {
    let ingest = bidlake(broker, data)
        .args(["ingest", "--table", "bid_requests", "--commit-interval", "1s"])
        .args(["--duration", duration])
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap();
    generate_requests(broker, data, 100);
    let rows = || scan(data, "bid_requests").iter().map(RecordBatch::num_rows).sum::<usize>();
    wait_for("the first 100 requests", Duration::from_secs(60), || rows() == 100);
    ingest
}

/// Another program holding the SQLite catalog locked, as a long write transaction would, until
/// `release` (Python) returns; returns once the lock is held.
fn lock_catalog(data: &Path, release: &str) -> Child {
    let script = format!(
        "import sqlite3, sys, time; c = sqlite3.connect(sys.argv[1], isolation_level=None); \
         c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); {release}; c.execute('COMMIT')"
    );
    let mut lock = Command::new(bidlake_testkit::python_venv().join("bin/python"))
        .args(["-c", &script])
        .arg(data.join("catalog.db"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(lock.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    lock
}

#[test]
fn a_catalog_held_locked_for_20_s_is_waited_out() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(bidlake(&broker, data).arg("setup"));
    let generate = |count: usize| generate_requests(&broker, data, count);
    let mut ingest = ingest_landing_100_requests(&broker, data, "120s", &data.join("ingest.log"));
    let rows = || scan(data, "bid_requests").iter().map(RecordBatch::num_rows).sum::<usize>();

    let mut lock = lock_catalog(data, "time.sleep(20)");
    generate(100);
    assert!(lock.wait().unwrap().success());
    wait_for("the requests sent while the catalog was locked", Duration::from_secs(90), || {
        rows() == 200
    });
    assert!(ingest.try_wait().unwrap().is_none(), "ingest waited the lock out");
    assert!(
        Command::new("kill").args(["-INT", &ingest.id().to_string()]).status().unwrap().success()
    );
    assert!(ingest.wait().unwrap().success());
    assert_every_record_once(&broker, data, "bid-requests", "bid_requests");
}

/// Ctrl-C while ingest waits out a failed commit (the catalog locked for longer than its
/// 30 s busy timeout): the batch that failed is incomplete, so stopping must not commit it once
/// the catalog answers again; every record is in the table once after the next run.
#[test]
fn ctrl_c_while_ingest_waits_out_a_failed_commit_loses_nothing() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(bidlake(&broker, data).arg("setup"));
    let generate = |count: usize| generate_requests(&broker, data, count);
    let log = data.join("ingest.log");
    let mut ingest = ingest_landing_100_requests(&broker, data, "150s", &log);
    let rows = || scan(data, "bid_requests").iter().map(RecordBatch::num_rows).sum::<usize>();

    // Locked until told to let go.
    let mut lock = lock_catalog(data, "sys.stdin.readline()");
    generate(100);
    // The commit of those 100 fails after the busy timeout; Ctrl-C during the wait after it.
    let failed = || std::fs::read_to_string(&log).unwrap().contains("cannot go on for now");
    wait_for("the commit to fail", Duration::from_secs(90), failed);
    assert!(
        Command::new("kill").args(["-INT", &ingest.id().to_string()]).status().unwrap().success()
    );
    std::io::Write::write_all(lock.stdin.as_mut().unwrap(), b"go\n").unwrap();
    assert!(lock.wait().unwrap().success());
    let stopped = ingest.wait().unwrap();
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(stopped.success(), "{said}");
    assert!(said.contains("stopping without a commit"), "{said}");

    ingest_until_caught_up(&broker, data);
    assert_eq!(rows(), 200);
    assert_every_record_once(&broker, data, "bid-requests", "bid_requests");
}

/// Stopping ingest (SIGTERM, as `docker stop` or systemd do) while its broker is down: it
/// commits what it holds and exits, instead of waiting for the broker forever (librdkafka's
/// consumer close has no bound; found when a benchmark's brokers were stopped first). In a
/// consumer group and reading every partition; every record is in the table once after the
/// broker is back and ingest catches up.
#[test]
fn stopping_ingest_while_its_broker_is_down_commits_and_exits() {
    for assignment in ["group", "all"] {
        let mut broker = Broker::start();
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        run_ok(bidlake(&broker, data).arg("setup"));
        let log = data.join("ingest.log");
        let mut ingest = bidlake(&broker, data)
            .args(["ingest", "--table", "bid_requests", "--commit-interval", "1s"])
            .args(["--duration", "300s"])
            .env("INGEST_ASSIGNMENT", assignment)
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        generate_requests(&broker, data, 100);
        let rows = || scan(data, "bid_requests").iter().map(RecordBatch::num_rows).sum::<usize>();
        wait_for("the first 100 requests", Duration::from_secs(60), || rows() == 100);
        // More on the broker, some of them perhaps read and not yet committed, then it dies.
        generate_requests(&broker, data, 50);
        broker.kill();
        std::thread::sleep(Duration::from_secs(1));
        let pid = ingest.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        // Ingest gives the close 5 s; librdkafka's own wait has no bound (close to a minute
        // here, minutes beside a busy machine), past the 10 s `docker stop` allows.
        let deadline = Instant::now() + Duration::from_secs(20);
        let stopped = loop {
            if let Some(status) = ingest.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                ingest.kill().unwrap();
                let said = std::fs::read_to_string(&log).unwrap();
                panic!("{assignment}: ingest still runs 20 s after SIGTERM, broker down:\n{said}");
            }
            std::thread::sleep(Duration::from_millis(250));
        };
        let said = std::fs::read_to_string(&log).unwrap();
        assert!(stopped.success(), "{assignment}: {stopped}\n{said}");

        broker.restart();
        // Without a group: tansu 0.6 never expires the member the stopped run could not take
        // out of the group, so a new member of it would get no partition.
        run_ok(
            bidlake(&broker, data)
                .args(["ingest", "--until-caught-up", "--commit-interval", "1s"])
                .args(["--duration", "120s", "--assignment", "all"]),
        );
        assert_eq!(rows(), 150, "{assignment}");
        assert_every_record_once(&broker, data, "bid-requests", "bid_requests");
    }
}

#[test]
fn a_burst_of_distinct_partitions_is_committed_early_and_lands_whole() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    run_ok(bidlake(&broker, data).arg("setup"));
    // 300 records, each on a day of its own: 300 table partitions, past a limit of 100.
    let day = 86_400_000_000_i64;
    let start = 978_307_200_000_000_i64; // 2001-01-01
    let records: Vec<Raw> = (0..300)
        .map(|i| {
            let date = bidlake_tables::timestamp::format_micros(start + i * day).unwrap();
            Raw { value: Some(request(&format!("d{i}"), "USA", &date)), timestamp: None }
        })
        .collect();
    produce_raw(&broker.bootstrap(), "bid-requests", &records);
    let out = run_ok(bidlake(&broker, data).args([
        "ingest",
        "--table",
        "bid_requests",
        "--until-caught-up",
        "--commit-interval",
        "60s",
        "--max-partitions-per-batch",
        "100",
        "--duration",
        "120s",
    ]));
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("committing it early to bound memory"), "{log}");
    assert_eq!(assert_each_once(&scan(data, "bid_requests"), "bid_requests"), 300);
}

#[test]
fn an_s3_that_hangs_for_20_s_is_waited_out() {
    let s3 = bidlake_testkit::S3Server::start();
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let env = s3.lake_env("s3://faults/lake");
    let with_s3 = |command: &mut Command| {
        for (key, value) in &env {
            command.env(key, value);
        }
    };
    let mut setup = bidlake(&broker, data);
    with_s3(setup.arg("setup"));
    run_ok(&mut setup);
    let generate = |count: usize| generate_requests(&broker, data, count);
    let log = data.join("ingest.log");
    let mut ingest = bidlake(&broker, data);
    with_s3(ingest.args([
        "ingest",
        "--table",
        "bid_requests",
        "--commit-interval",
        "1s",
        "--duration",
        "150s",
    ]));
    let mut ingest = ingest.stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let rows = || {
        let mut args = bidlake_lake::LakeArgs::embedded();
        args.warehouse = Some("s3://faults/lake".into());
        args.s3_endpoint = Some(s3.endpoint());
        args.s3_path_style_access = true;
        args.s3_access_key_id = Some(bidlake_testkit::S3_ACCESS_KEY.into());
        args.s3_secret_access_key =
            Some(bidlake_lake::Secret::from(bidlake_testkit::S3_SECRET_KEY.to_owned()));
        bidlake_testkit::scan_lake(args, data, "bid_requests")
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>()
    };
    generate(100);
    wait_for("the first 100 requests", Duration::from_secs(60), || rows() == 100);

    // S3 stops answering (its process stopped) while records arrive, then comes back.
    let pid = s3.pid().to_string();
    assert!(Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    generate(100);
    std::thread::sleep(Duration::from_secs(20));
    assert!(Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    wait_for("the requests sent while S3 hung", Duration::from_secs(90), || rows() == 200);
    assert!(ingest.try_wait().unwrap().is_none(), "ingest waited S3 out");
    assert!(
        Command::new("kill").args(["-INT", &ingest.id().to_string()]).status().unwrap().success()
    );
    assert!(ingest.wait().unwrap().success(), "{}", std::fs::read_to_string(&log).unwrap());
    assert_eq!(rows(), 200);
}
