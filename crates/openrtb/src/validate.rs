//! Semantic checks of a parsed [`BidRequest`].
//!
//! Parsing is deliberately lenient, so that bad traffic still reaches the lake (or the
//! dead-letter queue) with a precise reason. [`validate`] supplies that reason: it walks the
//! whole request and reports every rule broken, each with the JSON path of the offending
//! value, so one pass tells the sender everything it has to fix.

use std::collections::HashSet;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::request::{
    Audio, Banner, BidRequest, Content, Deal, Device, DurFloors, Geo, Imp, Source, Video,
};

/// A rule of the OpenRTB 2.6 specification (or of bidlake's reading of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rule {
    /// The request `id` is empty or missing.
    MissingId,
    /// The request offers no impression.
    NoImp,
    /// An impression has an empty or missing `id`.
    ImpMissingId,
    /// Two impressions share an `id`, so bids could not be matched to them.
    DuplicateImpId,
    /// An impression has none of banner, video, audio or native.
    ImpWithoutMedia,
    /// More than one of `site`, `app` and `dooh`.
    SiteAndApp,
    /// None of `site`, `app` and `dooh`.
    NoDistributionChannel,
    /// A geo `country` that is not ISO-3166-1 alpha-3 (a frequent alpha-2 mistake).
    CountryNotAlpha3,
    /// A geo `region` that is empty or implausibly long.
    RegionInvalid,
    /// A currency that is not three uppercase letters.
    CurrencyInvalid,
    /// A negative floor price.
    NegativeBidFloor,
    /// Video or audio without any accepted MIME type.
    MimesMissing,
    /// Inconsistent duration constraints.
    DurationRange,
    /// An auction type code outside the defined ones.
    AuctionType,
    /// A `tmax` that leaves no time to bid.
    TmaxInvalid,
    /// Both halves of an allow/block list pair.
    ConflictingLists,
    /// A supply chain lacking a required part.
    SupplyChainIncomplete,
    /// A latitude or longitude off the globe.
    LatLonRange,
    /// A 0/1 flag with another value.
    FlagValue,
    /// A duration floor without any bound, or with crossed bounds.
    DurFloorsBounds,
    /// A banner without a usable size.
    BannerSize,
    /// A device address that does not parse as its IP version.
    IpInvalid,
}

impl Rule {
    /// Every rule, in declaration order.
    pub const ALL: [Rule; 22] = [
        Rule::MissingId,
        Rule::NoImp,
        Rule::ImpMissingId,
        Rule::DuplicateImpId,
        Rule::ImpWithoutMedia,
        Rule::SiteAndApp,
        Rule::NoDistributionChannel,
        Rule::CountryNotAlpha3,
        Rule::RegionInvalid,
        Rule::CurrencyInvalid,
        Rule::NegativeBidFloor,
        Rule::MimesMissing,
        Rule::DurationRange,
        Rule::AuctionType,
        Rule::TmaxInvalid,
        Rule::ConflictingLists,
        Rule::SupplyChainIncomplete,
        Rule::LatLonRange,
        Rule::FlagValue,
        Rule::DurFloorsBounds,
        Rule::BannerSize,
        Rule::IpInvalid,
    ];

