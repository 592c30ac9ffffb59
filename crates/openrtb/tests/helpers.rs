//! The convenience accessors that read 2.5 and 2.6 signals alike.

mod common;

use bidlake_openrtb::{Banner, BidRequest, Format, Regs, User};
use common::parse;
use serde_json::json;

fn regs(value: serde_json::Value) -> Regs {
    serde_json::from_value(value).expect("regs parse")
}

#[test]
fn gdpr_applies_reads_both_versions() {
    let v25: BidRequest = parse("openrtb25-gdpr.json");
    assert_eq!(v25.regs.as_ref().and_then(Regs::gdpr_applies), Some(true));
    let site: BidRequest = parse("kitchen-sink-site.json");
    assert_eq!(site.regs.as_ref().and_then(Regs::gdpr_applies), Some(true));
    let app: BidRequest = parse("kitchen-sink-app.json");
    assert_eq!(app.regs.as_ref().and_then(Regs::gdpr_applies), Some(false));
    let dooh: BidRequest = parse("kitchen-sink-dooh.json");
    assert_eq!(dooh.regs.as_ref().and_then(Regs::gdpr_applies), None);
}

#[test]
fn gdpr_applies_edge_cases() {
    assert_eq!(regs(json!({})).gdpr_applies(), None);
    assert_eq!(regs(json!({"ext": {"gdpr": 0}})).gdpr_applies(), Some(false));
    assert_eq!(regs(json!({"gdpr": 0, "ext": {"gdpr": 1}})).gdpr_applies(), Some(true));
    assert_eq!(regs(json!({"gdpr": 1, "ext": {"gdpr": 0}})).gdpr_applies(), Some(true));
    assert_eq!(regs(json!({"ext": {"gdpr": true}})).gdpr_applies(), Some(true));
    assert_eq!(regs(json!({"ext": {"gdpr": "1"}})).gdpr_applies(), Some(true));
    assert_eq!(regs(json!({"ext": {"gdpr": "maybe"}})).gdpr_applies(), None);
    assert_eq!(regs(json!({"gdpr": 7})).gdpr_applies(), None);
}

#[test]
fn coppa_applies_only_on_one() {
    assert!(regs(json!({"coppa": 1})).coppa_applies());
    assert!(!regs(json!({"coppa": 0})).coppa_applies());
    assert!(!regs(json!({})).coppa_applies());
    let site: BidRequest = parse("kitchen-sink-site.json");
    assert!(!site.regs.as_ref().expect("regs").coppa_applies());
}

#[test]
fn consent_string_reads_both_versions() {
    let v25: BidRequest = parse("openrtb25-gdpr.json");
    assert_eq!(
        v25.user.as_ref().and_then(User::consent_string),
        Some("COwJDpQOwJDpQIAAAAENAPCgAAAAAAAAAAAAAAAAAAAA")
    );
    let site: BidRequest = parse("kitchen-sink-site.json");
    assert_eq!(
        site.user.as_ref().and_then(User::consent_string),
        Some("CPXxRfAPXxRfAAfKABENB-CgAAAAAAAAAAYgAAAAAAAA")
    );
    let both: User =
        serde_json::from_value(json!({"consent": "new", "ext": {"consent": "old"}})).expect("user");
    assert_eq!(both.consent_string(), Some("new"));
    assert_eq!(User::default().consent_string(), None);
}

#[test]
fn publisher_follows_the_distribution_channel() {
    let site: BidRequest = parse("kitchen-sink-site.json");
    assert_eq!(site.publisher().and_then(|p| p.id.as_deref()), Some("pub-8953"));
    let app: BidRequest = parse("kitchen-sink-app.json");
    assert_eq!(app.publisher().and_then(|p| p.id.as_deref()), Some("pub-agltb3B1"));
    let dooh: BidRequest = parse("kitchen-sink-dooh.json");
    assert_eq!(dooh.publisher().and_then(|p| p.id.as_deref()), Some("pub-ooh-3"));
    assert!(BidRequest::default().publisher().is_none());
}

#[test]
fn banner_size_prefers_w_h_then_first_format() {
    let simple: BidRequest = parse("simple-banner.json");
    assert_eq!(simple.imp[0].banner.as_ref().and_then(Banner::size), Some((300, 250)));
    let app: BidRequest = parse("kitchen-sink-app.json");
    assert_eq!(app.imp[0].banner.as_ref().and_then(Banner::size), Some((320, 480)));

    let ratio_only = Banner {
        format: Some(vec![Format { wratio: Some(16), hratio: Some(9), ..Format::default() }]),
        ..Banner::default()
    };
    assert_eq!(ratio_only.size(), None);
    let width_only = Banner {
        w: Some(300),
        format: Some(vec![Format { w: Some(728), h: Some(90), ..Format::default() }]),
        ..Banner::default()
    };
    assert_eq!(width_only.size(), Some((728, 90)));
    assert_eq!(Banner::default().size(), None);
}
