//! Exposure: who runs in our kernel and what it costs. One row per third-party driver seen
//! loaded in the window: vendor and category (from the rules' driver catalog), how many hosts
//! load it and what share of the hosts whose driver list is known, how many crashes are
//! blamed on it and their share of all crashes in scope, and its versions (PE timestamps)
//! with the hosts that load each and the crashes blamed on each.
//!
//! With the fleet's driver inventory (`scan --driver-inventory`, issue 15) each driver also
//! gets its installed base (hosts, share of the inventory, crashes per installed host), and a
//! driver installed but never seen in a dump gets a row too (0 crashes): the what-if list of
//! what could fail next. Inventory filters (`--site`, `--where`) narrow the installed base
//! and the fleet it is a share of, as they narrow the crashes.
//!
//! A crash's version is the timestamp of the blamed driver in that same dump's driver list,
//! so "which versions crash" is exact per dump (a driver seen at a single version in scope
//! gets all its blamed crashes on that version without the lookup). Microsoft's own drivers are left out unless
//! asked for (`include_microsoft`).

use std::collections::{BTreeMap, HashMap};

use polars::prelude::*;
use serde::Serialize;

use super::prepare::{self, load_base, BaseColumns};
use super::{AnalyticsError, Scope};

/// What the rules know about drivers. Implemented for `triage::Rules`; tests pass their own.
pub trait DriverCatalog {
    /// Whether the driver (lower-case base name) ships with Windows.
    fn is_microsoft(&self, driver: &str) -> bool;
    /// Vendor and category of a known third-party driver.
    fn vendor_category(&self, driver: &str) -> Option<(String, String)>;
}

impl DriverCatalog for crate::triage::Rules {
    fn is_microsoft(&self, driver: &str) -> bool {
        crate::triage::Rules::is_microsoft(self, driver)
    }

    fn vendor_category(&self, driver: &str) -> Option<(String, String)> {
        self.driver_info(driver)
            .map(|i| (i.vendor.clone(), i.category.clone()))
    }
}

/// Options of `drivers`.
#[derive(Debug, Clone, Default)]
pub struct DriverOptions {
    /// Window, inventory filters and `driver` apply; `cluster` does not.
    pub scope: Scope,
    pub include_microsoft: bool,
    /// The fleet's driver inventory (`scan --driver-inventory`): gives each driver its
    /// installed base, the denominator a crash rate needs (issue 15).
    pub driver_inventory: Option<DataFrame>,
}

/// One version of a driver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriverVersion {
    /// PE TimeDateStamp, `0x` + 8 hex digits.
    pub timestamp: String,
    pub hosts: u64,
    pub crashes: u64,
}

/// One driver's exposure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriverRow {
    pub driver: String,
    pub vendor: Option<String>,
    pub category: Option<String>,
    pub hosts_loaded: u64,
    pub loaded_share: Option<f64>,
    pub crashes: u64,
    pub crash_share: Option<f64>,
    /// Hosts the driver inventory lists it on (`None` without a driver inventory).
    pub hosts_installed: Option<u64>,
    /// `hosts_installed` over the inventory's hosts.
    pub installed_share: Option<f64>,
    /// Crashes per installed host: comparable across drivers of very different reach.
    pub crashes_per_installed_host: Option<f64>,
    /// Newest timestamp first.
    pub versions: Vec<DriverVersion>,
}

/// The `drivers` result. Its JSON form is the `drivers` array alone.
#[derive(Debug, Clone, PartialEq)]
pub struct DriverTable {
    pub drivers: Vec<DriverRow>,
    /// Hosts whose driver list is known in scope (the `loaded_share` denominator).
    pub hosts_with_driver_data: u64,
    /// Crashes in scope (the `crash_share` denominator).
    pub crashes: u64,
}

fn u64_values(df: &DataFrame, name: &str) -> Result<Vec<u64>, AnalyticsError> {
    Ok(df
        .column(name)?
        .cast(&DataType::UInt64)?
        .u64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect())
}

