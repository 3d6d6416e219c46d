//! Symbol store, PDB, Breakpad, symbol-path and symbol-server tests against real files: the
//! shared samples' PDBs and images, the clang/lld-built fixtures in `symbols-cache/`, and a
//! real HTTP server on 127.0.0.1.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use blastradius::dump::kernel::KernelDump;
use blastradius::dump::memory::MemoryRead;
use blastradius::symbols::{sanitize_file_name, ModuleId, SymbolCache, SymbolCacheOptions};

use crate::common::{project_root, sample, sample_symbols};

const AMDPPM_TIMESTAMP: u32 = 0xC9C0_3000;
const AMDPPM_SIZE: u32 = 0x3_b000;

fn amdppm(header_page: Option<&[u8]>) -> ModuleId<'_> {
    ModuleId {
        name: "amdppm.sys",
        timestamp: AMDPPM_TIMESTAMP,
        size: AMDPPM_SIZE,
        header_page,
    }
}

#[test]
fn amdppm_image_and_pdb_from_the_sample_store() {
    let Some(store) = sample_symbols() else {
        return;
    };
    let cache = SymbolCache::from_spec(store.to_str().unwrap()).unwrap();
    let module = cache.module(&amdppm(None)).expect("amdppm resolves");
    assert!(module.warnings().is_empty(), "{:?}", module.warnings());
    // The store spells the key in lower case (c9c030003b000); symstore writes C9C030003b000.
    assert!(module
        .image_file()
        .unwrap()
        .ends_with("amdppm.sys/c9c030003b000/amdppm.sys"));
    assert_eq!(
        module.image().unwrap().len(),
        std::fs::metadata(module.image_file().unwrap())
            .unwrap()
            .len() as usize
    );
    // PDB-info age 3, DBI age 1, RSDS age 1: matched through the DBI age like WinDbg.
    assert!(module.has_symbols());
    assert!(module
        .symbol_file()
        .unwrap()
        .ends_with("amdppm.pdb/1C19FDDB27BB3399D9B45973EFEAFCF31/amdppm.pdb"));

    let (start, end) = module
        .function_range("WriteIoMemRawEx")
        .expect("WriteIoMemRawEx");
    // P2 = 0xFFFFF8048B58334C is WriteIoMemRawEx+0x70: the page offset must agree.
    assert_eq!((start + 0x70) & 0xFFF, 0x34C);
    assert!(end > start + 0x70);
    let hit = module.lookup(start + 0x70).unwrap();
    assert_eq!(
        (hit.function, hit.function_offset),
        ("WriteIoMemRawEx", 0x70)
    );
    assert!(module.function_range("InitAcpiCpc").is_some());
    // Outside every function (the PE header) there is nothing.
    assert!(module.lookup(0x10).is_none());

    // Resolved once: a second call shares the same Arc and parses nothing.
    let again = cache
        .module(&ModuleId {
            name: "AMDPPM.SYS",
            ..amdppm(None)
        })
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(&module, &again));
    let stats = cache.stats();
    assert_eq!(
        (
            stats.modules_resolved,
            stats.modules_loaded,
            stats.pdbs_parsed,
            stats.misses
        ),
        (1, 1, 1, 0)
    );
}

