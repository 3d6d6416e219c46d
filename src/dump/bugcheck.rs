//! The catalogue of Windows bugcheck (stop) codes, and what their four parameters mean.
//!
//! Source: Microsoft's "Bug check code reference"
//! (`MicrosoftDocs/windows-driver-docs`, `windows-driver-docs-pr/debugger/bug-check-code-reference2.md`,
//! <https://learn.microsoft.com/windows-hardware/drivers/debugger/bug-check-code-reference2>)
//! for the codes and names, and the per-code pages (`bug-check-0x50--page-fault-in-nonpaged-area.md`,
//! `bug-check-0xd1--driver-irql-not-less-or-equal.md`, ...) for the parameter meanings. Where the
//! reference table has a markdown typo or disagrees with the SDK header `bugcodes.h`, the header
//! wins, because it is what `KeBugCheckEx` is called with (0x170/0x171 are swapped in the 2019
//! table; 0x6B, 0xC6, 0xDF, 0x1D0 have broken markup there).
//!
//! The `_M` variants (`0x1000007E` SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M, ...) are the base code
//! with bit 28 set; they carry the same parameters as the base code. The catalogue stores only
//! base codes; [`lookup`] strips the bit and [`name`] appends `_M`.
//!
//! Everything here is a pure function of the code and the parameters: no allocation in
//! [`lookup`] (it runs once per dump in a 10,000-dump scan), a sorted static table searched by
//! binary search.

use crate::dump::Arch;

/// What kind of event a bugcheck reports, which decides whether blaming a driver makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BugcheckKind {
    /// A driver (or the kernel) did something wrong: an access violation, a pool corruption,
    /// a watchdog timeout caused by code that ran too long, a verifier finding.
    DriverFault,
    /// The hardware reported an uncorrectable error (WHEA, machine check, NMI).
    Hardware,
    /// 0x1C8 MANUALLY_INITIATED_POWER_BUTTON_HOLD: the user held the power button; the dump
    /// shows what was running, not what was wrong.
    PowerButtonHold,
    /// 0xE2 MANUALLY_INITIATED_CRASH / 0xDEADDEAD MANUALLY_INITIATED_CRASH1: a deliberate crash
    /// (keyboard CrashOnCtrlScroll, debugger, NotMyFault).
    ManualCrash,
    /// Everything else (boot/initialisation failures, file systems, live dumps, ...).
    Other,
}

/// Where the address of the faulting instruction comes from for a bugcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultIpSource {
    /// Bugcheck parameter with this 0-based index (0x50: `Parameter(2)` = P3).
    Parameter(usize),
    /// No parameter holds it: use the dump's context record / the stack.
    Context,
}

/// One entry of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BugcheckInfo {
    /// The base code (never an `_M` variant).
    pub code: u32,
    /// The name as the bug check code reference spells it (`PAGE_FAULT_IN_NONPAGED_AREA`).
    pub name: &'static str,
    pub kind: BugcheckKind,
    /// Short labels of P1..P4 from the code's documentation page, `""` where the page gives
    /// none (or where the catalogue has no page summary for the code).
    pub parameters: [&'static str; 4],
    pub fault_ip: FaultIpSource,
}

/// The bit that turns a bugcheck code into its `_M` variant (`0x1000007E` = `0x7E` | this).
const M_VARIANT_BIT: u32 = 0x1000_0000;

/// `STATUS_ACCESS_VIOLATION`, the exception code that makes an exception bugcheck an AV.
const STATUS_ACCESS_VIOLATION: u32 = 0xC000_0005;
/// `STATUS_IN_PAGE_ERROR`: its exception parameters have the same layout as an AV's.
const STATUS_IN_PAGE_ERROR: u32 = 0xC000_0006;

/// First build of Windows 10 (1507, TH1). From this build on, 0x50's P2 is the page-fault
/// error code (bit 1 write, bit 4 execute) on x86/x64 instead of 0 = read / 1 = write.
const WIN10_1507_BUILD: u32 = 10240;

/// Referenced addresses below this are NULL-pointer dereferences (the first 64 KiB of the
/// address space is never mapped on Windows), the class WinDbg calls `NULL`.
const NULL_REGION_END: u64 = 0x10000;

const NO_PARAMETERS: [&str; 4] = ["", "", "", ""];

/// A catalogue entry with no parameter summary (kind `Other`, fault IP from the context).
const fn named(code: u32, name: &'static str) -> BugcheckInfo {
    BugcheckInfo {
        code,
        name,
        kind: BugcheckKind::Other,
        parameters: NO_PARAMETERS,
        fault_ip: FaultIpSource::Context,
    }
}

