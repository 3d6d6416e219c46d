//! The simulated organisation: sites, roles, and the hosts of a fleet with their CMDB record
//! (`inventory.csv`) and the hardware and software facts that decide what each one loads.
//!
//! The organisation is a fictional group running offices, two data centres, a hospital, an
//! airport operation and retail stores on four continents, so an incident at 04:09 UTC hits
//! some sites in their working day and others at night, as the real 2024-07-19 one did.

use std::fmt::Write as _;

use crate::dump::Arch;

use super::catalog::feature::*;
use super::rng::Rng;

/// What kind of machine a role runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    Workstation,
    Laptop,
    /// Kiosks, gate displays, point-of-sale terminals: always on, unattended.
    Kiosk,
    Server,
}

/// A job a host does, with its CMDB attributes.
#[derive(Debug)]
pub struct Role {
    pub name: &'static str,
    /// Host-name code (`LON-WS-0012`).
    pub code: &'static str,
    pub device: DeviceKind,
    pub criticality: &'static str,
    pub business_unit: &'static str,
    pub owner_team: &'static str,
    /// Share of these hosts with an NVIDIA GPU (the rest of the clients use Intel graphics).
    pub nvidia_share: f64,
    /// Share of hosts running 24/7 (clinical systems, kiosks, servers).
    pub always_on: bool,
}

/// A site of the organisation.
#[derive(Debug)]
pub struct Site {
    pub code: &'static str,
    pub name: &'static str,
    pub city: &'static str,
    pub country: &'static str,
    pub region: &'static str,
    /// Offset from UTC in minutes in July (daylight saving applied).
    pub utc_offset_min: i32,
    /// Weight of this site in the fleet.
    pub weight: u32,
    /// Roles at this site and their weights.
    pub roles: &'static [(&'static str, u32)],
}

pub const ROLES: &[Role] = &[
    Role {
        name: "office-desktop",
        code: "WS",
        device: DeviceKind::Workstation,
        criticality: "low",
        business_unit: "corporate",
        owner_team: "euc",
        nvidia_share: 0.0,
        always_on: false,
    },
    Role {
        name: "office-laptop",
        code: "LT",
        device: DeviceKind::Laptop,
        criticality: "low",
        business_unit: "corporate",
        owner_team: "euc",
        nvidia_share: 0.0,
        always_on: false,
    },
    Role {
        name: "developer-workstation",
        code: "DEV",
        device: DeviceKind::Workstation,
        criticality: "medium",
        business_unit: "engineering",
        owner_team: "dev-productivity",
        nvidia_share: 0.6,
        always_on: false,
    },
    Role {
        name: "design-workstation",
        code: "CAD",
        device: DeviceKind::Workstation,
        criticality: "medium",
        business_unit: "engineering",
        owner_team: "euc",
        nvidia_share: 1.0,
        always_on: false,
    },
    Role {
        name: "call-center-desktop",
        code: "CC",
        device: DeviceKind::Workstation,
        criticality: "high",
        business_unit: "customer-service",
        owner_team: "euc",
        nvidia_share: 0.0,
        always_on: false,
    },
    Role {
        name: "clinical-workstation",
        code: "CLIN",
        device: DeviceKind::Workstation,
        criticality: "critical",
        business_unit: "hospital",
        owner_team: "clinical-it",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "nurse-station",
        code: "NURS",
        device: DeviceKind::Workstation,
        criticality: "critical",
        business_unit: "hospital",
        owner_team: "clinical-it",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "imaging-workstation",
        code: "PACS",
        device: DeviceKind::Workstation,
        criticality: "critical",
        business_unit: "hospital",
        owner_team: "clinical-it",
        nvidia_share: 1.0,
        always_on: true,
    },
    Role {
        name: "checkin-kiosk",
        code: "KIOSK",
        device: DeviceKind::Kiosk,
        criticality: "critical",
        business_unit: "airport",
        owner_team: "airport-ops-it",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "gate-display",
        code: "GATE",
        device: DeviceKind::Kiosk,
        criticality: "high",
        business_unit: "airport",
        owner_team: "airport-ops-it",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "ops-desktop",
        code: "OPS",
        device: DeviceKind::Workstation,
        criticality: "high",
        business_unit: "airport",
        owner_team: "airport-ops-it",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "pos-terminal",
        code: "POS",
        device: DeviceKind::Kiosk,
        criticality: "high",
        business_unit: "retail",
        owner_team: "retail-it",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "domain-controller",
        code: "DC",
        device: DeviceKind::Server,
        criticality: "critical",
        business_unit: "infrastructure",
        owner_team: "identity",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "file-server",
        code: "FS",
        device: DeviceKind::Server,
        criticality: "high",
        business_unit: "infrastructure",
        owner_team: "platform",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "sql-server",
        code: "SQL",
        device: DeviceKind::Server,
        criticality: "critical",
        business_unit: "infrastructure",
        owner_team: "data-platform",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "web-server",
        code: "WEB",
        device: DeviceKind::Server,
        criticality: "high",
        business_unit: "digital",
        owner_team: "web-platform",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "app-server",
        code: "APP",
        device: DeviceKind::Server,
        criticality: "high",
        business_unit: "digital",
        owner_team: "app-platform",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "ehr-server",
        code: "EHR",
        device: DeviceKind::Server,
        criticality: "critical",
        business_unit: "hospital",
        owner_team: "clinical-it",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "baggage-server",
        code: "BAG",
        device: DeviceKind::Server,
        criticality: "critical",
        business_unit: "airport",
        owner_team: "airport-ops-it",
        nvidia_share: 0.0,
        always_on: true,
    },
    Role {
        name: "build-server",
        code: "BLD",
        device: DeviceKind::Server,
        criticality: "medium",
        business_unit: "engineering",
        owner_team: "dev-productivity",
        nvidia_share: 0.0,
        always_on: true,
    },
];

