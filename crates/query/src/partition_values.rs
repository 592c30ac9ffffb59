//! Files a scan answers without opening them: when every column it reads from a file is an
//! identity partition field, each of the file's rows holds the partition's value (the spec's
//! column projection rules), and the manifest counts the rows. `GROUP BY device_geo_country`
//! then costs what planning costs, however many small files a day of commits left behind;
//! opening a small file and decoding its footer costs more than the rows in it.
//!
//! A pushed-down filter is re-applied by DataFusion above the scan (iceberg-datafusion
//! declares every pushdown inexact), so such a file may only be answered when the filter reads
//! nothing but those same constant columns: then the filter keeps all of its rows or none.

use std::collections::HashSet;

use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::common::{Result as DfResult, ScalarValue};
use iceberg::expr::BoundPredicate;
use iceberg::scan::FileScanTask;
use iceberg::spec::{Literal, PartitionSpec, PrimitiveLiteral, Transform};

/// Rows made per batch, as DataFusion's own batch size.
const BATCH_ROWS: usize = 8192;

/// A file's rows as its partition values and its row count.
#[derive(Debug, Clone)]
pub struct PartitionRows {
    rows: usize,
    /// One per column of the scan's schema.
    values: Vec<ScalarValue>,
}

impl PartitionRows {
    /// The rows of `task` for columns `schema`, if its manifest entry alone gives them: the
    /// whole file, no delete files, a row count, and every column an identity partition value.
    /// `only_spec` is the table's partition spec if it never had another: iceberg 0.10.1's
    /// planner does not say which spec a file was written with.
    pub fn of(
        task: &FileScanTask,
        schema: &Schema,
        only_spec: Option<&PartitionSpec>,
    ) -> Option<Self> {
        let whole_file = task.start == 0 && task.length == task.file_size_in_bytes;
        if !whole_file || !task.deletes.is_empty() || schema.fields().is_empty() {
            return None;
        }
        let rows = usize::try_from(task.record_count?).ok()?;
        let spec = task.partition_spec.as_deref().or(only_spec)?;
        let partition = task.partition.as_ref()?;
        if partition.fields().len() != spec.fields().len() {
            return None;
        }
        let mut ids = HashSet::new();
        let mut values = Vec::with_capacity(schema.fields().len());
        for field in schema.fields() {
            let id = task.schema.field_by_name(field.name())?.id;
            let position = spec
                .fields()
                .iter()
                .position(|f| f.source_id == id && f.transform == Transform::Identity)?;
            let value = partition.fields().get(position)?;
            values.push(scalar(value.as_ref(), field.data_type(), field.is_nullable())?);
            ids.insert(id);
        }
        if let Some(predicate) = &task.predicate
            && !reads_only(predicate, &ids)
        {
            return None;
        }
        Some(Self { rows, values })
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The file's rows in batches of at most [`BATCH_ROWS`].
    pub fn batches(self, schema: SchemaRef) -> impl Iterator<Item = DfResult<RecordBatch>> {
        let Self { rows: total, values } = self;
        (0..total).step_by(BATCH_ROWS).map(move |start| {
            let rows = BATCH_ROWS.min(total - start);
            let columns =
                values.iter().map(|v| v.to_array_of_size(rows)).collect::<DfResult<Vec<_>>>()?;
            let options = RecordBatchOptions::new().with_row_count(Some(rows));
            Ok(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?)
        })
    }
}

/// A partition value as a scalar of the column's Arrow type; `None` for a pairing this does
/// not convert (the file is then read).
fn scalar(value: Option<&Literal>, to: &DataType, nullable: bool) -> Option<ScalarValue> {
    let Some(value) = value else {
        return nullable.then(|| ScalarValue::try_from(to).ok()).flatten();
    };
    let Literal::Primitive(value) = value else { return None };
    Some(match (to, value) {
        (DataType::Boolean, PrimitiveLiteral::Boolean(v)) => ScalarValue::Boolean(Some(*v)),
        (DataType::Int32, PrimitiveLiteral::Int(v)) => ScalarValue::Int32(Some(*v)),
        (DataType::Date32, PrimitiveLiteral::Int(v)) => ScalarValue::Date32(Some(*v)),
        (DataType::Int64, PrimitiveLiteral::Long(v)) => ScalarValue::Int64(Some(*v)),
        (DataType::Timestamp(TimeUnit::Microsecond, zone), PrimitiveLiteral::Long(v)) => {
            ScalarValue::TimestampMicrosecond(Some(*v), zone.clone())
        }
        (DataType::Float32, PrimitiveLiteral::Float(v)) => ScalarValue::Float32(Some(v.0)),
        (DataType::Float64, PrimitiveLiteral::Double(v)) => ScalarValue::Float64(Some(v.0)),
        (DataType::Utf8, PrimitiveLiteral::String(v)) => ScalarValue::Utf8(Some(v.clone())),
        (DataType::LargeUtf8, PrimitiveLiteral::String(v)) => {
            ScalarValue::LargeUtf8(Some(v.clone()))
        }
        (DataType::Utf8View, PrimitiveLiteral::String(v)) => ScalarValue::Utf8View(Some(v.clone())),
        _ => return None,
    })
}

/// Whether `predicate` references no field but `ids`.
fn reads_only(predicate: &BoundPredicate, ids: &HashSet<i32>) -> bool {
    match predicate {
        BoundPredicate::AlwaysTrue | BoundPredicate::AlwaysFalse => true,
        BoundPredicate::And(e) | BoundPredicate::Or(e) => {
            e.inputs().iter().all(|p| reads_only(p, ids))
        }
        BoundPredicate::Not(e) => e.inputs().iter().all(|p| reads_only(p, ids)),
        BoundPredicate::Unary(e) => ids.contains(&e.term().field().id),
        BoundPredicate::Binary(e) => ids.contains(&e.term().field().id),
        BoundPredicate::Set(e) => ids.contains(&e.term().field().id),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Field;
    use iceberg::expr::{Bind, Reference};
    use iceberg::spec::{DataFileFormat, Datum, NestedField, PrimitiveType, Struct, Type};

    use super::*;

    fn table_schema() -> iceberg::spec::Schema {
        iceberg::spec::Schema::builder()
            .with_fields(vec![
                NestedField::optional(1, "country", Type::Primitive(PrimitiveType::String)).into(),
                NestedField::optional(2, "ts", Type::Primitive(PrimitiveType::Timestamp)).into(),
                NestedField::optional(3, "price", Type::Primitive(PrimitiveType::Double)).into(),
            ])
            .build()
            .unwrap()
    }

    /// A file of `rows` rows in partition (country, day(ts)) = (`country`, 20000).
    fn task(rows: u64, country: Option<&str>) -> FileScanTask {
        let schema = Arc::new(table_schema());
        let spec = PartitionSpec::builder(schema.clone())
            .add_partition_field("country", "country", Transform::Identity)
            .unwrap()
            .add_partition_field("ts", "ts_day", Transform::Day)
            .unwrap()
            .build()
            .unwrap();
        FileScanTask::builder()
            .with_file_size_in_bytes(1_000)
            .with_start(0)
            .with_length(1_000)
            .with_record_count(Some(rows))
            .with_data_file_path("f.parquet".to_owned())
            .with_data_file_format(DataFileFormat::Parquet)
            .with_schema(schema)
            .with_project_field_ids(vec![1])
            .with_partition(Some(Struct::from_iter([
                country.map(Literal::string),
                Some(Literal::int(20_000)),
            ])))
            .with_partition_spec(Some(Arc::new(spec)))
            .with_case_sensitive(true)
            .build()
    }

    fn columns(names: &[(&str, DataType)]) -> SchemaRef {
        Arc::new(Schema::new(
            names.iter().map(|(n, t)| Field::new(*n, t.clone(), true)).collect::<Vec<_>>(),
        ))
    }

    #[test]
    fn an_identity_partition_column_is_made_from_the_manifest_in_batches() {
        let schema = columns(&[("country", DataType::Utf8)]);
        let rows = PartitionRows::of(&task(20_000, Some("DEU")), &schema, None).unwrap();
        let batches: Vec<RecordBatch> = rows.batches(schema).collect::<DfResult<Vec<_>>>().unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).collect::<Vec<_>>(), [8192, 8192, 3616]);
        let countries = batches[2].column(0).as_string::<i32>();
        assert!(countries.iter().all(|c| c == Some("DEU")));
        // A null partition value is a null column.
        let rows =
            PartitionRows::of(&task(3, None), &columns(&[("country", DataType::Utf8)]), None);
        let batch = rows.unwrap().batches(columns(&[("country", DataType::Utf8)])).next();
        assert_eq!(batch.unwrap().unwrap().column(0).null_count(), 3);
    }

