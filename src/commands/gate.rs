//! `blastradius gate`: the release pipeline's stop/go for a staged rollout, from the crash
//! store. Exit 0 proceed, 1 halt, 3 insufficient data, 2 errors (a bad rollout file, no
//! inventory, an unknown ring): a pipeline step can `case $?` on it.

use std::path::PathBuf;

use anyhow::Context;

use crate::fleet::analytics::window;
use crate::fleet::gate::{self, GateOptions, GateReport, Reason};
use crate::fleet::store::{DEFAULT_STORE_DIR, STORE_ENV};
use crate::report::table::{
    percent, terminal_safe, thousands, wrap, Align, Fit, Table, TextLayout,
};

use super::scope_args::emit;

/// Output format of `gate`.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GateFormat {
    /// The verdict, one sentence why, the affected hosts per site and the clusters compared.
    Text,
    Json,
}

/// Arguments of `blastradius gate`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_long_help = "Exit codes: 0 proceed, 1 halt, 3 insufficient-data, 2 error. \
The rollout file (CSV or Parquet) has the columns host, ring, change, version, deployed_at \
(RFC 3339), as `blastradius simulate --scenario staged-rollout` writes it. Per crash cluster, \
the ring's hosts after they received the change are compared with the same hosts over an \
equal window before it and with the hosts without the change over the ring's window, counting \
hosts (a one-sided Fisher exact test, Holm-adjusted over the clusters seen). A halt needs p < --alpha and a rate above the baseline's \
by more than --min-rate, and nothing else; --min-hosts and --min-soak only hold back a proceed.

Examples:
  blastradius gate --rollout rollout.csv --store ./crash-store --ring early
  blastradius gate --rollout rollout.csv --change \"$CHANGE\" --ring \"$RING\" --format json"
)]
pub struct Args {
    /// The rollout file: host, ring, change, version, deployed_at (CSV or .parquet).
    #[arg(long, value_name = "FILE")]
    pub rollout: PathBuf,
    /// The crash store folder (with the inventory saved by `scan --inventory`).
    #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
    pub store: PathBuf,
    /// The ring to decide for (default: the latest ring that has received the change).
    #[arg(long, value_name = "NAME")]
    pub ring: Option<String>,
    /// The change (default: the only one in the rollout file).
    #[arg(long, value_name = "ID")]
    pub change: Option<String>,
    /// The moment of the decision, UTC: RFC 3339 or `YYYY-MM-DD[ HH:MM[:SS]]` (default: the
    /// latest crash in the store). Soak is measured to it; later crashes are not counted.
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// A proceed needs at least this many ring hosts with the change.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub min_hosts: u64,
    /// A proceed needs every deployed ring host to have run the change this long.
    #[arg(long, default_value = "4h", value_name = "DURATION")]
    pub min_soak: String,
    /// A halt needs the ring's crash rate above the baseline's by more than this share of the
    /// ring's hosts: `0.01` or `1%`.
    #[arg(long, default_value = "1%", value_name = "R")]
    pub min_rate: String,
    /// A halt needs the exact test's p-value, Holm-adjusted over the clusters tested, below this.
    #[arg(long, default_value_t = 0.01, value_name = "P")]
    pub alpha: f64,
    #[arg(long, value_enum, default_value_t = GateFormat::Text)]
    pub format: GateFormat,
    /// Lay the text out for N columns (0: no limit, whole cells); default: $COLUMNS, else
    /// the terminal's width, else 80. Columns that do not fit are cut or left out.
    #[arg(long, value_name = "N")]
    pub width: Option<usize>,
}

/// `0.01`, `1%` or `1 %` as a share.
fn parse_share(text: &str) -> anyhow::Result<f64> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    value
        .ok()
        .filter(|v| v.is_finite())
        .with_context(|| format!("--min-rate '{text}': expected a share such as 0.01 or 1%"))
}

impl Args {
    pub fn options(&self) -> anyhow::Result<GateOptions> {
        Ok(GateOptions {
            ring: self.ring.clone(),
            change: self.change.clone(),
            now_ms: self
                .now
                .as_deref()
                .map(window::parse_instant)
                .transpose()
                .context("--now")?,
            min_hosts: self.min_hosts,
            min_soak_s: window::parse_duration(&self.min_soak).context("--min-soak")?,
            min_rate: parse_share(&self.min_rate)?,
            alpha: self.alpha,
        })
    }
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let opts = args.options()?;
    let rollout = gate::read_rollout(&args.rollout)?;
    let store = super::scope_args::open_store(&args.store)?;
    let inventory = store.inventory()?;
    let report = gate::gate(store.lazy_crashes()?, inventory.as_ref(), &rollout, &opts)
        .with_context(|| format!("gate on {}", args.store.display()))?;
    let mut out: Vec<u8> = Vec::new();
    match args.format {
        GateFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            out.push(b'\n');
        }
        GateFormat::Text => out.extend_from_slice(
            render_text(&report, TextLayout::for_stdout(false, args.width)).as_bytes(),
        ),
    }
    emit(&out)?;
    Ok(report.verdict.exit_code())
}