pub const SITES: &[Site] = &[
    Site {
        code: "LON",
        name: "London HQ",
        city: "London",
        country: "GB",
        region: "emea",
        utc_offset_min: 60,
        weight: 14,
        roles: &[
            ("office-desktop", 30),
            ("office-laptop", 20),
            ("developer-workstation", 12),
            ("call-center-desktop", 10),
            ("domain-controller", 3),
            ("file-server", 4),
            ("app-server", 3),
        ],
    },
    Site {
        code: "FRA",
        name: "Frankfurt data centre",
        city: "Frankfurt",
        country: "DE",
        region: "emea",
        utc_offset_min: 120,
        weight: 10,
        roles: &[
            ("sql-server", 25),
            ("web-server", 30),
            ("app-server", 30),
            ("domain-controller", 5),
            ("file-server", 10),
        ],
    },
    Site {
        code: "CHI",
        name: "Mercy General Hospital",
        city: "Chicago",
        country: "US",
        region: "amer",
        utc_offset_min: -300,
        weight: 14,
        roles: &[
            ("clinical-workstation", 40),
            ("nurse-station", 20),
            ("imaging-workstation", 10),
            ("ehr-server", 8),
            ("office-desktop", 15),
            ("domain-controller", 2),
        ],
    },
    Site {
        code: "DFW",
        name: "DFW airport operations",
        city: "Dallas",
        country: "US",
        region: "amer",
        utc_offset_min: -300,
        weight: 12,
        roles: &[
            ("checkin-kiosk", 35),
            ("gate-display", 20),
            ("ops-desktop", 20),
            ("baggage-server", 6),
            ("office-desktop", 10),
            ("domain-controller", 2),
        ],
    },
    Site {
        code: "NYC",
        name: "New York office",
        city: "New York",
        country: "US",
        region: "amer",
        utc_offset_min: -240,
        weight: 12,
        roles: &[
            ("office-desktop", 30),
            ("office-laptop", 20),
            ("design-workstation", 15),
            ("call-center-desktop", 20),
            ("file-server", 3),
            ("domain-controller", 2),
        ],
    },
    Site {
        code: "SIN",
        name: "Singapore data centre",
        city: "Singapore",
        country: "SG",
        region: "apac",
        utc_offset_min: 480,
        weight: 8,
        roles: &[
            ("web-server", 30),
            ("app-server", 30),
            ("sql-server", 20),
            ("build-server", 10),
            ("domain-controller", 5),
        ],
    },
    Site {
        code: "SYD",
        name: "Sydney office",
        city: "Sydney",
        country: "AU",
        region: "apac",
        utc_offset_min: 600,
        weight: 10,
        roles: &[
            ("office-desktop", 30),
            ("office-laptop", 25),
            ("call-center-desktop", 30),
            ("domain-controller", 2),
            ("file-server", 2),
        ],
    },
    Site {
        code: "BLR",
        name: "Bengaluru engineering centre",
        city: "Bengaluru",
        country: "IN",
        region: "apac",
        utc_offset_min: 330,
        weight: 10,
        roles: &[
            ("developer-workstation", 50),
            ("office-laptop", 15),
            ("build-server", 15),
            ("office-desktop", 20),
        ],
    },
    Site {
        code: "SAO",
        name: "Sao Paulo stores",
        city: "Sao Paulo",
        country: "BR",
        region: "latam",
        utc_offset_min: -180,
        weight: 10,
        roles: &[
            ("pos-terminal", 60),
            ("office-desktop", 20),
            ("app-server", 3),
        ],
    },
];

