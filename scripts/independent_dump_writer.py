#!/usr/bin/env python3
"""Write a Windows kernel small-memory ("triage", DumpType 4) dump from the published layout.

This is an INDEPENDENT implementation: it was written only from
../shared/docs/KERNEL-DUMP-FORMAT.md (section numbers below refer to it), without looking at
blastradius' own reader or simulator, so that a test can check the reader against a second,
separately derived writer. Where that document does not give a layout (the AMD64/ARM64/x86
CONTEXT registers other than IP/SP, KDDEBUGGER_DATA64 fields), the public winnt.h /
wdbgexts.h definitions are used and say so.

Usage:
    python3 scripts/independent_dump_writer.py --arch x64|x86|arm64 --out FILE.dmp [--seed N]

Prints, as JSON on stdout, the facts it wrote (what a correct reader must report).
Standard library only.
"""

import argparse
import datetime
import json
import random
import struct
import sys

PAGE = 0x1000
PAGE_PATTERN = b"PAGE"  # §1: Windows pre-fills the header with "PAGE"
TRIAGE_VALID = b"TRGD"  # §5: TRIAGE_DUMP_VALID 'DGRT' stored as bytes "TRGD"
DUMP_TYPE_TRIAGE = 4  # §4

# §5 MiniDumpFields bits.
TRIAGE_CONTEXT = 0x1
TRIAGE_EXCEPTION = 0x2
TRIAGE_PRCB = 0x4
TRIAGE_PROCESS = 0x8
TRIAGE_THREAD = 0x10
TRIAGE_STACK = 0x20
TRIAGE_DRIVER_LIST = 0x40
TRIAGE_BROKEN_DRIVER = 0x80
TRIAGE_MMINFO = 0x100
TRIAGE_DEBUGGER_DATA = 0x400
TRIAGE_DATA_BLOCKS = 0x800
BASIC_INFO = 0xFF

FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)
HUNDRED_NS_PER_SECOND = 10_000_000


def hexs(value):
    """`0x` + lower-case hex: the form blastradius reports addresses in."""
    return "0x%x" % value


class Image:
    """A growing file image with absolute offsets (every *Offset in the triage header is
    absolute, §1)."""

    def __init__(self, size):
        self.buf = bytearray(size)

    def align(self, alignment):
        while len(self.buf) % alignment:
            self.buf.append(0)

    def append(self, data, alignment=8):
        self.align(alignment)
        offset = len(self.buf)
        self.buf += data
        return offset

    def put(self, offset, fmt, *values):
        struct.pack_into("<" + fmt, self.buf, offset, *values)


def utf16(text):
    return text.encode("utf-16-le")


def dump_string(text):
    """§7 DUMP_STRING: u32 Length in WCHARs, the characters, a WCHAR 0."""
    return struct.pack("<I", len(text)) + utf16(text) + b"\0\0"


class Arch:
    def __init__(self, name):
        self.name = name
        self.is64 = name != "x86"

    @property
    def report_name(self):
        return {"x64": "amd64", "x86": "x86", "arm64": "arm64"}[self.name]

    @property
    def machine(self):
        # §2 MachineImageType: 0x8664 AMD64, 0xAA64 ARM64; 0x14C i386 (32-bit header).
        return {"x64": 0x8664, "x86": 0x14C, "arm64": 0xAA64}[self.name]


# --------------------------------------------------------------------------------------
# The scenario: what crashed, where, which drivers were loaded.
# --------------------------------------------------------------------------------------

