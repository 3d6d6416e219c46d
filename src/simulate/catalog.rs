//! What a simulated machine loads: the kernel-module catalogue, in Windows load order, with
//! the features of a host that make Windows load each one, and the fixture drivers whose real
//! PE + PDB live in `symbols-cache/`.
//!
//! Names, paths and image sizes follow real Windows 10/11 x64 systems (the driver list of the
//! real Win10 19041 sample among them). Timestamps of Microsoft binaries are reproducible-build
//! hashes on Windows 10 and later, so they are derived per (name, build); third-party drivers
//! carry a fixed link date.

use std::sync::OnceLock;

use serde::Deserialize;

use super::rng::hash_str;

/// Host features a catalogue entry can require (an entry loads when the host has every bit
/// of its `needs`).
pub mod feature {
    pub const PHYSICAL: u32 = 1 << 0;
    pub const VM: u32 = 1 << 1;
    /// Workstations, kiosks and terminals.
    pub const CLIENT: u32 = 1 << 2;
    pub const SERVER: u32 = 1 << 3;
    pub const LAPTOP: u32 = 1 << 4;
    pub const GPU_NVIDIA: u32 = 1 << 5;
    pub const GPU_INTEL: u32 = 1 << 6;
    pub const GPU_VMWARE: u32 = 1 << 7;
    pub const GPU_QUALCOMM: u32 = 1 << 8;
    pub const NVME: u32 = 1 << 9;
    /// Intel Rapid Storage Technology (iaStorAC.sys).
    pub const INTEL_RST: u32 = 1 << 10;
    /// HPE Smart Array (smartpqi.sys).
    pub const SMARTPQI: u32 = 1 << 11;
    pub const CROWDSTRIKE: u32 = 1 << 12;
    /// The Acme VPN client (acmenet.sys filter + AcmeVpnService.exe).
    pub const ACME_VPN: u32 = 1 << 13;
    /// The Acme backup agent (acmeflt.sys filter + AcmeBackupAgent.exe).
    pub const ACME_BACKUP: u32 = 1 << 14;
    /// x64 or x86 (not ARM64).
    pub const INTEL_ARCH: u32 = 1 << 15;
    pub const ARM64: u32 = 1 << 16;
    /// Windows 10 / Server 2016 or later (not Windows 7).
    pub const WIN10: u32 = 1 << 17;
    pub const INTEL_CPU: u32 = 1 << 18;
    pub const AMD_CPU: u32 = 1 << 19;
    pub const AUDIO: u32 = 1 << 20;
    pub const WIFI: u32 = 1 << 21;
    pub const X64: u32 = 1 << 22;
    pub const HYPERV_GUEST: u32 = 1 << 23;
    /// 32-bit x86.
    pub const X86: u32 = 1 << 24;
    /// Windows 7 (build 7601): its own set of legacy drivers.
    pub const WIN7: u32 = 1 << 25;
}

use feature::*;

/// One kernel module a machine may load.
#[derive(Debug, Clone, Copy)]
pub struct DriverDef {
    /// The full NT path as x64 Windows 10 lists it.
    pub path: &'static str,
    /// SizeOfImage.
    pub size: u32,
    /// Features the host must have.
    pub needs: u32,
    /// Fixed TimeDateStamp for third-party drivers; 0 for Microsoft binaries (derived).
    pub timestamp: u32,
}

const fn ms(path: &'static str, size: u32, needs: u32) -> DriverDef {
    DriverDef {
        path,
        size,
        needs,
        timestamp: 0,
    }
}

const fn vendor(path: &'static str, size: u32, needs: u32, timestamp: u32) -> DriverDef {
    DriverDef {
        path,
        size,
        needs,
        timestamp,
    }
}

/// Paths of the modules the scenarios crash in, so code can find them in a layout.
pub const NTOSKRNL: &str = r"\SystemRoot\system32\ntoskrnl.exe";
pub const CSAGENT: &str = r"\SystemRoot\System32\drivers\CrowdStrike\csagent.sys";
pub const ACMENET: &str = r"\SystemRoot\System32\drivers\acmenet.sys";
pub const ACMEFLT: &str = r"\SystemRoot\System32\drivers\acmeflt.sys";

