//! Turns one simulated kernel crash (a host, its boot layout, a cause, a time) into the
//! `TriageDumpSpec` Windows would have written: bugcheck parameters, the context record, a
//! captured stack whose return addresses lead from the fault through the right modules, and
//! the data blocks.
//!
//! How the stack is laid out decides what a stack walker finds, so it follows the rules real
//! stacks obey:
//! - x64: frames are found by `.pdata` unwinding (the fixture drivers, whose images are in
//!   `symbols-cache/`: their frames are laid out exactly as their prologues make them) or by
//!   scanning for return addresses; filler values are never inside a module image.
//! - x86 and ARM64: an EBP / FP frame-record chain links every frame.
//! - The header context is KeBugCheckEx's frame at TopOfStack, as on real Windows 10 dumps
//!   (KERNEL-DUMP-FORMAT.md §8). Page faults (0x50, 0xD1) on x64 and x86 leave KiPageFault's
//!   KTRAP_FRAME on the captured stack (x64: 0x2a8 above TopOfStack, as on the real 0x50
//!   dumps), which is where a reader finds the faulting context. 0x7E keeps the faulting
//!   context in the header, as the real 0x7E sample does, with its EXCEPTION_RECORD and
//!   CONTEXT at P3/P4; ARM64 page faults keep it in the header too (no real ARM64 trap frame
//!   to copy the layout from).

use crate::dump::fault_context::{X64_TRAP_FRAME_SIZE, X86_TRAP_FRAME_KERNEL_SIZE};
use crate::dump::{Arch, CpuContext};

use super::cause::{self, Cause};
use super::fleet::Host;
use super::kernel_writer::{SimDriver, SimUnloaded, TriageDumpSpec};
use super::machine::Machine;
use super::rng::Rng;
use super::{catalog, filetime_from_unix};

/// Return-address RVAs in ntoskrnl (and friends). Kernel frames have no public symbols in the
/// store, so only their module+offset shows; the values only need to be stable and inside
/// the images.
mod rva {
    pub const KE_BUGCHECK_EX: u32 = 0x3f_5a80;
    pub const KI_BUGCHECK_DISPATCH: u32 = 0x40_7e29;
    pub const KI_PAGE_FAULT: u32 = 0x40_3b83;
    pub const KI_EXCEPTION_DISPATCH: u32 = 0x40_80ac;
    pub const KI_DISPATCH_EXCEPTION: u32 = 0x2c_e6b2;
    pub const PSP_SYSTEM_THREAD_STARTUP_FILTER: u32 = 0x9b_8e44;
    pub const EXP_WORKER_THREAD: u32 = 0x25_e8f5;
    pub const PSP_SYSTEM_THREAD_STARTUP: u32 = 0x35_5c85;
    pub const KI_START_SYSTEM_THREAD: u32 = 0x3f_d9a8;
    pub const IOF_CALL_DRIVER: u32 = 0x2c_0ba5;
    pub const IOP_SYNCHRONOUS_SERVICE_TAIL: u32 = 0x2e_7d3c;
    pub const NT_READ_FILE: u32 = 0x6c_1a2d;
    pub const IOP_XXX_CONTROL_FILE: u32 = 0x6d_b9f2;
    pub const NT_DEVICE_IO_CONTROL_FILE: u32 = 0x6d_c2a6;
    pub const KI_SYSTEM_SERVICE_COPY_END: u32 = 0x40_9c35;
    pub const KE_ACCUMULATE_TICKS: u32 = 0x21_e8c5;
    pub const KE_CLOCK_INTERRUPT_NOTIFY: u32 = 0x22_04f5;
    pub const HALP_TIMER_CLOCK_INTERRUPT: u32 = 0x2f_61e7;
    pub const KI_CALL_INTERRUPT_SERVICE_ROUTINE: u32 = 0x2f_de05;
    pub const KI_INTERRUPT_SUB_DISPATCH: u32 = 0x3f_9b3a;
    pub const KI_INTERRUPT_DISPATCH: u32 = 0x3f_9e47;
    pub const KI_EXECUTE_ALL_DPCS: u32 = 0x26_c8ae;
    pub const KI_RETIRE_DPC_LIST: u32 = 0x3f_a0ef;
    pub const KI_IDLE_LOOP: u32 = 0x3f_ca9e;
    pub const MI_DELETE_VIRTUAL_ADDRESSES: u32 = 0x2d_3b1f;
    pub const MI_DELETE_VAD: u32 = 0x6a_1c21;
    pub const MM_CLEAN_PROCESS_ADDRESS_SPACE: u32 = 0x6b_09e5;
    pub const PSP_EXIT_THREAD: u32 = 0x6e_1f4a;
    pub const NT_TERMINATE_PROCESS: u32 = 0x71_c2d4;
    pub const POP_POWER_BUTTON_BUGCHECK: u32 = 0x9a_1b24;
    pub const POP_POWER_BUTTON_HOLD_WATCHDOG: u32 = 0x9a_1d90;
    pub const HAL_BUGCHECK_SYSTEM: u32 = 0x51_60d0;
    pub const WHEA_REPORT_HW_ERROR: u32 = 0x5f_246e;
    pub const HALP_MCA_REPORT_ERROR: u32 = 0x51_7a72;
    pub const HALP_MCE_HANDLER_CORE: u32 = 0x51_8c3d;
    pub const HALP_MCE_HANDLER: u32 = 0x51_8e10;
    pub const KI_HANDLE_MCHECK: u32 = 0x40_1a1b;
    pub const KI_MCHECK_ABORT: u32 = 0x40_a4f7;
    pub const DPC_WATCHDOG_GLOBAL_TRIAGE_BLOCK: u32 = 0xcf_b320;
    pub const PS_LOADED_MODULE_LIST: u32 = 0xc2_a390;
}