    /// A stable kebab-case identifier, safe to store and to alert on.
    pub fn code(&self) -> &'static str {
        match self {
            Rule::MissingId => "missing-id",
            Rule::NoImp => "no-imp",
            Rule::ImpMissingId => "imp-missing-id",
            Rule::DuplicateImpId => "duplicate-imp-id",
            Rule::ImpWithoutMedia => "imp-without-media",
            Rule::SiteAndApp => "site-and-app",
            Rule::NoDistributionChannel => "no-distribution-channel",
            Rule::CountryNotAlpha3 => "country-not-alpha3",
            Rule::RegionInvalid => "region-invalid",
            Rule::CurrencyInvalid => "currency-invalid",
            Rule::NegativeBidFloor => "negative-bid-floor",
            Rule::MimesMissing => "mimes-missing",
            Rule::DurationRange => "duration-range",
            Rule::AuctionType => "auction-type",
            Rule::TmaxInvalid => "tmax-invalid",
            Rule::ConflictingLists => "conflicting-lists",
            Rule::SupplyChainIncomplete => "supply-chain-incomplete",
            Rule::LatLonRange => "lat-lon-range",
            Rule::FlagValue => "flag-value",
            Rule::DurFloorsBounds => "dur-floors-bounds",
            Rule::BannerSize => "banner-size",
            Rule::IpInvalid => "ip-invalid",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One broken rule, located by the JSON path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Violation {
    pub rule: Rule,
    /// Path such as `imp[1].video.mimes`; empty when the request as a whole is at fault.
    pub path: String,
    /// Human-readable explanation, including the offending value where there is one.
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = if self.path.is_empty() { "(request)" } else { &self.path };
        write!(f, "{path}: {}", self.detail)
    }
}

impl std::error::Error for Violation {}

/// Whether `s` is exactly three uppercase ASCII letters, the shape of both ISO-3166-1 alpha-3
/// country codes and ISO-4217 currency codes.
pub fn is_alpha3(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// Checks `req` against every [`Rule`] and returns all violations, in request order.
///
/// An empty result means the request is usable; it is not a full schema validation (enum
/// codes, for instance, are not checked against AdCOM lists, which keep growing).
pub fn validate(req: &BidRequest) -> Vec<Violation> {
    let mut c = Checker::default();
    c.request(req);
    c.out
}

#[derive(Default)]
struct Checker {
    out: Vec<Violation>,
}

impl Checker {
    fn push(&mut self, rule: Rule, path: impl Into<String>, detail: impl Into<String>) {
        self.out.push(Violation { rule, path: path.into(), detail: detail.into() });
    }

    fn flag(&mut self, path: impl fmt::Display, field: &str, value: Option<i64>) {
        if let Some(v) = value
            && v != 0
            && v != 1
        {
            self.push(Rule::FlagValue, join(path, field), format!("flag must be 0 or 1, got {v}"));
        }
    }

    fn currency(&mut self, path: String, value: &str) {
        if !is_alpha3(value) {
            self.push(
                Rule::CurrencyInvalid,
                path,
                format!("{value:?} is not an ISO-4217 code (3 uppercase letters)"),
            );
        }
    }

    fn floor(&mut self, path: String, value: Option<f64>) {
        if let Some(v) = value
            && v < 0.0
        {
            self.push(Rule::NegativeBidFloor, path, format!("floor must not be negative, got {v}"));
        }
    }

    fn conflict(&mut self, allow: &str, block: &str, both: bool) {
        if both {
            self.push(
                Rule::ConflictingLists,
                block,
                format!("`{allow}` and `{block}` must not be sent together"),
            );
        }
    }

    fn request(&mut self, req: &BidRequest) {
        if req.id.is_empty() {
            self.push(Rule::MissingId, "id", "request id is missing or empty");
        }
        if req.imp.is_empty() {
            self.push(Rule::NoImp, "imp", "request offers no impression");
        }

        let channels = [
            ("site", req.site.is_some()),
            ("app", req.app.is_some()),
            ("dooh", req.dooh.is_some()),
        ];
        let present: Vec<&str> = channels.iter().filter(|(_, p)| *p).map(|(n, _)| *n).collect();
        match present.as_slice() {
            [] => self.push(
                Rule::NoDistributionChannel,
                "",
                "one of `site`, `app` or `dooh` is required",
            ),
            [_] => {}
            [.., last] => self.push(
                Rule::SiteAndApp,
                *last,
                format!(
                    "only one of `site`, `app`, `dooh` may be sent, got {}",
                    present.join(" + ")
                ),
            ),
        }

        self.flag("", "test", req.test);
        self.flag("", "allimps", req.allimps);
        if let Some(at) = req.at
            && !(at == 1 || at == 2 || at >= 500)
        {
            self.push(
                Rule::AuctionType,
                "at",
                format!("auction type must be 1, 2 or >= 500, got {at}"),
            );
        }
        if let Some(tmax) = req.tmax
            && tmax <= 0
        {
            self.push(Rule::TmaxInvalid, "tmax", format!("tmax must be positive, got {tmax}"));
        }
        for (i, cur) in req.cur.iter().flatten().enumerate() {
            self.currency(format!("cur[{i}]"), cur);
        }
        self.conflict("wseat", "bseat", req.wseat.is_some() && req.bseat.is_some());
        self.conflict("wlang", "wlangb", req.wlang.is_some() && req.wlangb.is_some());
        self.conflict("acat", "bcat", req.acat.is_some() && req.bcat.is_some());

        if let Some(source) = &req.source {
            self.source(source);
        }
        if let Some(regs) = &req.regs {
            self.flag("regs", "coppa", regs.coppa);
            self.flag("regs", "gdpr", regs.gdpr);
        }

        let mut seen = HashSet::new();
        for (i, imp) in req.imp.iter().enumerate() {
            let path = format!("imp[{i}]");
            if imp.id.is_empty() {
                self.push(
                    Rule::ImpMissingId,
                    join(&path, "id"),
                    "impression id is missing or empty",
                );
            } else if !seen.insert(imp.id.as_str()) {
                self.push(
                    Rule::DuplicateImpId,
                    join(&path, "id"),
                    format!("impression id {:?} is used more than once", imp.id),
                );
            }
            self.imp(&path, imp);
        }

        if let Some(site) = &req.site {
            self.flag("site", "mobile", site.mobile);
            self.flag("site", "privacypolicy", site.privacypolicy);
            if let Some(content) = &site.content {
                self.content("site.content", content);
            }
        }
        if let Some(app) = &req.app {
            self.flag("app", "privacypolicy", app.privacypolicy);
            self.flag("app", "paid", app.paid);
            if let Some(content) = &app.content {
                self.content("app.content", content);
            }
        }
        if let Some(content) = req.dooh.as_ref().and_then(|d| d.content.as_ref()) {
            self.content("dooh.content", content);
        }
        if let Some(device) = &req.device {
            self.device(device);
        }
        if let Some(geo) = req.user.as_ref().and_then(|u| u.geo.as_ref()) {
            self.geo("user.geo", geo);
        }
    }

    fn source(&mut self, source: &Source) {
        self.flag("source", "fd", source.fd);
        let Some(schain) = &source.schain else { return };
        let path = "source.schain";
        if schain.complete.is_none() {
            self.push(
                Rule::SupplyChainIncomplete,
                join(path, "complete"),
                "`complete` is required",
            );
        }
        self.flag(path, "complete", schain.complete);
        match &schain.nodes {
            None => {
                self.push(Rule::SupplyChainIncomplete, join(path, "nodes"), "`nodes` is required")
            }
            Some(nodes) if nodes.is_empty() => {
                self.push(Rule::SupplyChainIncomplete, join(path, "nodes"), "`nodes` is empty")
            }
            Some(_) => {}
        }
        if schain.ver.as_deref().is_none_or(str::is_empty) {
            self.push(Rule::SupplyChainIncomplete, join(path, "ver"), "`ver` is required");
        }
        for (k, node) in schain.nodes.iter().flatten().enumerate() {
            let node_path = format!("{path}.nodes[{k}]");
            for (field, value) in [("asi", &node.asi), ("sid", &node.sid)] {
                if value.as_deref().is_none_or(str::is_empty) {
                    self.push(
                        Rule::SupplyChainIncomplete,
                        join(&node_path, field),
                        format!("node `{field}` is required"),
                    );
                }
            }
            self.flag(&node_path, "hp", node.hp);
        }
    }

    fn imp(&mut self, path: &str, imp: &Imp) {
        if !imp.has_media() {
            self.push(
                Rule::ImpWithoutMedia,
                path,
                "impression has none of `banner`, `video`, `audio`, `native`",
            );
        }
        self.floor(join(path, "bidfloor"), imp.bidfloor);
        if let Some(cur) = &imp.bidfloorcur {
            self.currency(join(path, "bidfloorcur"), cur);
        }
        self.flag(path, "instl", imp.instl);
        self.flag(path, "secure", imp.secure);
        self.flag(path, "clickbrowser", imp.clickbrowser);
        self.flag(path, "rwdd", imp.rwdd);

        if let Some(banner) = &imp.banner {
            self.banner(&join(path, "banner"), banner);
        }
        if let Some(video) = &imp.video {
            self.video(&join(path, "video"), video);
        }
        if let Some(audio) = &imp.audio {
            self.audio(&join(path, "audio"), audio);
        }
        if let Some(pmp) = &imp.pmp {
            let pmp_path = join(path, "pmp");
            self.flag(&pmp_path, "private_auction", pmp.private_auction);
            for (j, deal) in pmp.deals.iter().flatten().enumerate() {
                self.deal(&format!("{pmp_path}.deals[{j}]"), deal);
            }
        }
    }

    fn banner(&mut self, path: &str, banner: &Banner) {
        let has_wh = banner.w.is_some() && banner.h.is_some();
        let has_format = banner.format.as_ref().is_some_and(|f| !f.is_empty());
        if !has_wh && !has_format {
            self.push(Rule::BannerSize, path, "banner needs `w` and `h` or a non-empty `format`");
        }
        self.positive(path, "w", banner.w);
        self.positive(path, "h", banner.h);
        for (k, format) in banner.format.iter().flatten().enumerate() {
            let format_path = format!("{path}.format[{k}]");
            self.positive(&format_path, "w", format.w);
            self.positive(&format_path, "h", format.h);
            self.positive(&format_path, "wratio", format.wratio);
            self.positive(&format_path, "hratio", format.hratio);
        }
        self.flag(path, "topframe", banner.topframe);
    }

    fn positive(&mut self, path: &str, field: &str, value: Option<i64>) {
        if let Some(v) = value
            && v <= 0
        {
            self.push(
                Rule::BannerSize,
                join(path, field),
                format!("size must be positive, got {v}"),
            );
        }
    }

    fn video(&mut self, path: &str, video: &Video) {
        self.mimes(path, video.mimes.as_deref());
        self.durations(path, video.minduration, video.maxduration, video.rqddurs.is_some());
        self.flag(path, "skip", video.skip);
        self.flag(path, "boxingallowed", video.boxingallowed);
        self.dur_floors(path, video.durfloors.as_deref());
    }

    fn audio(&mut self, path: &str, audio: &Audio) {
        self.mimes(path, audio.mimes.as_deref());
        self.durations(path, audio.minduration, audio.maxduration, audio.rqddurs.is_some());
        self.flag(path, "stitched", audio.stitched);
        self.dur_floors(path, audio.durfloors.as_deref());
    }

    fn mimes(&mut self, path: &str, mimes: Option<&[String]>) {
        if mimes.is_none_or(<[String]>::is_empty) {
            self.push(
                Rule::MimesMissing,
                join(path, "mimes"),
                "at least one MIME type is required",
            );
        }
    }

    fn durations(&mut self, path: &str, min: Option<i64>, max: Option<i64>, rqddurs: bool) {
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            self.push(
                Rule::DurationRange,
                join(path, "minduration"),
                format!("minduration {min} exceeds maxduration {max}"),
            );
        }
        if rqddurs && (min.is_some() || max.is_some()) {
            self.push(
                Rule::DurationRange,
                join(path, "rqddurs"),
                "`rqddurs` must not be sent with `minduration`/`maxduration`",
            );
        }
    }

    fn dur_floors(&mut self, path: &str, floors: Option<&[DurFloors]>) {
        for (k, floor) in floors.into_iter().flatten().enumerate() {
            let floor_path = format!("{path}.durfloors[{k}]");
            match (floor.mindur, floor.maxdur) {
                (None, None) => self.push(
                    Rule::DurFloorsBounds,
                    floor_path.as_str(),
                    "duration floor needs `mindur` or `maxdur`",
                ),
                (Some(min), Some(max)) if min > max => self.push(
                    Rule::DurFloorsBounds,
                    floor_path.as_str(),
                    format!("mindur {min} exceeds maxdur {max}"),
                ),
                _ => {}
            }
            self.floor(join(&floor_path, "bidfloor"), floor.bidfloor);
        }
    }

    fn deal(&mut self, path: &str, deal: &Deal) {
        self.floor(join(path, "bidfloor"), deal.bidfloor);
        if let Some(cur) = &deal.bidfloorcur {
            self.currency(join(path, "bidfloorcur"), cur);
        }
        if let Some(at) = deal.at
            && !(matches!(at, 1..=3) || at >= 500)
        {
            self.push(
                Rule::AuctionType,
                join(path, "at"),
                format!("deal auction type must be 1, 2, 3 or >= 500, got {at}"),
            );
        }
        self.flag(path, "guar", deal.guar);
        self.dur_floors(path, deal.durfloors.as_deref());
    }

    fn content(&mut self, path: &str, content: &Content) {
        self.flag(path, "sourcerelationship", content.sourcerelationship);
        self.flag(path, "embeddable", content.embeddable);
    }

    fn device(&mut self, device: &Device) {
        let path = "device";
        self.flag(path, "dnt", device.dnt);
        self.flag(path, "lmt", device.lmt);
        self.flag(path, "js", device.js);
        self.flag(path, "geofetch", device.geofetch);
        if let Some(sua) = &device.sua {
            self.flag("device.sua", "mobile", sua.mobile);
        }
        if let Some(ip) = &device.ip
            && ip.parse::<Ipv4Addr>().is_err()
        {
            self.push(Rule::IpInvalid, "device.ip", format!("{ip:?} is not an IPv4 address"));
        }
        if let Some(ip) = &device.ipv6
            && ip.parse::<Ipv6Addr>().is_err()
        {
            self.push(Rule::IpInvalid, "device.ipv6", format!("{ip:?} is not an IPv6 address"));
        }
        if let Some(geo) = &device.geo {
            self.geo("device.geo", geo);
        }
    }

    fn geo(&mut self, path: &str, geo: &Geo) {
        if let Some(lat) = geo.lat
            && !(-90.0..=90.0).contains(&lat)
        {
            self.push(
                Rule::LatLonRange,
                join(path, "lat"),
                format!("latitude {lat} is outside -90..90"),
            );
        }
        if let Some(lon) = geo.lon
            && !(-180.0..=180.0).contains(&lon)
        {
            self.push(
                Rule::LatLonRange,
                join(path, "lon"),
                format!("longitude {lon} is outside -180..180"),
            );
        }
        if let Some(country) = &geo.country
            && !is_alpha3(country)
        {
            self.push(
                Rule::CountryNotAlpha3,
                join(path, "country"),
                format!("{country:?} is not an ISO-3166-1 alpha-3 code"),
            );
        }
        if let Some(region) = &geo.region
            && (region.is_empty() || region.chars().count() > 10)
        {
            self.push(
                Rule::RegionInvalid,
                join(path, "region"),
                format!("{region:?} is not a plausible ISO-3166-2 region"),
            );
        }
    }
}

/// Appends `field` to a JSON path; the root path is empty.
fn join(path: impl fmt::Display, field: &str) -> String {
    let path = path.to_string();
    if path.is_empty() { field.to_owned() } else { format!("{path}.{field}") }
}
