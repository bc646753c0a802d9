//! One partner's durable queue: an append-only log of segment files with
//! group commit, a persisted ack position, purge-in-place and crash recovery.
//!
//! Positions are global byte offsets; a segment file is named after the
//! offset of its first byte, so a record's position never changes and the
//! bytes waiting are simply `end - acked`.
//!
//! All writes happen on one writer thread per partner. Requests queue
//! [`Cmd::Append`]s; the thread takes every append waiting, writes them,
//! calls `fdatasync` once and only then answers them all (group commit).
//! Readers read the files directly, never past the durable end.
//!
//! Appends are all or nothing: a failed write or sync is cut back
//! (`set_len`) to the synced end, so the next append starts on a record
//! boundary and no reader ever sees it. A request written to several
//! partners holds its records ([`PartnerLog::append_held`]): they stay
//! invisible to readers until the request commits them, and are retracted
//! (tombstoned, see [`segment::FLAG_RETRACTED`]) if another partner's write
//! failed, so a request is stored for every partner or for none.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch};

use super::dead_letter::DeadLetters;
use super::segment::{self, Decoded, Record};
use crate::identity::SubjectHash;

/// Segment size at which the writer starts a new file; acked segments are
/// deleted whole, so this is also the granularity of disk reclaim.
const SEGMENT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// The smallest segment [`segment_max`] makes.
const SEGMENT_MIN_BYTES: u64 = 256 * 1024;

/// The segment size for an outbox bounded at `outbox_max` bytes: a quarter
/// of the bound, between 256 KiB and 64 MiB. Delivered data is freed a
/// whole segment at a time, so an outbox of 1 MiB must not keep a 64 MiB
/// segment of delivered records on a disk sized for its bound.
fn segment_max(outbox_max: u64) -> u64 {
    (outbox_max / 4).clamp(SEGMENT_MIN_BYTES, SEGMENT_MAX_BYTES)
}
/// How much a reader or a scan reads per system call.
const READ_CHUNK: usize = 1024 * 1024;
/// The least a scan reads at a time.
const MIN_CHUNK: usize = 64 * 1024;
/// Ack positions are written at once but fsync'd at most this often: a lost
/// ack only means redelivery, which at-least-once allows.
const ACK_SYNC_INTERVAL: Duration = Duration::from_secs(1);
/// A write and its sync taking this long make the outbox not ready: the
/// disk is stalled (frozen, hung, or far too slow), and a load balancer
/// should send producers elsewhere until it answers again.
const STALLED_AFTER: Duration = Duration::from_secs(5);

/// Deletes wholly acknowledged segments off the writer threads.
///
/// Unlinking a full 64 MiB segment took ~22 ms on this project's bench
/// machine (the filesystem frees its extents), about once a second per
/// partner at 200 k events/s; on the writer thread every append queued
/// behind it, and that was the outbox's latency tail (p99 wait for the
/// writer 7–12 ms, max 26 ms). A segment leaves the writer's map first, so
/// no reader opens it again; a reader that has it open keeps reading.
/// Should the process stop before a deletion ran, opening the outbox
/// deletes the wholly acked segments it finds (see [`PartnerLog::open`]).
fn delete_segment(partner: &str, path: PathBuf) {
    static REAPER: OnceLock<Option<mpsc::Sender<(String, PathBuf)>>> = OnceLock::new();
    let reaper = REAPER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(String, PathBuf)>();
        std::thread::Builder::new()
            .name("outbox-reaper".into())
            .spawn(move || {
                for (partner, path) in rx {
                    remove_acked_segment(&partner, &path);
                }
            })
            .ok()
            .map(|_| tx)
    });
    let sent = match reaper {
        Some(tx) => tx.send((partner.to_owned(), path)).map_err(|e| e.0 .1),
        None => Err(path),
    };
    // No reaper thread: deleted here, as before.
    if let Err(path) = sent {
        remove_acked_segment(partner, &path);
    }
}

fn remove_acked_segment(partner: &str, path: &Path) {
    if let Err(e) = fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(partner = %partner, error = %e, "outbox: cannot delete an acked segment");
        }
    }
}

fn seg_name(base: u64) -> String {
    format!("{base:020}.seg")
}

#[derive(Debug, Clone)]
struct SegInfo {
    path: PathBuf,
    /// Global end offset; `None` for the segment being written.
    end: Option<u64>,
}

/// State shared by the writer thread, readers and the ingest path.
#[derive(Debug)]
pub struct Shared {
    segments: Mutex<BTreeMap<u64, SegInfo>>,
    durable_end: watch::Sender<u64>,
    acked: AtomicU64,
    used_bytes: AtomicU64,
    /// The outbox's bound (`outbox_max_bytes`), which also sizes its
    /// segments ([`segment_max`]).
    max_bytes: AtomicU64,
    events: AtomicI64,
    writable: AtomicBool,
    /// When the writer began the write and sync it is in (ms since the
    /// epoch), 0 when idle: a sync that does not return (a frozen or hung
    /// disk) makes the outbox not ready ([`PartnerLog::is_writable`]).
    busy_since_ms: AtomicU64,
    /// Bumped after every purge that overwrote records, so a consumer
    /// holding records in memory (a push batch waiting to be retried) knows
    /// to read them again.
    purges: AtomicU64,
}

impl Shared {
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }
    pub fn durable_end(&self) -> u64 {
        *self.durable_end.borrow()
    }
    /// A receiver that changes whenever more records become durable.
    pub fn durable_end_watch(&self) -> watch::Receiver<u64> {
        self.durable_end.subscribe()
    }
    /// Changes whenever a purge has overwritten records. Read it before
    /// reading records: if it differs later, some of them may be purged.
    pub fn purge_generation(&self) -> u64 {
        self.purges.load(Ordering::Acquire)
    }
}

enum Cmd {
    Append {
        buf: Vec<u8>,
        records: u64,
        /// Keep the records invisible until a [`Cmd::Release`].
        hold: bool,
        reply: oneshot::Sender<io::Result<(u64, u64)>>,
    },
    /// Ends the hold of the records appended at `from`: visible if
    /// `retract` is `None`, tombstoned up to `retract` otherwise.
    Release {
        from: u64,
        retract: Option<u64>,
        /// Answered once readers can see the committed records.
        reply: Option<oneshot::Sender<()>>,
    },
    Ack {
        from: u64,
        upto: u64,
        records: u64,
    },
    Purge {
        subjects: Vec<SubjectHash>,
        reply: oneshot::Sender<io::Result<u64>>,
    },
    Evict {
        need: u64,
        reply: oneshot::Sender<io::Result<(u64, u64)>>,
    },
    Flush {
        reply: oneshot::Sender<io::Result<()>>,
    },
}

/// What recovery found, for the startup log and the idempotency window.
#[derive(Debug, Default)]
pub struct Recovered {
    pub records: u64,
    pub bytes: u64,
    pub truncated_bytes: u64,
    /// Bytes damaged inside segments, with whole records after them, set
    /// aside at this start (see `set_aside_damage`).
    pub damaged_bytes: u64,
    /// (event hash, ingest ms) of every record still on disk.
    pub event_hashes: Vec<(SubjectHash, u64)>,
}

