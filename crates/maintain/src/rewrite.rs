//! Rewriting a bin: its files are read with iceberg's Arrow reader (which projects every file
//! onto the table's current schema, nulls for columns a file predates), optionally sorted, and
//! written as Parquet/zstd by the same writer stack ingest uses, into the bin's partition.

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_ord::sort::{SortColumn, lexsort_to_indices};
use arrow_schema::SchemaRef;
use futures::TryStreamExt;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::scan::FileScanTask;
use iceberg::spec::{DataFile, DataFileFormat, PartitionKey};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::plan::Bin;

/// A task that reads all of `file`, the columns `field_ids` of `schema`. No partition
/// constants: the reader would hand identity columns over run-end encoded, and the files hold
/// the values anyway.
pub fn whole_file(
    file: &DataFile,
    schema: &iceberg::spec::SchemaRef,
    field_ids: &[i32],
) -> FileScanTask {
    FileScanTask::builder()
        .with_file_size_in_bytes(file.file_size_in_bytes())
        .with_start(0)
        .with_length(file.file_size_in_bytes())
        .with_record_count(Some(file.record_count()))
        .with_data_file_path(file.file_path().to_owned())
        .with_data_file_format(file.file_format())
        .with_schema(Arc::clone(schema))
        .with_project_field_ids(field_ids.to_vec())
        .with_case_sensitive(true)
        .build()
}
use crate::{Context, Error, Result};

type WriterBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// Rows per batch the reader hands over.
const READ_BATCH_ROWS: usize = 8192;
/// Files of a bin read at once.
const READ_CONCURRENCY: usize = 2;

/// Writes the bins of one table.
#[allow(missing_debug_implementations)] // the iceberg writers have no Debug
pub struct Rewriter {
    table: Table,
    arrow_schema: SchemaRef,
    writers: WriterBuilder,
    /// Indices of the --sort-by columns in the table's schema.
    sort_by: Vec<usize>,
    /// Unique to this compaction: its files can be told apart from everyone else's.
    pub file_prefix: String,
}

impl Rewriter {
    pub fn new(
        table: &Table,
        target_file_size: u64,
        zstd_level: i32,
        sort_by: &[String],
    ) -> Result<Self> {
        let name = table.identifier().to_string();
        let metadata = table.metadata();
        let schema = metadata.current_schema().clone();
        let arrow_schema = Arc::new(
            schema_to_arrow_schema(&schema)
                .context(|| format!("converting the schema of {name} to Arrow"))?,
        );
        let sort_by = sort_by
            .iter()
            .map(|column| {
                arrow_schema.index_of(column.trim()).map_err(|_| {
                    let columns: Vec<&str> =
                        arrow_schema.fields().iter().map(|f| f.name().as_str()).collect();
                    Error::Config(format!(
                        "--sort-by: {name} has no column {column:?}; its columns are {}",
                        columns.join(", ")
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;

        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level).unwrap_or_default()))
            .set_max_row_group_row_count(Some(1 << 20))
            .set_created_by(concat!("bidlake maintain ", env!("CARGO_PKG_VERSION")).to_owned())
            .build();
        let location = DefaultLocationGenerator::new(metadata)
            .context(|| format!("the data location of {name}"))?;
        let file_prefix = format!("compact-{}", uuid::Uuid::new_v4());
        let names =
            DefaultFileNameGenerator::new(file_prefix.clone(), None, DataFileFormat::Parquet);
        // A bin holds at most the target's worth of input; the writer's size estimate counts the
        // open row group uncompressed, so it only rolls a file that came out far larger.
        let roll_at = usize::try_from(target_file_size.saturating_mul(2)).unwrap_or(usize::MAX);
        let rolling = RollingFileWriterBuilder::new(
            ParquetWriterBuilder::new(props, schema),
            roll_at,
            table.file_io().clone(),
            location,
            names,
        );
        Ok(Self {
            table: table.clone(),
            arrow_schema,
            writers: DataFileWriterBuilder::new(rolling),
            sort_by,
            file_prefix,
        })
    }

    /// Reads the bin's files and writes their rows into new files of the same partition.
    pub async fn rewrite(&self, bin: &Bin) -> Result<Vec<DataFile>> {
        let name = self.table.identifier().to_string();
        let metadata = self.table.metadata();
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().clone();
        let field_ids: Vec<i32> = schema.as_struct().fields().iter().map(|f| f.id).collect();
        let tasks: Vec<iceberg::Result<FileScanTask>> =
            bin.files.iter().map(|file| Ok(whole_file(file, &schema, &field_ids))).collect();
        let reader = self
            .table
            .reader_builder()
            .with_batch_size(READ_BATCH_ROWS)
            .with_data_file_concurrency_limit(READ_CONCURRENCY)
            .build();
        let mut batches = reader
            .read(Box::pin(futures::stream::iter(tasks)))
            .context(|| format!("reading data files of {name}"))?
            .stream();

        let key = PartitionKey::new(spec.as_ref().clone(), schema.clone(), bin.partition.clone());
        let mut writer = self
            .writers
            .build(Some(key))
            .await
            .context(|| format!("opening a data file of {name}"))?;
        let read_error =
            |source| Error::iceberg(format!("reading {} of {name}", bin.partition_path), source);
        let mut rows = 0u64;
        if self.sort_by.is_empty() {
            while let Some(batch) = batches.try_next().await.map_err(read_error)? {
                rows += batch.num_rows() as u64;
                writer
                    .write(self.conform(batch)?)
                    .await
                    .context(|| format!("writing a data file of {name}"))?;
            }
        } else {
            // Sorting needs the whole bin: at most --target-file-size of compressed input.
            let all: Vec<RecordBatch> = batches.try_collect().await.map_err(read_error)?;
            let batch =
                arrow_select::concat::concat_batches(&self.arrow_schema, &all).map_err(|e| {
                    Error::arrow(format!("joining the rows of {}", bin.partition_path), e)
                })?;
            drop(all);
            rows = batch.num_rows() as u64;
            let sorted = self.sort(batch)?;
            writer.write(sorted).await.context(|| format!("writing a data file of {name}"))?;
        }
        let files = writer.close().await.context(|| format!("closing a data file of {name}"))?;
        let written: u64 = files.iter().map(DataFile::record_count).sum();
        if rows != bin.records() || written != rows {
            // Never commit a rewrite that lost or gained a row.
            return Err(Error::Config(format!(
                "rewriting {} of {name}: read {rows} rows and wrote {written}, the files hold {}",
                bin.partition_path,
                bin.records()
            )));
        }
        Ok(files)
    }

    /// The batch under the table's Arrow schema (the writer checks field ids by schema).
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if batch.schema() == self.arrow_schema {
            return Ok(batch);
        }
        RecordBatch::try_new(self.arrow_schema.clone(), batch.columns().to_vec())
            .map_err(|e| Error::arrow("matching a batch to the table's schema", e))
    }

    fn sort(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let batch = self.conform(batch)?;
        let columns: Vec<SortColumn> = self
            .sort_by
            .iter()
            .map(|&i| SortColumn { values: batch.column(i).clone(), options: None })
            .collect();
        let indices = lexsort_to_indices(&columns, None)
            .map_err(|e| Error::arrow("sorting the rows (--sort-by)", e))?;
        arrow_select::take::take_record_batch(&batch, &indices)
            .map_err(|e| Error::arrow("sorting the rows (--sort-by)", e))
    }
}
