//! The aggregator's memory of recent events, so that a round costs what its new rows cost
//! instead of re-reading the hour they fall in.
//!
//! Every aggregate is a join of funnel events to their bid request by `request_id` (the funnel
//! through `response_id` and `impression_id` as well), so its rows are sums over *trees*: a bid
//! request's id with every event carrying it. The memory keeps the trees of the last
//! [`WINDOW_MICROS`] of event time. When a round appends rows, each tree they land in is summed
//! before and after, and the difference is added to the aggregate rows already stored: the
//! delta is exact because COUNT and SUM of a join are sums over its pairs (Flink's interval
//! join keeps the same state). The funnel's distinct counts are sums over trees only when no
//! id is shared between trees, so ids are checked for that.
//!
//! A row the memory cannot vouch for is *cold*, and the hours of windows it reaches are
//! recomputed with SQL as before: a row older than the window (minus the link interval, so
//! that everything it can join is held), a row without a request id, a row whose id was seen
//! before (a producer's duplicate) or that links trees another row links otherwise. A tree
//! with such a row stays cold while it is held, and so does every row landing in it. A row
//! without a request id belongs to no tree but still joins the funnel by response and
//! impression id, so the ids it names make every tree naming them cold too.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};
use std::num::{NonZeroU32, NonZeroU64};
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::DataType;
use bidlake_tables::aggregates::{
    HOUR_MICROS, LINK_AFTER_MICROS, LINK_BEFORE_MICROS, WINDOW_MINUTES,
};
use bidlake_tables::{AggregateTable, EventTable};

use crate::{Error, Result};

/// Maps keyed by names and aggregate groups (ids have [`IdMap`]): foldhash is several times
/// faster than std's SipHash on short strings, and its state is seeded per process (the names
/// come from the stream).
pub type Map<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// An id (request, response, impression, click) as the memory keeps it: XXH3's 128-bit hash of
/// its text, seeded per memory. Equal hashes are taken for equal ids: the odds that any two of
/// a billion ids collide are below 10^-20 (as for random UUIDs). So the memory holds no id
/// strings, hashes each id once, and its maps key on the hash itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Id(NonZeroU64, u64);

impl Id {
    fn of(seed: u64, text: &str) -> Id {
        let hash = twox_hash::XxHash3_128::oneshot_with_seed(seed, text.as_bytes());
        // Halves of 8 bytes, the first never 0, so that an `Option<Id>` takes 16 bytes (a u128
        // is aligned to 16, and its option took 32).
        Id(NonZeroU64::new(hash as u64).unwrap_or(NonZeroU64::MIN), (hash >> 64) as u64)
    }

    /// 64 of its bits, for the duplicate check (a collision there only sends a row to SQL).
    fn short(self) -> u64 {
        self.0.get()
    }
}

impl Hash for Id {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Seeded hash bits already: the maps take them as they are.
        state.write_u64(self.short());
    }
}

/// Maps and sets keyed by ids: an id is a seeded hash already.
type IdMap<V> = HashMap<Id, V, BuildHasherDefault<IdentityHasher>>;
type IdSet = HashSet<Id, BuildHasherDefault<IdentityHasher>>;

/// An aggregate's values by group.
pub type Sums = Map<Group, Acc>;

/// How much event time the memory holds, back from the clock: rows later than this minus the
/// link interval are aggregated from memory (about 9 minutes of lateness).
pub const WINDOW_MICROS: i64 = 20 * MINUTE_MICROS;
/// Everything a row can join, and everything else in those trees, is within this of it.
const MARGIN_MICROS: i64 = LINK_BEFORE_MICROS + LINK_AFTER_MICROS;
const MINUTE_MICROS: i64 = 60_000_000;

/// An aggregate row's key: its window start (µs) and its dimension (country, bidder, publisher).
pub type Group = (i64, Option<Arc<str>>);

/// An aggregate row's values as sums: `n` counts (wins: `[count]`; funnel: requests,
/// responses, impressions, clicks), `sum` and `priced` the sum and number of non-null prices
/// (an average is their ratio).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Acc {
    pub n: [i64; 4],
    pub sum: f64,
    pub priced: i64,
}

impl Acc {
    pub fn add(&mut self, other: &Acc) {
        for (a, b) in self.n.iter_mut().zip(other.n) {
            *a += b;
        }
        self.sum += other.sum;
        self.priced += other.priced;
    }

    fn scaled(mut self, sign: i64) -> Acc {
        for n in &mut self.n {
            *n *= sign;
        }
        self.sum *= sign as f64;
        self.priced *= sign;
        self
    }

    pub fn is_zero(&self) -> bool {
        self.n == [0; 4] && self.priced == 0 && self.sum == 0.0
    }
}

/// Per aggregate table, per group: the change of its values.
pub type Deltas = Map<AggregateTable, Sums>;

/// What applying a round's rows found.
#[derive(Debug, Default)]
pub struct Applied {
    /// Changes of aggregate rows (those in `cold` hours are to be recomputed instead).
    pub deltas: Deltas,
    /// Per aggregate table, the hours of windows to recompute with SQL.
    pub cold: Map<AggregateTable, BTreeSet<i64>>,
}

impl Applied {
    /// The hours of windows a row of `source` at `ts` can change, to be recomputed.
    fn cold_row(&mut self, source: EventTable, ts: i64) {
        for aggregate in AggregateTable::ALL {
            for reach in aggregate.reaches().iter().filter(|r| r.source == source) {
                crate::hours_reached(reach, (ts, ts), self.cold.entry(aggregate).or_default());
            }
        }
    }
}

/// A country, publisher or bidder, stored once in [`Names`]: 4 bytes in every row that names
/// it, and nothing to count when a row is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Name(NonZeroU32);

