//! Heartbeats: a sign of life per host (an agent check-in, a management heartbeat), the only
//! thing that tells a host that came back from one stuck at a recovery prompt, since both stop
//! writing dumps (issue 15). `scan --heartbeats FILE` reads CSV or Parquet with columns
//! `host, seen_at` (RFC 3339) and appends them to the store's `heartbeats/` table; readers
//! deduplicate. The inventory's `last_seen` column counts as one heartbeat per host.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::DateTime;
use polars::prelude::*;

use super::inventory::{find_column, read_text_table, TextTableError, HOST_COLUMN_NAMES};

/// The column names of the stored table.
pub const HOST: &str = "host";
pub const SEEN_AT_MS: &str = "seen_at_ms";

/// Why a heartbeat file could not be used at all (bad rows are notes, not errors).
#[derive(Debug, thiserror::Error)]
pub enum HeartbeatError {
    #[error("{path}: cannot read the heartbeats: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
    #[error("{path}: cannot open the heartbeats: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line 1: the heartbeats have no '{column}' column (columns: {found:?})")]
    MissingColumn {
        path: PathBuf,
        column: &'static str,
        found: Vec<String>,
    },
}

/// A heartbeat file read: the rows (`host`, `seen_at_ms`) and what was odd, one line each.
#[derive(Debug)]
pub struct HeartbeatFile {
    pub rows: DataFrame,
    pub notes: Vec<String>,
}

/// Notes listed per kind before the rest is only counted.
const NOTES_LISTED: usize = 5;

/// Parses an RFC 3339 time to ms since the epoch, UTC. chrono's RFC 3339 parser already
/// takes a space (or `t`) for the `T`, as exports from management tools often write it.
pub fn parse_time_ms(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Reads `host, seen_at` rows. Unknown columns are ignored with a note; rows whose time does
/// not parse are skipped with a note naming file, line and column.
pub fn read_heartbeats(path: &Path) -> Result<HeartbeatFile, HeartbeatError> {
    let df = read_text_table(path).map_err(|e| match e {
        TextTableError::Open(source) => HeartbeatError::Open {
            path: path.to_path_buf(),
            source,
        },
        TextTableError::Read(source) => HeartbeatError::Read {
            path: path.to_path_buf(),
            source,
        },
    })?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let find = |accepted: &[&str]| find_column(&names, accepted);
    let missing = |column| HeartbeatError::MissingColumn {
        path: path.to_path_buf(),
        column,
        found: names.clone(),
    };
    let host_col = find(HOST_COLUMN_NAMES).ok_or_else(|| missing("host"))?;
    let seen_col = find(&["seenat", "lastseen", "timestamp"]).ok_or_else(|| missing("seen_at"))?;
    let mut notes = Vec::new();
    let unknown: Vec<&String> = names
        .iter()
        .filter(|n| **n != host_col && **n != seen_col)
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "{}: ignored unknown columns {:?}",
            path.display(),
            unknown
        ));
    }
    let read = |source| HeartbeatError::Read {
        path: path.to_path_buf(),
        source,
    };
    let hosts = df
        .column(&host_col)
        .map_err(read)?
        .cast(&DataType::String)
        .map_err(read)?;
    let hosts = hosts.str().map_err(read)?;
    let seen = df.column(&seen_col).map_err(read)?;
    // A Parquet file may hold a real datetime column; CSV gives text.
    let seen_ms: Vec<Option<i64>> = match seen.dtype() {
        DataType::Datetime(unit, _) => {
            let div = match unit {
                TimeUnit::Nanoseconds => 1_000_000,
                TimeUnit::Microseconds => 1_000,
                TimeUnit::Milliseconds => 1,
            };
            seen.cast(&DataType::Int64)
                .map_err(read)?
                .i64()
                .map_err(read)?
                .iter()
                .map(|v| v.map(|v| v / div))
                .collect()
        }
        _ => {
            let text = seen.cast(&DataType::String).map_err(read)?;
            let text = text.str().map_err(read)?;
            let mut bad = 0usize;
            let parsed = text
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    let ms = t.and_then(parse_time_ms);
                    if ms.is_none() {
                        bad += 1;
                        if bad <= NOTES_LISTED {
                            notes.push(format!(
                                "{}: line {}, column '{}': not an RFC 3339 time: {:?} (row skipped)",
                                path.display(),
                                i.saturating_add(2),
                                seen_col,
                                t.unwrap_or("").chars().take(40).collect::<String>()
                            ));
                        }
                    }
                    ms
                })
                .collect();
            if bad > NOTES_LISTED {
                notes.push(format!(
                    "{}: {} more rows with an unparseable '{}' skipped",
                    path.display(),
                    bad - NOTES_LISTED,
                    seen_col
                ));
            }
            parsed
        }
    };
    let mut out_hosts: Vec<String> = Vec::with_capacity(seen_ms.len());
    let mut out_ms: Vec<i64> = Vec::with_capacity(seen_ms.len());
    for (host, ms) in hosts.iter().zip(seen_ms) {
        let (Some(host), Some(ms)) = (host.map(str::trim), ms) else {
            continue;
        };
        if host.is_empty() {
            continue;
        }
        out_hosts.push(host.to_string());
        out_ms.push(ms);
    }
    let rows = frame(out_hosts, out_ms).map_err(read)?;
    Ok(HeartbeatFile { rows, notes })
}

