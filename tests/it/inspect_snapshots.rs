//! `inspect --format json` of every real kernel sample, locked with insta snapshots (in
//! `tests/it/snapshots/`). The JSON is the `CrashReport` contract (docs/SCHEMA.md): a change in
//! any field of any real dump shows up here as a reviewable diff. The dump's path is replaced
//! by its file name, so the snapshots do not depend on where the samples are.

use std::process::Command;

use crate::common::{binary, sample, sample_symbols};

/// (snapshot name, sample path under ../shared/samples).
const SAMPLES: &[(&str, &str)] = &[
    ("win10_x64_0x7e_amdppm", "kernel/win10-x64-0x7E-amdppm.dmp"),
    (
        "win7_x86_0x8e_unknown_module",
        "kernel/win7-x86-0x8E-unknown-module.dmp",
    ),
    (
        "wild_win10_x64_0x50_ntfs",
        "kernel-wild/win10-x64-0x50-ntfs.dmp",
    ),
    (
        "wild_win10_x64_0x50_exec_nomodule",
        "kernel-wild/win10-x64-0x50-exec-nomodule.dmp",
    ),
    (
        "wild_win10_x64_0x1e_amdkmdag_on_stack",
        "kernel-wild/win10-x64-0x1E-c0000005-nt-amdkmdag-on-stack.dmp",
    ),
    (
        "wild_win10_x64_0x1e_misaligned",
        "kernel-wild/win10-x64-0x1E-c0000005-nt-misaligned.dmp",
    ),
    (
        "wild_win10_x64_0x1e_c000001d",
        "kernel-wild/win10-x64-0x1E-c000001d-nt.dmp",
    ),
    (
        "wild_win10_x64_0x101",
        "kernel-wild/win10-x64-0x101-clock-watchdog.dmp",
    ),
    (
        "wild_win10_x64_0x133",
        "kernel-wild/win10-x64-0x133-dpc-watchdog.dmp",
    ),
    (
        "wild_win10_x64_0x1a_402",
        "kernel-wild/win10-x64-0x1A-402-earlyboot.dmp",
    ),
    (
        "wild_win10_x64_0x1a_41792",
        "kernel-wild/win10-x64-0x1A-41792.dmp",
    ),
    (
        "wild_win10_x64_0x1c7",
        "kernel-wild/win10-x64-0x1C7-kernel-generated-triage.dmp",
    ),
    (
        "wild_win11_arm64_0x1c8",
        "kernel-wild/win11-arm64-0x1C8.dmp",
    ),
    ("wild_win7_x64_0x19", "kernel-wild/win7-x64-0x19.dmp"),
    (
        "wild_win10_fulldump_truncated",
        "kernel-wild/win10-19045-x64-fulldump-type1-truncated16k.dmp",
    ),
];

#[test]
fn inspect_json_of_the_real_kernel_samples() {
    let Some(symbols) = sample_symbols() else {
        return;
    };
    for (name, rel) in SAMPLES {
        let Some(path) = sample(rel) else { return };
        let out = Command::new(binary())
            .args(["inspect", "--format", "json", "--symbols"])
            .arg(&symbols)
            .arg(&path)
            .env_remove("_NT_SYMBOL_PATH")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{rel}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let file_name = rel.rsplit('/').next().unwrap_or(rel);
        json["path"] = serde_json::Value::String(file_name.to_string());
        insta::assert_json_snapshot!(*name, json);
    }
}
