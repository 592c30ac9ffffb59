//! A table as DataFusion sees it: iceberg-datafusion's provider, pinned to one snapshot, with
//! two costs of iceberg 0.10.1 taken away (apache/iceberg-rust#676):
//! - a scan asked for no columns (`COUNT(*)`) read and decoded every column; it now reads an
//!   identity partition column (made from the manifests, `partition_values`) or the narrowest
//!   one, and drops it;
//! - scans reported no statistics; a scan of the whole table now reports the snapshot's record
//!   count as exact, so DataFusion answers `COUNT(*)` from metadata without reading a file.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::common::{Result as DfResult, Statistics};
use datafusion::datasource::TableType;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use iceberg::spec::Snapshot;
use iceberg_datafusion::IcebergStaticTableProvider;
use iceberg_datafusion::physical_plan::IcebergTableScan;

use crate::scan::ParallelScan;

/// One table of a query session.
#[derive(Debug)]
pub struct PinnedTable {
    inner: IcebergStaticTableProvider,
    /// Rows in the pinned snapshot, when its summary gives them exactly (no delete files).
    rows: Option<usize>,
    /// Columns the partition spec takes as they are (identity transforms).
    partition_columns: Vec<String>,
}

impl PinnedTable {
    /// `snapshot` is the one `inner` is pinned to; `None` for a table with no snapshot yet.
    pub fn new(
        inner: IcebergStaticTableProvider,
        snapshot: Option<&Snapshot>,
        partition_columns: Vec<String>,
    ) -> Self {
        let rows = match snapshot {
            None => Some(0),
            Some(snapshot) => exact_rows(snapshot),
        };
        Self { inner, rows, partition_columns }
    }
}

/// The snapshot's `total-records`, if no delete file can take rows away from it.
fn exact_rows(snapshot: &Snapshot) -> Option<usize> {
    let summary = &snapshot.summary().additional_properties;
    let count = |key: &str| summary.get(key).and_then(|v| v.parse::<usize>().ok());
    let no_deletes = ["total-delete-files", "total-position-deletes", "total-equality-deletes"]
        .iter()
        .all(|key| count(key).unwrap_or(0) == 0);
    no_deletes.then(|| count("total-records")).flatten()
}

#[async_trait]
impl TableProvider for PinnedTable {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let partitions = state.config().target_partitions();
        let plan = match projection {
            Some(columns) if columns.is_empty() => {
                // Row counts only: one cheap column, then dropped.
                let narrowest = vec![cheapest_column(&schema, &self.partition_columns)];
                let scan = self.inner.scan(state, Some(&narrowest), filters, limit).await?;
                let scan = parallel(scan, partitions).await?;
                Arc::new(ProjectionExec::try_new(Vec::<ProjectionExpr>::new(), scan)?)
            }
            _ => {
                parallel(self.inner.scan(state, projection, filters, limit).await?, partitions)
                    .await?
            }
        };
        Ok(match self.rows {
            Some(rows) if filters.is_empty() && limit.is_none() => {
                Arc::new(CountedScan { input: plan, rows })
            }
            _ => plan,
        })
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }
}

/// iceberg-datafusion's scan, read over `partitions` partitions (`ParallelScan`).
async fn parallel(
    scan: Arc<dyn ExecutionPlan>,
    partitions: usize,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    match scan.as_any().downcast_ref::<IcebergTableScan>() {
        Some(iceberg) => Ok(Arc::new(ParallelScan::plan(iceberg, partitions).await?)),
        None => Ok(scan),
    }
}

/// The column that costs least to read: an identity partition column (not read at all where
/// the manifests give it), else fixed-width before variable-width, narrow before wide.
fn cheapest_column(schema: &Schema, partition_columns: &[String]) -> usize {
    let partition = schema.fields().iter().position(|f| partition_columns.contains(f.name()));
    partition.unwrap_or_else(|| narrowest_column(schema))
}

/// The column that costs least to read: fixed-width before variable-width, narrow before wide.
fn narrowest_column(schema: &Schema) -> usize {
    let cost = |data_type: &DataType| match data_type {
        DataType::Boolean => 1,
        t if t.is_primitive() => t.primitive_width().unwrap_or(16),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => 32,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => 32,
        _ => 1_000,
    };
    schema
        .fields()
        .iter()
        .enumerate()
        .min_by_key(|(index, field)| (cost(field.data_type()), *index))
        .map_or(0, |(index, _)| index)
}

/// A scan of the whole table, which knows how many rows it will produce.
#[derive(Debug)]
struct CountedScan {
    input: Arc<dyn ExecutionPlan>,
    rows: usize,
}

impl DisplayAs for CountedScan {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CountedScan: rows={}", self.rows)
    }
}

impl ExecutionPlan for CountedScan {
    fn name(&self) -> &str {
        "CountedScan"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self { input, rows: self.rows })),
            _ => Err(datafusion::error::DataFusionError::Internal(
                "CountedScan takes exactly one input".into(),
            )),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn partition_statistics(&self, partition: Option<usize>) -> DfResult<Statistics> {
        let whole =
            partition.is_none() || self.input.properties().partitioning.partition_count() == 1;
        let mut statistics = self.input.partition_statistics(partition)?;
        if whole {
            statistics.num_rows = Precision::Exact(self.rows);
        }
        Ok(statistics)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::Field;

    use super::*;

    #[test]
    fn the_narrowest_column_is_fixed_width_and_small() {
        let schema = Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("ts", DataType::Int64, true),
            Field::new("d", DataType::Date32, true),
            Field::new("n", DataType::Int32, true),
        ]);
        assert_eq!(narrowest_column(&schema), 2);
        let strings = Schema::new(vec![Field::new("s", DataType::Utf8, true)]);
        assert_eq!(narrowest_column(&strings), 0);
        assert_eq!(cheapest_column(&schema, &["s".to_owned()]), 0);
        assert_eq!(cheapest_column(&schema, &["gone".to_owned()]), 2);
    }
}
