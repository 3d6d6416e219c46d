//! Hostile and damaged input: truncation at many offsets, flipped bytes, every count and
//! offset field inflated in turn, and a property test over random mutations. The reader must
//! never panic; an intact header must still triage (bugcheck and time survive), and each
//! problem must be named.

use std::path::Path;

use proptest::prelude::*;

use blastradius::dump::kernel::KernelDump;
use blastradius::dump::DumpError;
use blastradius::pipeline::Pipeline;
use blastradius::record::CrashReport;

use crate::common::sample;

fn process(bytes: &[u8]) -> Result<CrashReport, DumpError> {
    Pipeline::default().process_bytes(Path::new("mutant.dmp"), bytes)
}

/// Triage header fields (offset relative to the triage header, 64-bit layout) that are
/// counts or file offsets.
const TRIAGE64_FIELDS: &[usize] = &[
    0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C, 0x40, 0x68, 0x6C, 0x70,
    0x74, 0x78, 0x7C,
];
const TRIAGE32_FIELDS: &[usize] = &[
    0x04, 0x08, 0x0C, 0x10, 0x14, 0x18, 0x28, 0x2C, 0x30, 0x34, 0x38, 0x3C, 0x40, 0x50, 0x54, 0x58,
    0x5C, 0x60, 0x64,
];

fn inflate_every_field(original: &[u8], triage_at: usize, fields: &[usize]) -> usize {
    let len = original.len() as u32;
    let mut runs = 0;
    for &f in fields {
        for value in [
            u32::MAX,
            0x7FFF_FFFF,
            0x8000_0000,
            len,
            len - 1,
            len - 4,
            0,
            1,
            0x1000,
        ] {
            let mut m = original.to_vec();
            m[triage_at + f..triage_at + f + 4].copy_from_slice(&value.to_le_bytes());
            let r = process(&m).unwrap_or_else(|e| {
                panic!("field {f:#x}={value:#x}: header intact, must salvage: {e}")
            });
            assert!(
                r.bugcheck.is_some(),
                "field {f:#x}={value:#x}: bugcheck lost"
            );
            assert!(
                r.crash_time.is_some(),
                "field {f:#x}={value:#x}: crash time lost"
            );
            runs += 1;
        }
    }
    // Every driver entry's name offset, and the string lengths, pointed anywhere.
    runs
}

#[test]
fn inflated_counts_and_offsets_are_salvaged() {
    for (rel, at, fields) in [
        ("kernel/win10-x64-0x7E-amdppm.dmp", 0x2000, TRIAGE64_FIELDS),
        (
            "kernel/win7-x86-0x8E-unknown-module.dmp",
            0x1000,
            TRIAGE32_FIELDS,
        ),
    ] {
        let Some(path) = sample(rel) else { return };
        let bytes = std::fs::read(path).unwrap();
        let runs = inflate_every_field(&bytes, at, fields);
        assert!(runs > 150);
    }
}

