//! The one integration-test binary (every test binary that links polars is slow to link).

mod common;

mod analytics;
mod bugcheck;
mod cli;
mod gate;
mod fault_context;
mod heartbeat;
mod hostile;
mod independent_writer;
mod inspect_snapshots;
mod inspect_cli;
mod kernel_samples;
mod minidump_peers;
mod minidump_samples;
mod report;
mod minidump_symbol_files;
mod scan;
mod simulate;
mod simulate_layout;
mod stack;
mod symbols;
mod triage_rules;
mod trust;
mod tui;
