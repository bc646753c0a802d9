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
//! - [`secret`]: secret bytes with a redacting `Debug` and constant-time compare.
//! - [`identity`]: identifier normalization and keyed pseudonymization (ad_id).
//! - [`event`]: the input event, parsed once with borrowed raw values.
//! - [`guard`]: the leak guard scanning every outbound string.
//! - [`policy`]: SPEC §4 per partner; the only maker of [`policy::ScrubbedEvent`].
//! - [`explain`]: `adgate explain`, the policy with reasons for every field.

pub mod config;
pub mod event;
pub mod guard;
pub mod identity;
pub mod policy;
pub mod secret;
pub mod outbox;
pub mod util;
pub mod metrics;
pub mod dedup;
pub mod optout;
pub mod admin;
pub mod app;
pub mod feed;
pub mod ingest;
pub mod push;
pub mod server;
pub mod cli;
pub mod demo;
pub mod explain;
