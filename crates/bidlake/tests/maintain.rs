//! `bidlake maintain` from the outside: tables of hundreds of small files written by the real
//! ingest (tansu broker, SQLite catalog, local warehouse or S3 on moto), then compaction, expiry
//! and orphan removal, checked with bidlake's own reader, PyIceberg and DuckDB.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use bidlake_lake::{LakeArgs, Secret, open_lake};
use bidlake_testkit::{
    Broker, CatalogServer, S3_ACCESS_KEY, S3_SECRET_KEY, S3Server, assert_each_once,
    bidlake_command, column_sum, read_with_python, run_ok, scan_lake,
};
use futures::TryStreamExt;
use iceberg::spec::{Operation, Snapshot};
use iceberg::table::Table;

fn bidlake(broker: &Broker, dir: &Path, env: &[(&str, String)]) -> Command {
    let mut command = bidlake_command(env!("CARGO_BIN_EXE_bidlake"), broker, dir);
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// setup, gen `count` requests (+ funnel), ingest them in commits of `commit_rows` rows: a table
/// of many small files, as a real stream with a short commit interval leaves it.
fn small_files_lake(broker: &Broker, dir: &Path, env: &[(&str, String)], count: u32, seed: u32) {
    run_ok(bidlake(broker, dir, env).arg("setup"));
    run_ok(bidlake(broker, dir, env).args([
        "gen",
        "--count",
        &count.to_string(),
        "--rate",
        "0",
        "--seed",
        &seed.to_string(),
    ]));
    ingest(broker, dir, env, 50);
}

fn ingest(broker: &Broker, dir: &Path, env: &[(&str, String)], commit_rows: usize) -> Output {
    run_ok(bidlake(broker, dir, env).args([
        "ingest",
        "--until-caught-up",
        "--commit-interval",
        "1s",
        "--commit-rows",
        &commit_rows.to_string(),
        "--duration",
        "120s",
    ]))
}

/// The iceberg crate's view of a table, on a runtime that lives as long as the test needs it.
struct Lake {
    runtime: tokio::runtime::Runtime,
    args: LakeArgs,
    dir: PathBuf,
}

impl Lake {
    fn new(args: LakeArgs, dir: &Path) -> Self {
        Self { runtime: tokio::runtime::Runtime::new().unwrap(), args, dir: dir.to_owned() }
    }

    fn table(&self, name: &str) -> Table {
        self.runtime.block_on(async {
            let lake = open_lake(self.args.resolve(&self.dir).unwrap()).await.unwrap();
            lake.load_table(name).await.unwrap()
        })
    }

    fn current(&self, name: &str) -> Snapshot {
        self.table(name).metadata().current_snapshot().unwrap().as_ref().clone()
    }

    /// Paths of the live data files of the current snapshot.
    fn data_files(&self, name: &str) -> BTreeSet<String> {
        let table = self.table(name);
        self.runtime.block_on(async {
            let tasks: Vec<_> = table
                .scan()
                .select_all()
                .build()
                .unwrap()
                .plan_files()
                .await
                .unwrap()
                .try_collect()
                .await
                .unwrap();
            tasks.iter().map(|t| t.data_file_path().to_owned()).collect()
        })
    }

    /// Everything the current snapshot and the metadata log need: what expiry with
    /// `--retain-last 1` and orphan removal must leave.
    fn needed_by_current(&self, name: &str) -> HashSet<String> {
        let table = self.table(name);
        self.runtime.block_on(async {
            let metadata = table.metadata();
            let mut files: HashSet<String> =
                metadata.metadata_log().iter().map(|m| m.metadata_file.clone()).collect();
            files.insert(table.metadata_location().unwrap().to_owned());
            let snapshot = metadata.current_snapshot().unwrap();
            files.insert(snapshot.manifest_list().to_owned());
            let list = table.manifest_list_reader(snapshot).load().await.unwrap();
            for manifest in list.entries() {
                files.insert(manifest.manifest_path.clone());
                for entry in manifest.load_manifest(table.file_io()).await.unwrap().entries() {
                    if entry.is_alive() {
                        files.insert(entry.file_path().to_owned());
                    }
                }
            }
            files.into_iter().map(|f| f.trim_start_matches("file://").to_owned()).collect()
        })
    }

    fn scan(&self, name: &str) -> Vec<RecordBatch> {
        scan_lake(self.args.clone(), &self.dir, name)
    }
}

const SUMS: [&str; 3] = ["tmax", "imp_bidfloor", "kafka_offset"];

/// Rows and sums of `bid_requests` as bidlake, PyIceberg and DuckDB see them; they must agree.
fn readers_agree(lake: &Lake, warehouse: &str, s3: Option<&S3Server>) -> (usize, Vec<f64>) {
    let ours = lake.scan("bid_requests");
    let rows: usize = ours.iter().map(RecordBatch::num_rows).sum();
    let sums: Vec<f64> = SUMS.iter().map(|c| column_sum(&ours, c)).collect();
    let seen =
        read_with_python(&lake.dir.join("catalog.db"), warehouse, "db.bid_requests", &SUMS, s3);
    for (reader, seen) in seen {
        assert_eq!(seen.count, rows as u64, "{reader} counts differently");
        for ((column, theirs), mine) in seen.sums.iter().zip(&sums) {
            assert!(
                (mine - theirs).abs() <= 1e-9 * mine.abs().max(1.0),
                "{reader}: sum({column}) is {theirs}, bidlake says {mine}"
            );
        }
    }
    (rows, sums)
}

/// Same rows, same sums (up to float summation order).
fn assert_same(after: (usize, Vec<f64>), before: &(usize, Vec<f64>), what: &str) {
    assert_eq!(after.0, before.0, "{what}: row count changed");
    for ((column, a), b) in SUMS.iter().zip(&after.1).zip(&before.1) {
        assert!((a - b).abs() <= 1e-9 * b.abs().max(1.0), "{what}: sum({column}) {b} -> {a}");
    }
}

fn request_ids(batches: &[RecordBatch]) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let a = b.column_by_name("request_id").unwrap().as_string::<i32>();
            (0..a.len()).map(|i| a.value(i).to_owned()).collect::<Vec<_>>()
        })
        .collect()
}

