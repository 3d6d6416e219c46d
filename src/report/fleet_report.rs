//! The figures of the fleet-stability report (`blastradius report`), gathered once and
//! rendered as HTML, Markdown or JSON (`fleet_html`, `fleet_markdown`, the serde form).
//!
//! Every figure comes from one `fleet::analytics::Analysis` per window (the report window and
//! the previous window of the same length): the cluster, host and driver tables and the
//! crash-free count. This module only selects, aligns and compares what those tables say, so
//! the report can never disagree with `clusters`, `hosts` or `drivers` run on the same window.

use std::collections::{BTreeMap, HashMap};

use polars::prelude::{DataFrame, LazyFrame};
use serde::Serialize;

use crate::fleet::analytics::{
    window, Analysis, AnalyticsError, ClusterNode, ClusterOptions, ClusterTable, CrashFree,
    DriverCatalog, DriverOptions, DriverRow, HostOptions, HostState, HostStateParams, HostTable,
    ReportPeriods, Scope, Window,
};
use crate::fleet::critical::{CriticalHosts, CriticalRule};

/// Version of the JSON shape (`docs/REPORT-SCHEMA.md`).
pub const SCHEMA_VERSION: u32 = 1;

/// What to report on and how.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub periods: ReportPeriods,
    /// Inventory filters and a blamed-driver filter (`Scope::window` is ignored: the periods
    /// give the windows; `Scope::cluster` is ignored too).
    pub scope: Scope,
    pub host_states: HostStateParams,
    /// Who is a critical host (`--critical`; default `criticality=critical`): the rule
    /// `clusters`, `exposure` and the console count by.
    pub critical: CriticalRule,
    /// Inventory column that names a host's site.
    pub site_column: String,
    /// Driver-level clusters listed in the top-clusters table.
    pub top_clusters: usize,
    /// Clusters drawn as their own series in the crashes-over-time chart (the rest: "other").
    pub chart_series: usize,
}

impl ReportOptions {
    pub fn new(periods: ReportPeriods) -> ReportOptions {
        ReportOptions {
            periods,
            scope: Scope::default(),
            host_states: HostStateParams::default(),
            critical: CriticalRule::default(),
            site_column: "site".into(),
            top_clusters: 10,
            chart_series: 5,
        }
    }
}

/// A window, RFC 3339 UTC, both ends inclusive.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    pub start: String,
    pub end: String,
}

/// A figure this period, the previous period, and the change (current − previous).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Compared<T> {
    pub current: T,
    pub previous: T,
    pub change: T,
}

/// Two counts compared (as signed numbers, so the change can be negative).
fn compare_counts(current: u64, previous: u64) -> Compared<i64> {
    let c = i64::try_from(current).unwrap_or(i64::MAX);
    let p = i64::try_from(previous).unwrap_or(i64::MAX);
    Compared {
        current: c,
        previous: p,
        change: c.saturating_sub(p),
    }
}

fn compare_values(current: f64, previous: f64) -> Compared<f64> {
    Compared {
        current,
        previous,
        change: current - previous,
    }
}

/// The headline figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Headline {
    /// Inventory hosts in scope (null without an inventory).
    pub fleet_hosts: Option<u64>,
    /// Share of the inventory with no crash in the window, in [0, 1] (null without an inventory).
    pub crash_free_share: Option<Compared<f64>>,
    pub crash_free_hosts: Option<Compared<i64>>,
    /// Distinct hosts with at least one crash (inventory or not).
    pub hosts_affected: Compared<i64>,
    pub crashes: Compared<i64>,
    /// Hosts in state boot-loop at the end of each window.
    pub boot_loop_hosts: Compared<i64>,
    /// Hosts in state boot-loop, failing or down at the end of each window (they need a
    /// person).
    pub hosts_needing_attention: Compared<i64>,
    /// Hosts in state down at the end of each window: crashed, and no heartbeat from the last
    /// crash up to the window's end (issue 15). Null without heartbeats in the store.
    pub down_hosts: Option<Compared<i64>>,
    /// Estimated host-hours lost to crashes (sum over the clusters, `hoststate` estimate).
    pub host_hours_lost: Compared<f64>,
}

