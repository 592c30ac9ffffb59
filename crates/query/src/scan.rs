//! A scan of one Iceberg table over every core: the files iceberg plans for it (partition and
//! file pruning included) are split into as many groups as the session has target partitions,
//! each group read by its own iceberg `ArrowReader` in a DataFusion partition of its own.
//!
//! iceberg-datafusion 0.10.1 plans the same files but reads them all in one partition, so a
//! scan used one core however many there were. Reading stays iceberg's (projection by field id,
//! schema evolution, delete files, row-group and row filtering by the pushed-down predicate);
//! only the planning moves to `scan()` time, where DataFusion's own file scans do it too.
//! Files whose columns read are all partition values are not opened (`partition_values`).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::stats::Precision;
use datafusion::common::{DataFusionError, Result as DfResult, Statistics};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_plan::execution_plan::{Boundedness, EmissionType};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use futures::{Stream, StreamExt, TryStreamExt};
use iceberg::arrow::ArrowReaderBuilder;
use iceberg::io::FileIO;
use iceberg::scan::FileScanTask;
use iceberg_datafusion::physical_plan::IcebergTableScan;

use crate::partition_values::PartitionRows;

/// Files smaller than this are never split: opening a file costs more than reading it.
const MIN_SPLIT_BYTES: u64 = 8 << 20;

/// The scan iceberg-datafusion planned, with its files split across partitions.
#[derive(Debug)]
pub struct ParallelScan {
    file_io: FileIO,
    /// What each partition reads.
    groups: Vec<Group>,
    description: String,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
}

