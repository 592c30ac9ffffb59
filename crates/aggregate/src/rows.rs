//! An aggregate table's rows as sums ([`Acc`]) and back, so that a round can add its changes to
//! the rows stored. Column order is the tables' (crates/tables/src/aggregates.rs).

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::DataType;
use bidlake_tables::AggregateTable;
use bidlake_tables::aggregates::WINDOW_MINUTES;

use crate::warm::{Acc, Group};
use crate::{Error, Result};

const MINUTE_MICROS: i64 = 60_000_000;

/// An aggregate's rows as sums; `None` if an average cannot be taken apart into its sum and
/// count (all prices 0), so the hour must be recomputed.
pub fn from_batch(table: AggregateTable, batch: &RecordBatch) -> Result<Option<Vec<(Group, Acc)>>> {
    let cast = |i: usize, to: &DataType| -> Result<ArrayRef> {
        let array = batch.columns().get(i).ok_or_else(|| {
            Error::Config(format!("{} rows with {} columns", table.name(), batch.num_columns()))
        })?;
        arrow_cast::cast(array, to).map_err(|source| Error::Arrow {
            context: format!("reading the rows of {}", table.name()),
            source,
        })
    };
    let starts = cast(0, &DataType::Int64)?;
    let starts = starts.as_primitive::<Int64Type>();
    // Window start, then the dimension: after the window end for the bidder windows.
    let dimension = match table {
        AggregateTable::RollingMetricsByBidder => 2,
        _ => 1,
    };
    let names = cast(dimension, &DataType::Utf8)?;
    let names = names.as_string::<i32>();
    let longs = |i: usize| cast(i, &DataType::Int64);
    let mut rows = Vec::with_capacity(batch.num_rows());
    match table {
        AggregateTable::HourlyImpressionsByGeo | AggregateTable::RollingMetricsByBidder => {
            let first = dimension + 1;
            let counts = longs(first)?;
            let (sums, averages) =
                (cast(first + 1, &DataType::Float64)?, cast(first + 2, &DataType::Float64)?);
            let counts = counts.as_primitive::<Int64Type>();
            let (sums, averages) =
                (sums.as_primitive::<Float64Type>(), averages.as_primitive::<Float64Type>());
            for row in 0..batch.num_rows() {
                let priced = if sums.is_null(row) {
                    0
                } else if averages.is_valid(row) && averages.value(row) != 0.0 {
                    (sums.value(row) / averages.value(row)).round() as i64
                } else {
                    return Ok(None);
                };
                let acc = Acc {
                    n: [counts.value(row), 0, 0, 0],
                    sum: if sums.is_null(row) { 0.0 } else { sums.value(row) },
                    priced,
                };
                rows.push(((starts.value(row), name(names, row)), acc));
            }
        }
        AggregateTable::HourlyFunnelByPublisher => {
            let counts = (2..6).map(longs).collect::<Result<Vec<ArrayRef>>>()?;
            let counts: Vec<&Int64Array> = counts.iter().map(|c| c.as_primitive()).collect();
            for row in 0..batch.num_rows() {
                let mut n = [0; 4];
                for (n, column) in n.iter_mut().zip(&counts) {
                    *n = column.value(row);
                }
                rows.push(((starts.value(row), name(names, row)), Acc { n, ..Acc::default() }));
            }
        }
    }
    Ok(Some(rows))
}

/// The rows of `rows` (one hour's) as the aggregate table's columns.
pub fn to_batch(table: AggregateTable, rows: &[(&Group, &Acc)]) -> Result<RecordBatch> {
    let time = |values: Vec<i64>| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from(values).with_timezone("+00:00"))
    };
    let starts: Vec<i64> = rows.iter().map(|(g, _)| g.0).collect();
    let names: ArrayRef =
        Arc::new(rows.iter().map(|(g, _)| g.1.as_deref()).collect::<StringArray>());
    let long = |i: usize| -> ArrayRef {
        Arc::new(rows.iter().map(|(_, a)| a.n[i]).collect::<Int64Array>())
    };
    let priced_sum: ArrayRef = Arc::new(
        rows.iter().map(|(_, a)| (a.priced > 0).then_some(a.sum)).collect::<Float64Array>(),
    );
    let average: ArrayRef = Arc::new(
        rows.iter()
            .map(|(_, a)| (a.priced > 0).then(|| a.sum / a.priced as f64))
            .collect::<Float64Array>(),
    );
    let rate = |num: usize, den: usize| -> ArrayRef {
        Arc::new(
            rows.iter()
                .map(|(_, a)| if a.n[den] == 0 { 0.0 } else { a.n[num] as f64 / a.n[den] as f64 })
                .collect::<Float64Array>(),
        )
    };
    let columns: Vec<(&str, ArrayRef)> = match table {
        AggregateTable::HourlyImpressionsByGeo => vec![
            ("window_start", time(starts)),
            ("device_geo_country", names),
            ("impression_count", long(0)),
            ("total_revenue", priced_sum),
            ("avg_win_price", average),
        ],
        AggregateTable::RollingMetricsByBidder => {
            let ends = starts.iter().map(|s| s + WINDOW_MINUTES * MINUTE_MICROS).collect();
            vec![
                ("window_start", time(starts)),
                ("window_end", time(ends)),
                ("bidder_id", names),
                ("win_count", long(0)),
                ("revenue", priced_sum),
                ("avg_cpm", average),
            ]
        }
        AggregateTable::HourlyFunnelByPublisher => vec![
            ("window_start", time(starts)),
            ("publisher_id", names),
            ("bid_requests", long(0)),
            ("bid_responses", long(1)),
            ("impressions", long(2)),
            ("clicks", long(3)),
            ("fill_rate", rate(1, 0)),
            ("win_rate", rate(2, 1)),
            ("ctr", rate(3, 2)),
        ],
    };
    RecordBatch::try_from_iter(columns).map_err(|source| Error::Arrow {
        context: format!("building rows of {}", table.name()),
        source,
    })
}

fn name(names: &StringArray, row: usize) -> Option<Arc<str>> {
    names.is_valid(row).then(|| names.value(row).into())
}
