//! One OpenRTB 2.6 bid request, written as JSON, plus the facts about it that its funnel needs.

use crate::catalog::{self, City, Country, DeviceProfile, Inventory};
use crate::clock::{Micros, TimestampFormatter};
use crate::json::{Arr, Fields, Obj};
use crate::rng::{Dice, Id, Weighted};

/// The weighted tables, built once per generator, with the fields that depend only on a table
/// entry (a city, a device profile, a site, an app) rendered once.
#[derive(Debug)]
pub struct Tables {
    countries: Weighted<Country>,
    /// By country and city: `device.geo`'s country, region, metro, city and UTC offset.
    cities: Vec<Vec<Fields>>,
    inventory: Weighted<Inventory>,
    web_devices: Devices,
    app_devices: Devices,
    ctv_devices: Devices,
    dooh_devices: Devices,
    sites: Vec<Site>,
    /// By app index: the fields of `app` that do not change from request to request. iOS and
    /// Android builds of an app differ in bundle and store URL.
    ios_apps: Vec<[Fields; 2]>,
    android_apps: Vec<[Fields; 2]>,
    desktop_banners: Weighted<(i64, i64)>,
    mobile_banners: Weighted<(i64, i64)>,
    dooh_sizes: Weighted<(i64, i64)>,
    pub(crate) bidders: Weighted<&'static str>,
}

impl Default for Tables {
    fn default() -> Self {
        let countries = Weighted::new(catalog::COUNTRIES);
        let cities = countries
            .items()
            .map(|country| country.cities.iter().map(|city| city_fields(country, city)).collect())
            .collect();
        Self {
            countries,
            cities,
            inventory: Weighted::new(catalog::INVENTORY),
            web_devices: Devices::new(catalog::WEB_DEVICES),
            app_devices: Devices::new(catalog::APP_DEVICES),
            ctv_devices: Devices::new(catalog::CTV_DEVICES),
            dooh_devices: Devices::new(catalog::DOOH_DEVICES),
            sites: (0..catalog::SITE_COUNT).map(Site::new).collect(),
            ios_apps: (0..catalog::APP_COUNT)
                .map(|index| [false, true].map(|test| app_fields(index, true, test)))
                .collect(),
            android_apps: (0..catalog::APP_COUNT)
                .map(|index| [false, true].map(|test| app_fields(index, false, test)))
                .collect(),
            desktop_banners: Weighted::new(catalog::DESKTOP_BANNERS),
            mobile_banners: Weighted::new(catalog::MOBILE_BANNERS),
            dooh_sizes: Weighted::new(catalog::DOOH_SIZES),
            bidders: Weighted::new(catalog::BIDDERS),
        }
    }
}

/// Device profiles with their fixed `device` fields rendered.
#[derive(Debug)]
struct Devices {
    profiles: Weighted<DeviceProfile>,
    fields: Vec<Fields>,
}

impl Devices {
    fn new(profiles: &'static [(DeviceProfile, u32)]) -> Self {
        let profiles = Weighted::new(profiles);
        let fields = profiles.items().map(device_fields).collect();
        Self { profiles, fields }
    }

    fn sample(&self, dice: &mut Dice) -> (&'static DeviceProfile, &Fields) {
        let index = self.profiles.sample_index(dice);
        (self.profiles.get(index), &self.fields[index])
    }
}

/// A site of the exchange: its fixed fields, and the address its page URLs start with.
#[derive(Debug)]
struct Site {
    /// As a real publisher's site, and as a test publisher's.
    fields: [Fields; 2],
    /// `https://www.<domain>/<section>`
    section_url: Box<str>,
}

/// The kind of ad an impression offers (and the `mtype` of a bid on it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Banner = 1,
    Video = 2,
    Audio = 3,
    Native = 4,
}

/// What a bidder answering the request needs to know about the impression it bids on.
#[derive(Debug, Clone, Copy)]
pub struct ImpFacts {
    /// `imp.id`: "1", "2", ...
    pub number: i64,
    pub media: Media,
    pub bidfloor: f64,
    pub size: Option<(i64, i64)>,
    /// A deal in the impression's `pmp`: (id, deal floor, deal auction type).
    pub deal: Option<(&'static str, f64, i64)>,
}

/// The facts about a written request that its funnel (response, impression, click) builds on.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts {
    pub id: Id,
    pub at: i64,
    pub tmax: i64,
    pub currency: &'static str,
    /// The impression a bidder would answer (chosen at random among the request's imps).
    pub imp: ImpFacts,
}

/// Shares of traffic that a pipeline converts or filters: the generator puts them in on purpose.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrafficShares {
    /// Requests priced in EUR, GBP or JPY instead of USD.
    pub foreign_currency: f64,
    /// Requests from a test publisher (`publisher.id` starting with `test-`).
    pub test_publisher: f64,
    /// Requests whose `device.ip` is a private (RFC 1918) address.
    pub private_ip: f64,
}

impl Default for TrafficShares {
    fn default() -> Self {
        Self { foreign_currency: 0.10, test_publisher: 0.05, private_ip: 0.02 }
    }
}

