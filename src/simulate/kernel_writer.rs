//! Writes Windows kernel small-memory ("triage", DumpType 4) dumps from a description.
//!
//! The layout is KERNEL-DUMP-FORMAT.md, and the order and values of the parts mirror the real
//! samples, so that a reader tested on these files is tested on what Windows writes:
//!
//! 64-bit (`PAGEDU64`, x64 and ARM64), as the Win10 19041 x64 sample:
//! `DUMP_HEADER64` (0x2000, pre-filled with `PAGE`) | `TRIAGE_DUMP64` @0x2000 (0x80) |
//! `DUMP_MM_STORAGE64` (0x50) | unloaded drivers {u32 count, u32 pad, 0x38-byte entries} |
//! PRCB | EPROCESS | ETHREAD | call stack | KDDEBUGGER_DATA64 | driver list (stride 0x90) |
//! string pool (8-aligned `DUMP_STRING`s) | `TRIAGE_DATA_BLOCK` table (16 bytes each) |
//! data block bytes | zeros | `TRGD` at SizeOfDump-4 | DumpBlob secondary data (optional).
//!
//! 32-bit (`PAGEDUMP`, x86), as the Win7 x86 sample:
//! `DUMP_HEADER32` (0x1000) | `TRIAGE_DUMP32` @0x1000 (0x68) | `DUMP_MM_STORAGE32` (0x38) |
//! PRCB | EPROCESS | ETHREAD | call stack | KDDEBUGGER_DATA64 | unloaded drivers {u32 count,
//! 40-byte entries} | driver list (stride 0x4C) | string pool | data-block table (16 bytes each,
//! as on the real x86 dump) | data | zeros | `TRGD` | DumpBlob.
//!
//! SizeOfDump is page-aligned (as on Win7; Win10 does not align it, and readers must not rely
//! on either). Fields a triage dump never sets keep the `PAGE` fill, as Windows leaves them.

use crate::dump::{Arch, CpuContext};

/// `PAGE` as a little-endian u32: the header fill pattern and the first signature word.
const PAGE: &[u8; 4] = b"PAGE";
const HEADER64_SIZE: usize = 0x2000;
const HEADER32_SIZE: usize = 0x1000;
const PAGE_SIZE: usize = 0x1000;
/// `DUMP_TYPE_TRIAGE`.
const DUMP_TYPE_TRIAGE: u32 = 4;
/// TRIAGE_DUMP_* bits as in every real x64 sample: BASIC_INFO | DEBUGGER_DATA | DATA_BLOCKS.
const MINIDUMP_FIELDS_64: u32 = 0xCFF;
/// As in the real x86 sample: the 64-bit set plus MMINFO.
const MINIDUMP_FIELDS_32: u32 = 0xDFF;
/// Driver-entry strides (KERNEL-DUMP-FORMAT §6).
pub const DRIVER_ENTRY64_SIZE: usize = 0x90;
pub const DRIVER_ENTRY32_SIZE: usize = 0x4C;
/// Unloaded-driver entry sizes (§7).
pub const UNLOADED64_SIZE: usize = 0x38;
pub const UNLOADED32_SIZE: usize = 40;
/// `TRIAGE_DATA_BLOCK`: {u64 Address; u32 Offset; u32 Size} in both widths.
pub const DATA_BLOCK_SIZE: usize = 16;
/// Sizes of the CONTEXT records written into the header.
const AMD64_CONTEXT_SIZE: usize = 0x4D0;
const ARM64_CONTEXT_SIZE: usize = 0x390;
const X86_CONTEXT_SIZE: usize = 0x2CC;
/// Raw kernel-structure copies. Real ones are larger (a Win10 KPRCB copy is 0xAF00 bytes);
/// nothing reads them without the kernel's PDB, so small zero-filled copies keep dumps small
/// while keeping the offsets meaningful.
const PRCB_COPY_SIZE: usize = 0x400;
const PROCESS_COPY_SIZE: usize = 0x200;
const THREAD_COPY_SIZE: usize = 0x200;
/// The `DumpBlob` tag GUID used for the blob this writer appends (the first tag of the Win10
/// sample; readers skip blobs by size and never interpret the tag).
const BLOB_TAG: [u8; 16] = [
    0x88, 0x48, 0xc8, 0x54, 0xd1, 0x01, 0x1e, 0x4c, 0xbe, 0xd6, 0x28, 0x2c, 0x98, 0x24, 0x13, 0x03,
];
/// Where KeBugCheckEx sits in ntoskrnl (the Win10 19041 value): the synthetic breakpoint
/// exception record in the header points there.
const KEBUGCHECKEX_RVA: u64 = 0x3f_5a80;
/// Offsets of kernel globals from the kernel base (Win10 19041 values), so the header's
/// PsLoadedModuleList / KdDebuggerDataBlock point into ntoskrnl like real ones.
const PS_LOADED_MODULE_LIST_RVA: u64 = 0xc2_a390;
const PS_ACTIVE_PROCESS_HEAD_RVA: u64 = 0xc1_e200;
const PFN_DATABASE_RVA: u64 = 0xcf_c500;
const KD_DEBUGGER_DATA_RVA: u64 = 0xc0_0b20;