fn assert_every_request_once(batches: &[RecordBatch], expected: usize) {
    let ids = request_ids(batches);
    let unique: HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a request_id appears twice");
    assert_eq!(ids.len(), expected, "request count");
    assert_each_once(batches, "bid_requests");
}

/// Every file under `dir` (the local warehouse), by path.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut files = BTreeSet::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.to_str().unwrap().to_owned());
            }
        }
    }
    files
}

/// A file nothing references, last modified `age` ago.
fn plant(path: &Path, age: Duration) {
    std::fs::write(path, b"not referenced by any metadata").unwrap();
    let file = std::fs::File::options().write(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn compaction_rewrites_small_files_into_one_replace_snapshot_and_ingest_resumes() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    small_files_lake(&broker, dir.path(), &[], 1500, 21);
    let lake = Lake::new(LakeArgs::embedded(), dir.path());
    let warehouse = format!("file://{}", dir.path().join("warehouse").display());

    let files_before = lake.data_files("bid_requests");
    assert!(files_before.len() >= 200, "only {} data files to compact", files_before.len());
    let parent = lake.current("bid_requests");
    let (rows, sums) = readers_agree(&lake, &warehouse, None);
    assert_eq!(rows, 1500);

    let out = run_ok(bidlake(&broker, dir.path(), &[]).args(["maintain", "--compact"]));
    let report = stdout(&out);
    assert!(report.contains("replace snapshot"), "{report}");

    // One replace snapshot on top of the last append, saying what it rewrote.
    let snapshot = lake.current("bid_requests");
    assert_eq!(snapshot.parent_snapshot_id(), Some(parent.snapshot_id()));
    assert_eq!(snapshot.summary().operation, Operation::Replace);
    let summary = &snapshot.summary().additional_properties;
    let files_after = lake.data_files("bid_requests");
    assert!(
        files_after.len() * 5 < files_before.len(),
        "{} -> {}",
        files_before.len(),
        files_after.len()
    );
    assert!(files_after.is_disjoint(&files_before), "every small file was rewritten");
    let deleted: usize = summary["deleted-data-files"].parse().unwrap();
    let added: usize = summary["added-data-files"].parse().unwrap();
    assert_eq!(deleted, files_before.len());
    assert_eq!(added, files_after.len());
    assert_eq!(summary["deleted-records"], "1500");
    assert_eq!(summary["added-records"], "1500");
    assert_eq!(summary["total-records"], "1500");
    assert_eq!(summary["total-data-files"], files_after.len().to_string());
    assert_eq!(summary["bidlake.compaction.rewritten-files"], files_before.len().to_string());
    // Ingest's progress carried forward, value for value.
    let progress = |s: &Snapshot| -> HashMap<String, String> {
        s.summary()
            .additional_properties
            .iter()
            .filter(|(k, _)| k.starts_with("bidlake.kafka."))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert!(progress(&parent).contains_key("bidlake.kafka.bid-requests.offsets"));
    assert_eq!(progress(&snapshot), progress(&parent));

    // The same rows for every reader.
    assert_same(readers_agree(&lake, &warehouse, None), &(rows, sums), "after compaction");
    assert_every_request_once(&lake.scan("bid_requests"), 1500);
    // The other tables were compacted too, rows unchanged.
    let responses = lake.scan("bid_responses");
    assert_each_once(&responses, "bid_responses");
    assert_eq!(lake.current("bid_responses").summary().operation, Operation::Replace);

    // Ingest resumes from the offsets the replace snapshot carries: new records only.
    run_ok(
        bidlake(&broker, dir.path(), &[])
            .args(["gen", "--count", "100", "--rate", "0", "--seed", "22"]),
    );
    ingest(&broker, dir.path(), &[], 1_000_000);
    assert_every_request_once(&lake.scan("bid_requests"), 1600);
    let more = assert_each_once(&lake.scan("bid_responses"), "bid_responses after resuming");
    assert!(more > responses.iter().map(RecordBatch::num_rows).sum::<usize>());
}

#[test]
fn dry_run_changes_nothing() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    small_files_lake(&broker, dir.path(), &[], 600, 31);
    let lake = Lake::new(LakeArgs::embedded(), dir.path());
    let warehouse = dir.path().join("warehouse");
    plant(&warehouse.join("db/bid_requests/data/orphan.parquet"), 30 * DAY);

    let snapshots = |lake: &Lake| -> Vec<i64> {
        ["bid_requests", "bid_responses", "impressions", "clicks"]
            .iter()
            .map(|t| lake.table(t).metadata().current_snapshot_id().unwrap_or(0))
            .collect()
    };
    let before = (snapshots(&lake), files_under(&warehouse));
    let catalog = std::fs::read(dir.path().join("catalog.db")).unwrap();

    let out = run_ok(bidlake(&broker, dir.path(), &[]).args([
        "maintain",
        "--dry-run",
        "--retain-snapshots-older-than",
        "0s",
    ]));
    let report = stdout(&out);
    assert!(report.starts_with("dry run: nothing was changed"), "{report}");
    assert!(report.contains("would rewrite"), "{report}");
    assert!(report.contains("would expire"), "{report}");
    assert!(report.contains("orphan.parquet"), "the planted orphan is listed:\n{report}");

    assert_eq!((snapshots(&lake), files_under(&warehouse)), before, "dry run changed the lake");
    assert_eq!(std::fs::read(dir.path().join("catalog.db")).unwrap(), catalog);
}

#[test]
fn expiry_and_orphan_removal_delete_exactly_the_unreferenced_files() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    small_files_lake(&broker, dir.path(), &[], 800, 41);
    let lake = Lake::new(LakeArgs::embedded(), dir.path());
    let warehouse = dir.path().join("warehouse");
    let warehouse_url = format!("file://{}", warehouse.display());
    // Compact first: the small files become garbage only old snapshots reference.
    run_ok(bidlake(&broker, dir.path(), &[]).args([
        "maintain",
        "--compact",
        "--table",
        "db.bid_requests",
    ]));
    let rows_before = readers_agree(&lake, &warehouse_url, None);

    let table_dir = warehouse.join("db/bid_requests");
    let old_orphan = table_dir.join("data/crashed-writer.parquet");
    let old_metadata_orphan = table_dir.join("metadata/crashed-commit-m0.avro");
    let young_orphan = table_dir.join("data/in-flight.parquet");
    plant(&old_orphan, 2 * DAY);
    plant(&old_metadata_orphan, 2 * DAY);
    plant(&young_orphan, Duration::from_secs(60));

    let on_disk = files_under(&table_dir);
    let needed = lake.needed_by_current("bid_requests");
    let expected_gone: BTreeSet<String> = on_disk
        .iter()
        .filter(|f| !needed.contains(*f) && **f != young_orphan.to_str().unwrap())
        .cloned()
        .collect();
    assert!(expected_gone.len() > 100, "old snapshots hold the small files");

    let out = run_ok(bidlake(&broker, dir.path(), &[]).args([
        "maintain",
        "--expire-snapshots",
        "--remove-orphans",
        "--table",
        "bid_requests",
        "--retain-snapshots-older-than",
        "0s",
        "--orphan-older-than",
        "1d",
    ]));
    let report = stdout(&out);
    assert!(report.contains("orphans      deleted 2"), "{report}");
    assert!(report.contains("1 unreferenced but younger"), "{report}");

    let after = files_under(&table_dir);
    let gone: BTreeSet<String> = on_disk.difference(&after).cloned().collect();
    assert_eq!(
        gone.difference(&expected_gone).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "deleted a file the current snapshot needs"
    );
    assert_eq!(
        expected_gone.difference(&gone).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "left an unreferenced file"
    );
    assert!(young_orphan.exists() && !old_orphan.exists() && !old_metadata_orphan.exists());
    assert_eq!(lake.table("bid_requests").metadata().snapshots().count(), 1);
    // Readers of the current snapshot still see every row.
    assert_same(readers_agree(&lake, &warehouse_url, None), &rows_before, "after expiry");
    assert_every_request_once(&lake.scan("bid_requests"), 800);
}

