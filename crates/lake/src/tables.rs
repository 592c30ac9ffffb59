//! The tables bidlake writes (DESIGN §2). The first 21 columns of `bid_requests` are the original
//! platform's, with its names, types and field ids; columns after them are bidlake's additions,
//! each with a new id. Never renumber or retype a column here: readers and existing tables rely
//! on the ids.

use std::sync::Arc;

use iceberg::spec::{
    ListType, NestedField, PrimitiveType, Schema, Transform, Type, UnboundPartitionSpec,
};

use crate::{IcebergContext, Result};

/// The four event tables, in funnel order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventTable {
    BidRequests,
    BidResponses,
    Impressions,
    Clicks,
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
        match self {
            EventTable::BidRequests => "bid_requests",
            EventTable::BidResponses => "bid_responses",
            EventTable::Impressions => "impressions",
            EventTable::Clicks => "clicks",
        }
    }

    /// How many leading top-level columns the table is created with. The rest are bidlake's
    /// additions, added by schema evolution right after: creation assigns fresh ids (nested ids
    /// after all top-level ones), so only this order keeps the seed's `site_cat` element at id 22.
    pub fn created_columns(self) -> usize {
        match self {
            EventTable::BidRequests => 21,
            EventTable::BidResponses | EventTable::Impressions | EventTable::Clicks => usize::MAX,
        }
    }

    pub fn schema(self) -> Result<Schema> {
        let fields = match self {
            EventTable::BidRequests => bid_request_fields(),
            EventTable::BidResponses => bid_response_fields(),
            EventTable::Impressions => impression_fields(),
            EventTable::Clicks => click_fields(),
        };
        Schema::builder()
            .with_schema_id(0)
            .with_fields(fields)
            .build()
            .context(|| format!("building the schema of {}", self.name()))
    }

    /// `day(event_timestamp)`, and for bid requests also `identity(device_geo_country)`.
    pub fn partition_spec(self) -> Result<UnboundPartitionSpec> {
        let context = || format!("building the partition spec of {}", self.name());
        let mut spec = UnboundPartitionSpec::builder()
            .with_spec_id(0)
            .add_partition_field(
                EVENT_TIMESTAMP_ID_OF[self as usize],
                "event_timestamp_day",
                Transform::Day,
            )
            .context(context)?;
        if self == EventTable::BidRequests {
            spec = spec
                .add_partition_field(
                    bid_requests::DEVICE_GEO_COUNTRY,
                    "device_geo_country",
                    Transform::Identity,
                )
                .context(context)?;
        }
        Ok(spec.build())
    }
}

/// Field id of `event_timestamp` per table, in `EventTable` order.
const EVENT_TIMESTAMP_ID_OF: [i32; 4] = [
    bid_requests::EVENT_TIMESTAMP,
    bid_responses::EVENT_TIMESTAMP,
    impressions::EVENT_TIMESTAMP,
    clicks::EVENT_TIMESTAMP,
];

fn string(id: i32, name: &str) -> Arc<NestedField> {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::String)).into()
}
fn int(id: i32, name: &str) -> Arc<NestedField> {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Int)).into()
}
fn long(id: i32, name: &str) -> Arc<NestedField> {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Long)).into()
}
fn double(id: i32, name: &str) -> Arc<NestedField> {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Double)).into()
}
fn boolean(id: i32, name: &str) -> Arc<NestedField> {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Boolean)).into()
}
fn timestamptz(id: i32, name: &str) -> Arc<NestedField> {
    NestedField::optional(id, name, Type::Primitive(PrimitiveType::Timestamptz)).into()
}

/// Field ids of `db.bid_requests`.
pub mod bid_requests {
    pub const DEVICE_GEO_COUNTRY: i32 = 12;
    pub const EVENT_TIMESTAMP: i32 = 20;
    pub const SITE_CAT_ELEMENT: i32 = 22;
}
/// Field ids of `db.bid_responses`.
pub mod bid_responses {
    pub const EVENT_TIMESTAMP: i32 = 11;
}
/// Field ids of `db.impressions`.
pub mod impressions {
    pub const EVENT_TIMESTAMP: i32 = 10;
}
/// Field ids of `db.clicks`.
pub mod clicks {
    pub const EVENT_TIMESTAMP: i32 = 8;
}

fn bid_request_fields() -> Vec<Arc<NestedField>> {
    vec![
        // The original platform's 21 columns.
        string(1, "request_id"),
        string(2, "imp_id"),
        int(3, "imp_banner_w"),
        int(4, "imp_banner_h"),
        double(5, "imp_bidfloor"),
        string(6, "site_id"),
        string(7, "site_domain"),
        NestedField::optional(
            8,
            "site_cat",
            Type::List(ListType {
                element_field: NestedField::list_element(
                    bid_requests::SITE_CAT_ELEMENT,
                    Type::Primitive(PrimitiveType::String),
                    false,
                )
                .into(),
            }),
        )
        .into(),
        string(9, "publisher_id"),
        int(10, "device_type"),
        string(11, "device_os"),
        string(bid_requests::DEVICE_GEO_COUNTRY, "device_geo_country"),
        string(13, "device_geo_region"),
        string(14, "user_id"),
        int(15, "auction_type"),
        int(16, "tmax"),
        string(17, "currency"),
        boolean(18, "is_coppa"),
        boolean(19, "is_gdpr"),
        timestamptz(bid_requests::EVENT_TIMESTAMP, "event_timestamp"),
        timestamptz(21, "received_at"),
        // bidlake's additions (22 is site_cat's element).
        string(23, "app_bundle"),
        string(24, "channel"),
        string(25, "media_type"),
        int(26, "imp_count"),
        int(27, "kafka_partition"),
        long(28, "kafka_offset"),
    ]
}

fn bid_response_fields() -> Vec<Arc<NestedField>> {
    vec![
        string(1, "response_id"),
        string(2, "request_id"),
        string(3, "seat"),
        string(4, "bid_id"),
        string(5, "imp_id"),
        double(6, "bid_price"),
        string(7, "creative_id"),
        string(8, "deal_id"),
        string(9, "ad_domain"),
        string(10, "currency"),
        timestamptz(bid_responses::EVENT_TIMESTAMP, "event_timestamp"),
        timestamptz(12, "received_at"),
        int(13, "kafka_partition"),
        long(14, "kafka_offset"),
    ]
}

fn impression_fields() -> Vec<Arc<NestedField>> {
    vec![
        string(1, "impression_id"),
        string(2, "request_id"),
        string(3, "response_id"),
        string(4, "imp_id"),
        string(5, "bidder_id"),
        double(6, "win_price"),
        string(7, "win_currency"),
        string(8, "creative_id"),
        string(9, "ad_domain"),
        timestamptz(impressions::EVENT_TIMESTAMP, "event_timestamp"),
        timestamptz(11, "received_at"),
        int(12, "kafka_partition"),
        long(13, "kafka_offset"),
    ]
}

fn click_fields() -> Vec<Arc<NestedField>> {
    vec![
        string(1, "click_id"),
        string(2, "request_id"),
        string(3, "impression_id"),
        string(4, "imp_id"),
        string(5, "bidder_id"),
        string(6, "creative_id"),
        string(7, "click_url"),
        timestamptz(clicks::EVENT_TIMESTAMP, "event_timestamp"),
        timestamptz(9, "received_at"),
        int(10, "kafka_partition"),
        long(11, "kafka_offset"),
    ]
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
