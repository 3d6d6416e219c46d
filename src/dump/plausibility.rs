//! Plausibility of the fields a dump states about itself. A file that starts with `PAGEDU64`
//! and continues with garbage parses: every header field is "read", just meaningless (crash
//! time in the year 6509, 622 million processors). Such values must not reach the fleet
//! figures, where one crash time decides "the end of the data" that every host's state is
//! judged against. Pure functions over a finished `CrashReport`, so the rules are unit-tested
//! without files and the scan applies them in one call.
//!
//! Policy: each impossible field is one *strike*. One strike: the field is nulled and a
//! warning says why (a real dump with one odd field still triages). Two or more strikes: the
//! dump is not believed at all and is quarantined with every reason (random bytes after a
//! valid signature fail several checks at once; a real dump practically never does).

use chrono::Datelike;

use crate::record::{time_text, Arch, CrashReport};

/// Most processors a Windows kernel supports (Windows Server 2022: 2,048 logical; leave room).
pub const MAX_PROCESSORS: u32 = 4096;
/// Crash times before this year cannot come from a dump format this program reads.
pub const MIN_CRASH_YEAR: i32 = 2000;
/// How far past the scan's clock a crash time may be (time zones, a slightly fast clock).
pub const FUTURE_TOLERANCE_MS: i64 = 86_400_000;
/// An uptime over 30 years is not an uptime.
const MAX_UPTIME_S: u64 = 30 * 365 * 86_400;

/// NT build numbers of released Windows versions before Windows 10 (NT 3.1 .. 8.1).
const OLD_BUILDS: [u32; 16] = [
    528, 807, 1057, 1381, 2195, 2600, 3790, 6000, 6001, 6002, 6003, 7600, 7601, 9200, 9600, 9841,
];
/// Windows 10 / 11 / Server 2016+ builds (insider builds included) fall in this range.
const MODERN_BUILDS: std::ops::RangeInclusive<u32> = 9800..=40_000;

/// What the checks concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plausibility {
    /// Every field is possible (the report is unchanged).
    Plausible,
    /// One impossible field was nulled; a warning was added to the report.
    Repaired(String),
    /// Too many impossible fields: the file is not a believable dump. The reasons, joined.
    Implausible(String),
}

/// Whether `build` is an NT build number some Windows release had.
pub fn is_windows_build(build: u32) -> bool {
    OLD_BUILDS.contains(&build) || MODERN_BUILDS.contains(&build)
}

/// Why the bugcheck's parameters are impossible for its code, if they are. Only codes whose
/// parameters have a closed set of values are checked (see the bugcheck pages).
pub fn impossible_parameters(code: u32, arch: &Arch, parameters: &[u64]) -> Option<String> {
    if code == 0 {
        return Some("bugcheck code 0 (no bugcheck)".to_string());
    }
    let p = |i: usize| parameters.get(i).copied().unwrap_or(0);
    if *arch == Arch::X86 {
        if let Some(i) = (0..parameters.len()).find(|&i| p(i) > u64::from(u32::MAX)) {
            return Some(format!(
                "parameter {} = {:#x} does not fit a 32-bit kernel",
                i + 1,
                p(i)
            ));
        }
    }
    // The `_M` variants (0x1000000A, ...) share the parameters.
    let base = code & !0x1000_0000;
    match base {
        // 0x50: P2 is an access type (0 read, 1 write, 2 / 10 execute, flags in low bits).
        0x50 if p(1) > 0x1F => Some(format!("0x50 with access type P2 = {:#x}", p(1))),
        // 0x0A / 0xD1: P2 is an IRQL (0..31), P3 an access kind.
        0x0A | 0xD1 if p(1) > 31 => Some(format!(
            "{:#x} with IRQL P2 = {:#x} (at most 31)",
            base,
            p(1)
        )),
        0xD1 if !matches!(p(2), 0 | 1 | 2 | 8) => {
            Some(format!("0xd1 with access kind P3 = {:#x}", p(2)))
        }
        0x0A if p(2) & !0x9 != 0 => Some(format!("0xa with access flags P3 = {:#x}", p(2))),
        _ => None,
    }
}

