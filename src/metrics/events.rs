//! Internal events: a happening that is both counted and logged is one
//! type here, and its `emit` writes the metric and the log line together
//! (Vector's internal-events habit), so a call site names what happened,
//! never a label string, and the two cannot drift apart. Emit with
//! [`Metrics::emit`].

use std::fmt::Display;

use super::Metrics;

/// Something that happened, counted and logged in one place.
pub trait InternalEvent {
    fn emit(self, m: &Metrics);
}

impl Metrics {
    /// Counts and logs `event`.
    pub fn emit(&self, event: impl InternalEvent) {
        event.emit(self)
    }
}

/// The store a write failed in: the `store` label of
/// `adgate_storage_write_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    Outbox,
    DeadLetter,
    OptOut,
    Notice,
    Ledger,
}

impl Store {
    pub const ALL: [Store; 5] = [
        Store::Outbox,
        Store::DeadLetter,
        Store::OptOut,
        Store::Notice,
        Store::Ledger,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Store::Outbox => "outbox",
            Store::DeadLetter => "dead_letter",
            Store::OptOut => "optout",
            Store::Notice => "notice",
            Store::Ledger => "ledger",
        }
    }
}

/// A durable write failed; what it means for the data is `consequence`
/// (the log message). `log: false` counts without a line (the caller
/// rate-limits its own).
pub struct StorageWriteFailed<'a> {
    pub store: Store,
    pub partner: Option<&'a str>,
    /// Writes that failed (entries, for the ledger).
    pub count: u64,
    pub error: &'a dyn Display,
    pub consequence: &'static str,
    pub log: bool,
}

impl InternalEvent for StorageWriteFailed<'_> {
    fn emit(self, m: &Metrics) {
        m.storage_failures
            .with_label_values(&[self.store.as_str()])
            .inc_by(self.count);
        if self.log {
            tracing::error!(
                store = self.store.as_str(),
                partner = self.partner,
                failures = self.count,
                error = %self.error,
                "{}",
                self.consequence
            );
        }
    }
}

/// A config reload was applied, or refused with `Err(reason)` (the running
/// config stays).
pub struct ConfigReload<'a>(pub Result<(), &'a str>);

impl InternalEvent for ConfigReload<'_> {
    fn emit(self, m: &Metrics) {
        match self.0 {
            Ok(()) => {
                m.config_reloads.with_label_values(&["ok"]).inc();
                tracing::info!("config reloaded");
            }
            Err(e) => {
                m.config_reloads.with_label_values(&["error"]).inc();
                tracing::error!(error = %e, "config reload refused; the running config stays");
            }
        }
    }
}

/// A TLS handshake on `listener` failed for `reason` (a small fixed set);
/// `error` is absent for a timeout.
pub struct TlsHandshakeFailed<'a> {
    pub listener: &'static str,
    pub reason: &'static str,
    pub error: Option<&'a dyn Display>,
}

impl InternalEvent for TlsHandshakeFailed<'_> {
    fn emit(self, m: &Metrics) {
        m.tls_handshake_failures
            .with_label_values(&[self.listener, self.reason])
            .inc();
        let Some(e) = self.error else { return };
        // A client that connects and closes (a TCP probe, a port scan) is
        // not worth a line.
        if self.reason == "io" {
            tracing::debug!(listener = self.listener, reason = self.reason, error = %e, "TLS handshake failed");
        } else {
            tracing::info!(listener = self.listener, reason = self.reason, error = %e, "TLS handshake failed");
        }
    }
}

/// A notice of `notice_type` was not sent to `partner`, which has nowhere
/// to receive notices.
pub struct NoticeSkipped<'a> {
    pub partner: &'a str,
    pub notice_type: &'static str,
}

impl InternalEvent for NoticeSkipped<'_> {
    fn emit(self, m: &Metrics) {
        m.notices
            .with_label_values(&[self.partner, self.notice_type, "skipped"])
            .inc();
        tracing::warn!(
            partner = %self.partner,
            r#type = self.notice_type,
            "notice not sent: the push partner has no notice_endpoint"
        );
    }
}

static DEAD_LETTERS: crate::util::LogLimiter = crate::util::LogLimiter::new();

/// `events` of `partner` became dead letters (`reason`: why).
pub struct EventsDeadLettered<'a> {
    pub partner: &'a str,
    pub events: u64,
    pub reason: &'static str,
}

impl InternalEvent for EventsDeadLettered<'_> {
    fn emit(self, m: &Metrics) {
        if self.events == 0 {
            return;
        }
        m.dead_letter
            .with_label_values(&[self.partner])
            .inc_by(self.events);
        // At most one line per partner per window: a full outbox evicting
        // on every request must not flood the log.
        if let Some(held) = DEAD_LETTERS.allow(self.partner) {
            tracing::warn!(
                partner = %self.partner,
                events = self.events,
                reason = self.reason,
                "events dead-lettered{}",
                crate::util::held_back(held)
            );
        }
    }
}
