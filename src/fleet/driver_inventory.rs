//! The fleet's driver inventory: which host has which driver installed, how it starts, its
//! version (issue 15). The denominator of exposure: a driver that never crashed anyone is still
//! on every host that runs it. `scan --driver-inventory FILE` reads CSV or Parquet with
//! `host, driver` and optional `path, start_mode, state, version`, or the column names of
//! `driverquery /v /fo csv` (`Module Name`, `Start Mode`, `State`, `Path`) and of
//! `Win32_SystemDriver` exports (`SystemName`/`PSComputerName`, `Name`, `PathName`,
//! `StartMode`, `State`), and saves it in the store as `driver_inventory.parquet`.

use std::path::{Path, PathBuf};

use polars::prelude::*;

use super::inventory::{find_column, read_text_table, HOST_COLUMN_NAMES};
use super::store::module_key;

/// Stored column names.
pub const COLUMNS: [&str; 6] = ["host", "driver", "path", "start_mode", "state", "version"];

/// Accepted names per stored column (compared ignoring case, spaces and underscores).
const ALIASES: [(&str, &[&str]); 6] = [
    ("host", HOST_COLUMN_NAMES),
    ("driver", &["driver", "modulename", "name", "drivername"]),
    ("path", &["path", "pathname", "imagepath"]),
    ("start_mode", &["startmode", "starttype", "start"]),
    ("state", &["state", "status"]),
    ("version", &["version", "fileversion", "driverversion"]),
];

/// Why a driver inventory could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DriverInventoryError {
    #[error("{path}: cannot read the driver inventory: {problem}")]
    Read { path: PathBuf, problem: String },
    #[error("{path}: line 1: the driver inventory has no '{column}' column (accepted: {accepted:?}; columns: {found:?})")]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        accepted: &'static [&'static str],
        found: Vec<String>,
    },
}

/// The driver key the crash store uses (`blame_module_lc`): the lower-case base file name of
/// the path when known (`C:\Windows\System32\drivers\CSAgent.sys` -> `csagent.sys`), else
/// the name, with `.sys` added when it has no extension (driverquery lists `CSAgent`).
pub fn driver_key(name: &str, path: Option<&str>) -> String {
    let from_path = path
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .and_then(|p| p.rsplit(['\\', '/']).next())
        .filter(|b| !b.is_empty());
    match from_path {
        Some(base) => module_key(base),
        None => {
            let key = module_key(name.trim());
            if key.is_empty() || key.contains('.') {
                key
            } else {
                format!("{key}.sys")
            }
        }
    }
}

/// A driver inventory read: rows with the [`COLUMNS`] (all str) and notes (ignored columns).
#[derive(Debug)]
pub struct DriverInventoryFile {
    pub rows: DataFrame,
    pub notes: Vec<String>,
}

