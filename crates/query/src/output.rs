//! Query results as people and scripts read them.

use std::io::Write;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches;

use crate::{Error, Result};

/// How `bidlake query` prints a result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// An aligned table with a header, for people.
    #[default]
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON object per row (NDJSON).
    Json,
}

pub fn write_batches(batches: &[RecordBatch], format: Format, out: &mut impl Write) -> Result<()> {
    let failed = |err: &dyn std::fmt::Display| Error::Output(err.to_string());
    match format {
        Format::Table => {
            let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
            let table = pretty_format_batches(batches).map_err(|e| failed(&e))?;
            writeln!(out, "{table}").map_err(|e| failed(&e))?;
            let noun = if rows == 1 { "row" } else { "rows" };
            writeln!(out, "{rows} {noun}").map_err(|e| failed(&e))?;
        }
        Format::Csv => {
            let mut writer = CsvWriterBuilder::new().with_header(true).build(&mut *out);
            for batch in batches {
                let batch = nested_as_text(batch).map_err(|e| failed(&e))?;
                writer.write(&batch).map_err(|e| failed(&e))?;
            }
        }
        Format::Json => {
            let mut writer = LineDelimitedWriter::new(&mut *out);
            writer.write_batches(&batches.iter().collect::<Vec<_>>()).map_err(|e| failed(&e))?;
            writer.finish().map_err(|e| failed(&e))?;
        }
    }
    out.flush().map_err(|e| failed(&e))
}

/// CSV has no lists, maps or structs: such columns (`site_cat`, a snapshot's `summary`) are
/// written as the text the table format shows, e.g. `[IAB1, IAB2]` or `{added-records: 10}`.
fn nested_as_text(batch: &RecordBatch) -> std::result::Result<RecordBatch, ArrowError> {
    if !batch.schema().fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.as_ref().clone());
            columns.push(column.clone());
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let text: StringArray = (0..column.len())
            .map(|row| column.is_valid(row).then(|| formatter.value(row).to_string()))
            .collect();
        fields.push(Field::new(field.name(), DataType::Utf8, field.is_nullable()));
        columns.push(Arc::new(text));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Int32Array, ListArray};
    use datafusion::arrow::datatypes::Int32Type;

    use super::*;

    #[test]
    fn csv_writes_lists_as_text() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1), Some(2)]),
            None,
        ]);
        let schema = Schema::new(vec![
            Field::new("n", DataType::Int32, false),
            Field::new("l", list.data_type().clone(), true),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![Arc::new(Int32Array::from(vec![7, 8])), Arc::new(list)],
        )
        .unwrap();
        let mut out = Vec::new();
        write_batches(&[batch], Format::Csv, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "n,l\n7,\"[1, 2]\"\n8,\n");
    }
}
