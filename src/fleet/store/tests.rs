//! Store unit tests on hand-made reports (the reader is not needed to test the store).

use std::fs;

use chrono::{TimeZone as _, Utc};
use polars::prelude::*;

use super::*;
use crate::record::{
    Access, Address, Arch, Blame, BugcheckRecord, CrashReport, DumpFormat, Fault, FrameTrust,
    ModuleRecord, ModuleRef, StackFrame,
};

/// A report shaped like the real Win10 x64 sample (0x1000007E in amdppm.sys).
fn report(dump_id: &str, path: &str) -> CrashReport {
    let module = |name: &str, ts: u32| ModuleRecord {
        name: name.into(),
        path: format!("\\SystemRoot\\System32\\drivers\\{name}"),
        base: "0xfffff8048b570000".into(),
        size: 0x3b000,
        timestamp: ts,
        checksum: 0,
    };
    CrashReport {
        path: path.into(),
        dump_id: dump_id.into(),
        size_bytes: 1_444_532,
        format: DumpFormat::KernelTriage,
        arch: Arch::Amd64,
        os_build: Some(19041),
        os_version: None,
        processors: Some(16),
        product_type: Some("workstation".into()),
        crash_time: chrono::DateTime::from_timestamp_millis(1_613_902_272_345),
        uptime_seconds: Some(3600),
        boot_id: None,
        bugcheck: Some(BugcheckRecord {
            code: 0x1000007E,
            code_hex: "0x1000007E".into(),
            name: "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M".into(),
            parameters: vec![
                Address(0xc0000005),
                Address(0xfffff8048b58334c),
                Address(0xffff9e8d1e7f7588),
                Address(0xffff9e8d1e7f6dd0),
            ],
        }),
        exception: None,
        fault: Fault {
            address: Some(Address(0xfffff8048b58334c)),
            module: Some(ModuleRef::Loaded("amdppm.sys".into())),
            module_base: Some(Address(0xfffff8048b570000)),
            offset: Some(Address(0x1334c)),
            symbol: Some("WriteIoMemRawEx+0x70".into()),
            access: Some(Access::Read),
            referenced_address: Some(Address(0xffffffffffffffff)),
        },
        blame: Blame {
            module: Some("AmdPPM.sys".into()),
            owner: Some("AMD".into()),
            third_party: true,
            frame_index: Some(0),
            reason: "faulting frame".into(),
        },
        failure_class: "AV_R_INVALID".into(),
        bucket_id: "AV_R_INVALID_amdppm!WriteIoMemRawEx".into(),
        signature: "amdppm!WriteIoMemRawEx | amdppm!InitAcpiCpc".into(),
        stack: vec![
            StackFrame {
                index: 0,
                address: Address(0xfffff8048b58334c),
                module: Some("amdppm.sys".into()),
                offset: Some(Address(0x1334c)),
                function: Some("WriteIoMemRawEx".into()),
                function_offset: Some(Address(0x70)),
                source_line: None,
                inlines: Vec::new(),
                trust: FrameTrust::Context,
            },
            StackFrame {
                index: 1,
                address: Address(0x1234),
                module: None,
                offset: None,
                function: None,
                function_offset: None,
                source_line: None,
                inlines: Vec::new(),
                trust: FrameTrust::Scan,
            },
        ],
        modules: vec![
            module("ntoskrnl.exe", 0x5ef0d46e),
            module("AmdPPM.sys", 0xc9c03000),
        ],
        crashing_thread_id: None,
        crashing_thread_index: None,
        threads: Vec::new(),
        unloaded_modules: vec![],
        warnings: vec!["no ntkrnlmp.pdb".into()],
    }
}

fn batch_of(reports: &[CrashReport], host: &str) -> Batch {
    let mut builder = BatchBuilder::new();
    for r in reports {
        builder.push_crash(r, host);
        builder.push_seen(SeenRecord {
            path: r.path.clone(),
            size: r.size_bytes,
            mtime_ns: 1,
            dump_id: r.dump_id.clone(),
            quarantined: false,
        });
    }
    builder
        .finish(Utc.with_ymd_and_hms(2024, 7, 19, 5, 0, 0).unwrap())
        .unwrap()
}

