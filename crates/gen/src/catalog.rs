//! The static tables that make generated traffic look like a real exchange's: countries weighted
//! like programmatic bid volume, cities with coordinates, device profiles with matching user
//! agents, IAB ad sizes, content categories, supply-chain partners, bidders and advertisers.
//!
//! Company, site and app names are invented; formats, codes and shares follow the industry.

/// A country as seen in bid traffic.
#[derive(Debug)]
pub struct Country {
    /// ISO-3166-1 alpha-3, as OpenRTB 2.6 requires.
    pub code: &'static str,
    pub language: &'static str,
    pub currency: &'static str,
    /// GDPR (or UK GDPR) applies to users here.
    pub gdpr: bool,
    /// Mobile carriers: (name, MCC-MNC).
    pub carriers: &'static [(&'static str, &'static str)],
    pub cities: &'static [City],
}

/// A city with its ISO-3166-2 region, UN/LOCODE, coordinates and UTC offset (minutes).
#[derive(Debug)]
pub struct City {
    pub region: &'static str,
    pub locode: &'static str,
    pub lat: f64,
    pub lon: f64,
    pub utcoffset: i64,
    /// Google metro code (US only).
    pub metro: Option<&'static str>,
    /// Leading digits of the postal codes (US only).
    pub zip_prefix: Option<&'static str>,
}

const fn city(
    region: &'static str,
    locode: &'static str,
    lat: f64,
    lon: f64,
    utcoffset: i64,
) -> City {
    City { region, locode, lat, lon, utcoffset, metro: None, zip_prefix: None }
}

const fn us_city(
    region: &'static str,
    locode: &'static str,
    lat: f64,
    lon: f64,
    utcoffset: i64,
    metro: &'static str,
    zip_prefix: &'static str,
) -> City {
    City { region, locode, lat, lon, utcoffset, metro: Some(metro), zip_prefix: Some(zip_prefix) }
}

