//! `bidlake query` from the outside: SQL over tables that `gen` + `ingest` filled through a real
//! broker, answers checked against the table read directly.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use arrow_array::Array;
use arrow_array::cast::AsArray;
use bidlake_testkit::{Broker, bidlake_command, run_ok, scan};
use serde_json::Value;

fn bidlake(broker: &Broker, data_dir: &Path) -> Command {
    bidlake_command(env!("CARGO_BIN_EXE_bidlake"), broker, data_dir)
}

/// Runs the command, which must succeed, and returns its standard output.
fn stdout_of(command: &mut Command) -> String {
    String::from_utf8(run_ok(command).stdout).unwrap()
}

fn fails(command: &mut Command) -> String {
    let out: Output = command.output().expect("running bidlake");
    assert!(!out.status.success(), "expected a failure: {}", String::from_utf8_lossy(&out.stdout));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// gen `count` requests, then ingest until caught up: one more batch of snapshots.
fn load(broker: &Broker, dir: &Path, count: u32, seed: u32) {
    stdout_of(bidlake(broker, dir).args(["gen", "--rate", "0"]).args([
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
    ]));
    stdout_of(bidlake(broker, dir).args([
        "ingest",
        "--until-caught-up",
        "--table",
        "bid_requests",
        "--duration",
        "120s",
    ]));
}

/// The number of files the plan's scan reads (`ParallelScan: ... files=N`).
fn scan_files(plan: &str) -> usize {
    let files = plan.split(" files=").nth(1).and_then(|rest| rest.split(' ').next());
    files.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no scan in {plan}"))
}

fn query_csv(broker: &Broker, dir: &Path, extra: &[&str], sql: &str) -> Vec<String> {
    let out =
        stdout_of(bidlake(broker, dir).args(["query", "--format", "csv"]).args(extra).arg(sql));
    out.lines().skip(1).map(str::to_owned).collect()
}

#[test]
fn sql_over_the_lake_with_formats_pushdown_time_travel_and_clear_errors() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    stdout_of(bidlake(&broker, dir).arg("setup"));
    load(&broker, dir, 1500, 1);
    load(&broker, dir, 1500, 2);

    // The seed's three queries, as written there.
    let preview =
        stdout_of(bidlake(&broker, dir).args(["query", "SELECT * FROM db.bid_requests LIMIT 10"]));
    assert!(
        preview.contains("| request_id") && preview.trim_end().ends_with("10 rows"),
        "{preview}"
    );
    let count =
        stdout_of(bidlake(&broker, dir).args(["query", "SELECT COUNT(*) FROM db.bid_requests"]));
    assert!(count.contains("| 3000 "), "{count}");
    // Counting a whole table reads no file: the snapshot's record count answers it.
    let plan = stdout_of(
        bidlake(&broker, dir).args(["query", "EXPLAIN SELECT COUNT(*) FROM db.bid_requests"]),
    );
    assert!(!plan.contains("IcebergTableScan") && plan.contains("3000"), "{plan}");
    // Counting what a scan must find reads one column, not all 27.
    let sql = "SELECT COUNT(*) FROM (SELECT * FROM db.bid_requests LIMIT 2000) AS first";
    let plan = stdout_of(bidlake(&broker, dir).args(["query", &format!("EXPLAIN {sql}")]));
    let projection = plan.split("projection:[").nth(1).and_then(|rest| rest.split(']').next());
    assert!(projection.is_some_and(|p| !p.is_empty() && !p.contains(',')), "{plan}");
    assert_eq!(query_csv(&broker, dir, &[], sql), ["2000"]);
    let grouped = stdout_of(bidlake(&broker, dir).args([
        "query",
        "--format",
        "json",
        "SELECT device_geo_country, COUNT(*) AS requests FROM db.bid_requests \
         GROUP BY device_geo_country ORDER BY requests DESC",
    ]));
    let by_country: HashMap<String, i64> = grouped
        .lines()
        .map(|l| {
            let row: Value = serde_json::from_str(l).unwrap();
            (
                row["device_geo_country"].as_str().unwrap().to_owned(),
                row["requests"].as_i64().unwrap(),
            )
        })
        .collect();
    let mut expected: HashMap<String, i64> = HashMap::new();
    for batch in scan(dir, "bid_requests") {
        let countries = batch.column_by_name("device_geo_country").unwrap().as_string::<i32>();
        for i in 0..countries.len() {
            *expected.entry(countries.value(i).to_owned()).or_default() += 1;
        }
    }
    assert_eq!(by_country, expected, "GROUP BY country differs from the table's rows");

    // Catalog-qualified and unqualified names; CSV.
    assert_eq!(
        query_csv(&broker, dir, &[], "SELECT COUNT(*) AS n FROM bidlake.db.bid_requests"),
        ["3000"]
    );
    assert_eq!(query_csv(&broker, dir, &[], "SELECT COUNT(*) AS n FROM bid_requests"), ["3000"]);
    // A list column (site_cat) in CSV is its text, as the table shows it.
    let every_column = query_csv(&broker, dir, &[], "SELECT * FROM bid_requests LIMIT 5");
    assert_eq!(every_column.len(), 5);
    assert!(every_column.iter().any(|row| row.contains("[IAB")), "{every_column:?}");

    // The scan is split across threads: one partition per thread, each reading its own files.
    let group_by = "SELECT device_geo_country, COUNT(*) FROM db.bid_requests GROUP BY 1";
    let explain = |threads: &str, sql: &str| {
        stdout_of(bidlake(&broker, dir).args([
            "query",
            "--threads",
            threads,
            &format!("EXPLAIN {sql}"),
        ]))
    };
    let plan = explain("2", group_by);
    let all_files = scan_files(&plan);
    assert!(plan.contains("ParallelScan: partitions=2") && all_files > 2, "{plan}");
    assert!(explain("1", group_by).contains("ParallelScan: partitions=1"));
    // The country is an identity partition column: its values and the row counts come from the
    // manifests, and no file is opened (the counts were checked against the files above).
    assert!(plan.contains(&format!("from_partition_values={all_files} ")), "{plan}");
    let floors = "SELECT device_geo_country, AVG(imp_bidfloor) FROM db.bid_requests GROUP BY 1";
    let plan = explain("2", floors);
    assert!(plan.contains("from_partition_values=0 ") && scan_files(&plan) == all_files, "{plan}");
    let mut timed = bidlake(&broker, dir);
    let out = timed.args(["query", "--timing", "--threads", "2", group_by]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.contains("query took "), "{stderr}");

    // The filter reaches the Iceberg scan, which prunes partitions and files with it.
    let (country, n) = by_country.iter().max_by_key(|(_, n)| **n).unwrap();
    let sql =
        format!("SELECT COUNT(*) FROM db.bid_requests WHERE device_geo_country = '{country}'");
    let plan = explain("2", &sql);
    assert!(
        plan.contains("IcebergTableScan")
            && plan.contains(&format!("predicate:[device_geo_country = \"{country}\"]")),
        "{plan}"
    );
    assert!(scan_files(&plan) < all_files, "no file was pruned: {plan}");
    let files = scan_files(&plan);
    assert!(plan.contains(&format!("from_partition_values={files} ")), "{plan}");
    assert_eq!(query_csv(&broker, dir, &[], &sql), [n.to_string()]);
    assert_eq!(query_csv(&broker, dir, &["--threads", "1"], &sql), [n.to_string()]);

    // Time travel: the first load's snapshot holds its 1500 rows.
    let listing =
        stdout_of(bidlake(&broker, dir).args(["query", "--snapshots", "db.bid_requests"]));
    let snapshots: Vec<Vec<&str>> =
        listing.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    assert!(snapshots.len() >= 2, "{listing}");

    // Iceberg's metadata tables, named as Trino names them.
    let one = |sql: &str| query_csv(&broker, dir, &[], sql).join(",");
    assert_eq!(one("SELECT COUNT(*) FROM \"bid_requests$snapshots\""), snapshots.len().to_string());
    assert_eq!(one("SELECT COUNT(*) FROM \"bid_requests$history\""), snapshots.len().to_string());
    let newest = one("SELECT snapshot_id FROM \"bid_requests$history\" WHERE is_current_ancestor \
         ORDER BY made_current_at DESC LIMIT 1");
    assert_eq!(newest, snapshots.last().unwrap()[0], "{listing}");
    assert_eq!(
        one("SELECT SUM(record_count), COUNT(*) FROM \"bid_requests$files\""),
        format!("3000,{all_files}")
    );
    assert_eq!(
        one(
            "SELECT SUM(record_count), SUM(file_count), COUNT(*) > 1 FROM db.\"bid_requests$partitions\""
        ),
        format!("3000,{all_files},true")
    );
    assert_ne!(one("SELECT COUNT(*) FROM \"bid_requests$manifests\""), "0");
    let history = stdout_of(bidlake(&broker, dir).args(["query", "--example", "snapshot-history"]));
    assert!(history.contains("append") && history.contains("added-records"), "{history}");
    let first_load: Vec<&Vec<&str>> =
        snapshots.iter().filter(|s| s[4].parse::<u64>().unwrap() <= 1500).collect();
    let last_of_first = first_load.last().unwrap();
    assert_eq!(last_of_first[4], "1500", "{listing}");
    assert_eq!(
        query_csv(
            &broker,
            dir,
            &["--snapshot-id", last_of_first[0]],
            "SELECT COUNT(*) FROM db.bid_requests"
        ),
        ["1500"]
    );
    assert_eq!(
        query_csv(
            &broker,
            dir,
            &["--as-of", last_of_first[1]],
            "SELECT COUNT(*) FROM db.bid_requests"
        ),
        ["1500"]
    );

    // Statements from standard input, one result each.
    let mut child = bidlake(&broker, dir)
        .args(["query", "--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT COUNT(*) AS a\n  FROM db.bid_requests;\nSELECT 2 AS b;\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "a\n3000\nb\n2\n");

    // Mistakes are named, with the position when the parser has one; nothing writes.
    let err = fails(bidlake(&broker, dir).args(["query", "SELECT COUNT(*) FROM db.bid_reqs"]));
    assert!(err.contains("bid_reqs") && err.contains("not found"), "{err}");
    let err = fails(bidlake(&broker, dir).args(["query", "SELECT no_such_column FROM db.clicks"]));
    assert!(err.contains("no_such_column"), "{err}");
    let err = fails(bidlake(&broker, dir).args(["query", "SELEC 1"]));
    assert!(err.contains("SELEC") && err.contains("Line: 1, Column: 1"), "{err}");
    let err = fails(bidlake(&broker, dir).args(["query", "DELETE FROM db.clicks"]));
    assert!(err.to_lowercase().contains("not supported") || err.contains("DML"), "{err}");
    assert_eq!(query_csv(&broker, dir, &[], "SELECT COUNT(*) FROM db.bid_requests"), ["3000"]);
}
