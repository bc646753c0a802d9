//! The idempotency window (see docs/http-api.md): an event_id seen in the last 24 h is
//! accepted again but not routed again.
//!
//! Keys are the internal keyed hash of the event id (never the id itself),
//! kept in a `DashMap` with their expiry. Memory is bounded: at
//! [`DEFAULT_MAX_ENTRIES`] the sweeper shortens the window from the oldest
//! end, a second at a time, until the map is back under 90 % of the bound,
//! and logs that it did.
//! On restart the window is refilled from the records still in the outboxes,
//! so a producer retrying after a gateway crash is not routed twice.

use std::time::Duration;

use dashmap::DashMap;

use crate::identity::{SubjectHash, SubjectHashState};

/// docs/http-api.md: duplicates within 24 h are not routed again.
pub const WINDOW: Duration = Duration::from_secs(24 * 3600);
/// ~60 bytes each with DashMap overhead, so about 240 MB at the bound: a full
/// 24 h window up to ~46 events/s sustained, a shorter one above (README).
pub const DEFAULT_MAX_ENTRIES: usize = 4_000_000;
/// Shards of the map (a power of two).
const SHARDS: usize = 64;

#[derive(Debug)]
pub struct Dedup {
    map: DashMap<SubjectHash, u64, SubjectHashState>,
    max_entries: usize,
}

impl Dedup {
    pub fn new(max_entries: usize) -> Dedup {
        Dedup {
            // Many small shards: a shard grows by rehashing every entry it
            // holds while ingest waits on its lock, and at the bound the
            // default 8 shards (4 x cores) hold 500 000 entries each: tens of
            // milliseconds on a request's path. 64 make each rehash 1/8 of
            // that; the total work is the same.
            map: DashMap::with_capacity_and_hasher_and_shard_amount(1024, SubjectHashState, SHARDS),
            max_entries,
        }
    }

    /// Records `h` as seen at `now_ms`; true if it was already seen within
    /// the window (a duplicate).
    pub fn check_and_insert(&self, h: SubjectHash, now_ms: u64) -> bool {
        let expiry = now_ms + WINDOW.as_millis() as u64;
        match self.map.entry(h) {
            dashmap::mapref::entry::Entry::Occupied(mut o) => {
                if *o.get() > now_ms {
                    true
                } else {
                    o.insert(expiry);
                    false
                }
            }
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(expiry);
                false
            }
        }
    }

    /// Forgets `h` (its request failed, so a retry must be routed).
    pub fn remove(&self, h: &SubjectHash) {
        self.map.remove(h);
    }

    /// Seeds an entry seen at `seen_ms` (recovery).
    pub fn seed(&self, h: SubjectHash, seen_ms: u64) {
        let expiry = seen_ms + WINDOW.as_millis() as u64;
        self.map
            .entry(h)
            .and_modify(|e| *e = (*e).max(expiry))
            .or_insert(expiry);
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Drops expired entries and enforces the bound: two passes over the
    /// entries at most (one to count them by the second they expire, one to
    /// drop the oldest seconds), whatever the overshoot. The newest second
    /// is always kept: counted by the hour, a fast producer's last hour was
    /// one group over the bound, and the whole window went at once.
    pub fn sweep(&self, now_ms: u64) {
        self.map.retain(|_, exp| *exp > now_ms);
        if self.map.len() <= self.max_entries {
            return;
        }
        let target = self.max_entries * 9 / 10;
        const STEP: u64 = 1_000;
        let steps = (WINDOW.as_millis() as u64).div_ceil(STEP) as usize + 1;
        let mut per_step = vec![0usize; steps];
        for e in self.map.iter() {
            let k = (e.value().saturating_sub(now_ms) / STEP) as usize;
            per_step[k.min(steps - 1)] += 1;
        }
        // Drop whole seconds from the oldest end until the rest fits.
        let mut left = self.map.len();
        let mut dropped = 0;
        while left > target && dropped < steps - 1 {
            left -= per_step[dropped];
            dropped += 1;
        }
        let cutoff = now_ms + dropped as u64 * STEP;
        self.map.retain(|_, exp| *exp >= cutoff);
        tracing::warn!(
            entries = self.map.len(),
            max_entries = self.max_entries,
            window_seconds = (now_ms + WINDOW.as_millis() as u64).saturating_sub(cutoff) / 1000,
            "idempotency window shortened to stay within its memory bound"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The key of entry `i`.
    fn key(i: u32) -> [u8; 16] {
        let mut h = [0u8; 16];
        h[..4].copy_from_slice(&i.to_le_bytes());
        h
    }

    #[test]
    fn window_and_bound() {
        let d = Dedup::new(10);
        assert!(!d.check_and_insert([1; 16], 0));
        assert!(d.check_and_insert([1; 16], 1000));
        assert!(!d.check_and_insert([1; 16], WINDOW.as_millis() as u64 + 1));
        for i in 0..20u8 {
            d.check_and_insert([i + 10; 16], i as u64 * 3_600_000);
        }
        d.sweep(20 * 3_600_000);
        assert!(d.len() <= 9, "{}", d.len());
    }

    /// The fault pass's case: every entry seen within the last hour, far
    /// over the bound. Only the oldest seconds go; the last ones stay, so
    /// a retry seconds after its 202 is still a duplicate.
    #[test]
    fn a_bound_reached_within_an_hour_keeps_the_newest_seconds() {
        let d = Dedup::new(1_000);
        let start = 10 * 3_600_000u64;
        // 5,000 entries over 100 s.
        for i in 0..5_000u32 {
            d.check_and_insert(key(i), start + u64::from(i) * 20);
        }
        let now = start + 100_000;
        d.sweep(now);
        assert!(d.len() <= 900, "{}", d.len());
        assert!(d.len() >= 800, "only the oldest seconds go: {}", d.len());
        assert!(
            d.check_and_insert(key(4_999), now),
            "the newest entry is kept"
        );
    }

    #[test]
    fn the_bound_drops_the_oldest_hours_and_keeps_the_newest() {
        let d = Dedup::new(100);
        let hour = 3_600_000u64;
        // 1,000 entries seen over 20 hours, 50 per hour.
        for i in 0..1000u32 {
            d.check_and_insert(key(i), (i / 50) as u64 * hour);
        }
        let now = 20 * hour;
        d.sweep(now);
        assert!(d.len() <= 90, "{}", d.len());
        assert!(d.len() >= 50, "only the oldest go: {}", d.len());
        assert!(
            d.check_and_insert(key(999), now),
            "the newest entry is kept"
        );
        assert!(!d.check_and_insert(key(0), now), "the oldest entry went");
    }
}