/// The catalogue in load order: boot-start drivers first (as the loader lists them), then the
/// system-start and PnP drivers, then the demand-start ones loaded late in boot.
pub const CATALOGUE: &[DriverDef] = &[
    ms(NTOSKRNL, 0x104_6000, 0),
    ms(r"\SystemRoot\system32\hal.dll", 0x6000, 0),
    ms(r"\SystemRoot\system32\kd.dll", 0xb000, 0),
    ms(
        r"\SystemRoot\system32\mcupdate_GenuineIntel.dll",
        0x1ae000,
        INTEL_CPU,
    ),
    ms(
        r"\SystemRoot\system32\mcupdate_AuthenticAMD.dll",
        0x29000,
        AMD_CPU,
    ),
    ms(r"\SystemRoot\System32\drivers\CLFS.SYS", 0x6a000, 0),
    ms(r"\SystemRoot\System32\drivers\tm.sys", 0x27000, 0),
    ms(r"\SystemRoot\system32\PSHED.dll", 0x1a000, 0),
    ms(r"\SystemRoot\system32\BOOTVID.dll", 0xb000, 0),
    ms(r"\SystemRoot\System32\drivers\FLTMGR.SYS", 0x6f000, 0),
    ms(r"\SystemRoot\System32\drivers\msrpc.sys", 0x62000, 0),
    ms(r"\SystemRoot\System32\drivers\ksecdd.sys", 0x29000, 0),
    ms(r"\SystemRoot\System32\drivers\clipsp.sys", 0x113000, WIN10),
    ms(r"\SystemRoot\System32\drivers\cmimcext.sys", 0xe000, 0),
    ms(
        r"\SystemRoot\System32\drivers\werkernel.sys",
        0x11000,
        WIN10,
    ),
    ms(r"\SystemRoot\System32\drivers\ntosext.sys", 0xc000, WIN10),
    ms(r"\SystemRoot\system32\CI.dll", 0xe3000, 0),
    ms(r"\SystemRoot\System32\drivers\cng.sys", 0xb7000, 0),
    ms(r"\SystemRoot\system32\drivers\Wdf01000.sys", 0xd1000, 0),
    ms(r"\SystemRoot\system32\drivers\WDFLDR.SYS", 0x13000, 0),
    ms(
        r"\SystemRoot\system32\drivers\WppRecorder.sys",
        0x11000,
        WIN10,
    ),
    ms(
        r"\SystemRoot\system32\drivers\SleepStudyHelper.sys",
        0xf000,
        WIN10 | CLIENT,
    ),
    ms(r"\SystemRoot\System32\Drivers\acpiex.sys", 0x26000, WIN10),
    ms(r"\SystemRoot\system32\drivers\mssecflt.sys", 0x4b000, WIN10),
    ms(
        r"\SystemRoot\system32\drivers\SgrmAgent.sys",
        0x1a000,
        WIN10 | INTEL_ARCH,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\CrowdStrike\csboot.sys",
        0x1b000,
        CROWDSTRIKE,
        0x6672_a1c4,
    ),
    ms(r"\SystemRoot\System32\drivers\ACPI.sys", 0xcc000, 0),
    ms(r"\SystemRoot\System32\drivers\WMILIB.SYS", 0xc000, 0),
    ms(
        r"\SystemRoot\System32\drivers\intelpep.sys",
        0x6b000,
        WIN10 | INTEL_ARCH,
    ),
    ms(
        r"\SystemRoot\system32\drivers\WindowsTrustedRT.sys",
        0x17000,
        WIN10,
    ),
    ms(
        r"\SystemRoot\System32\drivers\WindowsTrustedRTProxy.sys",
        0xb000,
        WIN10,
    ),
    ms(r"\SystemRoot\System32\drivers\pcw.sys", 0x14000, 0),
    ms(
        r"\SystemRoot\System32\drivers\msisadrv.sys",
        0xb000,
        INTEL_ARCH,
    ),
    ms(r"\SystemRoot\System32\drivers\pci.sys", 0x76000, 0),
    ms(r"\SystemRoot\System32\drivers\vdrvroot.sys", 0x15000, 0),
    ms(r"\SystemRoot\system32\drivers\pdc.sys", 0x2f000, WIN10),
    ms(r"\SystemRoot\system32\drivers\CEA.sys", 0x19000, WIN10),
    ms(r"\SystemRoot\System32\drivers\partmgr.sys", 0x31000, 0),
    ms(r"\SystemRoot\System32\drivers\spaceport.sys", 0xaa000, 0),
    ms(r"\SystemRoot\System32\drivers\volmgr.sys", 0x19000, 0),
    ms(r"\SystemRoot\System32\drivers\volmgrx.sys", 0x63000, 0),
    ms(r"\SystemRoot\System32\drivers\mountmgr.sys", 0x1e000, 0),
    vendor(
        r"\SystemRoot\System32\drivers\vmci.sys",
        0x1c000,
        VM,
        0x5d2d_5aa6,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\vsock.sys",
        0x18000,
        VM,
        0x5d2d_5ae7,
    ),
    ms(r"\SystemRoot\System32\drivers\storahci.sys", 0x32000, 0),
    ms(r"\SystemRoot\System32\drivers\storport.sys", 0xb3000, 0),
    ms(r"\SystemRoot\System32\drivers\stornvme.sys", 0x2b000, NVME),
    vendor(
        r"\SystemRoot\System32\drivers\iaStorAC.sys",
        0x1b5000,
        INTEL_RST,
        0x5f3e_9c12,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\smartpqi.sys",
        0x6c000,
        SMARTPQI,
        0x6138_c2aa,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\pvscsi.sys",
        0x1f000,
        VM,
        0x5f6b_41d0,
    ),
    ms(
        r"\SystemRoot\System32\drivers\EhStorClass.sys",
        0x1c000,
        CLIENT,
    ),
    ms(r"\SystemRoot\System32\drivers\fileinfo.sys", 0x1a000, 0),
    ms(r"\SystemRoot\System32\Drivers\Wof.sys", 0x3f000, WIN10),
    ms(
        r"\SystemRoot\system32\drivers\wd\WdFilter.sys",
        0x69000,
        WIN10,
    ),
    vendor(CSAGENT, 0x41b000, CROWDSTRIKE, 0x6686_1cf6),
    ms(r"\SystemRoot\System32\Drivers\Ntfs.sys", 0x2d9000, 0),
    ms(r"\SystemRoot\System32\Drivers\Fs_Rec.sys", 0xd000, 0),
    ms(r"\SystemRoot\system32\drivers\ndis.sys", 0x16f000, 0),
    ms(r"\SystemRoot\system32\drivers\NETIO.SYS", 0x98000, 0),
    ms(r"\SystemRoot\System32\Drivers\ksecpkg.sys", 0x32000, 0),
    ms(r"\SystemRoot\System32\drivers\tcpip.sys", 0x2eb000, 0),
    ms(r"\SystemRoot\System32\drivers\fwpkclnt.sys", 0x7f000, 0),
    ms(r"\SystemRoot\System32\drivers\wfplwfs.sys", 0x30000, WIN10),
    ms(r"\SystemRoot\System32\DRIVERS\fvevol.sys", 0xc8000, 0),
    ms(r"\SystemRoot\System32\drivers\volume.sys", 0xb000, 0),
    ms(r"\SystemRoot\System32\drivers\volsnap.sys", 0x6d000, 0),
    ms(
        r"\SystemRoot\System32\drivers\rdyboost.sys",
        0x50000,
        CLIENT,
    ),
    ms(r"\SystemRoot\System32\Drivers\mup.sys", 0x26000, 0),
    ms(r"\SystemRoot\system32\drivers\iorate.sys", 0x12000, WIN10),
    ms(r"\SystemRoot\System32\drivers\disk.sys", 0x1c000, 0),
    ms(r"\SystemRoot\System32\drivers\CLASSPNP.SYS", 0x6c000, 0),
    vendor(
        r"\SystemRoot\System32\drivers\CrowdStrike\cspcm4.sys",
        0x2b000,
        CROWDSTRIKE,
        0x6672_a1f0,
    ),
    ms(r"\SystemRoot\System32\Drivers\crashdmp.sys", 0x1e000, 0),
    ms(
        r"\SystemRoot\System32\Drivers\dump_dumpstorport.sys",
        0xe000,
        WIN10,
    ),
    ms(
        r"\SystemRoot\System32\drivers\dump_stornvme.sys",
        0x2b000,
        NVME,
    ),
    ms(
        r"\SystemRoot\System32\Drivers\dump_storahci.sys",
        0x32000,
        0,
    ),
    ms(r"\SystemRoot\System32\Drivers\dump_dumpfve.sys", 0x1d000, 0),
    ms(r"\SystemRoot\System32\drivers\cdrom.sys", 0x30000, PHYSICAL),
    ms(
        r"\SystemRoot\system32\drivers\filecrypt.sys",
        0x15000,
        WIN10,
    ),
    ms(r"\SystemRoot\system32\drivers\tbs.sys", 0xe000, 0),
    ms(r"\SystemRoot\System32\Drivers\Null.SYS", 0xa000, 0),
    ms(r"\SystemRoot\System32\Drivers\Beep.SYS", 0xa000, 0),
    ms(r"\SystemRoot\System32\drivers\dxgkrnl.sys", 0x3a4000, 0),
    ms(r"\SystemRoot\System32\drivers\watchdog.sys", 0x18000, 0),
    ms(
        r"\SystemRoot\System32\DriverStore\FileRepository\basicdisplay.inf_amd64_62ba5773ba05edee\BasicDisplay.sys",
        0x16000,
        WIN10,
    ),
    ms(
        r"\SystemRoot\System32\DriverStore\FileRepository\basicrender.inf_amd64_49a8589f00d970d9\BasicRender.sys",
        0x11000,
        WIN10,
    ),
    ms(r"\SystemRoot\System32\Drivers\Npfs.SYS", 0x1c000, 0),
    ms(r"\SystemRoot\System32\Drivers\Msfs.SYS", 0x11000, 0),
    ms(r"\SystemRoot\System32\Drivers\CimFS.SYS", 0x1b000, WIN10),
    ms(r"\SystemRoot\system32\DRIVERS\tdx.sys", 0x22000, 0),
    ms(r"\SystemRoot\system32\DRIVERS\TDI.SYS", 0x10000, 0),
    ms(r"\SystemRoot\system32\drivers\ws2ifsl.sys", 0xe000, 0),
    ms(r"\SystemRoot\System32\DRIVERS\netbt.sys", 0x5c000, 0),
    ms(r"\SystemRoot\system32\drivers\afunix.sys", 0x13000, WIN10),
    ms(r"\SystemRoot\system32\drivers\afd.sys", 0xa3000, 0),
    ms(r"\SystemRoot\System32\drivers\vwififlt.sys", 0x1a000, WIFI),
    ms(r"\SystemRoot\System32\drivers\pacer.sys", 0x2b000, 0),
    ms(r"\SystemRoot\System32\drivers\ndiscap.sys", 0x14000, WIN10),
    ms(r"\SystemRoot\system32\drivers\netbios.sys", 0x14000, 0),
    vendor(ACMENET, 0x5000, ACME_VPN, 0), // timestamp and size come from the fixture
    ms(r"\SystemRoot\system32\DRIVERS\rdbss.sys", 0x7c000, 0),
    ms(r"\SystemRoot\system32\drivers\csc.sys", 0x94000, CLIENT),
    ms(r"\SystemRoot\system32\drivers\nsiproxy.sys", 0x12000, 0),
    ms(r"\SystemRoot\System32\drivers\npsvctrig.sys", 0xe000, WIN10),
    ms(r"\SystemRoot\System32\drivers\mssmbios.sys", 0x10000, 0),
    ms(
        r"\SystemRoot\System32\drivers\gpuenergydrv.sys",
        0xa000,
        WIN10,
    ),
    ms(r"\SystemRoot\System32\Drivers\dfsc.sys", 0x2c000, 0),
    ms(r"\SystemRoot\System32\Drivers\fastfat.SYS", 0x6c000, 0),
    ms(r"\SystemRoot\system32\drivers\bam.sys", 0x17000, WIN10),
    ms(r"\SystemRoot\system32\DRIVERS\ahcache.sys", 0x4e000, WIN10),
    ms(
        r"\SystemRoot\System32\DriverStore\FileRepository\compositebus.inf_amd64_7500cffa210c6946\CompositeBus.sys",
        0x12000,
        WIN10,
    ),
    ms(r"\SystemRoot\System32\drivers\kdnic.sys", 0xd000, WIN10),
    ms(
        r"\SystemRoot\System32\DriverStore\FileRepository\umbus.inf_amd64_b78a9c5b6fd62c27\umbus.sys",
        0x15000,
        0,
    ),
    ms(
        r"\SystemRoot\System32\drivers\USBXHCI.SYS",
        0x98000,
        PHYSICAL,
    ),
    ms(
        r"\SystemRoot\system32\drivers\ucx01000.sys",
        0x44000,
        PHYSICAL | WIN10,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\e1d68x64.sys",
        0x86000,
        PHYSICAL | CLIENT | INTEL_CPU | X64,
        0x6214_bd31,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\rt640x64.sys",
        0x116000,
        PHYSICAL | CLIENT | AMD_CPU | X64,
        0x5ecc_d269,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\Netwtw10.sys",
        0x570000,
        WIFI | INTEL_CPU,
        0x63e2_8a11,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\bxvbda.sys",
        0x1d8000,
        PHYSICAL | SERVER,
        0x60a4_1f9e,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\vmxnet3.sys",
        0x2d000,
        VM,
        0x5f8e_0b11,
    ),
    vendor(
        r"\SystemRoot\System32\DriverStore\FileRepository\nv_dispi.inf_amd64_3621da861144492b\nvlddmkm.sys",
        0x25e6000,
        GPU_NVIDIA,
        0x6650_7f2d,
    ),
    vendor(
        r"\SystemRoot\System32\DriverStore\FileRepository\iigd_dch.inf_amd64_0ba5c4a6b8d3f2ee\igdkmd64.sys",
        0x1a4c000,
        GPU_INTEL | X64,
        0x6610_3b7a,
    ),
    vendor(
        r"\SystemRoot\System32\DriverStore\FileRepository\qcdx8380.inf_arm64_9d1f0c2b6e5a7f31\qcdx8380.sys",
        0xa18000,
        GPU_QUALCOMM,
        0x65f1_44c8,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\vm3dmp.sys",
        0x3c000,
        GPU_VMWARE,
        0x5f9b_2e40,
    ),
    ms(r"\SystemRoot\System32\drivers\HDAudBus.sys", 0x25000, AUDIO),
    ms(r"\SystemRoot\System32\drivers\portcls.sys", 0x66000, AUDIO),
    ms(r"\SystemRoot\System32\drivers\drmk.sys", 0x21000, AUDIO),
    ms(r"\SystemRoot\System32\drivers\ks.sys", 0x76000, 0),
    vendor(
        r"\SystemRoot\System32\drivers\RTKVHD64.sys",
        0x5d2000,
        AUDIO | X64,
        0x6419_5c04,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\RTKVHDA.sys",
        0x3c8000,
        AUDIO | X86,
        0x5c8a_11e2,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\igdkmd32.sys",
        0xd6e000,
        GPU_INTEL | X86,
        0x5b9f_3d20,
    ),
    vendor(
        r"\SystemRoot\System32\drivers\e1k6232.sys",
        0x4a000,
        PHYSICAL | CLIENT | X86,
        0x5a1e_6b54,
    ),
    ms(
        r"\SystemRoot\System32\Drivers\UcmCx.sys",
        0x2c000,
        LAPTOP | WIN10,
    ),
    ms(
        r"\SystemRoot\System32\Drivers\msgpioclx.sys",
        0x32000,
        LAPTOP | WIN10,
    ),
    ms(
        r"\SystemRoot\System32\drivers\wmiacpi.sys",
        0xc000,
        PHYSICAL,
    ),
    ms(
        r"\SystemRoot\System32\drivers\intelppm.sys",
        0x45000,
        INTEL_CPU,
    ),
    ms(r"\SystemRoot\System32\drivers\amdppm.sys", 0x3b000, AMD_CPU),
    ms(r"\SystemRoot\System32\drivers\CmBatt.sys", 0xf000, LAPTOP),
    ms(r"\SystemRoot\System32\drivers\BATTC.SYS", 0x11000, LAPTOP),
    ms(
        r"\SystemRoot\System32\DriverStore\FileRepository\uefi.inf_amd64_c1628ffa62c8e54c\UEFI.sys",
        0xe000,
        WIN10,
    ),
    ms(
        r"\SystemRoot\System32\drivers\vmbusr.sys",
        0x48000,
        HYPERV_GUEST,
    ),
    ms(r"\SystemRoot\System32\drivers\hvsocket.sys", 0x2a000, WIN10),
    ms(
        r"\SystemRoot\System32\drivers\NdisVirtualBus.sys",
        0xd000,
        WIN10,
    ),
    ms(
        r"\SystemRoot\System32\DriverStore\FileRepository\swenum.inf_amd64_16a14542b63c02af\swenum.sys",
        0xc000,
        0,
    ),
    ms(r"\SystemRoot\System32\drivers\rdpbus.sys", 0xe000, 0),
    ms(
        r"\SystemRoot\System32\drivers\usbhub3.sys",
        0xa2000,
        PHYSICAL | WIN10,
    ),
    ms(r"\SystemRoot\System32\drivers\USBD.SYS", 0xd000, PHYSICAL),
    ms(
        r"\SystemRoot\System32\drivers\usbccgp.sys",
        0x3c000,
        PHYSICAL | CLIENT,
    ),
    ms(
        r"\SystemRoot\System32\drivers\hidusb.sys",
        0x14000,
        PHYSICAL | CLIENT,
    ),
    ms(r"\SystemRoot\System32\drivers\HIDCLASS.SYS", 0x46000, 0),
    ms(r"\SystemRoot\System32\drivers\HIDPARSE.SYS", 0x13000, 0),
    ms(r"\SystemRoot\System32\drivers\kbdhid.sys", 0xf000, CLIENT),
    ms(r"\SystemRoot\System32\drivers\kbdclass.sys", 0x13000, 0),
    ms(r"\SystemRoot\System32\drivers\mouhid.sys", 0xe000, CLIENT),
    ms(r"\SystemRoot\System32\drivers\mouclass.sys", 0x12000, 0),
    ms(r"\SystemRoot\System32\drivers\i8042prt.sys", 0x22000, VM),
    ms(r"\SystemRoot\System32\drivers\BthEnum.sys", 0x14000, LAPTOP),
    ms(
        r"\SystemRoot\System32\drivers\bthport.sys",
        0x173000,
        LAPTOP,
    ),
    ms(r"\SystemRoot\System32\drivers\BTHUSB.sys", 0x1b000, LAPTOP),
    ms(r"\SystemRoot\System32\drivers\rfcomm.sys", 0x2f000, LAPTOP),
    ms(r"\SystemRoot\System32\drivers\nwifi.sys", 0x8c000, WIFI),
    ms(r"\SystemRoot\System32\drivers\wdiwifi.sys", 0xf7000, WIFI),
    ms(r"\SystemRoot\System32\drivers\vwifibus.sys", 0xd000, WIFI),
    ms(r"\SystemRoot\system32\DRIVERS\monitor.sys", 0x14000, CLIENT),
    ms(r"\SystemRoot\System32\drivers\dxgmms2.sys", 0x15f000, WIN10),
    ms(r"\SystemRoot\System32\drivers\dxgmms1.sys", 0x9a000, 0),
    ms(r"\SystemRoot\system32\drivers\luafv.sys", 0x2d000, 0),
    ms(r"\SystemRoot\system32\drivers\wcifs.sys", 0x2b000, WIN10),
    ms(
        r"\SystemRoot\system32\drivers\cldflt.sys",
        0xa0000,
        WIN10 | CLIENT,
    ),
    ms(
        r"\SystemRoot\system32\drivers\storqosflt.sys",
        0x16000,
        WIN10,
    ),
    ms(r"\SystemRoot\system32\drivers\bindflt.sys", 0x24000, WIN10),
    vendor(ACMEFLT, 0x5000, ACME_BACKUP, 0), // version-dependent, see `acmeflt_timestamp`
    ms(r"\SystemRoot\system32\DRIVERS\lltdio.sys", 0x1a000, 0),
    ms(r"\SystemRoot\system32\DRIVERS\mslldp.sys", 0x19000, WIN10),
    ms(r"\SystemRoot\system32\DRIVERS\rspndr.sys", 0x1c000, 0),
    ms(r"\SystemRoot\System32\DRIVERS\wanarp.sys", 0x1b000, 0),
    ms(r"\SystemRoot\System32\drivers\ndisuio.sys", 0x15000, 0),
    ms(r"\SystemRoot\system32\DRIVERS\mrxsmb.sys", 0x89000, 0),
    ms(r"\SystemRoot\system32\DRIVERS\mrxsmb20.sys", 0x47000, 0),
    ms(r"\SystemRoot\system32\DRIVERS\bowser.sys", 0x24000, 0),
    ms(r"\SystemRoot\System32\DRIVERS\srvnet.sys", 0x58000, 0),
    ms(r"\SystemRoot\System32\DRIVERS\srv2.sys", 0xd6000, 0),
    ms(r"\SystemRoot\system32\drivers\HTTP.sys", 0x1a6000, 0),
    ms(r"\SystemRoot\System32\drivers\mpsdrv.sys", 0x1a000, 0),
    ms(r"\SystemRoot\system32\drivers\peauth.sys", 0xa6000, 0),
    ms(r"\SystemRoot\System32\drivers\tcpipreg.sys", 0x14000, 0),
    ms(
        r"\SystemRoot\system32\drivers\wd\WdNisDrv.sys",
        0x1b000,
        WIN10,
    ),
    ms(r"\SystemRoot\system32\drivers\mmcss.sys", 0x12000, 0),
    ms(r"\SystemRoot\System32\drivers\rassstp.sys", 0x1f000, 0),
    ms(r"\SystemRoot\System32\DRIVERS\NDProxy.sys", 0x1b000, 0),
    ms(r"\SystemRoot\System32\drivers\AgileVpn.sys", 0x28000, 0),
    ms(r"\SystemRoot\System32\drivers\rasl2tp.sys", 0x22000, 0),
    ms(r"\SystemRoot\System32\drivers\raspptp.sys", 0x21000, 0),
    ms(r"\SystemRoot\System32\DRIVERS\raspppoe.sys", 0x1c000, 0),
    ms(r"\SystemRoot\System32\DRIVERS\ndistapi.sys", 0x10000, 0),
    ms(r"\SystemRoot\System32\drivers\ndiswan.sys", 0x3b000, 0),
    ms(r"\SystemRoot\system32\drivers\WUDFRd.sys", 0x5c000, 0),
    ms(r"\SystemRoot\System32\drivers\condrv.sys", 0x17000, 0),
    ms(
        r"\SystemRoot\System32\drivers\Ndu.sys",
        0x2c000,
        WIN10 | CLIENT,
    ),
    ms(r"\SystemRoot\System32\drivers\vmhgfs.sys", 0x27000, VM),
    ms(r"\SystemRoot\System32\drivers\vmmemctl.sys", 0xc000, VM),
    ms(
        r"\SystemRoot\System32\drivers\xboxgip.sys",
        0x38000,
        LAPTOP | WIN10,
    ),
    ms(r"\SystemRoot\System32\drivers\WinMad.sys", 0xb000, SERVER),
    ms(r"\SystemRoot\System32\drivers\WinVerbs.sys", 0xc000, SERVER),
    ms(r"\SystemRoot\System32\drivers\msiscsi.sys", 0x4e000, SERVER),
    ms(r"\SystemRoot\System32\drivers\mpio.sys", 0x4d000, SERVER),
    ms(r"\SystemRoot\System32\drivers\msdsm.sys", 0x30000, SERVER),
    ms(
        r"\SystemRoot\System32\Drivers\ReFS.SYS",
        0x3a2000,
        SERVER | WIN10,
    ),
    ms(r"\SystemRoot\System32\drivers\dfs.sys", 0x6a000, SERVER),
    ms(r"\SystemRoot\System32\drivers\dfsr.sys", 0x1c000, SERVER),
    ms(
        r"\SystemRoot\System32\drivers\scfilter.sys",
        0x1d000,
        CLIENT,
    ),
    ms(r"\SystemRoot\System32\drivers\tpm.sys", 0x53000, WIN10),
    ms(r"\SystemRoot\System32\drivers\Tppwr32v.sys", 0xa000, LAPTOP),
    ms(
        r"\SystemRoot\System32\drivers\WinAccel.sys",
        0x13000,
        LAPTOP,
    ),
    ms(
        r"\SystemRoot\system32\DRIVERS\nvvhci.sys",
        0x13000,
        GPU_NVIDIA,
    ),
    vendor(
        r"\SystemRoot\system32\DRIVERS\nvvad64v.sys",
        0x11000,
        GPU_NVIDIA,
        0x6650_7a03,
    ),
    ms(
        r"\SystemRoot\System32\drivers\spaceparser.sys",
        0x12000,
        WIN10,
    ),
    ms(
        r"\SystemRoot\System32\drivers\cimfsfilt.sys",
        0x10000,
        WIN10,
    ),
    // Windows 7: the legacy IDE/ATA stack, the XDDM display path, win32k and friends, which
    // its kernel module list carries (193 modules in the real Win7 x86 sample).
    ms(r"\SystemRoot\system32\drivers\PCIIDEX.SYS", 0x10000, WIN7),
    ms(r"\SystemRoot\system32\drivers\intelide.sys", 0x8000, WIN7),
    ms(r"\SystemRoot\system32\drivers\atapi.sys", 0x9000, WIN7),
    ms(r"\SystemRoot\system32\drivers\ataport.SYS", 0x23000, WIN7),
    ms(r"\SystemRoot\system32\drivers\amdxata.sys", 0x9000, WIN7),
    ms(r"\SystemRoot\system32\drivers\msahci.sys", 0xb000, WIN7),
    ms(r"\SystemRoot\system32\drivers\isapnp.sys", 0x8000, WIN7),
    ms(r"\SystemRoot\system32\drivers\compbatt.sys", 0x9000, WIN7),
    ms(r"\SystemRoot\system32\drivers\rdprefmp.sys", 0x8000, WIN7),
    ms(r"\SystemRoot\system32\drivers\RDPCDD.sys", 0x8000, WIN7),
    ms(r"\SystemRoot\system32\drivers\RDPENCDD.sys", 0x8000, WIN7),
    ms(r"\SystemRoot\system32\drivers\termdd.sys", 0x11000, WIN7),
    ms(r"\SystemRoot\system32\drivers\vga.sys", 0xc000, WIN7),
    ms(r"\SystemRoot\System32\drivers\VIDEOPRT.SYS", 0x21000, WIN7),
    ms(r"\SystemRoot\System32\drivers\Dxapi.sys", 0xa000, WIN7),
    ms(r"\SystemRoot\System32\win32k.sys", 0x24a000, WIN7),
    ms(r"\SystemRoot\System32\TSDDD.dll", 0x9000, WIN7),
    ms(r"\SystemRoot\System32\cdd.dll", 0x1e000, WIN7),
    ms(r"\SystemRoot\System32\ATMFD.DLL", 0x51000, WIN7),
    ms(r"\SystemRoot\system32\drivers\USBPORT.SYS", 0x42000, WIN7),
    ms(r"\SystemRoot\system32\drivers\usbuhci.sys", 0xb000, WIN7),
    ms(r"\SystemRoot\system32\drivers\usbehci.sys", 0xf000, WIN7),
    ms(r"\SystemRoot\system32\drivers\usbhub.sys", 0x51000, WIN7),
    ms(r"\SystemRoot\system32\drivers\parport.sys", 0x19000, WIN7),
    ms(r"\SystemRoot\system32\drivers\serial.sys", 0x15000, WIN7),
    ms(r"\SystemRoot\system32\drivers\serenum.sys", 0x8000, WIN7),
    ms(r"\SystemRoot\system32\drivers\fdc.sys", 0xb000, WIN7),
    ms(
        r"\SystemRoot\system32\drivers\i8042prt.sys",
        0x1a000,
        WIN7 | PHYSICAL,
    ),
    ms(r"\SystemRoot\system32\drivers\blbdrive.sys", 0x11000, WIN7),
    ms(r"\SystemRoot\system32\drivers\secdrv.SYS", 0xa000, WIN7),
    ms(r"\SystemRoot\system32\drivers\spsys.sys", 0x71000, WIN7),
    ms(r"\SystemRoot\system32\drivers\discache.sys", 0xd000, WIN7),
    ms(r"\SystemRoot\system32\drivers\tssecsrv.sys", 0xb000, WIN7),
    ms(r"\SystemRoot\system32\drivers\RDPWD.SYS", 0x2b000, WIN7),
    ms(r"\SystemRoot\system32\drivers\tdtcp.sys", 0xd000, WIN7),
    ms(r"\SystemRoot\system32\drivers\tdpipe.sys", 0x9000, WIN7),
    ms(r"\SystemRoot\system32\drivers\usbprint.sys", 0xa000, WIN7),
    ms(r"\SystemRoot\system32\drivers\usbscan.sys", 0xb000, WIN7),
    ms(r"\SystemRoot\system32\drivers\serscan.sys", 0x9000, WIN7),
];

