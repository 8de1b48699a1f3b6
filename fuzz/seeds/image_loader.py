#!/usr/bin/env python3
"""Writes the hand-made seeds of the `image_loader` fuzz target into
fuzz/corpus/image_loader/ (see fuzz/README.md), with the standard library only.

PNG (zlib): a 28x28 digit in every colour type and the bit depths `predict` meets
(grey 1/8/16-bit, grey+alpha, RGB, RGBA, palette with tRNS), every row filter,
Adam7 interlacing, split IDAT, ancillary chunks; and damaged ones: truncated, bad CRC,
no IDAT, a header claiming 100000x100000 pixels (must be an error, not a 10 GB buffer).
JPEG (a small baseline encoder below, DC coefficients only, Annex K DC table, a
4-symbol AC table): grey 8x8 and 16x16, colour 4:2:0, restart markers; truncated, and a
frame header claiming 65535x65535 pixels. Plus a few non-images.

Usage: python3 fuzz/seeds/image_loader.py [OUT_DIR]
"""

import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "corpus", "image_loader")

# ---------------------------------------------------------------- PNG


def chunk(kind, data):
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def digit(x, y, side=28):
    """A white-on-black '1'-ish stroke, 0..255."""
    return 255 if side // 2 - 2 <= x <= side // 2 + 1 and 4 <= y < side - 4 else 0


