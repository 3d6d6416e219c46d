//! The what-if blast radius (issue 15): if DRIVER failed on every host that runs it, who is
//! hit. The installed base comes from the fleet's driver inventory (`scan --driver-inventory`);
//! without one, from the hosts whose dumps list the driver as loaded (a lower bound: hosts
//! that never crashed are missing), and the result says which (`basis`).
//!
//! Hosts are matched to the inventory ignoring case. Breakdowns count installed hosts per
//! value of `site`, `role`, `ring` and `criticality` (those the inventory has).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use polars::prelude::*;
use serde::Serialize;

use super::AnalyticsError;
pub use crate::fleet::critical::CriticalRule;
use crate::fleet::driver_inventory::starts_at_boot;
use crate::fleet::store::module_key;

/// Inventory columns broken down, when present.
pub const BREAKDOWN_COLUMNS: [&str; 4] = ["site", "role", "ring", "criticality"];

/// Where the installed base came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExposureBasis {
    DriverInventory,
    /// No driver inventory: hosts seen loading the driver in their dumps.
    Dumps,
}

/// Hosts of one breakdown value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueHosts {
    pub hosts: u64,
}

/// The what-if result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exposure {
    pub driver: String,
    pub basis: ExposureBasis,
    pub hosts_installed: u64,
    /// Hosts in the inventory (`None` without one).
    pub fleet_hosts: Option<u64>,
    pub fleet_share: Option<f64>,
    /// Hosts where it starts at boot (Boot or System start): these would boot-loop. `None`
    /// when start modes are unknown (no driver inventory, or no start_mode column).
    pub boot_start_hosts: Option<u64>,
    /// Installed hosts the critical rule selects (`None` without an inventory).
    pub critical_hosts: Option<u64>,
    pub critical_rule: String,
    /// Inventory filters applied (`--site`, `--where`): the fleet is the hosts matching them.
    pub filters: Vec<(String, String)>,
    /// Sites with an installed host, and sites in the inventory.
    pub sites_hit: Option<u64>,
    pub fleet_sites: Option<u64>,
    /// column -> value -> hosts, over `BREAKDOWN_COLUMNS` the inventory has.
    pub breakdown: BTreeMap<String, BTreeMap<String, ValueHosts>>,
    /// Installed version -> hosts (`(unknown)` when not listed).
    pub versions: BTreeMap<String, u64>,
}

fn str_column(df: &DataFrame, name: &str) -> Result<Option<Vec<Option<String>>>, AnalyticsError> {
    let Some(c) = df
        .get_column_names()
        .iter()
        .find(|n| n.eq_ignore_ascii_case(name))
        .map(|n| n.to_string())
    else {
        return Ok(None);
    };
    let c = df.column(&c)?.cast(&DataType::String)?;
    Ok(Some(
        c.str()?.iter().map(|v| v.map(str::to_string)).collect(),
    ))
}

