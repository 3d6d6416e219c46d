//! One boot of a simulated host: which modules are loaded where.
//!
//! Windows randomizes kernel-module addresses at every boot (KASLR), so the layout is drawn
//! per (host, boot): the kernel on a 2 MB boundary, the other images packed upward from a
//! random region start on 64 KB boundaries with random gaps, never overlapping — as in the
//! real driver lists (`0xfffff804...` on x64 and ARM64, `0x8...`-`0x9...` on 32-bit x86).

use crate::dump::Arch;

use super::catalog::{self, DriverDef, ACMEFLT, ACMENET};
use super::fleet::Host;
use super::rng::Rng;

/// A loaded module of one boot.
#[derive(Debug, Clone)]
pub struct LoadedModule {
    pub def: &'static DriverDef,
    /// The name as the dump lists it (full NT path, or a base name on Windows 7).
    pub path: String,
    pub base: u64,
    pub size: u32,
    pub timestamp: u32,
    pub checksum: u32,
}

impl LoadedModule {
    pub fn end(&self) -> u64 {
        self.base + u64::from(self.size)
    }

    /// `base + rva`.
    pub fn at(&self, rva: u32) -> u64 {
        self.base + u64::from(rva)
    }

    /// The base file name (`csagent.sys`).
    pub fn base_name(&self) -> &str {
        self.path.rsplit('\\').next().unwrap_or(&self.path)
    }
}

/// An unloaded driver of one boot.
#[derive(Debug, Clone)]
pub struct UnloadedModule {
    pub name: &'static str,
    pub start: u64,
    pub end: u64,
}

/// The module layout of one boot.
#[derive(Debug, Clone)]
pub struct Machine {
    pub arch: Arch,
    /// In load order (ntoskrnl first), as the dump lists them.
    pub modules: Vec<LoadedModule>,
    pub unloaded: Vec<UnloadedModule>,
    /// Indices of `modules` sorted by base, for address lookups.
    by_base: Vec<usize>,
}

impl Machine {
    /// The module loaded from `path` (a catalogue path constant).
    pub fn module(&self, path: &str) -> Option<&LoadedModule> {
        self.modules.iter().find(|m| m.def.path == path)
    }

    /// The module whose base file name is `name` (case-insensitive): `fltmgr.sys`.
    pub fn by_name(&self, name: &str) -> Option<&LoadedModule> {
        self.modules
            .iter()
            .find(|m| m.base_name().eq_ignore_ascii_case(name))
    }

    /// The kernel image (always loaded first).
    pub fn kernel(&self) -> &LoadedModule {
        &self.modules[0]
    }

    /// Whether `address` falls inside any loaded or unloaded image: stack filler must never
    /// look like a code address.
    pub fn is_image_address(&self, address: u64) -> bool {
        let i = self
            .by_base
            .partition_point(|&m| self.modules[m].base <= address);
        let in_loaded = i > 0 && address < self.modules[self.by_base[i - 1]].end();
        in_loaded
            || self
                .unloaded
                .iter()
                .any(|u| address >= u.start && address < u.end)
    }
}

/// The TimeDateStamp a host's copy of a driver carries.
fn timestamp_of(def: &DriverDef, host: &Host, acmeflt_new: bool) -> u32 {
    let fixtures = catalog::fixtures();
    if def.path == ACMENET {
        fixtures.acmenet.timestamp
    } else if def.path == ACMEFLT {
        if acmeflt_new {
            fixtures.acmeflt.timestamp
        } else {
            catalog::ACMEFLT_OLD_TIMESTAMP
        }
    } else if def.timestamp != 0 {
        def.timestamp
    } else {
        catalog::microsoft_timestamp(def.path, host.os_build)
    }
}

fn size_of(def: &DriverDef, host: &Host) -> u32 {
    let fixtures = catalog::fixtures();
    if def.path == ACMENET {
        fixtures.acmenet.size_of_image
    } else if def.path == ACMEFLT {
        fixtures.acmeflt.size_of_image
    } else {
        catalog::image_size(def, host.os_build)
    }
}

