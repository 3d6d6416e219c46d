//! `drivers.csv`: the fleet's third-party driver inventory (issue 15), as a management tool's
//! "non-Microsoft drivers" report exports it: `host,driver,path,start_mode,state,version`, one
//! row per host and installed third-party driver. It lists the same drivers the host's dumps
//! load (`catalog::drivers_for`), so it is what a `Win32_SystemDriver` query would return on
//! that host. No random numbers: every other file keeps its bytes.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::catalog::{self, CSAGENT};
use super::fleet::Host;
use super::truth::DriverInstallTruth;

/// How a third-party driver starts: the EDR sensor and the backup filter load at boot (a crash
/// in them is a boot loop); the rest (GPU, VPN miniports) are demand-started by PnP.
fn start_mode(path: &str) -> &'static str {
    if path == CSAGENT || path == catalog::ACMENET {
        "System"
    } else if path == catalog::ACMEFLT {
        "Boot"
    } else {
        "Manual"
    }
}

fn version(path: &str) -> &'static str {
    if path == CSAGENT {
        "7.16.18605.0"
    } else {
        ""
    }
}

/// The CSV and, per driver, which hosts have it (the truth of exposure).
pub fn drivers_csv(hosts: &[Host]) -> (String, Vec<DriverInstallTruth>) {
    let mut csv = String::from("host,driver,path,start_mode,state,version\n");
    let mut installs: BTreeMap<String, DriverInstallTruth> = BTreeMap::new();
    for host in hosts {
        for def in catalog::drivers_for(host.features).filter(|d| !catalog::is_microsoft(d)) {
            let base = def.path.rsplit('\\').next().unwrap_or(def.path);
            let mode = start_mode(def.path);
            let _ = writeln!(
                csv,
                "{},{},{},{},Running,{}",
                host.name,
                base,
                catalog::display_path(def, host.os_build),
                mode,
                version(def.path)
            );
            let entry = installs
                .entry(base.to_lowercase())
                .or_insert_with(|| DriverInstallTruth {
                    driver: base.to_lowercase(),
                    hosts: Vec::new(),
                    boot_start: mode != "Manual",
                });
            entry.hosts.push(host.name.clone());
        }
    }
    let mut installs: Vec<DriverInstallTruth> = installs.into_values().collect();
    for i in &mut installs {
        i.hosts.sort();
    }
    (csv, installs)
}
