//! The simulator: its triage-dump writer checked against the real samples' structure (raw
//! byte reads here, not the project's reader, so the writer is held to what Windows writes),
//! then read back through the project's reader.

use blastradius::dump::{Arch, CpuContext};
use blastradius::simulate::{write_triage_dump, SimDriver, SimUnloaded, TriageDumpSpec};

use crate::common;

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// The structural facts of a triage dump, read with raw offsets from KERNEL-DUMP-FORMAT.md.
#[derive(Debug)]
struct Structure {
    signature: [u8; 8],
    dump_type: u32,
    machine: u32,
    context_offset: u32,
    exception_offset: u32,
    minidump_fields: u32,
    driver_count: u32,
    /// (StringPoolOffset - DriverListOffset) / DriverCount.
    stride: u32,
    /// The u32 at ValidOffset, and ValidOffset == SizeOfDump - 4.
    valid_marker: [u8; 4],
    valid_is_size_minus_4: bool,
    size_of_dump: u32,
    /// Every driver name offset is 8-aligned and its DUMP_STRING ends in a NUL WCHAR when
    /// read with Length in WCHARs.
    names_aligned_and_terminated: bool,
    names: Vec<String>,
    /// The DumpBlob walk from SizeOfDump ends exactly at EOF (None: no blob section).
    blob_walk_ends_at_eof: Option<bool>,
    exception_code: u32,
}

fn structure(b: &[u8]) -> Structure {
    let is64 = &b[4..8] == b"DU64";
    let t = if is64 { 0x2000 } else { 0x1000 };
    let (dump_type, machine, fields, exc) = if is64 {
        (
            u32_at(b, 0xF98),
            u32_at(b, 0x30),
            u32_at(b, 0x1038),
            u32_at(b, 0xF00),
        )
    } else {
        (
            u32_at(b, 0xF88),
            u32_at(b, 0x20),
            u32_at(b, 0xF8C),
            u32_at(b, 0x7D0),
        )
    };
    let size_of_dump = u32_at(b, t + 4);
    let valid = u32_at(b, t + 8) as usize;
    let list = u32_at(b, t + 0x30);
    let count = u32_at(b, t + 0x34);
    let pool = u32_at(b, t + 0x38);
    let stride = (pool - list) / count;
    let mut aligned = true;
    let mut names = Vec::new();
    for i in 0..count as usize {
        let name_off = u32_at(b, list as usize + i * stride as usize) as usize;
        let len = u32_at(b, name_off) as usize;
        let units: Vec<u16> = (0..len)
            .map(|k| u16::from_le_bytes([b[name_off + 4 + 2 * k], b[name_off + 5 + 2 * k]]))
            .collect();
        let nul = u16::from_le_bytes([b[name_off + 4 + 2 * len], b[name_off + 5 + 2 * len]]);
        aligned &= name_off % 8 == 0 && nul == 0;
        names.push(String::from_utf16_lossy(&units));
    }
    let blob = (b.len() > size_of_dump as usize).then(|| {
        let mut p = size_of_dump as usize;
        if &b[p..p + 8] != b"DumpBlob" {
            return false;
        }
        p += u32_at(b, p + 8) as usize;
        while p + 0x20 <= b.len() {
            let header = u32_at(b, p) as usize;
            if header == 0 {
                // The Win7 x86 sample ends its blobs with zero fill before EOF.
                break;
            }
            let data = u32_at(b, p + 20) as usize;
            let pre = u32_at(b, p + 24) as usize;
            let post = u32_at(b, p + 28) as usize;
            p += header + pre + data + post;
        }
        p == b.len()
    });
    Structure {
        signature: b[0..8].try_into().unwrap(),
        dump_type,
        machine,
        context_offset: u32_at(b, t + 0x0C),
        exception_offset: u32_at(b, t + 0x10),
        minidump_fields: fields,
        driver_count: count,
        stride,
        valid_marker: b[valid..valid + 4].try_into().unwrap(),
        valid_is_size_minus_4: valid + 4 == size_of_dump as usize,
        size_of_dump,
        names_aligned_and_terminated: aligned,
        names,
        blob_walk_ends_at_eof: blob,
        exception_code: exc,
    }
}

const NT_BASE: u64 = 0xfffff805_3a000000;