/// How a cluster moved against the previous period (by distinct hosts). Clusters of the
/// previous period that are gone are listed in [`Changes::gone`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trend {
    /// Not seen in the previous period.
    New,
    Rising,
    Steady,
    Falling,
}

impl Trend {
    pub fn as_str(self) -> &'static str {
        match self {
            Trend::New => "new",
            Trend::Rising => "rising",
            Trend::Steady => "steady",
            Trend::Falling => "falling",
        }
    }
}

/// One driver-level cluster as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterSummary {
    /// The cluster id (as `clusters --cluster` takes it).
    pub id: String,
    /// The blamed driver, or the non-driver cause (`POWER_BUTTON_HOLD`).
    pub cause: String,
    pub driver: Option<String>,
    /// Owner / vendor from the rules (`CrowdStrike`).
    pub owner: Option<String>,
    pub third_party: bool,
    /// The bucket id of its largest bucket.
    pub bucket_id: String,
    pub bugcheck_codes: Vec<String>,
    pub crashes: u64,
    pub hosts: u64,
    pub fleet_share: Option<f64>,
    /// Hosts whose dumps show the driver loaded, and the share of them it hit (null for
    /// non-driver causes or without driver lists).
    pub exposed_hosts: Option<u64>,
    pub exposed_hit_share: Option<f64>,
    /// Hosts per site, most first (the `site` breakdown of `clusters`).
    pub sites: Vec<SiteCount>,
    /// Hosts the critical rule selects (null without the rule's inventory column); the same
    /// hosts as `hosts` and `sites`.
    pub critical_hosts: Option<u64>,
    pub boot_loop_hosts: u64,
    pub still_failing_hosts: u64,
    /// Hosts down at the end of the window (0 without heartbeats).
    pub down_hosts: u64,
    pub host_hours_lost: f64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
    /// Hosts and crashes of the same cluster in the previous period (0 when absent).
    pub previous_hosts: u64,
    pub previous_crashes: u64,
    pub trend: Trend,
}

/// Hosts of a cluster at one site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteCount {
    pub site: String,
    pub hosts: u64,
}

/// Crashes per time bucket, stacked by cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrashSeries {
    pub bucket_seconds: i64,
    /// Start of each bucket, RFC 3339 UTC.
    pub bucket_starts: Vec<String>,
    /// The top clusters, then `other` (every other cluster) when it has crashes.
    pub series: Vec<Series>,
}

/// One stacked series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// The cluster's cause, or `other`.
    pub label: String,
    /// Null for `other`.
    pub cluster_id: Option<String>,
    pub counts: Vec<u64>,
}

/// The largest cluster's crashes per bucket over its own span (finer buckets than the
/// window's chart).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnsetCurve {
    pub cluster_id: String,
    pub cause: String,
    pub bucket_seconds: i64,
    pub bucket_starts: Vec<String>,
    pub counts: Vec<u64>,
    pub peak_crashes: u64,
    pub peak_at: Option<String>,
}

/// Affected hosts of one site by their state at the end of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteHosts {
    pub site: String,
    pub hosts_affected: u64,
    pub boot_loop: u64,
    pub failing: u64,
    pub single: u64,
    pub recovered: u64,
    /// Crashed and never checked in since (only with heartbeats, issue 15).
    pub down: u64,
}

/// A host that needs a person: boot-looping or still failing at the end of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttentionHost {
    pub host: String,
    pub state: HostState,
    pub crashes: u64,
    /// Level-1 cluster keys, most crashes first.
    pub clusters: Vec<String>,
    pub boot_loop_since: Option<String>,
    pub last_crash: Option<String>,
    /// The inventory's value in the critical rule's column (null without one).
    pub criticality: Option<String>,
    /// Whether the critical rule selects this host.
    pub critical: bool,
}

/// The hosts of one site that need a person.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteAttention {
    pub site: String,
    pub hosts: Vec<AttentionHost>,
}

/// Third-party kernel drivers in the window (the `drivers` table).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriverExposure {
    pub hosts_with_driver_data: u64,
    pub crashes: u64,
    pub drivers: Vec<DriverRow>,
}