/// A catalogue entry with its documented parameters.
const fn documented(
    code: u32,
    name: &'static str,
    kind: BugcheckKind,
    parameters: [&'static str; 4],
    fault_ip: FaultIpSource,
) -> BugcheckInfo {
    BugcheckInfo {
        code,
        name,
        kind,
        parameters,
        fault_ip,
    }
}

use BugcheckKind::{DriverFault, Hardware, ManualCrash, Other, PowerButtonHold};
use FaultIpSource::{Context, Parameter};

/// Labels shared by the exception bugchecks 0x7E (and 0x1000007E).
const EXCEPTION_RECORD_PARAMS: [&str; 4] = [
    "exception code",
    "exception address",
    "exception record address",
    "context record address",
];
/// P1 selects the violation; the meaning of P2..P4 depends on it.
const SUBTYPE_PARAMS: [&str; 4] = [
    "violation type",
    "depends on P1",
    "depends on P1",
    "depends on P1",
];
/// 0xC5 / 0xD0: memory referenced at a raised IRQL.
const IRQL_REFERENCE_PARAMS: [&str; 4] = [
    "referenced address",
    "IRQL",
    "access (0 read, 1 write)",
    "faulting instruction address",
];
/// 0xCC / 0xCE / 0xD5 / 0xD6: special-pool and unload page faults.
const SPECIAL_POOL_FAULT_PARAMS: [&str; 4] = [
    "referenced address",
    "access (0 read, 1 write)",
    "faulting instruction address",
    "reserved",
];
/// 0x116 / 0x141: display timeout detection and recovery.
const TDR_PARAMS: [&str; 4] = [
    "TDR recovery context",
    "pointer into responsible driver",
    "",
    "context dependent data",
];

/// Every code of the bug check code reference, sorted by code (checked by a test).
static CATALOGUE: &[BugcheckInfo] = &[
    named(0x01, "APC_INDEX_MISMATCH"),
    named(0x02, "DEVICE_QUEUE_NOT_BUSY"),
    named(0x03, "INVALID_AFFINITY_SET"),
    named(0x04, "INVALID_DATA_ACCESS_TRAP"),
    named(0x05, "INVALID_PROCESS_ATTACH_ATTEMPT"),
    named(0x06, "INVALID_PROCESS_DETACH_ATTEMPT"),
    named(0x07, "INVALID_SOFTWARE_INTERRUPT"),
    named(0x08, "IRQL_NOT_DISPATCH_LEVEL"),
    named(0x09, "IRQL_NOT_GREATER_OR_EQUAL"),
    // bug-check-0xa--irql-not-less-or-equal.md
    documented(
        0x0A,
        "IRQL_NOT_LESS_OR_EQUAL",
        DriverFault,
        [
            "referenced address",
            "IRQL",
            "access (bit 0 write, bit 3 execute)",
            "faulting instruction address",
        ],
        Parameter(3),
    ),
    named(0x0B, "NO_EXCEPTION_HANDLING_SUPPORT"),
    named(0x0C, "MAXIMUM_WAIT_OBJECTS_EXCEEDED"),
    named(0x0D, "MUTEX_LEVEL_NUMBER_VIOLATION"),
    named(0x0E, "NO_USER_MODE_CONTEXT"),
    named(0x0F, "SPIN_LOCK_ALREADY_OWNED"),
    named(0x10, "SPIN_LOCK_NOT_OWNED"),
    named(0x11, "THREAD_NOT_MUTEX_OWNER"),
    named(0x12, "TRAP_CAUSE_UNKNOWN"),
    named(0x13, "EMPTY_THREAD_REAPER_LIST"),
    named(0x14, "CREATE_DELETE_LOCK_NOT_LOCKED"),
    named(0x15, "LAST_CHANCE_CALLED_FROM_KMODE"),
    named(0x16, "CID_HANDLE_CREATION"),
    named(0x17, "CID_HANDLE_DELETION"),
    named(0x18, "REFERENCE_BY_POINTER"),
    // bug-check-0x19--bad-pool-header.md
    documented(
        0x19,
        "BAD_POOL_HEADER",
        DriverFault,
        SUBTYPE_PARAMS,
        Context,
    ),
    // bug-check-0x1a--memory-management.md
    documented(
        0x1A,
        "MEMORY_MANAGEMENT",
        DriverFault,
        SUBTYPE_PARAMS,
        Context,
    ),
    named(0x1B, "PFN_SHARE_COUNT"),
    named(0x1C, "PFN_REFERENCE_COUNT"),
    named(0x1D, "NO_SPIN_LOCK_AVAILABLE"),
    // bug-check-0x1e--kmode-exception-not-handled.md
    documented(
        0x1E,
        "KMODE_EXCEPTION_NOT_HANDLED",
        DriverFault,
        [
            "exception code",
            "exception address",
            "exception parameter 0",
            "exception parameter 1",
        ],
        Parameter(1),
    ),
    named(0x1F, "SHARED_RESOURCE_CONV_ERROR"),
    named(0x20, "KERNEL_APC_PENDING_DURING_EXIT"),
    named(0x21, "QUOTA_UNDERFLOW"),
    named(0x22, "FILE_SYSTEM"),
    named(0x23, "FAT_FILE_SYSTEM"),
    named(0x24, "NTFS_FILE_SYSTEM"),
    named(0x25, "NPFS_FILE_SYSTEM"),
    named(0x26, "CDFS_FILE_SYSTEM"),
    named(0x27, "RDR_FILE_SYSTEM"),
    named(0x28, "CORRUPT_ACCESS_TOKEN"),
    named(0x29, "SECURITY_SYSTEM"),
    named(0x2A, "INCONSISTENT_IRP"),
    named(0x2B, "PANIC_STACK_SWITCH"),
    named(0x2C, "PORT_DRIVER_INTERNAL"),
    named(0x2D, "SCSI_DISK_DRIVER_INTERNAL"),
    named(0x2E, "DATA_BUS_ERROR"),
    named(0x2F, "INSTRUCTION_BUS_ERROR"),
    named(0x30, "SET_OF_INVALID_CONTEXT"),
    named(0x31, "PHASE0_INITIALIZATION_FAILED"),
    named(0x32, "PHASE1_INITIALIZATION_FAILED"),
    named(0x33, "UNEXPECTED_INITIALIZATION_CALL"),
    named(0x34, "CACHE_MANAGER"),
    named(0x35, "NO_MORE_IRP_STACK_LOCATIONS"),
    named(0x36, "DEVICE_REFERENCE_COUNT_NOT_ZERO"),
    named(0x37, "FLOPPY_INTERNAL_ERROR"),
    named(0x38, "SERIAL_DRIVER_INTERNAL"),
    named(0x39, "SYSTEM_EXIT_OWNED_MUTEX"),
    named(0x3A, "SYSTEM_UNWIND_PREVIOUS_USER"),
    // bug-check-0x3b--system-service-exception.md
    documented(
        0x3B,
        "SYSTEM_SERVICE_EXCEPTION",
        DriverFault,
        [
            "exception code",
            "faulting instruction address",
            "context record address",
            "0",
        ],
        Parameter(1),
    ),
    named(0x3C, "INTERRUPT_UNWIND_ATTEMPTED"),
    named(0x3D, "INTERRUPT_EXCEPTION_NOT_HANDLED"),
    named(0x3E, "MULTIPROCESSOR_CONFIGURATION_NOT_SUPPORTED"),
    named(0x3F, "NO_MORE_SYSTEM_PTES"),
    named(0x40, "TARGET_MDL_TOO_SMALL"),
    named(0x41, "MUST_SUCCEED_POOL_EMPTY"),
    named(0x42, "ATDISK_DRIVER_INTERNAL"),
    named(0x43, "NO_SUCH_PARTITION"),
    named(0x44, "MULTIPLE_IRP_COMPLETE_REQUESTS"),
    named(0x45, "INSUFFICIENT_SYSTEM_MAP_REGS"),
    named(0x46, "DEREF_UNKNOWN_LOGON_SESSION"),
    named(0x47, "REF_UNKNOWN_LOGON_SESSION"),
    named(0x48, "CANCEL_STATE_IN_COMPLETED_IRP"),
    named(0x49, "PAGE_FAULT_WITH_INTERRUPTS_OFF"),
    named(0x4A, "IRQL_GT_ZERO_AT_SYSTEM_SERVICE"),
    named(0x4B, "STREAMS_INTERNAL_ERROR"),
    named(0x4C, "FATAL_UNHANDLED_HARD_ERROR"),
    named(0x4D, "NO_PAGES_AVAILABLE"),
    named(0x4E, "PFN_LIST_CORRUPT"),
    named(0x4F, "NDIS_INTERNAL_ERROR"),
    // bug-check-0x50--page-fault-in-nonpaged-area.md
    documented(
        0x50,
        "PAGE_FAULT_IN_NONPAGED_AREA",
        DriverFault,
        [
            "referenced address",
            "access type",
            "faulting instruction address",
            "page fault type",
        ],
        Parameter(2),
    ),
    named(0x51, "REGISTRY_ERROR"),
    named(0x52, "MAILSLOT_FILE_SYSTEM"),
    named(0x53, "NO_BOOT_DEVICE"),
    named(0x54, "LM_SERVER_INTERNAL_ERROR"),
    named(0x55, "DATA_COHERENCY_EXCEPTION"),
    named(0x56, "INSTRUCTION_COHERENCY_EXCEPTION"),
    named(0x57, "XNS_INTERNAL_ERROR"),
    named(0x58, "FTDISK_INTERNAL_ERROR"),
    named(0x59, "PINBALL_FILE_SYSTEM"),
    named(0x5A, "CRITICAL_SERVICE_FAILED"),
    named(0x5B, "SET_ENV_VAR_FAILED"),
    named(0x5C, "HAL_INITIALIZATION_FAILED"),
    named(0x5D, "UNSUPPORTED_PROCESSOR"),
    named(0x5E, "OBJECT_INITIALIZATION_FAILED"),
    named(0x5F, "SECURITY_INITIALIZATION_FAILED"),
    named(0x60, "PROCESS_INITIALIZATION_FAILED"),
    named(0x61, "HAL1_INITIALIZATION_FAILED"),
    named(0x62, "OBJECT1_INITIALIZATION_FAILED"),
    named(0x63, "SECURITY1_INITIALIZATION_FAILED"),
    named(0x64, "SYMBOLIC_INITIALIZATION_FAILED"),
    named(0x65, "MEMORY1_INITIALIZATION_FAILED"),
    named(0x66, "CACHE_INITIALIZATION_FAILED"),
    named(0x67, "CONFIG_INITIALIZATION_FAILED"),
    named(0x68, "FILE_INITIALIZATION_FAILED"),
    named(0x69, "IO1_INITIALIZATION_FAILED"),
    named(0x6A, "LPC_INITIALIZATION_FAILED"),
    named(0x6B, "PROCESS1_INITIALIZATION_FAILED"),
    named(0x6C, "REFMON_INITIALIZATION_FAILED"),
    named(0x6D, "SESSION1_INITIALIZATION_FAILED"),
    named(0x6E, "SESSION2_INITIALIZATION_FAILED"),
    named(0x6F, "SESSION3_INITIALIZATION_FAILED"),
    named(0x70, "SESSION4_INITIALIZATION_FAILED"),
    named(0x71, "SESSION5_INITIALIZATION_FAILED"),
    named(0x72, "ASSIGN_DRIVE_LETTERS_FAILED"),
    named(0x73, "CONFIG_LIST_FAILED"),
    named(0x74, "BAD_SYSTEM_CONFIG_INFO"),
    named(0x75, "CANNOT_WRITE_CONFIGURATION"),
    named(0x76, "PROCESS_HAS_LOCKED_PAGES"),
    named(0x77, "KERNEL_STACK_INPAGE_ERROR"),
    named(0x78, "PHASE0_EXCEPTION"),
    named(0x79, "MISMATCHED_HAL"),
    named(0x7A, "KERNEL_DATA_INPAGE_ERROR"),
    named(0x7B, "INACCESSIBLE_BOOT_DEVICE"),
    named(0x7C, "BUGCODE_NDIS_DRIVER"),
    named(0x7D, "INSTALL_MORE_MEMORY"),
    // bug-check-0x7e--system-thread-exception-not-handled.md
    documented(
        0x7E,
        "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED",
        DriverFault,
        EXCEPTION_RECORD_PARAMS,
        Parameter(1),
    ),
    // bug-check-0x7f--unexpected-kernel-mode-trap.md (only P1 is documented)
    documented(
        0x7F,
        "UNEXPECTED_KERNEL_MODE_TRAP",
        DriverFault,
        ["trap number", "", "", ""],
        Context,
    ),
    // bug-check-0x80--nmi-hardware-failure.md: "a hardware malfunction has occurred"
    documented(
        0x80,
        "NMI_HARDWARE_FAILURE",
        Hardware,
        NO_PARAMETERS,
        Context,
    ),
    named(0x81, "SPIN_LOCK_INIT_FAILURE"),
    named(0x82, "DFS_FILE_SYSTEM"),
    named(0x85, "SETUP_FAILURE"),
    named(0x8B, "MBR_CHECKSUM_MISMATCH"),
    // bug-check-0x8e--kernel-mode-exception-not-handled.md
    documented(
        0x8E,
        "KERNEL_MODE_EXCEPTION_NOT_HANDLED",
        DriverFault,
        [
            "exception code",
            "exception address",
            "trap frame address",
            "reserved",
        ],
        Parameter(1),
    ),
    named(0x8F, "PP0_INITIALIZATION_FAILED"),
    named(0x90, "PP1_INITIALIZATION_FAILED"),
    named(0x92, "UP_DRIVER_ON_MP_SYSTEM"),
    named(0x93, "INVALID_KERNEL_HANDLE"),
    named(0x94, "KERNEL_STACK_LOCKED_AT_EXIT"),
    named(0x96, "INVALID_WORK_QUEUE_ITEM"),
    named(0x97, "BOUND_IMAGE_UNSUPPORTED"),
    named(0x98, "END_OF_NT_EVALUATION_PERIOD"),
    named(0x99, "INVALID_REGION_OR_SEGMENT"),
    named(0x9A, "SYSTEM_LICENSE_VIOLATION"),
    named(0x9B, "UDFS_FILE_SYSTEM"),
    // bug-check-0x9c--machine-check-exception.md (labels of the MCA / x64 variant)
    documented(
        0x9C,
        "MACHINE_CHECK_EXCEPTION",
        Hardware,
        [
            "MCA bank number",
            "MCA_EXCEPTION address",
            "MCi_STATUS high 32 bits",
            "MCi_STATUS low 32 bits",
        ],
        Context,
    ),
    named(0x9E, "USER_MODE_HEALTH_MONITOR"),
    // bug-check-0x9f--driver-power-state-failure.md
    documented(
        0x9F,
        "DRIVER_POWER_STATE_FAILURE",
        DriverFault,
        SUBTYPE_PARAMS,
        Context,
    ),
    named(0xA0, "INTERNAL_POWER_ERROR"),
    named(0xA1, "PCI_BUS_DRIVER_INTERNAL"),
    named(0xA2, "MEMORY_IMAGE_CORRUPT"),
    named(0xA3, "ACPI_DRIVER_INTERNAL"),
    named(0xA4, "CNSS_FILE_SYSTEM_FILTER"),
    named(0xA5, "ACPI_BIOS_ERROR"),
    named(0xA7, "BAD_EXHANDLE"),
    named(0xAB, "SESSION_HAS_VALID_POOL_ON_EXIT"),
    named(0xAC, "HAL_MEMORY_ALLOCATION"),
    named(0xAD, "VIDEO_DRIVER_DEBUG_REPORT_REQUEST"),
    named(0xB1, "BGI_DETECTED_VIOLATION"),
    named(0xB4, "VIDEO_DRIVER_INIT_FAILURE"),
    named(0xB8, "ATTEMPTED_SWITCH_FROM_DPC"),
    named(0xB9, "CHIPSET_DETECTED_ERROR"),
    named(0xBA, "SESSION_HAS_VALID_VIEWS_ON_EXIT"),
    named(0xBB, "NETWORK_BOOT_INITIALIZATION_FAILED"),
    named(0xBC, "NETWORK_BOOT_DUPLICATE_ADDRESS"),
    named(0xBD, "INVALID_HIBERNATED_STATE"),
    // bug-check-0xbe--attempted-write-to-readonly-memory.md
    documented(
        0xBE,
        "ATTEMPTED_WRITE_TO_READONLY_MEMORY",
        DriverFault,
        [
            "attempted write address",
            "PTE contents",
            "reserved",
            "reserved",
        ],
        Context,
    ),
    named(0xBF, "MUTEX_ALREADY_OWNED"),
    named(0xC1, "SPECIAL_POOL_DETECTED_MEMORY_CORRUPTION"),
    // bug-check-0xc2--bad-pool-caller.md
    documented(
        0xC2,
        "BAD_POOL_CALLER",
        DriverFault,
        SUBTYPE_PARAMS,
        Context,
    ),
    // bug-check-0xc4--driver-verifier-detected-violation.md
    documented(
        0xC4,
        "DRIVER_VERIFIER_DETECTED_VIOLATION",
        DriverFault,
        SUBTYPE_PARAMS,
        Context,
    ),
    // bug-check-0xc5--driver-corrupted-expool.md
    documented(
        0xC5,
        "DRIVER_CORRUPTED_EXPOOL",
        DriverFault,
        IRQL_REFERENCE_PARAMS,
        Parameter(3),
    ),
    named(0xC6, "DRIVER_CAUGHT_MODIFYING_FREED_POOL"),
    named(0xC7, "TIMER_OR_DPC_INVALID"),
    named(0xC8, "IRQL_UNEXPECTED_VALUE"),
    named(0xC9, "DRIVER_VERIFIER_IOMANAGER_VIOLATION"),
    named(0xCA, "PNP_DETECTED_FATAL_ERROR"),
    named(0xCB, "DRIVER_LEFT_LOCKED_PAGES_IN_PROCESS"),
    // bug-check-0xcc--page-fault-in-freed-special-pool.md
    documented(
        0xCC,
        "PAGE_FAULT_IN_FREED_SPECIAL_POOL",
        DriverFault,
        SPECIAL_POOL_FAULT_PARAMS,
        Parameter(2),
    ),
    named(0xCD, "PAGE_FAULT_BEYOND_END_OF_ALLOCATION"),
    // bug-check-0xce--driver-unloaded-without-cancelling-pending-operations.md
    documented(
        0xCE,
        "DRIVER_UNLOADED_WITHOUT_CANCELLING_PENDING_OPERATIONS",
        DriverFault,
        SPECIAL_POOL_FAULT_PARAMS,
        Parameter(2),
    ),
    named(
        0xCF,
        "TERMINAL_SERVER_DRIVER_MADE_INCORRECT_MEMORY_REFERENCE",
    ),
    // bug-check-0xd0--driver-corrupted-mmpool.md
    documented(
        0xD0,
        "DRIVER_CORRUPTED_MMPOOL",
        DriverFault,
        IRQL_REFERENCE_PARAMS,
        Parameter(3),
    ),
    // bug-check-0xd1--driver-irql-not-less-or-equal.md
    documented(
        0xD1,
        "DRIVER_IRQL_NOT_LESS_OR_EQUAL",
        DriverFault,
        [
            "referenced address",
            "IRQL",
            "access (0 read, 1 write, 2/8 execute)",
            "faulting instruction address",
        ],
        Parameter(3),
    ),
    named(0xD2, "BUGCODE_ID_DRIVER"),
    named(0xD3, "DRIVER_PORTION_MUST_BE_NONPAGED"),
    named(
        0xD4,
        "SYSTEM_SCAN_AT_RAISED_IRQL_CAUGHT_IMPROPER_DRIVER_UNLOAD",
    ),
    // bug-check-0xd5--driver-page-fault-in-freed-special-pool.md
    documented(
        0xD5,
        "DRIVER_PAGE_FAULT_IN_FREED_SPECIAL_POOL",
        DriverFault,
        SPECIAL_POOL_FAULT_PARAMS,
        Parameter(2),
    ),
    // bug-check-0xd6--driver-page-fault-beyond-end-of-allocation.md
    documented(
        0xD6,
        "DRIVER_PAGE_FAULT_BEYOND_END_OF_ALLOCATION",
        DriverFault,
        SPECIAL_POOL_FAULT_PARAMS,
        Parameter(2),
    ),
    named(0xD7, "DRIVER_UNMAPPING_INVALID_VIEW"),
    named(0xD8, "DRIVER_USED_EXCESSIVE_PTES"),
    named(0xD9, "LOCKED_PAGES_TRACKER_CORRUPTION"),
    named(0xDA, "SYSTEM_PTE_MISUSE"),
    named(0xDB, "DRIVER_CORRUPTED_SYSPTES"),
    named(0xDC, "DRIVER_INVALID_STACK_ACCESS"),
    named(0xDE, "POOL_CORRUPTION_IN_FILE_AREA"),
    named(0xDF, "IMPERSONATING_WORKER_THREAD"),
    named(0xE0, "ACPI_BIOS_FATAL_ERROR"),
    named(0xE1, "WORKER_THREAD_RETURNED_AT_BAD_IRQL"),
    // bug-check-0xe2--manually-initiated-crash.md: "Parameters: None"
    documented(
        0xE2,
        "MANUALLY_INITIATED_CRASH",
        ManualCrash,
        NO_PARAMETERS,
        Context,
    ),
    named(0xE3, "RESOURCE_NOT_OWNED"),
    named(0xE4, "WORKER_INVALID"),
    named(0xE6, "DRIVER_VERIFIER_DMA_VIOLATION"),
    named(0xE7, "INVALID_FLOATING_POINT_STATE"),
    named(0xE8, "INVALID_CANCEL_OF_FILE_OPEN"),
    named(0xE9, "ACTIVE_EX_WORKER_THREAD_TERMINATION"),
    // bug-check-0xea--thread-stuck-in-device-driver.md
    documented(
        0xEA,
        "THREAD_STUCK_IN_DEVICE_DRIVER",
        DriverFault,
        [
            "stuck thread object",
            "DEFERRED_WATCHDOG object",
            "offending driver name",
            "hit count",
        ],
        Context,
    ),
    named(0xEB, "DIRTY_MAPPED_PAGES_CONGESTION"),
    named(0xEC, "SESSION_HAS_VALID_SPECIAL_POOL_ON_EXIT"),
    named(0xED, "UNMOUNTABLE_BOOT_VOLUME"),
    // bug-check-0xef--critical-process-died.md
    documented(
        0xEF,
        "CRITICAL_PROCESS_DIED",
        DriverFault,
        [
            "process object",
            "0 process died, 1 thread died",
            "reserved",
            "reserved",
        ],
        Context,
    ),
    named(0xF0, "STORAGE_MINIPORT_ERROR"),
    named(0xF1, "SCSI_VERIFIER_DETECTED_VIOLATION"),
    named(0xF2, "HARDWARE_INTERRUPT_STORM"),
    named(0xF3, "DISORDERLY_SHUTDOWN"),
    named(0xF4, "CRITICAL_OBJECT_TERMINATION"),
    named(0xF5, "FLTMGR_FILE_SYSTEM"),
    named(0xF6, "PCI_VERIFIER_DETECTED_VIOLATION"),
    // bug-check-0xf7--driver-overran-stack-buffer.md
    documented(
        0xF7,
        "DRIVER_OVERRAN_STACK_BUFFER",
        DriverFault,
        [
            "actual security cookie",
            "expected security cookie",
            "complement of expected cookie",
            "0",
        ],
        Context,
    ),
    named(0xF8, "RAMDISK_BOOT_INITIALIZATION_FAILED"),
    named(0xF9, "DRIVER_RETURNED_STATUS_REPARSE_FOR_VOLUME_OPEN"),
    named(0xFA, "HTTP_DRIVER_CORRUPTED"),
    // bug-check-0xfc---attempted-execute-of-noexecute-memory.md: P1 is the address whose
    // execution was attempted, i.e. where the faulting instruction fetch happened.
    documented(
        0xFC,
        "ATTEMPTED_EXECUTE_OF_NOEXECUTE_MEMORY",
        DriverFault,
        ["executed address", "PTE contents", "reserved", "reserved"],
        Parameter(0),
    ),
    named(0xFD, "DIRTY_NOWRITE_PAGES_CONGESTION"),
    named(0xFE, "BUGCODE_USB_DRIVER"),
    named(0xFF, "RESERVE_QUEUE_OVERFLOW"),
    named(0x100, "LOADER_BLOCK_MISMATCH"),
    // bug-check-0x101---clock-watchdog-timeout.md: "the processor is nonresponsive or is
    // deadlocked" -- the page does not attribute it to hardware, so it stays `Other`.
    documented(
        0x101,
        "CLOCK_WATCHDOG_TIMEOUT",
        Other,
        [
            "timeout interval (clock ticks)",
            "0",
            "PRCB of the unresponsive processor",
            "0",
        ],
        Context,
    ),
    named(0x102, "DPC_WATCHDOG_TIMEOUT"),
    named(0x103, "MUP_FILE_SYSTEM"),
    named(0x104, "AGP_INVALID_ACCESS"),
    named(0x105, "AGP_GART_CORRUPTION"),
    named(0x106, "AGP_ILLEGALLY_REPROGRAMMED"),
    named(0x108, "THIRD_PARTY_FILE_SYSTEM_FAILURE"),
    named(0x109, "CRITICAL_STRUCTURE_CORRUPTION"),
    named(0x10A, "APP_TAGGING_INITIALIZATION_FAILED"),
    named(0x10C, "FSRTL_EXTRA_CREATE_PARAMETER_VIOLATION"),
    // bug-check-0x10d---wdf-violation.md
    documented(
        0x10D,
        "WDF_VIOLATION",
        DriverFault,
        ["error code", "depends on P1", "depends on P1", "reserved"],
        Context,
    ),
    named(0x10E, "VIDEO_MEMORY_MANAGEMENT_INTERNAL"),
    named(0x10F, "RESOURCE_MANAGER_EXCEPTION_NOT_HANDLED"),
    named(0x111, "RECURSIVE_NMI"),
    named(0x112, "MSRPC_STATE_VIOLATION"),
    named(0x113, "VIDEO_DXGKRNL_FATAL_ERROR"),
    named(0x114, "VIDEO_SHADOW_DRIVER_FATAL_ERROR"),
    named(0x115, "AGP_INTERNAL"),
    // bug-check-0x116---video-tdr-failure.md: P2 "a pointer into the responsible device
    // driver module (for example, the owner tag)".
    documented(
        0x116,
        "VIDEO_TDR_FAILURE",
        DriverFault,
        [
            TDR_PARAMS[0],
            TDR_PARAMS[1],
            "error code of the last failed operation",
            TDR_PARAMS[3],
        ],
        Parameter(1),
    ),
    named(0x117, "VIDEO_TDR_TIMEOUT_DETECTED"),
    // bug-check-0x119---video-scheduler-internal-error.md
    documented(
        0x119,
        "VIDEO_SCHEDULER_INTERNAL_ERROR",
        DriverFault,
        ["violation type", "", "", ""],
        Context,
    ),
    named(0x11A, "EM_INITIALIZATION_FAILURE"),
    named(0x11B, "DRIVER_RETURNED_HOLDING_CANCEL_LOCK"),
    named(0x11C, "ATTEMPTED_WRITE_TO_CM_PROTECTED_STORAGE"),
    named(0x11D, "EVENT_TRACING_FATAL_ERROR"),
    named(0x11E, "TOO_MANY_RECURSIVE_FAULTS"),
    named(0x11F, "INVALID_DRIVER_HANDLE"),
    named(0x120, "BITLOCKER_FATAL_ERROR"),
    named(0x121, "DRIVER_VIOLATION"),
    named(0x122, "WHEA_INTERNAL_ERROR"),
    named(0x123, "CRYPTO_SELF_TEST_FAILURE"),
    // bug-check-0x124---whea-uncorrectable-error.md
    documented(
        0x124,
        "WHEA_UNCORRECTABLE_ERROR",
        Hardware,
        [
            "error source type",
            "WHEA_ERROR_RECORD address",
            "depends on P1",
            "depends on P1",
        ],
        Context,
    ),
    named(0x125, "NMR_INVALID_STATE"),
    named(0x126, "NETIO_INVALID_POOL_CALLER"),
    named(0x127, "PAGE_NOT_ZERO"),
    named(0x128, "WORKER_THREAD_RETURNED_WITH_BAD_IO_PRIORITY"),
    named(0x129, "WORKER_THREAD_RETURNED_WITH_BAD_PAGING_IO_PRIORITY"),
    named(0x12A, "MUI_NO_VALID_SYSTEM_LANGUAGE"),
    named(0x12B, "FAULTY_HARDWARE_CORRUPTED_PAGE"),
    named(0x12C, "EXFAT_FILE_SYSTEM"),
    named(0x12D, "VOLSNAP_OVERLAPPED_TABLE_ACCESS"),
    named(0x12E, "INVALID_MDL_RANGE"),
    named(0x12F, "VHD_BOOT_INITIALIZATION_FAILED"),
    named(0x130, "DYNAMIC_ADD_PROCESSOR_MISMATCH"),
    named(0x131, "INVALID_EXTENDED_PROCESSOR_STATE"),
    named(0x132, "RESOURCE_OWNER_POINTER_INVALID"),
    // bug-check-0x133-dpc-watchdog-violation.md
    documented(
        0x133,
        "DPC_WATCHDOG_VIOLATION",
        DriverFault,
        [
            "violation type",
            "DPC time count / watchdog period",
            "DPC time allotment",
            "reserved",
        ],
        Context,
    ),
    named(0x134, "DRIVE_EXTENDER"),
    named(0x135, "REGISTRY_FILTER_DRIVER_EXCEPTION"),
    named(0x136, "VHD_BOOT_HOST_VOLUME_NOT_ENOUGH_SPACE"),
    named(0x137, "WIN32K_HANDLE_MANAGER"),
    named(0x138, "GPIO_CONTROLLER_DRIVER_ERROR"),
    // bug-check-0x139--kernel-security-check-failure.md
    documented(
        0x139,
        "KERNEL_SECURITY_CHECK_FAILURE",
        DriverFault,
        [
            "corruption type",
            "trap frame address",
            "exception record address",
            "reserved",
        ],
        Context,
    ),
    named(0x13A, "KERNEL_MODE_HEAP_CORRUPTION"),
    named(0x13B, "PASSIVE_INTERRUPT_ERROR"),
    named(0x13C, "INVALID_IO_BOOST_STATE"),
    named(0x13D, "CRITICAL_INITIALIZATION_FAILURE"),
    named(0x140, "STORAGE_DEVICE_ABNORMALITY_DETECTED"),
    // bug-check-0x141---video-engine-timeout-detected.md
    documented(
        0x141,
        "VIDEO_ENGINE_TIMEOUT_DETECTED",
        DriverFault,
        [
            TDR_PARAMS[0],
            TDR_PARAMS[1],
            "secondary bucketing key",
            TDR_PARAMS[3],
        ],
        Parameter(1),
    ),
    named(0x142, "VIDEO_TDR_APPLICATION_BLOCKED"),
    named(0x143, "PROCESSOR_DRIVER_INTERNAL"),
    named(0x144, "BUGCODE_USB3_DRIVER"),
    named(0x145, "SECURE_BOOT_VIOLATION"),
    named(0x147, "ABNORMAL_RESET_DETECTED"),
    named(0x149, "REFS_FILE_SYSTEM"),
    named(0x14A, "KERNEL_WMI_INTERNAL"),
    named(0x14B, "SOC_SUBSYSTEM_FAILURE"),
    named(0x14C, "FATAL_ABNORMAL_RESET_ERROR"),
    named(0x14D, "EXCEPTION_SCOPE_INVALID"),
    named(0x14E, "SOC_CRITICAL_DEVICE_REMOVED"),
    named(0x14F, "PDC_WATCHDOG_TIMEOUT"),
    named(0x150, "TCPIP_AOAC_NIC_ACTIVE_REFERENCE_LEAK"),
    named(0x151, "UNSUPPORTED_INSTRUCTION_MODE"),
    named(0x152, "INVALID_PUSH_LOCK_FLAGS"),
    named(0x153, "KERNEL_LOCK_ENTRY_LEAKED_ON_THREAD_TERMINATION"),
    named(0x154, "UNEXPECTED_STORE_EXCEPTION"),
    named(0x155, "OS_DATA_TAMPERING"),
    named(0x156, "WINSOCK_DETECTED_HUNG_CLOSESOCKET_LIVEDUMP"),
    named(0x157, "KERNEL_THREAD_PRIORITY_FLOOR_VIOLATION"),
    named(0x158, "ILLEGAL_IOMMU_PAGE_FAULT"),
    named(0x159, "HAL_ILLEGAL_IOMMU_PAGE_FAULT"),
    named(0x15A, "SDBUS_INTERNAL_ERROR"),
    named(
        0x15B,
        "WORKER_THREAD_RETURNED_WITH_SYSTEM_PAGE_PRIORITY_ACTIVE",
    ),
    named(0x15C, "PDC_WATCHDOG_TIMEOUT_LIVEDUMP"),
    named(0x15D, "SOC_SUBSYSTEM_FAILURE_LIVEDUMP"),
    named(0x15E, "BUGCODE_NDIS_DRIVER_LIVE_DUMP"),
    named(0x15F, "CONNECTED_STANDBY_WATCHDOG_TIMEOUT_LIVEDUMP"),
    named(0x160, "WIN32K_ATOMIC_CHECK_FAILURE"),
    named(0x161, "LIVE_SYSTEM_DUMP"),
    named(0x162, "KERNEL_AUTO_BOOST_INVALID_LOCK_RELEASE"),
    named(0x163, "WORKER_THREAD_TEST_CONDITION"),
    named(0x164, "WIN32K_CRITICAL_FAILURE"),
    named(0x165, "CLUSTER_CSV_STATUS_IO_TIMEOUT_LIVEDUMP"),
    named(0x166, "CLUSTER_RESOURCE_CALL_TIMEOUT_LIVEDUMP"),
    named(0x167, "CLUSTER_CSV_SNAPSHOT_DEVICE_INFO_TIMEOUT_LIVEDUMP"),
    named(0x168, "CLUSTER_CSV_STATE_TRANSITION_TIMEOUT_LIVEDUMP"),
    named(0x169, "CLUSTER_CSV_VOLUME_ARRIVAL_LIVEDUMP"),
    named(0x16A, "CLUSTER_CSV_VOLUME_REMOVAL_LIVEDUMP"),
    named(0x16B, "CLUSTER_CSV_CLUSTER_WATCHDOG_LIVEDUMP"),
    named(0x16C, "INVALID_RUNDOWN_PROTECTION_FLAGS"),
    named(0x16D, "INVALID_SLOT_ALLOCATOR_FLAGS"),
    named(0x16E, "ERESOURCE_INVALID_RELEASE"),
    named(
        0x16F,
        "CLUSTER_CSV_STATE_TRANSITION_INTERVAL_TIMEOUT_LIVEDUMP",
    ),
    // The 2019 reference table swapped these two; bugcodes.h and the current table agree.
    named(0x170, "CLUSTER_CSV_CLUSSVC_DISCONNECT_WATCHDOG"),
    named(0x171, "CRYPTO_LIBRARY_INTERNAL_ERROR"),
    named(0x173, "COREMSGCALL_INTERNAL_ERROR"),
    named(0x174, "COREMSG_INTERNAL_ERROR"),
    named(0x175, "PREVIOUS_FATAL_ABNORMAL_RESET_ERROR"),
    named(0x178, "ELAM_DRIVER_DETECTED_FATAL_ERROR"),
    named(0x179, "CLUSTER_CLUSPORT_STATUS_IO_TIMEOUT_LIVEDUMP"),
    named(0x17B, "PROFILER_CONFIGURATION_ILLEGAL"),
    named(0x17C, "PDC_LOCK_WATCHDOG_LIVEDUMP"),
    named(0x17D, "PDC_UNEXPECTED_REVOCATION_LIVEDUMP"),
    named(0x17E, "MICROCODE_REVISION_MISMATCH"),
    named(0x187, "VIDEO_DWMINIT_TIMEOUT_FALLBACK_BDD"),
    named(0x188, "CLUSTER_CSVFS_LIVEDUMP"),
    named(0x189, "BAD_OBJECT_HEADER"),
    named(0x18B, "SECURE_KERNEL_ERROR"),
    named(0x18C, "HYPERGUARD_VIOLATION"),
    named(0x18D, "SECURE_FAULT_UNHANDLED"),
    named(0x18E, "KERNEL_PARTITION_REFERENCE_VIOLATION"),
    named(0x190, "WIN32K_CRITICAL_FAILURE_LIVEDUMP"),
    named(0x191, "PF_DETECTED_CORRUPTION"),
    named(0x192, "KERNEL_AUTO_BOOST_LOCK_ACQUISITION_WITH_RAISED_IRQL"),
    named(0x193, "VIDEO_DXGKRNL_LIVEDUMP"),
    named(0x195, "SMB_SERVER_LIVEDUMP"),
    named(0x196, "LOADER_ROLLBACK_DETECTED"),
    named(0x197, "WIN32K_SECURITY_FAILURE"),
    named(0x198, "UFX_LIVEDUMP"),
    named(0x199, "KERNEL_STORAGE_SLOT_IN_USE"),
    named(0x19A, "WORKER_THREAD_RETURNED_WHILE_ATTACHED_TO_SILO"),
    named(0x19B, "TTM_FATAL_ERROR"),
    named(0x19C, "WIN32K_POWER_WATCHDOG_TIMEOUT"),
    named(0x19D, "CLUSTER_SVHDX_LIVEDUMP"),
    named(0x1A0, "TTM_WATCHDOG_TIMEOUT"),
    named(0x1A2, "WIN32K_CALLOUT_WATCHDOG_BUGCHECK"),
    named(0x1A3, "CALL_HAS_NOT_RETURNED_WATCHDOG_TIMEOUT_LIVEDUMP"),
    named(0x1A4, "DRIPS_SW_HW_DIVERGENCE_LIVEDUMP"),
    named(0x1A5, "USB_DRIPS_BLOCKER_SURPRISE_REMOVAL_LIVEDUMP"),
    named(0x1A6, "BLUETOOTH_ERROR_RECOVERY_LIVEDUMP"),
    named(0x1A7, "SMB_REDIRECTOR_LIVEDUMP"),
    named(0x1A8, "VIDEO_DXGKRNL_BLACK_SCREEN_LIVEDUMP"),
    named(0x1AA, "EXCEPTION_ON_INVALID_STACK"),
    named(0x1AB, "UNWIND_ON_INVALID_STACK"),
    named(0x1B0, "VIDEO_MINIPORT_FAILED_LIVEDUMP"),
    named(0x1C4, "DRIVER_VERIFIER_DETECTED_VIOLATION_LIVEDUMP"),
    named(0x1C5, "IO_THREADPOOL_DEADLOCK_LIVEDUMP"),
    named(0x1C6, "FAST_ERESOURCE_PRECONDITION_VIOLATION"),
    named(0x1C7, "STORE_DATA_STRUCTURE_CORRUPTION"),
    // bug-check-0x1c8--manually-initiated-power-button-hold.md
    documented(
        0x1C8,
        "MANUALLY_INITIATED_POWER_BUTTON_HOLD",
        PowerButtonHold,
        [
            "power button hold time (ms)",
            "POP_POWER_BUTTON_TRIAGE_BLOCK address",
            "reserved",
            "reserved",
        ],
        Context,
    ),
    named(0x1C9, "USER_MODE_HEALTH_MONITOR_LIVEDUMP"),
    named(0x1CA, "SYNTHETIC_WATCHDOG_TIMEOUT"),
    named(0x1CB, "INVALID_SILO_DETACH"),
    named(0x1CC, "EXRESOURCE_TIMEOUT_LIVEDUMP"),
    named(0x1CD, "INVALID_CALLBACK_STACK_ADDRESS"),
    named(0x1CE, "INVALID_KERNEL_STACK_ADDRESS"),
    named(0x1CF, "HARDWARE_WATCHDOG_TIMEOUT"),
    named(0x1D0, "ACPI_FIRMWARE_WATCHDOG_TIMEOUT"),
    named(0x1D1, "TELEMETRY_ASSERTS_LIVEDUMP"),
    named(0x1D2, "WORKER_THREAD_INVALID_STATE"),
    // bug-check-0x1d3--wfp-invalid-operation.md
    documented(
        0x1D3,
        "WFP_INVALID_OPERATION",
        DriverFault,
        ["subtype", "reserved", "depends on P1", "reserved"],
        Context,
    ),
    named(0x1D4, "UCMUCSI_LIVEDUMP"),
    named(0x1D5, "DRIVER_PNP_WATCHDOG"),
    named(
        0x1D6,
        "WORKER_THREAD_RETURNED_WITH_NON_DEFAULT_WORKLOAD_CLASS",
    ),
    named(0x1D7, "EFS_FATAL_ERROR"),
    named(0x1D8, "UCMUCSI_FAILURE"),
    named(0x1D9, "HAL_IOMMU_INTERNAL_ERROR"),
    named(0x1DA, "HAL_BLOCKED_PROCESSOR_INTERNAL_ERROR"),
    named(0x1DB, "IPI_WATCHDOG_TIMEOUT"),
    named(0x1DC, "DMA_COMMON_BUFFER_VECTOR_ERROR"),
    named(0x1DD, "BUGCODE_MBBADAPTER_DRIVER"),
    named(0x1DE, "BUGCODE_WIFIADAPTER_DRIVER"),
    named(0x1DF, "PROCESSOR_START_TIMEOUT"),
    named(0x1E4, "VIDEO_DXGKRNL_SYSMM_FATAL_ERROR"),
    named(0x1E9, "ILLEGAL_ATS_INITIALIZATION"),
    named(0x1EA, "SECURE_PCI_CONFIG_SPACE_ACCESS_VIOLATION"),
    named(0x1EB, "DAM_WATCHDOG_TIMEOUT"),
    named(0x1ED, "HANDLE_ERROR_ON_CRITICAL_THREAD"),
    named(0x356, "XBOX_ERACTRL_CS_TIMEOUT"),
    named(0xBFE, "BC_BLUETOOTH_VERIFIER_FAULT"),
    named(0xBFF, "BC_BTHMINI_VERIFIER_FAULT"),
    named(0x20001, "HYPERVISOR_ERROR"),
    named(0x4000_008A, "THREAD_TERMINATE_HELD_MUTEX"),
    named(0xC000_0218, "STATUS_CANNOT_LOAD_REGISTRY_FILE"),
    // The 2019 table called it STATUS_SYSTEM_PROCESS_TERMINATED; the current page
    // (bug-check-0xc000021a--winlogon-fatal-error) and bugcodes.h say WINLOGON_FATAL_ERROR.
    named(0xC000_021A, "WINLOGON_FATAL_ERROR"),
    named(0xC000_0221, "STATUS_IMAGE_CHECKSUM_MISMATCH"),
    // bug-check-0xdeaddead--manually-initiated-crash1.md
    documented(
        0xDEAD_DEAD,
        "MANUALLY_INITIATED_CRASH1",
        ManualCrash,
        NO_PARAMETERS,
        Context,
    ),
];

/// Every catalogue entry, sorted by code. Base codes only (no `_M` variants).
pub fn catalogue() -> &'static [BugcheckInfo] {
    CATALOGUE
}

