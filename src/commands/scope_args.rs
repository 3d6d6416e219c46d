//! Arguments shared by the analytics commands (`clusters`, `hosts`, `drivers`): the store,
//! the time window, the filters, the host-state thresholds and the output format.

use std::path::PathBuf;

use crate::fleet::analytics::window::DataEnd;
use crate::fleet::analytics::{self, window, HostStateParams, Scope, Window};
use crate::fleet::store::{Store, DEFAULT_STORE_DIR, STORE_ENV};

/// Output format of a table command.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFormat {
    /// An aligned table for a terminal (dump-derived text made safe).
    Text,
    Json,
    /// Spreadsheet-safe CSV (formula-like cells neutralized).
    Csv,
}

/// The store and what part of it to count.
#[derive(clap::Args, Debug, Clone)]
pub struct ScopeArgs {
    /// The crash store folder.
    #[arg(long, env = STORE_ENV, default_value = DEFAULT_STORE_DIR, value_name = "DIR")]
    pub store: PathBuf,
    /// Only crashes at or after this time (UTC): RFC 3339 or `YYYY-MM-DD[ HH:MM[:SS]]`.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only crashes at or before this time (UTC). Also the "end of the data" that host states
    /// are judged against (default: the latest crash in the window).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Judge host states as of this time (UTC) without leaving crashes out (default: the
    /// clock when the data is less than a day old, else the latest crash, clock-skewed
    /// outlier hosts set aside).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Only hosts of this site (the inventory's `site` column).
    #[arg(long, value_name = "SITE")]
    pub site: Option<String>,
    /// Only hosts whose inventory column has this value; repeatable (all must hold).
    #[arg(long = "where", value_name = "COLUMN=VALUE")]
    pub conditions: Vec<String>,
    /// Only crashes blamed on this driver (base name, any case: csagent.sys).
    #[arg(long, value_name = "DRIVER")]
    pub driver: Option<String>,
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub format: TableFormat,
}

/// The thresholds of the host state machine.
#[derive(clap::Args, Debug, Clone)]
pub struct HostStateArgs {
    /// A crash this soon after boot continues a boot loop.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub loop_uptime: String,
    /// Consecutive crashes of a boot loop are less than this apart.
    #[arg(long, default_value = "30m", value_name = "DURATION")]
    pub loop_gap: String,
    /// A host with no crash for this long before the end of the data has recovered.
    #[arg(long, default_value = "2h", value_name = "DURATION")]
    pub recovery_window: String,
    /// Host time one crash costs outside a boot loop (reboot, log-on): the host-hours-lost
    /// estimate.
    #[arg(long, default_value = "10m", value_name = "DURATION")]
    pub restart_cost: String,
}

impl HostStateArgs {
    pub fn params(&self) -> Result<HostStateParams, analytics::AnalyticsError> {
        Ok(HostStateParams {
            loop_uptime_s: window::parse_duration(&self.loop_uptime)?,
            loop_gap_s: window::parse_duration(&self.loop_gap)?,
            recovery_window_s: window::parse_duration(&self.recovery_window)?,
            restart_cost_s: window::parse_duration(&self.restart_cost)?,
        })
    }
}

impl ScopeArgs {
    /// The analytics scope; `cluster` comes from the commands that take `--cluster`.
    pub fn scope(&self, cluster: Option<&str>) -> Result<Scope, analytics::AnalyticsError> {
        let now = self.now.as_deref().map(window::parse_instant).transpose()?;
        let window = Window::parse(self.since.as_deref(), self.until.as_deref())?.with_now(now);
        let mut inventory_filters = Vec::new();
        if let Some(site) = &self.site {
            inventory_filters.push(("site".to_string(), site.clone()));
        }
        for condition in &self.conditions {
            inventory_filters.push(analytics::parse_where(condition)?);
        }
        Ok(Scope {
            window,
            inventory_filters,
            cluster: cluster.map(str::to_string),
            driver: self.driver.clone(),
            heartbeats: None,
        })
    }

    /// `scope` with every filter value checked against `store` and spelled as the store
    /// spells it (see `analytics::resolve`): a value that matches nothing is an error.
    pub fn resolved_scope(&self, store: &Store, cluster: Option<&str>) -> anyhow::Result<Scope> {
        let scope = self.scope(cluster)?;
        let inventory = store.inventory()?;
        let mut scope =
            analytics::resolve_scope(store.lazy_crashes()?, inventory.as_ref(), &scope)?;
        let heartbeats = store.heartbeats()?;
        scope.heartbeats = (!heartbeats.is_empty()).then(|| std::sync::Arc::new(heartbeats));
        Ok(scope)
    }
}

/// Opens the crash store at `dir`, saying what to do when the path is a file rather than a
/// store folder (the OS error alone, "Not a directory", names neither).
/// The rules a reading command names drivers by: `--rules FILE` merged over the built-in
/// rules when given, else the rules in force in the store (those the scan blamed with).
pub fn reading_rules(
    store: &Store,
    cli: Option<&std::path::Path>,
) -> anyhow::Result<crate::triage::Rules> {
    Ok(match cli {
        Some(path) => crate::triage::Rules::from_toml_file(path)?,
        None => store.rules()?,
    })
}

pub fn open_store(dir: &std::path::Path) -> anyhow::Result<Store> {
    check_store_path(dir)?;
    Ok(Store::open(dir)?)
}

/// Fails when `dir` exists and is not a folder: a crash store is a folder.
pub fn check_store_path(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() && !dir.is_dir() {
        anyhow::bail!(
            "{}: is a file, not a crash store folder; pass a folder with --store (scan creates it)",
            dir.display()
        );
    }
    Ok(())
}

/// Says which end of the data host states were judged against, and warns of clock skew, on
/// stderr: the tables' own "data ends" line stays where scripts expect it.
pub fn note_data_end(data_end: &DataEnd) {
    eprintln!("blastradius: end of data: {}", data_end.describe());
    for warning in data_end.warnings() {
        eprintln!("blastradius: warning: {warning}");
    }
}

/// The clock-skew warnings of `data_end` on stderr, for the text tables that print the end
/// of the data themselves.
pub fn note_warnings(data_end: &DataEnd) {
    for warning in data_end.warnings() {
        eprintln!("blastradius: warning: {warning}");
    }
}

/// Writes a command's whole output to stdout. A closed pipe (`blastradius hosts | head`) is
/// not an error: the reader has what it wanted.
pub fn emit(bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