/// A cluster that appeared or disappeared.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterChange {
    pub id: String,
    pub cause: String,
    pub bucket_id: String,
    pub owner: Option<String>,
    /// This period's figures for a new cluster, the previous period's for a gone one.
    pub hosts: u64,
    pub crashes: u64,
    pub first_seen: Option<String>,
    pub last_seen: Option<String>,
}

/// Clusters new this period and clusters gone since the previous one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Changes {
    pub new: Vec<ClusterChange>,
    pub gone: Vec<ClusterChange>,
}

/// Everything the report shows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FleetReport {
    pub schema_version: u32,
    pub generated_at: String,
    pub window: Period,
    pub previous_window: Period,
    /// Length of each window (start to end), seconds.
    pub window_seconds: i64,
    /// Inventory filters applied (`column`, `value`).
    pub filters: Vec<(String, String)>,
    /// The critical rule's values, comma-separated (`critical`).
    pub critical_value: String,
    /// The critical rule as `--critical` takes it (`criticality=critical`).
    pub critical_rule: String,
    pub headline: Headline,
    /// Driver-level clusters by blast radius (at most `top_clusters`).
    pub top_clusters: Vec<ClusterSummary>,
    /// All driver-level clusters of the window (the top ones are the first of them).
    pub cluster_count: u64,
    pub crashes_over_time: CrashSeries,
    pub hosts_by_site: Vec<SiteHosts>,
    pub largest_cluster_onset: Option<OnsetCurve>,
    pub needs_attention: Vec<SiteAttention>,
    pub drivers: DriverExposure,
    pub changes: Changes,
}

fn period_of(window: &Window) -> Period {
    let at = |ms: Option<i64>| ms.map(window::format_utc).unwrap_or_default();
    Period {
        start: at(window.since_ms),
        end: at(window.until_ms),
    }
}

fn scope_for(base: &Scope, window: Window) -> Scope {
    Scope {
        window,
        inventory_filters: base.inventory_filters.clone(),
        cluster: None,
        driver: base.driver.clone(),
        heartbeats: base.heartbeats.clone(),
    }
}

/// Bucket size of the crashes-over-time chart: the finest of 1 min .. 1 day that keeps the
/// window at no more than 60 bars (a week: 3-hour bars; a day: 30-minute bars).
pub fn chart_bucket_seconds(length_ms: i64) -> i64 {
    const SIZES: [i64; 10] = [
        60, 300, 900, 1800, 3600, 10_800, 21_600, 43_200, 86_400, 604_800,
    ];
    let span_s = length_ms.max(0) / 1000;
    SIZES
        .iter()
        .copied()
        .find(|size| span_s / size < 60)
        .unwrap_or(604_800)
}

/// The smallest whole-minute bucket size that cuts `span_s` into at most `max` buckets.
fn fit_buckets(span_s: i64, max: i64) -> i64 {
    let max = max.max(1);
    let min = (span_s.max(0) + max - 1) / max;
    ((min + 59) / 60).max(1) * 60
}

/// The per-bucket start times of a grid of `n` buckets from `origin_ms`.
fn bucket_starts(origin_ms: i64, bucket_ms: i64, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let offset = i64::try_from(i)
                .ok()
                .and_then(|i| i.checked_mul(bucket_ms))
                .unwrap_or(0);
            window::format_utc(origin_ms.saturating_add(offset))
        })
        .collect()
}

/// Adds `node`'s onset counts into `into` (a grid from `origin_ms`), bucket by bucket.
fn add_onset(into: &mut [u64], node: &ClusterNode, origin_ms: i64, bucket_ms: i64) {
    let Some(start) = node.onset.start.as_deref() else {
        return;
    };
    let Ok(start_ms) = window::parse_instant(start) else {
        return;
    };
    let Some(first) = start_ms
        .checked_sub(origin_ms)
        .map(|d| d.div_euclid(bucket_ms.max(1)))
    else {
        return;
    };
    for (k, n) in node.onset.counts.iter().enumerate() {
        let Some(i) = i64::try_from(k).ok().and_then(|k| k.checked_add(first)) else {
            continue;
        };
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| into.get_mut(i)) {
            *slot = slot.saturating_add(*n);
        }
    }
}