const CRASH_COLUMNS: [&str; 40] = [
    "dump_id",
    "path",
    "host",
    "size_bytes",
    "format",
    "arch",
    "os_build",
    "processors",
    "product_type",
    "crash_time",
    "uptime_seconds",
    "boot_id",
    "bugcheck_code",
    "bugcheck_name",
    "bugcheck_parameters",
    "exception_code",
    "exception_name",
    "fault_address",
    "fault_module",
    "fault_offset",
    "fault_symbol",
    "fault_access",
    "fault_referenced_address",
    "blame_module",
    "blame_module_lc",
    "blame_owner",
    "blame_third_party",
    "blame_frame_index",
    "blame_reason",
    "failure_class",
    "bucket_id",
    "signature",
    "stack_address",
    "stack_module",
    "stack_offset",
    "stack_function",
    "stack_trust",
    "module_count",
    "warnings",
    "ingested_at",
];

#[test]
fn crashes_table_has_exactly_the_contract_columns_and_types() {
    let empty = empty_tables().unwrap();
    let names: Vec<&str> = empty
        .crashes
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(names, CRASH_COLUMNS);
    let utc = DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC));
    let dtype = |n: &str| empty.crashes.column(n).unwrap().dtype().clone();
    assert_eq!(dtype("size_bytes"), DataType::UInt64);
    assert_eq!(dtype("os_build"), DataType::UInt32);
    assert_eq!(dtype("crash_time"), utc);
    assert_eq!(dtype("ingested_at"), utc);
    assert_eq!(dtype("blame_third_party"), DataType::Boolean);
    assert_eq!(
        dtype("stack_module"),
        DataType::List(Box::new(DataType::String))
    );
    let drivers: Vec<&str> = empty
        .drivers
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(
        drivers,
        ["dump_id", "host", "driver", "path", "timestamp", "size"]
    );
    let quarantine: Vec<&str> = empty
        .quarantine
        .get_column_names()
        .iter()
        .map(|n| n.as_str())
        .collect();
    assert_eq!(quarantine, ["path", "dump_id", "error", "seen_at"]);
    assert_eq!(empty.quarantine.column("seen_at").unwrap().dtype(), &utc);
}

#[test]
fn committed_rows_read_back_with_their_values() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    store
        .commit(batch_of(&[report("id1", "/d/host7/a.dmp")], "host7"))
        .unwrap();
    drop(store);

    let store = Store::open(dir.path()).unwrap();
    let crashes = store.read_table(Table::Crashes).unwrap();
    assert_eq!(crashes.height(), 1);
    let str_at = |name: &str| {
        crashes
            .column(name)
            .unwrap()
            .str()
            .unwrap()
            .get(0)
            .map(str::to_string)
    };
    assert_eq!(str_at("host").as_deref(), Some("host7"));
    assert_eq!(str_at("blame_module_lc").as_deref(), Some("amdppm.sys"));
    assert_eq!(str_at("format").as_deref(), Some("kernel-triage"));
    assert_eq!(
        crashes
            .column("bugcheck_code")
            .unwrap()
            .u32()
            .unwrap()
            .get(0),
        Some(0x1000007E)
    );
    let crash_ms = crashes
        .column("crash_time")
        .unwrap()
        .datetime()
        .unwrap()
        .phys
        .get(0);
    assert_eq!(
        crash_ms,
        Some(
            Utc.with_ymd_and_hms(2021, 2, 21, 10, 11, 12)
                .unwrap()
                .timestamp_millis()
                + 345
        )
    );
    let modules = crashes
        .column("stack_module")
        .unwrap()
        .list()
        .unwrap()
        .get_as_series(0)
        .unwrap();
    let modules: Vec<Option<&str>> = modules.str().unwrap().iter().collect();
    assert_eq!(modules, [Some("amdppm.sys"), None]);
    assert_eq!(
        crashes
            .column("module_count")
            .unwrap()
            .u32()
            .unwrap()
            .get(0),
        Some(2)
    );

    let drivers = store.read_table(Table::Drivers).unwrap();
    let names: Vec<Option<&str>> = drivers
        .column("driver")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(names, [Some("ntoskrnl.exe"), Some("amdppm.sys")]);
    assert_eq!(store.manifest().seen.len(), 1);
    assert_eq!(store.manifest().rows(Table::Crashes), 1);
}

