//! The per-host crash state machine: boot-loop, failing, recovered, single; and the
//! host-hours-lost estimate. Pure functions over one host's crash times, so the rules are
//! unit-tested without polars; `prepare` runs them once per host over rows sorted by
//! (host, crash_time).
//!
//! Definitions (issue 6), with `end` = the end of the data (`--until`, or else the latest
//! crash_time in the window):
//! - **recovered**: the host crashed, and its last crash is at least `recovery_window`
//!   (default 2 h) before `end`. Checked first: a host that looped and then went quiet for
//!   two hours has recovered (e.g. someone fixed it by hand).
//! - **boot-loop**: the trailing run of crashes — the longest run ending at the host's last
//!   crash where every crash after the run's first came less than `loop_uptime` (default
//!   10 min) after boot and less than `loop_gap` (default 30 min) after the previous crash —
//!   holds at least 3 crashes. Only the trailing run counts, so an unrelated crash last week
//!   does not stop a host that is looping now from being reported as looping. A crash whose
//!   uptime is unknown breaks the run (we cannot claim it came right after boot).
//! - **failing**: more than one crash, and neither recovered nor boot-loop.
//! - **single**: exactly one crash, not (yet) recovered.
//!
//! Crashes without a crash_time count toward `crashes` but cannot take part in the time rules.
//! A host with no timed crash is `single` (one crash) or `failing` (more).
//!
//! Host-hours lost (an estimate; we do not know when a host was fixed): each crash costs
//! the time until the host's next crash when that next crash continues a boot loop (came
//! less than `loop_uptime` after boot and less than `loop_gap` later — the host never got
//! back to work), otherwise a fixed `restart_cost` (default 10 min: reboot, log-on, services).
//! The last crash tn of a loop (of at least 3 crashes) costs the time until the host's next
//! crash or, for the host's last crash, the end of the data — at most `recovery_window`
//! (the host is recovered by then), at least `restart_cost`. So a loop at t1..tn that the
//! host left costs (tn − t1) + min(recovery_window, next − tn), and one still going costs up
//! to the end of the data. The estimate never decreases as data is added (issue 18: it
//! used to shrink when a looping host turned `recovered`).

use serde::Serialize;

/// The thresholds of the state machine, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostStateParams {
    pub loop_uptime_s: u64,
    pub loop_gap_s: u64,
    pub recovery_window_s: u64,
    pub restart_cost_s: u64,
}

impl Default for HostStateParams {
    fn default() -> Self {
        HostStateParams {
            loop_uptime_s: 600,
            loop_gap_s: 1800,
            recovery_window_s: 7200,
            restart_cost_s: 600,
        }
    }
}

/// A host's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostState {
    /// Crashed, and no heartbeat since its last crash for longer than the recovery window:
    /// stuck (BitLocker prompt, Automatic Repair) and needs hands. Only with heartbeats.
    Down,
    BootLoop,
    Failing,
    Single,
    Recovered,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Down => "down",
            HostState::BootLoop => "boot-loop",
            HostState::Failing => "failing",
            HostState::Single => "single",
            HostState::Recovered => "recovered",
        }
    }

    /// Ignoring case: `Boot-Loop` is `boot-loop`.
    pub fn parse(text: &str) -> Option<HostState> {
        match text.trim().to_ascii_lowercase().as_str() {
            "boot-loop" | "bootloop" | "boot_loop" => Some(HostState::BootLoop),
            "failing" => Some(HostState::Failing),
            "single" => Some(HostState::Single),
            "recovered" => Some(HostState::Recovered),
            "down" => Some(HostState::Down),
            _ => None,
        }
    }

    /// Small integer code used in polars columns (`u8`).
    /// Codes are stable (Down came later and got the next free code).
    pub fn code(self) -> u8 {
        match self {
            HostState::BootLoop => 0,
            HostState::Failing => 1,
            HostState::Single => 2,
            HostState::Recovered => 3,
            HostState::Down => 4,
        }
    }

    pub fn from_code(code: u8) -> HostState {
        match code {
            0 => HostState::BootLoop,
            1 => HostState::Failing,
            2 => HostState::Single,
            4 => HostState::Down,
            _ => HostState::Recovered,
        }
    }
}

