//! The idempotency window (see docs/http-api.md): an event_id seen in the last 24 h is
//! accepted again but not routed again.
//!
//! Keys are the internal keyed hash of the event id (never the id itself),
//! kept in a `DashMap` with their expiry. Memory is bounded: at
//! [`DEFAULT_MAX_ENTRIES`] the sweeper shortens the window from the oldest
//! end until the map is back under 90 % of the bound, and logs that it did.
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
    /// entries at most (one to count them by the hour they expire, one to
    /// drop the oldest hours), whatever the overshoot.
    pub fn sweep(&self, now_ms: u64) {
        self.map.retain(|_, exp| *exp > now_ms);
        if self.map.len() <= self.max_entries {
            return;
        }
        let target = self.max_entries * 9 / 10;
        const STEP: u64 = 3_600_000;
        let hours = (WINDOW.as_millis() as u64).div_ceil(STEP) as usize + 1;
        let mut per_hour = vec![0usize; hours];
        for e in self.map.iter() {
            let h = (e.value().saturating_sub(now_ms) / STEP) as usize;
            per_hour[h.min(hours - 1)] += 1;
        }
        // Drop whole hours from the oldest end until the rest fits.
        let mut left = self.map.len();
        let mut dropped_hours = 0;
        while left > target && dropped_hours < hours {
            left -= per_hour[dropped_hours];
            dropped_hours += 1;
        }
        let cutoff = now_ms + dropped_hours as u64 * STEP;
        self.map.retain(|_, exp| *exp >= cutoff);
        tracing::warn!(
            entries = self.map.len(),
            max_entries = self.max_entries,
            window_hours = (now_ms + WINDOW.as_millis() as u64).saturating_sub(cutoff) / STEP,
            "idempotency window shortened to stay within its memory bound"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_bound_drops_the_oldest_hours_and_keeps_the_newest() {
        let d = Dedup::new(100);
        let hour = 3_600_000u64;
        // 1,000 entries seen over 20 hours, 50 per hour.
        for i in 0..1000u32 {
            let mut h = [0u8; 16];
            h[..4].copy_from_slice(&i.to_le_bytes());
            d.check_and_insert(h, (i / 50) as u64 * hour);
        }
        let now = 20 * hour;
        d.sweep(now);
        assert!(d.len() <= 90, "{}", d.len());
        assert!(d.len() >= 50, "only whole hours go: {}", d.len());
        let mut newest = [0u8; 16];
        newest[..4].copy_from_slice(&999u32.to_le_bytes());
        assert!(d.check_and_insert(newest, now), "the newest entry is kept");
        let mut oldest = [0u8; 16];
        oldest[..4].copy_from_slice(&0u32.to_le_bytes());
        assert!(!d.check_and_insert(oldest, now), "the oldest entry went");
    }
}
