//! What follows a bid request: a bid response (some requests), an impression when the bid wins
//! (some responses), a click (some impressions). Each is decided, priced and timed when its
//! request is written, so a seed fixes the whole funnel; each is written when it falls due.

use crate::catalog;
use crate::clock::{Micros, format_timestamp};
use crate::json::Obj;
use crate::request::{Media, RequestFacts, Tables, units_per_usd};
use crate::rng::{Dice, Id};

/// Shares of the funnel, as in the original platform's configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FunnelRates {
    /// Share of bid requests that get a bid response.
    pub bid_response: f64,
    /// Share of bid responses that win and become an impression.
    pub win: f64,
    /// Share of impressions that get clicked.
    pub click: f64,
}

impl Default for FunnelRates {
    fn default() -> Self {
        Self { bid_response: 0.60, win: 0.15, click: 0.02 }
    }
}

/// One request's funnel: everything needed to write its response, impression and click.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Chain {
    pub request: RequestFacts,
    pub response_id: Id,
    pub bid_id: Id,
    pub seat: &'static str,
    pub price: f64,
    pub advertiser: usize,
    pub creative: i64,
    pub response_at: Micros,
    pub win: Option<Win>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Win {
    pub impression_id: Id,
    pub price: f64,
    pub at: Micros,
    pub click: Option<(Id, Micros)>,
}

/// Decides the funnel of a request written at `request_at`; `None` when no bidder answers.
pub(crate) fn decide(
    dice: &mut Dice,
    tables: &Tables,
    rates: &FunnelRates,
    request: RequestFacts,
    request_at: Micros,
) -> Option<Chain> {
    if !dice.chance(rates.bid_response) {
        return None;
    }
    let imp = request.imp;
    // A bid clears the floor that applies: the deal's when bidding on the deal.
    let floor = imp.deal.map_or(imp.bidfloor, |(_, deal_floor, _)| deal_floor);
    let base = if floor > 0.0 { floor } else { 0.5 * units_per_usd(request.currency) };
    let price = ((base * dice.float(1.0, 2.5)) * 100.0).ceil() / 100.0;
    let response_at = request_at + dice.int(10, request.tmax.min(400)) * 1_000;

    let win = dice.chance(rates.win).then(|| {
        let price = match (request.at, imp.deal) {
            (_, Some((_, deal_floor, 3))) => deal_floor,
            (1, _) => price,
            // Second price: the runner-up's bid plus a cent, never below the floor or above the bid.
            _ => ((price * dice.float(0.5, 0.95)).max(floor) + 0.01).min(price),
        };
        let at = response_at + (dice.lognormal(400.0, 0.6).clamp(50.0, 10_000.0) * 1_000.0) as i64;
        let click = dice.chance(rates.click).then(|| {
            let delay = dice.lognormal(6.0, 0.8).clamp(0.5, 120.0);
            (dice.uuid(), at + (delay * 1e6) as i64)
        });
        Win { impression_id: dice.uuid(), price: (price * 10_000.0).round() / 10_000.0, at, click }
    });

    Some(Chain {
        request,
        response_id: dice.uuid(),
        bid_id: dice.uuid(),
        seat: tables.bidders.sample(dice),
        price,
        advertiser: dice.int(0, catalog::ADVERTISERS.len() as i64 - 1) as usize,
        creative: dice.int(1, 40),
        response_at,
        win,
    })
}