/// A partner's outbox log. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct PartnerLog {
    name: String,
    dir: PathBuf,
    shared: Arc<Shared>,
    tx: Mutex<Option<mpsc::Sender<Cmd>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl PartnerLog {
    /// Opens (creating if needed) the log in `dir`, recovering from a crash:
    /// a torn or corrupt tail is truncated with a log line.
    pub fn open(
        name: &str,
        dir: &Path,
        max_bytes: u64,
        dead_letters: Arc<DeadLetters>,
    ) -> io::Result<(Arc<PartnerLog>, Recovered)> {
        fs::create_dir_all(dir)?;
        let ack_path = dir.join("ack");
        let mut acked = read_ack(&ack_path).unwrap_or(0);

        let mut bases: Vec<u64> = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let fname = entry.file_name();
            let Some(s) = fname.to_str() else { continue };
            if let Some(b) = s.strip_suffix(".seg").and_then(|b| b.parse::<u64>().ok()) {
                bases.push(b);
            }
        }
        bases.sort_unstable();

        let mut rec = Recovered::default();
        let mut segments = BTreeMap::new();
        let mut end = acked;
        for (i, &base) in bases.iter().enumerate() {
            let path = dir.join(seg_name(base));
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            let len = file.metadata()?.len();
            let last = i + 1 == bases.len();
            if !last && base + len <= acked {
                fs::remove_file(&path)?;
                continue;
            }
            let mut valid = 0u64;
            let mut problem = None;
            loop {
                let mut bad = None;
                scan(&file, base, valid, len, |off, d| match d {
                    Decoded::Ok { len: l, body } => {
                        valid = off + l as u64 - base;
                        // A retracted record's request was refused: a retry
                        // must not be taken for a duplicate.
                        if body.flags & (segment::FLAG_RETRACTED | segment::FLAG_DAMAGED) == 0 {
                            rec.event_hashes.push((body.event_hash, body.ingest_ms));
                        }
                        if off >= acked && body.flags & segment::FLAG_PURGED == 0 {
                            rec.records += 1;
                        }
                        true
                    }
                    Decoded::Incomplete => {
                        bad = Some("torn record at the tail");
                        false
                    }
                    Decoded::Corrupt(why) => {
                        bad = Some(why);
                        false
                    }
                })?;
                let Some(why) = bad else { break };
                // Damage with whole records after it is not a torn tail:
                // those records are kept, and only the damaged bytes are
                // set aside.
                match set_aside_damage(name, dir, &path, &file, base, valid, len, why)? {
                    Some(next) => {
                        rec.damaged_bytes += next - valid;
                        valid = next;
                    }
                    None => {
                        problem = Some(why);
                        break;
                    }
                }
            }
            if valid < len {
                tracing::warn!(
                    partner = name,
                    segment = %path.display(),
                    valid_bytes = valid,
                    dropped_bytes = len - valid,
                    problem = problem.unwrap_or("trailing bytes"),
                    "outbox recovery: truncating a damaged segment tail; every record before it is kept"
                );
                file.set_len(valid)?;
                file.sync_all()?;
                rec.truncated_bytes += len - valid;
            }
            end = base + valid;
            segments.insert(
                base,
                SegInfo {
                    path,
                    end: if last { None } else { Some(base + valid) },
                },
            );
        }
        if acked > end {
            // The partner took records the log no longer holds: it was cut,
            // or a segment removed, while the gateway was stopped, and
            // whatever was written after those records is gone with them.
            tracing::error!(
                dir = %dir.display(),
                acknowledged_position = acked,
                log_end = end,
                "outbox recovery: the log ends before the position its partner acknowledged; it was cut or a segment was removed while the gateway was stopped, and events written after that position are lost"
            );
            acked = end;
        }
        let first = segments.keys().next().copied();
        if let Some(first) = first {
            if acked < first {
                acked = first;
            }
        }
        // The segment being written: the last one, or a new one at `end`.
        let (cur_base, cur_file) = match segments.iter().next_back() {
            Some((&b, info)) if info.end.is_none() => {
                let f = OpenOptions::new().append(true).open(&info.path)?;
                (b, f)
            }
            _ => {
                let path = dir.join(seg_name(end));
                let f = OpenOptions::new().create(true).append(true).open(&path)?;
                f.sync_all()?;
                sync_dir(dir)?;
                segments.insert(end, SegInfo { path, end: None });
                (end, f)
            }
        };
        let cur_len = end - cur_base;
        rec.bytes = end - acked;

        let (durable_end, _) = watch::channel(end);
        let shared = Arc::new(Shared {
            segments: Mutex::new(segments),
            durable_end,
            acked: AtomicU64::new(acked),
            used_bytes: AtomicU64::new(end - acked),
            max_bytes: AtomicU64::new(max_bytes),
            events: AtomicI64::new(rec.records as i64),
            writable: AtomicBool::new(true),
            busy_since_ms: AtomicU64::new(0),
            purges: AtomicU64::new(0),
        });
        let ack_file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&ack_path)?;
        let (tx, rx) = mpsc::channel();
        let mut writer = Writer {
            name: name.to_owned(),
            dir: dir.to_owned(),
            shared: shared.clone(),
            cur_base,
            cur_len,
            synced: end,
            holds: BTreeSet::new(),
            cur: cur_file,
            ack_file,
            ack_dirty: false,
            last_ack_sync: Instant::now(),
            purged: BTreeSet::new(),
            dead_letters,
            failed_writes: Default::default(),
        };
        // Tombstones still waiting count toward nothing: remember them so an
        // ack over them does not subtract them twice.
        writer.load_purged(acked)?;
        // A disk already full (or read-only) at start: not ready until a
        // probe or a write succeeds, rather than ready until the first
        // request fails. Checked before the gateway listens.
        if !writer.disk_takes_a_write() {
            tracing::error!(partner = %name, "outbox cannot be written at start (disk full or read-only?); /readyz is 503 until it can");
            writer.shared.writable.store(false, Ordering::Relaxed);
        }
        let thread = std::thread::Builder::new()
            .name(format!("outbox-{name}"))
            .spawn(move || writer.run(rx))?;
        Ok((
            Arc::new(PartnerLog {
                name: name.to_owned(),
                dir: dir.to_owned(),
                shared,
                tx: Mutex::new(Some(tx)),
                thread: Mutex::new(Some(thread)),
            }),
            rec,
        ))
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The directory holding the log's segments (and delivery's
    /// `inflight` record).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn max_bytes(&self) -> u64 {
        self.shared.max_bytes.load(Ordering::Relaxed)
    }

    pub fn set_max_bytes(&self, m: u64) {
        self.shared.max_bytes.store(m, Ordering::Relaxed)
    }

    /// Records waiting (not acked, not purged).
    pub fn pending_events(&self) -> u64 {
        self.shared.events.load(Ordering::Relaxed).max(0) as u64
    }

    /// Bytes waiting plus bytes reserved by requests being written.
    pub fn pending_bytes(&self) -> u64 {
        self.shared.used_bytes.load(Ordering::Relaxed)
    }

    /// The last write succeeded, the log is open, and no write has been
    /// waiting on the disk for [`STALLED_AFTER`] or more (an fsync that
    /// hangs would otherwise hold every ingest while `/readyz` said 200).
    pub fn is_writable(&self) -> bool {
        self.shared.writable.load(Ordering::Relaxed)
            && !self.is_stalled(crate::util::now_ms())
            && self.tx.lock().unwrap().is_some()
    }

    /// Has the write in progress, if any, been waiting since before
    /// `now_ms - STALLED_AFTER`?
    fn is_stalled(&self, now_ms: u64) -> bool {
        let since = self.shared.busy_since_ms.load(Ordering::Relaxed);
        since != 0 && now_ms.saturating_sub(since) >= STALLED_AFTER.as_millis() as u64
    }

    /// Reserves room for `bytes`; false when the bound would be exceeded.
    pub fn reserve(&self, bytes: u64) -> bool {
        let max = self.max_bytes();
        self.shared
            .used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                (u + bytes <= max).then_some(u + bytes)
            })
            .is_ok()
    }

    pub fn release(&self, bytes: u64) {
        let _ = self
            .shared
            .used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(bytes))
            });
    }

    /// Closed by [`PartnerLog::close`] (its partner was removed, or the
    /// gateway is stopping): appends fail.
    pub fn is_closed(&self) -> bool {
        self.tx.lock().unwrap().is_none()
    }

    fn send(&self, cmd: Cmd) -> io::Result<()> {
        match self.tx.lock().unwrap().as_ref() {
            Some(tx) => tx
                .send(cmd)
                .map_err(|_| io::Error::other("outbox writer stopped")),
            None => Err(io::Error::other("outbox closed")),
        }
    }

    /// Writes encoded records (see [`segment::encode`]) durably. The caller
    /// has reserved `buf.len()` bytes; on error the reservation is released
    /// and nothing of `buf` stays in the log.
    pub async fn append(&self, buf: Vec<u8>, records: u64) -> io::Result<()> {
        self.append_inner(buf, records, false).await.map(|_| ())
    }

    /// Like [`PartnerLog::append`], but the records stay invisible to
    /// readers until [`Held::commit`]; dropping the [`Held`] retracts them.
    /// For a request written to several partners: all or none.
    pub async fn append_held(self: &Arc<Self>, buf: Vec<u8>, records: u64) -> io::Result<Held> {
        let (from, upto) = self.append_inner(buf, records, true).await?;
        Ok(Held {
            log: self.clone(),
            from,
            upto,
            done: false,
        })
    }

    async fn append_inner(&self, buf: Vec<u8>, records: u64, hold: bool) -> io::Result<(u64, u64)> {
        let len = buf.len() as u64;
        let (reply, rx) = oneshot::channel();
        let res = match self.send(Cmd::Append {
            buf,
            records,
            hold,
            reply,
        }) {
            Ok(()) => rx
                .await
                .unwrap_or_else(|_| Err(io::Error::other("outbox writer stopped"))),
            Err(e) => Err(e),
        };
        if res.is_err() {
            self.release(len);
        }
        res
    }

    /// Acknowledges every record in `[from, upto)`; `records` is how many
    /// records (purged ones included) the range holds.
    pub fn ack(&self, from: u64, upto: u64, records: u64) {
        let _ = self.send(Cmd::Ack {
            from,
            upto,
            records,
        });
    }

    /// Overwrites every waiting record carrying one of `subjects` (a
    /// person's hashes); returns how many.
    pub async fn purge(&self, subjects: &[SubjectHash]) -> io::Result<u64> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Purge {
            subjects: subjects.to_vec(),
            reply,
        })?;
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("outbox writer stopped")))
    }

    /// Moves the oldest records to dead letters until `need` bytes are
    /// free; returns the bytes freed and the events dead-lettered.
    pub async fn evict(&self, need: u64) -> io::Result<(u64, u64)> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Evict { need, reply })?;
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("outbox writer stopped")))
    }

    /// Syncs the ack position.
    pub async fn flush(&self) -> io::Result<()> {
        let (reply, rx) = oneshot::channel();
        self.send(Cmd::Flush { reply })?;
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("outbox writer stopped")))
    }

    /// Stops the writer after it has finished what is queued.
    pub fn close(&self) {
        self.tx.lock().unwrap().take();
        if let Some(t) = self.thread.lock().unwrap().take() {
            let _ = t.join();
        }
    }

    pub fn reader(&self) -> Reader {
        Reader {
            shared: self.shared.clone(),
            pos: self.shared.acked(),
            file: None,
            rx: self.shared.durable_end.subscribe(),
            record_len: 0,
        }
    }
}

