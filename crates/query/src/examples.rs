//! The analytical queries the original platform shipped with its Trino setup (request volume,
//! bid floors, the funnel and its rates), as named examples: `bidlake query --examples` lists
//! them, `bidlake query --example NAME` runs one. Written as there, with unqualified table names
//! (the session's default namespace), in SQL that DataFusion, Trino and DuckDB all accept.

/// One example query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// What `--example` takes, e.g. `fill-rate-by-country`.
    pub name: &'static str,
    /// What it answers, one line.
    pub title: &'static str,
    pub sql: &'static str,
}

/// The example called `name`.
pub fn example(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|example| example.name == name)
}

pub const EXAMPLES: &[Example] = &[
    Example {
        name: "requests-by-country",
        title: "Bid request volume by country, top 10",
        sql: "SELECT device_geo_country, COUNT(*) AS requests
FROM bid_requests
GROUP BY device_geo_country
ORDER BY requests DESC, device_geo_country
LIMIT 10",
    },
    Example {
        name: "bid-floor-by-geo",
        title: "Average bid floor by country and region",
        sql: "SELECT device_geo_country, device_geo_region,
       ROUND(AVG(imp_bidfloor), 4) AS avg_bidfloor, COUNT(*) AS requests
FROM bid_requests
GROUP BY device_geo_country, device_geo_region
ORDER BY avg_bidfloor DESC, device_geo_country, device_geo_region
LIMIT 20",
    },
    Example {
        name: "bid-floor-by-banner-size",
        title: "Bid floor minimum, average and maximum by banner size",
        sql: "SELECT imp_banner_w, imp_banner_h, COUNT(*) AS requests,
       MIN(imp_bidfloor) AS min_bidfloor, ROUND(AVG(imp_bidfloor), 4) AS avg_bidfloor,
       MAX(imp_bidfloor) AS max_bidfloor
FROM bid_requests
GROUP BY imp_banner_w, imp_banner_h
ORDER BY requests DESC, imp_banner_w, imp_banner_h",
    },
    Example {
        name: "os-by-device-type",
        title: "Requests by device operating system and device type",
        sql: "SELECT device_os, device_type, COUNT(*) AS requests
FROM bid_requests
GROUP BY device_os, device_type
ORDER BY requests DESC, device_os, device_type",
    },
    Example {
        name: "hourly-requests",
        title: "Bid requests per hour",
        sql: "SELECT date_trunc('hour', event_timestamp) AS hour, COUNT(*) AS requests
FROM bid_requests
GROUP BY date_trunc('hour', event_timestamp)
ORDER BY hour",
    },
    Example {
        name: "auction-types",
        title: "Auction type distribution (first or second price)",
        sql: "SELECT CASE auction_type WHEN 1 THEN 'first price' WHEN 2 THEN 'second price'
            ELSE 'other' END AS auction, COUNT(*) AS requests,
       ROUND(CAST(COUNT(*) AS DOUBLE) * 100 / SUM(COUNT(*)) OVER (), 2) AS pct
FROM bid_requests
GROUP BY CASE auction_type WHEN 1 THEN 'first price' WHEN 2 THEN 'second price'
              ELSE 'other' END
ORDER BY requests DESC",
    },
    Example {
        name: "privacy-flags",
        title: "Requests by GDPR and COPPA flags",
        sql: "SELECT is_gdpr, is_coppa, COUNT(*) AS requests
FROM bid_requests
GROUP BY is_gdpr, is_coppa
ORDER BY is_gdpr, is_coppa",
    },
    Example {
        name: "snapshot-history",
        title: "The last 10 commits to bid_requests (Iceberg's snapshots metadata table)",
        sql: "SELECT snapshot_id, parent_id, committed_at, operation, summary
FROM \"bid_requests$snapshots\"
ORDER BY committed_at DESC
LIMIT 10",
    },
    Example {
        name: "fill-rate-by-country",
        title: "Fill rate (requests with a bid response) by country",
        sql: "SELECT r.device_geo_country, COUNT(DISTINCT r.request_id) AS requests,
       COUNT(DISTINCT b.request_id) AS filled,
       ROUND(CAST(COUNT(DISTINCT b.request_id) AS DOUBLE)
             / NULLIF(COUNT(DISTINCT r.request_id), 0) * 100, 2) AS fill_rate_pct
FROM bid_requests r
LEFT JOIN bid_responses b ON r.request_id = b.request_id
GROUP BY r.device_geo_country
ORDER BY requests DESC, r.device_geo_country
LIMIT 20",
    },
    Example {
        name: "win-rate-by-bidder",
        title: "Win rate (responses that became impressions) by bidder seat",
        sql: "SELECT b.seat AS bidder, COUNT(*) AS bids, COUNT(i.impression_id) AS wins,
       ROUND(CAST(COUNT(i.impression_id) AS DOUBLE) / NULLIF(COUNT(*), 0) * 100, 2)
         AS win_rate_pct
FROM bid_responses b
LEFT JOIN impressions i ON b.response_id = i.response_id
GROUP BY b.seat
ORDER BY bids DESC, bidder",
    },
    Example {
        name: "ctr-by-creative",
        title: "Click-through rate by creative, top 20 by impressions",
        sql: "SELECT i.creative_id, COUNT(*) AS impressions, COUNT(c.click_id) AS clicks,
       ROUND(CAST(COUNT(c.click_id) AS DOUBLE) / NULLIF(COUNT(*), 0) * 100, 2) AS ctr_pct
FROM impressions i
LEFT JOIN clicks c ON i.impression_id = c.impression_id
GROUP BY i.creative_id
ORDER BY impressions DESC, i.creative_id
LIMIT 20",
    },
    Example {
        name: "revenue-by-publisher",
        title: "Revenue (sum of win prices) by publisher, top 20",
        sql: "SELECT r.publisher_id, COUNT(*) AS impressions,
       ROUND(SUM(i.win_price), 4) AS revenue, ROUND(AVG(i.win_price), 4) AS avg_win_price
FROM bid_requests r
JOIN impressions i ON r.request_id = i.request_id
GROUP BY r.publisher_id
ORDER BY revenue DESC, r.publisher_id
LIMIT 20",
    },
    Example {
        name: "full-funnel",
        title: "The whole funnel in one row: requests, responses, impressions, clicks",
        sql: "SELECT COUNT(DISTINCT r.request_id) AS requests,
       COUNT(DISTINCT b.response_id) AS responses,
       COUNT(DISTINCT i.impression_id) AS impressions,
       COUNT(DISTINCT c.click_id) AS clicks
FROM bid_requests r
LEFT JOIN bid_responses b ON r.request_id = b.request_id
LEFT JOIN impressions i ON b.response_id = i.response_id
LEFT JOIN clicks c ON i.impression_id = c.impression_id",
    },
    Example {
        name: "bid-to-win-spread",
        title: "Average spread between bid price and win price by bidder",
        sql: "SELECT b.seat AS bidder, COUNT(*) AS wins,
       ROUND(AVG(b.bid_price - i.win_price), 4) AS avg_spread
FROM bid_responses b
JOIN impressions i ON b.response_id = i.response_id
GROUP BY b.seat
ORDER BY wins DESC, bidder",
    },
];

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        let names: HashSet<&str> = EXAMPLES.iter().map(|e| e.name).collect();
        assert_eq!(names.len(), EXAMPLES.len());
        assert_eq!(example("full-funnel").map(|e| e.name), Some("full-funnel"));
        assert!(example("nope").is_none());
    }
}
