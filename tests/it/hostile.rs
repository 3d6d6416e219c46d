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
    assert_eq!(
        r.fault.module.as_ref().map(|v| v.to_string()).as_deref(),
        Some("amdppm.sys")
    );
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

/// One simulated kernel dump per (machine type, bugcheck) from the committed fleet in
/// `sample-dumps/` (written by the in-repo simulator), so these tests never depend on
/// `../shared`.
fn simulated_kernel_dumps() -> Vec<(String, Vec<u8>)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for file in crate::common::simulated_fleet_files() {
        let bytes = std::fs::read(&file).unwrap();
        let Ok(dump) = KernelDump::parse(&file, &bytes) else {
            continue; // a user-mode minidump
        };
        if seen.insert((dump.header.machine_type, dump.header.bugcheck_code)) {
            out.push((file.display().to_string(), bytes));
        }
    }
    out
}

/// Where the bugcheck code and parameters are: (code offset, first parameter, stride).
fn bugcheck_fields(bytes: &[u8]) -> (usize, usize, usize) {
    if &bytes[4..8] == b"DU64" {
        (0x38, 0x40, 8)
    } else {
        (0x28, 0x2C, 4)
    }
}

#[test]
fn simulated_fleet_covers_every_architecture() {
    let dumps = simulated_kernel_dumps();
    let machines: std::collections::BTreeSet<u32> = dumps
        .iter()
        .map(|(p, b)| {
            KernelDump::parse(Path::new(p), b)
                .unwrap()
                .header
                .machine_type
        })
        .collect();
    assert_eq!(
        machines,
        [0x14c, 0x8664, 0xaa64].into_iter().collect(),
        "x86, x64 and ARM64 dumps seed the hostile tests"
    );
    assert!(dumps.len() >= 8, "{}", dumps.len());
}

/// Every bugcheck whose parameters are addresses the reader follows or offsets, with every
/// parameter near 2^64 (and other edge values): a debug build must not overflow, and the
/// header must still triage. The 0x7E P3 (exception record) near 2^64 used to panic with
/// `attempt to add with overflow` in kernel_report.rs.
#[test]
fn bugcheck_parameters_near_2_pow_64_are_salvaged() {
    let mut samples = simulated_kernel_dumps();
    for rel in [
        "kernel/win10-x64-0x7E-amdppm.dmp",
        "kernel/win7-x86-0x8E-unknown-module.dmp",
        "kernel-wild/win10-x64-0x50-ntfs.dmp",
    ] {
        if let Some(path) = sample(rel) {
            samples.push((rel.to_string(), std::fs::read(path).unwrap()));
        }
    }
    // One simulated dump per architecture is enough for the parameters (what differs between
    // bugchecks is which parameter is followed, not the dump).
    let mut machines = std::collections::BTreeSet::new();
    samples.retain(|(_, b)| {
        machines.insert((
            b[4..8].to_vec(),
            u32::from_le_bytes([b[0x30], b[0x31], b[0x32], b[0x33]]),
        ))
    });
    let codes = [0x50u32, 0xD1, 0x7E, 0x1000_007E, 0x3B, 0x8E];
    let values = [u64::MAX, u64::MAX - 0x28];
    let mut runs = 0;
    for (name, original) in &samples {
        let (code_at, params_at, stride) = bugcheck_fields(original);
        for code in codes {
            for value in values {
                // All four parameters, then P3 and P4 alone (the record pointers).
                for which in [&[0usize, 1, 2, 3][..], &[2], &[3]] {
                    let mut m = original.clone();
                    m[code_at..code_at + 4].copy_from_slice(&code.to_le_bytes());
                    for &i in which {
                        let at = params_at + i * stride;
                        m[at..at + stride].copy_from_slice(&value.to_le_bytes()[..stride]);
                    }
                    let r = process(&m).unwrap_or_else(|e| {
                        panic!("{name}: code {code:#x} P{which:?} = {value:#x}: {e}")
                    });
                    assert_eq!(r.bugcheck.as_ref().map(|b| b.code), Some(code));
                    runs += 1;
                }
            }
        }
    }
    assert!(runs >= 3 * codes.len() * values.len() * 3, "{runs}");
}

#[test]
fn simulated_dumps_flipped_and_cut_never_panic() {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for (name, original) in simulated_kernel_dumps() {
        for _ in 0..25 {
            let mut m = original.clone();
            for _ in 0..16 {
                let at = (xorshift(&mut seed) as usize) % m.len();
                m[at] ^= 1 << (xorshift(&mut seed) % 8);
            }
            let keep = 0x800 + (xorshift(&mut seed) as usize) % m.len();
            m.truncate(keep);
            // A caught panic is an `Internal` error: that is a failure here too.
            if let Err(e) = process(&m) {
                assert!(!matches!(e, DumpError::Internal { .. }), "{name}: {e}");
            }
        }
    }
}

/// A dump truncated on disk by another process (a copy restarted over it) after it was
/// opened: the bytes already read stay valid. With a memory map, touching the lost pages
/// would kill the whole process with SIGBUS.
#[test]
fn dump_truncated_on_disk_after_open_does_not_kill_the_process() {
    let (name, original) = simulated_kernel_dumps().remove(0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("being-copied.dmp");
    std::fs::write(&path, &original).unwrap();
    let file = blastradius::dump::DumpFile::open(&path).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(0x100)
        .unwrap();
    let r = Pipeline::default()
        .process_bytes(&path, file.bytes())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let whole = Pipeline::default().process_bytes(&path, &original).unwrap();
    assert_eq!(r, whole);
}
