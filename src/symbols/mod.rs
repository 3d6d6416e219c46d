//! Symbol stores (symstore layout, HTTP symbol servers), PE images, PDBs and Breakpad files,
//! behind one cache shared by every worker thread of a run.
//!
//! Store layout (what symstore.exe, symchk and WinDbg's downstream caches write):
//! - images: `name.sys/<TimeDateStamp %08X><SizeOfImage %x>/name.sys`
//! - PDBs: `name.pdb/<GUID><age %X>/name.pdb`
//! - Breakpad: `name.pdb/<DEBUGID>/name.sym`
//!
//! A kernel driver list gives only name, timestamp and size, so the chain is: image from the
//! store -> its CodeView (RSDS) record -> PDB by GUID + age -> function table. Each module is
//! resolved once per run, found or not; the result is shared read-only, so lookups take no lock.

mod breakpad;
mod cab_file;
mod function_table;
mod http;
mod pdb_lines;
mod pdb_reader;
mod pe_image;
mod symbol_path;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

pub use breakpad::InlineCall;
pub use symbol_path::sanitize_file_name;

use function_table::FunctionTable;
use http::{DownloadLimits, Downloader};
use pe_image::{CodeViewId, Layout};
use symbol_path::{base_name, Source};

/// Why a symbol path could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SymbolError {
    /// The symbol path text is malformed.
    #[error("invalid symbol path {spec:?}: {reason}")]
    InvalidSpec { spec: String, reason: String },
    /// A file or directory could not be read or created.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// Counters for one run (what the cache did so far).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SymbolStats {
    /// Distinct modules resolved (each key once per run), found or not.
    pub modules_resolved: u64,
    /// Resolved modules for which an image or symbols were found.
    pub modules_loaded: u64,
    /// PDB files parsed.
    pub pdbs_parsed: u64,
    /// Breakpad `.sym` files parsed.
    pub breakpad_parsed: u64,
    /// Resolved modules for which nothing was found.
    pub misses: u64,
    /// HTTP requests made to symbol servers.
    pub http_requests: u64,
    /// Files downloaded from symbol servers.
    pub downloads: u64,
    /// Bytes downloaded from symbol servers.
    pub downloaded_bytes: u64,
}

/// Limits for symbol-server downloads.
#[derive(Debug, Clone)]
pub struct SymbolCacheOptions {
    /// Largest file accepted from a server (default 512 MiB; the biggest Windows PDBs are
    /// a few hundred MiB).
    pub max_download_bytes: u64,
    /// Whole-request time limit per file (default 300 s).
    pub download_timeout: Duration,
    /// Connect time limit (default 10 s).
    pub connect_timeout: Duration,
    /// Never contact servers; use only what the local stores and caches hold.
    pub offline: bool,
}

impl Default for SymbolCacheOptions {
    fn default() -> Self {
        SymbolCacheOptions {
            max_download_bytes: 512 * 1024 * 1024,
            download_timeout: Duration::from_secs(300),
            connect_timeout: Duration::from_secs(10),
            offline: false,
        }
    }
}

/// A kernel module as the dump's driver list names it.
#[derive(Debug, Clone, Copy)]
pub struct ModuleId<'a> {
    /// Image base name from the dump (`amdppm.sys`); untrusted, sanitized before use.
    pub name: &'a str,
    /// PE TimeDateStamp from the driver list.
    pub timestamp: u32,
    /// PE SizeOfImage from the driver list.
    pub size: u32,
    /// The image's bytes as mapped in memory from its base (offset = RVA), if the dump
    /// captured them: at least the header page; the CodeView record is read from it only when
    /// the debug directory and the record lie inside these bytes (for most drivers they are in
    /// `.rdata`, beyond the header page).
    pub header_page: Option<&'a [u8]>,
}

/// One function containing an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolHit<'a> {
    /// Function name as the symbol file has it (PDB procedure names are undecorated; PDB
    /// publics keep the linker's decoration, e.g. `_main` or `?f@@YAXXZ` on x86).
    pub function: &'a str,
    /// `rva - function start`.
    pub function_offset: u32,
    /// Source file, when line information covers the address.
    pub file: Option<&'a str>,
    /// Source line, when line information covers the address.
    pub line: Option<u32>,
}

