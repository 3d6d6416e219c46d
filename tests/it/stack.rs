//! Kernel stack walking: the x64 `.pdata` unwinder on synthetic images + stacks whose answers
//! are known by construction, the call-site heuristics on real instruction encodings, and the
//! walk of the real Win10 x64 0x7E dump with its real images and PDB.

use blastradius::dump::{Arch, CpuContext, DriverEntry, MemoryRead};
use blastradius::record::FrameTrust;
use blastradius::stack::pe_image::PeLayout;
use blastradius::stack::scan::{arm64_call_precedes, strip_pointer_auth, x86_call_precedes};
use blastradius::stack::x64_unwind::{unwind_frame, LoadedImage, X64Registers};
use blastradius::stack::{walk_kernel_stack, KernelStackInput, DEFAULT_MAX_FRAMES};
use blastradius::symbols::SymbolCache;

use crate::common;

// ---------------------------------------------------------------------------------------------
// Synthetic PE32+ images
// ---------------------------------------------------------------------------------------------

const IMAGE_BASE: u64 = 0xFFFF_F800_1000_0000;
const TEXT_RVA: u32 = 0x1000;
const FILE_ALIGN: usize = 0x200;

/// A minimal PE32+ file: DOS header, NT headers with 16 data directories, one executable
/// section at RVA 0x1000 holding `section` (code, `.pdata` and unwind info all in one), and
/// the exception directory pointing at `pdata_rva..+pdata_size`.
fn build_pe(section: &[u8], pdata_rva: u32, pdata_size: u32) -> Vec<u8> {
    let mut file = vec![0u8; FILE_ALIGN];
    file[0..2].copy_from_slice(b"MZ");
    file[0x3C..0x40].copy_from_slice(&0x40u32.to_le_bytes());
    let nt = 0x40;
    file[nt..nt + 4].copy_from_slice(b"PE\0\0");
    let coff = nt + 4;
    file[coff..coff + 2].copy_from_slice(&0x8664u16.to_le_bytes()); // Machine
    file[coff + 2..coff + 4].copy_from_slice(&1u16.to_le_bytes()); // NumberOfSections
    file[coff + 16..coff + 18].copy_from_slice(&240u16.to_le_bytes()); // SizeOfOptionalHeader
    file[coff + 18..coff + 20].copy_from_slice(&0x22u16.to_le_bytes());
    let opt = coff + 20;
    file[opt..opt + 2].copy_from_slice(&0x20Bu16.to_le_bytes()); // PE32+
    file[opt + 24..opt + 32].copy_from_slice(&IMAGE_BASE.to_le_bytes());
    file[opt + 32..opt + 36].copy_from_slice(&0x1000u32.to_le_bytes()); // SectionAlignment
    file[opt + 36..opt + 40].copy_from_slice(&(FILE_ALIGN as u32).to_le_bytes());
    let size_of_image = TEXT_RVA + (section.len() as u32).next_multiple_of(0x1000);
    file[opt + 56..opt + 60].copy_from_slice(&size_of_image.to_le_bytes());
    file[opt + 60..opt + 64].copy_from_slice(&(FILE_ALIGN as u32).to_le_bytes()); // SizeOfHeaders
    file[opt + 108..opt + 112].copy_from_slice(&16u32.to_le_bytes()); // NumberOfRvaAndSizes
    let exception_dir = opt + 112 + 3 * 8;
    file[exception_dir..exception_dir + 4].copy_from_slice(&pdata_rva.to_le_bytes());
    file[exception_dir + 4..exception_dir + 8].copy_from_slice(&pdata_size.to_le_bytes());
    let sh = opt + 240;
    file[sh..sh + 5].copy_from_slice(b".text");
    let raw_size = section.len().next_multiple_of(FILE_ALIGN) as u32;
    file[sh + 8..sh + 12].copy_from_slice(&(section.len() as u32).to_le_bytes()); // VirtualSize
    file[sh + 12..sh + 16].copy_from_slice(&TEXT_RVA.to_le_bytes());
    file[sh + 16..sh + 20].copy_from_slice(&raw_size.to_le_bytes());
    file[sh + 20..sh + 24].copy_from_slice(&(FILE_ALIGN as u32).to_le_bytes());
    file[sh + 36..sh + 40].copy_from_slice(&0x6000_0020u32.to_le_bytes()); // code, exec, read
    file.extend_from_slice(section);
    file.resize(FILE_ALIGN + raw_size as usize, 0);
    file
}

/// Builds the section contents at known RVAs.
struct SectionBuilder {
    bytes: Vec<u8>,
}

