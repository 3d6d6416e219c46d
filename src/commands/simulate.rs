//! `blastradius simulate`. PLACEHOLDER.

/// Arguments of `blastradius simulate`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let _ = args;
    anyhow::bail!("'simulate' is not implemented yet")
}
