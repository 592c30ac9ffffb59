//! Namespace levels and table names as clients send them. The SQL catalog turns them into
//! paths under the warehouse (`{warehouse}/{level}/.../{table}`), so a name that is a path
//! separator, a dot segment, or decodes to one later, could place a table outside it.

use iceberg::{NamespaceIdent, TableIdent};

use crate::Error;

/// The longest name accepted: a file name's limit on common file systems.
pub const MAX_NAME_BYTES: usize = 255;

/// The REST spec's separator of namespace levels in a path or `parent` query.
pub const LEVEL_SEPARATOR: char = '\u{1f}';

/// Percent-decodings a name or location segment is followed through.
const MAX_DECODINGS: usize = 4;

/// Longest part of a refused name echoed back in a message.
const SHOWN_CHARS: usize = 64;

/// Refuses a name that could act as a path or path segment once it is joined into a location.
pub fn check_name(what: &'static str, name: &str) -> Result<(), Error> {
    let refuse =
        |reason: String| Err(Error::InvalidName { what, name: shown(name, SHOWN_CHARS), reason });
    if name.is_empty() {
        return refuse("it is empty".into());
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse(format!(
            "it is {} bytes long, over the limit of {MAX_NAME_BYTES}",
            name.len()
        ));
    }
    if let Some(hazard) = hazard(name) {
        return refuse(format!("it {hazard}"));
    }
    Ok(())
}

/// What in `text` would act on a path, as it is or once percent-decoded: names and location
/// segments pass through more than one decoder (the URL path, then maybe a client's or a
/// storage's own), so what they decode to must be as harmless as they are.
pub fn hazard(text: &str) -> Option<String> {
    if let Some(hazard) = path_hazard(text) {
        return Some(hazard);
    }
    let mut decoded = text.to_owned();
    for _ in 0..MAX_DECODINGS {
        let next = percent_decoded(&decoded)?;
        if let Some(hazard) = path_hazard(&next) {
            return Some(format!("decodes to {}, which {hazard}", shown(&next, SHOWN_CHARS)));
        }
        decoded = next;
    }
    // Each round costs a pass over the text: stop layering decoders somewhere.
    percent_decoded(&decoded)
        .map(|_| format!("is percent-encoded more than {MAX_DECODINGS} times over"))
}

/// What in `text` would act on a path, if anything.
fn path_hazard(text: &str) -> Option<String> {
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Some(format!("contains the control character U+{:04X}", u32::from(c)));
    }
    if let Some(c) = text.chars().find(|c| matches!(c, '/' | '\\')) {
        return Some(format!("contains the path separator {c:?}"));
    }
    if text == "." || text == ".." {
        return Some(format!("is the relative path segment {text:?}"));
    }
    None
}

/// `text` with each `%XX` escape decoded, or `None` when it has none. Undecodable bytes become
/// U+FFFD, which is harmless in a name.
pub fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut at = 0;
    while at < bytes.len() {
        let escape = (bytes[at] == b'%')
            .then(|| bytes.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escape {
            decoded.push(byte);
            changed = true;
            at += 3;
        } else {
            decoded.push(bytes[at]);
            at += 1;
        }
    }
    changed.then(|| String::from_utf8_lossy(&decoded).into_owned())
}

/// Text from a client as a message shows it: quoted, escaped, and cut after `max` characters.
pub fn shown(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{:?}...", &text[..end]),
        None => format!("{text:?}"),
    }
}

pub fn check_namespace(namespace: &NamespaceIdent) -> Result<(), Error> {
    namespace.iter().try_for_each(|level| check_name("namespace level", level))
}

pub fn check_table(ident: &TableIdent) -> Result<(), Error> {
    check_namespace(ident.namespace())?;
    check_name("table name", ident.name())
}