/// Crashes over the window, one series per top cluster and one for the rest.
fn crash_series(
    table: &ClusterTable,
    window: &Window,
    bucket_seconds: i64,
    top: usize,
) -> CrashSeries {
    let bucket_ms = bucket_seconds.saturating_mul(1000).max(1);
    let (since, until) = (window.since_ms.unwrap_or(0), window.until_ms.unwrap_or(0));
    // The analytics put bucket boundaries at multiples of the bucket size.
    let origin_ms = since.div_euclid(bucket_ms) * bucket_ms;
    let n = usize::try_from(until.saturating_sub(origin_ms) / bucket_ms + 1)
        .unwrap_or(1)
        .min(10_001);
    let mut series = Vec::new();
    let mut other = vec![0u64; n];
    for (i, node) in table.clusters.iter().enumerate() {
        if i < top {
            let mut counts = vec![0u64; n];
            add_onset(&mut counts, node, origin_ms, bucket_ms);
            series.push(Series {
                label: node.cause.clone(),
                cluster_id: Some(node.id.clone()),
                counts,
            });
        } else {
            add_onset(&mut other, node, origin_ms, bucket_ms);
        }
    }
    if other.iter().any(|n| *n > 0) {
        series.push(Series {
            label: "other".into(),
            cluster_id: None,
            counts: other,
        });
    }
    CrashSeries {
        bucket_seconds,
        bucket_starts: bucket_starts(origin_ms, bucket_ms, n),
        series,
    }
}

fn sites_of(node: &ClusterNode, site_column: &str) -> Vec<SiteCount> {
    let mut sites: Vec<SiteCount> = node
        .breakdown
        .get(site_column)
        .map(|m| {
            m.iter()
                .map(|(k, v)| SiteCount {
                    site: k.clone(),
                    hosts: *v,
                })
                .collect()
        })
        .unwrap_or_default();
    sites.sort_by(|a, b| b.hosts.cmp(&a.hosts).then(a.site.cmp(&b.site)));
    sites
}

fn change_of(node: &ClusterNode) -> ClusterChange {
    ClusterChange {
        id: node.id.clone(),
        cause: node.cause.clone(),
        bucket_id: node.bucket_id.clone(),
        owner: node.owner.clone(),
        hosts: node.hosts,
        crashes: node.crashes,
        first_seen: node.first_seen.clone(),
        last_seen: node.last_seen.clone(),
    }
}

fn summary_of(
    node: &ClusterNode,
    previous: Option<&ClusterNode>,
    opts: &ReportOptions,
) -> ClusterSummary {
    let (previous_hosts, previous_crashes) = previous.map_or((0, 0), |p| (p.hosts, p.crashes));
    let trend = match previous {
        None => Trend::New,
        Some(p) if node.hosts > p.hosts => Trend::Rising,
        Some(p) if node.hosts < p.hosts => Trend::Falling,
        Some(_) => Trend::Steady,
    };
    ClusterSummary {
        id: node.id.clone(),
        cause: node.cause.clone(),
        driver: node.driver.clone(),
        owner: node.owner.clone(),
        third_party: node.third_party,
        bucket_id: node.bucket_id.clone(),
        bugcheck_codes: node.bugcheck_codes.clone(),
        crashes: node.crashes,
        hosts: node.hosts,
        fleet_share: node.fleet_share,
        exposed_hosts: node.exposed_hosts,
        exposed_hit_share: node.exposed_hit_share,
        sites: sites_of(node, &opts.site_column),
        critical_hosts: node.critical_hosts,
        boot_loop_hosts: node.boot_loop_hosts,
        still_failing_hosts: node.still_failing_hosts,
        down_hosts: node.down_hosts,
        host_hours_lost: node.host_hours_lost,
        first_seen: node.first_seen.clone(),
        last_seen: node.last_seen.clone(),
        previous_hosts,
        previous_crashes,
        trend,
    }
}

