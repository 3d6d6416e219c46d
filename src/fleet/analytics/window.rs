//! Time handling for the analytics: the `--since` / `--until` window, durations such as
//! `--loop-uptime 10m`, UTC formatting, and the onset-curve bucket size.
//!
//! All instants are milliseconds since the Unix epoch, UTC: the crash store keeps
//! `crash_time` as `datetime[ms, UTC]`, and a plain `i64` is what the per-host state machine
//! and the bucket arithmetic want.

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::AnalyticsError;

/// The time window of an analysis: crashes with `since <= crash_time <= until` (both bounds
/// inclusive, both optional). Without bounds every crash counts, including crashes whose time
/// is unknown; with a bound, a crash without a time cannot be placed and is left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// `--now`: the end of the data host states are judged against, without leaving crashes
    /// out (a live fleet's "now"; `--until` wins when both are given).
    pub now_ms: Option<i64>,
}

impl Window {
    /// Parses the two CLI bounds (`None` = open).
    pub fn parse(since: Option<&str>, until: Option<&str>) -> Result<Window, AnalyticsError> {
        let since_ms = since.map(parse_instant).transpose()?;
        let until_ms = until.map(parse_instant).transpose()?;
        if let (Some(s), Some(u)) = (since_ms, until_ms) {
            if s > u {
                return Err(AnalyticsError::BadArgument(format!(
                    "--since ({}) is after --until ({})",
                    format_utc(s),
                    format_utc(u)
                )));
            }
        }
        Ok(Window {
            since_ms,
            until_ms,
            now_ms: None,
        })
    }

    /// The same window judged at `now` (`--now`).
    pub fn with_now(mut self, now_ms: Option<i64>) -> Window {
        self.now_ms = now_ms;
        self
    }

    pub fn is_open(&self) -> bool {
        self.since_ms.is_none() && self.until_ms.is_none()
    }
}

/// A host's crashes count as clock skew when its latest crash is more than this beyond the
/// latest crash of every other host (12 h: longer than any incident morning's spread of
/// onset, shorter than the day a wrong time zone or a fast clock adds).
pub const SKEW_GAP_MS: i64 = 12 * 3600 * 1000;
/// At most this many hosts are set aside as clock-skewed, and never half the hosts or more:
/// outliers are a few, not the fleet.
pub const MAX_SKEWED_HOSTS: usize = 3;
/// Below this many hosts with crashes, nothing is called clock skew.
pub const MIN_HOSTS_FOR_SKEW: usize = 10;
/// The data counts as live, and the analysis clock becomes its end, when its latest crash is
/// less than this before the clock.
pub const RECENT_DATA_MS: i64 = 86_400_000;

/// Where the end of the data came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndBasis {
    /// `--until`.
    Until,
    /// `--now`.
    Now,
    /// The analysis clock: the latest crash is less than a day old.
    Clock,
    /// The latest crash (after setting clock-skewed hosts aside, see `skewed`).
    LatestCrash,
    /// No crash has a time.
    None,
}

/// A host whose latest crash lies far beyond every other host's: its clock is wrong (or its
/// dump is), so its crashes cannot set the end of the data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkewedHost {
    pub host: String,
    pub latest_crash: String,
}

/// The end of the data that host states are judged against, and why it is that.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataEnd {
    pub end_ms: Option<i64>,
    pub basis: EndBasis,
    /// With `LatestCrash`: the end is the latest crash time this many hosts had reached
    /// (one host's late clock cannot decide alone).
    pub hosts_reaching_end: usize,
    pub skewed: Vec<SkewedHost>,
}

impl Default for DataEnd {
    /// No crash has a time (an empty store).
    fn default() -> DataEnd {
        DataEnd {
            end_ms: None,
            basis: EndBasis::None,
            hosts_reaching_end: 0,
            skewed: Vec::new(),
        }
    }
}