fn align_up(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

/// The layout of boot number `boot_id` of `host`. `acmeflt_new` says whether the staged
/// rollout's acmeflt.sys 3.2.0 is installed at that boot.
pub fn boot_layout(host: &Host, boot_id: u32, acmeflt_new: bool) -> Machine {
    let mut rng = Rng::derive(host.seed, "boot", u64::from(boot_id));
    let is32 = host.arch == Arch::X86;
    let (region, kernel_align, image_align) = if is32 {
        (
            0x8000_0000u64 + rng.range(0, 0x17) * 0x100_0000,
            0x40_0000u64,
            0x1000u64,
        )
    } else {
        (
            0xffff_f800_0000_0000u64 | (rng.range(0, 7) << 32) | (rng.range(0x10, 0x6f) << 24),
            0x20_0000u64,
            0x1_0000u64,
        )
    };
    let defs: Vec<&'static DriverDef> = catalog::drivers_for(host.features).collect();
    let mut modules = Vec::with_capacity(defs.len());
    // The kernel sits above the first boot images, as in the samples (hal/kd below nt).
    let kernel_def = defs[0];
    let kernel_size = size_of(kernel_def, host);
    let kernel_base = align_up(
        region + 0x260_0000 + rng.range(0, 3) * kernel_align,
        kernel_align,
    );
    let kernel_end = kernel_base + u64::from(kernel_size);
    let mut next = region;
    for (i, def) in defs.iter().enumerate() {
        let size = size_of(def, host);
        let base = if i == 0 {
            kernel_base
        } else {
            let gap = rng.range(0, 2) * image_align;
            let mut base = align_up(next + gap, image_align);
            if base < kernel_end && base + u64::from(size) > kernel_base {
                base = align_up(kernel_end, image_align);
            }
            next = base + u64::from(size);
            base
        };
        let timestamp = timestamp_of(def, host, acmeflt_new);
        modules.push(LoadedModule {
            def,
            path: catalog::display_path(def, host.os_build),
            base,
            size,
            timestamp,
            checksum: catalog::checksum(def, size, host.os_build),
        });
    }
    // Unloaded boot drivers lived below the region the loaded ones now occupy.
    let mut unloaded = Vec::new();
    let mut below = region;
    for (name, size, needs) in catalog::UNLOADED_AT_BOOT {
        if needs & host.features != *needs {
            continue;
        }
        let start = below - align_up(u64::from(*size), image_align) - image_align;
        unloaded.push(UnloadedModule {
            name,
            start,
            end: start + u64::from(*size),
        });
        below = start;
    }
    let mut by_base: Vec<usize> = (0..modules.len()).collect();
    by_base.sort_by_key(|&i| modules[i].base);
    Machine {
        arch: host.arch,
        modules,
        unloaded,
        by_base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::fleet;

    #[test]
    fn layouts_never_overlap_and_change_per_boot() {
        for index in 0..40 {
            let host = fleet::host(3, index);
            let m = boot_layout(&host, 10, false);
            assert!(
                m.modules.len() >= 150,
                "{} modules on {}",
                m.modules.len(),
                host.name
            );
            let mut spans: Vec<(u64, u64)> = m.modules.iter().map(|d| (d.base, d.end())).collect();
            spans.extend(m.unloaded.iter().map(|u| (u.start, u.end)));
            spans.sort();
            for w in spans.windows(2) {
                assert!(w[0].1 <= w[1].0, "overlap on {}: {:x?}", host.name, w);
            }
            if host.arch == Arch::X86 {
                assert!(spans.last().unwrap().1 < 0xc000_0000);
            }
            assert_eq!(m.kernel().base % 0x20_0000, 0);
        }
        let moved = (0..40)
            .filter(|&i| {
                let host = fleet::host(3, i);
                boot_layout(&host, 10, false).kernel().base
                    != boot_layout(&host, 11, false).kernel().base
            })
            .count();
        assert!(
            moved > 30,
            "KASLR: the kernel moved on only {moved} of 40 reboots"
        );
    }
}
