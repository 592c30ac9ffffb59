//! Iceberg's metadata tables, named as Trino and Spark name them, so the original platform's
//! queries run as written: `SELECT * FROM "bid_requests$snapshots"`, and `$history`,
//! `$manifests`, `$files`, `$partitions`. Each reads the table as the session pinned it, when a
//! query scans it (a session that never asks reads nothing).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{DataFusionError, Result as DfResult};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use futures::TryStreamExt;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::table::Table;

/// The kinds of metadata table, by the suffix that names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Every snapshot kept: when, which parent, what operation, its summary.
    Snapshots,
    /// The main branch's log: when each snapshot became current.
    History,
    /// The manifests of the current snapshot (iceberg's own table).
    Manifests,
    /// The live data files of the pinned snapshot.
    Files,
    /// Rows, files and bytes per partition of the pinned snapshot.
    Partitions,
}

impl Kind {
    pub const ALL: [Kind; 5] =
        [Kind::Snapshots, Kind::History, Kind::Manifests, Kind::Files, Kind::Partitions];

    /// What follows the `$` in the table's name.
    pub fn suffix(self) -> &'static str {
        match self {
            Kind::Snapshots => "snapshots",
            Kind::History => "history",
            Kind::Manifests => "manifests",
            Kind::Files => "files",
            Kind::Partitions => "partitions",
        }
    }
}

/// One metadata table of one table.
#[derive(Debug)]
pub struct MetadataTable {
    table: Table,
    snapshot_id: Option<i64>,
    kind: Kind,
    schema: SchemaRef,
}

impl MetadataTable {
    /// The `kind` table of `table` as pinned to `snapshot_id` (`None`: its current snapshot).
    pub fn new(table: Table, snapshot_id: Option<i64>, kind: Kind) -> DfResult<Self> {
        let timestamp = || DataType::Timestamp(TimeUnit::Millisecond, Some("+00:00".into()));
        let long = |name: &str, nullable| Field::new(name, DataType::Int64, nullable);
        let text = |name: &str| Field::new(name, DataType::Utf8, false);
        let schema = match kind {
            Kind::Snapshots => iceberg_schema(&table.inspect().snapshots().schema())?,
            Kind::Manifests => iceberg_schema(&table.inspect().manifests().schema())?,
            Kind::History => Arc::new(Schema::new(vec![
                Field::new("made_current_at", timestamp(), false),
                long("snapshot_id", false),
                long("parent_id", true),
                Field::new("is_current_ancestor", DataType::Boolean, false),
            ])),
            Kind::Files => Arc::new(Schema::new(vec![
                Field::new("content", DataType::Int32, false),
                text("file_path"),
                text("file_format"),
                Field::new("spec_id", DataType::Int32, false),
                text("partition"),
                long("record_count", false),
                long("file_size_in_bytes", false),
            ])),
            Kind::Partitions => Arc::new(Schema::new(vec![
                text("partition"),
                Field::new("spec_id", DataType::Int32, false),
                long("record_count", false),
                long("file_count", false),
                long("total_size", false),
            ])),
        };
        Ok(Self { table, snapshot_id, kind, schema })
    }

    async fn batches(&self) -> DfResult<Vec<RecordBatch>> {
        let batches = match self.kind {
            Kind::Snapshots => {
                let stream = self.table.inspect().snapshots().scan().await.map_err(external)?;
                stream.try_collect().await.map_err(external)?
            }
            Kind::Manifests => {
                let stream = self.table.inspect().manifests().scan().await.map_err(external)?;
                stream.try_collect().await.map_err(external)?
            }
            Kind::History => vec![self.history()?],
            Kind::Files | Kind::Partitions => vec![self.files().await?],
        };
        // The rows as the declared schema (iceberg's batches carry field ids in their metadata).
        batches
            .into_iter()
            .map(|batch| {
                RecordBatch::try_new(self.schema.clone(), batch.columns().to_vec())
                    .map_err(DataFusionError::from)
            })
            .collect()
    }