impl DataEnd {
    /// One line for humans: `2024-07-19T20:13:48Z (latest crash)`.
    pub fn describe(&self) -> String {
        let end = self
            .end_ms
            .map(format_utc)
            .unwrap_or_else(|| "unknown".into());
        let basis = match self.basis {
            EndBasis::Until => "--until",
            EndBasis::Now => "--now",
            EndBasis::Clock => "the clock: the data is recent",
            EndBasis::LatestCrash if self.hosts_reaching_end > 1 => {
                "the latest crash time that several hosts reached"
            }
            EndBasis::LatestCrash => "the latest crash",
            EndBasis::None => "no crash has a time",
        };
        let mut out = format!("{end} ({basis})");
        if !self.skewed.is_empty() {
            out.push_str(&format!(
                "; {} host(s) with crashes more than 12 h beyond all others set aside as clock skew: {}",
                self.skewed.len(),
                self.skewed
                    .iter()
                    .map(|s| format!("{} at {}", s.host, s.latest_crash))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        out
    }

    /// The warning lines an output carries about the end (empty when nothing is odd).
    pub fn warnings(&self) -> Vec<String> {
        self.skewed
            .iter()
            .map(|s| {
                format!(
                    "clock skew: host {} has a crash at {}, more than 12 h after every other host's; its crashes do not set the end of the data",
                    s.host, s.latest_crash
                )
            })
            .collect()
    }
}

/// How many of the latest hosts are clock-skewed outliers, from every host's latest crash
/// time sorted newest first: the largest `k` (at most `MAX_SKEWED_HOSTS`, and fewer than half
/// the hosts) such that the `k` newest are more than `SKEW_GAP_MS` beyond all the others.
pub fn skewed_outliers(latest_desc: &[i64]) -> usize {
    let n = latest_desc.len();
    if n < MIN_HOSTS_FOR_SKEW {
        // A handful of hosts (real samples from several years) has no common clock to
        // compare with.
        return 0;
    }
    let limit = MAX_SKEWED_HOSTS.min(n.saturating_sub(1) / 2);
    let mut cut = 0;
    for k in 0..limit {
        if latest_desc[k].saturating_sub(latest_desc[k + 1]) > SKEW_GAP_MS {
            cut = k + 1;
        }
    }
    cut
}

/// How many hosts must have crashed by the end of the data: 3 when 10 hosts or more have
/// crashes, else 1 (a handful of hosts keeps its plain latest crash).
pub fn corroborating_hosts(hosts: usize) -> usize {
    if hosts >= 10 {
        3
    } else {
        1
    }
}

/// Parses an instant given on the command line, always read as UTC: RFC 3339
/// (`2024-07-19T04:09:00Z`, `2024-07-19T06:09:00+02:00`), `2024-07-19T04:09[:00]`,
/// `2024-07-19 04:09[:00]`, or a bare date `2024-07-19` (midnight UTC).
pub fn parse_instant(text: &str) -> Result<i64, AnalyticsError> {
    let text = text.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Ok(dt.timestamp_millis());
    }
    let naive_text = text.strip_suffix('Z').unwrap_or(text);
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(naive_text, format) {
            return Ok(naive.and_utc().timestamp_millis());
        }
    }
    if let Ok(date) = NaiveDate::parse_from_str(naive_text, "%Y-%m-%d") {
        if let Some(midnight) = date.and_hms_opt(0, 0, 0) {
            return Ok(midnight.and_utc().timestamp_millis());
        }
    }
    Err(AnalyticsError::BadArgument(format!(
        "'{text}' is not a time: use RFC 3339 (2024-07-19T04:09:00Z) or 'YYYY-MM-DD[ HH:MM[:SS]]' (UTC)"
    )))
}

/// Parses a duration such as `90s`, `10m`, `2h`, `1d`, `1h30m` or a bare number of seconds.
/// Returns seconds.
pub fn parse_duration(text: &str) -> Result<u64, AnalyticsError> {
    let bad = || {
        AnalyticsError::BadArgument(format!(
            "'{text}' is not a duration: use e.g. 90s, 10m, 2h, 1d or 1h30m"
        ))
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(bad());
    }
    if let Ok(seconds) = trimmed.parse::<u64>() {
        return Ok(seconds);
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for ch in trimmed.chars() {
        if let Some(digit) = ch.to_digit(10) {
            let n = number.unwrap_or(0);
            number = Some(
                n.checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(digit)))
                    .ok_or_else(bad)?,
            );
            continue;
        }
        let unit = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n = number.take().ok_or_else(bad)?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if number.is_some() {
        // Trailing digits without a unit ("1h30") are ambiguous.
        return Err(bad());
    }
    Ok(total)
}

/// `2024-07-19T04:09:00Z`; `None` for an instant chrono cannot represent.
pub fn rfc3339_utc(ms: i64) -> Option<String> {
    // Years 1970..=9999 (every crash time there is) take the fast path: the hosts table
    // formats three instants per host, hundreds of thousands of times.
    if (0..253_402_300_800_000).contains(&ms) {
        let secs = ms.div_euclid(1000);
        let days = secs.div_euclid(86_400);
        let (y, m, d) = crate::civil_date::civil_from_days(days);
        let sod = secs.rem_euclid(86_400);
        let mut out = String::with_capacity(20);
        use std::fmt::Write;
        let _ = write!(
            out,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            sod / 3600,
            sod / 60 % 60,
            sod % 60
        );
        return Some(out);
    }
    DateTime::<Utc>::from_timestamp_millis(ms).map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// RFC 3339 UTC, or the raw milliseconds when out of chrono's range (never panics).
pub fn format_utc(ms: i64) -> String {
    rfc3339_utc(ms).unwrap_or_else(|| format!("{ms}ms"))
}

/// A short human form of the span `first`–`last` for terminal tables: `04:09–05:41 UTC` when
/// both fall on the same day, `2024-07-19 04:09–2024-07-20 01:00 UTC` otherwise.
pub fn short_span_utc(first_ms: i64, last_ms: i64) -> String {
    let (Some(first), Some(last)) = (
        DateTime::<Utc>::from_timestamp_millis(first_ms),
        DateTime::<Utc>::from_timestamp_millis(last_ms),
    ) else {
        return format!("{}–{}", format_utc(first_ms), format_utc(last_ms));
    };
    if first.date_naive() == last.date_naive() {
        format!("{}–{} UTC", first.format("%H:%M"), last.format("%H:%M"))
    } else {
        format!(
            "{}–{} UTC",
            first.format("%Y-%m-%d %H:%M"),
            last.format("%Y-%m-%d %H:%M")
        )
    }
}

/// Onset-curve bucket sizes, seconds: 1 min, 5 min, 15 min, 1 h, 6 h, 1 day.
const BUCKET_SIZES_S: [i64; 6] = [60, 300, 900, 3600, 21_600, 86_400];

/// How many buckets an onset curve should have at most before a coarser size is chosen.
const MAX_BUCKETS: i64 = 120;

/// The onset-curve bucket size for data spanning `span_ms`: the finest of 1 min .. 1 day that
/// keeps the curve at no more than 120 points (an incident morning of 90 minutes gets 1-minute
/// buckets; a month gets 6-hour buckets). Spans longer than 120 days still get 1-day buckets.
pub fn bucket_seconds_for_span(span_ms: i64) -> i64 {
    let span_s = span_ms.max(0) / 1000;
    for size in BUCKET_SIZES_S {
        if span_s / size <= MAX_BUCKETS {
            return size;
        }
    }
    86_400
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_read_as_utc() {
        // 2024-07-19T04:09:00Z = 1721362140 s.
        let expected = 1_721_362_140_000;
        assert_eq!(parse_instant("2024-07-19T04:09:00Z").unwrap(), expected);
        assert_eq!(
            parse_instant("2024-07-19T06:09:00+02:00").unwrap(),
            expected
        );
        assert_eq!(parse_instant("2024-07-19T04:09").unwrap(), expected);
        assert_eq!(parse_instant("2024-07-19 04:09:00").unwrap(), expected);
        assert_eq!(
            parse_instant("2024-07-19").unwrap(),
            expected - (4 * 3600 + 9 * 60) * 1000
        );
        assert!(parse_instant("yesterday").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m").unwrap(), 600);
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("1h30m").unwrap(), 5400);
        assert_eq!(parse_duration("45").unwrap(), 45);
        assert_eq!(parse_duration("1d").unwrap(), 86_400);
        assert!(parse_duration("1h30").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn window_rejects_reversed_bounds() {
        assert!(Window::parse(Some("2024-07-20"), Some("2024-07-19")).is_err());
        let w = Window::parse(Some("2024-07-19"), None).unwrap();
        assert!(!w.is_open());
    }

    #[test]
    fn bucket_size_follows_the_span() {
        assert_eq!(bucket_seconds_for_span(92 * 60 * 1000), 60);
        assert_eq!(bucket_seconds_for_span(5 * 3600 * 1000), 300);
        assert_eq!(bucket_seconds_for_span(24 * 3600 * 1000), 900);
        assert_eq!(bucket_seconds_for_span(30 * 86_400 * 1000), 21_600);
        assert_eq!(bucket_seconds_for_span(365 * 86_400 * 1000), 86_400);
        assert_eq!(bucket_seconds_for_span(0), 60);
    }

    #[test]
    fn fast_rfc3339_agrees_with_chrono() {
        let mut ms: i64 = 0;
        // Every ~3.7 days from 1970 to 2100, plus leap days and year ends.
        while ms < 4_102_444_800_000 {
            let chrono = DateTime::<Utc>::from_timestamp_millis(ms)
                .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true));
            assert_eq!(rfc3339_utc(ms), chrono, "{ms}");
            ms += 321_987_654;
        }
        for text in [
            "2024-02-29T23:59:59Z",
            "2000-02-29T00:00:00Z",
            "1999-12-31T23:59:59Z",
        ] {
            assert_eq!(rfc3339_utc(parse_instant(text).unwrap()).unwrap(), text);
        }
        assert_eq!(rfc3339_utc(-1000).unwrap(), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn a_few_far_outliers_are_skew() {
        let h = 3600 * 1000;
        // One host a day ahead of 9 others.
        let mut t = vec![
            48 * h,
            24 * h,
            23 * h,
            22 * h,
            21 * h,
            20 * h,
            19 * h,
            18 * h,
            17 * h,
            16 * h,
        ];
        assert_eq!(skewed_outliers(&t), 1);
        // Two hosts skewed by different amounts.
        t[1] = 40 * h;
        assert_eq!(skewed_outliers(&t), 2);
        // Spread out evenly: nothing is an outlier.
        let even: Vec<i64> = (0..10).rev().map(|i| i * 10 * h).collect();
        assert_eq!(skewed_outliers(&even), 0);
        // A handful of hosts: no common clock to compare with.
        assert_eq!(skewed_outliers(&[100 * h, 0, 0, 0]), 0);
        assert_eq!(skewed_outliers(&[]), 0);
    }

    #[test]
    fn spans_print_in_utc() {
        let a = parse_instant("2024-07-19T04:09:00Z").unwrap();
        let b = parse_instant("2024-07-19T05:41:59Z").unwrap();
        assert_eq!(short_span_utc(a, b), "04:09–05:41 UTC");
        let c = parse_instant("2024-07-20T01:00:00Z").unwrap();
        assert_eq!(
            short_span_utc(a, c),
            "2024-07-19 04:09–2024-07-20 01:00 UTC"
        );
        assert_eq!(format_utc(a), "2024-07-19T04:09:00Z");
    }
}
