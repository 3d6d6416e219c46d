//! The rollout decision, from who got the change when and which hosts crashed in which
//! cluster (no I/O: `gate::gate` loads the inputs; tests hand them in).
//!
//! Per crash cluster (bucket level), hosts are counted, not dumps: a boot-looping host is one
//! host. The ring's deployed hosts after they received the change are compared with a
//! baseline made of two groups, pooled: the same hosts over an equal window before their
//! change (catches hosts that always crash this way), and the hosts without the change over
//! the ring's window (catches what hits everyone at that moment: a patch day, an outage).
//! A one-sided Fisher exact test (`stats`), Holm-adjusted over the clusters tested, with a
//! minimum excess rate decides a halt; the minimum hosts and soak only hold back a `proceed`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::Serialize;

use super::rollout::{first_deployments, Rollout};
use super::stats::{fisher_greater, holm};
use super::GateError;
use crate::fleet::analytics::window::rfc3339_utc;

/// The gate's thresholds and what to decide on.
#[derive(Debug, Clone, PartialEq)]
pub struct GateOptions {
    /// The ring to decide for; `None`: the latest ring that has received the change.
    pub ring: Option<String>,
    /// The change; `None`: the only one in the rollout file.
    pub change: Option<String>,
    /// The decision moment (ms UTC); `None`: the latest crash in the store.
    pub now_ms: Option<i64>,
    /// A `proceed` needs at least this many hosts with the change...
    pub min_hosts: u64,
    /// ...that have all run it at least this long (seconds).
    pub min_soak_s: u64,
    /// A halt needs the ring's crash rate to exceed the baseline's by more than this share of
    /// the ring's hosts (so one crash in a big ring does not stop a rollout).
    pub min_rate: f64,
    /// A halt needs the Holm-adjusted p below this.
    pub alpha: f64,
}

impl Default for GateOptions {
    fn default() -> Self {
        GateOptions {
            ring: None,
            change: None,
            now_ms: None,
            min_hosts: 20,
            min_soak_s: 4 * 3600,
            min_rate: 0.01,
            alpha: 0.01,
        }
    }
}

/// What the pipeline should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Halt,
    Proceed,
    InsufficientData,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Halt => "halt",
            Verdict::Proceed => "proceed",
            Verdict::InsufficientData => "insufficient-data",
        }
    }

    /// 0 proceed, 1 halt, 3 insufficient data (2 is for errors).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Proceed => 0,
            Verdict::Halt => 1,
            Verdict::InsufficientData => 3,
        }
    }
}

/// One crash, as the gate needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashEvent {
    pub host: String,
    pub time_ms: i64,
    /// The bucket-level cluster id (as `clusters` prints it; `--cluster` takes it).
    pub cluster: String,
    pub driver: Option<String>,
    pub bucket_id: String,
}

/// One cluster's comparison.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub cluster: String,
    pub driver: Option<String>,
    pub bucket_id: String,
    /// Ring hosts with a crash of this cluster after they received the change.
    pub hosts_after: u64,
    /// Baseline hosts with a crash of this cluster (before-window + unchanged hosts).
    pub hosts_baseline: u64,
    /// `hosts_after / deployed_hosts`.
    pub rate_after: f64,
    /// `hosts_baseline / baseline_size`.
    pub rate_baseline: f64,
    /// One-sided Fisher exact test (after > baseline).
    pub p_value: f64,
    /// `p_value` Holm-adjusted over every cluster tested for this ring (those seen on its
    /// hosts after the change): a halt needs this below alpha.
    pub p_adjusted: f64,
    /// Of `hosts_baseline`: the ring's hosts before their change, and the unchanged hosts.
    pub hosts_before: u64,
    pub hosts_unchanged: u64,
    /// Host-windows in the baseline: the deployed hosts (before) + the unchanged hosts.
    pub baseline_size: u64,
    /// The ring's hosts crashed after the change, per inventory site (`(no site)` without one).
    pub sites: BTreeMap<String, u64>,
}