/// Drivers that load during boot and unload before any crash (what the real samples' unloaded
/// lists hold): name, image size, features needed.
pub const UNLOADED_AT_BOOT: &[(&str, u32, u32)] = &[
    ("dam.sys", 0x1c000, CLIENT | WIN10),
    ("WdBoot.sys", 0x12000, WIN10),
    ("hwpolicy.sys", 0x11000, 0),
    ("mcupdate.dll", 0x29000, INTEL_ARCH),
];

/// The name the dump lists: the full NT path, but bare base names on Windows 7 (as in the
/// real Win7 x86 sample).
pub fn display_path(def: &DriverDef, os_build: u32) -> String {
    let base = def.path.rsplit('\\').next().unwrap_or(def.path);
    if os_build < 9200 {
        // As in the real Win7 x86 sample: "ntoskrnl.exe", "hal.dll", "kdcom.dll", ...
        return if base == "kd.dll" {
            "kdcom.dll".into()
        } else {
            base.to_string()
        };
    }
    def.path.to_string()
}

/// The drivers a host with `features` loads, in load order.
pub fn drivers_for(features: u32) -> impl Iterator<Item = &'static DriverDef> {
    CATALOGUE
        .iter()
        .filter(move |d| d.needs & features == d.needs)
}

/// Whether a module is a Microsoft binary (reproducible-build timestamp).
pub fn is_microsoft(def: &DriverDef) -> bool {
    def.timestamp == 0 && def.path != ACMENET && def.path != ACMEFLT
}