def png(width, height, color_type, bit_depth, rows, extra=b"", interlace=0, split=1, filt=None):
    """rows: list of raw scanline bytes (without filter byte), or for interlace a list of
    already filtered pass data."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    if interlace:
        raw = rows
    else:
        raw = b""
        for i, row in enumerate(rows):
            f = (i % 5) if filt is None else filt
            raw += bytes([f]) + filter_row(f, row, rows[i - 1] if i else bytes(len(row)), bpp(color_type, bit_depth))
    z = zlib.compress(raw, 9)
    parts = [z[i * len(z) // split:(i + 1) * len(z) // split] for i in range(split)]
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + extra
            + b"".join(chunk(b"IDAT", p) for p in parts) + chunk(b"IEND", b""))


def bpp(color_type, bit_depth):
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    return max(1, channels * bit_depth // 8)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def filter_row(f, row, prev, n):
    out = bytearray()
    for i, x in enumerate(row):
        a = row[i - n] if i >= n else 0
        b = prev[i]
        c = prev[i - n] if i >= n else 0
        pred = [0, a, b, (a + b) // 2, paeth(a, b, c)][f]
        out.append((x - pred) & 0xFF)
    return bytes(out)


def grey_rows(side, f=lambda v: bytes([v])):
    return [b"".join(f(digit(x, y, side)) for x in range(side)) for y in range(side)]


def bit_rows(side):
    rows = []
    for y in range(side):
        bits = [1 if digit(x, y, side) else 0 for x in range(side)]
        bits += [0] * (-len(bits) % 8)
        rows.append(bytes(int("".join(map(str, bits[i:i + 8])), 2) for i in range(0, len(bits), 8)))
    return rows


def adam7(side):
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    raw = b""
    for x0, y0, dx, dy in passes:
        for y in range(y0, side, dy):
            xs = range(x0, side, dx)
            if len(xs):
                raw += b"\0" + bytes(digit(x, y, side) for x in xs)
    return raw


def png_seeds():
    s = 28
    inv = lambda v: bytes([255 - v])
    yield "png-grey8", png(s, s, 0, 8, grey_rows(s))
    yield "png-grey8-black-on-white", png(s, s, 0, 8, grey_rows(s, inv), filt=0)
    yield "png-grey16", png(s, s, 0, 16, grey_rows(s, lambda v: bytes([v, v])))
    yield "png-grey1", png(s, s, 0, 1, bit_rows(s))
    yield "png-grey-alpha", png(s, s, 4, 8, grey_rows(s, lambda v: bytes([v, 200])))
    yield "png-rgb", png(s, s, 2, 8, grey_rows(s, lambda v: bytes([v, v // 2, 255 - v])))
    yield "png-rgba16", png(4, 4, 6, 16, [bytes(range(i, i + 32)) for i in range(4)])
    yield "png-rgba", png(s, s, 6, 8, grey_rows(s, lambda v: bytes([v, v, v, 255])), split=3)
    yield "png-palette", png(
        s, s, 3, 8, grey_rows(s, lambda v: bytes([v // 255])),
        extra=chunk(b"PLTE", b"\0\0\0\xff\xff\xff") + chunk(b"tRNS", b"\xff\x80"),
    )
    yield "png-palette-index-out-of-range", png(
        4, 4, 3, 8, [b"\0\1\2\3"] * 4, extra=chunk(b"PLTE", b"\0\0\0\xff\xff\xff"), filt=0
    )
    yield "png-interlaced", png(s, s, 0, 8, adam7(s), interlace=1)
    yield "png-ancillary", png(
        2, 2, 0, 8, [b"\0\xff", b"\xff\0"],
        extra=chunk(b"gAMA", struct.pack(">I", 45455)) + chunk(b"tEXt", b"Comment\0seed")
        + chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)),
    )
    yield "png-1x1", png(1, 1, 0, 8, [b"\x80"])
    good = png(s, s, 0, 8, grey_rows(s))
    yield "png-truncated", good[: len(good) // 2]
    bad_crc = bytearray(good)
    bad_crc[29] ^= 0xFF  # last byte of IHDR's CRC
    yield "png-bad-crc", bytes(bad_crc)
    yield "png-no-idat", b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", s, s, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")
    yield "png-huge-100000x100000", b"\x89PNG\r\n\x1a\n" + chunk(
        b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    ) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    yield "png-zero-width", png(0, 1, 0, 8, [b""])


# ---------------------------------------------------------------- JPEG

DC_BITS = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
DC_VALS = list(range(12))
# A small AC table: EOB, (0,1), (1,1), ZRL.
AC_BITS = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
AC_VALS = [0x00, 0x01, 0x11, 0xF0]


def huff_codes(bits, vals):
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


DC_CODES = huff_codes(DC_BITS, DC_VALS)
AC_CODES = huff_codes(AC_BITS, AC_VALS)


class Bits:
    def __init__(self):
        self.out, self.acc, self.n = bytearray(), 0, 0

    def put(self, value, length):
        for i in range(length - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)
                self.acc, self.n = 0, 0

    def flush(self):
        if self.n:
            self.put((1 << (8 - self.n)) - 1, 8 - self.n)
        data, self.out = bytes(self.out), bytearray()
        return data


def put_block(bits, dc_diff, ac_one=False):
    size = abs(dc_diff).bit_length()
    code, length = DC_CODES[size]
    bits.put(code, length)
    if size:
        bits.put(dc_diff if dc_diff > 0 else dc_diff + (1 << size) - 1, size)
    if ac_one:  # one AC coefficient of value 1 at position 1
        code, length = AC_CODES[0x01]
        bits.put(code, length)
        bits.put(1, 1)
    code, length = AC_CODES[0x00]
    bits.put(code, length)


def segment(marker, data):
    return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data


def jpeg(width, height, blocks_per_mcu, mcus, components, restart=0, sof=0xC0):
    """components: list of (id, sampling byte, quant table); mcus: list of lists of DC
    values (one per block of the MCU, in component order)."""
    out = b"\xff\xd8" + segment(0xE0, b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0")
    out += segment(0xDB, b"\x00" + bytes([16] * 64))
    sof_data = struct.pack(">BHHB", 8, height, width, len(components))
    for cid, sampling, _ in components:
        sof_data += bytes([cid, sampling, 0])
    out += segment(sof, sof_data)
    out += segment(0xC4, b"\x00" + bytes(DC_BITS) + bytes(DC_VALS))
    out += segment(0xC4, b"\x10" + bytes(AC_BITS) + bytes(AC_VALS))
    if restart:
        out += segment(0xDD, struct.pack(">H", restart))
    sos = bytes([len(components)])
    for cid, _, _ in components:
        sos += bytes([cid, 0x00])
    out += segment(0xDA, sos + b"\x00\x3f\x00")
    bits = Bits()
    preds = [0] * len(components)
    owners = [c for c, n in enumerate(blocks_per_mcu) for _ in range(n)]
    rst = 0
    for m, mcu in enumerate(mcus):
        if restart and m and m % restart == 0:
            out += bits.flush() + bytes([0xFF, 0xD0 + rst % 8])
            rst += 1
            preds = [0] * len(components)
        for k, dc in enumerate(mcu):
            comp = owners[k]
            put_block(bits, dc - preds[comp], ac_one=(k == 0 and m % 2 == 1))
            preds[comp] = dc
    return out + bits.flush() + b"\xff\xd9"


def jpeg_seeds():
    grey = [(1, 0x11, 0)]
    # DC value v gives a block level of about 128 + v * 16 / 8.
    yield "jpeg-grey-8x8", jpeg(8, 8, [1], [[40]], grey)
    digit_mcus = [[60 if (bx, by) in ((1, 0), (1, 1), (2, 1), (1, 2)) else -60] for by in range(4) for bx in range(4)]
    yield "jpeg-grey-32x32", jpeg(32, 32, [1], digit_mcus, grey)
    yield "jpeg-grey-32x32-restart", jpeg(32, 32, [1], digit_mcus, grey, restart=2)
    yield "jpeg-grey-progressive-marker", jpeg(8, 8, [1], [[40]], grey, sof=0xC2)
    color = [(1, 0x22, 0), (2, 0x11, 0), (3, 0x11, 0)]
    yield "jpeg-ycbcr-420-16x16", jpeg(16, 16, [4, 1, 1], [[50, -50, -50, 50, 10, -10]], color)
    color444 = [(1, 0x11, 0), (2, 0x11, 0), (3, 0x11, 0)]
    yield "jpeg-ycbcr-444-odd-size", jpeg(9, 7, [1, 1, 1], [[30, 5, -5], [-30, 0, 0], [0, 0, 0], [10, 1, 1]], color444)
    good = jpeg(32, 32, [1], digit_mcus, grey)
    yield "jpeg-truncated", good[: len(good) * 2 // 3]
    yield "jpeg-huge-65535x65535", jpeg(65535, 65535, [1], [[0]], grey)


def other_seeds():
    yield "empty", b""
    yield "text", b"this is not an image\n"
    yield "gif-magic", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
    yield "png-magic-only", b"\x89PNG\r\n\x1a\n"
    yield "jpeg-soi-eoi", b"\xff\xd8\xff\xd9"


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    n = 0
    for gen in (png_seeds, jpeg_seeds, other_seeds):
        for name, data in gen():
            with open(os.path.join(out, "seed-" + name), "wb") as f:
                f.write(data)
            n += 1
    print("wrote %d seeds to %s" % (n, out))


if __name__ == "__main__":
    main()
