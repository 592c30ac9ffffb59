//! What bidlake writes, read by others: the warehouse on S3 (a real `moto_server`), and every
//! table read by PyIceberg and by DuckDB, which must agree with bidlake on counts and sums.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::HashSet;
use std::path::Path;
use std::process::{Command, Output};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use bidlake_lake::{LakeArgs, Secret};
use bidlake_testkit::{
    Broker, S3_ACCESS_KEY, S3_SECRET_KEY, S3Server, bidlake_command, column_sum, python_venv,
    read_with_python, repo_root, run_ok, scan_lake,
};

fn bidlake(broker: &Broker, data_dir: &Path, env: &[(&str, String)]) -> Command {
    let mut command = bidlake_command(env!("CARGO_BIN_EXE_bidlake"), broker, data_dir);
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// gen → ingest (until caught up) on whatever lake `env` points at. Win and click rates are
/// raised so every table gets rows: at the defaults 2,000 requests give ~4 clicks, and none in
/// a few percent of runs (the funnel's order follows the clock, not only the seed).
fn gen_and_ingest(broker: &Broker, dir: &Path, env: &[(&str, String)], count: u32) {
    run_ok(bidlake(broker, dir, env).args([
        "gen",
        "--count",
        &count.to_string(),
        "--rate",
        "0",
        "--seed",
        "5",
        "--win-rate",
        "0.5",
        "--click-rate",
        "0.5",
    ]));
    run_ok(bidlake(broker, dir, env).args([
        "ingest",
        "--until-caught-up",
        "--commit-interval",
        "1s",
        "--duration",
        "120s",
    ]));
}

/// PyIceberg and DuckDB see the table as bidlake does: same count, same sums.
fn assert_readers_agree(
    args: LakeArgs,
    dir: &Path,
    warehouse: &str,
    table: &str,
    sums: &[&str],
    s3: Option<&S3Server>,
) -> usize {
    let ours = scan_lake(args, dir, table);
    let rows: usize = ours.iter().map(RecordBatch::num_rows).sum();
    let seen =
        read_with_python(&dir.join("catalog.db"), warehouse, &format!("db.{table}"), sums, s3);
    for (reader, seen) in seen {
        assert_eq!(seen.count, rows as u64, "{reader} counts {table} differently");
        // SQL's SUM over no rows is NULL: nothing to compare.
        let sums = if rows == 0 { &[][..] } else { &seen.sums[..] };
        for (column, theirs) in sums {
            let mine = column_sum(&ours, column);
            let tolerance = 1e-9 * mine.abs().max(1.0);
            assert!(
                (mine - theirs).abs() <= tolerance,
                "{reader}: sum({column}) of {table} is {theirs}, bidlake says {mine}"
            );
        }
    }
    rows
}

#[test]
fn pyiceberg_and_duckdb_read_every_table_bidlake_writes() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path(), &[]).arg("setup"));
    gen_and_ingest(&broker, dir.path(), &[], 2000);

    let warehouse = format!("file://{}", dir.path().join("warehouse").display());
    let local = LakeArgs::embedded;
    let requests = assert_readers_agree(
        local(),
        dir.path(),
        &warehouse,
        "bid_requests",
        &["tmax", "imp_bidfloor", "imp_bidfloor_usd", "imp_count", "kafka_offset"],
        None,
    );
    assert_eq!(requests, 2000);
    let responses = assert_readers_agree(
        local(),
        dir.path(),
        &warehouse,
        "bid_responses",
        &["bid_price", "bid_price_usd", "kafka_offset"],
        None,
    );
    assert!(responses > 0, "the funnel produced no bid responses");
    let impressions = assert_readers_agree(
        local(),
        dir.path(),
        &warehouse,
        "impressions",
        &["win_price", "win_price_usd", "kafka_offset"],
        None,
    );
    assert!(impressions > 0, "the funnel produced no impressions");
    let clicks =
        assert_readers_agree(local(), dir.path(), &warehouse, "clicks", &["kafka_offset"], None);
    assert!(clicks > 0, "the funnel produced no clicks");

    examples_give_duckdbs_answers(&broker, dir.path());

    // The aggregate tables, written once and then rewritten in place (more events of the same
    // hours): other engines read the current rows only, with no deletes to apply.
    run_ok(bidlake(&broker, dir.path(), &[]).args(["aggregate", "--once"]));
    run_ok(
        bidlake(&broker, dir.path(), &[]).args(["gen", "--count", "500", "--rate", "0"]).args([
            "--seed",
            "6",
            "--win-rate",
            "0.5",
        ]),
    );
    run_ok(bidlake(&broker, dir.path(), &[]).args(["ingest", "--until-caught-up"]));
    run_ok(bidlake(&broker, dir.path(), &[]).args(["aggregate", "--once"]));
    for (table, sums) in [
        ("hourly_impressions_by_geo", &["impression_count", "total_revenue", "avg_win_price"][..]),
        ("rolling_metrics_by_bidder", &["win_count", "revenue", "avg_cpm"][..]),
        (
            "hourly_funnel_by_publisher",
            &["bid_requests", "bid_responses", "impressions", "clicks", "fill_rate", "ctr"][..],
        ),
    ] {
        let rows = assert_readers_agree(local(), dir.path(), &warehouse, table, sums, None);
        assert!(rows > 0, "{table} is empty");
    }
    let funnel = scan_lake(local(), dir.path(), "hourly_funnel_by_publisher");
    let counted = column_sum(&funnel, "bid_requests");
    assert!((2_000.0 * 0.9..=2_500.0).contains(&counted), "{counted} requests in the funnel");
}

