//! The durable opt-out list (see docs/http-api.md): keyed hashes of normalized
//! identifiers under the gateway's internal key, each on two checksummed hex
//! lines ([`line`]) in `data_dir/optouts.log`, fsync'd before the admin API answers, loaded into
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
    file: Mutex<Option<Appender>>,
    /// Subjects forgotten (not only opted out); JetStream backend only.
    forgotten: DashSet<SubjectHash>,
}

impl OptOutStore {
    pub fn open(path: &Path) -> io::Result<OptOutStore> {
        let set = DashSet::with_hasher(SubjectHashState);
        let mut whole = 0u64;
        let mut len = 0u64;
        let text = match std::fs::read(path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            // An opt-out list that cannot be read is never taken for an
            // empty one.
            Err(e) => return Err(e),
        };
        if !text.is_empty() {
            len = text.len() as u64;
            // Only newline-terminated lines were ever acknowledged (the
            // line and its newline are written, then fsync'd, then
            // answered); a tail without one is a torn, unanswered append.
            whole = text
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |i| i as u64 + 1);
            let mut damaged = 0usize;
            for line in text[..whole as usize].split(|&b| b == b'\n') {
                match std::str::from_utf8(line).ok().map(read_line) {
                    Some(Line::Hash(h)) => {
                        set.insert(h);
                    }
                    Some(Line::Blank) => {}
                    Some(Line::Damaged) | None => damaged += 1,
                }
            }
            if damaged > 0 {
                tracing::error!(
                    damaged_lines = damaged,
                    opt_outs = set.len(),
                    "opt-out list: lines damaged on disk were skipped (their checksum does not match); every opt-out is written on two lines, so one is lost only when both of its lines are damaged"
                );
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
            file: Mutex::new(Some(Appender { file, cut_to: None })),
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

    /// Whether any of an event's subjects opted out (or was forgotten):
    /// such an event, queued before the opt-out, is never delivered.
    pub fn any_opted_out(&self, subjects: &crate::policy::Subjects) -> bool {
        // Asked for every record delivered: an empty list answers at once.
        !self.is_empty() && subjects.as_slice().iter().any(|h| self.contains_hash(h))
    }

    /// Every opt-out held, and whether it was a forget.
    pub fn hashes(&self) -> Vec<(SubjectHash, bool)> {
        self.set
            .iter()
            .map(|h| (*h, self.forgotten.contains(&*h)))
            .collect()
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
    /// line stays for the next append to be glued onto. When that cut fails
    /// too (the disk still failing), the next add makes it first, and fails
    /// until it is made: a passing fault costs the opt-outs made during it,
    /// which were answered 503, and nothing after.
    pub fn add(&self, h: SubjectHash) -> io::Result<bool> {
        if self.set.contains(&h) {
            return Ok(false);
        }
        let mut guard = self.file.lock().unwrap();
        let Some(a) = guard.as_mut() else {
            return Err(io::Error::other(
                "the opt-out list is kept in JetStream; use the backend's add",
            ));
        };
        if let Some(to) = a.cut_to {
            a.file.set_len(to).and_then(|_| a.file.sync_data())?;
            a.cut_to = None;
            tracing::info!("opt-out list: the torn append of an earlier failure is cut back; opt-outs are stored again");
        }
        let before = a.file.metadata()?.len();
        let text = line(&h);
        let twice = format!("{text}{text}");
        if let Err(e) = a
            .file
            .write_all(twice.as_bytes())
            .and_then(|_| a.file.sync_data())
        {
            if let Err(t) = a.file.set_len(before).and_then(|_| a.file.sync_data()) {
                // No append may follow the torn one until it is cut (at the
                // next add, or at the next start, see `open`).
                tracing::error!(error = %t, "opt-out list: cannot cut back a failed append yet; the next opt-out tries again");
                a.cut_to = Some(before);
            }
            return Err(e);
        }
        if self.set.insert(h) {
            self.count.fetch_add(1, Ordering::Release);
        }
        Ok(true)
    }
}

/// The file of the opt-out list, appended to under the store's lock.
#[derive(Debug)]
struct Appender {
    file: File,
    /// The length to cut the file back to before the next append: a failed
    /// append whose cut-back failed as well.
    cut_to: Option<u64>,
}

/// One line of `optouts.log`: the keyed hash in hex, a blank, and the
/// CRC-32 of its 16 bytes in hex (`<32 hex> <8 hex>`, then a newline). Each
/// opt-out is written as two such lines in one append, so bit rot in one
/// of them loses nothing.
pub fn line(h: &SubjectHash) -> String {
    format!("{} {:08x}\n", crate::util::hex(h), crc32fast::hash(h))
}

/// What a line of `optouts.log` holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    Hash(SubjectHash),
    Blank,
    /// Not a hash whose checksum matches: damaged on disk.
    Damaged,
}

/// Reads a line of `optouts.log` ([`line`]); a line of 32 hex digits alone
/// (the format before checksums) is read as the hash it is.
pub fn read_line(text: &str) -> Line {
    let t = text.trim();
    if t.is_empty() {
        return Line::Blank;
    }
    let (hash, crc) = match t.split_once(' ') {
        Some((h, c)) => (h, Some(c)),
        None => (t, None),
    };
    match (parse_hex16(hash), crc) {
        (Some(h), None) => Line::Hash(h),
        (Some(h), Some(c))
            if u32::from_str_radix(c, 16).ok() == Some(crc32fast::hash(&h)) && c.len() == 8 =>
        {
            Line::Hash(h)
        }
        _ => Line::Damaged,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn damaged_lines_are_counted_and_the_twin_keeps_the_opt_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("optouts.log");
        let store = OptOutStore::open(&path).expect("open");
        let (a, b, c) = ([1u8; 16], [2u8; 16], [3u8; 16]);
        for h in [a, b, c] {
            assert!(store.add(h).expect("add"));
        }
        assert!(!store.add(a).expect("again"));
        drop(store);
        let mut text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.lines().count(), 6);
        assert!(text.lines().all(|l| matches!(read_line(l), Line::Hash(_))));
        // One line of `a` damaged: `a` holds by its twin. Both lines of
        // `b` damaged: `b` is lost, and said to be (the count of lines).
        // A line of the format before checksums still reads.
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let flip = |l: &str| l.replacen('0', "1", 1);
        text = format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n",
            flip(&lines[0]),
            lines[1],
            flip(&lines[2]),
            flip(&lines[3]),
            lines[4],
            lines[5],
            crate::util::hex(&[4u8; 16]),
        );
        std::fs::write(&path, text).expect("write");
        let store = OptOutStore::open(&path).expect("reopen");
        assert!(store.contains_hash(&a));
        assert!(!store.contains_hash(&b));
        assert!(store.contains_hash(&c));
        assert!(store.contains_hash(&[4u8; 16]));
        assert_eq!(store.len(), 3);
    }

    #[test]
    fn an_unreadable_list_is_not_an_empty_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        // A directory where the file should be: reading it fails.
        let path = dir.path().join("optouts.log");
        std::fs::create_dir(&path).expect("mkdir");
        assert!(OptOutStore::open(&path).is_err());
    }
}