fn find(code: u32) -> Option<&'static BugcheckInfo> {
    CATALOGUE
        .binary_search_by_key(&code, |info| info.code)
        .ok()
        .and_then(|index| CATALOGUE.get(index))
}

/// The base code of an `_M` variant (`0x1000007E` -> `0x7E`), `None` for anything else.
/// Only codes whose top nibble is exactly 1 are variants: `0xDEADDEAD` also has bit 28 set
/// and is a code of its own.
fn m_variant_base(code: u32) -> Option<u32> {
    if code & 0xF000_0000 == M_VARIANT_BIT {
        Some(code & !M_VARIANT_BIT)
    } else {
        None
    }
}

/// The catalogue entry for a code; an `_M` variant (`0x1000007E`) gives its base code's entry.
pub fn lookup(code: u32) -> Option<&'static BugcheckInfo> {
    find(code).or_else(|| m_variant_base(code).and_then(find))
}

/// The entry and whether `code` was its `_M` variant.
fn resolve(code: u32) -> Option<(&'static BugcheckInfo, bool)> {
    if let Some(info) = find(code) {
        return Some((info, false));
    }
    let base = m_variant_base(code)?;
    find(base).map(|info| (info, true))
}

/// The code with the `_M` bit removed when it is a variant of a known code, else `code`.
fn base_code(code: u32) -> u32 {
    resolve(code).map(|(info, _)| info.code).unwrap_or(code)
}