WINDOWS_DRIVERS_64 = [
    "hal.dll", "kd.dll", "mcupdate_GenuineIntel.dll", "CLFS.SYS", "tm.sys", "PSHED.dll",
    "BOOTVID.dll", "cmimcext.sys", "ntosext.sys", "CI.dll", "msrpc.sys", "FLTMGR.SYS",
    "Wdf01000.sys", "WDFLDR.SYS", "acpiex.sys", "ACPI.sys", "WMILIB.SYS", "intelpep.sys",
    "pci.sys", "vdrvroot.sys", "partmgr.sys", "volmgr.sys", "volmgrx.sys", "mountmgr.sys",
    "storport.sys", "stornvme.sys", "EhStorClass.sys", "fileinfo.sys", "Wof.sys",
    "Ntfs.sys", "Fs_Rec.sys", "ndis.sys", "NETIO.SYS", "ksecpkg.sys", "tcpip.sys",
    "fwpkclnt.sys", "volsnap.sys", "rdyboost.sys", "mup.sys", "iorate.sys", "disk.sys",
    "CLASSPNP.SYS", "crashdmp.sys", "cdrom.sys", "filecrypt.sys", "tbs.sys", "Null.SYS",
    "Beep.SYS", "dxgkrnl.sys", "watchdog.sys", "BasicDisplay.sys", "BasicRender.sys",
    "Npfs.SYS", "Msfs.SYS", "tdx.sys", "TDI.SYS", "netbt.sys", "afd.sys", "pacer.sys",
]
WINDOWS_DRIVERS_32 = [
    "hal.dll", "kdcom.dll", "mcupdate_GenuineIntel.dll", "PSHED.dll", "BOOTVID.dll",
    "CLFS.SYS", "CI.dll", "Wdf01000.sys", "WDFLDR.SYS", "ACPI.sys", "WMILIB.SYS",
    "msisadrv.sys", "pci.sys", "vdrvroot.sys", "partmgr.sys", "volmgr.sys", "volmgrx.sys",
    "intelide.sys", "PCIIDEX.SYS", "mountmgr.sys", "atapi.sys", "ataport.SYS", "fltmgr.sys",
    "fileinfo.sys", "Ntfs.sys", "msrpc.sys", "ksecdd.sys", "cng.sys", "pcw.sys",
    "Fs_Rec.sys", "ndis.sys", "NETIO.SYS", "ksecpkg.sys", "tcpip.sys", "fwpkclnt.sys",
    "volsnap.sys", "spldr.sys", "rdyboost.sys", "mup.sys", "hwpolicy.sys", "fvevol.sys",
    "disk.sys", "CLASSPNP.SYS", "Null.SYS", "Beep.SYS", "vga.sys", "VIDEOPRT.SYS",
]
UNLOADED_NAMES = [
    "dump_storport.sys", "dump_stornvme.sys", "dump_dumpfve.sys", "WdNisDrv.sys",
    "hwpolicy.sys", "sacdrv.sys", "mssmbios.sys", "peauth.sys", "spsys.sys", "lltdio.sys",
]

SCENARIOS = {
    # x64: a CrowdStrike-style 0x50 read in a third-party driver.
    "x64": {"code": 0x50, "name": "PAGE_FAULT_IN_NONPAGED_AREA", "driver": "vendorflt.sys",
            "builds": [19041, 19044, 19045, 22621, 26100]},
    # x86: Windows 7 SP1 PAE, an access violation in a video driver.
    "x86": {"code": 0x1000008E, "name": "KERNEL_MODE_EXCEPTION_NOT_HANDLED_M",
            "driver": "oldvid.sys", "builds": [7601]},
    # ARM64: DRIVER_IRQL_NOT_LESS_OR_EQUAL in a network driver.
    "arm64": {"code": 0xD1, "name": "DRIVER_IRQL_NOT_LESS_OR_EQUAL", "driver": "armnet.sys",
              "builds": [22000, 22621, 26100]},
}


