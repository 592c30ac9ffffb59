//! The OpenRTB 2.6 bid request tree.
//!
//! One struct per object of the specification, with field names identical to the JSON keys.
//! Every field is optional except the few that validation needs to inspect even when missing
//! (`BidRequest::id`, `BidRequest::imp`, `Imp::id`), which default to empty instead: a
//! malformed request still parses, and [`crate::validate()`] explains what is wrong with it.

use serde::{Deserialize, Serialize};

/// Top-level OpenRTB 2.6 bid request: one auction offering one or more impressions.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BidRequest {
    /// Exchange-assigned auction id; empty when missing so that validation can report it.
    #[serde(default)]
    pub id: String,
    /// Impressions on offer; empty when missing so that validation can report it.
    #[serde(default)]
    pub imp: Vec<Imp>,
    /// Set for website inventory; mutually exclusive with `app` and `dooh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<Site>,
    /// Set for app inventory; mutually exclusive with `site` and `dooh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<App>,
    /// Set for digital out-of-home screens; mutually exclusive with `site` and `app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dooh: Option<Dooh>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<Device>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// 1 marks a non-billable test auction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<i64>,
    /// Auction type: 1 first price, 2 second price plus (the default), 500+ exchange-specific.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    /// Bid deadline in milliseconds, network latency included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmax: Option<i64>,
    /// Seat allow list; never sent together with `bseat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wseat: Option<Vec<String>>,
    /// Seat block list; never sent together with `wseat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bseat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allimps: Option<i64>,
    /// ISO-4217 currencies accepted for bids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cur: Option<Vec<String>>,
    /// ISO-639-1 creative languages allowed; exclusive with `wlangb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wlang: Option<Vec<String>>,
    /// BCP-47 creative languages allowed; exclusive with `wlang`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wlangb: Option<Vec<String>>,
    /// Allowed advertiser categories; exclusive with `bcat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acat: Option<Vec<String>>,
    /// Blocked advertiser categories; exclusive with `acat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bcat: Option<Vec<String>>,
    /// Taxonomy of `acat`/`bcat`; absent means Content Taxonomy 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cattax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub badv: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bapp: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regs: Option<Regs>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Where the request came from and who takes the final sale decision.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Source {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd: Option<i64>,
    /// Transaction id shared by every exchange that sees this auction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pchain: Option<String>,
    /// 2.6 location of the supply chain (2.5 sent it in `ext.schain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schain: Option<SupplyChain>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// The sellers and resellers the inventory passed through (sellers.json / SupplyChain spec).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SupplyChain {
    /// 1 if the chain goes all the way back to the inventory owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub complete: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<SupplyChainNode>>,
    /// Spec version, "1.0" in practice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// One hop of the supply chain.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SupplyChainNode {
    /// Domain of the advertising system that bidders connect to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asi: Option<String>,
    /// Seller account id within `asi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// 1 if this hop takes part in the payment flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hp: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Legal regimes in force; see the helpers for 2.5-compatible reads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Regs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coppa: Option<i64>,
    /// 1 applies, 0 does not, absent unknown (2.5 sent it in `ext.gdpr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gdpr: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub us_privacy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpp_sid: Option<Vec<i64>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// One ad slot on offer; carries at least one media object.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Imp {
    /// Unique within the request; empty when missing so that validation can report it.
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<Vec<Metric>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub banner: Option<Banner>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<Video>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio: Option<Audio>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<Native>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pmp: Option<Pmp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub displaymanager: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub displaymanagerver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instl: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tagid: Option<String>,
    /// CPM floor in `bidfloorcur`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidfloor: Option<f64>,
    /// Defaults to "USD" when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidfloorcur: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clickbrowser: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secure: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iframebuster: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rwdd: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssai: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// DOOH audience multiplier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qty: Option<Qty>,
    /// Planned display time in epoch milliseconds (DOOH); a float in the spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dt: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<Refresh>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// An exchange-measured metric (viewability, click-through rate, ...) for the impression.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Metric {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Display slot; also used for video/audio companion ads.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Banner {
    /// Accepted sizes; preferred over `w`/`h`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<Vec<Format>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub btype: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battr: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mimes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topframe: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expdir: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Companion rendering mode (only meaningful inside `companionad`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcm: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// In-stream or out-stream video slot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Video {
    /// Required by the spec; checked by validation, not by parsing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mimes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minduration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxduration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startdelay: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxseq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poddur: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podseq: Option<i64>,
    /// Exact durations; exclusive with `minduration`/`maxduration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rqddurs: Option<Vec<i64>>,
    /// Deprecated in favour of `plcmt`, still common in traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plcmt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linearity: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipmin: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipafter: Option<i64>,
    /// Deprecated in favour of `slotinpod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slotinpod: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mincpmpersec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battr: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxextended: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minbitrate: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxbitrate: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boxingallowed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbackmethod: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub playbackend: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pos: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companionad: Option<Vec<Banner>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companiontype: Option<Vec<i64>>,
    /// Provisional in 2.6; codes kept as integers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poddedupe: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durfloors: Option<Vec<DurFloors>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Audio slot (streaming radio, podcasts, ...).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Audio {
    /// Required by the spec; checked by validation, not by parsing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mimes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minduration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxduration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poddur: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocols: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startdelay: Option<i64>,
    /// Exact durations; exclusive with `minduration`/`maxduration`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rqddurs: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub podseq: Option<i64>,
    /// Deprecated in favour of `slotinpod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slotinpod: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mincpmpersec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battr: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxextended: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minbitrate: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxbitrate: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companionad: Option<Vec<Banner>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub companiontype: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxseq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stitched: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvol: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durfloors: Option<Vec<DurFloors>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Native slot; the asset request is an opaque JSON string defined by the Native Ads spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Native {
    /// Native Ads request document, still encoded as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub battr: Option<Vec<i64>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// One accepted banner size, either absolute (`w`/`h`) or as a ratio.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Format {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wratio: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hratio: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wmin: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Private marketplace terms of an impression.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Pmp {
    /// 1 restricts bidding to the listed deals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_auction: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deals: Option<Vec<Deal>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// One direct deal; its terms override the impression's.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Deal {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidfloor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidfloorcur: Option<String>,
    /// Overrides the request `at`; 3 means `bidfloor` is the fixed deal price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wseat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wadomain: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guar: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mincpmpersec: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durfloors: Option<Vec<DurFloors>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Website inventory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Site {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cattax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sectioncat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagecat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacypolicy: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<Publisher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kwarray: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventorypartnerdomain: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Non-browser application inventory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct App {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Store id (package name or numeric App Store id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storeurl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cattax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sectioncat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagecat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub privacypolicy: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<Publisher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kwarray: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventorypartnerdomain: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// The seller of the site, app or screen.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Publisher {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cattax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// What the user is watching, listening to or reading next to the ad.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Content {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub episode: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artist: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genre: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub genres: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub album: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isrc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<Producer>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cattax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prodq: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contentrating: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userrating: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qagmediarating: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kwarray: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livestream: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sourcerelationship: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub len: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub langb: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embeddable: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<Data>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub firstbroadcast: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Producer of the content, when it differs from the publisher.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Producer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cattax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cat: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// The device the ad will be shown on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Device {
    /// Current location of the device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dnt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lmt: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ua: Option<String>,
    /// Structured user agent (client hints); preferred over parsing `ua`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sua: Option<UserAgent>,
    /// IPv4 address, possibly truncated by the exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devicetype: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub make: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub osv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hwv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub w: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ppi: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pxratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geofetch: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flashver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub langb: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mccmnc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connectiontype: Option<i64>,
    /// Advertising id, unhashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ifa: Option<String>,
    /// Deprecated hashed ids: still parsed so 2.5 traffic keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub didsha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub didmd5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpidsha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpidmd5: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macsha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub macmd5: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// A location: the device's current one or the user's home.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Geo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
    /// Location source: 1 GPS, 2 IP lookup, 3 user provided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r#type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accuracy: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lastfix: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipservice: Option<i64>,
    /// ISO-3166-1 alpha-3 (e.g. "USA"), not alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regionfips104: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metro: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zip: Option<String>,
    /// Minutes from UTC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utcoffset: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// The audience member; identifiers and consent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyeruid: Option<String>,
    /// Deprecated in 2.6, still present in older traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yob: Option<i64>,
    /// Deprecated in 2.6, still present in older traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gender: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kwarray: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customdata: Option<String>,
    /// Home location, not the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<Geo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<Data>>,
    /// TCF consent string (2.5 sent it in `ext.consent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eids: Option<Vec<Eid>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Audience or content data from one data provider.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Data {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub segment: Option<Vec<Segment>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// One data point from a data provider.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Segment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// TV-style network the content is distributed on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Network {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Channel within a network the content is distributed on.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Channel {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Extended identifiers from one id source (the JSON objects of `user.eids`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Eid {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inserter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matcher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mm: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uids: Option<Vec<Uid>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// One identifier of an [`Eid`] source.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Uid {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Agent type: 1 browser/device, 2 in-app device id, 3 person-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub atype: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Structured user agent, typically from User-Agent Client Hints.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct UserAgent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browsers: Option<Vec<BrandVersion>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<BrandVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mobile: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitness: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// A browser or platform name with its version components.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BrandVersion {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<Vec<String>>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// How many people see one play of the ad (DOOH); bought impressions scale by `multiplier`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Qty {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sourcetype: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Digital out-of-home screen inventory (JSON key `dooh`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Dooh {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Venue type ids in the `venuetypetax` taxonomy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venuetype: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venuetypetax: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<Publisher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Content>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// How the slot refreshes itself.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Refresh {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refsettings: Option<Vec<RefSettings>>,
    /// Refreshes since the page loaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// One refresh trigger of a slot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RefSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reftype: Option<i64>,
    /// Minimum seconds between refreshes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minint: Option<i64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

