#!/usr/bin/env python3
"""Writes the hand-made seeds of the `checkpoint_loader` fuzz target into
fuzz/corpus/checkpoint_loader/ (see fuzz/README.md).

Safetensors files, written by hand (the format is an 8-byte little-endian header length,
a JSON header, then the tensor bytes): checkpoints of the tiny model of
fuzz/src/checkpoint_check.rs (`fc`: Dense(4, 2), so `fc.weight` [2, 4] and `fc.bias`
[2]) with and without training state (Adam, SGD, an interrupted epoch), and damaged
ones: truncated, trailing bytes, wrong shapes and dtypes, bad metadata, and headers
claiming a 100 GB tensor or a huge header. `--with-lenet` adds a complete LeNet-5
checkpoint (247 kB, left out by default to keep the corpus and the inputs small).

Since issue 16 it also writes the seeds of the file checks (header length over 100 MB,
a size that differs from the header's) and of impossible training metadata (`meta-*`),
which crates/train/tests/fuzz_regressions.rs checks one by one; the other seeds are
already in the minimised corpus under hashed names.

Usage: python3 fuzz/seeds/checkpoint_loader.py [--with-lenet] [OUT_DIR]
"""

import json
import os
import random
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(HERE, "..", "corpus", "checkpoint_loader")

DTYPE_SIZE = {"F32": 4, "F64": 8, "I64": 8, "F16": 2, "BF16": 2, "U8": 1, "BOOL": 1}


def f32s(values):
    return struct.pack("<%df" % len(values), *values)


def numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes or None for ramp values)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name, dtype, shape, raw in tensors:
        if raw is None:
            n = numel(shape)
            if dtype == "F32":
                raw = f32s([0.25 * (i % 7) - 0.5 for i in range(n)])
            elif dtype == "I64":
                raw = struct.pack("<%dq" % n, *range(n))
            else:
                raw = bytes(i % 251 for i in range(n * DTYPE_SIZE[dtype]))
        header[name] = {
            "dtype": dtype,
            "shape": shape,
            "data_offsets": [len(data), len(data) + len(raw)],
        }
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


TINY = [("fc.weight", "F32", [2, 4], None), ("fc.bias", "F32", [2], None)]
BASE_META = {"format": "pt", "scratchnet.version": "1"}
HISTORY = [
    {
        "epoch": 1,
        "train_loss": 0.5,
        "train_accuracy": 0.8,
        "test_loss": 0.4,
        "test_accuracy": 0.85,
        "seconds": 1.5,
        "samples_per_second": 40000.0,
    }
]


def training_meta(kind, epoch=1, history=HISTORY, partial=None):
    meta = dict(BASE_META)
    meta["scratchnet.epoch"] = str(epoch)
    meta["scratchnet.seed"] = "42"
    meta["scratchnet.optimizer"] = json.dumps({"kind": kind, "steps": 3})
    meta["scratchnet.history"] = json.dumps(history)
    if partial is not None:
        meta["scratchnet.partial_epoch"] = json.dumps(partial)
    return meta


def adam_slots(shapes, names=("exp_avg", "exp_avg_sq")):
    return [
        ("optimizer.%s.%s" % (p, slot), "F32", shape, None)
        for p, shape in shapes
        for slot in names
    ]


def lenet():
    shapes = [
        ("conv1.weight", [6, 1, 5, 5]),
        ("conv1.bias", [6]),
        ("conv2.weight", [16, 6, 5, 5]),
        ("conv2.bias", [16]),
        ("fc1.weight", [120, 400]),
        ("fc1.bias", [120]),
        ("fc2.weight", [84, 120]),
        ("fc2.bias", [84]),
        ("fc3.weight", [10, 84]),
        ("fc3.bias", [10]),
    ]
    rng = random.Random(5)
    return safetensors(
        [(n, "F32", s, f32s([rng.uniform(-0.2, 0.2) for _ in range(numel(s))])) for n, s in shapes],
        dict(BASE_META),
    )


