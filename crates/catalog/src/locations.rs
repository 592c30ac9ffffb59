//! Where clients may point tables: only inside the warehouse. A location is compared as the
//! storage layer (iceberg's opendal FileIO) resolves it: `file:///x` and `/x` are the same local
//! path, `s3://`, `s3a://` and `s3n://` name a bucket and a key. Dot segments and
//! percent-encoded separators are refused rather than resolved, so a location's meaning does
//! not depend on which layer normalizes it.

use std::collections::HashMap;

use iceberg::TableUpdate;

use crate::Error;
use crate::names::{hazard, shown};

/// Table properties that move where a table writes its files.
pub const LOCATION_PROPERTIES: [&str; 4] = [
    "write.data.path",
    "write.metadata.path",
    "write.object-storage.path",
    // The older name of write.data.path, still honoured by Java writers.
    "write.folder-storage.path",
];

/// A namespace's default location for its tables in the SQL catalog.
pub const NAMESPACE_LOCATION_PROPERTY: &str = "location";

/// Longest part of a refused location echoed back in a message.
const SHOWN_CHARS: usize = 512;

/// Which storage a location's files are in; locations in different stores never overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Store {
    Local,
    S3 {
        bucket: String,
    },
    /// A scheme the warehouse is never in (`memory://`, `gs://`, ...).
    Other {
        scheme: String,
    },
}

/// A location as a store and the path segments under its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    store: Store,
    segments: Vec<String>,
}

/// What to do with `.` and `..` segments: the configured warehouse may hold them
/// (`std::path::absolute` keeps `..`), a client's location may not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dots {
    Resolve,
    Refuse,
}

impl Location {
    /// `text` as storage resolves it, or why it cannot be trusted to mean one place.
    pub fn parse(text: &str) -> Result<Self, String> {
        Self::parse_with(text, Dots::Refuse)
    }

    fn parse_with(text: &str, dots: Dots) -> Result<Self, String> {
        let (store, path) = if let Some(path) = text.strip_prefix("file:") {
            // opendal's local storage drops `file:/` and reads the rest from `/`, so
            // `file://host/x` is the local path `/host/x`.
            if !path.starts_with('/') {
                return Err("a file: location must be an absolute path".into());
            }
            (Store::Local, path)
        } else if text.starts_with('/') {
            (Store::Local, text)
        } else if let Some((scheme, rest)) = text.split_once("://") {
            match scheme {
                "s3" | "s3a" | "s3n" => {
                    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                    if bucket.is_empty() {
                        return Err("it names no bucket".into());
                    }
                    (Store::S3 { bucket: bucket.to_owned() }, key)
                }
                _ => {
                    return Ok(Self {
                        store: Store::Other { scheme: scheme.to_owned() },
                        segments: Vec::new(),
                    });
                }
            }
        } else {
            return Err("it is neither an absolute path nor a file:// or s3:// URL".into());
        };
        let segments = match store {
            // The file system collapses `//`; the key `a//b` is not `a/b` in a bucket.
            Store::Local => path.split('/').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
            _ => {
                let key = path.strip_suffix('/').unwrap_or(path);
                if key.is_empty() {
                    Vec::new()
                } else {
                    let segments: Vec<&str> = key.split('/').collect();
                    if segments.iter().any(|s| s.is_empty()) {
                        return Err("it has an empty path segment (`//`)".into());
                    }
                    segments
                }
            }
        };
        let mut resolved: Vec<String> = Vec::with_capacity(segments.len());
        for segment in segments {
            match (dots, segment) {
                (Dots::Resolve, ".") => {}
                (Dots::Resolve, "..") => {
                    resolved.pop();
                }
                _ => {
                    if let Some(hazard) = hazard(segment) {
                        return Err(format!("its path segment {segment:?} {hazard}"));
                    }
                    resolved.push(segment.to_owned());
                }
            }
        }
        Ok(Self { store, segments: resolved })
    }

    /// Whether `self` is `other` or lies under it.
    pub fn is_within(&self, other: &Location) -> bool {
        self.store == other.store
            && !matches!(self.store, Store::Other { .. })
            && self.segments.starts_with(&other.segments)
    }

    /// Whether deleting everything under one would delete something under the other.
    pub fn overlaps(&self, other: &Location) -> bool {
        self.is_within(other) || other.is_within(self)
    }
}

/// The warehouse every table's files must lie inside.
#[derive(Debug, Clone)]
pub struct Warehouse {
    /// As configured: default table locations start with it.
    text: String,
    root: Location,
}

impl Warehouse {
    pub fn new(text: &str) -> Result<Self, Error> {
        let refuse = |reason: String| Error::Warehouse { warehouse: text.to_owned(), reason };
        let text = text.trim_end_matches('/');
        let local = Location::parse_with(text, Dots::Resolve).map_err(refuse)?;
        let root = match local.store {
            Store::Local => local,
            // A key is not resolved by S3: `a/../b` is a key of its own.
            Store::S3 { .. } => Location::parse(text).map_err(refuse)?,
            Store::Other { scheme } => {
                return Err(refuse(format!(
                    "the catalog confines tables to a local or s3:// warehouse, not {scheme}://"
                )));
            }
        };
        Ok(Self { text: text.to_owned(), root })
    }

