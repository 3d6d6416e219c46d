//! Output: text for people (terminal-safe), JSON and CSV for programs, and the fleet report
//! (`fleet_report` figures, rendered by `fleet_html` / `fleet_markdown` with `charts`).

pub mod charts;
pub mod cluster_detail;
pub mod cluster_table;
pub mod csv;
pub mod driver_table;
pub mod fleet_cells;
pub mod fleet_html;
pub mod fleet_markdown;
pub mod fleet_report;
pub mod host_table;
pub mod inspect_text;
pub mod sanitize;
pub mod table;
