//! The console's state: which tab and row, filters and sorts, the detail being read, the
//! status lines, and the rows each tab shows (filtered and sorted once per change, not per
//! frame: a fleet can have 100,000 hosts).

use std::path::PathBuf;
use std::sync::Arc;

use crate::fleet::analytics::{window, HostState};

use super::snapshot::Snapshot;
use super::trend::{self, Trend};

/// The three lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Clusters,
    Hosts,
    Drivers,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Clusters, Tab::Hosts, Tab::Drivers];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Clusters => "Clusters",
            Tab::Hosts => "Hosts",
            Tab::Drivers => "Drivers",
        }
    }

    fn index(self) -> usize {
        match self {
            Tab::Clusters => 0,
            Tab::Hosts => 1,
            Tab::Drivers => 2,
        }
    }
}

/// Sort orders per tab; `s` cycles through them.
pub const CLUSTER_SORTS: [&str; 5] = ["hosts", "crashes", "boot-looping", "newest", "name"];
pub const HOST_SORTS: [&str; 4] = ["urgency", "crashes", "last crash", "name"];
pub const DRIVER_SORTS: [&str; 4] = ["hosts loaded", "crashes", "crash share", "name"];

/// The host-state filter of the hosts tab; `f` cycles through it (None = all).
pub const STATE_FILTERS: [Option<HostState>; 6] = [
    None,
    Some(HostState::BootLoop),
    Some(HostState::Failing),
    Some(HostState::Recovered),
    Some(HostState::Single),
    Some(HostState::Down),
];

/// A message in the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub text: String,
    pub error: bool,
}

/// Per driver-level cluster: the sparkline bins and the trend at the end of the data.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterActivity {
    pub bins: Vec<u64>,
    pub trend: Trend,
}

/// Bins of the main view's sparkline (24 h in 2-hour bins).
pub const SPARK_BINS: usize = 12;

/// The whole state of the console.
pub struct App {
    pub snapshot: Option<Arc<Snapshot>>,
    pub tab: Tab,
    /// The driver-level cluster whose detail is open (by id, so it survives a refresh).
    pub detail: Option<String>,
    pub detail_scroll: u16,
    /// Selected row (index into the tab's visible rows) per tab.
    pub selected: [usize; 3],
    /// First row shown per tab (kept by the view so the selection stays on screen).
    pub offset: [usize; 3],
    pub filter: String,
    pub editing_filter: bool,
    pub sort: [usize; 3],
    pub state_filter: usize,
    pub show_help: bool,
    pub quit: bool,
    /// Rows a page holds (set by the view from the last frame; PageUp/PageDown move this far).
    pub page: usize,
    /// Message of the last action (export, errors).
    pub status: Option<Status>,
    /// Why the last snapshot could not be built (shown until one is).
    pub load_error: Option<String>,
    /// What the watcher last said (scan results or errors).
    pub watch_status: Option<Status>,
    /// Whether a background scan runs (`--watch`).
    pub watching: bool,
    /// Where `e` writes host lists.
    pub export_dir: PathBuf,
    /// Visible rows per tab: indexes into the snapshot's tables, filtered and sorted.
    pub rows: [Vec<usize>; 3],
    /// Per snapshot cluster (same index): recent activity.
    pub activity: Vec<ClusterActivity>,
}

impl App {
    pub fn new(export_dir: PathBuf, watching: bool) -> App {
        App {
            snapshot: None,
            tab: Tab::Clusters,
            detail: None,
            detail_scroll: 0,
            selected: [0; 3],
            offset: [0; 3],
            filter: String::new(),
            editing_filter: false,
            sort: [0; 3],
            state_filter: 0,
            show_help: false,
            quit: false,
            page: 10,
            status: None,
            load_error: None,
            watch_status: None,
            watching,
            export_dir,
            rows: [Vec::new(), Vec::new(), Vec::new()],
            activity: Vec::new(),
        }
    }