/// `BLR 3, LON 2` (most hosts first).
fn sites_line(r: &Reason) -> String {
    let mut sites: Vec<(&String, &u64)> = r.sites.iter().collect();
    sites.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    sites
        .iter()
        .map(|(s, n)| format!("{} {}", terminal_safe(s), thousands(**n)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Clusters listed after the halting ones (the rest are in the JSON).
const OBSERVED_SHOWN: usize = 5;

/// The terminal form: verdict line, the sentence why, affected hosts per site, the compared
/// clusters, the figures the verdict rests on; sentences wrapped and the table fitted to
/// `layout`'s width.
pub fn render_text(report: &GateReport, layout: TextLayout) -> String {
    let mut out = wrap(
        &format!(
            "{}  ring {}, change {}, at {}\n{}\n",
            report.verdict.as_str().to_uppercase(),
            terminal_safe(&report.ring),
            terminal_safe(&report.change),
            report.now,
            terminal_safe(&report.explanation)
        ),
        layout.width,
    );
    for r in &report.reasons {
        out.push_str(&wrap(
            &format!(
                "Affected hosts of cluster {} per site: {}",
                r.cluster,
                sites_line(r)
            ),
            layout.width,
        ));
    }
    let shown: Vec<&Reason> = report
        .reasons
        .iter()
        .chain(report.observed.iter().take(OBSERVED_SHOWN))
        .collect();
    if !shown.is_empty() {
        let mut t = Table::new()
            .with_header(&[
                "CLUSTER", "DRIVER", "BUCKET", "AFTER", "RATE", "BASELINE", "RATE", "P ADJ",
                "HALTS",
            ])
            .with_align(&[
                Align::Left,
                Align::Left,
                Align::Left,
                Align::Right,
                Align::Right,
                Align::Right,
                Align::Right,
                Align::Right,
                Align::Left,
            ])
            .with_fit(&[
                Fit::KEEP,
                Fit::cut(12, 0),
                Fit::cut(16, 4),
                Fit::KEEP,
                Fit::drop(1),
                Fit::drop(2),
                Fit::drop(2),
                Fit::drop(3),
                Fit::KEEP,
            ])
            .with_max_cell_chars(50);
        for (i, r) in shown.iter().enumerate() {
            t.push(&[
                r.cluster.clone(),
                r.driver.clone().unwrap_or_else(|| "-".into()),
                r.bucket_id.clone(),
                format!(
                    "{}/{}",
                    thousands(r.hosts_after),
                    thousands(report.deployed_hosts)
                ),
                percent(r.rate_after),
                format!(
                    "{}/{}",
                    thousands(r.hosts_baseline),
                    thousands(r.baseline_size)
                ),
                percent(r.rate_baseline),
                format!("{:.2e}", r.p_adjusted),
                if i < report.reasons.len() {
                    "yes"
                } else {
                    "no"
                }
                .to_string(),
            ]);
        }
        out.push('\n');
        out.push_str(&t.render_for(layout));
    }
    out.push('\n');
    out.push_str(&wrap(
        &format!(
        "{} of {} ring hosts have the change (first {}, last {}); soak {}; {} hosts without it; \
thresholds: alpha {}, min-rate {}, min-hosts {}, min-soak {}\n",
        thousands(report.deployed_hosts),
        thousands(report.ring_hosts),
        report.first_deployed.as_deref().unwrap_or("-"),
        report.last_deployed.as_deref().unwrap_or("-"),
        report.soak,
        thousands(report.unchanged_hosts),
        report.alpha,
        percent(report.min_rate),
        report.min_hosts,
        gate::decide::duration_text(report.min_soak_seconds),
    ),
        layout.width,
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_rate_takes_a_share_or_a_percentage() {
        assert_eq!(parse_share("0.01").unwrap(), 0.01);
        assert_eq!(parse_share("1%").unwrap(), 0.01);
        assert_eq!(parse_share(" 2.5 % ").unwrap(), 0.025);
        assert!(parse_share("one percent").is_err());
        assert!(parse_share("NaN").is_err());
    }
}
