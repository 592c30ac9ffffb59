//! `bidlake gen` from the outside: the real binary, a real broker (tansu), the OpenRTB model.

use std::collections::{HashMap, HashSet};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use bidlake_openrtb::{BidRequest, BidResponse, Click, Impression, validate};
use bidlake_testkit::{Broker, consume, free_port};
use serde_json::Value;

fn bidlake() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bidlake"));
    // Tests state every setting they rely on; nothing leaks in from the developer's shell.
    for var in [
        "KAFKA_BOOTSTRAP_SERVERS",
        "EVENTS_PER_SECOND",
        "WIN_RATE",
        "BID_RESPONSE_RATE",
        "CLICK_RATE",
        "GEN_COUNT",
        "GEN_SEED",
        "BACKFILL_HOURS",
        "FOREIGN_CURRENCY_SHARE",
        "TEST_TRAFFIC_SHARE",
        "PRIVATE_IP_SHARE",
    ] {
        command.env_remove(var);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("running bidlake")
}

fn stdout_lines(seed: u64, count: u64) -> Vec<Value> {
    stdout_lines_with(seed, count, &[])
}

fn stdout_lines_with(seed: u64, count: u64, args: &[&str]) -> Vec<Value> {
    let out = run(bidlake()
        .args(["gen", "--stdout", "--rate", "0", "--count"])
        .arg(count.to_string())
        .arg("--seed")
        .arg(seed.to_string())
        .args(args));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).expect("NDJSON is UTF-8");
    text.lines()
        .map(|line| serde_json::from_str(line).expect("each line is one JSON object"))
        .collect()
}

fn without_times(mut value: Value) -> Value {
    let object = value.as_object_mut().expect("an object");
    object.remove("event_timestamp");
    object.remove("received_at");
    value
}

#[test]
fn stdout_requests_are_valid_openrtb_and_varied() {
    let lines = stdout_lines(7, 5_000);
    assert_eq!(lines.len(), 5_000);

    let mut countries = HashSet::new();
    let mut seen = HashMap::<&str, usize>::new();
    let mut ids = HashSet::new();
    for value in &lines {
        let request: BidRequest =
            serde_json::from_value(value.clone()).expect("parses as a BidRequest");
        let violations = validate(&request);
        assert!(violations.is_empty(), "request {} breaks {violations:?}", request.id);
        assert!(ids.insert(request.id.clone()), "duplicate id {}", request.id);
        for key in ["event_timestamp", "received_at"] {
            let ts = value[key].as_str().expect("timestamp string");
            assert_eq!(ts.len(), 32, "{ts}");
            assert!(ts.ends_with("+00:00") && ts.as_bytes()[10] == b'T', "{ts}");
        }
        assert!(value["received_at"].as_str() >= value["event_timestamp"].as_str());

        let device = request.device.as_ref().expect("device");
        countries.insert(device.geo.as_ref().and_then(|g| g.country.clone()).expect("country"));
        let tmax = request.tmax.expect("tmax");
        assert!((80..=1000).contains(&tmax), "tmax {tmax}");
        assert!(matches!(request.at, Some(1 | 2)));
        let mut count =
            |what: &'static str, yes: bool| *seen.entry(what).or_default() += usize::from(yes);
        count("site", request.site.is_some());
        count("app", request.app.is_some());
        count("dooh", request.dooh.is_some());
        count("ctv", matches!(device.devicetype, Some(3 | 7)));
        count("multi-imp", request.imp.len() > 1);
        count("banner", request.imp.iter().any(|i| i.banner.is_some()));
        count("video", request.imp.iter().any(|i| i.video.is_some()));
        count("native", request.imp.iter().any(|i| i.native.is_some()));
        count("audio", request.imp.iter().any(|i| i.audio.is_some()));
        count("deal", request.imp.iter().any(|i| i.pmp.is_some()));
        count("ipv6", device.ipv6.is_some());
        count("ipv4", device.ip.is_some());
        count("sua", device.sua.is_some());
        count("eids", request.user.as_ref().is_some_and(|u| u.eids.is_some()));
        count("consent", request.user.as_ref().is_some_and(|u| u.consent.is_some()));
        let regs = request.regs.as_ref();
        count("gdpr", regs.and_then(|r| r.gdpr_applies()) == Some(true));
        count("coppa", regs.is_some_and(|r| r.coppa_applies()));
        count("us_privacy", regs.is_some_and(|r| r.us_privacy.is_some()));
        count("gpp", regs.is_some_and(|r| r.gpp.is_some()));
        count("schain", request.source.as_ref().is_some_and(|s| s.schain.is_some()));
        count("first-price", request.at == Some(1));
        count("second-price", request.at == Some(2));
        count("test", request.test == Some(1));
    }
    let share = |what: &str| seen.get(what).copied().unwrap_or(0) as f64 / lines.len() as f64;
    // Inventory mix of a general exchange: mostly web and app, some CTV and DOOH.
    assert!((0.48..0.62).contains(&share("site")), "site {}", share("site"));
    assert!((0.35..0.50).contains(&share("app")), "app {}", share("app"));
    assert!((0.04..0.10).contains(&share("ctv")), "ctv {}", share("ctv"));
    assert!((0.015..0.05).contains(&share("dooh")), "dooh {}", share("dooh"));
    for what in [
        "multi-imp",
        "banner",
        "video",
        "native",
        "audio",
        "deal",
        "ipv6",
        "ipv4",
        "sua",
        "eids",
        "consent",
        "gdpr",
        "coppa",
        "us_privacy",
        "gpp",
        "schain",
        "first-price",
        "second-price",
    ] {
        assert!(share(what) > 0.005, "{what} appears in only {} of requests", share(what));
    }
    assert!(share("test") < 0.01, "test traffic should be rare");
    assert!(countries.len() >= 25, "only {} countries", countries.len());
    assert!(countries.iter().all(|c| bidlake_openrtb::is_alpha3(c)));
}

