//! `db.impressions`: one row per won auction whose ad was shown. Partitioned by
//! `day(event_timestamp)`.

use arrow_array::ArrayRef;
use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder,
};
use arrow_schema::SchemaRef;
use iceberg::spec::{NestedFieldRef, Transform};
use serde::Deserialize;

use crate::columns::{Columns, Source, finish_columns, text, timestamps};
use crate::decode::{Reject, Str, Text, event_time, parse, received_time, required_id};
use crate::{EventRecords, ExchangeRates, Table, by_day, double, int, long, string, timestamptz};

pub const EVENT_TIMESTAMP: i32 = 10;

/// The `db.impressions` table.
#[derive(Debug, Clone, Copy)]
pub struct Impressions;

impl Table for Impressions {
    const NAME: &'static str = "impressions";
    const CREATED_COLUMNS: usize = 13;
    const UNIQUE_COLUMNS: &'static [&'static str] = &["impression_id", "request_id", "response_id"];

    fn fields() -> Vec<NestedFieldRef> {
        vec![
            string(1, "impression_id"),
            string(2, "request_id"),
            string(3, "response_id"),
            string(4, "imp_id"),
            string(5, "bidder_id"),
            double(6, "win_price"),
            string(7, "win_currency"),
            string(8, "creative_id"),
            string(9, "ad_domain"),
            timestamptz(EVENT_TIMESTAMP, "event_timestamp"),
            timestamptz(11, "received_at"),
            int(12, "kafka_partition"),
            long(13, "kafka_offset"),
            // Enrichment (crate::enrich).
            double(14, "win_price_usd"),
        ]
    }

    fn partition_fields() -> Vec<(i32, &'static str, Transform)> {
        vec![by_day(EVENT_TIMESTAMP)]
    }
}

impl EventRecords for Impressions {
    type Columns = ImpressionColumns;
    type Row<'a> = ImpressionRow<'a>;
    type Rows<'a> = [ImpressionRow<'a>; 1];

    fn decode<'a>(
        value: &'a [u8],
        kafka_timestamp: Option<i64>,
        rates: &ExchangeRates,
    ) -> Result<Self::Rows<'a>, Reject> {
        impression(value, kafka_timestamp, rates).map(|row| [row])
    }
    fn event_time(row: &ImpressionRow<'_>) -> i64 {
        row.event_timestamp
    }
    fn push(columns: &mut ImpressionColumns, row: &ImpressionRow<'_>, source: Source) {
        columns.push(row, source);
    }
}

#[derive(Deserialize)]
struct ImpressionIn<'a> {
    #[serde(borrow)]
    impression_id: Str<'a>,
    #[serde(borrow)]
    request_id: Str<'a>,
    #[serde(borrow)]
    response_id: Str<'a>,
    #[serde(borrow)]
    imp_id: Str<'a>,
    #[serde(borrow)]
    bidder_id: Str<'a>,
    win_price: Option<f64>,
    #[serde(borrow)]
    win_currency: Str<'a>,
    #[serde(borrow)]
    creative_id: Str<'a>,
    #[serde(borrow)]
    ad_domain: Str<'a>,
    #[serde(borrow)]
    event_timestamp: Str<'a>,
    #[serde(borrow)]
    received_at: Str<'a>,
}

/// A row of `db.impressions`.
#[derive(Debug, Default, PartialEq)]
pub struct ImpressionRow<'a> {
    pub impression_id: Text<'a>,
    pub request_id: Str<'a>,
    pub response_id: Str<'a>,
    pub imp_id: Str<'a>,
    pub bidder_id: Str<'a>,
    pub win_price: Option<f64>,
    pub win_currency: Str<'a>,
    pub creative_id: Str<'a>,
    pub ad_domain: Str<'a>,
    pub event_timestamp: i64,
    pub received_at: Option<i64>,
    pub win_price_usd: Option<f64>,
}

