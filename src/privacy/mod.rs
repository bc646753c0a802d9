//! The privacy-review store: what a data subject or a privacy reviewer may
//! ask about later, in one SQLite file, `data_dir/privacy.db`:
//!
//! - the subject-access ledger ([`ledger`]): per keyed subject hash, partner
//!   and UTC day, how many events were delivered, when, under which
//!   `ad_id_type` and key id. Never an identifier, an ad_id or event content.
//! - daily counters ([`counters`]): the deltas of the Prometheus counters a
//!   transparency report needs, so they survive restarts.
//! - the key ids each partner has used and when the gateway first saw them.
//!
//! One thread (`adgate-privacy`) owns the read-write connection. Delivery
//! hands it what was acknowledged (push 2xx, pull commit) over a bounded
//! channel ([`QUEUE_BATCHES`]), one message per batch; it aggregates in
//! memory and writes one transaction every [`LEDGER_FLUSH`] (or when
//! [`MAX_PENDING_ROWS`] are waiting). Nothing on the ingest path touches it.
//! When the writer falls behind, delivery waits for it (backpressure), the
//! outbox keeps the rest: the ledger loses nothing and stays bounded. Counter deltas are written every
//! [`COUNTER_FLUSH`] and at shutdown.
//!
//! Why SQLite (rusqlite, bundled): `adgate report` must read the file while
//! the gateway writes it. In WAL mode SQLite gives a second process a
//! consistent read-only view without a lock on the writer; redb and fjall
//! lock the whole database to one process. `secure_delete` overwrites what
//! forget and retention delete, and forget truncates the WAL after it.
//!
//! A crash loses at most the last flush interval of ledger rows and counter
//! deltas (delivery is at-least-once; the ledger records what partners
//! acknowledged, not a durable log of it).
//!
//! With the JetStream backend the ledger is fleet-wide instead ([`fleet`],
//! a key-value bucket in NATS, written when a partner acknowledges); the
//! SQLite file then keeps the daily counters and key ids of this replica.

pub mod counters;
pub mod fleet;
pub mod ledger;

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::config::Config;
use crate::identity::SubjectHash;
use crate::metrics::Metrics;
use crate::util::now_ms;

pub use ledger::{AccessRow, Delivered};

/// The store's file name under the data dir.
pub const DB_FILE: &str = "privacy.db";
/// How long delivered rows wait in memory: a crash loses at most this much
/// of the ledger, and one transaction serves thousands of deliveries.
pub const LEDGER_FLUSH: Duration = Duration::from_secs(5);
/// Counter deltas are persisted this often (and at shutdown).
pub const COUNTER_FLUSH: Duration = Duration::from_secs(60);
/// Retention runs this often, at start and when the config changes.
pub const COMPACT_EVERY: Duration = Duration::from_secs(3600);
/// Distinct (subject, partner, day, type, key) rows held in memory before an
/// early flush: bounds the writer's memory at ~20 MB whatever the rate.
pub const MAX_PENDING_ROWS: usize = 100_000;
/// At shutdown, how often and how far apart unwritten ledger rows are
/// tried again (within the shutdown's grace) before they are given up.
const STOP_FLUSH_TRIES: u32 = 4;
const STOP_FLUSH_PAUSE: Duration = Duration::from_millis(500);
/// Delivery batches waiting for the writer before delivery waits for it
/// (a batch is at most `batch_max_events`, or a pull response's `max`).
pub const QUEUE_BATCHES: usize = 256;
/// Daily counters are kept this long: a year-over-year review fits.
pub const COUNTER_RETENTION_DAYS: i64 = 400;
/// Milliseconds in a UTC day.
pub const DAY_MS: u64 = 86_400_000;

