//! Query results as people and scripts read them.

use std::io::Write;

use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::arrow::record_batch::RecordBatch;
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
                writer.write(batch).map_err(|e| failed(&e))?;
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
