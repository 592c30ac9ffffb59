//! `db.bid_requests`: one row per OpenRTB 2.6 bid request (its first impression flattened), the
//! firehose. Partitioned by `day(event_timestamp)` and `identity(device_geo_country)`.
//!
//! Records first try a pull parser (`fast`) that fills the same serde structs at a fraction of
//! the cost and leaves to serde every record it is not sure of.

mod country;
mod fast;

use std::borrow::Cow;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_array::builder::{
    ArrayBuilder, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, ListBuilder,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_schema::{DataType, Field, SchemaRef};
use iceberg::spec::{NestedFieldRef, Transform};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::columns::{Columns, Source, finish_columns, text, timestamps};
#[cfg(test)]
use crate::decode::parse;
use crate::decode::{
    First, Reject, RejectKind, Str, Text, event_time, int32, lenient_int, lenient_text, parse_text,
    received_time, reject, required_id, utf8,
};
use crate::enrich::{self, ExchangeRates};
use crate::{
    EventRecords, Table, boolean, by_day, double, int, list_of_strings, long, string, timestamptz,
};

/// Field ids of columns other code refers to.
pub const DEVICE_GEO_COUNTRY: i32 = 12;
pub const EVENT_TIMESTAMP: i32 = 20;
/// `site_cat`'s list element: the seed's id, kept by creating the table with only the seed's
/// columns (creation numbers nested fields after every top-level one).
pub const SITE_CAT_ELEMENT: i32 = 22;

/// The `db.bid_requests` table.
#[derive(Debug, Clone, Copy)]
pub struct BidRequests;

impl Table for BidRequests {
    const NAME: &'static str = "bid_requests";
    const CREATED_COLUMNS: usize = 21;
    const UNIQUE_COLUMNS: &'static [&'static str] = &["request_id", "user_id"];

    fn fields() -> Vec<NestedFieldRef> {
        vec![
            // The original platform's 21 columns.
            string(1, "request_id"),
            string(2, "imp_id"),
            int(3, "imp_banner_w"),
            int(4, "imp_banner_h"),
            double(5, "imp_bidfloor"),
            string(6, "site_id"),
            string(7, "site_domain"),
            list_of_strings(8, "site_cat", SITE_CAT_ELEMENT),
            string(9, "publisher_id"),
            int(10, "device_type"),
            string(11, "device_os"),
            string(DEVICE_GEO_COUNTRY, "device_geo_country"),
            string(13, "device_geo_region"),
            string(14, "user_id"),
            int(15, "auction_type"),
            int(16, "tmax"),
            string(17, "currency"),
            boolean(18, "is_coppa"),
            boolean(19, "is_gdpr"),
            timestamptz(EVENT_TIMESTAMP, "event_timestamp"),
            timestamptz(21, "received_at"),
            // bidlake's additions (22 is site_cat's element).
            string(23, "app_bundle"),
            string(24, "channel"),
            string(25, "media_type"),
            int(26, "imp_count"),
            int(27, "kafka_partition"),
            long(28, "kafka_offset"),
            // Enrichment (crate::enrich).
            string(29, "device_category"),
            double(30, "imp_bidfloor_usd"),
            boolean(31, "is_test_traffic"),
            boolean(32, "is_private_ip"),
        ]
    }

    fn partition_fields() -> Vec<(i32, &'static str, Transform)> {
        vec![
            by_day(EVENT_TIMESTAMP),
            (DEVICE_GEO_COUNTRY, "device_geo_country", Transform::Identity),
        ]
    }
}

