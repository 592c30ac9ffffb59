//! The tables bidlake writes, one module each: the table's columns (names, types, field ids), its
//! partition spec, its Parquet settings, its Arrow column builders and, for a topic's table, how
//! a Kafka record becomes its row(s). Adding a table is adding a module that implements [`Table`]
//! (and [`EventRecords`] when a topic feeds it) and listing it in [`EventTable`] and in the
//! ingest sink's dispatch.
//!
//! The first 21 columns of `bid_requests` are the original platform's, with its names, types and
//! field ids; columns after them are bidlake's additions, each with a new id. Never renumber or
//! retype a column: readers and existing tables rely on the ids.

pub mod aggregates;
pub mod bid_requests;
pub mod bid_responses;
pub mod clicks;
pub mod columns;
pub mod committed;
pub mod decode;
pub mod enrich;
mod error;
pub mod impressions;
pub mod timestamp;

use iceberg::spec::UnboundPartitionSpec;
use iceberg::spec::{NestedField, NestedFieldRef, PrimitiveType, Schema, Transform, Type};

pub use aggregates::{Aggregate, AggregateTable};
pub use bid_requests::BidRequests;
pub use bid_responses::BidResponses;
pub use clicks::Clicks;
pub use columns::{Columns, Source};
pub use committed::CommittedRows;
pub use decode::{EventTimeWindow, Reject, RejectKind};
pub use enrich::ExchangeRates;
pub use error::{Error, Result};
pub use impressions::Impressions;

/// One table: everything a writer and `setup` need to know about it.
pub trait Table {
    /// The table's name in the namespace.
    const NAME: &'static str;
    /// How many leading top-level columns the table is created with. The rest are bidlake's
    /// additions, added by schema evolution right after (and to tables created by an older
    /// bidlake).
    const CREATED_COLUMNS: usize = usize::MAX;
    /// Columns (nearly) unique per row: written without dictionary encoding.
    const UNIQUE_COLUMNS: &'static [&'static str];

    /// The columns, in order, with their field ids.
    fn fields() -> Vec<NestedFieldRef>;
    /// The partition fields: source field id, name and transform.
    fn partition_fields() -> Vec<(i32, &'static str, Transform)>;
}

/// A table fed by a Kafka topic: each record becomes one or more rows.
pub trait EventRecords: Table {
    /// The Arrow builders of one partition's rows.
    type Columns: Columns;
    /// A decoded row, borrowing strings from the record where it can.
    type Row<'a>;
    /// The rows of one record (an array for one row, so the hot path does not allocate).
    type Rows<'a>: AsRef<[Self::Row<'a>]>;

    /// The record's rows, enriched (prices in USD at `rates`), or why it cannot have any (the
    /// DLQ's reason).
    fn decode<'a>(
        value: &'a [u8],
        kafka_timestamp: Option<i64>,
        rates: &ExchangeRates,
    ) -> Result<Self::Rows<'a>, Reject>;
    /// The row's event time, microseconds since the epoch: the day partition comes from it.
    fn event_time(row: &Self::Row<'_>) -> i64;
    /// The value of the identity partition field after the day, for a table that has one.
    fn partition_value<'r>(_row: &'r Self::Row<'_>) -> Option<&'r str> {
        None
    }
    /// Appends the row to a partition's builders; `source` fills the Kafka position columns.
    fn push(columns: &mut Self::Columns, row: &Self::Row<'_>, source: Source);
}

/// A table's Iceberg schema (schema id 0).
pub fn schema_of<T: Table>() -> Result<Schema> {
    Schema::builder()
        .with_schema_id(0)
        .with_fields(T::fields())
        .build()
        .map_err(|source| Error::spec(T::NAME, "schema", source))
}

/// A table's partition spec (spec id 0).
pub fn partition_spec_of<T: Table>() -> Result<UnboundPartitionSpec> {
    let mut spec = UnboundPartitionSpec::builder().with_spec_id(0);
    for (source_id, name, transform) in T::partition_fields() {
        spec = spec
            .add_partition_field(source_id, name, transform)
            .map_err(|source| Error::spec(T::NAME, "partition spec", source))?;
    }
    Ok(spec.build())
}

/// What `setup` needs to create a table and check an existing one.
#[derive(Debug, Clone)]
pub struct Definition {
    pub name: &'static str,
    pub schema: Schema,
    pub partition_spec: UnboundPartitionSpec,
    /// See [`Table::CREATED_COLUMNS`].
    pub created_columns: usize,
}

impl Definition {
    pub fn of<T: Table>() -> Result<Self> {
        Ok(Self {
            name: T::NAME,
            schema: schema_of::<T>()?,
            partition_spec: partition_spec_of::<T>()?,
            created_columns: T::CREATED_COLUMNS,
        })
    }
}

/// Every table bidlake writes: the event tables, then the aggregate tables.
pub fn definitions() -> Result<Vec<Definition>> {
    let events = EventTable::ALL.into_iter().map(EventTable::definition);
    events.chain(AggregateTable::ALL.into_iter().map(AggregateTable::definition)).collect()
}

/// The four event tables, in funnel order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventTable {
    BidRequests,
    BidResponses,
    Impressions,
    Clicks,
}