/// Countries weighted roughly like the share of global programmatic bid requests they originate.
pub static COUNTRIES: &[(Country, u32)] = &[
    (
        Country {
            code: "USA",
            language: "en",
            currency: "USD",
            gdpr: false,
            carriers: &[("Verizon", "311-480"), ("AT&T", "310-410"), ("T-Mobile", "310-260")],
            cities: &[
                us_city("NY", "US NYC", 40.7128, -74.0060, -300, "501", "100"),
                us_city("CA", "US LAX", 34.0522, -118.2437, -480, "803", "900"),
                us_city("IL", "US CHI", 41.8781, -87.6298, -360, "602", "606"),
                us_city("TX", "US DAL", 32.7767, -96.7970, -360, "623", "752"),
                us_city("TX", "US HOU", 29.7604, -95.3698, -360, "618", "770"),
                us_city("CA", "US SFO", 37.7749, -122.4194, -480, "807", "941"),
                us_city("GA", "US ATL", 33.7490, -84.3880, -300, "524", "303"),
                us_city("WA", "US SEA", 47.6062, -122.3321, -480, "819", "981"),
                us_city("FL", "US MIA", 25.7617, -80.1918, -300, "528", "331"),
                us_city("MA", "US BOS", 42.3601, -71.0589, -300, "506", "021"),
                us_city("CO", "US DEN", 39.7392, -104.9903, -420, "751", "802"),
                us_city("AZ", "US PHX", 33.4484, -112.0740, -420, "753", "850"),
            ],
        },
        380,
    ),
    (
        Country {
            code: "GBR",
            language: "en",
            currency: "GBP",
            gdpr: true,
            carriers: &[("EE", "234-30"), ("Vodafone", "234-15"), ("O2", "234-10")],
            cities: &[
                city("ENG", "GB LON", 51.5074, -0.1278, 0),
                city("ENG", "GB MNC", 53.4808, -2.2426, 0),
                city("SCT", "GB EDI", 55.9533, -3.1883, 0),
            ],
        },
        60,
    ),
    (
        Country {
            code: "DEU",
            language: "de",
            currency: "EUR",
            gdpr: true,
            carriers: &[("Telekom", "262-01"), ("Vodafone", "262-02"), ("O2", "262-03")],
            cities: &[
                city("BE", "DE BER", 52.5200, 13.4050, 60),
                city("BY", "DE MUC", 48.1351, 11.5820, 60),
                city("HH", "DE HAM", 53.5511, 9.9937, 60),
                city("NW", "DE CGN", 50.9375, 6.9603, 60),
            ],
        },
        55,
    ),
    (
        Country {
            code: "JPN",
            language: "ja",
            currency: "JPY",
            gdpr: false,
            carriers: &[("NTT docomo", "440-10"), ("au", "440-50"), ("SoftBank", "440-20")],
            cities: &[
                city("13", "JP TYO", 35.6762, 139.6503, 540),
                city("27", "JP OSA", 34.6937, 135.5023, 540),
            ],
        },
        45,
    ),
    (
        Country {
            code: "FRA",
            language: "fr",
            currency: "EUR",
            gdpr: true,
            carriers: &[("Orange", "208-01"), ("SFR", "208-10")],
            cities: &[
                city("IDF", "FR PAR", 48.8566, 2.3522, 60),
                city("ARA", "FR LYS", 45.7640, 4.8357, 60),
            ],
        },
        40,
    ),
    (
        Country {
            code: "CAN",
            language: "en",
            currency: "CAD",
            gdpr: false,
            carriers: &[("Rogers", "302-720"), ("Bell", "302-610")],
            cities: &[
                city("ON", "CA TOR", 43.6532, -79.3832, -300),
                city("QC", "CA YMQ", 45.5017, -73.5673, -300),
                city("BC", "CA VAN", 49.2827, -123.1207, -480),
            ],
        },
        40,
    ),
    (
        Country {
            code: "BRA",
            language: "pt",
            currency: "BRL",
            gdpr: false,
            carriers: &[("Vivo", "724-06"), ("Claro", "724-05")],
            cities: &[
                city("SP", "BR SAO", -23.5505, -46.6333, -180),
                city("RJ", "BR RIO", -22.9068, -43.1729, -180),
            ],
        },
        35,
    ),
    (
        Country {
            code: "IND",
            language: "hi",
            currency: "INR",
            gdpr: false,
            carriers: &[("Jio", "405-857"), ("Airtel", "404-10")],
            cities: &[
                city("MH", "IN BOM", 19.0760, 72.8777, 330),
                city("DL", "IN DEL", 28.7041, 77.1025, 330),
                city("KA", "IN BLR", 12.9716, 77.5946, 330),
            ],
        },
        35,
    ),
    (
        Country {
            code: "AUS",
            language: "en",
            currency: "AUD",
            gdpr: false,
            carriers: &[("Telstra", "505-01"), ("Optus", "505-02")],
            cities: &[
                city("NSW", "AU SYD", -33.8688, 151.2093, 600),
                city("VIC", "AU MEL", -37.8136, 144.9631, 600),
            ],
        },
        30,
    ),
    (
        Country {
            code: "MEX",
            language: "es",
            currency: "MXN",
            gdpr: false,
            carriers: &[("Telcel", "334-020")],
            cities: &[
                city("CMX", "MX MEX", 19.4326, -99.1332, -360),
                city("JAL", "MX GDL", 20.6597, -103.3496, -360),
            ],
        },
        25,
    ),
    (
        Country {
            code: "ITA",
            language: "it",
            currency: "EUR",
            gdpr: true,
            carriers: &[("TIM", "222-01"), ("Vodafone", "222-10")],
            cities: &[
                city("RM", "IT ROM", 41.9028, 12.4964, 60),
                city("MI", "IT MIL", 45.4642, 9.1900, 60),
            ],
        },
        25,
    ),
    (
        Country {
            code: "ESP",
            language: "es",
            currency: "EUR",
            gdpr: true,
            carriers: &[("Movistar", "214-07"), ("Vodafone", "214-01")],
            cities: &[
                city("MD", "ES MAD", 40.4168, -3.7038, 60),
                city("CT", "ES BCN", 41.3874, 2.1686, 60),
            ],
        },
        25,
    ),
    (
        Country {
            code: "NLD",
            language: "nl",
            currency: "EUR",
            gdpr: true,
            carriers: &[("KPN", "204-08")],
            cities: &[
                city("NH", "NL AMS", 52.3676, 4.9041, 60),
                city("ZH", "NL RTM", 51.9244, 4.4777, 60),
            ],
        },
        18,
    ),
    (
        Country {
            code: "KOR",
            language: "ko",
            currency: "KRW",
            gdpr: false,
            carriers: &[("SK Telecom", "450-05")],
            cities: &[
                city("11", "KR SEL", 37.5665, 126.9780, 540),
                city("26", "KR PUS", 35.1796, 129.0756, 540),
            ],
        },
        18,
    ),
    (
        Country {
            code: "IDN",
            language: "id",
            currency: "IDR",
            gdpr: false,
            carriers: &[("Telkomsel", "510-10")],
            cities: &[
                city("JK", "ID JKT", -6.2088, 106.8456, 420),
                city("JI", "ID SUB", -7.2575, 112.7521, 420),
            ],
        },
        20,
    ),
    (
        Country {
            code: "POL",
            language: "pl",
            currency: "PLN",
            gdpr: true,
            carriers: &[("Orange", "260-03")],
            cities: &[city("14", "PL WAW", 52.2297, 21.0122, 60)],
        },
        12,
    ),
    (
        Country {
            code: "SWE",
            language: "sv",
            currency: "SEK",
            gdpr: true,
            carriers: &[("Telia", "240-01")],
            cities: &[city("AB", "SE STO", 59.3293, 18.0686, 60)],
        },
        10,
    ),
    (
        Country {
            code: "TUR",
            language: "tr",
            currency: "TRY",
            gdpr: false,
            carriers: &[("Turkcell", "286-01")],
            cities: &[
                city("34", "TR IST", 41.0082, 28.9784, 180),
                city("06", "TR ANK", 39.9334, 32.8597, 180),
            ],
        },
        12,
    ),
    (
        Country {
            code: "ARG",
            language: "es",
            currency: "ARS",
            gdpr: false,
            carriers: &[("Personal", "722-34")],
            cities: &[city("C", "AR BUE", -34.6037, -58.3816, -180)],
        },
        8,
    ),
    (
        Country {
            code: "ZAF",
            language: "en",
            currency: "ZAR",
            gdpr: false,
            carriers: &[("Vodacom", "655-01")],
            cities: &[
                city("GP", "ZA JNB", -26.2041, 28.0473, 120),
                city("WC", "ZA CPT", -33.9249, 18.4241, 120),
            ],
        },
        8,
    ),
    (
        Country {
            code: "PHL",
            language: "en",
            currency: "PHP",
            gdpr: false,
            carriers: &[("Globe", "515-02")],
            cities: &[city("00", "PH MNL", 14.5995, 120.9842, 480)],
        },
        10,
    ),
    (
        Country {
            code: "THA",
            language: "th",
            currency: "THB",
            gdpr: false,
            carriers: &[("AIS", "520-03")],
            cities: &[city("10", "TH BKK", 13.7563, 100.5018, 420)],
        },
        10,
    ),
    (
        Country {
            code: "VNM",
            language: "vi",
            currency: "VND",
            gdpr: false,
            carriers: &[("Viettel", "452-04")],
            cities: &[
                city("SG", "VN SGN", 10.8231, 106.6297, 420),
                city("HN", "VN HAN", 21.0278, 105.8342, 420),
            ],
        },
        8,
    ),
    (
        Country {
            code: "SGP",
            language: "en",
            currency: "SGD",
            gdpr: false,
            carriers: &[("Singtel", "525-01")],
            cities: &[city("01", "SG SIN", 1.3521, 103.8198, 480)],
        },
        6,
    ),
    (
        Country {
            code: "CHE",
            language: "de",
            currency: "CHF",
            gdpr: true,
            carriers: &[("Swisscom", "228-01")],
            cities: &[
                city("ZH", "CH ZRH", 47.3769, 8.5417, 60),
                city("GE", "CH GVA", 46.2044, 6.1432, 60),
            ],
        },
        6,
    ),
    (
        Country {
            code: "BEL",
            language: "nl",
            currency: "EUR",
            gdpr: true,
            carriers: &[("Proximus", "206-01")],
            cities: &[city("BRU", "BE BRU", 50.8503, 4.3517, 60)],
        },
        6,
    ),
    (
        Country {
            code: "AUT",
            language: "de",
            currency: "EUR",
            gdpr: true,
            carriers: &[("A1", "232-01")],
            cities: &[city("9", "AT VIE", 48.2082, 16.3738, 60)],
        },
        5,
    ),
    (
        Country {
            code: "IRL",
            language: "en",
            currency: "EUR",
            gdpr: true,
            carriers: &[("Vodafone", "272-01")],
            cities: &[city("D", "IE DUB", 53.3498, -6.2603, 0)],
        },
        5,
    ),
    (
        Country {
            code: "DNK",
            language: "da",
            currency: "DKK",
            gdpr: true,
            carriers: &[("TDC", "238-01")],
            cities: &[city("84", "DK CPH", 55.6761, 12.5683, 60)],
        },
        4,
    ),
    (
        Country {
            code: "NOR",
            language: "nb",
            currency: "NOK",
            gdpr: true,
            carriers: &[("Telenor", "242-01")],
            cities: &[city("03", "NO OSL", 59.9139, 10.7522, 60)],
        },
        4,
    ),
    (
        Country {
            code: "NGA",
            language: "en",
            currency: "NGN",
            gdpr: false,
            carriers: &[("MTN", "621-30")],
            cities: &[city("LA", "NG LOS", 6.5244, 3.3792, 60)],
        },
        5,
    ),
    (
        Country {
            code: "EGY",
            language: "ar",
            currency: "EGP",
            gdpr: false,
            carriers: &[("Vodafone", "602-02")],
            cities: &[city("C", "EG CAI", 30.0444, 31.2357, 120)],
        },
        5,
    ),
    (
        Country {
            code: "SAU",
            language: "ar",
            currency: "SAR",
            gdpr: false,
            carriers: &[("STC", "420-01")],
            cities: &[city("01", "SA RUH", 24.7136, 46.6753, 180)],
        },
        6,
    ),
    (
        Country {
            code: "ARE",
            language: "ar",
            currency: "AED",
            gdpr: false,
            carriers: &[("Etisalat", "424-02")],
            cities: &[city("DU", "AE DXB", 25.2048, 55.2708, 240)],
        },
        6,
    ),
];