impl Name {
    /// The name after `count` others: ids count from 1, and there are no more past `u32::MAX`
    /// (the memory is then dropped and loaded again, rather than summing rows of two names).
    fn after(count: usize) -> Option<Name> {
        u32::try_from(count + 1).ok().and_then(NonZeroU32::new).map(Name)
    }
}

/// Every name the memory has seen, each stored once (they are few: countries, publishers,
/// bidders).
#[derive(Default)]
struct Names {
    ids: Map<Arc<str>, Name>,
    texts: Vec<Arc<str>>,
}

impl Names {
    fn of(&mut self, text: &str) -> Result<Name> {
        if let Some(name) = self.ids.get(text) {
            return Ok(*name);
        }
        let name = Name::after(self.texts.len()).ok_or(Error::TooManyNames)?;
        let text: Arc<str> = text.into();
        self.texts.push(Arc::clone(&text));
        self.ids.insert(text, name);
        Ok(name)
    }

    fn text(&self, name: Option<Name>) -> Option<Arc<str>> {
        let name = name?;
        self.texts.get(name.0.get() as usize - 1).cloned()
    }
}

struct Request {
    ts: i64,
    country: Option<Name>,
    publisher: Option<Name>,
    /// Not test traffic nor a private IP: the aggregates count it.
    counted: bool,
}

struct Response {
    id: Option<Id>,
    ts: i64,
}

struct Impression {
    id: Option<Id>,
    response_id: Option<Id>,
    bidder: Option<Name>,
    price: Option<f64>,
    ts: i64,
}

struct Click {
    id: Option<Id>,
    impression_id: Option<Id>,
    ts: i64,
}

/// Impressions and clicks (a tenth of the rows) are boxed, so that a row takes 32 bytes
/// instead of an impression's 72.
enum Row {
    Request(Request),
    Response(Response),
    Impression(Box<Impression>),
    Click(Box<Click>),
}

/// One row of an event table, as the aggregates need it.
struct Event {
    request_id: Option<Id>,
    row: Row,
}

impl Event {
    fn ts(&self) -> i64 {
        match &self.row {
            Row::Request(r) => r.ts,
            Row::Response(r) => r.ts,
            Row::Impression(r) => r.ts,
            Row::Click(r) => r.ts,
        }
    }

    fn source(&self) -> EventTable {
        match self.row {
            Row::Request(_) => EventTable::BidRequests,
            Row::Response(_) => EventTable::BidResponses,
            Row::Impression(_) => EventTable::Impressions,
            Row::Click(_) => EventTable::Clicks,
        }
    }

    /// The id that must be unique: its own (`request_id` for a request, taken out as the tree's
    /// key).
    fn own_id(&self, request_id: Option<Id>) -> Option<Id> {
        match &self.row {
            Row::Request(_) => request_id,
            Row::Response(r) => r.id,
            Row::Impression(r) => r.id,
            Row::Click(r) => r.id,
        }
    }
}

/// The columns of an event table the aggregates read, in the order [`decode`] takes them.
pub fn columns(table: EventTable) -> &'static [&'static str] {
    bidlake_tables::aggregates::columns_read(table)
}

/// A bid request's rows: its request (or requests, if a producer sent one twice) and every
/// response, impression and click naming it.
#[derive(Default)]
struct Tree {
    /// One vector for all four kinds: most trees hold a request and a response or none, and a
    /// vector each would cost an allocation each.
    rows: Vec<Row>,
    /// Latest event time of its rows: the tree is dropped when this leaves the window.
    newest: i64,
    /// It shares an id with another tree: it cannot be summed on its own.
    shared: bool,
}

impl Tree {
    fn requests(&self) -> impl Iterator<Item = &Request> {
        self.rows.iter().filter_map(|row| match row {
            Row::Request(r) => Some(r),
            _ => None,
        })
    }
    fn responses(&self) -> impl Iterator<Item = &Response> {
        self.rows.iter().filter_map(|row| match row {
            Row::Response(r) => Some(r),
            _ => None,
        })
    }
    fn impressions(&self) -> impl Iterator<Item = &Impression> {
        self.rows.iter().filter_map(|row| match row {
            Row::Impression(i) => Some(i.as_ref()),
            _ => None,
        })
    }
    fn clicks(&self) -> impl Iterator<Item = &Click> {
        self.rows.iter().filter_map(|row| match row {
            Row::Click(c) => Some(c.as_ref()),
            _ => None,
        })
    }
}

/// Which tree a response, impression or click id belongs to: none once a row of no tree or a
/// second tree names it.
struct Owner {
    tree: Option<Id>,
    newest: i64,
}

/// Every id of the recent rows, for the duplicate check: one table for the four event tables,
/// 8 bytes an entry (54 bits of the id's hash, 2 of its table, 8 of the ten minutes of its
/// event time), so that a row's check is one probe and the ids of a span of time leave with one
/// sweep. A collision only sends a row to SQL.
struct SeenIds {
    entries: hashbrown::HashTable<u64>,
    /// Every entry is of a span in `[from, from + HELD_SPANS spans)` (`from` starts a span).
    from: i64,
}

/// The time an entry's tag names: ids are forgotten ten minutes at a time.
const SPAN_MICROS: i64 = 10 * MINUTE_MICROS;
/// Spans an entry's tag tells apart; entries are of the first half of them from
/// [`SeenIds::from`] on (21 hours), so that a tag says whether its span is before `from`.
const TAGGED_SPANS: u64 = 256;
const HELD_SPANS: i64 = TAGGED_SPANS as i64 / 2;
/// Bits of an entry's tag, below the 2 of its table.
const TAG_BITS: u32 = 8;

fn span_of(micros: i64) -> i64 {
    micros.div_euclid(SPAN_MICROS) * SPAN_MICROS
}

