//! OpenRTB 2.6 for bidlake: the bid request and bid response model, the funnel events that
//! follow a response (impressions and clicks), and semantic validation of requests.
//!
//! # Model conventions
//!
//! - One struct per OpenRTB 2.6 object, fields named exactly like the JSON keys (`type` and
//!   `ref` are raw identifiers), so the code reads like the specification.
//! - Every field is an `Option` and absent fields are not written back, so parsing and
//!   re-serialising a request reproduces it. The exceptions are the identifiers every consumer
//!   needs (`BidRequest::id`, `BidRequest::imp`, `Imp::id`, and in responses the ids and
//!   `Bid::price`), which default to empty/zero instead: a request that lacks them still parses
//!   and [`validate()`] names the problem, rather than serde failing with a less useful error.
//! - Integers are `i64` and floats `f64`, flags and enumeration codes included: exchanges send
//!   out-of-range and vendor-specific (500+) codes, and a strict type would reject the whole
//!   request over one of them. Range checks belong to [`validate()`].
//! - `ext` objects are kept verbatim as [`serde_json::Value`]; 2.5-era signals that lived there
//!   (`regs.ext.gdpr`, `user.ext.consent`) are read through helpers such as
//!   [`Regs::gdpr_applies`] and [`User::consent_string`].
//!
//! # Unknown fields are ignored
//!
//! Nothing denies unknown fields or collects them: OpenRTB evolves by adding fields (2.6 alone
//! had several dated revisions), and a stream ingester must not drop traffic because a sender
//! is newer than we are. This is also how the two top-level fields of bidlake's wire format,
//! `event_timestamp` and `received_at`, are handled: they are not OpenRTB, the model skips
//! them, and the ingest side reads them separately.

pub mod funnel;
pub mod request;
pub mod response;
pub mod validate;

pub use funnel::{Click, Impression};
pub use request::{
    App, Audio, Banner, BidRequest, BrandVersion, Channel, Content, Data, Deal, Device, Dooh,
    DurFloors, Eid, Format, Geo, Imp, Metric, Native, Network, Pmp, Producer, Publisher, Qty,
    RefSettings, Refresh, Regs, Segment, Site, Source, SupplyChain, SupplyChainNode, Uid, User,
    UserAgent, Video,
};
pub use response::{Bid, BidResponse, SeatBid};
pub use validate::{Rule, Violation, is_alpha3, validate};
