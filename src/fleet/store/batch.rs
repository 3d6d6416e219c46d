//! Turning `CrashReport`s into the store's tables, one batch at a time.
//!
//! Rows go straight into polars column builders: a batch holds its rows in columnar form
//! (strings packed in shared buffers), not as a vector of reports, which is what keeps a
//! scan's memory flat whatever the number of dumps. The columns are exactly the "Crash store
//! columns" contract (see `fleet::store`); an empty batch gives the schema.

use chrono::{DateTime, Utc};
use polars::prelude::*;

use crate::dump::modules::base_name;
use crate::record::CrashReport;

use super::manifest::SeenRecord;
use super::schema::CrashColumns;

/// One commit's worth of rows for every table, plus the quick-check records to record.
pub struct Batch {
    pub crashes: DataFrame,
    pub drivers: DataFrame,
    pub quarantine: DataFrame,
    pub seen: Vec<SeenRecord>,
}

pub(super) type Str = StringChunkedBuilder;
pub(super) type U32 = PrimitiveChunkedBuilder<UInt32Type>;

pub(super) fn s(name: &str) -> Str {
    Str::new(name.into(), 0)
}
pub(super) fn u32b(name: &str) -> U32 {
    U32::new(name.into(), 0)
}

/// Accumulates rows for the three tables of one batch.
pub struct BatchBuilder {
    crashes: CrashColumns,
    drivers: DriverColumns,
    /// Crash and driver rows built elsewhere (`CrashFrames`), in row order; rows pushed one
    /// by one are flushed here before each frame so that the order is push order.
    frames: Vec<CrashFrames>,
    frame_rows: usize,
    quarantine: QuarantineColumns,
    seen: Vec<SeenRecord>,
}

/// The crash and driver rows of some reports, as columns: built on a worker thread, in
/// parallel with parsing, then appended to a `BatchBuilder` in walk order (issue 17: building
/// ~164 driver rows per dump on the one folding thread was the serial stage that kept `scan`
/// from scaling with cores).
pub struct CrashFrames {
    crashes: DataFrame,
    drivers: DataFrame,
}

impl CrashFrames {
    /// Builds the rows of `reports` (each with its host), in order.
    pub fn build<'a>(
        reports: impl IntoIterator<Item = (&'a CrashReport, &'a str)>,
    ) -> PolarsResult<CrashFrames> {
        let mut crashes = CrashColumns::new();
        let mut drivers = DriverColumns::new();
        for (report, host) in reports {
            crashes.push(report, host);
            drivers.push(report, host);
        }
        CrashFrames::finish(crashes, drivers)
    }

    fn finish(crashes: CrashColumns, drivers: DriverColumns) -> PolarsResult<CrashFrames> {
        // `ingested_at` is the commit's time, set when the batch is finished.
        Ok(CrashFrames {
            crashes: crashes.finish(0)?,
            drivers: drivers.finish()?,
        })
    }

    /// Crash rows held.
    pub fn rows(&self) -> usize {
        self.crashes.height()
    }
}

impl Default for BatchBuilder {
    fn default() -> Self {
        BatchBuilder::new()
    }
}

impl BatchBuilder {
    pub fn new() -> BatchBuilder {
        BatchBuilder {
            crashes: CrashColumns::new(),
            drivers: DriverColumns::new(),
            frames: Vec::new(),
            frame_rows: 0,
            quarantine: QuarantineColumns::new(),
            seen: Vec::new(),
        }
    }

    /// Appends rows built by `CrashFrames::build`, after every row pushed so far.
    pub fn push_frames(&mut self, frames: CrashFrames) -> PolarsResult<()> {
        self.flush_rows()?;
        self.frame_rows += frames.rows();
        self.frames.push(frames);
        Ok(())
    }

    /// Moves the rows pushed one by one into `frames`, keeping their order.
    fn flush_rows(&mut self) -> PolarsResult<()> {
        if self.crashes.rows == 0 && self.drivers.rows == 0 {
            return Ok(());
        }
        let crashes = std::mem::replace(&mut self.crashes, CrashColumns::new());
        let drivers = std::mem::replace(&mut self.drivers, DriverColumns::new());
        let frames = CrashFrames::finish(crashes, drivers)?;
        self.frame_rows += frames.rows();
        self.frames.push(frames);
        Ok(())
    }

