//! The durable per-partner outbox (embedded backend): one append-only
//! segment log per partner under `data_dir/outbox/<partner>/`, with group
//! commit, checksummed records, crash recovery, a byte bound, purge for
//! forget and dead letters. See [`log`] for the mechanics and [`segment`] for
//! the record format.
//!
//! The rest of the gateway sees one interface, whichever backend is live
//! ([`store`]): a [`Store`] of every partner's outboxes, written a request
//! at a time; per partner a [`PartnerOutbox`], read by push delivery as
//! [`Batch`]es of a [`Consumer`] and by the pull feed as a [`Feed`]. The
//! NATS JetStream backend ([`jetstream`]) provides the same for fleets of
//! stateless replicas. Nothing outside this module knows which backend is
//! live (docs/ARCHITECTURE.md).

pub mod consumer;
pub mod dead_letter;
pub mod feed;
pub mod jetstream;
pub mod log;
pub mod segment;
pub mod store;

pub use consumer::{Batch, Consumer, Item};
pub use feed::{Committed, Feed, FeedError};
pub use store::{
    check, load_or_create_key, Opened, PartnerOutbox, Staging, Store, Target, WriteError, Written,
};

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

pub use dead_letter::DeadLetters;
pub use log::{PartnerLog, Reader, Recovered};
pub use segment::Record;

use crate::config::PartnerConfig;
use crate::identity::SubjectHash;
use crate::policy::ScrubbedEvent;

/// What a per-partner outbox carries. Each partner has one outbox per
/// stream, with its own writer, delivery worker or feed, and dead letters,
/// so a backlog of events never delays a partner's notices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Scrubbed events (`data_dir/outbox/<partner>/`).
    Events,
    /// Erasure and opt-out notices, see [`crate::notice`]
    /// (`data_dir/notices/<partner>/`).
    Notices,
}

impl Stream {
    /// The directory under the data dir holding one log per partner.
    pub fn dir(self) -> &'static str {
        match self {
            Stream::Events => "outbox",
            Stream::Notices => "notices",
        }
    }

    /// The directory under the data dir holding the dead-letter files.
    pub fn dead_letter_dir(self) -> &'static str {
        match self {
            Stream::Events => "dead_letters",
            Stream::Notices => "notice_dead_letters",
        }
    }

    /// What the items are called in logs and feed responses.
    pub fn items(self) -> &'static str {
        match self {
            Stream::Events => "events",
            Stream::Notices => "notices",
        }
    }
}

/// Encodes one scrubbed event as an outbox record into `out`.
pub fn encode(out: &mut Vec<u8>, ev: &ScrubbedEvent, ingest_ms: u64, event_hash: &SubjectHash) {
    segment::encode(
        out,
        ingest_ms,
        event_hash,
        ev.subjects().as_slice(),
        ev.line(),
    );
}

#[derive(Debug)]
pub struct Outbox {
    stream: Stream,
    dir: PathBuf,
    dead_letters: Arc<DeadLetters>,
    logs: RwLock<HashMap<String, Arc<PartnerLog>>>,
}

impl Outbox {
    /// Opens every partner's event log, recovering each.
    pub fn open(
        data_dir: &Path,
        partners: &[PartnerConfig],
    ) -> io::Result<(Outbox, Vec<(String, Recovered)>)> {
        Outbox::open_stream(data_dir, Stream::Events, partners)
    }

    /// Opens every partner's log of `stream`, recovering each.
    pub fn open_stream(
        data_dir: &Path,
        stream: Stream,
        partners: &[PartnerConfig],
    ) -> io::Result<(Outbox, Vec<(String, Recovered)>)> {
        let dir = data_dir.join(stream.dir());
        std::fs::create_dir_all(&dir)?;
        let ob = Outbox {
            stream,
            dead_letters: Arc::new(DeadLetters::new(&data_dir.join(stream.dead_letter_dir()))?),
            dir,
            logs: RwLock::new(HashMap::new()),
        };
        let mut recovered = Vec::new();
        for p in partners {
            let (_, rec) = ob.ensure(p)?;
            if let Some(r) = rec {
                recovered.push((p.name.clone(), r));
            }
        }
        Ok((ob, recovered))
    }

    /// The log of partner `p`, opened if it is not yet (config reload).
    pub fn ensure(&self, p: &PartnerConfig) -> io::Result<(Arc<PartnerLog>, Option<Recovered>)> {
        if let Some(l) = self.get(&p.name) {
            l.set_max_bytes(p.outbox_max_bytes);
            return Ok((l, None));
        }
        let (log, rec) = PartnerLog::open(
            &p.name,
            &self.dir.join(&p.name),
            p.outbox_max_bytes,
            self.dead_letters.clone(),
        )?;
        self.logs
            .write()
            .unwrap()
            .insert(p.name.clone(), log.clone());
        Ok((log, Some(rec)))
    }

    pub fn stream(&self) -> Stream {
        self.stream
    }

    pub fn get(&self, name: &str) -> Option<Arc<PartnerLog>> {
        self.logs.read().unwrap().get(name).cloned()
    }

    pub fn all(&self) -> Vec<Arc<PartnerLog>> {
        let mut v: Vec<_> = self.logs.read().unwrap().values().cloned().collect();
        v.sort_by(|a, b| a.name().cmp(b.name()));
        v
    }

    /// Is `log` the open log of its partner (not one a reload removed)?
    pub fn holds(&self, log: &Arc<PartnerLog>) -> bool {
        self.logs
            .read()
            .unwrap()
            .get(log.name())
            .is_some_and(|l| Arc::ptr_eq(l, log))
    }

    /// Closes a removed partner's log; its files stay on disk.
    pub fn remove(&self, name: &str) {
        if let Some(l) = self.logs.write().unwrap().remove(name) {
            l.close();
        }
    }

    pub fn dead_letters(&self) -> &Arc<DeadLetters> {
        &self.dead_letters
    }

    /// Purges a person (`subjects`: their hashes) from every outbox in one
    /// pass each; returns copies removed. Dead letters of the person are
    /// erased too; they are not outbox copies, so they are not in the
    /// returned count (they are logged).
    pub async fn purge(&self, subjects: &[SubjectHash]) -> io::Result<u64> {
        let mut n = 0;
        for l in self.all() {
            n += l.purge(subjects).await?;
        }
        let (dl, subjects) = (self.dead_letters.clone(), subjects.to_vec());
        let erased = tokio::task::spawn_blocking(move || dl.purge(&subjects))
            .await
            .map_err(|_| io::Error::other("dead-letter purge task failed"))??;
        if erased > 0 {
            tracing::info!(
                dead_letters = erased,
                "forget: dead letters of the subject erased"
            );
        }
        Ok(n)
    }
}
