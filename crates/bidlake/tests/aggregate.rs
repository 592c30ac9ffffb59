//! `bidlake aggregate` from the outside: the aggregate tables against the same aggregates
//! computed by SQL over the event tables (the oracle), after a backfill during which ingest and
//! the aggregator are killed at random points, and after late events.

#![allow(clippy::unwrap_used)] // a test file: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bidlake_testkit::{
    Broker, Running, bidlake_command, bidlake_lake_command, free_port, produce, run_ok,
};

fn bidlake(broker: &Broker, data_dir: &Path) -> Command {
    bidlake_command(env!("CARGO_BIN_EXE_bidlake"), broker, data_dir)
}

/// Rows of a query as CSV lines, sorted (an aggregate is a set of rows).
fn rows(dir: &Path, sql: &str) -> Vec<String> {
    let exe = env!("CARGO_BIN_EXE_bidlake");
    let out = run_ok(bidlake_lake_command(exe, dir).args(["query", "--format", "csv", sql]));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<String> = text.lines().skip(1).map(str::to_owned).collect();
    lines.sort();
    lines
}

/// What the tests compare: each aggregate table as stored, and the same aggregate written
/// plainly over the event tables (no time ranges, no partitions), with the documented linking
/// of funnel events to their request (by id, from 60 s before to 10 minutes after it) and test and
/// private-IP traffic left out.
const COUNTED: &str = "r.is_test_traffic IS NOT TRUE AND r.is_private_ip IS NOT TRUE";
const LINK: &str = "BETWEEN r.event_timestamp - INTERVAL '60 seconds' AND r.event_timestamp + INTERVAL '600 seconds'";

fn oracle_and_stored() -> Vec<(&'static str, String, String)> {
    let r9 = |c: &str| c.to_owned();
    vec![
        (
            "hourly_impressions_by_geo",
            format!(
                "SELECT date_trunc('hour', i.event_timestamp) AS window_start, r.device_geo_country, \
                 COUNT(*) AS impression_count, SUM(i.win_price_usd), AVG(i.win_price_usd) \
                 FROM db.impressions i JOIN db.bid_requests r ON i.request_id = r.request_id \
                 WHERE {COUNTED} AND i.event_timestamp {LINK} GROUP BY 1, 2"
            ),
            format!(
                "SELECT window_start, device_geo_country, impression_count, {}, {} \
                 FROM db.hourly_impressions_by_geo",
                r9("total_revenue"),
                r9("avg_win_price")
            ),
        ),
        (
            "rolling_metrics_by_bidder",
            format!(
                "SELECT w.window_start, w.window_start + INTERVAL '5 minutes', i.bidder_id, COUNT(*), \
                 SUM(i.win_price_usd), AVG(i.win_price_usd) \
                 FROM db.impressions i JOIN db.bid_requests r ON i.request_id = r.request_id \
                 JOIN (SELECT DISTINCT date_trunc('minute', event_timestamp) - k.back AS window_start \
                       FROM db.impressions CROSS JOIN (VALUES (INTERVAL '0 minutes'), (INTERVAL '1 minutes'), \
                       (INTERVAL '2 minutes'), (INTERVAL '3 minutes'), (INTERVAL '4 minutes')) AS k(back)) w \
                   ON i.event_timestamp >= w.window_start AND i.event_timestamp < w.window_start + INTERVAL '5 minutes' \
                 WHERE {COUNTED} AND i.event_timestamp {LINK} GROUP BY 1, 2, 3"
            ),
            format!(
                "SELECT window_start, window_end, bidder_id, win_count, {}, {} \
                 FROM db.rolling_metrics_by_bidder",
                r9("revenue"),
                r9("avg_cpm")
            ),
        ),
        (
            "hourly_funnel_by_publisher",
            format!(
                "SELECT date_trunc('hour', r.event_timestamp), r.publisher_id, \
                 COUNT(DISTINCT r.request_id), COUNT(DISTINCT s.response_id), \
                 COUNT(DISTINCT i.impression_id), COUNT(DISTINCT c.click_id) \
                 FROM db.bid_requests r \
                 LEFT JOIN db.bid_responses s ON s.request_id = r.request_id AND s.event_timestamp {LINK} \
                 LEFT JOIN db.impressions i ON i.response_id = s.response_id AND i.event_timestamp {LINK} \
                 LEFT JOIN db.clicks c ON c.impression_id = i.impression_id AND c.event_timestamp {LINK} \
                 WHERE {COUNTED} GROUP BY 1, 2"
            ),
            "SELECT window_start, publisher_id, bid_requests, bid_responses, impressions, clicks \
             FROM db.hourly_funnel_by_publisher"
                .to_owned(),
        ),
    ]
}