    /// Adds one crash row and its loaded-driver rows. `report.dump_id` and `report.path` are
    /// stored as they are; `host` comes from the collection layout, never from the dump.
    pub fn push_crash(&mut self, report: &CrashReport, host: &str) {
        self.crashes.push(report, host);
        self.drivers.push(report, host);
    }

    /// Adds one quarantine row: a file that could not be read, and why.
    pub fn push_quarantine(&mut self, path: &str, dump_id: Option<&str>, error: &str) {
        self.quarantine.path.append_value(path);
        self.quarantine.dump_id.append_option(dump_id);
        self.quarantine.error.append_value(error);
        self.quarantine.rows += 1;
    }

    pub fn push_seen(&mut self, record: SeenRecord) {
        self.seen.push(record);
    }

    pub fn crash_rows(&self) -> usize {
        self.crashes.rows + self.frame_rows
    }

    pub fn quarantine_rows(&self) -> usize {
        self.quarantine.rows
    }

    /// True when committing this batch would change nothing.
    pub fn is_empty(&self) -> bool {
        self.crash_rows() == 0 && self.quarantine.rows == 0 && self.seen.is_empty()
    }

    /// Builds the DataFrames; `now` becomes `ingested_at` / `seen_at` of every row.
    pub fn finish(mut self, now: DateTime<Utc>) -> PolarsResult<Batch> {
        let now_ms = now.timestamp_millis();
        // Rows pushed one by one become the last frame; with no row at all, empty columns
        // still give every table its schema.
        self.flush_rows()?;
        let mut parts = self.frames.into_iter();
        let first = match parts.next() {
            Some(frames) => frames,
            None => CrashFrames::finish(CrashColumns::new(), DriverColumns::new())?,
        };
        let (mut crashes, mut drivers) = (first.crashes, first.drivers);
        for part in parts {
            crashes.vstack_mut_owned(part.crashes)?;
            drivers.vstack_mut_owned(part.drivers)?;
        }
        // One chunk per column: the Parquet writer then makes one row group of the batch,
        // as it did when every row went through one builder.
        crashes.rechunk_mut();
        drivers.rechunk_mut();
        let rows = crashes.height();
        crashes.with_column(constant_time("ingested_at", now_ms, rows))?;
        Ok(Batch {
            crashes,
            drivers,
            quarantine: self.quarantine.finish(now_ms)?,
            seen: self.seen,
        })
    }
}

/// The empty DataFrame of each table: the schema every file of the table is written with.
pub fn empty_tables() -> PolarsResult<Batch> {
    BatchBuilder::new().finish(DateTime::<Utc>::UNIX_EPOCH)
}

pub(super) fn utc_ms(name: &str, values: Int64Chunked) -> Column {
    values
        .with_name(name.into())
        .into_datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC))
        .into_column()
}

pub(super) fn constant_time(name: &str, ms: i64, rows: usize) -> Column {
    utc_ms(name, Int64Chunked::full(name.into(), ms, rows))
}

/// The lower-case base file name: the cluster key of a module name.
pub fn module_key(name: &str) -> String {
    let mut key = String::new();
    module_key_into(name, &mut key);
    key
}

/// `module_key` into a reused buffer: a batch lower-cases ~150 driver names per dump, and one
/// allocation each showed up in scan profiles.
fn module_key_into(name: &str, key: &mut String) {
    key.clear();
    let base = base_name(name);
    if base.is_ascii() {
        key.push_str(base);
        key.make_ascii_lowercase();
    } else {
        key.extend(base.chars().flat_map(char::to_lowercase));
    }
}

