//! The `crashes` table's schema: the one place a `CrashReport` becomes a row of Parquet
//! columns and a row becomes (the stored part of) a `CrashReport` again.
//!
//! `scan` writes rows through `CrashColumns`; `reprocess` reads them back through `CrashRows`
//! and writes its re-derived columns through `TriageColumns`, which lays the stack out with
//! the same code as a scan. Column names and types are the contract of `fleet::store`'s doc
//! and must not change: stores already on disk must still open.
//!
//! A row keeps what triage and analytics need, not the whole report: `as_stored` says which
//! part, and `CrashRows::report` gives exactly that part back.

use std::fmt::Write as _;
use std::ops::Range;

use chrono::DateTime;
use polars::prelude::*;

use crate::dump::bugcheck;
use crate::record::{
    Access, Address, Arch, Blame, BugcheckRecord, CrashReport, DumpFormat, ExceptionRecord, Fault,
    FrameTrust, ModuleRef, StackFrame,
};

use super::batch::{module_key, s, u32b, utc_ms, Str, U32};

type U64 = PrimitiveChunkedBuilder<UInt64Type>;
type I64 = PrimitiveChunkedBuilder<Int64Type>;
type List = ListStringChunkedBuilder;

fn list(name: &str) -> List {
    List::new(name.into(), 0, 0)
}

/// Hex text of many values packed in one reused buffer: a scan formats tens of addresses
/// per dump, and a `String` each showed up in scan profiles (see `module_key_into`).
#[derive(Default)]
struct HexBuffer {
    text: String,
    spans: Vec<Option<Range<usize>>>,
}

impl HexBuffer {
    /// Formats `values` (nulls kept) into the buffer, replacing what it held.
    fn fill(&mut self, values: impl Iterator<Item = Option<u64>>) -> &mut HexBuffer {
        self.text.clear();
        self.spans.clear();
        for value in values {
            let span = value.map(|v| {
                let start = self.text.len();
                // Writing to a String cannot fail.
                let _ = write!(self.text, "{v:#x}");
                start..self.text.len()
            });
            self.spans.push(span);
        }
        self
    }

    /// One value: `fill` with one item, as a `&str`.
    fn one(&mut self, value: Option<u64>) -> Option<&str> {
        self.fill(std::iter::once(value));
        self.spans[0].clone().map(|r| &self.text[r])
    }

    /// Appends the buffer's values as one list (nulls as null items).
    fn append_to(&self, builder: &mut List) {
        builder.append_trusted_len_iter(
            self.spans
                .iter()
                .map(|span| span.clone().map(|r| &self.text[r])),
        );
    }
}

/// The stack's list columns, shared by a scan's rows and `reprocess`'s rewrite.
struct StackColumns {
    address: List,
    module: List,
    offset: List,
    function: List,
    trust: List,
}

impl StackColumns {
    fn new() -> StackColumns {
        StackColumns {
            address: list("stack_address"),
            module: list("stack_module"),
            offset: list("stack_offset"),
            function: list("stack_function"),
            trust: list("stack_trust"),
        }
    }

    fn push(&mut self, stack: &[StackFrame], hex: &mut HexBuffer) {
        hex.fill(stack.iter().map(|f| Some(f.address.0)))
            .append_to(&mut self.address);
        self.module
            .append_trusted_len_iter(stack.iter().map(|f| f.module.as_deref()));
        hex.fill(stack.iter().map(|f| f.offset.map(|o| o.0)))
            .append_to(&mut self.offset);
        self.function
            .append_trusted_len_iter(stack.iter().map(|f| f.function.as_deref()));
        self.trust
            .append_values_iter(stack.iter().map(|f| f.trust.as_str()));
    }

    fn finish(mut self) -> [Column; 5] {
        [
            self.address.finish().into_column(),
            self.module.finish().into_column(),
            self.offset.finish().into_column(),
            self.function.finish().into_column(),
            self.trust.finish().into_column(),
        ]
    }
}

/// Triage's columns (blame to signature, contiguous in contract order), shared by a scan's
/// rows and `reprocess`'s rewrite.
struct TriageFields {
    blame_module: Str,
    blame_module_lc: Str,
    blame_owner: Str,
    blame_third_party: BooleanChunkedBuilder,
    blame_frame_index: U32,
    blame_reason: Str,
    failure_class: Str,
    bucket_id: Str,
    signature: Str,
}