/// One loaded driver to list in the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimDriver {
    /// The full NT path, as x64 Windows writes it (`\SystemRoot\System32\drivers\x.sys`).
    pub path: String,
    pub base: u64,
    pub size: u32,
    pub timestamp: u32,
    pub checksum: u32,
}

/// One entry of the unloaded-driver list. Names longer than 12 characters are truncated to
/// the 12 WCHARs the structure holds, as Windows does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUnloaded {
    pub name: String,
    pub start: u64,
    pub end: u64,
}

/// Everything a triage dump says, in the terms of the format (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageDumpSpec {
    /// `Amd64` and `Arm64` give PAGEDU64, `X86` PAGEDUMP. (`Other` is written as 64-bit with
    /// that machine type, for tests of unknown architectures.)
    pub arch: Arch,
    /// The NT build (header MinorVersion): 7601, 19045, 22631, ...
    pub os_build: u32,
    pub processors: u32,
    /// 1 WinNt (workstation), 2 LanManNt (domain controller), 3 ServerNt.
    pub product_type: u32,
    pub bugcheck_code: u32,
    /// Bugcheck parameters; truncated to 32 bits in a 32-bit dump.
    pub parameters: [u64; 4],
    /// FILETIME (100 ns since 1601-01-01 UTC).
    pub crash_time_filetime: u64,
    pub uptime_100ns: u64,
    /// Written only in 64-bit headers (at 0x1054); `None` leaves the `PAGE` fill.
    pub boot_id: Option<u32>,
    /// IP, SP, FP (and on x64 the general registers) of the header context record.
    pub context: CpuContext,
    pub drivers: Vec<SimDriver>,
    pub unloaded: Vec<SimUnloaded>,
    /// TopOfStack: the LOWEST VA of the captured stack (the SP at capture time).
    pub stack_top: u64,
    pub stack: Vec<u8>,
    /// Captured memory: (virtual address, bytes).
    pub data_blocks: Vec<(u64, Vec<u8>)>,
    /// Secondary data written after SizeOfDump as one DUMP_BLOB; `None` ends the file at
    /// SizeOfDump.
    pub dump_blob: Option<Vec<u8>>,
}

/// A growable byte image addressed by absolute offsets.
struct Image {
    bytes: Vec<u8>,
}

impl Image {
    fn ensure(&mut self, end: usize) {
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
    }
    fn put(&mut self, offset: usize, data: &[u8]) {
        self.ensure(offset + data.len());
        self.bytes[offset..offset + data.len()].copy_from_slice(data);
    }
    fn u32(&mut self, offset: usize, v: u32) {
        self.put(offset, &v.to_le_bytes());
    }
    fn u64(&mut self, offset: usize, v: u64) {
        self.put(offset, &v.to_le_bytes());
    }
    /// Appends `data` at the current end, after zero padding to `align`; returns its offset.
    fn append(&mut self, align: usize, data: &[u8]) -> usize {
        let offset = align_up(self.bytes.len(), align);
        self.put(offset, data);
        offset
    }
    fn len(&self) -> usize {
        self.bytes.len()
    }
}

fn align_up(value: usize, align: usize) -> usize {
    value.div_ceil(align) * align
}

/// Offsets must fit the u32 fields of the triage header; the simulator's dumps are small,
/// so exceeding 4 GB is a bug in the caller's spec.
fn off32(offset: usize) -> u32 {
    u32::try_from(offset).unwrap_or(u32::MAX)
}

fn utf16(text: &str) -> Vec<u16> {
    text.encode_utf16().collect()
}

