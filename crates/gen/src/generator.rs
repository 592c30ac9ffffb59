//! The event stream: bid requests on demand, and each request's funnel events when they fall due.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::clock::{Micros, TimestampFormatter};
use crate::funnel::{self, Chain, FunnelRates};
use crate::request::{self, Tables, TrafficShares};
use crate::rng::Dice;

/// The topic an event belongs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    BidRequests,
    BidResponses,
    Impressions,
    Clicks,
}

impl Topic {
    pub const ALL: [Topic; 4] =
        [Topic::BidRequests, Topic::BidResponses, Topic::Impressions, Topic::Clicks];
}

/// One event ready to produce: its topic, key (the event's own id) and JSON value.
/// Reused from event to event so the hot loop does not allocate.
#[derive(Debug, Clone)]
pub struct Event {
    pub topic: Topic,
    pub key: String,
    pub value: Vec<u8>,
}

impl Default for Event {
    fn default() -> Self {
        Self {
            topic: Topic::BidRequests,
            key: String::with_capacity(36),
            value: Vec::with_capacity(4096),
        }
    }
}

impl Event {
    fn start(&mut self, topic: Topic, key: &str) -> &mut Vec<u8> {
        self.topic = topic;
        self.key.clear();
        self.key.push_str(key);
        self.value.clear();
        &mut self.value
    }
}

/// Generates bid requests and, optionally, their funnel.
///
/// Requests and the funnel draw from separate random streams, so one seed gives the same
/// requests whether or not the funnel is generated (`--stdout` writes requests only).
#[derive(Debug)]
pub struct Generator {
    requests: Dice,
    funnel: Dice,
    tables: Tables,
    traffic: TrafficShares,
    timestamps: TimestampFormatter,
    rates: Option<FunnelRates>,
    due: BinaryHeap<Reverse<Due>>,
    scheduled: u64,
}

/// A funnel event waiting for its time.
#[derive(Debug)]
struct Due {
    at: Micros,
    /// Ties on `at` keep scheduling order, so output is deterministic.
    order: u64,
    stage: Stage,
    chain: Chain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Response,
    Impression,
    Click,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

impl Generator {
    /// A generator of bid requests, with their funnel when `rates` is given.
    pub fn new(seed: u64, rates: Option<FunnelRates>) -> Self {
        Self {
            requests: Dice::seeded(seed),
            funnel: Dice::seeded(seed ^ 0x9e37_79b9_7f4a_7c15),
            tables: Tables::default(),
            traffic: TrafficShares::default(),
            timestamps: TimestampFormatter::default(),
            rates,
            due: BinaryHeap::new(),
            scheduled: 0,
        }
    }

    /// The same generator with other shares of foreign-currency, test and private-IP traffic.
    pub fn with_traffic(mut self, traffic: TrafficShares) -> Self {
        self.traffic = traffic;
        self
    }

    /// Writes the next bid request, timestamped `now`, into `event`, and schedules its funnel.
    pub fn next_request(&mut self, now: Micros, event: &mut Event) {
        // Exchanges log the request a few milliseconds after the auction starts.
        let received_at = now + self.requests.int(1, 20) * 1_000;
        let buf = event.start(Topic::BidRequests, "");
        let facts = request::write_bid_request(
            &mut self.requests,
            &self.tables,
            &self.traffic,
            &mut self.timestamps,
            now,
            received_at,
            buf,
        );
        event.key.push_str(facts.id.as_str());
        if let Some(rates) = &self.rates
            && let Some(chain) = funnel::decide(&mut self.funnel, &self.tables, rates, facts, now)
        {
            self.schedule(chain.response_at, Stage::Response, chain);
        }
    }

    /// Writes the earliest funnel event due at or before `now` into `event`; false if none is.
    /// `Micros::MAX` takes every pending event, as at the end of a run.
    pub fn next_due(&mut self, now: Micros, event: &mut Event) -> bool {
        let Some(Reverse(next)) = self.due.peek() else { return false };
        if next.at > now {
            return false;
        }
        let Some(Reverse(Due { at, stage, chain, .. })) = self.due.pop() else { return false };
        let received_at = at + self.funnel.int(1, 30) * 1_000;
        match stage {
            Stage::Response => {
                let buf = event.start(Topic::BidResponses, chain.response_id.as_str());
                chain.write_response(received_at, buf);
                if let Some(win) = chain.win {
                    self.schedule(win.at, Stage::Impression, chain);
                }
            }
            Stage::Impression => {
                let Some(win) = chain.win else { return false };
                let buf = event.start(Topic::Impressions, win.impression_id.as_str());
                chain.write_impression(&win, received_at, buf);
                if let Some((_, click_at)) = win.click {
                    self.schedule(click_at, Stage::Click, chain);
                }
            }
            Stage::Click => {
                let Some(win) = chain.win else { return false };
                let Some((click_id, click_at)) = win.click else { return false };
                let buf = event.start(Topic::Clicks, click_id.as_str());
                chain.write_click(&win, &click_id, click_at, received_at, buf);
            }
        }
        true
    }

    /// Funnel events scheduled but not yet written.
    pub fn pending(&self) -> usize {
        self.due.len()
    }

    fn schedule(&mut self, at: Micros, stage: Stage, chain: Chain) {
        self.scheduled += 1;
        self.due.push(Reverse(Due { at, order: self.scheduled, stage, chain }));
    }
}
