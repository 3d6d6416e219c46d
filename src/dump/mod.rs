//! Reading dump files. Parsing (typed views over the bytes) lives in `kernel` and `minidump`;
//! turning a parsed dump into a `CrashReport` lives in `report_from`.

pub mod bugcheck;
pub mod error;
pub mod fault_context;
pub mod kernel;
pub mod kernel_report;
pub mod memory;
pub mod minidump;
pub mod modules;
pub mod os_version;
pub mod plausibility;
pub mod source;

pub use error::DumpError;
pub use memory::MemoryRead;
pub use modules::DriverEntry;
pub use source::DumpFile;

/// What kind of dump a file holds, judged by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpKind {
    /// `PAGEDU64`: x64 or ARM64 kernel dump.
    Kernel64,
    /// `PAGEDUMP`: x86 kernel dump.
    Kernel32,
    /// `MDMP`: user-mode minidump.
    Minidump,
}

/// Tells dumps from other files by content, not by extension.
pub fn sniff(bytes: &[u8]) -> Option<DumpKind> {
    match kernel::sniff_width(bytes) {
        Some(kernel::HeaderWidth::Bits64) => Some(DumpKind::Kernel64),
        Some(kernel::HeaderWidth::Bits32) => Some(DumpKind::Kernel32),
        None if bytes.starts_with(b"MDMP") => Some(DumpKind::Minidump),
        None => None,
    }
}

/// Bytes hashed from the start of a file for its id (covers every header and, for triage
/// dumps, usually the driver list and strings).
const ID_HEAD: usize = 64 * 1024;
/// Bytes hashed from the end (the triage part's validity marker region or the blob tail).
const ID_TAIL: usize = 4 * 1024;

/// The id of a dump: blake3 over the file length, its first 64 KiB and its last 4 KiB.
///
/// Two different crashes never share these (the header alone holds the crash time to 100 ns,
/// the bugcheck parameters and the context), and hashing them instead of every byte keeps a
/// scan of a share from reading whole files just to recognise ones it has already stored.
pub fn content_id(bytes: &[u8]) -> String {
    let mut h = blake3::Hasher::new();
    h.update(&(bytes.len() as u64).to_le_bytes());
    if bytes.len() <= ID_HEAD + ID_TAIL {
        h.update(bytes);
    } else {
        h.update(&bytes[..ID_HEAD]);
        h.update(&bytes[bytes.len() - ID_TAIL..]);
    }
    h.finalize().to_hex()[..32].to_string()
}

/// The CPU architecture of the crashed machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    X86,
    Amd64,
    Arm64,
    /// A machine type this reader does not know (the raw IMAGE_FILE_MACHINE value).
    Other(u32),
}

impl Arch {
    pub fn from_machine_type(machine: u32) -> Arch {
        match machine {
            0x14c => Arch::X86,
            0x8664 => Arch::Amd64,
            0xaa64 => Arch::Arm64,
            other => Arch::Other(other),
        }
    }

    pub fn name(self) -> String {
        crate::record::Arch::from(self).to_string()
    }

    pub fn pointer_size(self) -> usize {
        match self {
            Arch::X86 => 4,
            _ => 8,
        }
    }
}

impl From<Arch> for crate::record::Arch {
    fn from(arch: Arch) -> crate::record::Arch {
        match arch {
            Arch::X86 => crate::record::Arch::X86,
            Arch::Amd64 => crate::record::Arch::Amd64,
            Arch::Arm64 => crate::record::Arch::Arm64,
            Arch::Other(m) => crate::record::Arch::Machine(m),
        }
    }
}

/// A report's architecture as the bugcheck catalogue and the walkers know it: the CPUs they
/// have no rules for (32-bit ARM, other minidump CPUs) become `Other`.
impl From<&crate::record::Arch> for Arch {
    fn from(arch: &crate::record::Arch) -> Arch {
        match arch {
            crate::record::Arch::X86 => Arch::X86,
            crate::record::Arch::Amd64 => Arch::Amd64,
            crate::record::Arch::Arm64 => Arch::Arm64,
            crate::record::Arch::Machine(m) => Arch::Other(*m),
            crate::record::Arch::Arm | crate::record::Arch::Other(_) => Arch::Other(0),
        }
    }
}

/// The register state a stack walk starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuContext {
    pub arch: Arch,
    /// Instruction pointer (Rip / Eip / Pc).
    pub ip: u64,
    /// Stack pointer (Rsp / Esp / Sp).
    pub sp: u64,
    /// Frame pointer (Rbp / Ebp / Fp), 0 when unknown.
    pub fp: u64,
    /// x64 general registers in unwind-code order: Rax, Rcx, Rdx, Rbx, Rsp, Rbp, Rsi, Rdi,
    /// R8..R15 (the numbering UNWIND_CODE register operands use). `None` on other arches.
    pub x64_gprs: Option<[u64; 16]>,
}