/// The decision and what it rests on (the JSON of `gate --format json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateReport {
    pub verdict: Verdict,
    pub ring: String,
    pub change: String,
    /// Ring hosts that have the change at `now`.
    pub deployed_hosts: u64,
    /// How long the ring's most recent deployment has run at `now`: every deployed host has
    /// run the change at least this long (`1d2h3m`, the `--min-soak` syntax).
    pub soak: String,
    pub soak_seconds: u64,
    /// One sentence: why this verdict.
    pub explanation: String,
    /// The clusters that halt the rollout (empty unless `verdict` is `halt`), most
    /// significant first.
    pub reasons: Vec<Reason>,
    /// Every other cluster seen on the ring's hosts after the change, most significant first.
    pub observed: Vec<Reason>,
    /// The decision moment.
    pub now: String,
    /// Ring hosts in the rollout file for this change, deployed or not yet.
    pub ring_hosts: u64,
    /// Inventory hosts without the change at `now` (the second baseline group).
    pub unchanged_hosts: u64,
    pub first_deployed: Option<String>,
    pub last_deployed: Option<String>,
    pub min_hosts: u64,
    pub min_soak_seconds: u64,
    pub min_rate: f64,
    pub alpha: f64,
}

/// The ring under decision and its comparison groups, fixed before any crash is looked at.
#[derive(Debug, Clone)]
pub struct RingPlan<'a> {
    pub change: String,
    pub ring: String,
    pub now_ms: i64,
    /// Deployed ring hosts (change at or before `now`) and when they got it.
    pub deployed: HashMap<&'a str, i64>,
    /// Inventory hosts without the change at `now`.
    pub unchanged: HashSet<&'a str>,
    pub ring_hosts: u64,
}

impl RingPlan<'_> {
    fn first_ms(&self) -> Option<i64> {
        self.deployed.values().copied().min()
    }

    fn last_ms(&self) -> Option<i64> {
        self.deployed.values().copied().max()
    }

    /// The crash times that matter: from the earliest before-window (`2d - now` for the
    /// earliest deployment `d`) to `now`, both inclusive. `None` when no host is deployed.
    pub fn crash_window(&self) -> Option<(i64, i64)> {
        let first = self.first_ms()?;
        let since = first.saturating_sub(self.now_ms.saturating_sub(first));
        Some((since, self.now_ms))
    }

    fn soak_seconds(&self) -> u64 {
        self.last_ms()
            .map(|last| u64::try_from(self.now_ms.saturating_sub(last) / 1000).unwrap_or(0))
            .unwrap_or(0)
    }
}

