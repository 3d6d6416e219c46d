//! blastradius: read Windows crash dumps (kernel small-memory dumps and user-mode minidumps),
//! symbolize them, cluster them by faulting driver and signature, and measure how far each
//! problem reaches across a fleet.
//!
//! Data flows one way, and nothing downstream is imported upstream:
//! `dump` -> `symbols` / `stack` -> `triage` -> `fleet` -> `report`.
//! `pipeline` ties the first three together for one file; `commands` are the CLI's verbs as
//! library functions, so `main.rs` only parses arguments and dispatches.

pub mod civil_date;
pub mod commands;
pub mod dump;
pub mod fleet;
pub mod pipeline;
pub mod record;
pub mod report;
pub mod simulate;
pub mod stack;
pub mod symbols;
pub mod triage;
pub mod tui;

pub use record::CrashReport;