impl SectionBuilder {
    fn new(size: usize) -> SectionBuilder {
        // 0xCC (int3) filler, so nothing reads as an accidental epilog.
        SectionBuilder {
            bytes: vec![0xCC; size],
        }
    }
    fn put(&mut self, rva: u32, data: &[u8]) {
        let at = (rva - TEXT_RVA) as usize;
        self.bytes[at..at + data.len()].copy_from_slice(data);
    }
    /// UNWIND_INFO version 1 with `codes` (each `[CodeOffset, op | info << 4]` or a raw slot).
    fn unwind_info(
        &mut self,
        rva: u32,
        flags: u8,
        prolog: u8,
        frame: u8,
        codes: &[[u8; 2]],
        chained: Option<[u32; 3]>,
    ) {
        let mut data = vec![1 | (flags << 3), prolog, codes.len() as u8, frame];
        for c in codes {
            data.extend_from_slice(c);
        }
        if codes.len() % 2 == 1 {
            data.extend_from_slice(&[0, 0]);
        }
        if let Some(parent) = chained {
            for v in parent {
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.put(rva, &data);
    }
    fn runtime_functions(&mut self, rva: u32, entries: &[[u32; 3]]) {
        let mut data = Vec::new();
        for e in entries {
            for v in e {
                data.extend_from_slice(&v.to_le_bytes());
            }
        }
        self.put(rva, &data);
    }
}

const PUSH_NONVOL: u8 = 0;
const ALLOC_LARGE: u8 = 1;
const ALLOC_SMALL: u8 = 2;
const SET_FPREG: u8 = 3;
const SAVE_NONVOL: u8 = 4;
const SAVE_NONVOL_FAR: u8 = 5;
const SAVE_XMM128: u8 = 8;
const PUSH_MACHFRAME: u8 = 10;
const RBX: u8 = 3;
const RBP: u8 = 5;
const RSI: u8 = 6;
const RDI: u8 = 7;
const R12: u8 = 12;

fn code(offset: u8, op: u8, info: u8) -> [u8; 2] {
    [offset, op | (info << 4)]
}
fn slot(value: u16) -> [u8; 2] {
    value.to_le_bytes()
}

// Function A (0x1000..0x1100): push rbp; push rbx; sub rsp, 28h; body; epilog at +0x40:
// add rsp, 28h; pop rbx; pop rbp; ret.
// Function B (0x1100..0x1200): push rbp; sub rsp, 40h; lea rbp, [rsp+20h];
// mov [rsp+50h], rsi; body (alloca moves RSP).
// Function C (0x1200..0x1300): sub rsp, 0x1234 * 8 (ALLOC_LARGE info 0); mov [rsp+0x20000], r12
// (SAVE_NONVOL_FAR); movaps [rsp+0x30], xmm6 (SAVE_XMM128, skipped).
// Function D (0x1300..0x1380): an interrupt stub with PUSH_MACHFRAME (no error code).
// Fragment E (0x1380..0x13C0): chained to A, saves rdi at [rsp+0x60] relative to A's frame.
// Function F (0x13C0..0x1400): sub rsp, 0x12345678 (ALLOC_LARGE info 1).
// 0x1400..0x1410: no RUNTIME_FUNCTION (a leaf).
// Function G (0x1410..0x1420): unwind info with version 7 (invalid).
// Function H (0x1420..0x1440): chained to itself (a damaged loop).
const PDATA_RVA: u32 = 0x1800;
const UNWIND_A: u32 = 0x1900;
const UNWIND_B: u32 = 0x1920;
const UNWIND_C: u32 = 0x1940;
const UNWIND_D: u32 = 0x1960;
const UNWIND_E: u32 = 0x1980;
const UNWIND_F: u32 = 0x19A0;
const UNWIND_G: u32 = 0x19C0;
const UNWIND_H: u32 = 0x19E0;

fn synthetic_image() -> Vec<u8> {
    let mut s = SectionBuilder::new(0xA00);
    s.put(0x1000, &[0x55, 0x53, 0x48, 0x83, 0xEC, 0x28]);
    s.put(0x1040, &[0x48, 0x83, 0xC4, 0x28, 0x5B, 0x5D, 0xC3]);
    // An inner `jmp` that stays in A must not be taken for an epilog.
    s.put(0x1050, &[0xEB, 0x10]);
    s.put(
        0x1100,
        &[
            0x55, 0x48, 0x83, 0xEC, 0x40, 0x48, 0x8D, 0x6C, 0x24, 0x20, 0x48, 0x89, 0x74, 0x24,
            0x50,
        ],
    );
    let functions = [
        [0x1000, 0x1100, UNWIND_A],
        [0x1100, 0x1200, UNWIND_B],
        [0x1200, 0x1300, UNWIND_C],
        [0x1300, 0x1380, UNWIND_D],
        [0x1380, 0x13C0, UNWIND_E],
        [0x13C0, 0x1400, UNWIND_F],
        [0x1410, 0x1420, UNWIND_G],
        [0x1420, 0x1440, UNWIND_H],
    ];
    s.runtime_functions(PDATA_RVA, &functions);
    s.unwind_info(
        UNWIND_A,
        0,
        6,
        0,
        &[
            code(6, ALLOC_SMALL, 4),
            code(2, PUSH_NONVOL, RBX),
            code(1, PUSH_NONVOL, RBP),
        ],
        None,
    );
    s.unwind_info(
        UNWIND_B,
        0,
        15,
        RBP | (2 << 4),
        &[
            code(15, SAVE_NONVOL, RSI),
            slot(0x50 / 8),
            code(10, SET_FPREG, 0),
            code(5, ALLOC_SMALL, 7),
            code(1, PUSH_NONVOL, RBP),
        ],
        None,
    );
    s.unwind_info(
        UNWIND_C,
        0,
        20,
        0,
        &[
            code(20, SAVE_XMM128, 6),
            slot(0x30 / 16),
            code(15, SAVE_NONVOL_FAR, R12),
            slot(0x0000),
            slot(0x0002),
            code(7, ALLOC_LARGE, 0),
            slot(0x1234),
        ],
        None,
    );
    s.unwind_info(UNWIND_D, 0, 0, 0, &[code(0, PUSH_MACHFRAME, 0)], None);
    s.unwind_info(
        UNWIND_E,
        0x4,
        0,
        0,
        &[code(0, SAVE_NONVOL, RDI), slot(0x60 / 8)],
        Some([0x1000, 0x1100, UNWIND_A]),
    );
    s.unwind_info(
        UNWIND_F,
        0,
        7,
        0,
        &[code(7, ALLOC_LARGE, 1), slot(0x5678), slot(0x1234)],
        None,
    );
    s.put(UNWIND_G, &[7, 0, 0, 0]);
    s.unwind_info(UNWIND_H, 0x4, 0, 0, &[], Some([0x1420, 0x1440, UNWIND_H]));
    build_pe(&s.bytes, PDATA_RVA, (functions.len() * 12) as u32)
}

/// Captured memory: one contiguous region, like a triage dump's stack.
struct FakeMemory {
    base: u64,
    bytes: Vec<u8>,
}

impl FakeMemory {
    fn new(base: u64, size: usize) -> FakeMemory {
        FakeMemory {
            base,
            bytes: vec![0; size],
        }
    }
    fn put_u64(&mut self, address: u64, value: u64) {
        let at = (address - self.base) as usize;
        self.bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
    }
}

impl MemoryRead for FakeMemory {
    fn read_bytes(&self, address: u64, len: usize) -> Option<&[u8]> {
        let start = usize::try_from(address.checked_sub(self.base)?).ok()?;
        self.bytes.get(start..start.checked_add(len)?)
    }
}

const STACK: u64 = 0xFFFF_D000_0000_0000;
const STACK_SIZE: usize = 0x40000;
const RET: u64 = IMAGE_BASE + 0x5555;

fn context_regs(rip_rva: u32, rsp: u64) -> X64Registers {
    let mut gprs = [0u64; 16];
    for (i, g) in gprs.iter_mut().enumerate() {
        *g = 0x1111_0000 + i as u64;
    }
    gprs[4] = rsp;
    X64Registers::from_context(IMAGE_BASE + u64::from(rip_rva), gprs)
}

fn unwind(
    image: &[u8],
    layout: &PeLayout,
    regs: &X64Registers,
    context: bool,
    memory: &FakeMemory,
) -> Option<X64Registers> {
    let loaded = LoadedImage {
        layout,
        bytes: image,
        base: IMAGE_BASE,
    };
    unwind_frame(&loaded, regs, context, memory)
}

#[test]
fn synthetic_image_layout_parses() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).expect("valid PE32+");
    assert_eq!(layout.machine, 0x8664);
    assert!(layout.has_unwind_table());
    assert!(layout.is_code(0x1040));
    assert!(!layout.is_code(0x0FFF), "headers are not code");
    let f = layout
        .runtime_function_for(&image, 0x1385)
        .expect("fragment E");
    assert_eq!((f.begin, f.end, f.unwind_info), (0x1380, 0x13C0, UNWIND_E));
    assert!(
        layout.runtime_function_for(&image, 0x1405).is_none(),
        "leaf gap"
    );
    assert!(
        layout.runtime_function_for(&image, 0x0500).is_none(),
        "before the first entry"
    );
}