/// Picks the change and the ring and splits the fleet (`fleet`: the inventory's hosts) into
/// the ring's deployed hosts and the unchanged hosts at `now_ms`.
pub fn plan<'a>(
    rollout: &'a Rollout,
    fleet: &HashSet<&'a str>,
    now_ms: i64,
    opts: &GateOptions,
) -> Result<RingPlan<'a>, GateError> {
    let changes = rollout.changes();
    let change = match &opts.change {
        Some(c) if changes.contains(&c.as_str()) => c.clone(),
        Some(c) => {
            return Err(GateError::UnknownChange {
                change: c.clone(),
                path: rollout.path.clone(),
                changes: quoted_list(&changes),
            })
        }
        None if changes.len() == 1 => changes[0].to_string(),
        None => {
            return Err(GateError::WhichChange {
                path: rollout.path.clone(),
                changes: quoted_list(&changes),
            })
        }
    };
    let first = first_deployments(rollout, &change)?;
    // Per ring: its first deployment at or before now, and its first deployment at all.
    let mut rings: BTreeMap<&str, (Option<i64>, i64)> = BTreeMap::new();
    for d in first.values() {
        let e = rings
            .entry(d.ring.as_str())
            .or_insert((None, d.deployed_ms));
        e.1 = e.1.min(d.deployed_ms);
        if d.deployed_ms <= now_ms {
            e.0 = Some(e.0.map_or(d.deployed_ms, |t: i64| t.min(d.deployed_ms)));
        }
    }
    let ring = match &opts.ring {
        Some(r) if rings.contains_key(r.as_str()) => r.clone(),
        Some(r) => {
            let names: Vec<&str> = rings.keys().copied().collect();
            return Err(GateError::UnknownRing {
                ring: r.clone(),
                change: change.clone(),
                rings: quoted_list(&names),
            });
        }
        None => {
            // The latest ring to have started by now; if none has, the first to start.
            let started = rings
                .iter()
                .filter_map(|(r, (s, _))| s.map(|s| (s, *r)))
                .max();
            let upcoming = rings.iter().map(|(r, (_, f))| (*f, *r)).min();
            match started.or(upcoming) {
                Some((_, r)) => r.to_string(),
                None => {
                    return Err(GateError::WhichChange {
                        path: rollout.path.clone(),
                        changes: quoted_list(&changes),
                    })
                }
            }
        }
    };
    let ring_hosts = first.values().filter(|d| d.ring == ring).count() as u64;
    let deployed: HashMap<&str, i64> = first
        .iter()
        .filter(|(_, d)| d.ring == ring && d.deployed_ms <= now_ms)
        .map(|(h, d)| (*h, d.deployed_ms))
        .collect();
    let unchanged: HashSet<&str> = fleet
        .iter()
        .copied()
        .filter(|h| first.get(h).is_none_or(|d| d.deployed_ms > now_ms))
        .collect();
    Ok(RingPlan {
        change,
        ring,
        now_ms,
        deployed,
        unchanged,
        ring_hosts,
    })
}

/// Which comparison group a crash falls in.
enum Group {
    /// A ring host, at or after its deployment.
    After,
    /// A ring host, in the equal window before its deployment.
    Before,
    /// A host without the change, inside the ring's window.
    Unchanged,
}

/// The hosts of one cluster in each comparison group.
#[derive(Default)]
struct Tally<'a> {
    driver: Option<&'a str>,
    bucket_id: &'a str,
    after: BTreeSet<&'a str>,
    before: BTreeSet<&'a str>,
    unchanged: BTreeSet<&'a str>,
}