impl Chain {
    fn advertiser_domain(&self) -> &'static str {
        catalog::ADVERTISERS[self.advertiser]
    }

    fn write_creative_id(&self, obj: &mut Obj<'_>, key: &str) {
        obj.str_with(key, |t| {
            t.push("cr-").int(self.advertiser as i64).push("-").int(self.creative);
        });
    }

    /// An OpenRTB 2.6 BidResponse: `id` is the request's id, `bidid` the response's own id.
    pub fn write_response(&self, received_at: Micros, out: &mut Vec<u8>) {
        let imp = &self.request.imp;
        let mut response = Obj::begin(out);
        response
            .ascii("id", self.request.id.as_bytes())
            .ascii("bidid", self.response_id.as_bytes());
        let mut seatbids = response.arr("seatbid");
        let mut seatbid = seatbids.obj();
        let mut bids = seatbid.arr("bid");
        let mut bid = bids.obj();
        bid.ascii("id", self.bid_id.as_bytes());
        bid.str_with("impid", |t| {
            t.int(imp.number);
        });
        bid.decimal("price", self.price, 2);
        bid.str_with("nurl", |t| {
            t.push("https://win.").push(self.seat).push(".com/w?b=").ascii(self.bid_id.as_bytes());
            t.push("&p=${AUCTION_PRICE}");
        });
        bid.str_with("adid", |t| {
            t.push("ad-").int(self.advertiser as i64).push("-").int(self.creative);
        });
        bid.strs("adomain", &[self.advertiser_domain()]);
        bid.str_with("cid", |t| {
            t.push("cmp-").int(self.advertiser as i64).push("-").int(self.creative / 10);
        });
        self.write_creative_id(&mut bid, "crid");
        bid.strs("cat", &[catalog::CATEGORIES_V1[self.advertiser % catalog::CATEGORIES_V1.len()]]);
        if let Some((deal_id, _, _)) = imp.deal {
            bid.str("dealid", deal_id);
        }
        if let Some((w, h)) = imp.size {
            bid.int("w", w).int("h", h);
        }
        if imp.media == Media::Video {
            bid.int("dur", 30);
        }
        bid.int("mtype", imp.media as i64);
        bid.end();
        bids.end();
        seatbid.str("seat", self.seat);
        seatbid.end();
        seatbids.end();
        response.str("cur", self.request.currency);
        write_times(&mut response, self.response_at, received_at);
        response.end();
    }

    pub fn write_impression(&self, win: &Win, received_at: Micros, out: &mut Vec<u8>) {
        let mut impression = Obj::begin(out);
        impression
            .ascii("impression_id", win.impression_id.as_bytes())
            .ascii("request_id", self.request.id.as_bytes())
            .ascii("response_id", self.response_id.as_bytes())
            .str_with("imp_id", |t| {
                t.int(self.request.imp.number);
            })
            .str("bidder_id", self.seat)
            .decimal("win_price", win.price, 4)
            .str("win_currency", self.request.currency);
        self.write_creative_id(&mut impression, "creative_id");
        impression.str("ad_domain", self.advertiser_domain());
        write_times(&mut impression, win.at, received_at);
        impression.end();
    }

    pub fn write_click(
        &self,
        win: &Win,
        click_id: &Id,
        at: Micros,
        received_at: Micros,
        out: &mut Vec<u8>,
    ) {
        let mut click = Obj::begin(out);
        click
            .ascii("click_id", click_id.as_bytes())
            .ascii("request_id", self.request.id.as_bytes())
            .ascii("impression_id", win.impression_id.as_bytes())
            .str_with("imp_id", |t| {
                t.int(self.request.imp.number);
            })
            .str("bidder_id", self.seat);
        self.write_creative_id(&mut click, "creative_id");
        click.str_with("click_url", |t| {
            t.push("https://www.").push(self.advertiser_domain()).push("/landing?crid=cr-");
            t.int(self.advertiser as i64)
                .push("-")
                .int(self.creative)
                .push("&utm_source=")
                .push(self.seat);
        });
        write_times(&mut click, at, received_at);
        click.end();
    }
}

fn write_times(obj: &mut Obj<'_>, event_at: Micros, received_at: Micros) {
    obj.str_with("event_timestamp", |t| {
        t.ascii(&format_timestamp(event_at));
    });
    obj.str_with("received_at", |t| {
        t.ascii(&format_timestamp(received_at.max(event_at)));
    });
}