/// A deployment ring for staged rollouts.
pub const RINGS: [&str; 3] = ["canary", "early", "broad"];

/// One host of the simulated fleet.
#[derive(Debug, Clone)]
pub struct Host {
    pub index: usize,
    /// `LON-WS-0012`: the dump folder name and the inventory key.
    pub name: String,
    pub site: &'static Site,
    pub role: &'static Role,
    pub ring: &'static str,
    pub arch: Arch,
    pub os_build: u32,
    pub os_name: &'static str,
    /// 1 WinNt, 2 LanManNt (domain controller), 3 ServerNt.
    pub product_type: u32,
    pub processors: u32,
    pub model: &'static str,
    pub is_vm: bool,
    /// `catalog::feature` bits.
    pub features: u32,
    pub serial: String,
    /// Seed of this host's random streams.
    pub seed: u64,
    /// The boot count when the simulated window opens (BootId of the next boot minus one).
    pub boot_base: u32,
}

impl Host {
    pub fn has(&self, feature: u32) -> bool {
        self.features & feature == feature
    }

    pub fn is_server(&self) -> bool {
        self.role.device == DeviceKind::Server
    }

    /// Local time offset of the host's site, in seconds.
    pub fn utc_offset_secs(&self) -> i64 {
        i64::from(self.site.utc_offset_min) * 60
    }
}

fn role_named(name: &str) -> &'static Role {
    ROLES.iter().find(|r| r.name == name).unwrap_or(&ROLES[0])
}