    /// `location`, when it lies strictly inside the warehouse; `what` names it in the refusal.
    pub fn check(&self, what: &str, location: &str) -> Result<Location, Error> {
        let refuse = |reason: String| Error::OutsideWarehouse {
            what: what.to_owned(),
            location: shown(location, SHOWN_CHARS),
            warehouse: self.text.clone(),
            reason,
        };
        let located = self.locate(location).map_err(refuse)?;
        if !located.is_within(&self.root) {
            return Err(refuse("it is not inside the warehouse".into()));
        }
        if located.segments.len() == self.root.segments.len() {
            return Err(refuse("it is the warehouse itself, which holds every table".into()));
        }
        Ok(located)
    }

    /// Where `location` is, inside the warehouse or not, or why that is unclear.
    pub fn locate(&self, location: &str) -> Result<Location, String> {
        match location.strip_prefix(&self.text) {
            // The SQL catalog builds default locations from the warehouse as configured, which
            // may hold `..`: only what follows it must be free of them.
            Some(rest) if rest.starts_with('/') && self.root.store == Store::Local => {
                let rest = Location::parse(rest)?;
                Ok(Location {
                    store: Store::Local,
                    segments: [self.root.segments.as_slice(), &rest.segments].concat(),
                })
            }
            _ => Location::parse(location),
        }
    }

    /// Table properties that place files must place them in the warehouse.
    pub fn check_table_properties(
        &self,
        properties: &HashMap<String, String>,
    ) -> Result<(), Error> {
        for key in LOCATION_PROPERTIES {
            if let Some(location) = properties.get(key) {
                self.check(&format!("table property {key}"), location)?;
            }
        }
        Ok(())
    }

