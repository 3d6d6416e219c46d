//! The inventory (a CMDB export): one row per host with site, role, ring, OS, criticality and
//! any other column. Read from CSV or Parquet, every column kept as text (a ring called `01`
//! or a host called `0042` must not become a number), with a `host` column the store joins on.
//! `scan --inventory FILE` saves it in the store as `inventory.parquet`.

use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

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
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let df = if is_parquet {
        let file = File::open(path).map_err(|source| InventoryError::Open {
            path: path.to_path_buf(),
            source,
        })?;
        ParquetReader::new(file).finish().map_err(read)?
    } else {
        CsvReadOptions::default()
            .with_infer_schema_length(Some(0))
            .try_into_reader_with_file_path(Some(path.to_path_buf()))
            .and_then(|r| r.finish())
            .map_err(read)?
    };
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

#[cfg(test)]
mod tests {
    use super::*;

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
