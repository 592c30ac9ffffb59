//! The aggregator's memory of recent events (crates/aggregate/src/warm.rs) in its steady state:
//! what [`Warm::apply`] costs per bid request once it holds its whole window, and what the
//! process holds then. Rounds of generated funnel rows (as `bidlake gen` makes them: 60% of
//! requests answered, 15% of those won, 2% of wins clicked, 5% test traffic and 2% private IPs)
//! are applied at `RATE` requests/s every `INTERVAL_SECS` of event time for `MINUTES`; the
//! figures are over the rounds after `WARMUP_MINUTES` (the memory full). No lake, no broker:
//! the cost of the memory alone, repeatable from run to run.
//!
//!   cargo bench -p bidlake-aggregate --bench warm
//!   RATE=3000 MINUTES=30 cargo bench -p bidlake-aggregate --bench warm

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, clippy::type_complexity)] // a benchmark program

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use bidlake_aggregate::warm::Warm;
use bidlake_tables::EventTable;

// The binary's allocator (crates/bidlake/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SECOND: i64 = 1_000_000;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A small deterministic generator (xorshift), so that every run applies the same rows.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// The rows of one round, per event table, in the columns the memory reads.
#[derive(Default)]
struct Round {
    requests: (Vec<String>, Vec<i64>, Vec<String>, Vec<String>, Vec<bool>, Vec<bool>),
    responses: (Vec<String>, Vec<i64>, Vec<String>),
    impressions: (Vec<String>, Vec<i64>, Vec<String>, Vec<String>, Vec<String>, Vec<f64>),
    clicks: (Vec<String>, Vec<i64>, Vec<String>, Vec<String>),
}

fn text(values: Vec<String>) -> ArrayRef {
    Arc::new(StringArray::from(values))
}

fn times(values: Vec<i64>) -> ArrayRef {
    Arc::new(Int64Array::from(values))
}

fn batch(columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_from_iter(columns.into_iter().enumerate().map(|(i, c)| (format!("c{i}"), c)))
        .unwrap()
}

impl Round {
    fn batches(self) -> Vec<(EventTable, RecordBatch)> {
        let (ids, ts, country, publisher, test, private) = self.requests;
        let flags = |v: Vec<bool>| -> ArrayRef { Arc::new(BooleanArray::from(v)) };
        let requests = batch(vec![
            text(ids),
            times(ts),
            text(country),
            text(publisher),
            flags(test),
            flags(private),
        ]);
        let (requests_of, ts, ids) = self.responses;
        let responses = batch(vec![text(requests_of), times(ts), text(ids)]);
        let (requests_of, ts, ids, responses_of, bidders, prices) = self.impressions;
        let impressions = batch(vec![
            text(requests_of),
            times(ts),
            text(ids),
            text(responses_of),
            text(bidders),
            Arc::new(Float64Array::from(prices)),
        ]);
        let (requests_of, ts, ids, impressions_of) = self.clicks;
        let clicks = batch(vec![text(requests_of), times(ts), text(ids), text(impressions_of)]);
        vec![
            (EventTable::BidRequests, requests),
            (EventTable::BidResponses, responses),
            (EventTable::Impressions, impressions),
            (EventTable::Clicks, clicks),
        ]
    }
}

