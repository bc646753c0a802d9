//! The durable opt-out list (see docs/http-api.md): keyed hashes of normalized
//! identifiers under the gateway's internal key, one hex line each in
//! `data_dir/optouts.log`, fsync'd before the admin API answers, loaded into
//! a `DashMap` the policy consults for every event. No raw identifier is
//! ever stored.
//!
//! With the JetStream backend the list lives in a key-value bucket and this
//! store is its in-memory cache ([`OptOutStore::cache`]), fed by the
//! bucket's watch (see [`crate::outbox::jetstream`]). It also remembers which
//! subjects were forgotten, so a push batch held for a retry drops their
//! events before it is sent again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use dashmap::DashSet;

use crate::identity::{SubjectHash, SubjectHashState};
use crate::policy::OptOutLookup;

#[derive(Debug)]
pub struct OptOutStore {
    path: PathBuf,
    set: DashSet<SubjectHash, SubjectHashState>,
    /// `set.len()` without visiting every shard: the hot path asks "any?"
    /// for every event.
    count: AtomicUsize,
    /// `None` for the cache of a JetStream bucket.
    file: Mutex<Option<File>>,
    /// Subjects forgotten (not only opted out); JetStream backend only.
    forgotten: DashSet<SubjectHash>,
}

impl OptOutStore {
    pub fn open(path: &Path) -> io::Result<OptOutStore> {
        let set = DashSet::with_hasher(SubjectHashState);
        let mut whole = 0u64;
        let mut len = 0u64;
        if let Ok(text) = std::fs::read(path) {
            len = text.len() as u64;
            // Only newline-terminated lines were ever acknowledged (the
            // line and its newline are written, then fsync'd, then
            // answered); a tail without one is a torn, unanswered append.
            whole = text
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i as u64 + 1);
            for line in text[..whole as usize].split(|&b| b == b'\n') {
                let line = std::str::from_utf8(line).unwrap_or("");
                if let Some(h) = parse_hex16(line.trim()) {
                    set.insert(h);
                }
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        if whole < len {
            tracing::warn!(
                dropped_bytes = len - whole,
                "opt-out list: cutting a torn line at the tail (never acknowledged); every whole line is kept"
            );
            file.set_len(whole)?;
            file.sync_all()?;
        }
        Ok(OptOutStore {
            path: path.to_owned(),
            count: AtomicUsize::new(set.len()),
            set,
            file: Mutex::new(Some(file)),
            forgotten: DashSet::new(),
        })
    }

    /// An in-memory list that mirrors a JetStream key-value bucket.
    pub fn cache() -> OptOutStore {
        OptOutStore {
            path: PathBuf::new(),
            set: DashSet::with_hasher(SubjectHashState),
            count: AtomicUsize::new(0),
            file: Mutex::new(None),
            forgotten: DashSet::new(),
        }
    }

    /// Adds `h` to the in-memory list (the bucket already has it); returns
    /// whether it is new in that form.
    pub fn insert_cached(&self, h: SubjectHash, forgotten: bool) -> bool {
        let mut new = false;
        if self.set.insert(h) {
            self.count.fetch_add(1, Ordering::Release);
            new = true;
        }
        if forgotten && self.forgotten.insert(h) {
            new = true;
        }
        new
    }

    pub fn contains_hash(&self, h: &SubjectHash) -> bool {
        self.set.contains(h)
    }

    /// Whether `h` was forgotten (its queued events are to be erased).
    pub fn is_forgotten(&self, h: &SubjectHash) -> bool {
        !self.forgotten.is_empty() && self.forgotten.contains(h)
    }

    /// Whether any of an event's subjects was forgotten (the event is
    /// never delivered, its copies are erased).
    pub fn any_forgotten(&self, subjects: &crate::policy::Subjects) -> bool {
        subjects.as_slice().iter().any(|h| self.is_forgotten(h))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn len(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds `h` durably (written and fsync'd) before returning; false if it
    /// was already there. All or nothing: when the write or the sync fails,
    /// the file is cut back to its length before the write, so no partial
    /// line stays for the next append to be glued onto.
    pub fn add(&self, h: SubjectHash) -> io::Result<bool> {
        if self.set.contains(&h) {
            return Ok(false);
        }
        let mut guard = self.file.lock().unwrap();
        let Some(f) = guard.as_mut() else {
            if self.path.as_os_str().is_empty() {
                return Err(io::Error::other(
                    "the opt-out list is kept in JetStream; use the backend's add",
                ));
            }
            return Err(io::Error::other(
                "the opt-out list has a torn tail that could not be cut back; restart adgate",
            ));
        };
        let mut line = crate::util::hex(&h);
        line.push('\n');
        let before = f.metadata()?.len();
        if let Err(e) = f.write_all(line.as_bytes()).and_then(|_| f.sync_data()) {
            if let Err(t) = f.set_len(before).and_then(|_| f.sync_data()) {
                // The torn tail is cut at the next start (see `open`); until
                // then no append may follow it.
                tracing::error!(error = %t, "opt-out list: cannot cut back a failed append; further opt-outs are refused until restart");
                guard.take();
            }
            return Err(e);
        }
        if self.set.insert(h) {
            self.count.fetch_add(1, Ordering::Release);
        }
        Ok(true)
    }
}

impl OptOutLookup for OptOutStore {
    fn contains(&self, h: &SubjectHash) -> bool {
        !self.is_empty() && self.set.contains(h)
    }
    fn is_empty(&self) -> bool {
        OptOutStore::is_empty(self)
    }
}

pub fn parse_hex16(s: &str) -> Option<SubjectHash> {
    if s.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}
