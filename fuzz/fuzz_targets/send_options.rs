//! `tribes_wire::fuzzing::send_options` on whatever libFuzzer makes: it must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| tribes_wire::fuzzing::send_options(data));