impl ParallelScan {
    /// Plans the files `scan` would read and splits them into at most `partitions` groups.
    pub async fn plan(scan: &IcebergTableScan, partitions: usize) -> DfResult<Self> {
        let table = scan.table();
        let builder = match scan.snapshot_id() {
            Some(id) => table.scan().snapshot_id(id),
            None => table.scan(),
        };
        let mut builder = match scan.projection() {
            Some(columns) => builder.select(columns.iter()),
            None => builder.select_all(),
        };
        if let Some(predicate) = scan.predicates() {
            builder = builder.with_filter(predicate.clone());
        }
        let tasks: Vec<FileScanTask> = builder
            .build()
            .map_err(iceberg_error)?
            .plan_files()
            .await
            .map_err(iceberg_error)?
            .try_collect()
            .await
            .map_err(iceberg_error)?;
        let schema = scan.schema();
        let metadata = table.metadata();
        let only_spec = (metadata.partition_specs_iter().len() == 1)
            .then(|| metadata.default_partition_spec().as_ref());
        let (mut from_partitions, mut read) = (Vec::new(), Vec::new());
        for task in tasks {
            match PartitionRows::of(&task, &schema, only_spec) {
                Some(rows) => from_partitions.push(rows),
                None => read.push(task),
            }
        }
        let mut groups: Vec<Group> = split(read, partitions.max(1))
            .into_iter()
            .map(|read| Group { read, from_partitions: Vec::new() })
            .collect();
        // Rows made from the manifests cost next to nothing: dealt out in turn, over every
        // partition even when no file is read.
        let wanted = partitions.max(1).min(groups.len() + from_partitions.len());
        groups.resize_with(wanted.max(groups.len()), Group::default);
        let count = groups.len();
        for (i, rows) in from_partitions.into_iter().enumerate() {
            groups[count - 1 - i % count].from_partitions.push(rows);
        }
        let properties = Arc::new(PlanProperties::new(
            EquivalenceProperties::new(schema),
            Partitioning::UnknownPartitioning(groups.len()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        ));
        // iceberg-datafusion's own line (projection, predicate, limit), so EXPLAIN still shows
        // what was pushed down.
        let description = DisplayableScan(scan).to_string();
        Ok(Self {
            file_io: table.file_io().clone(),
            groups,
            description,
            limit: scan.limit(),
            properties,
        })
    }

    fn files(&self) -> usize {
        self.groups.iter().map(|g| g.read.len() + g.from_partitions.len()).sum()
    }

    fn files_from_partitions(&self) -> usize {
        self.groups.iter().map(|g| g.from_partitions.len()).sum()
    }
}

/// One partition's share of a scan.
#[derive(Debug, Clone, Default)]
struct Group {
    /// Files, or byte ranges of one, read by iceberg's reader.
    read: Vec<FileScanTask>,
    /// Files whose rows are made from their partition values and row counts.
    from_partitions: Vec<PartitionRows>,
}

/// Groups of about equal bytes: files too big for one group are cut into byte ranges (the
/// reader gives each row group to the range holding its midpoint), then the largest pieces go
/// first, each to the lightest group. Always at least one group, possibly empty.
fn split(tasks: Vec<FileScanTask>, partitions: usize) -> Vec<Vec<FileScanTask>> {
    let total: u64 = tasks.iter().map(|task| task.length).sum();
    let share = total.div_ceil(partitions as u64).max(MIN_SPLIT_BYTES);
    let mut pieces: Vec<FileScanTask> = Vec::with_capacity(tasks.len());
    for task in tasks {
        let whole_file = task.start == 0 && task.length == task.file_size_in_bytes;
        if !whole_file || task.length <= share || !task.deletes.is_empty() {
            pieces.push(task);
            continue;
        }
        let count = task.length.div_ceil(share);
        let step = task.length.div_ceil(count);
        let mut start = 0;
        while start < task.length {
            let mut piece = task.clone();
            piece.start = start;
            piece.length = step.min(task.length - start);
            // The piece's share of the file's rows, by bytes: an estimate for statistics
            // (which call it inexact); iceberg's reader does not read it.
            piece.record_count =
                task.record_count.map(|rows| rows * piece.length / task.length.max(1));
            start += piece.length;
            pieces.push(piece);
        }
    }
    pieces.sort_by_key(|piece| std::cmp::Reverse(piece.length));

    let groups_wanted = partitions.min(pieces.len()).max(1);
    let mut groups: Vec<(u64, Vec<FileScanTask>)> = vec![(0, Vec::new()); groups_wanted];
    for piece in pieces {
        if let Some(lightest) = groups.iter_mut().min_by_key(|(bytes, _)| *bytes) {
            lightest.0 += piece.length;
            lightest.1.push(piece);
        }
    }
    groups.into_iter().map(|(_, group)| group).collect()
}

/// The rows the manifests give for these groups (pieces of a file by their share of its bytes);
/// `None` when a task does not say.
fn planned_rows(groups: &[Group]) -> Option<usize> {
    let read: Option<usize> = groups
        .iter()
        .flat_map(|g| &g.read)
        .map(|task| task.record_count.map(|rows| rows as usize))
        .sum();
    let made: usize = groups.iter().flat_map(|g| &g.from_partitions).map(PartitionRows::rows).sum();
    read.map(|read| read + made)
}

fn iceberg_error(error: iceberg::Error) -> DataFusionError {
    DataFusionError::External(Box::new(error))
}

/// iceberg-datafusion's description of its scan.
struct DisplayableScan<'a>(&'a IcebergTableScan);

impl fmt::Display for DisplayableScan<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt_as(DisplayFormatType::Default, f)
    }
}

impl DisplayAs for ParallelScan {
    fn fmt_as(&self, _format: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ParallelScan: partitions={} files={} from_partition_values={} [{}]",
            self.groups.len(),
            self.files(),
            self.files_from_partitions(),
            self.description
        )
    }
}

impl ExecutionPlan for ParallelScan {
    fn name(&self) -> &str {
        "ParallelScan"
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let group = self.groups.get(partition).cloned().ok_or_else(|| {
            DataFusionError::Internal(format!("ParallelScan has no partition {partition}"))
        })?;
        let schema = self.schema();
        let made = futures::stream::iter(
            group.from_partitions.into_iter().flat_map(move |rows| rows.batches(schema.clone())),
        );
        let runtime = iceberg::Runtime::try_current().map_err(iceberg_error)?;
        let tasks = futures::stream::iter(group.read.into_iter().map(Ok)).boxed();
        let read = ArrowReaderBuilder::new(self.file_io.clone(), runtime)
            .build()
            .read(tasks)
            .map_err(iceberg_error)?
            .stream()
            .map_err(iceberg_error);
        let batches = made.chain(read);
        let batches = match self.limit {
            None => batches.boxed(),
            Some(limit) => limited(batches, limit).boxed(),
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(self.schema(), batches)))
    }

    /// Rows as the manifests count them (before the filter: inexact), so DataFusion can build
    /// a join's hash table on the smaller side.
    fn partition_statistics(&self, partition: Option<usize>) -> DfResult<Statistics> {
        let groups = match partition {
            None => &self.groups[..],
            Some(index) => self.groups.get(index..=index).unwrap_or_default(),
        };
        let mut statistics = Statistics::new_unknown(&self.schema());
        if let Some(rows) = planned_rows(groups) {
            statistics.num_rows = Precision::Inexact(rows);
        }
        Ok(statistics)
    }
}