/// The funnel of `count` requests made from `start` on, spread over the interval: a request's
/// response, impression and click land in the round of their event time (`rounds[0]` this
/// one, later ones after it).
fn generate(dice: &mut Dice, start: i64, interval: i64, count: u64, rounds: &mut [Round; 3]) {
    const COUNTRIES: [&str; 25] = [
        "USA", "GBR", "DEU", "FRA", "JPN", "BRA", "IND", "CAN", "AUS", "ESP", "ITA", "MEX", "NLD",
        "SWE", "POL", "TUR", "KOR", "IDN", "ARG", "ZAF", "NGA", "EGY", "SAU", "CHE", "BEL",
    ];
    for i in 0..count {
        let at = start + (i as i64 * interval) / count as i64;
        let request = dice.uuid();
        let round = |ts: i64| ((ts - start) / interval).clamp(0, 2) as usize;
        let r = &mut rounds[0].requests;
        r.0.push(request.clone());
        r.1.push(at);
        r.2.push(COUNTRIES[dice.below(25) as usize].to_string());
        r.3.push(format!("pub-{}", dice.below(200)));
        r.4.push(dice.chance(0.05));
        r.5.push(dice.chance(0.02));
        if !dice.chance(0.60) {
            continue;
        }
        let response = dice.uuid();
        let response_at = at + (10 + dice.below(390) as i64) * 1_000;
        let s = &mut rounds[round(response_at)].responses;
        s.0.push(request.clone());
        s.1.push(response_at);
        s.2.push(response.clone());
        if !dice.chance(0.15) {
            continue;
        }
        let impression = dice.uuid();
        let impression_at = response_at + (50 + dice.below(1_000) as i64) * 1_000;
        let w = &mut rounds[round(impression_at)].impressions;
        w.0.push(request.clone());
        w.1.push(impression_at);
        w.2.push(impression.clone());
        w.3.push(response);
        w.4.push(format!("dsp-{}", dice.below(10)));
        w.5.push(0.5 + dice.below(300) as f64 / 100.0);
        if !dice.chance(0.02) {
            continue;
        }
        let click_at = impression_at + (500 + dice.below(15_000) as i64) * 1_000;
        let c = &mut rounds[round(click_at)].clicks;
        c.0.push(request);
        c.1.push(click_at);
        c.2.push(dice.uuid());
        c.3.push(impression);
    }
}

fn memory() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = |key: &str| {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    (kib("VmRSS:") / 1024, kib("VmHWM:") / 1024)
}

fn main() {
    let rate = setting("RATE", 1_000);
    let interval = setting("INTERVAL_SECS", 10) as i64 * SECOND;
    let minutes = setting("MINUTES", 25) as i64;
    let warmup = setting("WARMUP_MINUTES", 21) as i64;
    // A recent hour boundary, so that the memory's hourly sets turn over during the run.
    let start = (1_764_000_000 / 3600 * 3600 - 5 * 60) * SECOND;
    let mut warm = Warm::new(BTreeMap::new(), start);
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut rounds: [Round; 3] = Default::default();
    let (mut spent, mut requests, mut measured_rounds) = (Duration::ZERO, 0u64, 0u64);
    let per_round = rate * (interval / SECOND) as u64;
    let mut now = start;
    while now < start + minutes * 60 * SECOND {
        generate(&mut dice, now, interval, per_round, &mut rounds);
        let round = std::mem::take(&mut rounds[0]);
        rounds.rotate_left(1);
        let batches = round.batches();
        now += interval;
        // Rows are committed a moment after their round ends.
        let began = Instant::now();
        let applied = warm.apply(&batches, now + SECOND, BTreeMap::new()).unwrap();
        let took = began.elapsed();
        assert!(
            applied.cold.is_empty() || now < start + 2 * interval,
            "rows went cold: {:?}",
            applied.cold
        );
        if now >= start + warmup * 60 * SECOND {
            spent += took;
            requests += per_round;
            measured_rounds += 1;
        }
    }
    let (rss, peak) = memory();
    println!(
        "rate {rate}/s, {}-s rounds, {minutes} min of event time, measured after {warmup} min",
        interval / SECOND
    );
    println!(
        "Warm::apply: {:.2} µs per bid request, {:.1} ms per round ({measured_rounds} rounds); {} trees held; RSS {rss} MiB (peak {peak} MiB)",
        spent.as_secs_f64() * 1e6 / requests.max(1) as f64,
        spent.as_secs_f64() * 1e3 / measured_rounds.max(1) as f64,
        warm.trees(),
    );
}