/// The name WinDbg prints: `SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M` for `0x1000007E`,
/// `UNKNOWN_BUGCHECK_0x1234` for codes outside the catalogue.
pub fn name(code: u32) -> String {
    match resolve(code) {
        Some((info, false)) => info.name.to_string(),
        Some((info, true)) => format!("{}_M", info.name),
        None => format!("UNKNOWN_BUGCHECK_{}", code_hex(code)),
    }
}

/// `0x1000007E`, `0x50`: upper-case digits, no padding, as WinDbg prints stop codes.
pub fn code_hex(code: u32) -> String {
    format!("0x{code:X}")
}

/// The faulting instruction address a bugcheck's parameters give, `None` when the rules say
/// "use the context" or the parameter is 0 (the pages say "if known"; 0 means not known).
pub fn fault_ip(code: u32, p: &[u64; 4]) -> Option<u64> {
    match lookup(code)?.fault_ip {
        FaultIpSource::Parameter(index) => p.get(index).copied().filter(|&address| address != 0),
        FaultIpSource::Context => None,
    }
}

pub use crate::record::Access;

/// 0x50 P2 on x86/x64 from Windows 10 1507 on: the page-fault error code, of which the page
/// documents 0 read, 2 write (bit 1), 0x10 execute (bit 4). Other bits (bit 0 = protection
/// violation rather than not-present) do not change the kind of access.
fn page_fault_error_code_access(value: u64) -> Access {
    if value & 0x10 != 0 {
        Access::Execute
    } else if value & 0x2 != 0 {
        Access::Write
    } else {
        Access::Read
    }
}

