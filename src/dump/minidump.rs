//! User-mode minidumps (`MDMP`) at the level of the dump itself, via the `minidump` crate:
//! format, arch, OS, exception, crashing module and module list. Stack walking with symbols
//! (minidump-processor) happens downstream, in `stack::minidump`.

use std::path::Path;

use minidump::{
    system_info::Cpu, Minidump, MinidumpException, MinidumpModuleList, MinidumpSystemInfo,
    MinidumpThreadList, MinidumpUnloadedModuleList, Module,
};
use minidump::{system_info::Os, MinidumpMiscInfo};

use crate::dump::modules::base_name;
use crate::dump::DumpError;
use crate::record::{
    hex, Access, Address, Arch, Blame, CrashReport, DumpFormat, ExceptionRecord, Fault,
    ModuleRecord, ModuleRef, UnloadedModuleRecord,
};

/// A real process loads a few hundred modules; a hostile list may claim millions.
const MAX_MODULES: usize = 4096;

fn arch_of(cpu: Cpu) -> Arch {
    match cpu {
        Cpu::X86 => Arch::X86,
        Cpu::X86_64 => Arch::Amd64,
        Cpu::Arm64 => Arch::Arm64,
        Cpu::Arm => Arch::Arm,
        other => Arch::Other(other.to_string()),
    }
}

/// `"windows 5.1.2600 Service Pack 2"`, `"mac 11.6.7 20G630"`,
/// `"linux 4.9.60-linuxkit-aufs #1 SMP Mon Nov 6 16:00:12 UTC 2017"`: the version numbers and
/// the dump's own build string (CSD version), which carries the service pack on Windows, the
/// build on macOS and, on Linux, the kernel version the numeric fields leave at 0.0.0.
fn os_version_text(system: &MinidumpSystemInfo) -> String {
    let (version, build) = system.os_parts();
    match build {
        Some(build) => format!("{} {version} {build}", system.os),
        None => format!("{} {version}", system.os),
    }
}

/// The faulting instruction. On Windows the exception record's address is the instruction;
/// on Linux and macOS it is the address the instruction touched (a signal's `si_addr`, a
/// Mach exception's subcode), so the crashing thread's context IP names the instruction.
fn fault_instruction(
    exc: &MinidumpException<'_>,
    system: &MinidumpSystemInfo,
    dump: &Minidump<'_, &[u8]>,
) -> u64 {
    let recorded = exc.raw.exception_record.exception_address;
    if system.os == Os::Windows {
        return recorded;
    }
    let misc = dump.get_stream::<MinidumpMiscInfo>().ok();
    exc.context(system, misc.as_ref())
        .map(|context| context.get_instruction_pointer())
        .unwrap_or(recorded)
}

/// Crash reasons whose address is a data address the instruction touched (access
/// violations, in-page errors, SIGSEGV / SIGBUS, EXC_BAD_ACCESS), for every OS the
/// `minidump` crate names them for.
fn is_memory_fault(reason: &str) -> bool {
    [
        "EXCEPTION_ACCESS_VIOLATION",
        "EXCEPTION_IN_PAGE_ERROR",
        "SIGSEGV",
        "SIGBUS",
        "EXC_BAD_ACCESS",
    ]
    .iter()
    .any(|kind| reason.starts_with(kind))
}

