//! `bidlake setup` + `gen` + `ingest` from the outside: the real binary, a real broker (tansu),
//! the SQL catalog on SQLite and a local warehouse; the table read back with the iceberg crate
//! and the Parquet files opened directly.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use bidlake_lake::{LakeArgs, open_lake};
use bidlake_testkit::{
    Broker, Running, assert_each_once as each_once, bidlake_command, consume, free_port, produce,
    run_ok, scan,
};
use futures::TryStreamExt;
use serde_json::Value;

fn bidlake(broker: &Broker, data_dir: &Path) -> Command {
    bidlake_command(env!("CARGO_BIN_EXE_bidlake"), broker, data_dir)
}

/// A killed consumer stays in its group until its session times out; keep that short so the
/// next process gets the partitions soon. `--duration` keeps a stuck run from hanging the test.
const FAST_GROUP: [&str; 6] =
    ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500", "--duration", "120s"];

fn ingest_until_caught_up(broker: &Broker, dir: &Path) -> Output {
    run_ok(
        bidlake(broker, dir)
            .args(["ingest", "--until-caught-up", "--commit-interval", "1s"])
            .args(FAST_GROUP),
    )
}

fn strings(batches: &[RecordBatch], column: &str) -> Vec<Option<String>> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name(column).unwrap().as_string::<i32>();
            (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i).to_owned())).collect::<Vec<_>>()
        })
        .collect()
}

fn rows(batches: &[RecordBatch]) -> usize {
    batches.iter().map(RecordBatch::num_rows).sum()
}

fn assert_each_once(batches: &[RecordBatch], expected: usize, what: &str) {
    assert_eq!(each_once(batches, what), expected, "{what}: row count");
}

