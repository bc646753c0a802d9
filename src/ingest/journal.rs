//! The idempotency window's journal (see docs/durability.md): the keyed
//! hash of every event id written, with the time it was first seen, so
//! that a restart refills the window with the ids whose outbox records are
//! already gone (delivered, committed by a pull consumer and their segment
//! deleted), not only with the ones still in the outboxes.
//!
//! Files under `<data_dir>/idempotency/`, each named by the time its first
//! record was written (`<ms>.log`) and holding at most an hour and an
//! eighth of the bound, each a run of 24-byte records: the 16-byte hash and
//! the time in milliseconds (little endian). Records are appended
//! once a request's events are durable in the outboxes, buffered, and
//! written and fsync'd by [`Journal::sync`] (once a second, and at
//! shutdown): a kill loses at most the last second of records, whose
//! events are still in the outboxes, which refill the window too. Files
//! older than the window are deleted, and the oldest while the journal
//! holds more records than the window's memory bound.
//!
//! The journal never fails a request: on an I/O error (a full disk) the
//! records are dropped and the error logged; the outbox, not the journal,
//! is what acknowledges an event.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::identity::SubjectHash;

use super::dedup::WINDOW;

/// The journal's directory under the data dir.
pub const DIR: &str = "idempotency";
/// One record: the hash and the time first seen.
const RECORD: usize = 24;
const HOUR_MS: u64 = 3_600_000;

#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    /// At most this many bytes of records kept (the window's memory bound
    /// in records): past it, the oldest hours go.
    max_bytes: u64,
    /// Records appended and not yet written: its own lock, never held
    /// across I/O, so a request's append never waits on a disk.
    pending: Mutex<Vec<u8>>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// The file being appended to: its start (ms), the file, its length.
    file: Option<(u64, File, u64)>,
    /// Written since the last fsync.
    unsynced: bool,
    /// An error was logged since the last successful write (one line per
    /// failing spell, not one per second).
    failing: bool,
}

impl Journal {
    /// Opens the journal under `data_dir` and reads back the records of
    /// the last [`WINDOW`] (as of `now_ms`), for the window to be seeded
    /// with; files older than that are deleted. A torn last record (a kill
    /// mid-write) is ignored.
    pub fn open(
        data_dir: &Path,
        max_entries: usize,
        now_ms: u64,
    ) -> io::Result<(Journal, Vec<(SubjectHash, u64)>)> {
        let dir = data_dir.join(DIR);
        fs::create_dir_all(&dir)?;
        let window = WINDOW.as_millis() as u64;
        let mut records = Vec::new();
        for (start, path) in journal_files(&dir)? {
            // A file holds an hour at most.
            if start + HOUR_MS + window <= now_ms {
                remove(&path);
                continue;
            }
            let mut bytes = Vec::new();
            if let Err(e) = File::open(&path).and_then(|mut f| f.read_to_end(&mut bytes)) {
                // One unreadable file costs its records, not the start.
                tracing::warn!(error = %e, "idempotency journal: cannot read a file; its event ids are not in the window");
                continue;
            }
            for r in bytes.chunks_exact(RECORD) {
                let mut h = [0u8; 16];
                h.copy_from_slice(&r[..16]);
                let ms = u64::from_le_bytes(r[16..].try_into().expect("8 bytes"));
                if ms + window > now_ms {
                    records.push((h, ms));
                }
            }
        }
        let journal = Journal {
            dir,
            max_bytes: (max_entries as u64).saturating_mul(RECORD as u64),
            pending: Mutex::new(Vec::new()),
            inner: Mutex::new(Inner::default()),
        };
        Ok((journal, records))
    }

    /// Records `hashes`, first seen at `now_ms` and now durable in the
    /// outboxes. Buffered: [`Journal::sync`] writes them.
    pub fn append(&self, hashes: &[SubjectHash], now_ms: u64) {
        if hashes.is_empty() {
            return;
        }
        let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        pending.reserve(hashes.len() * RECORD);
        for h in hashes {
            pending.extend_from_slice(h);
            pending.extend_from_slice(&now_ms.to_le_bytes());
        }
    }

