#!/usr/bin/env python3
"""List the symbols a Mach-O executable imports, and from which library.

    python3 dist/macho-imports.py target/aarch64-apple-darwin/release/lab [_kevent _kqueue]

Prints one line per imported symbol: `_kevent  /usr/lib/libSystem.B.dylib`. With symbol names
after the file, checks that each is imported from libSystem and exits 1 if one is not; for an
arm64 image it also checks that the linker signed it (ad hoc), without which Apple silicon
refuses to run any executable.

Used by .ci/run and dist/build.sh to prove that a macOS binary linked on Linux really calls the
kernel's kqueue (no tool from Apple is needed: this reads the load commands and the symbol
table directly). Thin 64-bit Mach-O files and universal (fat) files are understood.
"""

import struct
import sys

MH_MAGIC_64 = 0xFEEDFACF
FAT_MAGIC = 0xCAFEBABE
LC_SYMTAB = 0x2
LC_CODE_SIGNATURE = 0x1D
CPU_TYPE_ARM64 = 0x0100000C
LC_LOAD_DYLIB = 0xC
LC_LOAD_WEAK_DYLIB = 0x80000018
LC_REEXPORT_DYLIB = 0x8000001F
LC_LOAD_UPWARD_DYLIB = 0x80000023
DYLIB_COMMANDS = (LC_LOAD_DYLIB, LC_LOAD_WEAK_DYLIB, LC_REEXPORT_DYLIB, LC_LOAD_UPWARD_DYLIB)
N_TYPE = 0x0E
N_UNDF = 0x0
N_EXT = 0x01
N_STAB = 0xE0


def thin_images(data):
    """The offsets of the 64-bit Mach-O images in the file (one, or one per fat slice)."""
    (magic,) = struct.unpack_from(">I", data, 0)
    if magic == FAT_MAGIC:
        (count,) = struct.unpack_from(">I", data, 4)
        offsets = []
        for i in range(count):
            _cputype, _subtype, offset, _size, _align = struct.unpack_from(">iiIII", data, 8 + 20 * i)
            offsets.append(offset)
        return offsets
    return [0]


def load_commands(data, base):
    """The CPU type and the (command, offset) of each load command of the image at `base`."""
    (magic,) = struct.unpack_from("<I", data, base)
    if magic != MH_MAGIC_64:
        raise ValueError(f"not a 64-bit little-endian Mach-O image (magic {magic:#x})")
    _magic, cpu, _sub, _filetype, ncmds, _sizeofcmds, _flags, _reserved = struct.unpack_from(
        "<IiiIIIII", data, base
    )
    at = base + 32
    commands = []
    for _ in range(ncmds):
        cmd, cmdsize = struct.unpack_from("<II", data, at)
        commands.append((cmd, at))
        at += cmdsize
    return cpu, commands


def imports(data, base):
    """(symbol, library) for every undefined external symbol of the image at `base`."""
    _cpu, commands = load_commands(data, base)
    dylibs = []
    symtab = None
    for cmd, at in commands:
        if cmd in DYLIB_COMMANDS:
            _cmd, cmdsize, name_offset = struct.unpack_from("<III", data, at)
            name = data[at + name_offset : at + cmdsize].split(b"\0", 1)[0]
            dylibs.append(name.decode())
        elif cmd == LC_SYMTAB:
            symtab = struct.unpack_from("<IIII", data, at + 8)
    if symtab is None:
        raise ValueError("no symbol table (LC_SYMTAB)")
    symoff, nsyms, stroff, _strsize = symtab
    found = []
    for i in range(nsyms):
        n_strx, n_type, _n_sect, n_desc, _n_value = struct.unpack_from("<IBBHQ", data, base + symoff + 16 * i)
        if n_type & N_STAB or (n_type & N_TYPE) != N_UNDF or not n_type & N_EXT:
            continue
        name = data[base + stroff + n_strx :].split(b"\0", 1)[0].decode()
        ordinal = (n_desc >> 8) & 0xFF  # two-level namespace: which dylib provides it
        library = dylibs[ordinal - 1] if 1 <= ordinal <= len(dylibs) else f"(ordinal {ordinal})"
        found.append((name, library))
    return found


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    path, wanted = sys.argv[1], sys.argv[2:]
    with open(path, "rb") as f:
        data = f.read()
    status = 0
    for base in thin_images(data):
        try:
            found = dict(imports(data, base))
            cpu, commands = load_commands(data, base)
        except (ValueError, struct.error) as err:
            print(f"{path}: {err}", file=sys.stderr)
            return 1
        if wanted and cpu == CPU_TYPE_ARM64:
            if any(cmd == LC_CODE_SIGNATURE for cmd, _ in commands):
                print(f"{path}: arm64, signed by the linker (ad hoc), as Apple silicon requires")
            else:
                print(f"{path}: arm64 but NOT signed: Apple silicon would kill it", file=sys.stderr)
                status = 1
        if not wanted:
            for name in sorted(found):
                print(f"{name}  {found[name]}")
            continue
        for name in wanted:
            library = found.get(name)
            if library is None:
                print(f"{path}: {name} is NOT imported", file=sys.stderr)
                status = 1
            elif "libSystem" not in library:
                print(f"{path}: {name} comes from {library}, not libSystem", file=sys.stderr)
                status = 1
            else:
                print(f"{path}: imports {name} from {library}")
    return status


if __name__ == "__main__":
    sys.exit(main())
