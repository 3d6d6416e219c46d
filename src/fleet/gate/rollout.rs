//! The rollout file: which host got which change, in which ring, when. CSV or Parquet with
//! the columns `host, ring, change, version, deployed_at` (RFC 3339), the shape
//! `blastradius simulate` writes to `rollout.csv` and a deployment system exports.
//!
//! A release decision made from a misread file is worse than none, so every problem names the
//! file, the line (CSV; the header is line 1) or row (Parquet) and the column, and nothing is
//! guessed: a time without an offset, an empty host or a missing column is an error. The CSV
//! is read by a small RFC 4180 reader of our own because it must know the line each record
//! starts on (quoted fields may span lines).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use polars::prelude::*;

/// The columns a rollout file must have (matched case-insensitively, trimmed).
pub const ROLLOUT_COLUMNS: [&str; 5] = ["host", "ring", "change", "version", "deployed_at"];

/// Where a record is in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// CSV: the line the record starts on (the header is line 1).
    Line(u64),
    /// Parquet: the 1-based row number.
    Row(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// One deployment of a change to a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    pub host: String,
    pub ring: String,
    pub change: String,
    pub version: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub deployed_ms: i64,
    pub location: Location,
}

/// A rollout file, read and checked.
#[derive(Debug, Clone)]
pub struct Rollout {
    pub path: PathBuf,
    pub deployments: Vec<Deployment>,
}

/// Why a rollout file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    #[error("{path}: cannot read the rollout file: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: cannot read the rollout file as Parquet: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: PolarsError,
    },
    #[error("{path}: line 1: missing column(s) {missing} (a rollout file has the columns host, ring, change, version, deployed_at; found: {found})")]
    MissingColumns {
        path: PathBuf,
        missing: String,
        found: String,
    },
    #[error("{path}: {location}, column '{column}': {problem}")]
    BadValue {
        path: PathBuf,
        location: Location,
        column: &'static str,
        problem: String,
    },
    #[error("{path}: {location}: {problem}")]
    BadRecord {
        path: PathBuf,
        location: Location,
        problem: String,
    },
    #[error("{path}: no deployments (only a header, or an empty file)")]
    Empty { path: PathBuf },
}

/// Reads a rollout file: Parquet when the name ends in `.parquet`, CSV otherwise.
pub fn read_rollout(path: &Path) -> Result<Rollout, RolloutError> {
    let is_parquet = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    let deployments = if is_parquet {
        read_parquet(path)?
    } else {
        let bytes = std::fs::read(path).map_err(|source| RolloutError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        read_csv(path, &bytes)?
    };
    if deployments.is_empty() {
        return Err(RolloutError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(Rollout {
        path: path.to_path_buf(),
        deployments,
    })
}

impl Rollout {
    /// Every host of the file must be one the inventory knows: a typo or a host missing from
    /// the CMDB would silently shrink the ring and the baseline.
    pub fn check_hosts(&self, known: &HashSet<&str>) -> Result<(), RolloutError> {
        for d in &self.deployments {
            if !known.contains(d.host.as_str()) {
                return Err(RolloutError::BadValue {
                    path: self.path.clone(),
                    location: d.location,
                    column: "host",
                    problem: format!(
                        "host '{}' is not in the store's inventory (scan --inventory FILE with the current CMDB export)",
                        d.host
                    ),
                });
            }
        }
        Ok(())
    }

    /// The distinct changes, in the order they first appear.
    pub fn changes(&self) -> Vec<&str> {
        let mut seen = HashSet::new();
        self.deployments
            .iter()
            .map(|d| d.change.as_str())
            .filter(|c| seen.insert(*c))
            .collect()
    }
}

/// The five columns' positions in a header; error names what is missing.
fn column_positions(path: &Path, header: &[String]) -> Result<[usize; 5], RolloutError> {
    let mut positions = [usize::MAX; 5];
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}');
        if let Some(k) = ROLLOUT_COLUMNS
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
        {
            if positions[k] == usize::MAX {
                positions[k] = i;
            }
        }
    }
    let missing: Vec<&str> = ROLLOUT_COLUMNS
        .iter()
        .zip(positions)
        .filter(|(_, p)| *p == usize::MAX)
        .map(|(c, _)| *c)
        .collect();
    if !missing.is_empty() {
        return Err(RolloutError::MissingColumns {
            path: path.to_path_buf(),
            missing: missing.join(", "),
            found: header.join(", "),
        });
    }
    Ok(positions)
}

/// The `deployed_at` of a record: text to parse, or an instant a typed Parquet column holds
/// (`None`: a null cell).
enum DeployedAt<'a> {
    Text(Option<&'a str>),
    Typed(Option<i64>),
}

/// Builds a deployment from its fields, checking each.
fn deployment(
    path: &Path,
    location: Location,
    fields: [Option<&str>; 4],
    deployed_at: DeployedAt<'_>,
) -> Result<Deployment, RolloutError> {
    let bad = |column: &'static str, problem: String| RolloutError::BadValue {
        path: path.to_path_buf(),
        location,
        column,
        problem,
    };
    let mut text = [""; 4];
    for (k, field) in fields.iter().enumerate() {
        let value = field.map(str::trim).unwrap_or("");
        // The version may be blank (a change without versions); the rest may not.
        if value.is_empty() && ROLLOUT_COLUMNS[k] != "version" {
            return Err(bad(ROLLOUT_COLUMNS[k], "empty".into()));
        }
        text[k] = value;
    }
    let deployed_ms = match deployed_at {
        DeployedAt::Typed(Some(ms)) => ms,
        DeployedAt::Typed(None) => return Err(bad("deployed_at", "empty".into())),
        DeployedAt::Text(field) => {
            let value = field.map(str::trim).unwrap_or("");
            if value.is_empty() {
                return Err(bad("deployed_at", "empty".into()));
            }
            chrono::DateTime::parse_from_rfc3339(value)
                .map_err(|e| {
                    bad(
                        "deployed_at",
                        format!(
                            "'{value}' is not an RFC 3339 time with an offset, e.g. 2024-07-19T04:09:00Z ({e})"
                        ),
                    )
                })?
                .timestamp_millis()
        }
    };
    Ok(Deployment {
        host: text[0].to_string(),
        ring: text[1].to_string(),
        change: text[2].to_string(),
        version: text[3].to_string(),
        deployed_ms,
        location,
    })
}

