#![no_main]
//! See `adgate_fuzz::body` (fuzz/src/lib.rs) for the properties checked.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    adgate_fuzz::body(&adgate_fuzz::BodyCase::from_bytes(data));
});