/// Each of the original platform's example queries (`bidlake query --example NAME`) gives the
/// rows DuckDB gives for the same SQL over the same tables (read by its iceberg extension), by
/// the benchmark's own comparison (numbers to 1e-9, times as instants).
fn examples_give_duckdbs_answers(broker: &Broker, dir: &Path) {
    let python = python_venv().join("bin/python");
    let scripts = repo_root().join("scripts");
    let tables = Command::new(&python)
        .args([
            "-c",
            "import json, sqlite3, sys\n\
             rows = sqlite3.connect(sys.argv[1]).execute(\n\
             'SELECT table_name, metadata_location FROM iceberg_tables')\n\
             print(json.dumps({n: l.removeprefix('file://') for n, l in rows}))",
        ])
        .arg(dir.join("catalog.db"))
        .output()
        .unwrap();
    assert!(tables.status.success(), "{}", String::from_utf8_lossy(&tables.stderr));
    let tables = String::from_utf8(tables.stdout).unwrap();

    let listing = stdout(&run_ok(bidlake(broker, dir, &[]).args(["query", "--examples"])));
    let examples = stdout(&run_ok(bidlake(broker, dir, &[]).args([
        "query",
        "--examples",
        "--format",
        "json",
    ])));
    let examples: Vec<serde_json::Value> =
        examples.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert!(examples.len() >= 13, "{listing}");
    let out = tempfile::tempdir().unwrap();
    for example in &examples {
        let name = example["name"].as_str().unwrap();
        assert!(listing.contains(name), "{listing}");
        let ours = stdout(&run_ok(bidlake(broker, dir, &[]).args([
            "query",
            "--format",
            "csv",
            "--example",
            name,
        ])));
        let ours_path = out.path().join(format!("{name}.bidlake"));
        let body = ours.split_once('\n').map_or("", |(_, rows)| rows); // the header
        std::fs::write(&ours_path, body).unwrap();
        assert!(!body.trim().is_empty(), "{name} gave no rows");
        if example["sql"].as_str().unwrap().contains('$') {
            continue; // an Iceberg metadata table: DuckDB names them otherwise (tests/query.rs)
        }
        let theirs = Command::new(&python)
            .arg(scripts.join("bench-query-duckdb.py"))
            .args(["once", tables.trim(), example["sql"].as_str().unwrap()])
            .output()
            .unwrap();
        assert!(theirs.status.success(), "DuckDB: {}", String::from_utf8_lossy(&theirs.stderr));
        let theirs_path = out.path().join(format!("{name}.duckdb"));
        std::fs::write(&theirs_path, &theirs.stdout).unwrap();
        let compared = Command::new(&python)
            .arg(scripts.join("bench-query-compare.py"))
            .args([&ours_path, &theirs_path])
            .output()
            .unwrap();
        assert!(
            compared.status.success(),
            "{name}: bidlake and DuckDB disagree: {}\nbidlake:\n{body}\nDuckDB:\n{}",
            String::from_utf8_lossy(&compared.stderr),
            String::from_utf8_lossy(&theirs.stdout)
        );
    }
    let unknown = bidlake(broker, dir, &[]).args(["query", "--example", "nope"]).output().unwrap();
    let message = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success() && message.contains("fill-rate-by-country"), "{message}");
}

#[test]
fn on_s3_setup_creates_the_bucket_and_ingest_writes_a_table_others_read() {
    let broker = Broker::start();
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let warehouse = "s3://warehouse/bidlake";
    let env = s3.lake_env(warehouse);

    // --check reports the missing bucket without creating it.
    let check = bidlake(&broker, dir.path(), &env).args(["setup", "--check"]).output().unwrap();
    assert!(!check.status.success(), "setup --check passed on an empty S3");
    assert!(
        stdout(&check).lines().any(|l| l.contains("bucket warehouse") && l.contains("missing")),
        "{}",
        stdout(&check)
    );

    let first = run_ok(bidlake(&broker, dir.path(), &env).arg("setup"));
    assert!(
        stdout(&first).lines().any(|l| l.contains("bucket warehouse") && l.ends_with("created")),
        "{}",
        stdout(&first)
    );
    let again = run_ok(bidlake(&broker, dir.path(), &env).arg("setup"));
    assert!(
        !stdout(&again).contains("created"),
        "a second setup created something:\n{}",
        stdout(&again)
    );

    gen_and_ingest(&broker, dir.path(), &env, 2000);
    assert!(!dir.path().join("warehouse").exists(), "data went to the local disk, not S3");

    let mut args = LakeArgs::embedded();
    args.warehouse = Some(warehouse.into());
    args.s3_endpoint = Some(s3.endpoint());
    args.s3_path_style_access = true;
    args.s3_access_key_id = Some(S3_ACCESS_KEY.into());
    args.s3_secret_access_key = Some(Secret::from(S3_SECRET_KEY.to_owned()));
    let batches = scan_lake(args.clone(), dir.path(), "bid_requests");
    let ids: HashSet<String> = batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name("request_id").unwrap().as_string::<i32>();
            (0..a.len()).map(|i| a.value(i).to_owned()).collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids.len(), 2000, "every request once, on S3");

    let rows = assert_readers_agree(
        args,
        dir.path(),
        warehouse,
        "bid_requests",
        &["tmax", "imp_bidfloor", "kafka_offset"],
        Some(&s3),
    );
    assert_eq!(rows, 2000);
}
