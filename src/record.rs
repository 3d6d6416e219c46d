//! The `CrashReport` record: one per dump file, the unit every later stage works on.
//!
//! The JSON of `inspect --format json` is this record serialized as is, and the crash store
//! keeps the same fields as Parquet columns. Field names are part of the public interface
//! (see `docs/SCHEMA.md`); add fields, never rename them. Addresses are hex strings
//! (`"0xfffff8048b58334c"`) because a u64 does not fit a JSON number safely.

use serde::{Deserialize, Serialize};

/// Which kind of file a report was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DumpFormat {
    /// Kernel small-memory dump (DumpType 4), the files in `C:\Windows\Minidump`.
    KernelTriage,
    /// Complete memory dump (DumpType 1) or the old summary dump (2): header-level only.
    KernelFull,
    /// Bitmap kernel / active / automatic dump (DumpType 5, 6, 7): header-level only.
    KernelBitmap,
    /// A kernel dump whose body is not read (header-only dump type 3, or an unknown type).
    KernelHeader,
    /// User-mode minidump (`MDMP`).
    Minidump,
}

impl DumpFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DumpFormat::KernelTriage => "kernel-triage",
            DumpFormat::KernelFull => "kernel-full",
            DumpFormat::KernelBitmap => "kernel-bitmap",
            DumpFormat::KernelHeader => "kernel-header",
            DumpFormat::Minidump => "minidump",
        }
    }

    /// A kernel dump of any type: its module list is the kernel's driver list.
    pub fn is_kernel(self) -> bool {
        !matches!(self, DumpFormat::Minidump)
    }
}

/// The stop code and its four parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BugcheckRecord {
    pub code: u32,
    /// `"0x1000007E"` — upper-case hex digits, as WinDbg prints stop codes.
    pub code_hex: String,
    pub name: String,
    /// The four parameters as hex strings.
    pub parameters: Vec<String>,
}

/// An exception: the minidump's exception stream, or one recovered for exception bugchecks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionRecord {
    pub code: u32,
    pub name: String,
    pub address: String,
}

/// Where the crash happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The faulting instruction address, from the bugcheck rules or else the context IP.
    pub address: Option<String>,
    /// Base file name of the module holding `address` (`amdppm.sys`), `unloaded X` when only
    /// the unloaded list holds it, `unknown_module` when nothing does.
    pub module: Option<String>,
    pub module_base: Option<String>,
    /// `address - module_base`, hex.
    pub offset: Option<String>,
    /// `function+0xoffset` when symbols are known.
    pub symbol: Option<String>,
    /// `"read"`, `"write"` or `"execute"` where the bugcheck says.
    pub access: Option<String>,
    /// The data address the faulting instruction touched, where the bugcheck says.
    pub referenced_address: Option<String>,
}

/// Who is at fault: the module the blame walk settled on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Blame {
    /// Base file name of the blamed module, or `None` for non-driver causes.
    pub module: Option<String>,
    pub owner: Option<String>,
    pub third_party: bool,
    /// Index into `stack` of the blamed frame, when blame came from a frame.
    pub frame_index: Option<u32>,
    /// Why this module (or why no module) was blamed, in words.
    pub reason: String,
}

/// How a stack frame was found, from most to least trustworthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameTrust {
    /// From the fault context itself (frame 0).
    Context,
    /// Unwound with the image's unwind tables (`.pdata` / CFI).
    Cfi,
    FramePointer,
    /// A return address found by scanning the stack: may be stale.
    Scan,
}

impl FrameTrust {
    pub fn as_str(self) -> &'static str {
        match self {
            FrameTrust::Context => "context",
            FrameTrust::Cfi => "cfi",
            FrameTrust::FramePointer => "frame_pointer",
            FrameTrust::Scan => "scan",
        }
    }
}