/// One CSV record and the line it starts on.
struct Record {
    line: u64,
    fields: Vec<String>,
}

/// Splits RFC 4180 CSV (quoted fields with `""`, CRLF or LF) into records, skipping blank lines.
fn csv_records(path: &Path, text: &str) -> Result<Vec<Record>, RolloutError> {
    let mut records = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut line: u64 = 1;
    let mut record_line: u64 = 1;
    let mut in_quotes = false;
    let mut quoted_field = false;
    let mut chars = text.chars().peekable();
    let mut end_record = |fields: &mut Vec<String>, field: &mut String, start: u64| {
        fields.push(std::mem::take(field));
        let blank = fields.len() == 1 && fields[0].trim().is_empty();
        let done = std::mem::take(fields);
        if !blank {
            records.push(Record {
                line: start,
                fields: done,
            });
        }
    };
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push('\n');
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.trim().is_empty() && !quoted_field => {
                field.clear();
                in_quotes = true;
                quoted_field = true;
            }
            '"' => {
                return Err(RolloutError::BadRecord {
                    path: path.to_path_buf(),
                    location: Location::Line(line),
                    problem: "a quote inside an unquoted field".into(),
                })
            }
            ',' => {
                fields.push(std::mem::take(&mut field));
                quoted_field = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                end_record(&mut fields, &mut field, record_line);
                quoted_field = false;
                line += 1;
                record_line = line;
            }
            _ if quoted_field => {
                if !c.is_whitespace() {
                    return Err(RolloutError::BadRecord {
                        path: path.to_path_buf(),
                        location: Location::Line(line),
                        problem: "text after a closing quote".into(),
                    });
                }
            }
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(RolloutError::BadRecord {
            path: path.to_path_buf(),
            location: Location::Line(record_line),
            problem: "a quoted field is not closed before the end of the file".into(),
        });
    }
    if !field.is_empty() || !fields.is_empty() {
        end_record(&mut fields, &mut field, record_line);
    }
    Ok(records)
}

