//! A fleet and incident generator that writes real-format dumps with known truth, for tests,
//! benchmarks and demos (`blastradius simulate`).
//!
//! - [`kernel_writer`]: Windows kernel small-memory (triage) dumps from a [`TriageDumpSpec`],
//!   laid out as the real samples are (x64 / ARM64 `PAGEDU64`, x86 `PAGEDUMP`).
//! - [`minidump_writer`]: user-mode `MDMP` files (x64) from a [`MinidumpSpec`].
//! - [`fleet`]: the simulated organisation and its hosts (`inventory.csv`).
//! - [`scenario`]: who crashes when (channel-file-291, gpu-tdr, baseline, staged-rollout,
//!   clean-rollout).
//! - [`machine`], [`kernel_crash`], [`user_crash`]: what one crash's dump contains.
//! - [`output`]: writing a fleet to a folder ([`write_fleet`]); [`truth`]: `truth.json`.
//! - [`reports`]: the same fleet as `CrashReport` records without dump files
//!   ([`simulate_reports`]), for million-row analytics benchmarks.
//!
//! Everything is deterministic for a seed: one SplitMix64 stream per host, boot and crash
//! ([`rng`]), no hash-map iteration order anywhere in the output.

pub mod captured_memory;
pub mod catalog;
pub mod cause;
pub mod driver_inventory;
pub mod fleet;
pub mod generate;
pub mod heartbeats;
pub mod kernel_crash;
pub mod kernel_writer;
pub mod machine;
pub mod minidump_writer;
pub mod output;
pub mod reports;
pub mod rng;
pub mod scenario;
pub mod truth;
pub mod user_crash;

pub use captured_memory::CapturedMemory;
pub use generate::DEFAULT_MINIDUMPS_COUNT;
pub use kernel_writer::{write_triage_dump, SimDriver, SimUnloaded, TriageDumpSpec};
pub use minidump_writer::{write_minidump, MdmpException, MdmpModule, MdmpThread, MinidumpSpec};
pub use output::{write_fleet, FleetSummary, SimulateConfig, SimulateError, DEFAULT_START};
pub use reports::{simulate_reports, ReportOptions};
pub use scenario::Scenario;
pub use truth::{DumpTruth, Truth};

/// Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_UNIX_OFFSET_SECS: i64 = 11_644_473_600;

/// FILETIME (100 ns since 1601-01-01 UTC) of a Unix time in seconds.
pub fn filetime_from_unix(unix_secs: i64) -> u64 {
    u64::try_from(unix_secs + FILETIME_UNIX_OFFSET_SECS).unwrap_or(0) * 10_000_000
}

/// (year, month, day) of a Unix time (proleptic Gregorian, Howard Hinnant's civil_from_days).
pub fn utc_date_parts(unix_secs: i64) -> (i64, u32, u32) {
    crate::civil_date::civil_from_days(unix_secs.div_euclid(86_400))
}

/// `2024-07-19T04:09:00Z`.
pub fn rfc3339(unix_secs: i64) -> String {
    let (y, mo, d) = utc_date_parts(unix_secs);
    let s = unix_secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses `2024-07-19T04:09:00Z` (any RFC 3339 offset) to Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_helpers_agree_with_known_dates() {
        assert_eq!(rfc3339(DEFAULT_START), "2024-07-19T04:09:00Z");
        assert_eq!(parse_rfc3339("2024-07-19T04:09:00Z"), Some(DEFAULT_START));
        assert_eq!(utc_date_parts(0), (1970, 1, 1));
        // The Win10 sample's SystemTime 0x01d707f23dbb3399 is 2021-02-21.
        let unix = (0x01d7_07f2_3dbb_3399u64 / 10_000_000) as i64 - FILETIME_UNIX_OFFSET_SECS;
        assert_eq!(&rfc3339(unix)[..10], "2021-02-21");
        assert_eq!(
            filetime_from_unix(unix) / 10_000_000,
            0x01d7_07f2_3dbb_3399 / 10_000_000
        );
    }
}
