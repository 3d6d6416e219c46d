//! Writes a simulated fleet to a folder: `inventory.csv`, `dumps/<host>/*.dmp`,
//! `rollout.csv` (when a scenario deploys something), `heartbeats.csv`, `drivers.csv` and `truth.json`.
//!
//! Hosts are generated and written in parallel (rayon), each from its own random stream; the
//! results are collected in host order, so the bytes of every file depend only on the
//! arguments.

use super::captured_memory::{pool_blocks, CapturedMemory};
use super::rng::{hash_str, Rng};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::driver_inventory::drivers_csv;
use super::fleet::{self, Host};
use super::generate::{
    host_crashes, retain_newest_minidumps, CrashContent, DEFAULT_MINIDUMPS_COUNT,
};
use super::heartbeats::{heartbeats, HostActivity};
use super::kernel_writer::write_triage_dump;
use super::minidump_writer::write_minidump;
use super::rfc3339;
use super::scenario::{self, plan_host, Clock, Deployment, Outage, Scenario};
use super::truth::{ClusterTruth, DumpTruth, OutageTruth, TimelineEvent, Truth};

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimulateConfig {
    pub scenarios: Vec<Scenario>,
    pub hosts: usize,
    pub seed: u64,
    /// The scenario moment, Unix seconds UTC (default 2024-07-19T04:09:00Z).
    pub start: i64,
    /// Kernel minidumps each host keeps (Windows' CrashControl `MinidumpsCount`, default 50):
    /// older ones are deleted, as Windows does.
    pub minidumps_count: usize,
    /// The pool memory each kernel triage dump captures (`realistic` sizes by default).
    pub captured_memory: CapturedMemory,
}

/// 2024-07-19T04:09:00Z, when channel file 291 went out.
pub const DEFAULT_START: i64 = 1_721_362_140;

/// Why a fleet could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SimulateError + '_ {
    move |source| SimulateError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What a run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetSummary {
    pub hosts: usize,
    pub kernel_dumps: usize,
    pub minidumps: usize,
    pub bytes: u64,
    pub hosts_with_dumps: usize,
    pub boot_loop_hosts: usize,
}

struct HostOutput {
    truths: Vec<DumpTruth>,
    outage: Option<Outage>,
    deployments: Vec<Deployment>,
    /// Every channel-file-291 crash, including those whose dumps Windows deleted.
    channel_file_crashes: u32,
}

/// The command line that regenerates a run.
pub fn command_line(config: &SimulateConfig, out: &str) -> String {
    let names: Vec<&str> = config.scenarios.iter().map(|s| s.name()).collect();
    let mut cmd = format!(
        "blastradius simulate --scenario {} --hosts {} --seed {} --out {}",
        names.join(","),
        config.hosts,
        config.seed,
        out
    );
    if config.start != DEFAULT_START {
        let _ = write!(cmd, " --start {}", rfc3339(config.start));
    }
    if config.minidumps_count != DEFAULT_MINIDUMPS_COUNT {
        let _ = write!(cmd, " --minidumps-count {}", config.minidumps_count);
    }
    if config.captured_memory != CapturedMemory::default() {
        let _ = write!(
            cmd,
            " --captured-memory {}",
            config.captured_memory.as_str()
        );
    }
    cmd
}

fn simulate_host(
    host: &Host,
    config: &SimulateConfig,
    out_dir: &Path,
) -> Result<HostOutput, SimulateError> {
    let clock = Clock {
        start: config.start,
    };
    let plan = plan_host(host, &config.scenarios, clock, config.seed);
    let mut crashes = host_crashes(host, &plan, clock);
    let channel_file_crashes = crashes
        .iter()
        .filter(|c| c.cause == super::cause::Cause::ChannelFile291)
        .count() as u32;
    retain_newest_minidumps(&mut crashes, config.minidumps_count);
    let mut truths = Vec::with_capacity(crashes.len());
    if !crashes.is_empty() {
        let dir = out_dir.join("dumps").join(&host.name);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    }
    for mut crash in crashes {
        let bytes = match &mut crash.content {
            CrashContent::Kernel(k) => {
                if config.captured_memory == CapturedMemory::Realistic {
                    // A stream of its own: the rest of the fleet is the same either way.
                    let mut rng = Rng::derive(
                        config.seed,
                        "captured-memory",
                        hash_str(&crash.relative_path),
                    );
                    let blocks = pool_blocks(&mut rng, k.spec.arch, k.spec.os_build);
                    k.spec.data_blocks.extend(blocks);
                }
                write_triage_dump(&k.spec)
            }
            CrashContent::User(u) => write_minidump(&u.spec),
        };
        let path = out_dir.join(&crash.relative_path);
        std::fs::write(&path, &bytes).map_err(io(&path))?;
        let mut truth = crash.truth;
        truth.size_bytes = bytes.len() as u64;
        truths.push(truth);
    }
    Ok(HostOutput {
        truths,
        outage: plan.outage,
        deployments: plan.deployments,
        channel_file_crashes,
    })
}