impl Drop for PartnerLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// Records appended and synced but not yet visible to readers (see
/// [`PartnerLog::append_held`]). Dropped without [`Held::commit`] (the
/// request failed for another partner, or its future was dropped), they
/// are retracted.
#[derive(Debug)]
#[must_use = "held records are retracted when dropped"]
pub struct Held {
    log: Arc<PartnerLog>,
    from: u64,
    upto: u64,
    done: bool,
}

impl Held {
    /// Makes the records visible (to be delivered); returns once readers
    /// can see them, so a producer's 202 is never ahead of the feed.
    pub async fn commit(mut self) {
        self.done = true;
        let (reply, rx) = oneshot::channel();
        if self
            .log
            .send(Cmd::Release {
                from: self.from,
                retract: None,
                reply: Some(reply),
            })
            .is_ok()
        {
            let _ = rx.await;
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.log.send(Cmd::Release {
                from: self.from,
                retract: Some(self.upto),
                reply: None,
            });
        }
    }
}

/// An append waiting for the group commit: records, their count, held,
/// and whom to answer with their range.
type Pending = (Vec<u8>, u64, bool, oneshot::Sender<io::Result<(u64, u64)>>);

struct Writer {
    name: String,
    dir: PathBuf,
    shared: Arc<Shared>,
    cur_base: u64,
    cur_len: u64,
    /// End of what is written and fsync'd (`cur_base <= synced <= end`).
    synced: u64,
    /// First offsets of held appends (see [`Held`]): readers see nothing
    /// from the first of them on.
    holds: BTreeSet<u64>,
    cur: File,
    ack_file: File,
    ack_dirty: bool,
    last_ack_sync: Instant,
    /// Offsets of purged records not yet acked.
    purged: BTreeSet<u64>,
    dead_letters: Arc<DeadLetters>,
    /// Failed writes in a row (each request of a failing disk fails).
    failed_writes: crate::util::FailuresInARow,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Cmd>) {
        loop {
            let first = match rx.recv_timeout(ACK_SYNC_INTERVAL) {
                Ok(c) => c,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    self.sync_ack_if_due(true);
                    if !self.shared.writable.load(Ordering::Relaxed) {
                        self.probe();
                    }
                    continue;
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            };
            let mut appends = Vec::new();
            let mut cmd = Some(first);
            while let Some(c) = cmd.take() {
                match c {
                    Cmd::Append {
                        buf,
                        records,
                        hold,
                        reply,
                    } => appends.push((buf, records, hold, reply)),
                    // Acks and releases only concern durable records: no
                    // need to cut the group commit short for them.
                    c @ (Cmd::Ack { .. } | Cmd::Release { .. }) => self.handle(c),
                    other => {
                        // Purge and evict must see what was appended before
                        // them: write that first.
                        self.write_appends(std::mem::take(&mut appends));
                        self.handle(other);
                    }
                }
                cmd = rx.try_recv().ok();
            }
            self.write_appends(appends);
            self.sync_ack_if_due(false);
        }
        self.write_appends(Vec::new());
        self.sync_ack_if_due(true);
        let _ = self.cur.sync_data();
    }

    fn handle(&mut self, c: Cmd) {
        match c {
            Cmd::Append { .. } => unreachable!("appends are batched by run"),
            Cmd::Ack {
                from,
                upto,
                records,
            } => self.ack(from, upto, Some(records)),
            Cmd::Release {
                from,
                retract,
                reply,
            } => {
                if let Some(upto) = retract {
                    self.retract(from, upto);
                }
                self.holds.remove(&from);
                self.publish();
                if let Some(r) = reply {
                    let _ = r.send(());
                }
            }
            Cmd::Purge { subjects, reply } => {
                let _ = reply.send(self.purge(&subjects));
            }
            Cmd::Evict { need, reply } => {
                let _ = reply.send(self.evict(need));
            }
            Cmd::Flush { reply } => {
                let r = self.cur.sync_data().and_then(|_| self.ack_file.sync_data());
                self.ack_dirty = false;
                let _ = reply.send(r);
            }
        }
    }

    fn write_appends(&mut self, appends: Vec<Pending>) {
        if appends.is_empty() {
            return;
        }
        self.shared
            .busy_since_ms
            .store(crate::util::now_ms().max(1), Ordering::Relaxed);
        // Cleared by write_appends_inner once the write and sync returned,
        // before any producer is answered.
        self.write_appends_inner(appends);
    }

    fn write_appends_inner(&mut self, appends: Vec<Pending>) {
        let mut err = None;
        let mut ranges = Vec::with_capacity(appends.len());
        for (buf, _, _, _) in &appends {
            if err.is_some() {
                ranges.push(None);
                continue;
            }
            match self.write_one(buf) {
                Ok(from) => ranges.push(Some((from, from + buf.len() as u64))),
                Err(e) => {
                    err = Some(e);
                    ranges.push(None);
                }
            }
        }
        if err.is_none() {
            match self.cur.sync_data() {
                Ok(()) => self.synced = self.end(),
                Err(e) => err = Some(e),
            }
        }
        match &err {
            None => {
                self.shared.writable.store(true, Ordering::Relaxed);
                let failures = self.failed_writes.succeed();
                if failures > 0 {
                    tracing::info!(partner = %self.name, failures, "outbox writes succeed again");
                }
            }
            Some(e) => {
                if self.failed_writes.fail() {
                    tracing::error!(partner = %self.name, error = %e, "outbox write failed; the requests get 503 and are not acknowledged (logged at the 1st, 2nd, 4th... failure in a row)");
                }
                self.shared.writable.store(false, Ordering::Relaxed);
                // Anything past the synced end is cut off so the next
                // append starts on a record boundary and no reader sees it.
                self.cut_back();
            }
        }
        self.shared.busy_since_ms.store(0, Ordering::Relaxed);
        let mut answers = Vec::with_capacity(appends.len());
        for ((_, records, hold, reply), range) in appends.into_iter().zip(ranges) {
            // An append before a segment roll was synced by the roll.
            let res = match range {
                Some((from, upto)) if upto <= self.synced => Ok((from, upto)),
                _ => Err(match &err {
                    Some(e) => io::Error::new(e.kind(), e.to_string()),
                    None => io::Error::other("outbox write failed"),
                }),
            };
            if let Ok((from, _)) = res {
                self.shared
                    .events
                    .fetch_add(records as i64, Ordering::Relaxed);
                if hold {
                    self.holds.insert(from);
                }
            }
            answers.push((hold, reply, res));
        }
        // Readers see the records before their writers are answered.
        self.publish();
        for (hold, reply, res) in answers {
            let held = match (&res, hold) {
                (Ok(range), true) => Some(*range),
                _ => None,
            };
            if reply.send(res).is_err() {
                if let Some((from, upto)) = held {
                    // The request went away before it could commit.
                    self.retract(from, upto);
                    self.holds.remove(&from);
                    self.publish();
                }
            }
        }
    }

    /// Does the log's directory take a 4 KiB write, synced (a probe file,
    /// removed after)?
    fn disk_takes_a_write(&self) -> bool {
        let path = self.dir.join("probe");
        let res = (|| {
            let mut f = File::create(&path)?;
            f.write_all(&[0u8; 4096])?;
            f.sync_data()
        })();
        let _ = fs::remove_file(&path);
        res.is_ok()
    }

    /// Cuts the current segment back to the synced end.
    fn cut_back(&mut self) {
        let keep = self.synced.saturating_sub(self.cur_base);
        match self.cur.set_len(keep) {
            Ok(()) => self.cur_len = keep,
            Err(e) => {
                if self.failed_writes.logged() {
                    tracing::error!(partner = %self.name, error = %e, "outbox: cannot cut back a failed write; the partner's outbox takes no writes until a probe or a write succeeds");
                }
                self.shared.writable.store(false, Ordering::Relaxed);
            }
        }
    }

    /// Lets readers see everything synced before the first held append.
    fn publish(&self) {
        let visible = self
            .holds
            .first()
            .copied()
            .unwrap_or(self.synced)
            .min(self.synced);
        self.shared.durable_end.send_if_modified(|v| {
            let changed = *v != visible;
            *v = visible;
            changed
        });
    }

    /// While writes fail: checks whether the disk takes a write again, so
    /// readiness comes back without a request having to succeed first.
    fn probe(&mut self) {
        if self.disk_takes_a_write() && self.synced == self.end() {
            tracing::info!(partner = %self.name, "outbox writable again");
            self.shared.writable.store(true, Ordering::Relaxed);
        }
    }

    /// Tombstones the records of `[from, upto)` (appended, never
    /// acknowledged to their producer) with `FLAG_RETRACTED`.
    fn retract(&mut self, from: u64, upto: u64) {
        let from = from.max(self.shared.acked());
        let mut hits = Vec::new();
        let r = self.each_record(from, upto, |_, off, d| {
            if let Decoded::Ok { len, body } = d {
                if body.flags & segment::FLAG_PURGED == 0 {
                    hits.push((off, len, body.ingest_ms, body.event_hash));
                }
            }
            Ok(true)
        });
        let r = r.and_then(|_| {
            let segs = self.shared.segments.lock().unwrap().clone();
            let mut files: Vec<(u64, File)> = Vec::new();
            for (off, len, ms, eh) in &hits {
                let Some((&base, info)) = segs.range(..=*off).next_back() else {
                    continue;
                };
                if !files.iter().any(|(b, _)| *b == base) {
                    files.push((base, OpenOptions::new().write(true).open(&info.path)?));
                }
                let f = &files.iter().find(|(b, _)| *b == base).expect("opened").1;
                let flags = segment::FLAG_PURGED | segment::FLAG_RETRACTED;
                f.write_all_at(&segment::tombstone(*len, flags, *ms, eh), off - base)?;
            }
            for (_, f) in &files {
                f.sync_data()?;
            }
            Ok(())
        });
        match r {
            Ok(()) => {
                for (off, ..) in &hits {
                    self.purged.insert(*off);
                }
                let n = hits.len() as i64;
                self.shared.events.fetch_sub(n, Ordering::Relaxed);
                self.shared.purges.fetch_add(1, Ordering::Release);
            }
            Err(e) => tracing::error!(
                partner = %self.name,
                error = %e,
                "outbox: cannot retract the records of a refused request; they will be delivered, and a retry of the request may deliver them twice"
            ),
        }
    }

    /// Writes `buf` (after a roll if the segment is full); returns the
    /// offset of its first byte.
    fn write_one(&mut self, buf: &[u8]) -> io::Result<u64> {
        let seg_max = segment_max(self.shared.max_bytes.load(Ordering::Relaxed));
        if self.cur_len > 0 && self.cur_len + buf.len() as u64 > seg_max {
            self.roll()?;
        }
        let from = self.end();
        if let Err(e) = self.cur.write_all(buf) {
            // Partly written: the caller cuts back to the synced end.
            self.cur_len = self.cur.metadata().map_or(self.cur_len, |m| m.len());
            return Err(e);
        }
        self.cur_len += buf.len() as u64;
        Ok(from)
    }

    fn roll(&mut self) -> io::Result<()> {
        self.cur.sync_data()?;
        let end = self.cur_base + self.cur_len;
        let path = self.dir.join(seg_name(end));
        let f = OpenOptions::new().create(true).append(true).open(&path)?;
        sync_dir(&self.dir)?;
        let mut segs = self.shared.segments.lock().unwrap();
        if let Some(info) = segs.get_mut(&self.cur_base) {
            info.end = Some(end);
        }
        segs.insert(end, SegInfo { path, end: None });
        drop(segs);
        self.cur = f;
        self.cur_base = end;
        self.cur_len = 0;
        // Data before `end` is durable (synced above); the group commit
        // publishes it (held appends among it stay invisible).
        self.synced = end;
        Ok(())
    }

    fn end(&self) -> u64 {
        self.cur_base + self.cur_len
    }

    /// Acks `[from, upto)`. With `records == None`, or when the range
    /// overlaps what is already acked, the records are counted from disk.
    fn ack(&mut self, from: u64, upto: u64, records: Option<u64>) {
        let acked = self.shared.acked();
        let upto = upto.min(self.end());
        if upto <= acked {
            return;
        }
        let live = match records {
            Some(n) if from == acked => {
                let tomb = self.purged.range(acked..upto).count() as u64;
                n.saturating_sub(tomb)
            }
            _ => match self.count_live(acked, upto) {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(partner = %self.name, error = %e, "outbox: cannot count acked records");
                    0
                }
            },
        };
        let tail = self.purged.split_off(&upto);
        self.purged = tail;
        self.shared.events.fetch_sub(live as i64, Ordering::Relaxed);
        let freed = upto - acked;
        let _ = self
            .shared
            .used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(freed))
            });
        self.shared.acked.store(upto, Ordering::Release);
        let mut rec = [0u8; 16];
        rec[..8].copy_from_slice(&upto.to_le_bytes());
        rec[8..12].copy_from_slice(&crc32fast::hash(&upto.to_le_bytes()).to_le_bytes());
        rec[12..].copy_from_slice(b"ACK1");
        if let Err(e) = self.ack_file.write_all_at(&rec, 0) {
            tracing::error!(partner = %self.name, error = %e, "outbox: cannot write ack position");
        }
        self.ack_dirty = true;
        // Delete closed segments that are wholly acked.
        let mut segs = self.shared.segments.lock().unwrap();
        let dead: Vec<u64> = segs
            .iter()
            .filter(|(_, i)| i.end.is_some_and(|e| e <= upto))
            .map(|(b, _)| *b)
            .collect();
        for b in dead {
            if let Some(info) = segs.remove(&b) {
                delete_segment(&self.name, info.path);
            }
        }
    }

    fn sync_ack_if_due(&mut self, force: bool) {
        if self.ack_dirty && (force || self.last_ack_sync.elapsed() >= ACK_SYNC_INTERVAL) {
            let _ = self.ack_file.sync_data();
            self.ack_dirty = false;
            self.last_ack_sync = Instant::now();
        }
    }

    /// Calls `f(offset, decoded)` for every record in `[from, upto)`.
    fn each_record(
        &self,
        from: u64,
        upto: u64,
        mut f: impl FnMut(&File, u64, Decoded<'_>) -> io::Result<bool>,
    ) -> io::Result<()> {
        let segs: Vec<(u64, SegInfo)> = self
            .shared
            .segments
            .lock()
            .unwrap()
            .iter()
            .map(|(b, i)| (*b, i.clone()))
            .collect();
        for (base, info) in segs {
            let seg_end = info.end.unwrap_or(self.end());
            if seg_end <= from || base >= upto {
                continue;
            }
            let file = OpenOptions::new().read(true).write(true).open(&info.path)?;
            let start = from.max(base) - base;
            let stop = upto.min(seg_end) - base;
            let mut err = None;
            let mut go_on = true;
            scan(&file, base, start, stop, |off, d| match f(&file, off, d) {
                Ok(c) => {
                    go_on = c;
                    c
                }
                Err(e) => {
                    err = Some(e);
                    false
                }
            })?;
            if let Some(e) = err {
                return Err(e);
            }
            if !go_on {
                break;
            }
        }
        Ok(())
    }

    fn count_live(&self, from: u64, upto: u64) -> io::Result<u64> {
        let mut n = 0;
        self.each_record(from, upto, |_, _, d| {
            if let Decoded::Ok { body, .. } = d {
                if body.flags & segment::FLAG_PURGED == 0 {
                    n += 1;
                }
            }
            Ok(true)
        })?;
        Ok(n)
    }

    fn load_purged(&mut self, from: u64) -> io::Result<()> {
        let mut purged = BTreeSet::new();
        self.each_record(from, self.end(), |_, off, d| {
            if let Decoded::Ok { body, .. } = d {
                if body.flags & segment::FLAG_PURGED != 0 {
                    purged.insert(off);
                }
            }
            Ok(true)
        })?;
        self.purged = purged;
        Ok(())
    }

    fn purge(&mut self, subjects: &[SubjectHash]) -> io::Result<u64> {
        let mut hits: Vec<(u64, usize, u64, SubjectHash)> = Vec::new();
        let (from, upto) = (self.shared.acked(), self.end());
        self.each_record(from, upto, |_, off, d| {
            if let Decoded::Ok { len, body } = d {
                if body.flags & segment::FLAG_PURGED == 0 && body.has_subject(subjects) {
                    hits.push((off, len, body.ingest_ms, body.event_hash));
                }
            }
            Ok(true)
        })?;
        if hits.is_empty() {
            return Ok(0);
        }
        // Each segment opened once and synced once, after all of its
        // records are marked: one sync per record held appends (and the
        // whole ingest) for ~20 s when a person had ~18k events queued.
        let segs = self.shared.segments.lock().unwrap().clone();
        let mut open: Option<(u64, File)> = None;
        for (off, len, ms, eh) in &hits {
            let Some((&base, info)) = segs.range(..=*off).next_back() else {
                continue;
            };
            if open.as_ref().is_none_or(|(b, _)| *b != base) {
                if let Some((_, f)) = open.take() {
                    f.sync_data()?;
                }
                open = Some((base, OpenOptions::new().write(true).open(&info.path)?));
            }
            let (_, f) = open.as_ref().expect("opened above");
            f.write_all_at(&segment::purged(*len, *ms, eh), off - base)?;
        }
        if let Some((_, f)) = open.take() {
            f.sync_data()?;
        }
        // Taken out for readers only once durable.
        for (off, ..) in &hits {
            self.purged.insert(*off);
        }
        let n = hits.len() as u64;
        self.shared.events.fetch_sub(n as i64, Ordering::Relaxed);
        self.shared.purges.fetch_add(1, Ordering::Release);
        Ok(n)
    }

    fn evict(&mut self, need: u64) -> io::Result<(u64, u64)> {
        let acked = self.shared.acked();
        let mut upto = acked;
        let mut moved = Vec::new();
        self.each_record(acked, self.end(), |_, off, d| {
            if let Decoded::Ok { len, body } = d {
                if body.flags & segment::FLAG_PURGED == 0 {
                    moved.push((
                        body.ingest_ms,
                        crate::policy::Subjects::from_bytes(body.subjects),
                        body.payload.to_vec(),
                    ));
                }
                upto = off + len as u64;
            }
            Ok(upto - acked < need)
        })?;
        if upto == acked {
            return Ok((0, 0));
        }
        let events = self.dead_letters.write_many(
            &self.name,
            moved.iter().map(|(ms, subj, p)| (*ms, subj, p.as_slice())),
            "outbox_full",
            None,
        )?;
        self.ack(acked, upto, None);
        Ok((upto - acked, events))
    }
}