/// Runs `$body` with `$T` naming the table type of an [`EventTable`].
macro_rules! with_event_table {
    ($table:expr, $T:ident => $body:expr) => {
        match $table {
            $crate::EventTable::BidRequests => {
                type $T = $crate::BidRequests;
                $body
            }
            $crate::EventTable::BidResponses => {
                type $T = $crate::BidResponses;
                $body
            }
            $crate::EventTable::Impressions => {
                type $T = $crate::Impressions;
                $body
            }
            $crate::EventTable::Clicks => {
                type $T = $crate::Clicks;
                $body
            }
        }
    };
}

impl EventTable {
    pub const ALL: [EventTable; 4] = [
        EventTable::BidRequests,
        EventTable::BidResponses,
        EventTable::Impressions,
        EventTable::Clicks,
    ];

    /// The table's name in the namespace.
    pub fn name(self) -> &'static str {
        with_event_table!(self, T => T::NAME)
    }

    /// See [`Table::CREATED_COLUMNS`].
    pub fn created_columns(self) -> usize {
        with_event_table!(self, T => T::CREATED_COLUMNS)
    }

    pub fn schema(self) -> Result<Schema> {
        with_event_table!(self, T => schema_of::<T>())
    }

    pub fn definition(self) -> Result<Definition> {
        with_event_table!(self, T => Definition::of::<T>())
    }

    pub fn partition_spec(self) -> Result<UnboundPartitionSpec> {
        with_event_table!(self, T => partition_spec_of::<T>())
    }
}

// Column constructors for the tables' `fields()`: every column is optional.
fn string(id: i32, name: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::String)).into()
}
fn int(id: i32, name: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Int)).into()
}
fn long(id: i32, name: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Long)).into()
}
fn double(id: i32, name: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Double)).into()
}
fn boolean(id: i32, name: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Boolean)).into()
}
fn timestamptz(id: i32, name: &str) -> NestedFieldRef {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Timestamptz)).into()
}
fn list_of_strings(id: i32, name: &str, element_id: i32) -> NestedFieldRef {
    let element =
        NestedField::list_element(element_id, Type::Primitive(PrimitiveType::String), false);
    NestedField::optional(
        id,
        name,
        Type::List(iceberg::spec::ListType { element_field: element.into() }),
    )
    .into()
}

/// `day(event_timestamp)`: every event table's first partition field.
fn by_day(event_timestamp_id: i32) -> (i32, &'static str, Transform) {
    (event_timestamp_id, "event_timestamp_day", Transform::Day)
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bid_requests_keeps_the_seeds_columns_and_ids() {
        let schema = EventTable::BidRequests.schema().unwrap();
        let seed = [
            (1, "request_id", "string"),
            (2, "imp_id", "string"),
            (3, "imp_banner_w", "int"),
            (4, "imp_banner_h", "int"),
            (5, "imp_bidfloor", "double"),
            (6, "site_id", "string"),
            (7, "site_domain", "string"),
            (8, "site_cat", "list"),
            (9, "publisher_id", "string"),
            (10, "device_type", "int"),
            (11, "device_os", "string"),
            (12, "device_geo_country", "string"),
            (13, "device_geo_region", "string"),
            (14, "user_id", "string"),
            (15, "auction_type", "int"),
            (16, "tmax", "int"),
            (17, "currency", "string"),
            (18, "is_coppa", "boolean"),
            (19, "is_gdpr", "boolean"),
            (20, "event_timestamp", "timestamptz"),
            (21, "received_at", "timestamptz"),
        ];
        for (i, (id, name, ty)) in seed.into_iter().enumerate() {
            let field = &schema.as_struct().fields()[i];
            assert_eq!((field.id, field.name.as_str()), (id, name));
            assert_eq!(field.field_type.to_string(), ty, "{name}");
        }
        assert!(schema.field_by_id(22).is_some(), "site_cat's element keeps id 22");
        let spec = EventTable::BidRequests.partition_spec().unwrap();
        let fields: Vec<_> =
            spec.fields().iter().map(|f| (f.source_id, f.transform.to_string())).collect();
        assert_eq!(fields, [(20, "day".to_owned()), (12, "identity".to_owned())]);
    }

    #[test]
    fn funnel_tables_start_with_the_contract_columns() {
        let expect: [(EventTable, &[&str]); 3] = [
            (
                EventTable::BidResponses,
                &[
                    "response_id",
                    "request_id",
                    "seat",
                    "bid_id",
                    "imp_id",
                    "bid_price",
                    "creative_id",
                    "deal_id",
                    "ad_domain",
                    "currency",
                    "event_timestamp",
                ],
            ),
            (
                EventTable::Impressions,
                &[
                    "impression_id",
                    "request_id",
                    "response_id",
                    "imp_id",
                    "bidder_id",
                    "win_price",
                    "win_currency",
                    "creative_id",
                    "ad_domain",
                    "event_timestamp",
                ],
            ),
            (
                EventTable::Clicks,
                &[
                    "click_id",
                    "request_id",
                    "impression_id",
                    "imp_id",
                    "bidder_id",
                    "creative_id",
                    "click_url",
                    "event_timestamp",
                ],
            ),
        ];
        for (table, names) in expect {
            let schema = table.schema().unwrap();
            for (i, name) in names.iter().enumerate() {
                let field = &schema.as_struct().fields()[i];
                assert_eq!(
                    (field.id, field.name.as_str()),
                    (i as i32 + 1, *name),
                    "{}",
                    table.name()
                );
            }
            let spec = table.partition_spec().unwrap();
            assert_eq!(spec.fields().len(), 1);
            assert_eq!(
                schema.field_by_id(spec.fields()[0].source_id).unwrap().name,
                "event_timestamp"
            );
        }
    }
}