impl TriageFields {
    fn new() -> TriageFields {
        TriageFields {
            blame_module: s("blame_module"),
            blame_module_lc: s("blame_module_lc"),
            blame_owner: s("blame_owner"),
            blame_third_party: BooleanChunkedBuilder::new("blame_third_party".into(), 0),
            blame_frame_index: u32b("blame_frame_index"),
            blame_reason: s("blame_reason"),
            failure_class: s("failure_class"),
            bucket_id: s("bucket_id"),
            signature: s("signature"),
        }
    }

    fn push(&mut self, r: &CrashReport) {
        self.blame_module.append_option(r.blame.module.as_deref());
        self.blame_module_lc
            .append_option(r.blame.module.as_deref().map(module_key));
        self.blame_owner.append_option(r.blame.owner.as_deref());
        self.blame_third_party.append_value(r.blame.third_party);
        self.blame_frame_index.append_option(r.blame.frame_index);
        self.blame_reason.append_value(&r.blame.reason);
        self.failure_class.append_value(&r.failure_class);
        self.bucket_id.append_value(&r.bucket_id);
        self.signature.append_value(&r.signature);
    }

    fn finish(self) -> [Column; 9] {
        [
            self.blame_module.finish().into_column(),
            self.blame_module_lc.finish().into_column(),
            self.blame_owner.finish().into_column(),
            self.blame_third_party.finish().into_column(),
            self.blame_frame_index.finish().into_column(),
            self.blame_reason.finish().into_column(),
            self.failure_class.finish().into_column(),
            self.bucket_id.finish().into_column(),
            self.signature.finish().into_column(),
        ]
    }
}

/// `crashes/*.parquet` columns, in contract order.
pub(super) struct CrashColumns {
    pub(super) rows: usize,
    hex: HexBuffer,
    key: String,
    dump_id: Str,
    path: Str,
    host: Str,
    size_bytes: U64,
    format: Str,
    arch: Str,
    os_build: U32,
    processors: U32,
    product_type: Str,
    crash_time: I64,
    uptime_seconds: U64,
    boot_id: U32,
    bugcheck_code: U32,
    bugcheck_name: Str,
    bugcheck_parameters: List,
    exception_code: U32,
    exception_name: Str,
    fault_address: Str,
    fault_module: Str,
    fault_offset: Str,
    fault_symbol: Str,
    fault_access: Str,
    fault_referenced_address: Str,
    triage: TriageFields,
    stack: StackColumns,
    module_count: U32,
    warnings: List,
}

impl CrashColumns {
    pub(super) fn new() -> CrashColumns {
        CrashColumns {
            rows: 0,
            hex: HexBuffer::default(),
            key: String::new(),
            dump_id: s("dump_id"),
            path: s("path"),
            host: s("host"),
            size_bytes: U64::new("size_bytes".into(), 0),
            format: s("format"),
            arch: s("arch"),
            os_build: u32b("os_build"),
            processors: u32b("processors"),
            product_type: s("product_type"),
            crash_time: I64::new("crash_time".into(), 0),
            uptime_seconds: U64::new("uptime_seconds".into(), 0),
            boot_id: u32b("boot_id"),
            bugcheck_code: u32b("bugcheck_code"),
            bugcheck_name: s("bugcheck_name"),
            bugcheck_parameters: list("bugcheck_parameters"),
            exception_code: u32b("exception_code"),
            exception_name: s("exception_name"),
            fault_address: s("fault_address"),
            fault_module: s("fault_module"),
            fault_offset: s("fault_offset"),
            fault_symbol: s("fault_symbol"),
            fault_access: s("fault_access"),
            fault_referenced_address: s("fault_referenced_address"),
            triage: TriageFields::new(),
            stack: StackColumns::new(),
            module_count: u32b("module_count"),
            warnings: list("warnings"),
        }
    }

