//! The kernel triage reader against an INDEPENDENT writer: `scripts/independent_dump_writer.py`
//! was written only from the published layout (KERNEL-DUMP-FORMAT.md), not from blastradius'
//! reader or simulator. For each architecture it writes a dump and prints the facts it wrote;
//! `blastradius inspect --format json` must report the same facts.

use std::path::Path;
use std::process::Command;

use blastradius::record::parse_hex;
use serde_json::Value;

use crate::common;

/// Seeds per architecture: different drivers, builds, parameters and sizes.
const SEEDS: [u32; 2] = [1, 7];

fn python_available() -> bool {
    Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Runs the writer and returns the facts it printed.
fn write_dump(arch: &str, seed: u32, out: &Path) -> Value {
    let script = common::project_root().join("scripts/independent_dump_writer.py");
    let output = Command::new("python3")
        .arg(&script)
        .args(["--arch", arch, "--seed", &seed.to_string(), "--out"])
        .arg(out)
        .output()
        .expect("run python3");
    assert!(
        output.status.success(),
        "writer failed for {arch} seed {seed}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the writer prints JSON facts")
}

/// Runs `blastradius inspect --format json` on one file and returns its report.
fn inspect(dump: &Path, empty_symbols: &Path) -> Value {
    let output = Command::new(common::binary())
        .args(["inspect", "--format", "json", "--symbols"])
        .arg(empty_symbols)
        .arg(dump)
        .env_remove("_NT_SYMBOL_PATH")
        .output()
        .expect("run blastradius");
    assert!(
        output.status.success(),
        "inspect failed on {}: {}",
        dump.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 JSON");
    // One CrashReport JSON document per line.
    let line = stdout
        .lines()
        .find(|l| !l.trim().is_empty())
        .expect("inspect printed a report");
    serde_json::from_str(line).expect("inspect prints JSON")
}

fn hex_value(value: &Value, what: &str) -> u64 {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a hex string: {value}"));
    assert!(text.starts_with("0x"), "{what} = {text:?} lacks 0x");
    parse_hex(text).unwrap_or_else(|| panic!("{what} = {text:?} is not hex"))
}

fn rfc3339(value: &Value, what: &str) -> chrono::DateTime<chrono::FixedOffset> {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"));
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{what} = {text:?} is not RFC 3339: {e}"))
}

/// Every fact the writer printed that a CrashReport carries must match.
fn assert_report_matches(report: &Value, facts: &Value, label: &str) {
    for field in ["format", "arch", "os_build", "processors", "uptime_seconds"] {
        assert_eq!(report[field], facts[field], "{label}: {field}");
    }
    assert_eq!(
        rfc3339(&report["crash_time"], "report crash_time"),
        rfc3339(&facts["crash_time"], "facts crash_time"),
        "{label}: crash_time"
    );

    let (bugcheck, expected) = (&report["bugcheck"], &facts["bugcheck"]);
    for field in ["code", "code_hex", "name"] {
        assert_eq!(
            bugcheck[field], expected[field],
            "{label}: bugcheck.{field}"
        );
    }
    let parameters = |v: &Value, what: &str| -> Vec<u64> {
        v.as_array()
            .unwrap_or_else(|| panic!("{label}: {what} is not an array"))
            .iter()
            .map(|p| hex_value(p, what))
            .collect()
    };
    assert_eq!(
        parameters(&bugcheck["parameters"], "report parameters"),
        parameters(&expected["parameters"], "facts parameters"),
        "{label}: bugcheck.parameters"
    );

    let (fault, expected) = (&report["fault"], &facts["fault"]);
    assert_eq!(
        hex_value(&fault["address"], "fault.address"),
        hex_value(&expected["address"], "facts fault.address"),
        "{label}: fault.address"
    );
    assert_eq!(fault["module"], expected["module"], "{label}: fault.module");
    assert_eq!(
        hex_value(&fault["offset"], "fault.offset"),
        hex_value(&expected["offset"], "facts fault.offset"),
        "{label}: fault.offset"
    );

    let count = |v: &Value| v.as_array().map(Vec::len);
    assert_eq!(
        count(&report["modules"]),
        facts["driver_count"].as_u64().map(|n| n as usize),
        "{label}: number of modules"
    );
    assert_eq!(
        count(&report["unloaded_modules"]),
        facts["unloaded_count"].as_u64().map(|n| n as usize),
        "{label}: number of unloaded modules"
    );
    // The faulting driver is in the module list with the base, size and timestamp written.
    let module = report["modules"]
        .as_array()
        .and_then(|mods| mods.iter().find(|m| m["name"] == expected["module"]))
        .unwrap_or_else(|| panic!("{label}: {} not in modules", expected["module"]));
    assert_eq!(
        hex_value(&module["base"], "module base"),
        hex_value(&expected["module_base"], "facts module_base"),
        "{label}: fault module base"
    );
    assert_eq!(
        module["size"], expected["module_size"],
        "{label}: fault module size"
    );
    assert_eq!(
        module["timestamp"], expected["module_timestamp"],
        "{label}: fault module timestamp"
    );
}

fn check_arch(arch: &str) {
    if !python_available() {
        eprintln!("SKIP: python3 is not on PATH; the independent writer cannot run");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let empty_symbols = dir.path().join("symbols");
    std::fs::create_dir_all(&empty_symbols).expect("symbols dir");
    for seed in SEEDS {
        let dump = dir.path().join(format!("{arch}-{seed}.dmp"));
        let facts = write_dump(arch, seed, &dump);
        let report = inspect(&dump, &empty_symbols);
        assert_report_matches(&report, &facts, &format!("{arch} seed {seed}"));
    }
}

#[test]
fn x64_page_fault_in_vendorflt_matches_the_independent_writer() {
    check_arch("x64");
}

#[test]
fn x86_pae_0x8e_in_oldvid_matches_the_independent_writer() {
    check_arch("x86");
}

#[test]
fn arm64_0xd1_in_armnet_matches_the_independent_writer() {
    check_arch("arm64");
}