/// Writes the dump `spec` describes. Never fails: every spec gives a well-formed file.
pub fn write_triage_dump(spec: &TriageDumpSpec) -> Vec<u8> {
    match spec.arch {
        Arch::X86 => write32(spec),
        _ => write64(spec),
    }
}

/// The kernel base: the first listed driver (ntoskrnl, as Windows lists it), else a typical one.
fn kernel_base(spec: &TriageDumpSpec) -> u64 {
    spec.drivers
        .first()
        .map(|d| d.base)
        .unwrap_or(0xffff_f800_0ba0_0000)
}

fn machine_type(arch: Arch) -> u32 {
    match arch {
        Arch::X86 => 0x14c,
        Arch::Amd64 => 0x8664,
        Arch::Arm64 => 0xaa64,
        Arch::Other(m) => m,
    }
}

/// The CONTEXT record bytes for `ctx` in `arch`'s layout (see `dump::kernel::context`).
pub(crate) fn context_record(arch: Arch, ctx: &CpuContext) -> Vec<u8> {
    match arch {
        Arch::X86 => {
            let mut c = vec![0u8; X86_CONTEXT_SIZE];
            // CONTEXT_i386 | CONTROL | INTEGER | SEGMENTS, as in the x86 sample.
            c[0..4].copy_from_slice(&0x0001_0007u32.to_le_bytes());
            let put = |c: &mut Vec<u8>, off: usize, v: u32| {
                c[off..off + 4].copy_from_slice(&v.to_le_bytes())
            };
            put(&mut c, 0x8C, 0); // SegGs
            put(&mut c, 0x90, 0x30); // SegFs (KPCR selector)
            put(&mut c, 0x94, 0x23); // SegEs
            put(&mut c, 0x98, 0x23); // SegDs
            put(&mut c, 0xB4, ctx.fp as u32); // Ebp
            put(&mut c, 0xB8, ctx.ip as u32); // Eip
            put(&mut c, 0xBC, 0x08); // SegCs (kernel)
            put(&mut c, 0xC0, 0x0001_0286); // EFlags
            put(&mut c, 0xC4, ctx.sp as u32); // Esp
            put(&mut c, 0xC8, 0x10); // SegSs
            c
        }
        Arch::Arm64 => {
            let mut c = vec![0u8; ARM64_CONTEXT_SIZE];
            // CONTEXT_ARM64 | CONTROL | INTEGER | FLOATING_POINT.
            c[0..4].copy_from_slice(&0x0040_0007u32.to_le_bytes());
            c[4..8].copy_from_slice(&0x6000_0005u32.to_le_bytes()); // Cpsr: EL1h
            c[0xF0..0xF8].copy_from_slice(&ctx.fp.to_le_bytes()); // Fp (X29)
            c[0x100..0x108].copy_from_slice(&ctx.sp.to_le_bytes()); // Sp
            c[0x108..0x110].copy_from_slice(&ctx.ip.to_le_bytes()); // Pc
            c
        }
        Arch::Amd64 | Arch::Other(_) => {
            let mut c = vec![0u8; AMD64_CONTEXT_SIZE];
            // ContextFlags CONTEXT_AMD64 | CONTROL | INTEGER | SEGMENTS | FLOATING | DEBUG,
            // MxCsr and the kernel selectors exactly as in the Win10 sample.
            c[0x30..0x46].copy_from_slice(&[
                0x1f, 0x00, 0x10, 0x00, 0x80, 0x1f, 0x00, 0x00, 0x10, 0x00, 0x2b, 0x00, 0x2b, 0x00,
                0x53, 0x00, 0x2b, 0x00, 0x18, 0x00, 0x46, 0x02,
            ]);
            let mut gprs = ctx.x64_gprs.unwrap_or([0; 16]);
            // The header's Rsp/Rbp must agree with sp/fp whatever the GPR array says.
            gprs[4] = ctx.sp;
            gprs[5] = ctx.fp;
            for (i, r) in gprs.iter().enumerate() {
                let off = 0x78 + 8 * i;
                c[off..off + 8].copy_from_slice(&r.to_le_bytes());
            }
            c[0xF8..0x100].copy_from_slice(&ctx.ip.to_le_bytes()); // Rip
            c
        }
    }
}