#[test]
fn pushes_and_small_alloc_unwind_in_the_body() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    let rsp = STACK + 0x1000;
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    memory.put_u64(rsp + 0x28, 0xB0B0); // saved rbx
    memory.put_u64(rsp + 0x30, 0xBEBE); // saved rbp
    memory.put_u64(rsp + 0x38, RET);
    let caller = unwind(&image, &layout, &context_regs(0x1010, rsp), true, &memory).unwrap();
    assert_eq!(caller.rip, RET);
    assert_eq!(caller.rsp(), rsp + 0x40);
    assert_eq!(caller.gprs[RBX as usize], 0xB0B0);
    assert_eq!(caller.gprs[RBP as usize], 0xBEBE);
    // Registers the function does not save are passed through unchanged.
    assert_eq!(caller.gprs[RSI as usize], 0x1111_0006);

    // As a caller frame (return address just after a call at 0x1010) the answer is the same.
    let caller2 = unwind(&image, &layout, &context_regs(0x1011, rsp), false, &memory).unwrap();
    assert_eq!((caller2.rip, caller2.rsp()), (RET, rsp + 0x40));
}

#[test]
fn partially_executed_prolog_undoes_only_what_ran() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    // RIP at offset 1: only `push rbp` has run.
    let rsp = STACK + 0x2000;
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    memory.put_u64(rsp, 0xBEBE);
    memory.put_u64(rsp + 8, RET);
    let caller = unwind(&image, &layout, &context_regs(0x1001, rsp), true, &memory).unwrap();
    assert_eq!((caller.rip, caller.rsp()), (RET, rsp + 16));
    assert_eq!(caller.gprs[RBP as usize], 0xBEBE);
    assert_eq!(
        caller.gprs[RBX as usize], 0x1111_0003,
        "rbx had not been pushed yet"
    );
}

#[test]
fn epilog_is_emulated_for_the_context_frame() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    let rsp = STACK + 0x3000;
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    memory.put_u64(rsp + 0x28, 0xB0B0);
    memory.put_u64(rsp + 0x30, 0xBEBE);
    memory.put_u64(rsp + 0x38, RET);
    // At `add rsp, 28h`: the whole frame is still there.
    let caller = unwind(&image, &layout, &context_regs(0x1040, rsp), true, &memory).unwrap();
    assert_eq!((caller.rip, caller.rsp()), (RET, rsp + 0x40));
    assert_eq!(caller.gprs[RBX as usize], 0xB0B0);
    // At `pop rbp`: alloc and rbx are gone already; only rbp and the return address remain.
    let rsp2 = rsp + 0x30;
    let caller = unwind(&image, &layout, &context_regs(0x1045, rsp2), true, &memory).unwrap();
    assert_eq!((caller.rip, caller.rsp()), (RET, rsp + 0x40));
    assert_eq!(caller.gprs[RBP as usize], 0xBEBE);
    assert_eq!(
        caller.gprs[RBX as usize], 0x1111_0003,
        "rbx was already restored by the code"
    );
    // At an in-function `jmp`: not an epilog, the unwind codes apply.
    let caller = unwind(&image, &layout, &context_regs(0x1050, rsp), true, &memory).unwrap();
    assert_eq!((caller.rip, caller.rsp()), (RET, rsp + 0x40));
}

