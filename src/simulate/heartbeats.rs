//! `heartbeats.csv`: each simulated host's agent check-ins (`host,seen_at`), so the fleet can
//! tell a host that came back from one that never did (issue 15).
//!
//! Every host checks in every [`INTERVAL`] from a day before START until [`TAIL`] after the
//! fleet's last crash or recovery, except while it is down: from the first channel-file-291
//! crash until it recovered (plus a check-in [`CHECK_IN_AFTER_BOOT`] after that recovery). A
//! share ([`STUCK_SHARE`]) of the boot-looping hosts never checks in again after their first
//! crash: stuck at a BitLocker recovery prompt or at Automatic Repair, their dumps end like
//! those of a host that came back. Drawn from a random stream of its own, so the dumps,
//! `inventory.csv` and `rollout.csv` are the same bytes with or without this file.

use std::fmt::Write as _;

use super::rfc3339;
use super::rng::Rng;
use super::scenario::Outage;

/// Seconds between two check-ins of a running host.
pub const INTERVAL: i64 = 2 * 3600;
/// How long after the last crash (or recovery) of the fleet the export ends.
pub const TAIL: i64 = 6 * 3600;
/// A host checks in this long after it boots back into service.
pub const CHECK_IN_AFTER_BOOT: i64 = 300;
/// Share of the boot-looping hosts that never check in again.
pub const STUCK_SHARE: f64 = 0.3;

/// What one host contributes: its outage and the times (Unix s) of its kept dumps.
pub struct HostActivity<'a> {
    pub name: &'a str,
    pub outage: Option<Outage>,
    pub crash_times: Vec<i64>,
}

/// The file and its truth.
pub struct Heartbeats {
    pub csv: String,
    /// Hosts with a dump that checked in after their last crash (sorted).
    pub checked_in_hosts: Vec<String>,
    /// Hosts with a dump that never checked in after their last crash (sorted).
    pub never_checked_in_hosts: Vec<String>,
}

/// Writes the check-ins of every host (in host order).
pub fn heartbeats(seed: u64, start: i64, hosts: &[HostActivity]) -> Heartbeats {
    let latest = hosts
        .iter()
        .flat_map(|h| {
            h.crash_times
                .iter()
                .copied()
                .chain(h.outage.map(|o| o.recovered))
        })
        .max()
        .unwrap_or(start);
    let first = start - 24 * 3600;
    let end = latest.max(start) + TAIL;
    let mut csv = String::from("host,seen_at\n");
    let mut checked_in_hosts = Vec::new();
    let mut never_checked_in_hosts = Vec::new();
    for (index, h) in hosts.iter().enumerate() {
        let mut rng = Rng::derive(seed, "heartbeats", index as u64);
        let stuck = h.outage.is_some_and(|o| o.recovery.boot_loop()) && rng.chance(STUCK_SHARE);
        let down = |t: i64| match h.outage {
            Some(o) if stuck => t >= o.first_crash,
            Some(o) => t >= o.first_crash && t < o.recovered + CHECK_IN_AFTER_BOOT,
            None => false,
        };
        let mut times: Vec<i64> = Vec::new();
        let mut slot = first;
        while slot <= end {
            let t = slot + rng.below(300) as i64;
            if !down(t) {
                times.push(t);
            }
            slot += INTERVAL;
        }
        if let Some(o) = h.outage.filter(|_| !stuck) {
            times.push(o.recovered + CHECK_IN_AFTER_BOOT);
        }
        times.sort_unstable();
        for t in &times {
            let _ = writeln!(csv, "{},{}", h.name, rfc3339(*t));
        }
        if let Some(last_crash) = h.crash_times.iter().copied().max() {
            // Seconds: a check-in in the same second as the crash is not after it.
            if times.iter().any(|t| *t > last_crash) {
                checked_in_hosts.push(h.name.to_string());
            } else {
                never_checked_in_hosts.push(h.name.to_string());
            }
        }
    }
    checked_in_hosts.sort();
    never_checked_in_hosts.sort();
    Heartbeats {
        csv,
        checked_in_hosts,
        never_checked_in_hosts,
    }
}