/// DUMP_STRINGs ({u32 Length in WCHARs; WCHAR[Length]; WCHAR 0}, each 8-aligned) for the
/// driver paths, packed from `pool_offset`. Returns the pool bytes and each string's absolute
/// offset.
fn string_pool(drivers: &[SimDriver], pool_offset: usize) -> (Vec<u8>, Vec<usize>) {
    let mut pool = Vec::new();
    let mut offsets = Vec::with_capacity(drivers.len());
    for d in drivers {
        let start = align_up(pool.len(), 8);
        pool.resize(start, 0);
        offsets.push(pool_offset + start);
        let units = utf16(&d.path);
        pool.extend_from_slice(&(units.len() as u32).to_le_bytes());
        for u in &units {
            pool.extend_from_slice(&u.to_le_bytes());
        }
        pool.extend_from_slice(&[0, 0]);
    }
    let end = align_up(pool.len(), 8);
    pool.resize(end, 0);
    (pool, offsets)
}

/// The name part of an unloaded entry: the UNICODE_STRING length (bytes) and the WCHAR[12]
/// buffer, truncated to 12 characters without a NUL when full, as in the real lists.
fn unloaded_name(name: &str) -> (u16, [u8; 24]) {
    let units: Vec<u16> = utf16(name).into_iter().take(12).collect();
    let mut buf = [0u8; 24];
    for (i, u) in units.iter().enumerate() {
        buf[2 * i..2 * i + 2].copy_from_slice(&u.to_le_bytes());
    }
    ((units.len() * 2) as u16, buf)
}

/// KDDEBUGGER_DATA64 copy: the header {List, 'KDBG', Size} and the first globals, as the
/// Win10 sample holds them; the rest is zero.
fn debugger_data(spec: &TriageDumpSpec, size: usize, kd_va: u64) -> Vec<u8> {
    let nt = kernel_base(spec);
    let mut d = vec![0u8; size];
    let mut put = |off: usize, v: u64| d[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0x00, kd_va); // List.Flink: a self-referencing list head
    put(0x08, kd_va); // List.Blink
    put(0x18, nt); // KernBase
    put(0x20, nt + 0x3f_d920); // BreakpointWithStatus
    put(0x38, nt + 0x3f_9070); // KiCallUserMode
    put(0x48, nt + PS_LOADED_MODULE_LIST_RVA);
    put(0x50, nt + PS_ACTIVE_PROCESS_HEAD_RVA);
    d[0x10..0x14].copy_from_slice(b"KDBG");
    d[0x14..0x18].copy_from_slice(&(size as u32).to_le_bytes());
    // PaeEnabled (u16 at 0x36) is set on every x64 kernel and on PAE x86 kernels.
    d[0x36..0x38].copy_from_slice(&1u16.to_le_bytes());
    d
}

/// Windows 7 copies a 0x340-byte KDDEBUGGER_DATA64, Windows 8 and later 0x380.
fn debugger_data_size(build: u32) -> usize {
    if build < 9200 {
        0x340
    } else {
        0x380
    }
}

/// DUMP_BLOB_FILE_HEADER {'Dump','Blob', HeaderSize 0x10, BuildNumber} + one DUMP_BLOB_HEADER
/// {HeaderSize 0x20, Tag, DataSize, PrePad, PostPad} + data + PostPad zeros (data padded to
/// 8, as the real blobs are).
fn blob_section(build: u32, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(0x30 + data.len() + 8);
    out.extend_from_slice(b"DumpBlob");
    out.extend_from_slice(&0x10u32.to_le_bytes());
    // BuildNumber carries the free-build flag in the top nibble, like 0xF0004A61 for 19041.
    out.extend_from_slice(&(0xF000_0000 | (build & 0xFFFF)).to_le_bytes());
    let post_pad = align_up(data.len(), 8) - data.len();
    out.extend_from_slice(&0x20u32.to_le_bytes());
    out.extend_from_slice(&BLOB_TAG);
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(post_pad as u32).to_le_bytes());
    out.extend_from_slice(data);
    out.resize(out.len() + post_pad, 0);
    out
}