/// Hosts that need a person (`BootLoop` / `Failing` at the end of the window), by site.
fn attention_by_site(
    hosts: &HostTable,
    opts: &ReportOptions,
    critical_hosts: Option<&CriticalHosts>,
) -> Vec<SiteAttention> {
    let mut by_site: BTreeMap<String, Vec<AttentionHost>> = BTreeMap::new();
    for h in &hosts.hosts {
        if !matches!(
            h.state,
            HostState::BootLoop | HostState::Failing | HostState::Down
        ) {
            continue;
        }
        let site = h
            .inventory
            .get(&opts.site_column)
            .unwrap_or("(no inventory)")
            .to_string();
        let criticality = h.inventory.get(&opts.critical.column).map(str::to_string);
        let critical = critical_hosts.is_some_and(|c| c.contains(&h.host));
        by_site.entry(site).or_default().push(AttentionHost {
            host: h.host.clone(),
            state: h.state,
            crashes: h.crashes,
            clusters: h.clusters.clone(),
            boot_loop_since: h.boot_loop_since.clone(),
            last_crash: h.last_crash.clone(),
            criticality,
            critical,
        });
    }
    let mut sites: Vec<SiteAttention> = by_site
        .into_iter()
        .map(|(site, mut hosts)| {
            // Boot loops first, critical hosts first, then the longest loop.
            hosts.sort_by(|a, b| {
                a.state
                    .cmp(&b.state)
                    .then(b.critical.cmp(&a.critical))
                    .then(a.boot_loop_since.cmp(&b.boot_loop_since))
                    .then(a.host.cmp(&b.host))
            });
            SiteAttention { site, hosts }
        })
        .collect();
    sites.sort_by(|a, b| b.hosts.len().cmp(&a.hosts.len()).then(a.site.cmp(&b.site)));
    sites
}

fn hosts_by_site(hosts: &HostTable, site_column: &str) -> Vec<SiteHosts> {
    let mut by_site: BTreeMap<String, SiteHosts> = BTreeMap::new();
    // A host listed only because its dumps of the window were rotated away (it was looping,
    // its kept dumps are all later) had no crash in the window: it needs a person (see
    // `attention_by_site`) but is not counted among the hosts the window's crashes hit.
    for h in hosts.hosts.iter().filter(|h| h.crashes > 0) {
        let site = h.inventory.get(site_column).unwrap_or("(no inventory)");
        let entry = by_site
            .entry(site.to_string())
            .or_insert_with(|| SiteHosts {
                site: site.to_string(),
                hosts_affected: 0,
                boot_loop: 0,
                failing: 0,
                single: 0,
                recovered: 0,
                down: 0,
            });
        entry.hosts_affected += 1;
        match h.state {
            HostState::BootLoop => entry.boot_loop += 1,
            HostState::Failing => entry.failing += 1,
            HostState::Single => entry.single += 1,
            HostState::Recovered => entry.recovered += 1,
            HostState::Down => entry.down += 1,
        }
    }
    let mut sites: Vec<SiteHosts> = by_site.into_values().collect();
    sites.sort_by(|a, b| {
        b.hosts_affected
            .cmp(&a.hosts_affected)
            .then(a.site.cmp(&b.site))
    });
    sites
}

fn count_state(hosts: &HostTable, states: &[HostState]) -> u64 {
    states
        .iter()
        .map(|s| hosts.by_state.get(s).copied().unwrap_or(0))
        .sum()
}

/// The tables one window gives.
struct WindowFigures {
    clusters: ClusterTable,
    hosts: HostTable,
    crash_free: Option<CrashFree>,
    host_hours_lost: f64,
}

/// `drivers` (for the clusters' exposure figures) only where the report shows them.
fn window_figures(
    analysis: &Analysis,
    drivers: Option<&LazyFrame>,
    opts: &ReportOptions,
    scope: &Scope,
    bucket_seconds: i64,
) -> Result<WindowFigures, AnalyticsError> {
    let clusters = analysis.clusters(
        drivers.cloned(),
        &ClusterOptions {
            scope: scope.clone(),
            host_states: opts.host_states,
            similarity: None,
            bucket_seconds: Some(bucket_seconds),
            breakdown_limit: 50,
            critical: opts.critical.clone(),
        },
    )?;
    let hosts = analysis.hosts(&HostOptions {
        scope: scope.clone(),
        host_states: opts.host_states,
        state: None,
    })?;
    let crash_free = analysis.crash_free(scope)?;
    // `+ 0.0`: an empty float sum is -0.0, which would print as "-0.0".
    let host_hours_lost = clusters
        .clusters
        .iter()
        .map(|c| c.host_hours_lost)
        .sum::<f64>()
        + 0.0;
    Ok(WindowFigures {
        clusters,
        hosts,
        crash_free,
        host_hours_lost,
    })
}