/// The exposure table of `drivers` (store loaded-driver rows) against `crashes`.
pub fn drivers(
    crashes: LazyFrame,
    drivers: LazyFrame,
    inventory: Option<DataFrame>,
    catalog: &dyn DriverCatalog,
    opts: &DriverOptions,
) -> Result<DriverTable, AnalyticsError> {
    let phase = super::Phase::start("drivers: load crashes");
    let base = load_base(crashes, &opts.scope.window, BaseColumns::Exposure)?;
    drop(phase);
    driver_table(&base, drivers, inventory.as_ref(), catalog, opts)
}

/// The table from the window's crash rows (`prepare::load_base`: dump_id, host, driver).
pub(crate) fn driver_table(
    base: &DataFrame,
    drivers: LazyFrame,
    inventory: Option<&DataFrame>,
    catalog: &dyn DriverCatalog,
    opts: &DriverOptions,
) -> Result<DriverTable, AnalyticsError> {
    // Hosts in scope (inventory filters).
    let allowed_hosts: Option<DataFrame> = if opts.scope.inventory_filters.is_empty() {
        None
    } else {
        let inv = inventory.ok_or_else(|| AnalyticsError::UnknownInventoryColumn {
            column: opts.scope.inventory_filters[0].0.clone(),
            available: "there is no inventory (give one to `scan --inventory`)".into(),
        })?;
        let filtered = prepare::filter_inventory(inv, &opts.scope.inventory_filters)?;
        Some(
            filtered
                .lazy()
                .select([col("host").cast(DataType::String)])
                .unique(None, UniqueKeepStrategy::Any)
                .collect()?,
        )
    };

    let mut crash_lf = base
        .clone()
        .lazy()
        .select([col("dump_id"), col("host"), col("driver")]);
    if let Some(hosts) = &allowed_hosts {
        crash_lf = crash_lf.join(
            hosts.clone().lazy(),
            [col("host")],
            [col("host")],
            JoinArgs::new(JoinType::Inner),
        );
    }
    let scoped = crash_lf.collect()?;
    let total_crashes = scoped.height() as u64;

    let mut dl = drivers.select([
        col("dump_id"),
        col("host"),
        // Lower-case base names already (store contract).
        col("driver"),
        col("timestamp").cast(DataType::UInt32),
    ]);
    if !opts.scope.window.is_open() || allowed_hosts.is_some() {
        // Only the driver lists of dumps in scope.
        let dumps = scoped
            .clone()
            .lazy()
            .select([col("dump_id")])
            .unique(None, UniqueKeepStrategy::Any);
        dl = dl.join(
            dumps,
            [col("dump_id")],
            [col("dump_id")],
            JoinArgs::new(JoinType::Inner),
        );
    }
    let phase = super::Phase::start("drivers: load drivers");
    let dl = dl.collect()?;
    drop(phase);
    let _phase = super::Phase::start("drivers: aggregate");
    let known = dl
        .clone()
        .lazy()
        .select([col("host").n_unique().cast(DataType::UInt64).alias("n")])
        .collect()?;
    let hosts_with_driver_data = known.column("n")?.u64()?.get(0).unwrap_or(0);
    let per_driver = dl
        .clone()
        .lazy()
        .group_by([col("driver")])
        .agg([col("host").n_unique().alias("hosts")])
        .collect()?;
    let per_version = dl
        .clone()
        .lazy()
        .group_by([col("driver"), col("timestamp")])
        .agg([col("host").n_unique().alias("hosts")])
        .collect()?;
    let crashes_per_driver = scoped
        .clone()
        .lazy()
        .filter(col("driver").is_not_null())
        .group_by([col("driver")])
        .agg([len().alias("crashes")])
        .collect()?;
    let mut crash_count: HashMap<String, u64> = HashMap::new();
    {
        let names = crashes_per_driver.column("driver")?.str()?;
        let n = u64_values(&crashes_per_driver, "crashes")?;
        for i in 0..n.len() {
            if let Some(name) = names.get(i) {
                crash_count.insert(name.to_string(), n[i]);
            }
        }
    }
    let mut versions: HashMap<String, BTreeMap<u32, u64>> = HashMap::new();
    {
        let names = per_version.column("driver")?.str()?;
        let ts = per_version.column("timestamp")?.u32()?;
        let n = u64_values(&per_version, "hosts")?;
        for i in 0..n.len() {
            if let (Some(name), Some(t)) = (names.get(i), ts.get(i)) {
                versions
                    .entry(name.to_string())
                    .or_default()
                    .insert(t, n[i]);
            }
        }
    }

    // Crashes per version: the version of the blamed driver in the crashing dump's own
    // driver list. A driver seen at one version only needs no lookup: its blamed crashes are
    // that version's (blame names a module of the dump's own list). For drivers seen at
    // several versions, one join on dump_id alone (a two-string-key join row-encodes its keys
    // and costs twice as much), with both sides cut to those drivers. A dump lists a driver
    // once, so counting joined rows counts dumps.
    let mut version_crashes: HashMap<(String, u32), u64> = HashMap::new();
    let mut multi_version: Vec<String> = Vec::new();
    for (name, n) in &crash_count {
        match versions.get(name) {
            Some(v) if v.len() == 1 => {
                if let Some(ts) = v.keys().next() {
                    version_crashes.insert((name.clone(), *ts), *n);
                }
            }
            Some(_) => multi_version.push(name.clone()),
            None => {}
        }
    }
    if !multi_version.is_empty() {
        let _p = super::Phase::start("drivers: crash versions");
        let names_df = DataFrame::new(
            multi_version.len(),
            vec![Column::new("loaded".into(), multi_version.clone())],
        )?;
        let loaded = dl
            .lazy()
            .select([
                col("dump_id"),
                col("driver").alias("loaded"),
                col("timestamp"),
            ])
            .join(
                names_df.clone().lazy(),
                [col("loaded")],
                [col("loaded")],
                JoinArgs::new(JoinType::Inner),
            );
        let crashes_per_version = scoped
            .lazy()
            .select([col("dump_id"), col("driver")])
            .join(
                names_df.lazy().select([col("loaded").alias("driver")]),
                [col("driver")],
                [col("driver")],
                JoinArgs::new(JoinType::Inner),
            )
            .join(
                loaded,
                [col("dump_id")],
                [col("dump_id")],
                JoinArgs::new(JoinType::Inner),
            )
            .filter(col("driver").eq(col("loaded")))
            .group_by([col("driver"), col("timestamp")])
            .agg([len().alias("crashes")])
            .collect()?;
        let names = crashes_per_version.column("driver")?.str()?;
        let ts = crashes_per_version.column("timestamp")?.u32()?;
        let n = u64_values(&crashes_per_version, "crashes")?;
        for i in 0..n.len() {
            if let (Some(name), Some(t)) = (names.get(i), ts.get(i)) {
                version_crashes.insert((name.to_string(), t), n[i]);
            }
        }
    }

    let wanted = opts.scope.driver.as_deref().map(str::to_ascii_lowercase);
    let names = per_driver.column("driver")?.str()?;
    let hosts = u64_values(&per_driver, "hosts")?;
    let scoped_inventory = match &allowed_hosts {
        Some(_) => inventory
            .map(|inv| prepare::filter_inventory(inv, &opts.scope.inventory_filters))
            .transpose()?,
        None => inventory.cloned(),
    };
    let (installed, fleet_hosts) = installed_base(
        opts.driver_inventory.as_ref(),
        scoped_inventory.as_ref(),
        allowed_hosts.is_some(),
    )?;
    let mut rows = Vec::new();
    for i in 0..hosts.len() {
        let Some(name) = names.get(i) else { continue };
        if wanted.as_deref().is_some_and(|w| w != name) {
            continue;
        }
        if !opts.include_microsoft && catalog.is_microsoft(name) {
            continue;
        }
        let (vendor, category) = match catalog.vendor_category(name) {
            Some((v, c)) => (Some(v), Some(c)),
            None => (None, None),
        };
        let crashes = crash_count.get(name).copied().unwrap_or(0);
        let mut vers: Vec<DriverVersion> = versions
            .get(name)
            .map(|m| {
                m.iter()
                    .rev()
                    .map(|(t, h)| DriverVersion {
                        timestamp: format!("{t:#010x}"),
                        hosts: *h,
                        crashes: version_crashes
                            .get(&(name.to_string(), *t))
                            .copied()
                            .unwrap_or(0),
                    })
                    .collect()
            })
            .unwrap_or_default();
        vers.shrink_to_fit();
        let hosts_installed = installed
            .as_ref()
            .map(|m| m.get(name).copied().unwrap_or(0));
        rows.push(DriverRow {
            hosts_installed,
            installed_share: hosts_installed
                .zip(fleet_hosts)
                .and_then(|(n, f)| share(n, f)),
            crashes_per_installed_host: hosts_installed
                .filter(|n| *n > 0)
                .map(|n| crashes as f64 / n as f64),
            driver: name.to_string(),
            vendor,
            category,
            hosts_loaded: hosts[i],
            loaded_share: share(hosts[i], hosts_with_driver_data),
            crashes,
            crash_share: share(crashes, total_crashes),
            versions: vers,
        });
    }
    // Installed but never seen loaded in a dump of the window: no crash to blame yet, but
    // the installed base is what fails if it does.
    if let Some(installed) = &installed {
        let seen: std::collections::HashSet<String> =
            rows.iter().map(|r| r.driver.clone()).collect();
        for (name, n) in installed {
            if *n == 0
                || seen.contains(name)
                || wanted.as_deref().is_some_and(|w| w != name)
                || (!opts.include_microsoft && catalog.is_microsoft(name))
            {
                continue;
            }
            let (vendor, category) = match catalog.vendor_category(name) {
                Some((v, c)) => (Some(v), Some(c)),
                None => (None, None),
            };
            let crashes = crash_count.get(name).copied().unwrap_or(0);
            rows.push(DriverRow {
                driver: name.clone(),
                vendor,
                category,
                hosts_loaded: 0,
                loaded_share: share(0, hosts_with_driver_data),
                crashes,
                crash_share: share(crashes, total_crashes),
                hosts_installed: Some(*n),
                installed_share: fleet_hosts.and_then(|f| share(*n, f)),
                crashes_per_installed_host: Some(crashes as f64 / *n as f64),
                versions: Vec::new(),
            });
        }
    }
    rows.sort_by(|a, b| {
        b.crashes
            .cmp(&a.crashes)
            .then(b.hosts_installed.cmp(&a.hosts_installed))
            .then(b.hosts_loaded.cmp(&a.hosts_loaded))
            .then(a.driver.cmp(&b.driver))
    });
    Ok(DriverTable {
        drivers: rows,
        hosts_with_driver_data,
        crashes: total_crashes,
    })
}