fn assert_aggregates_equal_the_oracle(dir: &Path) {
    for (table, oracle, stored) in oracle_and_stored() {
        let expected = rows(dir, &oracle);
        let actual = rows(dir, &stored);
        assert!(!expected.is_empty(), "{table}: the oracle found no rows");
        let same = expected.len() == actual.len()
            && expected.iter().zip(&actual).all(|(e, a)| same_row(e, a));
        if !same {
            let missing: Vec<_> =
                expected.iter().filter(|r| !actual.contains(r)).take(20).collect();
            let extra: Vec<_> = actual.iter().filter(|r| !expected.contains(r)).take(20).collect();
            panic!(
                "{table}: {} rows stored, {} expected\nmissing: {missing:#?}\nextra: {extra:#?}",
                actual.len(),
                expected.len()
            );
        }
    }
    // The funnel's rates are its counts' ratios.
    let bad = rows(
        dir,
        "SELECT COUNT(*) FROM db.hourly_funnel_by_publisher WHERE \
         abs(fill_rate - COALESCE(CAST(bid_responses AS DOUBLE) / NULLIF(bid_requests, 0), 0)) > 1e-12 \
         OR abs(win_rate - COALESCE(CAST(impressions AS DOUBLE) / NULLIF(bid_responses, 0), 0)) > 1e-12 \
         OR abs(ctr - COALESCE(CAST(clicks AS DOUBLE) / NULLIF(impressions, 0), 0)) > 1e-12",
    );
    assert_eq!(bad, ["0"]);
}

/// Equal CSV rows, sums and averages to 1e-9 relative (they are added in another order).
fn same_row(expected: &str, actual: &str) -> bool {
    let (e, a): (Vec<&str>, Vec<&str>) =
        (expected.split(',').collect(), actual.split(',').collect());
    e.len() == a.len()
        && e.iter().zip(&a).all(|(e, a)| {
            e == a
                || matches!((e.parse::<f64>(), a.parse::<f64>()), (Ok(x), Ok(y))
                    if (x - y).abs() <= 1e-9 * x.abs().max(1.0))
        })
}

fn spawn(command: &mut Command) -> Running {
    let child = command.stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    Running::new(child, "KILL")
}

/// Spawns with stderr appended to `log`, so a failure can show what the process said.
fn spawn_logged(command: &mut Command, log: &Path) -> Running {
    spawn_logged_stopped_by(command, log, "KILL")
}

/// As `spawn_logged`, sent `on_drop` if the test ends first (`INT` for `up`, which then stops
/// its embedded broker too).
fn spawn_logged_stopped_by(command: &mut Command, log: &Path, on_drop: &'static str) -> Running {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
    let child = command.stdout(Stdio::null()).stderr(file).spawn().unwrap();
    Running::new(child, on_drop)
}