#[test]
fn gen_setup_ingest_lands_every_event_once_with_the_source_values() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path()).arg("setup"));
    run_ok(
        bidlake(&broker, dir.path())
            .args(["gen", "--count", "1500", "--rate", "0", "--seed", "11"]),
    );
    ingest_until_caught_up(&broker, dir.path());

    let topics = ["bid-requests", "bid-responses", "impressions", "clicks"];
    let records = consume(&broker.bootstrap(), &topics, usize::MAX, Duration::from_secs(3));
    let count = |t: &str| records.iter().filter(|r| r.topic == t).count();
    assert_eq!(count("bid-requests"), 1500);

    let requests = scan(dir.path(), "bid_requests");
    assert_each_once(&requests, 1500, "bid_requests");
    let ids: HashSet<_> = strings(&requests, "request_id").into_iter().collect();
    assert_eq!(ids.len(), 1500, "every request_id once");
    for (table, topic) in
        [("bid_responses", "bid-responses"), ("impressions", "impressions"), ("clicks", "clicks")]
    {
        assert_each_once(&scan(dir.path(), table), count(topic), table);
    }

    // Column values equal the source JSON.
    let by_id: HashMap<String, Value> = records
        .iter()
        .filter(|r| r.topic == "bid-requests")
        .map(|r| {
            let v: Value = serde_json::from_slice(&r.value).unwrap();
            (v["id"].as_str().unwrap().to_owned(), v)
        })
        .collect();
    let mut checked = 0;
    for batch in &requests {
        let id = batch.column_by_name("request_id").unwrap().as_string::<i32>();
        let country = batch.column_by_name("device_geo_country").unwrap().as_string::<i32>();
        let tmax = batch.column_by_name("tmax").unwrap().as_primitive::<Int32Type>();
        let floor = batch
            .column_by_name("imp_bidfloor")
            .unwrap()
            .as_primitive::<arrow_array::types::Float64Type>();
        let ts = batch
            .column_by_name("event_timestamp")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let publisher = batch.column_by_name("publisher_id").unwrap().as_string::<i32>();
        for i in 0..batch.num_rows().min(50) {
            let source = &by_id[id.value(i)];
            assert_eq!(
                country.is_valid(i).then(|| country.value(i)),
                source["device"]["geo"]["country"].as_str()
            );
            assert_eq!(i64::from(tmax.value(i)), source["tmax"].as_i64().unwrap());
            assert_eq!(
                floor.is_valid(i).then(|| floor.value(i)),
                source["imp"][0]["bidfloor"].as_f64()
            );
            let publisher_json = source["site"]["publisher"]["id"]
                .as_str()
                .or(source["app"]["publisher"]["id"].as_str())
                .or(source["dooh"]["publisher"]["id"].as_str());
            assert_eq!(publisher.is_valid(i).then(|| publisher.value(i)), publisher_json);
            let text = source["event_timestamp"].as_str().unwrap();
            let micros = ts.value(i);
            let seconds = micros.div_euclid(1_000_000);
            let expected =
                format!("{}.{:06}+00:00", chrono_like(seconds), micros.rem_euclid(1_000_000));
            assert_eq!(text, expected);
            checked += 1;
        }
    }
    assert!(checked >= 50);

    // Each data file holds only rows of its partition (day, country).
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let tasks = runtime.block_on(async {
        let lake = open_lake(LakeArgs::embedded().resolve(dir.path()).unwrap()).await.unwrap();
        let table = lake.load_table("bid_requests").await.unwrap();
        let tasks: Vec<_> =
            table.scan().build().unwrap().plan_files().await.unwrap().try_collect().await.unwrap();
        tasks
    });
    assert!(tasks.len() > 10, "bid requests spread over country partitions");
    for task in tasks {
        let partition = task.partition.clone().expect("a partitioned file");
        let fields: Vec<_> = partition.iter().collect();
        let day = match fields[0] {
            Some(iceberg::spec::Literal::Primitive(iceberg::spec::PrimitiveLiteral::Int(d))) => *d,
            ref other => panic!("day: {other:?}"),
        };
        let country = match fields[1] {
            Some(iceberg::spec::Literal::Primitive(iceberg::spec::PrimitiveLiteral::String(c))) => {
                c.clone()
            }
            ref other => panic!("country: {other:?}"),
        };
        let path = task.data_file_path.strip_prefix("file://").unwrap();
        assert!(path.contains(&format!("device_geo_country={country}")), "{path}");
        let file = std::fs::File::open(path).unwrap();
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap()
            .build()
            .unwrap();
        for batch in reader {
            let batch = batch.unwrap();
            let c = batch.column_by_name("device_geo_country").unwrap().as_string::<i32>();
            let ts = batch
                .column_by_name("event_timestamp")
                .unwrap()
                .as_primitive::<TimestampMicrosecondType>();
            for i in 0..batch.num_rows() {
                assert_eq!(c.value(i), country);
                assert_eq!(ts.value(i).div_euclid(86_400_000_000) as i32, day);
            }
        }
    }
}

