//! `blastradius inspect` end to end: the JSON names of the CrashReport contract, one document
//! per line, exit codes, and the text form.

use std::process::Command;

use serde_json::Value;

use crate::common::{binary, sample};

fn inspect(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .arg("inspect")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn json_has_the_contract_names_one_document_per_dump() {
    let (Some(x64), Some(x86)) = (
        sample("kernel/win10-x64-0x7E-amdppm.dmp"),
        sample("kernel/win7-x86-0x8E-unknown-module.dmp"),
    ) else {
        return;
    };
    let (code, stdout, stderr) = inspect(&[
        "--format",
        "json",
        x64.to_str().unwrap(),
        x86.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let docs: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(docs.len(), 2);
    let d = &docs[0];
    for key in [
        "path",
        "dump_id",
        "size_bytes",
        "format",
        "arch",
        "os_build",
        "processors",
        "crash_time",
        "uptime_seconds",
        "bugcheck",
        "fault",
        "blame",
        "failure_class",
        "bucket_id",
        "signature",
        "stack",
        "modules",
        "unloaded_modules",
        "warnings",
    ] {
        assert!(d.get(key).is_some(), "missing {key}");
    }
    assert_eq!(d["format"], "kernel-triage");
    assert_eq!(d["arch"], "amd64");
    assert_eq!(d["os_build"], 19041);
    assert_eq!(d["processors"], 16);
    assert_eq!(d["crash_time"], "2021-02-21T01:38:22Z");
    assert_eq!(d["bugcheck"]["code"], 0x1000_007E_u32);
    assert_eq!(d["bugcheck"]["code_hex"], "0x1000007E");
    assert_eq!(
        d["bugcheck"]["name"],
        "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M"
    );
    assert_eq!(d["bugcheck"]["parameters"].as_array().unwrap().len(), 4);
    assert_eq!(d["fault"]["address"], "0xfffff8048b58334c");
    assert_eq!(d["fault"]["module"], "amdppm.sys");
    assert_eq!(d["fault"]["offset"], "0x334c");
    assert_eq!(d["fault"]["access"], "write");
    assert_eq!(d["fault"]["referenced_address"], "0xffffffffffffffff");
    assert_eq!(d["blame"]["module"], "amdppm.sys");
    assert_eq!(d["blame"]["owner"], "Microsoft");
    assert_eq!(d["blame"]["third_party"], false);
    assert!(d["blame"]["reason"]
        .as_str()
        .unwrap()
        .contains("amdppm.sys"));
    let m0 = &d["modules"][0];
    assert_eq!(m0["name"], "ntoskrnl.exe");
    assert_eq!(m0["path"], r"\SystemRoot\system32\ntoskrnl.exe");
    assert_eq!(m0["base"], "0xfffff8047ba00000");
    assert!(m0["size"].is_u64() && m0["timestamp"].is_u64());
    assert_eq!(d["modules"].as_array().unwrap().len(), 151);
    let u0 = &d["unloaded_modules"][0];
    assert!(u0["name"].is_string() && u0["start"].is_string() && u0["end"].is_string());
    for key in [
        "index",
        "address",
        "module",
        "offset",
        "function",
        "function_offset",
        "source_line",
        "trust",
    ] {
        assert!(d["stack"][0].get(key).is_some(), "stack frame lacks {key}");
    }
    assert_eq!(docs[1]["arch"], "x86");
    assert_eq!(docs[1]["fault"]["module"], "unknown_module");
}

#[test]
fn text_names_what_an_engineer_reads_first() {
    let Some(x64) = sample("kernel/win10-x64-0x7E-amdppm.dmp") else {
        return;
    };
    let (code, stdout, _) = inspect(&[x64.to_str().unwrap(), "--drivers"]);
    assert_eq!(code, 0);
    for needle in [
        "0x1000007E SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M",
        "exception code: STATUS_ACCESS_VIOLATION",
        "amdppm.sys+0x334c",
        "Blamed       amdppm.sys",
        "2021-02-21T01:38:22Z",
        "Windows 10 2004 (build 19041), amd64, 16 processors",
        "Loaded drivers (151)",
        r"\SystemRoot\System32\drivers\amdppm.sys",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in\n{stdout}");
    }
}

#[test]
fn a_bad_file_is_named_and_the_exit_code_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.dmp");
    std::fs::write(&junk, b"PAGEDU64 but far too short").unwrap();
    let (code, stdout, stderr) = inspect(&[junk.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("junk.dmp") && stderr.contains("truncated kernel dump"),
        "{stderr}"
    );
}
