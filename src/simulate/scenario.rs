//! The scenarios: which hosts crash when, and why. Each scenario plans the crashes of one host
//! from that host's own random stream, so hosts are planned independently (in parallel) and
//! the plan does not depend on the fleet size or on thread scheduling.

use super::catalog::feature::*;
use super::cause::{self, Cause, Service};
use super::fleet::{DeviceKind, Host};
use super::rng::Rng;

const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;

/// A simulated incident or background.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scenario {
    ChannelFile291,
    GpuTdr,
    Baseline,
    StagedRollout,
    /// The control for `gate`: a change that ships by the same rings and breaks nothing.
    CleanRollout,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::ChannelFile291,
        Scenario::GpuTdr,
        Scenario::Baseline,
        Scenario::StagedRollout,
        Scenario::CleanRollout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::ChannelFile291 => "channel-file-291",
            Scenario::GpuTdr => "gpu-tdr",
            Scenario::Baseline => "baseline",
            Scenario::StagedRollout => "staged-rollout",
            Scenario::CleanRollout => "clean-rollout",
        }
    }

    /// One line for `--help`.
    pub fn summary(self) -> &'static str {
        match self {
            Scenario::ChannelFile291 => {
                "CrowdStrike-like: at START a csagent.sys content update reaches every online host within minutes (no rings); 0x50 in csagent+0xe14ed, most hosts boot-loop until the revert 78 min later, some need manual repair"
            }
            Scenario::GpuTdr => "0x116 VIDEO_TDR_FAILURE in the GPU driver (nvlddmkm, igdkmd64, qcdx8380) on workstations: a steady background from 7 days before START to 1 day after",
            Scenario::Baseline => {
                "a normal week (7 days before START to 1 day after): 0x1A memory management, 0x133 storage DPC watchdog, 0xD1 in acmenet!FilterSend (symbols in symbols-cache), power-button holds, WHEA errors, user-mode service crashes (MDMP)"
            }
            Scenario::StagedRollout => {
                "acmeflt.sys 3.2.0 ships by ring (canary at START, early +1 d, broad +3 d) and crashes with 0x7E in acmeflt!ReadSectorHeader on hosts that took it"
            }
            Scenario::CleanRollout => {
                "a Windows cumulative update ships to every host by ring (canary START-6 d, early -5 d, broad -3 d: inside the baseline week) and crashes nothing; the control for `gate` (combine with baseline)"
            }
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name.trim())
    }

    /// A comma-separated list (`channel-file-291,baseline`), deduplicated, in a fixed order.
    pub fn parse_list(text: &str) -> Result<Vec<Scenario>, String> {
        let mut out = Vec::new();
        for part in text.split(',').filter(|p| !p.trim().is_empty()) {
            let s = Scenario::parse(part).ok_or_else(|| {
                let known: Vec<&str> = Scenario::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown scenario '{}' (known: {})",
                    part.trim(),
                    known.join(", ")
                )
            })?;
            if !out.contains(&s) {
                out.push(s);
            }
        }
        if out.is_empty() {
            return Err("no scenario given".into());
        }
        out.sort();
        Ok(out)
    }
}

/// The key times of a run, in Unix seconds (UTC). `start` is the scenario's moment: the
/// content push (channel-file-291), the canary deployment (staged-rollout); the background
/// scenarios cover the week before it and the day after.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: i64,
}

impl Clock {
    /// The channel-file-291 revert (05:27 for a 04:09 push).
    pub fn revert(self) -> i64 {
        self.start + 78 * MINUTE
    }
    pub fn background_from(self) -> i64 {
        self.start - 7 * DAY
    }
    pub fn background_until(self) -> i64 {
        self.start + DAY
    }
    /// When ring `ring` of the staged rollout starts deploying.
    pub fn ring_start(self, ring: &str) -> i64 {
        self.start
            + match ring {
                "canary" => 0,
                "early" => DAY,
                _ => 3 * DAY,
            }
    }
    pub fn rollout_until(self) -> i64 {
        self.start + 5 * DAY
    }
    /// When ring `ring` starts taking the clean-rollout change: the same spacing as the
    /// staged rollout, six days earlier, inside the background week and before any other
    /// change ships (a change deployed in lockstep with another could not be told apart).
    pub fn clean_ring_start(self, ring: &str) -> i64 {
        self.ring_start(ring) - 6 * DAY
    }
}

