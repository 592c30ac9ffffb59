//! Shared helpers of the integration tests: fixture loading and JSON comparison.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Request fixtures that follow every rule of the validator.
pub const VALID_REQUESTS: &[&str] = &[
    "kitchen-sink-site.json",
    "kitchen-sink-app.json",
    "kitchen-sink-dooh.json",
    "simple-banner.json",
    "expandable-creative.json",
    "mobile-app.json",
    "video.json",
    "pmp-direct-deal.json",
    "native.json",
    "openrtb25-gdpr.json",
];

pub const KITCHEN_SINKS: &[&str] =
    &["kitchen-sink-site.json", "kitchen-sink-app.json", "kitchen-sink-dooh.json"];

/// This crate's directory: from cargo at run time first, so that a test binary cargo still
/// considers fresh after the clone moved does not look in the old place.
pub fn crate_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
}

pub fn fixture_path(name: &str) -> PathBuf {
    crate_dir().join("tests/fixtures").join(name)
}

pub fn fixture_text(name: &str) -> String {
    let path = fixture_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn fixture_value(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

pub fn parse<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_str(&fixture_text(name))
        .unwrap_or_else(|e| panic!("{name} does not parse into the model: {e}"))
}

/// Differences between two JSON documents, one line per differing path. Numbers compare by
/// their `f64` value, because the model writes `1.0` for a float field the sender wrote as `1`;
/// everything else, key sets included, must match exactly.
pub fn json_diff(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("$", expected, actual, &mut out);
    out
}

fn diff_at(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (key, ev) in e {
                match a.get(key) {
                    Some(av) => diff_at(&format!("{path}.{key}"), ev, av, out),
                    None => out.push(format!("{path}.{key}: lost (was {ev})")),
                }
            }
            for key in a.keys().filter(|k| !e.contains_key(*k)) {
                out.push(format!("{path}.{key}: added ({})", a[key]));
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!("{path}: {} elements became {}", e.len(), a.len()));
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff_at(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        (Value::Number(e), Value::Number(a)) => {
            if e.as_f64() != a.as_f64() {
                out.push(format!("{path}: {e} became {a}"));
            }
        }
        _ => {
            if expected != actual {
                out.push(format!("{path}: {expected} became {actual}"));
            }
        }
    }
}

/// Parses fixture `name` as `T`, writes it back, and asserts that nothing was lost, added or
/// changed; then checks that a second round trip is stable.
pub fn assert_round_trip<T>(name: &str)
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let original = fixture_value(name);
    let model: T = parse(name);
    let written = serde_json::to_value(&model).expect("model serialises");
    let diffs = json_diff(&original, &written);
    assert!(diffs.is_empty(), "{name} did not survive the round trip:\n{}", diffs.join("\n"));
    let again: T = serde_json::from_value(written).expect("re-serialised JSON parses");
    assert_eq!(model, again, "{name}: second round trip changed the model");
}
