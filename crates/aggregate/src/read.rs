//! Reading given data files of a table, some of its columns: the files a round's appends added
//! (crates/aggregate/src/changes.rs) and an aggregate table's files of one hour. Reading stays
//! iceberg's (columns by field id, so files written before a column was added read it as null).

use arrow_array::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use iceberg::arrow::ArrowReaderBuilder;
use iceberg::scan::FileScanTask;
use iceberg::spec::DataFile;
use iceberg::table::Table;

use crate::{Error, Result};

/// The rows of `files` (data files of `table`), with `columns` in that order.
pub async fn files(
    table: &Table,
    files: &[DataFile],
    columns: &[&str],
) -> Result<Vec<RecordBatch>> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    let name = table.identifier().to_string();
    let schema = table.metadata().current_schema().clone();
    let ids = columns
        .iter()
        .map(|column| {
            schema.field_id_by_name(column).ok_or_else(|| {
                Error::Config(format!("{name} has no column {column}; run `bidlake setup`"))
            })
        })
        .collect::<Result<Vec<i32>>>()?;
    let tasks: Vec<FileScanTask> = files
        .iter()
        .map(|file| bidlake_maintain::rewrite::whole_file(file, &schema, &ids))
        .collect();
    let runtime = iceberg::Runtime::try_current()
        .map_err(|e| Error::iceberg(format!("reading new files of {name}"), e))?;
    let tasks = futures::stream::iter(tasks.into_iter().map(Ok)).boxed();
    ArrowReaderBuilder::new(table.file_io().clone(), runtime)
        .build()
        .read(tasks)
        .map_err(|e| Error::iceberg(format!("reading new files of {name}"), e))?
        .stream()
        .try_collect()
        .await
        .map_err(|e| Error::iceberg(format!("reading new files of {name}"), e))
}
