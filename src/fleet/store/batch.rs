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
    quarantine: QuarantineColumns,
    seen: Vec<SeenRecord>,
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
            quarantine: QuarantineColumns::new(),
            seen: Vec::new(),
        }
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
        self.crashes.rows
    }

    pub fn quarantine_rows(&self) -> usize {
        self.quarantine.rows
    }

    /// True when committing this batch would change nothing.
    pub fn is_empty(&self) -> bool {
        self.crashes.rows == 0 && self.quarantine.rows == 0 && self.seen.is_empty()
    }

    /// Builds the DataFrames; `now` becomes `ingested_at` / `seen_at` of every row.
    pub fn finish(self, now: DateTime<Utc>) -> PolarsResult<Batch> {
        let now_ms = now.timestamp_millis();
        Ok(Batch {
            crashes: self.crashes.finish(now_ms)?,
            drivers: self.drivers.finish()?,
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
struct DriverColumns {
    rows: usize,
    key: String,
    dump_id: Str,
    host: Str,
    driver: Str,
    path: Str,
    timestamp: U32,
    size: U32,
}

impl DriverColumns {
    fn new() -> DriverColumns {
        DriverColumns {
            rows: 0,
            key: String::new(),
            dump_id: s("dump_id"),
            host: s("host"),
            driver: s("driver"),
            path: s("path"),
            timestamp: u32b("timestamp"),
            size: u32b("size"),
        }
    }

    fn push(&mut self, r: &CrashReport, host: &str) {
        // The table is the kernel's driver lists: a user-mode minidump's modules are DLLs of
        // one process, and counting them would put `user32.dll` among "who runs in our
        // kernel" and dilute every driver's loaded share.
        if !r.format.is_kernel() {
            return;
        }
        for module in &r.modules {
            self.rows += 1;
            self.dump_id.append_value(&r.dump_id);
            self.host.append_value(host);
            module_key_into(&module.name, &mut self.key);
            self.driver.append_value(&self.key);
            self.path.append_value(&module.path);
            self.timestamp.append_value(module.timestamp);
            self.size.append_value(module.size);
        }
    }

    fn finish(self) -> PolarsResult<DataFrame> {
        DataFrame::new(
            self.rows,
            vec![
                self.dump_id.finish().into_column(),
                self.host.finish().into_column(),
                self.driver.finish().into_column(),
                self.path.finish().into_column(),
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