/// Data blocks: the table at `table_offset` ({u64 VA; u32 file offset; u32 size}) followed
/// directly by the bytes, unaligned, as in both real samples.
fn write_data_blocks(img: &mut Image, blocks: &[(u64, Vec<u8>)], sign_extend_32: bool) -> usize {
    let table = img.len();
    let mut data_offset = table + blocks.len() * DATA_BLOCK_SIZE;
    for (i, (va, bytes)) in blocks.iter().enumerate() {
        let entry = table + i * DATA_BLOCK_SIZE;
        // x86 dumps store the 32-bit VA sign-extended to 64 bits.
        let address = if sign_extend_32 {
            (*va as u32) as i32 as i64 as u64
        } else {
            *va
        };
        img.u64(entry, address);
        img.u32(entry + 8, off32(data_offset));
        img.u32(entry + 12, bytes.len() as u32);
        data_offset += bytes.len();
    }
    img.ensure(table + blocks.len() * DATA_BLOCK_SIZE);
    let mut pos = table + blocks.len() * DATA_BLOCK_SIZE;
    for (_, bytes) in blocks {
        img.put(pos, bytes);
        pos += bytes.len();
    }
    table
}

/// Pads to the page after the last part, writes `TRGD` at SizeOfDump-4, returns SizeOfDump.
fn finish_triage_part(img: &mut Image) -> usize {
    let size_of_dump = align_up(img.len() + 4, PAGE_SIZE);
    img.put(size_of_dump - 4, b"TRGD");
    size_of_dump
}

