#!/usr/bin/python3
"""Writes the seed corpus of layer_unpack_fuzz into OUTDIR: small layer tars, ordinary and hostile.

usage: make_seed_corpus.py OUTDIR
Built with tarfile, which writes whatever names and links it is given, so the hostile entries
(.., absolute paths, links out of the root, whiteouts naming . or ..) are exactly as an attacker
would write them.
"""

import gzip
import io
import os
import sys
import tarfile


def entry(name, kind=tarfile.REGTYPE, data=b"", link="", mode=0o644, **extra):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = link
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    info.mtime = 1700000000
    for key, value in extra.items():
        setattr(info, key, value)
    return info, data


def tar(entries, fmt=tarfile.GNU_FORMAT):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as t:
        for info, data in entries:
            t.addfile(info, io.BytesIO(data) if info.size else None)
    return out.getvalue()


D, F, L, H = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
SEEDS = {
    "plain": [entry("etc", D, mode=0o755), entry("etc/hosts", data=b"127.0.0.1 localhost\n"),
              entry("bin", D, mode=0o755), entry("bin/busybox", data=b"\x7fELF", mode=0o4755),
              entry("bin/sh", L, link="busybox"), entry("etc/hosts2", H, link="etc/hosts")],
    "whiteouts": [entry("a", D), entry("a/.wh.b"), entry("c", D), entry("c/.wh..wh..opq"),
                  entry(".wh.."), entry("d/.wh."), entry("e/.wh..wh..opq/x")],
    "symlink_escape": [entry("x", L, link="/etc"), entry("x/passwd", data=b"pwned\n"),
                       entry("y", L, link="../../.."), entry("y/tmp/z", data=b"z"),
                       entry("z", L, link="y/../../x"), entry("z/shadow", data=b"s")],
    "hardlink_escape": [entry("h", H, link="../outside"), entry("h2", H, link="/etc/passwd"),
                        entry("l", L, link="/etc"), entry("h3", H, link="l/passwd")],
    "dotdot": [entry("../evil", data=b"e"), entry("/abs", data=b"a"),
               entry("a/../../b", data=b"b"), entry("./././c", data=b"c"), entry("", data=b"")],
    "devices": [entry("dev", D), entry("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3),
                entry("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0),
                entry("dev/fifo", tarfile.FIFOTYPE)],
    "replace": [entry("p", data=b"file"), entry("p", D), entry("p/q", data=b"q"),
                entry("p", L, link="/"), entry("p/r", data=b"r"), entry("s", D), entry("s", F)],
    "longnames": [entry("d" * 120 + "/" + "f" * 200, data=b"long"),
                  entry("l" * 150, L, link="t" * 300)],
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, entries in SEEDS.items():
        with open(os.path.join(out, name + ".tar"), "wb") as f:
            f.write(tar(entries))
    pax = tar([entry("x", data=b"x", pax_headers={"SCHILY.xattr.user.k": "v",
                                                   "SCHILY.xattr.trusted.overlay.opaque": "y",
                                                   "path": "../pax-escape"})],
              fmt=tarfile.PAX_FORMAT)
    with open(os.path.join(out, "pax.tar"), "wb") as f:
        f.write(pax)
    with open(os.path.join(out, "plain.tar.gz"), "wb") as f:
        f.write(gzip.compress(tar(SEEDS["plain"]), mtime=0))


if __name__ == "__main__":
    main()
