//! A minimal JSON writer that appends to a reused buffer.
//!
//! The generator's goal is a million requests a second on one core, which leaves no room for
//! building an owned tree (dozens of `String`s per request) and serializing it. Writing straight
//! into one buffer allocates nothing per event; the tests parse every line back with the OpenRTB
//! model, so the two cannot drift apart.
//!
//! Strings are copied as they are, never escaped: the generator writes only strings from its own
//! tables and ASCII it assembles (ids, digits, hex), and scanning every string of every event for
//! characters to escape cost a fifth of the generator's time. `catalog`'s tests check that no table
//! string needs escaping, and debug builds (the test suite) check every string written.

/// An open JSON object. Fields are written in call order; it closes when dropped (or `end`ed),
/// so a nested object can never be left open or closed out of order.
#[derive(Debug)]
pub struct Obj<'b> {
    buf: &'b mut Vec<u8>,
    empty: bool,
}

/// An open JSON array. Elements are written in call order; it closes when dropped (or `end`ed).
#[derive(Debug)]
pub struct Arr<'b> {
    buf: &'b mut Vec<u8>,
    empty: bool,
}

impl<'b> Obj<'b> {
    pub fn begin(buf: &'b mut Vec<u8>) -> Self {
        buf.push(b'{');
        Self { buf, empty: true }
    }

    #[inline]
    fn key(&mut self, key: &str) {
        // Two fixed-size writes rather than one of variable length, which would be a memcpy call.
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
        self.buf.push(b'"');
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.extend_from_slice(b"\":");
    }

    #[inline]
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        self.key(key);
        write_str(self.buf, value);
        self
    }

    /// A string value written by `write` straight into the buffer, for values assembled from
    /// numbers and table entries (ids, domains, addresses).
    #[inline]
    pub fn str_with(&mut self, key: &str, write: impl FnOnce(&mut Text<'_>)) -> &mut Self {
        self.key(key);
        self.buf.push(b'"');
        write(&mut Text(self.buf));
        self.buf.push(b'"');
        self
    }

    /// A string value of plain ASCII bytes of a fixed length (ids, timestamps): a copy of a
    /// known size, without a call to `memcpy`.
    #[inline]
    pub fn ascii<const N: usize>(&mut self, key: &str, value: &[u8; N]) -> &mut Self {
        self.key(key);
        self.buf.push(b'"');
        Text(self.buf).ascii(value);
        self.buf.push(b'"');
        self
    }

    #[inline]
    pub fn int(&mut self, key: &str, value: i64) -> &mut Self {
        self.key(key);
        write_int(self.buf, value);
        self
    }

    /// A number with at most `places` decimals, for values of known precision (prices, coordinates).
    #[inline(always)]
    pub fn decimal(&mut self, key: &str, value: f64, places: u32) -> &mut Self {
        self.key(key);
        write_decimal(self.buf, value, places);
        self
    }

    #[inline]
    pub fn strs(&mut self, key: &str, values: &[&str]) -> &mut Self {
        let mut arr = self.arr(key);
        for value in values {
            arr.str(value);
        }
        arr.end();
        self
    }

    #[inline]
    pub fn ints(&mut self, key: &str, values: &[i64]) -> &mut Self {
        let mut arr = self.arr(key);
        for value in values {
            arr.int(*value);
        }
        arr.end();
        self
    }

    /// Raw JSON: a value already serialized elsewhere, or a constant array written as its text
    /// (`"[2,3,7]"`), which copies in one go.
    #[inline]
    pub fn raw(&mut self, key: &str, json: &str) -> &mut Self {
        self.key(key);
        self.buf.extend_from_slice(json.as_bytes());
        self
    }

    #[inline]
    pub fn obj(&mut self, key: &str) -> Obj<'_> {
        self.key(key);
        Obj::begin(self.buf)
    }

    #[inline]
    pub fn arr(&mut self, key: &str) -> Arr<'_> {
        self.key(key);
        Arr::begin(self.buf)
    }

    /// Fields rendered earlier (see [`Fields`]), copied in one go.
    #[inline]
    pub fn fields(&mut self, fields: &Fields) -> &mut Self {
        if !fields.0.is_empty() {
            if !self.empty {
                self.buf.push(b',');
            }
            self.empty = false;
            self.buf.extend_from_slice(&fields.0);
        }
        self
    }

    /// Closes the object here rather than at the end of the scope.
    pub fn end(self) {}
}

impl Drop for Obj<'_> {
    fn drop(&mut self) {
        self.buf.push(b'}');
    }
}

/// Some fields of an object, rendered once and copied into every event that needs them: the
/// fields of a device profile, a city or a site depend only on that table entry, and one copy
/// costs less than a dozen small writes.
#[derive(Debug, Clone, Default)]
pub struct Fields(Box<[u8]>);