fn write64(spec: &TriageDumpSpec) -> Vec<u8> {
    let nt = kernel_base(spec);
    let kd_va = nt + KD_DEBUGGER_DATA_RVA;
    let mut img = Image {
        bytes: PAGE.repeat(HEADER64_SIZE / 4),
    };

    // --- DUMP_HEADER64 ---
    img.put(0x000, b"PAGEDU64");
    img.u32(0x008, 0xF); // MajorVersion: free build
    img.u32(0x00C, spec.os_build);
    img.u64(0x010, 0x1ad000); // DirectoryTableBase (the System process's CR3)
    img.u64(0x018, nt + PFN_DATABASE_RVA);
    img.u64(0x020, nt + PS_LOADED_MODULE_LIST_RVA);
    img.u64(0x028, nt + PS_ACTIVE_PROCESS_HEAD_RVA);
    img.u32(0x030, machine_type(spec.arch));
    img.u32(0x034, spec.processors);
    img.u32(0x038, spec.bugcheck_code);
    for (i, p) in spec.parameters.iter().enumerate() {
        img.u64(0x040 + 8 * i, *p);
    }
    img.u64(0x080, kd_va);
    // ContextRecord: the whole 3000-byte area is zero in real triage dumps, then the CONTEXT.
    img.put(0x348, &[0u8; 0xF00 - 0x348]);
    img.put(0x348, &context_record(spec.arch, &spec.context));
    // Exception: the synthetic breakpoint at KeBugCheckEx that every real triage dump holds;
    // NumberParameters 0 and the rest keeps the PAGE fill.
    img.u32(0xF00, 0x8000_0003);
    img.u32(0xF04, 1); // EXCEPTION_NONCONTINUABLE
    img.u64(0xF08, 0);
    img.u64(0xF10, nt + KEBUGCHECKEX_RVA);
    img.u32(0xF18, 0);
    img.u32(0xF98, DUMP_TYPE_TRIAGE);
    // RequiredDumpSpace (0xFA0) is patched with the file size at the end.
    img.u64(0xFA8, spec.crash_time_filetime);
    img.u64(0x1030, spec.uptime_100ns);
    img.u32(0x1038, MINIDUMP_FIELDS_64);
    img.u32(0x1040, spec.product_type);
    img.u32(0x1044, suite_mask(spec.product_type));
    img.u32(0x1048, 0); // WriterStatus: success
    img.put(0x104D, &[0]); // KdSecondaryVersion
    if let Some(boot_id) = spec.boot_id {
        img.u32(0x1054, boot_id);
    }

    // --- TRIAGE_DUMP64 at 0x2000 ---
    const T: usize = HEADER64_SIZE;
    img.put(T, &[0u8; 0x80]);
    img.u32(T, if spec.os_build < 9200 { 0x100 } else { 0 }); // ServicePackBuild
    img.u32(T + 0x0C, 0x348); // ContextOffset
    img.u32(T + 0x10, 0xF00); // ExceptionOffset
    img.u32(T + 0x44, 0xFFFF_FFFF); // TriageOptions: unset, as in the x64 samples

    // DUMP_MM_STORAGE64 {Version 1; Size 0x50; ...}
    let mm = img.append(8, &[0u8; 0x50]);
    img.u32(mm, 1);
    img.u32(mm + 4, 0x50);
    img.u32(T + 0x14, off32(mm));

    // Unloaded drivers: {u32 Count; u32 pad; DUMP_UNLOADED_DRIVERS64[Count]}.
    let mut unloaded = Vec::with_capacity(8 + spec.unloaded.len() * UNLOADED64_SIZE);
    unloaded.extend_from_slice(&(spec.unloaded.len() as u32).to_le_bytes());
    unloaded.extend_from_slice(&0u32.to_le_bytes());
    for u in &spec.unloaded {
        let (len, name) = unloaded_name(&u.name);
        unloaded.extend_from_slice(&len.to_le_bytes());
        unloaded.extend_from_slice(&len.to_le_bytes());
        unloaded.extend_from_slice(&0u32.to_le_bytes());
        unloaded.extend_from_slice(&0u64.to_le_bytes()); // Buffer: freed pool, 0 in the samples
        unloaded.extend_from_slice(&name);
        unloaded.extend_from_slice(&u.start.to_le_bytes());
        unloaded.extend_from_slice(&u.end.to_le_bytes());
    }
    let unl = img.append(8, &unloaded);
    img.u32(T + 0x18, off32(unl));

    let prcb = img.append(8, &[0u8; PRCB_COPY_SIZE]);
    img.u32(T + 0x1C, off32(prcb));
    let process = img.append(8, &[0u8; PROCESS_COPY_SIZE]);
    img.u32(T + 0x20, off32(process));
    let thread = img.append(8, &[0u8; THREAD_COPY_SIZE]);
    img.u32(T + 0x24, off32(thread));

    let stack = img.append(8, &spec.stack);
    img.u32(T + 0x28, off32(stack));
    img.u32(T + 0x2C, spec.stack.len() as u32);
    img.u64(T + 0x48, spec.stack_top);

    let dd_size = debugger_data_size(spec.os_build);
    let dd = img.append(8, &debugger_data(spec, dd_size, kd_va));
    img.u32(T + 0x70, off32(dd));
    img.u32(T + 0x74, dd_size as u32);

    // Driver list, then the string pool right after it (readers derive the stride from
    // (StringPoolOffset - DriverListOffset) / DriverCount).
    let list = align_up(img.len(), 8);
    let pool_offset = list + spec.drivers.len() * DRIVER_ENTRY64_SIZE;
    let (pool, name_offsets) = string_pool(&spec.drivers, pool_offset);
    img.ensure(pool_offset);
    for (i, d) in spec.drivers.iter().enumerate() {
        let e = list + i * DRIVER_ENTRY64_SIZE;
        img.u32(e, off32(name_offsets[i]));
        img.u64(e + 0x38, d.base); // DllBase
        img.u32(e + 0x48, d.size); // SizeOfImage
        img.u32(e + 0x80, d.checksum);
        img.u32(e + 0x88, d.timestamp);
    }
    img.put(pool_offset, &pool);
    img.u32(T + 0x30, off32(list));
    img.u32(T + 0x34, spec.drivers.len() as u32);
    img.u32(T + 0x38, off32(pool_offset));
    img.u32(T + 0x3C, pool.len() as u32);

    let blocks = write_data_blocks(&mut img, &spec.data_blocks, false);
    img.u32(T + 0x78, off32(blocks));
    img.u32(T + 0x7C, spec.data_blocks.len() as u32);

    let size_of_dump = finish_triage_part(&mut img);
    img.u32(T + 0x04, off32(size_of_dump));
    img.u32(T + 0x08, off32(size_of_dump - 4));

    if let Some(blob) = &spec.dump_blob {
        img.append(1, &blob_section(spec.os_build, blob));
    }
    let total = img.len() as u64;
    img.u64(0xFA0, total);
    img.bytes
}