    pub(super) fn push(&mut self, r: &CrashReport, host: &str) {
        self.rows += 1;
        self.dump_id.append_value(&r.dump_id);
        self.path.append_value(&r.path);
        self.host.append_value(host);
        self.size_bytes.append_value(r.size_bytes);
        self.format.append_value(r.format.as_str());
        self.key.clear();
        let _ = write!(self.key, "{}", r.arch);
        self.arch.append_value(&self.key);
        self.os_build.append_option(r.os_build);
        self.processors.append_option(r.processors);
        self.product_type.append_option(r.product_type.as_deref());
        self.crash_time
            .append_option(r.crash_time.map(|t| t.timestamp_millis()));
        self.uptime_seconds.append_option(r.uptime_seconds);
        self.boot_id.append_option(r.boot_id);
        let bugcheck = r.bugcheck.as_ref();
        self.bugcheck_code.append_option(bugcheck.map(|b| b.code));
        self.bugcheck_name
            .append_option(bugcheck.map(|b| b.name.as_str()));
        self.hex
            .fill(
                bugcheck
                    .into_iter()
                    .flat_map(|b| b.parameters.iter().map(|p| Some(p.0))),
            )
            .append_to(&mut self.bugcheck_parameters);
        let exception = r.exception.as_ref();
        self.exception_code.append_option(exception.map(|e| e.code));
        self.exception_name
            .append_option(exception.map(|e| e.name.as_str()));
        let f = &r.fault;
        self.fault_address
            .append_option(self.hex.one(f.address.map(|a| a.0)));
        match &f.module {
            Some(module) => {
                self.key.clear();
                let _ = write!(self.key, "{module}");
                self.fault_module.append_value(&self.key);
            }
            None => self.fault_module.append_null(),
        }
        self.fault_offset
            .append_option(self.hex.one(f.offset.map(|a| a.0)));
        self.fault_symbol.append_option(f.symbol.as_deref());
        self.fault_access
            .append_option(f.access.map(Access::as_str));
        self.fault_referenced_address
            .append_option(self.hex.one(f.referenced_address.map(|a| a.0)));
        self.triage.push(r);
        self.stack.push(&r.stack, &mut self.hex);
        self.module_count
            .append_value(u32::try_from(r.modules.len()).unwrap_or(u32::MAX));
        self.warnings
            .append_values_iter(r.warnings.iter().map(String::as_str));
    }

    pub(super) fn finish(mut self, now_ms: i64) -> PolarsResult<DataFrame> {
        let rows = self.rows;
        let mut columns = vec![
            self.dump_id.finish().into_column(),
            self.path.finish().into_column(),
            self.host.finish().into_column(),
            self.size_bytes.finish().into_column(),
            self.format.finish().into_column(),
            self.arch.finish().into_column(),
            self.os_build.finish().into_column(),
            self.processors.finish().into_column(),
            self.product_type.finish().into_column(),
            utc_ms("crash_time", self.crash_time.finish()),
            self.uptime_seconds.finish().into_column(),
            self.boot_id.finish().into_column(),
            self.bugcheck_code.finish().into_column(),
            self.bugcheck_name.finish().into_column(),
            self.bugcheck_parameters.finish().into_column(),
            self.exception_code.finish().into_column(),
            self.exception_name.finish().into_column(),
            self.fault_address.finish().into_column(),
            self.fault_module.finish().into_column(),
            self.fault_offset.finish().into_column(),
            self.fault_symbol.finish().into_column(),
            self.fault_access.finish().into_column(),
            self.fault_referenced_address.finish().into_column(),
        ];
        columns.extend(self.triage.finish());
        columns.extend(self.stack.finish());
        columns.push(self.module_count.finish().into_column());
        columns.push(self.warnings.finish().into_column());
        columns.push(super::batch::constant_time("ingested_at", now_ms, rows));
        DataFrame::new(rows, columns)
    }
}

/// The stored part of a report: what `CrashRows::report` gives back for a row written from
/// `report`. Not stored: `os_version`, the module lists and threads, the exception address,
/// the fault's module base, each frame's function offset, source line and inlines
/// (`module_count` keeps only the number of modules).
pub fn as_stored(report: &CrashReport) -> CrashReport {
    CrashReport {
        os_version: None,
        bugcheck: report.bugcheck.as_ref().map(|b| BugcheckRecord {
            code_hex: bugcheck::code_hex(b.code),
            ..b.clone()
        }),
        exception: report.exception.as_ref().map(|e| ExceptionRecord {
            address: Address::default(),
            ..e.clone()
        }),
        fault: Fault {
            module_base: None,
            ..report.fault.clone()
        },
        stack: report
            .stack
            .iter()
            .map(|f| StackFrame {
                function_offset: None,
                source_line: None,
                inlines: Vec::new(),
                ..f.clone()
            })
            .collect(),
        crashing_thread_id: None,
        crashing_thread_index: None,
        threads: Vec::new(),
        modules: Vec::new(),
        unloaded_modules: Vec::new(),
        ..report.clone()
    }
}

