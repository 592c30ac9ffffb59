//! Countries: `device.geo.country` is ISO 3166-1 alpha-3 in OpenRTB 2.6, and becomes a partition
//! value (a directory name) of `db.bid_requests`. Real exchanges also send alpha-2 codes, which
//! are mapped to alpha-3; anything else is rejected, so no value can make a path (`../x`), an
//! over-long file name, or an unbounded number of partitions.

/// ISO 3166-1 (alpha-2, alpha-3), sorted by alpha-2: Debian's iso-codes 3166-1 table, plus the
/// user-assigned XK/XKX (Kosovo) that exchanges send.
const CODES: [(&str, &str); 250] = [
    ("AD", "AND"),
    ("AE", "ARE"),
    ("AF", "AFG"),
    ("AG", "ATG"),
    ("AI", "AIA"),
    ("AL", "ALB"),
    ("AM", "ARM"),
    ("AO", "AGO"),
    ("AQ", "ATA"),
    ("AR", "ARG"),
    ("AS", "ASM"),
    ("AT", "AUT"),
    ("AU", "AUS"),
    ("AW", "ABW"),
    ("AX", "ALA"),
    ("AZ", "AZE"),
    ("BA", "BIH"),
    ("BB", "BRB"),
    ("BD", "BGD"),
    ("BE", "BEL"),
    ("BF", "BFA"),
    ("BG", "BGR"),
    ("BH", "BHR"),
    ("BI", "BDI"),
    ("BJ", "BEN"),
    ("BL", "BLM"),
    ("BM", "BMU"),
    ("BN", "BRN"),
    ("BO", "BOL"),
    ("BQ", "BES"),
    ("BR", "BRA"),
    ("BS", "BHS"),
    ("BT", "BTN"),
    ("BV", "BVT"),
    ("BW", "BWA"),
    ("BY", "BLR"),
    ("BZ", "BLZ"),
    ("CA", "CAN"),
    ("CC", "CCK"),
    ("CD", "COD"),
    ("CF", "CAF"),
    ("CG", "COG"),
    ("CH", "CHE"),
    ("CI", "CIV"),
    ("CK", "COK"),
    ("CL", "CHL"),
    ("CM", "CMR"),
    ("CN", "CHN"),
    ("CO", "COL"),
    ("CR", "CRI"),
    ("CU", "CUB"),
    ("CV", "CPV"),
    ("CW", "CUW"),
    ("CX", "CXR"),
    ("CY", "CYP"),
    ("CZ", "CZE"),
    ("DE", "DEU"),
    ("DJ", "DJI"),
    ("DK", "DNK"),
    ("DM", "DMA"),
    ("DO", "DOM"),
    ("DZ", "DZA"),
    ("EC", "ECU"),
    ("EE", "EST"),
    ("EG", "EGY"),
    ("EH", "ESH"),
    ("ER", "ERI"),
    ("ES", "ESP"),
    ("ET", "ETH"),
    ("FI", "FIN"),
    ("FJ", "FJI"),
    ("FK", "FLK"),
    ("FM", "FSM"),
    ("FO", "FRO"),
    ("FR", "FRA"),
    ("GA", "GAB"),
    ("GB", "GBR"),
    ("GD", "GRD"),
    ("GE", "GEO"),
    ("GF", "GUF"),
    ("GG", "GGY"),
    ("GH", "GHA"),
    ("GI", "GIB"),
    ("GL", "GRL"),
    ("GM", "GMB"),
    ("GN", "GIN"),
    ("GP", "GLP"),
    ("GQ", "GNQ"),
    ("GR", "GRC"),
    ("GS", "SGS"),
    ("GT", "GTM"),
    ("GU", "GUM"),
    ("GW", "GNB"),
    ("GY", "GUY"),
    ("HK", "HKG"),
    ("HM", "HMD"),
    ("HN", "HND"),
    ("HR", "HRV"),
    ("HT", "HTI"),
    ("HU", "HUN"),
    ("ID", "IDN"),
    ("IE", "IRL"),
    ("IL", "ISR"),
    ("IM", "IMN"),
    ("IN", "IND"),
    ("IO", "IOT"),
    ("IQ", "IRQ"),
    ("IR", "IRN"),
    ("IS", "ISL"),
    ("IT", "ITA"),
    ("JE", "JEY"),
    ("JM", "JAM"),
    ("JO", "JOR"),
    ("JP", "JPN"),
    ("KE", "KEN"),
    ("KG", "KGZ"),
    ("KH", "KHM"),
    ("KI", "KIR"),
    ("KM", "COM"),
    ("KN", "KNA"),
    ("KP", "PRK"),
    ("KR", "KOR"),
    ("KW", "KWT"),
    ("KY", "CYM"),
    ("KZ", "KAZ"),
    ("LA", "LAO"),
    ("LB", "LBN"),
    ("LC", "LCA"),
    ("LI", "LIE"),
    ("LK", "LKA"),
    ("LR", "LBR"),
    ("LS", "LSO"),
    ("LT", "LTU"),
    ("LU", "LUX"),
    ("LV", "LVA"),
    ("LY", "LBY"),
    ("MA", "MAR"),
    ("MC", "MCO"),
    ("MD", "MDA"),
    ("ME", "MNE"),
    ("MF", "MAF"),
    ("MG", "MDG"),
    ("MH", "MHL"),
    ("MK", "MKD"),
    ("ML", "MLI"),
    ("MM", "MMR"),
    ("MN", "MNG"),
    ("MO", "MAC"),
    ("MP", "MNP"),
    ("MQ", "MTQ"),
    ("MR", "MRT"),
    ("MS", "MSR"),
    ("MT", "MLT"),
    ("MU", "MUS"),
    ("MV", "MDV"),
    ("MW", "MWI"),
    ("MX", "MEX"),
    ("MY", "MYS"),
    ("MZ", "MOZ"),
    ("NA", "NAM"),
    ("NC", "NCL"),
    ("NE", "NER"),
    ("NF", "NFK"),
    ("NG", "NGA"),
    ("NI", "NIC"),
    ("NL", "NLD"),
    ("NO", "NOR"),
    ("NP", "NPL"),
    ("NR", "NRU"),
    ("NU", "NIU"),
    ("NZ", "NZL"),
    ("OM", "OMN"),
    ("PA", "PAN"),
    ("PE", "PER"),
    ("PF", "PYF"),
    ("PG", "PNG"),
    ("PH", "PHL"),
    ("PK", "PAK"),
    ("PL", "POL"),
    ("PM", "SPM"),
    ("PN", "PCN"),
    ("PR", "PRI"),
    ("PS", "PSE"),
    ("PT", "PRT"),
    ("PW", "PLW"),
    ("PY", "PRY"),
    ("QA", "QAT"),
    ("RE", "REU"),
    ("RO", "ROU"),
    ("RS", "SRB"),
    ("RU", "RUS"),
    ("RW", "RWA"),
    ("SA", "SAU"),
    ("SB", "SLB"),
    ("SC", "SYC"),
    ("SD", "SDN"),
    ("SE", "SWE"),
    ("SG", "SGP"),
    ("SH", "SHN"),
    ("SI", "SVN"),
    ("SJ", "SJM"),
    ("SK", "SVK"),
    ("SL", "SLE"),
    ("SM", "SMR"),
    ("SN", "SEN"),
    ("SO", "SOM"),
    ("SR", "SUR"),
    ("SS", "SSD"),
    ("ST", "STP"),
    ("SV", "SLV"),
    ("SX", "SXM"),
    ("SY", "SYR"),
    ("SZ", "SWZ"),
    ("TC", "TCA"),
    ("TD", "TCD"),
    ("TF", "ATF"),
    ("TG", "TGO"),
    ("TH", "THA"),
    ("TJ", "TJK"),
    ("TK", "TKL"),
    ("TL", "TLS"),
    ("TM", "TKM"),
    ("TN", "TUN"),
    ("TO", "TON"),
    ("TR", "TUR"),
    ("TT", "TTO"),
    ("TV", "TUV"),
    ("TW", "TWN"),
    ("TZ", "TZA"),
    ("UA", "UKR"),
    ("UG", "UGA"),
    ("UM", "UMI"),
    ("US", "USA"),
    ("UY", "URY"),
    ("UZ", "UZB"),
    ("VA", "VAT"),
    ("VC", "VCT"),
    ("VE", "VEN"),
    ("VG", "VGB"),
    ("VI", "VIR"),
    ("VN", "VNM"),
    ("VU", "VUT"),
    ("WF", "WLF"),
    ("WS", "WSM"),
    ("XK", "XKX"),
    ("YE", "YEM"),
    ("YT", "MYT"),
    ("ZA", "ZAF"),
    ("ZM", "ZMB"),
    ("ZW", "ZWE"),
];

