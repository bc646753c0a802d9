//! Every metric of docs/metrics.md, registered once in one registry. Labels come
//! only from small config-fixed sets (producer and partner names, reasons,
//! routes, status codes); never an identifier, token, key or event content.

pub mod events;

pub use events::{InternalEvent, Store};

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

/// Event age buckets: from sub-second push to a day of outage.
const AGE_BUCKETS: [f64; 15] = [
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0,
];

/// `adgate_event_age_seconds` (docs/metrics.md, no labels) and its per-partner
/// twin `adgate_partner_event_age_seconds{partner}`, observed together.
#[derive(Clone)]
pub struct EventAge {
    all: prometheus::Histogram,
    by_partner: HistogramVec,
}

impl EventAge {
    pub fn with_label_values(&self, partner: &[&str]) -> EventAgeObserver {
        EventAgeObserver {
            all: self.all.clone(),
            partner: self.by_partner.with_label_values(partner),
        }
    }
}

pub struct EventAgeObserver {
    all: prometheus::Histogram,
    partner: prometheus::Histogram,
}

impl EventAgeObserver {
    pub fn observe(&self, seconds: f64) {
        self.all.observe(seconds);
        self.partner.observe(seconds);
    }
}

/// The `type` label values of `adgate_notices_total` (crate::notice's
/// notice types).
pub const NOTICE_TYPES: [&str; 2] = ["subject_deleted", "subject_opted_out"];

