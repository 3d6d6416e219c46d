//! The crash store: a folder of Parquet files that polars, DuckDB, Spark or Trino read directly.
//!
//! ```text
//! <store>/manifest.json          the commit point: lists every committed file (see `manifest`)
//! <store>/crashes/part-*.parquet one row per dump
//! <store>/drivers/part-*.parquet one row per loaded driver per dump (exposure analytics)
//! <store>/quarantine/part-*.parquet  files that could not be read, and why
//! <store>/inventory.parquet      the fleet inventory, when `scan --inventory` was given
//! <store>/.lock                  advisory lock held by the one process writing the store
//! ```
//!
//! `crashes` columns (the contract analytics read): dump_id str, path str, host str,
//! size_bytes u64, format str, arch str, os_build u32?, processors u32?, product_type str?,
//! crash_time datetime[ms, UTC]?, uptime_seconds u64?, boot_id u32?, bugcheck_code u32?,
//! bugcheck_name str?, bugcheck_parameters list[str], exception_code u32?, exception_name str?,
//! fault_address str?, fault_module str?, fault_offset str?, fault_symbol str?, fault_access str?,
//! fault_referenced_address str?, blame_module str?, blame_module_lc str?, blame_owner str?,
//! blame_third_party bool, blame_frame_index u32?, blame_reason str, failure_class str,
//! bucket_id str, signature str, stack_address list[str], stack_module list[str],
//! stack_offset list[str], stack_function list[str], stack_trust list[str], module_count u32,
//! warnings list[str], ingested_at datetime[ms, UTC].
//! The mapping between a `CrashReport` and these columns, both ways, is `schema` alone.
//! `drivers`: dump_id, host, driver (lower-case base name), path, timestamp u32, size u32.
//! `quarantine`: path, dump_id (content hash, null when the file could not be read at all),
//! error, seen_at datetime[ms, UTC].
//!
//! Every write is a new file written under a temp name, fsync'd and renamed, then a new
//! manifest written the same way: the manifest rename is the commit. A process killed at any
//! point leaves the last committed manifest intact; the next writer deletes temp files and
//! files no manifest lists.

mod batch;
mod durable;
mod maintenance;
mod manifest;
mod schema;

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use chrono::Utc;
use polars::prelude::*;

use super::inventory::{align_inventory, InventoryMatch};
pub use batch::{empty_tables, module_key, Batch, BatchBuilder, CrashFrames};
pub use maintenance::MergeOutcome;
pub use manifest::{FileEntry, Manifest, SeenRecord, Table, MANIFEST_FORMAT, MANIFEST_VERSION};
pub use schema::{as_stored, CrashRows, TriageColumns};

/// File name of the manifest inside a store folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// File name of the saved inventory inside a store folder.
pub const INVENTORY_FILE: &str = "inventory.parquet";
/// File name of the saved driver inventory (`scan --driver-inventory`).
pub const DRIVER_INVENTORY_FILE: &str = "driver_inventory.parquet";
/// File name of the triage rules in force (the `--rules` TOML last given to `scan` or
/// `reprocess`), so that later scans triage new dumps as the stored ones were.
pub const RULES_FILE: &str = "rules.toml";
/// The store folder used when neither `--store` nor `$BLASTRADIUS_STORE` says otherwise.
pub const DEFAULT_STORE_DIR: &str = "blastradius-store";
/// The environment variable naming the default store folder.
pub const STORE_ENV: &str = "BLASTRADIUS_STORE";
const LOCK_FILE: &str = ".lock";

/// Why a store operation failed. Every variant names the store path involved.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: {source}")]
    Polars {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
    #[error("{path}: not a blastradius crash store (no manifest.json); create one with `blastradius scan <dumps> --store {path}`")]
    NotAStore { path: PathBuf },
    #[error("{path}: unreadable manifest: {problem}")]
    BadManifest { path: PathBuf, problem: String },
    #[error("{path}: another blastradius process is writing this store; wait for it to finish")]
    Locked { path: PathBuf },
    #[error("{path}: {problem}")]
    Invalid { path: PathBuf, problem: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn polars_err(path: &Path) -> impl FnOnce(PolarsError) -> StoreError + '_ {
    move |source| StoreError::Polars {
        path: path.to_path_buf(),
        source,
    }
}

/// A batch whose tables are encoded, ready for `Store::commit_encoded`.
pub struct EncodedBatch {
    tables: Vec<EncodedTable>,
    seen: Vec<SeenRecord>,
}

struct EncodedTable {
    table: Table,
    rows: u64,
    bytes: Vec<u8>,
}

/// An open crash store. Reading needs nothing more; writing takes the store's lock (on the
/// first write, or up front with `open_or_create`) and holds it until the `Store` is dropped.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    manifest: Manifest,
    /// Held while this process may write; the OS releases it if the process dies.
    lock: Option<File>,
}

