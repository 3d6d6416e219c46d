//! `blastradius reprocess`. PLACEHOLDER.

/// Arguments of `blastradius reprocess`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {}

pub fn run(args: &Args) -> anyhow::Result<u8> {
    let _ = args;
    anyhow::bail!("'reprocess' is not implemented yet")
}
