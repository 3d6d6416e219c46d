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
        (u32_at(b, 0xF98), u32_at(b, 0x30), u32_at(b, 0x1038), u32_at(b, 0xF00))
    } else {
        (u32_at(b, 0xF88), u32_at(b, 0x20), u32_at(b, 0xF8C), u32_at(b, 0x7D0))
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
        let units: Vec<u16> =
            (0..len).map(|k| u16::from_le_bytes([b[name_off + 4 + 2 * k], b[name_off + 5 + 2 * k]])).collect();
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
        SimDriver { path: r"\SystemRoot\system32\ntoskrnl.exe".into(), base: nt, size: 0x104_6000, timestamp: 0x0d83_33e6, checksum: 0xa5_938c },
        SimDriver { path: r"\SystemRoot\system32\hal.dll".into(), base: hal, size: 0x6000, timestamp: 0x1a7b_e8e9, checksum: 0xce9f },
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
            .map(|d| SimDriver { base: 0x8000_0000 + ((d.base - hal) & 0x7fff_ffff), ..d })
            .collect();
        let cs = drivers.last().unwrap().base;
        let ip = cs + 0xe14ed;
        (ip, 0x9d1e_7c30u64, [0xc000_0074, 0, ip, 2], drivers, 0x9d1e_7c30u64)
    } else {
        let ip = cs_base + 0xe14ed;
        (ip, 0xffff_c281_2a3e_6f28, [0xffff_8405_0000_0074, 0, ip, 2], drivers, 0xffff_c281_2a3e_6f28)
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
        context: CpuContext { arch, ip, sp, fp: 0, x64_gprs: None },
        unloaded: vec![
            SimUnloaded { name: "dam.sys".into(), start: nt - 0x400_0000, end: nt - 0x3fe_4000 },
            SimUnloaded { name: "dump_storport.sys".into(), start: nt - 0x300_0000, end: nt - 0x2ff_0000 },
        ],
        stack_top,
        stack: (0..stack_len).map(|i| (i * 7) as u8).collect(),
        data_blocks: vec![(ip & !0xfff, vec![0xcc; 0x1000]), (drivers[0].base + 0xc2_a390, vec![0; 0x10])],
        dump_blob: Some(vec![0x5a; 0x209]),
        drivers,
    }
}

/// The written x64 dump has the real Win10 x64 sample's structure.
#[test]
fn x64_writer_matches_the_real_win10_sample_structure() {
    let Some(path) = common::sample("kernel/win10-x64-0x7E-amdppm.dmp") else { return };
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
        assert_eq!(s.exception_code, 0x8000_0003, "synthetic KeBugCheckEx breakpoint");
        assert_eq!(s.names[0], r"\SystemRoot\system32\ntoskrnl.exe");
        assert_eq!(s.names[1], r"\SystemRoot\system32\hal.dll");
    }
    assert_eq!(real.driver_count, 151);
    assert_eq!(written.driver_count, 160);
    assert_eq!(written.size_of_dump % 0x1000, 0);
    assert_eq!(written.names[159], r"\SystemRoot\System32\drivers\CrowdStrike\csagent.sys");
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
    let Some(path) = common::sample("kernel/win7-x86-0x8E-unknown-module.dmp") else { return };
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
    let name: Vec<u16> = (0..12).map(|k| u16::from_le_bytes([bytes[second + 8 + 2 * k], bytes[second + 9 + 2 * k]])).collect();
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
        assert_eq!((ctx.ip, ctx.sp), (spec.context.ip, spec.context.sp), "{arch:?}");

        let triage = dump.triage.as_ref().expect("triage part");
        assert!(triage.valid_marker);
        assert_eq!(triage.drivers.len(), spec.drivers.len());
        for (got, want) in triage.drivers.iter().zip(&spec.drivers) {
            assert_eq!(got.path, want.path);
            assert_eq!((got.base, got.size, got.timestamp, got.checksum), (want.base, want.size, want.timestamp, want.checksum));
        }
        assert_eq!(triage.drivers.last().unwrap().name, "csagent.sys");
        let unloaded: Vec<(&str, u64, u64)> = triage.unloaded.iter().map(|u| (u.name.as_str(), u.start, u.end)).collect();
        let width_mask = if arch == Arch::X86 { 0xffff_ffff } else { u64::MAX };
        assert_eq!(
            unloaded,
            vec![
                ("dam.sys", spec.unloaded[0].start & width_mask, spec.unloaded[0].end & width_mask),
                ("dump_storpor", spec.unloaded[1].start & width_mask, spec.unloaded[1].end & width_mask)
            ]
        );
        assert_eq!(dump.stack_range(), Some((spec.stack_top, spec.stack_top + spec.stack.len() as u64)));
        let memory = dump.memory(&bytes);
        assert_eq!(memory.read_bytes(spec.stack_top, spec.stack.len()), Some(&spec.stack[..]));
        let (block_va, block) = &spec.data_blocks[0];
        assert_eq!(memory.read_bytes(*block_va, block.len()), Some(&block[..]));
        assert_eq!(triage.blobs.len(), 1, "{arch:?}");
    }
}