/// One planned crash.
#[derive(Debug, Clone, Copy)]
pub struct PlannedCrash {
    pub unix: i64,
    pub cause: Cause,
    pub scenario: Scenario,
    /// Uptime imposed by the scenario (crashes within a minute of boot); otherwise drawn later.
    pub uptime: Option<u64>,
    /// Part of a boot loop.
    pub boot_loop: bool,
}

/// How a host came out of the channel-file-291 outage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Crashed once and stayed on the blue screen (automatic restart off) until someone
    /// rebooted it after the revert.
    ManualReboot,
    /// Boot-looped until Windows stopped on the Automatic Repair screen; someone deleted the
    /// channel file by hand.
    ManualRepair,
    /// Kept rebooting until a boot after the revert fetched the fixed content first.
    RebootedAfterRevert,
}

impl Recovery {
    pub fn as_str(self) -> &'static str {
        match self {
            Recovery::ManualReboot => "single-crash-manual-reboot",
            Recovery::ManualRepair => "boot-loop-manual-repair",
            Recovery::RebootedAfterRevert => "boot-loop-recovered-after-revert",
        }
    }

    pub fn boot_loop(self) -> bool {
        !matches!(self, Recovery::ManualReboot)
    }
}

/// A host's channel-file-291 outage.
#[derive(Debug, Clone, Copy)]
pub struct Outage {
    /// When the bad content reached the host.
    pub received: i64,
    pub first_crash: i64,
    pub recovered: i64,
    pub recovery: Recovery,
}

/// A deployment (rollout.csv row).
#[derive(Debug, Clone)]
pub struct Deployment {
    pub change: &'static str,
    pub version: &'static str,
    pub deployed_at: i64,
}

/// Everything planned for one host.
#[derive(Debug, Clone, Default)]
pub struct HostPlan {
    pub crashes: Vec<PlannedCrash>,
    pub outage: Option<Outage>,
    pub deployments: Vec<Deployment>,
    /// When acmeflt.sys 3.2.0 was installed (staged-rollout).
    pub acmeflt_new_from: Option<i64>,
}

pub const CHANNEL_FILE_CHANGE: &str = "csagent channel file 291";
pub const CHANNEL_FILE_BAD: &str = "C-00000291-00000000-00000032.sys";
pub const CHANNEL_FILE_FIXED: &str = "C-00000291-00000000-00000033.sys";
pub const ACMEFLT_CHANGE: &str = "acmeflt.sys (Acme Backup filter)";
/// The clean-rollout change and its version.
pub const CLEAN_CHANGE: &str = "Windows cumulative update 2024-07";
pub const CLEAN_VERSION: &str = "KB5040442";

/// Local hour (0-23) of a UTC time at the host's site.
fn local_hour(host: &Host, unix: i64) -> i64 {
    (unix + host.utc_offset_secs()).rem_euclid(DAY) / HOUR
}

/// Whether a host is powered on at `unix`: servers, kiosks and clinical systems always; other
/// clients in working hours, and a fifth of them left on overnight.
fn is_online(host: &Host, unix: i64, rng: &mut Rng) -> bool {
    if host.role.always_on {
        return rng.chance(0.97);
    }
    let h = local_hour(host, unix);
    if (7..20).contains(&h) {
        rng.chance(0.9)
    } else {
        rng.chance(0.2)
    }
}

/// Seconds from power-on until the sensor processes its channel files (early in boot).
fn boot_to_crash(rng: &mut Rng) -> i64 {
    rng.range(15, 55) as i64
}

/// Seconds from a bugcheck to the next boot's start: writing the dump (the default
/// automatic memory dump goes to the page file first), POST, boot loader.
fn reboot_time(host: &Host, rng: &mut Rng) -> i64 {
    if host.is_vm {
        rng.range(60, 150) as i64
    } else if host.is_server() {
        rng.range(180, 420) as i64
    } else {
        rng.range(90, 240) as i64
    }
}

