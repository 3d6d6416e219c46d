//! The user-mode side of the fleet: a service process that crashes and leaves a minidump
//! (WER LocalDumps writes `<exe>.<pid>.dmp`), with its modules, threads and a stack whose
//! return addresses lead from the faulting DLL through the service to the thread start.

use super::cause::Service;
use super::fleet::Host;
use super::kernel_crash::{CrashMoment, PlannedFrame};
use super::minidump_writer::{MdmpException, MdmpModule, MdmpThread, MinidumpSpec};
use super::rng::{hash_str, Rng};

/// A user-mode crash ready to be written.
#[derive(Debug, Clone)]
pub struct UserCrash {
    pub spec: MinidumpSpec,
    /// WER's file name: `AcmeVpnService.exe.4312.dmp`.
    pub file_name: String,
    pub fault_address: u64,
    pub frames: Vec<PlannedFrame>,
}

/// (path, size, version) of the modules every service process maps, after its own.
const SYSTEM_DLLS: &[(&str, u32)] = &[
    (r"C:\Windows\System32\ntdll.dll", 0x1f8000),
    (r"C:\Windows\System32\kernel32.dll", 0xc4000),
    (r"C:\Windows\System32\KERNELBASE.dll", 0x2f6000),
    (r"C:\Windows\System32\ucrtbase.dll", 0x100000),
    (r"C:\Windows\System32\msvcp_win.dll", 0x9d000),
    (r"C:\Windows\System32\VCRUNTIME140.dll", 0x1b000),
    (r"C:\Windows\System32\MSVCP140.dll", 0x8e000),
    (r"C:\Windows\System32\advapi32.dll", 0xae000),
    (r"C:\Windows\System32\sechost.dll", 0x9c000),
    (r"C:\Windows\System32\rpcrt4.dll", 0x124000),
    (r"C:\Windows\System32\ws2_32.dll", 0x6b000),
    (r"C:\Windows\System32\crypt32.dll", 0x15d000),
    (r"C:\Windows\System32\bcrypt.dll", 0x28000),
    (r"C:\Windows\System32\iphlpapi.dll", 0x33000),
];

