//! From plans to crashes: per host, the planned crashes get their uptimes, boot ids, module
//! layouts, dump contents and file names, in time order.

use crate::dump::Arch;

use super::cause::Cause;
use super::fleet::{DeviceKind, Host};
use super::kernel_crash::{kernel_crash, CrashMoment, KernelCrash};
use super::machine::boot_layout;
use super::rng::Rng;
use super::scenario::{Clock, HostPlan};
use super::truth::DumpTruth;
use super::user_crash::{user_crash, UserCrash};
use super::{rfc3339, utc_date_parts};

/// The content of one dump file, ready to be written.
#[derive(Debug, Clone)]
pub enum CrashContent {
    /// Boxed: a kernel crash's spec is several times the size of a user crash's.
    Kernel(Box<KernelCrash>),
    User(UserCrash),
}

/// One crash of one host, with everything the truth says about it.
#[derive(Debug, Clone)]
pub struct HostCrash {
    pub cause: Cause,
    /// The dump's path relative to the output folder.
    pub relative_path: String,
    pub unix: i64,
    pub uptime_secs: u64,
    pub boot_id: u32,
    pub content: CrashContent,
    pub truth: DumpTruth,
}

/// How long a host had been up when a background crash hit it, before the cap that its last
/// reboot puts on it.
fn drawn_uptime(host: &Host, rng: &mut Rng) -> u64 {
    let mean = if host.is_server() {
        9.0 * 86_400.0
    } else if host.role.always_on || host.role.device == DeviceKind::Kiosk {
        3.0 * 86_400.0
    } else {
        6.0 * 3600.0
    };
    (rng.exp(mean) as u64).max(240)
}

/// Planned reboots (patches, nightly shutdowns) between the window start and `unix`.
fn routine_reboots(host: &Host, window_from: i64, unix: i64) -> u32 {
    let period = if host.is_server() {
        30 * 86_400
    } else if host.role.always_on {
        7 * 86_400
    } else {
        86_400
    };
    u32::try_from((unix - window_from).max(0) / period).unwrap_or(0)
}

/// Materializes every planned crash of `host`.
pub fn host_crashes(host: &Host, plan: &HostPlan, clock: Clock) -> Vec<HostCrash> {
    let window_from = clock.background_from();
    let mut out = Vec::with_capacity(plan.crashes.len());
    let mut next_boot: Option<i64> = None;
    let mut per_date: Vec<(String, u32)> = Vec::new();
    for (i, planned) in plan.crashes.iter().enumerate() {
        let mut rng = Rng::derive(host.seed, "crash", i as u64);
        let t = planned.unix;
        let uptime = match planned.uptime {
            Some(u) => u,
            None => {
                let drawn = drawn_uptime(host, &mut rng);
                match next_boot {
                    Some(b) if b < t => drawn.min((t - b) as u64),
                    _ => drawn,
                }
            }
        };
        let boot_time = t - uptime as i64;
        let boot_id = host.boot_base + 1 + i as u32 + routine_reboots(host, window_from, boot_time);
        next_boot = Some(t + if host.is_vm { 60 } else { 120 });
        let moment = CrashMoment {
            unix_secs: t,
            fraction_100ns: rng.below(10_000_000),
            uptime_secs: uptime,
            boot_id,
        };

        let (file_name, content, fault_module, fault_address, format) = match planned.cause {
            Cause::ServiceCrash(service) => {
                let crash = user_crash(host, service, moment, &mut rng);
                let fault_module = Some(service.faulting_dll().to_ascii_lowercase());
                let fault = crash.fault_address;
                (
                    crash.file_name.clone(),
                    CrashContent::User(crash),
                    fault_module,
                    fault,
                    "minidump",
                )
            }
            cause => {
                let acmeflt_new = plan.acmeflt_new_from.is_some_and(|d| d <= t);
                let machine = boot_layout(host, boot_id, acmeflt_new);
                let crash = kernel_crash(host, &machine, cause, moment, &mut rng);
                let fault_module = machine
                    .modules
                    .iter()
                    .find(|m| crash.fault_address >= m.base && crash.fault_address < m.end())
                    .map(|m| m.base_name().to_ascii_lowercase());
                // MMDDYY-NNNNN-NN.dmp, the date in the machine's local time, NN counting the
                // dumps of that day.
                let (y, mo, d) = utc_date_parts(t + host.utc_offset_secs());
                let date = format!("{mo:02}{d:02}{:02}", y % 100);
                let seq = match per_date.iter_mut().find(|(dt, _)| *dt == date) {
                    Some((_, n)) => {
                        *n += 1;
                        *n
                    }
                    None => {
                        per_date.push((date.clone(), 1));
                        1
                    }
                };
                let name = format!("{date}-{:05}-{seq:02}.dmp", rng.range(10_000, 99_999));
                let fault = crash.fault_address;
                (
                    name,
                    CrashContent::Kernel(Box::new(crash)),
                    fault_module,
                    fault,
                    "kernel-triage",
                )
            }
        };
        let relative_path = format!("dumps/{}/{}", host.name, file_name);
        let truth = DumpTruth {
            path: relative_path.clone(),
            host: host.name.clone(),
            format: format.into(),
            scenario: planned.scenario.name().into(),
            cause: planned.cause.name().into(),
            crash_time: rfc3339(t),
            uptime_seconds: uptime,
            boot_id,
            bugcheck_code: planned
                .cause
                .bugcheck_code()
                .map(|c| format!("{c:#X}").replace("0X", "0x")),
            exception_code: planned.cause.exception_code().map(|c| format!("0x{c:08X}")),
            cluster: planned.cause.cluster_label(host),
            blamed_driver: planned
                .cause
                .blamed_module(host)
                .map(|m| m.to_ascii_lowercase()),
            fault_module,
            fault_address: if host.arch == Arch::X86 {
                format!("{:#x}", fault_address & 0xffff_ffff)
            } else {
                format!("{fault_address:#x}")
            },
            boot_loop: planned.boot_loop,
            size_bytes: 0,
        };
        out.push(HostCrash {
            cause: planned.cause,
            relative_path,
            unix: t,
            uptime_secs: uptime,
            boot_id,
            content,
            truth,
        });
    }
    out
}

/// Windows keeps at most `MinidumpsCount` kernel minidumps in `C:\Windows\Minidump`
/// (CrashControl registry value, 50 by default) and deletes the oldest beyond that; user-mode
/// dumps (WER LocalDumps) are counted apart. Drops what such a host would no longer hold.
pub fn retain_newest_minidumps(crashes: &mut Vec<HostCrash>, minidumps_count: usize) {
    let kernel = crashes
        .iter()
        .filter(|c| matches!(c.content, CrashContent::Kernel(_)))
        .count();
    let mut excess = kernel.saturating_sub(minidumps_count);
    // Oldest first: crashes are in time order.
    crashes.retain(|c| {
        if excess > 0 && matches!(c.content, CrashContent::Kernel(_)) {
            excess -= 1;
            false
        } else {
            true
        }
    });
}

/// The Windows default of `MinidumpsCount`.
pub const DEFAULT_MINIDUMPS_COUNT: usize = 50;
