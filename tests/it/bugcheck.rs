//! The bugcheck catalogue against real values: the two real kernel samples (their header's
//! BugCheckCode and parameters, read straight from the bytes at the offsets of
//! KERNEL-DUMP-FORMAT.md §2/§3) and Microsoft's published CrowdStrike analysis.

use blastradius::dump::bugcheck::{
    access, catalogue, code_hex, exception_name, explain_parameters, failure_class, fault_ip,
    lookup, name, referenced_address, Access, BugcheckKind,
};
use blastradius::dump::Arch;

use crate::common;

/// Bugcheck code and parameters as a kernel dump header stores them: u32 code at 0x38 and
/// four u64 at 0x40 (64-bit header), u32 code at 0x28 and four u32 at 0x2C (32-bit header).
fn header_bugcheck(bytes: &[u8]) -> (u32, [u64; 4]) {
    let u32_at = |off: usize| u32::from_le_bytes(bytes[off..off + 4].try_into().unwrap());
    let u64_at = |off: usize| u64::from_le_bytes(bytes[off..off + 8].try_into().unwrap());
    match &bytes[4..8] {
        b"DU64" => (
            u32_at(0x38),
            [u64_at(0x40), u64_at(0x48), u64_at(0x50), u64_at(0x58)],
        ),
        b"DUMP" => (
            u32_at(0x28),
            [0x2C, 0x30, 0x34, 0x38].map(|off| u64::from(u32_at(off))),
        ),
        other => panic!("not a kernel dump header: {other:?}"),
    }
}

#[test]
fn win10_x64_sample_0x7e_points_into_amdppm() {
    let Some(path) = common::sample("kernel/win10-x64-0x7E-amdppm.dmp") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    let (code, p) = header_bugcheck(&bytes);
    assert_eq!(code, 0x1000_007E);
    assert_eq!(code_hex(code), "0x1000007E");
    assert_eq!(name(code), "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M");
    // The real P1 is the NTSTATUS sign-extended to 64 bits, not 0x00000000C0000005.
    assert_eq!(p[0], 0xFFFF_FFFF_C000_0005);
    // P2 = amdppm.sys!WriteIoMemRawEx+0x70 per the sample README.
    assert_eq!(fault_ip(code, &p), Some(0xFFFF_F804_8B58_334C));
    assert_eq!(failure_class(code, &p, Some(19041), Arch::Amd64), "AV");
    assert_eq!(
        lookup(code).map(|i| i.kind),
        Some(BugcheckKind::DriverFault)
    );
    let explained = explain_parameters(code, &p, Some(19041), Arch::Amd64);
    assert_eq!(
        explained[0].meaning.as_deref(),
        Some("STATUS_ACCESS_VIOLATION")
    );
    assert_eq!(explained[1].label, "exception address");
}

#[test]
fn win7_x86_sample_0x8e_fault_ip_is_p2() {
    let Some(path) = common::sample("kernel/win7-x86-0x8E-unknown-module.dmp") else {
        return;
    };
    let bytes = std::fs::read(path).unwrap();
    let (code, p) = header_bugcheck(&bytes);
    assert_eq!(code, 0x1000_008E);
    assert_eq!(name(code), "KERNEL_MODE_EXCEPTION_NOT_HANDLED_M");
    assert_eq!(p[0], 0xC000_0005);
    assert_eq!(fault_ip(code, &p), Some(0xAC45_17D7));
    assert_eq!(failure_class(code, &p, Some(7601), Arch::X86), "AV");
}

#[test]
fn crowdstrike_0x50_is_a_read_of_an_invalid_address() {
    // Microsoft's analysis of the 2024-07-19 csagent.sys crash.
    let p = [0xffff_8405_0000_0074, 0, 0xffff_f806_7151_14ed, 2];
    assert_eq!(name(0x50), "PAGE_FAULT_IN_NONPAGED_AREA");
    assert_eq!(
        failure_class(0x50, &p, Some(19041), Arch::Amd64),
        "AV_R_INVALID"
    );
    assert_eq!(
        access(0x50, &p, Some(19041), Arch::Amd64),
        Some(Access::Read)
    );
    assert_eq!(referenced_address(0x50, &p), Some(0xffff_8405_0000_0074));
    assert_eq!(fault_ip(0x50, &p), Some(0xffff_f806_7151_14ed));
}

