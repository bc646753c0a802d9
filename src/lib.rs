//! adgate: an advertising-identifier pseudonymization gateway.
//!
//! ```text
//! producers --POST /v1/events--> app::serve --> api --> ingest --> policy --> outbox::Store
//!                                                                                 |
//!     partners <-- delivery::push (Consumer, Batch) <-----------------------------+
//!     partners --> api::feed (outbox::Feed) ------------------------------------->+
//!                                 privacy: the ledger of what partners acknowledged
//! ```
//!
//! The tree follows that path (docs/ARCHITECTURE.md tells the whole story):
//!
//! - [`app`]: builds the gateway from a validated config, the listeners
//!   ([`app::serve`]), partners' workers and feeds, reload, shutdown order.
//! - [`api`]: the router and thin handlers: [`api::ingest`] (`POST
//!   /v1/events`), [`api::feed`] (the pull feed), [`api::admin`] (opt-outs,
//!   forget, reload), [`api::access`] (`POST /v1/access`).
//! - [`web`]: leaf HTTP helpers: responses, bearer tokens, bounded body
//!   reads, refusals, the panic guard.
//! - [`ingest`]: [`ingest::decode`] (body forms, shared with `explain`), the
//!   write path with its narrow [`ingest::Writer`], the idempotency window
//!   ([`ingest::dedup`]) and producer quotas ([`ingest::quota`]).
//! - [`policy`]: docs/policy.md per partner; the only maker of
//!   [`policy::ScrubbedEvent`]; [`policy::guard`], the leak guard scanning
//!   every outbound value after decoding.
//! - [`outbox`]: where scrubbed events wait for delivery, behind one
//!   interface ([`outbox::Store`], [`outbox::PartnerOutbox`],
//!   [`outbox::Consumer`], [`outbox::Feed`]) over the embedded segment log
//!   or NATS JetStream; nothing outside it knows which backend is live.
//! - [`delivery`]: [`delivery::push`], batches POSTed with signatures,
//!   retries and dead letters.
//! - [`privacy`]: the subject-access ledger (written at delivery time),
//!   daily counters and key ids; [`notice`]: erasure and opt-out notices to
//!   the partners that received a subject's events.
//! - [`consent`]: TCF and GPP decoders and the per-partner consent decision;
//!   [`profile`]: partner APIs (adgate, Meta CAPI, Google Ads, TikTok
//!   Events): event shape, body framing, identifier hashing.
//! - [`config`]: TOML -> validated [`config::Config`]; errors name file, key
//!   path and fix; [`config::demo`], the embedded demo.
//! - [`cli`]: the command line and [`cli::explain`].
//! - Tools: [`report`] (`adgate report`), [`top`] (`adgate top`).
//! - Leaves: [`event`] (the input event, parsed once with borrowed values),
//!   [`signals`] (minor and opt-out signals under other names),
//!   [`contract`] (value contracts), [`canon`] (canonical text),
//!   [`identity`] (normalization, keyed pseudonymization), [`metrics`],
//!   [`secret`], [`tls`], [`optout`], [`keyprint`], [`util`].

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
pub mod json;
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
pub mod signals;
pub mod tls;
pub mod top;
pub mod util;
pub mod web;
