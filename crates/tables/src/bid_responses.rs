//! `db.bid_responses`: one row per bid of an OpenRTB 2.6 bid response (a no-bid response is one
//! row without bid columns). Partitioned by `day(event_timestamp)`.

use arrow_array::ArrayRef;
use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_schema::SchemaRef;
use iceberg::spec::{NestedFieldRef, Transform};
use serde::Deserialize;

use crate::columns::{Columns, Source, finish_columns, text, timestamps};
use crate::decode::{First, Reject, Str, Text, event_time, parse, received_time, required_id};
use crate::{EventRecords, ExchangeRates, Table, by_day, double, int, long, string, timestamptz};

pub const EVENT_TIMESTAMP: i32 = 11;

/// The `db.bid_responses` table.
#[derive(Debug, Clone, Copy)]
pub struct BidResponses;

impl Table for BidResponses {
    const NAME: &'static str = "bid_responses";
    const CREATED_COLUMNS: usize = 14;
    const UNIQUE_COLUMNS: &'static [&'static str] = &["response_id", "request_id", "bid_id"];

    fn fields() -> Vec<NestedFieldRef> {
        vec![
            string(1, "response_id"),
            string(2, "request_id"),
            string(3, "seat"),
            string(4, "bid_id"),
            string(5, "imp_id"),
            double(6, "bid_price"),
            string(7, "creative_id"),
            string(8, "deal_id"),
            string(9, "ad_domain"),
            string(10, "currency"),
            timestamptz(EVENT_TIMESTAMP, "event_timestamp"),
            timestamptz(12, "received_at"),
            int(13, "kafka_partition"),
            long(14, "kafka_offset"),
            // Enrichment (crate::enrich).
            double(15, "bid_price_usd"),
        ]
    }

    fn partition_fields() -> Vec<(i32, &'static str, Transform)> {
        vec![by_day(EVENT_TIMESTAMP)]
    }
}

impl EventRecords for BidResponses {
    type Columns = BidResponseColumns;
    type Row<'a> = BidResponseRow<'a>;
    type Rows<'a> = Vec<BidResponseRow<'a>>;

    fn decode<'a>(
        value: &'a [u8],
        kafka_timestamp: Option<i64>,
        rates: &ExchangeRates,
    ) -> Result<Self::Rows<'a>, Reject> {
        bid_responses(value, kafka_timestamp, rates)
    }
    fn event_time(row: &BidResponseRow<'_>) -> i64 {
        row.event_timestamp
    }
    fn push(columns: &mut BidResponseColumns, row: &BidResponseRow<'_>, source: Source) {
        columns.push(row, source);
    }
}

#[derive(Deserialize)]
struct BidResponseIn<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    bidid: Str<'a>,
    #[serde(borrow)]
    cur: Str<'a>,
    #[serde(borrow)]
    seatbid: Option<Vec<SeatBidIn<'a>>>,
    #[serde(borrow)]
    event_timestamp: Str<'a>,
    #[serde(borrow)]
    received_at: Str<'a>,
}

#[derive(Deserialize)]
struct SeatBidIn<'a> {
    #[serde(borrow)]
    seat: Str<'a>,
    #[serde(borrow, default)]
    bid: Vec<BidIn<'a>>,
}

#[derive(Deserialize)]
struct BidIn<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    impid: Str<'a>,
    price: Option<f64>,
    #[serde(borrow)]
    crid: Str<'a>,
    #[serde(borrow)]
    dealid: Str<'a>,
    #[serde(borrow)]
    adomain: Option<First<Text<'a>>>,
}

/// A row of `db.bid_responses`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BidResponseRow<'a> {
    pub response_id: Str<'a>,
    pub request_id: Text<'a>,
    pub seat: Str<'a>,
    pub bid_id: Str<'a>,
    pub imp_id: Str<'a>,
    pub bid_price: Option<f64>,
    pub creative_id: Str<'a>,
    pub deal_id: Str<'a>,
    pub ad_domain: Str<'a>,
    pub currency: Str<'a>,
    pub event_timestamp: i64,
    pub received_at: Option<i64>,
    pub bid_price_usd: Option<f64>,
}

