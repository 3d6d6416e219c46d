//! The CLI's verbs as library functions. Each module has a `clap::Args` struct and a `run`
//! that returns the process exit code: 0 ok, 1 a "bad" verdict where that is the command's
//! job, 2 usage or fatal errors (returned as `Err`, mapped to 2 by `main`).

pub mod clusters;
pub mod drivers;
pub mod exit;
pub mod exposure;
pub mod fail_if;
pub mod gate;
pub mod help;
pub mod hosts;
pub mod inspect;
pub mod limits;
pub mod report;
pub mod reprocess;
pub mod scan;
pub mod scope_args;
pub mod shell;
pub mod simulate;
pub mod store;
pub mod tui;
