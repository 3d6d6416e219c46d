//! What the console shows, computed once per store change: the cluster, host and driver
//! tables of one [`Analysis`] (the same analytics as `clusters`, `hosts` and `drivers`), an
//! example crash per top-level cluster, and the fleet figures of the header.
//!
//! A snapshot is plain data: it is built on the worker thread (reading the store can take
//! a second on a large store) and handed to the UI thread whole, so a key press never waits
//! for Parquet.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use polars::prelude::DataFrame;

use crate::fleet::analytics::{
    Analysis, ClusterNode, ClusterOptions, ClusterTable, DriverOptions, DriverTable, Exemplar,
    HostOptions, HostRow, HostState, HostStateParams, HostTable, Scope, Window,
};
use crate::fleet::critical::CriticalRule;
use crate::fleet::store::Store;

use super::TuiError;

/// Onset buckets of 5 minutes: fine enough for the 2-hour bins of the main view's sparkline
/// and the trend, and for an incident morning's onset chart (the CLI's automatic size would
/// give a week of data 6-hour buckets, too coarse to see an incident start).
pub const ONSET_BUCKET_SECONDS: i64 = 300;

/// What to analyse: the window, the host-state thresholds, an inventory that overrides the
/// store's (`--inventory` without `--watch`), and who counts as critical (`--critical`).
#[derive(Clone, Default)]
pub struct LoadOptions {
    pub window: Window,
    pub host_states: HostStateParams,
    pub inventory: Option<DataFrame>,
    pub critical: CriticalRule,
}

/// The console's data at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub store: PathBuf,
    pub clusters: ClusterTable,
    pub hosts: HostTable,
    pub drivers: DriverTable,
    /// Example crash of each driver-level cluster, by the driver-level cluster's id.
    pub exemplars: HashMap<String, Exemplar>,
    /// Crash time of the newest crash in the window (ms since the epoch).
    pub newest_crash_ms: Option<i64>,
    /// How long building this snapshot took (shown in the status line).
    pub load_time: Duration,
}

/// The header's fleet figures.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetFigures {
    pub hosts_affected: u64,
    pub fleet_hosts: Option<u64>,
    /// Inventory hosts without a crash in the window / inventory hosts.
    pub crash_free_share: Option<f64>,
    pub boot_looping_now: u64,
    /// Hosts down now: crashed, no heartbeat since (issue 15; 0 without heartbeats).
    pub down_now: u64,
    pub crashes: u64,
}

impl Snapshot {
    /// A store without crashes (a watched store before its first dump).
    pub fn empty(store: &Path) -> Snapshot {
        Snapshot {
            store: store.to_path_buf(),
            clusters: ClusterTable {
                fleet_hosts: None,
                clusters: Vec::new(),
                crashes: 0,
                hosts: 0,
                hosts_with_driver_data: None,
                window_start: None,
                window_end: None,
                window_end_ms: None,
                data_end: Default::default(),
                warnings: Vec::new(),
                critical_rule: CriticalRule::default().describe(),
            },
            hosts: HostTable {
                hosts: Vec::new(),
                inventory_columns: Vec::new(),
                by_state: Default::default(),
                window_end: None,
                data_end: Default::default(),
                warnings: Vec::new(),
            },
            drivers: DriverTable {
                drivers: Vec::new(),
                hosts_with_driver_data: 0,
                crashes: 0,
            },
            exemplars: HashMap::new(),
            newest_crash_ms: None,
            load_time: Duration::ZERO,
        }
    }

    /// Reads the store at `dir` and runs the analyses once.
    pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Snapshot, TuiError> {
        let started = Instant::now();
        let store = Store::open(dir)?;
        if store.manifest().crashes.is_empty() {
            return Ok(Snapshot::empty(dir));
        }
        let inventory = match &opts.inventory {
            Some(inv) => Some(inv.clone()),
            None => store.inventory()?,
        };
        let mut analysis = Analysis::new(
            store.lazy_crashes()?,
            inventory,
            opts.window,
            opts.host_states,
        )?;
        // Heartbeats make a silent host `down` rather than `recovered`, as in `hosts`.
        let heartbeats = store.heartbeats()?;
        let heartbeats = (!heartbeats.is_empty()).then(|| Arc::new(heartbeats));
        analysis.apply_heartbeats(heartbeats.as_deref())?;
        let scope = Scope {
            window: opts.window,
            heartbeats,
            ..Scope::default()
        };
        let clusters = analysis.clusters(
            Some(store.lazy_drivers()?),
            &ClusterOptions {
                scope: scope.clone(),
                host_states: opts.host_states,
                bucket_seconds: Some(ONSET_BUCKET_SECONDS),
                critical: opts.critical.clone(),
                ..ClusterOptions::default()
            },
        )?;
        let hosts = analysis.hosts(&HostOptions {
            scope: scope.clone(),
            host_states: opts.host_states,
            state: None,
        })?;
        let drivers = analysis.drivers(
            store.lazy_drivers()?,
            &store.rules()?,
            &DriverOptions {
                scope,
                include_microsoft: false,
                driver_inventory: store.driver_inventory()?,
            },
        )?;
        // The example crash of a driver-level cluster is that of its largest signature.
        let representatives: Vec<(&str, &str)> = clusters
            .clusters
            .iter()
            .filter_map(|c| largest_signature(c).map(|s| (c.id.as_str(), s.id.as_str())))
            .collect();
        let signature_ids: Vec<&str> = representatives.iter().map(|(_, s)| *s).collect();
        let by_signature = analysis.exemplars(&signature_ids)?;
        let exemplars = representatives
            .iter()
            .filter_map(|(c, s)| by_signature.get(*s).map(|e| (c.to_string(), e.clone())))
            .collect();
        let newest_crash_ms = clusters
            .clusters
            .iter()
            .filter_map(|c| c.last_seen_ms)
            .max();
        Ok(Snapshot {
            store: dir.to_path_buf(),
            clusters,
            hosts,
            drivers,
            exemplars,
            newest_crash_ms,
            load_time: started.elapsed(),
        })
    }

    pub fn fleet_figures(&self) -> FleetFigures {
        let c = &self.clusters;
        FleetFigures {
            hosts_affected: c.hosts,
            fleet_hosts: c.fleet_hosts,
            crash_free_share: c
                .fleet_hosts
                .filter(|n| *n > 0)
                .map(|n| n.saturating_sub(c.hosts) as f64 / n as f64),
            boot_looping_now: self
                .hosts
                .by_state
                .get(&HostState::BootLoop)
                .copied()
                .unwrap_or(0),
            down_now: self
                .hosts
                .by_state
                .get(&HostState::Down)
                .copied()
                .unwrap_or(0),
            crashes: c.crashes,
        }
    }

    /// The hosts a driver-level cluster hit, in the hosts table's order (most urgent first).
    pub fn cluster_hosts(&self, node: &ClusterNode) -> Vec<&HostRow> {
        self.hosts
            .hosts
            .iter()
            .filter(|h| h.clusters.iter().any(|c| *c == node.cause))
            .collect()
    }

    /// A driver-level cluster by id.
    pub fn cluster(&self, id: &str) -> Option<&ClusterNode> {
        self.clusters.clusters.iter().find(|c| c.id == id)
    }
}

/// The signature-level node with the most hosts under a cluster (children are sorted by
/// blast radius, so the first at each level).
pub fn largest_signature(node: &ClusterNode) -> Option<&ClusterNode> {
    let mut n = node;
    while let Some(first) = n.children.first() {
        n = first;
    }
    (n.level == crate::fleet::analytics::ClusterLevel::Signature).then_some(n)
}
