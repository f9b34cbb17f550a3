"""Property tests for the BRW1 decoder and the frame rules: malformed input raises CodecError and nothing else.

Each test counts the examples it tried; the totals are printed at the end of the module.
"""

import itertools
import json
import struct
import tracemalloc
from collections import Counter

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from better_rl_widget.frames.codec import DTYPES, CodecError, decode, encode
from better_rl_widget.frames.frame_codec import FrameSequence, check_frame, decode_frame
from better_rl_widget.frames.frame_state import FrameState
from better_rl_widget.frames.snapshot_codec import decode_snapshot

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TRIED: Counter = Counter()

arrays = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=5))),
    min_size=1, max_size=4,
)
metas = st.dictionaries(st.text(max_size=6), st.one_of(st.integers(-2**40, 2**40), st.text(max_size=6), st.none()),
                        max_size=3)
blobs = st.builds(encode, metas, arrays)
# Anything JSON can carry in a header field, valid or not.
junk = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(), st.text(max_size=6),
                 st.lists(st.integers(-3, 9), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@pytest.fixture(scope="module", autouse=True)
def report_examples(pytestconfig):
    yield
    line = f"codec fuzz: {sum(TRIED.values())} examples ({', '.join(f'{k} {v}' for k, v in sorted(TRIED.items()))})"
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():  # shown even under -q, not swallowed as teardown output
        print(f"\n{line}")


def _align(n: int) -> int:
    return n + (-n) % 8


def assemble(header: object, payload: bytes) -> bytes:
    """A BRW1 blob with any header (JSON of ``header``, or raw bytes) and ``payload`` at the first 8-aligned byte."""
    h = header if isinstance(header, bytes) else json.dumps(header).encode()
    start = _align(8 + len(h))
    out = bytearray(start) + payload
    out[0:4] = b"BRW1"
    out[4:8] = struct.pack("<I", len(h))
    out[8:8 + len(h)] = h
    return bytes(out)


def decode_checked(blob: bytes):
    """decode(); when it accepts the blob, its arrays must be disjoint views of the bytes after the header."""
    meta, got = decode(blob)
    base = np.frombuffer(blob, np.uint8).__array_interface__["data"][0]
    data_start = _align(8 + struct.unpack("<I", blob[4:8])[0])
    spans = []
    for a in got.values():
        lo = a.__array_interface__["data"][0] - base
        if a.nbytes:
            assert data_start <= lo and lo + a.nbytes <= len(blob), "an array reads the header or past the end"
            spans.append((lo, lo + a.nbytes))
    spans.sort()
    assert all(e <= s for (_, e), (s, _) in itertools.pairwise(spans)), "arrays overlap"
    assert isinstance(meta, dict)
    return meta, got


def only_codec_error(blob: bytes) -> bool:
    """True when ``blob`` decodes, False on CodecError; any other exception fails the test."""
    try:
        decode_checked(blob)
    except CodecError:
        return False
    return True


# -- valid messages ------------------------------------------------------------------------------------------
@given(metas, arrays)
@FUZZ
def test_valid_messages_round_trip(meta, arrs):
    TRIED["round trip"] += 1
    got_meta, got = decode_checked(encode(meta, arrs))
    assert got_meta == meta and list(got) == list(arrs)
    for name, a in arrs.items():
        assert got[name].dtype == a.dtype and got[name].shape == a.shape
        np.testing.assert_array_equal(got[name], a)


# -- byte flips and truncations of valid messages -------------------------------------------------------------
@given(blobs, st.data())
@FUZZ
def test_byte_flips_raise_codec_error_or_decode_cleanly(blob, data):
    TRIED["byte flips"] += 1
    b = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 3))):
        b[data.draw(st.integers(0, len(b) - 1))] ^= data.draw(st.integers(1, 255))
    only_codec_error(bytes(b))