pub fn bid_responses<'a>(
    value: &'a [u8],
    kafka_timestamp: Option<i64>,
    rates: &ExchangeRates,
) -> Result<Vec<BidResponseRow<'a>>, Reject> {
    let r: BidResponseIn<'_> = parse(value)?;
    let common = BidResponseRow {
        response_id: r.bidid,
        request_id: required_id(r.id, "id")?,
        currency: r.cur,
        event_timestamp: event_time(&r.event_timestamp, kafka_timestamp)?,
        received_at: received_time(&r.received_at)?,
        ..BidResponseRow::default()
    };
    let mut rows = Vec::with_capacity(1);
    for seatbid in r.seatbid.unwrap_or_default() {
        for bid in seatbid.bid {
            rows.push(BidResponseRow {
                seat: seatbid.seat.clone(),
                bid_id: bid.id,
                imp_id: bid.impid,
                bid_price: bid.price,
                bid_price_usd: rates.to_usd(bid.price, common.currency.as_deref()),
                creative_id: bid.crid,
                deal_id: bid.dealid,
                ad_domain: bid.adomain.and_then(|a| a.first),
                ..common.clone()
            });
        }
    }
    if rows.is_empty() {
        rows.push(common);
    }
    Ok(rows)
}

#[derive(Debug)]
pub struct BidResponseColumns {
    response_id: StringBuilder,
    request_id: StringBuilder,
    seat: StringBuilder,
    bid_id: StringBuilder,
    imp_id: StringBuilder,
    bid_price: Float64Builder,
    creative_id: StringBuilder,
    deal_id: StringBuilder,
    ad_domain: StringBuilder,
    currency: StringBuilder,
    event_timestamp: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    kafka_partition: Int32Builder,
    kafka_offset: Int64Builder,
    bid_price_usd: Float64Builder,
}

impl Columns for BidResponseColumns {
    fn new(_: &SchemaRef) -> Self {
        Self {
            response_id: StringBuilder::new(),
            request_id: StringBuilder::new(),
            seat: StringBuilder::new(),
            bid_id: StringBuilder::new(),
            imp_id: StringBuilder::new(),
            bid_price: Float64Builder::new(),
            creative_id: StringBuilder::new(),
            deal_id: StringBuilder::new(),
            ad_domain: StringBuilder::new(),
            currency: StringBuilder::new(),
            event_timestamp: timestamps(),
            received_at: timestamps(),
            kafka_partition: Int32Builder::new(),
            kafka_offset: Int64Builder::new(),
            bid_price_usd: Float64Builder::new(),
        }
    }

    fn len(&self) -> usize {
        self.request_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        finish_columns!(self; response_id, request_id, seat, bid_id, imp_id, bid_price, creative_id,
            deal_id, ad_domain, currency, event_timestamp, received_at, kafka_partition,
            kafka_offset, bid_price_usd)
    }
}

impl BidResponseColumns {
    fn push(&mut self, r: &BidResponseRow<'_>, source: Source) {
        self.response_id.append_option(text(&r.response_id));
        self.request_id.append_value(&*r.request_id);
        self.seat.append_option(text(&r.seat));
        self.bid_id.append_option(text(&r.bid_id));
        self.imp_id.append_option(text(&r.imp_id));
        self.bid_price.append_option(r.bid_price);
        self.creative_id.append_option(text(&r.creative_id));
        self.deal_id.append_option(text(&r.deal_id));
        self.ad_domain.append_option(text(&r.ad_domain));
        self.currency.append_option(text(&r.currency));
        self.event_timestamp.append_value(r.event_timestamp);
        self.received_at.append_option(r.received_at);
        self.kafka_partition.append_value(source.partition);
        self.kafka_offset.append_value(source.offset);
        self.bid_price_usd.append_option(r.bid_price_usd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_gives_a_row_per_bid() {
        let json = br#"{"id":"req","bidid":"resp","cur":"EUR","seatbid":[{"seat":"dsp1","bid":[{"id":"b1","impid":"1","price":1.25,"crid":"c1","adomain":["a.com"]},{"id":"b2","impid":"2","price":0.5,"dealid":"d"}]}],"event_timestamp":"2026-01-01T00:00:00Z"}"#;
        let rows = bid_responses(json, None, &ExchangeRates::built_in()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].response_id.as_deref(), Some("resp"));
        assert_eq!(rows[0].ad_domain.as_deref(), Some("a.com"));
        assert_eq!(rows[0].bid_price_usd, Some(1.45), "1.25 EUR at the built-in rate");
        assert_eq!(rows[1].deal_id.as_deref(), Some("d"));
        assert_eq!(rows[1].seat.as_deref(), Some("dsp1"));
        let nobid =
            bid_responses(br#"{"id":"req","nbr":2}"#, Some(5), &ExchangeRates::built_in()).unwrap();
        assert_eq!(nobid.len(), 1);
        assert_eq!(nobid[0].bid_id, None);
    }
}