/// The what-if exposure of `driver` (any spelling: `CSAgent`, `csagent.sys`, a path).
/// `driver_inventory`: the stored driver inventory; `loaded`: the drivers table (`host`,
/// `driver`), used only without a driver inventory.
pub fn exposure(
    driver: &str,
    driver_inventory: Option<&DataFrame>,
    loaded: Option<LazyFrame>,
    inventory: Option<&DataFrame>,
    inventory_filters: &[(String, String)],
    critical: &CriticalRule,
) -> Result<Exposure, AnalyticsError> {
    let key = crate::fleet::driver_inventory::driver_key(driver, None);
    let key = if key.is_empty() {
        module_key(driver)
    } else {
        key
    };
    // host (lower case) -> (name, boot start, version)
    let mut installed: BTreeMap<String, (bool, Option<String>)> = BTreeMap::new();
    let mut start_modes_known = false;
    let basis = match driver_inventory {
        Some(di) => {
            let hosts = str_column(di, "host")?.unwrap_or_default();
            let drivers = str_column(di, "driver")?.unwrap_or_default();
            let modes = str_column(di, "start_mode")?.unwrap_or_else(|| vec![None; hosts.len()]);
            let versions = str_column(di, "version")?.unwrap_or_else(|| vec![None; hosts.len()]);
            for i in 0..hosts.len().min(drivers.len()) {
                let (Some(h), Some(d)) = (&hosts[i], &drivers[i]) else {
                    continue;
                };
                if *d != key {
                    continue;
                }
                let boot = modes.get(i).and_then(|m| m.as_deref()).map(starts_at_boot);
                start_modes_known |= boot.is_some();
                let entry = installed.entry(h.to_lowercase()).or_insert((false, None));
                entry.0 |= boot.unwrap_or(false);
                if entry.1.is_none() {
                    entry.1 = versions.get(i).cloned().flatten();
                }
            }
            ExposureBasis::DriverInventory
        }
        None => {
            if let Some(loaded) = loaded {
                let df = loaded
                    .filter(col("driver").eq(lit(key.as_str())))
                    .select([col("host")])
                    .unique(None, UniqueKeepStrategy::Any)
                    .collect()?;
                for h in str_column(&df, "host")?
                    .unwrap_or_default()
                    .into_iter()
                    .flatten()
                {
                    installed.entry(h.to_lowercase()).or_insert((false, None));
                }
            }
            ExposureBasis::Dumps
        }
    };

    // `--site` / `--where`: the fleet is the inventory's matching hosts, and only installed
    // hosts among them count (as the table commands count only crashes of those hosts).
    let filtered = if inventory_filters.is_empty() {
        None
    } else {
        let inv = inventory.ok_or_else(|| AnalyticsError::UnknownInventoryColumn {
            column: inventory_filters[0].0.clone(),
            available: "there is no inventory (give one to `scan --inventory`)".into(),
        })?;
        let filtered = super::prepare::filter_inventory(inv, inventory_filters)?;
        let allowed: BTreeSet<String> = str_column(&filtered, "host")?
            .unwrap_or_default()
            .into_iter()
            .flatten()
            .map(|h| h.to_lowercase())
            .collect();
        installed.retain(|h, _| allowed.contains(h));
        Some(filtered)
    };
    let inventory = filtered.as_ref().or(inventory);
    let mut breakdown: BTreeMap<String, BTreeMap<String, ValueHosts>> = BTreeMap::new();
    let mut critical_hosts = None;
    let mut fleet_hosts = None;
    let mut sites_hit = None;
    let mut fleet_sites = None;
    if let Some(inv) = inventory {
        let hosts: Vec<Option<String>> = str_column(inv, "host")?.unwrap_or_default();
        fleet_hosts = Some(hosts.iter().flatten().collect::<BTreeSet<_>>().len() as u64);
        let row_of: HashMap<String, usize> = hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|h| (h.to_lowercase(), i)))
            .collect();
        let value_of = |column: &[Option<String>], host: &str| -> Option<String> {
            row_of
                .get(host)
                .and_then(|&i| column.get(i).cloned().flatten())
        };
        for name in BREAKDOWN_COLUMNS {
            let Some(column) = str_column(inv, name)? else {
                continue;
            };
            let entry = breakdown.entry(name.to_string()).or_default();
            for host in installed.keys() {
                let value = value_of(&column, host).unwrap_or_else(|| "(not in inventory)".into());
                entry.entry(value).or_insert(ValueHosts { hosts: 0 }).hosts += 1;
            }
            if name == "site" {
                sites_hit =
                    Some(entry.keys().filter(|v| *v != "(not in inventory)").count() as u64);
                fleet_sites = Some(column.iter().flatten().collect::<BTreeSet<_>>().len() as u64);
            }
        }
        if let Some(critical) = critical.hosts(inv)? {
            critical_hosts = Some(installed.keys().filter(|h| critical.contains(h)).count() as u64);
        }
    }
    let mut versions: BTreeMap<String, u64> = BTreeMap::new();
    if basis == ExposureBasis::DriverInventory {
        for (_, version) in installed.values() {
            *versions
                .entry(version.clone().unwrap_or_else(|| "(unknown)".into()))
                .or_insert(0) += 1;
        }
    }
    let n = installed.len() as u64;
    Ok(Exposure {
        driver: key,
        basis,
        hosts_installed: n,
        fleet_hosts,
        fleet_share: fleet_hosts.filter(|f| *f > 0).map(|f| n as f64 / f as f64),
        boot_start_hosts: start_modes_known
            .then(|| installed.values().filter(|(boot, _)| *boot).count() as u64),
        critical_hosts,
        critical_rule: critical.describe(),
        filters: inventory_filters.to_vec(),
        sites_hit,
        fleet_sites,
        breakdown,
        versions,
    })
}

impl Exposure {
    /// The one-sentence answer (`240 hosts (80 % of the fleet), all 4 sites, 23 critical;
    /// 240 load it at boot and would boot-loop`).
    pub fn sentence(&self) -> String {
        let mut s = format!("{} hosts", self.hosts_installed);
        if let Some(share) = self.fleet_share {
            let of = if self.filters.is_empty() {
                "the fleet".to_string()
            } else {
                let filters: Vec<String> = self
                    .filters
                    .iter()
                    .map(|(c, v)| format!("{c}={v}"))
                    .collect();
                format!("the hosts with {}", filters.join(", "))
            };
            s.push_str(&format!(" ({:.1} % of {of})", share * 100.0));
        }
        match (self.sites_hit, self.fleet_sites) {
            (Some(1), Some(1)) => s.push_str(", 1 site"),
            (Some(hit), Some(all)) if hit == all && all > 0 => {
                s.push_str(&format!(", all {all} sites"))
            }
            (Some(hit), Some(all)) => s.push_str(&format!(", {hit} of {all} sites")),
            _ => {}
        }
        if let Some(c) = self.critical_hosts {
            s.push_str(&format!(", {c} critical"));
        }
        match self.boot_start_hosts {
            Some(b) => s.push_str(&format!("; {b} load it at boot and would boot-loop")),
            None => s.push_str("; start modes unknown"),
        }
        if self.basis == ExposureBasis::Dumps {
            s.push_str(" (no driver inventory: hosts seen loading it in dumps only)");
        }
        s
    }
}
