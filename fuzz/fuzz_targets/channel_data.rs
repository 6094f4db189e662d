//! `tribes_wire::fuzzing::channel_data` on whatever libFuzzer makes: it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tribes_wire::fuzzing::channel_data(data));