/// The crash table read back row by row. Index lookups are only cheap on a rechunked
/// DataFrame (`DataFrame::rechunk_mut_par`); columns a store written by an older version
/// lacks read as empty (`stack_trust`: every frame then counts as `scan`).
pub struct CrashRows<'a> {
    height: usize,
    dump_id: &'a StringChunked,
    path: &'a StringChunked,
    host: &'a StringChunked,
    size_bytes: &'a UInt64Chunked,
    format: &'a StringChunked,
    arch: &'a StringChunked,
    os_build: &'a UInt32Chunked,
    processors: &'a UInt32Chunked,
    product_type: &'a StringChunked,
    crash_time: Option<&'a Int64Chunked>,
    uptime_seconds: &'a UInt64Chunked,
    boot_id: &'a UInt32Chunked,
    bugcheck_code: &'a UInt32Chunked,
    bugcheck_name: &'a StringChunked,
    bugcheck_parameters: &'a ListChunked,
    exception_code: &'a UInt32Chunked,
    exception_name: &'a StringChunked,
    fault_address: &'a StringChunked,
    fault_module: &'a StringChunked,
    fault_offset: &'a StringChunked,
    fault_symbol: &'a StringChunked,
    fault_access: &'a StringChunked,
    fault_referenced_address: &'a StringChunked,
    blame_module: &'a StringChunked,
    blame_module_lc: &'a StringChunked,
    blame_owner: &'a StringChunked,
    blame_third_party: &'a BooleanChunked,
    blame_frame_index: &'a UInt32Chunked,
    blame_reason: &'a StringChunked,
    failure_class: &'a StringChunked,
    bucket_id: &'a StringChunked,
    signature: &'a StringChunked,
    stack_address: &'a ListChunked,
    stack_module: &'a ListChunked,
    stack_offset: &'a ListChunked,
    stack_function: &'a ListChunked,
    stack_trust: Option<&'a ListChunked>,
    warnings: &'a ListChunked,
}

/// The items of list `i` (an empty list for a null entry).
fn items(list: &ListChunked, i: usize) -> PolarsResult<Vec<Option<String>>> {
    match list.get_as_series(i) {
        Some(s) => Ok(s.str()?.iter().map(|v| v.map(str::to_string)).collect()),
        None => Ok(Vec::new()),
    }
}

/// A stored hex string as an address (`None` for null or unparsable text).
fn address(ca: &StringChunked, i: usize) -> Option<Address> {
    ca.get(i).and_then(crate::record::parse_hex).map(Address)
}

fn text(ca: &StringChunked, i: usize) -> Option<String> {
    ca.get(i).map(str::to_string)
}

/// The variant of `all` whose stored name (`as_str`) is `name`.
fn named<T: Copy>(all: &[T], as_str: fn(T) -> &'static str, name: &str) -> Option<T> {
    all.iter().copied().find(|&v| as_str(v) == name)
}

/// The stored name of a frame's trust, back to the enum (unknown names: the least trust).
fn trust_of(name: &str) -> FrameTrust {
    use FrameTrust::*;
    named(
        &[Context, Cfi, FramePointer, Scan],
        FrameTrust::as_str,
        name,
    )
    .unwrap_or(Scan)
}

/// The stored name of a dump format, back to the enum (unknown names: header-level only).
fn format_of(name: &str) -> DumpFormat {
    use DumpFormat::*;
    let all = [
        KernelTriage,
        KernelFull,
        KernelBitmap,
        KernelHeader,
        Minidump,
    ];
    named(&all, DumpFormat::as_str, name).unwrap_or(KernelHeader)
}