impl SeenIds {
    fn new(from: i64) -> Self {
        Self { entries: hashbrown::HashTable::new(), from: span_of(from) }
    }

    fn entry(id: Id, source: EventTable, span: i64) -> u64 {
        let table: u64 = match source {
            EventTable::BidRequests => 0,
            EventTable::BidResponses => 1,
            EventTable::Impressions => 2,
            EventTable::Clicks => 3,
        };
        (id.short() & !0x3ff) | (table << TAG_BITS) | Self::tag(span)
    }

    fn tag(span: i64) -> u64 {
        (span.div_euclid(SPAN_MICROS) as u64) % TAGGED_SPANS
    }

    /// Spans from the span tagged `from` to an entry's.
    fn age(entry: u64, from: u64) -> u64 {
        (entry % TAGGED_SPANS).wrapping_sub(from) % TAGGED_SPANS
    }

    /// The id and table bits, mixed: hashbrown takes a bucket from the low bits of a hash and
    /// a tag from the high ones.
    fn hash(entry: u64) -> u64 {
        (entry >> TAG_BITS).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// Records `id` of a `source` row at `ts`, and says whether it was recorded before (in any
    /// span held). A row of a span before [`SeenIds::from`] is not recorded (it is cold
    /// anyway), nor one too far ahead to be told apart, which counts as seen (so it is cold).
    fn insert(&mut self, id: Id, source: EventTable, ts: i64) -> bool {
        let span = span_of(ts);
        if span < self.from {
            return false;
        }
        if span >= self.from + HELD_SPANS * SPAN_MICROS {
            return true;
        }
        let entry = Self::entry(id, source, span);
        let same = |held: &u64| (held ^ entry) >> TAG_BITS == 0;
        let from = Self::tag(self.from);
        match self.entries.entry(Self::hash(entry), same, |e| Self::hash(*e)) {
            hashbrown::hash_table::Entry::Occupied(mut held) => {
                // Held for as long as the latest of its rows needs it.
                if Self::age(entry, from) > Self::age(*held.get(), from) {
                    *held.get_mut() = entry;
                }
                true
            }
            hashbrown::hash_table::Entry::Vacant(room) => {
                room.insert(entry);
                false
            }
        }
    }

    /// Forgets the ids of spans before `from`.
    fn forget_before(&mut self, from: i64) {
        let from = span_of(from);
        if from <= self.from {
            return;
        }
        if from - self.from >= HELD_SPANS * SPAN_MICROS {
            self.entries.clear();
        } else {
            // Every entry's span is within `HELD_SPANS` of the old `from`: those before the
            // new one are the ones whose age from it wraps past `HELD_SPANS`.
            let tag = Self::tag(from);
            self.entries.retain(|e| Self::age(*e, tag) < HELD_SPANS as u64);
        }
        self.from = from;
    }
}

/// Recent event rows by bid request, and what is needed to trust sums over them.
pub struct Warm {
    /// The event-table snapshots the memory reflects.
    pub snapshots: BTreeMap<EventTable, Option<i64>>,
    /// Every row with an event time at or after this (µs) is held.
    floor: i64,
    /// Floor when trees were last dropped.
    dropped_at: i64,
    trees: IdMap<Tree>,
    response_owner: IdMap<Owner>,
    impression_owner: IdMap<Owner>,
    click_owner: IdMap<Owner>,
    /// Every id of the rows from [`Warm::ids_from`] on.
    seen: SeenIds,
    /// Countries, publishers and bidders, stored once.
    names: Names,
    /// Seed of the ids' hashes.
    seed: u64,
    /// [`Warm::apply`]'s working space, kept between rounds for the same reason: the rows
    /// decoded, and the round's rows by tree (with whether they can be summed).
    decoded: Vec<Event>,
    by_tree: Vec<(Id, bool, Event)>,
}

impl std::fmt::Debug for Warm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Warm")
            .field("floor", &self.floor)
            .field("ids_from", &self.seen.from)
            .field("trees", &self.trees.len())
            .field("ids", &self.seen.entries.len())
            .finish_non_exhaustive()
    }
}

/// Rows of room [`Warm::apply`]'s working space keeps between rounds.
const SCRATCH_ROWS: usize = 1 << 16;

impl Warm {
    /// Empty memory for the clock at `now` (µs): [`Warm::ids_from`] and [`Warm::floor`] say
    /// which rows to give it with [`Warm::load`].
    pub fn new(snapshots: BTreeMap<EventTable, Option<i64>>, now: i64) -> Self {
        let floor = now - WINDOW_MICROS;
        Self {
            snapshots,
            floor,
            dropped_at: floor,
            trees: IdMap::default(),
            response_owner: IdMap::default(),
            impression_owner: IdMap::default(),
            click_owner: IdMap::default(),
            seen: SeenIds::new(ids_from(floor)),
            names: Names::default(),
            seed: foldhash::quality::RandomState::default().hash_one(0u64),
            by_tree: Vec::new(),
            decoded: Vec::new(),
        }
    }

    /// Rows from this event time on are to be loaded (their ids at least).
    pub fn ids_from(&self) -> i64 {
        self.seen.from
    }

    /// Rows from this event time on are to be loaded whole.
    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Trees held.
    pub fn trees(&self) -> usize {
        self.trees.len()
    }

    /// Takes rows of the tables as they are at `snapshots` (a new memory's first fill).
    pub fn load(&mut self, source: EventTable, batch: &RecordBatch) -> Result<()> {
        let mut shared = Vec::new();
        let mut events = Vec::new();
        decode(source, batch, &mut self.names, self.seed, &mut events)?;
        for mut event in events {
            let ts = event.ts();
            if ts < self.seen.from {
                continue;
            }
            let key = event.request_id.take();
            if let Some(id) = event.own_id(key) {
                self.seen.insert(id, source, ts);
            }
            if ts >= self.floor {
                shared.extend(self.own(key, &event));
                if let Some(key) = key {
                    insert(self.trees.entry(key).or_default(), event);
                }
            }
        }
        // The stored rows are right (SQL made them); what these trees add later is not.
        for key in shared {
            if let Some(tree) = self.trees.get_mut(&key) {
                tree.shared = true;
            }
        }
        Ok(())
    }