    /// A commit may move the table or name files for the lake to read and, once expired, delete:
    /// all of them must be in the warehouse.
    pub fn check_table_updates(&self, updates: &[TableUpdate]) -> Result<(), Error> {
        for update in updates {
            match update {
                TableUpdate::SetLocation { location } => {
                    self.check("table location", location)?;
                }
                TableUpdate::SetProperties { updates } => self.check_table_properties(updates)?,
                // A v1 snapshot may list its manifests inline and have no manifest list.
                TableUpdate::AddSnapshot { snapshot } if !snapshot.manifest_list().is_empty() => {
                    self.check("manifest list", snapshot.manifest_list())?;
                }
                TableUpdate::SetStatistics { statistics } => {
                    self.check("statistics file", &statistics.statistics_path)?;
                }
                TableUpdate::SetPartitionStatistics { partition_statistics } => {
                    self.check("partition statistics file", &partition_statistics.statistics_path)?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_outside_a_local_warehouse_are_refused() {
        let warehouse = Warehouse::new("file:///srv/lake/warehouse").unwrap();
        let refused: &[(&str, &str)] = &[
            ("../../etc", "neither an absolute path"),
            ("etc/passwd", "neither an absolute path"),
            ("/etc", "not inside the warehouse"),
            ("file:///etc", "not inside the warehouse"),
            ("file://etc/x", "not inside the warehouse"),
            ("file:etc", "must be an absolute path"),
            ("/srv/lake", "not inside the warehouse"),
            ("/srv/lake/warehouse-2/t", "not inside the warehouse"),
            ("/srv/lake/warehouse", "the warehouse itself"),
            ("file:///srv/lake/warehouse/", "the warehouse itself"),
            ("/srv/lake/warehouse/..", "\"..\""),
            ("/srv/lake/warehouse/db/../../../etc", "\"..\""),
            ("file:///srv/lake/warehouse/./db", "\".\""),
            ("/srv/lake/warehouse/%2E%2E/x", "decodes to \"..\""),
            ("/srv/lake/warehouse/db%2F..%2F..%2Fetc", "decodes to"),
            ("/srv/lake/warehouse/db%5C..", "decodes to"),
            ("/srv/lake/warehouse/a\\..\\..", "path separator '\\\\'"),
            ("/srv/lake/warehouse/a\0b", "U+0000"),
            ("s3://srv/lake/warehouse/t", "not inside the warehouse"),
            ("memory:///srv/lake/warehouse/t", "not inside the warehouse"),
            ("FILE:///srv/lake/warehouse/t", "not inside the warehouse"),
            ("", "neither an absolute path"),
        ];
        for (location, why) in refused {
            let err = warehouse
                .check("table location", location)
                .expect_err(&format!("{location:?} should be refused"))
                .to_string();
            assert!(err.contains(why), "{location:?}: {err:?} does not say {why:?}");
            assert!(err.contains("file:///srv/lake/warehouse"), "names the warehouse: {err}");
            assert!(err.starts_with("table location "), "{err}");
        }
    }

    #[test]
    fn locations_inside_a_local_warehouse_pass_in_either_spelling() {
        let warehouse = Warehouse::new("file:///srv/lake/warehouse").unwrap();
        let plain = warehouse.check("table location", "/srv/lake/warehouse/db/events").unwrap();
        for location in [
            "file:///srv/lake/warehouse/db/events",
            "file:///srv/lake/warehouse/db/events/",
            "file:/srv/lake/warehouse/db/events",
            "/srv/lake/warehouse//db/events",
            "file:////srv/lake/warehouse/db/events",
        ] {
            assert_eq!(warehouse.check("table location", location).unwrap(), plain, "{location}");
        }
        // Names that merely look like dots or escapes are ordinary segments.
        for location in [
            "/srv/lake/warehouse/db/...",
            "/srv/lake/warehouse/db/a..b",
            "/srv/lake/warehouse/db/100%",
            "/srv/lake/warehouse/db/a%2Eb",
        ] {
            warehouse.check("table location", location).unwrap();
        }
    }

    #[test]
    fn a_plain_path_warehouse_is_the_same_as_its_file_url() {
        let warehouse = Warehouse::new("/srv/lake/warehouse/").unwrap();
        warehouse.check("table location", "file:///srv/lake/warehouse/db/t").unwrap();
        assert!(warehouse.check("table location", "file:///srv/lake/other/t").is_err());
    }

    #[test]
    fn a_warehouse_configured_with_dots_confines_to_where_they_lead() {
        let warehouse = Warehouse::new("file:///srv/data/../lake/warehouse").unwrap();
        // Default locations start with the warehouse as configured.
        warehouse.check("table location", "file:///srv/data/../lake/warehouse/db/t").unwrap();
        warehouse.check("table location", "/srv/lake/warehouse/db/t").unwrap();
        assert!(warehouse.check("table location", "/srv/data/lake/warehouse/db/t").is_err());
        let escape = "file:///srv/data/../lake/warehouse/../../etc";
        assert!(warehouse.check("table location", escape).is_err());
    }

    #[test]
    fn s3_locations_compare_bucket_and_prefix() {
        let warehouse = Warehouse::new("s3://lake/bidlake").unwrap();
        for location in
            ["s3://lake/bidlake/db/t", "s3a://lake/bidlake/db/t", "s3n://lake/bidlake/db/t/"]
        {
            warehouse.check("table location", location).unwrap();
        }
        let refused: &[(&str, &str)] = &[
            ("s3://other/bidlake/db/t", "not inside"),
            ("s3://lake/other/db/t", "not inside"),
            ("s3://lake/bidlake-2/t", "not inside"),
            ("s3://lake/bidlake", "the warehouse itself"),
            ("s3://lake//bidlake/db/t", "empty path segment"),
            ("s3://lake/bidlake//t", "empty path segment"),
            ("s3://lake/bidlake/../x", "\"..\""),
            ("s3://lake/bidlake/%2e%2e/x", "decodes to"),
            ("s3://user@lake/bidlake/t", "not inside"),
            ("s3:///bidlake/t", "names no bucket"),
            ("S3://lake/bidlake/t", "not inside"),
            ("/lake/bidlake/t", "not inside"),
            ("file:///lake/bidlake/t", "not inside"),
            ("gs://lake/bidlake/t", "not inside"),
        ];
        for (location, why) in refused {
            let err = warehouse.check("table location", location).unwrap_err().to_string();
            assert!(err.contains(why), "{location:?}: {err:?} does not say {why:?}");
        }
    }

    #[test]
    fn a_bucket_wide_warehouse_holds_every_key_but_none_of_other_buckets() {
        let warehouse = Warehouse::new("s3://lake").unwrap();
        warehouse.check("table location", "s3://lake/db/t").unwrap();
        assert!(warehouse.check("table location", "s3://lake").is_err());
        assert!(warehouse.check("table location", "s3://lake2/db/t").is_err());
    }

    #[test]
    fn only_local_and_s3_warehouses_are_served() {
        for text in ["memory:///w", "gs://b/w", "warehouse", "s3://b/a/../w"] {
            assert!(Warehouse::new(text).is_err(), "{text}");
        }
    }

    #[test]
    fn overlapping_locations() {
        let at = |text: &str| Location::parse(text).unwrap();
        assert!(at("/w/db/t").overlaps(&at("file:///w/db/t")));
        assert!(at("/w/db").overlaps(&at("/w/db/t")));
        assert!(at("/w/db/t/data").overlaps(&at("/w/db/t")));
        assert!(!at("/w/db/t").overlaps(&at("/w/db/t2")));
        assert!(!at("/w/db/t").overlaps(&at("s3://w/db/t")));
        assert!(!at("s3://a/t").overlaps(&at("s3://b/t")));
        assert!(!at("memory:///w/db/t").overlaps(&at("memory:///w/db/t")));
    }
}