/// At most `limit` rows of `batches`: a partition's share of a `LIMIT`, which DataFusion still
/// applies over all partitions. Stops reading once it has them.
fn limited(
    batches: impl Stream<Item = DfResult<RecordBatch>> + Send + 'static,
    limit: usize,
) -> impl Stream<Item = DfResult<RecordBatch>> + Send {
    batches.scan(limit, |remaining, batch| {
        let batch = (*remaining > 0).then(|| {
            batch.map(|batch| {
                let rows = batch.num_rows().min(*remaining);
                *remaining -= rows;
                batch.slice(0, rows)
            })
        });
        futures::future::ready(batch)
    })
}

#[cfg(test)]
mod tests {
    use iceberg::spec::{DataFileFormat, Schema};

    use super::*;

    fn file(name: &str, bytes: u64) -> FileScanTask {
        FileScanTask::builder()
            .with_file_size_in_bytes(bytes)
            .with_start(0)
            .with_length(bytes)
            .with_record_count(Some(bytes / 10))
            .with_data_file_path(name.to_owned())
            .with_data_file_format(DataFileFormat::Parquet)
            .with_schema(Arc::new(Schema::builder().build().unwrap()))
            .with_project_field_ids(Vec::new())
            .with_case_sensitive(true)
            .build()
    }

    fn read(groups: Vec<Vec<FileScanTask>>) -> Vec<Group> {
        groups.into_iter().map(|read| Group { read, from_partitions: Vec::new() }).collect()
    }

    fn bytes(group: &[FileScanTask]) -> u64 {
        group.iter().map(|task| task.length).sum()
    }

    #[test]
    fn small_files_are_spread_by_bytes_over_the_partitions() {
        let tasks = (0..10).map(|i| file(&format!("f{i}"), 1_000 * (i + 1))).collect();
        let groups = split(tasks, 2);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), 10);
        let (a, b) = (bytes(&groups[0]), bytes(&groups[1]));
        assert!(a.abs_diff(b) <= 1_000, "{a} vs {b}");
    }

    #[test]
    fn a_file_bigger_than_its_share_is_cut_into_ranges_that_tile_it() {
        let big = 100 * MIN_SPLIT_BYTES + 7;
        let groups = split(vec![file("big", big), file("small", 1_000)], 4);
        assert_eq!(groups.len(), 4);
        let mut ranges: Vec<(u64, u64)> = groups
            .iter()
            .flatten()
            .filter(|task| task.data_file_path == "big")
            .map(|task| (task.start, task.length))
            .collect();
        ranges.sort_unstable();
        assert!(ranges.len() >= 4, "{ranges:?}");
        let mut next = 0;
        for (start, length) in ranges {
            assert_eq!(start, next, "ranges must tile the file");
            next = start + length;
        }
        assert_eq!(next, big);
        // The pieces' estimated rows add up to the file's (within rounding).
        let rows = planned_rows(&read(groups)).unwrap_or(0);
        assert!(rows.abs_diff((big / 10 + 100) as usize) < 10, "{rows}");
    }

    #[test]
    fn rows_are_counted_from_whole_files_only() {
        let groups = split(vec![file("a", 100), file("b", 50)], 2);
        assert_eq!(planned_rows(&read(groups)), Some(15));
        let mut unknown = file("c", 10);
        unknown.record_count = None;
        assert_eq!(planned_rows(&read(split(vec![file("a", 100), unknown], 2))), None);
    }

    #[test]
    fn no_files_is_one_empty_partition_and_few_files_are_few_partitions() {
        let groups = split(Vec::new(), 8);
        assert_eq!(groups.len(), 1);
        assert!(groups[0].is_empty());
        assert_eq!(split(vec![file("a", 10), file("b", 10)], 8).len(), 2);
    }
}