fn timeline(
    config: &SimulateConfig,
    truths: &[&DumpTruth],
    ring_of: &BTreeMap<&str, &str>,
) -> Vec<TimelineEvent> {
    let clock = Clock {
        start: config.start,
    };
    let mut events = Vec::new();
    let mut add = |t: i64, s: Scenario, e: String| events.push((t, s.name().to_string(), e));
    let first_last = |scenario: &str, pred: &dyn Fn(&DumpTruth) -> bool| {
        let mut times: Vec<&str> = truths
            .iter()
            .filter(|d| d.scenario == scenario && pred(d))
            .map(|d| d.crash_time.as_str())
            .collect();
        times.sort_unstable();
        (
            times.first().map(|s| s.to_string()),
            times.last().map(|s| s.to_string()),
        )
    };
    for s in &config.scenarios {
        match s {
            Scenario::ChannelFile291 => {
                add(
                    clock.start,
                    *s,
                    format!(
                        "content update {} published to every online host, no rings",
                        scenario::CHANNEL_FILE_BAD
                    ),
                );
                add(
                    clock.revert(),
                    *s,
                    format!(
                        "content reverted: {} published",
                        scenario::CHANNEL_FILE_FIXED
                    ),
                );
            }
            Scenario::GpuTdr | Scenario::Baseline => {
                add(
                    clock.background_from(),
                    *s,
                    "background window opens".into(),
                );
                add(
                    clock.background_until(),
                    *s,
                    "background window closes".into(),
                );
            }
            Scenario::StagedRollout => {
                for ring in fleet::RINGS {
                    add(
                        clock.ring_start(ring),
                        *s,
                        format!(
                            "acmeflt.sys {} starts deploying to ring {ring}",
                            super::catalog::ACMEFLT_NEW_VERSION
                        ),
                    );
                }
                add(
                    clock.rollout_until(),
                    *s,
                    "observation window closes".into(),
                );
            }
            Scenario::CleanRollout => {
                for ring in fleet::RINGS {
                    add(
                        clock.clean_ring_start(ring),
                        *s,
                        format!(
                            "{} {} starts deploying to ring {ring}",
                            scenario::CLEAN_CHANGE,
                            scenario::CLEAN_VERSION
                        ),
                    );
                }
            }
        }
    }
    let mut out: Vec<TimelineEvent> = events
        .into_iter()
        .map(|(t, scenario, event)| TimelineEvent {
            time: rfc3339(t),
            scenario,
            event,
        })
        .collect();
    // Observed moments, from the dumps themselves.
    for s in &config.scenarios {
        let (first, last) = first_last(s.name(), &|_| true);
        if let (Some(first), Some(last)) = (first, last) {
            out.push(TimelineEvent {
                time: first,
                scenario: s.name().into(),
                event: "first crash".into(),
            });
            out.push(TimelineEvent {
                time: last,
                scenario: s.name().into(),
                event: "last crash".into(),
            });
        }
        if *s == Scenario::StagedRollout {
            for ring in fleet::RINGS {
                let (first, _) =
                    first_last(s.name(), &|d| ring_of.get(d.host.as_str()) == Some(&ring));
                if let Some(first) = first {
                    out.push(TimelineEvent {
                        time: first,
                        scenario: s.name().into(),
                        event: format!("first crash in ring {ring}"),
                    });
                }
            }
        }
    }
    out.sort_by(|a, b| {
        a.time
            .cmp(&b.time)
            .then(a.scenario.cmp(&b.scenario))
            .then(a.event.cmp(&b.event))
    });
    out
}

/// One cluster's tally while the truth is assembled.
struct ClusterTally<'a> {
    cause: &'a str,
    blamed: Option<&'a str>,
    dumps: u64,
    hosts: std::collections::BTreeSet<&'a str>,
}

fn clusters(truths: &[&DumpTruth]) -> Vec<ClusterTruth> {
    let mut by_label: BTreeMap<&str, ClusterTally<'_>> = BTreeMap::new();
    for d in truths {
        let e = by_label.entry(&d.cluster).or_insert_with(|| ClusterTally {
            cause: &d.cause,
            blamed: d.blamed_driver.as_deref(),
            dumps: 0,
            hosts: Default::default(),
        });
        e.dumps += 1;
        e.hosts.insert(&d.host);
    }
    let mut out: Vec<ClusterTruth> = by_label
        .into_iter()
        .map(|(label, t)| ClusterTruth {
            label: label.to_string(),
            cause: t.cause.to_string(),
            blamed_driver: t.blamed.map(str::to_string),
            dumps: t.dumps,
            hosts: t.hosts.len() as u64,
        })
        .collect();
    out.sort_by(|a, b| b.dumps.cmp(&a.dumps).then(a.label.cmp(&b.label)));
    out
}

