//! Writes user-mode minidumps (`MDMP`) for x64 Windows processes: the streams a crash
//! report needs, laid out as `MiniDumpWriteDump` does (minidumpapiset.h / DbgHelp docs), in
//! this order:
//!
//! - `MINIDUMP_HEADER` (32 bytes), then the stream directory (12 bytes per stream);
//! - SystemInfo (56 bytes) and its CSD-version string;
//! - ModuleList {u32 count; MINIDUMP_MODULE (108 bytes, pack 4)[]}, then the names
//!   (MINIDUMP_STRING: u32 byte length, UTF-16, NUL) and CodeView `RSDS` records;
//! - per thread an AMD64 CONTEXT (0x4D0) and the stack bytes;
//! - ThreadList {u32 count; MINIDUMP_THREAD (48 bytes)[]};
//! - MemoryList {u32 count; MINIDUMP_MEMORY_DESCRIPTOR (16 bytes)[]} (the stacks again);
//! - the Exception stream (168 bytes).

/// One module of the process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdmpModule {
    /// Full path (`C:\Windows\System32\ntdll.dll`).
    pub path: String,
    pub base: u64,
    pub size: u32,
    pub timestamp: u32,
    pub checksum: u32,
    /// File version as four parts (10.0.19041.4522).
    pub version: [u16; 4],
    /// CodeView: PDB GUID (as stored: Data1..Data3 little-endian, then 8 bytes), age, name.
    pub pdb_guid: [u8; 16],
    pub pdb_age: u32,
    pub pdb_name: String,
}

/// One thread: its id, its stack memory and its registers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdmpThread {
    pub id: u32,
    pub teb: u64,
    pub stack_start: u64,
    pub stack: Vec<u8>,
    /// Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi, R8..R15 (CONTEXT order), and Rip.
    pub gprs: [u64; 16],
    pub rip: u64,
}

/// The crash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MdmpException {
    pub thread_id: u32,
    pub code: u32,
    pub address: u64,
    /// ExceptionInformation (for an access violation: [0 read / 1 write / 8 execute, address]).
    pub information: Vec<u64>,
}

/// Everything the minidump says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinidumpSpec {
    /// Unix seconds of the crash (header TimeDateStamp).
    pub time_unix: u32,
    pub os_build: u32,
    /// 1 workstation, 3 server.
    pub product_type: u8,
    pub processors: u8,
    pub modules: Vec<MdmpModule>,
    pub threads: Vec<MdmpThread>,
    pub exception: MdmpException,
}

const MDMP_SIGNATURE: u32 = 0x504d_444d;
const MDMP_VERSION: u32 = 0xa793;
const THREAD_LIST_STREAM: u32 = 3;
const MODULE_LIST_STREAM: u32 = 4;
const MEMORY_LIST_STREAM: u32 = 5;
const EXCEPTION_STREAM: u32 = 6;
const SYSTEM_INFO_STREAM: u32 = 7;
const AMD64_CONTEXT_SIZE: usize = 0x4d0;
const PROCESSOR_ARCHITECTURE_AMD64: u16 = 9;

struct Out {
    bytes: Vec<u8>,
}

impl Out {
    fn pos(&self) -> u32 {
        self.bytes.len() as u32
    }
    fn align(&mut self, a: usize) {
        let n = self.bytes.len().div_ceil(a) * a;
        self.bytes.resize(n, 0);
    }
    fn u16(&mut self, v: u16) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.bytes.extend_from_slice(&v.to_le_bytes());
    }
    fn patch_u32(&mut self, at: u32, v: u32) {
        let at = at as usize;
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
    /// MINIDUMP_STRING: u32 Length in bytes (without the NUL), UTF-16LE, then a NUL WCHAR.
    fn string(&mut self, text: &str) -> u32 {
        self.align(4);
        let at = self.pos();
        let units: Vec<u16> = text.encode_utf16().collect();
        self.u32((units.len() * 2) as u32);
        for u in units {
            self.u16(u);
        }
        self.u16(0);
        at
    }
}

