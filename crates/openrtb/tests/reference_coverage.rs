//! The kitchen-sink fixtures use every object and field of the OpenRTB 2.6 reference tables.
//!
//! Together with the round-trip tests this proves the model keeps every field of the spec:
//! a field the model lacked would be dropped on re-serialisation.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use common::{KITCHEN_SINKS, fixture_value};
use serde_json::Value;

fn reference_path() -> PathBuf {
    common::crate_dir().join("../../../shared/reference/openrtb-2.6-fields.md")
}

/// Object name → field names, from the `#### Object (§x)` tables of the reference.
fn reference_tables(markdown: &str) -> BTreeMap<String, Vec<String>> {
    let mut tables = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        if let Some(heading) = line.strip_prefix("#### ") {
            let name = heading.split_whitespace().next().expect("heading has a name").to_owned();
            tables.insert(name.clone(), Vec::new());
            current = Some(name);
        } else if line.starts_with("## ") || line.starts_with("# ") {
            current = None;
        } else if let Some(name) = &current
            && let Some(row) = line.strip_prefix('|')
        {
            let field = row.split('|').next().unwrap_or_default().trim();
            if field != "field" && !field.starts_with("---") && !field.is_empty() {
                tables.get_mut(name).expect("table opened").push(field.to_owned());
            }
        }
    }
    tables
}

/// Where instances of each reference object live in a request, as dotted paths from the root
/// where `[]` iterates an array.
fn object_paths(object: &str) -> Vec<String> {
    let content: Vec<String> =
        ["site.content", "app.content", "dooh.content"].map(String::from).to_vec();
    let banner: Vec<String> =
        ["imp[].banner", "imp[].video.companionad[]", "imp[].audio.companionad[]"]
            .map(String::from)
            .to_vec();
    let data: Vec<String> = std::iter::once("user.data[]".to_owned())
        .chain(content.iter().map(|c| format!("{c}.data[]")))
        .collect();
    let under = |parents: &[String], child: &str| -> Vec<String> {
        parents.iter().map(|p| format!("{p}.{child}")).collect()
    };
    let fixed = |paths: &[&str]| paths.iter().map(|p| (*p).to_owned()).collect::<Vec<_>>();
    match object {
        "BidRequest" => fixed(&[""]),
        "Source" => fixed(&["source"]),
        "SupplyChain" => fixed(&["source.schain"]),
        "SupplyChainNode" => fixed(&["source.schain.nodes[]"]),
        "Regs" => fixed(&["regs"]),
        "Imp" => fixed(&["imp[]"]),
        "Metric" => fixed(&["imp[].metric[]"]),
        "Banner" => banner,
        "Format" => under(&banner, "format[]"),
        "Video" => fixed(&["imp[].video"]),
        "Audio" => fixed(&["imp[].audio"]),
        "Native" => fixed(&["imp[].native"]),
        "Pmp" => fixed(&["imp[].pmp"]),
        "Deal" => fixed(&["imp[].pmp.deals[]"]),
        "DurFloors" => fixed(&[
            "imp[].video.durfloors[]",
            "imp[].audio.durfloors[]",
            "imp[].pmp.deals[].durfloors[]",
        ]),
        "Qty" => fixed(&["imp[].qty"]),
        "Refresh" => fixed(&["imp[].refresh"]),
        "RefSettings" => fixed(&["imp[].refresh.refsettings[]"]),
        "Site" => fixed(&["site"]),
        "App" => fixed(&["app"]),
        "DOOH" => fixed(&["dooh"]),
        "Publisher" => fixed(&["site.publisher", "app.publisher", "dooh.publisher"]),
        "Content" => content,
        "Producer" => under(&content, "producer"),
        "Network" => under(&content, "network"),
        "Channel" => under(&content, "channel"),
        "Data" => data,
        "Segment" => under(&data, "segment[]"),
        "Device" => fixed(&["device"]),
        "Geo" => fixed(&["device.geo", "user.geo"]),
        "User" => fixed(&["user"]),
        "EID" => fixed(&["user.eids[]"]),
        "UID" => fixed(&["user.eids[].uids[]"]),
        "UserAgent" => fixed(&["device.sua"]),
        "BrandVersion" => fixed(&["device.sua.browsers[]", "device.sua.platform"]),
        other => panic!("the reference lists object {other}, which this test does not know"),
    }
}

