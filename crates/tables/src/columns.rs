//! Flatten: decoded rows into Arrow column builders, one set per table partition, so a batch
//! never needs splitting by partition afterwards.

use std::collections::HashMap;

use arrow_array::ArrayRef;
use arrow_array::builder::TimestampMicrosecondBuilder;
use arrow_schema::SchemaRef;

use crate::decode::Text;

/// Where a row came from in Kafka (kept in the `kafka_partition`/`kafka_offset` columns).
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub partition: i32,
    pub offset: i64,
}

/// A table partition: `day(event_timestamp)` and, for a table with a second (identity)
/// partition field such as `bid_requests`' country, its value (which may be null).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionValue {
    pub day: i32,
    pub identity: Option<Box<str>>,
}

/// The column builders of one table partition.
pub trait Columns: Send + 'static {
    /// Empty builders for the table's current Arrow schema (a list column's element field must
    /// carry the table's field id, or the batch is rejected).
    fn new(schema: &SchemaRef) -> Self;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The finished arrays in the table's column order; the builders start empty again.
    fn finish(&mut self) -> Vec<ArrayRef>;
}

pub(crate) fn text<'s>(t: &'s Option<Text<'_>>) -> Option<&'s str> {
    t.as_deref()
}

pub(crate) fn timestamps() -> TimestampMicrosecondBuilder {
    TimestampMicrosecondBuilder::new().with_timezone("+00:00")
}

/// Builders in schema order; `finish` follows the same order.
macro_rules! finish_columns {
    ($self:ident; $($col:ident),* $(,)?) => {
        vec![$(std::sync::Arc::new($self.$col.finish()) as arrow_array::ArrayRef),*]
    };
}
pub(crate) use finish_columns;

/// Column builders per table partition, found without allocating on the hot path.
#[derive(Debug)]
pub struct Partitioned<C> {
    schema: SchemaRef,
    slots: Vec<(PartitionValue, C)>,
    by_day: HashMap<i32, DaySlots>,
}

#[derive(Debug, Default)]
struct DaySlots {
    no_identity: Option<usize>,
    by_identity: HashMap<Box<str>, usize>,
}

impl<C: Columns> Partitioned<C> {
    pub fn new(schema: SchemaRef) -> Self {
        Self { schema, slots: Vec::new(), by_day: HashMap::new() }
    }

    /// The builders of a partition, created on first use.
    pub fn slot_for(&mut self, day: i32, identity: Option<&str>) -> (usize, &mut C) {
        let day_slots = self.by_day.entry(day).or_default();
        let found = match identity {
            None => day_slots.no_identity,
            Some(c) => day_slots.by_identity.get(c).copied(),
        };
        let index = match found {
            Some(i) => i,
            None => {
                let i = self.slots.len();
                match identity {
                    None => day_slots.no_identity = Some(i),
                    Some(c) => {
                        day_slots.by_identity.insert(c.into(), i);
                    }
                }
                let value = PartitionValue { day, identity: identity.map(Into::into) };
                self.slots.push((value, C::new(&self.schema)));
                i
            }
        };
        (index, &mut self.slots[index].1)
    }

    pub fn get_mut(&mut self, index: usize) -> Option<(&PartitionValue, &mut C)> {
        self.slots.get_mut(index).map(|(v, c)| (&*v, c))
    }

    pub fn partitions(&self) -> usize {
        self.slots.len()
    }

    /// Forgets every partition (after a commit or an abort).
    pub fn clear(&mut self) {
        self.slots.clear();
        self.by_day.clear();
    }
}