/// One frame the stack was built to contain: module base name and offset (and the function,
/// for the fixture drivers). Record-level simulation reports these directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFrame {
    pub module: String,
    pub address: u64,
    pub offset: u64,
    pub function: Option<&'static str>,
}

/// A kernel crash ready to be written.
#[derive(Debug, Clone)]
pub struct KernelCrash {
    pub spec: TriageDumpSpec,
    /// The faulting instruction (or the pointer into the blamed driver for 0x116).
    pub fault_address: u64,
    /// Frame 0 (the context IP) then the callers, as laid out on the stack.
    pub frames: Vec<PlannedFrame>,
}

/// The moment and circumstances of one crash.
#[derive(Debug, Clone, Copy)]
pub struct CrashMoment {
    /// Seconds since the Unix epoch, UTC.
    pub unix_secs: i64,
    /// Sub-second part in 100 ns units.
    pub fraction_100ns: u64,
    pub uptime_secs: u64,
    pub boot_id: u32,
}

/// A return address (or frame-0 IP): module base name + RVA (+ the function, when known).
#[derive(Debug, Clone, Copy)]
struct Site {
    module: &'static str,
    rva: u32,
    function: Option<&'static str>,
}

const fn at(module: &'static str, rva: u32) -> Site {
    Site {
        module,
        rva,
        function: None,
    }
}

fn nt(rva: u32) -> Site {
    at("ntoskrnl.exe", rva)
}

/// Values the bugcheck path leaves on a stack: zeros, counts, pool and stack pointers — but
/// never an address inside a module image, so scans find only the planned frames.
fn filler(rng: &mut Rng, machine: &Machine, arch: Arch, stack: (u64, u64)) -> u64 {
    let v = match rng.below(20) {
        0..=6 => 0,
        7..=9 => rng.below(0x1000),
        10..=14 => {
            if arch == Arch::X86 {
                0xa000_0000 + (rng.below(0x1000_0000) & !7)
            } else {
                0xffff_c000_0000_0000 | (rng.next_u64() & 0x0000_0fff_ffff_fff0)
            }
        }
        15..=17 => stack.0 + (rng.below(stack.1 - stack.0) & !7),
        _ => u64::from(rng.next_u32() & 0x7fff_ffff),
    };
    if machine.is_image_address(v) {
        0
    } else {
        v
    }
}

/// The captured stack, `[low, low + bytes.len())`.
struct StackImage {
    low: u64,
    bytes: Vec<u8>,
    ptr: usize,
}

impl StackImage {
    fn put(&mut self, va: u64, value: u64) {
        let Some(off) = va.checked_sub(self.low).map(|o| o as usize) else {
            return;
        };
        if off + self.ptr > self.bytes.len() {
            return;
        }
        if self.ptr == 4 {
            self.bytes[off..off + 4].copy_from_slice(&(value as u32).to_le_bytes());
        } else {
            self.bytes[off..off + 8].copy_from_slice(&value.to_le_bytes());
        }
    }

    fn put_bytes(&mut self, va: u64, data: &[u8]) {
        let Some(off) = va.checked_sub(self.low).map(|o| o as usize) else {
            return;
        };
        if off + data.len() <= self.bytes.len() {
            self.bytes[off..off + data.len()].copy_from_slice(data);
        }
    }
}

/// Resolves a site to an address in this boot's layout (0 when the module is not loaded,
/// which the scenarios avoid by only crashing hosts that load it).
fn resolve(machine: &Machine, site: &Site) -> Option<(u64, String)> {
    let m = machine.by_name(site.module)?;
    // ARM64 instructions are 4-byte aligned.
    let rva = if machine.arch == Arch::Arm64 {
        site.rva & !3
    } else {
        site.rva
    };
    Some((
        m.at(rva.min(m.size.saturating_sub(1))),
        m.base_name().to_string(),
    ))
}

/// x64 captures start 8 bytes below the 16-aligned `low`, at KeBugCheckEx's RSP (8 mod 16
/// on every real Windows 10 x64 dump).
const X64_CAPTURE_SLACK: u64 = 8;
/// Offset of KiPageFault's trap frame from TopOfStack on the real Windows 10 19041 0x50 dumps
/// (KeBugCheckEx <- MmAccessFault <- KiPageFault), both at 0x2a8.
const X64_PAGE_FAULT_TRAP: u64 = 0x2a8;