/// Floor for creatives in a duration range; one bound may be open.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DurFloors {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mindur: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxdur: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bidfloor: Option<f64>,
    /// Exchange-specific extensions, kept verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext: Option<serde_json::Value>,
}

impl BidRequest {
    /// The seller, wherever the distribution channel carries it.
    pub fn publisher(&self) -> Option<&Publisher> {
        self.site
            .as_ref()
            .and_then(|s| s.publisher.as_ref())
            .or_else(|| self.app.as_ref().and_then(|a| a.publisher.as_ref()))
            .or_else(|| self.dooh.as_ref().and_then(|d| d.publisher.as_ref()))
    }
}

impl Regs {
    /// Whether GDPR applies, reading the 2.6 field and the 2.5 `ext.gdpr` alike.
    ///
    /// If the two disagree the answer is `true`: treating a request as regulated is the
    /// safe mistake. `None` means the exchange did not say.
    pub fn gdpr_applies(&self) -> Option<bool> {
        let ext = self.ext.as_ref().and_then(|e| e.get("gdpr")).and_then(lenient_flag);
        match (self.gdpr, ext) {
            (Some(1), _) | (_, Some(1)) => Some(true),
            (Some(0), _) | (_, Some(0)) => Some(false),
            _ => None,
        }
    }