/// Where the ad will show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inventory {
    Site,
    App,
    /// Connected TV: an app on a TV or set-top box, video only.
    Ctv,
    /// Digital out-of-home screens.
    Dooh,
}

/// Shares of inventory in a general-purpose exchange's traffic.
pub static INVENTORY: &[(Inventory, u32)] =
    &[(Inventory::Site, 55), (Inventory::App, 35), (Inventory::Ctv, 7), (Inventory::Dooh, 3)];

/// A device as it appears in requests: type, identity, software and screen, with a user agent
/// (and, for Chromium browsers, the structured user agent as raw JSON) that match each other.
#[derive(Debug)]
pub struct DeviceProfile {
    /// AdCOM device type: 1 mobile/tablet, 2 PC, 3 CTV, 4 phone, 5 tablet, 7 set-top box, 8 OOH.
    pub devicetype: i64,
    pub make: &'static str,
    pub model: &'static str,
    pub hwv: Option<&'static str>,
    pub os: &'static str,
    pub osv: &'static str,
    pub ua: &'static str,
    pub sua: Option<&'static str>,
    pub w: i64,
    pub h: i64,
    pub ppi: Option<i64>,
    pub pxratio: f64,
}

const CHROME_WIN_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_WIN_SUA: &str = r#"{"browsers":[{"brand":"Google Chrome","version":["131","0","6778","86"]},{"brand":"Chromium","version":["131","0","6778","86"]},{"brand":"Not_A Brand","version":["24"]}],"platform":{"brand":"Windows","version":["15","0","0"]},"mobile":0,"architecture":"x86","bitness":"64","source":2}"#;
const EDGE_WIN_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0";
const EDGE_WIN_SUA: &str = r#"{"browsers":[{"brand":"Microsoft Edge","version":["131","0","2903","70"]},{"brand":"Chromium","version":["131","0","6778","86"]}],"platform":{"brand":"Windows","version":["10","0","0"]},"mobile":0,"source":1}"#;
const CHROME_MAC_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const CHROME_MAC_SUA: &str = r#"{"browsers":[{"brand":"Google Chrome","version":["131","0","6778","86"]},{"brand":"Chromium","version":["131","0","6778","86"]}],"platform":{"brand":"macOS","version":["14","6","1"]},"mobile":0,"architecture":"arm","bitness":"64","source":2}"#;
const SAFARI_MAC_UA: &str = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15";
const FIREFOX_WIN_UA: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";
const CHROME_LINUX_UA: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36";
const SAFARI_IPHONE_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
const SAFARI_IPHONE17_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1";
const CHROME_ANDROID_UA: &str = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
const CHROME_ANDROID_SUA: &str = r#"{"browsers":[{"brand":"Google Chrome","version":["131","0","6778","81"]},{"brand":"Chromium","version":["131","0","6778","81"]}],"platform":{"brand":"Android","version":["14","0","0"]},"mobile":1,"model":"SM-S918B","source":2}"#;
const SAFARI_IPAD_UA: &str = "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1";
const IOS_APP_UA: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148";
const ANDROID_APP_UA: &str = "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36";
const ANDROID_APP_PIXEL_UA: &str = "Mozilla/5.0 (Linux; Android 15; Pixel 8 Build/AP3A.241105.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36";
const ANDROID_APP_REDMI_UA: &str = "Mozilla/5.0 (Linux; Android 13; 23049PCD8G Build/TKQ1.221114.001; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/130.0.6723.107 Mobile Safari/537.36";

