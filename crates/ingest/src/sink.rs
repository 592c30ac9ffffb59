//! Write: a table's partition builders become Arrow batches that stream into one Parquet data
//! file writer per table partition; `close` hands back the data files to commit.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{DataType, SchemaRef};
use bidlake_tables::columns::{Columns, PartitionValue, Partitioned};
use bidlake_tables::timestamp::day_of;
use bidlake_tables::{
    BidRequests, BidResponses, Clicks, EventRecords, EventTable, EventTimeWindow, ExchangeRates,
    Impressions, Reject, Source, schema_of,
};
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataFile, DataFileFormat, Literal, PartitionKey, Struct};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::{DataFileWriter, DataFileWriterBuilder};
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{CurrentFileStatus, IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use crate::{Error, Result};

type FileWriter =
    DataFileWriter<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;
/// Memory of one column of an open Parquet file before its data, measured with heaptrack: a
/// zstd compression and decompression context (parquet 58 makes both per column) and a
/// dictionary, together 100-160 KiB.
const OPEN_COLUMN_COST: usize = 128 << 10;

/// A partition's open data file, and the bytes its writer holds in memory (as of its last write).
struct OpenFile {
    writer: FileWriter,
    held: usize,
}

type FileWriterBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// How a sink writes files.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Rows a partition collects before they go to its file writer as one batch.
    pub batch_rows: usize,
    /// A file rolls over to a new one beyond this size.
    pub target_file_size: usize,
    /// Memory the open files may take (estimated: a fixed cost per column plus the unfinished
    /// row group); beyond it the largest file is closed early, so memory stays bounded whatever
    /// the rate and the number of partitions.
    pub buffer_bytes: usize,
    pub zstd_level: i32,
    /// Unique per process and start, so concurrent writers never pick the same file name.
    pub file_prefix: String,
}

/// One table's in-flight data: builders per partition and a file writer per partition.
#[allow(missing_debug_implementations)] // the iceberg writers have no Debug
pub struct Sink<T: EventRecords> {
    iceberg: Table,
    /// Prices are converted to USD at these rates as rows are decoded.
    rates: Arc<ExchangeRates>,
    writer_builder: FileWriterBuilder,
    arrow_schema: SchemaRef,
    /// For each column of the table's current schema: which of our columns fills it (by field
    /// id), or none (a column a user added; written as nulls).
    projection: Vec<Option<usize>>,
    buffers: Partitioned<T::Columns>,
    writers: HashMap<usize, OpenFile>,
    /// Files closed early (over `buffer_bytes`), for the next commit.
    closed: Vec<DataFile>,
    batch_rows: usize,
    buffer_bytes: usize,
    /// What an open file takes before any data: each column's writer has its own zstd
    /// contexts and dictionary.
    open_file_cost: usize,
    /// Partitions whose builders reached `batch_rows`, to hand to their file writers.
    full: Vec<usize>,
    /// Rows taken since the last commit (buffered or written).
    taken_rows: usize,
    /// The written rows kept for an aggregator in this process, if one reads them.
    kept: Option<Kept>,
}

/// The rows written since the last commit, in the columns the aggregates read, to be handed to
/// an aggregator in the same process once the commit holds them
/// ([`bidlake_tables::committed`]).
struct Kept {
    /// Indices of the columns in the table's Arrow schema.
    columns: Vec<usize>,
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// More than the hand-off holds: this commit's rows are not handed over (the aggregator
    /// reads its files instead).
    overflowed: bool,
}

/// What one table's kept rows may take: the hand-off's bound shared by the four tables (a
/// commit with more is read back from its files by the aggregator instead).
const MAX_KEPT_BYTES: usize =
    bidlake_tables::committed::MAX_HELD_BYTES / bidlake_tables::EventTable::ALL.len();

impl Kept {
    /// Keeps the rows of `batch`, which its file writer has taken.
    fn keep(&mut self, batch: &RecordBatch) {
        if self.overflowed {
            return;
        }
        // A shortcut only: a batch that cannot be kept makes the aggregator read the files.
        let rows = match batch.project(&self.columns) {
            Ok(rows) => rows,
            Err(err) => {
                tracing::debug!(error = %err, "not keeping this commit's rows for the aggregator");
                self.overflow();
                return;
            }
        };
        self.bytes += rows.get_array_memory_size();
        if self.bytes > MAX_KEPT_BYTES {
            tracing::debug!(
                bytes = self.bytes,
                "this commit's rows are more than the hand-off holds: the aggregator reads its files"
            );
            self.overflow();
        } else {
            self.batches.push(rows);
        }
    }