/// Which three-letter codes are ISO 3166-1 alpha-3 codes: one bit per `AAA..=ZZZ`.
const ALPHA3: [u64; 275] = alpha3_bits();

const fn alpha3_index(code: &[u8; 3]) -> usize {
    let [a, b, c] = *code;
    (a - b'A') as usize * 676 + (b - b'A') as usize * 26 + (c - b'A') as usize
}

const fn alpha3_bits() -> [u64; 275] {
    let mut bits = [0u64; 275];
    let mut i = 0;
    while i < CODES.len() {
        let b = CODES[i].1.as_bytes();
        let index = alpha3_index(&[b[0], b[1], b[2]]);
        bits[index / 64] |= 1 << (index % 64);
        i += 1;
    }
    bits
}

/// The canonical alpha-3 form of `code`: an alpha-3 code as it is (upper-cased), an alpha-2 code
/// mapped to its alpha-3; `None` for anything that is not an ISO 3166-1 code.
pub fn normalize(code: &str) -> Option<Normalized> {
    match *code.as_bytes() {
        [a, b, c] if [a, b, c].iter().all(u8::is_ascii_alphabetic) => {
            let upper = [a, b, c].map(|x| x.to_ascii_uppercase());
            let index = alpha3_index(&upper);
            if ALPHA3[index / 64] & (1 << (index % 64)) == 0 {
                return None;
            }
            Some(if upper == [a, b, c] { Normalized::AsIs } else { Normalized::Upper(upper) })
        }
        [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            let upper = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
            CODES
                .binary_search_by(|(alpha2, _)| alpha2.as_bytes().cmp(&upper[..]))
                .ok()
                .map(|i| Normalized::Mapped(CODES[i].1))
        }
        _ => None,
    }
}