/// The stored table's frame.
pub fn frame(hosts: Vec<String>, seen_ms: Vec<i64>) -> PolarsResult<DataFrame> {
    let height = hosts.len();
    DataFrame::new(
        height,
        vec![
            Column::new(HOST.into(), hosts),
            Column::new(SEEN_AT_MS.into(), seen_ms),
        ],
    )
}

/// Hosts of heartbeat `rows` that no inventory row names (compared ignoring case), sorted.
pub fn hosts_absent_from(rows: &DataFrame, inventory: &DataFrame) -> PolarsResult<Vec<String>> {
    let known: std::collections::HashSet<String> = inventory
        .column(HOST)?
        .cast(&DataType::String)?
        .str()?
        .iter()
        .flatten()
        .map(str::to_lowercase)
        .collect();
    let mut absent: Vec<String> = rows
        .column(HOST)?
        .str()?
        .iter()
        .flatten()
        .filter(|h| !known.contains(&h.to_lowercase()))
        .map(str::to_string)
        .collect();
    absent.sort();
    absent.dedup();
    Ok(absent)
}

/// Every host's heartbeat times, sorted and deduplicated, keyed by lower-case host name (the
/// same host is `WS-01` in one tool and `ws-01` in another).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Heartbeats {
    by_host: HashMap<String, Vec<i64>>,
}

impl Heartbeats {
    /// From the stored rows plus the inventory's `last_seen` values (if the column exists).
    pub fn build(rows: &DataFrame, inventory: Option<&DataFrame>) -> PolarsResult<Heartbeats> {
        let mut by_host: HashMap<String, Vec<i64>> = HashMap::new();
        if rows.height() > 0 {
            let hosts = rows.column(HOST)?.str()?;
            let seen = rows.column(SEEN_AT_MS)?.i64()?;
            for (h, t) in hosts.iter().zip(seen.iter()) {
                if let (Some(h), Some(t)) = (h, t) {
                    by_host.entry(h.to_lowercase()).or_default().push(t);
                }
            }
        }
        if let Some(inv) = inventory {
            let names: Vec<String> = inv
                .get_column_names()
                .iter()
                .map(|n| n.to_string())
                .collect();
            let last_seen = find_column(&names, &["lastseen"]);
            if let (Some(last_seen), Ok(hosts)) = (last_seen, inv.column(HOST)) {
                let hosts = hosts.cast(&DataType::String)?;
                let seen = inv.column(&last_seen)?.cast(&DataType::String)?;
                for (h, t) in hosts.str()?.iter().zip(seen.str()?.iter()) {
                    if let (Some(h), Some(t)) = (h, t.and_then(parse_time_ms)) {
                        by_host.entry(h.to_lowercase()).or_default().push(t);
                    }
                }
            }
        }
        for times in by_host.values_mut() {
            times.sort_unstable();
            times.dedup();
        }
        Ok(Heartbeats { by_host })
    }

