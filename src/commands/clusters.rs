//! `blastradius clusters`. PLACEHOLDER.

/// Arguments of `blastradius clusters`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let _ = args;
    anyhow::bail!("'clusters' is not implemented yet")
}