    fn history(&self) -> DfResult<RecordBatch> {
        let metadata = self.table.metadata();
        // The current snapshot and its ancestors are the main branch's lineage.
        let mut ancestors = std::collections::HashSet::new();
        let mut next = metadata.current_snapshot();
        while let Some(snapshot) = next {
            ancestors.insert(snapshot.snapshot_id());
            next = snapshot.parent_snapshot_id().and_then(|id| metadata.snapshot_by_id(id));
        }
        let log = metadata.history();
        let parent = |id: i64| metadata.snapshot_by_id(id).and_then(|s| s.parent_snapshot_id());
        let columns: Vec<ArrayRef> = vec![
            Arc::new(
                TimestampMillisecondArray::from_iter_values(log.iter().map(|l| l.timestamp_ms))
                    .with_timezone("+00:00"),
            ),
            Arc::new(Int64Array::from_iter_values(log.iter().map(|l| l.snapshot_id))),
            Arc::new(Int64Array::from_iter(log.iter().map(|l| parent(l.snapshot_id)))),
            Arc::new(BooleanArray::from_iter(
                log.iter().map(|l| Some(ancestors.contains(&l.snapshot_id))),
            )),
        ];
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// The live data files of the pinned snapshot (`$files`), or their sums per partition
    /// (`$partitions`).
    async fn files(&self) -> DfResult<RecordBatch> {
        let metadata = self.table.metadata();
        let io = self.table.file_io();
        let snapshot = match self.snapshot_id {
            Some(id) => metadata.snapshot_by_id(id),
            None => metadata.current_snapshot(),
        };
        let mut files = Vec::new();
        if let Some(snapshot) = snapshot {
            let list = self.table.manifest_list_reader(snapshot).load().await.map_err(external)?;
            for manifest_file in list.entries() {
                let manifest = manifest_file.load_manifest(io).await.map_err(external)?;
                let spec = metadata.partition_spec_by_id(manifest_file.partition_spec_id);
                for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
                    let data = entry.data_file();
                    let partition = spec
                        .map(|spec| {
                            spec.partition_to_path(
                                data.partition(),
                                metadata.current_schema().clone(),
                            )
                        })
                        .unwrap_or_default();
                    files.push(FileRow {
                        content: data.content_type() as i32,
                        path: data.file_path().to_owned(),
                        format: data.file_format().to_string(),
                        spec_id: manifest_file.partition_spec_id,
                        partition,
                        records: data.record_count() as i64,
                        bytes: data.file_size_in_bytes() as i64,
                    });
                }
            }
        }
        let columns: Vec<ArrayRef> = match self.kind {
            Kind::Partitions => {
                let mut by_partition: BTreeMap<(String, i32), (i64, i64, i64)> = BTreeMap::new();
                for file in &files {
                    let sums =
                        by_partition.entry((file.partition.clone(), file.spec_id)).or_default();
                    *sums = (sums.0 + file.records, sums.1 + 1, sums.2 + file.bytes);
                }
                let keys: Vec<&(String, i32)> = by_partition.keys().collect();
                let sums: Vec<&(i64, i64, i64)> = by_partition.values().collect();
                vec![
                    Arc::new(StringArray::from_iter_values(keys.iter().map(|k| &k.0))),
                    Arc::new(Int32Array::from_iter_values(keys.iter().map(|k| k.1))),
                    Arc::new(Int64Array::from_iter_values(sums.iter().map(|s| s.0))),
                    Arc::new(Int64Array::from_iter_values(sums.iter().map(|s| s.1))),
                    Arc::new(Int64Array::from_iter_values(sums.iter().map(|s| s.2))),
                ]
            }
            _ => vec![
                Arc::new(Int32Array::from_iter_values(files.iter().map(|f| f.content))),
                Arc::new(StringArray::from_iter_values(files.iter().map(|f| &f.path))),
                Arc::new(StringArray::from_iter_values(files.iter().map(|f| &f.format))),
                Arc::new(Int32Array::from_iter_values(files.iter().map(|f| f.spec_id))),
                Arc::new(StringArray::from_iter_values(files.iter().map(|f| &f.partition))),
                Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.records))),
                Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.bytes))),
            ],
        };
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// One row of `$files`.
struct FileRow {
    content: i32,
    path: String,
    format: String,
    spec_id: i32,
    partition: String,
    records: i64,
    bytes: i64,
}

fn iceberg_schema(schema: &iceberg::spec::Schema) -> DfResult<SchemaRef> {
    Ok(Arc::new(schema_to_arrow_schema(schema).map_err(external)?))
}

fn external(error: iceberg::Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

#[async_trait]
impl TableProvider for MetadataTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let batches = self.batches().await?;
        Ok(MemorySourceConfig::try_new_exec(&[batches], self.schema.clone(), projection.cloned())?)
    }
}
