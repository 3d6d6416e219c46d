//! Record-level simulation: the `CrashReport`s a scan of a simulated fleet would produce,
//! without writing or parsing any dump file. For analytics benchmarks that need stores of a
//! million rows: generating a report costs microseconds, writing a dump and reading it back
//! costs a thousand times more.
//!
//! The reports come from the same plans, layouts and crash contents as the dump files, and
//! their blame, bucket and signature from the project's triage rules applied to the planned
//! frames; kernel frames are reported as a walk would find them (module + offset, functions
//! only for the fixture drivers).

use crate::dump::{bugcheck, os_version, Arch};
use crate::record::{
    hex, Access, Address, BugcheckRecord, CrashReport, DumpFormat, ExceptionRecord, Fault,
    FrameTrust, ModuleRecord, ModuleRef, StackFrame, UnloadedModuleRecord,
};
use crate::triage::{self, FrameRef, Rules, TriageInput};

use super::fleet;
use super::generate::{
    host_crashes, retain_newest_minidumps, CrashContent, HostCrash, DEFAULT_MINIDUMPS_COUNT,
};
use super::kernel_crash::PlannedFrame;
use super::scenario::{plan_host, Clock, Scenario};

/// Options of [`simulate_reports`].
#[derive(Debug, Clone, Copy)]
pub struct ReportOptions {
    /// Fill `modules` / `unloaded_modules` (about 160 entries per kernel report). Off, the
    /// reports are about 20 times smaller and faster to make.
    pub with_modules: bool,
    /// The scenario moment, Unix seconds (see `output::DEFAULT_START`).
    pub start: i64,
    /// Kernel minidumps kept per host, as `SimulateConfig::minidumps_count`.
    pub minidumps_count: usize,
}

impl Default for ReportOptions {
    fn default() -> ReportOptions {
        ReportOptions {
            with_modules: true,
            start: super::output::DEFAULT_START,
            minidumps_count: DEFAULT_MINIDUMPS_COUNT,
        }
    }
}

/// The reports of every dump of the fleet `(scenarios, hosts, seed)`, host by host, as
/// `(host name, report)`. Lazy: hosts are generated as the iterator advances, so
/// `.take(1_000_000)` on a large fleet costs only what it yields. The dumps are the ones
/// `blastradius simulate` with the same arguments writes (same paths, times, bugchecks).
///
/// A fleet of N hosts yields about 0.3 N reports for `baseline`, 2-8 N for `channel-file-291`.
pub fn simulate_reports(
    scenarios: &[Scenario],
    hosts: usize,
    seed: u64,
    options: ReportOptions,
) -> impl Iterator<Item = (String, CrashReport)> {
    let scenarios = scenarios.to_vec();
    let rules = Rules::builtin();
    let clock = Clock {
        start: options.start,
    };
    (0..hosts).flat_map(move |index| {
        let host = fleet::host(seed, index);
        let plan = plan_host(&host, &scenarios, clock, seed);
        let mut crashes = host_crashes(&host, &plan, clock);
        retain_newest_minidumps(&mut crashes, options.minidumps_count);
        let reports: Vec<(String, CrashReport)> = crashes
            .iter()
            .map(|c| {
                (
                    host.name.clone(),
                    report_of(&host, c, &rules, options.with_modules),
                )
            })
            .collect();
        reports
    })
}

/// The report's arch for a simulated host (the simulator writes x86, amd64 and arm64 only).
fn report_arch(arch: Arch) -> crate::record::Arch {
    match arch {
        Arch::X86 => crate::record::Arch::X86,
        Arch::Arm64 => crate::record::Arch::Arm64,
        _ => crate::record::Arch::Amd64,
    }
}

fn frames_of(planned: &[PlannedFrame]) -> Vec<StackFrame> {
    planned
        .iter()
        .enumerate()
        .map(|(i, f)| StackFrame {
            index: i as u32,
            address: Address(f.address),
            module: Some(f.module.clone()),
            offset: Some(Address(f.offset)),
            function: f.function.map(str::to_string),
            function_offset: None,
            source_line: None,
            inlines: Vec::new(),
            trust: if i == 0 {
                FrameTrust::Context
            } else {
                FrameTrust::Scan
            },
        })
        .collect()
}