fn floats(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    let a = batch.column_by_name(column).unwrap().as_primitive::<arrow_array::types::Float64Type>();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

fn booleans(batch: &RecordBatch, column: &str) -> Vec<Option<bool>> {
    let a = batch.column_by_name(column).unwrap().as_boolean();
    (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
}

/// USD per unit, as in the rates file the test ingests with.
const TEST_RATES: &str = "currency,usd_per_unit\nEUR,1.25\nGBP,1.5\n";

fn usd(amount: Option<f64>, currency: Option<&str>) -> Option<f64> {
    let rate = match currency.unwrap_or("USD") {
        "USD" => 1.0,
        "EUR" => 1.25,
        "GBP" => 1.5,
        _ => return None, // JPY is left out of the file: no USD price
    };
    amount.map(|a| a * rate)
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-6,
        (a, b) => a == b,
    }
}

#[test]
fn each_row_is_enriched_from_its_own_record() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path()).arg("setup"));
    run_ok(bidlake(&broker, dir.path()).args(["gen", "--count", "2000", "--rate", "0"]).args([
        "--seed",
        "12",
        "--foreign-currency-share",
        "0.5",
        "--test-traffic-share",
        "0.2",
        "--private-ip-share",
        "0.2",
        "--win-rate",
        "0.5",
    ]));
    let rates = dir.path().join("rates.csv");
    std::fs::write(&rates, "EUR,1.25\nGBP;1.5\n").unwrap();
    let out = bidlake(&broker, dir.path())
        .args(["ingest", "--until-caught-up", "--exchange-rates"])
        .arg(&rates)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a bad rates file stops ingest before it reads anything");
    assert!(stderr.contains("rates.csv: line 2") && stderr.contains("EXCHANGE_RATES"), "{stderr}");

    std::fs::write(&rates, TEST_RATES).unwrap();
    run_ok(
        bidlake(&broker, dir.path())
            .args(["ingest", "--until-caught-up", "--commit-interval", "1s", "--exchange-rates"])
            .arg(&rates)
            .args(FAST_GROUP),
    );

    let topics = ["bid-requests", "bid-responses", "impressions"];
    let records = consume(&broker.bootstrap(), &topics, usize::MAX, Duration::from_secs(3));
    let source = |topic: &str, key: &str| -> HashMap<String, Value> {
        records
            .iter()
            .filter(|r| r.topic == topic)
            .map(|r| {
                let v: Value = serde_json::from_slice(&r.value).unwrap();
                (v[key].as_str().unwrap().to_owned(), v)
            })
            .collect()
    };
    let requests = source("bid-requests", "id");
    let mut seen = HashMap::<String, usize>::new();
    for batch in scan(dir.path(), "bid_requests") {
        let ids = batch.column_by_name("request_id").unwrap().as_string::<i32>();
        let categories = batch.column_by_name("device_category").unwrap().as_string::<i32>();
        let floors_usd = floats(&batch, "imp_bidfloor_usd");
        let test = booleans(&batch, "is_test_traffic");
        let private = booleans(&batch, "is_private_ip");
        for i in 0..batch.num_rows() {
            let r = &requests[ids.value(i)];
            let devicetype = r["device"]["devicetype"].as_i64();
            let category = if r.get("dooh").is_some() || devicetype == Some(8) {
                "DOOH"
            } else {
                match (devicetype, r.get("app").is_some()) {
                    (Some(3 | 7), _) => "CTV",
                    (Some(5), _) => "Tablet",
                    (Some(2), _) => "Desktop",
                    (Some(1 | 4), true) => "Mobile App",
                    (Some(1 | 4), false) => "Mobile Web",
                    _ => "Other",
                }
            };
            assert_eq!(categories.value(i), category, "{r}");
            *seen.entry(category.to_owned()).or_default() += 1;
            let imp = &r["imp"][0];
            let expected = usd(imp["bidfloor"].as_f64(), imp["bidfloorcur"].as_str());
            assert!(close(floors_usd[i], expected), "{:?} vs {expected:?}: {r}", floors_usd[i]);
            let publisher = ["site", "app", "dooh"]
                .iter()
                .find_map(|k| r[k]["publisher"]["id"].as_str())
                .unwrap();
            let is_test = publisher.starts_with("test-") || r["test"].as_i64() == Some(1);
            assert_eq!(test[i], Some(is_test), "{r}");
            let is_private = r["device"]["ip"]
                .as_str()
                .is_some_and(|ip| ip.parse::<std::net::Ipv4Addr>().unwrap().is_private());
            assert_eq!(private[i], Some(is_private), "{r}");
        }
    }
    assert_eq!(seen.values().sum::<usize>(), 2000);
    for category in ["Desktop", "Mobile Web", "Mobile App", "CTV"] {
        assert!(seen.get(category).copied().unwrap_or(0) > 20, "{category}: {seen:?}");
    }

    let responses = source("bid-responses", "bidid");
    let mut converted = 0;
    for batch in scan(dir.path(), "bid_responses") {
        let ids = batch.column_by_name("response_id").unwrap().as_string::<i32>();
        let (prices, prices_usd) = (floats(&batch, "bid_price"), floats(&batch, "bid_price_usd"));
        for i in 0..batch.num_rows() {
            let r = &responses[ids.value(i)];
            let expected = usd(prices[i], r["cur"].as_str());
            assert!(close(prices_usd[i], expected), "{:?} vs {expected:?}: {r}", prices_usd[i]);
            converted += usize::from(r["cur"].as_str().is_some_and(|c| c != "USD"));
        }
    }
    assert!(converted > 100, "{converted} responses in EUR, GBP or JPY");
    let impressions = source("impressions", "impression_id");
    for batch in scan(dir.path(), "impressions") {
        let ids = batch.column_by_name("impression_id").unwrap().as_string::<i32>();
        let (prices, prices_usd) = (floats(&batch, "win_price"), floats(&batch, "win_price_usd"));
        for i in 0..batch.num_rows() {
            let r = &impressions[ids.value(i)];
            let expected = usd(prices[i], r["win_currency"].as_str());
            assert!(close(prices_usd[i], expected), "{:?} vs {expected:?}: {r}", prices_usd[i]);
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS` of Unix seconds (UTC), by the civil-from-days algorithm.
fn chrono_like(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}", secs / 3600, secs % 3600 / 60, secs % 60)
}

#[test]
fn bad_records_go_to_the_dead_letter_topic_with_their_reason_once() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path()).arg("setup"));

    // The seed generator's own format: 2.5-style regs.ext.gdpr, +00:00 timestamps.
    let seed_style = br#"{"id":"seed-1","imp":[{"id":"1","banner":{"w":300,"h":250},"bidfloor":0.5}],"site":{"id":"s","domain":"d.com","cat":["IAB1"],"publisher":{"id":"p"}},"device":{"devicetype":2,"os":"Android","geo":{"country":"DEU","region":"BE"}},"user":{"id":"u"},"at":1,"tmax":200,"cur":["EUR"],"regs":{"coppa":0,"ext":{"gdpr":1}},"event_timestamp":"2026-11-24T08:16:52.695802+00:00","received_at":"2026-11-24T08:16:52.700001+00:00"}"#;
    let good2 = br#"{"id":"good-2","imp":[{"id":"1","video":{"mimes":["video/mp4"]}}],"app":{"bundle":"com.x","publisher":{"id":"ap"}},"event_timestamp":"2026-11-24T09:00:00Z"}"#;
    let bad: Vec<(&[u8], &str)> = vec![
        (b"\xff\xfe not utf-8", "not_utf8"),
        (b"{not json", "not_json"),
        (b"[1,2,3]", "not_object"),
        (br#"{"id":"w","imp":[{"id":"1"}],"tmax":"soon","event_timestamp":"2026-11-24T08:00:00Z"}"#, "wrong_type"),
        (br#"{"imp":[{"id":"1"}],"event_timestamp":"2026-11-24T08:00:00Z"}"#, "missing_id"),
        (br#"{"id":"n","imp":[],"event_timestamp":"2026-11-24T08:00:00Z"}"#, "missing_imp"),
        (br#"{"id":"t","imp":[{"id":"1"}],"event_timestamp":"last tuesday"}"#, "bad_timestamp"),
        (br#"{"id":"o","imp":[{"id":"1","banner":{"w":99999999999}}],"event_timestamp":"2026-11-24T08:00:00Z"}"#, "out_of_range"),
    ];
    let mut records: Vec<(Option<&[u8]>, &[u8])> = vec![(Some(b"seed-1"), seed_style)];
    records.extend(bad.iter().map(|(v, _)| (None, *v)));
    records.push((Some(b"good-2"), good2));
    produce(&broker.bootstrap(), "bid-requests", 0, &records);

    ingest_until_caught_up(&broker, dir.path());
    // A second run over the same topic changes nothing: no row and no dead letter twice.
    ingest_until_caught_up(&broker, dir.path());

    let table = scan(dir.path(), "bid_requests");
    assert_eq!(rows(&table), 2, "the good records");
    let ids: HashSet<_> = strings(&table, "request_id").into_iter().flatten().collect();
    assert_eq!(ids, HashSet::from(["seed-1".to_owned(), "good-2".to_owned()]));
    let gdpr: Vec<_> = table
        .iter()
        .flat_map(|b| {
            let ids = b.column_by_name("request_id").unwrap().as_string::<i32>();
            let g = b.column_by_name("is_gdpr").unwrap().as_boolean();
            (0..b.num_rows())
                .map(|i| (ids.value(i).to_owned(), g.is_valid(i).then(|| g.value(i))))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        gdpr.contains(&("seed-1".to_owned(), Some(true))),
        "regs.ext.gdpr = 1 is GDPR: {gdpr:?}"
    );

    let dead =
        consume(&broker.bootstrap(), &["bid-requests-dlq"], usize::MAX, Duration::from_secs(3));
    assert_eq!(dead.len(), bad.len(), "each bad record once in the DLQ: {dead:#?}");
    for (i, (value, kind)) in bad.iter().enumerate() {
        let offset = (i + 1) as i64;
        let letter = dead
            .iter()
            .find(|r| r.header("source.offset") == Some(&offset.to_string()))
            .unwrap_or_else(|| panic!("no dead letter for offset {offset}"));
        assert_eq!(letter.value, *value, "byte for byte");
        assert_eq!(letter.header("source.topic"), Some("bid-requests"));
        assert_eq!(letter.header("source.partition"), Some("0"));
        let error = letter.header("error").unwrap();
        assert!(error.starts_with(&format!("{kind}: ")), "offset {offset}: {error}");
    }
    // consumed = rows + dead letters
    assert_eq!(rows(&table) + dead.len(), records.len());
}

/// The names of a running process's threads.
#[cfg(target_os = "linux")]
fn thread_names(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

/// rdkafka's producer polls in a thread of its own ("producer polling thread", cut to
/// "producer pollin"), which spins for the last millisecond of every poll: ingest makes its
/// dead-letter producer only when a record needs it.
#[test]
#[cfg(target_os = "linux")]
fn the_dead_letter_producer_is_made_for_the_first_dead_letter() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path()).arg("setup"));
    let good = br#"{"id":"good-1","imp":[{"id":"1","banner":{"w":300,"h":250}}],"site":{"id":"s","publisher":{"id":"p"}},"event_timestamp":"2026-11-24T09:00:00Z"}"#;
    produce(&broker.bootstrap(), "bid-requests", 0, &[(Some(b"good-1"), good)]);
    let ingest = Running::new(spawn_ingest(&broker, dir.path(), "lazy-dlq"), "KILL");
    let pid = ingest.id();
    let started = Instant::now();
    while rows(&scan(dir.path(), "bid_requests")) < 1 {
        assert!(started.elapsed() < Duration::from_secs(60), "the good record never landed");
        std::thread::sleep(Duration::from_millis(200));
    }
    let producing = |names: &[String]| names.iter().any(|n| n.starts_with("producer"));
    let names = thread_names(pid);
    assert!(!producing(&names), "no dead letter yet, yet a producer runs: {names:?}");

    produce(&broker.bootstrap(), "bid-requests", 0, &[(None, b"{not json")]);
    let dead = consume(&broker.bootstrap(), &["bid-requests-dlq"], 1, Duration::from_secs(30));
    assert_eq!(dead.len(), 1, "the bad record's dead letter");
    let names = thread_names(pid);
    assert!(producing(&names), "the dead letter was sent by a producer: {names:?}");
}

fn spawn_ingest(broker: &Broker, dir: &Path, group: &str) -> Child {
    bidlake(broker, dir)
        .args(["ingest", "--commit-interval", "1s", "--batch-rows", "64", "--group-id", group])
        .args(FAST_GROUP)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

fn snapshots(dir: &Path, table: &str) -> usize {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake = open_lake(LakeArgs::embedded().resolve(dir).unwrap()).await.unwrap();
        lake.load_table(table).await.unwrap().metadata().snapshots().count()
    })
}

#[test]
fn kill_dash_nine_at_any_point_loses_and_duplicates_nothing() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path()).arg("setup"));
    let mut generator = bidlake(&broker, dir.path())
        .args(["gen", "--count", "20000", "--rate", "600", "--seed", "5"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    // Kill the ingest at several points after one of its commits landed: at once (right
    // after a commit), mid-batch, and around the next commit (commits are 1 s apart).
    for (round, delay_ms) in [0u64, 400, 950, 1500].into_iter().enumerate() {
        let before = snapshots(dir.path(), "bid_requests");
        // tansu (0.6) does not expire a killed member from its group, so each restart joins a
        // group of its own: progress comes from the table, not from the group, either way.
        let mut ingest = spawn_ingest(&broker, dir.path(), &format!("kill-round-{round}"));
        let started = Instant::now();
        while snapshots(dir.path(), "bid_requests") == before
            && started.elapsed() < Duration::from_secs(30)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        ingest.kill().unwrap();
        ingest.wait().unwrap();
        eprintln!(
            "round {round}: killed {delay_ms} ms after a commit, {:?} after start",
            started.elapsed()
        );
    }
    assert!(generator.wait().unwrap().success());
    run_ok(
        bidlake(&broker, dir.path())
            .args([
                "ingest",
                "--until-caught-up",
                "--commit-interval",
                "1s",
                "--group-id",
                "after-kills",
            ])
            .args(FAST_GROUP),
    );

    assert_each_once(&scan(dir.path(), "bid_requests"), 20000, "bid_requests after kills");
    let funnel =
        consume(&broker.bootstrap(), &["bid-responses"], usize::MAX, Duration::from_secs(3)).len();
    assert_each_once(&scan(dir.path(), "bid_responses"), funnel, "bid_responses after kills");
}

#[test]
fn two_ingest_processes_in_one_group_write_each_row_once() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path()).arg("setup"));
    let mut a = spawn_ingest(&broker, dir.path(), "shared");
    let mut b = spawn_ingest(&broker, dir.path(), "shared");
    run_ok(
        bidlake(&broker, dir.path())
            .args(["gen", "--count", "4000", "--rate", "2000", "--seed", "9"]),
    );
    std::thread::sleep(Duration::from_secs(3));
    // One leaves mid-stream: the other takes its partitions over from the table's offsets.
    a.kill().unwrap();
    a.wait().unwrap();
    run_ok(
        bidlake(&broker, dir.path())
            .args(["gen", "--count", "1000", "--rate", "0", "--seed", "10"]),
    );
    std::thread::sleep(Duration::from_secs(2));
    b.kill().unwrap();
    b.wait().unwrap();
    ingest_until_caught_up(&broker, dir.path());
    assert_each_once(&scan(dir.path(), "bid_requests"), 5000, "bid_requests with two writers");
}

#[test]
fn ingest_without_setup_says_what_to_run() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let out = bidlake(&broker, dir.path()).args(["ingest", "--until-caught-up"]).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("table db.bid_requests is missing; run `bidlake setup` first"),
        "{stderr}"
    );
}

#[test]
fn status_without_up_shows_how_far_each_table_is_behind_its_topic() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    run_ok(bidlake(&broker, dir).arg("setup"));
    let generate = |count: &str| {
        run_ok(bidlake(&broker, dir).args([
            "gen",
            "--count",
            count,
            "--rate",
            "0",
            "--bid-response-rate",
            "0",
        ]))
    };
    generate("200");
    ingest_until_caught_up(&broker, dir);
    generate("70");

    // No `bidlake up` answers here, so status reads the lake and asks the broker.
    let nobody = format!("http://127.0.0.1:{}", free_port());
    let status = |json: bool| {
        let mut command = bidlake(&broker, dir);
        command.args(["status", "--dashboard-url", &nobody]);
        if json {
            command.arg("--json");
        }
        String::from_utf8(run_ok(&mut command).stdout).unwrap()
    };
    let json: Value = serde_json::from_str(&status(true)).unwrap();
    let topic = |name: &str| {
        json["topics"].as_array().unwrap().iter().find(|t| t["topic"] == name).cloned().unwrap()
    };
    assert_eq!(topic("bid-requests")["lag"], 70, "{json}");
    assert_eq!(topic("bid-requests")["committed_rows"], 200, "{json}");
    assert_eq!(topic("clicks")["lag"], 0, "{json}");
    let text = status(false);
    assert!(
        text.lines().any(|l| l.starts_with("bid-requests") && l.trim_end().ends_with(" 70")),
        "{text}"
    );

    // With the broker gone, the tables are still shown, and the missing lag is explained.
    let mut command = bidlake(&broker, dir);
    command.args(["status", "--dashboard-url", &nobody]);
    drop(broker);
    let text = String::from_utf8(run_ok(&mut command).stdout).unwrap();
    assert!(text.contains("db.bid_requests") && text.contains("no lag:"), "{text}");
}