impl EventRecords for BidRequests {
    type Columns = BidRequestColumns;
    type Row<'a> = BidRequestRow<'a>;
    type Rows<'a> = [BidRequestRow<'a>; 1];

    fn decode<'a>(
        value: &'a [u8],
        kafka_timestamp: Option<i64>,
        rates: &ExchangeRates,
    ) -> Result<Self::Rows<'a>, Reject> {
        bid_request(value, kafka_timestamp, rates).map(|row| [row])
    }
    fn event_time(row: &BidRequestRow<'_>) -> i64 {
        row.event_timestamp
    }
    fn partition_value<'r>(row: &'r BidRequestRow<'_>) -> Option<&'r str> {
        text(&row.device_geo_country)
    }
    fn push(columns: &mut BidRequestColumns, row: &BidRequestRow<'_>, source: Source) {
        columns.push(row, source);
    }
}

/// `device.geo.country` as ISO 3166-1 alpha-3 (alpha-2 codes mapped); empty means unknown.
fn alpha3_country(value: Str<'_>) -> Result<Str<'_>, Reject> {
    let Some(text) = value else { return Ok(None) };
    if text.is_empty() {
        return Ok(None);
    }
    match country::normalize(&text) {
        Some(country::Normalized::AsIs) => Ok(Some(text)),
        Some(country::Normalized::Upper(code)) => {
            Ok(Some(Text(Cow::Owned(String::from_utf8_lossy(&code).into_owned()))))
        }
        Some(country::Normalized::Mapped(code)) => Ok(Some(Text(Cow::Borrowed(code)))),
        None => {
            let shown: String = text.chars().take(40).collect();
            let more = if text.chars().count() > 40 { "..." } else { "" };
            Err(reject(
                RejectKind::BadCountry,
                format!(
                    "device.geo.country {shown:?}{more} is not an ISO 3166-1 alpha-3 (or alpha-2) country code"
                ),
            ))
        }
    }
}

#[derive(Deserialize, Default)]
struct BidRequestIn<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    imp: Option<First<ImpIn<'a>>>,
    #[serde(borrow)]
    site: Option<SiteIn<'a>>,
    #[serde(borrow)]
    app: Option<AppIn<'a>>,
    #[serde(borrow)]
    dooh: Option<DoohIn<'a>>,
    #[serde(borrow)]
    device: Option<DeviceIn<'a>>,
    #[serde(borrow)]
    user: Option<UserIn<'a>>,
    at: Option<i64>,
    tmax: Option<i64>,
    #[serde(borrow)]
    cur: Option<First<Text<'a>>>,
    regs: Option<RegsIn>,
    #[serde(default, deserialize_with = "lenient_int")]
    test: Option<i64>,
    #[serde(borrow)]
    event_timestamp: Str<'a>,
    #[serde(borrow)]
    received_at: Str<'a>,
}

#[derive(Deserialize, Default)]
struct ImpIn<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    banner: Option<BannerIn>,
    video: Option<IgnoredAny>,
    audio: Option<IgnoredAny>,
    native: Option<IgnoredAny>,
    bidfloor: Option<f64>,
    #[serde(borrow, default, deserialize_with = "lenient_text")]
    bidfloorcur: Str<'a>,
}

#[derive(Deserialize, Default)]
struct BannerIn {
    w: Option<i64>,
    h: Option<i64>,
    format: Option<First<FormatIn>>,
}

#[derive(Deserialize, Default)]
struct FormatIn {
    w: Option<i64>,
    h: Option<i64>,
}

#[derive(Deserialize, Default)]
struct SiteIn<'a> {
    #[serde(borrow)]
    id: Str<'a>,
    #[serde(borrow)]
    domain: Str<'a>,
    #[serde(borrow)]
    cat: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    publisher: Option<PublisherIn<'a>>,
}

#[derive(Deserialize, Default)]
struct AppIn<'a> {
    #[serde(borrow)]
    bundle: Str<'a>,
    #[serde(borrow)]
    publisher: Option<PublisherIn<'a>>,
}

#[derive(Deserialize, Default)]
struct DoohIn<'a> {
    #[serde(borrow)]
    publisher: Option<PublisherIn<'a>>,
}

#[derive(Deserialize, Default)]
struct PublisherIn<'a> {
    #[serde(borrow)]
    id: Str<'a>,
}

