//! The fleet report's words and table cells as plain text, shared by the HTML and Markdown
//! renderers so both say exactly the same thing. Cells here are NOT escaped: each renderer
//! escapes every cell for its medium (`sanitize::html_escape`, `sanitize::markdown_escape`).

use super::fleet_report::{
    AttentionHost, ClusterChange, ClusterSummary, Compared, FleetReport, SiteAttention, Trend,
};
use super::host_table::short_time;
use super::table::{percent, thousands};
use crate::fleet::analytics::{DriverRow, HostState};

/// Whether a rise of a figure is good news, bad news or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Good,
    Bad,
    Neutral,
}

/// One headline figure.
#[derive(Debug, Clone, PartialEq)]
pub struct Card {
    pub label: &'static str,
    pub value: String,
    /// What the value is out of, or a note (`48 of 200 hosts`).
    pub detail: String,
    /// `▲ 146 vs 6 in the previous period`.
    pub change: String,
    pub direction: Direction,
}

fn signed(change: i64) -> String {
    let magnitude = thousands(change.unsigned_abs());
    match change {
        c if c > 0 => format!("▲ {magnitude}"),
        c if c < 0 => format!("▼ {magnitude}"),
        _ => "no change".into(),
    }
}

fn direction_of(change: f64, rise_is_good: bool) -> Direction {
    if change.abs() < 1e-9 {
        Direction::Neutral
    } else if (change > 0.0) == rise_is_good {
        Direction::Good
    } else {
        Direction::Bad
    }
}

fn count_card(label: &'static str, c: &Compared<i64>, detail: String) -> Card {
    Card {
        label,
        value: thousands(c.current.max(0) as u64),
        detail,
        change: format!(
            "{} vs {} in the previous period",
            signed(c.change),
            thousands(c.previous.max(0) as u64)
        ),
        direction: direction_of(c.change as f64, false),
    }
}

/// The headline figures in the report's order.
pub fn headline_cards(report: &FleetReport) -> Vec<Card> {
    let h = &report.headline;
    let mut cards = Vec::new();
    match (&h.crash_free_share, &h.crash_free_hosts, h.fleet_hosts) {
        (Some(share), Some(hosts), Some(fleet)) => {
            let pp = share.change * 100.0;
            cards.push(Card {
                label: "Crash-free hosts",
                value: percent(share.current),
                detail: format!(
                    "{} of {} inventory hosts had no crash",
                    thousands(hosts.current.max(0) as u64),
                    thousands(fleet)
                ),
                change: format!(
                    "{} vs {} in the previous period",
                    if pp.abs() < 0.05 {
                        "no change".to_string()
                    } else if pp > 0.0 {
                        format!("▲ {pp:.1} pts")
                    } else {
                        format!("▼ {:.1} pts", -pp)
                    },
                    percent(share.previous)
                ),
                direction: direction_of(share.change, true),
            });
        }
        _ => cards.push(Card {
            label: "Crash-free hosts",
            value: "–".into(),
            detail: "no inventory in the store (give one to `scan --inventory`)".into(),
            change: String::new(),
            direction: Direction::Neutral,
        }),
    }
    cards.push(count_card(
        "Hosts affected",
        &h.hosts_affected,
        "hosts with at least one crash".into(),
    ));
    cards.push(count_card(
        "Crashes",
        &h.crashes,
        "crash dumps in the window".into(),
    ));
    cards.push(count_card(
        "Boot-looping hosts",
        &h.boot_loop_hosts,
        format!(
            "at the end of the window; {} need a person in all",
            thousands(h.hosts_needing_attention.current.max(0) as u64)
        ),
    ));
    if let Some(down) = &h.down_hosts {
        cards.push(count_card(
            "Down hosts",
            down,
            "crashed, and no heartbeat since, at the end of the window".into(),
        ));
    }
    let lost = &h.host_hours_lost;
    cards.push(Card {
        label: "Host-hours lost",
        value: format!("{:.1}", lost.current),
        detail: "estimated: boot loops plus a restart per crash".into(),
        change: format!(
            "{} vs {:.1} in the previous period",
            if lost.change.abs() < 0.05 {
                "no change".to_string()
            } else if lost.change > 0.0 {
                format!("▲ {:.1}", lost.change)
            } else {
                format!("▼ {:.1}", -lost.change)
            },
            lost.previous
        ),
        direction: direction_of(lost.change, false),
    });
    cards
}

