//! Producer quotas (token buckets, `max_events_per_second` / `burst`) and
//! the global bound on ingest requests in flight.
//!
//! A request of `n` events takes `n` tokens. A bucket that is full lets any
//! request through (it may go into debt, repaid at `rate`), so a batch
//! larger than the burst is slowed down, not refused forever. A refused
//! request gets 429 with `Retry-After` saying when the tokens will be there.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::config::Quota;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

#[derive(Debug, Default)]
pub struct Quotas {
    buckets: DashMap<String, Mutex<Bucket>>,
}

impl Quotas {
    /// Takes `n` tokens from `producer`'s bucket, or says how long to wait.
    pub fn take(
        &self,
        producer: &str,
        quota: &Quota,
        n: u64,
        now: Instant,
    ) -> Result<(), Duration> {
        let entry = self.buckets.entry(producer.to_owned()).or_insert_with(|| {
            Mutex::new(Bucket {
                tokens: quota.burst,
                last: now,
            })
        });
        let mut b = entry.lock().unwrap();
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + elapsed * quota.rate).min(quota.burst);
        b.last = now;
        let n = n as f64;
        if b.tokens >= n || b.tokens >= quota.burst {
            b.tokens -= n;
            Ok(())
        } else {
            let missing = n.min(quota.burst) - b.tokens;
            Err(Duration::from_secs_f64(missing / quota.rate))
        }
    }
}

/// Counts ingest requests in flight, in all and per producer;
/// [`InFlight::enter`] refuses above the bounds.
#[derive(Debug, Default)]
pub struct InFlight {
    n: AtomicUsize,
    per: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// Leaves the count(s) when dropped.
#[derive(Debug)]
pub struct InFlightGuard<'a>(&'a InFlight, Option<String>);

/// Which bound refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overload {
    /// `server.max_in_flight_requests`: the gateway as a whole.
    All,
    /// `server.max_in_flight_per_producer`: this producer alone.
    Producer,
}

impl InFlight {
    pub fn enter(&self, max: usize) -> Option<InFlightGuard<'_>> {
        self.n
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| {
                (c < max).then_some(c + 1)
            })
            .ok()
            .map(|_| InFlightGuard(self, None))
    }

    /// Enters for `producer`: at most `per_max` of its requests at once, so
    /// one producer's slow bodies cannot take every one of the `max` slots.
    pub fn enter_as(
        &self,
        producer: &str,
        max: usize,
        per_max: usize,
    ) -> Result<InFlightGuard<'_>, Overload> {
        {
            let mut per = self.per.lock().unwrap();
            let n = per.entry(producer.to_string()).or_insert(0);
            if *n >= per_max {
                return Err(Overload::Producer);
            }
            *n += 1;
        }
        match self.enter(max) {
            Some(mut g) => {
                g.1 = Some(producer.to_string());
                Ok(g)
            }
            None => {
                self.leave_producer(producer);
                Err(Overload::All)
            }
        }
    }

    fn leave_producer(&self, producer: &str) {
        let mut per = self.per.lock().unwrap();
        if let Some(n) = per.get_mut(producer) {
            *n -= 1;
            if *n == 0 {
                per.remove(producer);
            }
        }
    }

    pub fn current(&self) -> usize {
        self.n.load(Ordering::Relaxed)
    }
}

impl Drop for InFlightGuard<'_> {
    fn drop(&mut self) {
        self.0.n.fetch_sub(1, Ordering::AcqRel);
        if let Some(p) = &self.1 {
            self.0.leave_producer(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_and_allows_debt_from_full() {
        let q = Quotas::default();
        let quota = Quota {
            rate: 100.0,
            burst: 100.0,
        };
        let t0 = Instant::now();
        assert!(q.take("p", &quota, 60, t0).is_ok());
        let wait = q.take("p", &quota, 60, t0).unwrap_err();
        assert!((0.15..=0.25).contains(&wait.as_secs_f64()), "{wait:?}");
        assert!(q
            .take("p", &quota, 60, t0 + Duration::from_millis(250))
            .is_ok());
        // A batch larger than the burst passes from a full bucket.
        assert!(q.take("big", &quota, 500, t0).is_ok());
        assert!(q
            .take("big", &quota, 1, t0 + Duration::from_secs(1))
            .is_err());
    }

    #[test]
    fn in_flight_bound() {
        let f = InFlight::default();
        let a = f.enter(2).unwrap();
        let _b = f.enter(2).unwrap();
        assert!(f.enter(2).is_none());
        drop(a);
        assert!(f.enter(2).is_some());
    }

    #[test]
    fn per_producer_bound_leaves_room_for_others() {
        let f = InFlight::default();
        let a = f.enter_as("a", 3, 2).unwrap();
        let _a2 = f.enter_as("a", 3, 2).unwrap();
        assert_eq!(f.enter_as("a", 3, 2).unwrap_err(), Overload::Producer);
        let _b = f.enter_as("b", 3, 2).unwrap();
        assert_eq!(f.enter_as("b", 3, 2).unwrap_err(), Overload::All);
        drop(a);
        assert!(f.enter_as("a", 3, 2).is_ok());
    }
}