fn write32(spec: &TriageDumpSpec) -> Vec<u8> {
    let nt = kernel_base(spec) as u32 as u64;
    let kd_va = (nt + KD_DEBUGGER_DATA_RVA) as u32;
    let mut img = Image {
        bytes: PAGE.repeat(HEADER32_SIZE / 4),
    };

    // --- DUMP_HEADER32 ---
    img.put(0x00, b"PAGEDUMP");
    img.u32(0x08, 0xF);
    img.u32(0x0C, spec.os_build);
    img.u32(0x10, 0x0018_5000); // DirectoryTableBase (PAE PDPT)
    img.u32(0x14, 0x8400_0000); // PfnDataBase
    img.u32(0x18, (nt + PS_LOADED_MODULE_LIST_RVA) as u32);
    img.u32(0x1C, (nt + PS_ACTIVE_PROCESS_HEAD_RVA) as u32);
    img.u32(0x20, 0x14c);
    img.u32(0x24, spec.processors);
    img.u32(0x28, spec.bugcheck_code);
    for (i, p) in spec.parameters.iter().enumerate() {
        img.u32(0x2C + 4 * i, *p as u32);
    }
    img.put(0x3C, &[0u8; 32]); // VersionUser: zero in the x86 sample
    img.put(0x5C, &[1, 0x41]); // PaeEnabled, KdSecondaryVersion as in the x86 sample
    img.u32(0x60, kd_va);
    img.put(0x320, &[0u8; 1200]);
    img.put(0x320, &context_record(Arch::X86, &spec.context));
    // EXCEPTION_RECORD32 {Code; Flags; Record; Address; NumberParameters; Information[15]}.
    img.u32(0x7D0, 0x8000_0003);
    img.u32(0x7D4, 1);
    img.u32(0x7D8, 0);
    img.u32(0x7DC, (nt + KEBUGCHECKEX_RVA) as u32);
    img.u32(0x7E0, 0);
    img.u32(0xF88, DUMP_TYPE_TRIAGE);
    img.u32(0xF8C, MINIDUMP_FIELDS_32);
    img.u32(0xF90, 0); // SecondaryDataState
    img.u32(0xF94, spec.product_type);
    img.u32(0xF98, suite_mask(spec.product_type));
    // RequiredDumpSpace (0xFA0) is patched at the end; WriterStatus keeps PAGE as in the sample.
    img.u64(0xFB8, spec.uptime_100ns);
    img.u64(0xFC0, spec.crash_time_filetime);

    // --- TRIAGE_DUMP32 at 0x1000 ---
    const T: usize = HEADER32_SIZE;
    img.put(T, &[0u8; 0x68]);
    img.u32(T, if spec.os_build < 9200 { 0x100 } else { 0 });
    img.u32(T + 0x0C, 0x320);
    img.u32(T + 0x10, 0x7D0);
    img.u32(T + 0x44, 0x41); // TriageOptions as in the x86 sample (no overflow bit)

    let mm = img.append(8, &[0u8; 0x38]);
    img.u32(mm, 1);
    img.u32(mm + 4, 0x34);
    img.u32(T + 0x14, off32(mm));

    let prcb = img.append(8, &[0u8; PRCB_COPY_SIZE]);
    img.u32(T + 0x1C, off32(prcb));
    let process = img.append(8, &[0u8; PROCESS_COPY_SIZE]);
    img.u32(T + 0x20, off32(process));
    let thread = img.append(8, &[0u8; THREAD_COPY_SIZE]);
    img.u32(T + 0x24, off32(thread));

    let stack = img.append(8, &spec.stack);
    img.u32(T + 0x28, off32(stack));
    img.u32(T + 0x2C, spec.stack.len() as u32);
    img.u32(T + 0x48, spec.stack_top as u32);

    let dd_size = debugger_data_size(spec.os_build);
    let dd = img.append(8, &debugger_data(spec, dd_size, u64::from(kd_va)));
    img.u32(T + 0x58, off32(dd));
    img.u32(T + 0x5C, dd_size as u32);

    // Unloaded drivers (32-bit): {u32 Count; 40-byte entries}, no padding after the count.
    let mut unloaded = Vec::with_capacity(4 + spec.unloaded.len() * UNLOADED32_SIZE);
    unloaded.extend_from_slice(&(spec.unloaded.len() as u32).to_le_bytes());
    for u in &spec.unloaded {
        let (len, name) = unloaded_name(&u.name);
        unloaded.extend_from_slice(&len.to_le_bytes());
        unloaded.extend_from_slice(&len.to_le_bytes());
        unloaded.extend_from_slice(&0u32.to_le_bytes());
        unloaded.extend_from_slice(&name);
        unloaded.extend_from_slice(&(u.start as u32).to_le_bytes());
        unloaded.extend_from_slice(&(u.end as u32).to_le_bytes());
    }
    let unl = img.append(8, &unloaded);
    img.u32(T + 0x18, off32(unl));

    let list = align_up(img.len(), 8);
    let pool_offset = list + spec.drivers.len() * DRIVER_ENTRY32_SIZE;
    // The pool starts right after the list; the strings are 8-aligned in absolute terms.
    let pool_start = align_up(pool_offset, 8);
    let (pool, name_offsets) = string_pool(&spec.drivers, pool_start);
    img.ensure(pool_start);
    for (i, d) in spec.drivers.iter().enumerate() {
        let e = list + i * DRIVER_ENTRY32_SIZE;
        img.u32(e, off32(name_offsets[i]));
        img.u32(e + 0x1C, d.base as u32); // DllBase
        img.u32(e + 0x24, d.size); // SizeOfImage
        img.u32(e + 0x44, d.checksum);
        img.u32(e + 0x48, d.timestamp);
    }
    img.put(pool_start, &pool);
    img.u32(T + 0x30, off32(list));
    img.u32(T + 0x34, spec.drivers.len() as u32);
    // As in the x86 sample (list end 0xA544, pool 0xA548): the pool offset is the aligned one.
    img.u32(T + 0x38, off32(pool_start));
    img.u32(T + 0x3C, pool.len() as u32);

    let blocks = write_data_blocks(&mut img, &spec.data_blocks, true);
    img.u32(T + 0x60, off32(blocks));
    img.u32(T + 0x64, spec.data_blocks.len() as u32);

    let size_of_dump = finish_triage_part(&mut img);
    img.u32(T + 0x04, off32(size_of_dump));
    img.u32(T + 0x08, off32(size_of_dump - 4));

    if let Some(blob) = &spec.dump_blob {
        img.append(1, &blob_section(spec.os_build, blob));
    }
    let total = img.len() as u64;
    img.u64(0xFA0, total);
    img.bytes
}