/// 0x50 P2 (bug-check-0x50--page-fault-in-nonpaged-area.md):
/// x64/x86 after 1507: 0 read, 2 write, 0x10 execute; before 1507: 0 read, 1 write;
/// ARM64: 0 read, 1 write, 8 execute.
fn page_fault_access(value: u64, os_build: Option<u32>, arch: Arch) -> Option<Access> {
    match arch {
        Arch::X86 | Arch::Amd64 => match os_build {
            Some(build) if build >= WIN10_1507_BUILD => Some(page_fault_error_code_access(value)),
            Some(_) => match value {
                0 => Some(Access::Read),
                1 => Some(Access::Write),
                _ => None,
            },
            // Without the build, only values that mean the same in both schemes, or that
            // only the newer scheme produces, can be read: 1 is "write" before 1507 but a
            // protection-violation read after it.
            None => match value {
                0 => Some(Access::Read),
                1 => None,
                other => Some(page_fault_error_code_access(other)),
            },
        },
        Arch::Arm64 => match value {
            0 => Some(Access::Read),
            1 => Some(Access::Write),
            8 => Some(Access::Execute),
            _ => None,
        },
        Arch::Other(_) => match value {
            0 => Some(Access::Read),
            _ => None,
        },
    }
}

/// `0: Read, 1: Write` as the special-pool and pool-corruption pages document it.
fn read_write_flag(value: u64) -> Option<Access> {
    match value {
        0 => Some(Access::Read),
        1 => Some(Access::Write),
        _ => None,
    }
}

/// The low 32 bits of a parameter that holds an NTSTATUS, `None` when the high half is
/// neither zero nor a sign extension (then it is not a status code).
fn status_code(parameter: u64) -> Option<u32> {
    match parameter >> 32 {
        0 | 0xFFFF_FFFF => Some(parameter as u32),
        _ => None,
    }
}

/// Exception bugchecks (and their `_M` variants): P1 is the exception code.
fn is_exception_bugcheck(base: u32) -> bool {
    matches!(base, 0x1E | 0x7E | 0x8E | 0x3B)
}

/// For 0x1E the page says P3/P4 are the exception's parameters 0 and 1. For an access
/// violation (and an in-page error, which shares the layout) EXCEPTION_RECORD documents
/// parameter 0 as 0 read / 1 write / 8 DEP execute and parameter 1 as the address accessed.
fn kmode_exception_is_memory_fault(p: &[u64; 4]) -> bool {
    matches!(
        status_code(p[0]),
        Some(STATUS_ACCESS_VIOLATION | STATUS_IN_PAGE_ERROR)
    )
}

/// Which kind of access faulted, where the bugcheck's parameters say so.
pub fn access(code: u32, p: &[u64; 4], os_build: Option<u32>, arch: Arch) -> Option<Access> {
    match base_code(code) {
        0x50 => page_fault_access(p[1], os_build, arch),
        // bug-check-0xd1: 0 read, 1 write, 2 or 8 execute.
        0xD1 => match p[2] {
            0 => Some(Access::Read),
            1 => Some(Access::Write),
            2 | 8 => Some(Access::Execute),
            _ => None,
        },
        // bug-check-0xa: a bit field, bit 0 write, bit 3 execute.
        0x0A => {
            if p[2] & !0x9 != 0 {
                None
            } else if p[2] & 0x8 != 0 {
                Some(Access::Execute)
            } else if p[2] & 0x1 != 0 {
                Some(Access::Write)
            } else {
                Some(Access::Read)
            }
        }
        0xC5 | 0xD0 => read_write_flag(p[2]),
        0xCC | 0xCE | 0xD5 | 0xD6 => read_write_flag(p[1]),
        0xBE => Some(Access::Write),
        0xFC => Some(Access::Execute),
        0x1E if kmode_exception_is_memory_fault(p) => match p[2] {
            0 => Some(Access::Read),
            1 => Some(Access::Write),
            8 => Some(Access::Execute),
            _ => None,
        },
        _ => None,
    }
}

/// The data address the faulting instruction touched, where the bugcheck says.
pub fn referenced_address(code: u32, p: &[u64; 4]) -> Option<u64> {
    match base_code(code) {
        0x50 | 0x0A | 0xD1 | 0xC5 | 0xD0 | 0xCC | 0xCE | 0xD5 | 0xD6 | 0xBE | 0xFC => Some(p[0]),
        0x1E if kmode_exception_is_memory_fault(p) => Some(p[3]),
        _ => None,
    }
}

/// One bugcheck parameter with its documented label and, where the value selects a
/// documented case, what that value means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParameterMeaning {
    /// 0-based (P1 is index 0).
    pub index: usize,
    pub value: u64,
    pub label: &'static str,
    pub meaning: Option<String>,
}

/// 0x50 P4 (bug-check-0x50--page-fault-in-nonpaged-area.md, "Type of page fault").
fn page_fault_type(value: u64) -> Option<&'static str> {
    Some(match value {
        0x0 => "NONPAGED_BUGCHECK_FREED_PTE: the address referenced is on a page table entry marked as free",
        0x2 => "NONPAGED_BUGCHECK_NOT_PRESENT_PAGE_TABLE: the address referenced does not have a valid active page table entry",
        0x3 => "NONPAGED_BUGCHECK_WRONG_SESSION",
        0x4 => "NONPAGED_BUGCHECK_VA_NOT_CANONICAL",
        _ => return None,
    })
}

/// 0x1A P1 (bug-check-0x1a--memory-management.md).
fn memory_management_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0x1 => "The fork clone block reference count is corrupt",
        0x31 => "The image relocation fix-up table or code stream has been corrupted (probably a hardware error)",
        0x403 => "The page table and PFNs are out of sync (probably a hardware error)",
        0x411 => "A page table entry (PTE) has been corrupted; P2 is the address of the PTE",
        0x777 => "The caller is unlocking a system cache address that is not currently locked",
        0x778 => "The system is using the very last system cache view address instead of preserving it",
        0x780 | 0x781 => "The PTEs mapping the argument system cache view have been corrupted",
        0x1000 => "A caller of MmGetSystemAddressForMdl* tried to map a fully-cached physical page as non-cached",
        0x1010 => "The caller is unlocking a pageable section that is not currently locked",
        0x1233 => "A driver tried to map a physical memory page that was not locked; P2 is the page frame number",
        0x1234 => "The caller is trying to lock a nonexistent pageable section",
        0x1235 => "The caller is trying to protect an MDL with an invalid mapping",
        0x3451 => "The PTEs of a kernel thread stack that has been swapped out are corrupted",
        0x4477 => "A driver tried to write to an unallocated address in the user space of the system process; P2 is the address",
        0x5003 => "The working set free list is corrupt (probably a hardware error)",
        0x5100 => "The allocation bitmap is corrupt",
        0x5200 => "A page on a free pool SLIST has been corrupted (write-after-free or an overrun); P2 is the free pool block",
        0x8884 => "Two pages on the standby list that should have identical page priority values do not",
        0x8888 | 0x8889 => "Internal memory management structures are corrupted",
        0x888A => "Internal memory management structures (likely the PTE or PFN) are corrupted",
        0x41283 => "The working set index encoded in the PTE is corrupted",
        0x41284 => "A PTE or the working set list is corrupted",
        0x41286 => "The caller is trying to free an invalid pool address",
        0x41287 => "An illegal page fault occurred while holding working set synchronization; P2 is the referenced address",
        0x41785 => "The working set list is corrupted",
        0x41790 => "A page table page has been corrupted",
        0x41792 => "A corrupted PTE has been detected; P2 is the address of the PTE",
        0x61940 => "A PDE has been unexpectedly invalidated",
        0x61941 => "The paging hierarchy is corrupt; P2 is the virtual address which caused the fault",
        0x61946 => "The MDL being created is flawed (the driver calling MmProbeAndLockPages is almost always at fault)",
        0x61949 => "The IoPageFrameNode is null; P2 is PageFrameIndex",
        0x0303_0303 => "The boot loader is broken",
        0x0303_0308 => "The range to remove (or truncate) is in use by the loader",
        _ => return None,
    })
}

/// 0x19 P1 (bug-check-0x19--bad-pool-header.md).
fn bad_pool_header_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0x2 => "The special pool pattern check failed (the owner has likely corrupted the pool block)",
        0x3 => "The pool freelist is corrupt",
        0x5 => "A pair of adjacent pool entries have headers that contradict each other",
        0x6 => "The pool block header's previous size is too large",
        0x7 | 0xA | 0x20 => "The pool block header size is corrupt",
        0x8 => "The pool block header size is zero",
        0x9 => "The pool block header size is corrupted (it is too large)",
        0xD | 0xE | 0xF | 0x23 | 0x24 | 0x25 => {
            "The pool header of a freed block has been modified after it was freed"
        }
        0x21 => "The data following the pool block being freed is corrupt (the block was overrun)",
        0x22 => "An address being freed does not have a tracking entry (double free, or never allocated)",
        _ => return None,
    })
}

