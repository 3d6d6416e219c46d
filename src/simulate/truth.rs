//! `truth.json`: what really happened in a simulated fleet, so tests and benchmarks can score
//! clustering, blame and boot-loop detection.
//!
//! Cluster labels are the bucket ids a correct triage produces
//! (`AV_R_INVALID_csagent!unknown_function`); blamed drivers are lower-case base names (the
//! crash store's `blame_module_lc`), `null` for causes that are not a driver's.

use serde::{Deserialize, Serialize};

/// One dump file and its true cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DumpTruth {
    /// Relative to the output folder, `/`-separated: `dumps/LON-WS-0012/071924-31337-01.dmp`.
    pub path: String,
    pub host: String,
    /// `kernel-triage` or `minidump`.
    pub format: String,
    pub scenario: String,
    /// A short name of the cause (`csagent-channel-file-291`).
    pub cause: String,
    /// RFC 3339 UTC, to the second.
    pub crash_time: String,
    pub uptime_seconds: u64,
    /// The boot this crash ended (also written into Windows 11 headers).
    pub boot_id: u32,
    /// `0x50`, or `null` for user-mode dumps.
    pub bugcheck_code: Option<String>,
    /// `0xC0000005` for user-mode dumps and exception bugchecks (0x7E).
    pub exception_code: Option<String>,
    /// The bucket id a correct triage gives.
    pub cluster: String,
    /// Lower-case base name of the module at fault, `null` when no module is.
    pub blamed_driver: Option<String>,
    /// Lower-case base name of the module holding the fault address.
    pub fault_module: Option<String>,
    /// `0x...`: the fault address (the bugcheck's faulting IP, 0x116's driver pointer, or
    /// KeBugCheckEx for the bugchecks that have none).
    pub fault_address: String,
    /// Part of a boot loop (a crash within minutes of the boot, repeated).
    pub boot_loop: bool,
    pub size_bytes: u64,
}

/// A host's channel-file-291 outage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutageTruth {
    pub host: String,
    pub received_at: String,
    pub first_crash: String,
    pub recovered_at: String,
    /// `boot-loop-recovered-after-revert`, `boot-loop-manual-repair`, `single-crash-manual-reboot`.
    pub recovery: String,
    pub boot_loop: bool,
    /// Every crash of the outage; with a low `MinidumpsCount` fewer dumps remain.
    pub crashes: u32,
}

/// One cluster: every dump with this label.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterTruth {
    pub label: String,
    pub cause: String,
    pub blamed_driver: Option<String>,
    pub dumps: u64,
    pub hosts: u64,
}

/// A moment of the scenario's story.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineEvent {
    pub time: String,
    pub scenario: String,
    pub event: String,
}

/// The whole `truth.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    /// `blastradius simulate <version>`.
    pub generator: String,
    /// The command that regenerates this folder byte for byte.
    pub command: String,
    pub scenarios: Vec<String>,
    pub seed: u64,
    pub hosts: usize,
    pub start: String,
    /// Kernel minidumps kept per host (Windows' `MinidumpsCount`).
    pub minidumps_count: usize,
    pub timeline: Vec<TimelineEvent>,
    /// Largest first.
    pub clusters: Vec<ClusterTruth>,
    /// Hosts that boot-looped (sorted).
    pub boot_loop_hosts: Vec<String>,
    pub outages: Vec<OutageTruth>,
    pub dumps: Vec<DumpTruth>,
    /// Hosts with a dump that checked in (`heartbeats.csv`) after their last crash: the
    /// `recovered` hosts of a heartbeat-aware state (issue 15). Sorted.
    #[serde(default)]
    pub checked_in_hosts: Vec<String>,
    /// Hosts with a dump that never checked in after their last crash: `down`. Sorted.
    #[serde(default)]
    pub never_checked_in_hosts: Vec<String>,
    /// Third-party drivers of `drivers.csv` and the hosts that have them, by driver.
    #[serde(default)]
    pub driver_installs: Vec<DriverInstallTruth>,
}

/// One third-party driver's installed base (`drivers.csv`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DriverInstallTruth {
    /// Lower-case base name (`csagent.sys`).
    pub driver: String,
    /// Starts at boot (Boot or System start).
    pub boot_start: bool,
    /// Sorted.
    pub hosts: Vec<String>,
}
