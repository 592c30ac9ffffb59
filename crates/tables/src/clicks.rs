//! `db.clicks`: one row per click on a shown ad. Partitioned by `day(event_timestamp)`.

use arrow_array::ArrayRef;
use arrow_array::builder::{
    ArrayBuilder, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::SchemaRef;
use iceberg::spec::{NestedFieldRef, Transform};
use serde::Deserialize;

use crate::columns::{Columns, Source, finish_columns, text, timestamps};
use crate::decode::{Reject, Str, Text, event_time, parse, received_time, required_id};
use crate::{EventRecords, ExchangeRates, Table, by_day, int, long, string, timestamptz};

pub const EVENT_TIMESTAMP: i32 = 8;

/// The `db.clicks` table.
#[derive(Debug, Clone, Copy)]
pub struct Clicks;

impl Table for Clicks {
    const NAME: &'static str = "clicks";
    const UNIQUE_COLUMNS: &'static [&'static str] = &["click_id", "request_id", "impression_id"];

    fn fields() -> Vec<NestedFieldRef> {
        vec![
            string(1, "click_id"),
            string(2, "request_id"),
            string(3, "impression_id"),
            string(4, "imp_id"),
            string(5, "bidder_id"),
            string(6, "creative_id"),
            string(7, "click_url"),
            timestamptz(EVENT_TIMESTAMP, "event_timestamp"),
            timestamptz(9, "received_at"),
            int(10, "kafka_partition"),
            long(11, "kafka_offset"),
        ]
    }

    fn partition_fields() -> Vec<(i32, &'static str, Transform)> {
        vec![by_day(EVENT_TIMESTAMP)]
    }
}

impl EventRecords for Clicks {
    type Columns = ClickColumns;
    type Row<'a> = ClickRow<'a>;
    type Rows<'a> = [ClickRow<'a>; 1];

    fn decode<'a>(
        value: &'a [u8],
        kafka_timestamp: Option<i64>,
        _: &ExchangeRates,
    ) -> Result<Self::Rows<'a>, Reject> {
        click(value, kafka_timestamp).map(|row| [row])
    }
    fn event_time(row: &ClickRow<'_>) -> i64 {
        row.event_timestamp
    }
    fn push(columns: &mut ClickColumns, row: &ClickRow<'_>, source: Source) {
        columns.push(row, source);
    }
}

#[derive(Deserialize)]
struct ClickIn<'a> {
    #[serde(borrow)]
    click_id: Str<'a>,
    #[serde(borrow)]
    request_id: Str<'a>,
    #[serde(borrow)]
    impression_id: Str<'a>,
    #[serde(borrow)]
    imp_id: Str<'a>,
    #[serde(borrow)]
    bidder_id: Str<'a>,
    #[serde(borrow)]
    creative_id: Str<'a>,
    #[serde(borrow)]
    click_url: Str<'a>,
    #[serde(borrow)]
    event_timestamp: Str<'a>,
    #[serde(borrow)]
    received_at: Str<'a>,
}

/// A row of `db.clicks`.
#[derive(Debug, Default, PartialEq)]
pub struct ClickRow<'a> {
    pub click_id: Text<'a>,
    pub request_id: Str<'a>,
    pub impression_id: Str<'a>,
    pub imp_id: Str<'a>,
    pub bidder_id: Str<'a>,
    pub creative_id: Str<'a>,
    pub click_url: Str<'a>,
    pub event_timestamp: i64,
    pub received_at: Option<i64>,
}

pub fn click(value: &[u8], kafka_timestamp: Option<i64>) -> Result<ClickRow<'_>, Reject> {
    let r: ClickIn<'_> = parse(value)?;
    Ok(ClickRow {
        click_id: required_id(r.click_id, "click_id")?,
        request_id: r.request_id,
        impression_id: r.impression_id,
        imp_id: r.imp_id,
        bidder_id: r.bidder_id,
        creative_id: r.creative_id,
        click_url: r.click_url,
        event_timestamp: event_time(&r.event_timestamp, kafka_timestamp)?,
        received_at: received_time(&r.received_at)?,
    })
}

#[derive(Debug)]
pub struct ClickColumns {
    click_id: StringBuilder,
    request_id: StringBuilder,
    impression_id: StringBuilder,
    imp_id: StringBuilder,
    bidder_id: StringBuilder,
    creative_id: StringBuilder,
    click_url: StringBuilder,
    event_timestamp: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    kafka_partition: Int32Builder,
    kafka_offset: Int64Builder,
}

impl Columns for ClickColumns {
    fn new(_: &SchemaRef) -> Self {
        Self {
            click_id: StringBuilder::new(),
            request_id: StringBuilder::new(),
            impression_id: StringBuilder::new(),
            imp_id: StringBuilder::new(),
            bidder_id: StringBuilder::new(),
            creative_id: StringBuilder::new(),
            click_url: StringBuilder::new(),
            event_timestamp: timestamps(),
            received_at: timestamps(),
            kafka_partition: Int32Builder::new(),
            kafka_offset: Int64Builder::new(),
        }
    }

    fn len(&self) -> usize {
        self.click_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        finish_columns!(self; click_id, request_id, impression_id, imp_id, bidder_id, creative_id,
            click_url, event_timestamp, received_at, kafka_partition, kafka_offset)
    }
}

impl ClickColumns {
    fn push(&mut self, r: &ClickRow<'_>, source: Source) {
        self.click_id.append_value(&*r.click_id);
        self.request_id.append_option(text(&r.request_id));
        self.impression_id.append_option(text(&r.impression_id));
        self.imp_id.append_option(text(&r.imp_id));
        self.bidder_id.append_option(text(&r.bidder_id));
        self.creative_id.append_option(text(&r.creative_id));
        self.click_url.append_option(text(&r.click_url));
        self.event_timestamp.append_value(r.event_timestamp);
        self.received_at.append_option(r.received_at);
        self.kafka_partition.append_value(source.partition);
        self.kafka_offset.append_value(source.offset);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RejectKind;

    #[test]
    fn a_click_needs_its_own_id_and_unescapes_its_url() {
        let c = click(br#"{"click_id":"c","click_url":"https://x/\u00e9"}"#, Some(0)).unwrap();
        assert_eq!(c.click_url.as_deref(), Some("https://x/\u{e9}"));
        assert_eq!(
            click(br#"{"request_id":"r"}"#, Some(0)).unwrap_err().kind,
            RejectKind::MissingId
        );
    }
}
