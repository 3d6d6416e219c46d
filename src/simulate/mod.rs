//! A fleet and incident generator that writes real-format dumps with known truth (used by
//! tests, benchmarks and demos).
//!
//! - `kernel_writer`: Windows kernel small-memory (triage) dumps from a `TriageDumpSpec`.

pub mod kernel_writer;

pub use kernel_writer::{write_triage_dump, SimDriver, SimUnloaded, TriageDumpSpec};
