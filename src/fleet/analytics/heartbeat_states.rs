//! Host states refined by heartbeats (issue 15): run after `prepare`, so `hosts`, `clusters`
//! and the report judge a host the same way. The rule itself is `hoststate::with_heartbeats`.

use polars::prelude::*;

use super::hoststate::{self, HostState, HostStateParams};
use super::prepare::Prepared;
use super::window::Window;
use super::AnalyticsError;
use crate::fleet::heartbeats::Heartbeats;

/// The end of the data for the heartbeat rule: the crash end, or a later heartbeat when no
/// bound was given. A fleet that stopped crashing keeps checking in, and a host silent since
/// its last crash is down by the heartbeats' clock, not only by the last crash's.
fn heartbeat_end(prepared: &Prepared, beats: &Heartbeats, window: &Window) -> Option<i64> {
    if window.until_ms.is_some() || window.now_ms.is_some() {
        return prepared.end_ms;
    }
    match (prepared.end_ms, beats.latest_any(None)) {
        (Some(end), Some(beat)) => Some(end.max(beat)),
        (end, beat) => end.or(beat),
    }
}

/// `prepare::prepare` over the scope's window, then [`apply`] with the scope's heartbeats:
/// how `hosts` and `clusters` judge hosts alike.
pub(crate) fn prepare(
    crashes: LazyFrame,
    scope: &super::Scope,
    params: HostStateParams,
) -> Result<Prepared, AnalyticsError> {
    let mut prepared = super::prepare::prepare(crashes, &scope.window, params)?;
    apply(
        &mut prepared,
        scope.heartbeats.as_deref(),
        &scope.window,
        &params,
    )?;
    Ok(prepared)
}

/// Refines every host's state with its heartbeats and records the basis (`StateBasis`) on the
/// host; rewrites the per-crash `state` column to match. Without heartbeats nothing changes.
pub(crate) fn apply(
    prepared: &mut Prepared,
    beats: Option<&Heartbeats>,
    window: &Window,
    params: &HostStateParams,
) -> Result<(), AnalyticsError> {
    let Some(beats) = beats.filter(|b| !b.is_empty()) else {
        return Ok(());
    };
    let end = heartbeat_end(prepared, beats, window);
    let cap = window.until_ms.or(window.now_ms);
    for info in prepared.hosts.iter_mut() {
        if !beats.has_host(&info.name) {
            continue;
        }
        // Heartbeats all after `--until`: none up to it, which is "not since the crash".
        let latest = beats.latest(&info.name, cap).or(Some(i64::MIN));
        let (state, basis) =
            hoststate::with_heartbeats(info.verdict.state, info.last_ms, latest, end, params);
        info.state_basis = basis;
        if state != info.verdict.state {
            info.verdict.state = state;
            if state != HostState::BootLoop {
                info.verdict.loop_start_ms = None;
                info.verdict.loop_crashes = 0;
            }
        }
    }
    let states: Vec<u32> = {
        let idx = prepared.rows.column("host_idx")?.u32()?;
        idx.iter()
            .map(|i| {
                let host = i.and_then(|i| prepared.hosts.get(i as usize));
                host.map_or(u32::from(HostState::Single.code()), |h| {
                    u32::from(h.verdict.state.code())
                })
            })
            .collect()
    };
    prepared
        .rows
        .with_column(Column::new("state".into(), states))?;
    Ok(())
}