/// The largest cluster's onset at the resolution of its own span.
fn onset_curve(
    analysis: &Analysis,
    largest: &ClusterNode,
    opts: &ReportOptions,
    scope: &Scope,
) -> Result<OnsetCurve, AnalyticsError> {
    let span = match (largest.first_seen_ms, largest.last_seen_ms) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => 0,
    };
    // The analytics refuse more than 10,000 buckets over the window (not the cluster's span).
    let window_s = opts.periods.length_ms() / 1000;
    let bucket_seconds = window::bucket_seconds_for_span(span).max(fit_buckets(window_s, 10_000));
    let mut cluster_scope = scope.clone();
    cluster_scope.cluster = Some(largest.id.clone());
    let table = analysis.clusters(
        None,
        &ClusterOptions {
            scope: cluster_scope,
            host_states: opts.host_states,
            similarity: None,
            bucket_seconds: Some(bucket_seconds),
            breakdown_limit: 1,
            critical: opts.critical.clone(),
        },
    )?;
    let node = table.clusters.first().unwrap_or(largest);
    let bucket_ms = node.onset.bucket_seconds.saturating_mul(1000).max(1);
    let start_ms = node
        .onset
        .start
        .as_deref()
        .and_then(|s| window::parse_instant(s).ok())
        .unwrap_or(0);
    Ok(OnsetCurve {
        cluster_id: node.id.clone(),
        cause: node.cause.clone(),
        bucket_seconds: node.onset.bucket_seconds,
        bucket_starts: bucket_starts(start_ms, bucket_ms, node.onset.counts.len()),
        counts: node.onset.counts.clone(),
        peak_crashes: node.onset.peak_crashes,
        peak_at: node.onset.peak_at.clone(),
    })
}

