//! Write: a table's partition builders become Arrow batches that stream into one Parquet data
//! file writer per table partition; `close` hands back the data files to commit.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, new_null_array};
use arrow_schema::{DataType, FieldRef, SchemaRef};
use bidlake_lake::tables::EventTable;
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataFile, DataFileFormat, Literal, PartitionKey, Struct};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::{DataFileWriter, DataFileWriterBuilder};
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::file_writer::location_generator::{
    DefaultFileNameGenerator, DefaultLocationGenerator,
};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use crate::columns::{
    BidRequestColumns, BidResponseColumns, ClickColumns, Columns, ImpressionColumns, Partitioned,
    Source,
};
use crate::decode::{self, Reject};
use crate::{Error, Result};

type FileWriter =
    DataFileWriter<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;
type FileWriterBuilder =
    DataFileWriterBuilder<ParquetWriterBuilder, DefaultLocationGenerator, DefaultFileNameGenerator>;

/// How a sink writes files.
#[derive(Debug, Clone)]
pub struct WriteOptions {
    /// Rows a partition collects before they go to its file writer as one batch.
    pub batch_rows: usize,
    /// A file rolls over to a new one beyond this size.
    pub target_file_size: usize,
    pub zstd_level: i32,
    /// Unique per process and start, so concurrent writers never pick the same file name.
    pub file_prefix: String,
}

/// One table's in-flight data: builders per partition and a file writer per partition.
#[allow(missing_debug_implementations)] // the iceberg writers have no Debug
pub struct Sink<C> {
    pub table: EventTable,
    iceberg: Table,
    writer_builder: FileWriterBuilder,
    arrow_schema: SchemaRef,
    /// For each column of the table's current schema: which of our columns fills it (by field
    /// id), or none (a column a user added; written as nulls).
    projection: Vec<Option<usize>>,
    buffers: Partitioned<C>,
    writers: HashMap<usize, FileWriter>,
    batch_rows: usize,
    /// Partitions whose builders reached `batch_rows`, to hand to their file writers.
    full: Vec<usize>,
    /// Rows taken since the last commit (buffered or written).
    taken_rows: usize,
}

impl<C: Columns> Sink<C> {
    pub fn new(table: EventTable, iceberg: Table, options: &WriteOptions) -> Result<Self> {
        let metadata = iceberg.metadata();
        let schema = metadata.current_schema().clone();
        let arrow_schema = Arc::new(schema_to_arrow_schema(&schema).map_err(|source| {
            Error::iceberg(format!("converting the schema of {}", table.name()), source)
        })?);
        let ours = table.schema().map_err(Error::Lake)?;
        let projection = schema
            .as_struct()
            .fields()
            .iter()
            .map(|f| ours.as_struct().fields().iter().position(|o| o.id == f.id))
            .collect();
        let element = site_cat_element(&arrow_schema);

        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(
                ZstdLevel::try_new(options.zstd_level).unwrap_or_default(),
            ))
            .set_max_row_group_row_count(Some(1 << 20))
            .set_created_by(concat!("bidlake ", env!("CARGO_PKG_VERSION")).to_owned())
            .build();
        let location = DefaultLocationGenerator::new(metadata).map_err(|source| {
            Error::iceberg(format!("the data location of {}", table.name()), source)
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
            table,
            iceberg,
            writer_builder: DataFileWriterBuilder::new(rolling),
            arrow_schema,
            projection,
            buffers: Partitioned::new(element),
            writers: HashMap::new(),
            batch_rows: options.batch_rows,
            full: Vec::new(),
            taken_rows: 0,
        })
    }

    /// Rows taken since the last commit (buffered or written).
    pub fn rows(&self) -> usize {
        self.taken_rows
    }

    /// Buffers one row (`push` appends it to the builders) in its partition, and queues the
    /// partition for writing once it holds `batch_rows`.
    fn push_row(
        &mut self,
        day: i32,
        country: Option<&str>,
        is_bid_request: bool,
        push: impl FnOnce(&mut C),
    ) {
        let (index, columns) = self.buffers.slot_for(day, country, is_bid_request);
        push(columns);
        let len = columns.len();
        self.taken_rows += 1;
        if len == self.batch_rows {
            self.full.push(index);
        }
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
        let partition = partition_struct(value);
        let batch = self.batch(ours, rows)?;
        let writer = match self.writers.entry(index) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let metadata = self.iceberg.metadata();
                let key = PartitionKey::new(
                    metadata.default_partition_spec().as_ref().clone(),
                    metadata.current_schema().clone(),
                    partition,
                );
                let writer = self.writer_builder.build(Some(key)).await.map_err(|source| {
                    Error::iceberg(format!("opening a data file of {}", self.table.name()), source)
                })?;
                e.insert(writer)
            }
        };
        writer.write(batch).await.map_err(|source| {
            Error::iceberg(format!("writing a data file of {}", self.table.name()), source)
        })?;
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
            context: format!("building a batch of {}", self.table.name()),
            source,
        })
    }

    /// Writes what is buffered, closes every file and returns them for the commit.
    pub async fn close(&mut self) -> Result<Vec<DataFile>> {
        self.full.clear();
        for index in 0..self.buffers.partitions() {
            self.write_slot(index).await?;
        }
        let mut files = Vec::new();
        for (_, mut writer) in self.writers.drain() {
            files.extend(writer.close().await.map_err(|source| {
                Error::iceberg(format!("closing a data file of {}", self.table.name()), source)
            })?);
        }
        self.buffers.clear();
        self.taken_rows = 0;
        Ok(files)
    }

    /// Drops everything in flight (a fencing or a rebalance); files already written stay
    /// unreferenced, for orphan-file removal.
    pub fn abort(&mut self) {
        self.writers.clear();
        self.buffers.clear();
        self.full.clear();
        self.taken_rows = 0;
    }

    /// Continues with a newer version of the table (after a commit).
    pub fn set_table(&mut self, table: Table) {
        self.iceberg = table;
    }
}

