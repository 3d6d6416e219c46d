//! `blastradius simulate`: write a simulated fleet of real-format dumps with known truth.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::builder::PossibleValue;

use crate::simulate::{self, CapturedMemory, Scenario, SimulateConfig};

/// A scenario name on the command line; `--help` lists each with its one-line summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScenarioArg(pub Scenario);

const SCENARIO_ARGS: [ScenarioArg; 5] = [
    ScenarioArg(Scenario::ChannelFile291),
    ScenarioArg(Scenario::GpuTdr),
    ScenarioArg(Scenario::Baseline),
    ScenarioArg(Scenario::StagedRollout),
    ScenarioArg(Scenario::CleanRollout),
];

impl clap::ValueEnum for ScenarioArg {
    fn value_variants<'a>() -> &'a [Self] {
        &SCENARIO_ARGS
    }

    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.0.name()).help(self.0.summary()))
    }
}

/// Arguments of `blastradius simulate`.
#[derive(clap::Args, Debug, Clone)]
#[command(
    after_long_help = "Output: DIR/inventory.csv, DIR/dumps/<host>/<MMDDYY-NNNNN-NN>.dmp (kernel) and \
<exe>.<pid>.dmp (user mode), DIR/rollout.csv (scenarios that deploy something), DIR/truth.json \
(every dump's cluster label and blamed driver, the boot-looping hosts, the timeline). \
The same arguments give the same bytes.\n\nExamples:\n  blastradius simulate --scenario channel-file-291,baseline --out /tmp/fleet\n  blastradius scan /tmp/fleet/dumps --inventory /tmp/fleet/inventory.csv --store /tmp/fleet-store"
)]
pub struct Args {
    /// Scenario(s), comma-separated: e.g. `channel-file-291,baseline`.
    #[arg(long, value_enum, value_delimiter = ',', required = true)]
    pub scenario: Vec<ScenarioArg>,
    /// Number of hosts in the fleet.
    #[arg(long, default_value_t = 200)]
    pub hosts: usize,
    /// Random seed; the same seed gives the same fleet, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output folder (created if needed).
    #[arg(long)]
    pub out: PathBuf,
    /// The scenario moment, RFC 3339 (default 2024-07-19T04:09:00Z, the channel-file-291 push).
    #[arg(long)]
    pub start: Option<String>,
    /// Kernel minidumps each host keeps, oldest deleted first (Windows' CrashControl
    /// MinidumpsCount). Boot-looping hosts crash dozens of times; a low value keeps a fleet small.
    #[arg(long, default_value_t = simulate::DEFAULT_MINIDUMPS_COUNT)]
    pub minidumps_count: usize,
    /// Captured kernel memory per triage dump: `realistic` (the block counts and sizes of real
    /// dumps: ~1.3 MB per Windows 10+ x64/ARM64 dump, ~25 KB of blocks on x86) or `minimal` (only what triage
    /// reads; ~55 KB dumps, for a small demo fleet).
    #[arg(long, value_enum, default_value_t = CapturedMemory::Realistic)]
    pub captured_memory: CapturedMemory,
    /// Replace a fleet already written in the output folder.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let mut scenarios: Vec<Scenario> = args.scenario.iter().map(|s| s.0).collect();
    scenarios.sort();
    scenarios.dedup();
    let start = match &args.start {
        Some(text) => simulate::parse_rfc3339(text).with_context(|| {
            format!("--start {text}: not an RFC 3339 time (e.g. 2024-07-19T04:09:00Z)")
        })?,
        None => simulate::DEFAULT_START,
    };
    if args.hosts == 0 {
        bail!("--hosts must be at least 1");
    }
    let truth = args.out.join("truth.json");
    if truth.exists() {
        if !args.force {
            bail!(
                "{} already holds a simulated fleet (truth.json); pass --force to replace it",
                args.out.display()
            );
        }
        // Remove only what a previous run wrote.
        let dumps = args.out.join("dumps");
        if dumps.exists() {
            std::fs::remove_dir_all(&dumps)
                .with_context(|| format!("removing {}", dumps.display()))?;
        }
        for name in ["truth.json", "inventory.csv", "rollout.csv"] {
            let p = args.out.join(name);
            if p.exists() {
                std::fs::remove_file(&p).with_context(|| format!("removing {}", p.display()))?;
            }
        }
    }
    if args.minidumps_count == 0 {
        bail!("--minidumps-count must be at least 1");
    }
    let config = SimulateConfig {
        scenarios,
        hosts: args.hosts,
        seed: args.seed,
        start,
        minidumps_count: args.minidumps_count,
        captured_memory: args.captured_memory,
    };
    let began = Instant::now();
    let summary = simulate::write_fleet(&config, &args.out, &args.out.display().to_string())?;
    eprintln!(
        "wrote {} kernel dumps and {} minidumps ({:.1} MB) for {} hosts ({} with dumps, {} boot-looping) to {} in {:.1} s",
        summary.kernel_dumps,
        summary.minidumps,
        summary.bytes as f64 / 1e6,
        summary.hosts,
        summary.hosts_with_dumps,
        summary.boot_loop_hosts,
        args.out.display(),
        began.elapsed().as_secs_f64()
    );
    Ok(0)
}