/// Checks `report` against the scan's clock (`now_ms`, Unix milliseconds) and applies the
/// policy in the module doc: may null `crash_time`, `processors`, `os_build` / `os_version`
/// or `uptime_seconds` and add a warning.
pub fn check(report: &mut CrashReport, now_ms: i64) -> Plausibility {
    let mut strikes: Vec<String> = Vec::new();
    let mut null_time = false;
    let mut null_processors = false;
    let mut null_build = false;
    let mut null_uptime = false;

    if let Some(t) = report.crash_time {
        let text = time_text(&t);
        if t.year() < MIN_CRASH_YEAR {
            strikes.push(format!("crash time {text} is before {MIN_CRASH_YEAR}"));
            null_time = true;
        } else if t.timestamp_millis() > now_ms.saturating_add(FUTURE_TOLERANCE_MS) {
            strikes.push(format!(
                "crash time {text} is more than a day after the scan's clock"
            ));
            null_time = true;
        }
    }
    if let Some(n) = report.processors {
        if n == 0 || n > MAX_PROCESSORS {
            strikes.push(format!("{n} processors (1..={MAX_PROCESSORS} possible)"));
            null_processors = true;
        }
    }
    if let Some(build) = report.os_build {
        if !is_windows_build(build) {
            strikes.push(format!("build {build} is no Windows build"));
            null_build = true;
        }
    }
    if let Some(up) = report.uptime_seconds {
        if up > MAX_UPTIME_S {
            strikes.push(format!("uptime of {up} s is over 30 years"));
            null_uptime = true;
        }
    }
    if report.format.is_kernel() {
        if let Some(bugcheck) = &report.bugcheck {
            let params: Vec<u64> = bugcheck.parameters.iter().map(|p| p.0).collect();
            if let Some(why) = impossible_parameters(bugcheck.code, &report.arch, &params) {
                strikes.push(format!("impossible bugcheck parameters: {why}"));
            }
        }
    }

    match strikes.len() {
        0 => Plausibility::Plausible,
        1 => {
            if null_time {
                report.crash_time = None;
            }
            if null_processors {
                report.processors = None;
            }
            if null_build {
                report.os_build = None;
                report.os_version = None;
            }
            if null_uptime {
                report.uptime_seconds = None;
            }
            let warning = format!("implausible field ignored: {}", strikes[0]);
            report.warnings.push(warning.clone());
            Plausibility::Repaired(warning)
        }
        _ => Plausibility::Implausible(format!("not a plausible dump: {}", strikes.join("; "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BugcheckRecord, DumpFormat};

    /// 2024-07-19T04:09:00Z
    const T0: i64 = 1_721_362_140_000;

    fn report(
        time: &str,
        processors: u32,
        build: u32,
        code: u32,
        params: [&str; 4],
    ) -> CrashReport {
        let mut r = CrashReport {
            path: "x.dmp".into(),
            dump_id: "id".into(),
            size_bytes: 1,
            format: DumpFormat::KernelTriage,
            arch: Arch::Amd64,
            os_build: None,
            os_version: None,
            processors: None,
            product_type: None,
            crash_time: None,
            uptime_seconds: Some(120),
            boot_id: None,
            bugcheck: None,
            exception: None,
            fault: Default::default(),
            blame: Default::default(),
            failure_class: String::new(),
            bucket_id: String::new(),
            signature: String::new(),
            stack: Vec::new(),
            modules: Vec::new(),
            unloaded_modules: Vec::new(),
            warnings: Vec::new(),
            crashing_thread_id: None,
            crashing_thread_index: None,
            threads: Vec::new(),
        };
        r.crash_time = Some(
            chrono::DateTime::parse_from_rfc3339(time)
                .expect("a test time")
                .to_utc(),
        );
        r.processors = Some(processors);
        r.os_build = Some(build);
        r.bugcheck = Some(BugcheckRecord {
            code,
            code_hex: format!("{code:#X}"),
            name: String::new(),
            parameters: params
                .iter()
                .map(|s| {
                    crate::record::parse_hex(s)
                        .map(crate::record::Address)
                        .expect("hex")
                })
                .collect(),
        });
        r
    }

    const CS: [&str; 4] = ["0xffff840500000074", "0x0", "0xfffff8048b58334c", "0x2"];

    #[test]
    fn a_real_looking_dump_is_plausible() {
        let mut r = report("2024-07-19T04:09:00Z", 8, 19045, 0x50, CS);
        assert_eq!(check(&mut r, T0), Plausibility::Plausible);
        assert!(r.warnings.is_empty());
    }

    #[test]
    fn one_bad_field_is_nulled_with_a_warning() {
        let mut r = report("2024-07-19T04:09:00Z", 622_602_085, 19045, 0x50, CS);
        assert!(matches!(check(&mut r, T0), Plausibility::Repaired(_)));
        assert_eq!(r.processors, None);
        assert_eq!(
            r.crash_time.map(|t| time_text(&t)).as_deref(),
            Some("2024-07-19T04:09:00Z")
        );
        assert!(
            r.warnings[0].contains("622602085 processors"),
            "{:?}",
            r.warnings
        );

        let mut r = report("1999-12-31T23:59:59Z", 8, 19045, 0x50, CS);
        assert!(matches!(check(&mut r, T0), Plausibility::Repaired(_)));
        assert_eq!(r.crash_time, None);

        // More than a day after the scan's clock: nulled; 23 h after: kept.
        let mut r = report("2024-07-20T04:10:00Z", 8, 19045, 0x50, CS);
        assert!(matches!(check(&mut r, T0), Plausibility::Repaired(_)));
        let mut r = report("2024-07-20T03:09:00Z", 8, 19045, 0x50, CS);
        assert_eq!(check(&mut r, T0), Plausibility::Plausible);

        let mut r = report("2024-07-19T04:09:00Z", 8, 8000, 0x50, CS);
        assert!(matches!(check(&mut r, T0), Plausibility::Repaired(_)));
        assert_eq!(r.os_build, None);
    }

    #[test]
    fn random_header_fields_are_quarantined() {
        let mut r = report("6509-09-15T00:00:00Z", 622_602_085, 51234, 0x4B87B60, CS);
        match check(&mut r, T0) {
            Plausibility::Implausible(why) => {
                assert!(why.contains("6509-09-15"), "{why}");
                assert!(why.contains("622602085 processors"), "{why}");
                assert!(why.contains("build 51234"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parameters_a_bugcheck_cannot_have() {
        assert!(impossible_parameters(0x50, &Arch::Amd64, &[0, 2, 0, 0]).is_none());
        assert!(impossible_parameters(0x50, &Arch::Amd64, &[0, 0x7a3f, 0, 0]).is_some());
        assert!(impossible_parameters(0xD1, &Arch::Amd64, &[0, 2, 1, 0]).is_none());
        assert!(impossible_parameters(0xD1, &Arch::Amd64, &[0, 2, 5, 0]).is_some());
        assert!(impossible_parameters(0xD1, &Arch::Amd64, &[0, 99, 1, 0]).is_some());
        assert!(impossible_parameters(0x1000000A, &Arch::Amd64, &[0, 2, 9, 0]).is_none());
        assert!(impossible_parameters(0x0A, &Arch::Amd64, &[0, 2, 4, 0]).is_some());
        assert!(impossible_parameters(0x7E, &Arch::X86, &[0, 1 << 40, 0, 0]).is_some());
        assert!(impossible_parameters(0, &Arch::Amd64, &[0; 4]).is_some());
        assert!(impossible_parameters(0xDEADDEAD, &Arch::Amd64, &[7; 4]).is_none());
    }

    #[test]
    fn windows_builds() {
        for b in [2600, 3790, 7601, 9600, 10240, 19045, 22631, 26100, 27764] {
            assert!(is_windows_build(b), "{b}");
        }
        for b in [0, 1, 5000, 8000, 51234, 622_602_085] {
            assert!(!is_windows_build(b), "{b}");
        }
    }
}