const fn profile(
    devicetype: i64,
    make: &'static str,
    model: &'static str,
    os: &'static str,
    osv: &'static str,
    ua: &'static str,
    (w, h): (i64, i64),
) -> DeviceProfile {
    DeviceProfile {
        devicetype,
        make,
        model,
        hwv: None,
        os,
        osv,
        ua,
        sua: None,
        w,
        h,
        ppi: None,
        pxratio: 1.0,
    }
}

/// Browsers on desktops, phones and tablets (site inventory).
pub static WEB_DEVICES: &[(DeviceProfile, u32)] = &[
    (
        DeviceProfile {
            sua: Some(CHROME_WIN_SUA),
            ..profile(2, "Microsoft", "Windows PC", "Windows", "11", CHROME_WIN_UA, (1920, 1080))
        },
        22,
    ),
    (
        DeviceProfile {
            sua: Some(EDGE_WIN_SUA),
            ..profile(2, "Microsoft", "Windows PC", "Windows", "10", EDGE_WIN_UA, (1536, 864))
        },
        7,
    ),
    (profile(2, "Microsoft", "Windows PC", "Windows", "10", FIREFOX_WIN_UA, (1366, 768)), 3),
    (
        DeviceProfile {
            sua: Some(CHROME_MAC_SUA),
            pxratio: 2.0,
            ..profile(2, "Apple", "Macintosh", "macOS", "14.6.1", CHROME_MAC_UA, (1440, 900))
        },
        6,
    ),
    (
        DeviceProfile {
            pxratio: 2.0,
            ..profile(2, "Apple", "Macintosh", "macOS", "15.1", SAFARI_MAC_UA, (1512, 982))
        },
        5,
    ),
    (profile(2, "", "", "Linux", "", CHROME_LINUX_UA, (1920, 1080)), 1),
    (
        DeviceProfile {
            hwv: Some("16 Pro"),
            ppi: Some(460),
            pxratio: 3.0,
            ..profile(4, "Apple", "iPhone", "iOS", "18.1", SAFARI_IPHONE_UA, (402, 874))
        },
        20,
    ),
    (
        DeviceProfile {
            hwv: Some("13"),
            ppi: Some(460),
            pxratio: 3.0,
            ..profile(4, "Apple", "iPhone", "iOS", "17.6.1", SAFARI_IPHONE17_UA, (390, 844))
        },
        10,
    ),
    (
        DeviceProfile {
            sua: Some(CHROME_ANDROID_SUA),
            ppi: Some(500),
            pxratio: 3.0,
            ..profile(4, "Samsung", "SM-S918B", "Android", "14", CHROME_ANDROID_UA, (412, 915))
        },
        14,
    ),
    (
        DeviceProfile {
            ppi: Some(264),
            pxratio: 2.0,
            ..profile(5, "Apple", "iPad", "iOS", "17.6", SAFARI_IPAD_UA, (820, 1180))
        },
        5,
    ),
];

