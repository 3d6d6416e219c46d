//! `blastradius tui`: the incident responder's console (ratatui + crossterm).
//!
//! - [`app`]: the state (tab, selection, filters, sorts, the detail being read);
//! - [`update`]: events (keys, mouse, worker messages) -> state;
//! - [`view`]: state -> widgets;
//! - [`snapshot`]: the prepared figures the views read, from one `fleet::analytics::Analysis`
//!   (never raw Parquet, never a dump);
//! - [`watch`]: the worker thread that builds snapshots and, with `--watch`, scans new dumps
//!   into the store;
//! - [`terminal`]: entering and always leaving raw mode / the alternate screen (also on panic).

pub mod app;
pub mod export;
pub mod snapshot;
pub mod terminal;
pub mod trend;
pub mod update;
pub mod view;
pub mod watch;

pub use app::{App, Tab};
pub use snapshot::{LoadOptions, Snapshot};

/// Why the console could not read its data.
#[derive(Debug, thiserror::Error)]
pub enum TuiError {
    #[error(transparent)]
    Store(#[from] crate::fleet::store::StoreError),
    #[error(transparent)]
    Analytics(#[from] crate::fleet::analytics::AnalyticsError),
}