/// Reads a driver inventory; rows without a host or driver are dropped with a note.
pub fn read_driver_inventory(path: &Path) -> Result<DriverInventoryFile, DriverInventoryError> {
    let read = |problem: String| DriverInventoryError::Read {
        path: path.to_path_buf(),
        problem,
    };
    let df = read_text_table(path).map_err(|e| read(e.to_string()))?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let mut chosen: Vec<Option<String>> = Vec::with_capacity(COLUMNS.len());
    for (column, accepted) in ALIASES {
        // Earlier aliases win (`Module Name` over `Name` when both exist).
        let found = find_column(&names, accepted);
        if found.is_none() && (column == "host" || column == "driver") {
            return Err(DriverInventoryError::MissingColumn {
                path: path.to_path_buf(),
                column,
                accepted,
                found: names.clone(),
            });
        }
        chosen.push(found);
    }
    let mut notes = Vec::new();
    let ignored: Vec<&String> = names
        .iter()
        .filter(|n| !chosen.iter().flatten().any(|c| c == *n))
        .collect();
    if !ignored.is_empty() {
        notes.push(format!("{}: ignored columns {:?}", path.display(), ignored));
    }
    let text = |i: usize| -> Result<Option<Vec<Option<String>>>, DriverInventoryError> {
        let Some(name) = &chosen[i] else {
            return Ok(None);
        };
        let c = df
            .column(name)
            .and_then(|c| c.cast(&DataType::String))
            .map_err(|e| read(e.to_string()))?;
        let s = c.str().map_err(|e| read(e.to_string()))?;
        Ok(Some(
            s.iter()
                .map(|v| {
                    v.map(str::trim)
                        .filter(|v| !v.is_empty())
                        .map(str::to_string)
                })
                .collect(),
        ))
    };
    let height = df.height();
    // The cells are moved into the output columns, not copied: a fleet's driver inventory
    // is hosts x ~200 rows.
    let column = |i: usize| -> Result<Vec<Option<String>>, DriverInventoryError> {
        Ok(text(i)?.unwrap_or_else(|| vec![None; height]))
    };
    let (hosts, drivers, mut paths, mut modes, mut states, mut versions) = (
        column(0)?,
        column(1)?,
        column(2)?,
        column(3)?,
        column(4)?,
        column(5)?,
    );
    let mut out: [Vec<Option<String>>; 6] = Default::default();
    let mut dropped = 0usize;
    for (i, (host, driver)) in hosts.into_iter().zip(drivers).enumerate() {
        let (Some(host), Some(driver)) = (host, driver) else {
            dropped += 1;
            continue;
        };
        let path_value = paths.get_mut(i).and_then(Option::take);
        out[1].push(Some(driver_key(&driver, path_value.as_deref())));
        out[0].push(Some(host));
        out[2].push(path_value);
        out[3].push(modes.get_mut(i).and_then(Option::take));
        out[4].push(states.get_mut(i).and_then(Option::take));
        out[5].push(versions.get_mut(i).and_then(Option::take));
    }
    if dropped > 0 {
        notes.push(format!(
            "{}: {dropped} row(s) without a host or driver skipped",
            path.display()
        ));
    }
    let columns: Vec<Column> = COLUMNS
        .iter()
        .zip(out)
        .map(|(name, values)| Column::new((*name).into(), values))
        .collect();
    let rows = DataFrame::new(height - dropped, columns).map_err(|e| read(e.to_string()))?;
    Ok(DriverInventoryFile { rows, notes })
}

/// Whether a start mode loads the driver at boot (Boot or System start: a crash in it
/// stops the host before anyone can log on, the boot-loop case).
pub fn starts_at_boot(start_mode: &str) -> bool {
    let m = start_mode.trim().to_ascii_lowercase();
    matches!(m.as_str(), "boot" | "system" | "0" | "1")
        || m.starts_with("boot")
        || m.starts_with("system")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driverquery_and_cim_columns_are_understood() {
        assert_eq!(
            driver_key("CSAgent", Some(r"C:\Windows\system32\drivers\CSAgent.sys")),
            "csagent.sys"
        );
        assert_eq!(driver_key("CSAgent", None), "csagent.sys");
        assert_eq!(driver_key("acmenet.sys", None), "acmenet.sys");
        assert!(starts_at_boot("System") && starts_at_boot("Boot") && !starts_at_boot("Manual"));
        let dir = std::env::temp_dir().join(format!("br-di-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("dq.csv");
        std::fs::write(
            &path,
            "\"Host\",\"Module Name\",\"Display Name\",\"Start Mode\",\"State\",\"Path\"\n\"WS-1\",\"CSAgent\",\"CrowdStrike Falcon\",\"System\",\"Running\",\"C:\\Windows\\system32\\drivers\\CSAgent.sys\"\n",
        )
        .unwrap();
        let file = read_driver_inventory(&path).unwrap();
        assert_eq!(file.rows.height(), 1);
        let driver = file.rows.column("driver").unwrap().str().unwrap().get(0);
        assert_eq!(driver, Some("csagent.sys"));
        assert!(file.notes.iter().any(|n| n.contains("Display Name")));
        std::fs::write(
            &path,
            "SystemName,Name,PathName,StartMode\nWS-2,disk,,Boot\n",
        )
        .unwrap();
        let file = read_driver_inventory(&path).unwrap();
        let mode = file
            .rows
            .column("start_mode")
            .unwrap()
            .str()
            .unwrap()
            .get(0);
        assert_eq!(mode, Some("Boot"));
        std::fs::write(&path, "host,version\nWS-2,1\n").unwrap();
        let err = read_driver_inventory(&path).unwrap_err().to_string();
        assert!(err.contains("no 'driver' column"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
