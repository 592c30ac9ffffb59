//! The aggregate tables: funnel metrics kept up to date from the event tables. Each is defined
//! by its SQL over the event tables (the same aggregate a person would write), for the windows
//! starting in a time range, and by how far an event reaches into its windows, so that a writer
//! knows which windows a batch of new events can change. `bidlake aggregate` recomputes exactly
//! those windows (crates/aggregate).
//!
//! Funnel events are linked to their bid request by id when their event time is at most
//! [`LINK_BEFORE_MICROS`] before the request (clock skew between producers) and
//! [`LINK_AFTER_MICROS`] after
//! it; the original platform's interval joins allowed 5 to 60 seconds. Traffic flagged as test
//! or from a private IP address is left out.

use iceberg::spec::{NestedFieldRef, Transform};

use crate::timestamp::format_micros;
use crate::{EventTable, Table, double, long, string, timestamptz};

/// How long before its bid request a funnel event may be stamped and still count (clock skew).
pub const LINK_BEFORE_MICROS: i64 = 60_000_000;
/// How long after its bid request a funnel event may come and still count: responses come
/// within the auction's `tmax` (at most a few seconds), impressions seconds later, clicks within
/// minutes. Every round re-reads this much of the event tables around the hours it recomputes,
/// so it is kept to what the funnel needs.
pub const LINK_AFTER_MICROS: i64 = 600_000_000;
pub const HOUR_MICROS: i64 = 3_600_000_000;

/// How far an event of `source` reaches: a row with event time `t` can change the windows
/// starting in `[t - before, t + after]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub source: EventTable,
    pub before_micros: i64,
    pub after_micros: i64,
}

/// The columns of an event table the aggregates read (their SQL's joins, filters and
/// measures), in the order the aggregator's memory of recent events takes them.
pub fn columns_read(table: EventTable) -> &'static [&'static str] {
    match table {
        EventTable::BidRequests => &[
            "request_id",
            "event_timestamp",
            "device_geo_country",
            "publisher_id",
            "is_test_traffic",
            "is_private_ip",
        ],
        EventTable::BidResponses => &["request_id", "event_timestamp", "response_id"],
        EventTable::Impressions => &[
            "request_id",
            "event_timestamp",
            "impression_id",
            "response_id",
            "bidder_id",
            "win_price_usd",
        ],
        EventTable::Clicks => &["request_id", "event_timestamp", "click_id", "impression_id"],
    }
}

/// An aggregate table: its rows are a query over the event tables.
pub trait Aggregate: Table {
    /// The event tables it reads, and how far their events reach into its windows.
    fn reaches() -> Vec<Reach>;
    /// Its rows for the windows starting in `[from, to)` (microseconds since the epoch), as SQL
    /// over the event tables of the default namespace.
    fn sql(from: i64, to: i64) -> String;
}

/// A timestamp literal DataFusion compares with a `timestamptz` column (and pushes down).
pub fn timestamp_literal(micros: i64) -> String {
    at(micros)
}

fn at(micros: i64) -> String {
    let text = format_micros(micros).unwrap_or_else(|| "1970-01-01T00:00:00.000000+00:00".into());
    format!("CAST('{text}' AS TIMESTAMP WITH TIME ZONE)")
}

/// Bid requests not flagged as test traffic or private IPs.
const COUNTED: &str = "r.is_test_traffic IS NOT TRUE AND r.is_private_ip IS NOT TRUE";

/// `alias.event_timestamp` within the link interval of the request `r`.
fn linked(alias: &str) -> String {
    format!(
        "{alias}.event_timestamp >= r.event_timestamp - INTERVAL '{before} seconds' \
         AND {alias}.event_timestamp <= r.event_timestamp + INTERVAL '{after} seconds'",
        before = LINK_BEFORE_MICROS / 1_000_000,
        after = LINK_AFTER_MICROS / 1_000_000,
    )
}

/// `alias.event_timestamp` in `[from, to)`, widened by the link interval: implied by the join,
/// stated so that the scan can prune partitions and files by it.
fn around(alias: &str, from: i64, to: i64, before: i64, after: i64) -> String {
    format!(
        "{alias}.event_timestamp >= {} AND {alias}.event_timestamp < {}",
        at(from - before),
        at(to + after)
    )
}

/// The partition of an aggregate table: the hour of its window start. A window's rows are
/// rewritten by replacing its hour's file.
fn by_hour_of_window() -> Vec<(i32, &'static str, Transform)> {
    vec![(1, "window_start_hour", Transform::Hour)]
}

/// `db.hourly_impressions_by_geo`: impressions per hour and country of their bid request.
#[derive(Debug, Clone, Copy)]
pub struct HourlyImpressionsByGeo;