    fn overflow(&mut self) {
        self.overflowed = true;
        self.batches = Vec::new();
    }

    fn reset(&mut self) {
        self.batches = Vec::new();
        self.bytes = 0;
        self.overflowed = false;
    }
}

impl<T: EventRecords> Sink<T> {
    pub fn new(iceberg: Table, options: &WriteOptions, rates: Arc<ExchangeRates>) -> Result<Self> {
        let metadata = iceberg.metadata();
        let schema = metadata.current_schema().clone();
        let arrow_schema = Arc::new(schema_to_arrow_schema(&schema).map_err(|source| {
            Error::iceberg(format!("converting the schema of {}", T::NAME), source)
        })?);
        let ours = schema_of::<T>()?;
        let projection = schema
            .as_struct()
            .fields()
            .iter()
            .map(|f| ours.as_struct().fields().iter().position(|o| o.id == f.id))
            .collect();
        let props = writer_properties(T::UNIQUE_COLUMNS, &arrow_schema, options.zstd_level);
        let open_file_cost = arrow_schema.fields().len() * OPEN_COLUMN_COST;
        let location = DefaultLocationGenerator::new(metadata).map_err(|source| {
            Error::iceberg(format!("the data location of {}", T::NAME), source)
        })?;
        let names = DefaultFileNameGenerator::new(
            options.file_prefix.clone(),
            None,
            DataFileFormat::Parquet,
        );
        let rolling = RollingFileWriterBuilder::new(
            ParquetWriterBuilder::new(props, schema),
            options.target_file_size,
            iceberg.file_io().clone(),
            location,
            names,
        );
        Ok(Self {
            iceberg,
            rates,
            writer_builder: DataFileWriterBuilder::new(rolling),
            buffers: Partitioned::new(Arc::clone(&arrow_schema)),
            arrow_schema,
            projection,
            writers: HashMap::new(),
            closed: Vec::new(),
            batch_rows: options.batch_rows,
            buffer_bytes: options.buffer_bytes,
            open_file_cost,
            full: Vec::new(),
            taken_rows: 0,
            kept: None,
        })
    }

    /// Keeps the `columns` of every row written from now on, for [`Sink::take_written_rows`].
    pub fn keep_written_rows(&mut self, columns: &[&str]) -> Result<()> {
        let columns = columns
            .iter()
            .map(|name| {
                self.arrow_schema.index_of(name).map_err(|source| Error::Arrow {
                    context: format!("the column {name} of {} the aggregates read", T::NAME),
                    source,
                })
            })
            .collect::<Result<Vec<usize>>>()?;
        self.kept = Some(Kept { columns, batches: Vec::new(), bytes: 0, overflowed: false });
        Ok(())
    }

    /// The rows written since the last commit (call it once the commit holds them); `None`
    /// if rows are not kept, or were too many to keep.
    pub fn take_written_rows(&mut self) -> Option<Vec<RecordBatch>> {
        let kept = self.kept.as_mut()?;
        let rows = (!kept.overflowed).then(|| std::mem::take(&mut kept.batches));
        kept.reset();
        rows
    }

    /// Rows taken since the last commit (buffered or written).
    pub fn rows(&self) -> usize {
        self.taken_rows
    }

    /// Bytes the open files hold in memory (their writers' estimate).
    pub fn held_bytes(&self) -> usize {
        self.writers.values().map(|f| f.held).sum()
    }

    /// Table partitions (day, country) this batch has rows for.
    pub fn partitions(&self) -> usize {
        self.buffers.partitions()
    }

