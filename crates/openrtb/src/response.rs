//! The OpenRTB 2.6 bid response, as returned by a bidder.
//!
//! Same conventions as [`crate::request`]: optional fields are `Option`, and the identifiers
//! and price that any consumer needs default to empty/zero rather than failing the parse.

use serde::{Deserialize, Serialize};

/// A bidder's answer to one [`crate::BidRequest`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BidResponse {
    /// Echoes `BidRequest::id`.
    #[serde(default)]
    pub id: String,
    /// Bids grouped by buyer seat; empty for a no-bid, which then omits the key on output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seatbid: Vec<SeatBid>,
    /// Bidder-side response id, useful for logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidid: Option<String>,
    /// ISO-4217 currency of every price in the response; absent means USD.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cur: Option<String>,
    /// Opaque data for the exchange to store in its cookie.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customdata: Option<String>,
    /// Reason for not bidding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbr: Option<i64>,
    /// Bidder-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// The bids of one buyer seat.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SeatBid {
    #[serde(default)]
    pub bid: Vec<Bid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
    /// 1 if the exchange must win all of these bids or none of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<i64>,
    /// Bidder-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// One offer for one impression.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Bid {
    /// Bidder-assigned id, for logging.
    #[serde(default)]
    pub id: String,
    /// The `Imp::id` this bid is for.
    #[serde(default)]
    pub impid: String,
    /// CPM offered, in the response currency.
    #[serde(default)]
    pub price: f64,
    /// Win notice URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nurl: Option<String>,
    /// Billing notice URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burl: Option<String>,
    /// Loss notice URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lurl: Option<String>,
    /// Ad markup, when not fetched through `nurl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adid: Option<String>,
    /// Advertiser domains, checked against `BidRequest::badv`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adomain: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iurl: Option<String>,
    /// Campaign id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cid: Option<String>,
    /// Creative id, the key creative audits are done on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tactic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cattax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attr: Option<Vec<i64>>,
    /// API frameworks the markup needs (2.6 list form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apis: Option<Vec<i64>>,
    /// Single API framework, the deprecated pre-`apis` form.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qagmediarating: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub langb: Option<String>,
    /// The `Deal::id` this bid is made under, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dealid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wratio: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hratio: Option<i64>,
    /// Seconds the bid stays valid between auction and impression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Creative duration in seconds (video/audio), for duration floors and pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dur: Option<i64>,
    /// Markup type: 1 banner, 2 video, 3 audio, 4 native.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtype: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slotinpod: Option<i64>,
    /// Bidder-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}