/// 0xC2 P1 (bug-check-0xc2--bad-pool-caller.md).
fn bad_pool_caller_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0x00 => "The current thread requested a zero-byte pool allocation",
        0x01 | 0x02 | 0x04 => "The pool header has been corrupted",
        0x06 | 0x07 => "The current thread attempted to free the pool, which was already freed",
        0x08 => "The current thread attempted to allocate the pool at an invalid IRQL",
        0x09 => "The current thread attempted to free the pool at an invalid IRQL",
        0x0A => "The current thread attempted to free pool memory by using the wrong tag",
        0x0B..=0x0D => "The current thread attempted to release a quota on a corrupted pool allocation",
        0x40 => "The current thread attempted to free the kernel pool at a user-mode address",
        0x41 | 0x44 | 0x47 => "The current thread attempted to free a non-allocated nonpaged pool address",
        0x42 | 0x43 => "The current thread attempted to free a virtual address that was never in any pool",
        0x46 => "The current thread attempted to free an invalid pool address",
        0x48 | 0x50 => "The current thread attempted to free a non-allocated paged pool address",
        0x60 => "The current thread attempted to free an invalid contiguous memory address",
        0x99 => "The current thread attempted to free pool with an invalid address",
        0x9A => "The current thread marked an allocation request MUST_SUCCEED",
        0x9B => "The current thread attempted to allocate a pool with a tag of 0",
        0x9C => "The current thread attempted to allocate a pool with a tag of \"BIG\"",
        0x9D => "The current thread attempted to allocate a pool with a tag that has no letters or digits",
        0x41286 => "The current thread attempted to free a paged pool address in the middle of an allocation",
        _ => return None,
    })
}

/// 0xC4 P1 (bug-check-0xc4--driver-verifier-detected-violation.md): the most common cases.
fn verifier_violation_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0x00 => "The driver requested a zero-byte pool allocation",
        0x01 => "The driver attempted to allocate paged memory with IRQL > APC_LEVEL",
        0x02 => "The driver attempted to allocate nonpaged memory with IRQL > DISPATCH_LEVEL",
        0x10 => "The driver attempted to free an address that was not returned from an allocate call",
        0x11 => "The driver attempted to free paged pool with IRQL > APC_LEVEL",
        0x12 => "The driver attempted to free nonpaged pool with IRQL > DISPATCH_LEVEL",
        0x13 | 0x14 => "The driver attempted to free memory pool which was already freed",
        0x16 => "The driver attempted to free pool at a bad address, or passed invalid parameters to a memory routine",
        0x30 => "The driver passed an invalid parameter to KeRaiseIrql",
        0x31 => "The driver passed an invalid parameter to KeLowerIrql",
        0x32 => "The driver called KeReleaseSpinLock at an IRQL other than DISPATCH_LEVEL",
        0x33 => "The driver attempted to acquire fast mutex with IRQL > APC_LEVEL",
        0x34 => "The driver attempted to release fast mutex at an IRQL other than APC_LEVEL",
        0x3C => "The driver called ObReferenceObjectByHandle with a bad handle",
        0x3F => "The driver referenced or dereferenced an object that has a reference count of zero",
        0x40 => "The driver called KeAcquireSpinLockAtDpcLevel with IRQL < DISPATCH_LEVEL",
        0x41 => "The driver called KeReleaseSpinLockFromDpcLevel with IRQL < DISPATCH_LEVEL",
        0x42 => "The driver called KeAcquireSpinLock with IRQL > DISPATCH_LEVEL",
        0x51 | 0x52 | 0x53 | 0x54 | 0x59 => {
            "The driver attempted to free memory after having written past the end of the allocation"
        }
        0x60 | 0x62 => "The driver is unloading without first freeing its pool allocations",
        0x61 => "A driver thread is attempting to allocate pool memory while the driver is unloading",
        0x70 => "The driver called MmProbeAndLockPages with IRQL > DISPATCH_LEVEL",
        0x91 => "The driver switched stacks using a method that is not supported by the operating system",
        _ => return None,
    })
}

/// 0x9F P1 (bug-check-0x9f--driver-power-state-failure.md).
fn power_state_failure_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0x1 => "The device object that is being freed still has an outstanding power request that it has not completed",
        0x2 | 0x500 => "The device object completed the IRP for the system power state request, but did not call PoStartNextPowerIrp",
        0x3 => "A device object has been blocking an IRP for too long a time",
        0x4 => "The power state transition timed out waiting to synchronize with the PnP subsystem",
        _ => return None,
    })
}

/// 0x133 P1 (bug-check-0x133-dpc-watchdog-violation.md).
fn dpc_watchdog_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0 => "A single DPC or ISR exceeded its time allotment",
        1 => "The system cumulatively spent an extended period of time at IRQL DISPATCH_LEVEL or above",
        _ => return None,
    })
}

/// 0x139 P1 (bug-check-0x139--kernel-security-check-failure.md).
fn security_check_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0 => "A stack-based buffer has been overrun (legacy /GS violation)",
        1 => "VTGuard detected an attempt to use an illegal virtual function table",
        2 => "Stack cookie instrumentation detected a stack-based buffer overrun (/GS violation)",
        3 => "A LIST_ENTRY was corrupted (for example, a double remove)",
        5 => "An invalid parameter was passed to a function that considers invalid parameters fatal",
        6 => "The stack cookie security cookie was not properly initialized by the loader",
        7 => "A fatal program exit was requested",
        8 => "A compiler-inserted array bounds check detected an illegal array indexing operation",
        9 => "RtlQueryRegistryValues was called with RTL_QUERY_REGISTRY_DIRECT without TYPECHECK on an untrusted hive",
        10 => "Indirect call guard check detected invalid control transfer",
        11 => "Write guard check detected invalid memory write",
        12 => "An attempt was made to switch to an invalid fiber context",
        13 => "An attempt was made to assign an invalid register context",
        14 => "The reference count for an object is invalid",
        18 => "An attempt was made to switch to an invalid jmp_buf context",
        19 => "An unsafe modification was made to read-only data",
        20 => "A cryptographic self-test failed",
        21 => "An invalid exception chain was detected",
        22 => "A cryptographic library error occurred",
        23 => "An invalid call was made from within DllMain",
        24 => "An invalid image base address was detected",
        25 => "An unrecoverable failure was encountered while protecting a delay load import",
        26 => "A call was made to an unsafe extension",
        27 => "A deprecated service was invoked",
        28 => "An out of bounds buffer access was detected",
        29 => "An RTL_BALANCED_NODE RBTree entry has been corrupted",
        37 => "An out of range switch jumptable entry was invoked",
        38 => "A longjmp was attempted to an invalid target",
        39 => "An export suppressed call target couldn't be made a valid call target",
        _ => return None,
    })
}

/// 0x124 P1 (bug-check-0x124---whea-uncorrectable-error.md): the error source type.
fn whea_error_source(value: u64) -> Option<&'static str> {
    Some(match value {
        0x0 => "A machine check exception occurred",
        0x1 => "A corrected machine check exception occurred",
        0x2 => "A corrected platform error occurred",
        0x3 => "A nonmaskable interrupt (NMI) error occurred",
        0x4 => "An uncorrectable PCI Express error occurred",
        0x5 => "A generic hardware error occurred",
        0x6 => "An initialization error occurred",
        0x7 => "A BOOT error occurred",
        0x8 => "A Scalable Coherent Interface (SCI) generic error occurred",
        0x9 => "An uncorrectable Itanium-based machine check abort error occurred",
        0xA => "A corrected Itanium-based machine check error occurred",
        0xB => "A corrected Itanium platform error occurred",
        _ => return None,
    })
}

/// 0x7F P1 (bug-check-0x7f--unexpected-kernel-mode-trap.md): the trap number.
fn kernel_mode_trap(value: u64) -> Option<&'static str> {
    Some(match value {
        0x0 => "Divide by zero error",
        0x1 => "A system-debugger call",
        0x3 => "A debugger breakpoint",
        0x4 => "Overflow",
        0x5 => "Bounds check fault",
        0x6 => "Invalid opcode",
        0x7 => "A hardware coprocessor instruction with no coprocessor present",
        0x8 => "Double fault (typically a kernel stack overflow, or a hardware problem)",
        0xA => "A corrupted Task State Segment",
        0xB => "An access to a memory segment that was not present",
        0xC => "An access to memory beyond the limits of a stack",
        0xD => "General protection fault",
        _ => return None,
    })
}

/// 0x119 P1 (bug-check-0x119---video-scheduler-internal-error.md).
fn video_scheduler_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0x1 => "The driver has reported an invalid fence ID",
        0x2 => "The driver failed upon the submission of a command",
        0x3 => "The driver failed upon patching the command buffer",
        0x4 => "The driver reported an invalid flip capability",
        0x5 => "The driver failed a system or a paging command",
        0x400 | 0x1000 | 0x10000 => {
            "An internal OS state error, typically caused by a memory corruption or bad hardware"
        }
        0xE00 => {
            "The OS ran out of memory for pre-allocated packets to handle passive flip requests"
        }
        _ => return None,
    })
}

/// 0x10D P1 (bug-check-0x10d---wdf-violation.md).
fn wdf_violation_subtype(value: u64) -> Option<&'static str> {
    Some(match value {
        0x1 => "A framework-based driver has timed out during a power operation",
        0x2 => "An attempt is being made to acquire a lock that is currently being held",
        0x3 => "A request was completed but cannot be deleted: outstanding references to its buffers",
        0x4 => "A NULL parameter was passed to a function that required a non-NULL value",
        0x5 => "A framework object handle of the incorrect type was passed to a framework object method",
        0x6 => "A fatal error was made in handling a WDF request (P2 is the WDF_REQUEST_FATAL_ERROR)",
        0x7 => "A driver deleted a framework object by calling WdfObjectDereference instead of WdfObjectDelete",
        0x8 => "An operation occurred on a DMA transaction object while it was not in the correct state",
        0xA => "A fatal error has occurred while processing a request that is currently in the queue",
        0xB => "An attempt to acquire or release a lock was invalid",
        0xC => "A new state-changing PnP IRP arrived while the driver was processing another one",
        0xD => "A device's power policy owner received a power IRP that it did not request",
        0xE => "An event callback function did not return at the same IRQL at which it was called",
        0xF => "An event callback function entered a critical region but did not leave it before returning",
        _ => return None,
    })
}

fn access_meaning(access: Option<Access>) -> Option<String> {
    access.map(|a| format!("{} operation", a.as_str()))
}

/// What a status-code parameter means, e.g. `STATUS_ACCESS_VIOLATION`.
fn status_meaning(value: u64) -> Option<String> {
    status_code(value)
        .and_then(exception_name)
        .map(str::to_string)
}

/// The value-specific meaning of one parameter, where the documentation defines one.
fn parameter_meaning(
    base: u32,
    index: usize,
    p: &[u64; 4],
    os_build: Option<u32>,
    arch: Arch,
) -> Option<String> {
    let value = *p.get(index)?;
    let known = |text: Option<&'static str>| text.map(str::to_string);
    match (base, index) {
        (0x50, 1) => access_meaning(page_fault_access(value, os_build, arch)),
        (0x50, 3) => known(page_fault_type(value)),
        (0x0A | 0xD1 | 0xC5 | 0xD0, 2) | (0xCC | 0xCE | 0xD5 | 0xD6, 1) => {
            access_meaning(access(base, p, os_build, arch))
        }
        (0x1E | 0x7E | 0x8E | 0x3B, 0) => status_meaning(value),
        (0x1E, 2) if kmode_exception_is_memory_fault(p) => {
            access_meaning(access(base, p, os_build, arch))
        }
        (0x1E, 3) if kmode_exception_is_memory_fault(p) => {
            Some("the address the faulting instruction accessed".to_string())
        }
        (0x116, 2) => status_meaning(value),
        (0x19, 0) => known(bad_pool_header_subtype(value)),
        (0x1A, 0) => known(memory_management_subtype(value)),
        (0x7F, 0) => known(kernel_mode_trap(value)),
        (0x9F, 0) => known(power_state_failure_subtype(value)),
        (0xC2, 0) => known(bad_pool_caller_subtype(value)),
        (0xC4, 0) => known(verifier_violation_subtype(value)),
        (0xEF, 1) => match value {
            0 => Some("a process died".to_string()),
            1 => Some("a thread died".to_string()),
            _ => None,
        },
        (0x10D, 0) => known(wdf_violation_subtype(value)),
        (0x119, 0) => known(video_scheduler_subtype(value)),
        (0x124, 0) => known(whea_error_source(value)),
        (0x133, 0) => known(dpc_watchdog_subtype(value)),
        (0x133, 1) => match p[0] {
            0 => Some("the DPC time count (in ticks)".to_string()),
            1 => Some("the watchdog period".to_string()),
            _ => None,
        },
        (0x139, 0) => known(security_check_subtype(value)),
        (0x1C8, 0) => Some(format!("the power button was held for {value} ms")),
        (0x1D3, 0) if value == 1 => {
            Some("Callout injected an NBL with multiple NET_BUFFERS inbound".to_string())
        }
        _ => None,
    }
}