impl Store {
    /// `$BLASTRADIUS_STORE`, or `./blastradius-store`.
    pub fn default_dir() -> PathBuf {
        std::env::var_os(STORE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE_DIR))
    }

    /// Opens an existing store for reading.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        let manifest =
            read_manifest(&dir)?.ok_or_else(|| StoreError::NotAStore { path: dir.clone() })?;
        Ok(Store {
            dir,
            manifest,
            lock: None,
        })
    }

    /// Opens a store for writing, creating the folder and an empty manifest when absent, and
    /// takes the write lock. Fails with `Locked` when another process writes the store.
    pub fn open_or_create(dir: impl AsRef<Path>) -> Result<Store, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut store = Store {
            dir,
            manifest: Manifest::default(),
            lock: None,
        };
        store.lock_for_writing()?;
        Ok(store)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// All crash rows, over the files the manifest lists.
    pub fn lazy_crashes(&self) -> Result<LazyFrame, StoreError> {
        self.lazy_table(Table::Crashes)
    }

    /// All loaded-driver rows.
    pub fn lazy_drivers(&self) -> Result<LazyFrame, StoreError> {
        self.lazy_table(Table::Drivers)
    }

    /// All quarantine rows.
    pub fn lazy_quarantine(&self) -> Result<LazyFrame, StoreError> {
        self.lazy_table(Table::Quarantine)
    }

    /// The saved inventory (`host` plus every inventory column as str), if one was saved,
    /// with its host names aligned to the crash table's (case, short names: see
    /// `inventory::align_inventory`), so analytics join exactly.
    pub fn inventory(&self) -> Result<Option<DataFrame>, StoreError> {
        Ok(self.inventory_matched()?.map(|(inventory, _)| inventory))
    }

    /// `inventory()` and how the crash hosts matched it.
    pub fn inventory_matched(&self) -> Result<Option<(DataFrame, InventoryMatch)>, StoreError> {
        let Some(inventory) = self.saved_inventory()? else {
            return Ok(None);
        };
        let hosts = self
            .lazy_crashes()?
            .select([col("host")])
            .unique(None, UniqueKeepStrategy::Any)
            .collect()
            .map_err(polars_err(&self.dir))?;
        let hosts: Vec<String> = hosts
            .column("host")
            .and_then(|c| {
                c.str()
                    .map(|s| s.iter().flatten().map(str::to_string).collect())
            })
            .map_err(polars_err(&self.dir))?;
        align_inventory(&inventory, &hosts)
            .map(Some)
            .map_err(polars_err(&self.dir))
    }

    /// The rules file in force (the TOML text merged over the built-in rules), if one was
    /// saved.
    pub fn rules_text(&self) -> Result<Option<String>, StoreError> {
        let path = self.dir.join(RULES_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_err(&path)(err)),
        }
    }

    /// The triage rules in force for this store: the built-in rules with the rules file the
    /// scan saved merged over them. Every reader of a store (drivers' vendors, the report, the
    /// console) names drivers by these, as the scan blamed them.
    pub fn rules(&self) -> Result<crate::triage::Rules, StoreError> {
        let mut rules = crate::triage::Rules::builtin();
        if let Some(text) = self.rules_text()? {
            rules
                .merge_toml(&text)
                .map_err(|problem| StoreError::Invalid {
                    path: self.dir.join(RULES_FILE),
                    problem,
                })?;
        }
        Ok(rules)
    }

    /// Saves (or replaces) the rules in force, atomically.
    pub fn save_rules(&mut self, text: &str) -> Result<(), StoreError> {
        let path = self.dir.join(RULES_FILE);
        durable::write_atomically(&path, |f| io::Write::write_all(f, text.as_bytes()))
            .map_err(io_err(&path))
    }

    /// The inventory as saved by `scan --inventory`, host names as written.
    pub fn saved_inventory(&self) -> Result<Option<DataFrame>, StoreError> {
        self.read_single_file(self.manifest.inventory.as_deref())
    }

    /// The lazy scan of one table: exactly the listed files, never a glob, so files being
    /// written or left by a killed run are invisible.
    pub fn lazy_table(&self, table: Table) -> Result<LazyFrame, StoreError> {
        let files = self.manifest.files(table);
        if files.is_empty() {
            let empty = empty_tables().map_err(polars_err(&self.dir))?;
            return Ok(table_frame(empty, table).lazy());
        }
        let mut paths = Vec::with_capacity(files.len());
        for entry in files {
            let path = self.dir.join(&entry.file);
            paths.push(PlRefPath::try_from_path(&path).map_err(polars_err(&path))?);
        }
        let args = ScanArgsParquet {
            glob: false,
            ..Default::default()
        };
        LazyFrame::scan_parquet_files(paths.into_iter().collect(), args)
            .map_err(polars_err(&self.dir))
    }

    /// Reads a whole table into memory (for compaction, merging and tests).
    pub fn read_table(&self, table: Table) -> Result<DataFrame, StoreError> {
        self.lazy_table(table)?
            .collect()
            .map_err(polars_err(&self.dir))
    }

    /// Content hashes already in the store, with whether each went to the quarantine.
    pub fn known_dump_ids(&self) -> HashMap<String, bool> {
        self.manifest
            .seen
            .iter()
            .map(|r| (r.dump_id.clone(), r.quarantined))
            .collect()
    }

    /// The quick-check index: path -> (size, mtime in ns since the epoch).
    pub fn quick_check_index(&self) -> HashMap<String, (u64, i64)> {
        self.manifest
            .seen
            .iter()
            .map(|r| (r.path.clone(), (r.size, r.mtime_ns)))
            .collect()
    }

    /// Appends one batch: one new Parquet file per non-empty table, then the manifest.
    pub fn commit(&mut self, batch: Batch) -> Result<(), StoreError> {
        let encoded = Store::encode(batch, &self.dir)?;
        self.commit_encoded(encoded)
    }

    /// The CPU half of a commit: every non-empty table of `batch` encoded as Parquet bytes.
    /// Needs no store, so `scan` runs it on worker threads while parsing goes on, and only
    /// the writes (`commit_encoded`) stay serial. `dir` names the store in errors.
    pub fn encode(batch: Batch, dir: &Path) -> Result<EncodedBatch, StoreError> {
        use rayon::prelude::*;
        // The tables encode independently: in parallel on the caller's rayon pool.
        let tables = [
            (Table::Crashes, batch.crashes),
            (Table::Drivers, batch.drivers),
            (Table::Quarantine, batch.quarantine),
        ]
        .into_par_iter()
        .filter(|(_, df)| df.height() > 0)
        .map(|(table, mut df)| {
            Ok(EncodedTable {
                table,
                rows: df.height() as u64,
                bytes: encode_parquet(&mut df, false).map_err(polars_err(dir))?,
            })
        })
        .collect::<Result<Vec<EncodedTable>, StoreError>>()?;
        Ok(EncodedBatch {
            tables,
            seen: batch.seen,
        })
    }

    /// The I/O half of a commit: writes each encoded table as a new part file (temp + fsync
    /// + rename), then the manifest that lists them (the commit point).
    pub fn commit_encoded(&mut self, batch: EncodedBatch) -> Result<(), StoreError> {
        self.lock_for_writing()?;
        let mut entries = Vec::new();
        for encoded in batch.tables {
            match self.write_encoded_part(encoded.table, &encoded.bytes, encoded.rows) {
                Ok(entry) => entries.push((encoded.table, entry)),
                Err(err) => {
                    self.remove_files(
                        &entries.into_iter().map(|(_, e)| e.file).collect::<Vec<_>>(),
                    );
                    return Err(err);
                }
            }
        }
        let written: Vec<String> = entries.iter().map(|(_, e)| e.file.clone()).collect();
        // Edited in place rather than cloned: with one quick-check record per file ever
        // scanned, a clone per batch was the part of a scan's memory that grew with the store.
        let mut next = std::mem::take(&mut self.manifest);
        for (table, entry) in entries {
            next.files_mut(table).push(entry);
        }
        next.upsert_seen(batch.seen);
        if let Err(err) = self.write_manifest(next) {
            self.remove_files(&written);
            return Err(err);
        }
        Ok(())
    }

    /// Appends heartbeat rows (`heartbeats::frame` columns), leaving out those already stored
    /// (same host and time) and duplicates within `rows`: scans can repeat the same export.
    /// Returns the rows added.
    pub fn append_heartbeats(&mut self, rows: DataFrame) -> Result<usize, StoreError> {
        use crate::fleet::heartbeats::{HOST, SEEN_AT_MS};
        self.lock_for_writing()?;
        let stored = self.read_table(Table::Heartbeats)?;
        // Pairs borrowed from the two tables' columns: no string is copied per row, which
        // matters as the table grows with every check-in.
        let columns = |df: &DataFrame| -> PolarsResult<(StringChunked, Int64Chunked)> {
            Ok((
                df.column(HOST)?.str()?.clone(),
                df.column(SEEN_AT_MS)?.i64()?.clone(),
            ))
        };
        let (stored_hosts, stored_seen) = columns(&stored).map_err(polars_err(&self.dir))?;
        let (new_hosts, new_seen) = columns(&rows).map_err(polars_err(&self.dir))?;
        let mut known: HashSet<(Option<&str>, Option<i64>)> =
            stored_hosts.iter().zip(stored_seen.iter()).collect();
        let keep: BooleanChunked = new_hosts
            .iter()
            .zip(new_seen.iter())
            .map(|pair| Some(known.insert(pair)))
            .collect();
        let mut new = rows.filter(&keep).map_err(polars_err(&self.dir))?;
        if new.height() == 0 {
            return Ok(0);
        }
        let entry = self.write_part(Table::Heartbeats, &mut new)?;
        let file = entry.file.clone();
        let mut next = self.manifest.clone();
        next.heartbeats.push(entry);
        if let Err(err) = self.write_manifest(next) {
            self.remove_files(&[file]);
            return Err(err);
        }
        Ok(new.height())
    }

    /// Every heartbeat in the store plus the inventory's `last_seen`, per host.
    pub fn heartbeats(&self) -> Result<crate::fleet::heartbeats::Heartbeats, StoreError> {
        let rows = self.read_table(Table::Heartbeats)?;
        let inventory = self.saved_inventory()?;
        crate::fleet::heartbeats::Heartbeats::build(&rows, inventory.as_ref())
            .map_err(polars_err(&self.dir))
    }

    /// Saves (or replaces) the driver inventory (`driver_inventory::COLUMNS`).
    pub fn save_driver_inventory(&mut self, mut rows: DataFrame) -> Result<(), StoreError> {
        self.lock_for_writing()?;
        let path = self.dir.join(DRIVER_INVENTORY_FILE);
        write_parquet(&path, &mut rows)?;
        let mut next = self.manifest.clone();
        next.driver_inventory = Some(DRIVER_INVENTORY_FILE.to_string());
        self.write_manifest(next)
    }

    /// The driver inventory as saved, if any.
    pub fn driver_inventory(&self) -> Result<Option<DataFrame>, StoreError> {
        self.read_single_file(self.manifest.driver_inventory.as_deref())
    }

    /// A single-file table (`inventory.parquet`, `driver_inventory.parquet`), if saved.
    fn read_single_file(&self, rel: Option<&str>) -> Result<Option<DataFrame>, StoreError> {
        let Some(rel) = rel else {
            return Ok(None);
        };
        let path = self.dir.join(rel);
        let file = File::open(&path).map_err(io_err(&path))?;
        ParquetReader::new(file)
            .finish()
            .map(Some)
            .map_err(polars_err(&path))
    }

    /// Saves (or replaces) the inventory: `host` plus every column as str.
    pub fn save_inventory(&mut self, mut inventory: DataFrame) -> Result<(), StoreError> {
        self.lock_for_writing()?;
        let path = self.dir.join(INVENTORY_FILE);
        write_parquet(&path, &mut inventory)?;
        let mut next = self.manifest.clone();
        next.inventory = Some(INVENTORY_FILE.to_string());
        self.write_manifest(next)
    }

    /// Replaces every crash row with `crashes` (same columns as the contract), atomically:
    /// readers see either the old files or the new one. Used by `reprocess`.
    pub fn replace_crashes(&mut self, mut crashes: DataFrame) -> Result<(), StoreError> {
        self.lock_for_writing()?;
        let expected = empty_tables().map_err(polars_err(&self.dir))?.crashes;
        if crashes.schema() != expected.schema() {
            return Err(StoreError::Invalid {
                path: self.dir.clone(),
                problem: format!(
                    "replacement crashes do not have the store's columns: expected {:?}, got {:?}",
                    expected.get_column_names(),
                    crashes.get_column_names()
                ),
            });
        }
        self.replace_table(Table::Crashes, &mut crashes)
    }

    /// Replaces a table's files with one new file holding `df`, then deletes the old files.
    fn replace_table(&mut self, table: Table, df: &mut DataFrame) -> Result<(), StoreError> {
        let old: Vec<String> = self
            .manifest
            .files(table)
            .iter()
            .map(|f| f.file.clone())
            .collect();
        let mut next = self.manifest.clone();
        next.files_mut(table).clear();
        if df.height() > 0 {
            let entry = self.write_part(table, df)?;
            let new_file = entry.file.clone();
            next.files_mut(table).push(entry);
            if let Err(err) = self.write_manifest(next) {
                self.remove_files(&[new_file]);
                return Err(err);
            }
        } else {
            self.write_manifest(next)?;
        }
        // After the commit the old files are unreferenced; a kill before this line leaves
        // them for the next writer's clean-up.
        self.remove_files(&old);
        Ok(())
    }

    /// Takes the write lock (once), then re-reads the manifest (another process may have
    /// committed since this `Store` was opened) and removes what killed writers left behind.
    fn lock_for_writing(&mut self) -> Result<(), StoreError> {
        if self.lock.is_some() {
            return Ok(());
        }
        let lock_path = self.dir.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        match fs4::FileExt::try_lock(&file) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => {
                return Err(StoreError::Locked {
                    path: self.dir.clone(),
                })
            }
            Err(fs4::TryLockError::Error(source)) => {
                return Err(StoreError::Io {
                    path: lock_path,
                    source,
                })
            }
        }
        self.lock = Some(file);
        self.manifest = read_manifest(&self.dir)?.unwrap_or_default();
        for table in Table::ALL {
            let dir = self.dir.join(table.dir_name());
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        self.remove_unreferenced()
    }

    /// Deletes temp files and `part-*.parquet` files the manifest does not list: the debris of
    /// a killed writer (or the old files of an interrupted compaction). Only runs under the lock.
    fn remove_unreferenced(&self) -> Result<(), StoreError> {
        let listed: HashSet<&str> = self.manifest.referenced_files().collect();
        let mut folders = vec![(self.dir.clone(), String::new())];
        for table in Table::ALL {
            folders.push((
                self.dir.join(table.dir_name()),
                format!("{}/", table.dir_name()),
            ));
        }
        for (folder, prefix) in folders {
            let entries = match fs::read_dir(&folder) {
                Ok(entries) => entries,
                Err(err) if err.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(StoreError::Io {
                        path: folder,
                        source,
                    })
                }
            };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                let is_temp = name.starts_with('.') && name.ends_with(durable::TEMP_SUFFIX);
                let is_orphan = !prefix.is_empty()
                    && name.starts_with("part-")
                    && name.ends_with(".parquet")
                    && !listed.contains(format!("{prefix}{name}").as_str());
                if is_temp || is_orphan {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
        Ok(())
    }

    /// Writes a table's new part file (temp + fsync + rename); not yet committed.
    fn write_part(&self, table: Table, df: &mut DataFrame) -> Result<FileEntry, StoreError> {
        let bytes =
            encode_parquet(df, true).map_err(polars_err(&self.dir.join(table.dir_name())))?;
        self.write_encoded_part(table, &bytes, df.height() as u64)
    }

    /// `write_part` for bytes already encoded (`Store::encode`).
    fn write_encoded_part(
        &self,
        table: Table,
        bytes: &[u8],
        rows: u64,
    ) -> Result<FileEntry, StoreError> {
        let name = part_file_name();
        let rel = format!("{}/{}", table.dir_name(), name);
        let path = self.dir.join(table.dir_name()).join(&name);
        durable::write_atomically(&path, |f| io::Write::write_all(f, bytes))
            .map_err(io_err(&path))?;
        Ok(FileEntry { file: rel, rows })
    }

    /// The commit: writes `next` as the manifest (temp + fsync + rename). On failure the
    /// in-memory manifest is re-read from disk, which still holds the last committed one.
    fn write_manifest(&mut self, mut next: Manifest) -> Result<(), StoreError> {
        next.updated_at = Some(Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let path = self.dir.join(MANIFEST_FILE);
        // Streamed into the temp file: the manifest grows with every file ever scanned, and a
        // serialized copy in memory per commit was a transient the size of the manifest.
        let result = durable::write_atomically(&path, |f| {
            let mut out = io::BufWriter::new(f);
            serde_json::to_writer(&mut out, &next).map_err(io::Error::from)?;
            io::Write::flush(&mut out)
        })
        .map_err(io_err(&path));
        match result {
            Ok(()) => self.manifest = next,
            Err(_) => {
                self.manifest = match read_manifest(&self.dir) {
                    Ok(Some(on_disk)) => on_disk,
                    _ => next,
                }
            }
        }
        result
    }

    fn remove_files(&self, rel_paths: &[String]) {
        for rel in rel_paths {
            let _ = fs::remove_file(self.dir.join(rel));
        }
    }
}

/// The frame of `table` out of a batch.
fn table_frame(batch: Batch, table: Table) -> DataFrame {
    match table {
        Table::Crashes => batch.crashes,
        Table::Drivers => batch.drivers,
        Table::Quarantine => batch.quarantine,
        Table::Heartbeats => {
            crate::fleet::heartbeats::frame(Vec::new(), Vec::new()).unwrap_or_default()
        }
    }
}

/// `None` when the folder has no manifest (not a store yet).
fn read_manifest(dir: &Path) -> Result<Option<Manifest>, StoreError> {
    let path = dir.join(MANIFEST_FILE);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(StoreError::Io { path, source }),
    };
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| StoreError::BadManifest {
            path: path.clone(),
            problem: e.to_string(),
        })?;
    if manifest.format != MANIFEST_FORMAT || manifest.version > MANIFEST_VERSION {
        return Err(StoreError::BadManifest {
            path,
            problem: format!(
                "format {:?} version {} (this blastradius reads {MANIFEST_FORMAT:?} up to version {MANIFEST_VERSION})",
                manifest.format, manifest.version
            ),
        });
    }
    Ok(Some(manifest))
}