impl Fields {
    pub fn render(write: impl FnOnce(&mut Obj<'_>)) -> Self {
        let mut buf = Vec::with_capacity(1024);
        let mut obj = Obj::begin(&mut buf);
        write(&mut obj);
        obj.end();
        // Keep what is between the braces.
        Self(buf[1..buf.len() - 1].into())
    }
}

impl<'b> Arr<'b> {
    pub fn begin(buf: &'b mut Vec<u8>) -> Self {
        buf.push(b'[');
        Self { buf, empty: true }
    }

    #[inline]
    fn sep(&mut self) {
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
    }

    #[inline]
    pub fn str(&mut self, value: &str) -> &mut Self {
        self.sep();
        write_str(self.buf, value);
        self
    }

    #[inline]
    pub fn int(&mut self, value: i64) -> &mut Self {
        self.sep();
        write_int(self.buf, value);
        self
    }

    #[inline]
    pub fn obj(&mut self) -> Obj<'_> {
        self.sep();
        Obj::begin(self.buf)
    }

    /// Closes the array here rather than at the end of the scope.
    pub fn end(self) {}
}

impl Drop for Arr<'_> {
    fn drop(&mut self) {
        self.buf.push(b']');
    }
}

/// The inside of a string value under construction (see [`Obj::str_with`]).
#[derive(Debug)]
pub struct Text<'b>(&'b mut Vec<u8>);

impl Text<'_> {
    #[inline]
    pub fn push(&mut self, part: &str) -> &mut Self {
        write_plain(self.0, part);
        self
    }

    #[inline]
    pub fn int(&mut self, value: i64) -> &mut Self {
        write_int(self.0, value);
        self
    }

    /// Bytes known to be printable ASCII without quotes or backslashes (hex ids, digits).
    #[inline]
    pub fn ascii(&mut self, bytes: &[u8]) -> &mut Self {
        debug_assert!(bytes.is_ascii() && !needs_escaping(bytes), "{bytes:?} is not plain ASCII");
        self.0.extend_from_slice(bytes);
        self
    }
}

#[inline]
fn write_int(buf: &mut Vec<u8>, value: i64) {
    // Most integers in OpenRTB are small codes and flags: one or two fixed-size writes for
    // those, rather than a copy of itoa's variable-length output.
    match value {
        0..=9 => buf.push(b'0' + value as u8),
        10..=99 => buf.extend_from_slice(&[b'0' + (value / 10) as u8, b'0' + (value % 10) as u8]),
        _ => buf.extend_from_slice(itoa::Buffer::new().format(value).as_bytes()),
    }
}

/// Floats are written in their shortest round-trip form; non-finite values (which JSON cannot
/// carry) become 0 rather than invalid output.
#[inline]
fn write_float(buf: &mut Vec<u8>, value: f64) {
    if value.is_finite() {
        buf.extend_from_slice(ryu::Buffer::new().format_finite(value).as_bytes());
    } else {
        buf.push(b'0');
    }
}

#[inline]
fn write_str(buf: &mut Vec<u8>, value: &str) {
    buf.push(b'"');
    write_plain(buf, value);
    buf.push(b'"');
}

/// Copies a string that needs no escaping (see the module's comment).
#[inline]
fn write_plain(buf: &mut Vec<u8>, value: &str) {
    debug_assert!(!needs_escaping(value.as_bytes()), "{value:?} would need escaping in JSON");
    buf.extend_from_slice(value.as_bytes());
}

/// Whether `bytes` holds a control character, a quote or a backslash.
pub(crate) fn needs_escaping(bytes: &[u8]) -> bool {
    bytes.iter().fold(false, |any, &b| any | (b < 0x20) | (b == b'"') | (b == b'\\'))
}

/// Writes `value` with at most `places` (up to 6) decimals (trailing zeros dropped, one kept):
/// prices in cents and coordinates to four places need no shortest-round-trip search.
#[inline(always)]
fn write_decimal(buf: &mut Vec<u8>, value: f64, places: u32) {
    // Callers pass literal places, so this match disappears and the divisions below are by
    // constants.
    match places {
        0 | 1 => write_fixed::<1>(buf, value),
        2 => write_fixed::<2>(buf, value),
        3 => write_fixed::<3>(buf, value),
        4 => write_fixed::<4>(buf, value),
        5 => write_fixed::<5>(buf, value),
        _ => write_fixed::<6>(buf, value),
    }
}