    /// Takes a round's new rows (`batches` per event table) at clock `now`, and says how the
    /// aggregates change.
    pub fn apply(
        &mut self,
        batches: &[(EventTable, RecordBatch)],
        now: i64,
        snapshots: BTreeMap<EventTable, Option<i64>>,
    ) -> Result<Applied> {
        self.advance(now);
        let mut applied = Applied::default();
        // First every row's checks, so that a tree another row of this round makes shared is
        // known before any tree is summed.
        let mut by_tree = std::mem::take(&mut self.by_tree);
        let mut decoded = std::mem::take(&mut self.decoded);
        let mut shared = IdSet::default();
        for (source, batch) in batches {
            decode(*source, batch, &mut self.names, self.seed, &mut decoded)?;
            for mut event in decoded.drain(..) {
                let key = event.request_id.take();
                let ts = event.ts();
                // Without a request id it joins no tree, but the funnel joins it by other ids.
                let mut ok = key.is_some() && ts >= self.floor + MARGIN_MICROS;
                if !self.unique(&event, key) {
                    shared.extend(key);
                    ok = false;
                }
                if ts >= self.floor {
                    let others = self.own(key, &event);
                    ok &= others.is_empty();
                    shared.extend(others);
                }
                if !ok {
                    applied.cold_row(*source, ts);
                }
                if let Some(key) = key {
                    by_tree.push((key, ok, event));
                }
            }
        }
        for key in &shared {
            if let Some(tree) = self.trees.get_mut(key) {
                tree.shared = true;
            }
        }
        // A tree's rows next to each other, in the order they came.
        by_tree.sort_by_key(|(key, _, _)| *key);
        let mut shares = Vec::new();
        let mut scratch = Scratch::default();
        let mut changes: Map<(AggregateTable, Key), Acc> = Map::default();
        let mut events = Vec::new();
        let mut rows = by_tree.drain(..).peekable();
        while let Some((key, ok, event)) = rows.next() {
            let mut summed = ok;
            events.push((ok, event));
            while let Some((_, ok, event)) = rows.next_if(|(next, _, _)| *next == key) {
                summed |= ok;
                events.push((ok, event));
            }
            let tree = self.trees.entry(key).or_default();
            tree.shared |= shared.contains(&key);
            if tree.shared && summed {
                // Its sum is not its share of the aggregates: its rows are recomputed.
                for (_, event) in events.iter().filter(|(ok, _)| *ok) {
                    applied.cold_row(event.source(), event.ts());
                }
                summed = false;
            }
            if summed {
                contribute(tree, -1, &mut shares, &mut scratch);
            }
            for (_, event) in events.drain(..) {
                if event.ts() >= self.floor {
                    insert(tree, event);
                }
            }
            if summed {
                // What the tree adds now less what it added before: only the difference
                // reaches the round's changes.
                contribute(tree, 1, &mut shares, &mut scratch);
                for (table, key, acc) in shares.drain(..) {
                    if !acc.is_zero() {
                        changes.entry((table, key)).or_default().add(&acc);
                    }
                }
            }
        }
        drop(rows);
        // Names become text once per group, not once per tree.
        for ((table, (at, name)), acc) in changes {
            applied.deltas.entry(table).or_default().insert((at, self.names.text(name)), acc);
        }
        // Kept for the next round, but not the room a burst of rows needed.
        by_tree.shrink_to(SCRATCH_ROWS);
        decoded.shrink_to(SCRATCH_ROWS);
        self.by_tree = by_tree;
        self.decoded = decoded;
        self.snapshots = snapshots;
        Ok(applied)
    }

    /// Moves the window to `now`, dropping what left it (at most once a minute).
    fn advance(&mut self, now: i64) {
        self.floor = self.floor.max(now - WINDOW_MICROS);
        if self.floor - self.dropped_at < MINUTE_MICROS {
            return;
        }
        let floor = self.floor;
        self.trees.retain(|_, tree| tree.newest >= floor);
        for owners in [&mut self.response_owner, &mut self.impression_owner, &mut self.click_owner]
        {
            owners.retain(|_, owner| owner.newest >= floor);
        }
        self.seen.forget_before(ids_from(floor));
        self.dropped_at = floor;
    }

    /// Whether `event`'s own id was not seen before near its time; records it.
    fn unique(&mut self, event: &Event, key: Option<Id>) -> bool {
        let Some(id) = event.own_id(key) else { return true };
        let ts = event.ts();
        let known = earliest_twin(ts) >= self.seen.from;
        let seen = self.seen.insert(id, event.source(), ts);
        known && !seen
    }

    /// Records which tree (`key`; none for a row without a request id) the response,
    /// impression and click ids `event` names belong to. Returns the trees that cannot be
    /// summed on their own any more: this one and another if an id belongs to another already
    /// (or to several, or to a row of no tree).
    fn own(&mut self, key: Option<Id>, event: &Event) -> Vec<Id> {
        let ts = event.ts();
        let mut shared = Vec::new();
        let mut claim = |owners: &mut IdMap<Owner>, id: Option<Id>| {
            let Some(id) = id else { return };
            let Some(owner) = owners.get_mut(&id) else {
                owners.insert(id, Owner { tree: key, newest: ts });
                return;
            };
            owner.newest = owner.newest.max(ts);
            if owner.tree.is_some() && owner.tree == key {
                return;
            }
            // No tree owns it from now on: whichever names it is cold.
            shared.extend(owner.tree.take());
            shared.extend(key);
        };
        match &event.row {
            Row::Request(_) => {}
            Row::Response(s) => claim(&mut self.response_owner, s.id),
            Row::Impression(i) => {
                claim(&mut self.response_owner, i.response_id);
                claim(&mut self.impression_owner, i.id);
            }
            Row::Click(c) => {
                claim(&mut self.impression_owner, c.impression_id);
                claim(&mut self.click_owner, c.id);
            }
        }
        shared
    }
}

