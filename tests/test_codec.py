import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from better_rl_widget.frames.codec import (
    DTYPES,
    CodecError,
    decode,
    encode,
    fixture_frames,
    write_fixtures,
)

arrays = st.dictionaries(
    st.text(min_size=1, max_size=12),
    st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=7))),
    max_size=5,
)
metas = st.dictionaries(st.text(max_size=8), st.one_of(st.integers(-2**40, 2**40), st.text(max_size=10),
                                                        st.booleans(), st.none()), max_size=4)


@given(metas, arrays)
@settings(max_examples=150, deadline=None)
def test_round_trip(meta, arrs):
    blob = encode(meta, arrs)
    got_meta, got = decode(blob)
    assert got_meta == meta
    assert list(got) == list(arrs)
    for name, a in arrs.items():
        assert got[name].dtype == a.dtype and got[name].shape == a.shape
        np.testing.assert_array_equal(got[name], a)


@given(arrays)
@settings(max_examples=50, deadline=None)
def test_array_blocks_are_8_aligned(arrs):
    blob = encode({}, arrs)
    header_len = int.from_bytes(blob[4:8], "little")
    table = json.loads(blob[8:8 + header_len])["arrays"]
    assert all(spec["offset"] % 8 == 0 for spec in table.values())
    assert len(blob) % 8 == 0


def test_decode_from_unaligned_memoryview():
    blob = encode({"k": 1}, {"x": np.arange(5, dtype=np.float64)})
    shifted = memoryview(b"\0" * 3 + blob)[3:]
    _, got = decode(shifted)
    np.testing.assert_array_equal(got["x"], np.arange(5))


def test_rejects_bad_input():
    with pytest.raises(CodecError, match="dtype"):
        encode({}, {"x": np.zeros(3, np.int16)})
    with pytest.raises(CodecError, match="magic"):
        decode(b"XXXX\0\0\0\0")
    blob = encode({}, {"x": np.zeros(100, np.float32)})
    with pytest.raises(CodecError, match="past the end"):
        decode(blob[:-16])
    with pytest.raises(ValueError, match="not JSON compliant"):
        encode({"bad": float("nan")}, {})


def test_committed_js_fixtures_match_python_codec(tmp_path):
    """The JS decoder is tested against js/tests/fixtures; they must be what this codec writes today."""
    fixtures = Path(__file__).resolve().parents[1] / "js" / "tests" / "fixtures"
    write_fixtures(tmp_path)
    for name in ("keyframe.brw", "delta.brw", "expected.json"):
        assert (fixtures / name).read_bytes() == (tmp_path / name).read_bytes(), (
            f"{name} is stale: run python -m better_rl_widget.frames.codec --write-fixtures js/tests/fixtures")
    assert set(fixture_frames()) == {"keyframe", "delta"}