/// What the state machine concluded for one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostVerdict {
    pub state: HostState,
    /// Time of the first crash of the trailing boot-loop run (boot-loop hosts only).
    pub loop_start_ms: Option<i64>,
    /// Crashes in that run.
    pub loop_crashes: u32,
}

/// One host's crashes, timed ones sorted by time, plus how many had no time.
#[derive(Debug, Clone, Copy)]
pub struct HostCrashes<'a> {
    pub times_ms: &'a [i64],
    /// Uptime at each timed crash (same length as `times_ms`).
    pub uptimes_s: &'a [Option<u64>],
    pub untimed: usize,
}

/// True when crash `k` (k ≥ 1) continues a boot loop from crash `k - 1`.
fn continues_loop(h: &HostCrashes, k: usize, p: &HostStateParams) -> bool {
    let after_boot = matches!(h.uptimes_s[k], Some(u) if u < p.loop_uptime_s);
    let gap_ms = h.times_ms[k].saturating_sub(h.times_ms[k - 1]);
    // loop_gap_s * 1000 cannot overflow for any sane gap; saturate anyway.
    let gap_ok = gap_ms < (p.loop_gap_s.saturating_mul(1000)).min(i64::MAX as u64) as i64;
    after_boot && gap_ok
}

/// Classifies one host. `end_ms` = end of the data (None when no crash in scope has a time).
pub fn classify(h: &HostCrashes, end_ms: Option<i64>, p: &HostStateParams) -> HostVerdict {
    let timed = h.times_ms.len();
    let total = timed + h.untimed;
    let by_count = if total > 1 {
        HostState::Failing
    } else {
        HostState::Single
    };
    let (Some(&last), Some(end)) = (h.times_ms.last(), end_ms) else {
        return HostVerdict {
            state: by_count,
            loop_start_ms: None,
            loop_crashes: 0,
        };
    };
    let window_ms = (p.recovery_window_s.saturating_mul(1000)).min(i64::MAX as u64) as i64;
    if last <= end.saturating_sub(window_ms) {
        return HostVerdict {
            state: HostState::Recovered,
            loop_start_ms: None,
            loop_crashes: 0,
        };
    }
    let mut run = 1usize;
    let mut k = timed - 1;
    while k >= 1 && continues_loop(h, k, p) {
        run += 1;
        k -= 1;
    }
    if run >= 3 {
        return HostVerdict {
            state: HostState::BootLoop,
            loop_start_ms: Some(h.times_ms[timed - run]),
            loop_crashes: run as u32,
        };
    }
    HostVerdict {
        state: by_count,
        loop_start_ms: None,
        loop_crashes: 0,
    }
}

/// Marks each timed crash that belongs to a boot loop: a maximal run of crashes where every
/// crash after the run's first continues the loop (same rule as above), of at least 3
/// crashes. Unlike the state, this looks at the whole window: a host that looped yesterday
/// and has been fine since has looped (and recovered). Pushes one flag per timed crash.
pub fn loop_flags(h: &HostCrashes, p: &HostStateParams, out: &mut Vec<bool>) {
    let n = h.times_ms.len();
    let mut run_start = 0usize;
    for k in 1..=n {
        if k == n || !continues_loop(h, k, p) {
            let looped = k - run_start >= 3;
            out.extend(std::iter::repeat_n(looped, k - run_start));
            run_start = k;
        }
    }
}

/// Whether timed crash `i` is the last of a boot loop (a run of at least 3 crashes, each
/// continuing the loop from the one before, that crash `i + 1` does not continue).
fn ends_a_loop(h: &HostCrashes, i: usize, p: &HostStateParams) -> bool {
    if i + 1 < h.times_ms.len() && continues_loop(h, i + 1, p) {
        return false;
    }
    let mut run = 1;
    let mut k = i;
    while k >= 1 && continues_loop(h, k, p) {
        run += 1;
        k -= 1;
    }
    run >= 3
}

