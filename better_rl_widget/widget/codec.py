"""BRW1: one small binary container for typed arrays plus a JSON header.

Mirrored by ``js/src/codec.ts``; the layout is documented in ``docs/protocol.md``. Arrays travel as raw
little-endian bytes at 8-aligned offsets so the browser can view them without copying.
"""

from __future__ import annotations

import json
import struct
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

MAGIC = b"BRW1"
DTYPES = ("uint8", "int32", "uint32", "float32", "float64")
_ALIGN = 8


class CodecError(ValueError):
    """A blob that is not a well-formed BRW1 container."""


def _pad(n: int) -> int:
    return (-n) % _ALIGN


def encode(meta: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> bytes:
    """Pack ``arrays`` (name → numpy array of a supported dtype) and a JSON-able ``meta``."""
    prepared: list[tuple[str, np.ndarray]] = []
    for name, arr in arrays.items():
        a = np.asarray(arr)
        if a.dtype.name not in DTYPES:
            raise CodecError(f"array {name!r}: dtype {a.dtype} is not one of {DTYPES}")
        prepared.append((name, np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))))

    # Offsets depend on the header length, which depends on the offsets' digits: iterate to a fixed point.
    header_len = 0
    for _ in range(8):
        start = 8 + header_len + _pad(8 + header_len)
        table: dict[str, dict[str, Any]] = {}
        offset = start
        for name, a in prepared:
            table[name] = {"dtype": a.dtype.name, "shape": list(a.shape), "offset": offset}
            offset += a.nbytes + _pad(a.nbytes)
        header = json.dumps({"meta": meta, "arrays": table}, separators=(",", ":"), allow_nan=False).encode()
        if len(header) == header_len:
            break
        header_len = len(header)
    else:  # pragma: no cover - the lengths converge in two or three rounds
        raise CodecError("header length did not converge")

    out = bytearray(offset)
    out[0:4] = MAGIC
    out[4:8] = struct.pack("<I", header_len)
    out[8 : 8 + header_len] = header
    for name, a in prepared:
        o = table[name]["offset"]
        out[o : o + a.nbytes] = a.tobytes()
    return bytes(out)


def decode(blob: bytes | bytearray | memoryview) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Inverse of :func:`encode`: ``(meta, arrays)``; arrays are read-only views into ``blob``."""
    buf = memoryview(blob).cast("B")
    if len(buf) < 8 or bytes(buf[0:4]) != MAGIC:
        raise CodecError("not a BRW1 blob (bad magic)")
    (header_len,) = struct.unpack("<I", buf[4:8])
    if 8 + header_len > len(buf):
        raise CodecError("truncated BRW1 header")
    try:
        header = json.loads(bytes(buf[8 : 8 + header_len]))
    except ValueError as exc:
        raise CodecError(f"BRW1 header is not JSON: {exc}") from exc
    arrays: dict[str, np.ndarray] = {}
    for name, spec in header.get("arrays", {}).items():
        dtype = spec["dtype"]
        if dtype not in DTYPES:
            raise CodecError(f"array {name!r}: unknown dtype {dtype!r}")
        dt = np.dtype(dtype).newbyteorder("<")
        shape = tuple(int(s) for s in spec["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        offset = int(spec["offset"])
        if offset + count * dt.itemsize > len(buf):
            raise CodecError(f"array {name!r} runs past the end of the blob")
        arrays[name] = np.frombuffer(buf, dtype=dt, count=count, offset=offset).reshape(shape)
    return header.get("meta", {}), arrays


def fixture_frames() -> dict[str, bytes]:
    """A small keyframe and delta used as the cross-language fixture for the JS decoder's tests."""
    keyframe = encode(
        {"kind": "keyframe", "seq": 4, "generation": 1, "capacity": 8, "extent": [-1.5, 2.0, -0.5, 0.5],
         "newest_step": 11, "channels": {"reward": {"kind": "continuous"}, "action": {"kind": "categorical"}}},
        {
            "slots": np.array([0, 1, 2, 5], np.uint32),
            "x": np.array([-1.5, 0.25, 2.0, 1e-3], np.float32),
            "y": np.array([0.5, -0.5, 0.0, 0.125], np.float32),
            "step": np.array([8, 9, 10, 5], np.uint32),
            "episode": np.array([1, 1, 2, 0], np.uint32),
            "action": np.array([0, 1, 1, 0], np.uint32),
            "reward": np.array([1.0, 0.5, -2.25, 0.0], np.float32),
            "done": np.array([0, 1, 0, 0], np.uint8),
        },
    )
    delta = encode(
        {"kind": "delta", "seq": 5, "capacity": 8, "extent": [-1.5, 2.0, -0.5, 0.5], "newest_step": 12,
         "channels": {"reward": {"kind": "continuous"}, "action": {"kind": "categorical"}}},
        {
            "slots": np.array([3], np.uint32),
            "x": np.array([0.75], np.float32),
            "y": np.array([-0.25], np.float32),
            "step": np.array([12], np.uint32),
            "episode": np.array([2], np.uint32),
            "action": np.array([1], np.uint32),
            "reward": np.array([1.0], np.float32),
            "done": np.array([1], np.uint8),
            "removed": np.array([5], np.uint32),
            "extra_i32": np.array([[-1, 2], [3, -4]], np.int32),
            "extra_f64": np.array([np.pi], np.float64),
        },
    )
    return {"keyframe": keyframe, "delta": delta}


def write_fixtures(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    expected: dict[str, Any] = {}
    for name, blob in fixture_frames().items():
        (folder / f"{name}.brw").write_bytes(blob)
        meta, arrays = decode(blob)
        expected[name] = {
            "meta": meta,
            "arrays": {k: {"dtype": v.dtype.name, "shape": list(v.shape), "values": v.ravel().tolist()}
                       for k, v in arrays.items()},
        }
    (folder / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":  # python -m better_rl_widget.widget.codec --write-fixtures js/tests/fixtures
    if len(sys.argv) == 3 and sys.argv[1] == "--write-fixtures":
        write_fixtures(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m better_rl_widget.widget.codec --write-fixtures FOLDER")