#[test]
fn amdppm_fault_address_from_the_real_dump() {
    let (Some(store), Some(dump_path)) =
        (sample_symbols(), sample("kernel/win10-x64-0x7E-amdppm.dmp"))
    else {
        return;
    };
    let bytes = std::fs::read(&dump_path).unwrap();
    let dump = KernelDump::parse(&dump_path, &bytes).unwrap();
    let driver = dump
        .drivers()
        .iter()
        .find(|d| d.name.eq_ignore_ascii_case("amdppm.sys"))
        .unwrap();
    assert_eq!(
        (driver.timestamp, driver.size),
        (AMDPPM_TIMESTAMP, AMDPPM_SIZE)
    );
    let memory = dump.memory(&bytes);
    // The dump captured only the first 0x100 bytes of amdppm's headers (a triage data block):
    // not even the whole optional header, and nowhere near the debug directory in .rdata.
    let header = memory.read_bytes(driver.base, 0x100);
    assert!(
        header.is_some_and(|h| h.starts_with(b"MZ")),
        "the dump captured amdppm's header"
    );
    assert!(memory.read_bytes(driver.base, 0x1000).is_none());
    let cache = SymbolCache::from_spec(store.to_str().unwrap()).unwrap();
    let module = cache
        .module(&ModuleId {
            name: &driver.name,
            timestamp: driver.timestamp,
            size: driver.size,
            header_page: header,
        })
        .unwrap();
    let rva = u32::try_from(dump.header.bugcheck_parameters[1] - driver.base).unwrap();
    assert_eq!(rva, 0x334C);
    let hit = module.lookup(rva).unwrap();
    assert_eq!(
        (hit.function, hit.function_offset),
        ("WriteIoMemRawEx", 0x70)
    );

    // Without the image in the store those header bytes cannot name the PDB: no symbols, and
    // no panic on the truncated headers.
    let pdb_only = tempfile::tempdir().unwrap();
    let pdb_dir = "amdppm.pdb/1C19FDDB27BB3399D9B45973EFEAFCF31";
    std::fs::create_dir_all(pdb_only.path().join(pdb_dir)).unwrap();
    std::fs::copy(
        store.join(pdb_dir).join("amdppm.pdb"),
        pdb_only.path().join(pdb_dir).join("amdppm.pdb"),
    )
    .unwrap();
    let cache = SymbolCache::from_spec(pdb_only.path().to_str().unwrap()).unwrap();
    let id = ModuleId {
        name: &driver.name,
        timestamp: driver.timestamp,
        size: driver.size,
        header_page: header,
    };
    assert!(cache.module(&id).is_none_or(|m| !m.has_symbols()));
}

#[test]
fn pdb_with_lines_by_debug_id() {
    let Some(store) = sample_symbols() else {
        return;
    };
    let cache = SymbolCache::from_spec(store.to_str().unwrap()).unwrap();
    // Minidumps give the debug file as a full build path; the store is keyed by its base name.
    let module = cache
        .module_by_debug_id(
            r"C:\projects\crash\Release\crash.pdb",
            "3249D99D0C4049318610F4E4FB0B69361",
            None,
            None,
        )
        .expect("crash.pdb");
    assert!(module.has_symbols(), "{:?}", module.warnings());
    let (start, end) = module.function_range("main").expect("main");
    let lines: Vec<(u32, String)> = (start..end)
        .filter_map(|rva| module.lookup(rva))
        .filter_map(|hit| Some((hit.line?, hit.file?.to_owned())))
        .collect();
    assert!(
        lines
            .iter()
            .all(|(_, file)| file.to_ascii_lowercase().ends_with("main.cpp")),
        "{lines:?}"
    );
    // The crash is at main.cpp line 35 (sample README).
    assert!(lines.iter().any(|(line, _)| *line == 35), "{lines:?}");
    // The caller frame: __scrt_common_main_seh at exe_common.inl:283.
    let (start, end) = module
        .function_range("__scrt_common_main_seh")
        .expect("__scrt_common_main_seh");
    let line_283 = (start..end)
        .filter_map(|rva| module.lookup(rva))
        .find(|hit| hit.line == Some(283))
        .expect("line 283");
    assert!(
        line_283.file.unwrap().ends_with("exe_common.inl"),
        "{line_283:?}"
    );
    // A wrong age is not accepted.
    assert!(cache
        .module_by_debug_id("crash.pdb", "3249D99D0C4049318610F4E4FB0B69362", None, None)
        .is_none_or(|m| !m.has_symbols()));
}