def build_scenario(arch, rng):
    s = SCENARIOS[arch.name]
    build = rng.choice(s["builds"])
    processors = rng.choice([1, 2, 4, 6, 8, 12, 16, 24, 32, 64]) if arch.is64 else rng.choice([1, 2, 4, 8])

    # Load order as on a real system: the kernel first, then hal, then the rest; the
    # faulting third-party driver somewhere in the middle.
    # The list names the kernel ntoskrnl.exe also on x86 PAE systems (Win7 x86 sample).
    kernel = "ntoskrnl.exe"
    pool = WINDOWS_DRIVERS_32 if arch.name == "x86" else WINDOWS_DRIVERS_64
    extra = rng.randint(6, len(pool) - 1)
    names = [kernel, pool[0]] + rng.sample(pool[1:], extra)
    names.insert(rng.randint(3, len(names)), s["driver"])
    if rng.random() < 0.7:
        names.insert(rng.randint(3, len(names)), "thirdparty%d.sys" % rng.randint(1, 9))

    if arch.is64:
        address = 0xFFFFF800_00000000 + rng.randint(0x100, 0x7FF) * 0x100000
    else:
        address = 0x82800000 + rng.randint(0, 0x3F) * 0x10000
    drivers = []
    for name in names:
        size = rng.randint(0x8, 0x400) * PAGE if name != kernel else rng.randint(0x800, 0xA00) * PAGE
        drivers.append({
            "name": name,
            "base": address,
            "size": size,
            "timestamp": rng.randint(0x4A000000, 0x66FFFFFF),
            "checksum": rng.randint(0x1000, 0xFFFFFF),
        })
        # Leave an unmapped gap between images so an address is in at most one.
        address += size + rng.randint(1, 0x40) * PAGE

    unloaded = []
    for name in rng.sample(UNLOADED_NAMES, rng.randint(1, 6)):
        size = rng.randint(0x4, 0x40) * PAGE
        unloaded.append({"name": name, "start": address, "end": address + size})
        address += size + rng.randint(1, 0x10) * PAGE

    fault_driver = next(d for d in drivers if d["name"] == s["driver"])
    fault_offset = rng.randint(0x1000, fault_driver["size"] - 0x100)
    # ARM64 instructions are 4-byte aligned; x86/x64 ones can start anywhere.
    fault_offset = fault_offset & ~0x3 if arch.name == "arm64" else fault_offset | 0x1
    fault_ip = fault_driver["base"] + fault_offset
    nt = drivers[0]
    kebugcheckex = nt["base"] + rng.randint(0x400, 0x800) * 0x100  # nt!KeBugCheckEx

    if arch.name == "x64":
        # §8: P1 address referenced, P2 read/write (0 read, 2 write after 1507), P3 the
        # faulting instruction address, P4 the page-fault type.
        referenced = 0xFFFF8405_00000000 + rng.randint(0, 0xFFFF) * 0x10 + 4
        params = [referenced, rng.choice([0, 0, 2]), fault_ip, rng.choice([0, 2])]
    elif arch.name == "x86":
        # 0x8E: P1 exception code, P2 exception address, P3 trap frame, P4 reserved.
        params = [0xC0000005, fault_ip, 0, 0]
    else:
        # 0xD1: P1 memory referenced, P2 IRQL, P3 0 read / 1 write, P4 faulting address.
        referenced = rng.choice([0x28, 0x10, 0xFFFF9A0C_00000000 + rng.randint(0, 0xFFFFF) * 8])
        params = [referenced, 2, rng.choice([0, 1]), fault_ip]

    crash = datetime.datetime(2024, 7, 19, 4, 9, 0, tzinfo=datetime.timezone.utc)
    crash += datetime.timedelta(seconds=rng.randint(0, 6 * 3600))
    return {
        "build": build,
        "processors": processors,
        "code": s["code"],
        "name": s["name"],
        "drivers": drivers,
        "unloaded": unloaded,
        "fault_driver": fault_driver,
        "fault_ip": fault_ip,
        "params": params,
        "kebugcheckex": kebugcheckex,
        "crash_time": crash,
        "uptime_seconds": rng.randint(30, 40 * 86400),
    }


# --------------------------------------------------------------------------------------
# Pieces of the file.
# --------------------------------------------------------------------------------------

def nt_path(arch, name):
    """§6: the full NT path on 64-bit dumps, a bare base name on the Win7 x86 sample."""
    if not arch.is64:
        return name
    if name in ("ntoskrnl.exe", "hal.dll", "kd.dll", "CI.dll", "PSHED.dll", "BOOTVID.dll",
                "mcupdate_GenuineIntel.dll"):
        return "\\SystemRoot\\system32\\" + name
    return "\\SystemRoot\\System32\\drivers\\" + name


def amd64_context(rip, rsp, rbp):
    """AMD64 CONTEXT, 0x4D0 bytes (§2: Rsp +0x98, Rip +0xF8). ContextFlags +0x30, SegCs
    +0x38, SegSs +0x42, EFlags +0x44 and Rbp +0xA0 are from winnt.h."""
    ctx = bytearray(0x4D0)
    struct.pack_into("<I", ctx, 0x30, 0x0010001F)  # CONTEXT_AMD64 | CONTROL|INTEGER|SEGMENTS|FP|DEBUG
    struct.pack_into("<H", ctx, 0x38, 0x10)
    struct.pack_into("<H", ctx, 0x42, 0x18)
    struct.pack_into("<I", ctx, 0x44, 0x00040286)
    struct.pack_into("<Q", ctx, 0x98, rsp)
    struct.pack_into("<Q", ctx, 0xA0, rbp)
    struct.pack_into("<Q", ctx, 0xF8, rip)
    return bytes(ctx)