/// `drivers/*.parquet`: one row per loaded driver per kernel dump, for exposure analytics.
///
/// ~164 rows per dump repeat the dump's id and host, and a fleet's drivers and paths repeat
/// across dumps: each distinct string is stored once per builder and rows hold indices into
/// them (issue 17), turned into ordinary string columns by a gather at `finish` (the views
/// then share the distinct strings' bytes). The table's columns and values do not change.
struct DriverColumns {
    rows: usize,
    key: String,
    /// One entry per kernel dump pushed.
    dump_ids: Str,
    hosts: Str,
    dumps: IdxSize,
    dump_of_row: Vec<IdxSize>,
    drivers: Interned,
    driver_of_row: Vec<IdxSize>,
    paths: Interned,
    path_of_row: Vec<IdxSize>,
    timestamp: U32,
    size: U32,
}

/// Distinct strings in first-seen order, and the index of each.
struct Interned {
    values: Str,
    index: PlHashMap<String, IdxSize>,
}

impl Interned {
    fn new(name: &str) -> Interned {
        Interned {
            values: s(name),
            index: PlHashMap::new(),
        }
    }

    fn intern(&mut self, value: &str) -> IdxSize {
        if let Some(&i) = self.index.get(value) {
            return i;
        }
        // Fewer than 2^32 rows per batch (IdxSize is u32), so this never truncates.
        let i = self.index.len() as IdxSize;
        self.values.append_value(value);
        self.index.insert(value.to_string(), i);
        i
    }
}

/// `values[rows[i]]` for every row: a string column whose rows share `values`' bytes.
fn gather(values: Str, rows: &IdxCa) -> PolarsResult<Column> {
    Ok(values.finish().take(rows)?.into_column())
}

fn rows_of(indices: Vec<IdxSize>) -> IdxCa {
    IdxCa::from_vec(PlSmallStr::EMPTY, indices)
}

impl DriverColumns {
    fn new() -> DriverColumns {
        DriverColumns {
            rows: 0,
            key: String::new(),
            dump_ids: s("dump_id"),
            hosts: s("host"),
            dumps: 0,
            dump_of_row: Vec::new(),
            drivers: Interned::new("driver"),
            driver_of_row: Vec::new(),
            paths: Interned::new("path"),
            path_of_row: Vec::new(),
            timestamp: u32b("timestamp"),
            size: u32b("size"),
        }
    }

    fn push(&mut self, r: &CrashReport, host: &str) {
        // The table is the kernel's driver lists: a user-mode minidump's modules are DLLs of
        // one process, and counting them would put `user32.dll` among "who runs in our
        // kernel" and dilute every driver's loaded share.
        if !r.format.is_kernel() || r.modules.is_empty() {
            return;
        }
        let dump = self.dumps;
        self.dumps += 1;
        self.dump_ids.append_value(&r.dump_id);
        self.hosts.append_value(host);
        for module in &r.modules {
            self.rows += 1;
            self.dump_of_row.push(dump);
            module_key_into(&module.name, &mut self.key);
            self.driver_of_row.push(self.drivers.intern(&self.key));
            self.path_of_row.push(self.paths.intern(&module.path));
            self.timestamp.append_value(module.timestamp);
            self.size.append_value(module.size);
        }
    }

    fn finish(self) -> PolarsResult<DataFrame> {
        let dump_of_row = rows_of(self.dump_of_row);
        DataFrame::new(
            self.rows,
            vec![
                gather(self.dump_ids, &dump_of_row)?,
                gather(self.hosts, &dump_of_row)?,
                gather(self.drivers.values, &rows_of(self.driver_of_row))?,
                gather(self.paths.values, &rows_of(self.path_of_row))?,
                self.timestamp.finish().into_column(),
                self.size.finish().into_column(),
            ],
        )
    }
}

/// `quarantine/*.parquet`: files that could not be read, with the reason.
struct QuarantineColumns {
    rows: usize,
    path: Str,
    dump_id: Str,
    error: Str,
}

impl QuarantineColumns {
    fn new() -> QuarantineColumns {
        QuarantineColumns {
            rows: 0,
            path: s("path"),
            dump_id: s("dump_id"),
            error: s("error"),
        }
    }

    fn finish(self, now_ms: i64) -> PolarsResult<DataFrame> {
        let rows = self.rows;
        DataFrame::new(
            rows,
            vec![
                self.path.finish().into_column(),
                self.dump_id.finish().into_column(),
                self.error.finish().into_column(),
                constant_time("seen_at", now_ms, rows),
            ],
        )
    }
}