/// Distinct installed hosts per driver key from the driver inventory, and the fleet size
/// (inventory hosts). Hosts compare ignoring case. `inventory` is the fleet in scope: given
/// inventory filters, only its hosts count as installed ones.
fn installed_base(
    driver_inventory: Option<&DataFrame>,
    inventory: Option<&DataFrame>,
    filtered: bool,
) -> Result<(Option<HashMap<String, u64>>, Option<u64>), AnalyticsError> {
    let fleet_names = match inventory {
        Some(inv) => {
            let hosts = inv.column("host")?.cast(&DataType::String)?;
            let hosts: std::collections::HashSet<String> = hosts
                .str()?
                .iter()
                .flatten()
                .map(str::to_lowercase)
                .collect();
            Some(hosts)
        }
        None => None,
    };
    let fleet = fleet_names.as_ref().map(|n| n.len() as u64);
    let allowed = fleet_names.filter(|_| filtered);
    let Some(di) = driver_inventory else {
        return Ok((None, fleet));
    };
    let hosts = di.column("host")?.str()?;
    let drivers = di.column("driver")?.str()?;
    let mut pairs: std::collections::HashSet<(String, String)> = Default::default();
    for (h, d) in hosts.iter().zip(drivers.iter()) {
        if let (Some(h), Some(d)) = (h, d) {
            let h = h.to_lowercase();
            if allowed.as_ref().is_some_and(|a| !a.contains(&h)) {
                continue;
            }
            pairs.insert((d.to_string(), h));
        }
    }
    let mut counts: HashMap<String, u64> = HashMap::new();
    for (d, _) in pairs {
        *counts.entry(d).or_insert(0) += 1;
    }
    Ok((Some(counts), fleet))
}

fn share(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}
