//! The one-cluster view of `clusters --cluster X` in a terminal, like a crash-stats signature
//! page: the headline figures, the onset as a sparkline with a rising/falling call, the
//! breakdowns an incident commander asks for (site, ring, role, OS build), exposure per
//! driver version, the signature's frames, sample dumps and the affected hosts.

use crate::fleet::analytics::{ClusterNode, DriverRow, HostTable};

use super::host_table::{short_time, state_name};
use super::table::{percent, terminal_safe, thousands, Align, Table};

/// Inventory columns the view breaks the hosts down by, when the inventory has them.
pub const BREAKDOWN_COLUMNS: [&str; 4] = ["site", "ring", "role", "os_build"];

/// Values shown per breakdown line, largest first.
const BREAKDOWN_VALUES: usize = 8;

/// A breakdown line, its "… N more" included, stops adding values before this many
/// characters: it fits an 80-column terminal.
const BREAKDOWN_WIDTH: usize = 80;

/// Affected hosts listed (most urgent first); the rest are counted.
pub const HOSTS_SHOWN: usize = 25;

/// What the view shows besides the cluster node itself.
#[derive(Debug, Clone, Default)]
pub struct DetailExtras {
    /// The blamed driver's row of the `drivers` table (versions and exposure).
    pub driver: Option<DriverRow>,
    /// Paths of a few of the cluster's dumps, earliest first.
    pub sample_dumps: Vec<String>,
    /// The top signature's frames (`module!function`), innermost first.
    pub frames: Vec<String>,
}

const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// One character per bucket, scaled to the peak.
pub fn sparkline(counts: &[u64]) -> String {
    let peak = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&n| {
            if n == 0 || peak == 0 {
                ' '
            } else {
                let i = ((n as f64 / peak as f64) * 7.0).round() as usize;
                SPARKS[i.min(7)]
            }
        })
        .collect()
}

/// `rising` while the latest quarter of the buckets holds the peak's level, `falling` once
/// the latest bucket is under half the peak, else `steady`: the call a responder makes
/// looking at the curve.
pub fn trend(counts: &[u64]) -> &'static str {
    let peak = counts.iter().copied().max().unwrap_or(0);
    let Some(&last) = counts.last() else {
        return "no data";
    };
    let peak_at = counts.iter().rposition(|&n| n == peak).unwrap_or(0);
    let tail_start = counts.len() - counts.len().div_ceil(4);
    if counts.len() < 3 {
        "too few buckets to call"
    } else if peak_at >= tail_start && last * 2 >= peak {
        "rising"
    } else if last * 2 < peak {
        "falling"
    } else {
        "steady"
    }
}

