//! The faulting context of real kernel dumps, recovered the way WinDbg's `.trap` / `.cxr` do:
//! on Windows 10 the header context is KeBugCheckEx's frame, and the fault is in a trap frame
//! or CONTEXT record on the captured stack. Trap-frame addresses were found independently with
//! a Python read of the raw bytes (KTRAP_FRAME Rip +0x168, SegCs +0x170, Rsp +0x180, SegSs +0x188).

use std::path::Path;

use blastradius::dump::fault_context::{recover, ContextSource};
use blastradius::dump::kernel::KernelDump;
use blastradius::dump::kernel_report::parameter_fault_ip;
use blastradius::pipeline::Pipeline;
use blastradius::record::{CrashReport, FrameTrust};

use crate::common::sample;

fn recovered(path: &Path) -> blastradius::dump::fault_context::FaultContext {
    let bytes = std::fs::read(path).unwrap();
    let dump = KernelDump::parse(path, &bytes).unwrap();
    recover(&dump, &bytes, parameter_fault_ip(&dump)).expect("a context")
}

fn report(path: &Path) -> CrashReport {
    Pipeline::default().process_file(path).unwrap()
}

/// (file, trap frame address, faulting IP) of every kernel-wild dump with a trap frame.
const TRAP_FRAMES: [(&str, u64, u64); 4] = [
    (
        "win10-x64-0x50-ntfs.dmp",
        0xffff_fd82_7df3_a030,
        0xffff_f804_206c_b873,
    ),
    (
        "win10-x64-0x50-exec-nomodule.dmp",
        0xffff_cc04_584b_7180,
        0xffff_e78f_9034_5f71,
    ),
    (
        "win10-x64-0x1E-c0000005-nt-amdkmdag-on-stack.dmp",
        0xffff_8a80_6bfb_f9b0,
        0xffff_f806_6b60_c222,
    ),
    (
        "win10-x64-0x1E-c0000005-nt-misaligned.dmp",
        0xffff_9100_be79_b630,
        0xffff_f803_1b40_f001,
    ),
];

#[test]
fn trap_frame_found_where_kipagefault_left_it() {
    for (file, trap, ip) in TRAP_FRAMES {
        let Some(path) = sample(&format!("kernel-wild/{file}")) else {
            return;
        };
        let f = recovered(&path);
        assert_eq!(
            f.source,
            ContextSource::TrapFrame { address: trap },
            "{file}"
        );
        assert_eq!(f.context.ip, ip, "{file}");
        assert!(f.at_fault, "{file}");
        // The faulting RSP is above the trap frame, on the captured stack.
        assert!(f.context.sp >= trap + 0x190, "{file}");
    }
}

#[test]
fn stack_starts_at_the_faulting_frame_then_its_caller() {
    for (file, _, ip) in TRAP_FRAMES {
        let Some(path) = sample(&format!("kernel-wild/{file}")) else {
            return;
        };
        let r = report(&path);
        let frame0 = &r.stack[0];
        assert_eq!(frame0.address.to_string(), format!("{ip:#x}"), "{file}");
        assert_eq!(frame0.trust, FrameTrust::Context, "{file}");
        assert!(r.stack.len() >= 2, "{file}: the caller is there");
        assert!(
            r.stack[1].module.is_some(),
            "{file}: the caller is in a module"
        );
    }
}

#[test]
fn ntfs_page_fault_frame_zero_is_ntfs() {
    let Some(path) = sample("kernel-wild/win10-x64-0x50-ntfs.dmp") else {
        return;
    };
    let r = report(&path);
    assert_eq!(r.stack[0].module.as_deref(), Some("Ntfs.sys"));
    assert_eq!(
        r.stack[0].offset.map(|v| v.to_string()).as_deref(),
        Some("0xfb873")
    );
    // Before, frame 0 was KeBugCheckEx (ntoskrnl+0x3f8f60) and the Ntfs fault was absent.
    assert!(r
        .stack
        .iter()
        .all(|f| f.offset.map(|v| v.to_string()).as_deref() != Some("0x3f8f60")));
    assert_eq!(r.blame.module.as_deref(), Some("Ntfs.sys"));
    assert_eq!(r.blame.frame_index, Some(0));
}

