//! The typed `CrashReport` against its two text forms: the JSON of `inspect --format json`
//! (JSON -> record -> JSON must give the same bytes, on real dumps and on the simulated fleet)
//! and the crash store's columns (a row read back through the store-schema module must be
//! the stored part of the report the pipeline produced for that file).

use std::path::{Path, PathBuf};

use blastradius::dump::plausibility;
use blastradius::fleet::scan::{scan, ScanOptions};
use blastradius::fleet::store::{as_stored, CrashRows, Store, Table};
use blastradius::pipeline::Pipeline;
use blastradius::record::{Access, Address, Arch, CrashReport, ModuleRef};

use crate::common::{project_root, sample, simulated_fleet_files};

/// Every real dump under `../shared/samples` (kernel and user mode), or none when absent.
fn real_samples() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["kernel", "kernel-wild", "mdmp", "mdmp-peer"] {
        let Some(dir) = sample(dir) else {
            continue;
        };
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "dmp") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// One host folder in five of the committed fleet: every cause and format it has, in seconds.
fn some_fleet_hosts() -> Vec<PathBuf> {
    let mut hosts: Vec<PathBuf> = std::fs::read_dir(project_root().join("sample-dumps/dumps"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    hosts.sort();
    hosts.into_iter().step_by(5).collect()
}

fn assert_json_round_trips(path: &Path, report: &CrashReport) {
    let json = serde_json::to_string_pretty(report).unwrap();
    let back: CrashReport = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("{}: the JSON does not read back: {e}", path.display()));
    assert_eq!(&back, report, "{}", path.display());
    assert_eq!(
        serde_json::to_string_pretty(&back).unwrap(),
        json,
        "{}",
        path.display()
    );
}

#[test]
fn json_round_trips_byte_for_byte_on_real_dumps() {
    let pipeline = Pipeline::default();
    let files = real_samples();
    let mut read = 0;
    for path in &files {
        // A dump the reader refuses has no JSON to round-trip.
        if let Ok(report) = pipeline.process_file(path) {
            assert_json_round_trips(path, &report);
            read += 1;
        }
    }
    if !files.is_empty() {
        // 2 + 13 kernel dumps, 2 + 2 minidumps; every one of them reads.
        assert_eq!(read, 19, "{files:?}");
    }
}

#[test]
fn json_round_trips_byte_for_byte_on_the_simulated_fleet() {
    let pipeline = Pipeline::default();
    let files: Vec<PathBuf> = simulated_fleet_files().into_iter().step_by(7).collect();
    assert!(files.len() > 50, "{}", files.len());
    let (mut kernel, mut user) = (0, 0);
    for path in &files {
        let report = pipeline.process_file(path).unwrap();
        if report.format.is_kernel() {
            kernel += 1;
        } else {
            user += 1;
        }
        assert_json_round_trips(path, &report);
    }
    assert!(kernel > 0 && user > 0, "{kernel} kernel, {user} user dumps");
}

#[test]
fn typed_fields_write_the_text_the_json_always_had() {
    let text = |v: &dyn erased::Serialize| v.json();
    assert_eq!(text(&Address(0xfffff8048b58334c)), "\"0xfffff8048b58334c\"");
    assert_eq!(text(&Address(0)), "\"0x0\"");
    assert_eq!(text(&Arch::Amd64), "\"amd64\"");
    assert_eq!(text(&Arch::Machine(0x1c4)), "\"0x1c4\"");
    assert_eq!(text(&Arch::Other("unknown".into())), "\"unknown\"");
    assert_eq!(text(&Access::Execute), "\"execute\"");
    assert_eq!(
        text(&ModuleRef::Unloaded("csagent.sys".into())),
        "\"unloaded csagent.sys\""
    );
    assert_eq!(text(&ModuleRef::Unknown), "\"unknown_module\"");
    // And back: the text decides the variant.
    assert_eq!(Arch::parse("0x1c4"), Arch::Machine(0x1c4));
    assert_eq!(Arch::parse("arm"), Arch::Arm);
    assert_eq!(
        ModuleRef::parse("unloaded csagent.sys"),
        ModuleRef::Unloaded("csagent.sys".into())
    );
    assert_eq!(
        ModuleRef::parse("csagent.sys"),
        ModuleRef::Loaded("csagent.sys".into())
    );
    assert!(serde_json::from_str::<Address>("\"0xzz\"").is_err());
    // Padding in text tables applies to the hex text.
    assert_eq!(format!("{:<8}|", Address(0x1f)), "0x1f    |");
}

/// `serde_json::to_string` for a trait object in the test above.
mod erased {
    pub trait Serialize {
        fn json(&self) -> String;
    }
    impl<T: serde::Serialize> Serialize for T {
        fn json(&self) -> String {
            serde_json::to_string(self).unwrap()
        }
    }
}

#[test]
fn stored_rows_read_back_through_the_schema_are_the_pipelines_reports() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut store = Store::open_or_create(dir.path().join("store")).unwrap();
    let pipeline = Pipeline::default();
    let summary = scan(
        &mut store,
        &pipeline,
        &ScanOptions::new(some_fleet_hosts()),
        &(),
    )
    .unwrap();
    let mut crashes = store.read_table(Table::Crashes).unwrap();
    crashes.rechunk_mut_par();
    let rows = CrashRows::new(&crashes).unwrap();
    assert!(rows.len() > 50, "{} rows", rows.len());
    assert_eq!(rows.len() as u64, summary.ingested, "{summary:?}");
    let now_ms = chrono::Utc::now().timestamp_millis();
    let mut with_stack = 0;
    for i in 0..rows.len() {
        let stored = rows.report(i).unwrap();
        let path = PathBuf::from(&stored.path);
        let mut fresh = pipeline.process_file(&path).unwrap();
        // What scan does to a report before it stores it.
        fresh.path = stored.path.clone();
        plausibility::check(&mut fresh, now_ms);
        assert_eq!(stored, as_stored(&fresh), "{}", path.display());
        with_stack += usize::from(!stored.stack.is_empty());
    }
    // The frames (and their trust) made the trip too, not only the scalar columns.
    assert!(
        with_stack > rows.len() / 2,
        "{with_stack} of {}",
        rows.len()
    );
}