def arm64_context(pc, sp, fp, lr):
    """ARM64 CONTEXT from winnt.h (0x390 bytes): ContextFlags +0, Cpsr +4, X0..X28 +8,
    Fp +0xF0, Lr +0xF8, Sp +0x100, Pc +0x108."""
    ctx = bytearray(0x390)
    struct.pack_into("<I", ctx, 0x0, 0x00400007)  # CONTEXT_ARM64 | CONTROL|INTEGER|FP
    struct.pack_into("<I", ctx, 0x4, 0x60000005)
    struct.pack_into("<Q", ctx, 0xF0, fp)
    struct.pack_into("<Q", ctx, 0xF8, lr)
    struct.pack_into("<Q", ctx, 0x100, sp)
    struct.pack_into("<Q", ctx, 0x108, pc)
    return bytes(ctx)


def x86_context(eip, esp, ebp):
    """x86 CONTEXT (§3: Eip +0xB8, Esp +0xC4, Ebp +0xB4); ContextFlags +0, SegCs +0xBC,
    EFlags +0xC0, SegSs +0xC8 from winnt.h; 0x2CC bytes."""
    ctx = bytearray(0x2CC)
    struct.pack_into("<I", ctx, 0x0, 0x0001003F)  # CONTEXT_i386 | all
    struct.pack_into("<I", ctx, 0xB4, ebp)
    struct.pack_into("<I", ctx, 0xB8, eip)
    struct.pack_into("<I", ctx, 0xBC, 0x08)
    struct.pack_into("<I", ctx, 0xC0, 0x00010286)
    struct.pack_into("<I", ctx, 0xC4, esp)
    struct.pack_into("<I", ctx, 0xC8, 0x10)
    return bytes(ctx)


def pe_header_page(arch, driver):
    """The PE header page of an image, as a data block captures it (§5: the Win10 sample
    holds the header page of the faulting driver). Only what identifies the image is set:
    TimeDateStamp, SizeOfImage and CheckSum agree with the driver list."""
    page = bytearray(PAGE)
    page[0:2] = b"MZ"
    struct.pack_into("<I", page, 0x3C, 0x100)  # e_lfanew
    page[0x100:0x104] = b"PE\0\0"
    coff = 0x104
    optional_size = 0xF0 if arch.is64 else 0xE0
    struct.pack_into("<HHIIIHH", page, coff, arch.machine, 0, driver["timestamp"], 0, 0,
                     optional_size, 0x22)
    opt = coff + 20
    struct.pack_into("<H", page, opt, 0x20B if arch.is64 else 0x10B)
    struct.pack_into("<I", page, opt + 56, driver["size"])  # SizeOfImage
    struct.pack_into("<I", page, opt + 60, 0x400)  # SizeOfHeaders
    struct.pack_into("<I", page, opt + 64, driver["checksum"])  # CheckSum
    struct.pack_into("<H", page, opt + 68, 1)  # Subsystem: native
    return bytes(page)


def code_page(rng):
    """A page of plausible code bytes (int3 padding with a few instructions)."""
    page = bytearray(b"\xCC" * PAGE)
    for _ in range(64):
        at = rng.randrange(0, PAGE - 8)
        page[at:at + 8] = bytes(rng.randrange(256) for _ in range(8))
    return bytes(page)


def call_stack(arch, scenario, rng, top, size):
    """The captured kernel stack [top, top+size) (§5: TopOfStack is the lowest VA, the SP).
    Slots hold return addresses into the faulting driver and the kernel, and stack
    pointers, the way a real stack does."""
    width = 8 if arch.is64 else 4
    fmt = "<Q" if arch.is64 else "<I"
    data = bytearray(size)
    nt = scenario["drivers"][0]
    fault_driver = scenario["fault_driver"]
    for slot in range(0, size - width + 1, width):
        roll = rng.random()
        if roll < 0.08:
            value = fault_driver["base"] + rng.randint(0x1000, fault_driver["size"] - 1)
        elif roll < 0.2:
            value = nt["base"] + rng.randint(0x1000, nt["size"] - 1)
        elif roll < 0.35:
            value = top + rng.randrange(0, size, width)
        elif roll < 0.6:
            value = 0
        else:
            value = rng.getrandbits(8 * width)
        struct.pack_into(fmt, data, slot, value)
    return bytes(data)