#[test]
fn page_fault_p2_depends_on_build_and_arch() {
    let write_after_1507 = [0xffff_8405_0000_0074, 2, 0xffff_f806_7151_14ed, 2];
    assert_eq!(
        access(0x50, &write_after_1507, Some(19041), Arch::Amd64),
        Some(Access::Write)
    );
    let write_before_1507 = [0x8a00_0000, 1, 0x8a12_3456, 0];
    assert_eq!(
        access(0x50, &write_before_1507, Some(7601), Arch::X86),
        Some(Access::Write)
    );
    assert_eq!(
        failure_class(0x50, &write_before_1507, Some(7601), Arch::X86),
        "AV_W_INVALID"
    );
    let execute_arm64 = [0xffff_8405_0000_0074, 8, 0xffff_f806_7151_14ed, 2];
    assert_eq!(
        access(0x50, &execute_arm64, Some(22000), Arch::Arm64),
        Some(Access::Execute)
    );
}

#[test]
fn catalogue_covers_the_reference_sorted_and_unique() {
    let entries = catalogue();
    assert!(entries.len() >= 250, "only {} entries", entries.len());
    assert!(entries.windows(2).all(|w| w[0].code < w[1].code));
    // A sample of the reference table, across its whole range.
    for (code, expected) in [
        (0x01, "APC_INDEX_MISMATCH"),
        (0x0A, "IRQL_NOT_LESS_OR_EQUAL"),
        (0x7B, "INACCESSIBLE_BOOT_DEVICE"),
        (0xD1, "DRIVER_IRQL_NOT_LESS_OR_EQUAL"),
        (0x133, "DPC_WATCHDOG_VIOLATION"),
        (0x1C8, "MANUALLY_INITIATED_POWER_BUTTON_HOLD"),
        (0x1D3, "WFP_INVALID_OPERATION"),
        (0x20001, "HYPERVISOR_ERROR"),
        (0xC000_021A, "WINLOGON_FATAL_ERROR"),
        (0xDEAD_DEAD, "MANUALLY_INITIATED_CRASH1"),
    ] {
        assert_eq!(name(code), expected, "{code:#x}");
    }
    assert_eq!(name(0x1000_00EA), "THREAD_STUCK_IN_DEVICE_DRIVER_M");
    assert_eq!(name(0x1000_00D1), "DRIVER_IRQL_NOT_LESS_OR_EQUAL_M");
    assert_eq!(name(0xABCD), "UNKNOWN_BUGCHECK_0xABCD");
}

#[test]
fn non_driver_bugchecks_say_what_they_are() {
    let kind = |code| lookup(code).map(|i| i.kind);
    assert_eq!(kind(0x1C8), Some(BugcheckKind::PowerButtonHold));
    assert_eq!(kind(0xE2), Some(BugcheckKind::ManualCrash));
    assert_eq!(kind(0x124), Some(BugcheckKind::Hardware));
    let p = [0, 0, 0, 0];
    assert_eq!(
        failure_class(0x1C8, &[7500, 0, 0, 0], None, Arch::Amd64),
        "POWER_BUTTON_HOLD"
    );
    assert_eq!(
        failure_class(0xE2, &p, None, Arch::Amd64),
        "MANUALLY_INITIATED_CRASH"
    );
    assert_eq!(failure_class(0x124, &p, None, Arch::Amd64), "0x124_WHEA");
}

#[test]
fn exception_names_are_ntstatus_names() {
    assert_eq!(exception_name(0xC000_0005), Some("STATUS_ACCESS_VIOLATION"));
    assert_eq!(exception_name(0x8000_0003), Some("STATUS_BREAKPOINT"));
    assert_eq!(
        exception_name(0xC000_0409),
        Some("STATUS_STACK_BUFFER_OVERRUN")
    );
    assert_eq!(exception_name(0x1234), None);
}
