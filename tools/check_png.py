#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks PNG files written by the pmc program (examples/pmc/png.hpp) with independent decoders: every chunk's
CRC-32 and the IDAT stream with Python's zlib (Adler-32 included), the filter bytes and the pixel count; with
Pillow installed (pip install pillow) also that Pillow decodes the same pixels. Not run by the tests, which
decode with their own inflate (tests/report/png_test.cpp); used once to cross-check the encoder:

    python3 tools/check_png.py pmc-pipeline/report/*.png
"""
import struct
import sys
import zlib


def check(path):
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    at, idat, types = 8, b"", []
    while at < len(data):
        (n,) = struct.unpack(">I", data[at:at + 4])
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + n]
        (crc,) = struct.unpack(">I", data[at + 8 + n:at + 12 + n])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (8, 2), "expected 8-bit RGB"
        elif kind == b"IDAT":
            idat += body
        types.append(kind)
        at += 12 + n
    assert types[0] == b"IHDR" and types[-1] == b"IEND", types
    raw = zlib.decompress(idat)  # checks the Adler-32
    stride = 1 + 3 * width
    assert len(raw) == stride * height, "wrong pixel count"
    assert all(raw[y * stride] == 0 for y in range(height)), "expected filter 0 on every row"
    try:
        from PIL import Image
    except ImportError:
        return f"{width}x{height}, zlib ok (Pillow not installed)"
    pixels = Image.open(path).convert("RGB").tobytes()
    mine = b"".join(raw[y * stride + 1:(y + 1) * stride] for y in range(height))
    assert pixels == mine, "Pillow decodes other pixels"
    return f"{width}x{height}, zlib and Pillow agree"


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(f"{p}: {check(p)}")