    pub fn is_empty(&self) -> bool {
        self.by_host.is_empty()
    }

    /// Hosts with at least one heartbeat.
    pub fn hosts(&self) -> usize {
        self.by_host.len()
    }

    /// The host's latest heartbeat at or before `until` (`None`: no heartbeat up to then, or
    /// none at all — see [`Heartbeats::has_host`]).
    pub fn latest(&self, host: &str, until: Option<i64>) -> Option<i64> {
        let times = self.by_host.get(&host.to_lowercase())?;
        match until {
            None => times.last().copied(),
            Some(until) => {
                let k = times.partition_point(|t| *t <= until);
                k.checked_sub(1).and_then(|k| times.get(k).copied())
            }
        }
    }

    /// Whether the host has any heartbeat: its state then rests on heartbeats.
    pub fn has_host(&self, host: &str) -> bool {
        self.by_host.contains_key(&host.to_lowercase())
    }

    /// The latest heartbeat of the whole fleet at or before `until`.
    pub fn latest_any(&self, until: Option<i64>) -> Option<i64> {
        self.by_host
            .keys()
            .filter_map(|h| self.latest(h, until))
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_columns_go_by_the_names_the_driver_inventory_accepts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkins.csv");
        std::fs::write(
            &path,
            "PSComputerName,Last Seen\nHOST-1,2024-07-19T05:00:00Z\n",
        )
        .unwrap();
        let file = read_heartbeats(&path).unwrap();
        assert_eq!(file.rows.height(), 1);
        assert_eq!(
            file.rows.column(HOST).unwrap().str().unwrap().get(0),
            Some("HOST-1")
        );
        assert_eq!(
            file.rows.column(SEEN_AT_MS).unwrap().i64().unwrap().get(0),
            Some(1_721_365_200_000)
        );
    }

    #[test]
    fn times_take_a_t_or_a_space_and_need_an_offset() {
        let t = 1_721_365_200_000; // 2024-07-19T05:00:00Z
        assert_eq!(parse_time_ms("2024-07-19T05:00:00Z"), Some(t));
        assert_eq!(parse_time_ms(" 2024-07-19 05:00:00+00:00 "), Some(t));
        assert_eq!(parse_time_ms("2024-07-19 07:00:00+02:00"), Some(t));
        assert_eq!(parse_time_ms("2024-07-19 05:00:00"), None);
    }

    #[test]
    fn bad_times_are_noted_with_line_and_column_and_unknown_columns_ignored() {
        let dir = std::env::temp_dir().join(format!("br-hb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("hb.csv");
        std::fs::write(
            &path,
            "Host,seen_at,agent\nws-1,2024-07-19T05:00:00Z,x\nws-2,yesterday,y\nWS-1,2024-07-19T06:00:00+00:00,z\n",
        )
        .unwrap();
        let file = read_heartbeats(&path).unwrap();
        assert_eq!(file.rows.height(), 2);
        assert!(file.notes.iter().any(|n| n.contains("agent")));
        assert!(file
            .notes
            .iter()
            .any(|n| n.contains("line 3, column 'seen_at'") && n.contains("yesterday")));
        let beats = Heartbeats::build(&file.rows, None).unwrap();
        assert_eq!(beats.latest("ws-1", None), Some(1_721_368_800_000));
        assert_eq!(
            beats.latest("ws-1", Some(1_721_368_799_999)),
            Some(1_721_365_200_000)
        );
        assert!(!beats.has_host("ws-2"));
        std::fs::write(&path, "host,when\nws-1,2024-07-19T05:00:00Z\n").unwrap();
        let err = read_heartbeats(&path).unwrap_err().to_string();
        assert!(err.contains("no 'seen_at' column"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
