//! The fast path of bid-request decoding: a pull parser over the record's bytes that reads the
//! fields a column needs and skips the rest, checking what it skips as strictly as serde_json
//! does but building nothing. Most of a bid request (user agents, `source.schain`, `user.eids`,
//! `imp.metric`) maps to no column, and serde's visitors cost more to skip it than the
//! bytes are worth.
//!
//! It decides only the records it is sure of. Anything else returns `None` and the serde path
//! decodes the record, so rows and DLQ reasons are the same whichever path read it: an escape
//! in a string it keeps or in a key, a duplicate field, an object written as an array, a number
//! serde would refuse or read differently, nesting deeper than 64, and every syntax error.
//! The tests hold it to that, on hand-written edge cases and on generated requests damaged a
//! byte at a time.

use std::borrow::Cow;

use serde::de::IgnoredAny;

use super::{
    AppIn, BannerIn, BidRequestIn, DeviceIn, DoohIn, First, FormatIn, GeoIn, ImpIn, PublisherIn,
    RegsExtIn, RegsIn, SiteIn, Text, UserIn,
};

/// A bid request read by the fast path, or `None` for serde to decide.
pub(super) fn bid_request(text: &str) -> Option<BidRequestIn<'_>> {
    let mut scan = Scanner::new(text);
    let mut r = BidRequestIn::default();
    let mut seen = Seen::default();
    scan.object(|s, key| match key {
        b"id" => seen.once(0).and_then(|()| s.set(&mut r.id, Scanner::text)),
        b"imp" => seen.once(1).and_then(|()| s.set(&mut r.imp, |s| s.first(Scanner::imp))),
        b"site" => seen.once(2).and_then(|()| s.set(&mut r.site, Scanner::site)),
        b"app" => seen.once(3).and_then(|()| s.set(&mut r.app, Scanner::app)),
        b"dooh" => seen.once(4).and_then(|()| s.set(&mut r.dooh, Scanner::dooh)),
        b"device" => seen.once(5).and_then(|()| s.set(&mut r.device, Scanner::device)),
        b"user" => seen.once(6).and_then(|()| s.set(&mut r.user, Scanner::user)),
        b"at" => seen.once(7).and_then(|()| s.set(&mut r.at, Scanner::int)),
        b"tmax" => seen.once(8).and_then(|()| s.set(&mut r.tmax, Scanner::int)),
        b"cur" => seen.once(9).and_then(|()| s.set(&mut r.cur, |s| s.first(Scanner::text))),
        b"regs" => seen.once(10).and_then(|()| s.set(&mut r.regs, Scanner::regs)),
        b"event_timestamp" => {
            seen.once(11).and_then(|()| s.set(&mut r.event_timestamp, Scanner::text))
        }
        b"received_at" => seen.once(12).and_then(|()| s.set(&mut r.received_at, Scanner::text)),
        b"test" => seen.once(13).and_then(|()| s.set(&mut r.test, Scanner::int)),
        _ => s.skip(),
    })?;
    scan.end()?;
    Some(r)
}

/// The fields of one object read so far: serde rejects a field given twice.
#[derive(Default)]
struct Seen(u32);

impl Seen {
    fn once(&mut self, field: u32) -> Option<()> {
        let bit = 1 << field;
        let first = self.0 & bit == 0;
        self.0 |= bit;
        first.then_some(())
    }
}

/// How deep `skip` follows nesting before it leaves a record to serde.
const MAX_DEPTH: u32 = 64;