impl<'a> CrashRows<'a> {
    pub fn new(df: &'a DataFrame) -> PolarsResult<CrashRows<'a>> {
        let str_col = |name: &str| df.column(name).and_then(|c| c.str());
        let list_col = |name: &str| df.column(name).and_then(|c| c.list());
        let u32_col = |name: &str| df.column(name).and_then(|c| c.u32());
        Ok(CrashRows {
            height: df.height(),
            dump_id: str_col("dump_id")?,
            path: str_col("path")?,
            host: str_col("host")?,
            size_bytes: df.column("size_bytes")?.u64()?,
            format: str_col("format")?,
            arch: str_col("arch")?,
            os_build: u32_col("os_build")?,
            processors: u32_col("processors")?,
            product_type: str_col("product_type")?,
            crash_time: df
                .column("crash_time")
                .ok()
                .and_then(|c| c.datetime().ok())
                .map(|c| &c.phys),
            uptime_seconds: df.column("uptime_seconds")?.u64()?,
            boot_id: u32_col("boot_id")?,
            bugcheck_code: u32_col("bugcheck_code")?,
            bugcheck_name: str_col("bugcheck_name")?,
            bugcheck_parameters: list_col("bugcheck_parameters")?,
            exception_code: u32_col("exception_code")?,
            exception_name: str_col("exception_name")?,
            fault_address: str_col("fault_address")?,
            fault_module: str_col("fault_module")?,
            fault_offset: str_col("fault_offset")?,
            fault_symbol: str_col("fault_symbol")?,
            fault_access: str_col("fault_access")?,
            fault_referenced_address: str_col("fault_referenced_address")?,
            blame_module: str_col("blame_module")?,
            blame_module_lc: str_col("blame_module_lc")?,
            blame_owner: str_col("blame_owner")?,
            blame_third_party: df.column("blame_third_party")?.bool()?,
            blame_frame_index: u32_col("blame_frame_index")?,
            blame_reason: str_col("blame_reason")?,
            failure_class: str_col("failure_class")?,
            bucket_id: str_col("bucket_id")?,
            signature: str_col("signature")?,
            stack_address: list_col("stack_address")?,
            stack_module: list_col("stack_module")?,
            stack_offset: list_col("stack_offset")?,
            stack_function: list_col("stack_function")?,
            stack_trust: list_col("stack_trust").ok(),
            warnings: list_col("warnings")?,
        })
    }

    pub fn len(&self) -> usize {
        self.height
    }

    pub fn is_empty(&self) -> bool {
        self.height == 0
    }

    /// The host the row was collected from (not part of a report).
    pub fn host(&self, i: usize) -> Option<&'a str> {
        self.host.get(i)
    }