fn plan_channel_file(host: &Host, clock: Clock, rng: &mut Rng, plan: &mut HostPlan) {
    if !host.has(CROWDSTRIKE) {
        return;
    }
    let revert = clock.revert();
    // Online hosts receive the content within minutes of the push; offline clients when
    // they are switched on, if that is before the revert.
    let (received, first_crash, first_uptime) = if is_online(host, clock.start, rng) {
        let received =
            clock.start + (rng.exp(100.0) as i64).min(14 * MINUTE) + rng.range(5, 30) as i64;
        (received, received + rng.range(5, 40) as i64, None)
    } else {
        // Next local morning, 06:30-09:30.
        let local = clock.start + host.utc_offset_secs();
        let day_start = local - local.rem_euclid(DAY);
        let mut power_on = day_start + 6 * HOUR + 30 * MINUTE + rng.range(0, 3 * 3600) as i64
            - host.utc_offset_secs();
        if power_on < clock.start {
            power_on += DAY;
        }
        if power_on >= revert {
            // Too late: the fixed content is what it downloads.
            plan.deployments.push(Deployment {
                change: CHANNEL_FILE_CHANGE,
                version: CHANNEL_FILE_FIXED,
                deployed_at: power_on + 40,
            });
            return;
        }
        let up = boot_to_crash(rng);
        (power_on + up - 5, power_on + up, Some(up as u64))
    };
    plan.deployments.push(Deployment {
        change: CHANNEL_FILE_CHANGE,
        version: CHANNEL_FILE_BAD,
        deployed_at: received,
    });
    plan.crashes.push(PlannedCrash {
        unix: first_crash,
        cause: Cause::ChannelFile291,
        scenario: Scenario::ChannelFile291,
        uptime: first_uptime,
        // Set below once the host turns out to loop.
        boot_loop: false,
    });

    // Automatic restart off (more common on servers): the host sits on the blue screen.
    let stays_down = rng.chance(if host.is_server() { 0.18 } else { 0.08 });
    let recovery;
    let mut t = first_crash;
    let recovered;
    if stays_down {
        recovery = Recovery::ManualReboot;
        recovered = (revert + 10 * MINUTE).max(first_crash + rng.exp(2.5 * HOUR as f64) as i64)
            + rng.range(0, 1800) as i64;
    } else {
        // Boot loop. Windows stops on Automatic Repair after a few failed boots unless
        // recovery is disabled (common on VMs and kiosks): those loop until the revert.
        let loops_until_revert = rng.chance(match (host.is_vm, host.role.device) {
            (true, _) => 0.55,
            (_, DeviceKind::Kiosk) => 0.4,
            (_, DeviceKind::Server) => 0.3,
            _ => 0.12,
        });
        let limit = if loops_until_revert {
            200
        } else {
            rng.range(2, 3) as usize
        };
        let mut loop_crashes = 0;
        let mut rebooted_after_revert = None;
        while loop_crashes < limit {
            let boot = t + reboot_time(host, rng);
            if boot >= revert && rng.chance(0.5) {
                // The sensor fetched the fixed file before it read the bad one.
                rebooted_after_revert = Some(boot + 90);
                break;
            }
            let up = boot_to_crash(rng);
            t = boot + up;
            plan.crashes.push(PlannedCrash {
                unix: t,
                cause: Cause::ChannelFile291,
                scenario: Scenario::ChannelFile291,
                uptime: Some(up as u64),
                boot_loop: true,
            });
            loop_crashes += 1;
            if loop_crashes > 40 && boot >= revert + HOUR {
                break;
            }
        }
        // The first crash counts as part of the loop once the host loops.
        if let Some(first) = plan
            .crashes
            .iter_mut()
            .find(|c| c.unix == first_crash && c.cause == Cause::ChannelFile291)
        {
            first.boot_loop = true;
        }
        match rebooted_after_revert {
            Some(at) => {
                recovery = Recovery::RebootedAfterRevert;
                recovered = at;
            }
            None => {
                recovery = Recovery::ManualRepair;
                // Desk-side or console fix: Safe Mode, delete C-00000291*.sys, reboot.
                recovered =
                    (revert + 30 * MINUTE).max(t + 20 * MINUTE) + rng.exp(4.0 * HOUR as f64) as i64;
            }
        }
    }
    plan.deployments.push(Deployment {
        change: CHANNEL_FILE_CHANGE,
        version: CHANNEL_FILE_FIXED,
        deployed_at: recovered,
    });
    plan.outage = Some(Outage {
        received,
        first_crash,
        recovered,
        recovery,
    });
}