/// A cursor over a record's text. Every method returns `None` where the fast path stops.
struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, bytes: text.as_bytes(), at: 0 }
    }

    #[inline]
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte that is not whitespace, not consumed.
    #[inline]
    fn peek(&mut self) -> Option<u8> {
        self.skip_whitespace();
        self.bytes.get(self.at).copied()
    }

    #[inline]
    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Only whitespace may follow the record's object.
    fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        self.bytes.get(self.at..)?.starts_with(word).then(|| self.at += word.len())
    }

    /// Reads an optional field into `slot`: `null` leaves it `None`.
    fn set<T>(
        &mut self,
        slot: &mut Option<T>,
        read: impl FnOnce(&mut Self) -> Option<T>,
    ) -> Option<()> {
        if self.peek()? == b'n' {
            self.literal(b"null")
        } else {
            *slot = Some(read(self)?);
            Some(())
        }
    }

    /// Calls `field` for each key of an object with the scanner at its value, which `field`
    /// reads or skips.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.peek()? == b'}' {
            self.at += 1;
            return Some(());
        }
        loop {
            let key = self.key()?;
            field(self, key)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Calls `element` for each element of an array with its index; returns the length.
    fn array(&mut self, mut element: impl FnMut(&mut Self, usize) -> Option<()>) -> Option<usize> {
        self.eat(b'[')?;
        if self.peek()? == b']' {
            self.at += 1;
            return Some(0);
        }
        let mut len = 0;
        loop {
            element(self, len)?;
            len += 1;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(len);
                }
                _ => return None,
            }
        }
    }

    /// An array's first element, read by `read`, and its length; the rest is skipped.
    fn first<T>(&mut self, mut read: impl FnMut(&mut Self) -> Option<T>) -> Option<First<T>> {
        let mut first = None;
        let len = self.array(|s, index| {
            if index == 0 {
                first = Some(read(s)?);
                Some(())
            } else {
                s.skip()
            }
        })?;
        Some(First { first, len })
    }

    /// A string without escapes (serde would unescape it) or control characters, borrowed
    /// from the record.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.at;
        let end = string_stop(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        // Both ends sit next to an ASCII quote, so they are character boundaries.
        self.text.get(start..end)
    }

    /// An object's key and its colon, as bytes to match (no escapes: serde would unescape).
    fn key(&mut self) -> Option<&'a [u8]> {
        self.eat(b'"')?;
        let start = self.at;
        let end = string_stop(self.bytes, start);
        if self.bytes.get(end) != Some(&b'"') {
            return None;
        }
        self.at = end + 1;
        self.eat(b':')?;
        self.bytes.get(start..end)
    }

    fn text(&mut self) -> Option<Text<'a>> {
        self.string().map(|s| Text(Cow::Borrowed(s)))
    }

    /// The rest of a string after its opening quote, escapes checked for form only, as serde
    /// checks a string it ignores.
    fn skip_string_body(&mut self) -> Option<()> {
        loop {
            self.at = string_stop(self.bytes, self.at);
            match self.bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(());
                }
                b'\\' => self.at += 1,
                _ => return None, // a control character
            }
            match self.bytes.get(self.at)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 1,
                b'u' => {
                    let hex = self.bytes.get(self.at + 1..self.at + 5)?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return None;
                    }
                    self.at += 5;
                }
                _ => return None,
            }
        }
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> Option<&'a str> {
        self.skip_whitespace();
        let start = self.at;
        self.skip_number()?;
        self.text.get(start..self.at)
    }

    /// Skips a number, checked against JSON's grammar.
    fn skip_number(&mut self) -> Option<()> {
        self.skip_whitespace();
        let bytes = self.bytes;
        let start = self.at;
        let mut at = start + usize::from(bytes.get(start) == Some(&b'-'));
        let integer = at;
        at = digits(bytes, at);
        // One digit at least, and no leading zero.
        match at - integer {
            0 => return None,
            1 => {}
            _ if bytes.get(integer) == Some(&b'0') => return None,
            _ => {}
        }
        if bytes.get(at) == Some(&b'.') {
            let fraction = at + 1;
            at = digits(bytes, fraction);
            if at == fraction {
                return None;
            }
        }
        if let Some(b'e' | b'E') = bytes.get(at) {
            at += 1;
            if let Some(b'+' | b'-') = bytes.get(at) {
                at += 1;
            }
            let exponent = at;
            at = digits(bytes, exponent);
            if at == exponent {
                return None;
            }
        }
        self.at = at;
        Some(())
    }

    /// An integer for an `i64` field. Fractions, exponents, `-0` (all floats to serde) and
    /// values past `i64` are left to serde, which rejects them.
    fn int(&mut self) -> Option<i64> {
        let number = self.number()?.as_bytes();
        let (negative, digits) = match number.split_first()? {
            (b'-', digits) => (true, digits),
            _ => (false, number),
        };
        if negative && digits.first() == Some(&b'0') {
            return None;
        }
        // Summed below zero, where `i64::MIN` fits.
        let mut value: i64 = 0;
        for &digit in digits {
            if !digit.is_ascii_digit() {
                return None;
            }
            value = value.checked_mul(10)?.checked_sub(i64::from(digit - b'0'))?;
        }
        if negative { Some(value) } else { value.checked_neg() }
    }

    /// A number for an `f64` field. Rust's parse rounds correctly; out-of-range values are left
    /// to serde.
    fn float(&mut self) -> Option<f64> {
        let value: f64 = self.number()?.parse().ok()?;
        value.is_finite().then_some(value)
    }

    /// Any value, only for its presence.
    fn any(&mut self) -> Option<IgnoredAny> {
        self.skip().map(|()| IgnoredAny)
    }

    /// Skips one value of any kind, checking it as serde_json does.
    fn skip(&mut self) -> Option<()> {
        match self.peek()? {
            b'"' => {
                self.at += 1;
                self.skip_string_body()
            }
            b'{' | b'[' => self.skip_nested(),
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => self.skip_number(),
        }
    }

    /// Skips an object or an array.
    fn skip_nested(&mut self) -> Option<()> {
        // One bit per open container, set for an object.
        let mut objects: u64 = 0;
        let mut depth = 0;
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    self.skip_string_body()?;
                }
                open @ (b'{' | b'[') => {
                    self.at += 1;
                    let close = if open == b'{' { b'}' } else { b']' };
                    if self.peek()? == close {
                        self.at += 1;
                    } else {
                        if depth == MAX_DEPTH {
                            return None;
                        }
                        depth += 1;
                        objects = objects << 1 | u64::from(open == b'{');
                        if open == b'{' {
                            self.skip_key()?;
                        }
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                _ => self.skip_number()?,
            }
            // After a value: a comma and the next one, or the ends of containers.
            loop {
                if depth == 0 {
                    return Some(());
                }
                let in_object = objects & 1 == 1;
                match self.peek()? {
                    b',' => {
                        self.at += 1;
                        if in_object {
                            self.skip_key()?;
                        }
                        break;
                    }
                    b'}' if in_object => {}
                    b']' if !in_object => {}
                    _ => return None,
                }
                self.at += 1;
                depth -= 1;
                objects >>= 1;
            }
        }
    }

    /// An object's key and its colon, skipped.
    fn skip_key(&mut self) -> Option<()> {
        self.eat(b'"')?;
        self.skip_string_body()?;
        self.eat(b':')
    }

    fn imp(&mut self) -> Option<ImpIn<'a>> {
        let mut imp = ImpIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"id" => seen.once(0).and_then(|()| s.set(&mut imp.id, Scanner::text)),
            b"banner" => seen.once(1).and_then(|()| s.set(&mut imp.banner, Scanner::banner)),
            b"video" => seen.once(2).and_then(|()| s.set(&mut imp.video, Scanner::any)),
            b"audio" => seen.once(3).and_then(|()| s.set(&mut imp.audio, Scanner::any)),
            b"native" => seen.once(4).and_then(|()| s.set(&mut imp.native, Scanner::any)),
            b"bidfloor" => seen.once(5).and_then(|()| s.set(&mut imp.bidfloor, Scanner::float)),
            b"bidfloorcur" => {
                seen.once(6).and_then(|()| s.set(&mut imp.bidfloorcur, Scanner::text))
            }
            _ => s.skip(),
        })?;
        Some(imp)
    }

    fn banner(&mut self) -> Option<BannerIn> {
        let mut banner = BannerIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"w" => seen.once(0).and_then(|()| s.set(&mut banner.w, Scanner::int)),
            b"h" => seen.once(1).and_then(|()| s.set(&mut banner.h, Scanner::int)),
            b"format" => {
                seen.once(2).and_then(|()| s.set(&mut banner.format, |s| s.first(Scanner::format)))
            }
            _ => s.skip(),
        })?;
        Some(banner)
    }

    fn format(&mut self) -> Option<FormatIn> {
        let mut format = FormatIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"w" => seen.once(0).and_then(|()| s.set(&mut format.w, Scanner::int)),
            b"h" => seen.once(1).and_then(|()| s.set(&mut format.h, Scanner::int)),
            _ => s.skip(),
        })?;
        Some(format)
    }

    fn site(&mut self) -> Option<SiteIn<'a>> {
        let mut site = SiteIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"id" => seen.once(0).and_then(|()| s.set(&mut site.id, Scanner::text)),
            b"domain" => seen.once(1).and_then(|()| s.set(&mut site.domain, Scanner::text)),
            b"cat" => seen.once(2).and_then(|()| s.set(&mut site.cat, Scanner::texts)),
            b"publisher" => {
                seen.once(3).and_then(|()| s.set(&mut site.publisher, Scanner::publisher))
            }
            _ => s.skip(),
        })?;
        Some(site)
    }

    fn texts(&mut self) -> Option<Vec<Text<'a>>> {
        let mut texts = Vec::new();
        self.array(|s, _| {
            texts.push(s.text()?);
            Some(())
        })?;
        Some(texts)
    }

    fn dooh(&mut self) -> Option<DoohIn<'a>> {
        let mut dooh = DoohIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"publisher" => {
                seen.once(0).and_then(|()| s.set(&mut dooh.publisher, Scanner::publisher))
            }
            _ => s.skip(),
        })?;
        Some(dooh)
    }

    fn app(&mut self) -> Option<AppIn<'a>> {
        let mut app = AppIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"bundle" => seen.once(0).and_then(|()| s.set(&mut app.bundle, Scanner::text)),
            b"publisher" => {
                seen.once(1).and_then(|()| s.set(&mut app.publisher, Scanner::publisher))
            }
            _ => s.skip(),
        })?;
        Some(app)
    }

    fn publisher(&mut self) -> Option<PublisherIn<'a>> {
        let mut publisher = PublisherIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"id" => seen.once(0).and_then(|()| s.set(&mut publisher.id, Scanner::text)),
            _ => s.skip(),
        })?;
        Some(publisher)
    }

    fn device(&mut self) -> Option<DeviceIn<'a>> {
        let mut device = DeviceIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"devicetype" => {
                seen.once(0).and_then(|()| s.set(&mut device.devicetype, Scanner::int))
            }
            b"os" => seen.once(1).and_then(|()| s.set(&mut device.os, Scanner::text)),
            b"geo" => seen.once(2).and_then(|()| s.set(&mut device.geo, Scanner::geo)),
            b"ip" => seen.once(3).and_then(|()| s.set(&mut device.ip, Scanner::text)),
            _ => s.skip(),
        })?;
        Some(device)
    }

    fn geo(&mut self) -> Option<GeoIn<'a>> {
        let mut geo = GeoIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"country" => seen.once(0).and_then(|()| s.set(&mut geo.country, Scanner::text)),
            b"region" => seen.once(1).and_then(|()| s.set(&mut geo.region, Scanner::text)),
            _ => s.skip(),
        })?;
        Some(geo)
    }

    fn user(&mut self) -> Option<UserIn<'a>> {
        let mut user = UserIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"id" => seen.once(0).and_then(|()| s.set(&mut user.id, Scanner::text)),
            _ => s.skip(),
        })?;
        Some(user)
    }

    fn regs(&mut self) -> Option<RegsIn> {
        let mut regs = RegsIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"coppa" => seen.once(0).and_then(|()| s.set(&mut regs.coppa, Scanner::int)),
            b"gdpr" => seen.once(1).and_then(|()| s.set(&mut regs.gdpr, Scanner::int)),
            b"ext" => seen.once(2).and_then(|()| s.set(&mut regs.ext, Scanner::regs_ext)),
            _ => s.skip(),
        })?;
        Some(regs)
    }

    fn regs_ext(&mut self) -> Option<RegsExtIn> {
        let mut ext = RegsExtIn::default();
        let mut seen = Seen::default();
        self.object(|s, key| match key {
            b"gdpr" => seen.once(0).and_then(|()| s.set(&mut ext.gdpr, Scanner::int)),
            _ => s.skip(),
        })?;
        Some(ext)
    }
}