    /// Decodes a record and buffers its row(s) in their partitions; returns how many rows it
    /// gave. A row whose event time is outside `window` rejects the whole record, as a record
    /// that cannot be decoded is rejected.
    pub fn append(
        &mut self,
        value: &[u8],
        kafka_timestamp: Option<i64>,
        source: Source,
        window: &EventTimeWindow,
    ) -> Result<usize, Reject> {
        let rows = T::decode(value, kafka_timestamp, &self.rates)?;
        let rows = rows.as_ref();
        for row in rows {
            window.check(T::event_time(row))?;
        }
        for row in rows {
            let day = day_of(T::event_time(row));
            let (index, columns) = self.buffers.slot_for(day, T::partition_value(row));
            T::push(columns, row, source);
            let len = columns.len();
            self.taken_rows += 1;
            if len == self.batch_rows {
                self.full.push(index);
            }
        }
        Ok(rows.len())
    }

    /// Hands the partitions that reached `batch_rows` to their file writers.
    pub async fn write_full(&mut self) -> Result<()> {
        for index in std::mem::take(&mut self.full) {
            self.write_slot(index).await?;
        }
        Ok(())
    }

    async fn write_slot(&mut self, index: usize) -> Result<()> {
        let Some((value, columns)) = self.buffers.get_mut(index) else { return Ok(()) };
        let rows = columns.len();
        let ours = columns.finish();
        let partition = partition_struct::<T>(value);
        let batch = self.batch(ours, rows)?;
        let file = match self.writers.entry(index) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let metadata = self.iceberg.metadata();
                let key = PartitionKey::new(
                    metadata.default_partition_spec().as_ref().clone(),
                    metadata.current_schema().clone(),
                    partition,
                );
                let writer = self.writer_builder.build(Some(key)).await.map_err(|source| {
                    Error::iceberg(format!("opening a data file of {}", T::NAME), source)
                })?;
                e.insert(OpenFile { writer, held: 0 })
            }
        };
        let kept = self.kept.is_some().then(|| batch.clone());
        file.writer.write(batch).await.map_err(|source| {
            Error::iceberg(format!("writing a data file of {}", T::NAME), source)
        })?;
        if let (Some(kept), Some(batch)) = (&mut self.kept, kept) {
            kept.keep(&batch);
        }
        // Written once at least, so the writer has a file to report on.
        file.held = self.open_file_cost + file.writer.current_written_size();
        self.close_over_budget().await
    }

    /// Closes the largest open files until what they hold fits `buffer_bytes`. A Parquet writer
    /// keeps a whole row group in memory, in every column of every partition's file; closing
    /// one early is the only way to free it (the files go into the next commit).
    async fn close_over_budget(&mut self) -> Result<()> {
        while self.writers.values().map(|f| f.held).sum::<usize>() > self.buffer_bytes {
            let Some(largest) = self.writers.iter().max_by_key(|(_, f)| f.held).map(|(i, _)| *i)
            else {
                break;
            };
            let Some(mut file) = self.writers.remove(&largest) else { break };
            tracing::debug!(
                table = T::NAME,
                bytes = file.held,
                "closing a data file early: the open files hold more than the buffer allows"
            );
            self.closed.extend(file.writer.close().await.map_err(|source| {
                Error::iceberg(format!("closing a data file of {}", T::NAME), source)
            })?);
        }
        Ok(())
    }

    fn batch(&self, ours: Vec<ArrayRef>, rows: usize) -> Result<RecordBatch> {
        let columns = self
            .projection
            .iter()
            .zip(self.arrow_schema.fields())
            .map(|(ours_index, field)| match ours_index {
                Some(i) => ours[*i].clone(),
                None => new_null_array(field.data_type(), rows),
            })
            .collect();
        RecordBatch::try_new(self.arrow_schema.clone(), columns).map_err(|source| Error::Arrow {
            context: format!("building a batch of {}", T::NAME),
            source,
        })
    }

    /// Writes what is buffered, closes every file and returns them for the commit.
    pub async fn close(&mut self) -> Result<Vec<DataFile>> {
        self.full.clear();
        for index in 0..self.buffers.partitions() {
            self.write_slot(index).await?;
        }
        let mut files = std::mem::take(&mut self.closed);
        for (_, mut file) in self.writers.drain() {
            files.extend(file.writer.close().await.map_err(|source| {
                Error::iceberg(format!("closing a data file of {}", T::NAME), source)
            })?);
        }
        self.buffers.clear();
        self.taken_rows = 0;
        Ok(files)
    }

    /// Drops everything in flight (a fencing or a rebalance); files already written stay
    /// unreferenced, for orphan-file removal.
    pub fn abort(&mut self) {
        if let Some(kept) = &mut self.kept {
            kept.reset();
        }
        self.writers.clear();
        self.closed.clear();
        self.buffers.clear();
        self.full.clear();
        self.taken_rows = 0;
    }

    /// Continues with a newer version of the table (after a commit).
    pub fn set_table(&mut self, table: Table) {
        self.iceberg = table;
    }

    /// The version of the table the sink writes for.
    pub fn iceberg(&self) -> &Table {
        &self.iceberg
    }
}