impl Table for HourlyImpressionsByGeo {
    const NAME: &'static str = "hourly_impressions_by_geo";
    const UNIQUE_COLUMNS: &'static [&'static str] = &[];

    fn fields() -> Vec<NestedFieldRef> {
        vec![
            timestamptz(1, "window_start"),
            string(2, "device_geo_country"),
            long(3, "impression_count"),
            double(4, "total_revenue"),
            double(5, "avg_win_price"),
        ]
    }

    fn partition_fields() -> Vec<(i32, &'static str, Transform)> {
        by_hour_of_window()
    }
}

impl Aggregate for HourlyImpressionsByGeo {
    fn reaches() -> Vec<Reach> {
        vec![
            Reach { source: EventTable::Impressions, before_micros: 0, after_micros: 0 },
            // A late request gives its impressions their country.
            Reach {
                source: EventTable::BidRequests,
                before_micros: LINK_BEFORE_MICROS,
                after_micros: LINK_AFTER_MICROS,
            },
        ]
    }

    fn sql(from: i64, to: i64) -> String {
        format!(
            "SELECT date_trunc('hour', i.event_timestamp) AS window_start, r.device_geo_country, \
             COUNT(*) AS impression_count, SUM(i.win_price_usd) AS total_revenue, \
             AVG(i.win_price_usd) AS avg_win_price \
             FROM impressions i JOIN bid_requests r ON i.request_id = r.request_id AND {link} \
             WHERE {COUNTED} AND i.event_timestamp >= {from} AND i.event_timestamp < {to} \
             AND {requests} \
             GROUP BY 1, 2",
            link = linked("i"),
            from = at(from),
            to = at(to),
            requests = around("r", from, to, LINK_AFTER_MICROS, LINK_BEFORE_MICROS),
        )
    }
}

/// `db.rolling_metrics_by_bidder`: wins, revenue and average price per bidder in 5-minute
/// windows starting every minute.
#[derive(Debug, Clone, Copy)]
pub struct RollingMetricsByBidder;

/// The length of a bidder window; one starts every minute.
pub const WINDOW_MINUTES: i64 = 5;

impl Table for RollingMetricsByBidder {
    const NAME: &'static str = "rolling_metrics_by_bidder";
    const UNIQUE_COLUMNS: &'static [&'static str] = &[];

    fn fields() -> Vec<NestedFieldRef> {
        vec![
            timestamptz(1, "window_start"),
            timestamptz(2, "window_end"),
            string(3, "bidder_id"),
            long(4, "win_count"),
            double(5, "revenue"),
            double(6, "avg_cpm"),
        ]
    }

    fn partition_fields() -> Vec<(i32, &'static str, Transform)> {
        by_hour_of_window()
    }
}

impl Aggregate for RollingMetricsByBidder {
    fn reaches() -> Vec<Reach> {
        let span = (WINDOW_MINUTES - 1) * 60_000_000;
        vec![
            Reach { source: EventTable::Impressions, before_micros: span, after_micros: 0 },
            Reach {
                source: EventTable::BidRequests,
                before_micros: LINK_BEFORE_MICROS + span,
                after_micros: LINK_AFTER_MICROS,
            },
        ]
    }

    fn sql(from: i64, to: i64) -> String {
        let span = (WINDOW_MINUTES - 1) * 60_000_000;
        // An impression at t is in the windows starting at each of the 5 minutes up to t.
        let back: Vec<String> =
            (0..WINDOW_MINUTES).map(|m| format!("(INTERVAL '{m} minutes')")).collect();
        format!(
            "SELECT window_start, window_start + INTERVAL '{WINDOW_MINUTES} minutes' AS window_end, \
             bidder_id, COUNT(*) AS win_count, SUM(win_price_usd) AS revenue, \
             AVG(win_price_usd) AS avg_cpm \
             FROM (SELECT date_trunc('minute', i.event_timestamp) - k.back AS window_start, \
             i.bidder_id, i.win_price_usd \
             FROM impressions i JOIN bid_requests r ON i.request_id = r.request_id AND {link} \
             CROSS JOIN (VALUES {back}) AS k(back) \
             WHERE {COUNTED} AND {impressions} AND {requests}) AS w \
             WHERE window_start >= {from} AND window_start < {to} \
             GROUP BY window_start, bidder_id",
            link = linked("i"),
            back = back.join(", "),
            impressions = around("i", from, to, 0, span),
            requests = around("r", from, to, LINK_AFTER_MICROS, span + LINK_BEFORE_MICROS),
            from = at(from),
            to = at(to),
        )
    }
}

/// `db.hourly_funnel_by_publisher`: per hour of the bid request and its publisher, the distinct
/// requests, responses, impressions and clicks of the funnel, and its rates.
#[derive(Debug, Clone, Copy)]
pub struct HourlyFunnelByPublisher;