fn site_cat_element(schema: &SchemaRef) -> Option<FieldRef> {
    let field = schema.field_with_name("site_cat").ok()?;
    match field.data_type() {
        DataType::List(element) => Some(element.clone()),
        _ => None,
    }
}

fn partition_struct(value: &crate::columns::PartitionValue) -> Struct {
    let day = Some(Literal::date(value.day));
    match &value.country {
        Some(country) => Struct::from_iter([day, Some(Literal::string(country.as_ref()))]),
        None if value.is_bid_request => Struct::from_iter([day, None]),
        None => Struct::from_iter([day]),
    }
}

/// Appends records of one topic to its table's sink.
#[allow(missing_debug_implementations)]
pub enum TableSink {
    BidRequests(Sink<BidRequestColumns>),
    BidResponses(Sink<BidResponseColumns>),
    Impressions(Sink<ImpressionColumns>),
    Clicks(Sink<ClickColumns>),
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
    pub fn new(table: EventTable, iceberg: Table, options: &WriteOptions) -> Result<Self> {
        Ok(match table {
            EventTable::BidRequests => TableSink::BidRequests(Sink::new(table, iceberg, options)?),
            EventTable::BidResponses => {
                TableSink::BidResponses(Sink::new(table, iceberg, options)?)
            }
            EventTable::Impressions => TableSink::Impressions(Sink::new(table, iceberg, options)?),
            EventTable::Clicks => TableSink::Clicks(Sink::new(table, iceberg, options)?),
        })
    }

    /// Decodes a record and buffers its row(s); returns how many rows it gave.
    pub fn append(
        &mut self,
        value: &[u8],
        kafka_timestamp: Option<i64>,
        source: Source,
    ) -> Result<usize, Reject> {
        use crate::timestamp::day_of;
        match self {
            TableSink::BidRequests(sink) => {
                let row = decode::bid_request(value, kafka_timestamp)?;
                let (day, country) = BidRequestColumns::partition_of(&row);
                sink.push_row(day, country, true, |c| c.push(&row, source));
                Ok(1)
            }
            TableSink::BidResponses(sink) => {
                let rows = decode::bid_responses(value, kafka_timestamp)?;
                for row in &rows {
                    sink.push_row(day_of(row.event_timestamp), None, false, |c| {
                        c.push(row, source)
                    });
                }
                Ok(rows.len())
            }
            TableSink::Impressions(sink) => {
                let row = decode::impression(value, kafka_timestamp)?;
                sink.push_row(day_of(row.event_timestamp), None, false, |c| c.push(&row, source));
                Ok(1)
            }
            TableSink::Clicks(sink) => {
                let row = decode::click(value, kafka_timestamp)?;
                sink.push_row(day_of(row.event_timestamp), None, false, |c| c.push(&row, source));
                Ok(1)
            }
        }
    }

    pub fn table(&self) -> EventTable {
        each_sink!(self, s => s.table)
    }
    pub fn rows(&self) -> usize {
        each_sink!(self, s => s.rows())
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
    pub fn set_table(&mut self, table: Table) {
        each_sink!(self, s => s.set_table(table))
    }
}