fn read_ack(path: &Path) -> Option<u64> {
    let b = fs::read(path).ok()?;
    if b.len() < 16 || &b[12..16] != b"ACK1" {
        return None;
    }
    let v = u64::from_le_bytes(b[..8].try_into().ok()?);
    let crc = u32::from_le_bytes(b[8..12].try_into().ok()?);
    (crc32fast::hash(&v.to_le_bytes()) == crc).then_some(v)
}

/// Damaged bytes inside segment `path` (global `base`) at local offset
/// `at`, found at a restart, when whole records follow them (a flipped bit,
/// a bad sector, a write torn in place by a power cut during a purge): the
/// damaged bytes are copied to `damaged-<global offset>.bin` beside the
/// segment (for an operator to inspect), then replaced by one purged record
/// of the same length flagged [`segment::FLAG_DAMAGED`], so that every
/// record after them stays readable. Returns the local offset of the next
/// whole record, or `None` when nothing whole follows (a torn tail, cut by
/// the caller) or the damage is too short to be replaced by a record.
#[allow(clippy::too_many_arguments)]
fn set_aside_damage(
    name: &str,
    dir: &Path,
    path: &Path,
    file: &File,
    base: u64,
    at: u64,
    len: u64,
    why: &str,
) -> io::Result<Option<u64>> {
    use std::os::unix::fs::FileExt;
    let rest = read_chunk_at(file, at, (len - at) as usize)?;
    let Some(k) = rest.get(1..).and_then(segment::resync) else {
        return Ok(None);
    };
    let damaged = k + 1;
    if damaged < segment::HEADER_LEN + segment::FIXED_BODY_LEN {
        return Ok(None);
    }
    let copy = dir.join(format!("damaged-{:020}.bin", base + at));
    {
        let mut f = File::create(&copy)?;
        io::Write::write_all(&mut f, &rest[..damaged])?;
        f.sync_all()?;
    }
    sync_dir(dir)?;
    let filler = segment::tombstone(
        damaged,
        segment::FLAG_PURGED | segment::FLAG_DAMAGED,
        0,
        &[0; 16],
    );
    file.write_all_at(&filler, at)?;
    file.sync_all()?;
    let after = segment::records(&rest[damaged..]).count();
    tracing::error!(
        log = name,
        segment = %path.display(),
        offset = base + at,
        damaged_bytes = damaged,
        records_after = after,
        problem = why,
        copy = %copy.display(),
        "recovery: bytes damaged on disk inside a segment; the records they held are lost, every record before and after them is kept (the damaged bytes are copied beside the segment)"
    );
    Ok(Some(at + damaged as u64))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Reads records of `file` (a segment starting at global `base`) between
/// local offsets `start` and `stop`, calling `f(global_offset, decoded)`
/// until it returns false. A `Decoded::Incomplete` or `Corrupt` is passed
/// to `f` once and ends the scan.
pub(crate) fn scan(
    file: &File,
    base: u64,
    start: u64,
    stop: u64,
    mut f: impl FnMut(u64, Decoded<'_>) -> bool,
) -> io::Result<()> {
    scan_shared(file, base, start, stop, READ_CHUNK, |off, d, _| f(off, d))
}

/// [`scan`], also passing the chunk read from the file that holds the
/// record, so that a reader can keep its payload as a slice of it
/// (`chunk.slice_ref(body.payload)`) rather than copy it. Each chunk is a
/// buffer of its own: the slices keep it alive, at most [`READ_CHUNK`] (or
/// one record) per chunk. `chunk` is the size to read at a time when the
/// range is longer (a reader that expects to stop early reads less).
fn scan_shared(
    file: &File,
    base: u64,
    start: u64,
    stop: u64,
    chunk: usize,
    mut f: impl FnMut(u64, Decoded<'_>, &bytes::Bytes) -> bool,
) -> io::Result<()> {
    let mut pos = start;
    // Small ranges (a push batch under load) need no megabyte buffer.
    let mut size = ((stop - start) as usize)
        .min(chunk)
        .clamp(MIN_CHUNK, READ_CHUNK);
    while pos < stop {
        let want = ((stop - pos) as usize).min(size);
        let buf = read_chunk_at(file, pos, want)?;
        let n = buf.len();
        if n == 0 {
            f(base + pos, Decoded::Incomplete, &bytes::Bytes::new());
            return Ok(());
        }
        let chunk = bytes::Bytes::from(buf);
        let mut at = 0usize;
        loop {
            match segment::decode(&chunk[at..]) {
                Decoded::Ok { len, body } => {
                    if !f(base + pos + at as u64, Decoded::Ok { len, body }, &chunk) {
                        return Ok(());
                    }
                    at += len;
                }
                Decoded::Incomplete => {
                    if at == 0 {
                        // A record larger than the buffer, or a torn tail.
                        let need = chunk
                            .get(..4)
                            .map(|l| {
                                u32::from_le_bytes(l.try_into().unwrap()) as usize
                                    + segment::HEADER_LEN
                            })
                            .unwrap_or(0);
                        if pos + (n as u64) >= stop || need <= size {
                            f(base + pos, Decoded::Incomplete, &chunk);
                            return Ok(());
                        }
                        size = need;
                    }
                    break;
                }
                Decoded::Corrupt(why) => {
                    f(base + pos + at as u64, Decoded::Corrupt(why), &chunk);
                    return Ok(());
                }
            }
            if at >= chunk.len() {
                break;
            }
        }
        pos += at as u64;
    }
    Ok(())
}

/// Up to `want` bytes of `file` from `off`, read into a buffer that is not
/// zeroed first (a chunk is read into fresh memory each time, see
/// [`scan_shared`]). Moves the file's cursor: every [`File`] a scan reads
/// is its own.
fn read_chunk_at(file: &File, off: u64, want: usize) -> io::Result<Vec<u8>> {
    use std::io::{Read, Seek};
    let mut f = file;
    f.seek(io::SeekFrom::Start(off))?;
    let mut buf = Vec::with_capacity(want);
    f.take(want as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

/// A cursor over one partner's durable records. Each consumer (the push
/// worker, the pull feed) owns one.
#[derive(Debug)]
pub struct Reader {
    shared: Arc<Shared>,
    pos: u64,
    file: Option<(u64, File)>,
    rx: watch::Receiver<u64>,
    /// The mean record length of the last batch read (0 before the first):
    /// a batch of `max_records` reads about that many bytes from the file,
    /// not a whole [`READ_CHUNK`].
    record_len: usize,
}

impl Reader {
    pub fn position(&self) -> u64 {
        self.pos
    }

    pub fn seek(&mut self, pos: u64) {
        self.pos = pos;
    }

    /// True when durable records lie past the position.
    pub fn has_data(&self) -> bool {
        self.shared.durable_end() > self.pos.max(self.shared.acked())
    }

    /// Waits until there is data past the position or `timeout` passes.
    pub async fn wait(&mut self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if self.has_data() {
                return true;
            }
            match tokio::time::timeout_at(deadline, self.rx.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return self.has_data(),
            }
        }
    }

    /// Reads up to `max_records` records (purged ones included, flagged)
    /// and about `max_bytes` of data from the position, advancing it. Does
    /// not wait. Blocking file I/O: call from a blocking context.
    pub fn read_batch(&mut self, max_records: usize, max_bytes: usize) -> io::Result<Vec<Record>> {
        let acked = self.shared.acked();
        if self.pos < acked {
            self.pos = acked;
        }
        let durable = self.shared.durable_end();
        let (chunk, expected) = match self.record_len {
            0 => (READ_CHUNK, 0),
            len => {
                let n = max_records
                    .min(max_bytes / len + 1)
                    .min(READ_CHUNK / len + 1);
                // A little over: records vary in length.
                (n.saturating_mul(len).saturating_add(n * len / 8), n)
            }
        };
        let mut out = Vec::with_capacity(expected);
        let mut bytes = 0usize;
        while out.len() < max_records && bytes < max_bytes && self.pos < durable {
            let seg = {
                let segs = self.shared.segments.lock().unwrap();
                match segs.range(..=self.pos).next_back() {
                    Some((&b, info)) if info.end.is_none_or(|e| self.pos < e) => {
                        Some((b, info.clone()))
                    }
                    _ => segs
                        .range(self.pos + 1..)
                        .next()
                        .map(|(&b, i)| (b, i.clone())),
                }
            };
            let Some((base, info)) = seg else { break };
            if base > self.pos {
                self.pos = base; // a gap left by recovery or deletion
                continue;
            }
            let seg_end = info.end.unwrap_or(durable).min(durable);
            if self.file.as_ref().map(|(b, _)| *b) != Some(base) {
                self.file = Some((base, File::open(&info.path)?));
            }
            let (_, file) = self.file.as_ref().unwrap();
            let mut next = self.pos;
            let mut corrupt = None;
            scan_shared(
                file,
                base,
                self.pos - base,
                seg_end - base,
                chunk,
                |off, d, chunk| match d {
                    Decoded::Ok { len, body } => {
                        next = off + len as u64;
                        bytes += len;
                        out.push(Record {
                            offset: off,
                            end: next,
                            ingest_ms: body.ingest_ms,
                            event_hash: body.event_hash,
                            purged: body.flags & segment::FLAG_PURGED != 0,
                            subjects: crate::policy::Subjects::from_bytes(body.subjects),
                            payload: chunk.slice_ref(body.payload),
                        });
                        out.len() < max_records && bytes < max_bytes
                    }
                    Decoded::Incomplete | Decoded::Corrupt(_) => {
                        corrupt = Some(off);
                        false
                    }
                },
            )?;
            if let Some(off) = corrupt {
                // Skip the damaged bytes to the next whole record of the
                // segment (the next restart sets them aside for good, see
                // `set_aside_damage`), or to its end when none follows.
                let rest = read_chunk_at(file, off - base, (seg_end - off) as usize)?;
                let next = rest
                    .get(1..)
                    .and_then(segment::resync)
                    .map_or(seg_end, |k| off + 1 + k as u64);
                tracing::error!(
                    offset = off,
                    skipped_bytes = next - off,
                    "outbox: bytes damaged on disk inside durable data; the records they held are lost, reading goes on after them"
                );
                self.pos = next;
                continue;
            }
            if next == self.pos {
                break;
            }
            self.pos = next;
        }
        if !out.is_empty() {
            self.record_len = bytes / out.len();
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(buf: &mut Vec<u8>, id: u8) {
        segment::encode(buf, 1, &[id; 16], &[[id; 16]], b"{\"e\":1}");
    }

    fn segment_files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .expect("read_dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".seg"))
            .collect();
        v.sort();
        v
    }

    /// A write waiting on the disk for 5 s or more makes the log not
    /// writable (and `/readyz` 503) until it returns; a write that returns
    /// leaves no trace.
    #[tokio::test]
    async fn a_write_stalled_on_the_disk_makes_the_log_not_ready() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dl = Arc::new(DeadLetters::new(&dir.path().join("dl")).expect("dl"));
        let (log, _) = PartnerLog::open("p", &dir.path().join("p"), 1 << 20, dl).expect("open");
        let mut buf = Vec::new();
        record(&mut buf, 1);
        assert!(log.reserve(buf.len() as u64));
        log.append(buf, 1).await.expect("append");
        assert_eq!(log.shared.busy_since_ms.load(Ordering::Relaxed), 0);
        assert!(log.is_writable());
        // The writer began a write and sync 6 s ago and is still in it.
        let now = crate::util::now_ms();
        log.shared
            .busy_since_ms
            .store(now - 6_000, Ordering::Relaxed);
        assert!(!log.is_writable(), "stalled for 6 s");
        log.shared
            .busy_since_ms
            .store(now - 1_000, Ordering::Relaxed);
        assert!(log.is_writable(), "a write of 1 s is slow, not stalled");
        log.shared.busy_since_ms.store(0, Ordering::Relaxed);
        assert!(log.is_writable());
    }

    #[tokio::test]
    async fn acked_segments_are_deleted_and_the_rest_still_reads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p");
        let dl = Arc::new(DeadLetters::new(&dir.path().join("dl")).expect("dl"));
        let (log, _) = PartnerLog::open("p", &path, 1 << 30, dl.clone()).expect("open");
        // Records of 1 MiB: three segments (64 MiB each) and a bit.
        let body = vec![b'x'; 1 << 20];
        let mut one = Vec::new();
        segment::encode(&mut one, 1, &[7; 16], &[[7; 16]], &body);
        let per_seg = SEGMENT_MAX_BYTES / one.len() as u64;
        let n = 3 * per_seg + 2;
        for _ in 0..n {
            assert!(log.reserve(one.len() as u64));
            log.append(one.clone(), 1).await.expect("append");
        }
        assert_eq!(segment_files(&path).len(), 4);
        // Everything but the last two records acknowledged: the three full
        // segments go, the one being written stays.
        let upto = (n - 2) * one.len() as u64;
        log.ack(0, upto, n - 2);
        log.flush().await.expect("flush");
        let mut left = segment_files(&path);
        for _ in 0..500 {
            if left.len() == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            left = segment_files(&path);
        }
        assert_eq!(left, vec![seg_name(3 * per_seg * one.len() as u64)]);
        assert_eq!(log.pending_events(), 2);
        let mut r = log.reader();
        let recs = tokio::task::spawn_blocking(move || r.read_batch(10, 4 << 20))
            .await
            .expect("join")
            .expect("read");
        assert_eq!(recs.len(), 2, "the unacknowledged records still read");
        log.close();
        drop(log);
        let (_, rec) = PartnerLog::open("p", &path, 1 << 30, dl).expect("reopen");
        assert_eq!(rec.records, 2);
    }

    /// An outbox bounded at 1 MiB writes segments of 256 KiB: after 8 MiB
    /// written and delivered, what stays on disk is one small segment, not
    /// a 64 MiB one that a disk sized for the bound cannot hold (the
    /// eleventh fault pass filled a 20 MiB disk with empty outboxes).
    #[tokio::test]
    async fn a_small_outbox_frees_its_delivered_records_in_small_segments() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p");
        let dl = Arc::new(DeadLetters::new(&dir.path().join("dl")).expect("dl"));
        let bound = 1 << 20;
        let (log, _) = PartnerLog::open("p", &path, bound, dl).expect("open");
        let body = vec![b'x'; 16 << 10];
        let mut one = Vec::new();
        segment::encode(&mut one, 1, &[7; 16], &[[7; 16]], &body);
        let mut end = 0u64;
        for _ in 0..(8 << 20) / one.len() {
            assert!(log.reserve(one.len() as u64), "the bound is never reached");
            log.append(one.clone(), 1).await.expect("append");
            log.ack(end, end + one.len() as u64, 1);
            end += one.len() as u64;
            log.flush().await.expect("flush");
        }
        let on_disk = || -> u64 {
            segment_files(&path)
                .iter()
                .map(|f| fs::metadata(path.join(f)).map_or(0, |m| m.len()))
                .sum()
        };
        let mut left = on_disk();
        for _ in 0..500 {
            if left <= segment_max(bound) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            left = on_disk();
        }
        assert!(left <= segment_max(bound), "{left} bytes left on disk");
        assert_eq!(log.pending_events(), 0);
    }

    #[tokio::test]
    async fn damage_inside_a_segment_costs_only_the_damaged_record() {
        // One bit flipped in the first of 50 records, then one in the
        // length field of the tenth: a reader skips the two damaged records
        // and reads the 48 others, and so does a restart, which keeps a
        // copy of the damaged bytes and leaves the segment readable.
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p");
        let dl = Arc::new(DeadLetters::new(&dir.path().join("dl")).expect("dl"));
        let (log, _) = PartnerLog::open("p", &path, 1 << 30, dl.clone()).expect("open");
        let mut one = Vec::new();
        for i in 0..50u8 {
            let mut rec = Vec::new();
            record(&mut rec, i);
            one = rec.clone();
            assert!(log.reserve(rec.len() as u64));
            log.append(rec, 1).await.expect("append");
        }
        log.flush().await.expect("flush");
        let seg = path.join(seg_name(0));
        let mut bytes = fs::read(&seg).expect("read");
        let len = one.len();
        bytes[20] ^= 0x04;
        bytes[9 * len + 2] ^= 0x01;
        fs::write(&seg, &bytes).expect("write");
        let ids = |recs: Vec<Record>| -> Vec<u8> {
            recs.iter()
                .filter(|r| !r.purged)
                .map(|r| r.event_hash[0])
                .collect()
        };
        let want: Vec<u8> = (0..50u8).filter(|i| *i != 0 && *i != 9).collect();
        let mut r = log.reader();
        let live = tokio::task::spawn_blocking(move || r.read_batch(100, 4 << 20))
            .await
            .expect("join")
            .expect("read");
        assert_eq!(ids(live), want, "read while running");
        log.close();
        drop(log);
        let (log, rec) = PartnerLog::open("p", &path, 1 << 30, dl).expect("reopen");
        assert_eq!(rec.records, 48);
        assert_eq!(rec.truncated_bytes, 0);
        assert_eq!(rec.damaged_bytes, 2 * len as u64);
        assert_eq!(fs::metadata(&seg).expect("meta").len(), 50 * len as u64);
        let copies: Vec<_> = fs::read_dir(&path)
            .expect("dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("damaged-"))
            .collect();
        assert_eq!(copies.len(), 2, "{copies:?}");
        let mut r = log.reader();
        let after = tokio::task::spawn_blocking(move || r.read_batch(100, 4 << 20))
            .await
            .expect("join")
            .expect("read");
        assert_eq!(ids(after), want, "read after the restart");
        log.close();
    }

    #[tokio::test]
    async fn batches_read_every_record_once_whatever_their_lengths() {
        // Short records teach the reader a small batch size; long ones
        // (one far over the read it then expects, one over a whole chunk)
        // must still come back whole, in order, and none twice.
        let dir = tempfile::tempdir().expect("tempdir");
        let dl = Arc::new(DeadLetters::new(&dir.path().join("dl")).expect("dl"));
        let (log, _) = PartnerLog::open("p", &dir.path().join("p"), 1 << 30, dl).expect("open");
        let lengths: Vec<usize> = (0..200)
            .map(|i| match i {
                40 => 300 * 1024,
                41 => READ_CHUNK + 5,
                i if i % 7 == 0 => 5_000 + i * 13,
                i => 20 + i % 90,
            })
            .collect();
        let payload = |i: usize, len: usize| -> Vec<u8> {
            (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
        };
        for (i, &len) in lengths.iter().enumerate() {
            let mut rec = Vec::new();
            segment::encode(&mut rec, i as u64, &[i as u8; 16], &[], &payload(i, len));
            assert!(log.reserve(rec.len() as u64));
            log.append(rec, 1).await.expect("append");
        }
        let mut r = log.reader();
        let got = tokio::task::spawn_blocking(move || {
            let mut got = Vec::new();
            loop {
                let batch = r.read_batch(3, 4 << 20).expect("read");
                if batch.is_empty() {
                    return got;
                }
                assert!(batch.len() <= 3);
                got.extend(batch);
            }
        })
        .await
        .expect("join");
        assert_eq!(got.len(), lengths.len());
        for (i, rec) in got.iter().enumerate() {
            assert_eq!(rec.ingest_ms, i as u64, "record {i} in order");
            assert_eq!(
                rec.payload[..],
                payload(i, lengths[i])[..],
                "record {i} whole"
            );
        }
        log.close();
    }

    #[tokio::test]
    async fn held_records_are_invisible_until_committed_and_retracted_when_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dl = Arc::new(DeadLetters::new(&dir.path().join("dl")).expect("dl"));
        let (log, _) =
            PartnerLog::open("p", &dir.path().join("p"), 1 << 20, dl.clone()).expect("open");
        let (mut a, mut b) = (Vec::new(), Vec::new());
        record(&mut a, 1);
        record(&mut b, 2);
        assert!(log.reserve((a.len() + b.len()) as u64));
        let ha = log.append_held(a, 1).await.expect("append a");
        let hb = log.append_held(b, 1).await.expect("append b");
        // Synced, but no reader may see them yet.
        assert_eq!(log.shared().durable_end(), 0);
        drop(ha); // the request failed elsewhere: retracted
        hb.commit().await;
        let mut r = log.reader();
        let recs = tokio::task::spawn_blocking(move || r.read_batch(10, 1 << 20))
            .await
            .expect("join")
            .expect("read");
        assert_eq!(recs.len(), 2);
        assert!(recs[0].purged, "the dropped append is a tombstone");
        assert!(!recs[1].purged && recs[1].event_hash == [2; 16]);
        assert_eq!(log.pending_events(), 1);
        log.close();
        drop(log);
        // Recovery does not count the retracted event id as seen.
        let (log, rec) = PartnerLog::open("p", &dir.path().join("p"), 1 << 20, dl).expect("reopen");
        assert_eq!(
            rec.event_hashes.iter().map(|(h, _)| *h).collect::<Vec<_>>(),
            vec![[2; 16]]
        );
        assert_eq!(rec.records, 1);
        log.close();
    }
}