/// TimeDateStamp of a Microsoft binary on a build: a hash of (name, build) on Windows 10 and
/// later (reproducible builds), a late-2010 link date on Windows 7 SP1.
pub fn microsoft_timestamp(path: &str, os_build: u32) -> u32 {
    let h = hash_str(&format!("{path}|{os_build}"));
    if os_build < 9200 {
        0x4ce7_0000 + (h % 0x6_0000) as u32
    } else {
        (h >> 32) as u32
    }
}

/// SizeOfImage varies a little from build to build; the fixtures never do.
pub fn image_size(def: &DriverDef, os_build: u32) -> u32 {
    if !is_microsoft(def) {
        return def.size;
    }
    let h = hash_str(&format!("{}|size|{os_build}", def.path));
    def.size + ((h % 4) as u32) * 0x1000
}

/// A PE CheckSum of about the file size, as the loader copies it.
pub fn checksum(def: &DriverDef, size: u32, os_build: u32) -> u32 {
    let h = hash_str(&format!("{}|sum|{os_build}", def.path));
    (size / 8) * 5 + (h % u64::from(size / 4).max(1)) as u32
}

/// One function of a fixture driver (from `symbols-cache/fixtures.json`).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct FixtureFunction {
    pub rva: u32,
    pub len: u32,
}

