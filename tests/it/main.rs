//! The one integration-test binary (every test binary that links polars is slow to link).

mod common;

mod analytics;
mod bugcheck;
mod hostile;
mod independent_writer;
mod inspect_cli;
mod kernel_samples;
mod minidump_samples;
mod scan;
mod simulate;
mod stack;
mod symbols;
mod triage_rules;
mod tui;
