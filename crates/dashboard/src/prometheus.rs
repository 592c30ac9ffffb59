//! The status in Prometheus' text exposition format; every name starts with `bidlake_`.

use std::fmt::Write;

use crate::Status;

pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "{name}{labels} {value}");
        }
    };
    let per_topic = |f: &dyn Fn(&crate::status::TopicStatus) -> f64| {
        status.topics.iter().map(|t| (format!("{{topic=\"{}\"}}", t.topic), f(t))).collect()
    };
    let per_table = |f: &dyn Fn(&crate::status::TableStatus) -> f64| {
        status.tables.iter().map(|t| (format!("{{table=\"{}\"}}", t.table), f(t))).collect()
    };
    let one = |value: f64| vec![(String::new(), value)];

    family("bidlake_up", "gauge", "1 while the platform runs.", one(1.0));
    family(
        "bidlake_uptime_seconds",
        "gauge",
        "Seconds since start.",
        one(status.uptime_secs as f64),
    );
    family(
        "bidlake_generator_events_total",
        "counter",
        "Events the generator produced, by topic.",
        per_topic(&|t| t.produced as f64),
    );
    if let Some(generator) = &status.generator {
        family(
            "bidlake_generator_delivered_total",
            "counter",
            "Events the broker acknowledged.",
            one(generator.delivered as f64),
        );
        family(
            "bidlake_generator_failed_total",
            "counter",
            "Events the broker did not take.",
            one(generator.failed as f64),
        );
    }
    family(
        "bidlake_ingest_consumed_total",
        "counter",
        "Records ingest consumed, by topic.",
        per_topic(&|t| t.consumed as f64),
    );
    family(
        "bidlake_ingest_rows_total",
        "counter",
        "Rows ingest decoded, by topic.",
        per_topic(&|t| t.ingested_rows as f64),
    );
    family(
        "bidlake_ingest_committed_rows_total",
        "counter",
        "Rows committed to the tables, by topic.",
        per_topic(&|t| t.committed_rows as f64),
    );
    family(
        "bidlake_ingest_dead_letters_total",
        "counter",
        "Records sent to the dead-letter topic, by topic.",
        per_topic(&|t| t.dead_letters as f64),
    );
    family(
        "bidlake_ingest_lag",
        "gauge",
        "Records on the broker that no table commit covers yet, over every partition, by topic.",
        per_topic(&|t| t.lag as f64),
    );
    family(
        "bidlake_ingest_unread_partitions",
        "gauge",
        "Partitions with lag that this process does not read, by topic.",
        per_topic(&|t| t.unread_with_lag.len() as f64),
    );
    if let Some(ingest) = &status.ingest {
        family(
            "bidlake_ingest_commits_total",
            "counter",
            "Iceberg commits.",
            one(ingest.commits as f64),
        );
        family(
            "bidlake_ingest_fenced_total",
            "counter",
            "Commits refused because the partitions moved to another writer.",
            one(ingest.fenced as f64),
        );
        family(
            "bidlake_ingest_retries_total",
            "counter",
            "Outages (broker, catalog, storage) ingest waited out before starting again from the tables.",
            one(ingest.retries as f64),
        );
    }
    family(
        "bidlake_table_rows",
        "gauge",
        "Rows in the table's current snapshot.",
        per_table(&|t| t.rows as f64),
    );
    family(
        "bidlake_table_data_files",
        "gauge",
        "Data files in the current snapshot.",
        per_table(&|t| t.data_files as f64),
    );
    family(
        "bidlake_table_bytes",
        "gauge",
        "Bytes of data files in the current snapshot.",
        per_table(&|t| t.bytes as f64),
    );
    family(
        "bidlake_table_snapshots",
        "gauge",
        "Snapshots the table keeps.",
        per_table(&|t| t.snapshots as f64),
    );
    if let Some(m) = &status.maintenance {
        for (name, help, value) in [
            (
                "bidlake_maintenance_rounds_total",
                "Background maintenance rounds over every table.",
                m.rounds,
            ),
            ("bidlake_maintenance_compactions_total", "Compactions committed.", m.compactions),
            (
                "bidlake_maintenance_files_rewritten_total",
                "Small data files compaction rewrote.",
                m.files_rewritten,
            ),
            (
                "bidlake_maintenance_manifest_merges_total",
                "Manifest merges committed.",
                m.manifest_merges,
            ),
            (
                "bidlake_maintenance_snapshots_expired_total",
                "Snapshots expired.",
                m.snapshots_expired,
            ),
            (
                "bidlake_maintenance_files_deleted_total",
                "Files of expired snapshots and orphan files deleted.",
                m.files_deleted,
            ),
            (
                "bidlake_maintenance_failures_total",
                "Maintenance steps that failed (tried again next round).",
                m.failures,
            ),
        ] {
            family(name, "counter", help, one(value as f64));
        }
        family(
            "bidlake_maintenance_last_round_seconds",
            "gauge",
            "How long the last maintenance round took.",
            one(m.last_round_took_ms.unwrap_or(0) as f64 / 1000.0),
        );
    }
    if let Some(broker) = &status.broker {
        family(
            "bidlake_broker_disk_bytes",
            "gauge",
            "Bytes the embedded broker's storage takes on disk.",
            one(broker.disk_bytes as f64),
        );
    }
    out
}
