//! `manifest.json`: the commit point of every write to a crash store.
//!
//! Readers read ONLY the Parquet files listed here; a file in `crashes/` that the manifest does
//! not list is either being written or was left by a killed run, and is deleted by the next
//! writer. The manifest also keeps one quick-check record per file path seen by `scan`, so a
//! re-run recognises an unchanged file from its size and mtime without reading it.
//!
//! Layout (JSON, written atomically with temp file + fsync + rename):
//! ```json
//! { "format": "blastradius-store", "version": 1, "updated_at": "2024-07-19T05:00:00Z",
//!   "crashes": [{"file": "crashes/part-….parquet", "rows": 2000}], "drivers": [...],
//!   "quarantine": [...], "inventory": "inventory.parquet",
//!   "seen": [{"path": "/dumps/host1/a.dmp", "size": 1444532, "mtime_ns": 1721365740000000000,
//!             "dump_id": "…", "quarantined": false}] }
//! ```

use serde::{Deserialize, Serialize};

/// The value of `format` in every manifest this code writes.
pub const MANIFEST_FORMAT: &str = "blastradius-store";
/// The manifest layout version; bumped only for changes old readers would misread.
pub const MANIFEST_VERSION: u32 = 1;

/// The tables of a store that grow by appended Parquet files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Crashes,
    Drivers,
    Quarantine,
    /// `host, seen_at_ms`: signs of life (`scan --heartbeats`, issue 15).
    Heartbeats,
}

impl Table {
    pub const ALL: [Table; 4] = [
        Table::Crashes,
        Table::Drivers,
        Table::Quarantine,
        Table::Heartbeats,
    ];

    /// The folder (relative to the store) holding this table's files.
    pub fn dir_name(self) -> &'static str {
        match self {
            Table::Crashes => "crashes",
            Table::Drivers => "drivers",
            Table::Quarantine => "quarantine",
            Table::Heartbeats => "heartbeats",
        }
    }
}

/// One committed Parquet file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the store folder, with `/` separators (`crashes/part-….parquet`).
    pub file: String,
    pub rows: u64,
}

/// The quick-check record of one scanned file: if a later scan finds the same path with the
/// same size and mtime, the file is taken as unchanged and not even opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenRecord {
    pub path: String,
    pub size: u64,
    /// Modification time in nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Content hash of the file (`dump_id`).
    pub dump_id: String,
    /// True when the content went to the quarantine instead of the crashes table.
    #[serde(default)]
    pub quarantined: bool,
}

/// The whole manifest, as (de)serialized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub updated_at: Option<String>,
    #[serde(default)]
    pub crashes: Vec<FileEntry>,
    #[serde(default)]
    pub drivers: Vec<FileEntry>,
    #[serde(default)]
    pub quarantine: Vec<FileEntry>,
    #[serde(default)]
    pub heartbeats: Vec<FileEntry>,
    /// `inventory.parquet` when an inventory was saved.
    #[serde(default)]
    pub inventory: Option<String>,
    /// `driver_inventory.parquet` when a driver inventory was saved (issue 15).
    #[serde(default)]
    pub driver_inventory: Option<String>,
    /// Sorted by path, so the same store contents always serialize to the same bytes.
    #[serde(default)]
    pub seen: Vec<SeenRecord>,
}

impl Default for Manifest {
    fn default() -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT.to_string(),
            version: MANIFEST_VERSION,
            updated_at: None,
            crashes: Vec::new(),
            drivers: Vec::new(),
            quarantine: Vec::new(),
            heartbeats: Vec::new(),
            inventory: None,
            driver_inventory: None,
            seen: Vec::new(),
        }
    }
}

impl Manifest {
    pub fn files(&self, table: Table) -> &[FileEntry] {
        match table {
            Table::Crashes => &self.crashes,
            Table::Drivers => &self.drivers,
            Table::Quarantine => &self.quarantine,
            Table::Heartbeats => &self.heartbeats,
        }
    }

    pub fn files_mut(&mut self, table: Table) -> &mut Vec<FileEntry> {
        match table {
            Table::Crashes => &mut self.crashes,
            Table::Drivers => &mut self.drivers,
            Table::Quarantine => &mut self.quarantine,
            Table::Heartbeats => &mut self.heartbeats,
        }
    }

    /// Total rows of a table over its committed files.
    pub fn rows(&self, table: Table) -> u64 {
        self.files(table).iter().map(|f| f.rows).sum()
    }

    /// Every file the manifest references, relative to the store folder.
    pub fn referenced_files(&self) -> impl Iterator<Item = &str> {
        Table::ALL
            .into_iter()
            .flat_map(move |t| self.files(t).iter().map(|f| f.file.as_str()))
            .chain(self.inventory.as_deref())
            .chain(self.driver_inventory.as_deref())
    }

    /// Inserts or replaces quick-check records (by path) and keeps `seen` sorted by path.
    pub fn upsert_seen(&mut self, records: impl IntoIterator<Item = SeenRecord>) {
        let before = self.seen.len();
        self.seen.extend(records);
        if self.seen.len() == before {
            return;
        }
        // Stable sort: for equal paths the newer record (appended later) stays after the older
        // one; reversing each run of equals before dedup keeps the newer. No path is cloned.
        self.seen.sort_by(|a, b| a.path.cmp(&b.path));
        let mut start = 0;
        while start < self.seen.len() {
            let mut end = start + 1;
            while end < self.seen.len() && self.seen[end].path == self.seen[start].path {
                end += 1;
            }
            if end - start > 1 {
                self.seen.swap(start, end - 1);
            }
            start = end;
        }
        self.seen
            .dedup_by(|later, earlier| later.path == earlier.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(path: &str, id: &str) -> SeenRecord {
        SeenRecord {
            path: path.into(),
            size: 10,
            mtime_ns: 5,
            dump_id: id.into(),
            quarantined: false,
        }
    }

    #[test]
    fn upsert_replaces_by_path_and_keeps_paths_sorted() {
        let mut m = Manifest::default();
        m.upsert_seen([record("/b", "1"), record("/a", "2")]);
        m.upsert_seen([record("/b", "3")]);
        let got: Vec<(&str, &str)> = m
            .seen
            .iter()
            .map(|r| (r.path.as_str(), r.dump_id.as_str()))
            .collect();
        assert_eq!(got, [("/a", "2"), ("/b", "3")]);
    }

    #[test]
    fn upsert_keeps_the_newest_of_duplicates_in_one_call() {
        let mut m = Manifest::default();
        m.upsert_seen([record("/c", "0"), record("/a", "0")]);
        m.upsert_seen([
            record("/a", "1"),
            record("/b", "1"),
            record("/a", "2"),
            record("/a", "3"),
        ]);
        let got: Vec<(&str, &str)> = m
            .seen
            .iter()
            .map(|r| (r.path.as_str(), r.dump_id.as_str()))
            .collect();
        assert_eq!(got, [("/a", "3"), ("/b", "1"), ("/c", "0")]);
    }

    #[test]
    fn json_round_trip_and_missing_fields_default() {
        let mut m = Manifest::default();
        m.crashes.push(FileEntry {
            file: "crashes/part-x.parquet".into(),
            rows: 7,
        });
        m.upsert_seen([record("/a", "2")]);
        let text = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
        let minimal: Manifest =
            serde_json::from_str(r#"{"format":"blastradius-store","version":1}"#).unwrap();
        assert_eq!(minimal, Manifest::default());
        assert_eq!(m.rows(Table::Crashes), 7);
    }
}
