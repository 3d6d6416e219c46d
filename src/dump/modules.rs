//! Loaded-module lists and address -> module lookup.

/// One loaded driver (or user-mode module), as the dump lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DriverEntry {
    /// Base file name as spelled in the dump (`amdppm.sys`).
    pub name: String,
    /// Full path as in the dump (`\SystemRoot\System32\drivers\amdppm.sys`).
    pub path: String,
    pub base: u64,
    pub size: u32,
    pub timestamp: u32,
    pub checksum: u32,
}

impl DriverEntry {
    pub fn contains(&self, address: u64) -> bool {
        address >= self.base && address - self.base < u64::from(self.size)
    }
}

/// The module whose image holds `address`, if any.
pub fn module_at(modules: &[DriverEntry], address: u64) -> Option<&DriverEntry> {
    modules.iter().find(|m| m.contains(address))
}

/// The base file name of a path written with `\` or `/` separators.
pub fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

pub use crate::record::UNKNOWN_MODULE;