    /// Writes the buffered records to the current file and fsyncs it,
    /// then, when it started another file, deletes the files past the
    /// window or past the bound. Errors
    /// drop the records and are logged, once per failing spell.
    pub fn sync(&self, now_ms: u64) {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if pending.is_empty() && inner.file.is_none() {
            // Nothing to write, and no file to sync: none is made (a full
            // disk would get an empty one each second).
            return;
        }
        match self.write(&mut inner, &pending, now_ms) {
            Ok(rotated) => {
                if !pending.is_empty() {
                    inner.failing = false;
                }
                if rotated {
                    drop(inner);
                    self.prune(now_ms);
                }
            }
            Err(e) => {
                // The file may hold a torn record now: cut it back to what
                // was written whole and keep appending to it (a new file
                // each second would pile up on a full disk); a file that
                // cannot be cut is left for a new one.
                let cut = inner
                    .file
                    .as_ref()
                    .is_some_and(|(_, f, len)| f.set_len(*len).is_ok());
                if !cut {
                    inner.file = None;
                }
                if !inner.failing {
                    inner.failing = true;
                    tracing::warn!(
                        error = %e,
                        records = pending.len() / RECORD,
                        "idempotency journal: cannot write; a restart may route these event ids again if they are re-sent after their outbox records are gone"
                    );
                }
            }
        }
    }

    /// Appends `bytes` to the current file (starting another as the hour
    /// turns or when it holds an eighth of the bound) and fsyncs what was
    /// written. True when another file was started.
    fn write(&self, inner: &mut Inner, bytes: &[u8], now_ms: u64) -> io::Result<bool> {
        let chunk = (self.max_bytes / 8).max(RECORD as u64 * 1024);
        let mut rotated = false;
        if inner
            .file
            .as_ref()
            .is_none_or(|(start, _, len)| start / HOUR_MS != now_ms / HOUR_MS || *len >= chunk)
        {
            if let Some((_, f, _)) = inner.file.take() {
                if inner.unsynced {
                    f.sync_data()?;
                    inner.unsynced = false;
                }
            }
            // A name not taken yet (two files within a millisecond).
            let mut start = now_ms;
            while self.dir.join(format!("{start}.log")).exists() {
                start += 1;
            }
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir.join(format!("{start}.log")))?;
            inner.file = Some((start, f, 0));
            rotated = true;
        }
        if !bytes.is_empty() {
            let (_, f, len) = inner.file.as_mut().expect("opened above");
            f.write_all(bytes)?;
            *len += bytes.len() as u64;
            inner.unsynced = true;
        }
        if inner.unsynced {
            inner.file.as_ref().expect("opened above").1.sync_data()?;
            inner.unsynced = false;
        }
        Ok(rotated)
    }

    /// Deletes the files past the window, then the oldest while the rest
    /// hold more than the bound (never the current one).
    fn prune(&self, now_ms: u64) {
        let Ok(files) = journal_files(&self.dir) else {
            return;
        };
        let current = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .file
            .as_ref()
            .map(|(start, _, _)| *start);
        let files: Vec<(u64, PathBuf)> = files
            .into_iter()
            .filter(|(start, _)| Some(*start) != current)
            .collect();
        let window = WINDOW.as_millis() as u64;
        let mut kept: Vec<(PathBuf, u64)> = Vec::new();
        for (start, path) in files {
            if start + HOUR_MS + window <= now_ms {
                remove(&path);
            } else {
                let len = fs::metadata(&path).map_or(0, |m| m.len());
                kept.push((path, len));
            }
        }
        // The current file (left out above) is never deleted; it counts
        // toward the bound.
        let current_len = current
            .and_then(|c| fs::metadata(self.dir.join(format!("{c}.log"))).ok())
            .map_or(0, |m| m.len());
        let mut total: u64 = kept.iter().map(|(_, len)| len).sum::<u64>() + current_len;
        for (path, len) in &kept {
            if total <= self.max_bytes {
                break;
            }
            remove(path);
            total -= len;
        }
    }
}

/// The journal's files with their start (ms), oldest first.
fn journal_files(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let start = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|h| h.parse::<u64>().ok());
        if let Some(t) = start {
            out.push((t, path));
        }
    }
    out.sort();
    Ok(out)
}

