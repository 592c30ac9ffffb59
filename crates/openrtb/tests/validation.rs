//! One test per validation rule: a valid fixture, mutated to break exactly that rule.

mod common;

use std::collections::BTreeSet;

use bidlake_openrtb::{App, BidRequest, Dooh, DurFloors, Rule, Violation, is_alpha3, validate};
use common::{VALID_REQUESTS, parse};

/// The site kitchen sink: valid, and it has every object a rule looks at.
fn base() -> BidRequest {
    parse("kitchen-sink-site.json")
}

/// Asserts that `req` breaks `rule` only, at exactly `paths`.
#[track_caller]
fn assert_only(req: &BidRequest, rule: Rule, paths: &[&str]) {
    let violations = validate(req);
    let others: Vec<&Violation> = violations.iter().filter(|v| v.rule != rule).collect();
    assert!(others.is_empty(), "expected only {rule}, also got {others:#?}");
    let got: BTreeSet<&str> = violations.iter().map(|v| v.path.as_str()).collect();
    let want: BTreeSet<&str> = paths.iter().copied().collect();
    assert_eq!(got, want, "paths reported for {rule}: {violations:#?}");
    assert_eq!(violations.len(), paths.len(), "one violation per path: {violations:#?}");
}

fn device_geo(req: &mut BidRequest) -> &mut bidlake_openrtb::Geo {
    req.device.as_mut().and_then(|d| d.geo.as_mut()).expect("fixture has device.geo")
}

fn user_geo(req: &mut BidRequest) -> &mut bidlake_openrtb::Geo {
    req.user.as_mut().and_then(|u| u.geo.as_mut()).expect("fixture has user.geo")
}

fn video(req: &mut BidRequest) -> &mut bidlake_openrtb::Video {
    req.imp[1].video.as_mut().expect("imp[1] is video")
}

fn audio(req: &mut BidRequest) -> &mut bidlake_openrtb::Audio {
    req.imp[2].audio.as_mut().expect("imp[2] is audio")
}

fn deals(req: &mut BidRequest) -> &mut Vec<bidlake_openrtb::Deal> {
    req.imp[0].pmp.as_mut().and_then(|p| p.deals.as_mut()).expect("imp[0] has deals")
}

fn schain(req: &mut BidRequest) -> &mut bidlake_openrtb::SupplyChain {
    req.source.as_mut().and_then(|s| s.schain.as_mut()).expect("fixture has an schain")
}

#[test]
fn valid_fixtures_report_nothing() {
    for name in VALID_REQUESTS {
        let violations = validate(&parse(name));
        assert!(violations.is_empty(), "{name}: {violations:#?}");
    }
}

#[test]
fn missing_id() {
    let mut req = base();
    req.id.clear();
    assert_only(&req, Rule::MissingId, &["id"]);
}

#[test]
fn no_imp() {
    let mut req = base();
    req.imp.clear();
    assert_only(&req, Rule::NoImp, &["imp"]);
}

#[test]
fn imp_missing_id() {
    let mut req = base();
    req.imp[1].id.clear();
    assert_only(&req, Rule::ImpMissingId, &["imp[1].id"]);
}

#[test]
fn duplicate_imp_id() {
    let mut req = base();
    req.imp[2].id = req.imp[0].id.clone();
    assert_only(&req, Rule::DuplicateImpId, &["imp[2].id"]);
}

#[test]
fn imp_without_media() {
    let mut req = base();
    req.imp[2].audio = None;
    assert_only(&req, Rule::ImpWithoutMedia, &["imp[2]"]);
}

#[test]
fn site_and_app() {
    let mut req = base();
    req.app = Some(App { id: Some("a1".into()), ..App::default() });
    assert_only(&req, Rule::SiteAndApp, &["app"]);

    let mut req = base();
    req.dooh = Some(Dooh::default());
    assert_only(&req, Rule::SiteAndApp, &["dooh"]);

    let mut req: BidRequest = parse("kitchen-sink-app.json");
    req.dooh = Some(Dooh::default());
    assert_only(&req, Rule::SiteAndApp, &["dooh"]);
}

#[test]
fn no_distribution_channel() {
    let mut req = base();
    req.site = None;
    assert_only(&req, Rule::NoDistributionChannel, &[""]);
}

#[test]
fn country_not_alpha3() {
    let mut req = base();
    device_geo(&mut req).country = Some("US".into());
    user_geo(&mut req).country = Some("usa".into());
    assert_only(&req, Rule::CountryNotAlpha3, &["device.geo.country", "user.geo.country"]);
}