/// What one request carries that a pipeline converts or filters: its currency (with the floor
/// quoted in it), whether its publisher is a test account, whether its IP is private.
struct Traffic {
    currency: String,
    floors: Vec<(String, f64)>,
    test_publisher: bool,
    private_ip: bool,
}

fn traffic_of(value: &Value) -> Traffic {
    let request: BidRequest = serde_json::from_value(value.clone()).expect("a BidRequest");
    assert!(validate(&request).is_empty(), "request {} is valid OpenRTB 2.6", request.id);
    let currency = request.cur.as_ref().expect("cur")[0].clone();
    let floors = request
        .imp
        .iter()
        .filter_map(|imp| Some((imp.bidfloorcur.clone()?, imp.bidfloor?)))
        .collect();
    let publisher = value["site"]["publisher"]["id"]
        .as_str()
        .or(value["app"]["publisher"]["id"].as_str())
        .or(value["dooh"]["publisher"]["id"].as_str())
        .expect("every request names its publisher");
    let private_ip = match value["device"]["ip"].as_str() {
        Some(ip) => ip.parse::<std::net::Ipv4Addr>().expect("an IPv4 address").is_private(),
        None => false,
    };
    Traffic { currency, floors, test_publisher: publisher.starts_with("test-"), private_ip }
}

