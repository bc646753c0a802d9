#![no_main]
//! See `adgate_fuzz::json` (fuzz/src/lib.rs) for the properties checked.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    adgate_fuzz::json_bytes(data);
});
