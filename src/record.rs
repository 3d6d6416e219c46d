//! The `CrashReport` record: one per dump file, the unit every later stage works on.
//!
//! The JSON of `inspect --format json` is this record serialized as is, and the crash store
//! keeps the same fields as Parquet columns. Field names are part of the public interface
//! (see `docs/SCHEMA.md`); add fields, never rename them.
//!
//! In memory the record is typed (`Address`, `Arch`, `Access`, `ModuleRef`, a UTC time) so
//! that no later stage parses text the dump reader formatted; each type serializes to the
//! exact text the JSON has always carried: addresses as hex strings (`"0xfffff8048b58334c"`,
//! because a u64 does not fit a JSON number safely), `"amd64"`, `"read"`, `"unloaded X"`,
//! RFC 3339 with a `Z`.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address, or an offset inside a module, from a dump. A number in memory; `0x` +
/// lower-case hex in JSON and in the store's string columns (`Display` writes that form).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub u64);

impl Address {
    pub fn value(self) -> u64 {
        self.0
    }
}

impl From<u64> for Address {
    fn from(value: u64) -> Address {
        Address(value)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.width().is_some() {
            // Padding (`{:<20}` in text tables) needs the text first.
            f.pad(&hex(self.0))
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        parse_hex(&text)
            .map(Address)
            .ok_or_else(|| serde::de::Error::custom(format!("not a hex address: {text:?}")))
    }
}

/// The processor architecture of the crashed machine. Kernel dumps name it by machine type,
/// minidumps by the `minidump` crate's CPU; both end up here.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Arch {
    X86,
    Amd64,
    Arm64,
    /// 32-bit ARM (user-mode minidumps only).
    Arm,
    /// A kernel dump's IMAGE_FILE_MACHINE value this reader does not know (`"0x1c4"`).
    Machine(u32),
    /// Any other CPU name a minidump gives (`"ppc"`), or `"unknown"` without system info.
    Other(String),
}

impl Arch {
    /// The JSON / store text: `"x86"`, `"amd64"`, `"arm64"`, `"arm"`, `"0x1c4"`, or the name.
    pub fn parse(text: &str) -> Arch {
        match text {
            "x86" => Arch::X86,
            "amd64" => Arch::Amd64,
            "arm64" => Arch::Arm64,
            "arm" => Arch::Arm,
            _ => match text
                .strip_prefix("0x")
                .and_then(|d| u32::from_str_radix(d, 16).ok())
            {
                // Only the canonical form, so that the text round-trips exactly.
                Some(m) if format!("{m:#x}") == text => Arch::Machine(m),
                _ => Arch::Other(text.to_string()),
            },
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arch::X86 => f.write_str("x86"),
            Arch::Amd64 => f.write_str("amd64"),
            Arch::Arm64 => f.write_str("arm64"),
            Arch::Arm => f.write_str("arm"),
            Arch::Machine(m) => write!(f, "{m:#x}"),
            Arch::Other(name) => f.write_str(name),
        }
    }
}

impl Serialize for Arch {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Arch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Arch, D::Error> {
        Ok(Arch::parse(&std::borrow::Cow::<str>::deserialize(
            deserializer,
        )?))
    }
}

/// The kind of memory access that faulted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
    Execute,
}