/// Where the digits from `at` end.
#[inline]
fn digits(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b'0'..=b'9') = bytes.get(at) {
        at += 1;
    }
    at
}

/// Where the string running from `at` stops: the first `"`, `\\` or control character (which
/// JSON strings may not hold unescaped), or the end of the record.
#[inline]
fn string_stop(bytes: &[u8], mut at: usize) -> usize {
    // Eight bytes at a time (SWAR): a byte's high bit is set in `found` where it is one of
    // those. Strings here are short, so this beats a call into memchr (and, measured, a
    // sixteen-byte version the compiler turns into SSE2).
    const ONES: u64 = u64::MAX / 255;
    const HIGHS: u64 = ONES << 7;
    while let Some(chunk) = bytes.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let quote = word ^ (ONES * u64::from(b'"'));
        let backslash = word ^ (ONES * u64::from(b'\\'));
        let found = (word.wrapping_sub(ONES * 0x20)
            | quote.wrapping_sub(ONES)
            | backslash.wrapping_sub(ONES))
            & !word
            & HIGHS;
        if found != 0 {
            return at + found.trailing_zeros() as usize / 8;
        }
        at += 8;
    }
    while let Some(&byte) = bytes.get(at) {
        if byte == b'"' || byte == b'\\' || byte < 0x20 {
            break;
        }
        at += 1;
    }
    at
}