fn amd64_context(thread: &MdmpThread) -> Vec<u8> {
    let mut c = vec![0u8; AMD64_CONTEXT_SIZE];
    c[0x30..0x34].copy_from_slice(&0x0010_001fu32.to_le_bytes()); // CONTEXT_AMD64 | FULL | DEBUG
    c[0x34..0x38].copy_from_slice(&0x1f80u32.to_le_bytes()); // MxCsr
                                                             // User-mode selectors: Cs 0x33, Ds/Es/Gs/Ss 0x2b, Fs 0x53.
    for (off, sel) in [
        (0x38, 0x33u16),
        (0x3a, 0x2b),
        (0x3c, 0x2b),
        (0x3e, 0x53),
        (0x40, 0x2b),
        (0x42, 0x2b),
    ] {
        c[off..off + 2].copy_from_slice(&sel.to_le_bytes());
    }
    c[0x44..0x48].copy_from_slice(&0x0001_0246u32.to_le_bytes()); // EFlags
    for (i, r) in thread.gprs.iter().enumerate() {
        c[0x78 + 8 * i..0x80 + 8 * i].copy_from_slice(&r.to_le_bytes());
    }
    c[0xf8..0x100].copy_from_slice(&thread.rip.to_le_bytes());
    c
}

/// Writes the minidump `spec` describes.
pub fn write_minidump(spec: &MinidumpSpec) -> Vec<u8> {
    let streams = [
        SYSTEM_INFO_STREAM,
        MODULE_LIST_STREAM,
        THREAD_LIST_STREAM,
        MEMORY_LIST_STREAM,
        EXCEPTION_STREAM,
    ];
    let mut out = Out {
        bytes: Vec::with_capacity(
            0x4000 + spec.threads.iter().map(|t| t.stack.len()).sum::<usize>(),
        ),
    };
    out.u32(MDMP_SIGNATURE);
    out.u32(MDMP_VERSION);
    out.u32(streams.len() as u32);
    out.u32(0x20); // StreamDirectoryRva
    out.u32(0); // CheckSum
    out.u32(spec.time_unix);
    out.u64(0); // Flags: MiniDumpNormal (threads, stacks, modules, exception)
    let directory = out.pos();
    out.bytes.resize(directory as usize + streams.len() * 12, 0);
    let mut entries: Vec<(u32, u32, u32)> = Vec::new();

    // SystemInfo.
    let csd_placeholder;
    {
        out.align(4);
        let at = out.pos();
        out.u16(PROCESSOR_ARCHITECTURE_AMD64);
        out.u16(6); // ProcessorLevel
        out.u16(0x9a03); // ProcessorRevision
        out.bytes.push(spec.processors);
        out.bytes.push(spec.product_type);
        out.u32(10);
        out.u32(0);
        out.u32(spec.os_build);
        out.u32(2); // VER_PLATFORM_WIN32_NT
        csd_placeholder = out.pos();
        out.u32(0); // CSDVersionRva, patched below
        out.u16(if spec.product_type == 1 { 0x100 } else { 0x110 }); // SuiteMask
        out.u16(0);
        // CPU_INFORMATION (x86/x64 form): "GenuineIntel", version, features, AMD features.
        out.bytes.extend_from_slice(b"GenuineIntel");
        out.u32(0x000906a3);
        out.u32(0xbfebfbff);
        out.u32(0);
        entries.push((SYSTEM_INFO_STREAM, out.pos() - at, at));
        let csd = out.string("");
        out.patch_u32(csd_placeholder, csd);
    }

    // ModuleList: the fixed-size entries first, then names and CodeView records.
    {
        out.align(4);
        let at = out.pos();
        out.u32(spec.modules.len() as u32);
        let first = out.pos();
        out.bytes
            .resize(first as usize + spec.modules.len() * 108, 0);
        entries.push((MODULE_LIST_STREAM, 4 + spec.modules.len() as u32 * 108, at));
        for (i, m) in spec.modules.iter().enumerate() {
            let name_rva = out.string(&m.path);
            out.align(4);
            let cv_rva = out.pos();
            out.bytes.extend_from_slice(b"RSDS");
            out.bytes.extend_from_slice(&m.pdb_guid);
            out.u32(m.pdb_age);
            out.bytes.extend_from_slice(m.pdb_name.as_bytes());
            out.bytes.push(0);
            let cv_size = out.pos() - cv_rva;
            let e = first as usize + i * 108;
            let b = &mut out.bytes[e..e + 108];
            b[0..8].copy_from_slice(&m.base.to_le_bytes());
            b[8..12].copy_from_slice(&m.size.to_le_bytes());
            b[12..16].copy_from_slice(&m.checksum.to_le_bytes());
            b[16..20].copy_from_slice(&m.timestamp.to_le_bytes());
            b[20..24].copy_from_slice(&name_rva.to_le_bytes());
            // VS_FIXEDFILEINFO.
            let ms = (u32::from(m.version[0]) << 16) | u32::from(m.version[1]);
            let ls = (u32::from(m.version[2]) << 16) | u32::from(m.version[3]);
            let is_dll = m.path.to_ascii_lowercase().ends_with(".dll");
            let ffi = [
                0xfeef_04bd,
                0x0001_0000,
                ms,
                ls,
                ms,
                ls,
                0x3f,
                0,
                0x0004_0004,
                if is_dll { 2 } else { 1 },
                0,
                0,
                0,
            ];
            for (k, v) in ffi.iter().enumerate() {
                b[24 + 4 * k..28 + 4 * k].copy_from_slice(&u32::to_le_bytes(*v));
            }
            b[76..80].copy_from_slice(&cv_size.to_le_bytes());
            b[80..84].copy_from_slice(&cv_rva.to_le_bytes());
        }
    }

    // ThreadList with contexts; MemoryList with the stacks.
    let mut stack_rvas = Vec::with_capacity(spec.threads.len());
    let mut context_rvas = Vec::with_capacity(spec.threads.len());
    for t in &spec.threads {
        out.align(16);
        context_rvas.push(out.pos());
        out.bytes.extend_from_slice(&amd64_context(t));
        out.align(16);
        stack_rvas.push(out.pos());
        out.bytes.extend_from_slice(&t.stack);
    }
    {
        out.align(4);
        let at = out.pos();
        out.u32(spec.threads.len() as u32);
        for (i, t) in spec.threads.iter().enumerate() {
            out.u32(t.id);
            out.u32(0); // SuspendCount
            out.u32(0x20); // NORMAL_PRIORITY_CLASS
            out.u32(0); // Priority
            out.u64(t.teb);
            out.u64(t.stack_start);
            out.u32(t.stack.len() as u32);
            out.u32(stack_rvas[i]);
            out.u32(AMD64_CONTEXT_SIZE as u32);
            out.u32(context_rvas[i]);
        }
        entries.push((THREAD_LIST_STREAM, out.pos() - at, at));
    }
    {
        out.align(4);
        let at = out.pos();
        out.u32(spec.threads.len() as u32);
        for (i, t) in spec.threads.iter().enumerate() {
            out.u64(t.stack_start);
            out.u32(t.stack.len() as u32);
            out.u32(stack_rvas[i]);
        }
        entries.push((MEMORY_LIST_STREAM, out.pos() - at, at));
    }
    {
        out.align(4);
        let at = out.pos();
        let e = &spec.exception;
        out.u32(e.thread_id);
        out.u32(0);
        out.u32(e.code);
        out.u32(0); // ExceptionFlags
        out.u64(0); // ExceptionRecord
        out.u64(e.address);
        let n = e.information.len().min(15);
        out.u32(n as u32);
        out.u32(0);
        for i in 0..15 {
            out.u64(e.information.get(i).copied().unwrap_or(0));
        }
        let thread = spec
            .threads
            .iter()
            .position(|t| t.id == e.thread_id)
            .unwrap_or(0);
        out.u32(AMD64_CONTEXT_SIZE as u32);
        out.u32(context_rvas.get(thread).copied().unwrap_or(0));
        entries.push((EXCEPTION_STREAM, out.pos() - at, at));
    }

    // The directory, in the order the streams were listed.
    for (i, kind) in streams.iter().enumerate() {
        let (_, size, rva) = entries
            .iter()
            .find(|(k, _, _)| k == kind)
            .copied()
            .unwrap_or((*kind, 0, 0));
        let d = directory as usize + i * 12;
        out.bytes[d..d + 4].copy_from_slice(&kind.to_le_bytes());
        out.bytes[d + 4..d + 8].copy_from_slice(&size.to_le_bytes());
        out.bytes[d + 8..d + 12].copy_from_slice(&rva.to_le_bytes());
    }
    out.bytes
}