/// The four parameters with their documented labels (`""` where none is documented) and,
/// where the value selects a documented case, its meaning.
pub fn explain_parameters(
    code: u32,
    p: &[u64; 4],
    os_build: Option<u32>,
    arch: Arch,
) -> Vec<ParameterMeaning> {
    let info = lookup(code);
    let base = base_code(code);
    p.iter()
        .enumerate()
        .map(|(index, &value)| ParameterMeaning {
            index,
            value,
            label: info
                .and_then(|i| i.parameters.get(index).copied())
                .unwrap_or(""),
            meaning: parameter_meaning(base, index, p, os_build, arch),
        })
        .collect()
}

/// The NTSTATUS name of an exception code (values as in ntstatus.h).
pub fn exception_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0x8000_0001 => "STATUS_GUARD_PAGE_VIOLATION",
        0x8000_0002 => "STATUS_DATATYPE_MISALIGNMENT",
        0x8000_0003 => "STATUS_BREAKPOINT",
        0x8000_0004 => "STATUS_SINGLE_STEP",
        0x8000_0026 => "STATUS_LONGJUMP",
        0x8000_0029 => "STATUS_UNWIND_CONSOLIDATE",
        0xC000_0005 => "STATUS_ACCESS_VIOLATION",
        0xC000_0006 => "STATUS_IN_PAGE_ERROR",
        0xC000_0008 => "STATUS_INVALID_HANDLE",
        0xC000_000D => "STATUS_INVALID_PARAMETER",
        0xC000_0017 => "STATUS_NO_MEMORY",
        0xC000_001D => "STATUS_ILLEGAL_INSTRUCTION",
        0xC000_0025 => "STATUS_NONCONTINUABLE_EXCEPTION",
        0xC000_0026 => "STATUS_INVALID_DISPOSITION",
        0xC000_008C => "STATUS_ARRAY_BOUNDS_EXCEEDED",
        0xC000_008D => "STATUS_FLOAT_DENORMAL_OPERAND",
        0xC000_008E => "STATUS_FLOAT_DIVIDE_BY_ZERO",
        0xC000_008F => "STATUS_FLOAT_INEXACT_RESULT",
        0xC000_0090 => "STATUS_FLOAT_INVALID_OPERATION",
        0xC000_0091 => "STATUS_FLOAT_OVERFLOW",
        0xC000_0092 => "STATUS_FLOAT_STACK_CHECK",
        0xC000_0093 => "STATUS_FLOAT_UNDERFLOW",
        0xC000_0094 => "STATUS_INTEGER_DIVIDE_BY_ZERO",
        0xC000_0095 => "STATUS_INTEGER_OVERFLOW",
        0xC000_0096 => "STATUS_PRIVILEGED_INSTRUCTION",
        0xC000_00AA => "STATUS_INSTRUCTION_MISALIGNMENT",
        0xC000_00FD => "STATUS_STACK_OVERFLOW",
        0xC000_0135 => "STATUS_DLL_NOT_FOUND",
        0xC000_0139 => "STATUS_ENTRYPOINT_NOT_FOUND",
        0xC000_013A => "STATUS_CONTROL_C_EXIT",
        0xC000_0142 => "STATUS_DLL_INIT_FAILED",
        0xC000_0194 => "STATUS_POSSIBLE_DEADLOCK",
        0xC000_02B4 => "STATUS_FLOAT_MULTIPLE_FAULTS",
        0xC000_02B5 => "STATUS_FLOAT_MULTIPLE_TRAPS",
        0xC000_02C5 => "STATUS_DATATYPE_MISALIGNMENT_ERROR",
        0xC000_0374 => "STATUS_HEAP_CORRUPTION",
        0xC000_0409 => "STATUS_STACK_BUFFER_OVERRUN",
        0xC000_0417 => "STATUS_INVALID_CRUNTIME_PARAMETER",
        0xC000_041D => "STATUS_FATAL_USER_CALLBACK_EXCEPTION",
        0xC000_0420 => "STATUS_ASSERTION_FAILURE",
        0xC000_0602 => "STATUS_FAIL_FAST_EXCEPTION",
        _ => return None,
    })
}

