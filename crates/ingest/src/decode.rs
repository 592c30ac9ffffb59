//! Decode: one Kafka record's bytes to the flat row(s) of its table, or the reason it cannot be
//! one. Each record is parsed by typed serde structs that borrow strings from the record and skip
//! every field no column needs, so unknown or extra fields never fail a record. Bid requests,
//! the firehose, first try a pull parser (`fast`) that fills the same structs at a fraction of
//! the cost and leaves to serde every record it is not sure of.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::timestamp::parse_micros;

mod country;
mod fast;

/// Why a record cannot become a row; the DLQ's `error` header is `kind: detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    pub kind: RejectKind,
    pub detail: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectKind {
    NotUtf8,
    NotJson,
    NotObject,
    WrongType,
    MissingId,
    MissingImp,
    BadTimestamp,
    OutOfRange,
    BadCountry,
    EventTimeOutsideWindow,
    Tombstone,
}

impl RejectKind {
    pub const ALL: [RejectKind; 11] = [
        RejectKind::NotUtf8,
        RejectKind::NotJson,
        RejectKind::NotObject,
        RejectKind::WrongType,
        RejectKind::MissingId,
        RejectKind::MissingImp,
        RejectKind::BadTimestamp,
        RejectKind::OutOfRange,
        RejectKind::BadCountry,
        RejectKind::EventTimeOutsideWindow,
        RejectKind::Tombstone,
    ];

    pub fn code(self) -> &'static str {
        match self {
            RejectKind::NotUtf8 => "not_utf8",
            RejectKind::NotJson => "not_json",
            RejectKind::NotObject => "not_object",
            RejectKind::WrongType => "wrong_type",
            RejectKind::MissingId => "missing_id",
            RejectKind::MissingImp => "missing_imp",
            RejectKind::BadTimestamp => "bad_timestamp",
            RejectKind::OutOfRange => "out_of_range",
            RejectKind::BadCountry => "bad_country",
            RejectKind::EventTimeOutsideWindow => "event_time_outside_window",
            RejectKind::Tombstone => "tombstone",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.code(), self.detail)
    }
}

fn reject(kind: RejectKind, detail: impl Into<String>) -> Reject {
    Reject { kind, detail: detail.into() }
}

/// A record without a value (a Kafka tombstone): there is nothing to make a row of.
pub fn tombstone() -> Reject {
    reject(RejectKind::Tombstone, "the record has no value (a tombstone)")
}

/// Which event times a table takes. A time far outside it is a producer's bug (a clock in
/// milliseconds read as seconds, a year 0 default) and would open a partition of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTimeWindow {
    /// The earliest event time taken, in microseconds since the epoch.
    pub earliest: i64,
    /// The latest event time taken, in microseconds since the epoch: "now" plus the allowed
    /// lead, refreshed by the job as time passes.
    pub latest: i64,
}

impl EventTimeWindow {
    /// Takes everything: for tools that decode without a clock.
    pub const ANY: EventTimeWindow = EventTimeWindow { earliest: i64::MIN, latest: i64::MAX };

    pub fn check(&self, micros: i64) -> Result<(), Reject> {
        if (self.earliest..=self.latest).contains(&micros) {
            return Ok(());
        }
        let shown = |m: i64| {
            crate::timestamp::format_micros(m).unwrap_or_else(|| format!("{m} µs since 1970"))
        };
        Err(reject(
            RejectKind::EventTimeOutsideWindow,
            format!(
                "event time {} is outside the accepted window {} to {} (EVENT_TIME_EARLIEST, EVENT_TIME_MAX_AHEAD)",
                shown(micros),
                shown(self.earliest),
                shown(self.latest)
            ),
        ))
    }
}

fn utf8(value: &[u8]) -> Result<&str, Reject> {
    std::str::from_utf8(value)
        .map_err(|e| reject(RejectKind::NotUtf8, format!("the value is not UTF-8 ({e})")))
}

/// Parses a record's value as a JSON object of type `T`, classifying failures.
fn parse<'a, T: Deserialize<'a>>(value: &'a [u8]) -> Result<T, Reject> {
    parse_text(utf8(value)?)
}