/// Builds host `index` of a fleet generated from `seed`. Hosts depend only on (seed, index),
/// so any host can be generated on its own (in parallel, or lazily for record streams).
pub fn host(seed: u64, index: usize) -> Host {
    let mut rng = Rng::derive(seed, "host", index as u64);
    let site_weights: Vec<(&'static Site, u32)> = SITES.iter().map(|s| (s, s.weight)).collect();
    let site = *rng.weighted(&site_weights);
    let role_name = *rng.weighted(site.roles);
    let role = role_named(role_name);
    let server = role.device == DeviceKind::Server;

    // Hardware: servers are mostly VMware VMs; clients physical. ARM64 on some office
    // laptops, x86 (Windows 7 Embedded or Windows 10 32-bit) on some retail terminals.
    let is_vm = server && rng.chance(0.75);
    let arm64 = role.device == DeviceKind::Laptop && rng.chance(0.4);
    let x86 = role.name == "pos-terminal" && rng.chance(0.5);
    let arch = if arm64 {
        Arch::Arm64
    } else if x86 {
        Arch::X86
    } else {
        Arch::Amd64
    };
    let (os_build, os_name) = if server {
        *rng.weighted(&[
            ((20348, "Windows Server 2022"), 50),
            ((17763, "Windows Server 2019"), 40),
            ((14393, "Windows Server 2016"), 10),
        ])
    } else if x86 {
        *rng.weighted(&[
            ((7601, "Windows Embedded POSReady 7"), 60),
            ((19044, "Windows 10 IoT Enterprise LTSC 2021"), 40),
        ])
    } else if arm64 {
        (22631, "Windows 11 Enterprise 23H2")
    } else if role.device == DeviceKind::Kiosk {
        (19044, "Windows 10 IoT Enterprise LTSC 2021")
    } else {
        *rng.weighted(&[
            ((19045, "Windows 10 Enterprise 22H2"), 55),
            ((22631, "Windows 11 Enterprise 23H2"), 35),
            ((22621, "Windows 11 Enterprise 22H2"), 10),
        ])
    };
    let product_type = match role.name {
        "domain-controller" => 2,
        _ if server => 3,
        _ => 1,
    };
    let amd = !arm64 && rng.chance(if server { 0.3 } else { 0.2 });
    let model = if is_vm {
        "VMware Virtual Platform"
    } else if arm64 {
        *rng.pick(&[
            "Microsoft Surface Pro 11 (Snapdragon X Elite)",
            "Lenovo ThinkPad T14s Gen 6 (Snapdragon)",
        ])
    } else if server {
        *rng.pick(&["HPE ProLiant DL380 Gen10", "HPE ProLiant DL360 Gen10 Plus"])
    } else {
        match role.device {
            DeviceKind::Laptop => *rng.pick(&[
                "Dell Latitude 7440",
                "HP EliteBook 840 G10",
                "Lenovo ThinkPad T14 Gen 4",
            ]),
            DeviceKind::Kiosk if role.name == "pos-terminal" => {
                *rng.pick(&["NCR RealPOS 7197", "Toshiba TCx 810"])
            }
            DeviceKind::Kiosk => *rng.pick(&["Elo I-Series 4 Kiosk", "Advantech UTC-520"]),
            _ if role.nvidia_share > 0.0 => *rng.pick(&[
                "Dell Precision 3660",
                "HP Z2 Tower G9",
                "Lenovo ThinkStation P360",
            ]),
            _ => *rng.pick(&[
                "Dell OptiPlex 7010",
                "HP EliteDesk 800 G9",
                "Lenovo ThinkCentre M90q Gen 3",
            ]),
        }
    };
    let processors = if server {
        *rng.pick(&[4u32, 8, 8, 16, 16, 32, 48])
    } else if role.device == DeviceKind::Kiosk {
        *rng.pick(&[2u32, 4, 4])
    } else {
        *rng.pick(&[4u32, 8, 8, 12, 16, 20])
    };

    let mut features = 0;
    features |= if is_vm { VM | GPU_VMWARE } else { PHYSICAL };
    features |= if server { SERVER } else { CLIENT };
    features |= match arch {
        Arch::Arm64 => ARM64,
        Arch::X86 => INTEL_ARCH | X86,
        _ => INTEL_ARCH | X64,
    };
    features |= if os_build >= 10240 { WIN10 } else { WIN7 };
    if !arm64 {
        features |= if amd { AMD_CPU } else { INTEL_CPU };
    }
    if role.device == DeviceKind::Laptop {
        features |= LAPTOP | WIFI;
    }
    if !is_vm && !server {
        features |= AUDIO;
        features |= if arm64 {
            GPU_QUALCOMM
        } else if rng.chance(role.nvidia_share) {
            GPU_NVIDIA
        } else {
            GPU_INTEL
        };
        if os_build >= 10240 {
            features |= NVME;
        }
        // Intel RST on a third of the Intel desktops (the vendor image enables it).
        if features & INTEL_CPU != 0 && role.device == DeviceKind::Workstation && rng.chance(0.35) {
            features |= INTEL_RST;
        }
    }
    if server && !is_vm {
        features |= SMARTPQI;
    }
    // The EDR sensor is on every Windows host except a few build servers and kiosks that
    // were never enrolled.
    let unenrolled = match role.name {
        "build-server" => 0.2,
        "checkin-kiosk" | "gate-display" => 0.05,
        _ => 0.01,
    };
    if !rng.chance(unenrolled) {
        features |= CROWDSTRIKE;
    }
    // The Acme VPN client on laptops and call-centre desktops (x64 only: its driver is the
    // fixture build); the Acme backup agent on file, SQL, EHR and app servers and on the
    // engineering workstations.
    if arch == Arch::Amd64
        && (role.device == DeviceKind::Laptop
            || (role.name == "call-center-desktop" && rng.chance(0.6)))
    {
        features |= ACME_VPN;
    }
    if arch == Arch::Amd64
        && matches!(
            role.name,
            "file-server"
                | "sql-server"
                | "ehr-server"
                | "app-server"
                | "baggage-server"
                | "developer-workstation"
                | "design-workstation"
        )
    {
        features |= ACME_BACKUP;
    }

    // Rings: critical systems never take canary builds.
    let ring = if role.criticality == "critical" {
        *rng.weighted(&[("early", 15), ("broad", 85)])
    } else if role.business_unit == "engineering" {
        *rng.weighted(&[("canary", 25), ("early", 35), ("broad", 40)])
    } else {
        *rng.weighted(&[("canary", 4), ("early", 20), ("broad", 76)])
    };

    let serial = format!(
        "{}{:07}",
        &model[..2].to_ascii_uppercase(),
        rng.below(10_000_000)
    );
    let boot_base = rng.range(40, 900) as u32;
    let host_seed = rng.next_u64();
    // Host numbers are unique in the fleet: the index is part of the name.
    let name = format!("{}-{}-{:04}", site.code, role.code, index + 1);
    Host {
        index,
        name,
        site,
        role,
        ring,
        arch,
        os_build,
        os_name,
        product_type,
        processors,
        model,
        is_vm,
        features,
        serial,
        seed: host_seed,
        boot_base,
    }
}

/// Every host of a fleet of `count`.
pub fn hosts(seed: u64, count: usize) -> Vec<Host> {
    (0..count).map(|i| host(seed, i)).collect()
}

/// Columns of `inventory.csv`, as a CMDB export names them.
pub const INVENTORY_COLUMNS: &[&str] = &[
    "host",
    "site",
    "site_name",
    "city",
    "country",
    "region",
    "utc_offset",
    "role",
    "device_type",
    "business_unit",
    "owner_team",
    "criticality",
    "ring",
    "os",
    "os_build",
    "arch",
    "model",
    "serial",
    "cpu_count",
    "virtual",
    "edr_sensor",
    "vpn_client",
    "backup_agent",
];

fn arch_label(arch: Arch) -> &'static str {
    match arch {
        Arch::X86 => "x86",
        Arch::Arm64 => "arm64",
        _ => "x64",
    }
}