/// Counts, tests and decides. `sites` maps hosts to their inventory site.
pub fn evaluate(
    plan: &RingPlan<'_>,
    events: &[CrashEvent],
    sites: &HashMap<&str, &str>,
    opts: &GateOptions,
) -> GateReport {
    let now = plan.now_ms;
    let first_ms = plan.first_ms();
    let mut tallies: BTreeMap<&str, Tally<'_>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.time_ms <= now) {
        let group = if let Some(&d) = plan.deployed.get(e.host.as_str()) {
            if e.time_ms >= d {
                Some(Group::After)
            } else if e.time_ms >= d.saturating_sub(now.saturating_sub(d)) {
                Some(Group::Before)
            } else {
                None
            }
        } else if plan.unchanged.contains(e.host.as_str())
            && first_ms.is_some_and(|f| e.time_ms >= f)
        {
            Some(Group::Unchanged)
        } else {
            None
        };
        let Some(group) = group else { continue };
        let t = tallies.entry(e.cluster.as_str()).or_default();
        t.driver = e.driver.as_deref();
        t.bucket_id = e.bucket_id.as_str();
        match group {
            Group::After => t.after.insert(e.host.as_str()),
            Group::Before => t.before.insert(e.host.as_str()),
            Group::Unchanged => t.unchanged.insert(e.host.as_str()),
        };
    }

    let n = plan.deployed.len() as u64;
    let m = n + plan.unchanged.len() as u64;
    let share = |k: u64, of: u64| if of == 0 { 0.0 } else { k as f64 / of as f64 };
    let mut observed = Vec::new();
    for (cluster, t) in &tallies {
        if t.after.is_empty() {
            continue;
        }
        let a = t.after.len() as u64;
        let b = (t.before.len() + t.unchanged.len()) as u64;
        let mut by_site: BTreeMap<String, u64> = BTreeMap::new();
        for h in &t.after {
            let site = sites.get(h).copied().unwrap_or("(no site)");
            *by_site.entry(site.to_string()).or_default() += 1;
        }
        let reason = Reason {
            cluster: cluster.to_string(),
            driver: t.driver.map(str::to_string),
            bucket_id: t.bucket_id.to_string(),
            hosts_after: a,
            hosts_baseline: b,
            rate_after: share(a, n),
            rate_baseline: share(b, m),
            p_value: fisher_greater(a, n, b, m),
            p_adjusted: 1.0,
            hosts_before: t.before.len() as u64,
            hosts_unchanged: t.unchanged.len() as u64,
            baseline_size: m,
            sites: by_site,
        };
        observed.push(reason);
    }
    let p_values: Vec<f64> = observed.iter().map(|r| r.p_value).collect();
    for (r, adjusted) in observed.iter_mut().zip(holm(&p_values)) {
        r.p_adjusted = adjusted;
    }
    let (mut halting, mut observed): (Vec<Reason>, Vec<Reason>) = observed
        .into_iter()
        .partition(|r| r.p_adjusted < opts.alpha && r.rate_after - r.rate_baseline > opts.min_rate);
    let order = |x: &Reason, y: &Reason| {
        x.p_value
            .total_cmp(&y.p_value)
            .then(y.hosts_after.cmp(&x.hosts_after))
            .then(x.cluster.cmp(&y.cluster))
    };
    halting.sort_by(order);
    observed.sort_by(order);

    let soak_seconds = plan.soak_seconds();
    let verdict = if !halting.is_empty() {
        Verdict::Halt
    } else if n >= opts.min_hosts && soak_seconds >= opts.min_soak_s && n > 0 {
        Verdict::Proceed
    } else {
        Verdict::InsufficientData
    };
    let explanation = explain(verdict, plan, &halting, &observed, soak_seconds, opts);
    GateReport {
        verdict,
        ring: plan.ring.clone(),
        change: plan.change.clone(),
        deployed_hosts: n,
        soak: duration_text(soak_seconds),
        soak_seconds,
        explanation,
        reasons: halting,
        observed,
        now: rfc3339_utc(now).unwrap_or_default(),
        ring_hosts: plan.ring_hosts,
        unchanged_hosts: plan.unchanged.len() as u64,
        first_deployed: first_ms.and_then(rfc3339_utc),
        last_deployed: plan.last_ms().and_then(rfc3339_utc),
        min_hosts: opts.min_hosts,
        min_soak_seconds: opts.min_soak_s,
        min_rate: opts.min_rate,
        alpha: opts.alpha,
    }
}