fn parse_text<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, Reject> {
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {}
        None => return Err(reject(RejectKind::NotJson, "the value is empty")),
        Some(b'[' | b'"' | b't' | b'f' | b'n' | b'-' | b'0'..=b'9') => {
            // Valid JSON perhaps, but not an object.
            if serde_json::from_str::<IgnoredAny>(text).is_ok() {
                return Err(reject(RejectKind::NotObject, "the value is JSON but not an object"));
            }
            return Err(reject(RejectKind::NotJson, "the value is not JSON"));
        }
        Some(_) => return Err(reject(RejectKind::NotJson, "the value is not JSON")),
    }
    serde_json::from_str(text).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => reject(RejectKind::WrongType, e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                reject(RejectKind::NotJson, format!("the value is not JSON ({e})"))
            }
        }
    })
}

/// The first element of a JSON array and the array's length; the rest is skipped unparsed.
#[derive(Debug)]
pub struct First<T> {
    pub first: Option<T>,
    pub len: usize,
}

impl<T> Default for First<T> {
    fn default() -> Self {
        Self { first: None, len: 0 }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for First<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FirstVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for FirstVisitor<T> {
            type Value = First<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<First<T>, A::Error> {
                let first = seq.next_element::<T>()?;
                let mut len = usize::from(first.is_some());
                if first.is_some() {
                    while seq.next_element::<IgnoredAny>()?.is_some() {
                        len += 1;
                    }
                }
                Ok(First { first, len })
            }
        }
        deserializer.deserialize_seq(FirstVisitor(PhantomData))
    }
}

/// A JSON string borrowed from the record when it has no escapes (serde's own `Cow<str>` always
/// copies inside an `Option` or a `Vec`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Text<'a>(pub Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

type Str<'a> = Option<Text<'a>>;

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

fn int32(value: Option<i64>, path: &str, column: &str) -> Result<Option<i32>, Reject> {
    value
        .map(|v| {
            i32::try_from(v).map_err(|_| {
                reject(
                    RejectKind::OutOfRange,
                    format!("{path} = {v} does not fit column {column} (int)"),
                )
            })
        })
        .transpose()
}

fn required_id<'a>(value: Str<'a>, path: &str) -> Result<Text<'a>, Reject> {
    match value {
        Some(id) if !id.trim().is_empty() => Ok(id),
        Some(_) => Err(reject(RejectKind::MissingId, format!("`{path}` is empty"))),
        None => Err(reject(RejectKind::MissingId, format!("`{path}` is missing"))),
    }
}

/// Event time: the record's `event_timestamp`, else the Kafka record's timestamp.
fn event_time(value: &Str<'_>, kafka_timestamp: Option<i64>) -> Result<i64, Reject> {
    match value {
        Some(text) => parse_micros(text).ok_or_else(|| {
            reject(
                RejectKind::BadTimestamp,
                format!("event_timestamp {text:?} is not an ISO-8601 timestamp"),
            )
        }),
        None => match kafka_timestamp {
            Some(ms) => ms.checked_mul(1000).ok_or_else(|| {
                reject(
                    RejectKind::BadTimestamp,
                    format!("no event_timestamp, and the Kafka timestamp {ms} ms is out of range"),
                )
            }),
            None => {
                Err(reject(RejectKind::BadTimestamp, "no event_timestamp and no Kafka timestamp"))
            }
        },
    }
}

fn received_time(value: &Str<'_>) -> Result<Option<i64>, Reject> {
    value
        .as_ref()
        .map(|text| {
            parse_micros(text).ok_or_else(|| {
                reject(
                    RejectKind::BadTimestamp,
                    format!("received_at {text:?} is not an ISO-8601 timestamp"),
                )
            })
        })
        .transpose()
}

// ---------------------------------------------------------------------------------------------
// bid-requests

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
    dooh: Option<IgnoredAny>,
    #[serde(borrow)]
    device: Option<DeviceIn<'a>>,
    #[serde(borrow)]
    user: Option<UserIn<'a>>,
    at: Option<i64>,
    tmax: Option<i64>,
    #[serde(borrow)]
    cur: Option<First<Text<'a>>>,
    regs: Option<RegsIn>,
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
}

pub fn bid_request(
    value: &[u8],
    kafka_timestamp: Option<i64>,
) -> Result<BidRequestRow<'_>, Reject> {
    let text = utf8(value)?;
    let request = match fast::bid_request(text) {
        Some(request) => request,
        None => parse_text(text)?,
    };
    bid_request_row(request, kafka_timestamp)
}