/// Parquet settings of a table's data files. Dictionary encoding is off for the columns that are
/// (nearly) unique per row: ids, timestamps and offsets. Their dictionaries only cost hashing and
/// memory, grow to the page limit and fall back to plain anyway (bid request files came out 10%
/// smaller without them, and peak RSS 12% lower).
fn writer_properties(unique: &[&str], schema: &SchemaRef, zstd_level: i32) -> WriterProperties {
    let mut props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(zstd_level).unwrap_or_default()))
        .set_max_row_group_row_count(Some(1 << 20))
        // A page's values wait uncompressed in memory until the page ends, in every column of
        // every open file: 2,048 rows (not 20,000) took peak RSS at 1M rows per commit from
        // 348 to 235 MiB, with files 2% larger and no more CPU.
        .set_data_page_row_count_limit(2048)
        .set_created_by(concat!("bidlake ", env!("CARGO_PKG_VERSION")).to_owned());
    for field in schema.fields() {
        let name = field.name().as_str();
        let is_unique = unique.contains(&name)
            || name == "kafka_offset"
            || matches!(field.data_type(), DataType::Timestamp(..));
        if is_unique {
            props = props.set_column_dictionary_enabled(ColumnPath::from(name), false);
        }
    }
    props.build()
}

/// The partition tuple of the table's spec: the day, then the identity value for a table
/// partitioned by one more column.
fn partition_struct<T: EventRecords>(value: &PartitionValue) -> Struct {
    let day = Some(Literal::date(value.day));
    if T::partition_fields().len() > 1 {
        let identity = value.identity.as_deref().map(Literal::string);
        Struct::from_iter([day, identity])
    } else {
        Struct::from_iter([day])
    }
}

/// Appends records of one topic to its table's sink. Adding a table adds a variant here.
#[allow(missing_debug_implementations)]
pub enum TableSink {
    BidRequests(Sink<BidRequests>),
    BidResponses(Sink<BidResponses>),
    Impressions(Sink<Impressions>),
    Clicks(Sink<Clicks>),
}

macro_rules! each_sink {
    ($self:expr, $sink:ident => $body:expr) => {
        match $self {
            TableSink::BidRequests($sink) => $body,
            TableSink::BidResponses($sink) => $body,
            TableSink::Impressions($sink) => $body,
            TableSink::Clicks($sink) => $body,
        }
    };
}

impl TableSink {
    pub fn new(
        table: EventTable,
        iceberg: Table,
        options: &WriteOptions,
        rates: Arc<ExchangeRates>,
    ) -> Result<Self> {
        Ok(match table {
            EventTable::BidRequests => TableSink::BidRequests(Sink::new(iceberg, options, rates)?),
            EventTable::BidResponses => {
                TableSink::BidResponses(Sink::new(iceberg, options, rates)?)
            }
            EventTable::Impressions => TableSink::Impressions(Sink::new(iceberg, options, rates)?),
            EventTable::Clicks => TableSink::Clicks(Sink::new(iceberg, options, rates)?),
        })
    }

    /// See [`Sink::append`].
    pub fn append(
        &mut self,
        value: &[u8],
        kafka_timestamp: Option<i64>,
        source: Source,
        window: &EventTimeWindow,
    ) -> Result<usize, Reject> {
        each_sink!(self, s => s.append(value, kafka_timestamp, source, window))
    }

