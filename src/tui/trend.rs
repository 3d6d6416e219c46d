//! A cluster's recent activity from its onset curve: crashes per bin over the hours before
//! the end of the data (the main view's sparkline) and whether it is rising.

use crate::fleet::analytics::{window, Onset};

/// Where a cluster's crash rate is heading at the end of the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trend {
    /// More crashes in the last period than in the one before.
    Rising,
    Falling,
    /// The same, and not zero.
    Steady,
    /// No crash in either period.
    Quiet,
}

impl Trend {
    pub fn arrow(self) -> &'static str {
        match self {
            Trend::Rising => "↑",
            Trend::Falling => "↓",
            Trend::Steady => "→",
            Trend::Quiet => " ",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Trend::Rising => "rising",
            Trend::Falling => "falling",
            Trend::Steady => "steady",
            Trend::Quiet => "quiet",
        }
    }
}

/// The span the main view's sparkline covers, ending at the end of the data.
pub const SPARK_SPAN_MS: i64 = 24 * 3600 * 1000;

/// (bucket start ms, crashes) of an onset curve; empty when it has no start.
fn buckets(onset: &Onset) -> Vec<(i64, u64)> {
    let Some(start) = onset
        .start
        .as_deref()
        .and_then(|s| window::parse_instant(s).ok())
    else {
        return Vec::new();
    };
    let size_ms = onset.bucket_seconds.max(1).saturating_mul(1000);
    onset
        .counts
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let offset = (i as i64).saturating_mul(size_ms);
            (start.saturating_add(offset), *n)
        })
        .collect()
}

/// Crashes per bin over `[end - span, end]`, `bins` bins (a bucket counts in the bin its start
/// falls in).
pub fn recent_bins(onset: &Onset, end_ms: i64, span_ms: i64, bins: usize) -> Vec<u64> {
    let mut out = vec![0u64; bins];
    if bins == 0 || span_ms <= 0 {
        return out;
    }
    let from = end_ms.saturating_sub(span_ms);
    for (t, n) in buckets(onset) {
        if t < from || t > end_ms {
            continue;
        }
        let pos = ((t as i128 - from as i128) * bins as i128 / span_ms as i128) as usize;
        if let Some(slot) = out.get_mut(pos.min(bins - 1)) {
            *slot = slot.saturating_add(n);
        }
    }
    out
}

/// Crashes in the last period before `end_ms` against the period before it; a period is an
/// hour, or one onset bucket when buckets are longer.
pub fn trend(onset: &Onset, end_ms: i64) -> Trend {
    let period_ms = onset.bucket_seconds.max(3600).saturating_mul(1000);
    let (mut last, mut before) = (0u64, 0u64);
    for (t, n) in buckets(onset) {
        let age = end_ms.saturating_sub(t);
        if (0..period_ms).contains(&age) {
            last += n;
        } else if (period_ms..period_ms.saturating_mul(2)).contains(&age) {
            before += n;
        }
    }
    match (last, before) {
        (0, 0) => Trend::Quiet,
        (a, b) if a > b => Trend::Rising,
        (a, b) if a < b => Trend::Falling,
        _ => Trend::Steady,
    }
}

/// Bins as block characters scaled to the largest, the same bars as the one-cluster view's
/// onset line (an empty bin is a space, so a single crash stands out from none).
pub use crate::report::cluster_detail::sparkline;

#[cfg(test)]
mod tests {
    use super::*;

    fn onset(start: &str, bucket_seconds: i64, counts: &[u64]) -> Onset {
        Onset {
            bucket_seconds,
            start: Some(start.into()),
            counts: counts.to_vec(),
            peak_crashes: counts.iter().copied().max().unwrap_or(0),
            peak_at: None,
        }
    }

    #[test]
    fn bins_and_trend_follow_the_end_of_the_data() {
        // Hourly buckets from 00:00: 1, 0, 2, 5 crashes; the data ends at 03:30.
        let o = onset("2024-07-19T00:00:00Z", 3600, &[1, 0, 2, 5]);
        let end = window::parse_instant("2024-07-19T03:30:00Z").unwrap();
        assert_eq!(recent_bins(&o, end, 4 * 3600 * 1000, 4), vec![1, 0, 2, 5]);
        assert_eq!(trend(&o, end), Trend::Rising);
        let later = window::parse_instant("2024-07-19T04:30:00Z").unwrap();
        assert_eq!(trend(&o, later), Trend::Falling);
        let much_later = window::parse_instant("2024-07-20T05:30:00Z").unwrap();
        assert_eq!(trend(&o, much_later), Trend::Quiet);
        assert_eq!(sparkline(&[0, 1, 7]), " ▂█");
    }
}
