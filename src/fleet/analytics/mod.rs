//! Analytics on the crash store: clusters (blast radius), hosts (boot loops, recovery),
//! drivers (exposure). Everything is a function over the store's `LazyFrame`s / `DataFrame`s
//! (columns: see `fleet::store`), so tests build frames by hand and the CLI passes the store's.
//!
//! How a run goes (`prepare`): one lazy query reads the few columns analytics need, inside
//! the `--since/--until` window, and is collected once. Signatures and hosts get small integer
//! indexes; one pass over the rows sorted by (host, time) runs the host state machine
//! (`hoststate`); everything else is polars group-bys on integer keys (`clusters`, `hosts`,
//! `drivers`). Filters (`--site`, `--where`, `--cluster`, `--driver`) narrow what is counted,
//! but a host's state always comes from all its crashes in the window.

pub mod analysis;
pub mod clusters;
pub mod drivers;
pub mod exemplar;
pub mod exposure;
mod heartbeat_states;
pub mod hosts;
pub mod hoststate;
pub mod period;
mod prepare;
pub mod resolve;
pub mod scoring;
pub mod similarity;
pub mod window;

use polars::prelude::PolarsError;

pub use analysis::Analysis;
pub use clusters::{
    cluster_assignments, clusters, ClusterLevel, ClusterNode, ClusterOptions, ClusterTable, Onset,
    RelatedSignature,
};
pub use drivers::{drivers, DriverCatalog, DriverOptions, DriverRow, DriverTable, DriverVersion};
pub use exemplar::{Exemplar, ExemplarFrame};
pub use hosts::{hosts, HostOptions, HostRow, HostTable};
pub use hoststate::{HostState, HostStateParams};
pub use period::{report_end_ms, CrashFree, ReportPeriods};
pub use resolve::resolve_scope;
pub use scoring::{bcubed, BCubed};
pub use similarity::SimilarityParams;
pub use window::Window;

/// Why an analysis could not run.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    #[error("query failed: {0}")]
    Polars(#[from] PolarsError),
    #[error("{0}")]
    BadArgument(String),
    #[error(transparent)]
    BadCriticalRule(#[from] crate::fleet::critical::BadCriticalRule),
    #[error("the crash table has no column '{column}' (is this a blastradius crash store?)")]
    MissingColumn { column: String },
    #[error(
        "filter on inventory column '{column}' needs an inventory with that column; {available}"
    )]
    UnknownInventoryColumn { column: String, available: String },
}

/// What to count: the time window and the filters every analytics command accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pub window: Window,
    /// `column = value` conditions on inventory columns (`--site fra1` is `("site", "fra1")`,
    /// `--where ring=canary` is `("ring", "canary")`); all must hold. Values compare ignoring
    /// case (`resolve::resolve_scope` checks them against the inventory first).
    pub inventory_filters: Vec<(String, String)>,
    /// A cluster: its id at any level, a driver-level key (`csagent.sys`, `POWER_BUTTON_HOLD`),
    /// an exact bucket id or an exact signature.
    pub cluster: Option<String>,
    /// A blamed driver, lower-case base name (`csagent.sys`); matched case-insensitively.
    pub driver: Option<String>,
    /// Every host's heartbeats (`scan --heartbeats`, inventory `last_seen`): not a filter but
    /// the evidence host states rest on when present (issue 15). `None`/empty = crash silence.
    pub heartbeats: Option<std::sync::Arc<crate::fleet::heartbeats::Heartbeats>>,
}

/// Parses `column=value` (the `--where` syntax).
pub fn parse_where(text: &str) -> Result<(String, String), AnalyticsError> {
    match text.split_once('=') {
        Some((column, value)) if !column.trim().is_empty() => {
            Ok((column.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(AnalyticsError::BadArgument(format!(
            "--where '{text}': expected column=value, e.g. --where ring=canary"
        ))),
    }
}

/// Phase timings on stderr when `BLASTRADIUS_PROFILE` is set (for the benchmark notes).
pub(crate) struct Phase {
    name: &'static str,
    started: std::time::Instant,
}

impl Phase {
    pub(crate) fn start(name: &'static str) -> Phase {
        Phase {
            name,
            started: std::time::Instant::now(),
        }
    }
}

impl Phase {
    /// Reports this phase and starts the next one.
    pub(crate) fn next(&mut self, name: &'static str) {
        self.report();
        self.name = name;
        self.started = std::time::Instant::now();
    }

    fn report(&self) {
        if std::env::var_os("BLASTRADIUS_PROFILE").is_some() {
            eprintln!(
                "profile: {:<28} {:>8.1} ms",
                self.name,
                self.started.elapsed().as_secs_f64() * 1000.0
            );
        }
    }
}

impl Drop for Phase {
    fn drop(&mut self) {
        self.report();
    }
}
