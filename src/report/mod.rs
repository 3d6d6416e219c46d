//! Output: text for people (terminal-safe), JSON and CSV for programs.

pub mod csv;
pub mod inspect_text;
pub mod sanitize;
pub mod table;