/// Phones and tablets running apps.
pub static APP_DEVICES: &[(DeviceProfile, u32)] = &[
    (
        DeviceProfile {
            hwv: Some("16 Pro"),
            ppi: Some(460),
            pxratio: 3.0,
            ..profile(4, "Apple", "iPhone", "iOS", "18.1", IOS_APP_UA, (402, 874))
        },
        30,
    ),
    (
        DeviceProfile {
            hwv: Some("15"),
            ppi: Some(460),
            pxratio: 3.0,
            ..profile(4, "Apple", "iPhone", "iOS", "17.6.1", IOS_APP_UA, (393, 852))
        },
        12,
    ),
    (
        DeviceProfile {
            ppi: Some(500),
            pxratio: 3.0,
            ..profile(4, "Samsung", "SM-S918B", "Android", "14", ANDROID_APP_UA, (412, 915))
        },
        20,
    ),
    (
        DeviceProfile {
            ppi: Some(428),
            pxratio: 2.625,
            ..profile(4, "Google", "Pixel 8", "Android", "15", ANDROID_APP_PIXEL_UA, (412, 915))
        },
        8,
    ),
    (
        DeviceProfile {
            ppi: Some(395),
            pxratio: 2.75,
            ..profile(4, "Xiaomi", "23049PCD8G", "Android", "13", ANDROID_APP_REDMI_UA, (393, 873))
        },
        12,
    ),
    (
        DeviceProfile {
            ppi: Some(264),
            pxratio: 2.0,
            ..profile(5, "Apple", "iPad", "iOS", "17.6", IOS_APP_UA, (820, 1180))
        },
        8,
    ),
    (
        DeviceProfile {
            ppi: Some(274),
            pxratio: 2.0,
            ..profile(5, "Samsung", "SM-X710", "Android", "14", ANDROID_APP_UA, (800, 1280))
        },
        4,
    ),
];