def debugger_data(arch, scenario, kdbg_size):
    """KDDEBUGGER_DATA64 copy (§5 DebuggerDataOffset). The doc gives only its size; the
    fields set here (List +0, OwnerTag 'KDBG' +0x10, Size +0x14, KernBase +0x18,
    PsLoadedModuleList +0x48) are from wdbgexts.h. Pointers are 64-bit even on x86
    (sign-extended there)."""
    data = bytearray(kdbg_size)
    nt = scenario["drivers"][0]
    data[0x10:0x14] = b"KDBG"
    struct.pack_into("<I", data, 0x14, kdbg_size)
    struct.pack_into("<Q", data, 0x18, sign_extend(arch, nt["base"]))
    struct.pack_into("<Q", data, 0x48, sign_extend(arch, scenario["ps_loaded_module_list"]))
    return bytes(data)


def sign_extend(arch, address):
    """§5: 64-bit fields holding x86 kernel addresses are sign-extended."""
    if not arch.is64 and address & 0x80000000:
        return address | 0xFFFFFFFF_00000000
    return address


def unloaded_list(arch, entries):
    """§7 unloaded drivers. 64-bit: u32 Count, u32 pad, 0x38-byte entries; 32-bit: u32
    Count, 40-byte entries. DriverName holds at most 12 WCHARs (no NUL when full)."""
    out = bytearray()
    out += struct.pack("<II", len(entries), 0) if arch.is64 else struct.pack("<I", len(entries))
    for e in entries:
        name_bytes = utf16(e["name"])
        short = utf16(e["name"][:12]).ljust(24, b"\0")
        stale_buffer = 0xFFFFC000_00000000 | (e["start"] & 0xFFFFFFF0) if arch.is64 else 0x9A000000
        if arch.is64:
            out += struct.pack("<HHIQ", len(name_bytes), len(name_bytes) + 2, 0, stale_buffer)
            out += short
            out += struct.pack("<QQ", e["start"], e["end"])
        else:
            out += struct.pack("<HHI", len(name_bytes), len(name_bytes) + 2, stale_buffer)
            out += short
            out += struct.pack("<II", e["start"], e["end"])
    return bytes(out)


def driver_entry(arch, driver, name_offset, flink, blink):
    """§6 DUMP_DRIVER_ENTRY64 (0x90) / DUMP_DRIVER_ENTRY32 (0x4C)."""
    path = nt_path(arch, driver["name"])
    path_len = len(utf16(path))
    base_len = len(utf16(driver["name"]))
    stale = 0xFFFFB000_00000000 if arch.is64 else 0x8B000000  # UNICODE_STRING buffers: stale VAs
    if arch.is64:
        e = bytearray(0x90)
        struct.pack_into("<I", e, 0x00, name_offset)
        struct.pack_into("<QQ", e, 0x08, flink, blink)  # InLoadOrderLinks
        struct.pack_into("<Q", e, 0x38, driver["base"])  # DllBase
        struct.pack_into("<Q", e, 0x40, driver["base"] + 0x1000)  # EntryPoint
        struct.pack_into("<I", e, 0x48, driver["size"])  # SizeOfImage
        struct.pack_into("<HHIQ", e, 0x50, path_len, path_len + 2, 0, stale | 0x100)
        struct.pack_into("<HHIQ", e, 0x60, base_len, base_len + 2, 0, stale | 0x200)
        struct.pack_into("<I", e, 0x70, 0x49104000)  # Flags
        struct.pack_into("<HH", e, 0x74, 1, 0)  # LoadCount
        struct.pack_into("<I", e, 0x80, driver["checksum"])
        struct.pack_into("<I", e, 0x88, driver["timestamp"])
    else:
        e = bytearray(0x4C)
        struct.pack_into("<I", e, 0x00, name_offset)
        struct.pack_into("<II", e, 0x04, flink, blink)  # InLoadOrderLinks
        struct.pack_into("<I", e, 0x1C, driver["base"])  # DllBase
        struct.pack_into("<I", e, 0x20, driver["base"] + 0x1000)  # EntryPoint
        struct.pack_into("<I", e, 0x24, driver["size"])  # SizeOfImage
        struct.pack_into("<HHI", e, 0x28, path_len, path_len + 2, stale | 0x100)
        struct.pack_into("<HHI", e, 0x30, base_len, base_len + 2, stale | 0x200)
        struct.pack_into("<I", e, 0x38, 0x49104000)  # Flags
        struct.pack_into("<HH", e, 0x3C, 1, 0)  # LoadCount
        struct.pack_into("<I", e, 0x44, driver["checksum"])
        struct.pack_into("<I", e, 0x48, driver["timestamp"])
    return bytes(e)