/// A fixture driver with a real PE and PDB in `symbols-cache/`.
#[derive(Debug, Clone, Deserialize)]
pub struct FixtureDriver {
    pub timestamp: u32,
    pub size_of_image: u32,
    pub functions: std::collections::BTreeMap<String, FixtureFunction>,
}

impl FixtureDriver {
    /// The RVA of `function` plus `offset`. The names used by the simulator exist in the
    /// committed fixture (a test checks it); a missing one gives the function's image start.
    pub fn rva(&self, function: &str, offset: u32) -> u32 {
        self.functions.get(function).map_or(0x1000, |f| f.rva) + offset
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Fixtures {
    #[serde(rename = "acmenet.sys")]
    pub acmenet: FixtureDriver,
    #[serde(rename = "acmeflt.sys")]
    pub acmeflt: FixtureDriver,
}

/// The fixture facts, compiled in from `symbols-cache/fixtures.json`.
pub fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        // The file is part of the source tree and checked by a test; a parse failure is a
        // build defect. Fall back to the committed values rather than panic.
        serde_json::from_str(include_str!("../../symbols-cache/fixtures.json")).unwrap_or_else(
            |_| Fixtures {
                acmenet: FixtureDriver {
                    timestamp: 0x66A0_B1C3,
                    size_of_image: 0x5000,
                    functions: Default::default(),
                },
                acmeflt: FixtureDriver {
                    timestamp: 0x66A0_B2D4,
                    size_of_image: 0x5000,
                    functions: Default::default(),
                },
            },
        )
    })
}