impl Table for HourlyFunnelByPublisher {
    const NAME: &'static str = "hourly_funnel_by_publisher";
    const UNIQUE_COLUMNS: &'static [&'static str] = &[];

    fn fields() -> Vec<NestedFieldRef> {
        vec![
            timestamptz(1, "window_start"),
            string(2, "publisher_id"),
            long(3, "bid_requests"),
            long(4, "bid_responses"),
            long(5, "impressions"),
            long(6, "clicks"),
            double(7, "fill_rate"),
            double(8, "win_rate"),
            double(9, "ctr"),
        ]
    }

    fn partition_fields() -> Vec<(i32, &'static str, Transform)> {
        by_hour_of_window()
    }
}

impl Aggregate for HourlyFunnelByPublisher {
    fn reaches() -> Vec<Reach> {
        let funnel = |source| Reach {
            source,
            before_micros: LINK_AFTER_MICROS,
            after_micros: LINK_BEFORE_MICROS,
        };
        vec![
            Reach { source: EventTable::BidRequests, before_micros: 0, after_micros: 0 },
            funnel(EventTable::BidResponses),
            funnel(EventTable::Impressions),
            funnel(EventTable::Clicks),
        ]
    }

    fn sql(from: i64, to: i64) -> String {
        let rate = |num: &str, den: &str| {
            format!("COALESCE(CAST({num} AS DOUBLE) / CAST(NULLIF({den}, 0) AS DOUBLE), 0.0)")
        };
        let (requests, responses, impressions, clicks) = (
            "COUNT(DISTINCT r.request_id)",
            "COUNT(DISTINCT s.response_id)",
            "COUNT(DISTINCT i.impression_id)",
            "COUNT(DISTINCT c.click_id)",
        );
        format!(
            "SELECT date_trunc('hour', r.event_timestamp) AS window_start, r.publisher_id, \
             {requests} AS bid_requests, {responses} AS bid_responses, \
             {impressions} AS impressions, {clicks} AS clicks, \
             {fill} AS fill_rate, {win} AS win_rate, {ctr} AS ctr \
             FROM bid_requests r \
             LEFT JOIN bid_responses s ON s.request_id = r.request_id AND {link_s} AND {around_s} \
             LEFT JOIN impressions i ON i.response_id = s.response_id AND {link_i} AND {around_i} \
             LEFT JOIN clicks c ON c.impression_id = i.impression_id AND {link_c} AND {around_c} \
             WHERE {COUNTED} AND r.event_timestamp >= {from} AND r.event_timestamp < {to} \
             GROUP BY 1, 2",
            fill = rate(responses, requests),
            win = rate(impressions, responses),
            ctr = rate(clicks, impressions),
            link_s = linked("s"),
            link_i = linked("i"),
            link_c = linked("c"),
            around_s = around("s", from, to, LINK_BEFORE_MICROS, LINK_AFTER_MICROS),
            around_i = around("i", from, to, LINK_BEFORE_MICROS, LINK_AFTER_MICROS),
            around_c = around("c", from, to, LINK_BEFORE_MICROS, LINK_AFTER_MICROS),
            from = at(from),
            to = at(to),
        )
    }
}

/// The aggregate tables, in the order they are set up and kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AggregateTable {
    HourlyImpressionsByGeo,
    RollingMetricsByBidder,
    HourlyFunnelByPublisher,
}

macro_rules! with_aggregate {
    ($table:expr, $T:ident => $body:expr) => {
        match $table {
            AggregateTable::HourlyImpressionsByGeo => {
                type $T = HourlyImpressionsByGeo;
                $body
            }
            AggregateTable::RollingMetricsByBidder => {
                type $T = RollingMetricsByBidder;
                $body
            }
            AggregateTable::HourlyFunnelByPublisher => {
                type $T = HourlyFunnelByPublisher;
                $body
            }
        }
    };
}

impl AggregateTable {
    pub const ALL: [AggregateTable; 3] = [
        AggregateTable::HourlyImpressionsByGeo,
        AggregateTable::RollingMetricsByBidder,
        AggregateTable::HourlyFunnelByPublisher,
    ];

    pub fn name(self) -> &'static str {
        with_aggregate!(self, T => T::NAME)
    }

    pub fn definition(self) -> crate::Result<crate::Definition> {
        with_aggregate!(self, T => crate::Definition::of::<T>())
    }

    pub fn reaches(self) -> Vec<Reach> {
        with_aggregate!(self, T => T::reaches())
    }

    pub fn sql(self, from: i64, to: i64) -> String {
        with_aggregate!(self, T => T::sql(from, to))
    }
}
