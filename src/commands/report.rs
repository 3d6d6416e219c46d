//! `blastradius report`: the fleet-stability report for management — a self-contained HTML
//! page (or Markdown with SVG files beside it, or JSON) for one window, compared with the
//! window of the same length before it. Made to run from cron or a systemd timer: it never
//! needs a terminal, writes its file atomically, and exits non-zero only on errors.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::fleet::analytics::{self, window, HostStateParams, ReportPeriods};
use crate::fleet::critical::CriticalRule;
use crate::fleet::store::{Store, DEFAULT_STORE_DIR, STORE_ENV};
use crate::report::charts::{self, Chart};
use crate::report::fleet_html::render_html;
use crate::report::fleet_markdown::render_markdown;
use crate::report::fleet_report::{build_report, FleetReport, ReportOptions};

use super::scope_args::{emit, HostStateArgs, ScopeArgs, TableFormat};

/// Output format of the report.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    /// One self-contained page: inline CSS and SVG charts, no scripts.
    Html,
    /// Markdown, its charts as SVG files beside it.
    Md,
    /// Every figure, for other tools (docs/REPORT-SCHEMA.md).
    Json,
}

impl ReportFormat {
    fn extension(self) -> &'static str {
        match self {
            ReportFormat::Html => "html",
            ReportFormat::Md => "md",
            ReportFormat::Json => "json",
        }
    }
}

/// Arguments of `blastradius report`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// The crash store folder.
    #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
    pub store: PathBuf,
    /// Start of the report window (UTC): RFC 3339 or `YYYY-MM-DD[ HH:MM[:SS]]`. Default: the
    /// `--period` before `--until`.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// End of the report window (UTC). Default: the latest crash in the store (now, when the
    /// store has none).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Length of the window when `--since` is not given.
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub period: String,
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
    /// Where to write (`-` = stdout, HTML and JSON only). Default:
    /// `reports/<until-date>-fleet-report.<html|md|json>` (the folder is created).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Only hosts of this site (the inventory's `site` column).
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Only hosts whose inventory column has this value; repeatable (all must hold).
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub conditions: Vec<String>,
    /// Only crashes blamed on this driver (base name, any case).
    #[arg(long, value_name = "DRIVER")]
    pub driver: Option<String>,
    /// Which hosts are critical: inventory COLUMN=VALUE[,VALUE] (default
    /// criticality=critical), the rule `clusters`, `exposure` and `tui` take too.
    #[arg(long, value_name = "COLUMN=VALUE[,VALUE]", conflicts_with_all = ["critical_value", "criticality_column"])]
    pub critical: Option<String>,
    /// Older spelling of `--critical criticality=VALUE`.
    #[arg(long, value_name = "VALUE", hide = true)]
    pub critical_value: Option<String>,
    /// Older spelling of `--critical COLUMN=critical`.
    #[arg(long, value_name = "COLUMN", hide = true)]
    pub criticality_column: Option<String>,
    /// Clusters in the top-clusters table.
    #[arg(long, default_value_t = 10, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub top: u16,
    /// A rules file (TOML) merged over the built-in rules (driver vendors and categories);
    /// default: the rules the store's scan used.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub states: HostStateArgs,
}

impl Args {
    /// `--critical`, or the rule the older `--criticality-column` / `--critical-value` give.
    fn critical_rule(&self) -> anyhow::Result<CriticalRule> {
        if self.critical_value.is_none() && self.criticality_column.is_none() {
            return Ok(CriticalRule::from_flag(self.critical.as_deref())?);
        }
        let default = CriticalRule::default();
        Ok(CriticalRule {
            column: self.criticality_column.clone().unwrap_or(default.column),
            values: match &self.critical_value {
                Some(v) => vec![v.clone()],
                None => default.values,
            },
        })
    }

    /// The inventory and driver filters, through the same parser and the same strict
    /// matching as the table commands (a value the store does not have is an error).
    fn filters(&self, store: &Store) -> anyhow::Result<analytics::Scope> {
        let scope = ScopeArgs {
            store: self.store.clone(),
            since: None,
            until: None,
            site: self.site.clone(),
            conditions: self.conditions.clone(),
            driver: self.driver.clone(),
            format: TableFormat::Text,
            now: None,
        };
        scope.resolved_scope(store, None)
    }
}

