//! `bidlake up` and `bidlake consume` from the outside: the real binary, the embedded broker and
//! the embedded lake.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bidlake_openrtb::{BidRequest, validate};
use bidlake_testkit::{
    Running, assert_each_once, free_port, http_get, render_dom, scan, screenshot,
};

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
        "CATALOG_PORT",
        "BIDLAKE_DASHBOARD_PORT",
        "BIDLAKE_DASHBOARD_URL",
    ] {
        command.env_remove(var);
    }
    command
}

/// `up`'s ports: every test takes free ones, so tests run side by side.
#[derive(Debug, Clone, Copy)]
struct Ports {
    kafka: u16,
    catalog: u16,
    dashboard: u16,
}

impl Ports {
    fn free() -> Self {
        Self { kafka: free_port(), catalog: free_port(), dashboard: free_port() }
    }

    fn args(&self) -> Vec<String> {
        [
            ("--kafka-port", self.kafka),
            ("--catalog-port", self.catalog),
            ("--dashboard-port", self.dashboard),
        ]
        .iter()
        .flat_map(|(flag, port)| [(*flag).to_owned(), port.to_string()])
        .collect()
    }
}

/// Starts `up` and returns once it printed its banner.
fn start_up(data_dir: &std::path::Path, ports: Ports) -> Child {
    let mut child = bidlake()
        .args(["up", "--rate", "200", "--commit-interval", "2s", "--maintain-every", "2s"])
        .args(["--aggregate-interval", "2s"])
        .args(ports.args())
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

/// A running `up`, stopped (SIGINT, which stops its broker too) when the test ends, also by a
/// failed assertion: a failing test must not leave `up` and its broker running.
/// Starts `up` with `args` (and `env`) on `ports`, output discarded; returns at once.
fn spawn_up(
    data_dir: &std::path::Path,
    ports: Ports,
    args: &[&str],
    env: &[(&str, &str)],
) -> Running {
    let child = bidlake()
        .arg("up")
        .args(args)
        .args(ports.args())
        .arg("--data-dir")
        .arg(data_dir)
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting bidlake up");
    Running::new(child, "INT")
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
    let ports = Ports::free();
    let port = ports.kafka;

    let up = start_up(data.path(), ports);
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
    let up = start_up(data.path(), ports);
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
    // The aggregate tables follow: the funnel by publisher counts the committed requests.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let counted = loop {
        let funnel = scan(data.path(), "hourly_funnel_by_publisher");
        let counted: i64 = funnel
            .iter()
            .map(|b| {
                let c = b.column_by_name("bid_requests").expect("bid_requests column");
                arrow_array::cast::AsArray::as_primitive::<arrow_array::types::Int64Type>(c)
                    .iter()
                    .flatten()
                    .sum::<i64>()
            })
            .sum();
        if counted >= 1_000 || std::time::Instant::now() > deadline {
            break counted;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(counted >= 1_000, "up's aggregate tables counted only {counted} requests");
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
    let free = Ports::free();
    for (ports, flag) in [
        (Ports { kafka: port, ..free }, "--kafka-port"),
        (Ports { catalog: port, ..free }, "--catalog-port"),
        (Ports { dashboard: port, ..free }, "--dashboard-port"),
    ] {
        let out = bidlake()
            .arg("up")
            .args(ports.args())
            .arg("--data-dir")
            .arg(data.path())
            .output()
            .expect("running up");
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&port.to_string()) && stderr.contains(flag), "{flag}: {stderr}");
    }
}

/// The number a dashboard element shows (`<div ... id="ID">1,234</div>`).
fn shown(dom: &str, id: &str) -> u64 {
    let start = dom.find(&format!("id=\"{id}\">")).unwrap_or_else(|| panic!("no #{id} in {dom}"));
    let text = &dom[start + id.len() + 6..];
    let text: String =
        text[..text.find('<').unwrap()].chars().filter(char::is_ascii_digit).collect();
    text.parse().unwrap_or_else(|_| panic!("#{id} shows no number"))
}