#[test]
fn traffic_to_enrich_and_filter_comes_in_the_configured_shares() {
    let lines = stdout_lines(5, 20_000);
    let traffic: Vec<Traffic> = lines.iter().map(traffic_of).collect();
    let share = |f: &dyn Fn(&Traffic) -> bool| {
        traffic.iter().filter(|t| f(t)).count() as f64 / traffic.len() as f64
    };
    // Defaults: 10% foreign currency, 5% test publishers, 2% private IPs (binomial, ~5 sigma).
    let foreign = share(&|t| t.currency != "USD");
    assert!((0.08..0.12).contains(&foreign), "foreign currency share {foreign}");
    assert!(traffic.iter().all(|t| ["USD", "EUR", "GBP", "JPY"].contains(&t.currency.as_str())));
    for t in &traffic {
        for (floor_currency, _) in &t.floors {
            assert_eq!(floor_currency, &t.currency, "bidfloorcur is the request's currency");
        }
    }
    let median_floor = |currency: &str| {
        let mut floors: Vec<f64> = traffic
            .iter()
            .flat_map(|t| &t.floors)
            .filter(|(c, _)| c == currency)
            .map(|(_, f)| *f)
            .collect();
        floors.sort_by(f64::total_cmp);
        floors[floors.len() / 2]
    };
    // Floors are quoted in the currency, not USD amounts relabelled.
    assert!(median_floor("JPY") > 50.0 * median_floor("USD"), "JPY floors are in yen");
    let test = share(&|t| t.test_publisher);
    assert!((0.04..0.06).contains(&test), "test publisher share {test}");
    let private = share(&|t| t.private_ip);
    assert!((0.013..0.027).contains(&private), "private IP share {private}");

    let lines = stdout_lines_with(
        5,
        4_000,
        &[
            "--foreign-currency-share",
            "1",
            "--test-traffic-share",
            "0",
            "--private-ip-share",
            "0.5",
        ],
    );
    let traffic: Vec<Traffic> = lines.iter().map(traffic_of).collect();
    assert!(traffic.iter().all(|t| t.currency != "USD"), "every request in EUR, GBP or JPY");
    assert!(traffic.iter().all(|t| !t.test_publisher), "no test publishers");
    let private = traffic.iter().filter(|t| t.private_ip).count() as f64 / 4_000.0;
    assert!((0.45..0.55).contains(&private), "private IP share {private}");

    let out = run(bidlake().args(["gen", "--stdout", "--count", "1", "--private-ip-share", "2"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("PRIVATE_IP_SHARE (--private-ip-share)"), "{stderr}");
}

fn micros(value: &Value) -> i64 {
    let text = value["event_timestamp"].as_str().expect("event_timestamp");
    bidlake_tables::timestamp::parse_micros(text).expect("an RFC 3339 time")
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .expect("a clock after 1970")
}

#[test]
fn a_backfill_writes_the_past_hours_then_goes_on_in_real_time() {
    let started = now_micros();
    // 0.01 h at 100 requests/s: 36 s of history, 3,600 requests, then a second of real time.
    let out = run(bidlake().args([
        "gen",
        "--stdout",
        "--rate",
        "100",
        "--backfill-hours",
        "0.01",
        "--duration",
        "1s",
        "--seed",
        "3",
    ]));
    let ended = now_micros();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let times: Vec<i64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| micros(&serde_json::from_str(line).expect("JSON")))
        .collect();
    // The history: 36 s of event time from its first request (which is about 36 s before the
    // run started, give or take the process's start-up), 10 ms apart; real time after it.
    let first = times[0];
    assert!((first - (started - 36_000_000)).abs() < 2_000_000, "history starts 36 s back");
    let history = times.iter().filter(|t| **t < first + 36_000_000).count();
    assert!((3_599..=3_601).contains(&history), "{history} requests of history");
    assert!(times[history - 1] < started + 2_000_000, "the history ends about when the run began");
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "event times never go back");
    let live = times.len() - history;
    assert!((50..=200).contains(&live), "{live} requests in the live second");
    assert!(times.iter().all(|t| *t <= ended));

    let out = run(bidlake().args(["gen", "--stdout", "--rate", "0", "--backfill-hours", "1"]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("BACKFILL_HOURS (--backfill-hours) needs a rate"), "{stderr}");
}

#[test]
fn a_backfill_to_kafka_keeps_each_funnel_in_causal_order() {
    let broker = Broker::start();
    let started = now_micros();
    let out = run(bidlake()
        .args(["gen", "--rate", "200", "--backfill-hours", "0.02", "--count", "10000"])
        .args(["--seed", "8", "--win-rate", "0.5", "--click-rate", "0.2"])
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gen failed:\n{stderr}\nbroker log:\n{}", broker.log());
    assert!(stderr.contains("backfilling history"), "{stderr}");

    let topics = ["bid-requests", "bid-responses", "impressions", "clicks"];
    let records = consume(&broker.bootstrap(), &topics, usize::MAX, Duration::from_secs(10));
    let mut at: HashMap<(String, String), i64> = HashMap::new();
    let mut values: HashMap<String, Vec<Value>> = HashMap::new();
    for record in &records {
        let value: Value = serde_json::from_slice(&record.value).expect("JSON");
        values.entry(record.topic.clone()).or_default().push(value);
    }
    for value in &values["bid-requests"] {
        at.insert(("request".into(), value["id"].as_str().expect("id").into()), micros(value));
    }
    // 0.02 h at 200/s is 14,400 requests of history: the count of 10,000 ends inside it.
    assert_eq!(values["bid-requests"].len(), 10_000);
    let earliest = at.values().min().copied().expect("requests");
    assert!((earliest - (started - 72_000_000)).abs() < 3_000_000, "history starts 72 s back");
    assert!(at.values().all(|t| *t < started), "all of it history");
    for value in &values["bid-responses"] {
        let request = at[&("request".to_owned(), value["id"].as_str().expect("id").to_owned())];
        assert!(micros(value) >= request, "a response follows its request");
    }
    for value in &values["impressions"] {
        let request = at[&("request".to_owned(), value["request_id"].as_str().expect("id").into())];
        assert!(micros(value) >= request, "an impression follows its request");
        at.insert(
            ("impression".into(), value["impression_id"].as_str().expect("id").into()),
            micros(value),
        );
    }
    assert!(values["impressions"].len() > 2_000, "the funnel came along");
    for value in values.get("clicks").into_iter().flatten() {
        let shown =
            at[&("impression".to_owned(), value["impression_id"].as_str().expect("id").into())];
        assert!(micros(value) >= shown, "a click follows its impression");
    }
}

#[test]
fn the_same_seed_gives_the_same_requests_apart_from_timestamps() {
    let a: Vec<Value> = stdout_lines(42, 500).into_iter().map(without_times).collect();
    let b: Vec<Value> = stdout_lines(42, 500).into_iter().map(without_times).collect();
    let c: Vec<Value> = stdout_lines(43, 500).into_iter().map(without_times).collect();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn gen_produces_requests_and_their_funnel_to_kafka() {
    let broker = Broker::start();
    let out = run(bidlake()
        .args(["gen", "--count", "3000", "--rate", "0", "--seed", "11"])
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "gen failed:\n{stderr}\nbroker log:\n{}", broker.log());
    assert!(stderr.contains("created missing topics"), "{stderr}");

    let topics = ["bid-requests", "bid-responses", "impressions", "clicks"];
    // Expected total is unknown in advance beyond the requests; read until the topics go idle.
    let records = consume(&broker.bootstrap(), &topics, usize::MAX, Duration::from_secs(10));
    let mut by_topic: HashMap<&str, Vec<(String, Value)>> = HashMap::new();
    let mut partitions = HashSet::new();
    for record in &records {
        let key = String::from_utf8(record.key.clone().expect("every event has a key"))
            .expect("UTF-8 key");
        let value: Value = serde_json::from_slice(&record.value).expect("every value is JSON");
        partitions.insert((record.topic.clone(), record.partition));
        let topic = topics.iter().find(|t| **t == record.topic).expect("one of our topics");
        by_topic.entry(topic).or_default().push((key, value));
    }

    let requests: HashMap<String, BidRequest> = by_topic["bid-requests"]
        .iter()
        .map(|(key, value)| {
            let request: BidRequest = serde_json::from_value(value.clone()).expect("a BidRequest");
            assert_eq!(key, &request.id, "key of a bid request is its id");
            assert!(validate(&request).is_empty());
            (key.clone(), request)
        })
        .collect();
    assert_eq!(requests.len(), 3_000, "every bid request arrives once");
    assert_eq!(
        partitions.iter().filter(|(t, _)| t == "bid-requests").count(),
        3,
        "spread over 3 partitions"
    );

    let time = |v: &Value| v["event_timestamp"].as_str().expect("event_timestamp").to_owned();
    let request_values: HashMap<&String, &Value> =
        by_topic["bid-requests"].iter().map(|(k, v)| (k, v)).collect();

    let mut bids = HashMap::new();
    for (key, value) in &by_topic["bid-responses"] {
        let response: BidResponse = serde_json::from_value(value.clone()).expect("a BidResponse");
        assert_eq!(Some(key), response.bidid.as_ref(), "key of a response is its bidid");
        let request = &requests[&response.id];
        assert!(
            time(value) >= time(request_values[&response.id]),
            "a response follows its request"
        );
        let bid = &response.seatbid[0].bid[0];
        let imp = request
            .imp
            .iter()
            .find(|i| i.id == bid.impid)
            .expect("bid names an imp of the request");
        let deal_floor = bid.dealid.as_ref().and_then(|d| {
            imp.pmp.as_ref()?.deals.as_ref()?.iter().find(|x| x.id.as_ref() == Some(d))?.bidfloor
        });
        let floor = deal_floor.unwrap_or(imp.bidfloor.unwrap_or(0.0));
        assert!(bid.price >= floor, "bid {} below floor {floor}", bid.price);
        assert_eq!(response.cur.as_deref(), request.cur.as_ref().map(|c| c[0].as_str()));
        bids.insert(key.clone(), (bid.price, time(value), response.id.clone()));
    }

    let mut impressions = HashMap::new();
    for (key, value) in &by_topic["impressions"] {
        let impression: Impression = serde_json::from_value(value.clone()).expect("an Impression");
        assert_eq!(key, &impression.impression_id);
        let (price, at, request_id) = &bids[&impression.response_id];
        assert_eq!(
            request_id, &impression.request_id,
            "impression links to the response's request"
        );
        assert!(
            impression.win_price <= *price && impression.win_price > 0.0,
            "win {} bid {price}",
            impression.win_price
        );
        assert!(impression.event_timestamp >= *at, "an impression follows its response");
        impressions.insert(key.clone(), impression);
    }
    for (key, value) in by_topic.get("clicks").into_iter().flatten() {
        let click: Click = serde_json::from_value(value.clone()).expect("a Click");
        assert_eq!(key, &click.click_id);
        let impression = &impressions[&click.impression_id];
        assert_eq!(impression.request_id, click.request_id);
        assert!(click.event_timestamp >= impression.event_timestamp);
    }

    // Funnel shares: 0.60 of requests respond, 0.15 of responses win (binomial, ~4 sigma).
    let responses = by_topic["bid-responses"].len() as f64;
    let wins = impressions.len() as f64;
    assert!((responses / 3_000.0 - 0.60).abs() < 0.04, "response share {}", responses / 3_000.0);
    assert!((wins / responses - 0.15).abs() < 0.04, "win share {}", wins / responses);
    let clicks = by_topic.get("clicks").map_or(0, Vec::len);
    assert!(clicks as f64 <= wins * 0.08, "{clicks} clicks for {wins} impressions");
}

#[test]
fn sigterm_stops_cleanly_and_delivers_everything_it_reported() {
    let broker = Broker::start();
    let child = bidlake()
        .args(["gen", "--rate", "300", "--seed", "5"])
        .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting gen");
    std::thread::sleep(Duration::from_secs(4));
    let killed =
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(killed.success());
    let out = child.wait_with_output().expect("waiting for gen");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");

    // The final line reports what was produced; the broker must hold exactly that.
    let done = stderr
        .lines()
        .find(|l| l.contains("done"))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let field = |name: &str| -> usize {
        let start = done.find(&format!("{name}=")).unwrap_or_else(|| panic!("{name} in {done}"))
            + name.len()
            + 1;
        done[start..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number")
    };
    let requests = field("bid_requests");
    assert!(requests > 100, "{done}");
    assert_eq!(field("failed"), 0);
    let total = requests + field("bid_responses") + field("impressions") + field("clicks");
    assert_eq!(field("delivered"), total);
    let records = consume(
        &broker.bootstrap(),
        &["bid-requests", "bid-responses", "impressions", "clicks"],
        total,
        Duration::from_secs(10),
    );
    assert_eq!(records.len(), total);
}

#[test]
fn an_unreachable_broker_is_a_clear_error() {
    let out = run(bidlake()
        .args(["gen", "--count", "1", "--connect-timeout", "1s"])
        .env("KAFKA_BOOTSTRAP_SERVERS", format!("127.0.0.1:{}", free_port())));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not reach the Kafka broker"), "{stderr}");
    assert!(stderr.contains("KAFKA_BOOTSTRAP_SERVERS"), "{stderr}");
}

#[test]
fn bad_settings_name_what_to_fix() {
    let out = run(bidlake().args(["gen", "--stdout", "--count", "1"]).env("WIN_RATE", "1.5"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("WIN_RATE") && stderr.contains("1.5"), "{stderr}");

    let out = run(bidlake().args(["gen", "--stdout"]).env("EVENTS_PER_SECOND", "fast"));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--rate") && stderr.contains("fast"), "{stderr}");

    let out = run(bidlake().args(["gen", "--count", "1", "-X", "linger.ms"]));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("KEY=VALUE"));
}