@given(blobs, st.data())
@FUZZ
def test_truncations_raise_codec_error_or_keep_every_array(blob, data):
    TRIED["truncations"] += 1
    cut = data.draw(st.integers(0, len(blob) - 1))
    if only_codec_error(blob[:cut]):  # only the last block's padding was cut
        _, full = decode(blob)
        _, got = decode(blob[:cut])
        assert list(got) == list(full) and all(np.array_equal(got[k], full[k], equal_nan=True) for k in full)


# -- malformed header fields ---------------------------------------------------------------------------------
@given(blobs, st.integers(0, 2**32 - 1))
@FUZZ
def test_any_header_length_field(blob, claimed):
    TRIED["header lengths"] += 1
    b = bytearray(blob)
    b[4:8] = struct.pack("<I", claimed)
    if 8 + claimed > len(b):
        with pytest.raises(CodecError, match="truncated"):
            decode(bytes(b))
    else:
        only_codec_error(bytes(b))


def spec_is_valid(dtype, shape, offset, data_start: int, total: int) -> bool:
    """The rules of docs/protocol.md, written out plainly as the oracle for one array entry."""
    def is_int(v):
        return isinstance(v, int) and not isinstance(v, bool)

    if not (isinstance(dtype, str) and dtype in DTYPES):
        return False
    if not (isinstance(shape, list) and len(shape) <= 32 and all(is_int(d) and d >= 0 for d in shape)):
        return False
    size = np.dtype(dtype).itemsize
    if int(np.prod([max(d, 1) for d in shape], dtype=object)) * size > 2**53 - 1:
        return False
    nbytes = int(np.prod(shape, dtype=object)) * size
    return is_int(offset) and offset >= data_start and offset % 8 == 0 and offset + nbytes <= total


@given(
    dtype=st.one_of(st.sampled_from(DTYPES), st.sampled_from(["int64", "float16", "<f4", "", "UINT8"]), junk),
    shape=st.one_of(st.lists(st.integers(-2, 20), max_size=3), st.lists(st.integers(0, 2**62), max_size=4),
                    st.lists(st.just(1), min_size=30, max_size=40), junk),
    offset=st.one_of(st.integers(-16, 400), st.integers(2**31, 2**64), junk),
    payload=st.integers(0, 300),
)
@FUZZ
def test_array_entries_follow_the_rules(dtype, shape, offset, payload):
    TRIED["dtypes/shapes/offsets"] += 1
    header = {"meta": {}, "arrays": {"a": {"dtype": dtype, "shape": shape, "offset": offset}}}
    blob = assemble(header, bytes(payload))
    data_start = len(blob) - payload
    assert only_codec_error(blob) == spec_is_valid(dtype, shape, offset, data_start, len(blob))


@given(header=st.one_of(junk, st.fixed_dictionaries({"meta": junk}), st.fixed_dictionaries({"arrays": junk}),
                        st.fixed_dictionaries({"arrays": st.dictionaries(st.text(max_size=3), junk, max_size=2)})))
@FUZZ
def test_header_structure(header):
    TRIED["header structure"] += 1
    only_codec_error(assemble(header, bytes(64)))


@given(st.lists(st.tuples(st.sampled_from(DTYPES), st.integers(0, 12), st.integers(0, 6)), min_size=2, max_size=5))
@FUZZ
def test_blocks_may_not_overlap(entries):
    """Overlapping views would let a small blob decode (and a snapshot copy) more data than it carries."""
    TRIED["overlaps"] += 1
    header = {"arrays": {f"a{i}": {"dtype": dt, "shape": [n], "offset": 0} for i, (dt, n, _) in enumerate(entries)}}
    start = _align(8 + len(json.dumps(header)) + 100)  # room for the offsets' digits
    for i, (_, _, slot) in enumerate(entries):
        header["arrays"][f"a{i}"]["offset"] = start + 8 * slot
    blob = assemble(header, bytes(400))
    spans = sorted((8 * s, 8 * s + n * np.dtype(dt).itemsize) for dt, n, s in entries if n)
    overlap = any(e > s for (_, e), (s, _) in itertools.pairwise(spans))
    if overlap:
        with pytest.raises(CodecError, match="overlaps"):
            decode(blob)
    else:
        decode_checked(blob)