/// Milliseconds of host time lost to each timed crash (same order as `times_ms`), and the
/// cost of one untimed crash, per the estimate in the module doc.
pub fn lost_ms_per_crash(
    h: &HostCrashes,
    _verdict: &HostVerdict,
    end_ms: Option<i64>,
    p: &HostStateParams,
    out: &mut Vec<i64>,
) -> i64 {
    let restart = (p.restart_cost_s.saturating_mul(1000)).min(i64::MAX as u64) as i64;
    let window = (p.recovery_window_s.saturating_mul(1000)).min(i64::MAX as u64) as i64;
    let n = h.times_ms.len();
    for i in 0..n {
        let lost = if i + 1 < n && continues_loop(h, i + 1, p) {
            h.times_ms[i + 1].saturating_sub(h.times_ms[i])
        } else if ends_a_loop(h, i, p) {
            // The last crash of a loop: down until the next crash or the end of the data,
            // for at most the recovery window (after which the host counts as recovered).
            // Never shrinks as data is added: a later end or a later crash only lengthens it.
            let until = if i + 1 < n {
                Some(h.times_ms[i + 1])
            } else {
                end_ms
            };
            until
                .map(|u| u.saturating_sub(h.times_ms[i]).min(window))
                .unwrap_or(0)
                .max(restart)
        } else {
            restart
        };
        out.push(lost);
    }
    restart
}

/// What a host's state rests on (`state_basis` in every output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StateBasis {
    /// The host has heartbeats: `recovered` means it checked in after its last crash.
    Heartbeat,
    /// No heartbeat for the host: `recovered` only means no crash for the recovery window.
    CrashSilence,
}

impl StateBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            StateBasis::Heartbeat => "heartbeat",
            StateBasis::CrashSilence => "crash-silence",
        }
    }
}