fn report_of(
    host: &fleet::Host,
    crash: &HostCrash,
    rules: &Rules,
    with_modules: bool,
) -> CrashReport {
    let t = &crash.truth;
    let mut report = CrashReport {
        path: t.path.clone(),
        dump_id: format!(
            "{:016x}{:016x}",
            host.seed,
            crash.unix as u64 ^ u64::from(crash.boot_id) << 40
        ),
        size_bytes: 0,
        format: DumpFormat::KernelTriage,
        arch: report_arch(host.arch),
        os_build: Some(host.os_build),
        os_version: Some(os_version::release_name(
            host.os_build,
            Some(host.product_type),
        )),
        processors: Some(host.processors),
        product_type: os_version::product_type_name(host.product_type).map(str::to_string),
        crash_time: chrono::DateTime::from_timestamp(crash.unix, 0),
        uptime_seconds: Some(crash.uptime_secs),
        boot_id: (host.os_build >= 22000).then_some(crash.boot_id),
        bugcheck: None,
        exception: None,
        fault: Fault::default(),
        blame: Default::default(),
        failure_class: String::new(),
        bucket_id: String::new(),
        signature: String::new(),
        stack: Vec::new(),
        modules: Vec::new(),
        crashing_thread_id: None,
        crashing_thread_index: None,
        threads: Vec::new(),
        unloaded_modules: Vec::new(),
        warnings: Vec::new(),
    };
    let mut parameters = [0u64; 4];
    let referenced;
    let access;
    match &crash.content {
        CrashContent::Kernel(k) => {
            let code = k.spec.bugcheck_code;
            parameters = k.spec.parameters;
            report.size_bytes = estimated_kernel_size(&k.spec);
            report.bugcheck = Some(BugcheckRecord {
                code,
                code_hex: bugcheck::code_hex(code),
                name: bugcheck::name(code),
                parameters: parameters.iter().map(|&p| Address(p)).collect(),
            });
            access = bugcheck::access(code, &parameters, Some(host.os_build), host.arch);
            referenced = bugcheck::referenced_address(code, &parameters);
            let fault_module = k.spec.drivers.iter().find(|d| {
                k.fault_address >= d.base && k.fault_address - d.base < u64::from(d.size)
            });
            let function = k
                .frames
                .first()
                .and_then(|f| f.function.filter(|_| f.address == k.fault_address));
            report.fault = Fault {
                address: Some(Address(k.fault_address)),
                module: Some(fault_module.map_or(ModuleRef::Unknown, |d| {
                    ModuleRef::Loaded(crate::dump::modules::base_name(&d.path).to_string())
                })),
                module_base: fault_module.map(|d| Address(d.base)),
                offset: fault_module.map(|d| Address(k.fault_address - d.base)),
                symbol: function.zip(fault_module).map(|(f, d)| {
                    let rva = (k.fault_address - d.base) as u32;
                    let start = super::catalog::fixtures()
                        .acmenet
                        .functions
                        .get(f)
                        .or_else(|| super::catalog::fixtures().acmeflt.functions.get(f))
                        .map_or(rva, |x| x.rva);
                    format!("{f}+{:#x}", rva.saturating_sub(start))
                }),
                access,
                referenced_address: referenced.map(Address),
            };
            report.stack = frames_of(&k.frames);
            if with_modules {
                report.modules = k
                    .spec
                    .drivers
                    .iter()
                    .map(|d| ModuleRecord {
                        name: crate::dump::modules::base_name(&d.path).to_string(),
                        path: d.path.clone(),
                        base: hex(d.base),
                        size: d.size,
                        timestamp: d.timestamp,
                        checksum: d.checksum,
                    })
                    .collect();
                report.unloaded_modules = k
                    .spec
                    .unloaded
                    .iter()
                    .map(|u| UnloadedModuleRecord {
                        name: u.name.chars().take(12).collect(),
                        start: hex(u.start),
                        end: hex(u.end),
                    })
                    .collect();
            }
        }
        CrashContent::User(u) => {
            report.format = DumpFormat::Minidump;
            report.size_bytes = 0x4000
                + u.spec
                    .threads
                    .iter()
                    .map(|t| t.stack.len() as u64)
                    .sum::<u64>();
            let code = u.spec.exception.code;
            let kind = u.spec.exception.information.first().copied().unwrap_or(0);
            access = Some(if kind == 1 {
                Access::Write
            } else {
                Access::Read
            });
            referenced = u.spec.exception.information.get(1).copied();
            report.exception = Some(ExceptionRecord {
                code,
                name: format!(
                    "EXCEPTION_ACCESS_VIOLATION_{}",
                    if kind == 1 { "WRITE" } else { "READ" }
                ),
                address: Address(u.fault_address),
            });
            let module = u.spec.modules.iter().find(|m| {
                u.fault_address >= m.base && u.fault_address - m.base < u64::from(m.size)
            });
            report.fault = Fault {
                address: Some(Address(u.fault_address)),
                module: module.map(|m| {
                    ModuleRef::Loaded(crate::dump::modules::base_name(&m.path).to_string())
                }),
                module_base: module.map(|m| Address(m.base)),
                offset: module.map(|m| Address(u.fault_address - m.base)),
                symbol: None,
                access,
                referenced_address: referenced.map(Address),
            };
            report.stack = frames_of(&u.frames);
            if with_modules {
                report.modules = u
                    .spec
                    .modules
                    .iter()
                    .map(|m| ModuleRecord {
                        name: crate::dump::modules::base_name(&m.path).to_string(),
                        path: m.path.clone(),
                        base: hex(m.base),
                        size: m.size,
                        timestamp: m.timestamp,
                        checksum: m.checksum,
                    })
                    .collect();
            }
        }
    }
    let frame_refs: Vec<FrameRef<'_>> = report
        .stack
        .iter()
        .map(|f| FrameRef {
            module: f.module.as_deref(),
            function: f.function.as_deref(),
            offset: f.offset.map(|o| o.0),
            scanned: f.trust == FrameTrust::Scan,
        })
        .collect();
    let input = TriageInput {
        bugcheck_code: report.bugcheck.as_ref().map(|b| b.code),
        parameters,
        exception_code: report.exception.as_ref().map(|e| e.code),
        access,
        referenced_address: referenced,
        os_build: Some(host.os_build),
        arch: host.arch,
        fault_module: report.fault.module.as_ref(),
        frames: &frame_refs,
    };
    let outcome = triage::triage(&input, rules);
    report.blame = outcome.blame;
    report.failure_class = outcome.failure_class;
    report.bucket_id = outcome.bucket_id;
    report.signature = outcome.signature;
    report
}

/// The size the writer gives this dump, computed from the spec (exact up to page rounding).
fn estimated_kernel_size(spec: &super::kernel_writer::TriageDumpSpec) -> u64 {
    let strings: usize = spec
        .drivers
        .iter()
        .map(|d| (4 + 2 * d.path.encode_utf16().count() + 2).div_ceil(8) * 8)
        .sum();
    let blocks: usize = spec.data_blocks.iter().map(|(_, b)| 16 + b.len()).sum();
    let triage = 0x2000
        + 0x80
        + 0x50
        + 8
        + spec.unloaded.len() * 0x38
        + 0x800
        + spec.stack.len()
        + 0x380
        + spec.drivers.len() * 0x90
        + strings
        + blocks
        + 4;
    let blob = spec
        .dump_blob
        .as_ref()
        .map_or(0, |b| 0x30 + b.len().div_ceil(8) * 8);
    (triage.div_ceil(0x1000) * 0x1000 + blob) as u64
}