#[test]
fn frame_pointer_and_save_nonvol_use_the_frame_base() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    // B: after `sub rsp, 40h` RSP = base; rbp = base + 0x20; the body then moved RSP down.
    let base = STACK + 0x4000;
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    memory.put_u64(base + 0x40, 0xBEBE); // pushed rbp
    memory.put_u64(base + 0x48, RET);
    memory.put_u64(base + 0x50, 0x5151); // rsi saved into the caller's home space
    let mut regs = context_regs(0x1180, base - 0x100);
    regs.gprs[RBP as usize] = base + 0x20;
    let caller = unwind(&image, &layout, &regs, true, &memory).unwrap();
    assert_eq!(caller.rip, RET);
    assert_eq!(caller.rsp(), base + 0x50);
    assert_eq!(caller.gprs[RBP as usize], 0xBEBE);
    assert_eq!(caller.gprs[RSI as usize], 0x5151);

    // The same frame reached by a scan (RBP unknown) cannot be unwound: no guessing.
    let scanned = X64Registers::from_ip_sp(IMAGE_BASE + 0x1180, base - 0x100);
    assert!(unwind(&image, &layout, &scanned, false, &memory).is_none());
}

#[test]
fn large_allocations_far_saves_and_xmm_slots() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    let rsp = STACK + 0x100;
    let frame = 0x1234 * 8;
    memory.put_u64(rsp + 0x20000, 0xC12C12);
    memory.put_u64(rsp + frame, RET);
    let caller = unwind(&image, &layout, &context_regs(0x1280, rsp), true, &memory).unwrap();
    assert_eq!((caller.rip, caller.rsp()), (RET, rsp + frame + 8));
    assert_eq!(caller.gprs[R12 as usize], 0xC12C12);

    // ALLOC_LARGE with a 32-bit size: 0x12345678 bytes is far beyond the captured stack,
    // so the return-address read fails and the unwinder says so instead of inventing one.
    assert!(unwind(&image, &layout, &context_regs(0x13D0, rsp), true, &memory).is_none());
}

#[test]
fn machine_frame_gives_interrupted_rip_and_rsp() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    let rsp = STACK + 0x5000;
    memory.put_u64(rsp, RET); // RIP
    memory.put_u64(rsp + 8, 0x10); // CS
    memory.put_u64(rsp + 16, 0x246); // EFLAGS
    memory.put_u64(rsp + 24, STACK + 0x6000); // RSP
    let caller = unwind(&image, &layout, &context_regs(0x1310, rsp), true, &memory).unwrap();
    assert_eq!((caller.rip, caller.rsp()), (RET, STACK + 0x6000));
}

#[test]
fn chained_fragment_applies_its_codes_then_the_parents() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    let rsp = STACK + 0x7000;
    memory.put_u64(rsp + 0x60, 0xD1D1); // rdi saved by the fragment
    memory.put_u64(rsp + 0x28, 0xB0B0);
    memory.put_u64(rsp + 0x30, 0xBEBE);
    memory.put_u64(rsp + 0x38, RET);
    // RIP at offset 0 of the fragment: its parent's prolog has fully run regardless.
    let caller = unwind(&image, &layout, &context_regs(0x1390, rsp), true, &memory).unwrap();
    assert_eq!((caller.rip, caller.rsp()), (RET, rsp + 0x40));
    assert_eq!(caller.gprs[RDI as usize], 0xD1D1);
    assert_eq!(caller.gprs[RBX as usize], 0xB0B0);
}

#[test]
fn leaf_function_returns_to_the_address_at_rsp() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    let rsp = STACK + 0x8000;
    memory.put_u64(rsp, RET);
    let caller = unwind(&image, &layout, &context_regs(0x1405, rsp), true, &memory).unwrap();
    assert_eq!((caller.rip, caller.rsp()), (RET, rsp + 8));
}

#[test]
fn damaged_unwind_info_fails_cleanly() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    let rsp = STACK + 0x9000;
    memory.put_u64(rsp, RET);
    // Version 7 is no unwind info format.
    assert!(unwind(&image, &layout, &context_regs(0x1415, rsp), true, &memory).is_none());
    // A chain that points at itself terminates (depth cap) rather than hanging.
    let _ = unwind(&image, &layout, &context_regs(0x1425, rsp), true, &memory);
    // An RIP outside the image, and an RSP outside captured memory.
    assert!(unwind(
        &image,
        &layout,
        &X64Registers::from_ip_sp(IMAGE_BASE - 1, rsp),
        true,
        &memory
    )
    .is_none());
    assert!(unwind(
        &image,
        &layout,
        &context_regs(0x1010, 0x1000),
        true,
        &memory
    )
    .is_none());
    // Truncated and garbage images parse to nothing instead of panicking.
    for len in [0, 2, 0x40, 0x100, 0x1F0, image.len() - 1] {
        let _ = PeLayout::parse(&image[..len]);
    }
    assert!(PeLayout::parse(b"MZ not a PE at all").is_none());
}

// ---------------------------------------------------------------------------------------------
// Call-site heuristics (real encodings)
// ---------------------------------------------------------------------------------------------