/// Connected TVs and set-top boxes.
pub static CTV_DEVICES: &[(DeviceProfile, u32)] = &[
    (
        profile(
            7,
            "Roku",
            "Roku Ultra",
            "Roku OS",
            "13.0",
            "Roku/DVP-13.0 (13.0.0.4146)",
            (1920, 1080),
        ),
        35,
    ),
    (
        profile(
            3,
            "Samsung",
            "QN65Q80C",
            "Tizen",
            "7.0",
            "Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) 7.0 TV Safari/537.36",
            (1920, 1080),
        ),
        20,
    ),
    (
        profile(
            3,
            "LG",
            "OLED65C3PUA",
            "webOS",
            "23",
            "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/94.0.4606.128 Safari/537.36 WebAppManager",
            (1920, 1080),
        ),
        15,
    ),
    (
        profile(
            7,
            "Amazon",
            "AFTMM",
            "Fire OS",
            "7.6",
            "Mozilla/5.0 (Linux; Android 9; AFTMM Build/PS7633) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.230 Mobile Safari/537.36",
            (1920, 1080),
        ),
        20,
    ),
    (profile(7, "Apple", "Apple TV", "tvOS", "18.1", "AppleTV14,1/18.1", (3840, 2160)), 10),
];

/// Digital out-of-home screens.
pub static DOOH_DEVICES: &[(DeviceProfile, u32)] = &[
    (
        profile(
            8,
            "Samsung",
            "QM55R",
            "Tizen",
            "6.5",
            "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.5) AppleWebKit/537.36 (KHTML, like Gecko) 6.5 TV Safari/537.36",
            (1920, 1080),
        ),
        60,
    ),
    (
        profile(
            8,
            "LG",
            "55UH5J",
            "webOS",
            "6.0",
            "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36",
            (1080, 1920),
        ),
        40,
    ),
];

/// IAB standard display sizes, weighted by how often they are offered.
pub static DESKTOP_BANNERS: &[((i64, i64), u32)] = &[
    ((300, 250), 30),
    ((728, 90), 20),
    ((300, 600), 10),
    ((160, 600), 8),
    ((970, 250), 6),
    ((336, 280), 4),
    ((970, 90), 3),
    ((468, 60), 2),
    ((250, 250), 2),
    ((120, 600), 1),
];
pub static MOBILE_BANNERS: &[((i64, i64), u32)] = &[
    ((320, 50), 35),
    ((300, 250), 35),
    ((320, 100), 10),
    ((320, 480), 8),
    ((300, 50), 5),
    ((728, 90), 4),
    ((480, 320), 3),
];
pub static DOOH_SIZES: &[((i64, i64), u32)] = &[((1920, 1080), 70), ((1080, 1920), 30)];

/// A size often offered alongside a primary one in `banner.format`.
pub fn alternate_size(size: (i64, i64)) -> Option<(i64, i64)> {
    match size {
        (300, 250) => Some((336, 280)),
        (728, 90) => Some((970, 90)),
        (300, 600) => Some((160, 600)),
        (320, 50) => Some((300, 50)),
        (970, 250) => Some((728, 90)),
        _ => None,
    }
}

/// IAB Content Taxonomy 1.0 categories (cattax absent or 1).
pub static CATEGORIES_V1: &[&str] = &[
    "IAB1", "IAB1-6", "IAB2", "IAB3", "IAB5", "IAB7", "IAB8", "IAB8-5", "IAB9", "IAB9-30", "IAB12",
    "IAB12-2", "IAB14", "IAB15", "IAB17", "IAB17-12", "IAB18", "IAB19", "IAB19-18", "IAB20",
    "IAB22",
];
/// IAB Content Taxonomy 3.0 unique ids (cattax 7).
pub static CATEGORIES_V3: &[&str] =
    &["150", "196", "210", "239", "273", "324", "379", "432", "483", "596", "640", "1", "42", "52"];