fn bid_request_row(
    r: BidRequestIn<'_>,
    kafka_timestamp: Option<i64>,
) -> Result<BidRequestRow<'_>, Reject> {
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
    let (device_type, device_os, country, region) = match r.device {
        Some(d) => {
            let (country, region) = d.geo.map(|g| (g.country, g.region)).unwrap_or_default();
            (d.devicetype, d.os, country, region)
        }
        None => (None, None, None, None),
    };
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
        publisher_id: site_publisher.or(app_publisher),
        device_type: int32(device_type, "device.devicetype", "device_type")?,
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

// ---------------------------------------------------------------------------------------------
// bid-responses: one row per bid (a no-bid response is one row without bid columns)

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
}

pub fn bid_responses(
    value: &[u8],
    kafka_timestamp: Option<i64>,
) -> Result<Vec<BidResponseRow<'_>>, Reject> {
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

// ---------------------------------------------------------------------------------------------
// impressions and clicks

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
}

pub fn impression(value: &[u8], kafka_timestamp: Option<i64>) -> Result<ImpressionRow<'_>, Reject> {
    let r: ImpressionIn<'_> = parse(value)?;
    Ok(ImpressionRow {
        impression_id: required_id(r.impression_id, "impression_id")?,
        request_id: r.request_id,
        response_id: r.response_id,
        imp_id: r.imp_id,
        bidder_id: r.bidder_id,
        win_price: r.win_price,
        win_currency: r.win_currency,
        creative_id: r.creative_id,
        ad_domain: r.ad_domain,
        event_timestamp: event_time(&r.event_timestamp, kafka_timestamp)?,
        received_at: received_time(&r.received_at)?,
    })
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
        let row = bid_request(SEED.as_bytes(), None).unwrap();
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
        let row = bid_request(json, None).unwrap();
        assert_eq!(row.publisher_id.as_deref(), Some("ap"));
        assert_eq!(row.site_id, None);
        assert_eq!(row.app_bundle.as_deref(), Some("com.x"));
        assert_eq!((row.channel, row.media_type), (Some("app"), Some("native")));
        assert_eq!((row.is_coppa, row.is_gdpr), (Some(true), Some(false)));
    }

    #[test]
    fn the_kafka_timestamp_stands_in_for_a_missing_event_timestamp() {
        let row = bid_request(br#"{"id":"r","imp":[{"id":"1"}]}"#, Some(1_000)).unwrap();
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
            let err = bid_request(value, Some(0)).unwrap_err();
            assert_eq!(err.kind, kind, "{:?}: {err}", String::from_utf8_lossy(value));
        }
        let err =
            bid_request(br#"{"id":"r","imp":[{"id":"1","banner":{"w":3000000000}}]}"#, Some(0))
                .unwrap_err();
        assert_eq!(
            err.to_string(),
            "out_of_range: imp[0].banner.w = 3000000000 does not fit column imp_banner_w (int)"
        );
    }

    #[test]
    fn a_response_gives_a_row_per_bid() {
        let json = br#"{"id":"req","bidid":"resp","cur":"EUR","seatbid":[{"seat":"dsp1","bid":[{"id":"b1","impid":"1","price":1.25,"crid":"c1","adomain":["a.com"]},{"id":"b2","impid":"2","price":0.5,"dealid":"d"}]}],"event_timestamp":"2026-01-01T00:00:00Z"}"#;
        let rows = bid_responses(json, None).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].response_id.as_deref(), Some("resp"));
        assert_eq!(rows[0].ad_domain.as_deref(), Some("a.com"));
        assert_eq!(rows[1].deal_id.as_deref(), Some("d"));
        assert_eq!(rows[1].seat.as_deref(), Some("dsp1"));
        let nobid = bid_responses(br#"{"id":"req","nbr":2}"#, Some(5)).unwrap();
        assert_eq!(nobid.len(), 1);
        assert_eq!(nobid[0].bid_id, None);
    }

    #[test]
    fn impressions_and_clicks_need_their_own_id() {
        let imp = impression(br#"{"impression_id":"i","request_id":"r","win_price":0.42,"event_timestamp":"2026-01-01T00:00:00Z"}"#, None).unwrap();
        assert_eq!(imp.win_price, Some(0.42));
        assert_eq!(
            impression(br#"{"request_id":"r"}"#, Some(0)).unwrap_err().kind,
            RejectKind::MissingId
        );
        let c = click(br#"{"click_id":"c","click_url":"https://x/\u00e9"}"#, Some(0)).unwrap();
        assert_eq!(c.click_url.as_deref(), Some("https://x/\u{e9}"));
    }
}
