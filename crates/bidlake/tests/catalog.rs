//! `bidlake catalog serve` driven by independent clients: PyIceberg's RestCatalog (the whole
//! lifecycle, a stale append answered by 409 and retried), and the `iceberg-catalog-rest` crate
//! inside `bidlake setup`/`ingest`/`query` pointed at the server (token and OAuth2 credential).

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::process::Command;

use arrow_array::Array;
use arrow_array::cast::AsArray;
use arrow_array::types::Int32Type;
use bidlake_testkit::{
    Broker, CatalogServer, bidlake_command, bidlake_lake_command, run_ok, run_python, scan,
};
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_bidlake");

fn stdout(command: &mut Command) -> String {
    String::from_utf8(run_ok(command).stdout).unwrap()
}

#[test]
fn pyiceberg_drives_the_rest_catalog() {
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake_lake_command(EXE, dir.path()).args(["setup", "--skip-topics"]));
    let token = "test-token-7f3a";
    let server = CatalogServer::start(EXE, dir.path(), ("CATALOG_TOKEN", token));

    let seen =
        run_python("rest_catalog.py", &["exercise", "--uri", &server.uri, "--token", token], &[]);

    assert_eq!(
        seen["seed_curl"],
        json!({"status": 200, "tables": [
            "bid_requests",
            "bid_responses",
            "clicks",
            "hourly_funnel_by_publisher",
            "hourly_impressions_by_geo",
            "impressions",
            "rolling_metrics_by_bidder"
        ]})
    );
    // Without the token: 401 in the spec's error shape.
    assert_eq!(seen["unauthenticated"][0], 401);
    assert_eq!(seen["unauthenticated"][1]["error"]["type"], "NotAuthorizedException");
    assert_eq!(seen["namespaces_before"], json!(["db"]));
    assert_eq!(seen["duplicate_namespace"], "NamespaceAlreadyExistsError");
    assert_eq!(
        seen["properties_update"],
        json!({"updated": ["team"], "removed": ["temp"], "missing": ["never-set"]})
    );
    assert_eq!(seen["properties"], json!({"owner": "tests", "team": "adtech"}));
    assert_eq!(seen["namespaces_after"], json!(["db", "py"]));
    assert_eq!(seen["table_exists"], true);
    // The stale writer is refused with 409 and succeeds after reloading (by hand, then by
    // PyIceberg's own retry): every append lands once.
    assert_eq!(seen["stale_append"], "CommitFailedException", "{seen}");
    assert_eq!(
        seen["raw_stale_commit"],
        json!({"status": 409, "type": "CommitFailedException", "code": 409})
    );
    assert_eq!(seen["rows"], 9);
    assert_eq!(seen["id_sum"], 45);
    assert_eq!(seen["snapshots"], 5);
    assert_eq!(seen["deu_rows"], 4);
    assert_eq!(seen["tables_after_rename"], json!(["events_renamed"]));
    assert_eq!(seen["purged_location_exists"], false);
    assert_eq!(seen["tables_after_purge"], json!(["events_renamed"]));
    assert_eq!(seen["drop_non_empty_namespace"], "NamespaceNotEmptyError");
    assert_eq!(seen["missing_table"], "NoSuchTableError");
    assert_eq!(seen["namespaces_end"], json!(["db", "py"]));

    // What PyIceberg wrote through the server, bidlake reads: straight from the SQL catalog, and
    // through the server with the iceberg-catalog-rest client.
    let sql = "SELECT COUNT(*) AS n, SUM(id) AS s FROM py.events_renamed";
    let direct =
        stdout(bidlake_lake_command(EXE, dir.path()).args(["query", "--format", "csv", sql]));
    assert_eq!(direct, "n,s\n9,45\n");
    let via_rest = stdout(
        bidlake_lake_command(EXE, dir.path())
            .args(["query", "--format", "csv", sql])
            .env("CATALOG_URI", &server.uri)
            .env("CATALOG_TOKEN", token),
    );
    assert_eq!(via_rest, direct);

    let refused = bidlake_lake_command(EXE, dir.path())
        .args(["query", sql])
        .env("CATALOG_URI", &server.uri)
        .env("CATALOG_TOKEN", "wrong")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("bearer token is not valid"), "{stderr}");
}

#[test]
fn ingest_writes_through_the_rest_catalog() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let credential = "ingest-client:s3cret";
    let server = CatalogServer::start(EXE, dir.path(), ("CATALOG_CREDENTIAL", credential));
    let via_rest = |args: &[&str]| {
        let mut command = bidlake_command(EXE, &broker, dir.path());
        command.args(args).env("CATALOG_URI", &server.uri).env("CATALOG_CREDENTIAL", credential);
        command
    };

    // Every client of the server exchanges the credential for a token (OAuth2) first.
    run_ok(&mut via_rest(&["setup"]));
    run_ok(&mut via_rest(&["gen", "--count", "300", "--rate", "0", "--seed", "3"]));
    run_ok(&mut via_rest(&[
        "ingest",
        "--until-caught-up",
        "--commit-interval",
        "1s",
        "--duration",
        "120s",
    ]));

    // The files and commits landed in the server's lake: bidlake reads it directly...
    let batches = scan(dir.path(), "bid_requests");
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 300);
    let tmax_sum: i64 = batches
        .iter()
        .map(|b| {
            let tmax = b.column_by_name("tmax").unwrap().as_primitive::<Int32Type>();
            (0..tmax.len())
                .filter(|&i| tmax.is_valid(i))
                .map(|i| i64::from(tmax.value(i)))
                .sum::<i64>()
        })
        .sum();

    // ...and PyIceberg reads the same rows through the server with the same credential.
    let seen: Value = run_python(
        "rest_catalog.py",
        &[
            "read",
            "--uri",
            &server.uri,
            "--credential",
            credential,
            "--table",
            "db.bid_requests",
            "--distinct",
            "request_id",
            "--sum",
            "tmax",
        ],
        &[],
    );
    assert_eq!(seen["count"], 300);
    assert_eq!(seen["distinct"], 300);
    assert_eq!(seen["sums"]["tmax"].as_f64().unwrap(), tmax_sum as f64);

    // A wrong secret is refused at the token endpoint, before anything is touched.
    let refused = via_rest(&["query", "SELECT 1"])
        .env("CATALOG_CREDENTIAL", "ingest-client:wrong")
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("invalid_client"), "{stderr}");
}