pub fn impression<'a>(
    value: &'a [u8],
    kafka_timestamp: Option<i64>,
    rates: &ExchangeRates,
) -> Result<ImpressionRow<'a>, Reject> {
    let r: ImpressionIn<'_> = parse(value)?;
    Ok(ImpressionRow {
        impression_id: required_id(r.impression_id, "impression_id")?,
        request_id: r.request_id,
        response_id: r.response_id,
        imp_id: r.imp_id,
        bidder_id: r.bidder_id,
        win_price: r.win_price,
        win_price_usd: rates.to_usd(r.win_price, r.win_currency.as_deref()),
        win_currency: r.win_currency,
        creative_id: r.creative_id,
        ad_domain: r.ad_domain,
        event_timestamp: event_time(&r.event_timestamp, kafka_timestamp)?,
        received_at: received_time(&r.received_at)?,
    })
}

#[derive(Debug)]
pub struct ImpressionColumns {
    impression_id: StringBuilder,
    request_id: StringBuilder,
    response_id: StringBuilder,
    imp_id: StringBuilder,
    bidder_id: StringBuilder,
    win_price: Float64Builder,
    win_currency: StringBuilder,
    creative_id: StringBuilder,
    ad_domain: StringBuilder,
    event_timestamp: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    kafka_partition: Int32Builder,
    kafka_offset: Int64Builder,
    win_price_usd: Float64Builder,
}

impl Columns for ImpressionColumns {
    fn new(_: &SchemaRef) -> Self {
        Self {
            impression_id: StringBuilder::new(),
            request_id: StringBuilder::new(),
            response_id: StringBuilder::new(),
            imp_id: StringBuilder::new(),
            bidder_id: StringBuilder::new(),
            win_price: Float64Builder::new(),
            win_currency: StringBuilder::new(),
            creative_id: StringBuilder::new(),
            ad_domain: StringBuilder::new(),
            event_timestamp: timestamps(),
            received_at: timestamps(),
            kafka_partition: Int32Builder::new(),
            kafka_offset: Int64Builder::new(),
            win_price_usd: Float64Builder::new(),
        }
    }

    fn len(&self) -> usize {
        self.impression_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        finish_columns!(self; impression_id, request_id, response_id, imp_id, bidder_id, win_price,
            win_currency, creative_id, ad_domain, event_timestamp, received_at,
            kafka_partition, kafka_offset, win_price_usd)
    }
}

impl ImpressionColumns {
    fn push(&mut self, r: &ImpressionRow<'_>, source: Source) {
        self.impression_id.append_value(&*r.impression_id);
        self.request_id.append_option(text(&r.request_id));
        self.response_id.append_option(text(&r.response_id));
        self.imp_id.append_option(text(&r.imp_id));
        self.bidder_id.append_option(text(&r.bidder_id));
        self.win_price.append_option(r.win_price);
        self.win_currency.append_option(text(&r.win_currency));
        self.creative_id.append_option(text(&r.creative_id));
        self.ad_domain.append_option(text(&r.ad_domain));
        self.event_timestamp.append_value(r.event_timestamp);
        self.received_at.append_option(r.received_at);
        self.kafka_partition.append_value(source.partition);
        self.kafka_offset.append_value(source.offset);
        self.win_price_usd.append_option(r.win_price_usd);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectKind;

    #[test]
    fn an_impression_needs_its_own_id() {
        let rates = ExchangeRates::built_in();
        let imp = impression(br#"{"impression_id":"i","request_id":"r","win_price":0.42,"event_timestamp":"2026-01-01T00:00:00Z"}"#, None, &rates).unwrap();
        assert_eq!((imp.win_price, imp.win_price_usd), (Some(0.42), Some(0.42)), "USD by default");
        let jpy = impression(
            br#"{"impression_id":"i","win_price":500,"win_currency":"JPY"}"#,
            Some(0),
            &rates,
        )
        .unwrap();
        assert_eq!(jpy.win_price_usd, Some(3.3));
        assert_eq!(
            impression(br#"{"request_id":"r"}"#, Some(0), &rates).unwrap_err().kind,
            RejectKind::MissingId
        );
    }
}
