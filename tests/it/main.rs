//! The one integration-test binary (every test binary that links polars is slow to link).

mod common;

mod analytics;
mod bugcheck;
mod cli;
mod fault_context;
mod gate;
mod heartbeat;
mod hostile;
mod independent_writer;
mod inspect_cli;
mod inspect_snapshots;
mod kernel_samples;
mod minidump_peers;
mod minidump_samples;
mod minidump_symbol_files;
mod record_schema;
mod report;
mod scan;
mod scan_equivalence;
mod simulate;
mod simulate_layout;
mod stack;
mod symbols;
mod triage_rules;
mod trust;
mod tui;