/// The page-fault error code KiPageFault saves (bit 1 write, bit 4 instruction fetch).
fn page_fault_error_code(cause: Cause) -> u64 {
    match cause {
        Cause::NetFilterWrite => 0x2,
        _ => 0,
    }
}

/// An x64 KTRAP_FRAME (0x190 bytes) as KiPageFault saves it for a kernel-mode fault.
fn x64_trap_frame(rip: u64, rsp: u64, gprs: &[u64; 16], fault_va: u64, error: u64) -> Vec<u8> {
    let mut t = vec![0u8; X64_TRAP_FRAME_SIZE as usize];
    let mut put = |off: usize, v: u64| t[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0x28, 0x1f80_0000_0100); // PreviousMode 0, PreviousIrql 0, FaultIndicator 1; MxCsr 0x1f80
    for (off, reg) in [
        (0x30, 0),
        (0x38, 1),
        (0x40, 2),
        (0x48, 8),
        (0x50, 9),
        (0x58, 10),
        (0x60, 11),
    ] {
        put(off, gprs[reg]); // Rax, Rcx, Rdx, R8..R11
    }
    put(0xD0, fault_va); // FaultAddress
    put(0x158, gprs[5]); // Rbp
    put(0x160, error); // ErrorCode
    put(0x168, rip);
    put(0x170, 0x10); // SegCs: kernel
    put(0x178, 0x0001_0286); // EFlags
    put(0x180, rsp);
    put(0x188, 0x18); // SegSs
    t
}

/// The part of an x86 KTRAP_FRAME (up to HardwareEsp) saved for a kernel-mode fault.
fn x86_trap_frame(eip: u64, ebp: u64, gprs: &[u64; 16], error: u64) -> Vec<u8> {
    let mut t = vec![0u8; X86_TRAP_FRAME_KERNEL_SIZE as usize];
    let mut put = |off: usize, v: u64| t[off..off + 4].copy_from_slice(&(v as u32).to_le_bytes());
    put(0x34, 0x23); // SegEs
    put(0x38, 0x23); // SegDs
    put(0x3C, gprs[2]); // Edx
    put(0x40, gprs[1]); // Ecx
    put(0x44, gprs[0]); // Eax
    put(0x50, 0x30); // SegFs
    put(0x54, gprs[7]); // Edi
    put(0x58, gprs[6]); // Esi
    put(0x5C, gprs[3]); // Ebx
    put(0x60, ebp);
    put(0x64, error); // ErrCode
    put(0x68, eip);
    put(0x6C, 0x08); // SegCs: kernel
    put(0x70, 0x0001_0286); // EFlags
    t
}

/// Per-arch offsets of the csagent.sys fault: the x64 one is Microsoft's published
/// csagent+0xe14ed; the x86 and ARM64 sensors are different builds.
fn csagent_fault_rva(arch: Arch) -> u32 {
    match arch {
        Arch::X86 => 0x6_a4d1,
        Arch::Arm64 => 0xc_8a3c,
        _ => 0xe_14ed,
    }
}

