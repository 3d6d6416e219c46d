//! `e`: the dispatch list. Writes hosts as the CSV of `blastradius hosts --format csv`
//! (spreadsheet-safe cells) to a new file and returns where it went.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::fleet::analytics::{HostRow, HostTable};
use crate::report::host_table::write_csv;

/// A file-name-safe form of a cluster key (`csagent.sys`, `POWER_BUTTON_HOLD`): letters,
/// digits, `.`, `_`, `-`; at most 60 characters. Names from dumps never pick a path.
fn file_stem(label: &str) -> String {
    let stem: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(60)
        .collect();
    let stem = stem.trim_start_matches('.');
    if stem.is_empty() {
        "hosts".into()
    } else {
        stem.to_string()
    }
}

/// Writes `hosts` (rows of `table`) to `dir/hosts-<label>-<UTC time>.csv`, never over an
/// existing file.
pub fn export_hosts(
    table: &HostTable,
    hosts: Vec<HostRow>,
    label: &str,
    dir: &Path,
) -> std::io::Result<PathBuf> {
    let subset = HostTable {
        hosts,
        inventory_columns: table.inventory_columns.clone(),
        by_state: Default::default(),
        window_end: table.window_end.clone(),
        data_end: table.data_end.clone(),
        warnings: Vec::new(),
    };
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let stem = format!("hosts-{}-{stamp}", file_stem(label));
    for n in 0..100u32 {
        let name = if n == 0 {
            format!("{stem}.csv")
        } else {
            format!("{stem}-{n}.csv")
        };
        let path = dir.join(name);
        let file = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let mut out = BufWriter::new(file);
        write_csv(&mut out, &subset)?;
        out.flush()?;
        return Ok(path);
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AlreadyExists,
        format!("{stem}*.csv: too many files of that name"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_dumps_cannot_choose_the_path() {
        assert_eq!(file_stem("csagent.sys"), "csagent.sys");
        assert_eq!(file_stem("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_stem("\u{1b}]0;owned\u{7}"), "__0_owned_");
        assert_eq!(file_stem(".."), "hosts");
    }
}
