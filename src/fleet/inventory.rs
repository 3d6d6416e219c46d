//! The inventory (a CMDB export): one row per host with site, role, ring, OS, criticality and
//! any other column. Read from CSV or Parquet, every column kept as text (a ring called `01`
//! or a host called `0042` must not become a number), with a `host` column the store joins on.
//! `scan --inventory FILE` saves it in the store as `inventory.parquet`.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

/// Why a text table (an inventory, heartbeats, a driver inventory) could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TextTableError {
    #[error("cannot open it: {0}")]
    Open(#[source] std::io::Error),
    #[error("{0}")]
    Read(#[source] PolarsError),
}

/// Reads an untrusted text table: Parquet when the file name ends in `.parquet`, else CSV
/// with every column read as text (a ring `01` or a host `0042` must not become a number).
pub fn read_text_table(path: &Path) -> Result<DataFrame, TextTableError> {
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if is_parquet {
        let file = File::open(path).map_err(TextTableError::Open)?;
        ParquetReader::new(file)
            .finish()
            .map_err(TextTableError::Read)
    } else {
        CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .map_err(TextTableError::Read)
    }
}

/// Names a host column goes by in the exports management tools write (`driverquery`,
/// `Win32_SystemDriver`, agents' check-in lists), compared by [`column_key`].
pub const HOST_COLUMN_NAMES: &[&str] = &[
    "host",
    "hostname",
    "computer",
    "computername",
    "systemname",
    "pscomputername",
];

/// A column name as compared with accepted names: lower case, without spaces, `_` or `-`
/// (`Module Name`, `module_name` and `ModuleName` are one name).
pub fn column_key(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace() && *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

/// The first of `names` (in the order of `accepted`: earlier names win) whose key is one of
/// `accepted`.
pub fn find_column(names: &[String], accepted: &[&str]) -> Option<String> {
    accepted
        .iter()
        .find_map(|a| names.iter().find(|n| column_key(n) == *a).cloned())
}

/// Why an inventory file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{path}: cannot read the inventory: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
    #[error("{path}: cannot open the inventory: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the inventory has no 'host' column (columns: {found:?})")]
    NoHostColumn { path: PathBuf, found: Vec<String> },
}

/// Reads an inventory: Parquet when the file name ends in `.parquet`, CSV otherwise. The host
/// column (matched case-insensitively) is renamed `host` and moved first; every column is str;
/// rows without a host are dropped.
pub fn read_inventory(path: &Path) -> Result<DataFrame, InventoryError> {
    let read = |source| InventoryError::Read {
        path: path.to_path_buf(),
        source,
    };
    let df = read_text_table(path).map_err(|e| match e {
        TextTableError::Open(source) => InventoryError::Open {
            path: path.to_path_buf(),
            source,
        },
        TextTableError::Read(source) => read(source),
    })?;
    let names: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let Some(host) = names
        .iter()
        .find(|n| n.trim().eq_ignore_ascii_case("host"))
        .cloned()
    else {
        return Err(InventoryError::NoHostColumn {
            path: path.to_path_buf(),
            found: names,
        });
    };
    let mut columns = Vec::with_capacity(names.len());
    columns.push(
        col(host.as_str())
            .cast(DataType::String)
            .str()
            .strip_chars(lit(NULL))
            .alias("host"),
    );
    for name in names.iter().filter(|n| **n != host) {
        columns.push(col(name.as_str()).cast(DataType::String));
    }
    df.lazy()
        .select(columns)
        .filter(col("host").is_not_null().and(col("host").neq(lit(""))))
        .collect()
        .map_err(read)
}

/// Crash hosts listed by name in a scan summary when they match no inventory row.
pub const UNMATCHED_LISTED: usize = 10;

/// How the hosts with crashes matched the inventory (see [`align_inventory`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct InventoryMatch {
    /// Distinct hosts with crashes in the store.
    pub crash_hosts: u64,
    /// Of those, how many an inventory row names (by any rule).
    pub matched: u64,
    /// Of the matched, how many only case-insensitively or by short name.
    pub matched_loosely: u64,
    /// Crash hosts no inventory row names.
    pub unmatched: u64,
    /// The first `UNMATCHED_LISTED` of them, sorted.
    pub unmatched_hosts: Vec<String>,
}