/// What the cache found for one module: its image file (if any), its function table (if a
/// PDB or `.sym` matched) and warnings about what went wrong on the way.
pub struct ModuleSymbols {
    image: Option<memmap2::Mmap>,
    image_file: Option<PathBuf>,
    symbol_file: Option<PathBuf>,
    table: Option<FunctionTable>,
    /// Calls inlined into the table's functions (Breakpad `INLINE` records).
    inlines: Option<breakpad::InlineTable>,
    warnings: Vec<String>,
}

impl std::fmt::Debug for ModuleSymbols {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModuleSymbols")
            .field("image_file", &self.image_file)
            .field("symbol_file", &self.symbol_file)
            .field(
                "functions",
                &self.table.as_ref().map_or(0, FunctionTable::function_count),
            )
            .field("warnings", &self.warnings)
            .finish()
    }
}

impl ModuleSymbols {
    fn new() -> ModuleSymbols {
        ModuleSymbols {
            image: None,
            image_file: None,
            symbol_file: None,
            table: None,
            inlines: None,
            warnings: Vec::new(),
        }
    }

    /// The function containing `rva`, with source file and line when known. Two binary
    /// searches, no allocation.
    pub fn lookup(&self, rva: u32) -> Option<SymbolHit<'_>> {
        let hit = self.table.as_ref()?.lookup(rva)?;
        Some(SymbolHit {
            function: hit.function,
            function_offset: hit.function_offset,
            file: hit.file,
            line: hit.line,
        })
    }

    /// The calls inlined at `rva`, outermost first, when the symbol file records them
    /// (Breakpad `INLINE`); `function_start` is the RVA of the function [`Self::lookup`] found.
    pub fn inlined_calls(&self, rva: u32, function_start: u32) -> Vec<InlineCall<'_>> {
        self.inlines
            .as_ref()
            .map(|i| i.calls_at(rva, function_start))
            .unwrap_or_default()
    }

    /// The whole PE file as stored (file layout, not mapped layout), if the image was found.
    pub fn image(&self) -> Option<&[u8]> {
        self.image.as_deref()
    }

    /// Whether a PDB or `.sym` file matched.
    pub fn has_symbols(&self) -> bool {
        self.table.is_some()
    }

    /// What went wrong while resolving this module (refused name, mismatched or corrupt
    /// files, failed downloads). Names from the dump appear escaped (`{:?}`).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Where the image was found.
    pub fn image_file(&self) -> Option<&Path> {
        self.image_file.as_deref()
    }

    /// Where the PDB or `.sym` was found.
    pub fn symbol_file(&self) -> Option<&Path> {
        self.symbol_file.as_deref()
    }

    /// `[start, end)` RVAs of the first function with this exact name (linear; for tools and
    /// the simulator, not for the hot path).
    pub fn function_range(&self, name: &str) -> Option<(u32, u32)> {
        self.table.as_ref()?.function_range(name)
    }

    /// Every function as (name, start RVA, end RVA), sorted by start.
    pub fn functions(&self) -> impl Iterator<Item = (&str, u32, u32)> + '_ {
        self.table.iter().flat_map(FunctionTable::functions)
    }

    /// Number of functions and of line records in the table.
    pub fn table_size(&self) -> (usize, usize) {
        self.table
            .as_ref()
            .map_or((0, 0), |t| (t.function_count(), t.line_count()))
    }

    fn found_anything(&self) -> bool {
        self.image.is_some() || self.table.is_some()
    }
}

/// What a module is looked up by; one resolution per key per run.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ModuleKey {
    Kernel {
        name_lc: String,
        timestamp: u32,
        size: u32,
        with_header: bool,
    },
    Debug {
        file_lc: String,
        id: String,
        code_file_lc: Option<String>,
        code_id: Option<String>,
    },
}

/// One resolution: filled by the first thread that needs it; others wait for it, then share.
type Slot = Arc<OnceLock<Option<Arc<ModuleSymbols>>>>;

#[derive(Debug, Default)]
struct Counters {
    resolved: AtomicU64,
    loaded: AtomicU64,
    pdbs: AtomicU64,
    breakpad: AtomicU64,
    misses: AtomicU64,
}

/// Every symbol file a run has loaded, shared by all worker threads (`Arc<SymbolCache>`).
#[derive(Debug, Default)]
pub struct SymbolCache {
    sources: Vec<Source>,
    /// Present when the path names at least one server and downloads are allowed.
    downloader: Option<Downloader>,
    /// The lock guards only finding/inserting a slot, never the resolution or the lookups.
    modules: Mutex<HashMap<ModuleKey, Slot>>,
    counters: Counters,
}

