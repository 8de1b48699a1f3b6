#!/usr/bin/env python3
"""Writes the hand-made seed inputs of the idx_loader fuzz target.

Usage: python3 fuzz/seeds/idx_loader.py [--with-complete] [OUT_DIR]
       (OUT_DIR defaults to fuzz/corpus/idx_loader)

The input format is documented in fuzz/src/idx_input.rs: one byte of placements (two bits
per file: 0 raw, 1 gzip-compressed by the harness, 2 written as name.gz as given, 3 raw
next to a decoy name.gz), then the four files (train images, train labels, test images,
test labels) separated by b"--8<--". Only the standard library is used.

The seeds are tiny synthetic IDX sets, each good or damaged in one way. With
--with-complete, also a complete 60,000 + 10,000 set of zeros as pre-compressed .gz files
(~54 kB), the only kind of input that gets past every check to the mnist crate. It is left
out by default: one execution of it takes ~2.3 s under ASan (and most of its mutations
still decompress megabytes before failing) against ~1 ms for the other seeds, so it would
take most of the time of a 10-minute run.
"""

import gzip
import os
import struct
import sys

SEPARATOR = b"--8<--"
RAW, GZIPPED, GZ_AS_GIVEN, RAW_AND_DECOY = 0, 1, 2, 3


def images(n, rows=28, cols=28, magic=2051, count=None):
    header = struct.pack(">IIII", magic, n if count is None else count, rows, cols)
    return header + bytes((i * 31 + p) % 256 for i in range(n) for p in range(rows * cols))


def labels(values, magic=2049, count=None):
    return struct.pack(">II", magic, len(values) if count is None else count) + bytes(values)


def small_set(n):
    values = [i % 10 for i in range(n)]
    return [images(n), labels(values), images(n), labels(values)]


def encode(files, placements=(RAW, RAW, RAW, RAW)):
    flags = 0
    for i, placement in enumerate(placements):
        flags |= placement << (2 * i)
    return bytes([flags]) + SEPARATOR.join(files)


def gz(data, level=6):
    # mtime=0: the same bytes on every run.
    return gzip.compress(data, compresslevel=level, mtime=0)


def seeds(with_complete):
    two = small_set(2)
    yield "empty", b""
    yield "small-raw", encode(two)
    yield "small-gzipped-by-harness", encode(two, (GZIPPED,) * 4)
    yield "small-gz-as-given", encode([gz(f) for f in two], (GZ_AS_GIVEN,) * 4)
    yield "small-mixed", encode(
        [two[0], two[1], gz(two[2]), two[3]], (RAW_AND_DECOY, GZIPPED, GZ_AS_GIVEN, RAW)
    )
    yield "zero-samples", encode(small_set(0))
    yield "header-too-short", encode([images(0)[:10], *two[1:]])
    yield "labels-header-too-short", encode([two[0], labels([])[:5], *two[2:]])
    yield "truncated-images", encode([two[0][:-100], *two[1:]])
    yield "trailing-bytes", encode([two[0] + b"\x00", *two[1:]])
    yield "labels-where-images-belong", encode([two[1], two[0], *two[2:]])
    yield "wrong-image-size", encode([images(1, 4, 4), *two[1:]])
    yield "label-out-of-range", encode([two[0], labels([3, 10]), *two[2:]])
    yield "count-mismatch", encode([images(2), labels([1, 2, 3]), *two[2:]])
    yield "huge-count", encode([images(0, count=0xFFFFFFFF), *two[1:]])
    yield "truncated-gzip", encode(
        [gz(two[0])[:-9], *[gz(f) for f in two[1:]]], (GZ_AS_GIVEN,) * 4
    )
    yield "multi-member-gzip", encode(
        [gz(two[0][:20]) + gz(two[0][20:]), *two[1:]], (GZ_AS_GIVEN, RAW, RAW, RAW)
    )
    yield "gzip-then-garbage", encode(
        [gz(two[0]) + b"garbage", *two[1:]], (GZ_AS_GIVEN, RAW, RAW, RAW)
    )
    if not with_complete:
        return
    complete = [
        images(0, count=60_000) + bytes(60_000 * 784),
        labels([0] * 60_000),
        images(0, count=10_000) + bytes(10_000 * 784),
        labels([0] * 10_000),
    ]
    yield "complete-zeros-gz", encode([gz(f, 9) for f in complete], (GZ_AS_GIVEN,) * 4)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    args = sys.argv[1:]
    with_complete = "--with-complete" in args
    args = [a for a in args if a != "--with-complete"]
    out = args[0] if args else os.path.join(here, "..", "corpus", "idx_loader")
    os.makedirs(out, exist_ok=True)
    total = 0
    for name, data in seeds(with_complete):
        # No file but the last may contain the separator, or the split would differ.
        assert data[1:].count(SEPARATOR) <= 3 or name == "empty", name
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"wrote the idx_loader seeds ({total} bytes) to {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
