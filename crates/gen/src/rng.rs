//! Sampling helpers over a small, fast, seedable generator.

use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

/// The generator's source of randomness. Seeded, it yields the same events on every run.
#[derive(Debug, Clone)]
pub struct Dice {
    rng: SmallRng,
}

impl Dice {
    pub fn seeded(seed: u64) -> Self {
        Self { rng: SmallRng::seed_from_u64(seed) }
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.rng.random::<f64>() < probability
    }

    /// Uniform in `low..=high`.
    pub fn int(&mut self, low: i64, high: i64) -> i64 {
        self.rng.random_range(low..=high)
    }

    /// Uniform in `low..high`.
    pub fn float(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.rng.random::<f64>()
    }

    pub fn u64(&mut self) -> u64 {
        self.rng.random()
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.rng.random_range(0..items.len())]
    }

    /// An index in `0..n` skewed towards 0, like the popularity of sites and apps: the first
    /// tenth of the items gets about half of the draws.
    pub fn skewed_index(&mut self, n: usize) -> usize {
        let u: f64 = self.rng.random();
        ((u * u * u * n as f64) as usize).min(n.saturating_sub(1))
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u1: f64 = 1.0 - self.rng.random::<f64>(); // (0, 1], keeps ln finite
        let u2: f64 = self.rng.random();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and shape: prices, durations, delays.
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// A random (version 4) UUID in its 36-character text form.
    pub fn uuid(&mut self) -> Id {
        // Two 64-bit draws: sampling a `[u8; 16]` would draw once per byte.
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.rng.next_u64().to_le_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        let mut text = *b"00000000-0000-0000-0000-000000000000";
        const SLOTS: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        for (byte, at) in bytes.iter().zip(SLOTS) {
            text[at..at + 2].copy_from_slice(&HEX_PAIRS[*byte as usize]);
        }
        Id(text)
    }

    /// `len` random lowercase hex digits into `out`.
    pub fn hex(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(16) {
            let mut bits = self.rng.next_u64();
            for slot in chunk {
                *slot = HEX[(bits & 0xf) as usize];
                bits >>= 4;
            }
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Each byte's two hex digits, so a UUID is formatted with one lookup per byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    let mut pairs = [[0u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [HEX[byte >> 4], HEX[byte & 0xf]];
        byte += 1;
    }
    pairs
};

/// A UUID in text form, kept on the stack.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Id([u8; 36]);

impl Id {
    /// The text's bytes, for writers that need no UTF-8 check on the hot path.
    pub fn as_bytes(&self) -> &[u8; 36] {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        // Only ever built from ASCII hex digits and dashes.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Debug for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Items with relative weights, sampled in proportion to them.
#[derive(Debug, Clone)]
pub struct Weighted<T: 'static> {
    items: &'static [(T, u32)],
    cumulative: Vec<u32>,
}

impl<T> Weighted<T> {
    pub fn new(items: &'static [(T, u32)]) -> Self {
        let mut total = 0;
        let cumulative = items
            .iter()
            .map(|(_, weight)| {
                total += weight;
                total
            })
            .collect();
        Self { items, cumulative }
    }

    pub fn sample(&self, dice: &mut Dice) -> &'static T {
        &self.items[self.sample_index(dice)].0
    }

    /// The index of a sampled item, for tables kept beside this one.
    pub fn sample_index(&self, dice: &mut Dice) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0);
        let target = dice.rng.random_range(0..total.max(1));
        let index = self.cumulative.partition_point(|&c| c <= target);
        index.min(self.items.len() - 1)
    }

    pub fn get(&self, index: usize) -> &'static T {
        &self.items[index].0
    }

    pub fn items(&self) -> impl Iterator<Item = &'static T> {
        self.items.iter().map(|(item, _)| item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws() {
        let mut a = Dice::seeded(7);
        let mut b = Dice::seeded(7);
        for _ in 0..100 {
            assert_eq!(a.uuid(), b.uuid());
            assert_eq!(a.int(0, 1000), b.int(0, 1000));
        }
    }

    #[test]
    fn uuid_is_version_4_text() {
        let id = Dice::seeded(1).uuid();
        let text = id.as_str();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"));
        assert_eq!(text.matches('-').count(), 4);
    }

    #[test]
    fn weighted_sampling_follows_weights() {
        static ITEMS: &[(&str, u32)] = &[("a", 1), ("b", 3), ("never", 0)];
        let table = Weighted::new(ITEMS);
        let mut dice = Dice::seeded(3);
        let b = (0..40_000).filter(|_| *table.sample(&mut dice) == "b").count();
        assert!((29_000..31_000).contains(&b), "b drawn {b} times");
    }

    #[test]
    fn lognormal_median_is_close() {
        let mut dice = Dice::seeded(5);
        let mut draws: Vec<f64> = (0..20_001).map(|_| dice.lognormal(2.0, 0.8)).collect();
        draws.sort_by(f64::total_cmp);
        let median = draws[10_000];
        assert!((1.9..2.1).contains(&median), "median {median}");
    }
}