#[test]
fn breakpad_sym_by_debug_id() {
    let Some(store) = sample_symbols() else {
        return;
    };
    let cache = SymbolCache::from_spec(store.to_str().unwrap()).unwrap();
    let module = cache
        .module_by_debug_id(
            "test_app.pdb",
            "5A9832E5287241C1838ED98914E9B7FF1",
            None,
            None,
        )
        .expect("test_app.sym");
    assert!(module.symbol_file().unwrap().ends_with("test_app.sym"));
    let (start, end) = module
        .function_range("`anonymous namespace'::CrashFunction")
        .unwrap();
    assert_eq!((start, end), (0x4290, 0x42a8));
    let line58 = (start..end)
        .filter_map(|rva| module.lookup(rva))
        .find(|hit| hit.line == Some(58))
        .expect("line 58");
    assert_eq!(line58.function, "`anonymous namespace'::CrashFunction");
    assert!(line58.file.unwrap().ends_with("test_app.cc"));
    assert_eq!(cache.stats().breakpad_parsed, 1);
}

#[test]
fn hostile_names_never_leave_the_store() {
    for bad in ["..\\..\\x", "a/b", "C:x", "x\0y", "..", "../../etc/passwd"] {
        assert_eq!(sanitize_file_name(bad), None, "{bad:?}");
    }
    let outside = tempfile::tempdir().unwrap();
    let store = outside.path().join("store");
    std::fs::create_dir_all(&store).unwrap();
    // A file a traversal would reach: <store>/../evil.sys/<key>/evil.sys is outside the store.
    let key = format!("{:08X}{:x}", AMDPPM_TIMESTAMP, AMDPPM_SIZE);
    let escaped = outside.path().join("evil.sys").join(&key);
    std::fs::create_dir_all(&escaped).unwrap();
    std::fs::write(escaped.join("evil.sys"), b"MZ").unwrap();
    let cache = SymbolCache::from_spec(store.to_str().unwrap()).unwrap();
    for name in ["..\\..\\evil.sys", "../evil.sys", "..", "C:evil.sys"] {
        let module = cache
            .module(&ModuleId {
                name,
                ..amdppm(None)
            })
            .expect("a refusal is reported");
        assert!(module.image().is_none() && !module.has_symbols());
        assert!(
            module.warnings()[0].contains("refused"),
            "{:?}",
            module.warnings()
        );
    }
    let module = cache
        .module_by_debug_id("..\\..\\evil.pdb", "../../../x", None, None)
        .unwrap();
    assert!(module.warnings()[0].contains("refused"));
}

#[test]
fn symbol_paths_and_cli_choice() {
    let Some(store) = sample_symbols() else {
        return;
    };
    let spec = format!(
        "/nonexistent/one;cache*{};{}",
        tempfile::tempdir().unwrap().path().display(),
        store.display()
    );
    let cache = SymbolCache::from_spec(&spec).unwrap();
    assert!(cache.module(&amdppm(None)).unwrap().has_symbols());
    assert!(SymbolCache::from_spec("bogus*thing").is_err());
    // The flag wins over the environment and the default folder.
    let cache = SymbolCache::from_cli(Some(store.to_str().unwrap())).unwrap();
    assert!(cache.module(&amdppm(None)).is_some());
    // A module nobody has: None, and counted as a miss once however often it is asked.
    let missing = ModuleId {
        name: "nothere.sys",
        timestamp: 1,
        size: 0x1000,
        header_page: None,
    };
    assert!(cache.module(&missing).is_none());
    assert!(cache.module(&missing).is_none());
    assert_eq!(cache.stats().misses, 1);
}

#[test]
fn one_parse_shared_by_concurrent_threads() {
    let Some(store) = sample_symbols() else {
        return;
    };
    let cache = Arc::new(SymbolCache::from_spec(store.to_str().unwrap()).unwrap());
    let modules: Vec<_> = (0..8)
        .map(|_| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || cache.module(&amdppm(None)).unwrap())
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().unwrap())
        .collect();
    assert!(modules.iter().all(|m| Arc::ptr_eq(m, &modules[0])));
    assert_eq!(cache.stats().pdbs_parsed, 1);
}