impl InventoryMatch {
    /// A loud warning when fewer than half the crash hosts match (`None` otherwise).
    pub fn warning(&self) -> Option<String> {
        if self.crash_hosts == 0 || self.matched.saturating_mul(2) >= self.crash_hosts {
            return None;
        }
        let share = if self.matched == 0 {
            "fleet shares are not computed".to_string()
        } else {
            "fleet shares count only the matched hosts".to_string()
        };
        Some(format!(
            "only {} of {} hosts with crashes match the inventory ({share}); unmatched: {}{}",
            self.matched,
            self.crash_hosts,
            self.unmatched_hosts.join(", "),
            if self.unmatched as usize > self.unmatched_hosts.len() {
                ", ..."
            } else {
                ""
            }
        ))
    }
}

/// The short name of an FQDN (`sao-pos-0001.corp.example` -> `sao-pos-0001`), lower case;
/// `None` for a name without a dot and for IP addresses.
fn short_name(name: &str) -> Option<String> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return None;
    }
    let (short, _) = name.split_once('.')?;
    (!short.is_empty()).then(|| short.to_lowercase())
}

/// Rewrites the inventory's `host` column to the names the crash store uses, so every later
/// join is exact. An inventory row names a crash host when, in this order: the names are
/// equal; equal ignoring case; or, when either is an FQDN, their short names (the part before
/// the first dot) are equal ignoring case. A loose rule applies only when it names exactly one
/// crash host (`web1.a` and `web1.b` in the store leave an inventory row `web1` unmatched).
/// Rows that name no crash host keep their name: they still count in the fleet size.
pub fn align_inventory(
    inventory: &DataFrame,
    crash_hosts: &[String],
) -> PolarsResult<(DataFrame, InventoryMatch)> {
    use std::collections::{HashMap, HashSet};
    let exact: HashSet<&str> = crash_hosts.iter().map(String::as_str).collect();
    // Loose key -> the one crash host with it (None when several share it).
    let mut by_lower: HashMap<String, Option<&str>> = HashMap::new();
    let mut by_short: HashMap<String, Option<&str>> = HashMap::new();
    for host in crash_hosts {
        by_lower
            .entry(host.to_lowercase())
            .and_modify(|v| *v = None)
            .or_insert(Some(host));
        let short = short_name(host).unwrap_or_else(|| host.to_lowercase());
        by_short
            .entry(short)
            .and_modify(|v| *v = None)
            .or_insert(Some(host));
    }
    let names = inventory.column("host")?.cast(&DataType::String)?;
    let names = names.str()?;
    let mut matched: HashSet<&str> = HashSet::new();
    let mut loose: HashSet<&str> = HashSet::new();
    let aligned: Vec<Option<String>> = names
        .iter()
        .map(|name| {
            let name = name?;
            if exact.contains(name) {
                matched.insert(exact.get(name).copied().unwrap_or(name));
                return Some(name.to_string());
            }
            let lower = name.to_lowercase();
            let found = by_lower.get(&lower).copied().flatten().or_else(|| {
                let short = short_name(name).unwrap_or(lower);
                by_short.get(&short).copied().flatten().filter(|crash| {
                    // Short names only when one side is an FQDN.
                    name.contains('.') || crash.contains('.')
                })
            });
            match found {
                Some(crash) => {
                    matched.insert(crash);
                    loose.insert(crash);
                    Some(crash.to_string())
                }
                None => Some(name.to_string()),
            }
        })
        .collect();
    let mut unmatched: Vec<&String> = crash_hosts
        .iter()
        .filter(|h| !matched.contains(h.as_str()))
        .collect();
    unmatched.sort();
    let report = InventoryMatch {
        crash_hosts: exact.len() as u64,
        matched: matched.len() as u64,
        matched_loosely: loose.iter().filter(|h| !exact_named(h, names)).count() as u64,
        unmatched: unmatched.len() as u64,
        unmatched_hosts: unmatched
            .into_iter()
            .take(UNMATCHED_LISTED)
            .cloned()
            .collect(),
    };
    let mut out = inventory.clone();
    out.with_column(Column::new("host".into(), aligned))?;
    Ok((out, report))
}