fn status_json(port: u16) -> serde_json::Value {
    let (code, body) = http_get(port, "/api/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).expect("/api/status is JSON")
}

fn rows_in_tables(status: &serde_json::Value) -> u64 {
    status["tables"].as_array().unwrap().iter().map(|t| t["rows"].as_u64().unwrap()).sum()
}

#[test]
fn the_dashboard_shows_the_platform_live_in_a_browser() {
    let data = tempfile::tempdir().expect("temp dir");
    let ports = Ports::free();
    let up = start_up(data.path(), ports);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while rows_in_tables(&status_json(ports.dashboard)) == 0 {
        assert!(std::time::Instant::now() < deadline, "no rows on the dashboard after a minute");
        std::thread::sleep(Duration::from_millis(500));
    }

    // Maintenance runs by itself (every 2 s here) and says so; the broker's disk use is shown.
    while status_json(ports.dashboard)["maintenance"]["rounds"].as_u64().unwrap_or(0) == 0 {
        assert!(std::time::Instant::now() < deadline, "no maintenance round after a minute");
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = status_json(ports.dashboard);
    assert!(status["broker"]["disk_bytes"].as_u64().unwrap() > 0, "{status}");
    assert_eq!(status["broker"]["retention_secs"].as_u64(), Some(86_400), "{status}");

    // A real browser runs the page's script, which polls /api/status: the numbers move.
    let page = format!("http://127.0.0.1:{}/", ports.dashboard);
    let first = render_dom(&page, Duration::from_secs(2));
    std::thread::sleep(Duration::from_secs(3));
    let second = render_dom(&page, Duration::from_secs(2));
    for dom in [&first, &second] {
        assert!(dom.contains("data-polls="), "the page's script never updated it");
        assert!(dom.contains("bid-requests → db.bid_requests"));
        assert!(!dom.contains("points=\"\""), "the throughput chart is drawn");
    }
    assert!(second.contains("manifest merges") && second.contains("db.bid_requests</td>"));
    let (before, after) = (shown(&first, "rows-total"), shown(&second, "rows-total"));
    assert!(before > 0 && after > before, "rows shown: {before}, then {after}");
    assert!(shown(&second, "commits") > 0);
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    screenshot(&page, Duration::from_secs(2), &png);
    let image = std::fs::read(&png).expect("the screenshot was written");
    assert!(image.starts_with(b"\x89PNG") && image.len() > 20_000, "{} bytes", image.len());

    // Prometheus: every name is bidlake_..., and the table's rows are there.
    let (code, metrics) = http_get(ports.dashboard, "/metrics");
    assert_eq!(code, 200);
    let samples: Vec<&str> = metrics.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(samples.iter().all(|l| l.starts_with("bidlake_")), "{metrics}");
    let rows: f64 = samples
        .iter()
        .find_map(|l| l.strip_prefix("bidlake_table_rows{table=\"db.bid_requests\"} "))
        .expect("bidlake_table_rows of db.bid_requests")
        .parse()
        .unwrap();
    assert!(rows > 0.0);
    for name in ["bidlake_maintenance_rounds_total ", "bidlake_broker_disk_bytes "] {
        assert!(samples.iter().any(|l| l.starts_with(name)), "no {name}in {metrics}");
    }

    // `status` prints the same from the command line; the REST catalog serves the tables.
    let out = bidlake()
        .args(["status", "--dashboard-url", &format!("http://127.0.0.1:{}", ports.dashboard)])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("bidlake up, running for"), "{text}");
    assert!(text.contains("bid-requests") && text.contains("db.bid_requests"), "{text}");
    let (code, tables) = http_get(ports.catalog, "/v1/namespaces/db/tables");
    assert_eq!(code, 200);
    assert!(tables.contains("\"bid_requests\""), "{tables}");

    interrupt(up);
    // Without up, `status` says so and reports the tables from the catalog.
    let committed = scan(data.path(), "bid_requests").iter().map(|b| b.num_rows()).sum::<usize>();
    let out = bidlake()
        .args(["status", "--dashboard-url", &format!("http://127.0.0.1:{}", ports.dashboard)])
        .arg("--data-dir")
        .arg(data.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("no bidlake up answers"), "{text}");
    let line = text.lines().find(|l| l.starts_with("db.bid_requests")).expect("a table line");
    assert_eq!(line.split_whitespace().nth(1), Some(committed.to_string().as_str()), "{text}");
}

/// An HTTP request of `method` with `body`; the status, the content type and the body.
fn http_send(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, String, Vec<u8>) {
    http_send_with(port, method, path, &[("Content-Type", content_type)], body)
}

fn http_send_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connecting");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let headers: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let kind = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_owned))
        .unwrap_or_default();
    (status, kind, response[split + 4..].to_vec())
}