/// `symbols-cache/fixtures.json`, written by scripts/build-fixtures.sh.
fn fixtures() -> serde_json::Value {
    let text = std::fs::read_to_string(project_root().join("symbols-cache/fixtures.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture_id(fixtures: &serde_json::Value, name: &'static str) -> ModuleId<'static> {
    let f = &fixtures[name];
    ModuleId {
        name,
        timestamp: f["timestamp"].as_u64().unwrap() as u32,
        size: f["size_of_image"].as_u64().unwrap() as u32,
        header_page: None,
    }
}

#[test]
fn clang_built_fixtures_symbolize_from_the_default_store() {
    let fixtures = fixtures();
    let store = project_root().join("symbols-cache");
    let cache = SymbolCache::from_spec(store.to_str().unwrap()).unwrap();
    for name in ["acmenet.sys", "acmeflt.sys"] {
        let id = fixture_id(&fixtures, name);
        let module = cache.module(&id).unwrap();
        assert!(module.has_symbols(), "{name}: {:?}", module.warnings());
        // Cross-check our PE reader with the `object` crate: the PDB found is the one the
        // image's RSDS record names.
        let pe = object::read::pe::PeFile64::parse(module.image().unwrap()).unwrap();
        let cv = object::Object::pdb_info(&pe).unwrap().unwrap();
        let g = cv.guid();
        let guid = format!(
            "{:08X}{:04X}{:04X}{}",
            u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
            u16::from_le_bytes([g[4], g[5]]),
            u16::from_le_bytes([g[6], g[7]]),
            g[8..]
                .iter()
                .map(|b| format!("{b:02X}"))
                .collect::<String>()
        );
        let key = format!("{guid}{:X}", cv.age());
        assert_eq!(key, fixtures[name]["pdb_guid_age"].as_str().unwrap());
        assert!(module
            .symbol_file()
            .unwrap()
            .to_string_lossy()
            .contains(&key));
        // Every function llvm-pdbutil listed has the same range in our table.
        let functions = fixtures[name]["functions"].as_object().unwrap();
        for (function, f) in functions {
            let rva = f["rva"].as_u64().unwrap() as u32;
            let len = f["len"].as_u64().unwrap() as u32;
            assert_eq!(
                module.function_range(function),
                Some((rva, rva + len)),
                "{name}!{function}"
            );
            let hit = module.lookup(rva + len - 1).unwrap();
            assert_eq!(
                (hit.function, hit.function_offset),
                (function.as_str(), len - 1)
            );
        }
        assert_eq!(module.functions().count(), functions.len());
    }
    let acmenet = cache.module(&fixture_id(&fixtures, "acmenet.sys")).unwrap();
    let (start, _) = acmenet.function_range("FilterSend").unwrap();
    let hit = acmenet.lookup(start + 0x10).unwrap();
    assert_eq!((hit.function, hit.function_offset), ("FilterSend", 0x10));
    // The PDB was built with /pdbsourcepath:C:\\acme\\src.
    assert_eq!(hit.file, Some(r"C:\acme\src\acmenet.c"));
    // Every line in FilterSend's range lies inside its body in the C source.
    let source =
        std::fs::read_to_string(project_root().join("scripts/fixtures/acmenet.c")).unwrap();
    let first = source
        .lines()
        .position(|l| l.starts_with("NOINLINE NTSTATUS FilterSend("))
        .unwrap() as u32
        + 1;
    let last = first
        + source
            .lines()
            .skip(first as usize)
            .position(|l| l == "}")
            .unwrap() as u32
        + 1;
    let (start, end) = acmenet.function_range("FilterSend").unwrap();
    let lines: Vec<u32> = (start..end)
        .filter_map(|rva| acmenet.lookup(rva)?.line)
        .collect();
    assert!(
        lines.len() as u32 > (end - start) / 2,
        "most bytes have a line: {lines:?}"
    );
    assert!(
        lines.iter().all(|l| (first..=last).contains(l)),
        "{first}..={last}: {lines:?}"
    );
    // Exactly the line table `llvm-pdbutil dump -l` prints for FilterSend (0001:0150-01B2).
    let pdbutil = [
        (0x1150, 95),
        (0x115B, 97),
        (0x116B, 99),
        (0x1176, 100),
        (0x117B, 101),
        (0x1181, 104),
        (0x118C, 105),
        (0x11A1, 106),
        (0x11AB, 108),
        (0x11B1, 108),
    ];
    for (rva, line) in pdbutil {
        assert_eq!(
            acmenet.lookup(rva).and_then(|h| h.line),
            Some(line),
            "rva {rva:#x}"
        );
        assert_eq!(
            acmenet
                .lookup(rva - 1)
                .and_then(|h| h.line)
                .is_some_and(|l| l != line),
            rva != 0x1150 && rva != 0x11B1,
            "rva {rva:#x} - 1"
        );
    }
}

#[test]
fn header_page_from_memory_finds_the_pdb_without_the_image() {
    // A store with only the PDB, and the image bytes laid out as in memory (what a dump with
    // the driver's pages captured provides).
    let fixtures = fixtures();
    let id = fixture_id(&fixtures, "acmenet.sys");
    let root = project_root().join("symbols-cache");
    let full = SymbolCache::from_spec(root.to_str().unwrap()).unwrap();
    let file = full.module(&id).unwrap().image().unwrap().to_vec();
    let mapped = map_like_the_loader(&file);

    let store = tempfile::tempdir().unwrap();
    let pdb_dir = format!(
        "acmenet.pdb/{}",
        fixtures["acmenet.sys"]["pdb_guid_age"].as_str().unwrap()
    );
    std::fs::create_dir_all(store.path().join(&pdb_dir)).unwrap();
    std::fs::copy(
        root.join(&pdb_dir).join("acmenet.pdb"),
        store.path().join(&pdb_dir).join("acmenet.pdb"),
    )
    .unwrap();
    let cache = SymbolCache::from_spec(store.path().to_str().unwrap()).unwrap();
    assert!(cache.module(&id).is_none(), "no image, no header: nothing");
    let module = cache
        .module(&ModuleId {
            header_page: Some(&mapped),
            ..id
        })
        .unwrap();
    assert!(module.image().is_none());
    assert!(module.has_symbols(), "{:?}", module.warnings());
    assert!(module.function_range("ClassifyPacket").is_some());
    // Only the first page (the PE headers): the debug directory is in .rdata, out of reach.
    let header_only = SymbolCache::from_spec(store.path().to_str().unwrap()).unwrap();
    let module = header_only.module(&ModuleId {
        header_page: Some(&mapped[..0x1000]),
        ..id
    });
    assert!(module.is_none_or(|m| !m.has_symbols()));
}

/// Lays a PE file out as the loader maps it: headers at 0, each section at its RVA.
fn map_like_the_loader(file: &[u8]) -> Vec<u8> {
    let pe = object::read::pe::PeFile64::parse(file).unwrap();
    let size = pe
        .nt_headers()
        .optional_header
        .size_of_image
        .get(object::LittleEndian) as usize;
    let mut image = vec![0u8; size];
    let headers = pe
        .nt_headers()
        .optional_header
        .size_of_headers
        .get(object::LittleEndian) as usize;
    image[..headers].copy_from_slice(&file[..headers]);
    for section in pe.section_table().iter() {
        let va = section.virtual_address.get(object::LittleEndian) as usize;
        let raw = section.pointer_to_raw_data.get(object::LittleEndian) as usize;
        let len = section.size_of_raw_data.get(object::LittleEndian) as usize;
        image[va..va + len].copy_from_slice(&file[raw..raw + len]);
    }
    image
}

/// A minimal HTTP/1.1 file server on 127.0.0.1 over a symstore folder, recording every
/// request path. Serves until the test process exits.
pub(crate) fn serve_store(root: PathBuf) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&requests);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
            log.lock().unwrap().push(path.clone());
            let relative = path.trim_start_matches("/symbols/");
            let file = (!relative.contains(".."))
                .then(|| root.join(relative))
                .filter(|p| p.is_file());
            let response = match file {
                Some(file) => {
                    let body = std::fs::read(file).unwrap();
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(&body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&response);
        }
    });
    (format!("http://127.0.0.1:{port}/symbols"), requests)
}