#[test]
fn compaction_while_ingest_commits_loses_and_duplicates_no_row() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    run_ok(bidlake(&broker, dir.path(), &[]).arg("setup"));
    run_ok(
        bidlake(&broker, dir.path(), &[])
            .args(["gen", "--count", "2500", "--rate", "0", "--seed", "51"]),
    );
    // Many small commits over several seconds, while compactions run beside them.
    let mut ingest = bidlake(&broker, dir.path(), &[])
        .args(["ingest", "--until-caught-up", "--table", "bid_requests"])
        .args(["--commit-interval", "200ms", "--commit-rows", "40", "--duration", "120s"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let (mut committed, mut replanned) = (0, 0);
    while ingest.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(150), "ingest did not finish");
        let out = bidlake(&broker, dir.path(), &[])
            .args([
                "maintain",
                "--compact",
                "--table",
                "bid_requests",
                "--target-file-size",
                "1MiB",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && stderr.contains("is missing") {
            continue; // before the first commit
        }
        assert!(out.status.success(), "maintain failed:\n{stderr}");
        committed += usize::from(stdout(&out).contains("replace snapshot"));
        replanned += usize::from(stderr.contains("planning the commit again"));
    }
    assert!(ingest.wait().unwrap().success());
    assert!(committed >= 2, "only {committed} compactions committed while ingest ran");
    eprintln!("{committed} compactions committed beside ingest, {replanned} re-planned a commit");

    let lake = Lake::new(LakeArgs::embedded(), dir.path());
    let batches = lake.scan("bid_requests");
    assert_every_request_once(&batches, 2500);
    let warehouse = format!("file://{}", dir.path().join("warehouse").display());
    assert_eq!(readers_agree(&lake, &warehouse, None).0, 2500);
}

#[test]
fn on_s3_maintain_compacts_expires_and_keeps_young_files() {
    let broker = Broker::start();
    let s3 = S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let warehouse = "s3://warehouse/bidlake";
    let env = s3.lake_env(warehouse);
    small_files_lake(&broker, dir.path(), &env, 500, 61);
    let mut args = LakeArgs::embedded();
    args.warehouse = Some(warehouse.into());
    args.s3_endpoint = Some(s3.endpoint());
    args.s3_path_style_access = true;
    args.s3_access_key_id = Some(S3_ACCESS_KEY.into());
    args.s3_secret_access_key = Some(Secret::from(S3_SECRET_KEY.to_owned()));
    let lake = Lake::new(args, dir.path());
    let before = readers_agree(&lake, warehouse, Some(&s3));
    let small_files = lake.data_files("bid_requests");

    // An unreferenced file written just now: in flight, as far as anyone can tell.
    let table = lake.table("bid_requests");
    let young = format!("{}/data/in-flight.parquet", table.metadata().location());
    lake.runtime.block_on(async {
        table.file_io().new_output(&young).unwrap().write("x".into()).await.unwrap();
    });

    let out = run_ok(bidlake(&broker, dir.path(), &env).args([
        "maintain",
        "--retain-snapshots-older-than",
        "0s",
        "--orphan-older-than",
        "1h",
    ]));
    let report = stdout(&out);
    assert!(report.contains("replace snapshot"), "{report}");
    assert!(report.contains("1 unreferenced but younger than 1h kept"), "{report}");
    assert!(!dir.path().join("warehouse").exists(), "maintain wrote to the local disk, not S3");

    assert_same(readers_agree(&lake, warehouse, Some(&s3)), &before, "on S3");
    assert_every_request_once(&lake.scan("bid_requests"), 500);
    let io = table.file_io().clone();
    let live = lake.data_files("bid_requests");
    let rewritten: Vec<&String> = small_files.difference(&live).collect();
    assert!(rewritten.len() > 100, "only {} files rewritten", rewritten.len());
    lake.runtime.block_on(async {
        assert!(io.exists(&young).await.unwrap(), "a young file was deleted");
        for file in rewritten.iter().take(20) {
            assert!(!io.exists(file).await.unwrap(), "{file}: expired, yet still there");
        }
    });
    assert_eq!(lake.table("bid_requests").metadata().snapshots().count(), 1);
}

#[test]
fn through_a_rest_catalog_compaction_expiry_and_orphan_removal_work_alike() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    small_files_lake(&broker, dir.path(), &[], 500, 71);
    let lake = Lake::new(LakeArgs::embedded(), dir.path());
    let warehouse = format!("file://{}", dir.path().join("warehouse").display());
    let before = readers_agree(&lake, &warehouse, None);
    let parent = lake.current("bid_requests");

    // maintain talks to the catalog server only, with an OAuth2 client credential.
    let credential = "maintain-client:s3cret";
    let server = CatalogServer::start(
        env!("CARGO_BIN_EXE_bidlake"),
        dir.path(),
        ("CATALOG_CREDENTIAL", credential),
    );
    let via_rest =
        [("CATALOG_URI", server.uri.clone()), ("CATALOG_CREDENTIAL", credential.to_owned())];
    let out = run_ok(bidlake(&broker, dir.path(), &via_rest).args([
        "maintain",
        "--retain-snapshots-older-than",
        "0s",
        "--orphan-older-than",
        "1h",
    ]));
    let report = stdout(&out);
    assert!(report.contains("replace snapshot"), "{report}");
    assert!(report.contains("expired"), "{report}");

    let snapshot = lake.current("bid_requests");
    assert_eq!(snapshot.summary().operation, Operation::Replace);
    assert_eq!(snapshot.parent_snapshot_id(), Some(parent.snapshot_id()));
    assert_eq!(
        snapshot.summary().additional_properties["bidlake.kafka.bid-requests.offsets"],
        parent.summary().additional_properties["bidlake.kafka.bid-requests.offsets"]
    );
    assert_eq!(lake.table("bid_requests").metadata().snapshots().count(), 1);
    assert_same(readers_agree(&lake, &warehouse, None), &before, "after maintain via REST");

    // A wrong secret is refused before anything changes.
    let refused = bidlake(&broker, dir.path(), &via_rest)
        .args(["maintain", "--compact"])
        .env("CATALOG_CREDENTIAL", "maintain-client:wrong")
        .output()
        .unwrap();
    assert!(!refused.status.success());
}