#[test]
fn damaged_driver_list_is_salvaged_with_warnings() {
    let Some(path) = sample("kernel/win10-x64-0x7E-amdppm.dmp") else {
        return;
    };
    let mut bytes = std::fs::read(path).unwrap();
    // Point the 3rd driver's name far past the end and make the 5th name's length absurd.
    let list = u32::from_le_bytes(bytes[0x2030..0x2034].try_into().unwrap()) as usize;
    bytes[list + 2 * 0x90..list + 2 * 0x90 + 4].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    let name5 = u32::from_le_bytes(
        bytes[list + 4 * 0x90..list + 4 * 0x90 + 4]
            .try_into()
            .unwrap(),
    ) as usize;
    bytes[name5..name5 + 4].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    let r = process(&bytes).unwrap();
    assert_eq!(r.modules.len(), 151, "the other drivers are still listed");
    assert_eq!(r.fault.module.as_deref(), Some("amdppm.sys"));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains("2 driver name(s) unreadable")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn truncation_at_many_offsets() {
    let Some(path) = sample("kernel/win10-x64-0x7E-amdppm.dmp") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    let mut cuts: Vec<usize> = (0..0x2100).step_by(0x40).collect();
    cuts.extend((0x2100..bytes.len()).step_by(bytes.len() / 200));
    cuts.extend([
        0,
        1,
        7,
        8,
        0x1fff,
        0x2000,
        0x2001,
        0x207f,
        0x2080,
        bytes.len() - 1,
    ]);
    let mut salvaged = 0;
    for cut in cuts {
        match process(&bytes[..cut]) {
            Ok(r) => {
                assert!(cut >= 0x2000, "a cut header cannot parse ({cut:#x})");
                assert_eq!(r.bugcheck.as_ref().map(|b| b.code), Some(0x1000_007E));
                if cut < 0x13a28c {
                    assert!(
                        r.warnings
                            .iter()
                            .any(|w| w.contains("TRGD") || w.contains("truncated")),
                        "cut {cut:#x}: {:?}",
                        r.warnings
                    );
                }
                salvaged += 1;
            }
            Err(e) => {
                assert!(
                    cut < 0x2000 || cut < 0x2080,
                    "cut {cut:#x} should be salvaged: {e}"
                );
                let text = e.to_string();
                assert!(
                    text.starts_with("mutant.dmp:"),
                    "the error names the file: {text}"
                );
            }
        }
    }
    assert!(salvaged > 150);
}

#[test]
fn junk_files_are_refused_with_a_reason() {
    for (bytes, expect) in [
        (Vec::new(), "empty file"),
        (b"hello world, not a dump".to_vec(), "not a crash dump"),
        (b"PAGEDU64".to_vec(), "truncated kernel dump"),
        (b"PAGEDUMP\0\0\0\0".to_vec(), "truncated kernel dump"),
        (b"MDMP\x93\xa7\0\0".to_vec(), "minidump"),
    ] {
        let e = process(&bytes).expect_err("junk must be refused");
        assert!(e.to_string().contains(expect), "{e}");
    }
}

/// A deterministic xorshift so the flip positions are the same on every run.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn flipped_bytes_never_panic() {
    for rel in [
        "kernel/win10-x64-0x7E-amdppm.dmp",
        "kernel/win7-x86-0x8E-unknown-module.dmp",
    ] {
        let Some(path) = sample(rel) else { return };
        let original = std::fs::read(path).unwrap();
        let parsed = KernelDump::parse(Path::new("x"), &original).unwrap();
        let hot_end = parsed.triage.as_ref().map_or(0x3000, |t| {
            t.header.string_pool_offset as usize + t.header.string_pool_size as usize
        });
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..300 {
            let mut m = original.clone();
            for _ in 0..16 {
                // Flip in the structures the reader walks (headers, lists, strings, stack).
                let at = (xorshift(&mut seed) as usize) % hot_end.min(m.len());
                m[at] ^= 1 << (xorshift(&mut seed) % 8);
            }
            let _ = process(&m);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Random writes of random u32 values anywhere in the first 96 KiB (all headers, the
    /// driver list and the string pool of the real x64 sample), then a random truncation.
    #[test]
    fn random_mutations_never_panic(
        writes in proptest::collection::vec((0usize..0x18000, any::<u32>()), 1..24),
        keep in 0x1000usize..0x170000,
    ) {
        let Some(path) = sample("kernel/win10-x64-0x7E-amdppm.dmp") else { return Ok(()) };
        let mut m = std::fs::read(path).unwrap();
        for (at, v) in writes {
            if at + 4 <= m.len() {
                m[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        m.truncate(keep.min(m.len()));
        match process(&m) {
            Ok(r) => prop_assert!(r.bugcheck.is_some()),
            Err(e) => prop_assert!(e.to_string().starts_with("mutant.dmp:")),
        }
    }
}