#[test]
fn symbol_server_download_cache_and_miss_memory() {
    let fixtures = fixtures();
    let id = fixture_id(&fixtures, "acmenet.sys");
    let (url, requests) = serve_store(project_root().join("symbols-cache"));
    let count = || requests.lock().unwrap().len();
    let cache_dir = tempfile::tempdir().unwrap();
    let spec = format!("srv*{}*{url}", cache_dir.path().display());

    // Cold: one request for the image, one for the PDB, both land in the cache.
    let cache = SymbolCache::from_spec(&spec).unwrap();
    let module = cache.module(&id).unwrap();
    assert!(module.has_symbols(), "{:?}", module.warnings());
    assert_eq!(
        module
            .lookup(
                fixtures["acmenet.sys"]["functions"]["FilterSend"]["rva"]
                    .as_u64()
                    .unwrap() as u32
            )
            .unwrap()
            .function,
        "FilterSend"
    );
    assert_eq!(count(), 2, "{:?}", requests.lock().unwrap());
    let key = fixtures["acmenet.sys"]["image_key"].as_str().unwrap();
    assert!(cache_dir
        .path()
        .join("acmenet.sys")
        .join(key)
        .join("acmenet.sys")
        .is_file());
    let pdb_key = fixtures["acmenet.sys"]["pdb_guid_age"].as_str().unwrap();
    assert!(cache_dir
        .path()
        .join("acmenet.pdb")
        .join(pdb_key)
        .join("acmenet.pdb")
        .is_file());
    let stats = cache.stats();
    assert_eq!((stats.http_requests, stats.downloads), (2, 2));
    assert_eq!(
        stats.downloaded_bytes,
        module.image().unwrap().len() as u64
            + std::fs::metadata(module.symbol_file().unwrap())
                .unwrap()
                .len()
    );
    let leftovers = walk(cache_dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("partial"))
        .count();
    assert_eq!(leftovers, 0);

    // A new run with the same cache: nothing is downloaded again.
    let cache = SymbolCache::from_spec(&spec).unwrap();
    assert!(cache.module(&id).unwrap().has_symbols());
    assert_eq!(count(), 2);
    assert_eq!(cache.stats().downloads, 0);

    // A miss is asked once per run, however many dumps name it.
    let missing = ModuleId {
        name: "nothere.sys",
        timestamp: 0x1234_5678,
        size: 0x9000,
        header_page: None,
    };
    assert!(cache.module(&missing).is_none());
    assert!(cache
        .module(&ModuleId {
            name: "NotHere.SYS",
            ..missing
        })
        .is_none());
    // The image, then its CAB-compressed form (`nothere.sy_`).
    assert_eq!(count(), 4);
    // The same missing PDB under two different module keys: the URL is asked once.
    let debug_id = "0123456789ABCDEF0123456789ABCDEF1";
    assert!(cache
        .module_by_debug_id("gone.pdb", debug_id, None, None)
        .is_none());
    let before = count();
    assert!(cache
        .module_by_debug_id(
            "gone.pdb",
            debug_id,
            Some("gone.dll"),
            Some("5A00000011000")
        )
        .is_none());
    // Only the new image URL and its compressed form; the PDB and .sym URLs (and theirs)
    // were remembered as misses.
    assert_eq!(count(), before + 2, "{:?}", requests.lock().unwrap());

    // Hostile names never become URLs.
    let before = count();
    let module = cache
        .module(&ModuleId {
            name: "..\\..\\evil.sys",
            ..missing
        })
        .unwrap();
    assert!(module.warnings()[0].contains("refused"));
    assert_eq!(count(), before);
    assert!(requests.lock().unwrap().iter().all(|p| !p.contains("..")));
}

