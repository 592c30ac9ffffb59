//! Enrichment: columns derived from a record when it becomes a row, so that every reader gets
//! them without repeating the rules: the device category, prices in US dollars, and flags for
//! traffic an analyst leaves out (test publishers, private IP addresses). Flagged rows are kept:
//! a filter can be changed later, a dropped row cannot be brought back.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::{Error, Result};

/// US dollars per unit of each currency, to convert prices to USD.
#[derive(Debug, Clone, PartialEq)]
pub struct ExchangeRates {
    usd_per_unit: HashMap<Box<str>, f64>,
    /// Where the rates came from, for logs.
    pub source: String,
}

/// Approximate rates of November 2025, USD per unit: good enough to compare markets; replace
/// them with a file (`EXCHANGE_RATES`) for accounting.
const BUILT_IN: &[(&str, f64)] = &[
    ("USD", 1.0),
    ("EUR", 1.16),
    ("GBP", 1.33),
    ("JPY", 0.0066),
    ("CHF", 1.25),
    ("CAD", 0.71),
    ("AUD", 0.65),
    ("NZD", 0.57),
    ("SEK", 0.105),
    ("NOK", 0.099),
    ("DKK", 0.155),
    ("PLN", 0.273),
    ("CZK", 0.048),
    ("HUF", 0.003),
    ("TRY", 0.0236),
    ("ILS", 0.306),
    ("BRL", 0.187),
    ("MXN", 0.0545),
    ("ARS", 0.00069),
    ("CLP", 0.00106),
    ("COP", 0.00026),
    ("INR", 0.0113),
    ("IDR", 0.00006),
    ("KRW", 0.00068),
    ("CNY", 0.141),
    ("HKD", 0.1285),
    ("TWD", 0.032),
    ("SGD", 0.768),
    ("MYR", 0.241),
    ("THB", 0.0309),
    ("PHP", 0.017),
    ("VND", 0.000038),
    ("ZAR", 0.0578),
    ("NGN", 0.00069),
    ("EGP", 0.021),
    ("SAR", 0.2666),
    ("AED", 0.2723),
];

impl Default for ExchangeRates {
    fn default() -> Self {
        Self::built_in()
    }
}

impl ExchangeRates {
    /// The rates bidlake ships with.
    pub fn built_in() -> Self {
        Self {
            usd_per_unit: BUILT_IN.iter().map(|(code, rate)| ((*code).into(), *rate)).collect(),
            source: "built-in rates".into(),
        }
    }

    /// Rates from a CSV file of `currency,usd_per_unit` lines (a header line and `#` comments
    /// allowed). They replace the built-in rates entirely: a currency the file leaves out gets
    /// no USD price (NULL), rather than a stale one.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ExchangeRatesFile {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// See [`ExchangeRates::load`]; `source` names the text in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let bad = |line: usize, reason: String| Error::ExchangeRates {
            file: source.to_owned(),
            reason: format!("line {line}: {reason}"),
        };
        let mut usd_per_unit = HashMap::new();
        let mut first = true;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((code, rate)) = line.split_once(',') else {
                return Err(bad(number, format!("{line:?} is not `currency,usd_per_unit`")));
            };
            let (code, rate) = (code.trim(), rate.trim());
            let header = first && rate.parse::<f64>().is_err();
            first = false;
            if header {
                continue;
            }
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(bad(number, format!("{code:?} is not an ISO 4217 code such as EUR")));
            }
            let rate: f64 = rate
                .parse()
                .ok()
                .filter(|r: &f64| r.is_finite() && *r > 0.0)
                .ok_or_else(|| bad(number, format!("{rate:?} is not a positive number")))?;
            if usd_per_unit.insert(Box::<str>::from(code), rate).is_some() {
                return Err(bad(number, format!("{code} is given twice")));
            }
        }
        if usd_per_unit.is_empty() {
            return Err(Error::ExchangeRates {
                file: source.to_owned(),
                reason: "there are no rates in it".into(),
            });
        }
        Ok(Self { usd_per_unit, source: source.to_owned() })
    }

    /// How many currencies have a rate.
    pub fn len(&self) -> usize {
        self.usd_per_unit.len()
    }

    pub fn is_empty(&self) -> bool {
        self.usd_per_unit.is_empty()
    }

    /// `amount` in `currency` (OpenRTB's default, USD, when none is given) as US dollars; `None`
    /// without an amount or for a currency without a rate.
    pub fn to_usd(&self, amount: Option<f64>, currency: Option<&str>) -> Option<f64> {
        let amount = amount?;
        let rate = match currency {
            None | Some("USD") => return Some(amount),
            Some(code) => self.usd_per_unit.get(code)?,
        };
        // Rounded to a millionth of a dollar: a product of two decimals should not print
        // as 0.30000000000000004.
        Some((amount * rate * 1e6).round() / 1e6)
    }
}