/// Gathers the report's figures from the store's tables (`crashes`, `drivers`: store columns).
pub fn build_report(
    crashes: LazyFrame,
    drivers: LazyFrame,
    inventory: Option<DataFrame>,
    catalog: &dyn DriverCatalog,
    opts: &ReportOptions,
    generated_at: &str,
) -> Result<FleetReport, AnalyticsError> {
    let periods = opts.periods;
    let bucket_seconds = chart_bucket_seconds(periods.length_ms());
    let critical_hosts = match &inventory {
        Some(inv) => opts.critical.hosts(inv)?,
        None => None,
    };
    let has_heartbeats = opts
        .scope
        .heartbeats
        .as_ref()
        .is_some_and(|b| !b.is_empty());
    let current_scope = scope_for(&opts.scope, periods.current);
    let previous_scope = scope_for(&opts.scope, periods.previous);

    let mut current = Analysis::new(
        crashes.clone(),
        inventory.clone(),
        periods.current,
        opts.host_states,
    )?;
    current.apply_heartbeats(opts.scope.heartbeats.as_deref())?;
    let now = window_figures(
        &current,
        Some(&drivers),
        opts,
        &current_scope,
        bucket_seconds,
    )?;
    let driver_table = current.drivers(
        drivers.clone(),
        catalog,
        &DriverOptions {
            scope: current_scope.clone(),
            include_microsoft: false,
            driver_inventory: None,
        },
    )?;
    let onset = match now.clusters.clusters.first() {
        Some(largest) => Some(onset_curve(&current, largest, opts, &current_scope)?),
        None => None,
    };
    drop(current);
    let mut previous = Analysis::new(crashes, inventory, periods.previous, opts.host_states)?;
    previous.apply_heartbeats(opts.scope.heartbeats.as_deref())?;
    let before = window_figures(&previous, None, opts, &previous_scope, bucket_seconds)?;
    drop(previous);

    let previous_by_id: HashMap<&str, &ClusterNode> = before
        .clusters
        .clusters
        .iter()
        .map(|c| (c.id.as_str(), c))
        .collect();
    let current_ids: HashMap<&str, &ClusterNode> = now
        .clusters
        .clusters
        .iter()
        .map(|c| (c.id.as_str(), c))
        .collect();
    let top_clusters = now
        .clusters
        .clusters
        .iter()
        .take(opts.top_clusters)
        .map(|c| summary_of(c, previous_by_id.get(c.id.as_str()).copied(), opts))
        .collect();
    let changes = Changes {
        new: now
            .clusters
            .clusters
            .iter()
            .filter(|c| !previous_by_id.contains_key(c.id.as_str()))
            .map(change_of)
            .collect(),
        gone: before
            .clusters
            .clusters
            .iter()
            .filter(|c| !current_ids.contains_key(c.id.as_str()))
            .map(change_of)
            .collect(),
    };

    let attention = [HostState::BootLoop, HostState::Failing, HostState::Down];
    let headline = Headline {
        fleet_hosts: now.crash_free.as_ref().map(|c| c.fleet_hosts),
        crash_free_share: match (&now.crash_free, &before.crash_free) {
            (Some(a), Some(b)) => a
                .crash_free_share
                .zip(b.crash_free_share)
                .map(|(a, b)| compare_values(a, b)),
            _ => None,
        },
        crash_free_hosts: match (&now.crash_free, &before.crash_free) {
            (Some(a), Some(b)) => Some(compare_counts(a.crash_free_hosts, b.crash_free_hosts)),
            _ => None,
        },
        hosts_affected: compare_counts(now.clusters.hosts, before.clusters.hosts),
        crashes: compare_counts(now.clusters.crashes, before.clusters.crashes),
        boot_loop_hosts: compare_counts(
            count_state(&now.hosts, &[HostState::BootLoop]),
            count_state(&before.hosts, &[HostState::BootLoop]),
        ),
        hosts_needing_attention: compare_counts(
            count_state(&now.hosts, &attention),
            count_state(&before.hosts, &attention),
        ),
        host_hours_lost: compare_values(now.host_hours_lost, before.host_hours_lost),
        down_hosts: has_heartbeats.then(|| {
            compare_counts(
                count_state(&now.hosts, &[HostState::Down]),
                count_state(&before.hosts, &[HostState::Down]),
            )
        }),
    };

    Ok(FleetReport {
        schema_version: SCHEMA_VERSION,
        generated_at: generated_at.to_string(),
        window: period_of(&periods.current),
        previous_window: period_of(&periods.previous),
        window_seconds: periods.length_ms() / 1000,
        filters: opts.scope.inventory_filters.clone(),
        critical_value: opts.critical.values.join(","),
        critical_rule: opts.critical.describe(),
        headline,
        top_clusters,
        cluster_count: now.clusters.clusters.len() as u64,
        crashes_over_time: crash_series(
            &now.clusters,
            &periods.current,
            bucket_seconds,
            opts.chart_series,
        ),
        hosts_by_site: hosts_by_site(&now.hosts, &opts.site_column),
        largest_cluster_onset: onset,
        needs_attention: attention_by_site(&now.hosts, opts, critical_hosts.as_ref()),
        drivers: DriverExposure {
            hosts_with_driver_data: driver_table.hosts_with_driver_data,
            crashes: driver_table.crashes,
            drivers: driver_table.drivers,
        },
        changes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_buckets_keep_under_sixty_bars() {
        assert_eq!(chart_bucket_seconds(7 * 86_400_000), 10_800);
        assert_eq!(chart_bucket_seconds(86_400_000), 1800);
        assert_eq!(chart_bucket_seconds(3_600_000), 300);
        assert_eq!(chart_bucket_seconds(-5), 60);
        assert_eq!(chart_bucket_seconds(i64::MAX), 604_800);
    }

    #[test]
    fn onset_buckets_fit_the_analytics_limit() {
        assert_eq!(fit_buckets(7 * 86_400, 10_000), 120);
        assert_eq!(fit_buckets(3600, 10_000), 60);
        assert_eq!(fit_buckets(-1, 10_000), 60);
    }
}