/// One frame of the crashing thread's stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackFrame {
    pub index: u32,
    pub address: String,
    /// Base file name of the module, `None` when the address is in no known module.
    pub module: Option<String>,
    pub offset: Option<String>,
    pub function: Option<String>,
    pub function_offset: Option<String>,
    /// `file:line` where the symbols have line information.
    pub source_line: Option<String>,
    pub trust: FrameTrust,
    /// Calls the compiler inlined at this address, innermost first (the order a reader walks
    /// the stack: each one was called by the next, the last by this frame's function), as
    /// minidump-stackwalk lists them. Only Breakpad symbol files record them; empty otherwise.
    #[serde(default)]
    pub inlines: Vec<InlineFrame>,
}

/// A function inlined into a physical frame: it has no stack frame of its own, only a name
/// and the source line executing inside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineFrame {
    pub function: String,
    /// `file:line` inside the inlined function, when the symbols say.
    pub source_line: Option<String>,
}

/// One thread of a user-mode minidump, with its walked stack (`inspect --all-threads`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadRecord {
    /// The OS thread id (Windows TID, Linux TID, macOS thread port).
    pub id: u32,
    /// The thread's name where the dump records one (thread names stream, macOS / Linux).
    pub name: Option<String>,
    pub frames: Vec<StackFrame>,
}

/// A loaded module (driver, or DLL for minidumps).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    /// Base file name as the dump spells it (`amdppm.sys`, `Wdf01000.sys`).
    pub name: String,
    /// The full path from the dump (`\SystemRoot\System32\drivers\amdppm.sys`).
    pub path: String,
    pub base: String,
    pub size: u32,
    pub timestamp: u32,
    pub checksum: u32,
}

/// A driver that had been unloaded before the crash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnloadedModuleRecord {
    pub name: String,
    pub start: String,
    pub end: String,
}

/// Everything blastradius knows about one dump file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrashReport {
    pub path: String,
    /// Content hash of the file (see `dump::content_id`).
    pub dump_id: String,
    pub size_bytes: u64,
    pub format: DumpFormat,
    /// `"x86"`, `"amd64"`, `"arm64"`, or the raw machine type in hex when unknown.
    pub arch: String,
    pub os_build: Option<u32>,
    /// Human-readable OS version where the dump says more than the build number.
    pub os_version: Option<String>,
    pub processors: Option<u32>,
    /// `"workstation"`, `"domain_controller"`, `"server"`.
    pub product_type: Option<String>,
    /// RFC 3339 UTC.
    pub crash_time: Option<String>,
    pub uptime_seconds: Option<u64>,
    pub boot_id: Option<u32>,
    pub bugcheck: Option<BugcheckRecord>,
    pub exception: Option<ExceptionRecord>,
    pub fault: Fault,
    pub blame: Blame,
    pub failure_class: String,
    pub bucket_id: String,
    pub signature: String,
    pub stack: Vec<StackFrame>,
    /// The OS id of the thread `stack` belongs to (the crashing or dump-requesting thread of
    /// a user-mode minidump); `None` for kernel dumps.
    #[serde(default)]
    pub crashing_thread_id: Option<u32>,
    /// Its position in the dump's thread list, the index into `threads` when present.
    #[serde(default)]
    pub crashing_thread_index: Option<u32>,
    /// Every thread of a user-mode minidump, in the dump's order, only when asked for
    /// (`inspect --all-threads`); empty otherwise.
    #[serde(default)]
    pub threads: Vec<ThreadRecord>,
    pub modules: Vec<ModuleRecord>,
    pub unloaded_modules: Vec<UnloadedModuleRecord>,
    /// What was suspicious but not fatal, and what this format does not carry.
    pub warnings: Vec<String>,
}

/// `0x` + lower-case hex, the form every address in a report takes.
pub fn hex(value: u64) -> String {
    format!("{value:#x}")
}

/// Parses the `hex` form back (also accepts upper case and a missing `0x`).
pub fn parse_hex(text: &str) -> Option<u64> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u64::from_str_radix(digits, 16).ok()
}