/// acmeflt.sys before the staged rollout (3.1.4: no symbols published) and after it (3.2.0:
/// the fixture build, whose PDB is in `symbols-cache/`).
pub const ACMEFLT_OLD_VERSION: &str = "3.1.4";
pub const ACMEFLT_NEW_VERSION: &str = "3.2.0";
pub const ACMEFLT_OLD_TIMESTAMP: u32 = 0x65F0_3A10;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_json_has_the_functions_the_scenarios_use() {
        let f = fixtures();
        for name in ["FilterSend", "ClassifyPacket"] {
            assert!(f.acmenet.functions.contains_key(name), "{name}");
        }
        for name in ["ReadSectorHeader", "DispatchRead", "DispatchIrp"] {
            assert!(f.acmeflt.functions.contains_key(name), "{name}");
        }
        assert_eq!(f.acmenet.size_of_image, 0x5000);
    }

    #[test]
    fn no_module_is_listed_twice_for_a_host() {
        for index in 0..500 {
            let host = crate::simulate::fleet::host(2, index);
            let mut names: Vec<String> = drivers_for(host.features)
                .map(|d| {
                    d.path
                        .rsplit('\\')
                        .next()
                        .unwrap_or(d.path)
                        .to_ascii_lowercase()
                })
                .collect();
            names.sort();
            let before = names.len();
            names.dedup();
            assert_eq!(
                before,
                names.len(),
                "duplicate module names on {}",
                host.name
            );
        }
    }

    #[test]
    fn every_kind_of_host_loads_at_least_150_modules() {
        let workstation = PHYSICAL
            | CLIENT
            | INTEL_ARCH
            | WIN10
            | INTEL_CPU
            | X64
            | CROWDSTRIKE
            | NVME
            | GPU_INTEL
            | AUDIO;
        let vm_server =
            VM | SERVER | INTEL_ARCH | WIN10 | INTEL_CPU | X64 | CROWDSTRIKE | GPU_VMWARE;
        let arm_laptop = PHYSICAL
            | CLIENT
            | LAPTOP
            | ARM64
            | WIN10
            | NVME
            | GPU_QUALCOMM
            | WIFI
            | AUDIO
            | CROWDSTRIKE;
        let win7_pos = PHYSICAL
            | CLIENT
            | INTEL_ARCH
            | X86
            | WIN7
            | INTEL_CPU
            | CROWDSTRIKE
            | GPU_INTEL
            | AUDIO;
        for f in [workstation, vm_server, arm_laptop, win7_pos] {
            let n = drivers_for(f).count();
            assert!(n >= 150, "{n} modules for features {f:#x}");
        }
    }
}