/// A spec with 160 drivers in the Windows load order, a 0x50 fault in csagent.sys and a
/// DumpBlob, for `arch`.
fn sample_spec(arch: Arch) -> TriageDumpSpec {
    let (nt, hal) = (NT_BASE, NT_BASE - 0x1c0_0000);
    let mut drivers = vec![
        SimDriver {
            path: r"\SystemRoot\system32\ntoskrnl.exe".into(),
            base: nt,
            size: 0x104_6000,
            timestamp: 0x0d83_33e6,
            checksum: 0xa5_938c,
        },
        SimDriver {
            path: r"\SystemRoot\system32\hal.dll".into(),
            base: hal,
            size: 0x6000,
            timestamp: 0x1a7b_e8e9,
            checksum: 0xce9f,
        },
    ];
    let mut base = NT_BASE + 0x200_0000;
    for i in 0..157u32 {
        let size = 0x1_0000 + (i % 7) * 0x3000;
        drivers.push(SimDriver {
            path: format!(r"\SystemRoot\System32\drivers\sim{i:03}.sys"),
            base,
            size,
            timestamp: 0x5f00_0000 + i,
            checksum: 0x1_0000 + i,
        });
        base += u64::from(size).next_multiple_of(0x1_0000);
    }
    let cs_base = base;
    drivers.push(SimDriver {
        path: r"\SystemRoot\System32\drivers\CrowdStrike\csagent.sys".into(),
        base: cs_base,
        size: 0x1a_5000,
        timestamp: 0x6686_1cf6,
        checksum: 0x1a_12c4,
    });
    let (ip, sp, params, drivers, stack_top) = if arch == Arch::X86 {
        // A 32-bit kernel: rebase everything below 4 GB.
        let drivers: Vec<SimDriver> = drivers
            .into_iter()
            .map(|d| SimDriver {
                base: 0x8000_0000 + ((d.base - hal) & 0x7fff_ffff),
                ..d
            })
            .collect();
        let cs = drivers.last().unwrap().base;
        let ip = cs + 0xe14ed;
        (
            ip,
            0x9d1e_7c30u64,
            [0xc000_0074, 0, ip, 2],
            drivers,
            0x9d1e_7c30u64,
        )
    } else {
        let ip = cs_base + 0xe14ed;
        (
            ip,
            0xffff_c281_2a3e_6f28,
            [0xffff_8405_0000_0074, 0, ip, 2],
            drivers,
            0xffff_c281_2a3e_6f28,
        )
    };
    let stack_len = 0x2000 - (stack_top as usize & 0xfff);
    TriageDumpSpec {
        arch,
        os_build: if arch == Arch::X86 { 7601 } else { 19045 },
        processors: 8,
        product_type: 1,
        bugcheck_code: 0x50,
        parameters: params,
        crash_time_filetime: 133_659_413_400_000_000,
        uptime_100ns: 45 * 10_000_000,
        boot_id: Some(0x2d),
        context: CpuContext {
            arch,
            ip,
            sp,
            fp: 0,
            x64_gprs: None,
        },
        unloaded: vec![
            SimUnloaded {
                name: "dam.sys".into(),
                start: nt - 0x400_0000,
                end: nt - 0x3fe_4000,
            },
            SimUnloaded {
                name: "dump_storport.sys".into(),
                start: nt - 0x300_0000,
                end: nt - 0x2ff_0000,
            },
        ],
        stack_top,
        stack: (0..stack_len).map(|i| (i * 7) as u8).collect(),
        data_blocks: vec![
            (ip & !0xfff, vec![0xcc; 0x1000]),
            (drivers[0].base + 0xc2_a390, vec![0; 0x10]),
        ],
        dump_blob: Some(vec![0x5a; 0x209]),
        drivers,
    }
}

/// The written x64 dump has the real Win10 x64 sample's structure.
#[test]
fn x64_writer_matches_the_real_win10_sample_structure() {
    let Some(path) = common::sample("kernel/win10-x64-0x7E-amdppm.dmp") else {
        return;
    };
    let real = structure(&std::fs::read(path).unwrap());
    let written = structure(&write_triage_dump(&sample_spec(Arch::Amd64)));
    for s in [&real, &written] {
        assert_eq!(&s.signature, b"PAGEDU64");
        assert_eq!(s.dump_type, 4);
        assert_eq!(s.machine, 0x8664);
        assert_eq!(s.context_offset, 0x348);
        assert_eq!(s.exception_offset, 0xF00);
        assert_eq!(s.minidump_fields, 0xCFF);
        assert_eq!(s.stride, 0x90);
        assert_eq!(&s.valid_marker, b"TRGD");
        assert!(s.valid_is_size_minus_4);
        assert!(s.names_aligned_and_terminated);
        assert_eq!(s.blob_walk_ends_at_eof, Some(true));
        assert_eq!(
            s.exception_code, 0x8000_0003,
            "synthetic KeBugCheckEx breakpoint"
        );
        assert_eq!(s.names[0], r"\SystemRoot\system32\ntoskrnl.exe");
        assert_eq!(s.names[1], r"\SystemRoot\system32\hal.dll");
    }
    assert_eq!(real.driver_count, 151);
    assert_eq!(written.driver_count, 160);
    assert_eq!(written.size_of_dump % 0x1000, 0);
    assert_eq!(
        written.names[159],
        r"\SystemRoot\System32\drivers\CrowdStrike\csagent.sys"
    );
}

/// ARM64 uses the same PAGEDU64 layout with machine type 0xAA64.
#[test]
fn arm64_writer_uses_the_64bit_layout() {
    let bytes = write_triage_dump(&sample_spec(Arch::Arm64));
    let s = structure(&bytes);
    assert_eq!(&s.signature, b"PAGEDU64");
    assert_eq!(s.machine, 0xAA64);
    assert_eq!(s.stride, 0x90);
    assert_eq!(s.minidump_fields, 0xCFF);
    assert_eq!(s.blob_walk_ends_at_eof, Some(true));
    // ARM64 CONTEXT: Sp at +0x100, Pc at +0x108 of the header context record.
    let spec = sample_spec(Arch::Arm64);
    assert_eq!(u64_at(&bytes, 0x348 + 0x108), spec.context.ip);
    assert_eq!(u64_at(&bytes, 0x348 + 0x100), spec.context.sp);
    // BootId at 0x1054 is set, Attributes at 0x1050 keeps the PAGE fill.
    assert_eq!(u32_at(&bytes, 0x1054), 0x2d);
    assert_eq!(&bytes[0x1050..0x1054], b"PAGE");
}

