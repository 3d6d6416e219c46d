//! The simulator's page-fault dumps have the layout Windows gives real ones (the Windows 10
//! 0x50 dumps in `kernel-wild/`): the header context is KeBugCheckEx's frame at TopOfStack,
//! the header exception is the breakpoint at that IP, and KiPageFault's KTRAP_FRAME sits
//! 16-aligned at the same place above TopOfStack with the faulting RIP and RSP. Compared
//! field by field with the real dumps, not only with the simulator's own plan.

use std::path::{Path, PathBuf};

use blastradius::dump::fault_context::{recover, ContextSource};
use blastradius::dump::kernel::KernelDump;
use blastradius::dump::kernel_report::parameter_fault_ip;

use crate::common::{sample, simulated_fleet_files};

/// Where things are in one dump, relative to its captured stack.
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    top_mod_16: u64,
    /// Header context SP - TopOfStack.
    header_sp_from_top: u64,
    /// The header context IP is in ntoskrnl (KeBugCheckEx), not at the fault.
    header_ip_in_kernel: bool,
    header_ip_is_fault: bool,
    /// The header exception record is the 0x80000003 breakpoint at the header IP.
    breakpoint_at_header_ip: bool,
    /// Trap frame address - TopOfStack, and its alignment.
    trap_from_top: u64,
    trap_mod_16: u64,
    /// Faulting RSP - trap frame address.
    fault_sp_above_trap: u64,
}

fn layout(path: &Path) -> Layout {
    let bytes = std::fs::read(path).unwrap();
    let dump = KernelDump::parse(path, &bytes).unwrap();
    let top = dump.stack_range().unwrap().0;
    let header = dump.context.clone().unwrap();
    let kernel = &dump.drivers()[0];
    let fault_ip = parameter_fault_ip(&dump).unwrap();
    let fault = recover(&dump, &bytes, Some(fault_ip)).unwrap();
    let ContextSource::TrapFrame { address: trap } = fault.source else {
        panic!("{}: no trap frame: {:?}", path.display(), fault.source)
    };
    assert_eq!(fault.context.ip, fault_ip, "{}", path.display());
    let exception = dump.header.exception.as_ref().unwrap();
    Layout {
        top_mod_16: top % 16,
        header_sp_from_top: header.sp - top,
        header_ip_in_kernel: kernel.contains(header.ip),
        header_ip_is_fault: header.ip == fault_ip,
        breakpoint_at_header_ip: exception.code == 0x8000_0003 && exception.address == header.ip,
        trap_from_top: trap - top,
        trap_mod_16: trap % 16,
        fault_sp_above_trap: fault.context.sp - trap,
    }
}

/// The first committed simulated dump (sample-dumps/, written by the simulator) of this
/// bugcheck and machine type.
fn simulated(code: u32, machine: u32) -> PathBuf {
    simulated_fleet_files()
        .into_iter()
        .find(|file| {
            let bytes = std::fs::read(file).unwrap();
            KernelDump::parse(file, &bytes)
                .is_ok_and(|d| d.header.bugcheck_code == code && d.header.machine_type == machine)
        })
        .unwrap_or_else(|| panic!("no simulated {code:#x} dump for machine {machine:#x}"))
}

#[test]
fn simulated_x64_page_faults_have_the_real_windows_layout() {
    let sim_50 = layout(&simulated(0x50, 0x8664));
    let sim_d1 = layout(&simulated(0xD1, 0x8664));
    let expected = Layout {
        top_mod_16: 8,
        header_sp_from_top: 0,
        header_ip_in_kernel: true,
        header_ip_is_fault: false,
        breakpoint_at_header_ip: true,
        trap_from_top: 0x2a8,
        trap_mod_16: 0,
        fault_sp_above_trap: 0x190,
    };
    assert_eq!(sim_50, expected);
    assert_eq!(
        sim_d1, expected,
        "0xD1 faults through KiPageFault the same way"
    );
    let Some(ntfs) = sample("kernel-wild/win10-x64-0x50-ntfs.dmp") else {
        return;
    };
    assert_eq!(layout(&ntfs), sim_50, "the real 0x50 in Ntfs.sys");
    let Some(exec) = sample("kernel-wild/win10-x64-0x50-exec-nomodule.dmp") else {
        return;
    };
    // A call into a bad pointer faults with RSP 8 mod 16 (the return address was just
    // pushed); the CPU aligns the trap frame down, so RSP is 0x198 above it there.
    assert_eq!(
        layout(&exec),
        Layout {
            fault_sp_above_trap: 0x198,
            ..sim_50
        }
    );
}