#[test]
fn region_invalid() {
    let mut req = base();
    device_geo(&mut req).region = Some(String::new());
    user_geo(&mut req).region = Some("R".repeat(11));
    assert_only(&req, Rule::RegionInvalid, &["device.geo.region", "user.geo.region"]);

    let mut req = base();
    device_geo(&mut req).region = Some("X".repeat(10));
    assert!(validate(&req).is_empty(), "10 characters are still accepted");
}

#[test]
fn currency_invalid() {
    let mut req = base();
    req.cur = Some(vec!["USD".into(), "eur".into()]);
    req.imp[0].bidfloorcur = Some("US$".into());
    deals(&mut req)[0].bidfloorcur = Some("DOLLAR".into());
    assert_only(
        &req,
        Rule::CurrencyInvalid,
        &["cur[1]", "imp[0].bidfloorcur", "imp[0].pmp.deals[0].bidfloorcur"],
    );
}

#[test]
fn negative_bid_floor() {
    let mut req = base();
    req.imp[0].bidfloor = Some(-0.01);
    deals(&mut req)[1].bidfloor = Some(-1.0);
    let deal_floors = deals(&mut req)[0].durfloors.as_mut().expect("deal has durfloors");
    deal_floors[0].bidfloor = Some(-3.0);
    video(&mut req).durfloors.as_mut().expect("video has durfloors")[2].bidfloor = Some(-5.0);
    assert_only(
        &req,
        Rule::NegativeBidFloor,
        &[
            "imp[0].bidfloor",
            "imp[0].pmp.deals[1].bidfloor",
            "imp[0].pmp.deals[0].durfloors[0].bidfloor",
            "imp[1].video.durfloors[2].bidfloor",
        ],
    );
}

#[test]
fn mimes_missing() {
    let mut req = base();
    video(&mut req).mimes = None;
    audio(&mut req).mimes = Some(Vec::new());
    assert_only(&req, Rule::MimesMissing, &["imp[1].video.mimes", "imp[2].audio.mimes"]);
}

#[test]
fn duration_range() {
    let mut req = base();
    video(&mut req).minduration = Some(45);
    audio(&mut req).rqddurs = Some(vec![15, 30]);
    assert_only(&req, Rule::DurationRange, &["imp[1].video.minduration", "imp[2].audio.rqddurs"]);
}

#[test]
fn auction_type() {
    let mut req = base();
    req.at = Some(3);
    deals(&mut req)[1].at = Some(4);
    assert_only(&req, Rule::AuctionType, &["at", "imp[0].pmp.deals[1].at"]);

    let mut req = base();
    req.at = Some(501);
    deals(&mut req)[0].at = Some(500);
    assert!(validate(&req).is_empty(), "exchange-specific codes are accepted");
}

#[test]
fn tmax_invalid() {
    let mut req = base();
    req.tmax = Some(0);
    assert_only(&req, Rule::TmaxInvalid, &["tmax"]);
}

#[test]
fn conflicting_lists() {
    let mut req = base();
    req.bseat = Some(vec!["seat-1".into()]);
    req.wlangb = Some(vec!["en-US".into()]);
    req.bcat = Some(vec!["IAB25".into()]);
    assert_only(&req, Rule::ConflictingLists, &["bseat", "wlangb", "bcat"]);
}

#[test]
fn supply_chain_incomplete() {
    let mut req = base();
    let chain = schain(&mut req);
    chain.ver = None;
    chain.nodes.as_mut().expect("nodes")[1].sid = None;
    chain.nodes.as_mut().expect("nodes")[0].asi = Some(String::new());
    assert_only(
        &req,
        Rule::SupplyChainIncomplete,
        &["source.schain.ver", "source.schain.nodes[0].asi", "source.schain.nodes[1].sid"],
    );

    let mut req = base();
    let chain = schain(&mut req);
    chain.complete = None;
    chain.nodes = None;
    assert_only(
        &req,
        Rule::SupplyChainIncomplete,
        &["source.schain.complete", "source.schain.nodes"],
    );
}

#[test]
fn lat_lon_range() {
    let mut req = base();
    device_geo(&mut req).lat = Some(90.5);
    user_geo(&mut req).lon = Some(-180.01);
    assert_only(&req, Rule::LatLonRange, &["device.geo.lat", "user.geo.lon"]);
}