#[test]
fn call_instructions_before_return_addresses_are_recognized() {
    // call rel32
    assert!(x86_call_precedes(&[
        0x90, 0x90, 0xE8, 0x10, 0x20, 0x30, 0x40
    ]));
    // call qword ptr [rip+disp32] (CFG dispatch / imports): FF 15 disp32
    assert!(x86_call_precedes(&[
        0x90, 0xFF, 0x15, 0x00, 0x10, 0x00, 0x00
    ]));
    // call rax: FF D0; call r8: 41 FF D0
    assert!(x86_call_precedes(&[
        0x90, 0x90, 0x90, 0x90, 0x90, 0xFF, 0xD0
    ]));
    assert!(x86_call_precedes(&[
        0x90, 0x90, 0x90, 0x90, 0x41, 0xFF, 0xD0
    ]));
    // call qword ptr [rax+8]: FF 50 08
    assert!(x86_call_precedes(&[
        0x90, 0x90, 0x90, 0x90, 0xFF, 0x50, 0x08
    ]));
    // call qword ptr [rsp+8]: FF 54 24 08 (SIB + disp8)
    assert!(x86_call_precedes(&[
        0x90, 0x90, 0x90, 0xFF, 0x54, 0x24, 0x08
    ]));
    // call qword ptr [rbx+disp32]: FF 93 disp32
    assert!(x86_call_precedes(&[
        0x90, 0xFF, 0x93, 0x00, 0x01, 0x00, 0x00
    ]));
    // An import call as the file stores it (`FF 15 disp32`, and `48 FF 15 disp32`) whose
    // loader-rewritten form `E8 rel32` ends 1-2 bytes earlier (real bytes, Wdf01000+0x7c027).
    assert!(x86_call_precedes(&[
        0x49, 0x20, 0xFF, 0x15, 0x30, 0xB7, 0x03
    ]));
    assert!(x86_call_precedes(&[
        0x20, 0x48, 0xFF, 0x15, 0x30, 0xB7, 0x03
    ]));
    // Not calls: jmp rax (FF E0), push [rax] (FF 30), plain data.
    assert!(!x86_call_precedes(&[
        0x90, 0x90, 0x90, 0x90, 0x90, 0xFF, 0xE0
    ]));
    assert!(!x86_call_precedes(&[
        0x90, 0x90, 0x90, 0x90, 0x90, 0xFF, 0x30
    ]));
    assert!(!x86_call_precedes(&[
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
    ]));
    assert!(!x86_call_precedes(&[]));

    // ARM64: bl #0x100 = 0x94000040; blr x8 = 0xD63F0100; ret = 0xD65F03C0 is not a call.
    assert!(arm64_call_precedes(&0x9400_0040u32.to_le_bytes()));
    assert!(arm64_call_precedes(&0xD63F_0100u32.to_le_bytes()));
    assert!(!arm64_call_precedes(&0xD65F_03C0u32.to_le_bytes()));
    // A PAC-signed kernel return address regains its canonical upper bits.
    assert_eq!(
        strip_pointer_auth(Arch::Arm64, 0x8FAA_8004_1234_5678),
        0xFFFF_8004_1234_5678
    );
    assert_eq!(
        strip_pointer_auth(Arch::Arm64, 0x002A_7FF6_1234_5678),
        0x0000_7FF6_1234_5678
    );
    assert_eq!(
        strip_pointer_auth(Arch::Amd64, 0x8F2A_8004_1234_5678),
        0x8F2A_8004_1234_5678
    );
}

// ---------------------------------------------------------------------------------------------
// Whole walks
// ---------------------------------------------------------------------------------------------

fn driver(name: &str, base: u64, size: u32) -> DriverEntry {
    DriverEntry {
        name: name.to_string(),
        path: format!("\\SystemRoot\\System32\\drivers\\{name}"),
        base,
        size,
        timestamp: 0x5000_0000,
        checksum: 0,
    }
}

#[test]
fn scan_walk_without_images_finds_module_return_addresses_and_terminates() {
    // No store: every frame after the context comes from scanning. Values that point into no
    // module, and the zero padding, are skipped.
    let mut memory = FakeMemory::new(STACK, 0x400);
    let drv = 0xFFFF_F800_2000_0000u64;
    let nt = 0xFFFF_F800_3000_0000u64;
    memory.put_u64(STACK + 0x08, 0x1234);
    memory.put_u64(STACK + 0x18, drv + 0x1111);
    memory.put_u64(STACK + 0x30, 0xFFFF_E000_0000_0000); // a pool pointer
    memory.put_u64(STACK + 0x48, nt + 0x2222);
    memory.put_u64(STACK + 0x3F8, drv + 0x3333); // the very last slot
    let modules = [
        driver("ntoskrnl.exe", nt, 0x100_0000),
        driver("drv.sys", drv, 0x10000),
    ];
    let context = CpuContext {
        arch: Arch::Amd64,
        ip: drv + 0x500,
        sp: STACK,
        fp: 0,
        x64_gprs: None,
    };
    let input = KernelStackInput {
        context: &context,
        memory: &memory,
        stack_range: (STACK, STACK + 0x400),
        modules: &modules,
        link_register: None,
    };
    let frames = walk_kernel_stack(&input, &SymbolCache::empty(), DEFAULT_MAX_FRAMES);
    let summary: Vec<(Option<&str>, Option<u64>, FrameTrust)> = frames
        .iter()
        .map(|f| (f.module.as_deref(), f.offset.map(|o| o.0), f.trust))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some("drv.sys"), Some(0x500), FrameTrust::Context),
            (Some("drv.sys"), Some(0x1111), FrameTrust::Scan),
            (Some("ntoskrnl.exe"), Some(0x2222), FrameTrust::Scan),
            (Some("drv.sys"), Some(0x3333), FrameTrust::Scan),
        ]
    );
    assert_eq!(
        frames[3].address.to_string(),
        format!("{:#x}", drv + 0x3333)
    );
    assert_eq!(
        frames.iter().map(|f| f.index).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );

    // The frame cap holds, and 0 frames means none.
    assert_eq!(walk_kernel_stack(&input, &SymbolCache::empty(), 2).len(), 2);
    assert!(walk_kernel_stack(&input, &SymbolCache::empty(), 0).is_empty());
}