#[test]
fn mistakes_name_what_to_fix() {
    let dir = tempfile::tempdir().unwrap();
    let maintain = |args: &[&str], env: &[(&str, &str)]| -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_bidlake"))
            .env_remove("CATALOG_URI")
            .env_remove("WAREHOUSE")
            .env("BIDLAKE_DATA_DIR", dir.path())
            .envs(env.iter().copied())
            .arg("maintain")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "maintain {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = maintain(&["--orphan-older-than", "10m"], &[]);
    assert!(err.contains("--orphan-older-than") && err.contains("1h"), "{err}");
    let err = maintain(&["--retain-snapshots-older-than", "7 fortnights"], &[]);
    assert!(err.contains("--retain-snapshots-older-than"), "{err}");
    let err = maintain(&["--target-file-size", "12 parsecs"], &[]);
    assert!(err.contains("--target-file-size") && err.contains("unit"), "{err}");
    // No namespace yet: setup first.
    let err = maintain(&["--compact"], &[]);
    assert!(err.contains("bidlake setup"), "{err}");
    let err = maintain(&["--compact"], &[("CATALOG_URI", "http://127.0.0.1:9")]);
    assert!(err.contains("CATALOG_URI"), "{err}");

    // With the tables there, a table that is not.
    let broker = Broker::start();
    run_ok(bidlake(&broker, dir.path(), &[]).arg("setup"));
    let err = maintain(&["--table", "db.bid_request"], &[]);
    assert!(
        err.contains("unknown table db.bid_request") && err.contains("db.bid_requests"),
        "{err}"
    );
}
