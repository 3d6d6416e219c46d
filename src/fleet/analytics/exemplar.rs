//! One example crash of a signature-level cluster: the stored bugcheck, parameters, fault and
//! frames of the signature's representative dump (its first dump in scan order, the one the
//! similarity pass also uses).
//!
//! A cluster's figures say how far a problem reaches; a responder also needs to see what one
//! of its crashes looks like (bugcheck parameters, the symbolized frames) without going back
//! to the dump files. Reading one row is a slice of the crash table, which the Parquet scan
//! pushes down, so it costs a row group, not the table.

use std::collections::HashMap;

use polars::prelude::*;
use serde::Serialize;

use super::prepare::Prepared;
use super::AnalyticsError;

/// Frames kept per exemplar (from the blamed frame down).
pub const EXEMPLAR_FRAMES: usize = 32;

/// One frame of an exemplar's stack.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExemplarFrame {
    pub module: Option<String>,
    pub function: Option<String>,
    /// Offset into the module, hex (`0xe14ed`).
    pub offset: Option<String>,
}

/// The stored facts of one crash of a cluster (strings as stored: untrusted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exemplar {
    pub dump_id: String,
    pub host: Option<String>,
    pub arch: Option<String>,
    pub os_build: Option<u32>,
    pub bugcheck_code: Option<u32>,
    pub bugcheck_name: Option<String>,
    /// P1..P4 as stored (hex strings).
    pub bugcheck_parameters: Vec<String>,
    pub fault_module: Option<String>,
    pub fault_offset: Option<String>,
    pub fault_symbol: Option<String>,
    pub fault_access: Option<String>,
    /// From the blamed frame down, at most [`EXEMPLAR_FRAMES`].
    pub frames: Vec<ExemplarFrame>,
}

fn str_list(column: &Column, i: usize) -> Result<Vec<Option<String>>, AnalyticsError> {
    let Some(series) = column.list()?.get_as_series(i) else {
        return Ok(Vec::new());
    };
    Ok(series
        .str()?
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn opt_str(df: &DataFrame, name: &str) -> Result<Option<String>, AnalyticsError> {
    match df.column(name) {
        Ok(c) => Ok(c.str()?.get(0).map(str::to_string)),
        Err(_) => Ok(None),
    }
}

fn opt_u32(df: &DataFrame, name: &str) -> Result<Option<u32>, AnalyticsError> {
    match df.column(name) {
        Ok(c) => Ok(c.cast(&DataType::UInt32)?.u32()?.get(0)),
        Err(_) => Ok(None),
    }
}

/// Exemplars of the signature-level clusters with these ids (unknown ids are left out).
pub(crate) fn exemplars(
    prepared: &Prepared,
    crashes: LazyFrame,
    signature_ids: &[&str],
) -> Result<HashMap<String, Exemplar>, AnalyticsError> {
    let mut crashes = crashes;
    let schema = crashes.collect_schema()?;
    let wanted = [
        "dump_id",
        "host",
        "arch",
        "os_build",
        "bugcheck_code",
        "bugcheck_name",
        "bugcheck_parameters",
        "fault_module",
        "fault_offset",
        "fault_symbol",
        "fault_access",
        "blame_frame_index",
        "stack_module",
        "stack_function",
        "stack_offset",
    ];
    let columns: Vec<Expr> = wanted
        .iter()
        .filter(|c| schema.get(c).is_some())
        .map(|c| col(*c))
        .collect();
    let mut out = HashMap::new();
    for id in signature_ids {
        let Some(info) = prepared.sigs.iter().find(|s| s.id == *id) else {
            continue;
        };
        let (Some(dump_id), Some(row)) = (info.rep_dump_id.clone(), info.rep_row) else {
            continue;
        };
        let df = crashes
            .clone()
            .slice(i64::from(row), 1)
            .select(columns.clone())
            .collect()?;
        // The row index comes from the same scan order; the dump id guards against a store
        // that changed between preparing and reading.
        if df.height() != 1 || opt_str(&df, "dump_id")?.as_deref() != Some(dump_id.as_str()) {
            continue;
        }
        let parameters = match df.column("bugcheck_parameters") {
            Ok(c) => str_list(c, 0)?.into_iter().flatten().collect(),
            Err(_) => Vec::new(),
        };
        let frames = match (
            df.column("stack_module"),
            df.column("stack_function"),
            df.column("stack_offset"),
        ) {
            (Ok(m), Ok(f), Ok(o)) => {
                let (m, f, o) = (str_list(m, 0)?, str_list(f, 0)?, str_list(o, 0)?);
                let len = m.len().min(f.len()).min(o.len());
                let start = opt_u32(&df, "blame_frame_index")?
                    .map(|i| i as usize)
                    .filter(|i| *i < len)
                    .unwrap_or(0);
                (start..len)
                    .take(EXEMPLAR_FRAMES)
                    .map(|i| ExemplarFrame {
                        module: m[i].clone(),
                        function: f[i].clone(),
                        offset: o[i].clone(),
                    })
                    .collect()
            }
            _ => Vec::new(),
        };
        out.insert(
            id.to_string(),
            Exemplar {
                dump_id,
                host: opt_str(&df, "host")?,
                arch: opt_str(&df, "arch")?,
                os_build: opt_u32(&df, "os_build")?,
                bugcheck_code: opt_u32(&df, "bugcheck_code")?,
                bugcheck_name: opt_str(&df, "bugcheck_name")?,
                bugcheck_parameters: parameters,
                fault_module: opt_str(&df, "fault_module")?,
                fault_offset: opt_str(&df, "fault_offset")?,
                fault_symbol: opt_str(&df, "fault_symbol")?,
                fault_access: opt_str(&df, "fault_access")?,
                frames,
            },
        );
    }
    Ok(out)
}