#[test]
fn x86_frame_pointer_chain_then_scan() {
    let base = 0x8000_0000u64;
    let stack = 0x9000_0000u64;
    let mut memory = FakeMemory::new(stack, 0x200);
    let put32 = |m: &mut FakeMemory, at: u64, v: u32| {
        let o = (at - m.base) as usize;
        m.bytes[o..o + 4].copy_from_slice(&v.to_le_bytes());
    };
    // EBP chain: [0x40] -> ebp 0x80, ret drv+0x100; [0x80] -> ebp 0 (end), ret drv+0x200.
    put32(&mut memory, stack + 0x40, (stack + 0x80) as u32);
    put32(&mut memory, stack + 0x44, (base + 0x100) as u32);
    put32(&mut memory, stack + 0x80, 0);
    put32(&mut memory, stack + 0x84, (base + 0x200) as u32);
    // Beyond the chain, one more return address for the scan.
    put32(&mut memory, stack + 0xC0, (base + 0x300) as u32);
    let modules = [driver("drv.sys", base, 0x1000)];
    let context = CpuContext {
        arch: Arch::X86,
        ip: base + 0x50,
        sp: stack + 0x10,
        fp: stack + 0x40,
        x64_gprs: None,
    };
    let input = KernelStackInput {
        context: &context,
        memory: &memory,
        stack_range: (stack, stack + 0x200),
        modules: &modules,
        link_register: None,
    };
    let frames = walk_kernel_stack(&input, &SymbolCache::empty(), DEFAULT_MAX_FRAMES);
    let summary: Vec<(Option<u64>, FrameTrust)> = frames
        .iter()
        .map(|f| (f.offset.map(|o| o.0), f.trust))
        .collect();
    assert_eq!(
        summary,
        vec![
            (Some(0x50), FrameTrust::Context),
            (Some(0x100), FrameTrust::FramePointer),
            (Some(0x200), FrameTrust::FramePointer),
            (Some(0x300), FrameTrust::Scan),
        ]
    );
}

#[test]
fn arm64_leaf_fault_takes_its_caller_from_the_link_register() {
    // A leaf function faulted: it wrote no frame record, so FP is its caller's record, whose
    // saved return address is the caller's caller; only LR (from the trap frame) names the
    // caller itself.
    let drv = 0xFFFF_F800_2000_0000u64;
    let stack = 0xFFFF_8A80_6BFB_0000u64;
    let mut memory = FakeMemory::new(stack, 0x200);
    memory.put_u64(stack + 0x40, stack + 0x80);
    memory.put_u64(stack + 0x48, drv + 0x2000);
    memory.put_u64(stack + 0x80, 0);
    memory.put_u64(stack + 0x88, drv + 0x3000);
    let modules = [driver("drv.sys", drv, 0x10000)];
    let context = CpuContext {
        arch: Arch::Arm64,
        ip: drv + 0x500,
        sp: stack + 0x10,
        fp: stack + 0x40,
        x64_gprs: None,
    };
    let walk = |link_register: Option<u64>| {
        let input = KernelStackInput {
            context: &context,
            memory: &memory,
            stack_range: (stack, stack + 0x200),
            modules: &modules,
            link_register,
        };
        walk_kernel_stack(&input, &SymbolCache::empty(), DEFAULT_MAX_FRAMES)
            .iter()
            .map(|f| (f.offset.map(|o| o.0), f.trust))
            .collect::<Vec<_>>()
    };
    let chain = vec![
        (Some(0x500), FrameTrust::Context),
        (Some(0x2000), FrameTrust::FramePointer),
        (Some(0x3000), FrameTrust::FramePointer),
    ];
    let mut with_caller = chain.clone();
    with_caller.insert(1, (Some(0x1004), FrameTrust::FramePointer));
    assert_eq!(walk(Some(drv + 0x1004)), with_caller);
    // A PAC-signed LR is stripped first.
    assert_eq!(walk(Some((drv + 0x1004) & !(0x7F << 48))), with_caller);
    // LR equal to the chain's first caller: the function saved it; no frame twice.
    assert_eq!(walk(Some(drv + 0x2000)), chain);
    // No LR, or one in no module: the chain alone.
    assert_eq!(walk(None), chain);
    assert_eq!(walk(Some(0xFFFF_E000_0000_1000)), chain);
}

#[test]
fn hostile_stack_with_self_pointing_frames_terminates() {
    // Every frame record points at itself and every other slot holds an address inside a
    // module: the walk must stop at the stack end, never loop.
    let evil = 0xA000_0000u64;
    let stack = 0x9000_0000u64;
    let mut memory = FakeMemory::new(stack, 0x100);
    for record in (0..0x100u64).step_by(8) {
        let o = record as usize;
        memory.bytes[o..o + 4].copy_from_slice(&((stack + record) as u32).to_le_bytes());
        memory.bytes[o + 4..o + 8].copy_from_slice(&((evil + 0x10) as u32).to_le_bytes());
    }
    let modules = [driver("evil.sys", evil, 0x100)];
    let context = CpuContext {
        arch: Arch::X86,
        ip: evil,
        sp: stack,
        fp: stack,
        x64_gprs: None,
    };
    let input = KernelStackInput {
        context: &context,
        memory: &memory,
        stack_range: (stack, stack + 0x100),
        modules: &modules,
        link_register: None,
    };
    let frames = walk_kernel_stack(&input, &SymbolCache::empty(), 1000);
    // One caller per 8-byte record at most, plus frame 0.
    assert!(
        frames.len() >= 2 && frames.len() <= 0x21,
        "{} frames",
        frames.len()
    );
    assert!(frames[1..]
        .iter()
        .all(|f| f.offset.map(|v| v.to_string()).as_deref() == Some("0x10")));
}