/// Writes `df` to `path` as Parquet, atomically. The file is encoded in memory first (a batch
/// compresses to a few MB) so that the temp file only ever receives complete bytes.
fn write_parquet(path: &Path, df: &mut DataFrame) -> Result<(), StoreError> {
    let bytes = encode_parquet(df, true).map_err(polars_err(path))?;
    durable::write_atomically(path, |f| io::Write::write_all(f, &bytes)).map_err(io_err(path))
}

/// The Parquet bytes of `df`, as every table file of the store is written. `parallel`: let
/// polars encode the columns on its own thread pool. A scan says no: it encodes batches on
/// its `--jobs` threads beside the parsing, and polars' extra threads would only compete
/// with the parsers (and make `--jobs` a lie).
fn encode_parquet(df: &mut DataFrame, parallel: bool) -> PolarsResult<Vec<u8>> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .with_compression(ParquetCompression::Zstd(None))
        .set_parallel(parallel)
        .finish(df)?;
    Ok(bytes)
}

/// `part-<UTC time>-<12 hex>.parquet`: sorts by write time, and never collides between runs
/// (the hex part hashes the process id, a counter and the clock).
fn part_file_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = Utc::now();
    let mut hasher = blake3::Hasher::new();
    hasher.update(&std::process::id().to_le_bytes());
    hasher.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    hasher.update(&now.timestamp_nanos_opt().unwrap_or_default().to_le_bytes());
    let hash = hasher.finalize().to_hex();
    format!(
        "part-{}-{}.parquet",
        now.format("%Y%m%dT%H%M%S%3fZ"),
        &hash.as_str()[..12]
    )
}

#[cfg(test)]
mod tests;
