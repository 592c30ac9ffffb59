//! Decode, the part every table shares: why a record cannot become a row ([`Reject`]), the
//! accepted event times, and the helpers each table's decoder is made of. Each table parses its
//! records with typed serde structs (in its own module) that borrow strings from the record and
//! skip every field no column needs, so unknown or extra fields never fail a record.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use crate::timestamp::parse_micros;

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

pub(crate) fn reject(kind: RejectKind, detail: impl Into<String>) -> Reject {
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

pub(crate) fn utf8(value: &[u8]) -> Result<&str, Reject> {
    std::str::from_utf8(value)
        .map_err(|e| reject(RejectKind::NotUtf8, format!("the value is not UTF-8 ({e})")))
}

/// Parses a record's value as a JSON object of type `T`, classifying failures.
pub(crate) fn parse<'a, T: Deserialize<'a>>(value: &'a [u8]) -> Result<T, Reject> {
    parse_text(utf8(value)?)
}

pub(crate) fn parse_text<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, Reject> {
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

pub type Str<'a> = Option<Text<'a>>;

/// The rest of a lenient visitor: any other value is skipped and read as `None`.
macro_rules! lenient_others {
    ($value:ty) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<$value, E> {
            Ok(None)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<$value, E> {
            Ok(None)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<$value, E> {
            Ok(None)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<$value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<$value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
    };
}

/// A string field read only to enrich the row (`device.ip`, `imp.bidfloorcur`): a value of
/// another type gives `None` instead of rejecting the record, which never depended on it.
pub(crate) fn lenient_text<'de: 'a, 'a, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Str<'a>, D::Error> {
    struct LenientText;
    impl<'de> Visitor<'de> for LenientText {
        type Value = Str<'de>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
            Ok(Some(Text(Cow::Borrowed(v))))
        }
        fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Str<'de>, E> {
            Ok(Some(Text(Cow::Owned(v.to_owned()))))
        }
        fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Str<'de>, E> {
            Ok(Some(Text(Cow::Owned(v))))
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Str<'de>, E> {
            Ok(None)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Str<'de>, E> {
            Ok(None)
        }
        lenient_others!(Str<'de>);
    }
    deserializer.deserialize_any(LenientText)
}

/// An integer flag read only to enrich the row (`test`): see [`lenient_text`].
pub(crate) fn lenient_int<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<i64>, D::Error> {
    struct LenientInt;
    impl<'de> Visitor<'de> for LenientInt {
        type Value = Option<i64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Option<i64>, E> {
            Ok(Some(v))
        }
        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Option<i64>, E> {
            Ok(i64::try_from(v).ok())
        }
        fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Option<i64>, E> {
            Ok(None)
        }
        lenient_others!(Option<i64>);
    }
    deserializer.deserialize_any(LenientInt)
}

pub(crate) fn int32(value: Option<i64>, path: &str, column: &str) -> Result<Option<i32>, Reject> {
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

pub(crate) fn required_id<'a>(value: Str<'a>, path: &str) -> Result<Text<'a>, Reject> {
    match value {
        Some(id) if !id.trim().is_empty() => Ok(id),
        Some(_) => Err(reject(RejectKind::MissingId, format!("`{path}` is empty"))),
        None => Err(reject(RejectKind::MissingId, format!("`{path}` is missing"))),
    }
}

/// Event time: the record's `event_timestamp`, else the Kafka record's timestamp.
pub(crate) fn event_time(value: &Str<'_>, kafka_timestamp: Option<i64>) -> Result<i64, Reject> {
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

pub(crate) fn received_time(value: &Str<'_>) -> Result<Option<i64>, Reject> {
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