/// Refines a crash-only state with heartbeats (issue 15). A host's crash dumps stop both when
/// it came back and when it is stuck at a recovery prompt; only a sign of life tells them
/// apart. `last_crash_ms` is the host's last timed crash; `latest_beat_ms` its latest heartbeat
/// up to the end (`None` = the host has no heartbeat at all: the state stays as the crash
/// rules left it); `end_ms` the end of the data, heartbeats included.
/// - a heartbeat after the last crash: `recovered`, whatever the crashes said;
/// - none since, and the last crash at least the recovery window before the end: `down`;
/// - none since, inside the window: the crash state stands (it is still looping or failing).
pub fn with_heartbeats(
    state: HostState,
    last_crash_ms: Option<i64>,
    latest_beat_ms: Option<i64>,
    end_ms: Option<i64>,
    p: &HostStateParams,
) -> (HostState, StateBasis) {
    let (Some(last), Some(beat)) = (last_crash_ms, latest_beat_ms) else {
        return (state, StateBasis::CrashSilence);
    };
    if beat > last {
        return (HostState::Recovered, StateBasis::Heartbeat);
    }
    let window_ms = (p.recovery_window_s.saturating_mul(1000)).min(i64::MAX as u64) as i64;
    let silent_long = end_ms.is_some_and(|end| last <= end.saturating_sub(window_ms));
    if silent_long || state == HostState::Recovered {
        return (HostState::Down, StateBasis::Heartbeat);
    }
    (state, StateBasis::Heartbeat)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn verdict(times_min: &[i64], uptimes_s: &[Option<u64>], end_min: i64) -> HostVerdict {
        let times: Vec<i64> = times_min.iter().map(|m| m * MIN).collect();
        let h = HostCrashes {
            times_ms: &times,
            uptimes_s,
            untimed: 0,
        };
        classify(&h, Some(end_min * MIN), &HostStateParams::default())
    }

    #[test]
    fn three_quick_reboots_are_a_boot_loop() {
        // Crashes at 0, 5, 10 min; the 2nd and 3rd came 2 min after boot.
        let v = verdict(&[0, 5, 10], &[Some(86_400), Some(120), Some(120)], 10);
        assert_eq!(v.state, HostState::BootLoop);
        assert_eq!(v.loop_start_ms, Some(0));
        assert_eq!(v.loop_crashes, 3);
    }

    #[test]
    fn two_crashes_are_not_a_loop() {
        let v = verdict(&[0, 5], &[Some(100), Some(100)], 5);
        assert_eq!(v.state, HostState::Failing);
    }

    #[test]
    fn long_uptime_breaks_the_loop() {
        // The 3rd crash came 20 min after boot (>= 10 min): not a continuation.
        let v = verdict(&[0, 5, 30], &[Some(10), Some(60), Some(1200)], 30);
        assert_eq!(v.state, HostState::Failing);
    }

    #[test]
    fn wide_gap_breaks_the_loop() {
        // 0, 5, 40: the gap 5 -> 40 is 35 min >= 30 min.
        let v = verdict(&[0, 5, 40], &[Some(10), Some(60), Some(60)], 40);
        assert_eq!(v.state, HostState::Failing);
    }

    #[test]
    fn unknown_uptime_breaks_the_loop() {
        let v = verdict(&[0, 5, 10], &[Some(10), None, Some(60)], 10);
        assert_eq!(v.state, HostState::Failing);
    }

    #[test]
    fn only_the_trailing_run_counts() {
        // An old crash a day earlier, then a loop of 3.
        let v = verdict(
            &[-1440, 0, 4, 8],
            &[Some(99_999), Some(50), Some(50), Some(50)],
            8,
        );
        assert_eq!(v.state, HostState::BootLoop);
        assert_eq!(v.loop_start_ms, Some(0));
        assert_eq!(v.loop_crashes, 3);
    }

    #[test]
    fn quiet_for_the_recovery_window_is_recovered() {
        // A loop that stopped 2 h before the end: recovered (recovery is checked first).
        let v = verdict(&[0, 5, 10], &[Some(10), Some(60), Some(60)], 130);
        assert_eq!(v.state, HostState::Recovered);
        // 1 minute less than 2 h: still boot-looping.
        let v = verdict(&[0, 5, 10], &[Some(10), Some(60), Some(60)], 129);
        assert_eq!(v.state, HostState::BootLoop);
        // A single old crash: recovered too.
        assert_eq!(verdict(&[0], &[Some(10)], 500).state, HostState::Recovered);
        assert_eq!(verdict(&[0], &[Some(10)], 60).state, HostState::Single);
    }

    #[test]
    fn heartbeats_tell_recovered_from_down() {
        let p = HostStateParams::default();
        let h = 3_600_000i64;
        // Looped until 10 h, end of data 20 h.
        let state = HostState::Recovered;
        // Checked in at 11 h: recovered, on a heartbeat.
        assert_eq!(
            with_heartbeats(state, Some(10 * h), Some(11 * h), Some(20 * h), &p),
            (HostState::Recovered, StateBasis::Heartbeat)
        );
        // Last seen at 9 h, before the last crash: down.
        assert_eq!(
            with_heartbeats(state, Some(10 * h), Some(9 * h), Some(20 * h), &p),
            (HostState::Down, StateBasis::Heartbeat)
        );
        // Still inside the window (end 11 h): the loop stands.
        assert_eq!(
            with_heartbeats(
                HostState::BootLoop,
                Some(10 * h),
                Some(9 * h),
                Some(11 * h),
                &p
            ),
            (HostState::BootLoop, StateBasis::Heartbeat)
        );
        // A looping host that checked in after its last crash came back.
        assert_eq!(
            with_heartbeats(
                HostState::BootLoop,
                Some(10 * h),
                Some(10 * h + 1),
                Some(10 * h + 2),
                &p
            )
            .0,
            HostState::Recovered
        );
        // No heartbeat at all: crash silence decides, and says so.
        assert_eq!(
            with_heartbeats(state, Some(10 * h), None, Some(20 * h), &p),
            (HostState::Recovered, StateBasis::CrashSilence)
        );
    }

    #[test]
    fn untimed_crashes_count_but_do_not_time() {
        let h = HostCrashes {
            times_ms: &[],
            uptimes_s: &[],
            untimed: 2,
        };
        let v = classify(&h, None, &HostStateParams::default());
        assert_eq!(v.state, HostState::Failing);
    }

    #[test]
    fn loop_flags_mark_every_run_of_three() {
        let p = HostStateParams::default();
        // 0: first boot; 5, 10: loop (run 0-10); 300: new boot after hours; 304: loop of only
        // two; 900, 903, 906, 909: a second loop.
        let times: Vec<i64> = [0, 5, 10, 300, 304, 900, 903, 906, 909]
            .iter()
            .map(|m| m * MIN)
            .collect();
        let up = [
            Some(9999),
            Some(60),
            Some(60),
            Some(9999),
            Some(60),
            Some(9999),
            Some(30),
            Some(30),
            Some(30),
        ];
        let h = HostCrashes {
            times_ms: &times,
            uptimes_s: &up,
            untimed: 0,
        };
        let mut flags = Vec::new();
        loop_flags(&h, &p, &mut flags);
        assert_eq!(
            flags,
            [true, true, true, false, false, true, true, true, true]
        );
        flags.clear();
        loop_flags(
            &HostCrashes {
                times_ms: &[],
                uptimes_s: &[],
                untimed: 3,
            },
            &p,
            &mut flags,
        );
        assert!(flags.is_empty());
    }

    #[test]
    fn lost_time_never_decreases_as_data_is_added() {
        let p = HostStateParams::default();
        let lost_total = |times_min: &[i64], ups: &[Option<u64>], end_min: i64| -> i64 {
            let times: Vec<i64> = times_min.iter().map(|m| m * MIN).collect();
            let h = HostCrashes {
                times_ms: &times,
                uptimes_s: ups,
                untimed: 0,
            };
            let v = classify(&h, Some(end_min * MIN), &p);
            let mut lost = Vec::new();
            lost_ms_per_crash(&h, &v, Some(end_min * MIN), &p, &mut lost);
            lost.iter().sum::<i64>() / MIN
        };
        let up = [Some(10), Some(60), Some(60), Some(99_999)];
        let mut previous = 0;
        // The loop at 0, 5, 10 seen at later and later ends: 20, 105, 130 (recovered), 130.
        for end in [10, 15, 100, 125, 130, 200, 1000] {
            let total = lost_total(&[0, 5, 10], &up[..3], end);
            assert!(total >= previous, "end {end}: {total} < {previous}");
            previous = total;
        }
        assert_eq!(previous, 5 + 5 + 120);
        // A later, unrelated crash: the loop keeps its cost, the new crash adds a restart.
        assert_eq!(lost_total(&[0, 5, 10, 1000], &up, 1000), 130 + 10);
    }

    #[test]
    fn lost_time_for_a_loop_and_a_lone_crash() {
        let p = HostStateParams::default();
        // Loop at 0, 5, 10 min, end of data 15 min: 5 + 5 + max(10 min restart, 5 min) = 20 min.
        let times: Vec<i64> = [0, 5, 10].iter().map(|m| m * MIN).collect();
        let up = [Some(10), Some(60), Some(60)];
        let h = HostCrashes {
            times_ms: &times,
            uptimes_s: &up,
            untimed: 0,
        };
        let v = classify(&h, Some(15 * MIN), &p);
        let mut lost = Vec::new();
        lost_ms_per_crash(&h, &v, Some(15 * MIN), &p, &mut lost);
        assert_eq!(lost, vec![5 * MIN, 5 * MIN, 10 * MIN]);
        // Same loop, data ends 100 min later: the last crash costs 90 min.
        let v = classify(&h, Some(100 * MIN), &p);
        lost.clear();
        lost_ms_per_crash(&h, &v, Some(100 * MIN), &p, &mut lost);
        assert_eq!(lost, vec![5 * MIN, 5 * MIN, 90 * MIN]);
        // A failing host with two far-apart crashes: 10 min each.
        let times = [0, 600 * MIN];
        let up = [Some(99_999), Some(99_999)];
        let h = HostCrashes {
            times_ms: &times,
            uptimes_s: &up,
            untimed: 0,
        };
        let v = classify(&h, Some(600 * MIN), &p);
        lost.clear();
        lost_ms_per_crash(&h, &v, Some(600 * MIN), &p, &mut lost);
        assert_eq!(lost, vec![10 * MIN, 10 * MIN]);
    }
}