#[test]
fn empty_store_reads_as_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_or_create(dir.path()).unwrap();
    let crashes = store.lazy_crashes().unwrap().collect().unwrap();
    assert_eq!(
        (crashes.height(), crashes.width()),
        (0, CRASH_COLUMNS.len())
    );
    assert!(store.inventory().unwrap().is_none());
    assert!(matches!(
        Store::open(dir.path().join("nope")),
        Err(StoreError::NotAStore { .. })
    ));
}

#[test]
fn a_second_writer_is_refused_while_the_first_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open_or_create(dir.path()).unwrap();
    assert!(matches!(
        Store::open_or_create(dir.path()),
        Err(StoreError::Locked { .. })
    ));
    drop(first);
    Store::open_or_create(dir.path()).unwrap();
}

#[test]
fn debris_of_a_killed_writer_is_removed_and_committed_files_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    store
        .commit(batch_of(&[report("id1", "/d/h/a.dmp")], "h"))
        .unwrap();
    let committed = store.manifest().crashes[0].file.clone();
    drop(store);
    // What a writer killed between rename and manifest (orphan) or mid-write (temp) leaves.
    let orphan = dir
        .path()
        .join("crashes/part-20240719T000000000Z-000000000000.parquet");
    let temp = dir.path().join("crashes/.part-x.parquet.tmp");
    let manifest_temp = dir.path().join(".manifest.json.tmp");
    let foreign = dir.path().join("crashes/notes.txt");
    for p in [&orphan, &temp, &manifest_temp, &foreign] {
        fs::write(p, b"junk").unwrap();
    }
    let store = Store::open_or_create(dir.path()).unwrap();
    assert!(!orphan.exists() && !temp.exists() && !manifest_temp.exists());
    assert!(
        foreign.exists(),
        "files blastradius did not name are left alone"
    );
    assert!(dir.path().join(&committed).exists());
    assert_eq!(store.read_table(Table::Crashes).unwrap().height(), 1);
}

#[test]
fn compact_merges_files_and_keeps_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    for i in 0..3 {
        store
            .commit(batch_of(
                &[report(&format!("id{i}"), &format!("/d/h/{i}.dmp"))],
                "h",
            ))
            .unwrap();
    }
    assert_eq!(store.manifest().crashes.len(), 3);
    let (before, after) = store.compact().unwrap();
    assert_eq!((before, after), (6, 2));
    assert_eq!(store.read_table(Table::Crashes).unwrap().height(), 3);
    assert_eq!(store.read_table(Table::Drivers).unwrap().height(), 6);
    let parts = fs::read_dir(dir.path().join("crashes")).unwrap().count();
    assert_eq!(
        parts, 1,
        "old batch files are deleted after the compacted one is committed"
    );
}