#[derive(Deserialize, Default)]
struct DeviceIn<'a> {
    devicetype: Option<i64>,
    #[serde(borrow)]
    os: Str<'a>,
    #[serde(borrow)]
    geo: Option<GeoIn<'a>>,
    #[serde(borrow, default, deserialize_with = "lenient_text")]
    ip: Str<'a>,
}

#[derive(Deserialize, Default)]
struct GeoIn<'a> {
    #[serde(borrow)]
    country: Str<'a>,
    #[serde(borrow)]
    region: Str<'a>,
}

#[derive(Deserialize, Default)]
struct UserIn<'a> {
    #[serde(borrow)]
    id: Str<'a>,
}

#[derive(Deserialize, Default)]
struct RegsIn {
    coppa: Option<i64>,
    gdpr: Option<i64>,
    ext: Option<RegsExtIn>,
}

/// OpenRTB 2.5 carried GDPR in `regs.ext.gdpr`.
#[derive(Deserialize, Default)]
struct RegsExtIn {
    gdpr: Option<i64>,
}

/// A row of `db.bid_requests`.
#[derive(Debug, Default, PartialEq)]
pub struct BidRequestRow<'a> {
    pub request_id: Text<'a>,
    pub imp_id: Str<'a>,
    pub imp_banner_w: Option<i32>,
    pub imp_banner_h: Option<i32>,
    pub imp_bidfloor: Option<f64>,
    pub site_id: Str<'a>,
    pub site_domain: Str<'a>,
    pub site_cat: Option<Vec<Text<'a>>>,
    pub publisher_id: Str<'a>,
    pub device_type: Option<i32>,
    pub device_os: Str<'a>,
    pub device_geo_country: Str<'a>,
    pub device_geo_region: Str<'a>,
    pub user_id: Str<'a>,
    pub auction_type: Option<i32>,
    pub tmax: Option<i32>,
    pub currency: Str<'a>,
    pub is_coppa: Option<bool>,
    pub is_gdpr: Option<bool>,
    pub event_timestamp: i64,
    pub received_at: Option<i64>,
    pub app_bundle: Str<'a>,
    pub channel: Option<&'static str>,
    pub media_type: Option<&'static str>,
    pub imp_count: i32,
    pub device_category: &'static str,
    pub imp_bidfloor_usd: Option<f64>,
    pub is_test_traffic: bool,
    pub is_private_ip: bool,
}

pub fn bid_request<'a>(
    value: &'a [u8],
    kafka_timestamp: Option<i64>,
    rates: &ExchangeRates,
) -> Result<BidRequestRow<'a>, Reject> {
    let text = utf8(value)?;
    let request = match fast::bid_request(text) {
        Some(request) => request,
        None => parse_text(text)?,
    };
    bid_request_row(request, kafka_timestamp, rates)
}

