//! Flatten: decoded rows into Arrow column builders, one set per table partition, so a batch
//! never needs splitting by partition afterwards.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType, Field, FieldRef};

use crate::decode::{BidRequestRow, BidResponseRow, ClickRow, ImpressionRow, Text};
use crate::timestamp::day_of;

/// Where a row came from in Kafka (kept in the `kafka_partition`/`kafka_offset` columns).
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub partition: i32,
    pub offset: i64,
}

/// A table partition: `day(event_timestamp)` and, for bid requests, the country.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionValue {
    pub day: i32,
    pub country: Option<Box<str>>,
    /// Bid requests are also partitioned by country (which may be null).
    pub is_bid_request: bool,
}

/// The column builders of one table partition.
pub trait Columns: Send + 'static {
    fn new(element: &Option<FieldRef>) -> Self;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The finished arrays in the table's column order; the builders start empty again.
    fn finish(&mut self) -> Vec<ArrayRef>;
}

fn text<'s>(t: &'s Option<Text<'_>>) -> Option<&'s str> {
    t.as_deref()
}

fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("+00:00")
}

/// Builders in schema order; `finish` follows the same order.
macro_rules! finish {
    ($self:ident; $($col:ident),* $(,)?) => {
        vec![$(Arc::new($self.$col.finish()) as ArrayRef),*]
    };
}

#[derive(Debug)]
pub struct BidRequestColumns {
    request_id: StringBuilder,
    imp_id: StringBuilder,
    imp_banner_w: Int32Builder,
    imp_banner_h: Int32Builder,
    imp_bidfloor: Float64Builder,
    site_id: StringBuilder,
    site_domain: StringBuilder,
    site_cat: ListBuilder<StringBuilder>,
    publisher_id: StringBuilder,
    device_type: Int32Builder,
    device_os: StringBuilder,
    device_geo_country: StringBuilder,
    device_geo_region: StringBuilder,
    user_id: StringBuilder,
    auction_type: Int32Builder,
    tmax: Int32Builder,
    currency: StringBuilder,
    is_coppa: BooleanBuilder,
    is_gdpr: BooleanBuilder,
    event_timestamp: TimestampMicrosecondBuilder,
    received_at: TimestampMicrosecondBuilder,
    app_bundle: StringBuilder,
    channel: StringBuilder,
    media_type: StringBuilder,
    imp_count: Int32Builder,
    kafka_partition: Int32Builder,
    kafka_offset: Int64Builder,
}

impl Columns for BidRequestColumns {
    fn new(element: &Option<FieldRef>) -> Self {
        // The list's element field must carry the table's field id, or the batch is rejected.
        let element = element
            .clone()
            .unwrap_or_else(|| Arc::new(Field::new("element", DataType::Utf8, true)));
        Self {
            request_id: StringBuilder::new(),
            imp_id: StringBuilder::new(),
            imp_banner_w: Int32Builder::new(),
            imp_banner_h: Int32Builder::new(),
            imp_bidfloor: Float64Builder::new(),
            site_id: StringBuilder::new(),
            site_domain: StringBuilder::new(),
            site_cat: ListBuilder::new(StringBuilder::new()).with_field(element),
            publisher_id: StringBuilder::new(),
            device_type: Int32Builder::new(),
            device_os: StringBuilder::new(),
            device_geo_country: StringBuilder::new(),
            device_geo_region: StringBuilder::new(),
            user_id: StringBuilder::new(),
            auction_type: Int32Builder::new(),
            tmax: Int32Builder::new(),
            currency: StringBuilder::new(),
            is_coppa: BooleanBuilder::new(),
            is_gdpr: BooleanBuilder::new(),
            event_timestamp: timestamps(),
            received_at: timestamps(),
            app_bundle: StringBuilder::new(),
            channel: StringBuilder::new(),
            media_type: StringBuilder::new(),
            imp_count: Int32Builder::new(),
            kafka_partition: Int32Builder::new(),
            kafka_offset: Int64Builder::new(),
        }
    }

    fn len(&self) -> usize {
        self.request_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        finish!(self; request_id, imp_id, imp_banner_w, imp_banner_h, imp_bidfloor, site_id,
            site_domain, site_cat, publisher_id, device_type, device_os, device_geo_country,
            device_geo_region, user_id, auction_type, tmax, currency, is_coppa, is_gdpr,
            event_timestamp, received_at, app_bundle, channel, media_type, imp_count,
            kafka_partition, kafka_offset)
    }
}

