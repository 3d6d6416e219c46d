#!/usr/bin/env bash
# Rebuilds the real PE + PDB test fixtures from scripts/fixtures/*.c and installs them in
# symstore layout under symbols-cache/:
#   symbols-cache/<name>.sys/<TimeDateStamp %08X><SizeOfImage %x>/<name>.sys
#   symbols-cache/<name>.pdb/<GUID><age %X>/<name>.pdb
# and writes symbols-cache/fixtures.json (timestamps, sizes, PDB ids, function RVAs and
# lengths) for tests and the simulator.
#
# Needs Debian's clang, lld and llvm (LLVM 14 works) and python3:
#   apt-get install -y clang lld llvm
# No -ffreestanding: with it clang emits no .pdata/.xdata, and the unwind info is the point.
# Tests never run this: its outputs are committed. The build is deterministic (fixed
# /timestamp, -ffile-compilation-dir=., /pdbaltpath, /pdbsourcepath, a fixed build folder), so a
# rebuild gives the same bytes and the same PDB GUIDs.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
store="$root/symbols-cache"
# A fixed build folder and relative compilation dirs: paths end up inside the PDB, and the
# same inputs must give the same bytes (and the same PDB GUID) on every machine.
work="/tmp/blastradius-fixture-build"
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT

for tool in clang lld-link llvm-pdbutil python3; do
    command -v "$tool" >/dev/null || { echo "build-fixtures: $tool not found (apt-get install -y clang lld llvm python3)" >&2; exit 1; }
done

# name | extra clang flags | fixed TimeDateStamp
fixtures=(
    "acmenet||0x66A0B1C3"
    "acmeflt|-fno-omit-frame-pointer|0x66A0B2D4"
)

for entry in "${fixtures[@]}"; do
    IFS='|' read -r name flags stamp <<<"$entry"
    cp "$root/scripts/fixtures/$name.c" "$work/"
    (
        cd "$work"
        # shellcheck disable=SC2086
        clang --target=x86_64-pc-windows-msvc -c -O1 -g -gcodeview -ffile-compilation-dir=. \
            -fno-stack-protector $flags "$name.c" -o "$name.obj"
        lld-link /driver /subsystem:native /entry:DriverEntry /nodefaultlib /debug \
            /pdb:"$name.pdb" /pdbaltpath:"$name.pdb" /pdbsourcepath:"C:\\acme\\src" /timestamp:"$stamp" /out:"$name.sys" "$name.obj"
        llvm-pdbutil dump -symbols "$name.pdb" >"$name.symbols.txt"
    )
done

python3 - "$work" "$store" "${fixtures[@]}" <<'PY'
import json, os, re, shutil, struct, sys

work, store, entries = sys.argv[1], sys.argv[2], sys.argv[3:]

def pe_facts(data):
    """TimeDateStamp, SizeOfImage, sections [(va, vsize)], RSDS (guid hex, age, path)."""
    nt = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[nt:nt + 4] == b"PE\0\0"
    nsec, = struct.unpack_from("<H", data, nt + 6)
    stamp, = struct.unpack_from("<I", data, nt + 8)
    opt_size, = struct.unpack_from("<H", data, nt + 20)
    opt = nt + 24
    assert struct.unpack_from("<H", data, opt)[0] == 0x20B, "PE32+ expected"
    size_of_image, = struct.unpack_from("<I", data, opt + 56)
    dbg_rva, dbg_size = struct.unpack_from("<II", data, opt + 112 + 6 * 8)
    sections = []
    for i in range(nsec):
        vsize, va, rsize, rptr = struct.unpack_from("<IIII", data, opt + opt_size + 40 * i + 8)
        sections.append((va, vsize, rsize, rptr))
    def file_offset(rva):
        for va, vsize, rsize, rptr in sections:
            if va <= rva < va + rsize:
                return rptr + rva - va
        raise ValueError(hex(rva))
    rsds = None
    d = file_offset(dbg_rva)
    for k in range(dbg_size // 28):
        typ, size, _, ptr = struct.unpack_from("<IIII", data, d + 28 * k + 12)
        if typ == 2 and data[ptr:ptr + 4] == b"RSDS":
            d1, d2, d3 = struct.unpack_from("<IHH", data, ptr + 4)
            guid = "%08X%04X%04X" % (d1, d2, d3) + data[ptr + 12:ptr + 20].hex().upper()
            age, = struct.unpack_from("<I", data, ptr + 20)
            path = data[ptr + 24:ptr + size].split(b"\0")[0].decode()
            rsds = (guid, age, path)
    return stamp, size_of_image, [(va, vs) for va, vs, _, _ in sections], rsds

out = {}
for entry in entries:
    name = entry.split("|")[0]
    image = open(os.path.join(work, name + ".sys"), "rb").read()
    stamp, size, sections, rsds = pe_facts(image)
    guid, age, pdb_path = rsds
    assert pdb_path == name + ".pdb", pdb_path
    # S_GPROC32 / S_LPROC32 `Name` ... addr = SSSS:OOOO, code size = N  (llvm-pdbutil text)
    text = open(os.path.join(work, name + ".symbols.txt")).read()
    functions = {}
    for m in re.finditer(r"S_[GL]PROC32 \[size = \d+\] `([^`]+)`\s*\n\s*parent = \d+, end = \d+, addr = (\d+):(\d+), code size = (\d+)", text):
        fname, sec, off, length = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
        functions[fname] = {"rva": sections[sec - 1][0] + off, "len": length}
    assert functions, "no procedures found in " + name + ".pdb"
    image_key = "%08X%x" % (stamp, size)
    pdb_key = "%s%X" % (guid, age)
    for folder, key, src in ((name + ".sys", image_key, name + ".sys"), (name + ".pdb", pdb_key, name + ".pdb")):
        dest = os.path.join(store, folder, key)
        # Replace older builds of this fixture (other keys) so the store holds one version.
        shutil.rmtree(os.path.join(store, folder), ignore_errors=True)
        os.makedirs(dest)
        shutil.copyfile(os.path.join(work, src), os.path.join(dest, src))
    out[name + ".sys"] = {
        "timestamp": stamp,
        "size_of_image": size,
        "image_key": image_key,
        "pdb_name": name + ".pdb",
        "pdb_guid_age": pdb_key,
        "functions": dict(sorted(functions.items(), key=lambda kv: kv[1]["rva"])),
    }
    print(f"{name}.sys {image_key}  {name}.pdb {pdb_key}  {len(functions)} functions")

with open(os.path.join(store, "fixtures.json"), "w") as f:
    json.dump(out, f, indent=2)
    f.write("\n")
PY
echo "fixtures installed in $store"