#[test]
fn merge_adds_only_new_dump_ids_with_their_drivers() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let mut a = Store::open_or_create(a_dir.path()).unwrap();
    a.commit(batch_of(
        &[report("id1", "/a/1.dmp"), report("id2", "/a/2.dmp")],
        "ha",
    ))
    .unwrap();
    let mut b = Store::open_or_create(b_dir.path()).unwrap();
    b.commit(batch_of(
        &[report("id2", "/b/2.dmp"), report("id3", "/b/3.dmp")],
        "hb",
    ))
    .unwrap();
    let mut q = BatchBuilder::new();
    q.push_quarantine("/b/bad.dmp", Some("bad1"), "truncated");
    b.commit(q.finish(Utc::now()).unwrap()).unwrap();
    drop(b);
    let b = Store::open(b_dir.path()).unwrap();

    let outcome = a.merge_from(&b).unwrap();
    assert_eq!((outcome.crashes_added, outcome.crashes_duplicate), (1, 1));
    assert_eq!((outcome.drivers_added, outcome.quarantine_added), (2, 1));
    let again = a.merge_from(&b).unwrap();
    assert_eq!((again.crashes_added, again.quarantine_added), (0, 0));

    let crashes = a.read_table(Table::Crashes).unwrap();
    let mut ids: Vec<String> = crashes
        .column("dump_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .flatten()
        .map(String::from)
        .collect();
    ids.sort();
    assert_eq!(ids, ["id1", "id2", "id3"]);
    assert_eq!(a.read_table(Table::Drivers).unwrap().height(), 6);
    let paths: Vec<&str> = a.manifest().seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/a/1.dmp", "/a/2.dmp", "/b/2.dmp", "/b/3.dmp"]);
}

#[test]
fn replace_crashes_rejects_foreign_columns_and_swaps_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_or_create(dir.path()).unwrap();
    store
        .commit(batch_of(
            &[report("id1", "/d/1.dmp"), report("id2", "/d/2.dmp")],
            "h",
        ))
        .unwrap();
    let wrong = df!("dump_id" => ["x"]).unwrap();
    assert!(matches!(
        store.replace_crashes(wrong),
        Err(StoreError::Invalid { .. })
    ));

    let crashes = store.read_table(Table::Crashes).unwrap();
    let relabelled = crashes
        .lazy()
        .with_column(lit("NEW_BUCKET").alias("bucket_id"))
        .collect()
        .unwrap();
    store.replace_crashes(relabelled).unwrap();
    let reread = Store::open(dir.path())
        .unwrap()
        .read_table(Table::Crashes)
        .unwrap();
    let buckets: Vec<Option<&str>> = reread
        .column("bucket_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(buckets, [Some("NEW_BUCKET"), Some("NEW_BUCKET")]);
}

#[test]
fn module_key_is_the_lower_case_base_name() {
    assert_eq!(
        module_key("\\SystemRoot\\System32\\drivers\\CSAgent.SYS"),
        "csagent.sys"
    );
    assert_eq!(module_key("C:/Windows/System32/ÄBC.dll"), "äbc.dll");
    assert_eq!(module_key("amdppm.sys"), "amdppm.sys");
}

#[test]
fn rows_built_in_pieces_elsewhere_give_the_batch_pushed_row_by_row() {
    // `scan` builds rows on worker threads (`CrashFrames`) and appends them in walk order:
    // the batch, its row order and its column types must be those of one builder.
    let reports: Vec<CrashReport> = (0..7)
        .map(|i| report(&format!("id{i}"), &format!("/dumps/h1/{i}.dmp")))
        .collect();
    let one_by_one = batch_of(&reports, "h1");
    let mut mixed = BatchBuilder::new();
    mixed.push_crash(&reports[0], "h1");
    let piece = |range: std::ops::Range<usize>| {
        CrashFrames::build(reports[range].iter().map(|r| (r, "h1"))).unwrap()
    };
    mixed.push_frames(piece(1..4)).unwrap();
    mixed.push_crash(&reports[4], "h1");
    mixed.push_frames(piece(5..7)).unwrap();
    assert_eq!(mixed.crash_rows(), 7);
    let mixed = mixed
        .finish(Utc.with_ymd_and_hms(2024, 7, 19, 5, 0, 0).unwrap())
        .unwrap();
    assert_eq!(mixed.crashes.height(), 7);
    assert_eq!(mixed.drivers.height(), 14);
    assert_eq!(mixed.seen.len(), 0);
    assert_eq!(mixed.crashes.schema(), one_by_one.crashes.schema());
    assert_eq!(mixed.drivers.schema(), one_by_one.drivers.schema());
    assert!(mixed.crashes.equals_missing(&one_by_one.crashes));
    assert!(mixed.drivers.equals_missing(&one_by_one.drivers));
    let ids = mixed
        .crashes
        .column("dump_id")
        .unwrap()
        .str()
        .unwrap()
        .clone();
    let ids: Vec<Option<&str>> = ids.iter().collect();
    let want: Vec<String> = (0..7).map(|i| format!("id{i}")).collect();
    assert_eq!(
        ids,
        want.iter().map(|w| Some(w.as_str())).collect::<Vec<_>>()
    );
    // One chunk per column: the Parquet file gets one row group, as before.
    assert!(mixed.crashes.columns().iter().all(|c| c.n_chunks() == 1));
    assert!(mixed.drivers.columns().iter().all(|c| c.n_chunks() == 1));
}

