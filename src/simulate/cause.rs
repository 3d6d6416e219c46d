//! Why a simulated host crashed, and what a correct triage concludes about it: the cluster
//! label (the WinDbg-style bucket id blastradius is expected to produce) and the blamed driver.
//!
//! Bucket ids are `<failure class>_<module stem>!<function>`, the function `unknown_function`
//! unless the module's PDB is in `symbols-cache/`; causes that are not a driver's are the
//! failure class alone (POWER_BUTTON_HOLD, 0x124_WHEA).

use super::catalog::feature::*;
use super::fleet::Host;

/// A user-mode service that crashes (the minidumps of the fleet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    /// AcmeVpnService.exe: NULL read in acmevpncore.dll.
    AcmeVpn,
    /// AcmeBackupAgent.exe: write through a wild pointer in acmebkcore.dll.
    AcmeBackup,
}

impl Service {
    pub fn exe(self) -> &'static str {
        match self {
            Service::AcmeVpn => "AcmeVpnService.exe",
            Service::AcmeBackup => "AcmeBackupAgent.exe",
        }
    }

    /// The DLL the crash is in.
    pub fn faulting_dll(self) -> &'static str {
        match self {
            Service::AcmeVpn => "acmevpncore.dll",
            Service::AcmeBackup => "acmebkcore.dll",
        }
    }
}

/// The GPU driver of a host, for 0x116 VIDEO_TDR_FAILURE.
pub fn gpu_driver(host: &Host) -> Option<&'static str> {
    if host.has(GPU_NVIDIA) {
        Some("nvlddmkm.sys")
    } else if host.has(GPU_INTEL) {
        Some(if host.has(X86) {
            "igdkmd32.sys"
        } else {
            "igdkmd64.sys"
        })
    } else if host.has(GPU_QUALCOMM) {
        Some("qcdx8380.sys")
    } else {
        None
    }
}

/// The third-party storage driver of a host whose DPC can overrun the watchdog.
pub fn storage_driver(host: &Host) -> Option<&'static str> {
    if host.has(INTEL_RST) {
        Some("iaStorAC.sys")
    } else if host.has(SMARTPQI) {
        Some("smartpqi.sys")
    } else {
        None
    }
}

/// The cause of one crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// 0x50 in csagent.sys reading past the channel-file 291 template (2024-07-19).
    ChannelFile291,
    /// 0x116 in the host's GPU driver.
    GpuTdr,
    /// 0x1A MEMORY_MANAGEMENT with this first parameter; the kernel is all there is to blame.
    MemoryManagement { p1: u64 },
    /// 0x133 P1=0: one DPC of the host's storage driver ran too long.
    DpcWatchdog,
    /// 0xD1 write at DISPATCH_LEVEL in acmenet!FilterSend (a freed filter context).
    NetFilterWrite,
    /// 0x1C8: a user held the power button on a hung machine.
    PowerButtonHold,
    /// 0x124: an uncorrectable machine check (bad hardware).
    Whea,
    /// 0x7E access violation in acmeflt!ReadSectorHeader (the staged rollout's 3.2.0 build).
    BackupFilterNullRead,
    /// A user-mode service crash, written as an MDMP.
    ServiceCrash(Service),
}

impl Cause {
    pub fn bugcheck_code(self) -> Option<u32> {
        Some(match self {
            Cause::ChannelFile291 => 0x50,
            Cause::GpuTdr => 0x116,
            Cause::MemoryManagement { .. } => 0x1A,
            Cause::DpcWatchdog => 0x133,
            Cause::NetFilterWrite => 0xD1,
            Cause::PowerButtonHold => 0x1C8,
            Cause::Whea => 0x124,
            Cause::BackupFilterNullRead => 0x7E,
            Cause::ServiceCrash(_) => return None,
        })
    }

    /// The exception code: of a user-mode crash, or the one an exception bugcheck reports.
    pub fn exception_code(self) -> Option<u32> {
        match self {
            Cause::ServiceCrash(_) | Cause::BackupFilterNullRead => Some(0xC000_0005),
            _ => None,
        }
    }

    /// The driver (or DLL) a correct triage blames, as its base file name spelled as the
    /// dump spells it; `None` for causes that are not a module's.
    pub fn blamed_module(self, host: &Host) -> Option<&'static str> {
        match self {
            Cause::ChannelFile291 => Some("csagent.sys"),
            Cause::GpuTdr => gpu_driver(host),
            Cause::MemoryManagement { .. } => Some("ntoskrnl.exe"),
            Cause::DpcWatchdog => storage_driver(host),
            Cause::NetFilterWrite => Some("acmenet.sys"),
            Cause::PowerButtonHold | Cause::Whea => None,
            Cause::BackupFilterNullRead => Some("acmeflt.sys"),
            Cause::ServiceCrash(s) => Some(s.faulting_dll()),
        }
    }

    /// The bucket id a correct triage produces (the truth's cluster label).
    pub fn cluster_label(self, host: &Host) -> String {
        let stem = |name: &str| name.rsplit_once('.').map_or(name, |(s, _)| s).to_string();
        let module = self
            .blamed_module(host)
            .map(stem)
            .unwrap_or_else(|| "unknown_module".into());
        match self {
            Cause::ChannelFile291 => format!("AV_R_INVALID_{module}!unknown_function"),
            Cause::GpuTdr => format!("0x116_{module}!unknown_function"),
            Cause::MemoryManagement { p1 } => format!("0x1A_{p1:x}_nt!unknown_function"),
            Cause::DpcWatchdog => format!("0x133_DPC_{module}!unknown_function"),
            Cause::NetFilterWrite => "AV_W_acmenet!FilterSend".into(),
            Cause::PowerButtonHold => "POWER_BUTTON_HOLD".into(),
            Cause::Whea => "0x124_WHEA".into(),
            Cause::BackupFilterNullRead => "AV_acmeflt!ReadSectorHeader".into(),
            Cause::ServiceCrash(Service::AcmeVpn) => {
                format!("NULL_POINTER_READ_c0000005_{module}!unknown_function")
            }
            Cause::ServiceCrash(Service::AcmeBackup) => {
                format!("INVALID_POINTER_WRITE_c0000005_{module}!unknown_function")
            }
        }
    }

    /// A short name for the truth file.
    pub fn name(self) -> &'static str {
        match self {
            Cause::ChannelFile291 => "csagent-channel-file-291",
            Cause::GpuTdr => "gpu-tdr",
            Cause::MemoryManagement { .. } => "memory-management",
            Cause::DpcWatchdog => "storage-dpc-watchdog",
            Cause::NetFilterWrite => "acmenet-filter-write",
            Cause::PowerButtonHold => "power-button-hold",
            Cause::Whea => "whea-hardware-error",
            Cause::BackupFilterNullRead => "acmeflt-3.2.0-null-read",
            Cause::ServiceCrash(Service::AcmeVpn) => "acmevpn-service-crash",
            Cause::ServiceCrash(Service::AcmeBackup) => "acmebackup-service-crash",
        }
    }
}