/// `2024-07-19T04:09:00Z` -> `2024-07-19 04:09`.
pub fn minute(rfc3339: Option<&str>) -> String {
    let t = short_time(rfc3339);
    if t.len() >= 16 && t.as_bytes().get(10) == Some(&b' ') {
        t[..16].to_string()
    } else {
        t
    }
}

/// The window as people say it: `2024-07-12 20:13 – 2024-07-19 20:13 UTC`.
pub fn period_words(start: &str, end: &str) -> String {
    format!("{} – {} UTC", minute(Some(start)), minute(Some(end)))
}

/// The comparison window: `the previous 7 d (2024-07-05 20:13 – 2024-07-12 20:13 UTC)`,
/// ending where the report window starts.
pub fn previous_words(report: &FleetReport) -> String {
    format!(
        "the previous {} ({})",
        super::charts::bucket_words(report.window_seconds.max(1)),
        period_words(&report.previous_window.start, &report.window.start)
    )
}

/// `2024-07-19 04:09 – 04:36` (same day) or `2024-07-12 22:58 – 2024-07-16 20:30`.
pub fn seen_span(first: Option<&str>, last: Option<&str>) -> String {
    let (a, b) = (minute(first), minute(last));
    match (a.get(..10), b.get(..10), b.get(11..)) {
        (Some(da), Some(db), Some(tb)) if da == db => format!("{a} – {tb}"),
        _ => format!("{a} – {b}"),
    }
}

/// Header of the top-clusters table; numeric columns are listed in [`CLUSTER_NUMERIC`].
pub const CLUSTER_HEADER: [&str; 11] = [
    "Driver / cause",
    "Owner",
    "Bucket id",
    "Hosts",
    "Fleet",
    "Of hosts running it",
    "Critical hosts",
    "Boot-looped",
    "Sites",
    "Trend",
    "Seen (UTC)",
];
pub const CLUSTER_NUMERIC: [usize; 5] = [3, 4, 5, 6, 7];

/// `9 sites: DFW 24, SIN 22, CHI 20, …`.
fn sites_cell(c: &ClusterSummary) -> String {
    let named = &c.sites;
    if named.is_empty() {
        return "–".into();
    }
    let listed: Vec<String> = named
        .iter()
        .take(3)
        .map(|s| format!("{} {}", s.site, thousands(s.hosts)))
        .collect();
    let more = if named.len() > 3 { ", …" } else { "" };
    format!(
        "{} {}: {}{more}",
        named.len(),
        if named.len() == 1 { "site" } else { "sites" },
        listed.join(", ")
    )
}

/// `rising (12 → 139 hosts)`.
pub fn trend_cell(c: &ClusterSummary) -> String {
    match c.trend {
        Trend::New => "new".into(),
        t => format!(
            "{} ({} → {} hosts)",
            t.as_str(),
            thousands(c.previous_hosts),
            thousands(c.hosts)
        ),
    }
}

pub fn cluster_cells(c: &ClusterSummary) -> Vec<String> {
    vec![
        c.cause.clone(),
        c.owner.clone().unwrap_or_else(|| "–".into()),
        c.bucket_id.clone(),
        thousands(c.hosts),
        c.fleet_share.map(percent).unwrap_or_else(|| "–".into()),
        c.exposed_hit_share
            .map(percent)
            .unwrap_or_else(|| "–".into()),
        c.critical_hosts
            .map(thousands)
            .unwrap_or_else(|| "–".into()),
        // Down hosts (heartbeats) beside the boot-looped ones: both need a person.
        if c.down_hosts > 0 {
            format!(
                "{} ({} down)",
                thousands(c.boot_loop_hosts),
                thousands(c.down_hosts)
            )
        } else {
            thousands(c.boot_loop_hosts)
        },
        sites_cell(c),
        trend_cell(c),
        seen_span(c.first_seen.as_deref(), c.last_seen.as_deref()),
    ]
}