fn bid_request_row<'a>(
    r: BidRequestIn<'a>,
    kafka_timestamp: Option<i64>,
    rates: &ExchangeRates,
) -> Result<BidRequestRow<'a>, Reject> {
    let request_id = required_id(r.id, "id")?;
    let imps = r.imp.unwrap_or_default();
    let Some(imp) = imps.first else {
        return Err(reject(RejectKind::MissingImp, "`imp` is missing or empty"));
    };
    let format = imp.banner.as_ref().and_then(|b| b.format.as_ref()).and_then(|f| f.first.as_ref());
    let banner_w = imp.banner.as_ref().and_then(|b| b.w).or(format.and_then(|f| f.w));
    let banner_h = imp.banner.as_ref().and_then(|b| b.h).or(format.and_then(|f| f.h));
    let media_type = if imp.banner.is_some() {
        Some("banner")
    } else if imp.video.is_some() {
        Some("video")
    } else if imp.audio.is_some() {
        Some("audio")
    } else if imp.native.is_some() {
        Some("native")
    } else {
        None
    };
    let dooh_publisher =
        r.dooh.as_ref().and_then(|d| d.publisher.as_ref()).and_then(|p| p.id.clone());
    let channel = if r.dooh.is_some() {
        Some("dooh")
    } else if r.app.is_some() {
        Some("app")
    } else if r.site.is_some() {
        Some("site")
    } else {
        None
    };
    let (site_id, site_domain, site_cat, site_publisher) = match r.site {
        Some(s) => (s.id, s.domain, s.cat, s.publisher.and_then(|p| p.id)),
        None => (None, None, None, None),
    };
    let (app_bundle, app_publisher) = match r.app {
        Some(a) => (a.bundle, a.publisher.and_then(|p| p.id)),
        None => (None, None),
    };
    let (device_type, device_os, country, region, ip) = match r.device {
        Some(d) => {
            let (country, region) = d.geo.map(|g| (g.country, g.region)).unwrap_or_default();
            (d.devicetype, d.os, country, region, d.ip)
        }
        None => (None, None, None, None, None),
    };
    let device_type = int32(device_type, "device.devicetype", "device_type")?;
    let publisher_id = site_publisher.or(app_publisher).or(dooh_publisher);
    let (is_coppa, is_gdpr) = match r.regs {
        Some(regs) => {
            let gdpr = regs.gdpr.or(regs.ext.and_then(|e| e.gdpr));
            (Some(regs.coppa == Some(1)), Some(gdpr == Some(1)))
        }
        None => (None, None),
    };
    Ok(BidRequestRow {
        request_id,
        imp_id: imp.id,
        imp_banner_w: int32(banner_w, "imp[0].banner.w", "imp_banner_w")?,
        imp_banner_h: int32(banner_h, "imp[0].banner.h", "imp_banner_h")?,
        imp_bidfloor: imp.bidfloor,
        site_id,
        site_domain,
        site_cat,
        device_category: enrich::device_category(device_type, channel),
        imp_bidfloor_usd: rates.to_usd(imp.bidfloor, imp.bidfloorcur.as_deref()),
        is_test_traffic: enrich::is_test_traffic(r.test, publisher_id.as_deref()),
        is_private_ip: enrich::is_private_ip(ip.as_deref()),
        publisher_id,
        device_type,
        device_os,
        device_geo_country: alpha3_country(country)?,
        device_geo_region: region,
        user_id: r.user.and_then(|u| u.id),
        auction_type: int32(r.at, "at", "auction_type")?,
        tmax: int32(r.tmax, "tmax", "tmax")?,
        currency: r.cur.and_then(|c| c.first),
        is_coppa,
        is_gdpr,
        event_timestamp: event_time(&r.event_timestamp, kafka_timestamp)?,
        received_at: received_time(&r.received_at)?,
        app_bundle,
        channel,
        media_type,
        imp_count: i32::try_from(imps.len).unwrap_or(i32::MAX),
    })
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
    device_category: StringBuilder,
    imp_bidfloor_usd: Float64Builder,
    is_test_traffic: BooleanBuilder,
    is_private_ip: BooleanBuilder,
}

impl Columns for BidRequestColumns {
    fn new(schema: &SchemaRef) -> Self {
        // The list's element field must carry the table's field id, or the batch is rejected.
        let element = match schema.field_with_name("site_cat").map(|f| f.data_type()) {
            Ok(DataType::List(element)) => element.clone(),
            _ => Arc::new(Field::new("element", DataType::Utf8, true)),
        };
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
            device_category: StringBuilder::new(),
            imp_bidfloor_usd: Float64Builder::new(),
            is_test_traffic: BooleanBuilder::new(),
            is_private_ip: BooleanBuilder::new(),
        }
    }

    fn len(&self) -> usize {
        self.request_id.len()
    }

    fn finish(&mut self) -> Vec<ArrayRef> {
        finish_columns!(self; request_id, imp_id, imp_banner_w, imp_banner_h, imp_bidfloor, site_id,
            site_domain, site_cat, publisher_id, device_type, device_os, device_geo_country,
            device_geo_region, user_id, auction_type, tmax, currency, is_coppa, is_gdpr,
            event_timestamp, received_at, app_bundle, channel, media_type, imp_count,
            kafka_partition, kafka_offset, device_category, imp_bidfloor_usd, is_test_traffic,
            is_private_ip)
    }
}