#[test]
fn simulated_x86_page_faults_leave_a_kernel_mode_trap_frame() {
    let path = simulated(0x50, 0x14c);
    let bytes = std::fs::read(&path).unwrap();
    let dump = KernelDump::parse(&path, &bytes).unwrap();
    let fault_ip = parameter_fault_ip(&dump).unwrap();
    let header = dump.context.clone().unwrap();
    assert_ne!(header.ip, fault_ip, "the header is KeBugCheckEx's frame");
    assert_eq!(header.sp, dump.stack_range().unwrap().0);
    let fault = recover(&dump, &bytes, Some(fault_ip)).unwrap();
    let ContextSource::TrapFrame { address } = fault.source else {
        panic!("{:?}", fault.source)
    };
    // A kernel-mode x86 fault pushes no ESP: the faulting ESP is the trap frame + 0x74, the
    // rule the real Win7 x86 0x8E dump's trap frame (its P3) follows too.
    assert_eq!(fault.context.sp, address + 0x74);
    assert_eq!(fault.context.ip, fault_ip);
    if let Some(real) = sample("kernel/win7-x86-0x8E-unknown-module.dmp") {
        let bytes = std::fs::read(&real).unwrap();
        let dump = KernelDump::parse(&real, &bytes).unwrap();
        let f = recover(&dump, &bytes, parameter_fault_ip(&dump)).unwrap();
        let ContextSource::TrapFrame { address } = f.source else {
            panic!("{:?}", f.source)
        };
        assert_eq!(f.context.sp, address + 0x74);
    }
}

/// Where a 0x7E dump keeps its records, relative to the captured stack.
#[derive(Debug, PartialEq, Eq)]
struct ExceptionLayout {
    /// The header context is the faulting one (IP = P2), as on the real 0x7E sample.
    header_ip_is_fault: bool,
    /// The header exception is still the breakpoint at KeBugCheckEx, not at the header IP.
    breakpoint_in_kernel: bool,
    /// TopOfStack < CONTEXT (P4) < EXCEPTION_RECORD (P3) < faulting RSP.
    records_in_order_below_sp: bool,
    context_mod_16: u64,
    /// The reader takes the CONTEXT at P4.
    recovered_from_p4: bool,
}

fn exception_layout(bytes: &[u8], path: &Path) -> ExceptionLayout {
    let dump = KernelDump::parse(path, bytes).unwrap();
    let p = dump.header.bugcheck_parameters;
    let top = dump.stack_range().unwrap().0;
    let header = dump.context.clone().unwrap();
    let exception = dump.header.exception.as_ref().unwrap();
    let fault = recover(&dump, bytes, parameter_fault_ip(&dump)).unwrap();
    ExceptionLayout {
        header_ip_is_fault: header.ip == p[1],
        breakpoint_in_kernel: exception.code == 0x8000_0003
            && dump.drivers()[0].contains(exception.address),
        records_in_order_below_sp: top < p[3] && p[3] < p[2] && p[2] < header.sp,
        context_mod_16: p[3] % 16,
        recovered_from_p4: fault.source == ContextSource::ContextRecord { address: p[3] },
    }
}

#[test]
fn simulated_0x7e_keeps_the_real_record_layout() {
    // The staged-rollout scenario is the one whose acmeflt.sys update raises 0x7E.
    let dir = tempfile::tempdir().unwrap();
    let truth = crate::simulate::write_fleet(
        dir.path(),
        &[blastradius::simulate::Scenario::StagedRollout],
        60,
        7,
        50,
    );
    let sim = truth
        .dumps
        .iter()
        .filter(|d| d.bugcheck_code.as_deref() == Some("0x7E"))
        .find_map(|d| {
            let path = dir.path().join(&d.path);
            let bytes = std::fs::read(&path).unwrap();
            let dump = KernelDump::parse(&path, &bytes).unwrap();
            (dump.header.machine_type == 0x8664).then(|| exception_layout(&bytes, &path))
        })
        .expect("a simulated x64 0x7E");
    let expected = ExceptionLayout {
        header_ip_is_fault: true,
        breakpoint_in_kernel: true,
        records_in_order_below_sp: true,
        context_mod_16: 0,
        recovered_from_p4: true,
    };
    assert_eq!(sim, expected);
    if let Some(real) = sample("kernel/win10-x64-0x7E-amdppm.dmp") {
        let bytes = std::fs::read(&real).unwrap();
        assert_eq!(exception_layout(&bytes, &real), expected);
    }
}