fn read_csv(path: &Path, bytes: &[u8]) -> Result<Vec<Deployment>, RolloutError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        // Count the lines before the bad byte to say where it is.
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64;
        RolloutError::BadRecord {
            path: path.to_path_buf(),
            location: Location::Line(line),
            problem: "not UTF-8 text".into(),
        }
    })?;
    let records = csv_records(path, text)?;
    let Some((header, rows)) = records.split_first() else {
        return Err(RolloutError::Empty {
            path: path.to_path_buf(),
        });
    };
    let positions = column_positions(path, &header.fields)?;
    let width = header.fields.len();
    let mut out = Vec::with_capacity(rows.len());
    for record in rows {
        let location = Location::Line(record.line);
        if record.fields.len() != width {
            return Err(RolloutError::BadRecord {
                path: path.to_path_buf(),
                location,
                problem: format!(
                    "{} fields where the header has {width}",
                    record.fields.len()
                ),
            });
        }
        let field = |k: usize| record.fields.get(positions[k]).map(String::as_str);
        out.push(deployment(
            path,
            location,
            [field(0), field(1), field(2), field(3)],
            DeployedAt::Text(field(4)),
        )?);
    }
    Ok(out)
}

fn read_parquet(path: &Path) -> Result<Vec<Deployment>, RolloutError> {
    let polars_error = |source| RolloutError::Parquet {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(|source| RolloutError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let df = ParquetReader::new(file).finish().map_err(polars_error)?;
    let header: Vec<String> = df
        .get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let positions = column_positions(path, &header)?;
    // A typed timestamp column is taken as it is (it has no text to misparse); text goes
    // through the same RFC 3339 check as CSV.
    let mut typed_times: Option<Vec<Option<i64>>> = None;
    let mut text_columns: Vec<Column> = Vec::with_capacity(5);
    for (k, &p) in positions.iter().enumerate() {
        let column = &df.columns()[p];
        if k == 4 {
            if let DataType::Datetime(unit, _) = column.dtype() {
                // The physical values are UTC instants in `unit`, whatever the zone label.
                let per_ms: i64 = match unit {
                    TimeUnit::Milliseconds => 1,
                    TimeUnit::Microseconds => 1_000,
                    TimeUnit::Nanoseconds => 1_000_000,
                };
                let raw = column.cast(&DataType::Int64).map_err(polars_error)?;
                let values = raw.i64().map_err(polars_error)?;
                typed_times = Some(
                    values
                        .iter()
                        .map(|v| v.map(|v| v.div_euclid(per_ms)))
                        .collect(),
                );
            }
        }
        text_columns.push(column.cast(&DataType::String).map_err(polars_error)?);
    }
    let mut text = Vec::with_capacity(5);
    for c in &text_columns {
        text.push(c.str().map_err(polars_error)?);
    }
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let location = Location::Row(i as u64 + 1);
        let mut fields: [Option<&str>; 5] = [None; 5];
        for (k, column) in text.iter().enumerate() {
            fields[k] = column.get(i);
        }
        let deployed_at = match &typed_times {
            Some(times) => DeployedAt::Typed(times.get(i).copied().flatten()),
            None => DeployedAt::Text(fields[4]),
        };
        let [host, ring, change, version, _] = fields;
        out.push(deployment(
            path,
            location,
            [host, ring, change, version],
            deployed_at,
        )?);
    }
    Ok(out)
}

/// The earliest deployment of `change` per host. A host listed in two rings for one change is
/// an error: which ring it belongs to would decide the verdict.
pub fn first_deployments<'a>(
    rollout: &'a Rollout,
    change: &str,
) -> Result<HashMap<&'a str, &'a Deployment>, RolloutError> {
    let mut first: HashMap<&str, &Deployment> = HashMap::new();
    for d in rollout.deployments.iter().filter(|d| d.change == change) {
        match first.get(d.host.as_str()) {
            Some(seen) if seen.ring != d.ring => {
                return Err(RolloutError::BadValue {
                    path: rollout.path.clone(),
                    location: d.location,
                    column: "ring",
                    problem: format!(
                        "host '{}' is in ring '{}' here and in ring '{}' at {} for the same change",
                        d.host, d.ring, seen.ring, seen.location
                    ),
                });
            }
            Some(seen) if seen.deployed_ms <= d.deployed_ms => {}
            _ => {
                first.insert(d.host.as_str(), d);
            }
        }
    }
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Result<Vec<Deployment>, RolloutError> {
        read_csv(Path::new("r.csv"), text.as_bytes())
    }

    #[test]
    fn reads_the_simulator_shape_and_quoted_fields() {
        let rows = csv("host,ring,change,version,deployed_at\r\n\
             LON-WS-0001,canary,\"acmeflt.sys, filter\",3.2.0,2024-07-19T04:09:00Z\r\n\
             \r\n\
             \"NYC-\"\"X\"\"\",early,\"multi\nline\",,2024-07-19T06:09:00+02:00\n")
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].change, "acmeflt.sys, filter");
        assert_eq!(rows[0].deployed_ms, 1_721_362_140_000);
        assert_eq!(rows[0].location, Location::Line(2));
        assert_eq!(rows[1].host, "NYC-\"X\"");
        assert_eq!(rows[1].version, "");
        assert_eq!(rows[1].location, Location::Line(4));
        assert_eq!(rows[1].deployed_ms, 1_721_362_140_000);
    }

    #[test]
    fn errors_name_the_line_and_the_column() {
        let e = csv("host,ring,change,deployed_at\nA,canary,c,2024-07-19T04:09:00Z\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "r.csv: line 1: missing column(s) version (a rollout file has the columns host, ring, change, version, deployed_at; found: host, ring, change, deployed_at)"
        );
        let e = csv("host,ring,change,version,deployed_at\nA,canary,c,1,2024-07-19T04:09:00Z\n\"B\nC\",canary,c,1,2024-07-19 04:09\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "r.csv: line 3, column 'deployed_at': '2024-07-19 04:09' is not an RFC 3339 time"
            ),
            "{e}"
        );
        let e = csv("host,ring,change,version,deployed_at\nA,,c,1,2024-07-19T04:09:00Z\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "r.csv: line 2, column 'ring': empty");
        let e = csv("host,ring,change,version,deployed_at\nA,canary,c,1\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "r.csv: line 2: 4 fields where the header has 5");
        let e = csv("host,ring,change,version,deployed_at\nA,canary,\"c,1,x\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "r.csv: line 2: a quoted field is not closed before the end of the file"
        );
        // A header alone reads as no rows; `read_rollout` turns that into `Empty`.
        assert!(csv("host,ring,change,version,deployed_at\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn parquet_with_typed_or_text_times() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rollout.parquet");
        let mut df = df!(
            "host" => ["A", "B"],
            "ring" => ["canary", "early"],
            "change" => ["c", "c"],
            "version" => ["1", "1"],
            "deployed_at" => ["2024-07-19T04:09:00Z", "yesterday"],
        )
        .unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let e = read_rollout(&path).unwrap_err().to_string();
        assert!(
            e.contains("rollout.parquet: row 2, column 'deployed_at': 'yesterday' is not an RFC 3339 time with an offset"),
            "{e}"
        );

        let times = Column::new(
            "deployed_at".into(),
            [1_721_362_140_000i64, 1_721_448_540_000],
        )
        .cast(&DataType::Datetime(
            TimeUnit::Milliseconds,
            Some(polars::prelude::TimeZone::UTC),
        ))
        .unwrap();
        df.with_column(times).unwrap();
        ParquetWriter::new(File::create(&path).unwrap())
            .finish(&mut df)
            .unwrap();
        let r = read_rollout(&path).unwrap();
        assert_eq!(r.deployments[1].deployed_ms, 1_721_448_540_000);
        assert_eq!(r.deployments[1].location, Location::Row(2));
        assert_eq!(r.changes(), ["c"]);
    }

    #[test]
    fn unknown_hosts_and_ring_conflicts_are_errors() {
        let rollout = Rollout {
            path: "r.csv".into(),
            deployments: csv("host,ring,change,version,deployed_at\n\
                 A,canary,c,1,2024-07-19T04:09:00Z\n\
                 B,early,c,1,2024-07-20T04:09:00Z\n\
                 A,early,c,2,2024-07-20T04:09:00Z\n")
            .unwrap(),
        };
        let known: HashSet<&str> = ["A"].into_iter().collect();
        assert_eq!(
            rollout.check_hosts(&known).unwrap_err().to_string(),
            "r.csv: line 3, column 'host': host 'B' is not in the store's inventory (scan --inventory FILE with the current CMDB export)"
        );
        assert_eq!(
            first_deployments(&rollout, "c").unwrap_err().to_string(),
            "r.csv: line 4, column 'ring': host 'A' is in ring 'early' here and in ring 'canary' at line 2 for the same change"
        );
    }
}