#[test]
fn a_batch_encoded_then_committed_reads_back_like_a_direct_commit() {
    let dir = tempfile::tempdir().unwrap();
    let reports = [report("a1", "/d/a1.dmp"), report("a2", "/d/a2.dmp")];
    let mut store = Store::open_or_create(dir.path()).unwrap();
    let encoded = Store::encode(batch_of(&reports, "h1"), dir.path()).unwrap();
    store.commit_encoded(encoded).unwrap();
    let reopened = Store::open(dir.path()).unwrap();
    assert_eq!(reopened.read_table(Table::Crashes).unwrap().height(), 2);
    assert_eq!(reopened.read_table(Table::Drivers).unwrap().height(), 4);
    assert_eq!(reopened.known_dump_ids().len(), 2);
    assert_eq!(reopened.manifest().files(Table::Crashes).len(), 1);
    assert_eq!(reopened.manifest().files(Table::Quarantine).len(), 0);
}

#[test]
fn drivers_rows_repeat_each_dumps_id_and_host_and_share_interned_names() {
    // Rows hold indices into each batch's distinct strings; what is stored must still be the
    // plain value of every row, in push order.
    let mut second = report("b2", "/d/b2.dmp");
    second.modules.push(ModuleRecord {
        name: "CSAgent.sys".into(),
        path: "\\SystemRoot\\System32\\drivers\\CrowdStrike\\CSAgent.sys".into(),
        base: "0xfffff80000000000".into(),
        size: 0x1000,
        timestamp: 7,
        checksum: 0,
    });
    let mut builder = BatchBuilder::new();
    builder.push_crash(&report("a1", "/d/a1.dmp"), "host-a");
    builder.push_crash(&second, "host-b");
    let drivers = builder.finish(Utc::now()).unwrap().drivers;
    let text = |name: &str| -> Vec<String> {
        drivers
            .column(name)
            .unwrap()
            .str()
            .unwrap()
            .iter()
            .map(|v| v.unwrap().to_string())
            .collect()
    };
    assert_eq!(text("dump_id"), ["a1", "a1", "b2", "b2", "b2"]);
    assert_eq!(
        text("host"),
        ["host-a", "host-a", "host-b", "host-b", "host-b"]
    );
    assert_eq!(
        text("driver"),
        [
            "ntoskrnl.exe",
            "amdppm.sys",
            "ntoskrnl.exe",
            "amdppm.sys",
            "csagent.sys"
        ]
    );
    assert_eq!(
        text("path"),
        [
            "\\SystemRoot\\System32\\drivers\\ntoskrnl.exe",
            "\\SystemRoot\\System32\\drivers\\AmdPPM.sys",
            "\\SystemRoot\\System32\\drivers\\ntoskrnl.exe",
            "\\SystemRoot\\System32\\drivers\\AmdPPM.sys",
            "\\SystemRoot\\System32\\drivers\\CrowdStrike\\CSAgent.sys",
        ]
    );
    let timestamps: Vec<Option<u32>> = drivers
        .column("timestamp")
        .unwrap()
        .u32()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(
        timestamps,
        [
            Some(0x5ef0d46e),
            Some(0xc9c03000),
            Some(0x5ef0d46e),
            Some(0xc9c03000),
            Some(7)
        ]
    );
}