#[cfg(test)]
mod tests {
    use bidlake_gen::{Event, Generator};

    use super::super::{BidRequestRow, ExchangeRates, Reject, bid_request_row, parse};

    /// The row (or reject) serde gives, and the fast path's if it takes the record.
    fn both(
        value: &[u8],
    ) -> (Result<BidRequestRow<'_>, Reject>, Option<Result<BidRequestRow<'_>, Reject>>) {
        let serde =
            parse(value).and_then(|r| bid_request_row(r, Some(0), &ExchangeRates::built_in()));
        let fast = std::str::from_utf8(value)
            .ok()
            .and_then(super::bid_request)
            .map(|r| bid_request_row(r, Some(0), &ExchangeRates::built_in()));
        (serde, fast)
    }

    /// Whether the fast path took the record; panics if it read it differently from serde.
    fn agrees(value: &[u8]) -> bool {
        let (serde, fast) = both(value);
        match fast {
            Some(fast) => {
                assert_eq!(fast, serde, "{}", String::from_utf8_lossy(value));
                true
            }
            None => false,
        }
    }

    fn generated(count: usize) -> Vec<Vec<u8>> {
        let mut generator = Generator::new(7, None);
        let mut event = Event::default();
        (0..count)
            .map(|i| {
                generator.next_request(1_795_508_212_000_000 + i as i64, &mut event);
                event.value.clone()
            })
            .collect()
    }