/// A namespace from a path or `parent` query: levels separated by the unit separator, each
/// a valid name.
pub fn parse_namespace(text: &str) -> Result<NamespaceIdent, Error> {
    let levels: Vec<String> = text.split(LEVEL_SEPARATOR).map(str::to_owned).collect();
    levels.iter().try_for_each(|level| check_name("namespace level", level))?;
    NamespaceIdent::from_vec(levels).map_err(|err| Error::InvalidName {
        what: "namespace",
        name: shown(text, SHOWN_CHARS),
        reason: err.message().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_are_or_decode_to_path_parts_are_refused() {
        let long = "a".repeat(MAX_NAME_BYTES + 1);
        let refused: &[(&str, &str)] = &[
            ("", "empty"),
            (&long, "256 bytes"),
            ("a/b", "path separator '/'"),
            ("/", "path separator '/'"),
            ("a\\b", "path separator '\\\\'"),
            (".", "relative path segment"),
            ("..", "relative path segment"),
            ("a\0b", "U+0000"),
            ("a\nb", "U+000A"),
            ("a\u{1f}b", "U+001F"),
            ("a\u{7f}", "U+007F"),
            ("a\u{85}", "U+0085"),
            ("a%2Fb", "decodes to \"a/b\", which contains the path separator '/'"),
            ("a%2fb", "decodes to \"a/b\", which contains the path separator '/'"),
            ("a%5Cb", "path separator '\\\\'"),
            ("a%5cb", "path separator '\\\\'"),
            ("%2E%2E", "relative path segment \"..\""),
            ("%2e%2e", "relative path segment \"..\""),
            (".%2E", "relative path segment \"..\""),
            ("%2E", "relative path segment \".\""),
            ("a%00", "U+0000"),
            ("a%1Fb", "U+001F"),
            // Encoded twice: a second decoder would still produce a separator.
            ("a%252Fb", "path separator '/'"),
            ("%252E%252E", "relative path segment"),
            ("%2525252525", "more than 4 times"),
        ];
        for (name, why) in refused {
            let err = check_name("table name", name)
                .expect_err(&format!("{name:?} should be refused"))
                .to_string();
            assert!(err.contains(why), "{name:?}: {err:?} does not say {why:?}");
            assert!(err.starts_with("table name "), "{err}");
        }
    }

    #[test]
    fn ordinary_names_pass() {
        let at_limit = "b".repeat(MAX_NAME_BYTES);
        for name in [
            "events",
            "bid_requests",
            "a.b",
            "...",
            "..a",
            "a..",
            "-x-",
            "100%",
            "50%off",
            "a%2Eb",
            "%zz",
            "zählung",
            "名前",
            at_limit.as_str(),
        ] {
            check_name("table name", name).unwrap_or_else(|err| panic!("{name:?}: {err}"));
        }
    }

    #[test]
    fn the_unit_separator_splits_namespace_levels() {
        let namespace = parse_namespace("a\u{1f}b\u{1f}c").unwrap();
        assert_eq!(namespace.as_ref(), &["a", "b", "c"]);
        for text in ["a\u{1f}..", "\u{1f}a", "a\u{1f}", "a\u{1f}b%2Fc", "", "..", "a/b"] {
            assert!(parse_namespace(text).is_err(), "{text:?} should be refused");
        }
    }

    #[test]
    fn idents_check_every_part() {
        let ok = TableIdent::from_strs(["db", "sub", "events"]).unwrap();
        check_table(&ok).unwrap();
        let bad_level = TableIdent::from_strs(["db", "..", "events"]).unwrap();
        assert!(check_table(&bad_level).unwrap_err().to_string().starts_with("namespace level"));
        let bad_name = TableIdent::from_strs(["db", "ev/ents"]).unwrap();
        assert!(check_table(&bad_name).unwrap_err().to_string().starts_with("table name"));
    }

    #[test]
    fn long_names_are_cut_short_in_messages() {
        let err = check_name("table name", &"x".repeat(1000)).unwrap_err().to_string();
        assert!(err.len() < 200, "{err}");
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decoded("plain"), None);
        assert_eq!(percent_decoded("100%"), None);
        assert_eq!(percent_decoded("%4"), None);
        assert_eq!(percent_decoded("a%2Fb%2e").as_deref(), Some("a/b."));
        assert_eq!(percent_decoded("%252F").as_deref(), Some("%2F"));
        assert_eq!(percent_decoded("%FF").as_deref(), Some("\u{fffd}"));
    }
}