def seeds():
    tiny_shapes = [("fc.weight", [2, 4]), ("fc.bias", [2])]
    model_only = safetensors(TINY, dict(BASE_META))
    adam = safetensors(TINY + adam_slots(tiny_shapes), training_meta("adam"))
    yield "model-only", model_only
    yield "model-only-no-metadata", safetensors(TINY)
    yield "model-only-unpadded", safetensors(TINY, dict(BASE_META), pad=False)
    yield "model-only-user-metadata", safetensors(TINY, dict(BASE_META, dataset="mnist"))
    yield "adam", adam
    yield "adamw-not-stepped", safetensors(TINY, training_meta("adamw", epoch=0, history=[]))
    yield "sgd-momentum", safetensors(
        TINY + adam_slots(tiny_shapes, ("momentum_buffer",)), training_meta("sgd")
    )
    yield "adam-partial-epoch", safetensors(
        TINY + adam_slots(tiny_shapes),
        training_meta(
            "adam",
            partial={
                "batches_done": 3,
                "batches": 10,
                "loss_sum_bits": 4611686018427387904,
                "correct": 30,
                "samples": 96,
                "seconds": 0.5,
            },
        ),
    )
    yield "adam-missing-slot", safetensors(
        TINY + adam_slots(tiny_shapes)[:-1], training_meta("adam")
    )
    yield "adam-wrong-slot-shape", safetensors(
        TINY + [("optimizer.fc.bias.exp_avg", "F32", [3], None),
                ("optimizer.fc.bias.exp_avg_sq", "F32", [3], None)],
        training_meta("adam"),
    )
    yield "optimizer-f64", safetensors(
        TINY + [("optimizer.fc.bias.exp_avg", "F64", [2], None)], training_meta("adam")
    )
    yield "stray-optimizer-tensor", safetensors(
        TINY + [("optimizer.fc.bias.momentum_buffer", "F32", [2], None)], dict(BASE_META)
    )
    yield "bad-epoch", safetensors(TINY, dict(training_meta("adam"), **{"scratchnet.epoch": "-1"}))
    yield "bad-history", safetensors(TINY, dict(training_meta("adam"), **{"scratchnet.history": "[{"}))
    meta = training_meta("adam")
    del meta["scratchnet.seed"]
    yield "missing-seed", safetensors(TINY, meta)
    yield "wrong-shape", safetensors(
        [("fc.weight", "F32", [4, 2], None), ("fc.bias", "F32", [2], None)], dict(BASE_META)
    )
    yield "missing-bias", safetensors(TINY[:1], dict(BASE_META))
    yield "unexpected-tensor", safetensors(TINY + [("fc2.weight", "F32", [1], None)], dict(BASE_META))
    yield "i64-and-f16", safetensors(
        [("fc.weight", "F16", [2, 4], None), ("fc.bias", "I64", [2], None),
         ("bn.num_batches_tracked", "I64", [], None)],
        dict(BASE_META),
    )
    yield "bf16-bool-u8", safetensors(
        [("a", "BF16", [2], None), ("b", "BOOL", [3], None), ("c", "U8", [0, 5], None)]
    )
    yield "scalar-and-empty", safetensors(
        [("s", "F32", [], None), ("e", "F32", [0], None), ("z", "F32", [3, 0, 2], None)]
    )
    yield "empty-header", safetensors([])
    # 100 GB claimed: 25e9 F32 values, offsets to match, 8 bytes of data.
    huge = json.dumps(
        {"fc.weight": {"dtype": "F32", "shape": [25000000000], "data_offsets": [0, 100000000000]}}
    ).encode()
    yield "huge-tensor-100gb", struct.pack("<Q", len(huge)) + huge + b"\0" * 8
    huge_shape = json.dumps(
        {"fc.weight": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 8]}}
    ).encode()
    yield "huge-shape-overflow", struct.pack("<Q", len(huge_shape)) + huge_shape + b"\0" * 8
    yield "huge-header-length", struct.pack("<Q", 2**63) + b"{}"
    yield "header-length-past-end", struct.pack("<Q", 1000) + b'{"a":1}'
    yield "overlapping-offsets", model_only.replace(b'"data_offsets":[0,32]', b'"data_offsets":[0,8]', 1)
    yield "truncated-header", adam[:20]
    yield "truncated-data", adam[:-5]
    yield "trailing-bytes", adam + b"\0\0\0\0"
    yield "not-json", struct.pack("<Q", 4) + b"\xff\xfe{}"
    yield "empty", b""
    # The bounded header and the file's size (issue 16, item 11).
    yield "header-length-over-100mb", struct.pack("<Q", 100_000_001) + b"{}"
    yield "header-length-at-100mb-short-file", struct.pack("<Q", 100_000_000) + b"{}"
    yield "size-short-of-header", model_only[:-9]
    yield "size-one-byte-over", model_only + b"\0"
    yield "header-only-data-missing", model_only[: 8 + struct.unpack("<Q", model_only[:8])[0]]
    # Impossible training metadata (issue 16): refused by Checkpoint::load, taken as
    # absent by load_model (predict), except a newer layout version.
    def bad_history(**change):
        return json.dumps([dict(HISTORY[0], **change)])
    for name, key, value in [
        ("accuracy-588235370-percent", "scratchnet.history", bad_history(test_accuracy=5882353.7)),
        ("accuracy-negative", "scratchnet.history", bad_history(train_accuracy=-0.1)),
        ("seconds-negative", "scratchnet.history", bad_history(seconds=-3.0)),
        ("loss-negative", "scratchnet.history", bad_history(test_loss=-1.0)),
        ("history-misnumbered", "scratchnet.history", bad_history(epoch=5)),
        ("history-longer-than-epochs", "scratchnet.history", json.dumps(HISTORY * 2)),
        ("history-null", "scratchnet.history", "null"),
        ("steps-u64-max", "scratchnet.optimizer",
         json.dumps({"kind": "adam", "steps": 18446744073709551615})),
        ("steps-over-limit", "scratchnet.optimizer",
         json.dumps({"kind": "adam", "steps": 2 * 2**32 + 1})),
        ("epochs-over-limit", "scratchnet.epoch", str(2**32 + 1)),
        ("version-99", "scratchnet.version", "99"),
        ("version-not-a-number", "scratchnet.version", "one"),
        ("version-0", "scratchnet.version", "0"),
    ]:
        meta = training_meta("adam")
        meta[key] = value
        if key == "scratchnet.epoch":
            meta["scratchnet.history"] = "[]"
        yield "meta-" + name, safetensors(TINY + adam_slots(tiny_shapes), meta)
    meta = training_meta("adam")
    del meta["scratchnet.history"]
    yield "meta-history-missing", safetensors(TINY + adam_slots(tiny_shapes), meta)
    for name, partial in [
        ("partial-past-end", {"batches_done": 11, "batches": 10}),
        ("partial-zero-batches", {"batches_done": 0, "batches": 0}),
        ("partial-more-correct-than-samples", {"correct": 97}),
        ("partial-negative-seconds", {"seconds": -0.5}),
        ("partial-negative-loss", {"loss_sum_bits": 13835058055282163712}),  # -2.0
    ]:
        base = {
            "batches_done": 3,
            "batches": 10,
            "loss_sum_bits": 4611686018427387904,
            "correct": 30,
            "samples": 96,
            "seconds": 0.5,
        }
        yield "meta-" + name, safetensors(
            TINY + adam_slots(tiny_shapes), training_meta("adam", partial=dict(base, **partial))
        )


def main():
    args = sys.argv[1:]
    with_lenet = "--with-lenet" in args
    args = [a for a in args if a != "--with-lenet"]
    out = args[0] if args else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    items = list(seeds())
    if with_lenet:
        items.append(("lenet5", lenet()))
    for name, data in items:
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print("wrote %d seeds to %s" % (len(items), out))


if __name__ == "__main__":
    main()
