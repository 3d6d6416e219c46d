//! From a parsed kernel dump to the dump-level facts of a `CrashReport`: bugcheck, fault
//! site, exception, modules, times. Stack, blame and bucket are filled later by `stack` and
//! `triage`; this module stays free of symbols and rules.

use std::path::Path;

use chrono::{DateTime, Utc};

use crate::dump::bugcheck;
use crate::dump::fault_context::FaultContext;
use crate::dump::kernel::{DumpType, KernelDump};
use crate::dump::memory::MemoryRead;
use crate::dump::modules::module_at;
use crate::dump::os_version::{product_type_name, release_name};
use crate::dump::Arch;
use crate::record::{
    hex, Access, Address, Blame, BugcheckRecord, CrashReport, DumpFormat, ExceptionRecord, Fault,
    ModuleRecord, ModuleRef, UnloadedModuleRecord,
};

pub use crate::dump::modules::UNKNOWN_MODULE;

/// FILETIME (100 ns since 1601-01-01 UTC) to whole seconds UTC (what a report keeps), or
/// `None` when out of range.
pub fn filetime_to_utc(filetime: u64) -> Option<DateTime<Utc>> {
    const EPOCH_DIFF_SECS: i64 = 11_644_473_600;
    let secs = i64::try_from(filetime / 10_000_000).ok()? - EPOCH_DIFF_SECS;
    DateTime::<Utc>::from_timestamp(secs, 0)
}

/// Which module holds `address`: the loaded list first, then the unloaded list (named
/// `unloaded X`, the way WinDbg says it), else `unknown_module`.
pub struct ModuleHit {
    pub module: ModuleRef,
    pub base: Option<u64>,
    pub offset: Option<u64>,
}

pub fn locate(dump: &KernelDump, address: u64) -> ModuleHit {
    if let Some(m) = module_at(dump.drivers(), address) {
        return ModuleHit {
            module: ModuleRef::Loaded(m.name.clone()),
            base: Some(m.base),
            offset: Some(address - m.base),
        };
    }
    if let Some(u) = dump.unloaded().iter().find(|u| u.contains(address)) {
        return ModuleHit {
            module: ModuleRef::Unloaded(u.name.clone()),
            base: Some(u.start),
            offset: Some(address - u.start),
        };
    }
    ModuleHit {
        module: ModuleRef::Unknown,
        base: None,
        offset: None,
    }
}

fn address_mask(arch: Arch) -> u64 {
    if arch == Arch::X86 {
        0xFFFF_FFFF
    } else {
        u64::MAX
    }
}

/// The faulting instruction address the bugcheck parameters name (masked to the arch), if any.
pub fn parameter_fault_ip(dump: &KernelDump) -> Option<u64> {
    let h = &dump.header;
    bugcheck::fault_ip(h.bugcheck_code, &h.bugcheck_parameters)
        .map(|a| a & address_mask(h.arch))
        .filter(|&a| a != 0)
}

/// For exception bugchecks (0x1E, 0x7E, 0x8E, 0x3B and `_M`), the exception the parameters
/// name, refined with the original EXCEPTION_RECORD when the stack captured it (0x7E: P3).
fn recovered_exception(
    dump: &KernelDump,
    bytes: &[u8],
) -> Option<(ExceptionRecord, Option<Access>, Option<u64>)> {
    let h = &dump.header;
    let p = h.bugcheck_parameters;
    let base = h.bugcheck_code & !0x1000_0000;
    if !matches!(base, 0x1E | 0x7E | 0x8E | 0x3B) {
        return None;
    }
    let code = p[0] as u32;
    let mask = address_mask(h.arch);
    let name = bugcheck::exception_name(code)
        .unwrap_or("UNKNOWN_EXCEPTION")
        .to_string();
    let record = ExceptionRecord {
        code,
        name,
        address: Address(p[1] & mask),
    };
    // An access violation's ExceptionInformation: [0] = 0 read / 1 write / 8 execute, [1] = address.
    let info: Option<[u64; 2]> = match base {
        0x1E => Some([p[2], p[3]]),
        0x7E if h.arch == Arch::Amd64 => {
            let mem = dump.memory(bytes);
            // EXCEPTION_RECORD64: Code at +0, Address at +0x10, NumberParameters +0x18, Information +0x20.
            // P3 is untrusted: near 2^64 the field addresses would wrap.
            let at = |off: u64| p[2].checked_add(off);
            match (
                mem.read_u32(p[2]),
                at(0x10).and_then(|a| mem.read_u64(a)),
                at(0x18).and_then(|a| mem.read_u32(a)),
            ) {
                (Some(c), Some(a), Some(n)) if c == code && a & mask == p[1] & mask && n >= 2 => {
                    Some([mem.read_u64(at(0x20)?)?, mem.read_u64(at(0x28)?)?])
                }
                _ => None,
            }
        }
        _ => None,
    };
    let (access, referenced) = match (code, info) {
        (0xC000_0005, Some([kind, addr])) => {
            let access = match kind {
                0 => Some(Access::Read),
                1 => Some(Access::Write),
                8 => Some(Access::Execute),
                _ => None,
            };
            (access, Some(addr & mask))
        }
        _ => (None, None),
    };
    Some((record, access, referenced))
}