impl SymbolCache {
    /// A cache with no stores: every lookup misses.
    pub fn empty() -> SymbolCache {
        SymbolCache::default()
    }

    /// A directory (symstore layout) or a Windows symbol path: `srv*<cache>*<url>`,
    /// `cache*<dir>`, plain dirs, several joined with `;`.
    pub fn from_spec(spec: &str) -> Result<SymbolCache, SymbolError> {
        SymbolCache::from_spec_with(spec, &SymbolCacheOptions::default())
    }

    /// [`SymbolCache::from_spec`] with explicit download limits.
    pub fn from_spec_with(
        spec: &str,
        options: &SymbolCacheOptions,
    ) -> Result<SymbolCache, SymbolError> {
        let sources = symbol_path::parse(spec)?;
        let has_server = sources.iter().any(|s| matches!(s, Source::Server { .. }));
        let downloader = (has_server && !options.offline).then(|| {
            Downloader::new(&DownloadLimits {
                max_bytes: options.max_download_bytes,
                timeout: options.download_timeout,
                connect_timeout: options.connect_timeout,
            })
        });
        Ok(SymbolCache {
            sources,
            downloader,
            ..SymbolCache::default()
        })
    }

    /// `--symbols` if given, else `_NT_SYMBOL_PATH` from the environment, else
    /// `symbols-cache/` in the current directory if it exists, else empty.
    pub fn from_cli(spec: Option<&str>) -> Result<SymbolCache, SymbolError> {
        let env = std::env::var("_NT_SYMBOL_PATH").ok();
        let cwd = std::env::current_dir().unwrap_or_default();
        match choose_spec(spec, env.as_deref(), &cwd) {
            Some(spec) => SymbolCache::from_spec(&spec),
            None => Ok(SymbolCache::empty()),
        }
    }

    /// Kernel drivers: by image name + TimeDateStamp + SizeOfImage. `None` when nothing was
    /// found and there is nothing to report; `Some` when an image or symbols were found, or
    /// when there are warnings (e.g. a refused name) — check `image()` / `has_symbols()`.
    pub fn module(&self, id: &ModuleId<'_>) -> Option<Arc<ModuleSymbols>> {
        let key = |with_header| ModuleKey::Kernel {
            name_lc: id.name.to_lowercase(),
            timestamp: id.timestamp,
            size: id.size,
            with_header,
        };
        let without_header = self.resolve_once(key(false), || self.resolve_kernel(id, None));
        // The header bytes only matter when the store has no image; resolve that variant once
        // too, only for the dumps that carry them.
        match id.header_page {
            Some(header) if without_header.as_ref().is_none_or(|m| m.image.is_none()) => {
                self.resolve_once(key(true), || self.resolve_kernel(id, Some(header)))
            }
            _ => without_header,
        }
    }

    /// User-mode modules: by debug file (`crash.pdb`, or a full path whose base name is used)
    /// and debug id (GUID + age in hex, Breakpad form `3249D99D0C4049318610F4E4FB0B69361`),
    /// plus code file and code id (`%08X%x` of TimeDateStamp and SizeOfImage) for the image.
    /// Looks for a PDB, then a Breakpad `.sym`. Same `None`/`Some` rule as [`Self::module`].
    pub fn module_by_debug_id(
        &self,
        debug_file: &str,
        debug_id: &str,
        code_file: Option<&str>,
        code_id: Option<&str>,
    ) -> Option<Arc<ModuleSymbols>> {
        let key = ModuleKey::Debug {
            file_lc: debug_file.to_lowercase(),
            id: debug_id.to_ascii_uppercase(),
            code_file_lc: code_file.map(str::to_lowercase),
            code_id: code_id.map(str::to_ascii_uppercase),
        };
        self.resolve_once(key, || {
            self.resolve_debug(debug_file, debug_id, code_file, code_id)
        })
    }

    /// What the cache did so far.
    pub fn stats(&self) -> SymbolStats {
        let c = &self.counters;
        let d = self.downloader.as_ref();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SymbolStats {
            modules_resolved: load(&c.resolved),
            modules_loaded: load(&c.loaded),
            pdbs_parsed: load(&c.pdbs),
            breakpad_parsed: load(&c.breakpad),
            misses: load(&c.misses),
            http_requests: d.map_or(0, |d| load(&d.requests)),
            downloads: d.map_or(0, |d| load(&d.downloads)),
            downloaded_bytes: d.map_or(0, |d| load(&d.bytes)),
        }
    }

