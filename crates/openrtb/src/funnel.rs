//! Bidlake's own funnel events that follow a bid response: the win notice and the click.
//!
//! These are not OpenRTB objects. They carry the ids needed to join them back to the request
//! (`request_id`, `imp_id`) and the response (`response_id`, `creative_id`), plus the two
//! timestamps of the wire format: when the event happened and when the platform received it.
//! They travel on the `impressions` and `clicks` topics, keyed by their own id.

use serde::{Deserialize, Serialize};

/// A won auction that turned into a rendered impression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Impression {
    pub impression_id: String,
    pub request_id: String,
    pub response_id: String,
    pub imp_id: String,
    pub bidder_id: String,
    /// Clearing price (CPM), in `win_currency`.
    pub win_price: f64,
    pub win_currency: String,
    pub creative_id: String,
    /// First advertiser domain of the winning bid; bidders may omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ad_domain: Option<String>,
    /// When the impression happened (ISO-8601 UTC, microseconds), as reported by the sender.
    pub event_timestamp: String,
    /// When the platform received the event (ISO-8601 UTC, microseconds).
    pub received_at: String,
}

/// A click on a rendered impression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Click {
    pub click_id: String,
    pub request_id: String,
    pub impression_id: String,
    pub imp_id: String,
    pub bidder_id: String,
    pub creative_id: String,
    /// Landing page the user was sent to.
    pub click_url: String,
    /// When the click happened (ISO-8601 UTC, microseconds), as reported by the sender.
    pub event_timestamp: String,
    /// When the platform received the event (ISO-8601 UTC, microseconds).
    pub received_at: String,
}
