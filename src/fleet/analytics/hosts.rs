//! Hosts and their crash state: one row per host with a crash in scope, its state
//! (`hoststate`: boot-loop, failing, single, recovered), crashes, the clusters that hit it,
//! the lowest uptime, first and last crash, and its inventory columns.
//!
//! Filters choose WHICH hosts are listed (`--cluster`/`--driver`: hosts with a crash of
//! that cluster/driver; `--site`/`--where`: hosts with those inventory values; `--state`);
//! the figures of a listed host always describe all its crashes in the window, because a
//! host's state is a property of the host, not of one cluster.
//!
//! With heartbeats (issue 15) a host can be `down` (crashed, never checked in since) and
//! `recovered` means it checked in after its last crash; each row says which (`state_basis`).
//!
//! Order: most urgent first — down, boot-loop, failing, single, recovered — then crashes, then name.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use polars::prelude::*;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::hoststate::{HostState, HostStateParams, StateBasis};
use super::prepare::{self, Dictionaries, Prepared};
use super::window::rfc3339_utc;
use super::{AnalyticsError, Scope};

/// Options of `hosts`.
#[derive(Debug, Clone, Default)]
pub struct HostOptions {
    pub scope: Scope,
    pub host_states: HostStateParams,
    /// Only hosts in this state.
    pub state: Option<HostState>,
}

/// One host. Serializes flat: the fixed fields, then every inventory column by name
/// (a column whose name collides with a fixed field is written as `inventory_<name>`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostRow {
    pub host: String,
    pub state: HostState,
    /// `heartbeat`: the state rests on the host's check-ins; `crash-silence`: inferred from
    /// how long it has not crashed (no heartbeat known for it; `recovered` is then a guess).
    pub state_basis: StateBasis,
    /// The host's latest heartbeat up to the end of the window (`None` without heartbeats).
    pub last_seen: Option<String>,
    pub crashes: u64,
    /// Level-1 cluster keys (blamed driver or non-driver cause), most crashes first.
    pub clusters: Vec<String>,
    pub min_uptime_seconds: Option<u64>,
    pub first_crash: Option<String>,
    pub last_crash: Option<String>,
    /// Start of the current boot loop (boot-loop hosts only).
    pub boot_loop_since: Option<String>,
    /// Some of its crashes in the window form a boot loop, now or earlier (a recovered host
    /// may have looped).
    pub boot_looped: bool,
    /// "Looping, dumps rotated": no dump up to `--until` is left, but its first kept dumps
    /// after it are a boot loop under way (Windows kept only the newest few). `crashes` is 0
    /// and `clusters` are those of the kept dumps.
    pub dumps_rotated: bool,
    /// Inventory columns in inventory order (empty without an inventory).
    pub inventory: HostInventory,
}

/// A host's inventory values: codes into dictionaries shared by all rows, so 100,000 hosts ×
/// 25 columns cost 100,000 small arrays, not 5 million strings. Read with [`HostInventory::iter`].
#[derive(Debug, Clone, Default)]
pub struct HostInventory {
    codes: Vec<u32>,
    dictionaries: Option<Arc<Dictionaries>>,
}

impl HostInventory {
    /// (column, value) in inventory order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.codes
            .iter()
            .zip(self.dictionaries.iter().flat_map(|d| d.iter()))
            .map(|(code, (name, values))| {
                let value = values.get(*code as usize).map_or("", |v| &**v);
                (&**name, value)
            })
    }

    /// The value of one column.
    pub fn get(&self, column: &str) -> Option<&str> {
        self.iter().find(|(c, _)| *c == column).map(|(_, v)| v)
    }
}

