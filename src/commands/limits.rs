//! Validation of the resource arguments (`--jobs`, `--batch-size`): 0 is a usage error, and
//! a thread count far beyond the machine is capped with a warning rather than obeyed —
//! `scan --jobs 100000` once started 15,000 threads and a load average over 4,000.

use std::num::NonZeroUsize;

/// Worker threads beyond this many per core buy nothing on I/O-bound dump reading.
pub const MAX_JOBS_PER_CORE: usize = 4;

/// The cores this process may use (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
}

/// `--jobs N`: at least 1; above [`MAX_JOBS_PER_CORE`] x the cores, capped with a warning
/// on stderr.
pub fn parse_jobs(text: &str) -> Result<usize, String> {
    let n = parse_positive(text, "--jobs")?;
    let (jobs, capped) = cap_jobs(n, cores());
    if capped {
        eprintln!(
            "blastradius: warning: --jobs {n} capped at {jobs} ({MAX_JOBS_PER_CORE} x {} cores)",
            cores()
        );
    }
    Ok(jobs)
}

/// `n` capped at `MAX_JOBS_PER_CORE * cores`, and whether it was.
pub fn cap_jobs(n: usize, cores: usize) -> (usize, bool) {
    let max = cores.max(1).saturating_mul(MAX_JOBS_PER_CORE);
    if n > max {
        (max, true)
    } else {
        (n, false)
    }
}

/// `--batch-size N`: at least 1 (0 used to mean 1 silently).
pub fn parse_batch_size(text: &str) -> Result<usize, String> {
    parse_positive(text, "--batch-size")
}

fn parse_positive(text: &str, flag: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err(format!("{flag} must be at least 1")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("'{text}': {flag} takes a whole number, at least 1")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_capped_at_four_per_core() {
        assert_eq!(cap_jobs(8, 2), (8, false));
        assert_eq!(cap_jobs(9, 2), (8, true));
        assert_eq!(cap_jobs(100_000, 16), (64, true));
        assert!(parse_jobs("0").is_err());
        assert!(parse_batch_size("0").is_err());
        assert_eq!(parse_batch_size("500"), Ok(500));
        assert!(parse_batch_size("-1").is_err());
    }
}