/// Sensitive advertiser categories publishers commonly block.
pub static BLOCKED_CATEGORIES: &[&str] =
    &["IAB25", "IAB26", "IAB7-39", "IAB8-18", "IAB8-5", "IAB9-9", "IAB11-4", "IAB14-1"];

/// Words that invented site, app and company names are built from.
pub static NAME_WORDS: &[&str] = &[
    "daily", "metro", "pixel", "urban", "green", "rapid", "blue", "north", "summit", "bright",
    "coastal", "prime", "silver", "open", "smart", "happy", "global", "local", "swift", "golden",
];
pub static NAME_NOUNS: &[&str] = &[
    "news",
    "recipes",
    "sports",
    "weather",
    "games",
    "finance",
    "travel",
    "tech",
    "style",
    "autos",
    "health",
    "music",
    "puzzles",
    "stories",
    "deals",
    "garden",
    "outdoors",
    "movies",
    "science",
    "parenting",
];
pub static TLDS: &[&str] = &["com", "com", "com", "net", "org", "co.uk", "de", "io"];

/// Sites in the simulated exchange; popularity is skewed towards the first ones.
pub const SITE_COUNT: usize = 5_000;
/// Mobile apps in the simulated exchange.
pub const APP_COUNT: usize = 3_000;
/// Sites (or apps) owned by one publisher.
pub const PROPERTIES_PER_PUBLISHER: usize = 7;

/// Streaming apps on CTV, with their network.
pub static CTV_APPS: &[(&str, &str, &str)] = &[
    ("com.streamnow.tv", "StreamNow", "streamnow.tv"),
    ("com.freeflix.ctv", "FreeFlix", "freeflix.com"),
    ("com.newsnet.live", "NewsNet Live", "newsnet.com"),
    ("com.sportszone.tv", "SportsZone", "sportszone.tv"),
    ("com.kidscartoon.tv", "Cartoon Corner", "cartooncorner.tv"),
];
pub static CTV_SERIES: &[(&str, &str, i64)] = &[
    ("Harbor Lights", "drama", 2640),
    ("Kitchen Rivals", "reality", 1320),
    ("Evening Report", "news", 1800),
    ("Friday Night Football", "sports", 10_800),
    ("Planet Deep", "documentary", 3000),
];

/// DOOH venue types (OpenOOH taxonomy 1.0).
pub static DOOH_VENUES: &[&str] = &[
    "transit.airports",
    "transit.subway",
    "retail.grocery",
    "retail.malls",
    "outdoor.billboards",
    "office_buildings",
    "health_and_beauty.gyms",
];

/// Supply-chain systems (SSPs, exchanges) by domain.
pub static SSPS: &[&str] =
    &["exchange-one.com", "adsupply.net", "openbid.io", "streamssp.tv", "mediagrid.com"];

/// Identity providers seen in `user.eids`: (source, AdCOM agent type).
pub static EID_SOURCES: &[(&str, i64)] = &[
    ("id5-sync.com", 1),
    ("liveramp.com", 3),
    ("uidapi.com", 3),
    ("pubcid.org", 1),
    ("criteo.com", 1),
];

/// Data providers for `user.data`.
pub static DATA_PROVIDERS: &[&str] = &["audiencehub.com", "segmently.io", "intentdata.net"];

/// Bidders (DSP seats) with their share of responses.
pub static BIDDERS: &[(&str, u32)] = &[
    ("dsp-northwind", 24),
    ("dsp-bluefin", 18),
    ("dsp-cobalt", 15),
    ("dsp-halcyon", 12),
    ("dsp-meridian", 10),
    ("dsp-orchid", 9),
    ("dsp-quanta", 7),
    ("dsp-saffron", 5),
];

/// Advertisers' landing domains.
pub static ADVERTISERS: &[&str] = &[
    "brightcart.com",
    "zenithauto.com",
    "lumenbank.com",
    "peakfitness.com",
    "nimbusair.com",
    "verdefoods.com",
    "orbitmobile.com",
    "cascadehotels.com",
    "sparkenergy.com",
    "tidewear.com",
    "harborinsure.com",
    "quillbooks.com",
    "atlasgames.com",
    "novapets.com",
    "emberhome.com",
    "crestbeauty.com",
    "pinnacletravel.com",
    "fablemusic.com",
    "ironsmith-tools.com",
    "solacespa.com",
];

/// Blocked advertiser domains publishers commonly send in `badv`.
pub static BLOCKED_ADVERTISERS: &[&str] =
    &["casino-royale.example", "quickloans.example", "vapeworld.example"];