impl PartialEq for HostInventory {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

const FIXED_FIELDS: [&str; 12] = [
    "host",
    "state",
    "state_basis",
    "last_seen",
    "crashes",
    "clusters",
    "min_uptime_seconds",
    "first_crash",
    "last_crash",
    "boot_loop_since",
    "boot_looped",
    "dumps_rotated",
];

impl Serialize for HostRow {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("host", &self.host)?;
        map.serialize_entry("state", &self.state)?;
        map.serialize_entry("state_basis", &self.state_basis)?;
        map.serialize_entry("last_seen", &self.last_seen)?;
        map.serialize_entry("crashes", &self.crashes)?;
        map.serialize_entry("clusters", &self.clusters)?;
        map.serialize_entry("min_uptime_seconds", &self.min_uptime_seconds)?;
        map.serialize_entry("first_crash", &self.first_crash)?;
        map.serialize_entry("last_crash", &self.last_crash)?;
        map.serialize_entry("boot_loop_since", &self.boot_loop_since)?;
        map.serialize_entry("boot_looped", &self.boot_looped)?;
        map.serialize_entry("dumps_rotated", &self.dumps_rotated)?;
        for (column, value) in self.inventory.iter() {
            if FIXED_FIELDS.contains(&column) {
                map.serialize_entry(&format!("inventory_{column}"), value)?;
            } else {
                map.serialize_entry(column, value)?;
            }
        }
        map.end()
    }
}

/// The `hosts` result. Its JSON form is the `hosts` array alone (see `commands::hosts`).
#[derive(Debug, Clone, PartialEq)]
pub struct HostTable {
    pub hosts: Vec<HostRow>,
    /// Inventory column names, in order (for table and CSV headers).
    pub inventory_columns: Vec<String>,
    /// Hosts per state among the listed hosts.
    pub by_state: BTreeMap<HostState, u64>,
    /// The end of the data the states were judged against.
    pub window_end: Option<String>,
    /// Where `window_end` came from, and the clock-skewed hosts set aside (issue 18).
    pub data_end: super::window::DataEnd,
    /// What is odd about the data (clock skew), one line each.
    pub warnings: Vec<String>,
}

/// Hosts of `crashes` (store columns) in the scope of `opts`.
pub fn hosts(
    crashes: LazyFrame,
    inventory: Option<DataFrame>,
    opts: &HostOptions,
) -> Result<HostTable, AnalyticsError> {
    let prepared = super::heartbeat_states::prepare(crashes, &opts.scope, opts.host_states)?;
    let _phase = super::Phase::start("hosts: table");
    let codes = match &inventory {
        Some(inv) => Some(prepared.host_inventory_codes(inv)?),
        None => None,
    };
    host_table(&prepared, inventory.as_ref(), codes.as_ref(), opts)
}

