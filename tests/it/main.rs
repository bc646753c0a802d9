//! adgate's integration tests: one test binary (`cargo test --test it`),
//! one module per topic. Run one topic with `cargo test --test it ingest::`,
//! one test with `cargo test --test it ingest::gzip_bodies_are_accepted` (a
//! name filter; `backend_tests!` tests end in `::embedded`/`::jetstream`).
//!
//! The helpers live in `common` (the gateway harness, mock partners, the
//! NATS servers and `backend_tests!`). Every module runs in this one
//! process on the default test threads: a module's shared state is its own
//! (module-private statics such as `jetstream_cluster`'s HEAVY lock), and
//! nothing here changes process-wide state except raising the open-file
//! limit (`common::raise_fd_limit`, which only ever raises it).

#[macro_use]
mod common;

/// The fuzz targets' oracle (fuzz/src/lib.rs), shared by `fuzz_props` and
/// `privacy_props`.
#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod oracle;

mod access;
mod admin;
mod cli;
mod config;
mod consent;
mod crash;
mod delivery;
mod faults_net;
mod faults_storage;
mod feed;
mod fuzz_props;
mod hygiene;
mod ingest;
mod jetstream_cluster;
mod notices;
mod outbox_full;
mod privacy_corpus;
mod privacy_props;
mod profile_vectors;
mod profiles_e2e;
mod prometheus;
mod quota;
mod reload;
mod report;
mod slowloris;
mod tls;
mod top;
mod vectors;