    /// The stored cluster key of the blamed module (`module_key` of `blame.module` when
    /// this version wrote the row).
    pub fn blame_module_lc(&self, i: usize) -> Option<&'a str> {
        self.blame_module_lc.get(i)
    }

    /// The stored frames of row `i`; each keeps the trust it was found with.
    pub fn stack(&self, i: usize) -> PolarsResult<Vec<StackFrame>> {
        let addresses = items(self.stack_address, i)?;
        let modules = items(self.stack_module, i)?;
        let offsets = items(self.stack_offset, i)?;
        let functions = items(self.stack_function, i)?;
        let trusts = match self.stack_trust {
            Some(list) => items(list, i)?,
            None => Vec::new(),
        };
        let nth = |v: &[Option<String>], k: usize| v.get(k).cloned().flatten();
        Ok(addresses
            .iter()
            .enumerate()
            .map(|(k, a)| StackFrame {
                index: u32::try_from(k).unwrap_or(u32::MAX),
                address: a
                    .as_deref()
                    .and_then(crate::record::parse_hex)
                    .map(Address)
                    .unwrap_or_default(),
                module: nth(&modules, k),
                offset: nth(&offsets, k)
                    .as_deref()
                    .and_then(crate::record::parse_hex)
                    .map(Address),
                function: nth(&functions, k),
                function_offset: None,
                source_line: None,
                inlines: Vec::new(),
                trust: nth(&trusts, k)
                    .as_deref()
                    .map_or(FrameTrust::Scan, trust_of),
            })
            .collect())
    }

    /// Row `i` as a report: the stored part (see `as_stored`).
    pub fn report(&self, i: usize) -> PolarsResult<CrashReport> {
        let bugcheck = self.bugcheck_code.get(i).map(|code| {
            Ok::<_, PolarsError>(BugcheckRecord {
                code,
                code_hex: bugcheck::code_hex(code),
                name: text(self.bugcheck_name, i).unwrap_or_default(),
                parameters: items(self.bugcheck_parameters, i)?
                    .iter()
                    .map(|p| Address(p.as_deref().and_then(crate::record::parse_hex).unwrap_or(0)))
                    .collect(),
            })
        });
        Ok(CrashReport {
            path: text(self.path, i).unwrap_or_default(),
            dump_id: text(self.dump_id, i).unwrap_or_default(),
            size_bytes: self.size_bytes.get(i).unwrap_or(0),
            format: self
                .format
                .get(i)
                .map_or(DumpFormat::KernelHeader, format_of),
            arch: Arch::parse(self.arch.get(i).unwrap_or("unknown")),
            os_build: self.os_build.get(i),
            os_version: None,
            processors: self.processors.get(i),
            product_type: text(self.product_type, i),
            crash_time: self
                .crash_time
                .and_then(|c| c.get(i))
                .and_then(DateTime::from_timestamp_millis),
            uptime_seconds: self.uptime_seconds.get(i),
            boot_id: self.boot_id.get(i),
            bugcheck: bugcheck.transpose()?,
            exception: self.exception_code.get(i).map(|code| ExceptionRecord {
                code,
                name: text(self.exception_name, i).unwrap_or_default(),
                address: Address::default(),
            }),
            fault: Fault {
                address: address(self.fault_address, i),
                module: self.fault_module.get(i).map(ModuleRef::parse),
                module_base: None,
                offset: address(self.fault_offset, i),
                symbol: text(self.fault_symbol, i),
                access: self.fault_access.get(i).and_then(Access::parse),
                referenced_address: address(self.fault_referenced_address, i),
            },
            blame: Blame {
                module: text(self.blame_module, i),
                owner: text(self.blame_owner, i),
                third_party: self.blame_third_party.get(i).unwrap_or(false),
                frame_index: self.blame_frame_index.get(i),
                reason: text(self.blame_reason, i).unwrap_or_default(),
            },
            failure_class: text(self.failure_class, i).unwrap_or_default(),
            bucket_id: text(self.bucket_id, i).unwrap_or_default(),
            signature: text(self.signature, i).unwrap_or_default(),
            stack: self.stack(i)?,
            crashing_thread_id: None,
            crashing_thread_index: None,
            threads: Vec::new(),
            modules: Vec::new(),
            unloaded_modules: Vec::new(),
            warnings: items(self.warnings, i)?.into_iter().flatten().collect(),
        })
    }
}

/// The columns `reprocess` re-derives (blame, class, bucket, signature; with `--symbols` also
/// the stack and the fault symbol), built from re-triaged reports and put in place of the
/// stored ones (same names, types and order).
pub struct TriageColumns {
    hex: HexBuffer,
    triage: TriageFields,
    /// With re-symbolized stacks: the stack columns and `fault_symbol`.
    stack: Option<(StackColumns, Str)>,
}

impl TriageColumns {
    pub fn new(with_stacks: bool) -> TriageColumns {
        TriageColumns {
            hex: HexBuffer::default(),
            triage: TriageFields::new(),
            stack: with_stacks.then(|| (StackColumns::new(), s("fault_symbol"))),
        }
    }

    /// Adds the next row's re-derived values.
    pub fn push(&mut self, r: &CrashReport) {
        self.triage.push(r);
        if let Some((stack, fault_symbol)) = &mut self.stack {
            stack.push(&r.stack, &mut self.hex);
            fault_symbol.append_option(r.fault.symbol.as_deref());
        }
    }

    /// `crashes` with the re-derived columns in place of the stored ones.
    pub fn replace_in(self, mut crashes: DataFrame) -> PolarsResult<DataFrame> {
        let mut columns = self.triage.finish().to_vec();
        if let Some((stack, fault_symbol)) = self.stack {
            columns.extend(stack.finish());
            columns.push(fault_symbol.finish().into_column());
        }
        for column in columns {
            crashes.with_column(column)?;
        }
        Ok(crashes)
    }
}