/// What kind of device an ad would show on, from AdCOM's device type and where the request came
/// from (a site, an app or a digital out-of-home screen): CTV, Mobile Web, Mobile App, Desktop,
/// Tablet, DOOH or Other.
pub fn device_category(devicetype: Option<i32>, channel: Option<&str>) -> &'static str {
    match (devicetype, channel) {
        (_, Some("dooh")) | (Some(8), _) => "DOOH",
        // 3 Connected TV, 7 Set Top Box.
        (Some(3 | 7), _) => "CTV",
        (Some(5), _) => "Tablet",
        (Some(2), _) => "Desktop",
        // 1 Mobile/Tablet (OpenRTB 2.0's), 4 Phone.
        (Some(1 | 4), Some("app")) => "Mobile App",
        (Some(1 | 4), Some("site")) => "Mobile Web",
        _ => "Other",
    }
}

/// Whether `device.ip` is a private (RFC 1918) IPv4 address: a server-side integration's own
/// network, not a user's.
pub fn is_private_ip(ip: Option<&str>) -> bool {
    ip.and_then(|ip| ip.parse::<Ipv4Addr>().ok()).is_some_and(|ip| ip.is_private())
}

/// Whether a request is test traffic: OpenRTB's `test: 1` (no billing) or a publisher id with
/// the `test-` prefix exchanges give test accounts.
pub fn is_test_traffic(test: Option<i64>, publisher_id: Option<&str>) -> bool {
    test == Some(1) || publisher_id.is_some_and(|id| id.starts_with("test-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_convert_to_usd_and_unknown_currencies_give_none() {
        let rates = ExchangeRates::built_in();
        assert_eq!(rates.to_usd(Some(2.0), None), Some(2.0), "OpenRTB's default is USD");
        assert_eq!(rates.to_usd(Some(2.0), Some("USD")), Some(2.0));
        assert_eq!(rates.to_usd(Some(10.0), Some("EUR")), Some(11.6));
        assert_eq!(rates.to_usd(Some(150.0), Some("JPY")), Some(0.99));
        assert_eq!(rates.to_usd(Some(1.0), Some("XXX")), None);
        assert_eq!(rates.to_usd(None, Some("EUR")), None);
    }

    #[test]
    fn a_rates_file_replaces_the_built_in_rates_and_bad_lines_are_named() {
        let rates =
            ExchangeRates::parse("currency,usd_per_unit\n# fixed for the quarter\nEUR,1.5\n", "f")
                .unwrap();
        assert_eq!(rates.to_usd(Some(2.0), Some("EUR")), Some(3.0));
        assert_eq!(rates.to_usd(Some(2.0), Some("GBP")), None, "not in the file");
        assert_eq!(rates.len(), 1);
        for (text, expect) in [
            ("EUR,1.1\nGBP;1.3\n", "rates.csv: line 2: \"GBP;1.3\" is not `currency,usd_per_unit`"),
            ("EUR,1.1\neuro,1.3\n", "line 2: \"euro\" is not an ISO 4217 code"),
            ("EUR,1.1\nGBP,-1\n", "line 2: \"-1\" is not a positive number"),
            ("EUR,1.1\nEUR,1.2\n", "line 2: EUR is given twice"),
            ("# nothing\n", "there are no rates in it"),
        ] {
            let err = ExchangeRates::parse(text, "rates.csv").unwrap_err().to_string();
            assert!(err.contains(expect), "{err}");
            assert!(err.contains("EXCHANGE_RATES"), "{err}");
        }
    }

    #[test]
    fn device_categories_follow_device_type_and_inventory() {
        assert_eq!(device_category(Some(7), Some("app")), "CTV");
        assert_eq!(device_category(Some(3), Some("app")), "CTV");
        assert_eq!(device_category(Some(4), Some("site")), "Mobile Web");
        assert_eq!(device_category(Some(1), Some("app")), "Mobile App");
        assert_eq!(device_category(Some(2), Some("site")), "Desktop");
        assert_eq!(device_category(Some(5), Some("app")), "Tablet");
        assert_eq!(device_category(Some(8), None), "DOOH");
        assert_eq!(device_category(None, Some("dooh")), "DOOH");
        assert_eq!(device_category(Some(6), Some("app")), "Other");
        assert_eq!(device_category(None, None), "Other");
    }

    #[test]
    fn private_ips_and_test_traffic_are_recognised() {
        for ip in ["10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.1"] {
            assert!(is_private_ip(Some(ip)), "{ip}");
        }
        for ip in ["172.32.0.1", "8.8.8.8", "192.169.0.1", "not an ip", "fd00::1"] {
            assert!(!is_private_ip(Some(ip)), "{ip}");
        }
        assert!(!is_private_ip(None));
        assert!(is_test_traffic(None, Some("test-pub-3")));
        assert!(is_test_traffic(Some(1), Some("pub-3")));
        assert!(!is_test_traffic(Some(0), Some("pub-3")));
        assert!(!is_test_traffic(None, None));
    }
}