/// SuiteMask: TerminalServer | SingleUserTS (0x110) on workstations as in the samples;
/// TerminalServer only on servers.
fn suite_mask(product_type: u32) -> u32 {
    if product_type == 1 {
        0x110
    } else {
        0x10
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(arch: Arch) -> TriageDumpSpec {
        TriageDumpSpec {
            arch,
            os_build: 19045,
            processors: 8,
            product_type: 1,
            bugcheck_code: 0x50,
            parameters: [0xffff_8405_0000_0074, 0, 0xffff_f804_1234_14ed, 2],
            crash_time_filetime: 133_658_633_400_000_000,
            uptime_100ns: 600_000_000,
            boot_id: Some(7),
            context: CpuContext {
                arch,
                ip: 0xffff_f804_1234_14ed,
                sp: 0xffff_a001_2345_6f00,
                fp: 0,
                x64_gprs: None,
            },
            drivers: vec![SimDriver {
                path: r"\SystemRoot\system32\ntoskrnl.exe".into(),
                base: 0xffff_f804_0000_0000,
                size: 0x104_6000,
                timestamp: 0x1234_5678,
                checksum: 0xa5_938c,
            }],
            unloaded: vec![SimUnloaded {
                name: "dump_storport.sys".into(),
                start: 1,
                end: 2,
            }],
            stack_top: 0xffff_a001_2345_6f00,
            stack: vec![0xAA; 0x100],
            data_blocks: vec![(0xffff_f804_1234_1000, vec![0xCC; 0x10])],
            dump_blob: Some(vec![1, 2, 3]),
        }
    }

    #[test]
    fn sizes_are_page_aligned_and_marked_valid() {
        for arch in [Arch::Amd64, Arch::Arm64, Arch::X86] {
            let bytes = write_triage_dump(&spec(arch));
            let t = if arch == Arch::X86 { 0x1000 } else { 0x2000 };
            let size = u32::from_le_bytes(bytes[t + 4..t + 8].try_into().unwrap()) as usize;
            assert_eq!(size % 0x1000, 0);
            assert_eq!(&bytes[size - 4..size], b"TRGD");
            // blob: 0x10 file header + 0x20 blob header + 3 bytes + 5 pad
            assert_eq!(bytes.len(), size + 0x10 + 0x20 + 8);
        }
    }

    #[test]
    fn long_unloaded_names_are_cut_to_twelve_wchars() {
        let (len, buf) = unloaded_name("dump_storport.sys");
        assert_eq!(len, 24);
        assert_eq!(&buf[22..24], &[b'r', 0]);
    }
}
