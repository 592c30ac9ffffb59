//! An aggregate's rows for one hour of windows, written as the Parquet data file(s) of that
//! hour's partition.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use iceberg::arrow::schema_to_arrow_schema;
use iceberg::spec::{DataFile, DataFileFormat, Literal, PartitionKey, Struct};
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

use bidlake_tables::aggregates::HOUR_MICROS;

use crate::{Error, Result};

/// A file never reaches this in practice (an hour of windows is a few thousand rows).
const TARGET_FILE_SIZE: usize = 128 << 20;

/// Writes `batches` (the aggregate's SQL result for the windows of the hour starting at
/// `hour`, microseconds) into the data files of that hour's partition of `table`.
pub async fn hour_files(
    table: &Table,
    hour: i64,
    batches: &[RecordBatch],
    file_prefix: &str,
) -> Result<Vec<DataFile>> {
    let name = table.identifier().to_string();
    let metadata = table.metadata();
    let schema = metadata.current_schema().clone();
    let arrow_schema = Arc::new(
        schema_to_arrow_schema(&schema)
            .map_err(|e| Error::iceberg(format!("converting the schema of {name}"), e))?,
    );
    let location = DefaultLocationGenerator::new(metadata)
        .map_err(|e| Error::iceberg(format!("the data location of {name}"), e))?;
    let names =
        DefaultFileNameGenerator::new(file_prefix.to_owned(), None, DataFileFormat::Parquet);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_created_by(concat!("bidlake ", env!("CARGO_PKG_VERSION")).to_owned())
        .build();
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(props, schema.clone()),
        TARGET_FILE_SIZE,
        table.file_io().clone(),
        location,
        names,
    );
    // The `hour` transform's value: hours since the epoch.
    let hours = i32::try_from(hour.div_euclid(HOUR_MICROS))
        .map_err(|_| Error::Config(format!("window hour {hour} µs is out of range")))?;
    let key = PartitionKey::new(
        metadata.default_partition_spec().as_ref().clone(),
        schema,
        Struct::from_iter([Some(Literal::int(hours))]),
    );
    let mut writer = DataFileWriterBuilder::new(rolling)
        .build(Some(key))
        .await
        .map_err(|e| Error::iceberg(format!("opening a data file of {name}"), e))?;
    for batch in batches.iter().filter(|b| b.num_rows() > 0) {
        let columns = arrow_schema
            .fields()
            .iter()
            .zip(batch.columns())
            .map(|(field, column)| {
                arrow_cast::cast(column, field.data_type()).map_err(|source| Error::Arrow {
                    context: format!("converting column {} of {name}", field.name()),
                    source,
                })
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let batch = RecordBatch::try_new(arrow_schema.clone(), columns).map_err(|source| {
            Error::Arrow { context: format!("building a batch of {name}"), source }
        })?;
        writer
            .write(batch)
            .await
            .map_err(|e| Error::iceberg(format!("writing a data file of {name}"), e))?;
    }
    writer.close().await.map_err(|e| Error::iceberg(format!("closing a data file of {name}"), e))
}