    fn resolve_once(
        &self,
        key: ModuleKey,
        resolve: impl FnOnce() -> Option<ModuleSymbols>,
    ) -> Option<Arc<ModuleSymbols>> {
        let slot = {
            let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(modules.entry(key).or_default())
        };
        slot.get_or_init(|| {
            self.counters.resolved.fetch_add(1, Ordering::Relaxed);
            let result = resolve();
            let counter = match &result {
                Some(m) if m.found_anything() => &self.counters.loaded,
                _ => &self.counters.misses,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            result.map(Arc::new)
        })
        .clone()
    }

    fn resolve_kernel(&self, id: &ModuleId<'_>, header: Option<&[u8]>) -> Option<ModuleSymbols> {
        let mut module = ModuleSymbols::new();
        let Some(name) = sanitize_file_name(id.name) else {
            module.warnings.push(refused("module name", id.name));
            return Some(module);
        };
        let key = format!("{:08X}{:x}", id.timestamp, id.size);
        let mut codeview = None;
        if let Some(path) = self.find(&name, &key, &name, &mut module.warnings) {
            match map_file(&path) {
                Ok(map) => match pe_image::parse(&map, Layout::File) {
                    Some(pe) if pe.timestamp == id.timestamp && pe.size_of_image == id.size => {
                        codeview = pe.codeview;
                        module.image = Some(map);
                        module.image_file = Some(path);
                    }
                    Some(pe) => module.warnings.push(format!(
                        "{}: image is TimeDateStamp {:#x} SizeOfImage {:#x}, the dump wants {:#x} {:#x}; ignored",
                        path.display(),
                        pe.timestamp,
                        pe.size_of_image,
                        id.timestamp,
                        id.size
                    )),
                    None => module.warnings.push(format!("{}: not a PE image; ignored", path.display())),
                },
                Err(e) => module.warnings.push(e),
            }
        }
        if codeview.is_none() {
            if let Some(pe) = header.and_then(|h| pe_image::parse(h, Layout::Mapped)) {
                if pe.timestamp == id.timestamp && pe.size_of_image == id.size {
                    codeview = pe.codeview;
                }
            }
        }
        match codeview {
            Some(cv) => self.load_codeview_symbols(&cv, &mut module),
            None if module.image.is_some() => module.warnings.push(format!(
                "{name:?}: the image has no CodeView (RSDS) record; no PDB can be matched"
            )),
            None => {}
        }
        (module.found_anything() || !module.warnings.is_empty()).then_some(module)
    }

    /// PDB, else Breakpad `.sym`, for an image's CodeView record.
    fn load_codeview_symbols(&self, cv: &CodeViewId, module: &mut ModuleSymbols) {
        let pdb_path_name = base_name(&cv.pdb_path);
        let Some(pdb_name) = sanitize_file_name(pdb_path_name) else {
            module.warnings.push(refused("PDB name", &cv.pdb_path));
            return;
        };
        let key = cv.store_key();
        if !self.load_pdb(&pdb_name, &key, (&cv.guid, cv.age), module)
            && !self.load_sym(&pdb_name, &key, module)
        {
            module.warnings.push(format!(
                "{pdb_name:?} {key}: no matching PDB or .sym in the symbol path"
            ));
        }
    }

    fn resolve_debug(
        &self,
        debug_file: &str,
        debug_id: &str,
        code_file: Option<&str>,
        code_id: Option<&str>,
    ) -> Option<ModuleSymbols> {
        let mut module = ModuleSymbols::new();
        match (
            sanitize_file_name(base_name(debug_file)),
            normalize_debug_id(debug_id),
        ) {
            (None, _) => module.warnings.push(refused("debug file name", debug_file)),
            (_, None) => module.warnings.push(refused("debug id", debug_id)),
            (Some(file), Some((id, guid, age))) => {
                if !self.load_pdb(&file, &id, (&guid, age), &mut module) {
                    self.load_sym(&file, &id, &mut module);
                }
            }
        }
        if let (Some(code_file), Some(code_id)) = (code_file, code_id) {
            let name = sanitize_file_name(base_name(code_file));
            let id =
                sanitize_file_name(code_id).filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit()));
            match (name, id) {
                (Some(name), Some(id)) => {
                    if let Some(path) = self.find(&name, &id, &name, &mut module.warnings) {
                        match map_file(&path) {
                            Ok(map) => {
                                let matches =
                                    pe_image::parse(&map, Layout::File).is_some_and(|pe| {
                                        format!("{:08X}{:x}", pe.timestamp, pe.size_of_image)
                                            .eq_ignore_ascii_case(&id)
                                    });
                                if matches {
                                    module.image = Some(map);
                                    module.image_file = Some(path);
                                } else {
                                    module.warnings.push(format!(
                                        "{}: not the image {id}; ignored",
                                        path.display()
                                    ));
                                }
                            }
                            Err(e) => module.warnings.push(e),
                        }
                    }
                }
                _ => module.warnings.push(refused(
                    "code file or id",
                    &format!("{code_file} {code_id}"),
                )),
            }
        }
        (module.found_anything() || !module.warnings.is_empty()).then_some(module)
    }

    /// Looks for `<pdb_name>/<key>/<pdb_name>` and loads it if it matches; true on success.
    fn load_pdb(
        &self,
        pdb_name: &str,
        key: &str,
        want: (&str, u32),
        module: &mut ModuleSymbols,
    ) -> bool {
        let Some(path) = self.find(pdb_name, key, pdb_name, &mut module.warnings) else {
            return false;
        };
        self.counters.pdbs.fetch_add(1, Ordering::Relaxed);
        match pdb_reader::load(&path, Some(want)) {
            Ok((_, table)) => {
                module.table = Some(table);
                module.symbol_file = Some(path);
                true
            }
            Err(e) => {
                module.warnings.push(e);
                false
            }
        }
    }

    /// Looks for the Breakpad `<debug_file>/<id>/<stem>.sym` and loads it; true on success.
    fn load_sym(&self, debug_file: &str, id: &str, module: &mut ModuleSymbols) -> bool {
        // Breakpad's rule: `x.pdb` -> `x.sym`; any other name gets `.sym` appended.
        let stem = match debug_file.len().checked_sub(4) {
            Some(cut)
                if debug_file
                    .get(cut..)
                    .is_some_and(|e| e.eq_ignore_ascii_case(".pdb")) =>
            {
                &debug_file[..cut]
            }
            _ => debug_file,
        };
        let sym_name = format!("{stem}.sym");
        let Some(path) = self.find(debug_file, id, &sym_name, &mut module.warnings) else {
            return false;
        };
        self.counters.breakpad.fetch_add(1, Ordering::Relaxed);
        match breakpad::load(&path, Some(id)) {
            Ok(symbols) => {
                module.table = Some(symbols.table);
                module.inlines = Some(symbols.inlines);
                module.symbol_file = Some(path);
                true
            }
            Err(e) => {
                module.warnings.push(e);
                false
            }
        }
    }

    /// Finds `<folder>/<key>/<file>`: first in every local store and server cache (so nothing
    /// cached is downloaded again, whatever the element order), then from the servers in
    /// symbol-path order. All three parts must already be sanitized.
    fn find(
        &self,
        folder: &str,
        key: &str,
        file: &str,
        warnings: &mut Vec<String>,
    ) -> Option<PathBuf> {
        let candidates = case_variants(folder, key, file);
        let local_dirs = self.sources.iter().flat_map(|source| match source {
            Source::Local(dir) => std::slice::from_ref(dir).iter(),
            Source::Server { caches, .. } => caches.iter(),
        });
        for dir in local_dirs {
            for (folder, key, file) in &candidates {
                let path = dir.join(folder).join(key).join(file);
                if path.is_file() {
                    return Some(path);
                }
                // symstore /compress layout: only `name.pd_` is there.
                let packed = cab_file::compressed_name(file).map(|p| path.with_file_name(p));
                if let Some(packed) = packed.filter(|p| p.is_file()) {
                    match cab_file::expand(&packed, file) {
                        Ok(expanded) => return Some(expanded),
                        Err(e) => warnings.push(e),
                    }
                }
            }
        }
        let downloader = self.downloader.as_ref()?;
        for source in &self.sources {
            let Source::Server { url, caches } = source else {
                continue;
            };
            let Some(cache) = caches.first() else {
                continue;
            };
            match downloader.fetch(url, cache, folder, key, file) {
                Ok(Some(path)) => return Some(path),
                Ok(None) => {}
                Err(e) => {
                    warnings.push(format!("symbol server: {e}"));
                    continue;
                }
            }
            // The server has no such file: it may have it CAB-compressed (`name.pd_`), as
            // symstore /compress stores and Microsoft's server serves some files.
            let Some(packed_name) = cab_file::compressed_name(file) else {
                continue;
            };
            match downloader.fetch(url, cache, folder, key, &packed_name) {
                Ok(Some(packed)) => match cab_file::expand(&packed, file) {
                    Ok(expanded) => return Some(expanded),
                    Err(e) => warnings.push(e),
                },
                Ok(None) => {}
                Err(e) => warnings.push(format!("symbol server: {e}")),
            }
        }
        None
    }
}