fn remove(path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(error = %e, "idempotency journal: cannot delete an old hour file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(i: u8) -> SubjectHash {
        [i; 16]
    }

    #[test]
    fn records_come_back_after_a_restart_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000_000;
        let (j, seeded) = Journal::open(dir.path(), 1000, now).unwrap();
        assert!(seeded.is_empty());
        j.append(&[h(1), h(2)], now);
        // Not written until synced: a kill before loses them.
        drop(j);
        let (j, seeded) = Journal::open(dir.path(), 1000, now).unwrap();
        assert!(seeded.is_empty());
        j.append(&[h(1), h(2)], now);
        j.sync(now);
        j.append(&[h(3)], now + HOUR_MS);
        j.sync(now + HOUR_MS);
        let (_, seeded) = Journal::open(dir.path(), 1000, now + HOUR_MS).unwrap();
        assert_eq!(
            seeded,
            vec![(h(1), now), (h(2), now), (h(3), now + HOUR_MS)]
        );
        // A day later the first hour is gone from the window, and an hour
        // after that its file from the disk (the second hour's records
        // have left the window too, its file stays for the hour it spans).
        let later = now + WINDOW.as_millis() as u64 + 1;
        let (_, seeded) = Journal::open(dir.path(), 1000, later).unwrap();
        assert_eq!(seeded, vec![(h(3), now + HOUR_MS)]);
        assert_eq!(journal_files(&dir.path().join(DIR)).unwrap().len(), 2);
        let (_, seeded) = Journal::open(dir.path(), 1000, later + HOUR_MS).unwrap();
        assert!(seeded.is_empty());
        assert_eq!(journal_files(&dir.path().join(DIR)).unwrap().len(), 1);
    }

    #[test]
    fn a_torn_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000_000;
        let (j, _) = Journal::open(dir.path(), 1000, now).unwrap();
        j.append(&[h(1)], now);
        j.sync(now);
        drop(j);
        let (_, path) = journal_files(&dir.path().join(DIR)).unwrap().remove(0);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[9; 10]).unwrap();
        let (j, seeded) = Journal::open(dir.path(), 1000, now).unwrap();
        assert_eq!(seeded, vec![(h(1), now)]);
        // Records after a restart go to a file of their own.
        j.append(&[h(2)], now);
        j.sync(now);
        let (_, seeded) = Journal::open(dir.path(), 1000, now).unwrap();
        assert_eq!(seeded, vec![(h(1), now), (h(2), now)]);
    }

    #[test]
    fn the_oldest_files_go_past_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000_000;
        let (j, _) = Journal::open(dir.path(), 3, now).unwrap();
        for k in 0..4u8 {
            j.append(&[h(k), h(k + 100)], now + u64::from(k) * HOUR_MS);
            j.sync(now + u64::from(k) * HOUR_MS);
        }
        // 3 records at most: the newest file (2) and the one before (2)
        // exceed it, so only the newest is kept.
        let (_, seeded) = Journal::open(dir.path(), 3, now + 3 * HOUR_MS).unwrap();
        assert_eq!(
            seeded,
            vec![(h(3), now + 3 * HOUR_MS), (h(103), now + 3 * HOUR_MS)]
        );
    }

    #[test]
    fn a_busy_hour_is_cut_into_files_the_bound_can_drop() {
        let dir = tempfile::tempdir().unwrap();
        let now = 1_800_000_000_000;
        // A bound of 8192 records: files of 1024.
        let (j, _) = Journal::open(dir.path(), 8192, now).unwrap();
        let batch: Vec<SubjectHash> = (0..512u32).map(|i| [(i % 251) as u8; 16]).collect();
        for k in 0..40u64 {
            j.append(&batch, now + k);
            j.sync(now + k);
        }
        let (_, seeded) = Journal::open(dir.path(), 8192, now + 40).unwrap();
        assert!(
            seeded.len() <= 8192 + 1024 && seeded.len() >= 8192 - 1024,
            "{} records kept",
            seeded.len()
        );
        // The newest are the ones kept.
        assert_eq!(seeded.last().map(|r| r.1), Some(now + 39));
    }
}
