//! Report periods and the one fleet figure the cluster/host/driver tables do not carry.
//!
//! A periodic report compares a window with the window of the same length just before it
//! ([`ReportPeriods`]); its default end is the latest crash of the hosts whose clocks agree ([`report_end_ms`]).
//! "Crash-free hosts" needs the inventory hosts that did *not* crash, which no table lists:
//! [`CrashFree`] is computed from the prepared window (`Analysis::crash_free`), so it counts
//! exactly the crashes and hosts the other tables count.

use std::collections::HashSet;

use polars::prelude::*;
use serde::Serialize;

use super::prepare::{filter_inventory, load_base, BaseColumns, Prepared};
use super::window::{self, Window};
use super::{AnalyticsError, Scope};

/// The window a report covers and the one it is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportPeriods {
    pub current: Window,
    /// Same start-to-start length, ending 1 ms before `current` starts (windows are inclusive
    /// at both ends, so no crash counts in both).
    pub previous: Window,
}

impl ReportPeriods {
    /// `current` = [`since`, `until`]; without `since` it is the `default_length_ms` ending at
    /// `until`. `previous` has the same length and ends just before it.
    pub fn new(
        since_ms: Option<i64>,
        until_ms: i64,
        default_length_ms: i64,
    ) -> Result<ReportPeriods, AnalyticsError> {
        let since = match since_ms {
            Some(s) => s,
            None => until_ms.checked_sub(default_length_ms).ok_or_else(|| {
                AnalyticsError::BadArgument("the report window reaches before year 0".into())
            })?,
        };
        if since > until_ms {
            return Err(AnalyticsError::BadArgument(
                "--since is after --until".into(),
            ));
        }
        let length = until_ms - since;
        let previous_until = since.checked_sub(1);
        let previous_since = since.checked_sub(length);
        let (Some(previous_since), Some(previous_until)) = (previous_since, previous_until) else {
            return Err(AnalyticsError::BadArgument(
                "the comparison window reaches before year 0".into(),
            ));
        };
        Ok(ReportPeriods {
            current: Window {
                since_ms: Some(since),
                until_ms: Some(until_ms),
                now_ms: None,
            },
            previous: Window {
                since_ms: Some(previous_since),
                until_ms: Some(previous_until),
                now_ms: None,
            },
        })
    }

    /// Length of each window in milliseconds.
    pub fn length_ms(&self) -> i64 {
        match (self.current.since_ms, self.current.until_ms) {
            (Some(s), Some(u)) => u.saturating_sub(s),
            _ => 0,
        }
    }
}

/// The end a report's default window ends at: the latest crash once the hosts whose clocks
/// are far off are set aside (`window::skewed_outliers`, the rule the tables use), so one
/// host with a wrong clock cannot move a report's week; a genuine last crash still falls
/// inside it. `None` when no crash has a time.
pub fn report_end_ms(crashes: LazyFrame) -> Result<Option<i64>, AnalyticsError> {
    let base = load_base(crashes, &Window::default(), BaseColumns::Exposure)?;
    let latest = base
        .lazy()
        .filter(col("t").is_not_null())
        .group_by([col("host")])
        .agg([col("t").max().alias("latest")])
        .sort(
            ["latest"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .collect()?;
    let times: Vec<i64> = latest.column("latest")?.i64()?.iter().flatten().collect();
    Ok(times.get(window::skewed_outliers(&times)).copied())
}

/// Inventory hosts with no crash in the window (and in the scope's inventory filters).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrashFree {
    /// Inventory hosts in scope.
    pub fleet_hosts: u64,
    /// Of those, hosts with at least one crash in the window.
    pub crashed_hosts: u64,
    pub crash_free_hosts: u64,
    /// `crash_free_hosts / fleet_hosts` (null for an empty inventory).
    pub crash_free_share: Option<f64>,
}

/// `CrashFree` of a prepared window; `None` without an inventory. Cluster and driver filters
/// of the scope are ignored: crash-free means no crash at all.
pub(crate) fn crash_free(
    prepared: &Prepared,
    inventory: Option<&DataFrame>,
    scope: &Scope,
) -> Result<Option<CrashFree>, AnalyticsError> {
    let Some(inventory) = inventory else {
        return Ok(None);
    };
    let filtered = filter_inventory(inventory, &scope.inventory_filters)?;
    let names = filtered.column("host")?.cast(&DataType::String)?;
    let fleet: HashSet<&str> = names.str()?.iter().flatten().collect();
    let crashed_idx = prepared
        .rows
        .clone()
        .lazy()
        .select([col("host_idx").unique()])
        .collect()?;
    let mut crashed = 0u64;
    for idx in crashed_idx.column("host_idx")?.u32()?.iter().flatten() {
        if let Some(host) = prepared.hosts.get(idx as usize) {
            if fleet.contains(host.name.as_str()) {
                crashed += 1;
            }
        }
    }
    let fleet_hosts = fleet.len() as u64;
    let crash_free_hosts = fleet_hosts.saturating_sub(crashed);
    Ok(Some(CrashFree {
        fleet_hosts,
        crashed_hosts: crashed,
        crash_free_hosts,
        crash_free_share: (fleet_hosts > 0).then(|| crash_free_hosts as f64 / fleet_hosts as f64),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previous_period_has_the_same_length_and_does_not_overlap() {
        let day = 86_400_000;
        let p = ReportPeriods::new(None, 10 * day, 7 * day).unwrap();
        assert_eq!(p.current.since_ms, Some(3 * day));
        assert_eq!(p.current.until_ms, Some(10 * day));
        assert_eq!(p.previous.until_ms, Some(3 * day - 1));
        assert_eq!(p.previous.since_ms, Some(3 * day - 7 * day));
        assert_eq!(p.length_ms(), 7 * day);
        let q = ReportPeriods::new(Some(9 * day), 10 * day, 7 * day).unwrap();
        assert_eq!(q.previous.since_ms, Some(8 * day));
        assert!(ReportPeriods::new(Some(11 * day), 10 * day, day).is_err());
        assert!(ReportPeriods::new(None, i64::MIN + 5, day).is_err());
    }
}
