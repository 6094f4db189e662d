//! `jser::fuzzing::stream` on whatever libFuzzer makes: it must never panic (parse, exact
//! re-emit, extraction, class filter, block-data reads).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| jser::fuzzing::stream(data));
