//! The one integration-test binary (every test binary that links polars is slow to link).

mod common;

mod analytics;
mod bugcheck;
mod independent_writer;
mod kernel_samples;
mod hostile;
mod inspect_cli;
mod minidump_samples;
mod scan;
mod simulate;
mod stack;
mod symbols;
mod triage_rules;