/// The real Win10 x64 0x7E dump with its real images (amdppm.sys, Wdf01000.sys) and PDB.
#[test]
fn real_win10_x64_0x7e_stack_unwinds_through_amdppm_into_wdf() {
    let (Some(path), Some(store)) = (
        common::sample("kernel/win10-x64-0x7E-amdppm.dmp"),
        common::sample_symbols(),
    ) else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let dump = blastradius::dump::kernel::KernelDump::parse(&path, &bytes).unwrap();
    let context = blastradius::dump::fault_context::recover(
        &dump,
        &bytes,
        blastradius::dump::kernel_report::parameter_fault_ip(&dump),
    )
    .expect("header context")
    .context;
    assert_eq!(
        context.ip, 0xFFFF_F804_8B58_334C,
        "the 0x7E faulting context is P2"
    );
    let stack_range = dump.stack_range().expect("captured stack");
    let memory = dump.memory(&bytes);
    let symbols = SymbolCache::from_spec(store.to_str().unwrap()).unwrap();
    let input = KernelStackInput {
        context: &context,
        memory: &memory,
        stack_range,
        modules: dump.drivers(),
        link_register: None,
    };
    let frames = walk_kernel_stack(&input, &symbols, DEFAULT_MAX_FRAMES);
    for f in &frames {
        eprintln!(
            "{:2} {} {:?}!{:?}+{:?} {:?} {:?}",
            f.index, f.address, f.module, f.function, f.function_offset, f.source_line, f.trust
        );
    }
    let f0 = &frames[0];
    assert_eq!(f0.trust, FrameTrust::Context);
    assert_eq!(f0.module.as_deref(), Some("amdppm.sys"));
    assert_eq!(f0.function.as_deref(), Some("WriteIoMemRawEx"));
    assert_eq!(
        f0.function_offset.map(|v| v.to_string()).as_deref(),
        Some("0x70")
    );

    // amdppm's image is in the store, so its .pdata unwinds every amdppm frame exactly: the
    // fault is three calls below InitAcpiCpc (the helpers rizin's scan-based stack skips).
    let amdppm: Vec<(&str, FrameTrust)> = frames[1..6]
        .iter()
        .map(|f| {
            assert_eq!(f.module.as_deref(), Some("amdppm.sys"));
            (f.function.as_deref().unwrap_or("?"), f.trust)
        })
        .collect();
    assert_eq!(
        amdppm,
        vec![
            ("WriteGenAddrEx", FrameTrust::Cfi),
            ("WriteGenAddrMaybeHiddenEx", FrameTrust::Cfi),
            ("InitAcpiCpc", FrameTrust::Cfi),
            ("ProcLibDeviceStart", FrameTrust::Cfi),
            ("EvtDevicePrepareHardware", FrameTrust::Cfi),
        ]
    );
    assert_eq!(frames[3].address.to_string(), "0xfffff8048b5a0e8f");
    assert_eq!(
        frames[3].function_offset.map(|v| v.to_string()).as_deref(),
        Some("0x317")
    );

    // Then Wdf01000 (image in the store, no PDB): unwound with its own .pdata, module+offset.
    let wdf: Vec<_> = frames
        .iter()
        .filter(|f| f.module.as_deref() == Some("Wdf01000.sys"))
        .collect();
    assert!(wdf.len() >= 5, "{} Wdf01000 frames", wdf.len());
    assert_eq!(frames[6].module.as_deref(), Some("Wdf01000.sys"));
    assert!(wdf
        .iter()
        .all(|f| f.trust == FrameTrust::Cfi && f.function.is_none() && f.offset.is_some()));

    // Every unwound return address really follows a call instruction in its image (checked
    // against the stored image files directly, independent of the unwinder).
    for f in frames.iter().skip(1).filter(|f| f.trust == FrameTrust::Cfi) {
        let (dir, name) = match f.module.as_deref() {
            Some("amdppm.sys") => ("amdppm.sys/c9c030003b000", "amdppm.sys"),
            Some("Wdf01000.sys") => ("Wdf01000.sys/a9a9d36ed1000", "Wdf01000.sys"),
            _ => continue,
        };
        let image = std::fs::read(store.join(dir).join(name)).unwrap();
        let layout = PeLayout::parse(&image).unwrap();
        let offset =
            blastradius::record::parse_hex(f.offset.map(|v| v.to_string()).as_deref().unwrap())
                .unwrap() as u32;
        let before = layout.read(&image, offset - 7, 7).unwrap();
        assert!(
            x86_call_precedes(before),
            "frame {} {:?}+{:#x} is not after a call: {before:02x?}",
            f.index,
            f.module,
            offset
        );
    }

    // The walk ends inside the captured stack and never repeats a stack position.
    assert!(frames.len() <= DEFAULT_MAX_FRAMES);
    assert!(frames.len() > 16, "the walk continues into ntoskrnl");
}

// ---------------------------------------------------------------------------------------------
// The same unwinder behind minidump-processor (x64 user-mode minidumps)
// ---------------------------------------------------------------------------------------------