/// Builds the dump-level part of a report. `dump_id` and `size` come from the caller, which
/// owns the file.
/// `fault` is the register state at the fault as `fault_context::recover` found it (the
/// caller recovers it once and walks the stack from it too).
pub fn build_report(
    path: &Path,
    bytes: &[u8],
    dump: &KernelDump,
    dump_id: String,
    fault: Option<&FaultContext>,
) -> CrashReport {
    let h = &dump.header;
    let mask = address_mask(h.arch);
    let params = h.bugcheck_parameters;
    let mut warnings = dump.warnings.clone();

    let format = match h.dump_type {
        DumpType::Triage if dump.triage.is_some() => DumpFormat::KernelTriage,
        DumpType::Full | DumpType::Summary => DumpFormat::KernelFull,
        DumpType::BitmapFull | DumpType::BitmapKernel | DumpType::Automatic => {
            DumpFormat::KernelBitmap
        }
        _ => DumpFormat::KernelHeader,
    };

    let bugcheck = BugcheckRecord {
        code: h.bugcheck_code,
        code_hex: bugcheck::code_hex(h.bugcheck_code),
        name: bugcheck::name(h.bugcheck_code),
        parameters: params.iter().map(|&p| Address(p)).collect(),
    };

    let fault_ip =
        parameter_fault_ip(dump).or_else(|| fault.map(|f| f.context.ip & mask).filter(|&a| a != 0));
    let mut access = bugcheck::access(h.bugcheck_code, &params, Some(h.build), h.arch);
    let mut referenced = bugcheck::referenced_address(h.bugcheck_code, &params).map(|a| a & mask);
    let exception = match recovered_exception(dump, bytes) {
        Some((record, exc_access, exc_referenced)) => {
            access = access.or(exc_access);
            referenced = referenced.or(exc_referenced);
            Some(record)
        }
        None => None,
    };

    let fault = match fault_ip {
        Some(address) => {
            let hit = if dump.triage.is_some() {
                Some(locate(dump, address))
            } else {
                None // no driver list in this dump type: say nothing rather than "unknown"
            };
            Fault {
                address: Some(Address(address)),
                module: hit.as_ref().map(|m| m.module.clone()),
                module_base: hit.as_ref().and_then(|m| m.base).map(Address),
                offset: hit.as_ref().and_then(|m| m.offset).map(Address),
                symbol: None,
                access,
                referenced_address: referenced.map(Address),
            }
        }
        None => {
            if !matches!(
                bugcheck::lookup(h.bugcheck_code).map(|b| b.kind),
                Some(
                    bugcheck::BugcheckKind::PowerButtonHold
                        | bugcheck::BugcheckKind::ManualCrash
                        | bugcheck::BugcheckKind::Hardware
                )
            ) {
                warnings.push(
                    "no faulting address: neither the bugcheck parameters nor a context give one"
                        .into(),
                );
            }
            Fault {
                access,
                referenced_address: referenced.map(Address),
                ..Fault::default()
            }
        }
    };

    if dump.triage.as_ref().is_some_and(|t| t.call_stack.is_none()) {
        warnings.push("no call stack captured".into());
    }

    let modules = dump
        .drivers()
        .iter()
        .map(|d| ModuleRecord {
            name: d.name.clone(),
            path: d.path.clone(),
            base: hex(d.base),
            size: d.size,
            timestamp: d.timestamp,
            checksum: d.checksum,
        })
        .collect();
    let unloaded_modules = dump
        .unloaded()
        .iter()
        .map(|u| UnloadedModuleRecord {
            name: u.name.clone(),
            start: hex(u.start),
            end: hex(u.end),
        })
        .collect();

    let crash_time = h.system_time.and_then(filetime_to_utc);
    if h.system_time.is_some() && crash_time.is_none() {
        warnings.push("crash time is out of range".into());
    }

    CrashReport {
        path: path.display().to_string(),
        dump_id,
        size_bytes: bytes.len() as u64,
        format,
        arch: h.arch.into(),
        os_build: Some(h.build),
        os_version: Some(release_name(h.build, h.product_type)),
        processors: Some(h.processors),
        product_type: h
            .product_type
            .and_then(product_type_name)
            .map(str::to_string),
        crash_time,
        uptime_seconds: h.system_uptime.map(|u| u / 10_000_000),
        boot_id: h.boot_id,
        bugcheck: Some(bugcheck),
        exception,
        fault,
        blame: Blame::default(),
        failure_class: String::new(),
        bucket_id: String::new(),
        signature: String::new(),
        stack: Vec::new(),
        modules,
        crashing_thread_id: None,
        crashing_thread_index: None,
        threads: Vec::new(),
        unloaded_modules,
        warnings,
    }
}