/// How a valid code becomes alpha-3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Normalized {
    /// Already an upper-case alpha-3 code.
    AsIs,
    /// An alpha-3 code in lower or mixed case.
    Upper([u8; 3]),
    /// An alpha-2 code and its alpha-3.
    Mapped(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_every_code_has_its_length() {
        assert!(CODES.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(CODES.iter().all(|(a2, a3)| a2.len() == 2 && a3.len() == 3));
        let mut alpha3: Vec<&str> = CODES.iter().map(|c| c.1).collect();
        alpha3.sort_unstable();
        alpha3.dedup();
        assert_eq!(alpha3.len(), CODES.len());
    }

    #[test]
    fn alpha3_codes_stand_alpha2_codes_are_mapped_and_the_rest_is_refused() {
        assert_eq!(normalize("USA"), Some(Normalized::AsIs));
        assert_eq!(normalize("usa"), Some(Normalized::Upper(*b"USA")));
        assert_eq!(normalize("US"), Some(Normalized::Mapped("USA")));
        assert_eq!(normalize("gb"), Some(Normalized::Mapped("GBR")));
        assert_eq!(normalize("DE"), Some(Normalized::Mapped("DEU")));
        assert_eq!(normalize("XK"), Some(Normalized::Mapped("XKX")));
        assert_eq!(normalize("ZWE"), Some(Normalized::AsIs));
        assert_eq!(normalize("AFG"), Some(Normalized::AsIs));
        for bad in
            ["", "U", "UK", "XXX", "AAA", "ZZZ", "USAA", "../../escaped", "U/A", "..", "ÜSA", "U S"]
        {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
        assert_eq!(normalize(&"A".repeat(300)), None);
    }
}