/// A time in `[from, until)`, in local working hours for clients that are switched off at
/// night.
fn background_time(host: &Host, from: i64, until: i64, rng: &mut Rng) -> i64 {
    let mut t = from + rng.below((until - from) as u64) as i64;
    if host.role.always_on || host.is_server() {
        return t;
    }
    for _ in 0..20 {
        if (8..19).contains(&local_hour(host, t)) {
            break;
        }
        t = from + rng.below((until - from) as u64) as i64;
    }
    t
}

fn add_poisson(
    host: &Host,
    clock: Clock,
    rng: &mut Rng,
    plan: &mut HostPlan,
    scenario: Scenario,
    lambda: f64,
    cause: Cause,
) {
    let n = rng.poisson(lambda);
    for _ in 0..n {
        let unix = background_time(host, clock.background_from(), clock.background_until(), rng);
        plan.crashes.push(PlannedCrash {
            unix,
            cause,
            scenario,
            uptime: None,
            boot_loop: false,
        });
    }
}

fn plan_baseline(host: &Host, clock: Clock, rng: &mut Rng, plan: &mut HostPlan) {
    let p1 = *rng.weighted(&[(0x41792u64, 5), (0x61941, 3), (0x403, 2)]);
    add_poisson(
        host,
        clock,
        rng,
        plan,
        Scenario::Baseline,
        0.03,
        Cause::MemoryManagement { p1 },
    );
    if cause::storage_driver(host).is_some() {
        // One firmware revision in four makes the controller's DPC overrun now and then.
        let lambda = if rng.chance(0.25) { 0.5 } else { 0.0 };
        add_poisson(
            host,
            clock,
            rng,
            plan,
            Scenario::Baseline,
            lambda,
            Cause::DpcWatchdog,
        );
    }
    if host.has(ACME_VPN) {
        add_poisson(
            host,
            clock,
            rng,
            plan,
            Scenario::Baseline,
            0.25,
            Cause::NetFilterWrite,
        );
        add_poisson(
            host,
            clock,
            rng,
            plan,
            Scenario::Baseline,
            0.15,
            Cause::ServiceCrash(Service::AcmeVpn),
        );
    }
    if host.has(ACME_BACKUP) {
        add_poisson(
            host,
            clock,
            rng,
            plan,
            Scenario::Baseline,
            0.08,
            Cause::ServiceCrash(Service::AcmeBackup),
        );
    }
    if !host.is_server() && host.role.device != DeviceKind::Kiosk {
        add_poisson(
            host,
            clock,
            rng,
            plan,
            Scenario::Baseline,
            0.05,
            Cause::PowerButtonHold,
        );
    }
    if !host.is_vm {
        // Failing hardware crashes again and again; healthy hardware never does.
        let lambda = if rng.chance(0.02) { 2.0 } else { 0.0 };
        add_poisson(
            host,
            clock,
            rng,
            plan,
            Scenario::Baseline,
            lambda,
            Cause::Whea,
        );
    }
}

fn plan_gpu_tdr(host: &Host, clock: Clock, rng: &mut Rng, plan: &mut HostPlan) {
    if cause::gpu_driver(host).is_none() || host.is_server() {
        return;
    }
    // A bad driver/monitor combination on a few machines, rare hangs everywhere else.
    let lambda = if rng.chance(0.12) { 1.2 } else { 0.02 };
    add_poisson(
        host,
        clock,
        rng,
        plan,
        Scenario::GpuTdr,
        lambda,
        Cause::GpuTdr,
    );
}