    #[test]
    fn the_tables_only_spec_stands_in_for_the_one_the_planner_leaves_out() {
        let country = columns(&[("country", DataType::Utf8)]);
        let mut planned = task(10, Some("DEU"));
        let spec = planned.partition_spec.take().unwrap();
        assert!(PartitionRows::of(&planned, &country, Some(&spec)).is_some());
        // A table whose spec changed: which spec wrote the file is not known.
        assert!(PartitionRows::of(&planned, &country, None).is_none());
    }

    #[test]
    fn files_are_read_when_the_manifest_cannot_give_their_rows() {
        let country = columns(&[("country", DataType::Utf8)]);
        // A column that is not an identity partition value (day(ts) is not ts).
        let ts = columns(&[("country", DataType::Utf8), ("ts", DataType::Int64)]);
        assert!(PartitionRows::of(&task(10, Some("DEU")), &ts, None).is_none());
        // A range of a file, an unknown row count, a delete file.
        let mut range = task(10, Some("DEU"));
        range.length = 500;
        assert!(PartitionRows::of(&range, &country, None).is_none());
        let mut uncounted = task(10, Some("DEU"));
        uncounted.record_count = None;
        assert!(PartitionRows::of(&uncounted, &country, None).is_none());
        let mut deleted = task(10, Some("DEU"));
        deleted.deletes.push(iceberg::scan::FileScanTaskDeleteFile {
            file_path: "d.parquet".to_owned(),
            file_size_in_bytes: 10,
            file_type: iceberg::spec::DataContentType::PositionDeletes,
            partition_spec_id: 0,
            equality_ids: None,
        });
        assert!(PartitionRows::of(&deleted, &country, None).is_none());
        // A type the value does not convert to.
        assert!(
            PartitionRows::of(
                &task(10, Some("DEU")),
                &columns(&[("country", DataType::Int32)]),
                None
            )
            .is_none()
        );
    }

    #[test]
    fn a_filter_on_another_column_makes_the_file_read() {
        let country = columns(&[("country", DataType::Utf8)]);
        let schema = table_schema();
        let on_country = Reference::new("country").equal_to(Datum::string("DEU"));
        let on_price = Reference::new("price").greater_than(Datum::double(1.0));
        let mut by_country = task(10, Some("DEU"));
        by_country.predicate = Some(on_country.clone().bind(schema.clone().into(), true).unwrap());
        assert!(PartitionRows::of(&by_country, &country, None).is_some());
        let mut by_price = task(10, Some("DEU"));
        by_price.predicate = Some(on_country.and(on_price).bind(schema.into(), true).unwrap());
        assert!(PartitionRows::of(&by_price, &country, None).is_none());
    }
}