pub const ATTENTION_SITE_HEADER: [&str; 5] = [
    "Site",
    "Boot-looping",
    "Down",
    "Still failing",
    "Of them critical",
];
pub const ATTENTION_SITE_NUMERIC: [usize; 4] = [1, 2, 3, 4];

/// One site's line in the summary above the per-site host lists.
pub fn attention_site_cells(site: &SiteAttention) -> Vec<String> {
    let count = |f: &dyn Fn(&AttentionHost) -> bool| {
        thousands(site.hosts.iter().filter(|h| f(h)).count() as u64)
    };
    vec![
        site.site.clone(),
        count(&|h| h.state == HostState::BootLoop),
        count(&|h| h.state == HostState::Down),
        count(&|h| h.state == HostState::Failing),
        count(&|h| h.critical),
    ]
}

pub const ATTENTION_HEADER: [&str; 6] = [
    "Host",
    "State",
    "Crashes",
    "Clusters",
    "Boot loop since (UTC)",
    "Criticality",
];
pub const ATTENTION_NUMERIC: [usize; 1] = [2];
/// Hosts listed per site in HTML and Markdown (JSON lists all).
pub const ATTENTION_HOSTS_SHOWN: usize = 40;

pub fn attention_cells(h: &AttentionHost) -> Vec<String> {
    vec![
        h.host.clone(),
        h.state.as_str().to_string(),
        thousands(h.crashes),
        h.clusters.join(" "),
        h.boot_loop_since
            .as_deref()
            .map(|t| minute(Some(t)))
            .unwrap_or_else(|| "–".into()),
        h.criticality.clone().unwrap_or_else(|| "–".into()),
    ]
}

pub const DRIVER_HEADER: [&str; 6] = [
    "Driver",
    "Vendor",
    "Category",
    "Hosts loading it",
    "Share of hosts",
    "Share of crashes",
];
pub const DRIVER_NUMERIC: [usize; 3] = [3, 4, 5];
/// Drivers listed in HTML and Markdown (JSON lists all).
pub const DRIVERS_SHOWN: usize = 25;

pub fn driver_cells(d: &DriverRow) -> Vec<String> {
    vec![
        d.driver.clone(),
        d.vendor.clone().unwrap_or_else(|| "–".into()),
        d.category.clone().unwrap_or_else(|| "–".into()),
        thousands(d.hosts_loaded),
        d.loaded_share.map(percent).unwrap_or_else(|| "–".into()),
        format!(
            "{} ({} {})",
            d.crash_share.map(percent).unwrap_or_else(|| "–".into()),
            thousands(d.crashes),
            if d.crashes == 1 { "crash" } else { "crashes" }
        ),
    ]
}

/// Drivers in the order the report lists them: those that crashed first, then by reach.
pub fn drivers_in_order(drivers: &[DriverRow]) -> Vec<&DriverRow> {
    let mut sorted: Vec<&DriverRow> = drivers.iter().collect();
    sorted.sort_by(|a, b| {
        b.crashes
            .cmp(&a.crashes)
            .then(b.hosts_loaded.cmp(&a.hosts_loaded))
            .then(a.driver.cmp(&b.driver))
    });
    sorted
}

pub const CHANGE_HEADER: [&str; 6] = [
    "Driver / cause",
    "Bucket id",
    "Owner",
    "Hosts",
    "Crashes",
    "Seen (UTC)",
];
pub const CHANGE_NUMERIC: [usize; 2] = [3, 4];

pub fn change_cells(c: &ClusterChange) -> Vec<String> {
    vec![
        c.cause.clone(),
        c.bucket_id.clone(),
        c.owner.clone().unwrap_or_else(|| "–".into()),
        thousands(c.hosts),
        thousands(c.crashes),
        seen_span(c.first_seen.as_deref(), c.last_seen.as_deref()),
    ]
}

/// The report's filters as words (`site = FRA`), empty when there are none.
pub fn filter_words(report: &FleetReport) -> String {
    report
        .filters
        .iter()
        .map(|(c, v)| format!("{c} = {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}