fn plan_staged_rollout(host: &Host, clock: Clock, rng: &mut Rng, plan: &mut HostPlan) {
    if !host.has(ACME_BACKUP) {
        return;
    }
    let deployed = clock.ring_start(host.ring) + rng.range(0, 6 * 3600) as i64;
    if deployed >= clock.rollout_until() {
        return;
    }
    plan.deployments.push(Deployment {
        change: ACMEFLT_CHANGE,
        version: super::catalog::ACMEFLT_NEW_VERSION,
        deployed_at: deployed,
    });
    plan.acmeflt_new_from = Some(deployed);
    // The nightly backup job reads sector headers through the bad path on a third of the
    // nights, at 01:00-03:00 local time.
    let mut night = deployed + host.utc_offset_secs();
    night = night - night.rem_euclid(DAY) + DAY + HOUR - host.utc_offset_secs();
    while night < clock.rollout_until() {
        if night > deployed && rng.chance(0.35) {
            let unix = night + rng.range(0, 2 * 3600) as i64;
            plan.crashes.push(PlannedCrash {
                unix,
                cause: Cause::BackupFilterNullRead,
                scenario: Scenario::StagedRollout,
                uptime: None,
                boot_loop: false,
            });
        }
        night += DAY;
    }
}

/// A clean change: every host takes it in its ring's deployment window, nothing crashes
/// because of it. Background crashes (baseline) go on as before on changed and unchanged hosts
/// alike, which is what a rollout gate must not mistake for a regression.
fn plan_clean_rollout(host: &Host, clock: Clock, rng: &mut Rng, plan: &mut HostPlan) {
    let deployed = clock.clean_ring_start(host.ring) + rng.range(0, 6 * 3600) as i64;
    plan.deployments.push(Deployment {
        change: CLEAN_CHANGE,
        version: CLEAN_VERSION,
        deployed_at: deployed,
    });
}

/// Plans every scenario of the run for one host. Background crashes that fall while the host
/// is down (in its channel-file outage) are dropped: a machine that is off does not crash.
pub fn plan_host(host: &Host, scenarios: &[Scenario], clock: Clock, seed: u64) -> HostPlan {
    let mut plan = HostPlan::default();
    for s in scenarios {
        let mut rng = Rng::derive(seed ^ host.seed, s.name(), host.index as u64);
        match s {
            Scenario::ChannelFile291 => plan_channel_file(host, clock, &mut rng, &mut plan),
            Scenario::GpuTdr => plan_gpu_tdr(host, clock, &mut rng, &mut plan),
            Scenario::Baseline => plan_baseline(host, clock, &mut rng, &mut plan),
            Scenario::StagedRollout => plan_staged_rollout(host, clock, &mut rng, &mut plan),
            Scenario::CleanRollout => plan_clean_rollout(host, clock, &mut rng, &mut plan),
        }
    }
    if let Some(o) = plan.outage {
        plan.crashes.retain(|c| {
            c.cause == Cause::ChannelFile291 || c.unix < o.first_crash || c.unix >= o.recovered
        });
    }
    plan.crashes.sort_by_key(|c| c.unix);
    // Two crashes never share a second on one host (the dump file names would collide).
    for i in 1..plan.crashes.len() {
        if plan.crashes[i].unix <= plan.crashes[i - 1].unix + 60 && plan.crashes[i].uptime.is_none()
        {
            plan.crashes[i].unix = plan.crashes[i - 1].unix + 61;
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::fleet;

    #[test]
    fn parse_list_accepts_combinations_and_rejects_unknown_names() {
        assert_eq!(
            Scenario::parse_list("baseline,channel-file-291").unwrap(),
            vec![Scenario::ChannelFile291, Scenario::Baseline]
        );
        assert!(Scenario::parse_list("channel-file-292")
            .unwrap_err()
            .contains("known: channel-file-291"));
    }

    #[test]
    fn channel_file_loops_end_at_or_after_the_revert_and_uptimes_are_short() {
        let clock = Clock {
            start: 1_721_362_140,
        }; // 2024-07-19T04:09:00Z
        let mut loops = 0;
        for i in 0..300 {
            let host = fleet::host(9, i);
            let plan = plan_host(&host, &[Scenario::ChannelFile291], clock, 9);
            let Some(o) = plan.outage else { continue };
            assert!(o.first_crash >= clock.start && o.first_crash < clock.revert());
            assert!(o.recovered > o.first_crash);
            if o.recovery.boot_loop() {
                loops += 1;
                let short = plan
                    .crashes
                    .iter()
                    .filter(|c| c.uptime.is_some_and(|u| u < 120))
                    .count();
                assert!(short >= 2, "{}: {short}", host.name);
            }
            for c in &plan.crashes {
                assert!(c.unix < o.recovered);
            }
        }
        assert!(loops > 100, "{loops}");
    }
}