#[test]
fn symbol_server_downloads_are_bounded() {
    let fixtures = fixtures();
    let id = fixture_id(&fixtures, "acmenet.sys");
    let (url, requests) = serve_store(project_root().join("symbols-cache"));
    let cache_dir = tempfile::tempdir().unwrap();
    let options = SymbolCacheOptions {
        max_download_bytes: 100,
        ..SymbolCacheOptions::default()
    };
    let cache = SymbolCache::from_spec_with(
        &format!("srv*{}*{url}", cache_dir.path().display()),
        &options,
    )
    .unwrap();
    let module = cache.module(&id).unwrap();
    assert!(module.image().is_none() && !module.has_symbols());
    assert!(
        module.warnings().iter().any(|w| w.contains("limit")),
        "{:?}",
        module.warnings()
    );
    assert_eq!(requests.lock().unwrap().len(), 1);
    assert!(
        walk(cache_dir.path()).is_empty(),
        "nothing half-written stays: {:?}",
        walk(cache_dir.path())
    );

    // Offline: the server is never contacted.
    let offline = SymbolCacheOptions {
        offline: true,
        ..SymbolCacheOptions::default()
    };
    let cache = SymbolCache::from_spec_with(
        &format!("srv*{}*{url}", cache_dir.path().display()),
        &offline,
    )
    .unwrap();
    assert!(cache.module(&id).is_none());
    assert_eq!(requests.lock().unwrap().len(), 1);
}