fn write_fixed<const PLACES: usize>(buf: &mut Vec<u8>, value: f64) {
    let scale = 10_i64.pow(PLACES as u32);
    let scaled = value * scale as f64;
    if !scaled.is_finite() || scaled.abs() >= 9e15 {
        return write_float(buf, value);
    }
    // Rounds half away from zero like `f64::round`, without its libm call.
    let scaled = (scaled + 0.5_f64.copysign(scaled)) as i64;
    if scaled < 0 {
        buf.push(b'-');
    }
    let (whole, mut frac) = ((scaled / scale).abs(), (scaled % scale).abs());
    write_int(buf, whole);
    let mut digits = [b'0'; PLACES];
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (frac % 10) as u8;
        frac /= 10;
    }
    let zeros = digits[1..].iter().rev().take_while(|&&d| d == b'0').count();
    buf.push(b'.');
    // All the digits in one fixed-size copy, then the trailing zeros taken back.
    buf.extend_from_slice(&digits);
    buf.truncate(buf.len() - zeros);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_is_detected_at_every_position() {
        for len in 0..20 {
            let plain = "a".repeat(len);
            assert!(!needs_escaping(plain.as_bytes()));
            for at in 0..len {
                for special in [b'"', b'\\', b'\n', 0x00, 0x1f] {
                    let mut bytes = plain.clone().into_bytes();
                    bytes[at] = special;
                    assert!(needs_escaping(&bytes), "{bytes:?}");
                }
                let mut bytes = plain.clone().into_bytes();
                bytes[at] = 0xc3; // UTF-8 lead byte: no escaping
                assert!(!needs_escaping(&bytes));
            }
        }
        assert!(!needs_escaping(b" !#$%&'()*+,-./0123456789:;<=>?@[]^_`{|}~\x7f"));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "would need escaping")]
    fn a_string_that_needs_escaping_is_caught_in_debug_builds() {
        Obj::begin(&mut Vec::new()).str("ua", "say \"hi\"");
    }

    #[test]
    fn decimals_match_their_precision() {
        let text = |value, places| {
            let mut buf = Vec::new();
            write_decimal(&mut buf, value, places);
            String::from_utf8(buf).unwrap()
        };
        assert_eq!(text(1.27, 2), "1.27");
        assert_eq!(text(0.5, 2), "0.5");
        assert_eq!(text(3.0, 2), "3.0");
        assert_eq!(text(0.05, 2), "0.05");
        assert_eq!(text(-122.4194, 4), "-122.4194");
        assert_eq!(text(-0.1278, 4), "-0.1278");
        assert_eq!(text(40.71, 4), "40.71");
        assert_eq!(text(12.345_67, 4), "12.3457");
        assert_eq!(text(2.625, 3), "2.625");
        assert_eq!(text(1.0, 3), "1.0");
        assert_eq!(text(-0.001, 2), "0.0");
        assert_eq!(text(1234.5, 0), "1234.5");
        assert_eq!(text(0.123_456_7, 6), "0.123457");
        assert_eq!(text(1e300, 2).parse::<f64>().unwrap(), 1e300);
        for cents in 0..10_000 {
            let value = cents as f64 / 100.0;
            assert_eq!(text(value, 2).parse::<f64>().unwrap(), value);
        }
    }

    #[test]
    fn nested_objects_and_arrays_are_valid_json() {
        let mut buf = Vec::new();
        let mut root = Obj::begin(&mut buf);
        root.str("id", "a-b c")
            .int("n", -42)
            .int("n9", 9)
            .int("n10", 10)
            .int("n99", 99)
            .int("n100", 100)
            .decimal("f", 0.25, 2)
            .decimal("nan", f64::NAN, 2);
        root.strs("empty", &[]).ints("xs", &[1, 2]);
        let mut arr = root.arr("objs");
        arr.obj().str("k", "v");
        arr.obj();
        arr.end();
        root.obj("o").str_with("url", |t| {
            t.push("https://").push("x.com").push("/p");
        });
        root.str_with("ip", |t| {
            t.int(10).push(".").int(0);
        });
        let empty = Fields::render(|_| {});
        let device = Fields::render(|o| {
            o.str("make", "Apple").int("w", 390);
        });
        root.obj("device").fields(&empty).fields(&device).int("h", 844).fields(&empty);
        root.obj("geo").fields(&empty).int("type", 2).fields(&device);
        root.end();
        let text = String::from_utf8(buf).unwrap();
        assert_eq!(
            text,
            r#"{"id":"a-b c","n":-42,"n9":9,"n10":10,"n99":99,"n100":100,"f":0.25,"nan":0,"empty":[],"xs":[1,2],"objs":[{"k":"v"},{}],"o":{"url":"https://x.com/p"},"ip":"10.0","device":{"make":"Apple","w":390,"h":844},"geo":{"type":2,"make":"Apple","w":390}}"#
        );
    }
}