impl BidRequestColumns {
    fn push(&mut self, r: &BidRequestRow<'_>, source: Source) {
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
        self.device_category.append_value(r.device_category);
        self.imp_bidfloor_usd.append_option(r.imp_bidfloor_usd);
        self.is_test_traffic.append_value(r.is_test_traffic);
        self.is_private_ip.append_value(r.is_private_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEED: &str = r#"{"id":"r1","imp":[{"id":"1","banner":{"format":[{"w":300,"h":250}]},"bidfloor":0.75},{"id":"2","video":{}}],
        "site":{"id":"s1","domain":"news.example","cat":["IAB12","IAB1"],"publisher":{"id":"p1"}},
        "device":{"devicetype":2,"os":"iOS","geo":{"country":"USA","region":"CA"},"ua":"x"},
        "user":{"id":"u1"},"at":1,"tmax":120,"cur":["USD"],"regs":{"coppa":0,"ext":{"gdpr":1}},
        "unknown":{"deep":[1,2,{"x":null}]},
        "event_timestamp":"2026-11-24T08:16:52.695802+00:00","received_at":"2026-11-24T08:16:52.700000+00:00"}"#;

    #[test]
    fn a_seed_style_request_maps_to_the_seed_columns() {
        let row = bid_request(SEED.as_bytes(), None, &ExchangeRates::built_in()).unwrap();
        assert_eq!(&*row.request_id, "r1");
        assert_eq!(row.imp_id.as_deref(), Some("1"));
        assert_eq!((row.imp_banner_w, row.imp_banner_h), (Some(300), Some(250)));
        assert_eq!(row.imp_bidfloor, Some(0.75));
        assert_eq!(row.site_cat.as_ref().map(Vec::len), Some(2));
        assert_eq!(row.publisher_id.as_deref(), Some("p1"));
        assert_eq!(row.device_geo_country.as_deref(), Some("USA"));
        assert_eq!(
            (row.is_coppa, row.is_gdpr),
            (Some(false), Some(true)),
            "2.5-style regs.ext.gdpr"
        );
        assert_eq!(row.event_timestamp, 1_795_508_212_695_802);
        assert_eq!(row.received_at, Some(1_795_508_212_700_000));
        assert_eq!((row.channel, row.media_type, row.imp_count), (Some("site"), Some("banner"), 2));
        assert!(matches!(row.request_id.0, Cow::Borrowed(_)), "strings are borrowed");
    }

    #[test]
    fn app_traffic_takes_the_apps_publisher() {
        let json = br#"{"id":"r2","imp":[{"id":"1","native":{}}],"app":{"bundle":"com.x","publisher":{"id":"ap"}},"regs":{"gdpr":0,"coppa":1},"event_timestamp":"2026-01-01T00:00:00Z"}"#;
        let row = bid_request(json, None, &ExchangeRates::built_in()).unwrap();
        assert_eq!(row.publisher_id.as_deref(), Some("ap"));
        assert_eq!(row.site_id, None);
        assert_eq!(row.app_bundle.as_deref(), Some("com.x"));
        assert_eq!((row.channel, row.media_type), (Some("app"), Some("native")));
        assert_eq!((row.is_coppa, row.is_gdpr), (Some(true), Some(false)));
    }

    #[test]
    fn the_kafka_timestamp_stands_in_for_a_missing_event_timestamp() {
        let row = bid_request(
            br#"{"id":"r","imp":[{"id":"1"}]}"#,
            Some(1_000),
            &ExchangeRates::built_in(),
        )
        .unwrap();
        assert_eq!(row.event_timestamp, 1_000_000);
    }

    #[test]
    fn every_kind_of_bad_record_is_classified() {
        let cases: [(&[u8], RejectKind); 12] = [
            (b"\xff\xfe{}", RejectKind::NotUtf8),
            (b"not json", RejectKind::NotJson),
            (b"{\"id\": \"r\", ", RejectKind::NotJson),
            (b"", RejectKind::NotJson),
            (b"[1,2]", RejectKind::NotObject),
            (b"42", RejectKind::NotObject),
            (br#"{"id":"r","imp":[{"id":"1"}],"tmax":"fast"}"#, RejectKind::WrongType),
            (br#"{"imp":[{"id":"1"}]}"#, RejectKind::MissingId),
            (br#"{"id":"","imp":[{"id":"1"}]}"#, RejectKind::MissingId),
            (br#"{"id":"r","imp":[]}"#, RejectKind::MissingImp),
            (br#"{"id":"r","imp":[{"id":"1"}],"event_timestamp":"yesterday"}"#, RejectKind::BadTimestamp),
            (br#"{"id":"r","imp":[{"id":"1","banner":{"w":3000000000}}],"event_timestamp":"2026-01-01T00:00:00Z"}"#, RejectKind::OutOfRange),
        ];
        for (value, kind) in cases {
            let err = bid_request(value, Some(0), &ExchangeRates::built_in()).unwrap_err();
            assert_eq!(err.kind, kind, "{:?}: {err}", String::from_utf8_lossy(value));
        }
        let err = bid_request(
            br#"{"id":"r","imp":[{"id":"1","banner":{"w":3000000000}}]}"#,
            Some(0),
            &ExchangeRates::built_in(),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "out_of_range: imp[0].banner.w = 3000000000 does not fit column imp_banner_w (int)"
        );
    }

    #[test]
    fn a_request_is_enriched_with_category_usd_floor_and_traffic_flags() {
        let rates = ExchangeRates::built_in();
        let seed = bid_request(SEED.as_bytes(), None, &rates).unwrap();
        assert_eq!(seed.device_category, "Desktop");
        assert_eq!(seed.imp_bidfloor_usd, Some(0.75), "no bidfloorcur means USD");
        assert!(!seed.is_test_traffic && !seed.is_private_ip);

        let json = br#"{"id":"r","imp":[{"id":"1","bidfloor":300,"bidfloorcur":"JPY"}],"cur":["JPY"],
            "app":{"bundle":"b","publisher":{"id":"test-pub-9"}},"device":{"devicetype":4,"ip":"192.168.0.7"}}"#;
        let row = bid_request(json, Some(0), &rates).unwrap();
        assert_eq!(row.device_category, "Mobile App");
        assert_eq!(row.imp_bidfloor_usd, Some(1.98));
        assert!(row.is_test_traffic && row.is_private_ip);

        // Fields read only for enrichment never reject a record for their type.
        let odd = br#"{"id":"r","imp":[{"id":"1","bidfloor":1,"bidfloorcur":7}],"test":"yes",
            "site":{"id":"s"},"device":{"devicetype":1,"ip":[10,0,0,1]}}"#;
        let row = bid_request(odd, Some(0), &rates).unwrap();
        assert_eq!(row.device_category, "Mobile Web");
        assert_eq!(row.imp_bidfloor_usd, Some(1.0), "an unreadable currency is OpenRTB's default");
        assert!(!row.is_test_traffic && !row.is_private_ip);
        let test = bid_request(
            br#"{"id":"r","imp":[{"id":"1","bidfloorcur":"XYZ","bidfloor":2}],"test":1}"#,
            Some(0),
            &rates,
        )
        .unwrap();
        assert!(test.is_test_traffic, "OpenRTB's test flag");
        assert_eq!(test.imp_bidfloor_usd, None, "a currency without a rate has no USD price");
    }
}