#[test]
fn corrupt_store_files_give_warnings_not_panics() {
    let fixtures = fixtures();
    let id = fixture_id(&fixtures, "acmenet.sys");
    let root = project_root().join("symbols-cache");
    let image_dir = format!(
        "acmenet.sys/{}",
        fixtures["acmenet.sys"]["image_key"].as_str().unwrap()
    );
    let pdb_dir = format!(
        "acmenet.pdb/{}",
        fixtures["acmenet.sys"]["pdb_guid_age"].as_str().unwrap()
    );
    let image = std::fs::read(root.join(&image_dir).join("acmenet.sys")).unwrap();
    let pdb = std::fs::read(root.join(&pdb_dir).join("acmenet.pdb")).unwrap();

    // Each damaged PDB variant: truncated at several points, and one with its middle zeroed.
    let mut damaged: Vec<Vec<u8>> = [0x20, 0x1000, 0x4000, pdb.len() / 2, pdb.len() - 0x1000]
        .iter()
        .map(|&n| pdb[..n].to_vec())
        .collect();
    let mut zeroed = pdb.clone();
    zeroed[0x3000..0x9000].fill(0);
    damaged.push(zeroed);
    for (i, bad_pdb) in damaged.iter().enumerate() {
        let store = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(store.path().join(&image_dir)).unwrap();
        std::fs::create_dir_all(store.path().join(&pdb_dir)).unwrap();
        std::fs::write(store.path().join(&image_dir).join("acmenet.sys"), &image).unwrap();
        std::fs::write(store.path().join(&pdb_dir).join("acmenet.pdb"), bad_pdb).unwrap();
        let cache = SymbolCache::from_spec(store.path().to_str().unwrap()).unwrap();
        let module = cache.module(&id).unwrap();
        assert!(module.image().is_some());
        // Either the parser got something usable out of it or it said why not.
        assert!(
            module.has_symbols() || !module.warnings().is_empty(),
            "variant {i}"
        );
    }

    // A truncated image is not used, and says so.
    let store = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(store.path().join(&image_dir)).unwrap();
    std::fs::write(
        store.path().join(&image_dir).join("acmenet.sys"),
        &image[..0x100],
    )
    .unwrap();
    let cache = SymbolCache::from_spec(store.path().to_str().unwrap()).unwrap();
    let module = cache.module(&id).unwrap();
    assert!(module.image().is_none() && !module.has_symbols());
    assert!(
        module.warnings()[0].contains("not a PE image"),
        "{:?}",
        module.warnings()
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect()
}