/// Writes the fleet of `config` into `out_dir` (created if needed). `out_display` is how the
/// folder is spelled in the truth's regenerating command.
pub fn write_fleet(
    config: &SimulateConfig,
    out_dir: &Path,
    out_display: &str,
) -> Result<FleetSummary, SimulateError> {
    if config.hosts == 0 {
        return Err(SimulateError::Invalid("--hosts must be at least 1".into()));
    }
    if config.scenarios.is_empty() {
        return Err(SimulateError::Invalid("no scenario given".into()));
    }
    std::fs::create_dir_all(out_dir).map_err(io(out_dir))?;
    let hosts = fleet::hosts(config.seed, config.hosts);
    let inventory = out_dir.join("inventory.csv");
    std::fs::write(&inventory, fleet::inventory_csv(&hosts)).map_err(io(&inventory))?;

    let outputs: Vec<HostOutput> = hosts
        .par_iter()
        .map(|h| simulate_host(h, config, out_dir))
        .collect::<Result<Vec<_>, _>>()?;

    let mut rollout = String::from("host,ring,change,version,deployed_at\n");
    let mut any_deployment = false;
    let mut outages = Vec::new();
    for (host, o) in hosts.iter().zip(&outputs) {
        for d in &o.deployments {
            any_deployment = true;
            let _ = writeln!(
                rollout,
                "{},{},{},{},{}",
                host.name,
                host.ring,
                d.change,
                d.version,
                rfc3339(d.deployed_at)
            );
        }
        if let Some(outage) = o.outage {
            let crashes = o.channel_file_crashes;
            outages.push(OutageTruth {
                host: host.name.clone(),
                received_at: rfc3339(outage.received),
                first_crash: rfc3339(outage.first_crash),
                recovered_at: rfc3339(outage.recovered),
                recovery: outage.recovery.as_str().into(),
                boot_loop: outage.recovery.boot_loop(),
                crashes,
            });
        }
    }
    if any_deployment {
        let path = out_dir.join("rollout.csv");
        std::fs::write(&path, rollout).map_err(io(&path))?;
    }

    // Check-ins: their own random stream, so every other file keeps its bytes.
    let activity: Vec<HostActivity> = hosts
        .iter()
        .zip(&outputs)
        .map(|(host, o)| HostActivity {
            name: &host.name,
            outage: o.outage,
            crash_times: o
                .truths
                .iter()
                .filter_map(|d| chrono::DateTime::parse_from_rfc3339(&d.crash_time).ok())
                .map(|t| t.timestamp())
                .collect(),
        })
        .collect();
    let beats = heartbeats(config.seed, config.start, &activity);
    let (drivers, driver_installs) = drivers_csv(&hosts);
    let path = out_dir.join("drivers.csv");
    std::fs::write(&path, drivers).map_err(io(&path))?;
    let path = out_dir.join("heartbeats.csv");
    std::fs::write(&path, &beats.csv).map_err(io(&path))?;

    let all: Vec<&DumpTruth> = outputs.iter().flat_map(|o| o.truths.iter()).collect();
    let ring_of: BTreeMap<&str, &str> = hosts.iter().map(|h| (h.name.as_str(), h.ring)).collect();
    let mut boot_loop_hosts: Vec<String> = outages
        .iter()
        .filter(|o| o.boot_loop)
        .map(|o| o.host.clone())
        .collect();
    boot_loop_hosts.sort();
    let summary = FleetSummary {
        hosts: hosts.len(),
        kernel_dumps: all.iter().filter(|d| d.format == "kernel-triage").count(),
        minidumps: all.iter().filter(|d| d.format == "minidump").count(),
        bytes: all.iter().map(|d| d.size_bytes).sum(),
        hosts_with_dumps: outputs.iter().filter(|o| !o.truths.is_empty()).count(),
        boot_loop_hosts: boot_loop_hosts.len(),
    };
    let truth = Truth {
        generator: format!("blastradius simulate {}", env!("CARGO_PKG_VERSION")),
        command: command_line(config, out_display),
        scenarios: config
            .scenarios
            .iter()
            .map(|s| s.name().to_string())
            .collect(),
        seed: config.seed,
        hosts: config.hosts,
        start: rfc3339(config.start),
        minidumps_count: config.minidumps_count,
        timeline: timeline(config, &all, &ring_of),
        clusters: clusters(&all),
        boot_loop_hosts,
        outages,
        dumps: all.into_iter().cloned().collect(),
        checked_in_hosts: beats.checked_in_hosts,
        never_checked_in_hosts: beats.never_checked_in_hosts,
        driver_installs,
    };
    let path = out_dir.join("truth.json");
    let json = serde_json::to_string_pretty(&truth)
        .map_err(|e| SimulateError::Invalid(format!("truth.json: {e}")))?;
    std::fs::write(&path, json + "\n").map_err(io(&path))?;
    Ok(summary)
}