/// The currencies besides USD the simulated exchange trades in.
const FOREIGN_CURRENCIES: [&str; 3] = ["EUR", "GBP", "JPY"];

/// Units of `currency` per US dollar, at the simulated exchange's fixed rates (prices are drawn
/// in USD and quoted in the request's currency).
pub(crate) fn units_per_usd(currency: &str) -> f64 {
    match currency {
        "EUR" => 0.86,
        "GBP" => 0.75,
        "JPY" => 152.0,
        _ => 1.0,
    }
}

/// Deal ids of the simulated exchange's private marketplace.
static DEAL_IDS: &[&str] = &[
    "DX-NW-1001",
    "DX-NW-1002",
    "DX-BF-2001",
    "DX-CB-3001",
    "DX-CB-3002",
    "DX-HC-4001",
    "PG-MR-5001",
    "PG-OR-6001",
    "DX-QT-7001",
    "DX-SF-8001",
];

/// Writes one bid request, with `event_timestamp` and `received_at`, to `out`.
pub fn write_bid_request(
    dice: &mut Dice,
    tables: &Tables,
    traffic: &TrafficShares,
    timestamps: &mut TimestampFormatter,
    event_at: Micros,
    received_at: Micros,
    out: &mut Vec<u8>,
) -> RequestFacts {
    let country_index = tables.countries.sample_index(dice);
    let country = tables.countries.get(country_index);
    let city_index = dice.int(0, country.cities.len() as i64 - 1) as usize;
    let inventory = *tables.inventory.sample(dice);
    let (device, device_fields) = match inventory {
        Inventory::Site => tables.web_devices.sample(dice),
        Inventory::App => tables.app_devices.sample(dice),
        Inventory::Ctv => tables.ctv_devices.sample(dice),
        Inventory::Dooh => tables.dooh_devices.sample(dice),
    };
    let ctx = Context {
        country,
        city: &country.cities[city_index],
        city_fields: &tables.cities[country_index][city_index],
        inventory,
        device,
        device_fields,
        // Child-directed apps and sites are a small but real share of traffic.
        coppa: inventory != Inventory::Dooh && dice.chance(0.015),
        test_publisher: dice.chance(traffic.test_publisher),
        private_ip: dice.chance(traffic.private_ip),
        tier1: matches!(
            country.code,
            "USA"
                | "CAN"
                | "GBR"
                | "AUS"
                | "DEU"
                | "FRA"
                | "JPN"
                | "CHE"
                | "NLD"
                | "SWE"
                | "NOR"
                | "DNK"
        ),
    };
    let id = dice.uuid();
    // Most exchanges clear in USD; some trade in the local currency where it is one of theirs.
    let currency = if dice.chance(traffic.foreign_currency) {
        match country.currency {
            local @ ("EUR" | "GBP" | "JPY") => local,
            _ => dice.pick(&FOREIGN_CURRENCIES),
        }
    } else {
        "USD"
    };
    let at = if dice.chance(0.85) { 1 } else { 2 };
    let tmax = match inventory {
        Inventory::Ctv | Inventory::Dooh => dice.pick(&[500, 800, 1000]),
        _ => dice.pick(&[80, 100, 120, 150, 150, 200, 200, 250, 300, 300, 500, 1000]),
    };
    let imp_count = match (inventory, dice.int(0, 99)) {
        (Inventory::Site, 0..=69) | (Inventory::App | Inventory::Dooh, 0..=91) => 1,
        (Inventory::Ctv, n) => 1 + n % 3, // ad pods: several slots per break
        (_, 0..=89) => 2,
        _ => dice.int(3, 4),
    };
    let chosen = dice.int(1, imp_count);

    let mut req = Obj::begin(out);
    req.ascii("id", id.as_bytes());
    let mut imps = req.arr("imp");
    let mut facts = None;
    for number in 1..=imp_count {
        let imp = write_imp(dice, tables, &ctx, number, currency, &mut imps);
        if number == chosen {
            facts = Some(imp);
        }
    }
    imps.end();
    match inventory {
        Inventory::Site => write_site(dice, tables, &ctx, &mut req),
        Inventory::App => write_app(dice, tables, &ctx, &mut req),
        Inventory::Ctv => write_ctv_app(dice, &ctx, &mut req),
        Inventory::Dooh => write_dooh(dice, &ctx, &mut req),
    }
    write_device(dice, &ctx, &mut req);
    if inventory != Inventory::Dooh {
        write_user(dice, &ctx, &mut req);
    }
    if dice.chance(0.5) {
        req.int("test", i64::from(dice.chance(0.001)));
    }
    req.int("at", at).int("tmax", tmax).strs("cur", &[currency]);
    if dice.chance(0.05) {
        req.int("allimps", 0);
    }
    if dice.chance(0.5) {
        let n = dice.int(2, 5) as usize;
        let start = dice.int(0, 3) as usize;
        let bcat = &catalog::BLOCKED_CATEGORIES[start..start + n];
        req.strs("bcat", bcat);
    }
    if dice.chance(0.2) {
        req.strs("badv", catalog::BLOCKED_ADVERTISERS);
    }
    if inventory == Inventory::App && dice.chance(0.05) {
        req.raw("bapp", r#"["com.casino.slots","com.quickloans.app"]"#);
    }
    if dice.chance(0.03) {
        req.strs("wlang", &[country.language]);
    }
    write_source(dice, &id, &mut req);
    write_regs(dice, &ctx, &mut req);
    if dice.chance(0.1) {
        req.raw("ext", r#"{"exchange":{"name":"bidlake-sim","region":"us-east"}}"#);
    }
    req.ascii("event_timestamp", timestamps.format(event_at));
    req.ascii("received_at", timestamps.format(received_at));
    req.end();

    RequestFacts {
        id,
        at,
        tmax,
        currency,
        imp: facts.unwrap_or(ImpFacts {
            number: 1,
            media: Media::Banner,
            bidfloor: 0.0,
            size: None,
            deal: None,
        }),
    }
}

/// What every part of one request agrees on.
struct Context<'t> {
    country: &'static Country,
    city: &'static City,
    city_fields: &'t Fields,
    inventory: Inventory,
    device: &'static DeviceProfile,
    device_fields: &'t Fields,
    coppa: bool,
    /// The publisher is a test account (`test-` id).
    test_publisher: bool,
    /// `device.ip` is a private address (a misconfigured server-side integration).
    private_ip: bool,
    /// Markets with the highest prices.
    tier1: bool,
}

impl Context<'_> {
    fn is_mobile(&self) -> bool {
        matches!(self.device.devicetype, 1 | 4 | 5)
    }
}