/// Days since 1970-01-01 (UTC) of a wall-clock time in ms.
pub fn day_of(ms: u64) -> i64 {
    (ms / DAY_MS) as i64
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ledger (
    day        INTEGER NOT NULL,  -- UTC days since 1970-01-01 of the delivery
    subject    BLOB    NOT NULL,  -- 16-byte keyed hash under internal.key
    partner    TEXT    NOT NULL,
    ad_id_type TEXT    NOT NULL,  -- which identifier kind the ad_id was made from
    key_id     TEXT    NOT NULL,  -- which partner key made it
    events     INTEGER NOT NULL,
    first_ms   INTEGER NOT NULL,
    last_ms    INTEGER NOT NULL,
    -- Day first: a flush writes into today's part of the tree only, and
    -- retention deletes a key range; a subject is found per day.
    PRIMARY KEY (day, subject, partner, ad_id_type, key_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS daily_counters (
    day    INTEGER NOT NULL,
    metric TEXT    NOT NULL,      -- a Prometheus counter name
    labels TEXT    NOT NULL,      -- its labels, "name=value,..." sorted by name
    value  INTEGER NOT NULL,
    PRIMARY KEY (day, metric, labels)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS partner_keys (
    partner       TEXT    NOT NULL,
    key_id        TEXT    NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms  INTEGER NOT NULL,
    PRIMARY KEY (partner, key_id)
) WITHOUT ROWID;
"#;

/// Opens (creating if needed) the store for the gateway: WAL, secure delete.
pub fn open_rw(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    // 64 MiB of page cache: a flush touches leaf pages all over the ledger.
    conn.pragma_update(None, "cache_size", -65_536)?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens an existing store read-only (`adgate report`), next to a running
/// gateway or not.
pub fn open_ro(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// What the writer thread is asked to do.
enum Msg {
    Delivered {
        partner: String,
        at_ms: u64,
        items: Vec<Delivered>,
    },
    Access(
        SubjectHash,
        tokio::sync::oneshot::Sender<io::Result<Vec<AccessRow>>>,
    ),
    Forget(SubjectHash, tokio::sync::oneshot::Sender<io::Result<u64>>),
    Configure {
        retention_days: u64,
        keys: Vec<(String, Vec<String>)>,
    },
    Stop,
}

/// The handle the gateway holds: sends to the writer thread.
pub struct Privacy {
    path: PathBuf,
    /// The JetStream backend's fleet-wide ledger, used instead of the
    /// SQLite ledger.
    fleet: Option<Arc<fleet::FleetLedger>>,
    tx: mpsc::SyncSender<Msg>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Privacy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Privacy").field("path", &self.path).finish()
    }
}

fn sql_err(e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("privacy store: {e}"))
}

impl Privacy {
    /// Opens `data_dir/privacy.db`, applies retention once and starts the
    /// writer thread (and the fleet ledger's periodic write, on a runtime).
    pub fn open(
        data_dir: &Path,
        config: &Config,
        metrics: Metrics,
        fleet: Option<fleet::FleetLedger>,
    ) -> io::Result<Privacy> {
        let path = data_dir.join(DB_FILE);
        let conn = open_rw(&path).map_err(sql_err)?;
        let (tx, rx) = mpsc::sync_channel(QUEUE_BATCHES);
        let mut w = Writer {
            conn,
            metrics,
            pending: ledger::Rows::default(),
            partners: HashMap::new(),
            last_counters: HashMap::new(),
            retention_days: config.privacy.access_retention_days,
            keys: Vec::new(),
            failed_writes: Default::default(),
        };
        w.set_keys(keys_of(config));
        w.compact(now_ms());
        let thread = std::thread::Builder::new()
            .name("adgate-privacy".into())
            .spawn(move || w.run(rx))?;
        let fleet = fleet.map(Arc::new);
        if let Some(f) = &fleet {
            tokio::spawn(f.clone().run());
        }
        Ok(Privacy {
            path,
            fleet,
            tx,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues `msg` for the writer; when the queue is full, waits for room
    /// on a blocking-pool thread (never on a runtime worker). Err when the
    /// writer is gone.
    async fn send(&self, msg: Msg) -> io::Result<()> {
        let closed = || io::Error::other("privacy store is closed");
        match self.tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(mpsc::TrySendError::Disconnected(_)) => Err(closed()),
            Err(mpsc::TrySendError::Full(msg)) => {
                let tx = self.tx.clone();
                tokio::task::spawn_blocking(move || tx.send(msg))
                    .await
                    .map_err(|_| closed())?
                    .map_err(|_| closed())
            }
        }
    }

    /// Records events a partner acknowledged now. Waits only when the
    /// writer is [`QUEUE_BATCHES`] behind: delivery then slows to the
    /// ledger's pace and the outbox holds the rest, so the ledger neither
    /// loses rows nor grows without bound.
    pub async fn delivered(&self, partner: &str, items: Vec<Delivered>) {
        if items.is_empty() {
            return;
        }
        if let Some(f) = &self.fleet {
            return f.delivered(partner, now_ms(), &items).await;
        }
        let msg = Msg::Delivered {
            partner: partner.to_owned(),
            at_ms: now_ms(),
            items,
        };
        if self.send(msg).await.is_err() {
            tracing::warn!(
                partner,
                "privacy store is closed; a delivery is not in the ledger"
            );
        }
    }

    /// The subject's ledger rows within retention, summed per partner,
    /// ad_id_type and key id (pending rows are flushed first; on the
    /// JetStream backend, this replica's: another's may be a second behind).
    pub async fn access(&self, subject: SubjectHash) -> io::Result<Vec<AccessRow>> {
        if let Some(f) = &self.fleet {
            f.flush().await;
            return f.access(subject).await;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Access(subject, tx)).await?;
        rx.await
            .map_err(|_| io::Error::other("privacy store is closed"))?
    }

    /// Erases every ledger row of the subject; returns how many.
    pub async fn forget(&self, subject: SubjectHash) -> io::Result<u64> {
        if let Some(f) = &self.fleet {
            return f.forget(subject).await;
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.send(Msg::Forget(subject, tx)).await?;
        rx.await
            .map_err(|_| io::Error::other("privacy store is closed"))?
    }

    /// Before the notices of an opt-out or forget: on the JetStream backend,
    /// waits until every replica's deliveries so far are in the fleet
    /// ledger ([`fleet::FleetLedger::barrier`]); the embedded ledger's
    /// reads see its pending rows already.
    pub async fn barrier(&self) {
        if let Some(f) = &self.fleet {
            f.barrier().await;
        }
    }

    /// Writes the fleet ledger's pending rows (at shutdown, once delivery
    /// stopped and before NATS is closed).
    pub async fn flush_fleet(&self) {
        if let Some(f) = &self.fleet {
            f.flush().await;
        }
    }

    /// A new config: retention (applied at once) and the key ids in use.
    pub async fn configure(&self, config: &Config) {
        if let Some(f) = &self.fleet {
            f.configure(config);
        }
        let msg = Msg::Configure {
            retention_days: config.privacy.access_retention_days,
            keys: keys_of(config),
        };
        if let Err(e) = self.send(msg).await {
            tracing::error!(error = %e, "privacy store: new retention not applied");
        }
    }

    /// Writes what is pending (ledger rows, counter deltas) and stops the
    /// thread; waits at most until `deadline`.
    pub fn close(&self, deadline: Instant) {
        let mut stop = Msg::Stop;
        loop {
            match self.tx.try_send(stop) {
                Err(mpsc::TrySendError::Full(m)) if Instant::now() < deadline => {
                    stop = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => break,
            }
        }
        let Some(t) = self.thread.lock().unwrap().take() else {
            return;
        };
        while !t.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        if t.is_finished() {
            let _ = t.join();
        } else {
            tracing::warn!("privacy store did not finish writing before the shutdown deadline");
        }
    }
}

/// Lowers the calling thread's scheduling priority to the delivery
/// runtime's ([`crate::delivery::runtime::DELIVERY_NICE`] below the
/// process; on Linux the nice value is per thread). The ledger is on
/// delivery's path: when the writer falls behind, its bounded queue makes
/// delivery wait. It ran 10 nice values below the process until
/// 2026-12-07; at saturation with three push partners its flushes (100 000
/// rows, 0.2 s on an idle core) then took 0.3-1.2 s, delivery waited on
/// the full queue 2,522 times (180 s summed over 45 s of load) and the
/// outboxes swung between 4 and 258 MiB. At delivery's priority the same
/// run waited 67 times (2.4 s) and the outboxes stayed under 10 MiB
/// (docs/performance.md). Below ingest's priority all the same: a flush
/// does not take a core from a request being scrubbed.
fn background_priority() {
    let lower = crate::delivery::runtime::DELIVERY_NICE;
    if let Err(e) = crate::util::thread_nice().and_then(|n| crate::util::set_thread_nice(n + lower))
    {
        tracing::debug!(error = %e, "privacy store: thread priority not lowered");
    }
}

fn keys_of(config: &Config) -> Vec<(String, Vec<String>)> {
    config
        .partners
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.keys.iter().map(|k| k.id.clone()).collect(),
            )
        })
        .collect()
}

/// The writer thread's state.
struct Writer {
    conn: Connection,
    metrics: Metrics,
    pending: ledger::Rows,
    /// Interned partner names (one allocation per partner, not per row).
    partners: HashMap<String, std::sync::Arc<str>>,
    last_counters: HashMap<(String, String), u64>,
    retention_days: u64,
    keys: Vec<(String, Vec<String>)>,
    /// Ledger writes failed in a row: the 1st, 2nd, 4th, 8th... is logged
    /// (every one is counted), so a full disk under access requests, each
    /// of which flushes first, does not write a line per request (the
    /// fourteenth fault pass: 14 identical lines in 5 ms).
    failed_writes: crate::util::FailuresInARow,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        background_priority();
        let mut next_ledger = Instant::now() + LEDGER_FLUSH;
        let mut next_counters = Instant::now() + COUNTER_FLUSH;
        let mut next_compact = Instant::now() + COMPACT_EVERY;
        loop {
            let wake = next_ledger.min(next_counters).min(next_compact);
            let msg = rx.recv_timeout(wake.saturating_duration_since(Instant::now()));
            match msg {
                Ok(Msg::Delivered {
                    partner,
                    at_ms,
                    items,
                }) => {
                    let p = self
                        .partners
                        .entry(partner)
                        .or_insert_with_key(|k| std::sync::Arc::from(k.as_str()))
                        .clone();
                    ledger::aggregate(&mut self.pending, &p, at_ms, &items);
                    if self.pending.len() >= MAX_PENDING_ROWS {
                        self.flush_ledger();
                        next_ledger = Instant::now() + LEDGER_FLUSH;
                    }
                }
                Ok(Msg::Access(subject, reply)) => {
                    self.flush_ledger();
                    let cutoff = self.cutoff_day(now_ms());
                    let _ =
                        reply.send(ledger::query(&self.conn, &subject, cutoff).map_err(sql_err));
                }
                Ok(Msg::Forget(subject, reply)) => {
                    let _ = reply.send(self.forget(&subject));
                }
                Ok(Msg::Configure {
                    retention_days,
                    keys,
                }) => {
                    self.retention_days = retention_days;
                    self.set_keys(keys);
                    self.compact(now_ms());
                }
                Ok(Msg::Stop) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                    // A full disk may free up in a moment: a few tries
                    // before the rows are given up, and then said so.
                    for _ in 0..STOP_FLUSH_TRIES {
                        if self.flush_ledger() {
                            break;
                        }
                        std::thread::sleep(STOP_FLUSH_PAUSE);
                    }
                    if !self.pending.is_empty() {
                        tracing::error!(
                            rows = self.pending.len(),
                            "subject-access ledger rows could not be written before exit and are lost: access requests will not list, and opt-outs and forgets will not notify, these deliveries (see docs/durability.md)"
                        );
                    }
                    self.flush_counters(
                        "cannot write the daily counters before exit: the counts since their last write (at most a minute) are lost from the transparency report",
                    );
                    return;
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let now = Instant::now();
            if now >= next_ledger {
                self.flush_ledger();
                next_ledger = now + LEDGER_FLUSH;
            }
            if now >= next_counters {
                self.flush_counters("cannot write daily counters; will retry");
                next_counters = now + COUNTER_FLUSH;
            }
            if now >= next_compact {
                self.compact(now_ms());
                next_compact = now + COMPACT_EVERY;
            }
        }
    }

    fn cutoff_day(&self, now_ms: u64) -> i64 {
        ledger::cutoff_day(now_ms, self.retention_days)
    }

    /// Writes the pending rows; false when they could not be written (they
    /// are kept for the next try, within the bound).
    fn flush_ledger(&mut self) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        match ledger::write(&mut self.conn, &self.pending) {
            Ok(()) => {
                let failures = self.failed_writes.succeed();
                if failures > 0 {
                    tracing::info!(failures, "subject-access ledger writes succeed again");
                }
                self.pending.clear();
                true
            }
            Err(e) => {
                let log = self.failed_writes.fail();
                // Kept for the next flush; the bound above still applies.
                self.metrics
                    .emit(crate::metrics::events::StorageWriteFailed {
                        store: crate::metrics::Store::Ledger,
                        partner: None,
                        count: self.pending.len() as u64,
                        error: &e,
                        consequence: "cannot write the subject-access ledger; will retry",
                        log,
                    });
                if self.pending.len() >= 4 * MAX_PENDING_ROWS {
                    tracing::error!(
                        "dropping unwritten subject-access ledger rows to bound memory"
                    );
                    self.pending.clear();
                }
                false
            }
        }
    }

    /// Writes the counter deltas; `failed` is what the log says when that
    /// fails (a retry, or at exit a loss).
    fn flush_counters(&mut self, failed: &'static str) {
        let now = now_ms();
        let res = counters::flush(
            &mut self.conn,
            &self.metrics.registry,
            &mut self.last_counters,
            day_of(now),
        )
        .and_then(|_| self.touch_keys(now));
        if let Err(e) = res {
            tracing::error!(error = %e, "{failed}");
        }
    }

    fn set_keys(&mut self, keys: Vec<(String, Vec<String>)>) {
        self.keys = keys;
        if let Err(e) = self.touch_keys(now_ms()) {
            tracing::error!(error = %e, "cannot record partner key ids");
        }
    }

    /// Records the configured key ids: first seen (once) and last seen (now).
    fn touch_keys(&mut self, now: u64) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO partner_keys (partner, key_id, first_seen_ms, last_seen_ms)
                 VALUES (?1, ?2, ?3, ?3)
                 ON CONFLICT (partner, key_id) DO UPDATE SET last_seen_ms = excluded.last_seen_ms",
            )?;
            for (p, ids) in &self.keys {
                for id in ids {
                    st.execute(rusqlite::params![p, id, now as i64])?;
                }
            }
        }
        tx.commit()
    }

    fn forget(&mut self, subject: &SubjectHash) -> io::Result<u64> {
        let before = self.pending.len();
        self.pending.retain(|k, _| &k.subject != subject);
        let dropped = (before - self.pending.len()) as u64;
        let n = ledger::erase(&mut self.conn, subject).map_err(sql_err)?;
        // The deleted pages are zeroed (secure_delete); moving them into the
        // main file and emptying the WAL leaves no older copy behind. A
        // reader holding an old snapshot can delay this; it is retried by
        // SQLite's automatic checkpoints.
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::warn!(error = %e, "forget: WAL checkpoint did not complete");
        }
        Ok(n + dropped)
    }

    fn compact(&mut self, now: u64) {
        let ledger_cutoff = self.cutoff_day(now);
        let counter_cutoff = day_of(now) - COUNTER_RETENTION_DAYS;
        match ledger::compact(&self.conn, ledger_cutoff, counter_cutoff) {
            Ok((rows, counters)) if rows + counters > 0 => tracing::info!(
                ledger_rows = rows,
                counter_rows = counters,
                retention_days = self.retention_days,
                "privacy store: rows past retention deleted"
            ),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "privacy store: retention failed; will retry"),
        }
    }
}