    pub fn table(&self) -> EventTable {
        match self {
            TableSink::BidRequests(_) => EventTable::BidRequests,
            TableSink::BidResponses(_) => EventTable::BidResponses,
            TableSink::Impressions(_) => EventTable::Impressions,
            TableSink::Clicks(_) => EventTable::Clicks,
        }
    }
    pub fn rows(&self) -> usize {
        each_sink!(self, s => s.rows())
    }
    pub fn held_bytes(&self) -> usize {
        each_sink!(self, s => s.held_bytes())
    }
    pub fn partitions(&self) -> usize {
        each_sink!(self, s => s.partitions())
    }
    pub async fn write_full(&mut self) -> Result<()> {
        each_sink!(self, s => s.write_full().await)
    }
    pub async fn close(&mut self) -> Result<Vec<DataFile>> {
        each_sink!(self, s => s.close().await)
    }
    pub fn abort(&mut self) {
        each_sink!(self, s => s.abort())
    }
    /// See [`Sink::keep_written_rows`]: the columns the aggregates read.
    pub fn keep_written_rows(&mut self) -> Result<()> {
        let columns = bidlake_tables::aggregates::columns_read(self.table());
        each_sink!(self, s => s.keep_written_rows(columns))
    }
    pub fn take_written_rows(&mut self) -> Option<Vec<RecordBatch>> {
        each_sink!(self, s => s.take_written_rows())
    }
    pub fn set_table(&mut self, table: Table) {
        each_sink!(self, s => s.set_table(table))
    }
    pub fn iceberg(&self) -> &Table {
        each_sink!(self, s => s.iceberg())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::writer_properties;

    fn batch(schema: &Arc<Schema>, start: i64) -> RecordBatch {
        let ids: Vec<String> = (start..start + 5_000).map(|i| format!("request-{i}")).collect();
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(ids)),
            Arc::new(Int64Array::from_iter_values(start..start + 5_000)),
        ];
        RecordBatch::try_new(schema.clone(), columns).unwrap()
    }

    /// ingest keeps a Parquet writer per open partition file, all on the same threads, and the
    /// vendored parquet lends each compress and decompress call a zstd context from a
    /// per-thread pool (vendor/README.md): writers at different levels written in turn, and a
    /// file read while others are still being written, must all read back as written.
    #[test]
    fn files_written_in_turn_at_different_zstd_levels_read_back_as_written() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("request_id", DataType::Utf8, false),
            Field::new("kafka_offset", DataType::Int64, false),
        ]));
        let levels = [1, 3, 19];
        let mut writers: Vec<ArrowWriter<Vec<u8>>> = levels
            .iter()
            .map(|&level| {
                let props = writer_properties(&["request_id"], &schema, level);
                ArrowWriter::try_new(Vec::new(), schema.clone(), Some(props)).unwrap()
            })
            .collect();
        let mut written: Vec<Vec<RecordBatch>> = vec![Vec::new(); levels.len()];
        let mut first_file = None;
        for round in 0..4 {
            for (n, writer) in writers.iter_mut().enumerate() {
                let b = batch(&schema, (round * 10 + n as i64) * 5_000);
                writer.write(&b).unwrap();
                writer.flush().unwrap(); // a row group, so every round compresses pages
                written[n].push(b);
            }
            if round == 1 {
                // A finished file read between two writers' compress calls.
                let other = ArrowWriter::try_new(
                    Vec::new(),
                    schema.clone(),
                    Some(writer_properties(&[], &schema, 7)),
                );
                let mut other = other.unwrap();
                other.write(&batch(&schema, 999_000)).unwrap();
                first_file = Some(other.into_inner().unwrap());
            }
        }
        let read = |bytes: Vec<u8>| -> Vec<RecordBatch> {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes))
                .unwrap()
                .build()
                .unwrap();
            reader.collect::<Result<_, _>>().unwrap()
        };
        let rows = |batches: &[RecordBatch]| -> Vec<(String, i64)> {
            let mut out = Vec::new();
            for b in batches {
                let ids = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                let offsets = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
                for i in 0..b.num_rows() {
                    out.push((ids.value(i).to_owned(), offsets.value(i)));
                }
            }
            out
        };
        assert_eq!(rows(&read(first_file.unwrap())), rows(&[batch(&schema, 999_000)]));
        for (writer, expected) in writers.into_iter().zip(written) {
            let bytes = writer.into_inner().unwrap();
            assert_eq!(rows(&read(bytes)), rows(&expected));
        }
    }
}
