//! Every fixture survives parse → serialise unchanged, and unknown input is dropped cleanly.

mod common;

use bidlake_openrtb::{BidRequest, BidResponse, Click, Impression};
use common::{assert_round_trip, fixture_value, json_diff, parse};
use serde_json::Value;

#[test]
fn kitchen_sink_site_round_trips() {
    assert_round_trip::<BidRequest>("kitchen-sink-site.json");
}

#[test]
fn kitchen_sink_app_round_trips() {
    assert_round_trip::<BidRequest>("kitchen-sink-app.json");
}

#[test]
fn kitchen_sink_dooh_round_trips() {
    assert_round_trip::<BidRequest>("kitchen-sink-dooh.json");
}

#[test]
fn classic_spec_shapes_round_trip() {
    for name in [
        "simple-banner.json",
        "expandable-creative.json",
        "mobile-app.json",
        "video.json",
        "pmp-direct-deal.json",
        "native.json",
    ] {
        assert_round_trip::<BidRequest>(name);
    }
}

#[test]
fn openrtb25_request_round_trips() {
    assert_round_trip::<BidRequest>("openrtb25-gdpr.json");
}

#[test]
fn bid_responses_round_trip() {
    assert_round_trip::<BidResponse>("bid-response.json");
    assert_round_trip::<BidResponse>("no-bid-response.json");
    let response: BidResponse = parse("bid-response.json");
    assert_eq!(response.seatbid.len(), 2);
    assert_eq!(response.seatbid[0].bid.len(), 2);
    assert_eq!(response.seatbid[1].seat.as_deref(), Some("seat-9"));
}

#[test]
fn bid_response_fixture_uses_every_bid_field() {
    let fields = [
        "id",
        "impid",
        "price",
        "nurl",
        "burl",
        "lurl",
        "adm",
        "adid",
        "adomain",
        "bundle",
        "iurl",
        "cid",
        "crid",
        "tactic",
        "cattax",
        "cat",
        "attr",
        "apis",
        "api",
        "protocol",
        "qagmediarating",
        "language",
        "langb",
        "dealid",
        "w",
        "h",
        "wratio",
        "hratio",
        "exp",
        "dur",
        "mtype",
        "slotinpod",
        "ext",
    ];
    let value = fixture_value("bid-response.json");
    let bids: Vec<&Value> = value["seatbid"]
        .as_array()
        .expect("seatbid array")
        .iter()
        .flat_map(|s| s["bid"].as_array().expect("bid array"))
        .collect();
    let missing: Vec<&str> =
        fields.into_iter().filter(|f| !bids.iter().any(|b| b.get(f).is_some())).collect();
    assert!(missing.is_empty(), "bid fields absent from the fixture: {missing:?}");
}

#[test]
fn funnel_events_round_trip() {
    assert_round_trip::<Impression>("impression.json");
    assert_round_trip::<Click>("click.json");
}

#[test]
fn impression_ad_domain_is_optional_but_the_rest_is_required() {
    let mut value = fixture_value("impression.json");
    let object = value.as_object_mut().expect("impression is an object");
    object.remove("ad_domain");
    let impression: Impression =
        serde_json::from_value(value.clone()).expect("ad_domain may be missing");
    assert_eq!(impression.ad_domain, None);
    assert_eq!(serde_json::to_value(&impression).expect("serialises"), value);

    let mut value = fixture_value("click.json");
    value.as_object_mut().expect("click is an object").remove("click_url");
    assert!(serde_json::from_value::<Click>(value).is_err(), "click_url is required");
}

#[test]
fn missing_required_ids_still_parse() {
    let request: BidRequest = serde_json::from_str(r#"{"imp":[{"banner":{"w":1,"h":1}}]}"#)
        .expect("a request without ids parses");
    assert_eq!(request.id, "");
    assert_eq!(request.imp[0].id, "");
    let request: BidRequest = serde_json::from_str("{}").expect("an empty object parses");
    assert!(request.imp.is_empty());
    let response: BidResponse =
        serde_json::from_str(r#"{"seatbid":[{"bid":[{}]}]}"#).expect("a bare bid parses");
    assert_eq!(response.seatbid[0].bid[0].price, 0.0);
}

/// Keys in `unknown-fields.json` that are not part of the model.
fn is_unknown_key(key: &str) -> bool {
    key.starts_with("future_")
        || matches!(
            key,
            "event_timestamp" | "received_at" | "x_top_level" | "wmax" | "xff" | "iptr"
        )
}

fn strip_unknown(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !is_unknown_key(k));
            map.values_mut().for_each(strip_unknown);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_unknown),
        _ => {}
    }
}

#[test]
fn unknown_fields_at_every_level_are_ignored() {
    let original = fixture_value("unknown-fields.json");
    let mut known = original.clone();
    strip_unknown(&mut known);
    assert_ne!(original, known, "the fixture must contain unknown fields");

    let request: BidRequest = parse("unknown-fields.json");
    let expected: BidRequest = serde_json::from_value(known.clone()).expect("known part parses");
    assert_eq!(request, expected, "unknown fields must not change the model");

    let written = serde_json::to_value(&request).expect("serialises");
    let diffs = json_diff(&known, &written);
    assert!(diffs.is_empty(), "known fields must round trip:\n{}", diffs.join("\n"));
    assert_eq!(request.device.as_ref().and_then(|d| d.ip.as_deref()), Some("192.0.2.1"));
}

#[test]
fn wire_timestamps_are_not_part_of_the_model() {
    let request: BidRequest = parse("unknown-fields.json");
    let written = serde_json::to_value(&request).expect("serialises");
    assert!(written.get("event_timestamp").is_none());
    assert!(written.get("received_at").is_none());
}

#[test]
fn ext_is_kept_verbatim() {
    let request: BidRequest = parse("kitchen-sink-site.json");
    let ext = request.ext.as_ref().expect("request ext");
    assert_eq!(ext["prebid"]["channel"]["name"], "web");
    let imp_ext = request.imp[0].ext.as_ref().expect("imp ext");
    assert_eq!(imp_ext["gpid"], "/1234/homepage#top");
}
