//! Address -> loaded module -> (image, symbols), resolved once per module per walk, and the
//! `StackFrame` record built from an address.

use std::cell::OnceCell;
use std::sync::Arc;

use crate::dump::{DriverEntry, MemoryRead};
use crate::record::{Address, FrameTrust, StackFrame};
use crate::symbols::{ModuleId, ModuleSymbols, SymbolCache};

use super::pe_image::PeLayout;

/// The PE header page (DOS + NT headers + section table) is the first 4 KB of an image.
const HEADER_PAGE_SIZE: usize = 0x1000;

/// What the symbol cache had for one module, plus its parsed PE layout when it has an image.
pub struct ResolvedModule {
    pub symbols: Arc<ModuleSymbols>,
    pub layout: Option<PeLayout>,
}

impl ResolvedModule {
    /// The image bytes and their layout, when the store had the image.
    pub fn image(&self) -> Option<(&[u8], &PeLayout)> {
        Some((self.symbols.image()?, self.layout.as_ref()?))
    }
}

/// Finds the module of an address and what the symbol cache knows about it. Lookups go
/// through a base-sorted index (binary search); each module is asked of the cache at most once
/// per walk, and only when a frame or a scan candidate lands in it.
pub struct ModuleResolver<'a> {
    modules: &'a [DriverEntry],
    memory: &'a dyn MemoryRead,
    symbols: &'a SymbolCache,
    /// Indices into `modules`, sorted by base address.
    by_base: Vec<usize>,
    resolved: Vec<OnceCell<Option<ResolvedModule>>>,
}

impl<'a> ModuleResolver<'a> {
    pub fn new(
        modules: &'a [DriverEntry],
        memory: &'a dyn MemoryRead,
        symbols: &'a SymbolCache,
    ) -> ModuleResolver<'a> {
        let mut by_base: Vec<usize> = (0..modules.len()).collect();
        by_base.sort_by_key(|&i| modules[i].base);
        let resolved = (0..modules.len()).map(|_| OnceCell::new()).collect();
        ModuleResolver {
            modules,
            memory,
            symbols,
            by_base,
            resolved,
        }
    }

    /// The index and entry of the module whose image holds `address`.
    pub fn module_at(&self, address: u64) -> Option<(usize, &'a DriverEntry)> {
        // The last module starting at or below the address is the only candidate (module
        // ranges do not overlap in a sane dump; in a hostile one this may miss, never panic).
        let after = self
            .by_base
            .partition_point(|&i| self.modules[i].base <= address);
        let index = *self.by_base.get(after.checked_sub(1)?)?;
        let entry = self.modules.get(index)?;
        entry.contains(address).then_some((index, entry))
    }

    /// The symbol-cache entry (and PE layout) of module `index`, resolved on first use.
    pub fn resolved(&self, index: usize) -> Option<&ResolvedModule> {
        let cell = self.resolved.get(index)?;
        cell.get_or_init(|| {
            let entry = self.modules.get(index)?;
            let id = ModuleId {
                name: &entry.name,
                timestamp: entry.timestamp,
                size: entry.size,
                header_page: self.memory.read_bytes(entry.base, HEADER_PAGE_SIZE),
            };
            let symbols = self.symbols.module(&id)?;
            let layout = symbols.image().and_then(PeLayout::parse);
            Some(ResolvedModule { symbols, layout })
        })
        .as_ref()
    }

    /// `len` code bytes at `address`: from the store's image when it has them, else from the
    /// dump's captured memory (triage dumps capture the faulting code page).
    pub fn code_bytes(&self, address: u64, len: usize) -> Option<&[u8]> {
        let (index, entry) = self.module_at(address)?;
        if let Some((image, layout)) = self.resolved(index).and_then(ResolvedModule::image) {
            let rva = u32::try_from(address - entry.base).ok()?;
            if let Some(bytes) = layout.read(image, rva, len) {
                return Some(bytes);
            }
        }
        self.memory.read_bytes(address, len)
    }

    /// Whether `address` is in a module and, when that module's image is known, inside one of
    /// its code sections (a pointer into `.data` is not a return address).
    pub fn is_code_address(&self, address: u64) -> bool {
        let Some((index, entry)) = self.module_at(address) else {
            return false;
        };
        match self.resolved(index).and_then(|r| r.layout.as_ref()) {
            Some(layout) => {
                u32::try_from(address - entry.base).is_ok_and(|rva| layout.is_code(rva))
            }
            None => true,
        }
    }

    /// The record for one frame. `address` is the frame's instruction pointer (frame 0) or
    /// return address (callers). Callers are looked up at `address - 1`, inside the call
    /// instruction, so a call that ends a function is attributed to that function; the
    /// reported offsets stay relative to `address`, as WinDbg prints them.
    pub fn frame(&self, index: u32, address: u64, trust: FrameTrust) -> StackFrame {
        let lookup_address = if trust == FrameTrust::Context {
            address
        } else {
            address.saturating_sub(1)
        };
        let mut frame = StackFrame {
            index,
            address: Address(address),
            module: None,
            offset: None,
            function: None,
            function_offset: None,
            source_line: None,
            inlines: Vec::new(),
            trust,
        };
        let Some((module_index, entry)) = self.module_at(lookup_address) else {
            return frame;
        };
        frame.module = Some(entry.name.clone());
        frame.offset = Some(Address(address.wrapping_sub(entry.base)));
        let hit = self.resolved(module_index).and_then(|resolved| {
            let rva = u32::try_from(lookup_address - entry.base).ok()?;
            resolved.symbols.lookup(rva)
        });
        if let Some(hit) = hit {
            let adjust = address - lookup_address;
            frame.function = Some(hit.function.to_string());
            frame.function_offset = Some(Address(u64::from(hit.function_offset) + adjust));
            frame.source_line = match (hit.file, hit.line) {
                (Some(file), Some(line)) => Some(format!("{file}:{line}")),
                _ => None,
            };
        }
        frame
    }
}
