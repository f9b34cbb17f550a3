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
from typing import Any, TypeGuard

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
    """Inverse of :func:`encode`: ``(meta, arrays)``; arrays are read-only views into ``blob``.

    Anything that is not a well-formed BRW1 container raises :class:`CodecError`, never another exception.
    Sizes a header claims are checked against the bytes present before anything is allocated.
    """
    try:
        buf = memoryview(blob).cast("B")
    except TypeError as exc:
        raise CodecError(f"not a bytes-like BRW1 blob: {exc}") from exc
    if len(buf) < 8 or bytes(buf[0:4]) != MAGIC:
        raise CodecError("not a BRW1 blob (bad magic)")
    (header_len,) = struct.unpack("<I", buf[4:8])
    if 8 + header_len > len(buf):
        raise CodecError(f"truncated BRW1 header: {header_len} bytes claimed, {len(buf) - 8} present")
    header = _parse_header(buf[8 : 8 + header_len])
    data_start = 8 + header_len + _pad(8 + header_len)
    arrays: dict[str, np.ndarray] = {}
    blocks: list[tuple[int, int, str]] = []
    for name, spec in header["arrays"].items():
        dt, shape, offset, nbytes = _check_spec(name, spec, data_start, len(buf))
        blocks.append((offset, offset + nbytes, name))
        arrays[name] = np.frombuffer(buf, dtype=dt, count=nbytes // dt.itemsize, offset=offset).reshape(shape)
    _check_disjoint(blocks)
    return header["meta"], arrays


# numpy 1.x's dimension limit; the encoders never write deeper arrays.
_MAX_DIMS = 32
# Largest byte count both decoders handle exactly (JS numbers are doubles).
_MAX_NBYTES = 2**53 - 1


def _parse_header(raw: memoryview) -> dict[str, Any]:
    try:
        header = json.loads(bytes(raw).decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise CodecError(f"BRW1 header is not UTF-8 JSON: {type(exc).__name__}: {exc}") from exc
    if not isinstance(header, dict):
        raise CodecError(f"BRW1 header is a JSON {type(header).__name__}, not an object")
    header.setdefault("meta", {})
    header.setdefault("arrays", {})
    for key in ("meta", "arrays"):
        if not isinstance(header[key], dict):
            raise CodecError(f"BRW1 header field {key!r} is a {type(header[key]).__name__}, not an object")
    return header


def _is_int(v: Any) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _show(v: Any) -> str:
    # Header values can be as long as the header: keep error messages short.
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_spec(name: str, spec: Any, data_start: int, total: int) -> tuple[np.dtype, tuple[int, ...], int, int]:
    """(dtype, shape, offset, byte count) of one array entry, or CodecError saying what is wrong with it."""
    if not isinstance(spec, dict):
        raise CodecError(f"array {name!r}: entry is a {type(spec).__name__}, not an object")
    dtype, shape, offset = spec.get("dtype"), spec.get("shape"), spec.get("offset")
    if not isinstance(dtype, str) or dtype not in DTYPES:
        raise CodecError(f"array {name!r}: unknown dtype {_show(dtype)}")
    dt = np.dtype(dtype).newbyteorder("<")
    if not isinstance(shape, list) or len(shape) > _MAX_DIMS or not all(_is_int(d) and d >= 0 for d in shape):
        raise CodecError(f"array {name!r}: bad shape {_show(shape)} (a list of at most {_MAX_DIMS} integers >= 0)")
    nonzero = dt.itemsize
    for d in shape:  # bounded even when a zero makes the array empty: numpy refuses larger shapes
        nonzero *= max(d, 1)
        if nonzero > _MAX_NBYTES:
            raise CodecError(f"array {name!r}: shape {_show(shape)} is too large")
    nbytes = 0 if 0 in shape else nonzero
    if not _is_int(offset) or offset < data_start or offset % _ALIGN:
        raise CodecError(f"array {name!r}: bad offset {_show(offset)} (a multiple of 8, at least {data_start})")
    if offset + nbytes > total:
        raise CodecError(f"array {name!r}: block [{offset}, {offset + nbytes}) runs past the end of the blob "
                         f"({total} bytes)")
    return dt, tuple(shape), offset, nbytes


def _check_disjoint(blocks: list[tuple[int, int, str]]) -> None:
    # Overlapping blocks would let a small blob decode into more data than it holds.
    end, last = 0, ""
    for start, stop, name in sorted(b for b in blocks if b[1] > b[0]):
        if start < end:
            raise CodecError(f"array {name!r} overlaps array {last!r}")
        end, last = stop, name


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


if __name__ == "__main__":  # python -m better_rl_widget.frames.codec --write-fixtures js/tests/fixtures
    if len(sys.argv) == 3 and sys.argv[1] == "--write-fixtures":
        write_fixtures(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python -m better_rl_widget.frames.codec --write-fixtures FOLDER")