fn api_query(port: u16, request: serde_json::Value) -> (u16, serde_json::Value) {
    let (status, _, body) =
        http_send(port, "POST", "/api/query", "application/json", &request.to_string());
    (status, serde_json::from_slice(&body).expect("a JSON answer"))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn the_sql_console_and_query_api_run_export_plot_and_refuse_what_they_must() {
    let data = tempfile::tempdir().expect("temp dir");
    let ports = Ports::free();
    let up = spawn_up(
        data.path(),
        ports,
        &[
            "--rate",
            "200",
            "--commit-interval",
            "1s",
            "--query-timeout",
            "3s",
            "--query-max-rows",
            "500",
        ],
        &[],
    );
    let port = ports.dashboard;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let status = std::net::TcpStream::connect(("127.0.0.1", port))
            .ok()
            .map(|_| status_json(port))
            .map_or(0, |s| rows_in_tables(&s));
        if status > 1_000 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no rows after a minute of up");
        std::thread::sleep(Duration::from_millis(500));
    }
    let group_by = "SELECT device_geo_country, COUNT(*) AS requests FROM db.bid_requests \
                    GROUP BY 1 ORDER BY 2 DESC";

    // Each query sees the commits made since the one before: the server keeps the manifests it
    // has read (one cache for every table it loads), and a new commit's are new files.
    let count = || {
        let sql = "SELECT COUNT(DISTINCT request_id) FROM db.bid_requests";
        let (status, answer) = api_query(port, serde_json::json!({ "sql": sql }));
        assert_eq!(status, 200, "{answer}");
        answer["rows"][0][0].as_u64().expect("a count")
    };
    let first = count();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count() <= first {
        assert!(std::time::Instant::now() < deadline, "the API still counts {first} rows");
        std::thread::sleep(Duration::from_millis(500));
    }

    // The API: JSON with types, the server's row limit, CSV, Arrow IPC.
    let (status, answer) = api_query(port, serde_json::json!({ "sql": group_by }));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["columns"][1]["type"], "Int64", "{answer}");
    assert!(answer["rows"][0][1].as_u64().unwrap() > 0, "{answer}");
    let (_, answer) =
        api_query(port, serde_json::json!({ "sql": "SELECT * FROM db.bid_requests" }));
    assert_eq!(
        (answer["rows"].as_array().unwrap().len(), &answer["truncated"]),
        (500, &serde_json::json!(true))
    );
    let (status, kind, csv) =
        http_send(port, "POST", "/api/query?format=csv", "text/plain", group_by);
    assert_eq!((status, kind.as_str()), (200, "text/csv; charset=utf-8"));
    assert!(String::from_utf8_lossy(&csv).starts_with("device_geo_country,requests\n"));
    let (status, kind, arrow) = http_send(
        port,
        "POST",
        "/api/query",
        "application/json",
        &serde_json::json!({ "sql": group_by, "format": "arrow" }).to_string(),
    );
    assert_eq!((status, kind.as_str()), (200, "application/vnd.apache.arrow.stream"));
    assert!(arrow.starts_with(&[0xff, 0xff, 0xff, 0xff]), "an Arrow IPC stream");

    // Bad input gets a clear answer, and the server keeps serving.
    let (status, answer) = api_query(port, serde_json::json!({ "sql": "SELEC 1" }));
    assert_eq!(status, 400);
    assert_eq!(
        (answer["line"].as_u64(), answer["column"].as_u64()),
        (Some(1), Some(1)),
        "{answer}"
    );
    let (status, answer) =
        api_query(port, serde_json::json!({ "sql": "DROP TABLE db.bid_requests" }));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("DDL not supported"), "{answer}");
    let never_ends = "SELECT SUM(value) FROM generate_series(1, 1000000000000)";
    let (status, answer) = api_query(port, serde_json::json!({ "sql": never_ends }));
    assert_eq!(status, 504, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("QUERY_TIMEOUT"), "{answer}");
    // Cancelled by its id (the console's Cancel button), it stops before the timeout.
    let slow = std::thread::spawn(move || {
        api_query(port, serde_json::json!({ "sql": never_ends, "id": "slow-1" }))
    });
    let cancel = || {
        let body = r#"{"id": "slow-1"}"#;
        http_send(port, "POST", "/api/query/cancel", "application/json", body).0
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    while cancel() != 200 {
        assert!(std::time::Instant::now() < deadline, "the query never showed up to cancel");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (status, answer) = slow.join().unwrap();
    assert_eq!(status, 409, "cancelled, not timed out: {answer}");
    assert_eq!(cancel(), 404, "a finished query is no longer known");
    let (status, _) = api_query(port, serde_json::json!({ "sql": "SELECT 1 AS one" }));
    assert_eq!(status, 200, "the server serves on after a cancelled query");

    // In a real browser: the console runs a query and shows its rows with types, offers the
    // result as CSV, plots it, and shows a syntax error with its position.
    let console = |query: &str| format!("http://127.0.0.1:{port}/console?run=1&{query}");
    let dom =
        render_dom(&console(&format!("sql={}", url_encode(group_by))), Duration::from_secs(5));
    assert!(dom.contains("<small>Int64</small>") && dom.contains("USA"), "{dom}");
    assert!(dom.contains(" rows in ") || dom.contains(" row in "), "{dom}");
    let href = dom.split("id=\"export\"").nth(1).and_then(|rest| rest.split("href=\"").nth(1));
    let href =
        href.and_then(|h| h.split('"').next()).expect("an export link").replace("&amp;", "&");
    let (status, csv) = http_get(port, &href);
    assert_eq!(status, 200);
    assert!(csv.starts_with("device_geo_country,requests\n") && csv.contains("USA,"), "{csv}");
    assert!(dom.contains("fill-rate-by-country"), "the examples are listed");
    let plotted = render_dom(
        &console(&format!("plot=1&sql={}", url_encode(group_by))),
        Duration::from_secs(5),
    );
    assert!(plotted.matches("<rect").count() > 5, "no bars in {plotted}");
    let failed = render_dom(&console("sql=SELEC%201"), Duration::from_secs(5));
    assert!(failed.contains("line 1, column 1") && failed.contains("SELEC"), "{failed}");
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png");
    screenshot(
        &console(&format!("plot=1&sql={}", url_encode(group_by))),
        Duration::from_secs(5),
        &png,
    );
    assert!(std::fs::read(&png).expect("the screenshot").starts_with(b"\x89PNG"));

    assert!(up.stop("INT").success(), "up did not stop cleanly");
}

/// `data-value` of the element with `id` in a rendered page.
fn data_value(dom: &str, id: &str) -> f64 {
    let rest = dom.split(&format!("id=\"{id}\"")).nth(1).unwrap_or_else(|| panic!("no #{id}"));
    let value = rest.split("data-value=\"").nth(1).and_then(|v| v.split('"').next());
    value.unwrap_or_else(|| panic!("#{id} has no value")).parse().unwrap()
}

#[test]
fn the_analytics_page_shows_the_numbers_bidlake_query_gives_and_filters_change_them() {
    let data = tempfile::tempdir().expect("temp dir");
    let ports = Ports::free();
    let up = spawn_up(
        data.path(),
        ports,
        &[
            "--rate",
            "0",
            "--count",
            "3000",
            "--commit-interval",
            "1s",
            "--seed",
            "9",
            "--aggregate-interval",
            "1s",
        ],
        &[],
    );
    let port = ports.dashboard;
    let query = |sql: &str| -> f64 {
        let (status, answer) = api_query(port, serde_json::json!({ "sql": sql }));
        assert_eq!(status, 200, "{answer}");
        answer["rows"][0][0].as_f64().unwrap_or(0.0)
    };
    // Everything generated (3,000 requests and their funnel) is in the tables, and stays.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let counted = "FROM db.bid_requests r WHERE r.is_test_traffic IS NOT TRUE AND r.is_private_ip IS NOT TRUE";
    let mut last = (-1.0, -1.0, -1.0);
    loop {
        std::thread::sleep(Duration::from_secs(2));
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            continue;
        }
        let now = (
            query("SELECT COUNT(*) FROM db.bid_requests"),
            query("SELECT COUNT(*) FROM db.impressions"),
            query("SELECT SUM(bid_requests) FROM db.hourly_funnel_by_publisher"),
        );
        if now.0 == 3000.0 && now == last {
            break;
        }
        last = now;
        assert!(std::time::Instant::now() < deadline, "not all 3,000 requests ingested: {now:?}");
    }
    let requests = query(&format!("SELECT COUNT(*) {counted}"));
    let flags = "r.is_test_traffic IS NOT TRUE AND r.is_private_ip IS NOT TRUE";
    let responses = query(&format!(
        "SELECT COUNT(DISTINCT s.response_id) FROM db.bid_responses s JOIN db.bid_requests r ON s.request_id = r.request_id WHERE {flags}"
    ));
    let revenue = query(&format!(
        "SELECT SUM(i.win_price_usd) / 1000 FROM db.impressions i JOIN db.bid_requests r ON i.request_id = r.request_id WHERE {flags}"
    ));
    let usa = query(&format!("SELECT COUNT(*) {counted} AND r.device_geo_country = 'USA'"));

    let page = |params: &str| {
        let url = format!("http://127.0.0.1:{port}/analytics?{params}");
        let dom = render_dom(&url, Duration::from_secs(10));
        assert!(dom.contains("data-ready=\"1\""), "the page did not finish: {dom}");
        dom
    };
    let all = page("range=0");
    let kpis = all.split("class=\"kpis\"").nth(1).unwrap_or_default().split("</section>").next();
    assert_eq!(data_value(&all, "kpi-requests"), requests, "{kpis:?}");
    assert!((data_value(&all, "kpi-fill") - responses / requests).abs() < 1e-12);
    assert!((data_value(&all, "kpi-revenue") - revenue).abs() < 1e-9 * revenue.max(1.0));
    // Every panel is drawn: the funnel's four stages, countries, the hourly lines, the tables.
    assert_eq!(all.matches("class=\"stage\"").count(), 4, "{all}");
    assert!(all.matches("class=\"revenue\"").count() >= 5);
    assert!(all.matches("class=\"point\"").count() >= 3);
    // Without filters the hourly panel and the countries come from the aggregate tables; a
    // device filter (which they do not carry) reads the event tables.
    assert!(all.contains("from db.hourly_funnel_by_publisher"), "{all}");
    assert!(all.contains("from db.hourly_impressions_by_geo"), "{all}");
    let requests_shown: f64 = all
        .split("bid requests per hour")
        .nth(1)
        .and_then(|rest| rest.split("<title>").nth(1))
        .and_then(|title| title.split(": ").nth(1))
        .and_then(|n| n.split('<').next())
        .map(|n| n.replace([',', '.'], "").parse().unwrap())
        .expect("a point with its value");
    assert_eq!(requests_shown, requests, "the aggregate's hour holds every counted request");
    for id in ["top-publishers", "top-bidders", "top-creatives"] {
        let table = all.split(&format!("id=\"{id}\"")).nth(1).unwrap();
        assert!(table.split("</table>").next().unwrap().matches("<tr>").count() >= 3, "{id}");
    }
    let desktop = page("range=0&device=Desktop");
    assert!(desktop.contains("from the event tables"));
    assert!(data_value(&desktop, "kpi-requests") < requests);
    let filtered = page("range=0&country=USA");
    assert_eq!(data_value(&filtered, "kpi-requests"), usa);
    assert!(usa > 0.0 && usa < requests, "the filter changed the figures");
    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("analytics.png");
    screenshot(
        &format!("http://127.0.0.1:{port}/analytics?range=0"),
        Duration::from_secs(10),
        &png,
    );
    assert!(std::fs::read(&png).expect("the screenshot").starts_with(b"\x89PNG"));

    assert!(up.stop("INT").success(), "up did not stop cleanly");
}

#[test]
fn the_query_api_needs_the_catalog_token_when_one_is_set() {
    let data = tempfile::tempdir().expect("temp dir");
    let ports = Ports::free();
    let up = spawn_up(data.path(), ports, &["--rate", "10"], &[("CATALOG_TOKEN", "sesame-42")]);
    let port = ports.dashboard;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < deadline, "the dashboard never answered");
        std::thread::sleep(Duration::from_millis(300));
    }
    let (status, answer) = api_query(port, serde_json::json!({ "sql": "SELECT 1 AS one" }));
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"].as_str().unwrap().contains("CATALOG_TOKEN"), "{answer}");
    let (status, _, body) = http_send_with(
        port,
        "POST",
        "/api/query",
        &[("Content-Type", "application/json"), ("Authorization", "Bearer sesame-42")],
        r#"{"sql": "SELECT 1 AS one"}"#,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(up.stop("INT").success(), "up did not stop cleanly");
}