def dump_blobs(build, rng):
    """§7 secondary data after SizeOfDump: DUMP_BLOB_FILE_HEADER then DUMP_BLOB_HEADERs,
    each followed by PrePad, DataSize bytes, PostPad; the walk ends exactly at EOF."""
    out = bytearray(b"DumpBlob" + struct.pack("<II", 0x10, 0xF0000000 | build))
    for _ in range(rng.randint(1, 3)):
        tag = bytes(rng.randrange(256) for _ in range(16))
        data_size = rng.randint(0x20, 0x400)
        pre, post = rng.choice([(0, 0), (0, 8), (8, 0)])
        out += struct.pack("<I", 0x20) + tag + struct.pack("<III", data_size, pre, post)
        out += b"\0" * pre + bytes(rng.randrange(256) for _ in range(data_size)) + b"\0" * post
    return bytes(out)


# --------------------------------------------------------------------------------------
# The writer.
# --------------------------------------------------------------------------------------

def write_dump(arch, seed):
    rng = random.Random("%s-%d" % (arch.name, seed))
    sc = build_scenario(arch, rng)
    drivers = sc["drivers"]
    nt = drivers[0]
    is64 = arch.is64
    header_size = 0x2000 if is64 else 0x1000  # §1
    triage_size = 0x80 if is64 else 0x68  # §5
    sc["ps_loaded_module_list"] = nt["base"] + 0x3C0000 + rng.randint(0, 0xFF) * 0x10
    kdbg_va = nt["base"] + 0x3C8000 + rng.randint(0, 0xFF) * 0x10

    img = Image(header_size)
    # §1: the header is pre-filled with "PAGE"; fields never written keep it.
    img.buf[:] = PAGE_PATTERN * (header_size // 4)
    img.buf += bytes(triage_size)

    # --- the triage body, in the order the real samples use (§5 offsets are absolute) ---
    mm = struct.pack("<II", 1, 0x50) + bytes(0x48)  # DUMP_MM_STORAGE64: Version 1, Size 0x50
    mm_offset = img.append(mm)
    unloaded_offset = img.append(unloaded_list(arch, sc["unloaded"]))
    prcb_offset = img.append(bytes(rng.randrange(256) for _ in range(0x800)))
    process_offset = img.append(bytes(rng.randrange(256) for _ in range(0x500)))
    thread_offset = img.append(bytes(rng.randrange(256) for _ in range(0x480)))

    stack_size = rng.randint(0x600, 0x2800) & ~(8 - 1 if is64 else 4 - 1)
    if is64:
        stack_base = 0xFFFF8504_29890000 + rng.randint(0, 0xFFF) * 0x10000 + 0x6000
    else:
        stack_base = 0xA5000000 + rng.randint(0, 0x3FF) * 0x4000 + 0x3000
    top_of_stack = stack_base - stack_size  # §5: the lowest VA; the region ends at the base
    stack_offset = img.append(call_stack(arch, sc, rng, top_of_stack, stack_size))

    kdbg_size = 0x340 if sc["build"] < 10240 else 0x380  # §5
    kdbg_offset = img.append(debugger_data(arch, sc, kdbg_size))

    # §6: the driver list, then the string pool right after it (at the next 8-byte
    # boundary: the 0x4C-byte x86 entries can end off alignment, and §7 aligns strings).
    stride = 0x90 if is64 else 0x4C
    driver_list_offset = img.append(b"", 8)
    pool_offset = (driver_list_offset + stride * len(drivers) + 7) & ~7
    strings = []
    cursor = pool_offset
    for d in drivers:
        s = dump_string(nt_path(arch, d["name"]))
        strings.append((cursor, s))
        cursor += len(s)
        cursor = (cursor + 7) & ~7  # §7: entries aligned to 8 bytes
    link_base = 0xFFFFB000_10000000 if is64 else 0x84000000
    for i, d in enumerate(drivers):
        flink = sc["ps_loaded_module_list"] if i == len(drivers) - 1 else link_base + (i + 1) * 0xA0
        blink = sc["ps_loaded_module_list"] if i == 0 else link_base + (i - 1) * 0xA0
        img.buf += driver_entry(arch, d, strings[i][0], flink, blink)
    img.align(8)
    assert len(img.buf) == pool_offset
    for at, s in strings:
        img.align(8)
        assert len(img.buf) == at
        img.buf += s
    img.align(8)
    pool_size = len(img.buf) - pool_offset

    # §5 TRIAGE_DATA_BLOCKs: the code page of the faulting instruction, the PE header page
    # of the faulting driver, and a page of kernel data.
    fault_driver = sc["fault_driver"]
    blocks = [
        (sc["fault_ip"] & ~(PAGE - 1), code_page(rng)),
        (fault_driver["base"], pe_header_page(arch, fault_driver)),
        (nt["base"] + 0x400000 + rng.randint(0, 0xFF) * PAGE,
         bytes(rng.randrange(256) for _ in range(PAGE))),
    ]
    blocks_offset = img.append(bytes(16 * len(blocks)))
    for i, (address, data) in enumerate(blocks):
        at = img.append(data)
        img.put(blocks_offset + 16 * i, "QII", sign_extend(arch, address), at, len(data))

    # The 'TRGD' valid marker is the last u32 of the triage part (§5 ValidOffset).
    img.align(8)
    if not is64:
        # Win7 sizes the triage part in whole pages (§5 SizeOfDump).
        while (len(img.buf) + 4) % PAGE:
            img.buf.append(0)
    valid_offset = len(img.buf)
    img.buf += TRIAGE_VALID
    size_of_dump = len(img.buf)

    blob = dump_blobs(sc["build"], rng) if arch.name == "x64" else b""
    file_size = size_of_dump + len(blob)

    # --- the header (§2 / §3) ---
    params = sc["params"]
    filetime = int((sc["crash_time"] - FILETIME_EPOCH).total_seconds()) * HUNDRED_NS_PER_SECOND
    uptime = sc["uptime_seconds"] * HUNDRED_NS_PER_SECOND
    frame_pointer = top_of_stack + (stack_size // 2 & ~0xF)
    fault_driver_return = fault_driver["base"] + rng.randint(0x1000, fault_driver["size"] - 1)
    if arch.name == "x64":
        # §8: for a non-exception bugcheck the header context is KeBugCheckEx's.
        context = amd64_context(sc["kebugcheckex"], top_of_stack, frame_pointer)
    elif arch.name == "arm64":
        context = arm64_context(sc["kebugcheckex"], top_of_stack, frame_pointer, fault_driver_return)
    else:
        # §8: for 0x8E the header context is the faulting one (Eip = P2).
        context = x86_context(sc["fault_ip"], top_of_stack, frame_pointer)
        params[2] = frame_pointer - 0x8C  # P3: the trap frame, on the stack

    if is64:
        fields = [
            (0x000, "4s", b"PAGE"), (0x004, "4s", b"DU64"),
            (0x008, "I", 0xF), (0x00C, "I", sc["build"]),
            (0x010, "Q", 0x1AD000 + rng.randint(0, 0xFFFF) * PAGE),
            (0x018, "Q", 0xFFFFA780_00000000), (0x020, "Q", sc["ps_loaded_module_list"]),
            (0x028, "Q", sc["ps_loaded_module_list"] - 0x9000),
            (0x030, "I", arch.machine), (0x034, "I", sc["processors"]),
            (0x038, "I", sc["code"]),
            (0x040, "QQQQ", *params),
            (0x080, "Q", kdbg_va),
            (0xF98, "I", DUMP_TYPE_TRIAGE),
            (0xFA0, "Q", file_size + rng.randint(1, 0x80) * PAGE),  # §2: larger than the file on Win10/11
            (0xFA8, "Q", filetime),
            (0x1030, "Q", uptime),
            (0x1038, "I", BASIC_INFO | TRIAGE_DEBUGGER_DATA | TRIAGE_DATA_BLOCKS),  # 0xCFF as in the samples
            (0x1040, "I", 1), (0x1044, "I", 0x110), (0x1048, "I", 0),
        ]
        img.buf[0x348:0x348 + len(context)] = context
        # §8: the header exception record is a synthetic breakpoint at KeBugCheckEx.
        img.put(0xF00, "IIQQII", 0x80000003, 0, 0, sc["kebugcheckex"], 0, 0)
        img.buf[0xF20:0xF98] = bytes(0x78)
        boot_id = None
        if arch.name == "arm64":
            boot_id = rng.randint(1, 0x40)
            fields.append((0x1054, "I", boot_id))  # §2: set on 22000 ARM64, "PAGE" on 19041
    else:
        fields = [
            (0x00, "4s", b"PAGE"), (0x04, "4s", b"DUMP"),
            (0x08, "I", 0xF), (0x0C, "I", sc["build"]),
            (0x10, "I", 0x185000 + rng.randint(0, 0xFF) * 0x20),
            (0x14, "I", 0x84000000), (0x18, "I", sc["ps_loaded_module_list"]),
            (0x1C, "I", sc["ps_loaded_module_list"] - 0x9000),
            (0x20, "I", arch.machine), (0x24, "I", sc["processors"]),
            (0x28, "I", sc["code"]),
            (0x2C, "IIII", *params),
            (0x5C, "B", 1),  # PaeEnabled
            (0x60, "I", kdbg_va),
            (0xF88, "I", DUMP_TYPE_TRIAGE),
            (0xF8C, "I", BASIC_INFO | TRIAGE_MMINFO | TRIAGE_DEBUGGER_DATA | TRIAGE_DATA_BLOCKS),  # 0xDFF
            (0xF94, "I", 1), (0xF98, "I", 0x110), (0xF9C, "I", 0),
            (0xFA0, "Q", file_size),  # §2: equals the file size on Win7
            (0xFB8, "Q", uptime),
            (0xFC0, "Q", filetime),
        ]
        img.buf[0x320:0x320 + len(context)] = context
        img.put(0x7D0, "IIIII", 0x80000003, 0, 0, sc["kebugcheckex"], 0)
        img.buf[0x7E4:0x820] = bytes(0x3C)
        boot_id = None
    for offset, fmt, *values in fields:
        img.put(offset, fmt, *values)

    # --- the triage header (§5) ---
    t = header_size
    common_fields = [
        0x100 if sc["build"] == 7601 else 0,  # ServicePackBuild
        size_of_dump, valid_offset,
        0x348 if is64 else 0x320,  # ContextOffset
        0xF00 if is64 else 0x7D0,  # ExceptionOffset
        mm_offset, unloaded_offset, prcb_offset, process_offset, thread_offset,
        stack_offset, stack_size, driver_list_offset, len(drivers), pool_offset, pool_size,
        0,  # BrokenDriverOffset
        0xFFFFFFFF if is64 else 0,  # TriageOptions
    ]
    img.put(t, "18I", *common_fields)
    if is64:
        img.put(t + 0x48, "Q", top_of_stack)
        img.put(t + 0x70, "IIII", kdbg_offset, kdbg_size, blocks_offset, len(blocks))
    else:
        img.put(t + 0x48, "I", top_of_stack)
        img.put(t + 0x58, "IIII", kdbg_offset, kdbg_size, blocks_offset, len(blocks))

    assert img.buf[valid_offset:valid_offset + 4] == TRIAGE_VALID
    data = bytes(img.buf) + blob
    assert len(data) == file_size

    facts = {
        "format": "kernel-triage",
        "arch": arch.report_name,
        "os_build": sc["build"],
        "processors": sc["processors"],
        "product_type": "workstation",
        "crash_time": sc["crash_time"].strftime("%Y-%m-%dT%H:%M:%SZ"),
        "uptime_seconds": sc["uptime_seconds"],
        "boot_id": boot_id,
        "bugcheck": {
            "code": sc["code"],
            "code_hex": "0x%X" % sc["code"],
            "name": sc["name"],
            "parameters": [hexs(p) for p in params],
        },
        "fault": {
            "address": hexs(sc["fault_ip"]),
            "module": fault_driver["name"],
            "module_base": hexs(fault_driver["base"]),
            "module_size": fault_driver["size"],
            "module_timestamp": fault_driver["timestamp"],
            "offset": hexs(sc["fault_ip"] - fault_driver["base"]),
        },
        "driver_count": len(drivers),
        "unloaded_count": len(sc["unloaded"]),
        "stack": {"top": hexs(top_of_stack), "size": stack_size},
        "size_of_dump": size_of_dump,
        "file_size": file_size,
    }
    return data, facts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", required=True, choices=["x64", "x86", "arm64"])
    parser.add_argument("--out", required=True, help="the .dmp file to write")
    parser.add_argument("--seed", type=int, default=1, help="varies the content (default 1)")
    args = parser.parse_args(argv)
    data, facts = write_dump(Arch(args.arch), args.seed)
    with open(args.out, "wb") as f:
        f.write(data)
    json.dump(facts, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
