// bidlake patch: this whole file (vendor/README.md).

//! A manifest's Avro object container read by hand where that is simple: uncompressed blocks
//! (the `null` codec, as iceberg-rust writes manifests). Every manifest a table writes under one
//! schema and partition spec starts with the same header bytes (the Avro schema of the entries,
//! the table schema, the spec), and `serde_avro_fast`'s reader parsed that header, its Avro
//! schema and the schema's canonical form again for each one: in a process planning a table of
//! hundreds of small manifests, most of what each cost. Here a header is parsed once per process
//! and recognised by its entries after that (in any order: writers keep them in a hash map); the
//! entries are deserialized from each block with the Avro schema parsed then.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use serde::de::DeserializeOwned;
use serde_avro_fast::de::DeserializerState;

use super::{ParsedHeader, parsed_header};
use crate::Result;

const MAGIC: &[u8; 4] = b"Obj\x01";
const SYNC_LEN: usize = 16;

/// A header seen before: its metadata (sorted by key), what it says, and the Avro schema of the
/// entries.
struct KnownHeader {
    meta: Vec<(Vec<u8>, Vec<u8>)>,
    parsed: Arc<ParsedHeader>,
    entry_schema: serde_avro_fast::Schema,
}

/// The headers seen so far in this process (few: one per table, schema and spec); emptied
/// should it reach `MAX_KNOWN`.
static KNOWN: LazyLock<Mutex<Vec<Arc<KnownHeader>>>> = LazyLock::new(Default::default);
const MAX_KNOWN: usize = 64;

/// An uncompressed manifest's header, parsed, and its blocks of entries.
pub(super) struct Container<'a> {
    header: Arc<KnownHeader>,
    /// Each block's entry count and bytes.
    blocks: Vec<(usize, &'a [u8])>,
}

impl<'a> Container<'a> {
    /// `None` when the file is not an uncompressed Avro container this reads (another codec, a
    /// malformed file): the caller reads it another way. `Some(Err)` when its header is one
    /// iceberg cannot take.
    pub(super) fn read(bs: &'a [u8]) -> Option<Result<Self>> {
        let mut at = bs.strip_prefix(MAGIC.as_slice())?;
        let mut meta = Vec::new();
        loop {
            let mut count = read_long(&mut at)?;
            if count == 0 {
                break;
            }
            if count < 0 {
                count = count.checked_neg()?;
                read_long(&mut at)?; // the block's size in bytes
            }
            for _ in 0..count {
                let key = read_bytes(&mut at)?;
                let value = read_bytes(&mut at)?;
                meta.push((key, value));
            }
        }
        meta.sort_unstable();
        let (sync, mut at) = at.split_at_checked(SYNC_LEN)?;
        let header = match known(&meta)? {
            Ok(header) => header,
            Err(err) => return Some(Err(err)),
        };
        let mut blocks = Vec::new();
        while !at.is_empty() {
            let count = usize::try_from(read_long(&mut at)?).ok()?;
            let size = usize::try_from(read_long(&mut at)?).ok()?;
            let (block, rest) = at.split_at_checked(size)?;
            let (block_sync, rest) = rest.split_at_checked(SYNC_LEN)?;
            if block_sync != sync {
                return None;
            }
            blocks.push((count, block));
            at = rest;
        }
        Some(Ok(Self { header, blocks }))
    }

    pub(super) fn header(&self) -> &Arc<ParsedHeader> {
        &self.header.parsed
    }

    /// Every entry, deserialized as `T`; `None` if one cannot be.
    pub(super) fn entries<T: DeserializeOwned>(&self) -> Option<Vec<T>> {
        let mut entries = Vec::with_capacity(self.blocks.iter().map(|(count, _)| count).sum());
        for (count, block) in &self.blocks {
            let mut state = DeserializerState::from_slice(block, &self.header.entry_schema);
            for _ in 0..*count {
                entries.push(T::deserialize(state.deserializer()).ok()?);
            }
        }
        Some(entries)
    }
}

/// The header of metadata `meta` (sorted by key), parsed now if it was not seen before. `None`
/// when it is not one this reads (a compressed file).
fn known(meta: &[(&[u8], &[u8])]) -> Option<Result<Arc<KnownHeader>>> {
    let known = || KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    let same = |header: &KnownHeader| {
        header.meta.len() == meta.len()
            && header.meta.iter().zip(meta).all(|((k, v), (key, value))| k == key && v == value)
    };
    if let Some(header) = known().iter().find(|h| same(h)) {
        return Some(Ok(header.clone()));
    }
    let value = |name: &str| meta.iter().find(|(k, _)| *k == name.as_bytes()).map(|(_, v)| *v);
    if value("avro.codec").is_some_and(|codec| codec != b"null") {
        return None;
    }
    let entry_schema = std::str::from_utf8(value("avro.schema")?).ok()?.parse().ok()?;
    let by_name: HashMap<String, Vec<u8>> = meta
        .iter()
        .filter_map(|(k, v)| Some((String::from_utf8(k.to_vec()).ok()?, v.to_vec())))
        .collect();
    let parsed = match parsed_header(&by_name) {
        Ok(parsed) => parsed,
        Err(err) => return Some(Err(err)),
    };
    let meta = meta.iter().map(|(k, v)| (k.to_vec(), v.to_vec())).collect();
    let header = Arc::new(KnownHeader { meta, parsed, entry_schema });
    let mut known = known();
    if known.len() >= MAX_KNOWN {
        known.clear();
    }
    known.push(header.clone());
    Some(Ok(header))
}

/// An Avro `long`: a zig-zag encoded variable-length integer.
fn read_long(at: &mut &[u8]) -> Option<i64> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = at.split_first()?;
        *at = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value >> 1) as i64 ^ -((value & 1) as i64));
        }
    }
    None
}

/// Avro `bytes` or `string`: a length, then that many bytes.
fn read_bytes<'a>(at: &mut &'a [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(read_long(at)?).ok()?;
    let (bytes, rest) = at.split_at_checked(len)?;
    *at = rest;
    Some(bytes)
}