/// Reads the dump-level facts of a minidump. A panic in the minidump crate on a hostile file
/// is caught by the pipeline's one panic boundary (`Pipeline::process_bytes_with_id`).
pub fn build_report(path: &Path, bytes: &[u8], dump_id: String) -> Result<CrashReport, DumpError> {
    let dump = Minidump::read(bytes)
        .map_err(|e| DumpError::malformed(path, format!("unreadable minidump: {e}")))?;
    let mut warnings = Vec::new();
    let sys = dump.get_stream::<MinidumpSystemInfo>().ok();
    if sys.is_none() {
        warnings.push("no system info stream: arch and OS unknown".into());
    }
    let modules = dump.get_stream::<MinidumpModuleList>().ok();
    let exception = dump.get_stream::<MinidumpException>().ok();
    // A file with the `MDMP` signature but none of the streams a crash has (a truncated
    // copy, a header alone) records no crash: it is quarantined, not clustered as
    // `NO_EXCEPTION` (issue 18).
    if exception.is_none() && modules.is_none() && dump.get_stream::<MinidumpThreadList>().is_err()
    {
        return Err(DumpError::malformed(
            path,
            "not a crash: the minidump has no exception, no thread and no module list (truncated?)",
        ));
    }

    let (arch, os_build, os_version, processors) = match &sys {
        Some(s) => (
            arch_of(s.cpu),
            Some(s.raw.build_number),
            Some(os_version_text(s)),
            Some(u32::from(s.raw.number_of_processors)),
        ),
        None => (Arch::Other("unknown".into()), None, None, None),
    };

    let mut fault = Fault::default();
    let mut exception_record = None;
    if let (Some(exc), Some(s)) = (&exception, &sys) {
        let code = exc.raw.exception_record.exception_code;
        let reason = exc.get_crash_reason(s.os, s.cpu).to_string();
        let ip = fault_instruction(exc, s, &dump);
        let data_address = exc.get_crash_address(s.os, s.cpu);
        let access = if reason.contains("_READ") {
            Some(Access::Read)
        } else if reason.contains("_WRITE") {
            Some(Access::Write)
        } else if reason.contains("_EXEC") {
            Some(Access::Execute)
        } else {
            None
        };
        let module = modules.as_ref().and_then(|m| m.module_at_address(ip));
        fault = Fault {
            address: Some(Address(ip)),
            module: Some(module.map_or(ModuleRef::Unknown, |m| {
                ModuleRef::Loaded(base_name(&m.code_file()).to_string())
            })),
            module_base: module.map(|m| Address(m.base_address())),
            offset: module.map(|m| Address(ip.wrapping_sub(m.base_address()))),
            symbol: None,
            access,
            // A Windows access violation names the data address in its parameters; without
            // them the crate falls back to the instruction, which is no data address.
            referenced_address: (is_memory_fault(&reason)
                && (s.os != Os::Windows || exc.raw.exception_record.number_parameters >= 2))
                .then_some(Address(data_address)),
        };
        exception_record = Some(ExceptionRecord {
            code,
            name: reason,
            address: Address(exc.raw.exception_record.exception_address),
        });
    } else {
        warnings.push("no exception stream: this minidump does not record a crash".into());
    }

    let module_records = modules
        .as_ref()
        .map(|list| {
            if list.iter().count() > MAX_MODULES {
                warnings.push(format!("module list truncated to {MAX_MODULES} entries"));
            }
            list.iter()
                .take(MAX_MODULES)
                .map(|m| ModuleRecord {
                    name: base_name(&m.code_file()).to_string(),
                    path: m.code_file().to_string(),
                    base: hex(m.base_address()),
                    size: u32::try_from(m.size()).unwrap_or(u32::MAX),
                    timestamp: m.raw.time_date_stamp,
                    checksum: m.raw.checksum,
                })
                .collect()
        })
        .unwrap_or_default();
    let unloaded_modules = dump
        .get_stream::<MinidumpUnloadedModuleList>()
        .map(|list| {
            list.iter()
                .take(MAX_MODULES)
                .map(|m| UnloadedModuleRecord {
                    name: base_name(&m.name).to_string(),
                    start: hex(m.raw.base_of_image),
                    end: hex(m
                        .raw
                        .base_of_image
                        .saturating_add(u64::from(m.raw.size_of_image))),
                })
                .collect()
        })
        .unwrap_or_default();

    let crash_time =
        chrono::DateTime::<chrono::Utc>::from_timestamp(i64::from(dump.header.time_date_stamp), 0)
            .filter(|_| dump.header.time_date_stamp != 0);

    Ok(CrashReport {
        path: path.display().to_string(),
        dump_id,
        size_bytes: bytes.len() as u64,
        format: DumpFormat::Minidump,
        arch,
        os_build,
        os_version,
        processors,
        product_type: None,
        crash_time,
        uptime_seconds: None,
        boot_id: None,
        bugcheck: None,
        exception: exception_record,
        fault,
        blame: Blame::default(),
        failure_class: String::new(),
        bucket_id: String::new(),
        signature: String::new(),
        stack: Vec::new(),
        modules: module_records,
        crashing_thread_id: None,
        crashing_thread_index: None,
        threads: Vec::new(),
        unloaded_modules,
        warnings,
    })
}