/// Builds the dump of `cause` on `host` at `moment`, in the layout `machine`.
pub fn kernel_crash(
    host: &Host,
    machine: &Machine,
    cause: Cause,
    moment: CrashMoment,
    rng: &mut Rng,
) -> KernelCrash {
    let arch = host.arch;
    let is32 = arch == Arch::X86;
    let ptr = if is32 { 4usize } else { 8 };
    let kernel = machine.kernel().clone();
    let ke_bugcheck_ex = kernel.at(rva::KE_BUGCHECK_EX);

    // The stack: 2-8 KB ending at a page-aligned stack base, as real captures do.
    let len = (rng.range(0x800, 0x2000) & !0xf) as usize;
    let high = if is32 {
        0xc000_0000 + rng.range(0, 0x1fff) * 0x1000 + 0x1000
    } else {
        0xffff_8000_0000_0000 | (rng.range(0x0400, 0x0fff) << 32) | (rng.range(0, 0xf_ffff) << 12)
    };
    let low = high - len as u64;
    let mut stack = StackImage {
        low,
        bytes: vec![0; len],
        ptr,
    };
    for slot in (low..high).step_by(ptr) {
        let v = filler(rng, machine, arch, (low, high));
        stack.put(slot, v);
    }

    let code = cause.bugcheck_code().unwrap_or(0);
    let mut gprs = [0u64; 16];
    for g in gprs.iter_mut() {
        *g = filler(rng, machine, arch, (low, high));
    }
    let pool = |rng: &mut Rng| -> u64 {
        if is32 {
            0xa000_0000 + (rng.below(0x1000_0000) & !0xf)
        } else {
            0xffff_c000_0000_0000 | (rng.next_u64() & 0x0000_0fff_ffff_fff0)
        }
    };

    // Frame 0 and the callers for each cause; `pre` is how much of the captured stack lies
    // below the header context's SP (the KeBugCheckEx path of exception-type bugchecks).
    let mut exact_x64_slots: Vec<(u64, u64)> = Vec::new();
    let fault_context: bool;
    let frame0: Site;
    let callers: Vec<Site>;
    let mut parameters = [0u64; 4];
    let fault_address;
    let mut fault_instruction: &[u8] = &[];
    let fixtures = catalog::fixtures();
    // Where the scanned callers start above SP (set by causes with exact x64 frames).
    let mut callers_from: Option<u64> = None;
    // Page faults (0x50, 0xD1) on x64 and x86: Windows writes KeBugCheckEx's frame into the
    // header and leaves KiPageFault's KTRAP_FRAME on the captured stack (KERNEL-DUMP-FORMAT
    // §8). ARM64 keeps the faulting context in the header: no real ARM64 page-fault dump shows
    // its trap frame layout yet.
    let trap_frame_fault =
        matches!(cause, Cause::ChannelFile291 | Cause::NetFilterWrite) && arch != Arch::Arm64;
    let pre: u64 = match cause {
        Cause::ChannelFile291 | Cause::NetFilterWrite => {
            let drawn = rng.range(0x30, 0x50) * 0x10;
            if trap_frame_fault && arch == Arch::Amd64 {
                // Where the real Windows 10 0x50 dumps have it: the trap frame 0x2a8 above
                // TopOfStack (which starts 8 bytes below `low`, see X64_CAPTURE_SLACK), the
                // faulting RSP 0x190 above the trap frame.
                X64_PAGE_FAULT_TRAP - X64_CAPTURE_SLACK + X64_TRAP_FRAME_SIZE
            } else {
                drawn
            }
        }
        // Room for the EXCEPTION_RECORD and CONTEXT the parameters point at, then the trap.
        Cause::BackupFilterNullRead => rng.range(0x78, 0x90) * 0x10,
        _ => rng.range(0, 3) * ptr as u64,
    };
    let sp = low + pre;
    let mut fp = 0u64;
    // 0x7E: where its P4 says the faulting CONTEXT is (written once the context is known).
    let mut context_record_va: Option<u64> = None;

    match cause {
        Cause::ChannelFile291 => {
            fault_context = true;
            frame0 = at("csagent.sys", csagent_fault_rva(arch));
            callers = [0xe_0b2c, 0xe_1e6f, 0x7_a2d1, 0x7_b8a4, 0x6_c5f2, 0x3_5f61]
                .iter()
                .map(|&r| at("csagent.sys", r))
                .chain([
                    nt(rva::EXP_WORKER_THREAD),
                    nt(rva::PSP_SYSTEM_THREAD_STARTUP),
                    nt(rva::KI_START_SYSTEM_THREAD),
                ])
                .collect();
            let ip = resolve(machine, &frame0).map_or(0, |r| r.0);
            // The referenced address: 0xffff8405_00000074 on Microsoft's analysis; the pool
            // address part differs from machine to machine.
            let referenced = if is32 {
                0x9c00_0074 + (rng.range(0, 0x3f) << 16)
            } else {
                0xffff_8400_0000_0074 + (rng.range(0, 0x3f) << 32)
            };
            parameters = [referenced, 0, ip, 2];
            fault_address = ip;
            // mov r9d, dword ptr [r8] — the instruction that read the 21st field.
            if !is32 {
                gprs[8] = referenced;
            }
            fault_instruction = match arch {
                Arch::Arm64 => &[0x09, 0x01, 0x40, 0xb9],
                Arch::X86 => &[0x8b, 0x08],
                _ => &[0x45, 0x8b, 0x08],
            };
        }
        Cause::NetFilterWrite => {
            fault_context = true;
            let f = &fixtures.acmenet;
            // `add qword ptr [rsi], 1`: filter->packets_sent through a freed filter context.
            frame0 = Site {
                module: "acmenet.sys",
                rva: f.rva("FilterSend", 0x55),
                function: Some("FilterSend"),
            };
            callers = vec![
                at("ndis.sys", 0x1_d83e),
                at("ndis.sys", 0x1_8a4f),
                at("tcpip.sys", 0x4_e2f4),
                at("tcpip.sys", 0x4_c1b9),
                at("tcpip.sys", 0x5_a70c),
                at("afd.sys", 0x3_e0c4),
                at("afd.sys", 0x1_d5d6),
                nt(rva::IOP_XXX_CONTROL_FILE),
                nt(rva::NT_DEVICE_IO_CONTROL_FILE),
                nt(rva::KI_SYSTEM_SERVICE_COPY_END),
            ];
            let ip = resolve(machine, &frame0).map_or(0, |r| r.0);
            let freed_filter = pool(rng);
            parameters = [freed_filter + 8, 2, 1, ip];
            fault_address = ip;
            gprs[6] = freed_filter + 8; // Rsi
            gprs[7] = pool(rng); // Rdi: the packet
                                 // FilterSend: push rsi; push rdi; sub rsp, 28h. Saved Rdi at +0x28, Rsi at +0x30,
                                 // the return address at +0x38 (acmenet.sys .pdata).
            exact_x64_slots.push((sp + 0x28, pool(rng)));
            exact_x64_slots.push((sp + 0x30, pool(rng)));
            callers_from = Some(sp + 0x38);
        }
        Cause::BackupFilterNullRead => {
            fault_context = true;
            let f = &fixtures.acmeflt;
            // `mov rax, qword ptr [rcx+r8*8]` with a NULL sector pointer.
            frame0 = Site {
                module: "acmeflt.sys",
                rva: f.rva("ReadSectorHeader", 0x41),
                function: Some("ReadSectorHeader"),
            };
            let base = machine.by_name("acmeflt.sys").map_or(0, |m| m.base);
            // acmeflt.sys keeps RBP frames (UWOP_SET_FPREG); lay the three frames out exactly
            // as their prologues do, so .pdata unwinding through them is exact:
            // ReadSectorHeader: push rbp; sub rsp,40h; lea rbp,[rsp+40h]
            // DispatchRead:     push rbp,r14,rsi,rdi,rbx; sub rsp,20h; lea rbp,[rsp+20h]
            // DispatchIrp:      push rbp; sub rsp,20h; lea rbp,[rsp+20h]
            let e1 = sp + 0x48; // ReadSectorHeader's entry RSP (its return address)
            let e2 = e1 + 0x50; // DispatchRead's
            let e3 = e2 + 0x30; // DispatchIrp's
            fp = e1 - 8;
            exact_x64_slots.push((e1 - 8, e2 - 0x28)); // saved rbp = DispatchRead's rbp
            exact_x64_slots.push((e1, base + u64::from(f.rva("DispatchRead", 0x2a))));
            exact_x64_slots.push((e2 - 8, e3 - 8)); // saved rbp = DispatchIrp's rbp
            exact_x64_slots.push((e2, base + u64::from(f.rva("DispatchIrp", 0x1f))));
            exact_x64_slots.push((e3 - 8, e3 + 0x40)); // DispatchIrp's caller's rbp
            callers_from = Some(e3);
            callers = vec![
                nt(rva::IOF_CALL_DRIVER),
                at("FLTMGR.SYS", 0x3d1c),
                at("FLTMGR.SYS", 0x7c47),
                nt(rva::IOF_CALL_DRIVER),
                nt(rva::IOP_SYNCHRONOUS_SERVICE_TAIL),
                nt(rva::NT_READ_FILE),
                nt(rva::KI_SYSTEM_SERVICE_COPY_END),
            ];
            let ip = resolve(machine, &frame0).map_or(0, |r| r.0);
            let index = rng.range(1, 3);
            gprs[1] = 0; // Rcx: the NULL sector array
            gprs[8] = index; // R8
            gprs[0] = 0;
            // SYSTEM_THREAD_EXCEPTION_NOT_HANDLED: P1 the status (sign-extended), P2 the
            // faulting IP, P3/P4 the exception and context records, below SP on this stack,
            // in the order of the real 0x7E sample: the (16-aligned) CONTEXT lower, the
            // EXCEPTION_RECORD above it, both below the faulting RSP.
            let context_record = low + 0x40;
            let exception_record = context_record + 0x4d0;
            parameters = [0xffff_ffff_c000_0005, ip, exception_record, context_record];
            fault_address = ip;
            let mut record = Vec::with_capacity(0x98);
            record.extend_from_slice(&0xC000_0005u32.to_le_bytes());
            record.extend_from_slice(&0u32.to_le_bytes());
            record.extend_from_slice(&0u64.to_le_bytes());
            record.extend_from_slice(&ip.to_le_bytes());
            record.extend_from_slice(&2u32.to_le_bytes());
            record.extend_from_slice(&0u32.to_le_bytes());
            record.extend_from_slice(&0u64.to_le_bytes()); // read
            record.extend_from_slice(&(index * 8).to_le_bytes()); // the address read
            record.resize(0x98, 0);
            stack.put_bytes(exception_record, &record);
            context_record_va = Some(context_record);
        }
        Cause::DpcWatchdog => {
            fault_context = false;
            frame0 = nt(rva::KE_BUGCHECK_EX);
            let driver = cause::storage_driver(host).unwrap_or("storport.sys");
            let (dpc, caller) = if driver == "iaStorAC.sys" {
                (0x5_b3a0, 0x5_b7e4)
            } else {
                (0x1_f2c4, 0x1_f6e0)
            };
            callers = vec![
                nt(rva::KE_ACCUMULATE_TICKS),
                nt(rva::KE_CLOCK_INTERRUPT_NOTIFY),
                nt(rva::HALP_TIMER_CLOCK_INTERRUPT),
                nt(rva::KI_CALL_INTERRUPT_SERVICE_ROUTINE),
                nt(rva::KI_INTERRUPT_SUB_DISPATCH),
                nt(rva::KI_INTERRUPT_DISPATCH),
                // The interrupted instruction (from the trap frame), in the driver's DPC.
                at(driver, dpc),
                at(driver, caller),
                at("storport.sys", 0x1_a6c9),
                nt(rva::KI_EXECUTE_ALL_DPCS),
                nt(rva::KI_RETIRE_DPC_LIST),
                nt(rva::KI_IDLE_LOOP),
            ];
            parameters = [
                0,
                0x501,
                0x500,
                kernel.at(rva::DPC_WATCHDOG_GLOBAL_TRIAGE_BLOCK),
            ];
            fault_address = ke_bugcheck_ex;
        }
        Cause::GpuTdr => {
            fault_context = false;
            frame0 = nt(rva::KE_BUGCHECK_EX);
            callers = vec![
                at("watchdog.sys", 0x3c6a),
                at("dxgkrnl.sys", 0x2f_c0eb),
                at("dxgkrnl.sys", 0x2f_bd12),
                at("dxgkrnl.sys", 0x2d_0e6c),
                at("dxgkrnl.sys", 0x2f_bf55),
                at("dxgkrnl.sys", 0x2f_bf8e),
                nt(rva::EXP_WORKER_THREAD),
                nt(rva::PSP_SYSTEM_THREAD_STARTUP),
                nt(rva::KI_START_SYSTEM_THREAD),
            ];
            let gpu = cause::gpu_driver(host).unwrap_or("dxgkrnl.sys");
            let rva = match gpu {
                "nvlddmkm.sys" => 0xe_2e80,
                "igdkmd64.sys" => 0x1a_3c10,
                "igdkmd32.sys" => 0xb_2e44,
                _ => 0x9_a2e0,
            };
            // P2: "the pointer into the responsible device driver module".
            let responsible = resolve(machine, &at(gpu, rva)).map_or(0, |r| r.0);
            parameters = [pool(rng), responsible, 0xffff_ffff_c000_009a, 4];
            if is32 {
                parameters[2] = 0xc000_009a;
            }
            fault_address = responsible;
        }
        Cause::MemoryManagement { p1 } => {
            fault_context = false;
            frame0 = nt(rva::KE_BUGCHECK_EX);
            callers = vec![
                nt(rva::MI_DELETE_VIRTUAL_ADDRESSES),
                nt(rva::MI_DELETE_VAD),
                nt(rva::MM_CLEAN_PROCESS_ADDRESS_SPACE),
                nt(rva::PSP_EXIT_THREAD),
                nt(rva::NT_TERMINATE_PROCESS),
                nt(rva::KI_SYSTEM_SERVICE_COPY_END),
            ];
            let va = if is32 {
                0x0a00_0000 + rng.below(0x100_0000) * 0x1000
            } else {
                0x7ff6_0000_0000 + rng.below(0x100_0000) * 0x1000
            };
            parameters = match p1 {
                0x41792 => [
                    p1,
                    0xffff_f6fb_4000_0000 | (rng.below(0x100_0000) << 3),
                    0x1_0000_0000_0000,
                    0,
                ],
                0x61941 => [p1, va, 0xb, pool(rng)],
                _ => [p1, pool(rng), pool(rng), 0],
            };
            fault_address = ke_bugcheck_ex;
        }
        Cause::PowerButtonHold => {
            fault_context = false;
            frame0 = nt(rva::KE_BUGCHECK_EX);
            callers = vec![
                nt(rva::POP_POWER_BUTTON_BUGCHECK),
                nt(rva::POP_POWER_BUTTON_HOLD_WATCHDOG),
                nt(rva::EXP_WORKER_THREAD),
                nt(rva::PSP_SYSTEM_THREAD_STARTUP),
                nt(rva::KI_START_SYSTEM_THREAD),
            ];
            parameters = [0, 0, 0, 0];
            fault_address = ke_bugcheck_ex;
        }
        Cause::Whea => {
            fault_context = false;
            frame0 = nt(rva::KE_BUGCHECK_EX);
            callers = vec![
                nt(rva::HAL_BUGCHECK_SYSTEM),
                at("PSHED.dll", 0x1a4e),
                nt(rva::WHEA_REPORT_HW_ERROR),
                nt(rva::HALP_MCA_REPORT_ERROR),
                nt(rva::HALP_MCE_HANDLER_CORE),
                nt(rva::HALP_MCE_HANDLER),
                nt(rva::KI_HANDLE_MCHECK),
                nt(rva::KI_MCHECK_ABORT),
            ];
            parameters = [0, pool(rng), 0xbe00_0000, 0x0080_0400];
            fault_address = ke_bugcheck_ex;
        }
        Cause::ServiceCrash(_) => {
            // User-mode crashes are minidumps; a kernel dump of one is never requested.
            fault_context = false;
            frame0 = nt(rva::KE_BUGCHECK_EX);
            callers = Vec::new();
            fault_address = ke_bugcheck_ex;
        }
    }
    if is32 {
        for p in parameters.iter_mut() {
            *p &= 0xffff_ffff;
        }
    }

    // Below SP on exception-type bugchecks: the KeBugCheckEx -> KiBugCheckDispatch ->
    // KiPageFault (or KiExceptionDispatch) path with its trap frame. A walk from SP never
    // sees it; it is there because Windows captures from the bugcheck frame up.
    if fault_context && pre >= 0x100 {
        let path = if cause == Cause::BackupFilterNullRead {
            [
                rva::KI_DISPATCH_EXCEPTION,
                rva::KI_EXCEPTION_DISPATCH,
                rva::PSP_SYSTEM_THREAD_STARTUP_FILTER,
            ]
        } else {
            [
                rva::KI_BUGCHECK_DISPATCH,
                rva::KI_PAGE_FAULT,
                rva::KI_PAGE_FAULT,
            ]
        };
        stack.put(low + 0x08, kernel.at(path[0]));
        stack.put(sp - 0x1a0, kernel.at(path[1]));
    }

    // Place the callers. x64 scans find return addresses in stack order; x86 and ARM64 walk a
    // frame-record chain, so each return address sits in a record linked from the previous.
    let resolved: Vec<(u64, String, Option<&'static str>)> = callers
        .iter()
        .filter_map(|s| resolve(machine, s).map(|(a, m)| (a, m, s.function)))
        .collect();
    let mut frames = Vec::with_capacity(resolved.len() + 1);
    let ip = if fault_context {
        fault_address
    } else {
        ke_bugcheck_ex
    };
    if let Some((a, m)) = resolve(machine, &frame0) {
        let base = machine.by_name(&m).map_or(0, |d| d.base);
        let ip0 = if fault_context { a } else { ip };
        frames.push(PlannedFrame {
            module: m,
            address: ip0,
            offset: ip0 - base,
            function: frame0.function,
        });
    }
    for (slot, value) in &exact_x64_slots {
        stack.put(*slot, *value);
    }
    let available = high.saturating_sub(callers_from.unwrap_or(sp)) / ptr as u64;
    let n = resolved.len() as u64;
    // Each frame gets an equal share of the room, at least two slots (a record / locals).
    let share = if n == 0 {
        0
    } else {
        (available / (n + 1)).max(2)
    };
    let mut cursor = callers_from.unwrap_or(sp + ptr as u64);
    match arch {
        Arch::X86 | Arch::Arm64 => {
            // Records at increasing addresses: [fp] = next fp, [fp + ptr] = return address.
            let mut record = sp + ptr as u64 * rng.range(1, 3);
            fp = record;
            for (i, (addr, _, _)) in resolved.iter().enumerate() {
                let next = record + ptr as u64 * rng.range(2, share.max(2));
                let is_last = i + 1 == resolved.len();
                stack.put(record, if is_last { 0 } else { next });
                stack.put(record + ptr as u64, *addr);
                record = next;
            }
        }
        _ => {
            for (i, (addr, _, _)) in resolved.iter().enumerate() {
                // The fixture frames' first caller sits exactly where .pdata says.
                if !(i == 0 && callers_from.is_some()) {
                    cursor += ptr as u64 * rng.range(1, share.max(1));
                }
                stack.put(cursor, *addr);
                cursor += ptr as u64;
            }
        }
    }
    for (addr, module, function) in &resolved {
        let base = machine.by_name(module).map_or(0, |d| d.base);
        frames.push(PlannedFrame {
            module: module.clone(),
            address: *addr,
            offset: addr - base,
            function: *function,
        });
    }
    // Exact frames of the acmeflt chain come between frame 0 and the scanned callers.
    if cause == Cause::BackupFilterNullRead {
        if let Some(m) = machine.by_name("acmeflt.sys") {
            let extra = [("DispatchRead", 0x2a), ("DispatchIrp", 0x1f)].map(|(name, off)| {
                let rva = fixtures.acmeflt.rva(name, off);
                PlannedFrame {
                    module: m.base_name().to_string(),
                    address: m.at(rva),
                    offset: u64::from(rva),
                    function: Some(if name == "DispatchRead" {
                        "DispatchRead"
                    } else {
                        "DispatchIrp"
                    }),
                }
            });
            frames.splice(1..1, extra);
        }
    }

    // KiPageFault's trap frame, just below the faulting SP (written once FP is known).
    if trap_frame_fault {
        let error_code = page_fault_error_code(cause);
        let mut trap_gprs = gprs;
        if fp != 0 {
            trap_gprs[5] = fp;
        }
        let (trap, bytes) = if is32 {
            let trap = sp - X86_TRAP_FRAME_KERNEL_SIZE;
            (trap, x86_trap_frame(fault_address, fp, &gprs, error_code))
        } else {
            let trap = sp - X64_TRAP_FRAME_SIZE;
            (
                trap,
                x64_trap_frame(fault_address, sp, &trap_gprs, parameters[0], error_code),
            )
        };
        stack.put_bytes(trap, &bytes);
    }

    // The header context: the faulting one where Windows writes it there (0x7E, and ARM64
    // page faults here), else KeBugCheckEx's own frame at TopOfStack.
    let stack_top = if arch == Arch::Amd64 {
        low - X64_CAPTURE_SLACK
    } else {
        low
    };
    let context = if fault_context && !trap_frame_fault {
        let mut g = gprs;
        g[4] = sp;
        g[5] = if fp != 0 { fp } else { g[5] };
        CpuContext {
            arch,
            ip,
            sp,
            fp: g[5],
            x64_gprs: (arch == Arch::Amd64).then_some(g),
        }
    } else {
        // KeBugCheckEx(code, P1, P2, P3): the arguments are in Rcx, Rdx, R8, R9.
        let mut g = gprs;
        g[1] = u64::from(code);
        g[2] = parameters[0];
        g[8] = parameters[1];
        g[9] = parameters[2];
        g[4] = stack_top;
        let fp_value = if is32 || arch == Arch::Arm64 {
            fp
        } else {
            g[5]
        };
        g[5] = fp_value;
        CpuContext {
            arch,
            ip: ke_bugcheck_ex,
            sp: stack_top,
            fp: fp_value,
            x64_gprs: (arch == Arch::Amd64).then_some(g),
        }
    };

    if let Some(va) = context_record_va {
        stack.put_bytes(va, &super::kernel_writer::context_record(arch, &context));
    }

    // Data blocks: the code around the faulting instruction (as Windows captures the page of
    // the faulting IP) for drivers without a stored image; call instructions before every
    // return address inside it, so a scan's call check holds.
    let mut data_blocks = Vec::new();
    let fixture_module = matches!(cause, Cause::NetFilterWrite | Cause::BackupFilterNullRead);
    if fault_context && !fixture_module && fault_address != 0 {
        let start = (fault_address & !0xff).saturating_sub(0x80);
        let mut bytes = vec![0xccu8; 0x200];
        let off = (fault_address - start) as usize;
        if off + fault_instruction.len() <= bytes.len() {
            bytes[off..off + fault_instruction.len()].copy_from_slice(fault_instruction);
        }
        for (addr, _, _) in &resolved {
            if *addr >= start + 5 && *addr <= start + bytes.len() as u64 {
                let o = (addr - start) as usize;
                if arch == Arch::Arm64 {
                    bytes[o - 4..o].copy_from_slice(&0x9400_0000u32.to_le_bytes());
                // BL
                } else {
                    bytes[o - 5..o].copy_from_slice(&[0xe8, 0, 0, 0, 0]); // call rel32
                }
            }
        }
        data_blocks.push((start, bytes));
    }
    // Every triage dump carries a little of the kernel's data: PsLoadedModuleList's head.
    let list_head = kernel.at(rva::PS_LOADED_MODULE_LIST);
    let first_entry = if is32 {
        pool(rng) & 0xffff_ffff
    } else {
        pool(rng)
    };
    let mut head = Vec::new();
    if is32 {
        head.extend_from_slice(&(first_entry as u32).to_le_bytes());
        head.extend_from_slice(&(first_entry as u32).to_le_bytes());
    } else {
        head.extend_from_slice(&first_entry.to_le_bytes());
        head.extend_from_slice(&first_entry.to_le_bytes());
    }
    data_blocks.push((list_head, head));

    let drivers = machine
        .modules
        .iter()
        .map(|m| SimDriver {
            path: m.path.clone(),
            base: m.base,
            size: m.size,
            timestamp: m.timestamp,
            checksum: m.checksum,
        })
        .collect();
    let unloaded = machine
        .unloaded
        .iter()
        .map(|u| SimUnloaded {
            name: u.name.to_string(),
            start: u.start,
            end: u.end,
        })
        .collect();
    let blob_len = rng.range(0x40, 0x180) as usize;
    let dump_blob = Some((0..blob_len).map(|_| rng.below(256) as u8).collect());

    let spec = TriageDumpSpec {
        arch,
        os_build: host.os_build,
        processors: host.processors,
        product_type: host.product_type,
        bugcheck_code: code,
        parameters,
        crash_time_filetime: filetime_from_unix(moment.unix_secs) + moment.fraction_100ns,
        uptime_100ns: moment.uptime_secs * 10_000_000 + moment.fraction_100ns % 10_000_000,
        // BootId is written from Windows 11 on (the 22000 sample has it, 19041 does not).
        boot_id: (host.os_build >= 22000).then_some(moment.boot_id),
        context,
        drivers,
        unloaded,
        stack_top,
        stack: if stack_top < low {
            // KeBugCheckEx's RSP is 8 mod 16 (just after a call), and the capture starts there.
            let mut bytes = vec![0u8; X64_CAPTURE_SLACK as usize];
            bytes.extend_from_slice(&stack.bytes);
            bytes
        } else {
            stack.bytes
        },
        data_blocks,
        dump_blob,
    };
    KernelCrash {
        spec,
        fault_address,
        frames,
    }
}