/// The last lines of a log, for a failure message.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Waits until `done`, failing if the aggregator `a` exits or 180 s pass (generous: a round can
/// recompute every hour a backfill touched, in a debug build, on a machine the other suites
/// load too).
fn wait_for(
    what: &str,
    done: &dyn Fn() -> bool,
    a: &mut Running,
    aggregate_log: &Path,
    ingest_log: &Path,
) {
    let started = Instant::now();
    while !done() {
        if let Some(exit) = a.exited() {
            panic!("{what}: the aggregator exited ({exit}):\n{}", tail(aggregate_log));
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{what}: not within 180 s\naggregator:\n{}\ningest:\n{}",
            tail(aggregate_log),
            tail(ingest_log)
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A pseudo-random pause of 0.3 to 2.3 s (no RNG crate for one number).
fn random_pause() -> Duration {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap();
    Duration::from_millis(300 + u64::from(nanos.subsec_nanos()) % 2_000)
}

#[test]
fn aggregates_equal_sql_over_the_event_tables_after_kills_during_a_backfill_and_late_events() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    run_ok(bidlake(&broker, dir).arg("setup"));

    // Three hours of history at 2 requests/s, its funnel included, then live traffic at that
    // rate, produced while ingest and the aggregator run and are killed. The live traffic gives
    // every aggregator new rows to aggregate, however fast the history went in.
    let generator = spawn(bidlake(&broker, dir).args([
        "gen",
        "--backfill-hours",
        "3",
        "--rate",
        "2",
        "--duration",
        "20m",
        "--seed",
        "21",
        "--win-rate",
        "0.4",
        "--click-rate",
        "0.2",
    ]));
    let logs = tempfile::tempdir().unwrap();
    let (ingest_log, aggregate_log) =
        (logs.path().join("ingest.log"), logs.path().join("aggregate.log"));
    let ingest = || {
        spawn_logged(
            bidlake(&broker, dir).args([
                "ingest",
                "--commit-interval",
                "300ms",
                "--assignment",
                "all",
                "--duration",
                "600s",
            ]),
            &ingest_log,
        )
    };
    let aggregator = || {
        spawn_logged(
            bidlake(&broker, dir).args(["aggregate", "--aggregate-interval", "200ms"]),
            &aggregate_log,
        )
    };
    // Each aggregator is killed at a random point after its first commit, so every one of them
    // resumes from what the one before recorded.
    let rounds = || -> u32 {
        let sql = "SELECT COUNT(*) FROM db.\"hourly_funnel_by_publisher$snapshots\"";
        rows(dir, sql)[0].parse().unwrap()
    };
    for kill_number in 1..=4 {
        let (i, mut a) = (ingest(), aggregator());
        let before = rounds();
        let what = format!("aggregator {kill_number} committing a round");
        wait_for(&what, &|| rounds() > before, &mut a, &aggregate_log, &ingest_log);
        std::thread::sleep(random_pause());
        a.stop("KILL");
        std::thread::sleep(random_pause());
        i.stop("KILL");
        assert!(rounds() >= kill_number);
    }
    assert!(generator.stop("TERM").success(), "gen failed");

    // Ingest catches up; the aggregator, killed and restarted, catches up from what it recorded.
    run_ok(bidlake(&broker, dir).args(["ingest", "--until-caught-up", "--assignment", "all"]));
    run_ok(bidlake(&broker, dir).args(["aggregate", "--once"]));
    assert_aggregates_equal_the_oracle(dir);

    // Late events: a request from 150 minutes ago with its response and impression, the
    // impression arriving first; and an impression with no request yet, whose request comes
    // in a later round.
    let at = |minutes_ago: u64| {
        let t = std::time::SystemTime::now() - Duration::from_secs(minutes_ago * 60);
        let micros = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
        bidlake_tables::timestamp::format_micros(micros).unwrap()
    };
    let request = |id: &str, t: &str| {
        format!(
            r#"{{"id":"{id}","imp":[{{"id":"1","bidfloor":1.0}}],"site":{{"id":"s","publisher":{{"id":"pub-late"}}}},"device":{{"devicetype":2,"geo":{{"country":"NZL"}}}},"event_timestamp":"{t}"}}"#
        )
    };
    let response = |id: &str, t: &str| {
        format!(
            r#"{{"id":"{id}","bidid":"resp-{id}","cur":"USD","seatbid":[{{"seat":"late-dsp","bid":[{{"id":"b","impid":"1","price":2.5}}]}}],"event_timestamp":"{t}"}}"#
        )
    };
    let impression = |id: &str, t: &str| {
        format!(
            r#"{{"impression_id":"imp-{id}","request_id":"{id}","response_id":"resp-{id}","bidder_id":"late-dsp","win_price":2.0,"win_currency":"USD","event_timestamp":"{t}"}}"#
        )
    };
    let send = |topic: &str, value: String| {
        produce(&broker.bootstrap(), topic, 0, &[(None, value.as_bytes())])
    };
    send("impressions", impression("late-1", &at(149)));
    send("bid-responses", response("late-1", &at(150)));
    send("impressions", impression("late-2", &at(30)));
    run_ok(bidlake(&broker, dir).args(["ingest", "--until-caught-up", "--assignment", "all"]));
    run_ok(bidlake(&broker, dir).args(["aggregate", "--once"]));
    send("bid-requests", request("late-1", &at(150)));
    send("bid-requests", request("late-2", &at(31)));
    run_ok(bidlake(&broker, dir).args(["ingest", "--until-caught-up", "--assignment", "all"]));
    run_ok(bidlake(&broker, dir).args(["aggregate", "--once"]));
    assert_aggregates_equal_the_oracle(dir);
    let late = rows(
        dir,
        "SELECT SUM(impression_count) FROM db.hourly_impressions_by_geo WHERE device_geo_country = 'NZL'",
    );
    assert_eq!(late, ["2"], "both late impressions counted under their request's country");
}

/// Whether every aggregate table has consumed the event tables as they are now (two queries,
/// as the test polls this).
fn aggregates_caught_up(dir: &Path) -> bool {
    let newest = |tables: &[&str], column: &str| -> Vec<String> {
        let sql = tables
            .iter()
            .map(|t| {
                format!(
                    "SELECT * FROM (SELECT '{t}' AS t, {column} AS v FROM db.\"{t}$snapshots\" \
                     ORDER BY committed_at DESC LIMIT 1)"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        rows(dir, &sql)
    };
    let current =
        newest(&["bid_requests", "bid_responses", "impressions", "clicks"], "snapshot_id");
    let summaries = newest(
        &["hourly_impressions_by_geo", "rolling_metrics_by_bidder", "hourly_funnel_by_publisher"],
        "summary",
    );
    let reads = |aggregate: &str| -> &[&str] {
        match aggregate {
            "hourly_funnel_by_publisher" => {
                &["bid_requests", "bid_responses", "impressions", "clicks"]
            }
            _ => &["bid_requests", "impressions"],
        }
    };
    summaries.len() == 3
        && summaries.iter().all(|line| {
            let (aggregate, summary) = line.split_once(',').unwrap();
            reads(aggregate).iter().all(|source| {
                current.iter().filter_map(|l| l.split_once(',')).all(|(t, id)| {
                    t != *source
                        || summary
                            .contains(&format!("bidlake.aggregate.{source}.snapshot-id: {id}"))
                })
            })
        })
}

/// Snapshots of `table` whose round added new events to stored rows (the memory's path).
fn rounds_added_to(dir: &Path, table: &str) -> usize {
    let sql = format!("SELECT summary FROM db.\"{table}$snapshots\"");
    rows(dir, &sql)
        .iter()
        .filter(|s| s.contains("hours-added-to:") && !s.contains("hours-added-to: 0"))
        .count()
}

/// Whether the test's own requests, responses and impressions are all in the tables.
fn ingested(dir: &Path, requests: usize, responses: usize, impressions: usize) -> bool {
    let count = |sql: &str| rows(dir, sql).join("").parse::<usize>().unwrap_or(0);
    count("SELECT COUNT(*) FROM db.bid_requests WHERE publisher_id = 'pub-mem'") == requests
        && count("SELECT COUNT(*) FROM db.bid_responses WHERE seat = 'mem-dsp'") == responses
        && count("SELECT COUNT(*) FROM db.impressions WHERE bidder_id = 'mem-dsp'") == impressions
}

/// Snapshots of `table` whose round recomputed hours with SQL.
fn recomputing_rounds(dir: &Path, table: &str) -> usize {
    let sql = format!("SELECT summary FROM db.\"{table}$snapshots\"");
    rows(dir, &sql)
        .iter()
        .filter(|s| s.contains("hours-recomputed:") && !s.contains("hours-recomputed: 0"))
        .count()
}

fn at_minutes_ago(minutes: f64) -> String {
    let t = std::time::SystemTime::now() - Duration::from_secs_f64(minutes * 60.0);
    let micros = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64;
    bidlake_tables::timestamp::format_micros(micros).unwrap()
}

fn request_json(id: &str, publisher: &str, t: &str) -> String {
    format!(
        r#"{{"id":"{id}","imp":[{{"id":"1","bidfloor":1.0}}],"site":{{"id":"s","publisher":{{"id":"{publisher}"}}}},"device":{{"devicetype":2,"geo":{{"country":"ISL"}}}},"event_timestamp":"{t}"}}"#
    )
}

fn response_json(request: &str, response: &str, t: &str) -> String {
    format!(
        r#"{{"id":"{request}","bidid":"{response}","cur":"USD","seatbid":[{{"seat":"mem-dsp","bid":[{{"id":"b","impid":"1","price":2.5}}]}}],"event_timestamp":"{t}"}}"#
    )
}

fn impression_json(request: &str, response: &str, impression: &str, t: &str) -> String {
    format!(
        r#"{{"impression_id":"{impression}","request_id":"{request}","response_id":"{response}","bidder_id":"mem-dsp","win_price":2.0,"win_currency":"USD","event_timestamp":"{t}"}}"#
    )
}

/// A long-running aggregator adds each round's new events to the rows it stored, from its
/// memory of recent events, instead of recomputing their hours. Its rows must equal the SQL
/// over the event tables when it stops, with no `--once` run to repair them: across a restart
/// (the memory refilled from the tables), a producer's duplicate request, two requests whose
/// responses share an id, an impression that comes before its request, and an event late
/// enough to be recomputed.
#[test]
fn aggregates_added_to_from_memory_equal_sql_over_the_event_tables() {
    memory_scenario(false);
}

/// The same with the aggregator inside ingest (`ingest --aggregate`, as `up` runs it): it takes
/// the rows ingest commits instead of reading back the files, and is killed with it.
#[test]
fn aggregates_kept_inside_ingest_from_the_rows_it_commits_equal_sql() {
    memory_scenario(true);
}

fn memory_scenario(inside_ingest: bool) {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    run_ok(bidlake(&broker, dir).arg("setup"));
    let logs = tempfile::tempdir().unwrap();
    let (ingest_log, aggregate_log) =
        (logs.path().join("ingest.log"), logs.path().join("aggregate.log"));
    let generator = spawn(bidlake(&broker, dir).args([
        "gen",
        "--rate",
        "20",
        "--duration",
        "10m",
        "--seed",
        "33",
        "--win-rate",
        "0.5",
        "--click-rate",
        "0.3",
    ]));
    let ingest_args = ["ingest", "--commit-interval", "300ms", "--assignment", "all"];
    let separate_ingest = || {
        (!inside_ingest).then(|| spawn_logged(bidlake(&broker, dir).args(ingest_args), &ingest_log))
    };
    let aggregator = || {
        let mut command = bidlake(&broker, dir);
        if inside_ingest {
            command.args(ingest_args).arg("--aggregate");
        } else {
            command.arg("aggregate");
        }
        spawn_logged(command.args(["--aggregate-interval", "300ms"]), &aggregate_log)
    };
    let ingest = separate_ingest();
    let wait_for = |what: &str, done: &dyn Fn() -> bool, a: &mut Running| {
        wait_for(what, done, a, &aggregate_log, &ingest_log);
    };
    let send = |topic: &str, value: String| {
        produce(&broker.bootstrap(), topic, 0, &[(None, value.as_bytes())])
    };
    let added_to = || rounds_added_to(dir, "hourly_funnel_by_publisher");

    // The first aggregator: until its rounds add to stored rows.
    let mut a = aggregator();
    wait_for("a round added to stored rows", &|| added_to() > 0, &mut a);
    a.stop("KILL");

    // The second fills its memory from the tables.
    let mut a = aggregator();
    let before = added_to();
    wait_for("the restarted aggregator added to stored rows", &|| added_to() > before, &mut a);
    // The generator's last events all in, so that from here on the only new events are the
    // test's own and "caught up" is final once they are in.
    assert!(generator.stop("TERM").success(), "gen failed");
    // Ingest stopped (the aggregator with it, if inside), drained, started again.
    let a = match ingest {
        Some(ingest) => {
            let stopped = ingest.stop("TERM");
            assert!(stopped.success(), "ingest did not stop cleanly:\n{}", tail(&ingest_log));
            Some(a)
        }
        None => {
            let stopped = a.stop("TERM");
            assert!(stopped.success(), "ingest did not stop cleanly:\n{}", tail(&aggregate_log));
            None
        }
    };
    run_ok(bidlake(&broker, dir).args(["ingest", "--until-caught-up", "--assignment", "all"]));
    let ingest = separate_ingest();
    let mut a = a.unwrap_or_else(aggregator);
    wait_for("the aggregates caught up", &|| aggregates_caught_up(dir), &mut a);
    assert_aggregates_equal_the_oracle(dir);

    // An impression before its request and response: the memory gets it right on its own.
    let funnel = "SELECT SUM(bid_requests), SUM(bid_responses), SUM(impressions) \
                  FROM db.hourly_funnel_by_publisher WHERE publisher_id = 'pub-mem'";
    let recomputed = recomputing_rounds(dir, "hourly_funnel_by_publisher");
    send(
        "impressions",
        impression_json("early-1", "early-1-resp", "early-1-imp", &at_minutes_ago(0.1)),
    );
    wait_for("ingested", &|| ingested(dir, 0, 0, 1), &mut a);
    wait_for("the aggregates caught up", &|| aggregates_caught_up(dir), &mut a);
    let now = at_minutes_ago(0.05);
    send("bid-requests", request_json("early-1", "pub-mem", &now));
    send("bid-responses", response_json("early-1", "early-1-resp", &now));
    wait_for("ingested", &|| ingested(dir, 1, 1, 1), &mut a);
    wait_for("the aggregates caught up", &|| aggregates_caught_up(dir), &mut a);
    assert_aggregates_equal_the_oracle(dir);
    assert_eq!(rows(dir, funnel), ["1,1,1"]);
    assert_eq!(
        recomputing_rounds(dir, "hourly_funnel_by_publisher"),
        recomputed,
        "rows the memory can take went to SQL: the test no longer tests the memory"
    );

    // A duplicate request, and two requests whose responses share an id: the funnel's
    // distinct counts are not sums over requests then, so their hours are recomputed.
    let now = at_minutes_ago(0.1);
    send("bid-requests", request_json("dup-1", "pub-mem", &now));
    send("bid-requests", request_json("dup-1", "pub-mem", &now));
    send("bid-responses", response_json("dup-1", "dup-1-resp", &now));
    send("bid-requests", request_json("share-a", "pub-mem", &now));
    send("bid-requests", request_json("share-b", "pub-mem", &now));
    send("bid-responses", response_json("share-a", "shared-resp", &now));
    send("bid-responses", response_json("share-b", "shared-resp", &now));
    send("impressions", impression_json("share-a", "shared-resp", "shared-imp", &now));
    wait_for("ingested", &|| ingested(dir, 5, 4, 2), &mut a);
    wait_for("the aggregates caught up", &|| aggregates_caught_up(dir), &mut a);
    assert_aggregates_equal_the_oracle(dir);
    // dup-1 once; the shared response once in the hour and publisher of both its requests,
    // and its impression once.
    assert_eq!(rows(dir, funnel), ["4,3,2"]);
    assert!(recomputing_rounds(dir, "hourly_funnel_by_publisher") > recomputed);

    // Late enough to be outside what the memory vouches for (its hours are recomputed), inside
    // what it holds.
    let late = at_minutes_ago(14.0);
    send("bid-requests", request_json("late-14", "pub-mem", &late));
    send("impressions", impression_json("late-14", "late-14-resp", "late-14-imp", &late));
    send("bid-responses", response_json("late-14", "late-14-resp", &late));
    wait_for("ingested", &|| ingested(dir, 6, 5, 3), &mut a);
    wait_for("the aggregates caught up", &|| aggregates_caught_up(dir), &mut a);
    assert_aggregates_equal_the_oracle(dir);
    assert_eq!(rows(dir, funnel), ["5,4,3"]);

    if let Some(ingest) = ingest {
        assert!(
            ingest.stop("TERM").success(),
            "ingest did not stop cleanly:\n{}",
            tail(&ingest_log)
        );
    }
    assert!(a.stop("TERM").success(), "the aggregator did not stop cleanly");
    for table in ["hourly_impressions_by_geo", "rolling_metrics_by_bidder"] {
        assert!(rounds_added_to(dir, table) > 0, "{table}: no round added to stored rows");
    }
    // Where the rounds got their new events: from ingest's hand-off only inside ingest.
    let log = std::fs::read_to_string(&aggregate_log).unwrap();
    let from_ingest: usize = log
        .lines()
        .filter_map(|line| line.split("appends_from_ingest=").nth(1))
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(from_ingest > 0, inside_ingest, "appends taken from ingest: {from_ingest}");
}

#[test]
fn up_with_a_backfill_fills_three_hours_and_keeps_the_aggregates_current() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let (kafka, catalog, dashboard) = (free_port(), free_port(), free_port());
    let logs = tempfile::tempdir().unwrap();
    let up_log = logs.path().join("up.log");
    let mut up = spawn_logged_stopped_by(
        Command::new(env!("CARGO_BIN_EXE_bidlake"))
            .args(["up", "--rate", "2", "--backfill-hours", "3", "--seed", "4"])
            .args(["--commit-interval", "1s", "--aggregate-interval", "1s"])
            .args(["--kafka-port", &kafka.to_string(), "--catalog-port", &catalog.to_string()])
            .args(["--dashboard-port", &dashboard.to_string()])
            .arg("--data-dir")
            .arg(dir)
            .env_remove("KAFKA_BOOTSTRAP_SERVERS")
            .env_remove("BIDLAKE_DATA_DIR"),
        &up_log,
        "INT",
    );
    // The history is 21,600 requests; the aggregates cover its three hours (and the present).
    let deadline = Instant::now() + Duration::from_secs(150);
    let (hours, counted) = loop {
        std::thread::sleep(Duration::from_secs(2));
        if let Some(status) = up.exited() {
            panic!("up exited ({status}) while the backfill was aggregated:\n{}", tail(&up_log));
        }
        let funnel = if dir.join("catalog.db").exists() {
            rows(
                dir,
                "SELECT COUNT(DISTINCT window_start), COALESCE(SUM(bid_requests), 0) FROM db.hourly_funnel_by_publisher",
            )
        } else {
            Vec::new()
        };
        let (hours, counted) = match funnel.first().and_then(|l| l.split_once(',')) {
            Some((h, c)) => (h.parse::<u32>().unwrap_or(0), c.parse::<u64>().unwrap_or(0)),
            None => (0, 0),
        };
        if (hours >= 4 && counted >= 19_000) || Instant::now() > deadline {
            break (hours, counted);
        }
    };
    assert!(up.stop("INT").success(), "up did not stop cleanly:\n{}", tail(&up_log));
    assert!(hours >= 4, "the funnel covers {hours} hours, not the backfill's 3 and the present");
    // Test and private-IP traffic (about 7%) is left out of the aggregates.
    assert!(counted >= 19_000, "only {counted} of the backfill's 21,600 requests aggregated");

    // Whatever the last round had not seen, then every row against its SQL.
    run_ok(bidlake_lake_command(env!("CARGO_BIN_EXE_bidlake"), dir).args(["aggregate", "--once"]));
    assert_aggregates_equal_the_oracle(dir);
}

#[test]
fn aggregate_without_setup_says_what_to_run_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let out = bidlake_lake_command(env!("CARGO_BIN_EXE_bidlake"), dir.path())
        .args(["aggregate", "--aggregate-interval", "100ms"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a missing table is not waited on forever");
    assert!(stderr.contains("run `bidlake setup` first"), "{stderr}");
}

/// Inside ingest's process the aggregator's round starts just after each of ingest's commits,
/// so the aggregates follow the raw rows by a round's time. On a timer of the same interval
/// they would follow by anything up to the interval: half of it, on average, plus the round.
#[test]
fn aggregates_inside_ingest_follow_each_commit_by_a_round_not_by_an_interval() {
    const INTERVAL_S: f64 = 3.0;
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    run_ok(bidlake(&broker, dir).arg("setup"));
    let logs = tempfile::tempdir().unwrap();
    let log = logs.path().join("ingest.log");
    let generator = spawn(bidlake(&broker, dir).args(["gen", "--rate", "20", "--seed", "7"]));
    let interval = format!("{INTERVAL_S}s");
    let mut ingest = spawn_logged(
        bidlake(&broker, dir).args([
            "ingest",
            "--assignment",
            "all",
            "--commit-interval",
            &interval,
            "--aggregate",
            "--aggregate-interval",
            &interval,
        ]),
        &log,
    );
    // The first round fills the memory; a dozen commits after it.
    let commits = || rows(dir, "SELECT snapshot_id FROM db.\"bid_requests$snapshots\"").len();
    wait_for("twelve commits", &|| commits() >= 12, &mut ingest, &log, &log);
    assert!(ingest.stop("TERM").success(), "ingest did not stop cleanly:\n{}", tail(&log));
    drop(generator);

    // For each commit to bid_requests that an aggregate round consumed, the seconds from it to
    // that round's commit.
    let delays = rows(
        dir,
        "SELECT date_part('epoch', MIN(a.committed_at)) - date_part('epoch', r.committed_at) \
         FROM db.\"bid_requests$snapshots\" r JOIN db.\"hourly_funnel_by_publisher$snapshots\" a \
         ON CAST(a.summary['bidlake.aggregate.bid_requests.snapshot-id'] AS BIGINT) = r.snapshot_id \
         GROUP BY r.snapshot_id, r.committed_at",
    );
    let mut delays: Vec<f64> = delays.iter().map(|d| d.parse().unwrap()).collect();
    delays.sort_by(f64::total_cmp);
    assert!(delays.len() >= 8, "rounds consumed only {} of the commits: {delays:?}", delays.len());
    let median = delays[delays.len() / 2];
    assert!(
        median < INTERVAL_S / 3.0,
        "the aggregates followed the raw commits by {median:.2} s (median of {delays:?}); a round \
         should start just after each commit\n{}",
        tail(&log)
    );
}
