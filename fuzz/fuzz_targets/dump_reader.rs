//! Fuzz target: any bytes through the whole per-file pipeline (sniff, kernel or minidump
//! reader, stack walk, triage). It must return Ok or Err, never panic or hang.
//! Run: `cargo +nightly fuzz run dump_reader fuzz/seeds` (seeds: the real samples and
//! simulated dumps; see fuzz/README.md).
#![no_main]

use std::path::Path;

use blastradius::pipeline::Pipeline;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static PIPELINE: Pipeline = Pipeline::default();
    }
    PIPELINE.with(|p| {
        let _ = p.process_bytes(Path::new("fuzz.dmp"), data);
    });
});