impl Access {
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Execute => "execute",
        }
    }

    /// The stored text back to the enum (`None` for anything else).
    pub fn parse(text: &str) -> Option<Access> {
        [Access::Read, Access::Write, Access::Execute]
            .into_iter()
            .find(|a| a.as_str() == text)
    }

    /// The letter WinDbg uses in failure buckets (`AV_R_INVALID`).
    pub fn letter(self) -> char {
        match self {
            Access::Read => 'R',
            Access::Write => 'W',
            Access::Execute => 'X',
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The report name for an address in no loaded or unloaded module (WinDbg's word for it).
pub const UNKNOWN_MODULE: &str = "unknown_module";
/// How an unloaded driver's name is written: `unloaded X`, the way WinDbg says it.
const UNLOADED_PREFIX: &str = "unloaded ";

/// Which module holds an address: a loaded one, one only the unloaded list holds, or none.
/// Written as the name, `unloaded <name>`, or `unknown_module`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ModuleRef {
    Loaded(String),
    Unloaded(String),
    Unknown,
}

impl ModuleRef {
    /// The text form back to the reference (store rows, old JSON).
    pub fn parse(text: &str) -> ModuleRef {
        if text == UNKNOWN_MODULE {
            ModuleRef::Unknown
        } else if let Some(name) = text.strip_prefix(UNLOADED_PREFIX) {
            ModuleRef::Unloaded(name.to_string())
        } else {
            ModuleRef::Loaded(text.to_string())
        }
    }

    /// The module's file name, loaded or unloaded.
    pub fn name(&self) -> Option<&str> {
        match self {
            ModuleRef::Loaded(name) | ModuleRef::Unloaded(name) => Some(name),
            ModuleRef::Unknown => None,
        }
    }

    /// The module's file name when it is loaded.
    pub fn loaded(&self) -> Option<&str> {
        match self {
            ModuleRef::Loaded(name) => Some(name),
            _ => None,
        }
    }
}

impl fmt::Display for ModuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModuleRef::Loaded(name) => f.write_str(name),
            ModuleRef::Unloaded(name) => write!(f, "{UNLOADED_PREFIX}{name}"),
            ModuleRef::Unknown => f.write_str(UNKNOWN_MODULE),
        }
    }
}

impl Serialize for ModuleRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ModuleRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ModuleRef, D::Error> {
        Ok(ModuleRef::parse(&std::borrow::Cow::<str>::deserialize(
            deserializer,
        )?))
    }
}

/// A crash time as the JSON writes it: RFC 3339, whole seconds, `Z` (`2024-07-19T04:09:00Z`).
pub fn time_text(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `crash_time`'s serde form (see `time_text`).
mod crash_time_text {
    use super::*;

    pub fn serialize<S: Serializer>(
        time: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match time {
            Some(t) => serializer.serialize_some(&time_text(t)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = Option::<std::borrow::Cow<str>>::deserialize(deserializer)?;
        text.map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

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
    /// The four parameters (hex strings in JSON).
    pub parameters: Vec<Address>,
}

/// An exception: the minidump's exception stream, or one recovered for exception bugchecks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExceptionRecord {
    pub code: u32,
    pub name: String,
    pub address: Address,
}

/// Where the crash happened.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// The faulting instruction address, from the bugcheck rules or else the context IP.
    pub address: Option<Address>,
    /// The module holding `address`: its base file name (`amdppm.sys`), `unloaded X` when
    /// only the unloaded list holds it, `unknown_module` when nothing does. `None` when the
    /// dump has no module list to look in.
    pub module: Option<ModuleRef>,
    pub module_base: Option<Address>,
    /// `address - module_base`.
    pub offset: Option<Address>,
    /// `function+0xoffset` when symbols are known.
    pub symbol: Option<String>,
    /// `"read"`, `"write"` or `"execute"` where the bugcheck says.
    pub access: Option<Access>,
    /// The data address the faulting instruction touched, where the bugcheck says.
    pub referenced_address: Option<Address>,
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
    pub address: Address,
    /// Base file name of the module, `None` when the address is in no known module.
    pub module: Option<String>,
    pub offset: Option<Address>,
    pub function: Option<String>,
    pub function_offset: Option<Address>,
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
    pub arch: Arch,
    pub os_build: Option<u32>,
    /// Human-readable OS version where the dump says more than the build number.
    pub os_version: Option<String>,
    pub processors: Option<u32>,
    /// `"workstation"`, `"domain_controller"`, `"server"`.
    pub product_type: Option<String>,
    /// Whole seconds, UTC; RFC 3339 with `Z` in JSON (see `time_text`).
    #[serde(default, with = "crash_time_text")]
    pub crash_time: Option<DateTime<Utc>>,
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