/// The spelling variants a store on a case-sensitive filesystem may use: as given and lower
/// case for names; as given, upper and lower case for the key (symstore writes the image key
/// as `%08X%x`, the samples' store has it all lower case).
fn case_variants(folder: &str, key: &str, file: &str) -> Vec<(String, String, String)> {
    let mut variants = Vec::new();
    for folder in [folder.to_owned(), folder.to_lowercase()] {
        for key in [
            key.to_owned(),
            key.to_ascii_uppercase(),
            key.to_ascii_lowercase(),
        ] {
            for file in [file.to_owned(), file.to_lowercase()] {
                let variant = (folder.clone(), key.clone(), file);
                if !variants.contains(&variant) {
                    variants.push(variant);
                }
            }
        }
    }
    variants
}

/// `3249D99D-0C40-...` or `{...}` or plain -> (upper-case 33+ digit id, GUID, age), or `None`
/// when it is not 32 hex digits of GUID followed by 1-8 hex digits of age.
fn normalize_debug_id(debug_id: &str) -> Option<(String, String, u32)> {
    let id: String = debug_id
        .chars()
        .filter(|c| !matches!(c, '-' | '{' | '}'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if !(33..=40).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let guid = id.get(..32)?.to_owned();
    let age = u32::from_str_radix(id.get(32..)?, 16).ok()?;
    Some((id, guid, age))
}

/// The warning for a dump-derived name that cannot become a path.
fn refused(what: &str, name: &str) -> String {
    format!(
        "{what} {name:?} refused: it could escape the symbol store (path separators, `..`, a drive \
         letter or control characters); not looked up"
    )
}

fn map_file(path: &Path) -> Result<memmap2::Mmap, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    // SAFETY: store files are only ever replaced by atomic renames of complete files (ours,
    // symstore, symchk), never rewritten in place, so the mapping does not change under us.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| format!("{}: {e}", path.display()))
}

/// The symbol path to use: the flag, else the environment, else `./symbols-cache` if present.
fn choose_spec(flag: Option<&str>, env: Option<&str>, cwd: &Path) -> Option<String> {
    if let Some(flag) = flag {
        return Some(flag.to_owned());
    }
    if let Some(env) = env.filter(|e| !e.trim().is_empty()) {
        return Some(env.to_owned());
    }
    let default = cwd.join("symbols-cache");
    default
        .is_dir()
        .then(|| default.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_ids_are_normalized() {
        let (id, guid, age) = normalize_debug_id("3249d99d-0c40-4931-8610-f4e4fb0b6936-1").unwrap();
        assert_eq!(
            (id.as_str(), guid.as_str(), age),
            (
                "3249D99D0C4049318610F4E4FB0B69361",
                "3249D99D0C4049318610F4E4FB0B6936",
                1
            )
        );
        assert!(normalize_debug_id("..\\..\\x").is_none());
        assert!(normalize_debug_id("3249D99D0C4049318610F4E4FB0B6936").is_none());
    }

    #[test]
    fn spec_choice_order() {
        let dir = std::env::temp_dir();
        assert_eq!(
            choose_spec(Some("a"), Some("b"), &dir).as_deref(),
            Some("a")
        );
        assert_eq!(choose_spec(None, Some("b"), &dir).as_deref(), Some("b"));
        assert_eq!(
            choose_spec(None, Some(" "), Path::new("/nonexistent")),
            None
        );
    }

    #[test]
    fn cache_is_send_sync() {
        fn check<T: Send + Sync>() {}
        check::<SymbolCache>();
        check::<ModuleSymbols>();
    }
}
