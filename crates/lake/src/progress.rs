//! The table is the source of truth for ingest's progress (a table contract: ingest, `status`,
//! `maintain` and the benchmarks read it). Every ingest commit records the next Kafka offset of
//! each partition it has consumed (merged with what earlier commits recorded, so the latest
//! record holds the whole map), and where the dead-letter topic stood, twice in one atomic
//! commit: in its snapshot's summary, and in the table's properties. The properties survive what
//! the snapshot summaries do not: commits of other engines (which carry no bidlake summary)
//! followed by snapshot expiry that removes every snapshot bidlake wrote.

use std::collections::{BTreeMap, HashMap};

use iceberg::spec::Snapshot;
use iceberg::table::Table;

/// Summary key of the next offsets to consume, per partition of `topic`.
pub fn offsets_key(topic: &str) -> String {
    format!("bidlake.kafka.{topic}.offsets")
}

/// Summary key of where a rescan of the dead-letter topic starts, per source partition.
pub fn dlq_key(topic: &str) -> String {
    format!("bidlake.kafka.{topic}.dlq-offsets")
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// Source partition → next offset to consume.
    pub offsets: BTreeMap<i32, i64>,
    /// Source partition → first dead-letter offset (in its DLQ partition) not covered by a
    /// commit: dead letters of this partition after it may be uncommitted.
    pub dlq: BTreeMap<i32, i64>,
    /// The snapshot it was read from.
    pub snapshot_id: Option<i64>,
}

impl Progress {
    /// The progress the table records for `topic`: its properties, else (a table written
    /// before they were kept there) the latest snapshot that carries one (snapshots of other
    /// writers, e.g. compaction, carry none).
    pub fn read(table: &Table, topic: &str) -> Progress {
        let metadata = table.metadata();
        let properties = metadata.properties();
        if let Some(offsets) = properties.get(&offsets_key(topic)).and_then(|v| decode(v)) {
            return Progress {
                offsets,
                dlq: properties.get(&dlq_key(topic)).and_then(|v| decode(v)).unwrap_or_default(),
                snapshot_id: metadata.current_snapshot_id(),
            };
        }
        let mut snapshot = metadata.current_snapshot();
        while let Some(s) = snapshot {
            if let Some(progress) = Progress::of_snapshot(s, topic) {
                return progress;
            }
            snapshot = s.parent_snapshot_id().and_then(|id| metadata.snapshot_by_id(id));
        }
        Progress::default()
    }

    /// The progress one snapshot records for `topic`, if it records any.
    pub fn of_snapshot(snapshot: &Snapshot, topic: &str) -> Option<Progress> {
        let props = &snapshot.summary().additional_properties;
        let offsets = props.get(&offsets_key(topic)).and_then(|v| decode(v))?;
        Some(Progress {
            offsets,
            dlq: props.get(&dlq_key(topic)).and_then(|v| decode(v)).unwrap_or_default(),
            snapshot_id: Some(snapshot.snapshot_id()),
        })
    }

    /// The snapshot summary entries (and table properties) that record this progress.
    pub fn properties(&self, topic: &str) -> HashMap<String, String> {
        let mut props = HashMap::from([(offsets_key(topic), encode(&self.offsets))]);
        if !self.dlq.is_empty() {
            props.insert(dlq_key(topic), encode(&self.dlq));
        }
        props
    }
}

fn encode(map: &BTreeMap<i32, i64>) -> String {
    let mut out = String::new();
    for (p, o) in map {
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(&format!("{p}:{o}"));
    }
    out
}

fn decode(text: &str) -> Option<BTreeMap<i32, i64>> {
    let mut map = BTreeMap::new();
    for pair in text.split(',').filter(|s| !s.is_empty()) {
        let (p, o) = pair.split_once(':')?;
        map.insert(p.trim().parse().ok()?, o.trim().parse().ok()?);
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_through_the_summary_text() {
        let map = BTreeMap::from([(0, 12), (2, 40_000_000_000)]);
        assert_eq!(encode(&map), "0:12,2:40000000000");
        assert_eq!(decode(&encode(&map)), Some(map));
        assert_eq!(decode(""), Some(BTreeMap::new()));
        assert_eq!(decode("0:x"), None);
    }
}