/// Render SDKs for in-app inventory: (display manager, version).
pub static DISPLAY_MANAGERS: &[(&str, &str)] = &[
    ("PrebidMobile", "2.2.3"),
    ("AppLovinMAX", "13.0.1"),
    ("ironSource", "8.5.0"),
    ("UnityAds", "4.12.3"),
];

/// Native request payload (Native Ads 1.2), carried as a string as the spec requires; kept here
/// already JSON-escaped (a string literal, quotes included) so it is copied, not escaped, per event.
pub const NATIVE_REQUEST_JSON: &str = r#""{\"ver\":\"1.2\",\"context\":1,\"plcmttype\":1,\"plcmtcnt\":1,\"assets\":[{\"id\":1,\"required\":1,\"title\":{\"len\":90}},{\"id\":2,\"required\":1,\"img\":{\"type\":3,\"wmin\":600,\"hmin\":314}},{\"id\":3,\"required\":0,\"data\":{\"type\":2,\"len\":140}},{\"id\":4,\"required\":0,\"data\":{\"type\":12,\"len\":15}}],\"eventtrackers\":[{\"event\":1,\"methods\":[1,2]}],\"privacy\":1}""#;

/// TCF consent strings start with a version/date header; what follows is opaque to us.
pub const TCF_PREFIXES: &[&str] = &["CQH", "CQG", "CPz"];
/// GPP strings: (string, applicable section ids).
pub static GPP_US: &[(&str, &[i64])] =
    &[("DBABLA~BVQqAAAAAgA.QA", &[7]), ("DBABBg~BVoYYZoI.QA", &[8])];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::needs_escaping;

    /// The JSON writer copies strings without escaping them; this is the check that lets it.
    #[test]
    fn no_table_string_needs_escaping_in_json() {
        let mut strings: Vec<&str> = Vec::new();
        for (country, _) in COUNTRIES {
            strings.extend([country.code, country.language, country.currency]);
            strings.extend(country.carriers.iter().flat_map(|(name, mccmnc)| [*name, *mccmnc]));
            for city in country.cities {
                strings.extend([city.region, city.locode]);
                strings.extend(city.metro.into_iter().chain(city.zip_prefix));
            }
        }
        for devices in [WEB_DEVICES, APP_DEVICES, CTV_DEVICES, DOOH_DEVICES] {
            for (d, _) in devices {
                strings.extend([d.make, d.model, d.os, d.osv, d.ua]);
                strings.extend(d.hwv);
            }
        }
        for table in [
            CATEGORIES_V1,
            CATEGORIES_V3,
            BLOCKED_CATEGORIES,
            NAME_WORDS,
            NAME_NOUNS,
            TLDS,
            DOOH_VENUES,
            SSPS,
            DATA_PROVIDERS,
            ADVERTISERS,
            BLOCKED_ADVERTISERS,
            TCF_PREFIXES,
        ] {
            strings.extend(table.iter().copied());
        }
        strings
            .extend(CTV_APPS.iter().flat_map(|(bundle, name, domain)| [*bundle, *name, *domain]));
        strings.extend(CTV_SERIES.iter().flat_map(|(series, genre, _)| [*series, *genre]));
        strings.extend(EID_SOURCES.iter().map(|(source, _)| *source));
        strings.extend(BIDDERS.iter().map(|(bidder, _)| *bidder));
        strings.extend(DISPLAY_MANAGERS.iter().flat_map(|(name, version)| [*name, *version]));
        strings.extend(GPP_US.iter().map(|(gpp, _)| *gpp));
        assert!(strings.len() > 300, "only {} strings checked", strings.len());
        for text in strings {
            assert!(!needs_escaping(text.as_bytes()), "{text:?} needs escaping in JSON");
        }
        // Raw JSON fragments are written as they are: they must be valid JSON.
        for (d, _) in WEB_DEVICES.iter().chain(APP_DEVICES).chain(CTV_DEVICES).chain(DOOH_DEVICES) {
            if let Some(sua) = d.sua {
                serde_json::from_str::<serde_json::Value>(sua).unwrap();
            }
        }
    }

    #[test]
    fn the_native_request_is_a_json_string_holding_a_native_request() {
        let text: String = serde_json::from_str(super::NATIVE_REQUEST_JSON).unwrap();
        let native: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(native["ver"], "1.2");
        assert_eq!(native["assets"].as_array().unwrap().len(), 4);
    }
}