/// The WinDbg-style failure class, the first part of the bucket id (`AV_R_INVALID` in
/// `AV_R_INVALID_csagent!unknown_function`).
///
/// - 0x50: `AV_<R|W|X>_<NULL|INVALID>` (`NULL` when the referenced address is in the first
///   64 KiB), `AV_<NULL|INVALID>` when the access kind is unknown.
/// - 0xD1 / 0x0A: `AV_<R|W|X>`, `AV` when the access kind is unknown.
/// - 0x1E / 0x7E / 0x8E / 0x3B (and `_M`): `AV` for STATUS_ACCESS_VIOLATION, else
///   `0x7E_c0000096` (base code, then the exception code in lower-case hex).
/// - 0x133: `0x133_DPC` (P1 0: a single DPC or ISR ran too long), `0x133_DPC_WATCHDOG`
///   (P1 1: cumulative time at DISPATCH_LEVEL), `0x133` otherwise.
/// - 0x1C8 `POWER_BUTTON_HOLD`, 0xE2 / 0xDEADDEAD `MANUALLY_INITIATED_CRASH`, 0x124
///   `0x124_WHEA`, 0xEF `CRITICAL_PROCESS_DIED`, 0x116 `0x116`.
/// - Codes whose P1 names the violation (0x19, 0x1A, 0x9F, 0xC2, 0xC4, 0x139):
///   `0x1A_41790` (P1 in lower-case hex).
/// - Anything else: the base code, `0x{CODE:X}`.
pub fn failure_class(code: u32, p: &[u64; 4], os_build: Option<u32>, arch: Arch) -> String {
    let base = base_code(code);
    let access_kind = access(code, p, os_build, arch);
    match base {
        0x50 => {
            let region = if p[0] < NULL_REGION_END {
                "NULL"
            } else {
                "INVALID"
            };
            match access_kind {
                Some(a) => format!("AV_{}_{region}", a.letter()),
                None => format!("AV_{region}"),
            }
        }
        0xD1 | 0x0A => match access_kind {
            Some(a) => format!("AV_{}", a.letter()),
            None => "AV".to_string(),
        },
        b if is_exception_bugcheck(b) => {
            let exception = status_code(p[0]).map(u64::from).unwrap_or(p[0]);
            if exception == u64::from(STATUS_ACCESS_VIOLATION) {
                "AV".to_string()
            } else {
                format!("0x{b:X}_{exception:08x}")
            }
        }
        0x133 => match p[0] {
            0 => "0x133_DPC".to_string(),
            1 => "0x133_DPC_WATCHDOG".to_string(),
            _ => "0x133".to_string(),
        },
        0x1C8 => "POWER_BUTTON_HOLD".to_string(),
        0xE2 | 0xDEAD_DEAD => "MANUALLY_INITIATED_CRASH".to_string(),
        0x124 => "0x124_WHEA".to_string(),
        0xEF => "CRITICAL_PROCESS_DIED".to_string(),
        0x19 | 0x1A | 0x9F | 0xC2 | 0xC4 | 0x139 => format!("0x{base:X}_{:x}", p[0]),
        _ => format!("0x{base:X}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The CrowdStrike 2024-07-19 parameters from Microsoft's published analysis.
    const CROWDSTRIKE: [u64; 4] = [0xffff_8405_0000_0074, 0, 0xffff_f806_7151_14ed, 2];
    /// The Win10 19041 x64 sample (kernel/win10-x64-0x7E-amdppm.dmp) header: P1 is the
    /// NTSTATUS sign-extended to 64 bits, P2 is amdppm.sys!WriteIoMemRawEx+0x70; P3/P4 are
    /// record pointers whose values do not matter here.
    const AMDPPM_7E: [u64; 4] = [0xFFFF_FFFF_C000_0005, 0xFFFF_F804_8B58_334C, 0, 0];

    #[test]
    fn catalogue_is_sorted_unique_and_large() {
        assert!(CATALOGUE.len() >= 250, "{} entries", CATALOGUE.len());
        for pair in CATALOGUE.windows(2) {
            assert!(
                pair[0].code < pair[1].code,
                "{:#x} before {:#x}",
                pair[0].code,
                pair[1].code
            );
        }
    }

    #[test]
    fn every_parameter_source_points_at_a_parameter() {
        for info in CATALOGUE {
            if let FaultIpSource::Parameter(index) = info.fault_ip {
                assert!(index < 4, "{:#x}", info.code);
            }
            assert!(!info.name.is_empty());
            assert!(info
                .name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'));
        }
    }

    #[test]
    fn names_and_m_variants() {
        assert_eq!(name(0x50), "PAGE_FAULT_IN_NONPAGED_AREA");
        assert_eq!(name(0x1000_007E), "SYSTEM_THREAD_EXCEPTION_NOT_HANDLED_M");
        assert_eq!(name(0x1000_008E), "KERNEL_MODE_EXCEPTION_NOT_HANDLED_M");
        assert_eq!(name(0x1000_00EA), "THREAD_STUCK_IN_DEVICE_DRIVER_M");
        assert_eq!(name(0x1000_000A), "IRQL_NOT_LESS_OR_EQUAL_M");
        assert_eq!(name(0x1000_0050), "PAGE_FAULT_IN_NONPAGED_AREA_M");
        assert_eq!(name(0x1000_00D1), "DRIVER_IRQL_NOT_LESS_OR_EQUAL_M");
        // 0xDEADDEAD has bit 28 set but is its own code, not an _M variant of 0xCEADDEAD.
        assert_eq!(name(0xDEAD_DEAD), "MANUALLY_INITIATED_CRASH1");
        assert_eq!(name(0x1234_5678), "UNKNOWN_BUGCHECK_0x12345678");
        assert_eq!(name(0x1000_0000), "UNKNOWN_BUGCHECK_0x10000000");
        assert_eq!(name(0), "UNKNOWN_BUGCHECK_0x0");
        assert_eq!(lookup(0x1000_007E).map(|i| i.code), Some(0x7E));
        assert_eq!(
            lookup(0xD1).map(|i| i.kind),
            Some(BugcheckKind::DriverFault)
        );
        assert!(lookup(0x84).is_none());
    }

    #[test]
    fn code_hex_is_upper_case_unpadded() {
        assert_eq!(code_hex(0x1000_007E), "0x1000007E");
        assert_eq!(code_hex(0x50), "0x50");
        assert_eq!(code_hex(0xDEAD_DEAD), "0xDEADDEAD");
    }

    #[test]
    fn kinds_follow_the_documentation() {
        let kind = |code| lookup(code).map(|i| i.kind);
        assert_eq!(kind(0x1C8), Some(BugcheckKind::PowerButtonHold));
        assert_eq!(kind(0xE2), Some(BugcheckKind::ManualCrash));
        assert_eq!(kind(0xDEAD_DEAD), Some(BugcheckKind::ManualCrash));
        assert_eq!(kind(0x124), Some(BugcheckKind::Hardware));
        assert_eq!(kind(0x9C), Some(BugcheckKind::Hardware));
        for code in [
            0x50, 0xD1, 0x0A, 0x1E, 0x7E, 0x8E, 0x3B, 0xC5, 0xBE, 0xFC, 0x116, 0x133, 0x9F, 0xC4,
            0x139, 0x7F, 0x1A, 0x19, 0xEF,
        ] {
            assert_eq!(kind(code), Some(BugcheckKind::DriverFault), "{code:#x}");
        }
        assert_eq!(kind(0x7B), Some(BugcheckKind::Other));
    }

    #[test]
    fn fault_ip_per_bugcheck() {
        assert_eq!(
            fault_ip(0x1000_007E, &AMDPPM_7E),
            Some(0xFFFF_F804_8B58_334C)
        );
        assert_eq!(fault_ip(0x50, &CROWDSTRIKE), Some(0xffff_f806_7151_14ed));
        // "Address that referenced memory (if known)": 0 is not known.
        assert_eq!(fault_ip(0x50, &[0x10, 0, 0, 0]), None);
        assert_eq!(
            fault_ip(0xD1, &[0x10, 2, 0, 0xfffff808adc386a6]),
            Some(0xfffff808adc386a6)
        );
        assert_eq!(
            fault_ip(0x116, &[1, 0xfffff8016470c14c, 3, 4]),
            Some(0xfffff8016470c14c)
        );
        assert_eq!(
            fault_ip(0x1000_008E, &[0xC000_0005, 0xAC45_17D7, 0, 0]),
            Some(0xAC45_17D7)
        );
        assert_eq!(fault_ip(0x133, &[0, 0x501, 0x500, 0]), None);
        assert_eq!(fault_ip(0x1234, &[1, 2, 3, 4]), None);
    }

    #[test]
    fn page_fault_access_by_build_and_arch() {
        let p = |p2| [0xffff_8405_0000_0074, p2, 0, 0];
        assert_eq!(
            access(0x50, &p(2), Some(19041), Arch::Amd64),
            Some(Access::Write)
        );
        assert_eq!(
            access(0x50, &p(0x10), Some(19041), Arch::Amd64),
            Some(Access::Execute)
        );
        assert_eq!(
            access(0x50, &p(0), Some(19041), Arch::Amd64),
            Some(Access::Read)
        );
        assert_eq!(
            access(0x50, &p(1), Some(7601), Arch::X86),
            Some(Access::Write)
        );
        assert_eq!(access(0x50, &p(2), Some(7601), Arch::Amd64), None);
        assert_eq!(
            access(0x50, &p(1), Some(22000), Arch::Arm64),
            Some(Access::Write)
        );
        assert_eq!(
            access(0x50, &p(8), Some(22000), Arch::Arm64),
            Some(Access::Execute)
        );
        assert_eq!(access(0x50, &p(1), None, Arch::Amd64), None);
        assert_eq!(access(0x50, &p(2), None, Arch::Amd64), Some(Access::Write));
        assert_eq!(Access::Execute.as_str(), "execute");
    }

    #[test]
    fn irql_access_values() {
        let p = |p3| [0x10, 2, p3, 0xfffff808adc386a6];
        assert_eq!(access(0xD1, &p(0), None, Arch::Amd64), Some(Access::Read));
        assert_eq!(access(0xD1, &p(1), None, Arch::Amd64), Some(Access::Write));
        assert_eq!(
            access(0xD1, &p(2), None, Arch::Amd64),
            Some(Access::Execute)
        );
        assert_eq!(
            access(0xD1, &p(8), None, Arch::Amd64),
            Some(Access::Execute)
        );
        assert_eq!(access(0xD1, &p(5), None, Arch::Amd64), None);
        assert_eq!(access(0x0A, &p(8), None, Arch::X86), Some(Access::Execute));
        assert_eq!(access(0x0A, &p(1), None, Arch::X86), Some(Access::Write));
        assert_eq!(access(0xBE, &p(0), None, Arch::X86), Some(Access::Write));
        assert_eq!(access(0xFC, &p(0), None, Arch::X86), Some(Access::Execute));
        assert_eq!(access(0x7E, &AMDPPM_7E, Some(19041), Arch::Amd64), None);
    }

    #[test]
    fn kmode_exception_access_violation_details() {
        // The x86 0x1E example on the bug-check-0x1e page: c0000005 8013cd0a 00000000 0362cfff.
        let p = [0xC000_0005, 0x8013_CD0A, 0, 0x0362_CFFF];
        assert_eq!(access(0x1E, &p, Some(2195), Arch::X86), Some(Access::Read));
        assert_eq!(referenced_address(0x1E, &p), Some(0x0362_CFFF));
        assert_eq!(fault_ip(0x1E, &p), Some(0x8013_CD0A));
        let breakpoint = [0x8000_0003, 0x8013_CD0A, 0, 0x0362_CFFF];
        assert_eq!(referenced_address(0x1E, &breakpoint), None);
    }

    #[test]
    fn referenced_addresses() {
        assert_eq!(
            referenced_address(0x50, &CROWDSTRIKE),
            Some(0xffff_8405_0000_0074)
        );
        assert_eq!(
            referenced_address(0x1000_0050, &CROWDSTRIKE),
            Some(0xffff_8405_0000_0074)
        );
        assert_eq!(
            referenced_address(0xBE, &[0xfffff80012340000, 0x8a000000, 0, 0]),
            Some(0xfffff80012340000)
        );
        assert_eq!(referenced_address(0x7E, &AMDPPM_7E), None);
    }

    #[test]
    fn failure_classes() {
        assert_eq!(
            failure_class(0x50, &CROWDSTRIKE, Some(19041), Arch::Amd64),
            "AV_R_INVALID"
        );
        assert_eq!(
            failure_class(
                0x50,
                &[0x28, 2, 0xfffff806715114ed, 2],
                Some(19041),
                Arch::Amd64
            ),
            "AV_W_NULL"
        );
        assert_eq!(
            failure_class(0x50, &[0x28, 1, 0, 2], None, Arch::Amd64),
            "AV_NULL"
        );
        assert_eq!(
            failure_class(
                0x50,
                &[0xffff_8405_0000_0074, 7, 0, 2],
                Some(7601),
                Arch::Amd64
            ),
            "AV_INVALID"
        );
        assert_eq!(
            failure_class(0xD1, &[0x10, 2, 8, 1], None, Arch::Amd64),
            "AV_X"
        );
        assert_eq!(
            failure_class(0xD1, &[0x10, 2, 7, 1], None, Arch::Amd64),
            "AV"
        );
        assert_eq!(
            failure_class(0x1000_007E, &AMDPPM_7E, Some(19041), Arch::Amd64),
            "AV"
        );
        assert_eq!(
            failure_class(0x7E, &[0xC000_0096, 1, 0, 0], None, Arch::Amd64),
            "0x7E_c0000096"
        );
        assert_eq!(
            failure_class(0x1000_008E, &[0x8000_0003, 1, 0, 0], None, Arch::X86),
            "0x8E_80000003"
        );
        // A sign-extended status in a 64-bit parameter is the same status.
        assert_eq!(
            failure_class(0x3B, &[0xFFFF_FFFF_C000_0005, 1, 0, 0], None, Arch::Amd64),
            "AV"
        );
        assert_eq!(
            failure_class(0x133, &[0, 0x501, 0x500, 0], None, Arch::Amd64),
            "0x133_DPC"
        );
        assert_eq!(
            failure_class(0x133, &[1, 0x1e00, 0, 0], None, Arch::Amd64),
            "0x133_DPC_WATCHDOG"
        );
        assert_eq!(
            failure_class(0x1C8, &[0x1d4c, 0, 0, 0], None, Arch::Amd64),
            "POWER_BUTTON_HOLD"
        );
        assert_eq!(
            failure_class(0xE2, &[0; 4], None, Arch::Amd64),
            "MANUALLY_INITIATED_CRASH"
        );
        assert_eq!(
            failure_class(0xDEAD_DEAD, &[0; 4], None, Arch::Amd64),
            "MANUALLY_INITIATED_CRASH"
        );
        assert_eq!(
            failure_class(
                0x124,
                &[0, 0xffff_e000_1234_0000, 0xbe000000, 0x800400],
                None,
                Arch::Amd64
            ),
            "0x124_WHEA"
        );
        assert_eq!(
            failure_class(
                0x1A,
                &[0x41790, 0xfffffa8001234560, 0xffff, 0],
                None,
                Arch::Amd64
            ),
            "0x1A_41790"
        );
        assert_eq!(
            failure_class(0x9F, &[3, 1, 2, 3], None, Arch::Amd64),
            "0x9F_3"
        );
        assert_eq!(
            failure_class(0xC4, &[0x91, 0, 0, 0], None, Arch::Amd64),
            "0xC4_91"
        );
        assert_eq!(
            failure_class(0x116, &[1, 2, 3, 4], None, Arch::Amd64),
            "0x116"
        );
        assert_eq!(
            failure_class(0xEF, &[1, 0, 0, 0], None, Arch::Amd64),
            "CRITICAL_PROCESS_DIED"
        );
        assert_eq!(
            failure_class(0x7B, &[1, 0, 0, 0], None, Arch::Amd64),
            "0x7B"
        );
        assert_eq!(
            failure_class(0x1000_00EA, &[1, 0, 0, 0], None, Arch::Amd64),
            "0xEA"
        );
        assert_eq!(failure_class(0x1234, &[0; 4], None, Arch::Amd64), "0x1234");
    }

    #[test]
    fn parameter_explanations() {
        let crowdstrike = explain_parameters(0x50, &CROWDSTRIKE, Some(19041), Arch::Amd64);
        assert_eq!(crowdstrike.len(), 4);
        assert_eq!(crowdstrike[0].label, "referenced address");
        assert_eq!(crowdstrike[1].meaning.as_deref(), Some("read operation"));
        assert_eq!(crowdstrike[2].value, 0xffff_f806_7151_14ed);
        assert!(crowdstrike[3]
            .meaning
            .as_deref()
            .is_some_and(|m| m.starts_with("NONPAGED_BUGCHECK_NOT_PRESENT_PAGE_TABLE")));

        let amdppm = explain_parameters(0x1000_007E, &AMDPPM_7E, Some(19041), Arch::Amd64);
        assert_eq!(
            amdppm[0].meaning.as_deref(),
            Some("STATUS_ACCESS_VIOLATION")
        );
        assert_eq!(amdppm[1].label, "exception address");

        let dpc = explain_parameters(0x133, &[1, 0x1e00, 0, 0], None, Arch::Amd64);
        assert!(dpc[0]
            .meaning
            .as_deref()
            .is_some_and(|m| m.contains("cumulatively")));

        let mm = explain_parameters(0x1A, &[0x61941, 0x1234, 0, 0], None, Arch::Amd64);
        assert!(mm[0]
            .meaning
            .as_deref()
            .is_some_and(|m| m.contains("paging hierarchy")));

        let unknown = explain_parameters(0x1234, &[1, 2, 3, 4], None, Arch::Amd64);
        assert!(unknown
            .iter()
            .all(|m| m.label.is_empty() && m.meaning.is_none()));
    }

    #[test]
    fn exception_names() {
        assert_eq!(exception_name(0xC000_0005), Some("STATUS_ACCESS_VIOLATION"));
        assert_eq!(exception_name(0x8000_0003), Some("STATUS_BREAKPOINT"));
        assert_eq!(
            exception_name(0xC000_001D),
            Some("STATUS_ILLEGAL_INSTRUCTION")
        );
        assert_eq!(
            exception_name(0xC000_0096),
            Some("STATUS_PRIVILEGED_INSTRUCTION")
        );
        assert_eq!(
            exception_name(0xC000_0094),
            Some("STATUS_INTEGER_DIVIDE_BY_ZERO")
        );
        assert_eq!(exception_name(0xC000_00FD), Some("STATUS_STACK_OVERFLOW"));
        assert_eq!(
            exception_name(0xC000_0409),
            Some("STATUS_STACK_BUFFER_OVERRUN")
        );
        assert_eq!(exception_name(0x8000_0004), Some("STATUS_SINGLE_STEP"));
        assert_eq!(exception_name(0xC000_0006), Some("STATUS_IN_PAGE_ERROR"));
        assert_eq!(
            exception_name(0xC000_008C),
            Some("STATUS_ARRAY_BOUNDS_EXCEEDED")
        );
        assert_eq!(exception_name(0), None);
    }
}