/// One `inventory.csv` line for `host` (no field needs quoting: none holds a comma).
pub fn inventory_line(host: &Host, out: &mut String) {
    let device = match host.role.device {
        DeviceKind::Workstation => "workstation",
        DeviceKind::Laptop => "laptop",
        DeviceKind::Kiosk => "kiosk",
        DeviceKind::Server => "server",
    };
    let offset = host.site.utc_offset_min;
    let utc = format!(
        "{}{:02}:{:02}",
        if offset < 0 { '-' } else { '+' },
        offset.abs() / 60,
        offset.abs() % 60
    );
    let _ = writeln!(
        out,
        "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        host.name,
        host.site.code,
        host.site.name,
        host.site.city,
        host.site.country,
        host.site.region,
        utc,
        host.role.name,
        device,
        host.role.business_unit,
        host.role.owner_team,
        host.role.criticality,
        host.ring,
        host.os_name,
        host.os_build,
        arch_label(host.arch),
        host.model,
        host.serial,
        host.processors,
        host.is_vm,
        if host.has(CROWDSTRIKE) {
            "CrowdStrike Falcon 7.16"
        } else {
            ""
        },
        if host.has(ACME_VPN) {
            "Acme VPN 5.2"
        } else {
            ""
        },
        if host.has(ACME_BACKUP) {
            "Acme Backup 3.1"
        } else {
            ""
        },
    );
}

/// The whole `inventory.csv`.
pub fn inventory_csv(hosts: &[Host]) -> String {
    let mut out = INVENTORY_COLUMNS.join(",");
    out.push('\n');
    for h in hosts {
        inventory_line(h, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_depend_only_on_seed_and_index() {
        let a = host(5, 17);
        let b = host(5, 17);
        assert_eq!(a.name, b.name);
        assert_eq!(a.features, b.features);
        assert_ne!(host(5, 17).seed, host(6, 17).seed);
    }

    #[test]
    fn fleet_mixes_sites_roles_arches_and_rings() {
        let hosts = hosts(1, 600);
        let count = |f: &dyn Fn(&Host) -> bool| hosts.iter().filter(|h| f(h)).count();
        assert!(count(&|h| h.arch == Arch::Amd64) > 500);
        assert!(count(&|h| h.arch == Arch::Arm64) > 0);
        assert!(count(&|h| h.arch == Arch::X86) > 0);
        assert!(count(&|h| h.ring == "canary") > 0);
        assert!(count(&|h| h.role.criticality == "critical") > 60);
        assert!(count(&|h| h.has(CROWDSTRIKE)) > 560);
        for site in SITES {
            assert!(count(&|h| h.site.code == site.code) > 0, "{}", site.code);
        }
    }
}
