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
mod redteam;
mod reload;
mod report;
mod slowloris;
mod tls;
mod top;
mod vectors;

/// With `autotests = false` a test file left in `tests/` (a merge from a
/// branch older than this layout), or a file in `tests/it/` that no `mod`
/// line declares, would compile to nothing and never run: both fail here.
#[test]
fn every_test_file_is_a_module_of_this_binary() {
    let tests = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let rust_files = |dir: &std::path::Path| -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter_map(|n| n.strip_suffix(".rs").map(str::to_string))
            .collect();
        names.sort();
        names
    };
    let stray = rust_files(&tests);
    assert!(
        stray.is_empty(),
        "tests/{{{}}}.rs are not compiled (autotests = false): git mv them to tests/it/, \
         declare each with `mod NAME;` in tests/it/main.rs, and replace `mod common;` with \
         `use crate::common::...`",
        stray.join(",")
    );
    let main = include_str!("main.rs");
    let undeclared: Vec<String> = rust_files(&tests.join("it"))
        .into_iter()
        .filter(|m| m != "main" && !main.contains(&format!("\nmod {m};\n")))
        .collect();
    assert!(
        undeclared.is_empty(),
        "tests/it/{{{}}}.rs: no `mod NAME;` line in tests/it/main.rs, so they never run",
        undeclared.join(",")
    );
}
