//! Blame, bucket and signature rules on crafted inputs whose right answer is known from
//! WinDbg's documented behaviour (Microsoft's 0x50 example: fault in nt!memcpy, blame walked
//! to the third-party WwanUsbMp.sys; bucket AV_R_INVALID_WwanUsbMp!unknown_function).

use blastradius::dump::Arch;
use blastradius::record::{Access, ModuleRef};
use blastradius::triage::{triage, FrameRef, Rules, TriageInput};

fn frame<'a>(module: &'a str, function: Option<&'a str>, offset: u64) -> FrameRef<'a> {
    FrameRef {
        module: Some(module),
        function,
        offset: Some(offset),
        scanned: false,
    }
}

fn input<'a>(
    code: u32,
    p: [u64; 4],
    fault_module: &'a str,
    frames: &'a [FrameRef<'a>],
) -> TriageInput<'a> {
    TriageInput {
        bugcheck_code: Some(code),
        parameters: p,
        exception_code: None,
        access: None,
        referenced_address: None,
        os_build: Some(19041),
        arch: Arch::Amd64,
        // Test inputs live for the whole test run.
        fault_module: Some(Box::leak(Box::new(ModuleRef::parse(fault_module)))),
        frames,
    }
}

#[test]
fn fault_in_nt_memcpy_blames_the_calling_driver() {
    let rules = Rules::builtin();
    let frames = [
        frame("ntoskrnl.exe", Some("memcpy"), 0x1f6a33),
        frame(
            "ndis.sys",
            Some("NdisMIndicateReceiveNetBufferLists"),
            0x1234,
        ),
        frame("WwanUsbMp.sys", None, 0x1c15f),
        frame("ndis.sys", None, 0x4444),
    ];
    let p = [0xffffe000_12345000, 0, 0xfffff801_2345_6789, 2];
    let out = triage(&input(0x50, p, "ntoskrnl.exe", &frames), &rules);
    assert_eq!(out.blame.module.as_deref(), Some("WwanUsbMp.sys"));
    assert_eq!(out.blame.frame_index, Some(2));
    assert!(out.blame.third_party);
    assert_eq!(out.failure_class, "AV_R_INVALID");
    assert_eq!(out.bucket_id, "AV_R_INVALID_WwanUsbMp!unknown_function");
    // memcpy and the NDIS indicate routine are prefix frames: the signature goes through them.
    assert_eq!(
        out.signature,
        "nt!memcpy | ndis!NdisMIndicateReceiveNetBufferLists | wwanusbmp.sys@0x1c15f"
    );
}

#[test]
fn crowdstrike_like_fault_buckets_like_windbg() {
    let rules = Rules::builtin();
    let frames = [
        frame("csagent.sys", None, 0xe14ed),
        frame("csagent.sys", None, 0xe0000),
        frame("ntoskrnl.exe", None, 0x1000),
    ];
    let p = [0xffff8405_00000074, 0, 0xfffff806_715114ed, 2];
    let out = triage(&input(0x50, p, "csagent.sys", &frames), &rules);
    assert_eq!(out.bucket_id, "AV_R_INVALID_csagent!unknown_function");
    assert_eq!(out.blame.owner.as_deref(), Some("CrowdStrike"));
    assert!(out.blame.third_party);
    assert_eq!(out.signature, "csagent.sys@0xe14ed");
}

#[test]
fn non_driver_bugchecks_blame_no_driver_and_say_why() {
    let rules = Rules::builtin();
    let frames = [frame("ntoskrnl.exe", None, 0x3f5c80)];
    for (code, class) in [
        (0x1C8u32, "POWER_BUTTON_HOLD"),
        (0xE2, "MANUALLY_INITIATED_CRASH"),
        (0x124, "0x124_WHEA"),
    ] {
        let out = triage(&input(code, [0; 4], "ntoskrnl.exe", &frames), &rules);
        assert_eq!(out.blame.module, None, "{code:#x}");
        assert!(!out.blame.reason.is_empty());
        assert_eq!(out.failure_class, class);
        assert_eq!(
            out.bucket_id, class,
            "non-driver causes are the class alone"
        );
    }
}

#[test]
fn unloaded_driver_is_blamed_by_name() {
    let rules = Rules::builtin();
    let out = triage(
        &input(
            0xCE,
            [0xfffff801_00001000, 0, 0xfffff801_00001000, 0],
            "unloaded oldfilt.sys",
            &[],
        ),
        &rules,
    );
    assert_eq!(out.blame.module.as_deref(), Some("oldfilt.sys"));
    assert!(out.blame.reason.contains("unloaded"));
}

#[test]
fn a_user_rule_changes_the_owner_and_blame() {
    let mut rules = Rules::builtin();
    let frames = [
        frame("acmenet.sys", Some("FilterSend"), 0x1010),
        frame("contoso.sys", Some("Dispatch"), 0x40),
    ];
    let p = [0x10, 2, 1, 0xfffff801_0000_1010];
    let before = triage(&input(0xD1, p, "acmenet.sys", &frames), &rules);
    assert_eq!(before.bucket_id, "AV_W_acmenet!FilterSend");
    assert_eq!(before.blame.owner.as_deref(), Some("Acme Networks"));
    rules
        .merge_toml("[owners]\n\"acmenet\" = \"ignore\"\n\"contoso\" = \"Contoso Storage Team\"\n")
        .unwrap();
    let after = triage(&input(0xD1, p, "acmenet.sys", &frames), &rules);
    assert_eq!(after.blame.module.as_deref(), Some("contoso.sys"));
    assert_eq!(after.blame.owner.as_deref(), Some("Contoso Storage Team"));
    assert_eq!(after.bucket_id, "AV_W_contoso!Dispatch");
}

#[test]
fn user_mode_classes_follow_windbg() {
    let rules = Rules::builtin();
    let frames = [frame("crash.exe", Some("main"), 0x1044)];
    let mut i = input(0, [0; 4], "crash.exe", &frames);
    i.bugcheck_code = None;
    i.exception_code = Some(0xC000_0005);
    i.access = Some(Access::Write);
    i.referenced_address = Some(0x45);
    let out = triage(&i, &rules);
    assert_eq!(out.failure_class, "NULL_POINTER_WRITE_c0000005");
    assert_eq!(out.bucket_id, "NULL_POINTER_WRITE_c0000005_crash!main");
}