    /// Takes a new snapshot, keeping the selected cluster/host/driver where it still exists.
    pub fn set_snapshot(&mut self, snapshot: Arc<Snapshot>) {
        let keep: [Option<String>; 3] = [
            self.selected_key(Tab::Clusters),
            self.selected_key(Tab::Hosts),
            self.selected_key(Tab::Drivers),
        ];
        let end = snapshot
            .clusters
            .window_end_ms
            .or(snapshot.newest_crash_ms)
            .unwrap_or(0);
        self.activity = snapshot
            .clusters
            .clusters
            .iter()
            .map(|c| ClusterActivity {
                bins: trend::recent_bins(&c.onset, end, trend::SPARK_SPAN_MS, SPARK_BINS),
                trend: trend::trend(&c.onset, end),
            })
            .collect();
        self.snapshot = Some(snapshot);
        self.load_error = None;
        self.refresh_rows();
        for tab in Tab::ALL {
            if let Some(key) = &keep[tab.index()] {
                if let Some(pos) = (0..self.rows[tab.index()].len())
                    .find(|p| self.key_at(tab, *p).as_deref() == Some(key.as_str()))
                {
                    self.selected[tab.index()] = pos;
                }
            }
        }
    }

    /// The identity of a visible row (cluster id, host name, driver name).
    fn key_at(&self, tab: Tab, pos: usize) -> Option<String> {
        let snap = self.snapshot.as_ref()?;
        let i = *self.rows[tab.index()].get(pos)?;
        match tab {
            Tab::Clusters => snap.clusters.clusters.get(i).map(|c| c.id.clone()),
            Tab::Hosts => snap.hosts.hosts.get(i).map(|h| h.host.clone()),
            Tab::Drivers => snap.drivers.drivers.get(i).map(|d| d.driver.clone()),
        }
    }

    fn selected_key(&self, tab: Tab) -> Option<String> {
        self.key_at(tab, self.selected[tab.index()])
    }

    pub fn selected(&self) -> usize {
        self.selected[self.tab.index()]
    }

    pub fn visible_rows(&self) -> &[usize] {
        &self.rows[self.tab.index()]
    }

    pub fn offset_mut(&mut self) -> &mut usize {
        &mut self.offset[self.tab.index()]
    }