/// The written x86 dump has the real Win7 x86 sample's structure.
#[test]
fn x86_writer_matches_the_real_win7_sample_structure() {
    let Some(path) = common::sample("kernel/win7-x86-0x8E-unknown-module.dmp") else {
        return;
    };
    let real_bytes = std::fs::read(path).unwrap();
    let real = structure(&real_bytes);
    let bytes = write_triage_dump(&sample_spec(Arch::X86));
    let written = structure(&bytes);
    for s in [&real, &written] {
        assert_eq!(&s.signature, b"PAGEDUMP");
        assert_eq!(s.dump_type, 4);
        assert_eq!(s.machine, 0x14C);
        assert_eq!(s.context_offset, 0x320);
        assert_eq!(s.exception_offset, 0x7D0);
        assert_eq!(s.minidump_fields, 0xDFF);
        assert_eq!(s.stride, 0x4C);
        assert_eq!(&s.valid_marker, b"TRGD");
        assert!(s.valid_is_size_minus_4);
        assert!(s.names_aligned_and_terminated);
        assert_eq!(s.exception_code, 0x8000_0003);
        assert_eq!(s.size_of_dump % 0x1000, 0);
    }
    assert_eq!(real.driver_count, 193);
    assert_eq!(real.names[0], "ntoskrnl.exe");
    // x86 data blocks are 16 bytes with a sign-extended u64 address, on both.
    for b in [&real_bytes, &bytes] {
        let table = u32_at(b, 0x1000 + 0x60) as usize;
        let count = u32_at(b, 0x1000 + 0x64) as usize;
        assert!(count > 0);
        for i in 0..count {
            let va = u64_at(b, table + 16 * i);
            assert_eq!(va >> 32, 0xffff_ffff, "sign-extended kernel VA");
            let off = u32_at(b, table + 16 * i + 8) as usize;
            let size = u32_at(b, table + 16 * i + 12) as usize;
            assert!(off + size <= b.len());
        }
    }
    // Eip / Esp of the header context (x86 CONTEXT +0xB8 / +0xC4).
    let spec = sample_spec(Arch::X86);
    assert_eq!(u64::from(u32_at(&bytes, 0x320 + 0xB8)), spec.context.ip);
    assert_eq!(u64::from(u32_at(&bytes, 0x320 + 0xC4)), spec.context.sp);
    // Unloaded entries are 40 bytes after a bare u32 count; names cut to 12 WCHARs.
    let unl = u32_at(&bytes, 0x1000 + 0x18) as usize;
    assert_eq!(u32_at(&bytes, unl), 2);
    let second = unl + 4 + 40;
    let name: Vec<u16> = (0..12)
        .map(|k| u16::from_le_bytes([bytes[second + 8 + 2 * k], bytes[second + 9 + 2 * k]]))
        .collect();
    assert_eq!(String::from_utf16_lossy(&name), "dump_storpor");
}