/// Builds the table from a prepared window.
pub(crate) fn host_table(
    prepared: &Prepared,
    inventory: Option<&DataFrame>,
    codes: Option<&prepare::InventoryCodes>,
    opts: &HostOptions,
) -> Result<HostTable, AnalyticsError> {
    let scoped = prepared.scoped_rows(&opts.scope, inventory)?.rows;
    let listed: Vec<u32> = {
        let u = scoped
            .clone()
            .lazy()
            .select([col("host_idx").unique()])
            .collect()?;
        prepare::u32_values(&u, "host_idx")?
    };

    // Clusters per host over all its crashes (not only the scoped ones).
    let per_cause = prepared
        .rows
        .clone()
        .lazy()
        .group_by([col("host_idx"), col("cause")])
        .agg([len().alias("n")])
        .collect()?;
    let h = prepare::u32_values(&per_cause, "host_idx")?;
    let c = prepare::u32_values(&per_cause, "cause")?;
    let n: Vec<u64> = per_cause
        .column("n")?
        .cast(&DataType::UInt64)?
        .u64()?
        .iter()
        .map(|v| v.unwrap_or(0))
        .collect();
    let mut causes_of: HashMap<u32, Vec<(u64, u32)>> = HashMap::new();
    for i in 0..h.len() {
        causes_of.entry(h[i]).or_default().push((n[i], c[i]));
    }

    let inventory_columns: Vec<String> = codes
        .as_ref()
        .map(|c| {
            c.dictionaries
                .iter()
                .map(|(name, _)| name.to_string())
                .collect()
        })
        .unwrap_or_default();
    let inventory_of = |hidx: u32| -> HostInventory {
        match codes {
            Some(codes) => HostInventory {
                codes: codes
                    .codes
                    .iter()
                    .map(|c| c.get(hidx as usize).copied().unwrap_or(0))
                    .collect(),
                dictionaries: Some(codes.dictionaries.clone()),
            },
            None => HostInventory::default(),
        }
    };
    let cap = opts.scope.window.until_ms.or(opts.scope.window.now_ms);
    let last_seen = |host: &str| -> Option<String> {
        opts.scope
            .heartbeats
            .as_ref()
            .and_then(|b| b.latest(host, cap))
            .and_then(rfc3339_utc)
    };
    let mut rows = Vec::with_capacity(listed.len());
    let mut by_state: BTreeMap<HostState, u64> = BTreeMap::new();
    for hidx in listed {
        let Some(info) = prepared.hosts.get(hidx as usize) else {
            continue;
        };
        if opts.state.is_some_and(|s| s != info.verdict.state) {
            continue;
        }
        let mut causes = causes_of.remove(&hidx).unwrap_or_default();
        causes.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        // A host looping with its dumps rotated: the loop's clusters first.
        let mut clusters: Vec<String> = info.rotated_clusters.clone();
        for key in causes
            .iter()
            .filter_map(|(_, c)| prepared.causes.get(*c as usize).map(|x| x.key.clone()))
        {
            if !clusters.contains(&key) {
                clusters.push(key);
            }
        }
        *by_state.entry(info.verdict.state).or_insert(0) += 1;
        rows.push(HostRow {
            host: info.name.clone(),
            state: info.verdict.state,
            state_basis: info.state_basis,
            last_seen: last_seen(&info.name),
            crashes: u64::from(info.crashes),
            clusters,
            min_uptime_seconds: info.min_uptime_s,
            first_crash: info.first_ms.and_then(rfc3339_utc),
            last_crash: info.last_ms.and_then(rfc3339_utc),
            boot_loop_since: info.verdict.loop_start_ms.and_then(rfc3339_utc),
            boot_looped: info.looped,
            dumps_rotated: info.dumps_rotated,
            inventory: inventory_of(hidx),
        });
    }
    // Hosts looping at `--until` with no dump up to it left (no rows, so not listed above).
    let rotated: Vec<(u32, &prepare::HostInfo)> = prepared
        .hosts
        .iter()
        .enumerate()
        .filter(|(_, h)| h.dumps_rotated && h.crashes == 0)
        .map(|(i, h)| (i as u32, h))
        .collect();
    if !rotated.is_empty() && opts.state.is_none_or(|s| s == HostState::BootLoop) {
        let allowed = prepared.selected_hosts(&opts.scope, inventory)?.0;
        let allowed: Option<Vec<u32>> = match &allowed {
            Some(df) => Some(prepare::u32_values(df, "host_idx")?),
            None => None,
        };
        for (hidx, info) in rotated {
            if allowed.as_ref().is_some_and(|a| !a.contains(&hidx)) {
                continue;
            }
            let is = |a: &String, b: &str| a.eq_ignore_ascii_case(b);
            if let Some(d) = &opts.scope.driver {
                if !info.rotated_clusters.iter().any(|c| is(c, d)) {
                    continue;
                }
            }
            if let Some(c) = &opts.scope.cluster {
                let hit = info.rotated_clusters.iter().any(|k| is(k, c))
                    || info.rotated_buckets.iter().any(|k| is(k, c));
                if !hit {
                    continue;
                }
            }
            *by_state.entry(HostState::BootLoop).or_insert(0) += 1;
            rows.push(HostRow {
                host: info.name.clone(),
                state: HostState::BootLoop,
                state_basis: info.state_basis,
                last_seen: last_seen(&info.name),
                crashes: 0,
                clusters: info.rotated_clusters.clone(),
                min_uptime_seconds: None,
                first_crash: None,
                last_crash: None,
                boot_loop_since: None,
                boot_looped: true,
                dumps_rotated: true,
                inventory: inventory_of(hidx),
            });
        }
    }
    rows.sort_by(|a, b| {
        a.state
            .cmp(&b.state)
            .then(b.crashes.cmp(&a.crashes))
            .then(a.host.cmp(&b.host))
    });
    Ok(HostTable {
        hosts: rows,
        inventory_columns,
        by_state,
        window_end: prepared.end_ms.and_then(rfc3339_utc),
        data_end: prepared.data_end.clone(),
        warnings: prepared.data_end.warnings(),
    })
}