/// minidump-processor's side of one CFI step, recorded.
struct RecordingWalker {
    instruction: u64,
    has_grand_callee: bool,
    callee: Vec<(&'static str, u64)>,
    memory: FakeMemory,
    caller: Vec<(String, u64)>,
    cfa: Option<u64>,
    ra: Option<u64>,
}

impl minidump_unwind::FrameWalker for RecordingWalker {
    fn get_instruction(&self) -> u64 {
        self.instruction
    }
    fn has_grand_callee(&self) -> bool {
        self.has_grand_callee
    }
    fn get_grand_callee_parameter_size(&self) -> u32 {
        0
    }
    fn get_register_at_address(&self, address: u64) -> Option<u64> {
        self.memory.read_u64(address)
    }
    fn get_callee_register(&self, name: &str) -> Option<u64> {
        self.callee
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }
    fn set_caller_register(&mut self, name: &str, val: u64) -> Option<()> {
        self.caller.push((name.to_string(), val));
        Some(())
    }
    fn clear_caller_register(&mut self, _name: &str) {}
    fn set_cfa(&mut self, val: u64) -> Option<()> {
        self.cfa = Some(val);
        Some(())
    }
    fn set_ra(&mut self, val: u64) -> Option<()> {
        self.ra = Some(val);
        Some(())
    }
}

#[test]
fn minidump_walker_gets_pdata_unwinds_for_x64_frames() {
    let image = synthetic_image();
    let layout = PeLayout::parse(&image).unwrap();
    let loaded = LoadedImage {
        layout: &layout,
        bytes: &image,
        base: IMAGE_BASE,
    };
    let rsp = STACK + 0x1000;
    let mut memory = FakeMemory::new(STACK, STACK_SIZE);
    memory.put_u64(rsp + 0x28, 0xB0B0);
    memory.put_u64(rsp + 0x30, 0xBEBE);
    memory.put_u64(rsp + 0x38, RET);
    let mut walker = RecordingWalker {
        instruction: IMAGE_BASE + 0x1010,
        has_grand_callee: false,
        callee: vec![
            ("rip", IMAGE_BASE + 0x1010),
            ("rsp", rsp),
            ("rbx", 1),
            ("rbp", 2),
        ],
        memory,
        caller: Vec::new(),
        cfa: None,
        ra: None,
    };
    assert!(blastradius::stack::minidump::walk_x64_with_pdata(&loaded, &mut walker).is_some());
    assert_eq!(walker.ra, Some(RET));
    assert_eq!(walker.cfa, Some(rsp + 0x40));
    let mut restored = walker.caller.clone();
    restored.sort();
    assert_eq!(
        restored,
        vec![("rbp".to_string(), 0xBEBE), ("rbx".to_string(), 0xB0B0)]
    );

    // Without RSP there is nothing to unwind from.
    walker.callee = vec![("rip", IMAGE_BASE + 0x1010)];
    assert!(blastradius::stack::minidump::walk_x64_with_pdata(&loaded, &mut walker).is_none());
}

// ---------------------------------------------------------------------------------------------
// Hostile input: random images, unwind tables and stacks never panic or loop
// ---------------------------------------------------------------------------------------------

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(256))]

    #[test]
    fn random_unwind_tables_and_stacks_never_panic(
        section in proptest::collection::vec(proptest::prelude::any::<u8>(), 0x400..0x800),
        stack in proptest::collection::vec(proptest::prelude::any::<u8>(), 0x100..0x400),
        rip_offset in 0u32..0x900,
        context_frame in proptest::prelude::any::<bool>(),
    ) {
        // The whole section doubles as .pdata: every 12 bytes are a "RUNTIME_FUNCTION".
        let image = build_pe(&section, TEXT_RVA, section.len() as u32);
        let layout = PeLayout::parse(&image).unwrap();
        let memory = FakeMemory { base: STACK, bytes: stack };
        let regs = context_regs(TEXT_RVA + rip_offset, STACK + 0x40);
        let _ = unwind(&image, &layout, &regs, context_frame, &memory);
    }

    #[test]
    fn random_pe_headers_never_panic(
        flips in proptest::collection::vec((0usize..0x400, proptest::prelude::any::<u8>()), 1..16),
        rva in 0u32..0x3000,
    ) {
        let mut image = synthetic_image();
        for (at, value) in flips {
            image[at] = value;
        }
        if let Some(layout) = PeLayout::parse(&image) {
            let _ = layout.read(&image, rva, 16);
            let _ = layout.is_code(rva);
            let _ = layout.runtime_function_for(&image, rva);
        }
    }

    #[test]
    fn random_kernel_stacks_walk_within_bounds(
        stack in proptest::collection::vec(proptest::prelude::any::<u8>(), 0x100..0x800),
        arch in proptest::sample::select(vec![Arch::X86, Arch::Amd64, Arch::Arm64]),
        sp_offset in 0u64..0x900,
        fp_offset in 0u64..0x900,
    ) {
        // Modules cover the values random bytes most often form (small and all-ones-prefixed).
        let modules = [
            driver("low.sys", 0, 0x1_0000),
            driver("high.sys", 0xFFFF_FFFF_FFFF_0000, 0xFFFF),
        ];
        let size = stack.len() as u64;
        let memory = FakeMemory { base: STACK, bytes: stack };
        let context = CpuContext { arch, ip: 0x100, sp: STACK + sp_offset, fp: STACK + fp_offset, x64_gprs: None };
        let input = KernelStackInput { context: &context, memory: &memory, stack_range: (STACK, STACK + size), modules: &modules, link_register: None };
        let frames = walk_kernel_stack(&input, &SymbolCache::empty(), 10_000);
        // At most one caller per stack slot, plus frame 0.
        proptest::prop_assert!(frames.len() as u64 <= size / 4 + 1);
    }
}