/// What the writer wrote, the project's reader reads back, on all three architectures.
#[test]
fn written_dumps_round_trip_through_the_kernel_reader() {
    use blastradius::dump::kernel::KernelDump;
    use blastradius::dump::MemoryRead;
    for arch in [Arch::Amd64, Arch::Arm64, Arch::X86] {
        let spec = sample_spec(arch);
        let bytes = write_triage_dump(&spec);
        let dump = KernelDump::parse(std::path::Path::new("written.dmp"), &bytes).unwrap();
        let h = &dump.header;
        assert_eq!(h.arch, arch);
        assert_eq!(h.build, spec.os_build);
        assert_eq!(h.processors, 8);
        assert_eq!(h.bugcheck_code, 0x50);
        assert_eq!(h.bugcheck_parameters, spec.parameters, "{arch:?}");
        assert_eq!(h.system_time, Some(spec.crash_time_filetime));
        assert_eq!(h.system_uptime, Some(spec.uptime_100ns));
        assert_eq!(h.product_type, Some(1));
        // BootId exists only in the 64-bit header.
        assert_eq!(h.boot_id, if arch == Arch::X86 { None } else { Some(0x2d) });
        let ctx = dump.context.as_ref().expect("context");
        assert_eq!(
            (ctx.ip, ctx.sp),
            (spec.context.ip, spec.context.sp),
            "{arch:?}"
        );

        let triage = dump.triage.as_ref().expect("triage part");
        assert!(triage.valid_marker);
        assert_eq!(triage.drivers.len(), spec.drivers.len());
        for (got, want) in triage.drivers.iter().zip(&spec.drivers) {
            assert_eq!(got.path, want.path);
            assert_eq!(
                (got.base, got.size, got.timestamp, got.checksum),
                (want.base, want.size, want.timestamp, want.checksum)
            );
        }
        assert_eq!(triage.drivers.last().unwrap().name, "csagent.sys");
        let unloaded: Vec<(&str, u64, u64)> = triage
            .unloaded
            .iter()
            .map(|u| (u.name.as_str(), u.start, u.end))
            .collect();
        let width_mask = if arch == Arch::X86 {
            0xffff_ffff
        } else {
            u64::MAX
        };
        assert_eq!(
            unloaded,
            vec![
                (
                    "dam.sys",
                    spec.unloaded[0].start & width_mask,
                    spec.unloaded[0].end & width_mask
                ),
                (
                    "dump_storpor",
                    spec.unloaded[1].start & width_mask,
                    spec.unloaded[1].end & width_mask
                )
            ]
        );
        assert_eq!(
            dump.stack_range(),
            Some((spec.stack_top, spec.stack_top + spec.stack.len() as u64))
        );
        let memory = dump.memory(&bytes);
        assert_eq!(
            memory.read_bytes(spec.stack_top, spec.stack.len()),
            Some(&spec.stack[..])
        );
        let (block_va, block) = &spec.data_blocks[0];
        assert_eq!(memory.read_bytes(*block_va, block.len()), Some(&block[..]));
        assert_eq!(triage.blobs.len(), 1, "{arch:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The user-mode minidump writer, read back with the `minidump` crate.

fn mdmp_spec() -> blastradius::simulate::MinidumpSpec {
    use blastradius::simulate::{MdmpException, MdmpModule, MdmpThread, MinidumpSpec};
    let module = |path: &str, base: u64, size: u32, pdb: &str| MdmpModule {
        path: path.into(),
        base,
        size,
        timestamp: 0x6612_7cb6,
        checksum: 0x1_2345,
        version: [5, 2, 0, 118],
        pdb_guid: [
            0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
            0xff, 0x01,
        ],
        pdb_age: 2,
        pdb_name: pdb.into(),
    };
    let core_base = 0x7ffc_1230_0000u64;
    let ip = core_base + 0x3_1c4a;
    let sp = 0x0000_00a0_1000_0000u64;
    let mut stack = vec![0u8; 0x1000];
    stack[0x40..0x48].copy_from_slice(&(core_base + 0x3_0e91).to_le_bytes());
    let mut gprs = [0u64; 16];
    gprs[4] = sp;
    MinidumpSpec {
        time_unix: 1_721_362_140,
        os_build: 19045,
        product_type: 1,
        processors: 8,
        modules: vec![
            module(
                r"C:\Program Files\Acme\VPN\AcmeVpnService.exe",
                0x7ff6_5a40_0000,
                0x4c000,
                "acmevpnservice.pdb",
            ),
            module(
                r"C:\Program Files\Acme\VPN\acmevpncore.dll",
                core_base,
                0x1a3000,
                "acmevpncore.pdb",
            ),
            module(
                r"C:\Windows\System32\ntdll.dll",
                0x7ffc_2000_0000,
                0x1f8000,
                "ntdll.pdb",
            ),
        ],
        threads: vec![MdmpThread {
            id: 0x1d4c,
            teb: 0xb3_0000_0000,
            stack_start: sp,
            stack,
            gprs,
            rip: ip,
        }],
        exception: MdmpException {
            thread_id: 0x1d4c,
            code: 0xC000_0005,
            address: ip,
            information: vec![0, 0x18],
        },
    }
}

/// The MDMP writer's output is a minidump the `minidump` crate reads: system info, modules
/// with CodeView RSDS, the thread with its stack and context, the exception.
#[test]
fn mdmp_writer_output_reads_back_with_the_minidump_crate() {
    use minidump::{
        system_info::Cpu, CrashReason, Minidump, MinidumpException, MinidumpMemoryList,
        MinidumpModuleList, MinidumpSystemInfo, MinidumpThreadList, Module,
    };
    let spec = mdmp_spec();
    let bytes = blastradius::simulate::write_minidump(&spec);
    let dump = Minidump::read(bytes.as_slice()).expect("a readable minidump");
    assert_eq!(dump.header.time_date_stamp, 1_721_362_140);

    let sys = dump.get_stream::<MinidumpSystemInfo>().unwrap();
    assert_eq!(sys.cpu, Cpu::X86_64);
    assert_eq!(sys.raw.build_number, 19045);
    assert_eq!(sys.raw.number_of_processors, 8);

    let modules = dump.get_stream::<MinidumpModuleList>().unwrap();
    let list: Vec<_> = modules.iter().collect();
    assert_eq!(list.len(), 3);
    assert_eq!(
        list[1].code_file(),
        r"C:\Program Files\Acme\VPN\acmevpncore.dll"
    );
    assert_eq!(list[1].base_address(), 0x7ffc_1230_0000);
    assert_eq!(list[1].size(), 0x1a3000);
    assert_eq!(list[1].debug_file().as_deref(), Some("acmevpncore.pdb"));
    // Breakpad debug id: GUID (Data1..3 as little-endian fields) + age.
    assert_eq!(
        list[1].debug_identifier().unwrap().breakpad().to_string(),
        "443322116655887799AABBCCDDEEFF012"
    );
    assert_eq!(
        list[1].code_identifier().unwrap().as_str(),
        "66127cb61a3000"
    );
    assert_eq!(
        modules
            .module_at_address(0x7ffc_1233_1c4a)
            .unwrap()
            .code_file(),
        list[1].code_file()
    );

    let threads = dump.get_stream::<MinidumpThreadList>().unwrap();
    let memory = dump.get_stream::<MinidumpMemoryList>().unwrap();
    assert_eq!(
        memory.iter().count(),
        1,
        "the stack is in the memory list too"
    );
    let memory = minidump::UnifiedMemoryList::Memory(memory);
    let thread = threads.get_thread(0x1d4c).expect("the crashing thread");
    let ctx = thread.context(&sys, None).expect("thread context");
    assert_eq!(ctx.get_instruction_pointer(), 0x7ffc_1233_1c4a);
    assert_eq!(ctx.get_stack_pointer(), 0xa0_1000_0000);
    let stack = thread.stack_memory(&memory).expect("stack memory");
    assert_eq!(stack.base_address(), 0xa0_1000_0000);
    assert_eq!(
        stack.get_memory_at_address::<u64>(0xa0_1000_0040),
        Some(0x7ffc_1233_0e91)
    );

    let exc = dump.get_stream::<MinidumpException>().unwrap();
    assert_eq!(exc.get_crashing_thread_id(), 0x1d4c);
    assert_eq!(exc.raw.exception_record.exception_code, 0xC000_0005);
    let reason = exc.get_crash_reason(sys.os, sys.cpu);
    assert!(
        matches!(reason, CrashReason::WindowsAccessViolation(_)),
        "{reason:?}"
    );
    assert_eq!(reason.to_string(), "EXCEPTION_ACCESS_VIOLATION_READ");
    assert_eq!(exc.get_crash_address(sys.os, sys.cpu), 0x18);
}

// ---------------------------------------------------------------------------------------
// Simulated fleets.

use blastradius::simulate::{CapturedMemory, Scenario, SimulateConfig, Truth};

/// A fleet's configuration at the default start time.
fn sim_config(
    scenarios: &[Scenario],
    hosts: usize,
    seed: u64,
    minidumps_count: usize,
    captured_memory: CapturedMemory,
) -> SimulateConfig {
    SimulateConfig {
        scenarios: scenarios.to_vec(),
        hosts,
        seed,
        start: blastradius::simulate::DEFAULT_START,
        minidumps_count,
        captured_memory,
    }
}

pub(crate) fn write_fleet(
    dir: &std::path::Path,
    scenarios: &[Scenario],
    hosts: usize,
    seed: u64,
    minidumps_count: usize,
) -> Truth {
    // Small files keep the tests fast; one test checks the realistic blocks on their own.
    let config = sim_config(
        scenarios,
        hosts,
        seed,
        minidumps_count,
        CapturedMemory::Minimal,
    );
    blastradius::simulate::write_fleet(&config, dir, "fleet").unwrap();
    serde_json::from_slice(&std::fs::read(dir.join("truth.json")).unwrap()).unwrap()
}

/// Every dump of a fleet with all four scenarios, read by the project's own pipeline (reader,
/// stack walk, symbols from symbols-cache/, triage), gives exactly the truth: bugcheck, fault
/// module, blamed driver, bucket id, crash time, uptime.
#[test]
fn truth_json_agrees_with_what_the_pipeline_reads_from_every_dump() {
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let truth = write_fleet(dir.path(), &Scenario::ALL, 150, 2, 3);
    let store = common::project_root().join("symbols-cache");
    let symbols = blastradius::symbols::SymbolCache::from_spec(store.to_str().unwrap()).unwrap();
    let pipeline = blastradius::pipeline::Pipeline::new(Arc::new(symbols));

    let labels: std::collections::BTreeSet<&str> =
        truth.dumps.iter().map(|d| d.cluster.as_str()).collect();
    for expected in [
        "AV_R_INVALID_csagent!unknown_function",
        "AV_W_acmenet!FilterSend",
        "AV_acmeflt!ReadSectorHeader",
        "0x116_igdkmd64!unknown_function",
        "POWER_BUTTON_HOLD",
        "0x124_WHEA",
        "NULL_POINTER_READ_c0000005_acmevpncore!unknown_function",
    ] {
        assert!(
            labels.contains(expected),
            "the test fleet has no {expected} dump: {labels:?}"
        );
    }
    let mut archs = std::collections::BTreeSet::new();
    for d in &truth.dumps {
        let report = pipeline
            .process_file(&dir.path().join(&d.path))
            .unwrap_or_else(|e| panic!("{e}"));
        archs.insert(report.arch.to_string());
        assert_eq!(report.bucket_id, d.cluster, "{}", d.path);
        assert_eq!(
            report.blame.module.as_deref().map(str::to_lowercase),
            d.blamed_driver,
            "{}",
            d.path
        );
        assert_eq!(
            report
                .fault
                .module
                .as_ref()
                .map(|v| v.to_string())
                .as_deref()
                .map(str::to_lowercase),
            d.fault_module,
            "{}",
            d.path
        );
        assert_eq!(
            report.bugcheck.as_ref().map(|b| format!("{:#x}", b.code)),
            d.bugcheck_code.as_ref().map(|c| c.to_lowercase())
        );
        assert_eq!(
            report
                .exception
                .as_ref()
                .map(|e| format!("0x{:08X}", e.code)),
            d.exception_code,
            "{}",
            d.path
        );
        assert_eq!(report.size_bytes, d.size_bytes);
        if d.format == "kernel-triage" {
            assert_eq!(
                report
                    .crash_time
                    .map(|t| blastradius::record::time_text(&t))
                    .as_deref(),
                Some(d.crash_time.as_str()),
                "{}",
                d.path
            );
            assert_eq!(report.uptime_seconds, Some(d.uptime_seconds), "{}", d.path);
            assert!(
                report.modules.len() >= 150,
                "{}: {} modules",
                d.path,
                report.modules.len()
            );
            assert!(
                report.warnings.is_empty(),
                "{}: {:?}",
                d.path,
                report.warnings
            );
        }
    }
    assert_eq!(
        archs.into_iter().collect::<Vec<_>>(),
        ["amd64", "arm64", "x86"]
    );
}

/// The same seed writes the same bytes (the per-host parallel generation leaks no scheduling
/// or hash-map order); another seed writes another fleet.
#[test]
fn same_seed_gives_identical_bytes() {
    fn files(root: &std::path::Path) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path()
                        .strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }
    let scenarios = [
        Scenario::ChannelFile291,
        Scenario::Baseline,
        Scenario::StagedRollout,
    ];
    let (a, b, c) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_fleet(a.path(), &scenarios, 60, 11, 5);
    write_fleet(b.path(), &scenarios, 60, 11, 5);
    write_fleet(c.path(), &scenarios, 60, 12, 5);
    let (fa, fb, fc) = (files(a.path()), files(b.path()), files(c.path()));
    assert!(fa.len() > 60, "{} files", fa.len());
    assert!(fa.iter().any(|(p, _)| p == "rollout.csv"));
    assert_eq!(fa.len(), fb.len());
    for ((pa, ba), (pb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(pa, pb);
        assert!(ba == bb, "{pa} differs between two runs with the same seed");
    }
    assert_ne!(fa, fc);
}

/// channel-file-291: the push reaches every online host within minutes, most affected hosts
/// boot-loop (repeated crashes within a minute or two of boot), nothing crashes on the bad
/// content after the loops end, and the parameters are the published ones.
#[test]
fn channel_file_291_boot_loops_most_hosts_with_the_published_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let truth = write_fleet(dir.path(), &[Scenario::ChannelFile291], 200, 3, 50);
    let affected = truth.outages.len();
    assert!(affected > 100, "{affected} of 200 hosts hit");
    assert!(
        truth.boot_loop_hosts.len() * 2 > affected,
        "{} of {affected} boot-loop",
        truth.boot_loop_hosts.len()
    );
    assert!(truth
        .outages
        .iter()
        .any(|o| o.recovery == "boot-loop-manual-repair"));
    assert!(truth
        .outages
        .iter()
        .any(|o| o.recovery == "boot-loop-recovered-after-revert"));
    assert!(truth
        .outages
        .iter()
        .any(|o| o.recovery == "single-crash-manual-reboot"));
    for host in &truth.boot_loop_hosts {
        let short = truth
            .dumps
            .iter()
            .filter(|d| &d.host == host && d.uptime_seconds < 120)
            .count();
        assert!(
            short >= 2,
            "{host} boot-loops with {short} short-uptime dumps"
        );
    }
    for d in truth.dumps.iter().filter(|d| d.boot_loop) {
        assert!(
            truth.boot_loop_hosts.contains(&d.host),
            "{} is marked boot_loop on a host that does not loop",
            d.path
        );
    }
    // Online hosts: first crashes start at 04:09 UTC and the online ones cluster in minutes.
    let mut firsts: Vec<&str> = truth
        .outages
        .iter()
        .map(|o| o.first_crash.as_str())
        .collect();
    firsts.sort_unstable();
    assert!(
        firsts[0] >= "2024-07-19T04:09:00Z" && firsts[0] < "2024-07-19T04:11:00Z",
        "{}",
        firsts[0]
    );
    let within_15_min = firsts
        .iter()
        .filter(|t| **t < "2024-07-19T04:24:00Z")
        .count();
    assert!(
        within_15_min * 10 > affected * 6,
        "{within_15_min} of {affected} in the first 15 minutes"
    );
    assert!(truth
        .timeline
        .iter()
        .any(|e| e.time == "2024-07-19T05:27:00Z" && e.event.contains("reverted")));

    // The published crash: P1 0xffff84xx_00000074 (read), P2 0, P3 = csagent+0xe14ed, P4 2.
    let x64 = truth
        .dumps
        .iter()
        .find(|d| d.fault_address.starts_with("0xfffff8"))
        .unwrap();
    let bytes = std::fs::read(dir.path().join(&x64.path)).unwrap();
    let dump =
        blastradius::dump::kernel::KernelDump::parse(std::path::Path::new(&x64.path), &bytes)
            .unwrap();
    let p = dump.header.bugcheck_parameters;
    assert_eq!(dump.header.bugcheck_code, 0x50);
    assert_eq!(p[0] & 0xffff_ff00_ffff_ffff, 0xffff_8400_0000_0074);
    assert_eq!((p[1], p[3]), (0, 2));
    let csagent = dump
        .drivers()
        .iter()
        .find(|d| d.name == "csagent.sys")
        .unwrap();
    assert_eq!(p[2], csagent.base + 0xe14ed);
    // As on real Windows 10 dumps, the header context is KeBugCheckEx's frame and the fault
    // is in KiPageFault's trap frame on the captured stack.
    let kernel = &dump.drivers()[0];
    assert_eq!(dump.context.as_ref().unwrap().ip, kernel.base + 0x3f_5a80);
    let fault = blastradius::dump::fault_context::recover(&dump, &bytes, Some(p[2])).unwrap();
    assert!(matches!(
        fault.source,
        blastradius::dump::fault_context::ContextSource::TrapFrame { .. }
    ));
    assert_eq!(fault.context.ip, p[2]);
    assert_eq!(
        csagent.path,
        r"\SystemRoot\System32\drivers\CrowdStrike\csagent.sys"
    );
}

/// Dumps from a simulated fleet follow the real samples' structural rules (as the written
/// specs in the first tests do).
#[test]
fn fleet_dumps_follow_the_real_structural_rules() {
    let dir = tempfile::tempdir().unwrap();
    let truth = write_fleet(
        dir.path(),
        &[Scenario::ChannelFile291, Scenario::Baseline],
        120,
        5,
        2,
    );
    let mut checked = std::collections::BTreeSet::new();
    for d in truth.dumps.iter().filter(|d| d.format == "kernel-triage") {
        let bytes = std::fs::read(dir.path().join(&d.path)).unwrap();
        let s = structure(&bytes);
        let is64 = &s.signature == b"PAGEDU64";
        assert_eq!(s.dump_type, 4);
        assert_eq!(s.stride, if is64 { 0x90 } else { 0x4C });
        assert_eq!(s.minidump_fields, if is64 { 0xCFF } else { 0xDFF });
        assert_eq!(
            (s.context_offset, s.exception_offset),
            if is64 { (0x348, 0xF00) } else { (0x320, 0x7D0) }
        );
        assert_eq!(&s.valid_marker, b"TRGD");
        assert!(s.valid_is_size_minus_4 && s.size_of_dump % 0x1000 == 0);
        assert!(s.names_aligned_and_terminated);
        assert_eq!(s.blob_walk_ends_at_eof, Some(true), "{}", d.path);
        assert!(s.driver_count >= 150);
        assert_eq!(d.size_bytes as usize, bytes.len());
        checked.insert(s.machine);
    }
    assert_eq!(
        checked.into_iter().collect::<Vec<_>>(),
        [0x14C, 0x8664, 0xAA64]
    );
}

/// The record-level generator yields the reports of exactly the dumps `write_fleet` writes,
/// with the truth's bucket ids.
#[test]
fn simulate_reports_match_the_written_fleet() {
    use blastradius::simulate::{simulate_reports, ReportOptions};
    let dir = tempfile::tempdir().unwrap();
    let scenarios = [
        Scenario::ChannelFile291,
        Scenario::Baseline,
        Scenario::GpuTdr,
    ];
    let truth = write_fleet(dir.path(), &scenarios, 80, 21, 50);
    let options = ReportOptions {
        with_modules: false,
        ..ReportOptions::default()
    };
    let reports: Vec<_> = simulate_reports(&scenarios, 80, 21, options).collect();
    assert_eq!(reports.len(), truth.dumps.len());
    for ((host, r), d) in reports.iter().zip(&truth.dumps) {
        assert_eq!(host, &d.host);
        assert_eq!(r.path, d.path);
        assert_eq!(r.bucket_id, d.cluster, "{}", d.path);
        assert_eq!(
            r.blame.module.as_deref().map(str::to_lowercase),
            d.blamed_driver
        );
        assert_eq!(
            r.crash_time
                .map(|t| blastradius::record::time_text(&t))
                .as_deref(),
            Some(d.crash_time.as_str())
        );
        assert!(r.modules.is_empty());
    }
    // Lazy: taking a few rows of a huge fleet is cheap.
    let first: Vec<_> = simulate_reports(&scenarios, 1_000_000, 21, ReportOptions::default())
        .take(3)
        .collect();
    assert_eq!(first.len(), 3);
    assert!(first[0].1.modules.len() >= 150);
}

/// `simulate --help` lists every scenario with its line; the CLI writes a fleet and refuses
/// to overwrite one without --force.
#[test]
fn simulate_cli_lists_scenarios_and_protects_an_existing_fleet() {
    let help = std::process::Command::new(common::binary())
        .args(["simulate", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for s in Scenario::ALL {
        assert!(
            text.contains(&format!("{}:", s.name())),
            "--help lacks {}",
            s.name()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fleet");
    let run = |extra: &[&str]| {
        std::process::Command::new(common::binary())
            .args([
                "simulate",
                "--scenario",
                "channel-file-291,baseline",
                "--hosts",
                "12",
                "--seed",
                "4",
                "--out",
            ])
            .arg(&out)
            .args(extra)
            .output()
            .unwrap()
    };
    let first = run(&[]);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        out.join("inventory.csv").exists()
            && out.join("truth.json").exists()
            && out.join("rollout.csv").exists()
    );
    let inventory = std::fs::read_to_string(out.join("inventory.csv")).unwrap();
    assert_eq!(inventory.lines().count(), 13);
    assert!(inventory.starts_with("host,site,site_name,city,country,region,utc_offset,role,"));
    let again = run(&[]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert!(run(&["--force"]).status.success());
    let bad = std::process::Command::new(common::binary())
        .args(["simulate", "--scenario", "channel-file-292", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// The committed sample fleet is exactly what its README's command writes (so the README is
/// true, and a change to the simulator or the fixtures that alters it is noticed).
#[test]
fn committed_sample_fleet_is_what_its_readme_command_writes() {
    let committed = common::project_root().join("sample-dumps");
    let readme = std::fs::read_to_string(committed.join("README.md")).unwrap();
    let command = "blastradius simulate --scenario channel-file-291,baseline --hosts 200 --seed 1 --out sample-dumps --minidumps-count 4 --captured-memory minimal";
    assert!(
        readme.contains(command),
        "sample-dumps/README.md lacks the command"
    );
    let dir = tempfile::tempdir().unwrap();
    let config = sim_config(
        &[Scenario::ChannelFile291, Scenario::Baseline],
        200,
        1,
        4,
        CapturedMemory::Minimal,
    );
    blastradius::simulate::write_fleet(&config, dir.path(), "sample-dumps").unwrap();
    let files = |root: &std::path::Path| -> Vec<std::path::PathBuf> {
        let mut v: Vec<_> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file() && e.file_name() != "README.md")
            .map(|e| e.path().strip_prefix(root).unwrap().to_path_buf())
            .collect();
        v.sort();
        v
    };
    let expected = files(dir.path());
    assert_eq!(
        files(&committed),
        expected,
        "sample-dumps/ holds other files than the command writes"
    );
    for rel in &expected {
        let same = std::fs::read(committed.join(rel)).unwrap()
            == std::fs::read(dir.path().join(rel)).unwrap();
        assert!(
            same,
            "sample-dumps/{} differs from what the command writes: regenerate it",
            rel.display()
        );
    }
}

/// `--captured-memory realistic` gives Windows 10+ 64-bit dumps the data-block count and file
/// size of the real Win10 x64 sample (1,831 blocks, 1.4 MB), x86 dumps the few blocks of the
/// real Win7 one; and it changes nothing a triage reads: every dump gives the same report as
/// the same fleet written `minimal`.
#[test]
fn realistic_captured_memory_matches_real_sizes_and_changes_no_triage() {
    use blastradius::dump::kernel::KernelDump;
    use blastradius::pipeline::Pipeline;

    let write = |memory: CapturedMemory| {
        let dir = tempfile::tempdir().unwrap();
        let config = sim_config(
            &[Scenario::ChannelFile291, Scenario::Baseline],
            40,
            11,
            2,
            memory,
        );
        blastradius::simulate::write_fleet(&config, dir.path(), "fleet").unwrap();
        let truth: Truth =
            serde_json::from_slice(&std::fs::read(dir.path().join("truth.json")).unwrap()).unwrap();
        (dir, truth)
    };
    let (real_dir, real_truth) = write(CapturedMemory::Realistic);
    let (min_dir, min_truth) = write(CapturedMemory::Minimal);
    assert_eq!(real_truth.dumps.len(), min_truth.dumps.len());
    assert!(
        real_truth.command.ends_with("--minidumps-count 2"),
        "{}",
        real_truth.command
    );

    // The real sample's numbers, read from it when present (else as samples/README.md gives them).
    let (real_blocks, real_size) = match common::sample("kernel/win10-x64-0x7E-amdppm.dmp") {
        Some(p) => {
            let b = std::fs::read(&p).unwrap();
            let d = KernelDump::parse(&p, &b).unwrap();
            (d.triage.unwrap().data_blocks.len(), b.len())
        }
        None => (1831, 1_444_532),
    };
    assert_eq!(real_blocks, 1831);

    let pipeline = Pipeline::default();
    let (mut wide, mut narrow) = (0, 0);
    for d in &real_truth.dumps {
        if d.format != "kernel-triage" {
            continue;
        }
        let path = real_dir.path().join(&d.path);
        let bytes = std::fs::read(&path).unwrap();
        let dump = KernelDump::parse(&path, &bytes).unwrap();
        let triage = dump.triage.as_ref().unwrap();
        assert!(triage.valid_marker, "{}", d.path);
        let blocks = triage.data_blocks.len();
        let a = pipeline.process_bytes(&path, &bytes).unwrap();
        if a.arch.to_string() == "x86" {
            narrow += 1;
            assert!((8..=20).contains(&blocks), "{}: {blocks} blocks", d.path);
        } else if a.os_build.is_some_and(|b| b >= 10240) {
            wide += 1;
            // Within a third of the real sample's block count and file size.
            assert!(
                blocks * 3 >= real_blocks * 2 && blocks * 3 <= real_blocks * 4,
                "{}: {blocks} blocks",
                d.path
            );
            assert!(
                bytes.len() * 3 >= real_size * 2 && bytes.len() * 3 <= real_size * 4,
                "{}: {} bytes",
                d.path,
                bytes.len()
            );
        }
        let min_path = min_dir.path().join(&d.path);
        let b = pipeline.process_file(&min_path).unwrap();
        assert!(b.size_bytes < a.size_bytes);
        assert_eq!(
            (
                &a.bugcheck,
                &a.fault,
                &a.blame,
                &a.bucket_id,
                &a.signature,
                &a.crash_time
            ),
            (
                &b.bugcheck,
                &b.fault,
                &b.blame,
                &b.bucket_id,
                &b.signature,
                &b.crash_time
            ),
            "{}",
            d.path
        );
        assert_eq!(a.stack, b.stack, "{}", d.path);
        assert_eq!(a.modules, b.modules, "{}", d.path);
    }
    assert!(wide > 20, "only {wide} Windows 10+ 64-bit dumps");
    assert!(narrow > 0, "no x86 dump: the x86 block rule went unchecked");
}
