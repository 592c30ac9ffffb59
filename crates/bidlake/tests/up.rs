//! `bidlake up` and `bidlake consume` from the outside: the real binary, the embedded broker and
//! the embedded lake.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bidlake_openrtb::{BidRequest, validate};
use bidlake_testkit::{assert_each_once, free_port, scan};

fn bidlake() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bidlake"));
    for var in [
        "KAFKA_BOOTSTRAP_SERVERS",
        "EVENTS_PER_SECOND",
        "BIDLAKE_DATA_DIR",
        "BIDLAKE_KAFKA_PORT",
        "CATALOG_URI",
        "WAREHOUSE",
        "COMMIT_INTERVAL",
    ] {
        command.env_remove(var);
    }
    command
}

/// Starts `up` and returns once it printed its banner.
fn start_up(data_dir: &std::path::Path, port: u16) -> Child {
    let mut child = bidlake()
        .args(["up", "--rate", "200", "--commit-interval", "2s", "--kafka-port", &port.to_string()])
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting bidlake up");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("bidlake is up") {
                let _ = tx.send(());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(60)).expect("up prints its banner");
    child
}

/// Waits (up to a minute) until `bid_requests` holds at least `n` rows; returns how many.
fn wait_for_rows(data_dir: &std::path::Path, n: usize) -> usize {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let rows = scan(data_dir, "bid_requests").iter().map(|b| b.num_rows()).sum();
        if rows >= n {
            return rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "only {rows} rows in the table after a minute of up"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn interrupt(child: Child) {
    let status =
        Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("waiting for up");
    assert!(out.status.success(), "up did not stop cleanly: {:?}", out.status);
}

fn consume(port: u16, count: u32) -> Vec<String> {
    let out = bidlake()
        .args(["consume", "bid-requests", "--count", &count.to_string(), "--idle-timeout", "20s"])
        .args(["--bootstrap-servers", &format!("127.0.0.1:{port}")])
        .output()
        .expect("running consume");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8").lines().map(str::to_owned).collect()
}

#[test]
fn up_runs_broker_generator_and_ingest_and_resumes_on_the_same_data() {
    let data = tempfile::tempdir().expect("temp dir");
    let port = free_port();

    let up = start_up(data.path(), port);
    let lines = consume(port, 20);
    assert_eq!(lines.len(), 20);
    let mut first_ids = Vec::new();
    for line in &lines {
        let request: BidRequest = serde_json::from_str(line).expect("a bid request");
        assert!(validate(&request).is_empty());
        first_ids.push(request.id);
    }
    // While up runs, its ingest commits (every 2 s here): the table grows.
    let committed = wait_for_rows(data.path(), 20);
    interrupt(up);
    assert!(
        data.path().join("kafka/tansu.db").exists(),
        "broker storage lives in the data directory"
    );
    assert!(
        TcpListener::bind(("127.0.0.1", port)).is_ok(),
        "the broker stopped with up and freed its port"
    );
    assert!(consume_idle(port).is_empty(), "nothing listens after up stopped");
    // Ctrl-C lost nothing ingest had committed, and wrote nothing twice.
    let first_rows = assert_each_once(&scan(data.path(), "bid_requests"), "bid_requests");
    assert!(first_rows >= committed, "{first_rows} rows after stopping, {committed} before");

    // A second `up` on the same data directory keeps what the first produced and adds to it.
    let up = start_up(data.path(), port);
    let ids: std::collections::HashSet<String> = consume(port, 2_000)
        .iter()
        .map(|line| serde_json::from_str::<BidRequest>(line).expect("a bid request").id)
        .collect();
    assert_eq!(ids.len(), 2_000, "new events are added, none repeated");
    for id in &first_ids {
        assert!(ids.contains(id), "request {id} of the first run was kept");
    }
    // The second run resumes from the table's offsets and catches up: more rows, none twice.
    let committed = wait_for_rows(data.path(), 2_000);
    interrupt(up);
    let rows = assert_each_once(&scan(data.path(), "bid_requests"), "bid_requests");
    assert!(rows >= committed && rows > first_rows, "{rows} rows after the second run");
}

/// `consume` against a port where nothing listens fails (and so returns no records).
fn consume_idle(port: u16) -> Vec<String> {
    let out = bidlake()
        .args(["consume", "bid-requests", "--count", "1", "--connect-timeout", "1s"])
        .args(["--bootstrap-servers", &format!("127.0.0.1:{port}")])
        .output()
        .expect("running consume");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not reach the Kafka broker"));
    String::from_utf8(out.stdout).expect("UTF-8").lines().map(str::to_owned).collect()
}

#[test]
fn a_port_in_use_names_the_flag_to_change() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let data = tempfile::tempdir().expect("temp dir");
    let out = bidlake()
        .args(["up", "--kafka-port", &port.to_string()])
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .expect("running up");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("port {port}")) && stderr.contains("--kafka-port"),
        "{stderr}"
    );
}
