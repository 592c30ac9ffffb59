//! Reading a table back as bidlake's own reader (the iceberg crate) sees it.

use std::collections::HashSet;
use std::path::Path;

use arrow_array::RecordBatch;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use bidlake_lake::{LakeArgs, open_lake};
use futures::TryStreamExt;

/// Every row of `table` in the lake `args` resolves to under `data_dir` (none before the first
/// commit).
pub fn scan_lake(args: LakeArgs, data_dir: &Path, table: &str) -> Vec<RecordBatch> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let lake = open_lake(args.resolve(data_dir).unwrap()).await.unwrap();
        let table = lake.load_table(table).await.unwrap();
        if table.metadata().current_snapshot().is_none() {
            return Vec::new();
        }
        let stream = table.scan().select_all().build().unwrap().to_arrow().await.unwrap();
        stream.try_collect().await.unwrap()
    })
}

/// Every row of `table` in the embedded lake of `data_dir`.
pub fn scan(data_dir: &Path, table: &str) -> Vec<RecordBatch> {
    scan_lake(LakeArgs::embedded(), data_dir, table)
}

/// (kafka_partition, kafka_offset) of every row.
pub fn sources(batches: &[RecordBatch]) -> Vec<(i32, i64)> {
    batches
        .iter()
        .flat_map(|b| {
            let p = b.column_by_name("kafka_partition").unwrap().as_primitive::<Int32Type>();
            let o = b.column_by_name("kafka_offset").unwrap().as_primitive::<Int64Type>();
            (0..b.num_rows()).map(|i| (p.value(i), o.value(i))).collect::<Vec<_>>()
        })
        .collect()
}

/// Asserts that no Kafka record landed twice, and returns the row count.
pub fn assert_each_once(batches: &[RecordBatch], what: &str) -> usize {
    let sources = sources(batches);
    let unique: HashSet<_> = sources.iter().collect();
    assert_eq!(unique.len(), sources.len(), "{what}: a Kafka record landed twice");
    sources.len()
}

/// The sum of a numeric column over `batches`, as f64 (what the Python readers report).
pub fn column_sum(batches: &[RecordBatch], column: &str) -> f64 {
    use arrow_array::Array;
    use arrow_array::types::Float64Type;
    use arrow_schema::DataType;
    let mut total = 0.0;
    for batch in batches {
        let array = batch.column_by_name(column).unwrap_or_else(|| panic!("no column {column}"));
        for i in (0..array.len()).filter(|&i| array.is_valid(i)) {
            total += match array.data_type() {
                DataType::Int32 => f64::from(array.as_primitive::<Int32Type>().value(i)),
                DataType::Int64 => array.as_primitive::<Int64Type>().value(i) as f64,
                DataType::Float64 => array.as_primitive::<Float64Type>().value(i),
                other => panic!("{column} is {other}, not a number"),
            };
        }
    }
    total
}
