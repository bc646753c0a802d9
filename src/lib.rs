//! adgate: an advertising-identifier pseudonymization gateway.
//!
//! ```text
//! producers --POST /v1/events--> ingest --> policy --> outbox --> delivery --> partners
//!                                   |          |          |           |
//!                                   +------ metrics (GET /metrics) ---+
//! ```
//!
//! # Layout
//!
//! - [`config`]: TOML -> validated [`config::Config`]; errors name file, key path and fix.
//! - [`secret`]: secret bytes with a redacting `Debug` and constant-time compare;
//!   secret files must be private to adgate's user.
//! - [`tls`]: rustls server configs for the listeners (TLS 1.2+, mTLS names).
//! - [`identity`]: identifier normalization and keyed pseudonymization (ad_id).
//! - [`event`]: the input event, parsed once with borrowed raw values.
//! - [`consent`]: TCF and GPP decoders and the per-partner consent decision.
//! - [`canon`]: canonical text (decoding to a fixed point) and skeletons, for
//!   the guard, category matching and lenient opt-out matching.
//! - [`guard`]: the leak guard scanning every outbound value after decoding.
//! - [`policy`]: docs/policy.md per partner; the only maker of [`policy::ScrubbedEvent`].
//! - [`profile`]: partner profiles (adgate, Meta CAPI, Google Ads, TikTok
//!   Events): per-partner event shape, body framing, identifier hashing.
//! - [`explain`]: `adgate explain`, the policy with reasons for every field.
//! - [`privacy`]: `data_dir/privacy.db`: the subject-access ledger (written at
//!   delivery time), daily counters and key ids; read by [`access`] and
//!   [`report`].
//! - [`access`]: `POST /v1/access`, what partners received about a subject.
//! - [`notice`]: erasure and opt-out notices to the partners that received
//!   the subject's events, on a second outbox per partner.
//! - [`report`]: `adgate report`, the transparency report (Markdown, HTML+SVG).
//! - [`outbox`]: where scrubbed events wait for delivery: the embedded
//!   segment log (one machine) or [`outbox::jetstream`] (NATS JetStream,
//!   for fleets of stateless replicas); `App` holds one or the other, and
//!   ingest, push, feed and admin branch on it once per request or batch.
//! - [`top`]: `adgate top`, a terminal view of a running gateway from its
//!   `/metrics` (parser and rates pure in `top`, HTTP in `top::fetch`,
//!   drawing in `top::ui`).

// Handlers return `Result<_, Response>` so an early `?`-style exit carries
// its precise 4xx; responses are moved once per request, so their size does
// not matter here.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod app;
pub mod canon;
pub mod cli;
pub mod config;
pub mod consent;
pub mod contract;
pub mod delivery;
pub mod event;
pub mod identity;
pub mod ingest;
pub mod keyprint;
pub mod metrics;
pub mod notice;
pub mod optout;
pub mod outbox;
pub mod policy;
pub mod privacy;
pub mod profile;
pub mod report;
pub mod secret;
pub mod tls;
pub mod top;
pub mod util;
pub mod web;
