//! Windows release names from a build number, so a report says "Windows 10 22H2" and not
//! only "19045". Server and client share build numbers; the product type tells them apart.

/// `ProductType` 1 = workstation (WinNt), 2 = domain controller (LanManNt), 3 = server.
pub fn product_type_name(product_type: u32) -> Option<&'static str> {
    match product_type {
        1 => Some("workstation"),
        2 => Some("domain_controller"),
        3 => Some("server"),
        _ => None,
    }
}

/// A release name for `build`, e.g. `Windows 10 2004 (build 19041)`.
pub fn release_name(build: u32, product_type: Option<u32>) -> String {
    let server = matches!(product_type, Some(2 | 3));
    let name = match (build, server) {
        (2600, _) => "Windows XP",
        (3790, _) => "Windows Server 2003 / XP x64",
        (6000 | 6001 | 6002 | 6003, false) => "Windows Vista",
        (6001..=6003, true) => "Windows Server 2008",
        (7600 | 7601, false) => "Windows 7",
        (7600 | 7601, true) => "Windows Server 2008 R2",
        (9200, false) => "Windows 8",
        (9200, true) => "Windows Server 2012",
        (9600, false) => "Windows 8.1",
        (9600, true) => "Windows Server 2012 R2",
        (14393, true) => "Windows Server 2016",
        (17763, true) => "Windows Server 2019",
        (20348, true) => "Windows Server 2022",
        (26100, true) => "Windows Server 2025",
        (10240, _) => "Windows 10 1507",
        (10586, _) => "Windows 10 1511",
        (14393, _) => "Windows 10 1607",
        (15063, _) => "Windows 10 1703",
        (16299, _) => "Windows 10 1709",
        (17134, _) => "Windows 10 1803",
        (17763, _) => "Windows 10 1809",
        (18362, _) => "Windows 10 1903",
        (18363, _) => "Windows 10 1909",
        (19041, _) => "Windows 10 2004",
        (19042, _) => "Windows 10 20H2",
        (19043, _) => "Windows 10 21H1",
        (19044, _) => "Windows 10 21H2",
        (19045, _) => "Windows 10 22H2",
        (22000, _) => "Windows 11 21H2",
        (22621, _) => "Windows 11 22H2",
        (22631, _) => "Windows 11 23H2",
        (26100, _) => "Windows 11 24H2",
        (26200, _) => "Windows 11 25H2",
        (b, _) if b >= 22000 => "Windows 11",
        (b, _) if b >= 10240 => "Windows 10",
        _ => "Windows",
    };
    format!("{name} (build {build})")
}
