#![no_main]
//! See `adgate_fuzz::guard_bytes` (fuzz/src/lib.rs) for the properties checked.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    adgate_fuzz::guard_bytes(data);
});