fn service_modules(service: Service) -> [(&'static str, u32, [u16; 4]); 2] {
    match service {
        Service::AcmeVpn => [
            (
                r"C:\Program Files\Acme\VPN\AcmeVpnService.exe",
                0x4c000,
                [5, 2, 0, 118],
            ),
            (
                r"C:\Program Files\Acme\VPN\acmevpncore.dll",
                0x1a3000,
                [5, 2, 0, 118],
            ),
        ],
        Service::AcmeBackup => [
            (
                r"C:\Program Files\Acme\Backup\AcmeBackupAgent.exe",
                0x61000,
                [3, 1, 4, 2207],
            ),
            (
                r"C:\Program Files\Acme\Backup\acmebkcore.dll",
                0x2d8000,
                [3, 1, 4, 2207],
            ),
        ],
    }
}

fn guid_for(name: &str, build: u32) -> [u8; 16] {
    let a = hash_str(&format!("{name}|{build}|guid-a"));
    let b = hash_str(&format!("{name}|{build}|guid-b"));
    let mut g = [0u8; 16];
    g[..8].copy_from_slice(&a.to_le_bytes());
    g[8..].copy_from_slice(&b.to_le_bytes());
    g
}

/// Builds the minidump of `service` crashing on `host` at `moment`.
pub fn user_crash(host: &Host, service: Service, moment: CrashMoment, rng: &mut Rng) -> UserCrash {
    let pid = (rng.range(0x200, 0x4000) * 4) as u32;
    let tid = (rng.range(0x200, 0x4000) * 4) as u32;
    let build = host.os_build;
    let ubr: u16 = match build {
        20348 => 2529,
        17763 => 5936,
        14393 => 7070,
        22631 | 22621 => 3880,
        _ => 4651,
    };

    // Layout: the exe at 0x7ff6..., DLLs packed downward from 0x7ffc... (ASLR per boot).
    let mut modules = Vec::new();
    let [(exe_path, exe_size, exe_ver), (dll_path, dll_size, dll_ver)] = service_modules(service);
    let exe_base = 0x7ff6_0000_0000 + rng.range(0x100, 0xfff) * 0x10_0000;
    let mut next = 0x7ffc_0000_0000 + rng.range(0x100, 0x3ff) * 0x10_0000;
    let mut add = |path: &str,
                   size: u32,
                   version: [u16; 4],
                   base: Option<u64>,
                   modules: &mut Vec<MdmpModule>|
     -> u64 {
        let base = base.unwrap_or_else(|| {
            let b = next;
            next += u64::from(size).div_ceil(0x1_0000) * 0x1_0000 + 0x1_0000;
            b
        });
        let name = path.rsplit('\\').next().unwrap_or(path);
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        let ms = path.starts_with(r"C:\Windows");
        let timestamp = if ms {
            (hash_str(&format!("{name}|{build}")) >> 32) as u32
        } else {
            0x6612_7c40 + u32::from(version[3])
        };
        modules.push(MdmpModule {
            path: path.to_string(),
            base,
            size,
            timestamp,
            checksum: size / 2 + 0x1d3,
            version,
            pdb_guid: guid_for(name, if ms { build } else { u32::from(version[3]) }),
            pdb_age: 1,
            pdb_name: format!("{}.pdb", stem.to_ascii_lowercase()),
        });
        base
    };
    add(exe_path, exe_size, exe_ver, Some(exe_base), &mut modules);
    let dll_base = add(dll_path, dll_size, dll_ver, None, &mut modules);
    for (path, size) in SYSTEM_DLLS {
        add(path, *size, [10, 0, build as u16, ubr], None, &mut modules);
    }
    let base_of = |name: &str| {
        modules
            .iter()
            .find(|m| {
                m.path
                    .to_ascii_lowercase()
                    .ends_with(&name.to_ascii_lowercase())
            })
            .map_or(0, |m| m.base)
    };
    let in_module = |v: u64| {
        modules
            .iter()
            .any(|m| v >= m.base && v < m.base + u64::from(m.size))
    };

    // The crash site and the frames above it.
    let (fault_rva, access, referenced) = match service {
        // Parsing a server response through a NULL session pointer.
        Service::AcmeVpn => (0x3_1c4a, 0u64, 0x10 + rng.below(8) * 8),
        // Writing a progress record through a freed heap block.
        Service::AcmeBackup => (
            0x8_0e13,
            1u64,
            0x0000_01a0_0000_0000 | (rng.next_u64() & 0x0000_000f_ffff_fff0),
        ),
    };
    let exe_name = exe_path.rsplit('\\').next().unwrap_or(exe_path);
    let dll_name = dll_path.rsplit('\\').next().unwrap_or(dll_path);
    let ip = dll_base + fault_rva;
    let callers: Vec<(&str, u64)> = vec![
        (dll_name, 0x3_0e91),
        (dll_name, 0x2_7a3c),
        (dll_name, 0x1_1f08),
        (exe_name, 0x1_62d4),
        (exe_name, 0x1_4b10),
        ("ucrtbase.dll", 0x2_bb04),
        ("kernel32.dll", 0x1_7374),
        ("ntdll.dll", 0x4_cc91),
    ];
    let resolved: Vec<(String, u64, u64)> = callers
        .iter()
        .map(|(m, rva)| (m.to_string(), base_of(m) + rva, *rva))
        .collect();

    // The thread's stack: 8-16 KB below a 1 MB reservation, filler never in a module.
    let len = (rng.range(0x2000, 0x4000) & !0xf) as usize;
    let high = 0x0000_00a0_0000_0000 + rng.range(0x10, 0xff) * 0x10_0000;
    let sp = high - len as u64;
    let mut stack = vec![0u8; len];
    for slot in (0..len).step_by(8) {
        let v = match rng.below(10) {
            0..=4 => 0,
            5..=6 => rng.below(0x10000),
            7 => 0x0000_01a0_0000_0000 | (rng.next_u64() & 0x0000_000f_ffff_fff0),
            _ => sp + (rng.below(len as u64) & !7),
        };
        let v = if in_module(v) { 0 } else { v };
        stack[slot..slot + 8].copy_from_slice(&v.to_le_bytes());
    }
    // Frames close together: stack scanners (minidump-processor's among them) look only a
    // few dozen slots above each frame for its caller.
    let mut cursor = 0usize;
    for (_, addr, _) in &resolved {
        cursor += 8 * rng.range(2, 12) as usize;
        if cursor + 8 > len {
            break;
        }
        stack[cursor..cursor + 8].copy_from_slice(&addr.to_le_bytes());
    }

    let mut gprs = [0u64; 16];
    for g in gprs.iter_mut() {
        *g = if rng.chance(0.5) {
            rng.below(0x10000)
        } else {
            0x0000_01a0_0000_0000 | (rng.next_u64() & 0xffff_fff0)
        };
    }
    gprs[4] = sp;
    gprs[1] = if access == 0 { 0 } else { referenced }; // Rcx: the bad pointer
    let crashing = MdmpThread {
        id: tid,
        teb: 0x0000_00b3_0000_0000 + rng.below(0x100) * 0x2000,
        stack_start: sp,
        stack,
        gprs,
        rip: ip,
    };

    // Two idle worker threads waiting in ntdll.
    let mut threads = vec![crashing];
    for k in 0..2u64 {
        let wait_ip = base_of("ntdll.dll") + 0x9_f6e4;
        let high = 0x0000_00a0_0000_0000 + (0x200 + k * 0x10) * 0x10_0000;
        let low = high - 0x1000;
        let mut s = vec![0u8; 0x1000];
        s[0x38..0x40].copy_from_slice(&(base_of("ntdll.dll") + 0x4_f2a1).to_le_bytes());
        s[0x98..0xa0].copy_from_slice(&(base_of("kernel32.dll") + 0x1_7374).to_le_bytes());
        let mut g = [0u64; 16];
        g[4] = low;
        threads.push(MdmpThread {
            id: tid + 4 * (k as u32 + 1) * 3,
            teb: 0x0000_00b3_0001_0000 + k * 0x2000,
            stack_start: low,
            stack: s,
            gprs: g,
            rip: wait_ip,
        });
    }

    let mut frames = vec![PlannedFrame {
        module: dll_name.to_string(),
        address: ip,
        offset: fault_rva,
        function: None,
    }];
    frames.extend(resolved.iter().map(|(m, a, o)| PlannedFrame {
        module: m.clone(),
        address: *a,
        offset: *o,
        function: None,
    }));
    let spec = MinidumpSpec {
        time_unix: moment.unix_secs.clamp(0, i64::from(u32::MAX)) as u32,
        os_build: build,
        product_type: if host.product_type == 1 { 1 } else { 3 },
        processors: host.processors.min(255) as u8,
        modules,
        threads,
        exception: MdmpException {
            thread_id: tid,
            code: 0xC000_0005,
            address: ip,
            information: vec![access, referenced],
        },
    };
    UserCrash {
        spec,
        file_name: format!("{}.{}.dmp", exe_name, pid),
        fault_address: ip,
        frames,
    }
}