    #[test]
    fn the_fast_path_takes_every_generated_request_and_agrees_with_serde() {
        for value in generated(2_000) {
            assert!(agrees(&value), "not taken: {}", String::from_utf8_lossy(&value));
        }
    }

    #[test]
    fn the_fast_path_agrees_with_serde() {
        // Records the fast path reads itself, each checked against serde.
        let taken: &[&str] = &[
            r#"{"id":"r","imp":[{"id":"1"}]}"#,
            " \t\r\n{ \"id\" : \"r\" , \"imp\" : [ { \"id\" : \"1\" } ] } \n",
            "{ \"id\": \"r\", \"imp\": [ { \"bidfloor\": 1.5, \"banner\": { \"w\": 300 } } ], \"at\": 1, \"x\": [ 1 , -2.5e3 ] }",
            r#"{"id":null,"imp":[{"id":"1"}]}"#,
            r#"{"id":"r","imp":null}"#,
            r#"{"id":"r","imp":[]}"#,
            r#"{"id":"r","imp":[{"id":"1","video":null,"audio":0,"bidfloor":2}]}"#,
            r#"{"id":"r","imp":[{"id":"1","banner":{"format":[]}},null,[],"x"]}"#,
            r#"{"id":"r","imp":[{"banner":{"w":1,"h":-2,"format":[{"w":3,"h":4},7]}}]}"#,
            r#"{"id":"r","imp":[{"bidfloor":1.5e-3}],"at":-5,"tmax":0,"dooh":{}}"#,
            r#"{"id":"r","imp":[{"bidfloor":-0}],"site":{"cat":[],"publisher":null},"app":{}}"#,
            r#"{"id":"r","imp":[{}],"site":{"cat":["a","b"]},"regs":{"ext":{"gdpr":1},"coppa":1}}"#,
            r#"{"id":"r","imp":[{}],"regs":{"ext":null,"gdpr":null},"user":{"id":"u","id2":1}}"#,
            r#"{"id":"r","imp":[{}],"cur":[],"device":{"geo":{"country":"USA","x":[{"y":[]}]}}}"#,
            r#"{"id":"r","imp":[{}],"x":"\"\\\/\b\f\n\r\t\u00e9\uD800","y":[true,false,null]}"#,
            r#"{"id":"r","imp":[{}],"id_":1,"":2,"event_timestamp":"2026-01-01T00:00:00Z"}"#,
            r#"{"id":"r","imp":[{}],"event_timestamp":"yesterday"}"#,
            r#"{"id":"r","imp":[{"banner":{"w":3000000000}}]}"#,
            r#"{"id":"","imp":[{}]}"#,
            r#"{"id":"r","imp":[{}],"n":[0,-1,1.25,1e5,1E+5,-1.0e-5,123456789012345678901234]}"#,
            r#"{"id":"r","imp":[{}],"at":-9223372036854775808,"tmax":9223372036854775807}"#,
            r#"{"id":"r","imp":[{}],"x":"Zürich, 東京, 🦀 and a long tail of ASCII after it"}"#,
            r#"{"id":"r","imp":[{}],"device":{"os":"Sailfish ÖS","geo":{"region":"Zürich"}}}"#,
        ];
        for value in taken {
            assert!(agrees(value.as_bytes()), "not taken: {value}");
        }
        // Records it leaves to serde, whatever serde then makes of them.
        let left: &[&str] = &[
            r#"{"id":"r\u0031","imp":[{}]}"#,
            r#"{"i\u0064":"r","imp":[{}]}"#,
            r#"{"id":"r","id":"s","imp":[{}]}"#,
            r#"{"id":"r","imp":[{"id":"1","id":"2"}]}"#,
            r#"{"id":"r","imp":[["1"]]}"#,
            r#"{"id":"r","imp":[null]}"#,
            r#"{"id":"r","imp":[{}],"at":1.0}"#,
            r#"{"id":"r","imp":[{}],"at":-0}"#,
            r#"{"id":"r","imp":[{}],"at":1e2}"#,
            r#"{"id":"r","imp":[{}],"at":9223372036854775808}"#,
            r#"{"id":"r","imp":[{"bidfloor":1e400}]}"#,
            r#"{"id":"r","imp":[{}],"tmax":"1"}"#,
            r#"{"id":"r","imp":[{}],"site":"s"}"#,
            r#"{"id":"r","imp":[{}],"cur":[null]}"#,
            "{\"id\":\"r\",\"imp\":[{}],\"x\":\"tab\there\"}",
            r#"{"id":"r","imp":[{}],"x":"\x"}"#,
            r#"{"id":"r","imp":[{}],"x":"\u12"}"#,
            r#"{"id":"r","imp":[{}],"x":01}"#,
            r#"{"id":"r","imp":[{}],"x":1.}"#,
            r#"{"id":"r","imp":[{}],"x":.5}"#,
            r#"{"id":"r","imp":[{}],"x":1e}"#,
            r#"{"id":"r","imp":[{}],"x":+1}"#,
            r#"{"id":"r","imp":[{}],"x":[1,]}"#,
            r#"{"id":"r","imp":[{}],"x":{"a":1,}}"#,
            r#"{"id":"r","imp":[{}],"x":{"a" 1}}"#,
            r#"{"id":"r","imp":[{}],"x":nul}"#,
            r#"{"id":"r","imp":[{}],"x":[}"#,
            r#"{"id":"r","imp":[{}],}"#,
            r#"{"id":"r","imp":[{}]} x"#,
            r#"{"id":"r","imp":[{}]"#,
            r#"[{"id":"r"}]"#,
            "\u{a0}{\"id\":\"r\",\"imp\":[{}]}",
        ];
        for value in left {
            assert!(!agrees(value.as_bytes()), "taken: {value}");
        }
        // Not UTF-8, in a skipped string, a kept one and a key: the record never reaches the
        // fast path, and serde reports it.
        let not_utf8: [&[u8]; 5] = [
            b"{\"id\":\"r\",\"imp\":[{}],\"x\":\"\xff\"}",
            b"{\"id\":\"r\",\"imp\":[{}],\"x\":\"ab\xc3\"}",
            b"{\"id\":\"r\",\"imp\":[{}],\"x\":\"\xc0\x80 overlong\"}",
            b"{\"id\":\"r\xe6\x9d\",\"imp\":[{}]}",
            b"{\"id\":\"r\",\"imp\":[{}],\"\xf0\x9f\":1}",
        ];
        for value in not_utf8 {
            assert!(!agrees(value), "taken: {}", String::from_utf8_lossy(value));
            assert_eq!(both(value).0.unwrap_err().kind, super::super::RejectKind::NotUtf8);
        }
        let deep =
            format!(r#"{{"id":"r","imp":[{{}}],"x":{}1{}}}"#, "[".repeat(65), "]".repeat(65));
        assert!(!agrees(deep.as_bytes()), "nesting past 64 is serde's");
        let deep =
            format!(r#"{{"id":"r","imp":[{{}}],"x":{}1{}}}"#, "[".repeat(64), "]".repeat(64));
        assert!(agrees(deep.as_bytes()));
    }

    /// Generated requests damaged a byte at a time: whatever the fast path still takes, serde
    /// must read the same way (the fast path never accepts what serde rejects).
    #[test]
    fn damaged_records_are_read_as_serde_reads_them() {
        const BYTES: &[u8] = b"\"\\{}[],: 0159.-+eEnulltrfasx/\x01\x1f\x80\xbf\xc3\xe6\xff";
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move |bound: usize| {
            // xorshift64*: deterministic, no dependency.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound
        };
        let (mut taken, mut rejected_by_serde) = (0, 0);
        for value in generated(100) {
            for _ in 0..100 {
                let mut damaged = value.clone();
                let at = next(damaged.len());
                match next(3) {
                    0 => {
                        damaged.remove(at);
                    }
                    1 => damaged.insert(at, BYTES[next(BYTES.len())]),
                    _ => damaged[at] = BYTES[next(BYTES.len())],
                }
                taken += usize::from(agrees(&damaged));
                rejected_by_serde += usize::from(both(&damaged).0.is_err());
            }
        }
        // Most damage lands in skipped values the fast path still checks and takes.
        assert!(taken > 5_000, "the fast path took only {taken} of 10,000");
        assert!(rejected_by_serde > 3_000, "only {rejected_by_serde} damaged records were bad");
    }
}