def test_examples_from_the_issue():
    TRIED["fixed cases"] += 1
    start = 256  # past any of these headers, inside the 512-byte payload
    for spec, reason in [
        ({"dtype": "float32", "shape": [-4], "offset": start}, "shape"),
        ({"dtype": "float32", "shape": [4], "offset": 8}, "offset"),  # would return header bytes as data
        ({"dtype": "float32", "shape": [4]}, "offset"),
        ({"shape": [4], "offset": start}, "dtype"),
        ({"dtype": "float32", "shape": [2**40], "offset": start}, "past the end"),
        ({"dtype": "float32", "shape": [2**62, 4], "offset": start}, "too large"),
        ({"dtype": "float32", "shape": 4, "offset": start}, "shape"),
        ({"dtype": "float32", "shape": [True], "offset": start}, "shape"),
        ({"dtype": "float32", "shape": [4.0], "offset": start}, "shape"),
        ({"dtype": "float32", "shape": [4], "offset": float(start)}, "offset"),
        (None, "not an object"),
    ]:
        with pytest.raises(CodecError, match=reason):
            decode(assemble({"meta": {}, "arrays": {"x": spec}}, bytes(512)))
    for bad in [b"", b"BRW1", b"BRW1\xff\xff\xff\xff", b"BRW1\x02\0\0\0\xff\xfe", b"BRW1\x02\0\0\0[]",
                assemble(b"[" * 100_000, b""), assemble({"meta": [1]}, b""), assemble({"arrays": []}, b"")]:
        with pytest.raises(CodecError):
            decode(bad)
    with pytest.raises(CodecError, match="bytes-like"):
        decode(12)  # type: ignore[arg-type]


def test_claimed_sizes_are_not_allocated():
    """A header claiming gigabytes, or many arrays over the same bytes (a snapshot copies each), is refused before
    more memory than the blob's own exists."""
    TRIED["fixed cases"] += 1
    huge = assemble({"arrays": {"x": {"dtype": "float64", "shape": [2**33], "offset": 64}}}, bytes(64))
    block = {"dtype": "float32", "shape": [2**14], "offset": 8192}
    many = assemble({"meta": {"kind": "snapshot", "step": 0, "time_s": 0, "extent": [0, 1, 0, 1]},
                     "arrays": dict.fromkeys(["slots", "x", "y", *map(str, range(200))], block)}, bytes(2**16))
    for blob, read in [(huge, decode), (many, decode_snapshot)]:
        tracemalloc.start()
        try:
            with pytest.raises(CodecError):
                read(blob)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 1 << 20, f"{read.__name__} allocated {peak} bytes for a {len(blob)}-byte blob"