    /// Whether the request is flagged as directed at children (COPPA).
    pub fn coppa_applies(&self) -> bool {
        self.coppa == Some(1)
    }
}

impl User {
    /// The TCF consent string, from the 2.6 field or else the 2.5 `ext.consent`.
    pub fn consent_string(&self) -> Option<&str> {
        self.consent.as_deref().or_else(|| {
            self.ext.as_ref().and_then(|e| e.get("consent")).and_then(serde_json::Value::as_str)
        })
    }
}

impl Banner {
    /// The slot size: explicit `w`/`h`, else those of the first `format` entry.
    pub fn size(&self) -> Option<(i64, i64)> {
        match (self.w, self.h) {
            (Some(w), Some(h)) => Some((w, h)),
            _ => self.format.as_deref()?.first().and_then(|f| Some((f.w?, f.h?))),
        }
    }
}

impl Imp {
    /// Whether any media object (banner, video, audio or native) is present.
    pub fn has_media(&self) -> bool {
        self.banner.is_some()
            || self.video.is_some()
            || self.audio.is_some()
            || self.native.is_some()
    }
}

/// Reads a 0/1 flag from an extension value; 2.5-era senders use numbers, booleans and
/// numeric strings interchangeably.
fn lenient_flag(v: &serde_json::Value) -> Option<i64> {
    match v {
        serde_json::Value::Number(n) => {
            n.as_i64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64))
        }
        serde_json::Value::Bool(b) => Some(i64::from(*b)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