/// The `outcome` label values of `adgate_notices_total`: written to the
/// partner's notice outbox (`queued`), acknowledged (push 2xx or pull
/// commit: `delivered`), a push attempt that will be retried (`retried`),
/// given up and written to the notice dead letters (`dead_lettered`), or
/// not sent because the partner has nowhere to receive notices (a push
/// partner without `notice_endpoint`: `skipped`).
pub const NOTICE_OUTCOMES: [&str; 5] =
    ["queued", "delivered", "retried", "dead_lettered", "skipped"];

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub events_received: IntCounterVec,
    pub events_rejected: IntCounterVec,
    pub events_routed: IntCounterVec,
    pub events_dropped: IntCounterVec,
    pub fields_omitted: IntCounterVec,
    pub events_delivered: IntCounterVec,
    pub delivery_attempts: IntCounterVec,
    pub dead_letter: IntCounterVec,
    pub storage_failures: IntCounterVec,
    pub outbox_events: IntGaugeVec,
    pub outbox_bytes: IntGaugeVec,
    pub outbox_max_bytes: IntGaugeVec,
    pub event_age: EventAge,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub build_info: IntGaugeVec,
    pub config_reloads: IntCounterVec,
    pub optouts: IntCounterVec,
    pub forget_purged: IntCounter,
    pub forget_requests: IntCounter,
    pub access_requests: IntCounter,
    pub duplicates: IntCounterVec,
    pub throttled: IntCounterVec,
    pub overloaded: IntCounter,
    pub in_flight: prometheus::IntGauge,
    pub tls_handshake_failures: IntCounterVec,
    pub panics: IntCounter,
    /// JetStream backend only: publish-to-ack time of a request's events
    /// for one partner, and messages not yet acknowledged by the partner.
    pub jetstream_publish: HistogramVec,
    pub jetstream_consumer_lag: IntGaugeVec,
    /// Notices to partners (crate::notice), by type and outcome.
    pub notices: IntCounterVec,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn gauge(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

fn histogram(
    r: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("valid metric");
    r.register(Box::new(h.clone())).expect("registered once");
    h
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        #[cfg(target_os = "linux")]
        {
            let pc = prometheus::process_collector::ProcessCollector::for_self();
            let _ = r.register(Box::new(pc));
        }
        let m = Metrics {
            events_received: counter(&r, "adgate_events_received_total", "Events read from request bodies, rejected and duplicate ones included.", &["producer"]),
            events_rejected: counter(&r, "adgate_events_rejected_total", "Events rejected at ingest, by reason.", &["reason"]),
            events_routed: counter(&r, "adgate_events_routed_total", "Scrubbed events durably written to a partner outbox.", &["partner"]),
            events_dropped: counter(&r, "adgate_events_dropped_total", "Events not forwarded to a partner by policy, by reason (intentional drops, not errors).", &["partner", "reason"]),
            fields_omitted: counter(&r, "adgate_fields_omitted_total", "Allow-listed fields left out of a partner's copy of a routed event, by reason (contract: the value broke its value contract, or is a protected name under an allowed object).", &["partner", "reason"]),
            events_delivered: counter(&r, "adgate_events_delivered_total", "Events a partner acknowledged (push 2xx or pull commit).", &["partner"]),
            delivery_attempts: counter(&r, "adgate_delivery_attempts_total", "Push delivery attempts by outcome (ok, retryable, permanent).", &["partner", "outcome"]),
            dead_letter: counter(&r, "adgate_dead_letter_total", "Events written to a partner's dead-letter file.", &["partner"]),
            storage_failures: counter(&r, "adgate_storage_write_failures_total", "Durable writes that failed and were not acknowledged (cut back, retried or answered 503), by store (outbox, dead_letter, optout, notice, ledger).", &["store"]),
            outbox_events: gauge(&r, "adgate_outbox_events", "Events waiting in a partner's outbox.", &["partner"]),
            outbox_bytes: gauge(&r, "adgate_outbox_bytes", "Bytes waiting in a partner's outbox.", &["partner"]),
            outbox_max_bytes: gauge(&r, "adgate_outbox_max_bytes", "Configured bound of a partner's outbox (outbox_max_bytes).", &["partner"]),
            event_age: {
                let all = prometheus::Histogram::with_opts(
                    HistogramOpts::new("adgate_event_age_seconds", "Time from ingest to delivery acknowledgement, all partners.")
                        .buckets(AGE_BUCKETS.to_vec()),
                )
                .expect("valid metric");
                r.register(Box::new(all.clone())).expect("registered once");
                EventAge {
                    all,
                    by_partner: histogram(
                        &r,
                        "adgate_partner_event_age_seconds",
                        "Time from ingest to delivery acknowledgement, by partner (for per-partner SLOs).",
                        &["partner"],
                        AGE_BUCKETS.to_vec(),
                    ),
                }
            },
            http_requests: counter(&r, "adgate_http_requests_total", "HTTP requests by route and status code.", &["route", "code"]),
            http_duration: histogram(
                &r,
                "adgate_http_request_duration_seconds",
                "HTTP request duration by route.",
                &["route"],
                vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            ),
            build_info: gauge(&r, "adgate_build_info", "Always 1; the version label says which build runs.", &["version"]),
            config_reloads: counter(&r, "adgate_config_reloads_total", "Config reloads by result (ok, error).", &["result"]),
            optouts: counter(&r, "adgate_optouts_total", "Opt-outs recorded (opt-out and forget requests), by identifier kind.", &["kind"]),
            forget_purged: {
                let c = IntCounter::new("adgate_forget_purged_total", "Outbox copies purged by forget requests.").expect("valid");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            forget_requests: {
                let c = IntCounter::new("adgate_forget_requests_total", "Forget requests answered 200.").expect("valid");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            access_requests: {
                let c = IntCounter::new("adgate_access_requests_total", "Subject access requests answered 200.").expect("valid");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            duplicates: counter(&r, "adgate_events_duplicate_total", "Events whose event_id was seen within the idempotency window (accepted, not routed again).", &["producer"]),
            throttled: counter(&r, "adgate_events_throttled_total", "Events refused with 429 by a producer quota (the producer retries them).", &["producer"]),
            overloaded: {
                let c = IntCounter::new("adgate_ingest_overloaded_total", "Ingest requests refused with 503 at server.max_in_flight_requests.").expect("valid");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            in_flight: {
                let g = prometheus::IntGauge::new("adgate_ingest_in_flight", "Ingest requests being handled now (bounded by server.max_in_flight_requests).").expect("valid");
                r.register(Box::new(g.clone())).expect("registered once");
                g
            },
            tls_handshake_failures: counter(&r, "adgate_tls_handshake_failures_total", "TLS handshakes that failed, by listener (main, metrics) and reason (no_client_certificate, bad_certificate, incompatible, protocol, io, timeout).", &["listener", "reason"]),
            panics: {
                let c = IntCounter::new("adgate_panics_total", "Request handlers that panicked (answered 500; the process kept serving). Any is a bug.").expect("valid");
                r.register(Box::new(c.clone())).expect("registered once");
                c
            },
            jetstream_publish: histogram(
                &r,
                "adgate_jetstream_publish_seconds",
                "JetStream backend: time from publishing a request's events for a partner to JetStream's acknowledgement of all of them.",
                &["partner"],
                vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            ),
            jetstream_consumer_lag: gauge(&r, "adgate_jetstream_consumer_lag", "JetStream backend: messages of a partner's stream its consumer has not had acknowledged yet (waiting plus in flight).", &["partner"]),
            notices: counter(&r, "adgate_notices_total", "Erasure and opt-out notices to partners, by type (subject_deleted, subject_opted_out) and outcome (queued, delivered, retried, dead_lettered, skipped).", &["partner", "type", "outcome"]),
            registry: r,
        };
        m.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for r in crate::event::RejectReason::ALL {
            m.events_rejected.with_label_values(&[r.as_str()]);
        }
        for r in ["ok", "error"] {
            m.config_reloads.with_label_values(&[r]);
        }
        for s in Store::ALL {
            m.storage_failures.with_label_values(&[s.as_str()]);
        }
        for k in crate::identity::Kind::ALL {
            m.optouts.with_label_values(&[k.as_str()]);
        }
        m
    }

    /// Counts events delivered to `partner` (push 2xx or pull commit) and
    /// observes each one's age from its ingest time.
    pub fn delivered(&self, partner: &str, ingest_ms: impl IntoIterator<Item = u64>) {
        let h = self.event_age.with_label_values(&[partner]);
        let now = crate::util::now_ms();
        let mut n = 0;
        for ms in ingest_ms {
            h.observe(now.saturating_sub(ms) as f64 / 1000.0);
            n += 1;
        }
        self.events_delivered
            .with_label_values(&[partner])
            .inc_by(n);
    }

    /// Creates the series of a partner so dashboards show zeros, not gaps.
    pub fn init_partner(&self, partner: &str, push: bool) {
        self.events_routed.with_label_values(&[partner]);
        self.events_delivered.with_label_values(&[partner]);
        self.dead_letter.with_label_values(&[partner]);
        for r in crate::policy::DropReason::ALL {
            self.events_dropped
                .with_label_values(&[partner, r.as_str()]);
        }
        for r in crate::policy::OMISSION_REASONS {
            self.fields_omitted.with_label_values(&[partner, r]);
        }
        for t in NOTICE_TYPES {
            for o in NOTICE_OUTCOMES {
                self.notices.with_label_values(&[partner, t, o]);
            }
        }
        if push {
            for o in ["ok", "retryable", "permanent"] {
                self.delivery_attempts.with_label_values(&[partner, o]);
            }
        }
    }

    pub fn init_producer(&self, producer: &str) {
        self.events_received.with_label_values(&[producer]);
        self.throttled.with_label_values(&[producer]);
        self.duplicates.with_label_values(&[producer]);
    }

    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding to a Vec");
        buf
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