# -- frames and their sequence numbers -----------------------------------------------------------------------
def _frames(capacity: int = 8) -> FrameState:
    fs = FrameState(capacity)
    slots = np.arange(capacity // 2)
    n = len(slots)
    fs.upsert(slots, {"step": np.arange(n), "episode": np.zeros(n, np.int64), "action": np.ones(n, np.int64),
                      "reward": np.zeros(n), "done": np.zeros(n, np.uint8)})
    fs.set_coords(slots, np.c_[slots, slots].astype(np.float32))
    return fs


@given(seq=junk, kind=st.one_of(st.sampled_from(["keyframe", "delta"]), junk), capacity=junk)
@FUZZ
def test_frame_meta_is_checked(seq, kind, capacity):
    TRIED["frame meta"] += 1
    meta, a = decode(_frames().keyframe())
    meta.update(seq=seq, kind=kind, capacity=capacity)
    ok = (kind in ("keyframe", "delta") and isinstance(seq, int) and not isinstance(seq, bool) and 0 <= seq < 2**53
          and (capacity is None or (isinstance(capacity, int) and not isinstance(capacity, bool)
                                    and 0 <= capacity < 2**53)))
    try:
        assert check_frame(meta, a) == seq and ok
    except CodecError:
        assert not ok


@given(drop=st.sampled_from(["slots", "x", "step", "done"]), n=st.integers(0, 9), dtype=st.sampled_from(DTYPES))
@FUZZ
def test_frame_columns_are_checked(drop, n, dtype):
    TRIED["frame columns"] += 1
    meta, a = decode(_frames().keyframe())
    a = dict(a)
    a[drop] = np.zeros(n, dtype)
    ok = n == 4 and (drop != "slots" or dtype == "uint32")
    try:
        check_frame(meta, a)
        assert ok
    except CodecError:
        assert not ok
    del a[drop]
    with pytest.raises(CodecError, match="slots" if drop == "slots" else drop):
        check_frame(meta, a)


@given(st.lists(st.tuples(st.sampled_from(["upsert", "remove", "drop", "dup", "swap", "keyframe"]),
                          st.lists(st.integers(0, 7), max_size=4)), max_size=12))
@settings(max_examples=150, deadline=None)
def test_sequence_gaps_ask_for_a_keyframe_and_views_converge(ops):
    """Lost, repeated and reordered deltas: a view applies only the next seq, asks for a keyframe once per gap, and
    is equal to Python's state once it has one."""
    TRIED["sequence gaps"] += 1
    fs = _frames()
    view_rows: dict[int, tuple] = {}
    seqs = FrameSequence()

    def apply(blob: bytes) -> None:
        meta, a = decode_frame(blob)
        if meta["kind"] == "keyframe":
            seqs.keyframe(meta["seq"])
            view_rows.clear()
        else:
            before, gap_open = seqs.seq, seqs.gap is not None
            outcome = seqs.delta(meta["seq"])
            assert not (gap_open and outcome == "gap"), "a second keyframe request for the same gap"
            assert outcome != "applied" or meta["seq"] == before + 1
            if outcome != "applied":
                return
        for s in a.get("removed", []):
            view_rows.pop(int(s), None)
        for i, s in enumerate(a["slots"]):
            view_rows[int(s)] = (float(a["x"][i]), int(a["step"][i]))

    apply(fs.keyframe())
    late: list[bytes] = []
    for op, slots in ops:
        s = np.array(sorted(set(slots)), np.int64)
        if op == "upsert" and len(s):
            fs.upsert(s, {"step": s + 100 * fs.seq})
            fs.set_coords(s, np.c_[s + fs.seq, s].astype(np.float32))
        elif op == "remove":
            fs.remove(s)
        elif op == "keyframe":
            apply(fs.keyframe())
            continue
        blob = fs.take_delta()
        if blob is None or op == "drop":
            continue
        if op == "swap":  # delivered after the next delta
            late.append(blob)
            continue
        apply(blob)
        if op == "dup":
            apply(blob)
        for b in late:
            apply(b)
        late.clear()
    for b in late:
        apply(b)
    if seqs.gap is not None or seqs.seq != fs.seq:
        apply(fs.keyframe())  # what a keyframe request gets
    assert seqs.gap is None and seqs.seq == fs.seq
    assert view_rows == {int(s): (float(fs.row(int(s))["x"]), int(fs.row(int(s))["step"])) for s in fs.present_slots()}


def test_snapshot_decoder_raises_only_codec_error():
    TRIED["fixed cases"] += 1
    arrays = {"slots": np.arange(3, dtype=np.uint32), "x": np.zeros(3, np.float32), "y": np.zeros(3, np.float32)}
    good = {"kind": "snapshot", "id": 1, "step": 5, "time_s": 1.0, "extent": [0, 1, 0, 1]}
    for meta, arrs in [({**good, "extent": None}, arrays), ({k: v for k, v in good.items() if k != "step"}, arrays),
                       ({**good, "step": [5]}, arrays), ({**good, "extent": [1, 2]}, arrays),
                       ({**good, "time_s": "x"}, arrays), (good, {**arrays, "y": np.zeros(2, np.float32)}),
                       (good, {**arrays, "extra": np.zeros(7, np.float32)})]:
        with pytest.raises(CodecError):
            decode_snapshot(encode(meta, arrs))
    assert decode_snapshot(encode(good, arrays)).step == 5