/// The whole view as text.
pub fn render(node: &ClusterNode, hosts: &HostTable, extras: &DetailExtras) -> String {
    let mut out = String::new();
    let mut line = |text: String| {
        out.push_str(&terminal_safe(&text));
        out.push('\n');
    };
    line(format!(
        "{}  (cluster {}; {}{})",
        node.cause,
        node.id,
        node.owner.as_deref().unwrap_or("owner unknown"),
        if node.third_party {
            ", third-party"
        } else {
            ""
        }
    ));
    line(format!(
        "bucket {}  bugcheck {}  failure class {}",
        node.bucket_id,
        if node.bugcheck_codes.is_empty() {
            "-".to_string()
        } else {
            node.bugcheck_codes.join(",")
        },
        node.failure_class
    ));
    line(format!(
        "{}{}  {}  {} boot-loop  {} still failing  {} recovered",
        counted(node.hosts, "host", "hosts"),
        node.fleet_share
            .map(|s| format!(" ({} of fleet)", percent(s)))
            .unwrap_or_default(),
        counted(node.crashes, "crash", "crashes"),
        thousands(node.boot_loop_hosts),
        thousands(node.still_failing_hosts),
        thousands(node.recovered_hosts),
    ));
    let mut more = Vec::new();
    if node.down_hosts > 0 {
        more.push(format!(
            "{} down (no heartbeat since their last crash)",
            thousands(node.down_hosts)
        ));
    }
    if let Some(critical) = node.critical_hosts {
        more.push(format!("{} critical", thousands(critical)));
    }
    if !more.is_empty() {
        line(more.join("  "));
    }
    line(format!(
        "first {}  last {}  host-hours lost {:.1}  peak {:.0} crashes/h",
        short_time(node.first_seen.as_deref()),
        short_time(node.last_seen.as_deref()),
        node.host_hours_lost,
        node.peak_rate_per_hour
    ));
    if let (Some(exposed), Some(share)) = (node.exposed_hosts, node.exposed_share) {
        line(format!(
            "exposure: loaded on {} hosts ({} of hosts with a driver list); {} of them crashed",
            thousands(exposed),
            percent(share),
            node.exposed_hit_share
                .map(percent)
                .unwrap_or_else(|| "-".into())
        ));
    }

    let onset = &node.onset;
    line(String::new());
    line(format!(
        "Onset: {} of {} from {} UTC: {} (peak {} at {})",
        counted(onset.counts.len() as u64, "bucket", "buckets"),
        super::charts::bucket_words(onset.bucket_seconds.max(1)),
        short_time(onset.start.as_deref()),
        trend(&onset.counts),
        counted(onset.peak_crashes, "crash", "crashes"),
        short_time(onset.peak_at.as_deref())
    ));
    line(format!("  |{}|", sparkline(&onset.counts)));

    let breakdowns: Vec<(&str, &std::collections::BTreeMap<String, u64>)> = BREAKDOWN_COLUMNS
        .iter()
        .filter_map(|c| node.breakdown.get(*c).map(|v| (*c, v)))
        .collect();
    if !breakdowns.is_empty() {
        line(String::new());
        line("Hosts by (largest first; --format json lists every value)".into());
        for (column, values) in breakdowns {
            let mut values: Vec<(&String, &u64)> = values.iter().collect();
            values.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            // Values while the line, with its ", … N more", fits 80 columns (at least one),
            // largest first.
            let more_room = format!(", … {} more", values.len()).chars().count();
            let mut shown: Vec<String> = Vec::new();
            let mut width = 12;
            for (i, (v, n)) in values.iter().take(BREAKDOWN_VALUES).enumerate() {
                let cell = format!("{v} {}", thousands(**n));
                let after = width + cell.chars().count() + 2;
                let room = if i + 1 == values.len() { 0 } else { more_room };
                if !shown.is_empty() && after + room > BREAKDOWN_WIDTH {
                    break;
                }
                width = after;
                shown.push(cell);
            }
            let more = values.len().saturating_sub(shown.len());
            line(format!(
                "  {column:<9} {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(", … {more} more")
                } else {
                    String::new()
                }
            ));
        }
    }

    if let Some(d) = &extras.driver {
        line(String::new());
        line(format!(
            "Driver versions of {} (hosts that loaded each, crashes):",
            d.driver
        ));
        let mut t = Table::new()
            .with_header(&["  VERSION (IMAGE TIMESTAMP)", "HOSTS", "CRASHES"])
            .with_align(&[Align::Left, Align::Right, Align::Right]);
        for v in &d.versions {
            t.push(&[
                format!("  {}", v.timestamp),
                thousands(v.hosts),
                thousands(v.crashes),
            ]);
        }
        out.push_str(&t.render());
    }

    if !node.children.is_empty() {
        out.push('\n');
        let mut t = Table::new()
            .with_header(&["BUCKET / SIGNATURE", "HOSTS", "CRASHES", "ID"])
            .with_align(&[Align::Left, Align::Right, Align::Right, Align::Left]);
        for b in &node.children {
            t.push(&[
                b.bucket_id.clone(),
                thousands(b.hosts),
                thousands(b.crashes),
                b.id.clone(),
            ]);
            for s in &b.children {
                t.push(&[
                    format!("  {}", s.signature),
                    thousands(s.hosts),
                    thousands(s.crashes),
                    s.id.clone(),
                ]);
            }
        }
        out.push_str(&t.render());
    }

    if !extras.frames.is_empty() {
        out.push_str(&format!(
            "\nFrames of {}:\n",
            terminal_safe(&node.signature)
        ));
        for (i, f) in extras.frames.iter().enumerate() {
            out.push_str(&format!("  {i:>2}  {}\n", terminal_safe(f)));
        }
    }
    if !extras.sample_dumps.is_empty() {
        out.push_str("\nSample dumps:\n");
        for p in &extras.sample_dumps {
            out.push_str(&format!("  {}\n", terminal_safe(p)));
        }
    }

    out.push_str(&format!(
        "\nAffected hosts ({}):\n",
        thousands(hosts.hosts.len() as u64)
    ));
    let mut t = Table::new()
        .with_header(&["  HOST", "STATE", "CRASHES", "LAST (UTC)"])
        .with_align(&[Align::Left, Align::Left, Align::Right, Align::Left]);
    for h in hosts.hosts.iter().take(HOSTS_SHOWN) {
        t.push(&[
            format!("  {}", h.host),
            state_name(h).to_string(),
            thousands(h.crashes),
            short_time(h.last_crash.as_deref()),
        ]);
    }
    out.push_str(&t.render());
    if hosts.hosts.len() > HOSTS_SHOWN {
        out.push_str(&format!(
            "  … {} more hosts not shown; `blastradius hosts --cluster {}` lists them all\n",
            thousands((hosts.hosts.len() - HOSTS_SHOWN) as u64),
            terminal_safe(&node.id)
        ));
    }
    out
}

/// `1 host`, `1,204 hosts`: a count with its noun in the right number.
fn counted(n: u64, one: &str, many: &str) -> String {
    format!("{} {}", thousands(n), if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_and_trend() {
        assert_eq!(sparkline(&[0, 1, 2, 4, 8]), " ▂▃▅█");
        assert_eq!(trend(&[1, 2, 4, 8]), "rising");
        assert_eq!(trend(&[1, 8, 4, 2]), "falling");
        assert_eq!(trend(&[1, 8, 6, 5]), "steady");
        assert_eq!(trend(&[]), "no data");
    }
}