/// The report windows: `--since`/`--until`, else `--period` ending at the end of the data.
fn periods(args: &Args, store: &Store) -> anyhow::Result<ReportPeriods> {
    let since = args
        .since
        .as_deref()
        .map(window::parse_instant)
        .transpose()?;
    let until = match args.until.as_deref() {
        Some(u) => window::parse_instant(u)?,
        None => match analytics::report_end_ms(store.lazy_crashes()?)? {
            Some(end) => end,
            None => chrono::Utc::now().timestamp_millis(),
        },
    };
    let length_s = window::parse_duration(&args.period)?;
    let length_ms = i64::try_from(length_s)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .filter(|ms| *ms > 0)
        .ok_or_else(|| {
            anyhow::anyhow!("--period must be longer than 0 s and shorter than ~292 million years")
        })?;
    Ok(ReportPeriods::new(since, until, length_ms)?)
}

/// `reports/2024-07-19-fleet-report.html`.
pub fn default_out_path(report: &FleetReport, format: ReportFormat) -> PathBuf {
    let date = report.window.end.get(..10).unwrap_or("undated");
    PathBuf::from("reports").join(format!("{date}-fleet-report.{}", format.extension()))
}

/// Writes `bytes` to `path` through a temp file and a rename: a reader (a mailer, a web
/// server) never sees half a report.
fn write_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    let temp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&temp, bytes).with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// The SVG file of `chart` beside the Markdown file `md_path`: `<stem>-<slug>.svg`.
fn chart_file_name(md_path: &Path, chart: &Chart) -> String {
    let stem = md_path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "report".into());
    format!("{stem}-{}.svg", chart.slug)
}

/// Renders `report` in `format` to `out` (`-` = stdout), writing Markdown's chart files
/// beside it. Returns the paths written.
pub fn write_report(
    report: &FleetReport,
    format: ReportFormat,
    out: &Path,
) -> anyhow::Result<Vec<PathBuf>> {
    let to_stdout = out.as_os_str() == "-";
    if !to_stdout {
        if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
    }
    let mut written = Vec::new();
    let bytes = match format {
        ReportFormat::Json => {
            let mut b = serde_json::to_vec_pretty(report)?;
            b.push(b'\n');
            b
        }
        ReportFormat::Html => {
            let charts = charts::report_charts(report)?;
            render_html(report, &charts).into_bytes()
        }
        ReportFormat::Md => {
            if to_stdout {
                anyhow::bail!("Markdown writes its charts as files beside it: give --out FILE.md");
            }
            let charts = charts::report_charts(report)?;
            for chart in &charts {
                let path = out.with_file_name(chart_file_name(out, chart));
                write_file(&path, chart.svg.as_bytes())?;
                written.push(path);
            }
            render_markdown(report, &charts, &|c| chart_file_name(out, c)).into_bytes()
        }
    };
    if to_stdout {
        emit(&bytes)?;
    } else {
        write_file(out, &bytes)?;
        written.push(out.to_path_buf());
    }
    Ok(written)
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let store = super::scope_args::open_store(&args.store)?;
    let rules = super::scope_args::reading_rules(&store, args.rules.as_deref())?;
    let host_states: HostStateParams = args.states.params()?;
    let mut opts = ReportOptions::new(periods(args, &store)?);
    opts.scope = args.filters(&store)?;
    opts.host_states = host_states;
    opts.critical = args.critical_rule()?;
    opts.top_clusters = usize::from(args.top);
    let generated_at = window::format_utc(chrono::Utc::now().timestamp_millis());
    let report = build_report(
        store.lazy_crashes()?,
        store.lazy_drivers()?,
        store.inventory()?,
        &rules,
        &opts,
        &generated_at,
    )
    .with_context(|| format!("report of {}", args.store.display()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_path(&report, args.format));
    let written = write_report(&report, args.format, &out)?;
    if out.as_os_str() != "-" {
        // One line for the cron mail / journal; nothing else on stdout.
        let main = written
            .last()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        println!("wrote {main}");
    }
    Ok(0)
}