/// All values found at `path` below `root`.
fn walk<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![root];
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        let (key, each) = match segment.strip_suffix("[]") {
            Some(key) => (key, true),
            None => (segment, false),
        };
        current = current
            .into_iter()
            .filter_map(|v| v.get(key))
            .flat_map(|v| match (each, v) {
                (true, Value::Array(items)) => items.iter().collect(),
                (true, other) => panic!("{path}: expected an array at {key}, got {other}"),
                (false, v) => vec![v],
            })
            .collect();
    }
    current
}

/// `Object.field` names of the reference that none of `fixtures` uses, per object.
fn missing_fields(tables: &BTreeMap<String, Vec<String>>, fixtures: &[Value]) -> BTreeSet<String> {
    let mut missing = BTreeSet::new();
    for (object, fields) in tables {
        let instances: Vec<&Value> = object_paths(object)
            .iter()
            .flat_map(|path| fixtures.iter().flat_map(move |f| walk(f, path)))
            .collect();
        if instances.is_empty() {
            missing.insert(format!("{object} (no instance at all)"));
        }
        for field in fields {
            if !instances.iter().any(|i| i.get(field).is_some()) {
                missing.insert(format!("{object}.{field}"));
            }
        }
    }
    missing
}

fn load_reference() -> Option<BTreeMap<String, Vec<String>>> {
    let path = reference_path();
    match std::fs::read_to_string(&path) {
        Ok(markdown) => {
            let tables = reference_tables(&markdown);
            assert_eq!(tables.len(), 35, "the reference should describe 35 request objects");
            Some(tables)
        }
        Err(e) => {
            println!("note: skipping reference coverage, {} unreadable: {e}", path.display());
            None
        }
    }
}

#[test]
fn kitchen_sinks_together_cover_every_object_and_field() {
    let Some(tables) = load_reference() else { return };
    let fixtures: Vec<Value> = KITCHEN_SINKS.iter().map(|name| fixture_value(name)).collect();
    let missing = missing_fields(&tables, &fixtures);
    assert!(missing.is_empty(), "reference fields absent from the kitchen sinks: {missing:#?}");
}

#[test]
fn site_kitchen_sink_alone_covers_all_it_validly_can() {
    let Some(tables) = load_reference() else { return };
    // A valid site request cannot carry `app` or `dooh`, nor both halves of an exclusive pair.
    let allowed = |name: &str| {
        name.starts_with("App")
            || name.starts_with("DOOH")
            || matches!(
                name,
                "BidRequest.app"
                    | "BidRequest.dooh"
                    | "BidRequest.bseat"
                    | "BidRequest.wlangb"
                    | "BidRequest.bcat"
                    | "Video.rqddurs"
                    | "Audio.rqddurs"
            )
    };
    let missing = missing_fields(&tables, &[fixture_value("kitchen-sink-site.json")]);
    let unexpected: Vec<&String> = missing.iter().filter(|m| !allowed(m)).collect();
    assert!(unexpected.is_empty(), "absent from the site kitchen sink: {unexpected:#?}");
}

#[test]
fn reference_tables_parse_cleanly() {
    // Guards the parser above: a mis-read table would silently shrink the coverage check.
    let Some(tables) = load_reference() else { return };
    let fields: usize = tables.values().map(Vec::len).sum();
    assert!(fields > 300, "only {fields} fields read from the reference");
    for (object, fields) in &tables {
        assert!(fields.len() >= 2, "{object}: table read as {fields:?}");
        for field in fields {
            assert!(
                field.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{object}: odd field name {field:?}"
            );
        }
    }
}