#[test]
fn flag_value() {
    let mut req = base();
    req.test = Some(2);
    let regs = req.regs.as_mut().expect("fixture has regs");
    regs.coppa = Some(2);
    regs.gdpr = Some(-1);
    req.imp[0].instl = Some(2);
    req.imp[1].secure = Some(3);
    let device = req.device.as_mut().expect("fixture has a device");
    device.dnt = Some(9);
    device.lmt = Some(2);
    assert_only(
        &req,
        Rule::FlagValue,
        &[
            "test",
            "regs.coppa",
            "regs.gdpr",
            "imp[0].instl",
            "imp[1].secure",
            "device.dnt",
            "device.lmt",
        ],
    );
}

#[test]
fn dur_floors_bounds() {
    let mut req = base();
    let floors = video(&mut req).durfloors.as_mut().expect("video has durfloors");
    floors[0] = DurFloors { bidfloor: Some(5.0), ..DurFloors::default() };
    floors[1].mindur = Some(40);
    assert_only(
        &req,
        Rule::DurFloorsBounds,
        &["imp[1].video.durfloors[0]", "imp[1].video.durfloors[1]"],
    );
}

#[test]
fn banner_size() {
    let mut req = base();
    let banner = req.imp[0].banner.as_mut().expect("imp[0] is a banner");
    banner.w = None;
    banner.h = None;
    banner.format = None;
    assert_only(&req, Rule::BannerSize, &["imp[0].banner"]);

    let mut req = base();
    let banner = req.imp[0].banner.as_mut().expect("imp[0] is a banner");
    banner.h = Some(0);
    banner.format.as_mut().expect("banner has formats")[1].w = Some(-320);
    assert_only(&req, Rule::BannerSize, &["imp[0].banner.h", "imp[0].banner.format[1].w"]);
}

#[test]
fn ip_invalid() {
    let mut req = base();
    let device = req.device.as_mut().expect("fixture has a device");
    device.ip = Some("2001:db8::1".into());
    device.ipv6 = Some("2001:db8::zz".into());
    assert_only(&req, Rule::IpInvalid, &["device.ip", "device.ipv6"]);

    let mut req = base();
    req.device.as_mut().expect("device").ip = Some("203.0.113".into());
    assert_only(&req, Rule::IpInvalid, &["device.ip"]);
}

#[test]
fn several_rules_are_all_reported() {
    let mut req = base();
    req.id.clear();
    req.tmax = Some(-5);
    req.bcat = Some(vec!["IAB25".into()]);
    req.imp[1].id.clear();
    video(&mut req).mimes = None;
    device_geo(&mut req).country = Some("DE".into());
    req.device.as_mut().expect("device").ip = Some("999.1.1.1".into());
    req.app = Some(App::default());

    let violations = validate(&req);
    let rules: BTreeSet<Rule> = violations.iter().map(|v| v.rule).collect();
    let expected = BTreeSet::from([
        Rule::MissingId,
        Rule::TmaxInvalid,
        Rule::ConflictingLists,
        Rule::ImpMissingId,
        Rule::MimesMissing,
        Rule::CountryNotAlpha3,
        Rule::IpInvalid,
        Rule::SiteAndApp,
    ]);
    assert_eq!(rules, expected, "{violations:#?}");
    assert_eq!(violations.len(), expected.len(), "{violations:#?}");
}

#[test]
fn empty_request_reports_its_gaps() {
    let req: BidRequest = serde_json::from_str("{}").expect("parses");
    let rules: Vec<Rule> = validate(&req).iter().map(|v| v.rule).collect();
    assert_eq!(rules, [Rule::MissingId, Rule::NoImp, Rule::NoDistributionChannel]);
}

#[test]
fn violation_display_names_the_path() {
    let mut req = base();
    video(&mut req).mimes = None;
    let violations = validate(&req);
    let text = violations[0].to_string();
    assert!(text.starts_with("imp[1].video.mimes: "), "{text}");

    let mut req = base();
    req.site = None;
    let text = validate(&req)[0].to_string();
    assert!(text.starts_with("(request): "), "{text}");
}

#[test]
fn rule_codes_are_unique_kebab_case() {
    let codes: BTreeSet<&str> = Rule::ALL.iter().map(Rule::code).collect();
    assert_eq!(codes.len(), Rule::ALL.len());
    for code in codes {
        assert!(
            code.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !code.starts_with('-')
                && !code.ends_with('-'),
            "{code}"
        );
    }
    assert_eq!(Rule::SiteAndApp.code(), "site-and-app");
    assert_eq!(Rule::CountryNotAlpha3.to_string(), "country-not-alpha3");
}

#[test]
fn alpha3_shape() {
    assert!(is_alpha3("USA"));
    assert!(is_alpha3("EUR"));
    for bad in ["US", "usa", "USAA", "U5A", "", "ÜSA"] {
        assert!(!is_alpha3(bad), "{bad:?}");
    }
}