fn cents(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn write_imp(
    dice: &mut Dice,
    tables: &Tables,
    ctx: &Context<'_>,
    number: i64,
    currency: &'static str,
    imps: &mut Arr<'_>,
) -> ImpFacts {
    let media = match ctx.inventory {
        Inventory::Ctv => Media::Video,
        Inventory::Dooh => {
            if dice.chance(0.3) {
                Media::Video
            } else {
                Media::Banner
            }
        }
        Inventory::Site => match dice.int(0, 99) {
            0..=74 => Media::Banner,
            75..=86 => Media::Video,
            _ => Media::Native,
        },
        Inventory::App => match dice.int(0, 99) {
            0..=54 => Media::Banner,
            55..=79 => Media::Video,
            80..=94 => Media::Native,
            _ => Media::Audio,
        },
    };
    // Floors are log-normal per media type; CTV and video sell at many times display's price.
    let (median, sigma) = match (ctx.inventory, media) {
        (Inventory::Ctv, _) => (18.0, 0.4),
        (Inventory::Dooh, _) => (6.0, 0.5),
        (_, Media::Banner) => (0.35, 0.9),
        (_, Media::Video) => (3.5, 0.6),
        (_, Media::Native) => (0.9, 0.7),
        (_, Media::Audio) => (2.0, 0.5),
    };
    let market = if ctx.tier1 { 1.0 } else { 0.4 };
    let bidfloor = if dice.chance(0.9) {
        cents(dice.lognormal(median * market, sigma) * units_per_usd(currency)).max(0.01)
    } else {
        0.0
    };
    let interstitial = ctx.inventory == Inventory::App && dice.chance(0.15);

    let mut imp = imps.obj();
    imp.str_with("id", |t| {
        t.int(number);
    });
    let mut size = None;
    match media {
        Media::Banner => size = Some(write_banner(dice, tables, ctx, interstitial, &mut imp)),
        Media::Video => write_video(dice, ctx, interstitial, &mut imp),
        Media::Audio => write_audio(dice, &mut imp),
        Media::Native => {
            imp.obj("native")
                .raw("request", catalog::NATIVE_REQUEST_JSON)
                .str("ver", "1.2")
                .raw("api", "[3,5,7]")
                .raw("battr", "[1,3,8]");
        }
    }
    match ctx.inventory {
        Inventory::Site => {
            imp.str_with("tagid", |t| {
                t.push("div-gpt-ad-").int(number);
            });
        }
        _ => {
            imp.str_with("tagid", |t| {
                t.push(ctx.device.os).push("-").int(media as i64).push("-").int(number);
            });
        }
    }
    if matches!(ctx.inventory, Inventory::App) {
        let (manager, version) = dice.pick(catalog::DISPLAY_MANAGERS);
        imp.str("displaymanager", manager).str("displaymanagerver", version);
        imp.int("clickbrowser", i64::from(dice.chance(0.3)));
        imp.int("exp", 3600);
    }
    if interstitial {
        imp.int("instl", 1);
        if media == Media::Video {
            imp.int("rwdd", i64::from(dice.chance(0.5)));
        }
    }
    if bidfloor > 0.0 {
        imp.decimal("bidfloor", bidfloor, 2).str("bidfloorcur", currency);
    }
    imp.int("secure", i64::from(dice.chance(0.97)));
    if ctx.inventory == Inventory::Ctv {
        imp.int("ssai", dice.int(0, 2));
    }
    if ctx.inventory == Inventory::Site && media == Media::Banner && dice.chance(0.05) {
        let mut refresh = imp.obj("refresh");
        let mut settings = refresh.arr("refsettings");
        settings.obj().int("reftype", 3).int("minint", 30);
        settings.end();
        refresh.int("count", dice.int(1, 6));
        refresh.end();
    }
    if dice.chance(0.25) {
        let mut metrics = imp.arr("metric");
        metrics
            .obj()
            .str("type", "viewability")
            .decimal("value", dice.float(0.35, 0.92), 2)
            .str("vendor", dice.pick(&["ias.com", "doubleverify.com", "moat.com"]));
        metrics.end();
    }
    if ctx.inventory == Inventory::Dooh {
        imp.obj("qty")
            .decimal("multiplier", dice.lognormal(12.0, 0.6), 2)
            .int("sourcetype", 1)
            .str("vendor", "geopath.org");
    }
    let mut deal = None;
    if dice.chance(0.15) {
        let id = dice.pick(DEAL_IDS);
        let deal_floor = cents(bidfloor.max(0.5) * dice.float(1.2, 3.0));
        let deal_at = dice.pick(&[1, 1, 3]);
        let mut pmp = imp.obj("pmp");
        pmp.int("private_auction", i64::from(dice.chance(0.3)));
        let mut deals = pmp.arr("deals");
        let mut d = deals.obj();
        d.str("id", id)
            .decimal("bidfloor", deal_floor, 2)
            .str("bidfloorcur", currency)
            .int("at", deal_at);
        if dice.chance(0.4) {
            d.strs("wseat", &[dice.pick(&["dsp-northwind", "dsp-cobalt", "dsp-orchid"])]);
        }
        if dice.chance(0.2) {
            d.int("guar", 1);
        }
        d.end();
        deals.end();
        pmp.end();
        deal = Some((id, deal_floor, deal_at));
    }
    if ctx.inventory == Inventory::Site && dice.chance(0.3) {
        imp.raw("ext", r#"{"gpid":"/1234/home/top"}"#);
    }
    imp.end();
    ImpFacts { number, media, bidfloor, size, deal }
}

fn write_banner(
    dice: &mut Dice,
    tables: &Tables,
    ctx: &Context<'_>,
    interstitial: bool,
    imp: &mut Obj<'_>,
) -> (i64, i64) {
    let size = if interstitial {
        (320, 480)
    } else {
        *match ctx.inventory {
            Inventory::Dooh => &tables.dooh_sizes,
            _ if ctx.device.devicetype == 2 => &tables.desktop_banners,
            _ => &tables.mobile_banners,
        }
        .sample(dice)
    };
    let mut banner = imp.obj("banner");
    // Exchanges send the size as w/h, as a format list, or both.
    let style = dice.int(0, 9);
    if style < 8 {
        let mut formats = banner.arr("format");
        formats.obj().int("w", size.0).int("h", size.1);
        if let Some(alt) = catalog::alternate_size(size).filter(|_| dice.chance(0.4)) {
            formats.obj().int("w", alt.0).int("h", alt.1);
        }
        formats.end();
    }
    if style >= 3 {
        banner.int("w", size.0).int("h", size.1);
    }
    banner.int("pos", if interstitial { 7 } else { dice.pick(&[0, 1, 1, 3]) });
    if dice.chance(0.5) {
        banner.raw("btype", "[4]").raw("battr", "[1,3,8,9,10,14]");
    }
    if ctx.inventory == Inventory::App {
        banner.raw("api", "[3,5,6,7]");
    } else if dice.chance(0.3) {
        banner.raw("api", "[7]");
    }
    if ctx.inventory == Inventory::Site && dice.chance(0.2) {
        banner.int("topframe", 1).raw("expdir", "[2,4]");
    }
    banner.end();
    size
}

fn write_video(dice: &mut Dice, ctx: &Context<'_>, interstitial: bool, imp: &mut Obj<'_>) {
    let ctv = ctx.inventory == Inventory::Ctv;
    let mut video = imp.obj("video");
    if ctv {
        video.raw("mimes", r#"["video/mp4","video/webm","application/x-mpegURL"]"#);
    } else {
        video.raw("mimes", r#"["video/mp4","video/webm","application/javascript"]"#);
    }
    if ctv && dice.chance(0.4) {
        video.raw("rqddurs", "[15,30]");
    } else {
        video.int("minduration", 5).int("maxduration", dice.pick(&[15, 30, 30, 60]));
    }
    video.raw("protocols", "[2,3,5,6,7,8]");
    let (w, h) = if ctv { (1920, 1080) } else { dice.pick(&[(640, 360), (640, 480), (1280, 720)]) };
    video.int("w", w).int("h", h);
    // 1 instream, 3 interstitial, 4 standalone (outstream); AdCOM plcmt subtypes.
    let plcmt = match ctx.inventory {
        Inventory::Ctv => 1,
        Inventory::App if interstitial => 3,
        _ => dice.pick(&[1, 1, 4]),
    };
    video.int("plcmt", plcmt);
    video.int("startdelay", if plcmt == 1 { dice.pick(&[0, 0, -1, -2]) } else { 0 });
    video.int("linearity", 1);
    if !ctv && dice.chance(0.6) {
        video.int("skip", 1).int("skipmin", 15).int("skipafter", 5);
    } else {
        video.int("skip", 0);
    }
    video.raw("playbackmethod", if ctv { "[1]" } else { "[2]" });
    video.raw("delivery", "[2]");
    video.raw("api", if ctv { "[7]" } else { "[2,7]" });
    video.int("pos", if interstitial { 7 } else { 1 });
    video.int("boxingallowed", 1).int("minbitrate", 300).int("maxbitrate", 6000);
    if ctv {
        video
            .str_with("podid", |t| {
                t.push("pod-").int(dice.int(1, 6));
            })
            .int("podseq", dice.pick(&[0, 1, -1]))
            .int("slotinpod", 0)
            .int("maxseq", 6)
            .int("poddur", 120)
            .int("playbackend", 1);
        if dice.chance(0.2) {
            let mut floors = video.arr("durfloors");
            floors.obj().int("maxdur", 15).decimal("bidfloor", 12.0, 2);
            floors.obj().int("mindur", 16).int("maxdur", 30).decimal("bidfloor", 20.0, 2);
            floors.end();
        }
    } else if plcmt == 1 && dice.chance(0.2) {
        let mut companions = video.arr("companionad");
        companions.obj().str("id", "1").int("w", 300).int("h", 250).int("vcm", 1);
        companions.end();
        video.raw("companiontype", "[1,2]");
    }
    video.end();
}

fn write_audio(dice: &mut Dice, imp: &mut Obj<'_>) {
    let mut audio = imp.obj("audio");
    audio
        .raw("mimes", r#"["audio/mp4","audio/mpeg","audio/ogg"]"#)
        .int("minduration", 15)
        .int("maxduration", 30)
        .raw("protocols", "[2,3,7]")
        .int("startdelay", 0)
        .int("feed", dice.pick(&[1, 3]))
        .int("stitched", i64::from(dice.chance(0.5)))
        .int("nvol", 1)
        .raw("delivery", "[1]")
        .int("maxseq", 3)
        .int("poddur", 60)
        .raw("companiontype", "[1]");
    audio.end();
}

/// A site's or app's two name words and top-level domain, from its index in the exchange.
fn property_name(index: usize) -> (&'static str, &'static str, &'static str) {
    let words = catalog::NAME_WORDS.len();
    let nouns = catalog::NAME_NOUNS.len();
    (
        catalog::NAME_WORDS[index % words],
        catalog::NAME_NOUNS[(index / words) % nouns],
        catalog::TLDS[(index / (words * nouns)) % catalog::TLDS.len()],
    )
}

fn write_publisher(index: usize, test: bool, obj: &mut Obj<'_>) {
    let publisher = index / catalog::PROPERTIES_PER_PUBLISHER;
    let (word, _, _) = property_name(publisher * 3);
    let mut p = obj.obj("publisher");
    p.str_with("id", |t| {
        t.push(if test { "test-pub-" } else { "pub-" }).int(publisher as i64);
    });
    p.str_with("name", |t| {
        t.push(word).push(" media group");
    });
    p.str_with("domain", |t| {
        t.push(word).push("media.com");
    });
    p.end();
}

impl Site {
    fn new(index: usize) -> Self {
        let (word, noun, tld) = property_name(index);
        let fields = [false, true].map(|test| Self::fields(index, test));
        let section_url = format!("https://www.{word}{noun}.{tld}/{noun}").into();
        Self { fields, section_url }
    }

    fn fields(index: usize, test: bool) -> Fields {
        let (word, noun, tld) = property_name(index);
        Fields::render(|site| {
            site.str_with("id", |t| {
                t.push("site-").int(index as i64);
            });
            site.str_with("name", |t| {
                t.push(word).push(" ").push(noun);
            });
            site.str_with("domain", |t| {
                t.push(word).push(noun).push(".").push(tld);
            });
            // Some publishers already label with Content Taxonomy 3.0 ids.
            if index.is_multiple_of(10) {
                site.int("cattax", 7);
                site.strs("cat", &[catalog::CATEGORIES_V3[index % catalog::CATEGORIES_V3.len()]]);
            } else {
                let cats = catalog::CATEGORIES_V1;
                site.strs("cat", &[cats[index % cats.len()], cats[(index / 3) % cats.len()]]);
            }
            site.int("privacypolicy", 1);
            write_publisher(index, test, site);
        })
    }
}

fn write_site(dice: &mut Dice, tables: &Tables, ctx: &Context<'_>, req: &mut Obj<'_>) {
    let index = dice.skewed_index(catalog::SITE_COUNT);
    let Site { fields, section_url } = &tables.sites[index];
    let mut site = req.obj("site");
    site.fields(&fields[usize::from(ctx.test_publisher)]);
    if !index.is_multiple_of(10) && dice.chance(0.3) {
        let cats = catalog::CATEGORIES_V1;
        site.strs("pagecat", &[cats[(index / 7) % cats.len()]]);
    }
    site.str_with("page", |t| {
        t.push(section_url).push("/article-").int(dice.int(1000, 99_999));
    });
    if dice.chance(0.4) {
        site.str(
            "ref",
            dice.pick(&["https://www.google.com/", "https://news.example.org/", "https://t.co/"]),
        );
    }
    site.int("mobile", i64::from(ctx.is_mobile()));
    if dice.chance(0.1) {
        let mut content = site.obj("content");
        content.str("language", ctx.country.language).int("context", 3);
        content.str("url", section_url);
        content.end();
    }
    if dice.chance(0.05) {
        let (word, noun, _) = property_name(index);
        site.str_with("keywords", |t| {
            t.push(noun).push(",").push(word);
        });
    }
    site.end();
}

/// The fields of an app that do not change from request to request.
fn app_fields(index: usize, ios: bool, test: bool) -> Fields {
    let (word, noun, _) = property_name(index);
    Fields::render(|app| {
        app.str_with("id", |t| {
            t.push("app-").int(index as i64);
        });
        app.str_with("name", |t| {
            t.push(word).push(" ").push(noun);
        });
        let store_id = 1_000_000_000 + index as i64 * 7_919;
        if ios {
            app.str_with("bundle", |t| {
                t.int(store_id);
            });
            app.str_with("storeurl", |t| {
                t.push("https://apps.apple.com/app/id").int(store_id);
            });
        } else {
            app.str_with("bundle", |t| {
                t.push("com.").push(word).push(noun).push(".app");
            });
            app.str_with("storeurl", |t| {
                t.push("https://play.google.com/store/apps/details?id=com.")
                    .push(word)
                    .push(noun)
                    .push(".app");
            });
        }
        app.str_with("domain", |t| {
            t.push(word).push(noun).push(".com");
        });
        let cats = catalog::CATEGORIES_V1;
        app.strs("cat", &[cats[index % cats.len()]]);
        app.int("privacypolicy", 1);
        write_publisher(index, test, app);
    })
}

fn write_app(dice: &mut Dice, tables: &Tables, ctx: &Context<'_>, req: &mut Obj<'_>) {
    let index = dice.skewed_index(catalog::APP_COUNT);
    let ios = ctx.device.os == "iOS";
    let mut app = req.obj("app");
    let apps = if ios { &tables.ios_apps } else { &tables.android_apps };
    app.fields(&apps[index][usize::from(ctx.test_publisher)]);
    app.str_with("ver", |t| {
        t.int(dice.int(1, 9)).push(".").int(dice.int(0, 30)).push(".").int(dice.int(0, 9));
    });
    app.int("paid", i64::from(dice.chance(0.03)));
    if dice.chance(0.05) {
        app.str("inventorypartnerdomain", "partner-network.com");
    }
    app.end();
}

fn write_ctv_app(dice: &mut Dice, ctx: &Context<'_>, req: &mut Obj<'_>) {
    let (bundle, name, domain) = dice.pick(catalog::CTV_APPS);
    let (series, genre, len) = dice.pick(catalog::CTV_SERIES);
    let mut app = req.obj("app");
    app.str("id", bundle).str("name", name).str("bundle", bundle).str("domain", domain);
    app.raw("cat", r#"["IAB1-6"]"#).int("privacypolicy", 1).int("paid", 0);
    app.obj("publisher")
        .str_with("id", |t| {
            t.push(if ctx.test_publisher { "test-" } else { "" }).push(domain);
        })
        .str("name", name)
        .str("domain", domain);
    let mut content = app.obj("content");
    content
        .str_with("id", |t| {
            t.push(series).push("-s").int(dice.int(1, 6)).push("e").int(dice.int(1, 12));
        })
        .int("episode", dice.int(1, 12))
        .str("title", series)
        .str("series", series)
        .str_with("season", |t| {
            t.push("Season ").int(dice.int(1, 6));
        })
        .str("genre", genre)
        .int("prodq", 1)
        .int("context", 1)
        .str("contentrating", dice.pick(&["TV-G", "TV-PG", "TV-14", "TV-MA"]))
        .int("livestream", i64::from(genre == "sports" || genre == "news"))
        .int("len", len)
        .str("language", ctx.country.language)
        .int("embeddable", 0);
    content.obj("network").str("id", domain).str("name", name).str("domain", domain);
    content
        .obj("channel")
        .str_with("id", |t| {
            t.push(domain).push("/").push(genre);
        })
        .str("name", genre)
        .str("domain", domain);
    content.end();
    app.end();
}

fn write_dooh(dice: &mut Dice, ctx: &Context<'_>, req: &mut Obj<'_>) {
    let screen = dice.int(1, 400);
    let venue = dice.pick(catalog::DOOH_VENUES);
    let mut dooh = req.obj("dooh");
    dooh.str_with("id", |t| {
        t.push("screen-").int(screen);
    });
    dooh.str_with("name", |t| {
        t.push(venue).push(" screen ").int(screen);
    });
    dooh.strs("venuetype", &[venue]).int("venuetypetax", 1);
    dooh.obj("publisher")
        .str("id", if ctx.test_publisher { "test-pub-ooh-1" } else { "pub-ooh-1" })
        .str("name", "cityscreens")
        .str("domain", "cityscreens.com");
    dooh.str("domain", "cityscreens.com");
    dooh.end();
}

fn write_device(dice: &mut Dice, ctx: &Context<'_>, req: &mut Obj<'_>) {
    let d = ctx.device;
    let mut device = req.obj("device");
    device.fields(ctx.device_fields);
    write_geo(dice, ctx, &mut device);
    let lmt = ctx.coppa || (ctx.inventory == Inventory::App && dice.chance(0.1));
    device.int("dnt", i64::from(dice.chance(0.05))).int("lmt", i64::from(lmt));
    if ctx.private_ip {
        // A server-side integration that forwards its own network's address, not the user's.
        device.str_with("ip", |t| {
            match dice.int(0, 2) {
                0 => t.push("10.").int(dice.int(0, 255)),
                1 => t.push("172.").int(dice.int(16, 31)),
                _ => t.push("192.168"),
            };
            t.push(".").int(dice.int(0, 255)).push(".").int(dice.int(1, 254));
        });
    } else if dice.chance(0.8) {
        // Under GDPR, exchanges truncate the last octet before sending the address to bidders.
        let last = if ctx.country.gdpr { 0 } else { dice.int(1, 254) };
        let first =
            dice.pick(&[23, 24, 50, 64, 66, 71, 73, 76, 81, 86, 92, 98, 104, 174, 185, 203]);
        device.str_with("ip", |t| {
            t.int(first)
                .push(".")
                .int(dice.int(0, 255))
                .push(".")
                .int(dice.int(0, 255))
                .push(".")
                .int(last);
        });
    } else {
        let mut groups = [0u8; 12];
        dice.hex(&mut groups);
        device.str_with("ipv6", |t| {
            t.push("2a02:")
                .ascii(&groups[0..4])
                .push(":")
                .ascii(&groups[4..8])
                .push(":")
                .ascii(&groups[8..12]);
            t.push(if ctx.country.gdpr { "::" } else { "::1f" });
        });
    }
    if ctx.inventory == Inventory::Site {
        device.int("js", 1);
    }
    device.str("language", ctx.country.language);
    let connection = match (ctx.inventory, d.devicetype) {
        (Inventory::Ctv | Inventory::Dooh, _) | (_, 2) => dice.pick(&[1, 1, 2]),
        _ => dice.pick(&[2, 2, 2, 6, 6, 7, 3]),
    };
    if matches!(connection, 3..=7) {
        let (carrier, mccmnc) = dice.pick(ctx.country.carriers);
        device.str("carrier", carrier).str("mccmnc", mccmnc);
    }
    device.int("connectiontype", connection);
    if matches!(ctx.inventory, Inventory::App | Inventory::Ctv) {
        if lmt {
            device.str("ifa", "00000000-0000-0000-0000-000000000000");
        } else {
            device.ascii("ifa", dice.uuid().as_bytes());
        }
    }
    device.end();
}

/// The fields of `device` that come from its profile alone.
fn device_fields(d: &DeviceProfile) -> Fields {
    Fields::render(|device| {
        device.str("ua", d.ua);
        if let Some(sua) = d.sua {
            device.raw("sua", sua);
        }
        device.int("devicetype", d.devicetype);
        if !d.make.is_empty() {
            device.str("make", d.make).str("model", d.model);
        }
        if let Some(hwv) = d.hwv {
            device.str("hwv", hwv);
        }
        device.str("os", d.os);
        if !d.osv.is_empty() {
            device.str("osv", d.osv);
        }
        device.int("w", d.w).int("h", d.h);
        if let Some(ppi) = d.ppi {
            device.int("ppi", ppi);
        }
        device.decimal("pxratio", d.pxratio, 3);
    })
}

/// The fields of `device.geo` that come from its city alone.
fn city_fields(country: &Country, city: &City) -> Fields {
    Fields::render(|geo| {
        geo.str("country", country.code).str("region", city.region);
        if let Some(metro) = city.metro {
            geo.str("metro", metro);
        }
        geo.str("city", city.locode).int("utcoffset", city.utcoffset);
    })
}

fn write_geo(dice: &mut Dice, ctx: &Context<'_>, device: &mut Obj<'_>) {
    let city = ctx.city;
    let gps = ctx.inventory == Inventory::App && dice.chance(0.3);
    let mut geo = device.obj("geo");
    // Within ~2 km of the city centre: inside the country even for border cities like Geneva.
    let jitter = 0.02;
    geo.decimal("lat", city.lat + dice.float(-jitter, jitter), 4).decimal(
        "lon",
        city.lon + dice.float(-jitter, jitter),
        4,
    );
    if gps {
        geo.int("type", 1).int("accuracy", dice.int(5, 100)).int("lastfix", dice.int(1, 600));
    } else {
        geo.int("type", 2).int("ipservice", 3);
    }
    geo.fields(ctx.city_fields);
    if let Some(prefix) = city.zip_prefix {
        geo.str_with("zip", |t| {
            t.push(prefix).int(dice.int(10, 99));
        });
    }
    geo.end();
}

fn write_user(dice: &mut Dice, ctx: &Context<'_>, req: &mut Obj<'_>) {
    let mut user = req.obj("user");
    if !ctx.coppa && dice.chance(0.85) {
        user.ascii("id", dice.uuid().as_bytes());
        if dice.chance(0.4) {
            let mut buyeruid = [0u8; 16];
            dice.hex(&mut buyeruid);
            user.str_with("buyeruid", |t| {
                t.ascii(&buyeruid);
            });
        }
    }
    if ctx.country.gdpr && dice.chance(0.95) {
        let mut body = [0u8; 96];
        base64url(dice, &mut body);
        let prefix = dice.pick(catalog::TCF_PREFIXES);
        user.str_with("consent", |t| {
            t.push(prefix).ascii(&body).push(".YAAAAAAAAAAA");
        });
    }
    if !ctx.coppa && dice.chance(0.45) {
        let mut eids = user.arr("eids");
        let first = dice.int(0, catalog::EID_SOURCES.len() as i64 - 1) as usize;
        for k in 0..dice.int(1, 3) as usize {
            let (source, atype) = catalog::EID_SOURCES[(first + k) % catalog::EID_SOURCES.len()];
            let mut eid = eids.obj();
            eid.str("source", source);
            if dice.chance(0.3) {
                eid.str("inserter", "exchange-one.com")
                    .str("matcher", source)
                    .int("mm", dice.pick(&[2, 3, 4]));
            }
            let mut uids = eid.arr("uids");
            uids.obj().ascii("id", dice.uuid().as_bytes()).int("atype", atype);
            uids.end();
            eid.end();
        }
        eids.end();
    }
    if dice.chance(0.15) {
        let mut data = user.arr("data");
        let mut d = data.obj();
        let provider = dice.pick(catalog::DATA_PROVIDERS);
        d.str("id", provider).str("name", provider);
        let mut segments = d.arr("segment");
        for _ in 0..dice.int(1, 3) {
            segments.obj().str_with("id", |t| {
                t.push("seg-").int(dice.int(100, 999));
            });
        }
        segments.end();
        d.end();
        data.end();
    }
    if dice.chance(0.03) {
        user.str("keywords", "sports,travel");
    }
    user.end();
}

fn base64url(dice: &mut Dice, out: &mut [u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for chunk in out.chunks_mut(10) {
        let mut bits = dice.u64();
        for slot in chunk {
            *slot = ALPHABET[(bits & 63) as usize];
            bits >>= 6;
        }
    }
}

fn write_source(dice: &mut Dice, request_id: &Id, req: &mut Obj<'_>) {
    let mut source = req.obj("source");
    if dice.chance(0.6) {
        source.int("fd", i64::from(dice.chance(0.2)));
    }
    if dice.chance(0.9) {
        source.ascii("tid", dice.uuid().as_bytes());
    }
    if dice.chance(0.05) {
        source.str("pchain", "a1b2c3d4e5f6:9f8e7d6c");
    }
    if dice.chance(0.85) {
        let mut schain = source.obj("schain");
        schain.int("complete", i64::from(dice.chance(0.85))).str("ver", "1.0");
        let mut nodes = schain.arr("nodes");
        let first = dice.int(0, catalog::SSPS.len() as i64 - 1) as usize;
        for hop in 0..dice.int(1, 3) as usize {
            let mut node = nodes.obj();
            node.str("asi", catalog::SSPS[(first + hop) % catalog::SSPS.len()]);
            node.str_with("sid", |t| {
                t.int(dice.int(10_000, 99_999));
            });
            node.int("hp", 1);
            if hop == 0 {
                node.ascii("rid", request_id.as_bytes());
            }
            node.end();
        }
        nodes.end();
        schain.end();
    }
    source.end();
}

fn write_regs(dice: &mut Dice, ctx: &Context<'_>, req: &mut Obj<'_>) {
    let mut regs = req.obj("regs");
    if ctx.coppa {
        regs.int("coppa", 1);
    } else if dice.chance(0.3) {
        regs.int("coppa", 0);
    }
    if ctx.country.gdpr {
        regs.int("gdpr", 1);
    } else if dice.chance(0.8) {
        regs.int("gdpr", 0);
    }
    if ctx.country.code == "USA" {
        if dice.chance(0.7) {
            regs.str("us_privacy", dice.pick(&["1YNN", "1YNN", "1YNN", "1YYN", "1---"]));
        }
        if dice.chance(0.3) {
            let (gpp, sids) = dice.pick(catalog::GPP_US);
            regs.str("gpp", gpp).ints("gpp_sid", sids);
        }
    } else if ctx.country.gdpr && dice.chance(0.2) {
        regs.str("gpp", "DBABMA~CQHxyzAQHxyzAAKAEENBEBGBAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAAA")
            .raw("gpp_sid", "[2]");
    }
    regs.end();
}