/// The earliest event time of a row with the same id as a row at `ts` that the sums over trees
/// would count wrongly. Twins in the memory are seen there (in one tree, or an id two trees
/// own); a twin that left it matters only to the funnel's distinct counts, when both link to
/// requests of the same hour: a row links requests from a link interval before it, and a
/// twin can be one link interval (before) ahead of its own request.
fn earliest_twin(ts: i64) -> i64 {
    hour_of(ts - LINK_AFTER_MICROS) - LINK_BEFORE_MICROS
}

/// Time from which ids must be known for a row at the floor's margin to be checked.
fn ids_from(floor: i64) -> i64 {
    earliest_twin(floor + MARGIN_MICROS)
}

fn insert(tree: &mut Tree, event: Event) {
    tree.newest = tree.newest.max(event.ts());
    // Most trees hold a row or two: no room for four.
    if tree.rows.capacity() == tree.rows.len() {
        tree.rows.reserve_exact(1);
    }
    tree.rows.push(event.row);
}

/// A funnel event at `child` counts for a request at `request` (the aggregates' SQL says the
/// same: crates/tables/src/aggregates.rs).
fn linked(child: i64, request: i64) -> bool {
    child >= request - LINK_BEFORE_MICROS && child <= request + LINK_AFTER_MICROS
}

/// An aggregate row's key as a tree's rows name it: its window start and its name.
type Key = (i64, Option<Name>);
/// What one tree adds to an aggregate row.
type Share = (AggregateTable, Key, Acc);

/// [`contribute`]'s working space, kept between trees.
#[derive(Default)]
struct Scratch {
    /// The funnel groups of a tree's counted requests.
    groups: Vec<Key>,
    /// What the funnel counts in them, each once: (group, 0 for a response, 1 an impression,
    /// 2 a click, its id).
    counted: Vec<(Key, usize, Id)>,
}

/// Adds `sign` times what `tree` contributes to the aggregates' rows to `shares`, where a group
/// already there is added to (a tree reaches a few groups, so they are found by a scan: no map,
/// set or vector is built per tree).
fn contribute(tree: &Tree, sign: i64, shares: &mut Vec<Share>, scratch: &mut Scratch) {
    let mut add = |table: AggregateTable, group: Key, acc: Acc| {
        let acc = acc.scaled(sign);
        match shares.iter_mut().find(|(t, g, _)| *t == table && *g == group) {
            Some((_, _, sum)) => sum.add(&acc),
            None => shares.push((table, group, acc)),
        }
    };
    // Impressions with their counted requests: every linked pair counts once.
    for i in tree.impressions() {
        let win = Acc {
            n: [1, 0, 0, 0],
            sum: i.price.unwrap_or(0.0),
            priced: i64::from(i.price.is_some()),
        };
        for r in tree.requests().filter(|r| r.counted && linked(i.ts, r.ts)) {
            add(AggregateTable::HourlyImpressionsByGeo, (hour_of(i.ts), r.country), win);
            let minute = i.ts.div_euclid(MINUTE_MICROS) * MINUTE_MICROS;
            for k in 0..WINDOW_MINUTES {
                let group = (minute - k * MINUTE_MICROS, i.bidder);
                add(AggregateTable::RollingMetricsByBidder, group, win);
            }
        }
    }
    // The funnel: distinct requests, responses, impressions and clicks per hour and publisher
    // of the requests they link to.
    scratch.groups.clear();
    scratch.counted.clear();
    for r in tree.requests().filter(|r| r.counted) {
        let group = (hour_of(r.ts), r.publisher);
        if !scratch.groups.contains(&group) {
            scratch.groups.push(group);
        }
        let mut distinct = |kind: usize, id: Id| {
            if !scratch.counted.contains(&(group, kind, id)) {
                scratch.counted.push((group, kind, id));
            }
        };
        for s in tree.responses().filter(|s| linked(s.ts, r.ts)) {
            let Some(response) = s.id else { continue };
            distinct(0, response);
            for i in
                tree.impressions().filter(|i| i.response_id == Some(response) && linked(i.ts, r.ts))
            {
                let Some(impression) = i.id else { continue };
                distinct(1, impression);
                for c in tree
                    .clicks()
                    .filter(|c| c.impression_id == Some(impression) && linked(c.ts, r.ts))
                {
                    if let Some(click) = c.id {
                        distinct(2, click);
                    }
                }
            }
        }
    }
    for group in &scratch.groups {
        // A tree's requests share their id: each group counts one request.
        let mut n = [1, 0, 0, 0];
        for (_, kind, _) in scratch.counted.iter().filter(|(g, _, _)| g == group) {
            n[1 + kind] += 1;
        }
        add(AggregateTable::HourlyFunnelByPublisher, *group, Acc { n, ..Acc::default() });
    }
}