#[test]
fn call_into_no_module_shows_the_caller_from_the_trap_rsp() {
    let Some(path) = sample("kernel-wild/win10-x64-0x50-exec-nomodule.dmp") else {
        return;
    };
    let r = report(&path);
    assert_eq!(r.stack[0].module, None);
    // [trap.Rsp] (0xffffcc04584b7318) holds the return address into FLTMGR: the caller that
    // called through the bad pointer, unwound as a leaf frame.
    let caller = &r.stack[1];
    assert_eq!(caller.address.to_string(), "0xfffff80552438cf3");
    assert_eq!(caller.module.as_deref(), Some("FLTMGR.SYS"));
    assert_eq!(
        caller.offset.map(|v| v.to_string()).as_deref(),
        Some("0x8cf3")
    );
    assert_eq!(caller.trust, FrameTrust::Cfi);
}

#[test]
fn illegal_instruction_context_on_an_uncaptured_stack() {
    let Some(path) = sample("kernel-wild/win10-x64-0x1E-c000001d-nt.dmp") else {
        return;
    };
    let f = recovered(&path);
    // A trap frame at 0xffffe5018d9c6c10 has kernel selectors but another RIP: not trusted.
    // The CONTEXT the bugcheck path stored (TopOfStack + 0x38) has the faulting RIP; its RSP
    // is on a stack the dump did not capture.
    assert_eq!(
        f.source,
        ContextSource::ContextRecord {
            address: 0xffff_e501_8d9c_6920
        }
    );
    assert_eq!(f.context.ip, 0xffff_f801_4641_7980);
    assert_eq!(f.context.sp, 0xffff_a609_4003_e4c0);
    let r = report(&path);
    assert_eq!(r.stack.len(), 1, "no callers can be known: {:?}", r.stack);
    assert_eq!(r.stack[0].address.to_string(), "0xfffff80146417980");
    assert!(r
        .warnings
        .iter()
        .any(|w| w.contains("not in the captured stack")));
}

#[test]
fn exception_bugchecks_use_the_records_their_parameters_name() {
    if let Some(path) = sample("kernel/win10-x64-0x7E-amdppm.dmp") {
        let f = recovered(&path);
        // 0x7E P4 = the CONTEXT record.
        assert_eq!(
            f.source,
            ContextSource::ContextRecord {
                address: 0xffff_8504_2989_1720
            }
        );
        assert_eq!(f.context.ip, 0xffff_f804_8b58_334c);
    }
    if let Some(path) = sample("kernel/win7-x86-0x8E-unknown-module.dmp") {
        let f = recovered(&path);
        // 0x8E P3 = the x86 KTRAP_FRAME; a kernel-mode fault's ESP is its address + 0x74.
        assert_eq!(
            f.source,
            ContextSource::TrapFrame {
                address: 0xd9f0_eaec
            }
        );
        assert_eq!(f.context.ip, 0xac45_17d7);
        assert_eq!(f.context.sp, 0xd9f0_eaec + 0x74);
    }
}

#[test]
fn without_a_faulting_address_the_header_context_stays() {
    for file in [
        "win10-x64-0x101-clock-watchdog.dmp",
        "win10-x64-0x133-dpc-watchdog.dmp",
        "win10-x64-0x1C7-kernel-generated-triage.dmp",
        "win7-x64-0x19.dmp",
    ] {
        let Some(path) = sample(&format!("kernel-wild/{file}")) else {
            return;
        };
        let f = recovered(&path);
        assert_eq!(f.source, ContextSource::Header, "{file}");
        assert!(!f.at_fault, "{file}");
    }
}

/// Replaces every copy of `pattern` in `bytes` (the captured stack may also be a data block)
/// with `with`; returns how many there were.
fn patch_all(bytes: &mut [u8], pattern: &[u8], with: &[u8]) -> usize {
    assert_eq!(pattern.len(), with.len());
    let mut n = 0;
    let mut at = 0;
    while let Some(i) = bytes[at..]
        .windows(pattern.len())
        .position(|w| w == pattern)
    {
        bytes[at + i..at + i + with.len()].copy_from_slice(with);
        n += 1;
        at += i + 1;
    }
    n
}