    pub fn sort_name(&self) -> &'static str {
        let i = self.sort[self.tab.index()];
        match self.tab {
            Tab::Clusters => CLUSTER_SORTS[i % CLUSTER_SORTS.len()],
            Tab::Hosts => HOST_SORTS[i % HOST_SORTS.len()],
            Tab::Drivers => DRIVER_SORTS[i % DRIVER_SORTS.len()],
        }
    }

    pub fn cycle_sort(&mut self) {
        let n = match self.tab {
            Tab::Clusters => CLUSTER_SORTS.len(),
            Tab::Hosts => HOST_SORTS.len(),
            Tab::Drivers => DRIVER_SORTS.len(),
        };
        let t = self.tab.index();
        self.sort[t] = (self.sort[t] + 1) % n;
        self.refresh_rows();
    }

    pub fn state_filter(&self) -> Option<HostState> {
        STATE_FILTERS[self.state_filter % STATE_FILTERS.len()]
    }

    pub fn cycle_state_filter(&mut self) {
        self.state_filter = (self.state_filter + 1) % STATE_FILTERS.len();
        self.refresh_rows();
    }

    /// Moves the selection by `delta` rows, clamped to the visible rows.
    pub fn move_by(&mut self, delta: isize) {
        let len = self.visible_rows().len();
        let t = self.tab.index();
        self.selected[t] = if len == 0 {
            0
        } else {
            self.selected[t].saturating_add_signed(delta).min(len - 1)
        };
    }

    pub fn move_to(&mut self, pos: usize) {
        let len = self.visible_rows().len();
        self.selected[self.tab.index()] = pos.min(len.saturating_sub(1));
    }

    /// The snapshot index of the selected cluster (clusters tab).
    pub fn selected_cluster(&self) -> Option<usize> {
        self.rows[Tab::Clusters.index()]
            .get(self.selected[Tab::Clusters.index()])
            .copied()
    }

    /// Recomputes every tab's visible rows from the snapshot, filter, sorts and state filter.
    pub fn refresh_rows(&mut self) {
        let Some(snap) = self.snapshot.clone() else {
            self.rows = [Vec::new(), Vec::new(), Vec::new()];
            return;
        };
        let needle = self.filter.to_lowercase();
        let matches =
            |fields: &[&str]| needle.is_empty() || fields.iter().any(|f| contains_ci(f, &needle));

        let clusters = &snap.clusters.clusters;
        let mut c: Vec<usize> = (0..clusters.len())
            .filter(|i| {
                let n = &clusters[*i];
                matches(&[
                    &n.cause,
                    &n.bucket_id,
                    &n.signature,
                    &n.id,
                    n.owner.as_deref().unwrap_or(""),
                    &n.bugcheck_codes.join(" "),
                ])
            })
            .collect();
        match self.sort[0] % CLUSTER_SORTS.len() {
            1 => c.sort_by_key(|i| std::cmp::Reverse(clusters[*i].crashes)),
            2 => c.sort_by_key(|i| std::cmp::Reverse(clusters[*i].boot_loop_hosts)),
            3 => c.sort_by_key(|i| std::cmp::Reverse(clusters[*i].last_seen_ms)),
            4 => c.sort_by(|a, b| clusters[*a].cause.cmp(&clusters[*b].cause)),
            _ => {} // the analytics' order: hosts, then crashes
        }

        let hosts = &snap.hosts.hosts;
        let state = self.state_filter();
        let mut h: Vec<usize> = (0..hosts.len())
            .filter(|i| {
                let r = &hosts[*i];
                if state.is_some_and(|s| s != r.state) {
                    return false;
                }
                if needle.is_empty() {
                    return true;
                }
                let clusters = r.clusters.join(" ");
                matches(&[&r.host, r.state.as_str(), &clusters])
                    || r.inventory.iter().any(|(_, v)| matches(&[v]))
            })
            .collect();
        match self.sort[1] % HOST_SORTS.len() {
            1 => h.sort_by_key(|i| std::cmp::Reverse(hosts[*i].crashes)),
            2 => h.sort_by(|a, b| hosts[*b].last_crash.cmp(&hosts[*a].last_crash)),
            3 => h.sort_by(|a, b| hosts[*a].host.cmp(&hosts[*b].host)),
            _ => {} // the analytics' order: most urgent first
        }

        let drivers = &snap.drivers.drivers;
        let mut d: Vec<usize> = (0..drivers.len())
            .filter(|i| {
                let r = &drivers[*i];
                matches(&[
                    &r.driver,
                    r.vendor.as_deref().unwrap_or(""),
                    r.category.as_deref().unwrap_or(""),
                ])
            })
            .collect();
        match self.sort[2] % DRIVER_SORTS.len() {
            1 => d.sort_by_key(|i| std::cmp::Reverse(drivers[*i].crashes)),
            2 => d.sort_by(|a, b| {
                let share = |i: usize| drivers[i].crash_share.unwrap_or(0.0);
                share(*b).total_cmp(&share(*a))
            }),
            3 => d.sort_by(|a, b| drivers[*a].driver.cmp(&drivers[*b].driver)),
            _ => {} // the analytics' order: hosts loaded
        }

        self.rows = [c, h, d];
        for t in 0..3 {
            let len = self.rows[t].len();
            self.selected[t] = self.selected[t].min(len.saturating_sub(1));
        }
    }

    /// `2024-07-19 05:37 UTC` for a time in ms.
    pub fn short_utc(ms: i64) -> String {
        let full = window::format_utc(ms);
        full.get(..16)
            .map(|s| format!("{} UTC", s.replacen('T', " ", 1)))
            .unwrap_or(full)
    }
}

/// Whether `haystack` contains `needle` (already lower-case), ignoring case, without
/// allocating for ASCII (a filter keystroke tests every host's inventory values).
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if !needle.is_ascii() {
        return haystack.to_lowercase().contains(needle);
    }
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    h.len() >= n.len()
        && h.windows(n.len())
            .any(|w| w.iter().zip(n).all(|(a, b)| a.to_ascii_lowercase() == *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_matching_ignores_case() {
        assert!(contains_ci("CSAgent.sys", "csagent"));
        assert!(contains_ci("FRA1", "ra1"));
        assert!(!contains_ci("csagent.sys", "acme"));
        assert!(contains_ci("Überwachung", "über"));
        assert!(contains_ci("x", ""));
        assert!(!contains_ci("", "x"));
    }
}