/// Appends the rows of `batch` (columns as [`columns`] lists them for `source`) to `events`.
fn decode(
    source: EventTable,
    batch: &RecordBatch,
    names: &mut Names,
    seed: u64,
    events: &mut Vec<Event>,
) -> Result<()> {
    let column = |i: usize, to: &DataType| -> Result<ArrayRef> {
        let name = columns(source).get(i).copied().unwrap_or("?");
        let array = batch.columns().get(i).ok_or_else(|| {
            Error::Config(format!("{} rows without a {name} column", source.name()))
        })?;
        arrow_cast::cast(array, to).map_err(|e| Error::Arrow {
            context: format!("reading {}.{name}", source.name()),
            source: e,
        })
    };
    let strings = |i| column(i, &DataType::Utf8);
    let request_ids = strings(0)?;
    let request_ids = request_ids.as_string::<i32>();
    let times = column(1, &DataType::Int64)?;
    let times = times.as_primitive::<Int64Type>();
    let id = |a: &arrow_array::StringArray, row: usize| -> Option<Id> {
        a.is_valid(row).then(|| Id::of(seed, a.value(row)))
    };
    let mut name = |a: &arrow_array::StringArray, row: usize| -> Result<Option<Name>> {
        a.is_valid(row).then(|| names.of(a.value(row))).transpose()
    };
    // A row without an event time falls in no window (the SQL leaves it out too).
    events.reserve(batch.num_rows());
    match source {
        EventTable::BidRequests => {
            let (country, publisher) = (strings(2)?, strings(3)?);
            let (test, private) = (column(4, &DataType::Boolean)?, column(5, &DataType::Boolean)?);
            let (country, publisher) = (country.as_string::<i32>(), publisher.as_string::<i32>());
            let (test, private) = (test.as_boolean(), private.as_boolean());
            let flagged =
                |a: &arrow_array::BooleanArray, row: usize| a.is_valid(row) && a.value(row);
            for row in (0..batch.num_rows()).filter(|&row| times.is_valid(row)) {
                let request = Request {
                    ts: times.value(row),
                    country: name(country, row)?,
                    publisher: name(publisher, row)?,
                    counted: !flagged(test, row) && !flagged(private, row),
                };
                events.push(Event { request_id: id(request_ids, row), row: Row::Request(request) });
            }
        }
        EventTable::BidResponses => {
            let ids = strings(2)?;
            let ids = ids.as_string::<i32>();
            for row in (0..batch.num_rows()).filter(|&row| times.is_valid(row)) {
                let response = Response { id: id(ids, row), ts: times.value(row) };
                events
                    .push(Event { request_id: id(request_ids, row), row: Row::Response(response) });
            }
        }
        EventTable::Impressions => {
            let (ids, responses, bidders) = (strings(2)?, strings(3)?, strings(4)?);
            let prices = column(5, &DataType::Float64)?;
            let (ids, responses, bidders) =
                (ids.as_string::<i32>(), responses.as_string::<i32>(), bidders.as_string::<i32>());
            let prices = prices.as_primitive::<Float64Type>();
            for row in (0..batch.num_rows()).filter(|&row| times.is_valid(row)) {
                let impression = Impression {
                    id: id(ids, row),
                    response_id: id(responses, row),
                    bidder: name(bidders, row)?,
                    price: prices.is_valid(row).then(|| prices.value(row)),
                    ts: times.value(row),
                };
                events.push(Event {
                    request_id: id(request_ids, row),
                    row: Row::Impression(Box::new(impression)),
                });
            }
        }
        EventTable::Clicks => {
            let (ids, impressions) = (strings(2)?, strings(3)?);
            let (ids, impressions) = (ids.as_string::<i32>(), impressions.as_string::<i32>());
            for row in (0..batch.num_rows()).filter(|&row| times.is_valid(row)) {
                let click = Click {
                    id: id(ids, row),
                    impression_id: id(impressions, row),
                    ts: times.value(row),
                };
                let request_id = id(request_ids, row);
                events.push(Event { request_id, row: Row::Click(Box::new(click)) });
            }
        }
    }
    Ok(())
}

pub(crate) fn hour_of(micros: i64) -> i64 {
    micros.div_euclid(HOUR_MICROS) * HOUR_MICROS
}