/// Whether some inventory row names `host` exactly.
fn exact_named(host: &str, names: &StringChunked) -> bool {
    names.iter().any(|n| n == Some(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(df: &DataFrame) -> Vec<String> {
        df.column("host")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|h| h.unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn inventory_matches_by_case_and_short_name() {
        let inv = df!(
            "host" => ["sao-pos-0001.corp.example", "LON-WS-0011", "nyc-dc-0015", "web1", "10.0.0.1", "spare-01"],
            "site" => ["SAO", "LON", "NYC", "FRA", "SIN", "SYD"]
        )
        .unwrap();
        let crash: Vec<String> = [
            "SAO-POS-0001",
            "LON-WS-0011",
            "NYC-DC-0015.corp",
            "web1.a",
            "web1.b",
            "10",
            "lost-7",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (aligned, m) = align_inventory(&inv, &crash).unwrap();
        assert_eq!(
            hosts(&aligned),
            [
                "SAO-POS-0001",
                "LON-WS-0011",
                "NYC-DC-0015.corp",
                "web1",
                "10.0.0.1",
                "spare-01"
            ]
        );
        assert_eq!(
            (m.crash_hosts, m.matched, m.matched_loosely, m.unmatched),
            (7, 3, 2, 4)
        );
        assert_eq!(m.unmatched_hosts, ["10", "lost-7", "web1.a", "web1.b"]);
        // 3 of 7 is fewer than half: loud.
        assert!(m.warning().unwrap().contains("only 3 of 7 hosts"));
        let (_, most) = align_inventory(&inv, &crash[..3]).unwrap();
        assert!(most.warning().is_none());
        let (_, none) = align_inventory(&inv, &["x".to_string(), "y".to_string()]).unwrap();
        assert!(none.warning().unwrap().contains("only 0 of 2 hosts"));
    }

    #[test]
    fn csv_inventory_keeps_text_and_normalizes_the_host_column() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("inventory.csv");
        std::fs::write(&csv, "site,Host,ring\nams,0042 ,01\nfra,,02\nnyc,web-7,3\n").unwrap();
        let df = read_inventory(&csv).unwrap();
        let names: Vec<&str> = df.get_column_names().iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["host", "site", "ring"]);
        let hosts: Vec<Option<&str>> = df.column("host").unwrap().str().unwrap().iter().collect();
        assert_eq!(hosts, [Some("0042"), Some("web-7")]);
        let rings: Vec<Option<&str>> = df.column("ring").unwrap().str().unwrap().iter().collect();
        assert_eq!(rings, [Some("01"), Some("3")]);
    }

    #[test]
    fn parquet_inventory_is_cast_to_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.parquet");
        let mut df = df!("host" => ["a", "b"], "criticality" => [1i64, 3]).unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let read = read_inventory(&path).unwrap();
        assert_eq!(
            read.column("criticality").unwrap().dtype(),
            &DataType::String
        );
        let crit: Vec<Option<&str>> = read
            .column("criticality")
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .collect();
        assert_eq!(crit, [Some("1"), Some("3")]);
    }

    #[test]
    fn inventory_without_host_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("inv.csv");
        std::fs::write(&csv, "name,site\na,ams\n").unwrap();
        assert!(matches!(
            read_inventory(&csv),
            Err(InventoryError::NoHostColumn { .. })
        ));
    }
}