impl BidRequestColumns {
    pub fn push(&mut self, r: &BidRequestRow<'_>, source: Source) {
        self.request_id.append_value(&*r.request_id);
        self.imp_id.append_option(text(&r.imp_id));
        self.imp_banner_w.append_option(r.imp_banner_w);
        self.imp_banner_h.append_option(r.imp_banner_h);
        self.imp_bidfloor.append_option(r.imp_bidfloor);
        self.site_id.append_option(text(&r.site_id));
        self.site_domain.append_option(text(&r.site_domain));
        match &r.site_cat {
            Some(cats) => {
                for cat in cats {
                    self.site_cat.values().append_value(&**cat);
                }
                self.site_cat.append(true);
            }
            None => self.site_cat.append_null(),
        }
        self.publisher_id.append_option(text(&r.publisher_id));
        self.device_type.append_option(r.device_type);
        self.device_os.append_option(text(&r.device_os));
        self.device_geo_country.append_option(text(&r.device_geo_country));
        self.device_geo_region.append_option(text(&r.device_geo_region));
        self.user_id.append_option(text(&r.user_id));
        self.auction_type.append_option(r.auction_type);
        self.tmax.append_option(r.tmax);
        self.currency.append_option(text(&r.currency));
        self.is_coppa.append_option(r.is_coppa);
        self.is_gdpr.append_option(r.is_gdpr);
        self.event_timestamp.append_value(r.event_timestamp);
        self.received_at.append_option(r.received_at);
        self.app_bundle.append_option(text(&r.app_bundle));
        self.channel.append_option(r.channel);
        self.media_type.append_option(r.media_type);
        self.imp_count.append_value(r.imp_count);
        self.kafka_partition.append_value(source.partition);
        self.kafka_offset.append_value(source.offset);
    }

    pub fn partition_of<'s>(r: &'s BidRequestRow<'_>) -> (i32, Option<&'s str>) {
        (day_of(r.event_timestamp), text(&r.device_geo_country))
    }
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
}

impl Columns for BidResponseColumns {
    fn new(_: &Option<FieldRef>) -> Self {
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
        }
    }

    fn len(&self) -> usize {
        self.request_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        finish!(self; response_id, request_id, seat, bid_id, imp_id, bid_price, creative_id,
            deal_id, ad_domain, currency, event_timestamp, received_at, kafka_partition,
            kafka_offset)
    }
}

impl BidResponseColumns {
    pub fn push(&mut self, r: &BidResponseRow<'_>, source: Source) {
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
    }
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
}

impl Columns for ImpressionColumns {
    fn new(_: &Option<FieldRef>) -> Self {
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
        }
    }

    fn len(&self) -> usize {
        self.impression_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        finish!(self; impression_id, request_id, response_id, imp_id, bidder_id, win_price,
            win_currency, creative_id, ad_domain, event_timestamp, received_at,
            kafka_partition, kafka_offset)
    }
}

impl ImpressionColumns {
    pub fn push(&mut self, r: &ImpressionRow<'_>, source: Source) {
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
    }
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
    fn new(_: &Option<FieldRef>) -> Self {
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
        finish!(self; click_id, request_id, impression_id, imp_id, bidder_id, creative_id,
            click_url, event_timestamp, received_at, kafka_partition, kafka_offset)
    }
}

impl ClickColumns {
    pub fn push(&mut self, r: &ClickRow<'_>, source: Source) {
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

/// Column builders per table partition, found without allocating on the hot path.
#[derive(Debug)]
pub struct Partitioned<C> {
    element: Option<FieldRef>,
    slots: Vec<(PartitionValue, C)>,
    by_day: HashMap<i32, DaySlots>,
}

#[derive(Debug, Default)]
struct DaySlots {
    no_country: Option<usize>,
    by_country: HashMap<Box<str>, usize>,
}

impl<C: Columns> Partitioned<C> {
    pub fn new(element: Option<FieldRef>) -> Self {
        Self { element, slots: Vec::new(), by_day: HashMap::new() }
    }

    /// The builders of a partition, created on first use.
    pub fn slot_for(
        &mut self,
        day: i32,
        country: Option<&str>,
        is_bid_request: bool,
    ) -> (usize, &mut C) {
        let day_slots = self.by_day.entry(day).or_default();
        let found = match country {
            None => day_slots.no_country,
            Some(c) => day_slots.by_country.get(c).copied(),
        };
        let index = match found {
            Some(i) => i,
            None => {
                let i = self.slots.len();
                match country {
                    None => day_slots.no_country = Some(i),
                    Some(c) => {
                        day_slots.by_country.insert(c.into(), i);
                    }
                }
                let value =
                    PartitionValue { day, country: country.map(Into::into), is_bid_request };
                self.slots.push((value, C::new(&self.element)));
                i
            }
        };
        (index, &mut self.slots[index].1)
    }

    pub fn get_mut(&mut self, index: usize) -> Option<(&PartitionValue, &mut C)> {
        self.slots.get_mut(index).map(|(v, c)| (&*v, c))
    }

    pub fn partitions(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every partition (after a commit or an abort).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.by_day.clear();
    }
}