#[test]
fn fault_symbol_from_the_address_when_no_frame_holds_it() {
    let (Some(path), Some(symbols)) = (
        sample("kernel/win10-x64-0x7E-amdppm.dmp"),
        crate::common::sample_symbols(),
    ) else {
        return;
    };
    // The real amdppm dump, restated as a 0x50 whose P3 is another instruction of amdppm
    // (base 0xfffff8048b580000 + 0x3100, inside WriteGenAddrEx per amdppm.pdb): no walked
    // frame holds that address, and no trap frame names it.
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[0x38..0x3C].copy_from_slice(&0x50u32.to_le_bytes());
    for (i, p) in [0xffff_ffff_ffff_fff0u64, 0, 0xffff_f804_8b58_3100, 2]
        .iter()
        .enumerate()
    {
        bytes[0x40 + 8 * i..0x48 + 8 * i].copy_from_slice(&p.to_le_bytes());
    }
    let cache = blastradius::symbols::SymbolCache::from_spec(symbols.to_str().unwrap()).unwrap();
    let r = Pipeline::new(std::sync::Arc::new(cache))
        .process_bytes(Path::new("amdppm-as-0x50.dmp"), &bytes)
        .unwrap();
    assert!(r
        .stack
        .iter()
        .all(|f| f.address.to_string() != "0xfffff8048b583100"));
    assert_eq!(
        r.fault.module.as_ref().map(|v| v.to_string()).as_deref(),
        Some("amdppm.sys")
    );
    assert_eq!(r.fault.symbol.as_deref(), Some("WriteGenAddrEx+0x2c"));
    assert_eq!(r.bucket_id, "AV_R_INVALID_amdppm!WriteGenAddrEx");
    assert!(
        r.signature.starts_with("amdppm!WriteGenAddrEx"),
        "{}",
        r.signature
    );
}

#[test]
fn blame_index_names_a_frame_of_the_blamed_module() {
    let Some(path) = sample("kernel-wild/win10-x64-0x50-ntfs.dmp") else {
        return;
    };
    // Break the trap frame's code selector (in every copy) so the walk starts at KeBugCheckEx
    // as it did before trap frames were read: the Ntfs fault is then on no frame.
    let mut bytes = std::fs::read(&path).unwrap();
    // The trap frame (0xfffffd827df3a030) holds Rip at +0x168 and SegCs right after it.
    let mut pattern = 0xffff_f804_206c_b873u64.to_le_bytes().to_vec();
    pattern.extend_from_slice(&0x10u64.to_le_bytes());
    let mut broken = pattern.clone();
    broken[8] = 0;
    assert!(patch_all(&mut bytes, &pattern, &broken) >= 1);
    let r = Pipeline::default()
        .process_bytes(Path::new("ntfs-no-trap.dmp"), &bytes)
        .unwrap();
    assert_eq!(
        r.stack[0].offset.map(|v| v.to_string()).as_deref(),
        Some("0x3f8f60"),
        "KeBugCheckEx"
    );
    assert_eq!(r.blame.module.as_deref(), Some("Ntfs.sys"));
    let i = r.blame.frame_index.expect("an Ntfs frame is on the stack") as usize;
    assert_eq!(r.stack[i].module.as_deref(), Some("Ntfs.sys"));
    assert_eq!(i, 2, "the first Ntfs frame (Ntfs+0xdaf26), not frame 0");
    assert!(r.stack[..i]
        .iter()
        .all(|f| f.module.as_deref() != Some("Ntfs.sys")));
}

#[test]
fn blame_index_always_names_a_frame_of_the_blamed_module_on_real_dumps() {
    let Some(dir) = sample("kernel-wild") else {
        return;
    };
    let kernel = sample("kernel")
        .into_iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap());
    for entry in std::fs::read_dir(dir).unwrap().chain(kernel) {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "dmp") {
            continue;
        }
        let r = report(&path);
        if let Some(i) = r.blame.frame_index {
            let frame = &r.stack[i as usize];
            assert_eq!(
                frame.module.as_deref().map(str::to_ascii_lowercase),
                r.blame.module.as_deref().map(str::to_ascii_lowercase),
                "{}",
                path.display()
            );
        }
    }
}

/// The one real ARM64 dump is a manual crash (0x1C8): no faulting address, so no trap frame
/// is looked for, and the walk starts from the header context as it always did (its
/// `inspect` JSON is locked by the snapshot tests).
#[test]
fn arm64_manual_crash_keeps_the_header_context() {
    let Some(path) = sample("kernel-wild/win11-arm64-0x1C8.dmp") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let dump = KernelDump::parse(&path, &bytes).unwrap();
    assert_eq!(parameter_fault_ip(&dump), None);
    let f = recovered(&path);
    assert_eq!(f.source, ContextSource::Header);
    assert!(!f.at_fault);
    assert_eq!(f.link_register, None);
    assert_eq!(Some(&f.context), dump.context.as_ref());
}