/// The ids are hashed already.
#[derive(Default)]
struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use arrow_array::{BooleanArray, Float64Array, Int64Array, StringArray};

    use super::*;

    // 2025-11-24T16:30:00Z: in the past, as the plausibility check of event times wants.
    const NOW: i64 = 1_764_000_000_000_000 + 30 * MINUTE_MICROS;

    fn batch(columns: Vec<ArrayRef>) -> RecordBatch {
        RecordBatch::try_from_iter(
            columns.into_iter().enumerate().map(|(i, c)| (format!("c{i}"), c)),
        )
        .unwrap()
    }

    fn text(values: &[&str]) -> ArrayRef {
        Arc::new(StringArray::from(values.to_vec()))
    }

    fn times(values: &[i64]) -> ArrayRef {
        Arc::new(Int64Array::from(values.to_vec()))
    }

    fn requests(ids: &[&str], at: &[i64]) -> (EventTable, RecordBatch) {
        let n = ids.len();
        let flags: ArrayRef = Arc::new(BooleanArray::from(vec![false; n]));
        let columns = vec![
            text(ids),
            times(at),
            text(&vec!["DEU"; n]),
            text(&vec!["pub"; n]),
            flags.clone(),
            flags,
        ];
        (EventTable::BidRequests, batch(columns))
    }

    fn responses(requests: &[&str], ids: &[&str], at: &[i64]) -> (EventTable, RecordBatch) {
        (EventTable::BidResponses, batch(vec![text(requests), times(at), text(ids)]))
    }

    fn impressions(requests: &[&str], responses: &[&str], at: &[i64]) -> (EventTable, RecordBatch) {
        let ids: Vec<String> = responses.iter().map(|r| format!("{r}-imp")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let prices: ArrayRef = Arc::new(Float64Array::from(vec![2.0; requests.len()]));
        let columns = vec![
            text(requests),
            times(at),
            text(&ids),
            text(responses),
            text(&vec!["dsp"; requests.len()]),
            prices,
        ];
        (EventTable::Impressions, batch(columns))
    }

    fn clicks(requests: &[&str], ids: &[&str], at: &[i64]) -> (EventTable, RecordBatch) {
        let impressions: Vec<String> = requests.iter().map(|r| format!("s{r}-imp")).collect();
        let impressions: Vec<&str> = impressions.iter().map(String::as_str).collect();
        (EventTable::Clicks, batch(vec![text(requests), times(at), text(ids), text(&impressions)]))
    }

    /// An impression without a request id (the funnel still joins it by its response id).
    fn orphan_impression(response: &str, at: i64) -> (EventTable, RecordBatch) {
        let (source, batch) = impressions(&["r"], &[response], &[at]);
        let mut columns = batch.columns().to_vec();
        columns[0] = Arc::new(StringArray::from(vec![None::<&str>]));
        (source, self::batch(columns))
    }

    fn snapshots() -> BTreeMap<EventTable, Option<i64>> {
        BTreeMap::new()
    }

    fn funnel(applied: &Applied) -> Vec<[i64; 4]> {
        let mut rows: Vec<[i64; 4]> = applied
            .deltas
            .get(&AggregateTable::HourlyFunnelByPublisher)
            .into_iter()
            .flat_map(|groups| groups.values().map(|acc| acc.n))
            .filter(|n| *n != [0; 4])
            .collect();
        rows.sort();
        rows
    }

    fn cold(applied: &Applied) -> bool {
        applied.cold.values().any(|hours| !hours.is_empty())
    }

    #[test]
    fn names_run_out_at_the_last_u32_instead_of_merging() {
        assert_eq!(Name::after(0).map(|n| n.0.get()), Some(1));
        assert_eq!(Name::after(u32::MAX as usize - 1).map(|n| n.0.get()), Some(u32::MAX));
        assert_eq!(Name::after(u32::MAX as usize), None);
    }

    #[test]
    fn a_funnel_added_in_any_order_sums_like_the_sql() {
        let mut warm = Warm::new(snapshots(), NOW);
        let t = NOW - MINUTE_MICROS;
        // The impression first, then its request and response.
        let applied =
            warm.apply(&[impressions(&["r1"], &["s1"], &[t + 5])], NOW, snapshots()).unwrap();
        assert!(!cold(&applied));
        assert!(funnel(&applied).is_empty(), "no request yet: nothing counted");
        let applied = warm
            .apply(
                &[requests(&["r1"], &[t]), responses(&["r1"], &["s1"], &[t + 1])],
                NOW,
                snapshots(),
            )
            .unwrap();
        assert!(!cold(&applied));
        assert_eq!(funnel(&applied), [[1, 1, 1, 0]]);
        let geo = &applied.deltas[&AggregateTable::HourlyImpressionsByGeo];
        let acc = geo.values().find(|a| !a.is_zero()).unwrap();
        assert_eq!((acc.n[0], acc.sum, acc.priced), (1, 2.0, 1));
        let windows = applied.deltas[&AggregateTable::RollingMetricsByBidder]
            .values()
            .filter(|a| !a.is_zero())
            .count();
        assert_eq!(windows, WINDOW_MINUTES as usize);
    }

    #[test]
    fn rows_older_than_the_memory_vouches_for_are_recomputed() {
        let mut warm = Warm::new(snapshots(), NOW);
        let late = NOW - 15 * MINUTE_MICROS;
        let applied = warm.apply(&[requests(&["r1"], &[late])], NOW, snapshots()).unwrap();
        assert!(cold(&applied));
        assert!(applied.cold[&AggregateTable::HourlyFunnelByPublisher].contains(&hour_of(late)));
    }

    #[test]
    fn a_response_id_shared_by_two_requests_sends_both_trees_to_sql() {
        let mut warm = Warm::new(snapshots(), NOW);
        let t = NOW - MINUTE_MICROS;
        let rows = [requests(&["a", "b"], &[t, t]), responses(&["a"], &["shared"], &[t])];
        let applied = warm.apply(&rows, NOW, snapshots()).unwrap();
        assert!(!cold(&applied));
        let applied =
            warm.apply(&[responses(&["b"], &["shared"], &[t])], NOW, snapshots()).unwrap();
        assert!(cold(&applied), "the second tree's response is recomputed");
        // The first tree is cold from now on too: its impression joins both responses.
        let applied =
            warm.apply(&[impressions(&["a"], &["shared"], &[t])], NOW, snapshots()).unwrap();
        assert!(cold(&applied));
    }

    #[test]
    fn a_duplicate_request_after_its_tree_left_the_memory_is_recomputed() {
        let mut warm = Warm::new(snapshots(), NOW);
        let applied = warm.apply(&[requests(&["r1"], &[NOW])], NOW, snapshots()).unwrap();
        assert!(!cold(&applied));
        // 25 minutes on, the tree has left the memory; its id has not.
        let later = NOW + 25 * MINUTE_MICROS;
        let applied = warm.apply(&[requests(&["r2"], &[later])], later, snapshots()).unwrap();
        assert!(!cold(&applied));
        assert_eq!(warm.trees(), 1, "r1's tree was dropped");
        let applied = warm.apply(&[requests(&["r1"], &[later])], later, snapshots()).unwrap();
        assert!(cold(&applied), "a duplicate of a dropped request is recomputed");
    }

    #[test]
    fn an_hour_of_ids_kept_for_later_hours_forgets_its_ids() {
        let mut warm = Warm::new(snapshots(), NOW);
        warm.apply(&[requests(&["r1"], &[NOW])], NOW, snapshots()).unwrap();
        // Three hours on, r1's hour has left the memory and its set serves a new hour.
        let later = NOW + 3 * HOUR_MICROS;
        warm.apply(&[requests(&["r2"], &[later])], later, snapshots()).unwrap();
        // r1 again: too far from the first to share a window, so not a duplicate that matters.
        let applied = warm.apply(&[requests(&["r1"], &[later])], later, snapshots()).unwrap();
        assert!(!cold(&applied), "a reused set still held an id of its old hour");
    }

    #[test]
    fn the_ids_of_a_span_are_forgotten_when_it_leaves_across_the_tags_wrapping() {
        // Spans 254 and 255 of the tags, then 256 and 257 tagged 0 and 1.
        let span = |n: i64| (NOW / SPAN_MICROS / 256 * 256 + n) * SPAN_MICROS;
        let id = |text: &str| Id::of(7, text);
        let mut seen = SeenIds::new(span(254));
        for (n, text) in [(254, "a"), (255, "b"), (256, "c"), (257, "d")] {
            assert!(!seen.insert(id(text), EventTable::BidRequests, span(n) + 5));
        }
        assert!(seen.insert(id("c"), EventTable::BidRequests, span(256)), "seen before");
        assert!(!seen.insert(id("c"), EventTable::Clicks, span(256)), "another table's id");
        // "a" again in span 257: held until span 257 leaves.
        assert!(seen.insert(id("a"), EventTable::BidRequests, span(257)));
        seen.forget_before(span(256));
        assert_eq!(seen.entries.len(), 4, "b left; a, c, d and c's click stay");
        assert!(seen.insert(id("a"), EventTable::BidRequests, span(257)));
        assert!(!seen.insert(id("b"), EventTable::BidRequests, span(257)), "b was forgotten");
        assert!(seen.insert(id("d"), EventTable::BidRequests, span(257)));
        // Rows of spans gone are not held; rows too far ahead to tag count as seen.
        assert!(!seen.insert(id("e"), EventTable::BidRequests, span(255)));
        assert!(!seen.insert(id("e"), EventTable::BidRequests, span(255)));
        assert!(seen.insert(id("f"), EventTable::BidRequests, span(256 + HELD_SPANS)));
        // A jump of more than the tags tell apart (a machine asleep for days) forgets all.
        seen.forget_before(span(256 + 3 * TAGGED_SPANS as i64));
        assert!(seen.entries.is_empty());
    }

    #[test]
    fn every_later_row_of_a_shared_tree_is_recomputed() {
        let mut warm = Warm::new(snapshots(), NOW);
        let t = NOW - MINUTE_MICROS;
        let rows = [requests(&["a", "b"], &[t, t]), responses(&["a", "b"], &["s", "s"], &[t, t])];
        let applied = warm.apply(&rows, NOW, snapshots()).unwrap();
        assert!(cold(&applied));
        // A response with an id of its own, in a tree that shares another.
        let applied = warm.apply(&[responses(&["a"], &["s2"], &[t])], NOW, snapshots()).unwrap();
        assert!(cold(&applied), "a row of a shared tree is recomputed");
        assert!(funnel(&applied).is_empty());
    }

    #[test]
    fn rows_without_a_request_id_make_the_trees_they_name_cold() {
        let mut warm = Warm::new(snapshots(), NOW);
        let t = NOW - MINUTE_MICROS;
        // Before its tree: the response and request that complete it are recomputed.
        let applied = warm.apply(&[orphan_impression("s1", t + 5)], NOW, snapshots()).unwrap();
        assert!(cold(&applied));
        let rows = [requests(&["r1"], &[t]), responses(&["r1"], &["s1"], &[t + 1])];
        let applied = warm.apply(&rows, NOW, snapshots()).unwrap();
        assert!(cold(&applied), "the response joins an impression the memory does not hold");
        // After its tree: the tree is cold from then on.
        let rows = [requests(&["r2"], &[t]), responses(&["r2"], &["sr2"], &[t + 1])];
        assert!(!cold(&warm.apply(&rows, NOW, snapshots()).unwrap()));
        assert!(cold(&warm.apply(&[orphan_impression("sr2", t + 5)], NOW, snapshots()).unwrap()));
        let applied = warm.apply(&[clicks(&["r2"], &["c"], &[t + 9])], NOW, snapshots());
        assert!(cold(&applied.unwrap()), "a click of the orphan's impression is recomputed");
    }

    #[test]
    fn trees_loaded_sharing_an_id_are_cold() {
        let mut warm = Warm::new(snapshots(), NOW);
        let t = NOW - MINUTE_MICROS;
        let (source, batch) = requests(&["a", "b"], &[t, t]);
        warm.load(source, &batch).unwrap();
        let (source, batch) = responses(&["a", "b"], &["s", "s"], &[t, t]);
        warm.load(source, &batch).unwrap();
        let applied = warm.apply(&[responses(&["a"], &["s2"], &[t])], NOW, snapshots()).unwrap();
        assert!(cold(&applied));
    }

    #[test]
    fn a_click_id_in_two_trees_makes_both_cold() {
        let mut warm = Warm::new(snapshots(), NOW);
        let t = NOW - MINUTE_MICROS;
        let rows = [
            requests(&["a", "b"], &[t, t]),
            responses(&["a", "b"], &["sa", "sb"], &[t, t]),
            clicks(&["a"], &["dup"], &[t + 2]),
        ];
        assert!(!cold(&warm.apply(&rows, NOW, snapshots()).unwrap()));
        // The same click id in tree b, for b's impression.
        let applied = warm.apply(&[clicks(&["b"], &["dup"], &[t + 2])], NOW, snapshots());
        assert!(cold(&applied.unwrap()));
        // Tree a's impression links its click, which the funnel counts once for both trees.
        let applied = warm.apply(&[impressions(&["a"], &["sa"], &[t + 1])], NOW, snapshots());
        assert!(cold(&applied.unwrap()));
    }
}