/// `3d4h5m6s` (zero parts left out; `0s` for zero): the syntax `--min-soak` reads back.
pub fn duration_text(seconds: u64) -> String {
    let mut out = String::new();
    let mut rest = seconds;
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        let k = rest / size;
        rest %= size;
        if k > 0 {
            out.push_str(&format!("{k}{unit}"));
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

fn percent(share: f64) -> String {
    format!("{:.1} %", share * 100.0)
}

/// A cluster named for a person: id, driver (or "no driver") and bucket.
fn cluster_name(r: &Reason) -> String {
    format!(
        "cluster {} ({}, {})",
        r.cluster,
        r.driver.as_deref().unwrap_or("no driver"),
        r.bucket_id
    )
}

fn explain(
    verdict: Verdict,
    plan: &RingPlan<'_>,
    halting: &[Reason],
    observed: &[Reason],
    soak_seconds: u64,
    opts: &GateOptions,
) -> String {
    let n = plan.deployed.len() as u64;
    let ring = &plan.ring;
    let change = &plan.change;
    match verdict {
        Verdict::Halt => {
            let r = &halting[0];
            let more = match halting.len() {
                1 => String::new(),
                k => format!(", and {} more cluster(s) rose as well", k - 1),
            };
            format!(
                "Halt: {} crashed {} of {n} hosts of ring {ring} after they received {change} ({}), against {} of {} baseline hosts ({}), adjusted p = {:.2e} < {}{more}.",
                cluster_name(r),
                r.hosts_after,
                percent(r.rate_after),
                r.hosts_baseline,
                r.baseline_size,
                percent(r.rate_baseline),
                r.p_adjusted,
                opts.alpha,
            )
        }
        Verdict::Proceed => {
            let seen = match observed.first() {
                None => "no host of the ring crashed after the change".to_string(),
                Some(r) => format!(
                    "no crash cluster rose significantly ({} cluster(s) seen after the change; the strongest, {}, on {} host(s), adjusted p = {:.2})",
                    observed.len(),
                    cluster_name(r),
                    r.hosts_after,
                    r.p_adjusted
                ),
            };
            format!(
                "Proceed: {n} hosts of ring {ring} have run {change} for at least {} and {seen}.",
                duration_text(soak_seconds)
            )
        }
        Verdict::InsufficientData => {
            let mut why = Vec::new();
            if n == 0 {
                why.push(format!("no host of ring {ring} has {change} yet"));
            } else {
                if n < opts.min_hosts {
                    why.push(format!(
                        "only {n} host(s) of ring {ring} have {change} (--min-hosts {})",
                        opts.min_hosts
                    ));
                }
                if soak_seconds < opts.min_soak_s {
                    why.push(format!(
                        "its latest deployment has run for {} (--min-soak {})",
                        duration_text(soak_seconds),
                        duration_text(opts.min_soak_s)
                    ));
                }
            }
            format!(
                "Insufficient data: no crash cluster rose significantly, but {}.",
                why.join(" and ")
            )
        }
    }
}

/// `'a', 'b'` for error messages.
fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::gate::rollout::{Deployment, Location};

    const H: i64 = 3_600_000;
    /// 2024-07-19T04:09:00Z in ms.
    const T0: i64 = 1_721_362_140_000;

    /// A fleet of `ring` canary hosts `c0..` deployed at T0 and `rest` hosts `u0..` without it.
    fn fleet(ring: usize, rest: usize) -> (Rollout, Vec<String>) {
        let mut hosts = Vec::new();
        let mut deployments = Vec::new();
        for i in 0..ring {
            hosts.push(format!("c{i}"));
            deployments.push(Deployment {
                host: format!("c{i}"),
                ring: "canary".into(),
                change: "drv 2.0".into(),
                version: "2.0".into(),
                deployed_ms: T0,
                location: Location::Line(i as u64 + 2),
            });
        }
        for i in 0..rest {
            hosts.push(format!("u{i}"));
            deployments.push(Deployment {
                host: format!("u{i}"),
                ring: "broad".into(),
                change: "drv 2.0".into(),
                version: "2.0".into(),
                deployed_ms: T0 + 72 * H,
                location: Location::Line((ring + i) as u64 + 2),
            });
        }
        let rollout = Rollout {
            path: "rollout.csv".into(),
            deployments,
        };
        (rollout, hosts)
    }

    fn crash(host: &str, time_ms: i64, cluster: &str) -> CrashEvent {
        CrashEvent {
            host: host.into(),
            time_ms,
            cluster: cluster.into(),
            driver: Some(format!("{cluster}.sys")),
            bucket_id: format!("AV_{cluster}!f"),
        }
    }

    fn decide(
        rollout: &Rollout,
        hosts: &[String],
        events: &[CrashEvent],
        now_ms: i64,
        opts: &GateOptions,
    ) -> GateReport {
        let fleet: HashSet<&str> = hosts.iter().map(String::as_str).collect();
        let plan = plan(rollout, &fleet, now_ms, opts).unwrap();
        let sites: HashMap<&str, &str> = hosts
            .iter()
            .map(|h| (h.as_str(), if h.ends_with('1') { "ams" } else { "fra" }))
            .collect();
        evaluate(&plan, events, &sites, opts)
    }

    #[test]
    fn hosts_are_counted_not_dumps_and_windows_are_equal() {
        let (rollout, hosts) = fleet(10, 100);
        let now = T0 + 10 * H;
        let mut events = Vec::new();
        // c1 boot-loops: 30 dumps, one host.
        for k in 0..30 {
            events.push(crash("c1", T0 + H + k * 60_000, "bad"));
        }
        events.push(crash("c2", T0 + 2 * H, "bad"));
        events.push(crash("c3", now, "bad"));
        // Before the change, inside the equal window (T0 - 10 h .. T0) and outside it.
        events.push(crash("c4", T0 - 9 * H, "bad"));
        events.push(crash("c5", T0 - 11 * H, "bad"));
        // An unchanged host inside the ring's window, one before it, one after now.
        events.push(crash("u7", T0 + 5 * H, "bad"));
        events.push(crash("u8", T0 - H, "bad"));
        events.push(crash("u9", now + 1, "bad"));
        let report = decide(&rollout, &hosts, &events, now, &GateOptions::default());
        let all: Vec<&Reason> = report.reasons.iter().chain(&report.observed).collect();
        assert_eq!(all.len(), 1);
        let r = all[0];
        assert_eq!(
            (r.hosts_after, r.hosts_before, r.hosts_unchanged),
            (3, 1, 1)
        );
        assert_eq!(r.hosts_baseline, 2);
        assert_eq!(r.baseline_size, 110);
        assert_eq!(report.deployed_hosts, 10);
        assert_eq!(report.unchanged_hosts, 100);
        assert_eq!(report.ring, "canary");
        assert_eq!(report.soak, "10h");
        // SciPy: fisher_exact([[3, 7], [2, 108]], alternative='greater') -> 0.003897364367677566
        assert!(
            (r.p_value - 0.003897364367677566).abs() < 1e-12,
            "{}",
            r.p_value
        );
        assert_eq!(r.sites.get("ams"), Some(&1));
        assert_eq!(r.sites.get("fra"), Some(&2));
    }

    #[test]
    fn min_rate_keeps_one_crash_in_a_big_ring_from_halting_but_not_in_a_tiny_one() {
        let opts = GateOptions::default();
        let now = T0 + 24 * H;
        // 1,000-host ring, 10,000 without the change: 9 crashed hosts is significant but only
        // 0.9 % of the ring; 11 is 1.1 %.
        let (rollout, hosts) = fleet(1000, 10_000);
        for (k, want) in [(9, Verdict::Proceed), (11, Verdict::Halt)] {
            let events: Vec<CrashEvent> = (0..k)
                .map(|i| crash(&format!("c{i}"), T0 + H, "new"))
                .collect();
            let report = decide(&rollout, &hosts, &events, now, &opts);
            assert_eq!(report.verdict, want, "{k}: {}", report.explanation);
            let all: Vec<&Reason> = report.reasons.iter().chain(&report.observed).collect();
            assert!(all[0].p_adjusted < 1e-6, "{k}: {}", all[0].p_adjusted);
        }
        // A 5-host ring: one crash against 0 of 1,005 (the 5 hosts before + 1,000 without the
        // change) halts at once, below --min-hosts.
        // SciPy: fisher_exact([[1, 4], [0, 1005]], alternative='greater') -> 0.0049504950495049506
        let (rollout, hosts) = fleet(5, 1000);
        let report = decide(
            &rollout,
            &hosts,
            &[crash("c0", T0 + H, "new")],
            T0 + H,
            &opts,
        );
        assert_eq!(report.verdict, Verdict::Halt, "{}", report.explanation);
        assert!((report.reasons[0].p_value - 0.0049504950495049506).abs() < 1e-12);
        assert!(report.explanation.starts_with(
            "Halt: cluster new (new.sys, AV_new!f) crashed 1 of 5 hosts of ring canary"
        ));
    }

    #[test]
    fn proceed_needs_enough_hosts_and_soak_halt_does_not() {
        let (rollout, hosts) = fleet(30, 300);
        let opts = GateOptions::default();
        let quiet = decide(&rollout, &hosts, &[], T0 + 5 * H, &opts);
        assert_eq!(quiet.verdict, Verdict::Proceed, "{}", quiet.explanation);
        assert_eq!(quiet.verdict.exit_code(), 0);
        let early = decide(&rollout, &hosts, &[], T0 + 3 * H, &opts);
        assert_eq!(early.verdict, Verdict::InsufficientData);
        assert_eq!(early.verdict.exit_code(), 3);
        assert!(
            early.explanation.contains("(--min-soak 4h)"),
            "{}",
            early.explanation
        );
        let few = GateOptions {
            min_hosts: 31,
            ..GateOptions::default()
        };
        let report = decide(&rollout, &hosts, &[], T0 + 5 * H, &few);
        assert_eq!(report.verdict, Verdict::InsufficientData);
        assert!(
            report.explanation.contains("only 30 host(s)"),
            "{}",
            report.explanation
        );
        let events: Vec<CrashEvent> = (0..4)
            .map(|i| crash(&format!("c{i}"), T0 + H, "new"))
            .collect();
        let halt = decide(&rollout, &hosts, &events, T0 + 2 * H, &few);
        assert_eq!(halt.verdict, Verdict::Halt);
        assert_eq!(halt.verdict.exit_code(), 1);
        // Before any deployment: nothing to decide on yet.
        let none = decide(&rollout, &hosts, &[], T0 - H, &opts);
        assert_eq!(none.verdict, Verdict::InsufficientData);
        assert_eq!(none.deployed_hosts, 0);
    }

    #[test]
    fn default_ring_change_and_unknown_names() {
        let (mut rollout, hosts) = fleet(3, 3);
        let fleet_set: HashSet<&str> = hosts.iter().map(String::as_str).collect();
        let opts = GateOptions::default();
        // At T0 + 80 h both rings have started: the latest is broad.
        assert_eq!(
            plan(&rollout, &fleet_set, T0 + 80 * H, &opts).unwrap().ring,
            "broad"
        );
        assert_eq!(
            plan(&rollout, &fleet_set, T0 + H, &opts).unwrap().ring,
            "canary"
        );
        let bad_ring = GateOptions {
            ring: Some("early".into()),
            ..GateOptions::default()
        };
        assert_eq!(
            plan(&rollout, &fleet_set, T0, &bad_ring)
                .unwrap_err()
                .to_string(),
            "--ring 'early' has no host with change 'drv 2.0' (rings: 'broad', 'canary')"
        );
        rollout.deployments[0].change = "other".into();
        assert_eq!(
            plan(&rollout, &fleet_set, T0, &opts)
                .unwrap_err()
                .to_string(),
            "rollout.csv has several changes ('other', 'drv 2.0'): pass --change with one of them"
        );
    }

    #[test]
    fn durations_read_back_as_min_soak() {
        assert_eq!(duration_text(0), "0s");
        assert_eq!(duration_text(4 * 3600), "4h");
        assert_eq!(duration_text(93_784), "1d2h3m4s");
        assert_eq!(
            crate::fleet::analytics::window::parse_duration(&duration_text(93_784)).unwrap(),
            93_784
        );
    }
}
