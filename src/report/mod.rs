//! Output: text for people (terminal-safe), JSON and CSV for programs.

pub mod cluster_table;
pub mod csv;
pub mod driver_table;
pub mod host_table;
pub mod inspect_text;
pub mod sanitize;
pub mod table;
