"""One matrix of bad inputs through the public entry points.

Every case declares one outcome and asserts it:

- ``raises``: a set-up call of the user's own (a buffer's ``add``, a constructor, an analysis function) refuses the
  input with an exception whose message names the problem (``pytest.raises(..., match=...)``);
- ``skips``: the bad row or message is kept off the map *visibly* (``widget.errors``, a status note, a counter such
  as ``nan_skipped``, ``rejected``, ``bad_priority``; for the offline tools a warning or ``viz.failed``), the loop
  keeps going after it without an exception, and the good rows, including those that came after the bad one, are
  drawn.

``pytest tests/test_bad_inputs.py -q -s`` prints the size of the matrix.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook, open_run
from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer, SumTree
from better_rl_widget.embed import (
    LiveTSNE,
    PCAProjection,
    ProjectionFrame,
    make_projection,
)
from better_rl_widget.embed.aligned import aligned_tsne
from better_rl_widget.frames.codec import decode
from better_rl_widget.store import RunIndexError

from .conftest import browser_update, fill, from_browser

RAISES, SKIPS = "raises", "skips"
# A device that does not exist on this machine: "cuda" without CUDA, else one ordinal past the last GPU.
MISSING_DEVICE = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
FAST = {"every": 1, "worker": "thread", "settle_s": 0, "max_fps": 50}


@dataclass(frozen=True)
class Case:
    entry: str
    bad: str
    outcome: str
    run: Callable[[Outcome], None]
    error: type[BaseException] = ValueError
    match: str = ""


CASES: list = []


def case(entry: str, bad: str, outcome: str, *, error: type[BaseException] = ValueError, match: str = "",
         xfail: str = "") -> Callable:
    assert outcome in (RAISES, SKIPS) and (outcome == SKIPS or match), "a raising case names the words it expects"
    marks = [pytest.mark.xfail(reason=xfail, strict=True)] if xfail else []

    def register(fn: Callable[[Outcome], None]) -> Callable[[Outcome], None]:
        CASES.append(pytest.param(Case(entry, bad, outcome, fn, error, match), id=f"{entry}: {bad}", marks=marks))
        return fn

    return register


class Outcome:
    """What a case may assert: only its declared outcome, at least once."""

    def __init__(self, c: Case, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
        self.case, self.tmp, self.caplog = c, tmp_path, caplog
        self.checked = 0

    def raises(self):
        assert self.case.outcome == RAISES, f"{self.case.bad}: declared {self.case.outcome}, asserted a raise"
        self.checked += 1
        return pytest.raises(self.case.error, match=self.case.match)

    def skipped(self, shown: str, pattern: str, *, drawn: int, good: int) -> None:
        """``shown``: what the user sees; ``drawn``: good rows that made it (map points, placed rows)."""
        assert self.case.outcome == SKIPS, f"{self.case.bad}: declared {self.case.outcome}, asserted a skip"
        assert re.search(pattern, shown, re.DOTALL), f"not visible: {pattern!r} in {shown!r}"
        assert drawn == good, f"{drawn} good rows drawn, expected {good}"
        self.checked += 1

    def skipped_in(self, w: BufferWidget, pattern: str, *, good: int, **counters: int) -> dict:
        """A widget case: the skip is visible (errors, notes, engine note) and counted, every good row is on the
        map with finite coordinates. Returns the keyframe's arrays."""
        assert pattern or counters, "a skip is visible in words or in a counter"
        for name, want in counters.items():
            assert w.status.get(name) == want, f"status[{name!r}] = {w.status.get(name)}, expected {want}"
        _, a = decode(w.keyframe)
        assert np.isfinite(a["x"]).all() and np.isfinite(a["y"]).all()
        self.skipped(visible(w), pattern, drawn=len(a["slots"]), good=good)
        return a


def visible(w: BufferWidget) -> str:
    """Everything the widget shows in words: errors, notes, the projection engine's note."""
    engine = w.status.get("engine") or {}
    return " | ".join([*w.errors, *w.status.get("notes", []), str(engine.get("note", ""))])


@pytest.mark.parametrize("c", CASES)
def test_bad_input(c: Case, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    out = Outcome(c, tmp_path, caplog)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy/torch warn about the very values these cases feed in
        c.run(out)
    assert out.checked, f"{c.bad}: the case asserted neither outcome"


def test_matrix_size() -> None:
    raise_n = sum(p.values[0].outcome == RAISES for p in CASES)
    print(f"\nbad-input matrix: {len(CASES)} cases ({raise_n} raise a clear error, {len(CASES) - raise_n} skip "
          "visibly and training goes on)")
    assert len(CASES) >= 60 and 0 < raise_n < len(CASES)
    assert len({p.id for p in CASES}) == len(CASES)


# -- helpers ------------------------------------------------------------------------------------------------------
def _obs(i: int, dim: int = 4) -> np.ndarray:
    return np.random.default_rng(i).normal(size=dim).astype(np.float32)


def _add(buf, o, i: int = 0, reward: float = 1.0) -> None:
    buf.add(o, i % 2, reward, o, terminated=(i % 10 == 9))


def _rec(hook, o, i: int = 0, reward: float = 1.0) -> None:
    hook.record(o, i % 2, reward, o, i % 10 == 9, False)


class UserBuffer:
    """A buffer of the user's own (BufferSource): rows as given, nothing checked on the way in."""

    def __init__(self, capacity: int = 100) -> None:
        self.capacity, self.total_inserted, self.rows = capacity, 0, []
        self.broken_reads = 0  # the next this many reads return one reward too few

    def add(self, obs) -> None:
        self.rows.append(obs)
        self.total_inserted += 1

    def read(self, slots, fields=None):
        n = len(slots)
        picked = [self.rows[s] for s in slots]
        if all(isinstance(o, np.ndarray) for o in picked) and len({o.shape for o in picked}) == 1:
            obs = np.stack(picked)
        else:  # what a list of Python objects becomes
            obs = np.empty(n, object)
            for i, o in enumerate(picked):
                obs[i] = o
        reward = np.ones(n - (self.broken_reads > 0), np.float32)
        self.broken_reads = max(0, self.broken_reads - 1)
        return {"obs": obs, "action": np.zeros(n, np.int64), "reward": reward, "terminated": np.zeros(n, bool),
                "truncated": np.zeros(n, bool), "step": np.asarray(slots), "episode": np.zeros(n, np.int64),
                "episode_step": np.asarray(slots)}


# =================================================================================================================
# Reference buffers: their own add / update_priorities / constructors raise (the user's set-up calls)
# =================================================================================================================
@case("ReplayBuffer.add", "NaN observation into an int buffer", RAISES, match=r"obs\[1\] = nan .*int64 observations")
def _(out):
    b = ReplayBuffer(4)
    b.add(np.zeros(3, np.int64), 0, 0.0, np.zeros(3, np.int64), False)
    with out.raises():
        b.add(np.array([0.0, np.nan, 0.0]), 0, 0.0, np.zeros(3), False)
    assert b.total_inserted == 1


@case("ReplayBuffer.add", "shape change mid-run", RAISES,
      match=r"obs has shape \(5,\), but this buffer stores observations of shape \(4,\)")
def _(out):
    b = ReplayBuffer(4)
    _add(b, _obs(0))
    with out.raises():
        _add(b, _obs(1, dim=5))
    assert b.total_inserted == 1


@case("ReplayBuffer.add", "string observation (wrong dtype)", RAISES, match=r"obs has dtype <U3 .*stores numbers")
def _(out):
    with out.raises():
        ReplayBuffer(4).add("abc", 0, 0.0, "abc", False)


@case("ReplayBuffer.add", "object array observation", RAISES, match=r"obs has dtype object .*stores numbers")
def _(out):
    ragged = np.empty(2, object)
    ragged[0], ragged[1] = np.zeros(2), np.zeros(3)
    with out.raises():
        ReplayBuffer(4).add(ragged, 0, 0.0, ragged, False)


@case("ReplayBuffer.add", "ragged nested list observation", RAISES, match=r"obs is not an array of one shape")
def _(out):
    with out.raises():
        ReplayBuffer(4).add([1.0, [2.0, 3.0]], 0, 0.0, np.zeros(2), False)


@case("ReplayBuffer.add", "reward 1e39 after a 1e30 one", RAISES, match=r"reward = 1e\+39 cannot be stored")
def _(out):
    b = ReplayBuffer(4)
    _add(b, _obs(0), reward=1e30)  # huge but storable: kept exactly as float32 holds it
    with out.raises():
        _add(b, _obs(1), reward=1e39)
    assert b.total_inserted == 1 and b.read(np.array([0]))["reward"][0] == np.float32(1e30)


@case("ReplayBuffer.add", "NaN reward", RAISES, match=r"reward = nan cannot be stored")
def _(out):
    with out.raises():
        _add(ReplayBuffer(4), _obs(0), reward=float("nan"))


@case("ReplayBuffer.add", "NaN action into int actions", RAISES, match=r"action = nan .*int64 actions")
def _(out):
    b = ReplayBuffer(4)
    b.add(_obs(0), 1, 0.0, _obs(0), False)
    with out.raises():
        b.add(_obs(1), float("nan"), 0.0, _obs(1), False)


@case("ReplayBuffer()", "NaN capacity", RAISES, match=r"capacity must be a positive integer, got nan")
def _(out):
    with out.raises():
        ReplayBuffer(float("nan"))


@case("ReplayBuffer()", "fractional capacity", RAISES, match=r"capacity must be a positive integer, got 2\.5")
def _(out):
    with out.raises():
        ReplayBuffer(2.5)


@case("ReplayBuffer.sample", "empty buffer", RAISES, match="cannot sample from an empty buffer")
def _(out):
    with out.raises():
        PrioritizedReplayBuffer(8).sample(4)


@case("PrioritizedReplayBuffer.update_priorities", "NaN priorities", RAISES, match=r"NaN or inf at slots \[2\]")
def _(out):
    b = PrioritizedReplayBuffer(8, seed=0)
    for i in range(4):
        _add(b, _obs(i), i)
    before = b.priorities(np.arange(4))
    with out.raises():
        b.update_priorities([1, 2], [0.5, np.nan])
    np.testing.assert_array_equal(b.priorities(np.arange(4)), before)


@case("PrioritizedReplayBuffer.update_priorities", "empty buffer", RAISES, match=r"\[0\] hold no transition .*empty")
def _(out):
    with out.raises():
        PrioritizedReplayBuffer(8).update_priorities([0], [1.0])


@case("PrioritizedReplayBuffer.update_priorities", "huge priorities (1e308)", RAISES,
      match=r"priorities too large at slots \[1\]")
def _(out):
    b = PrioritizedReplayBuffer(4, alpha=1.0)
    for i in range(4):
        _add(b, _obs(i), i)
    b.update_priorities([0], [1e30])  # huge but summable: accepted, kept in float64
    assert b.priorities(np.array([0]))[0] == pytest.approx(1e30)
    with out.raises():
        b.update_priorities([1], [1e308])


@case("SumTree.update", "negative priorities", RAISES, match=r"non-negative; got \[-1\] at leaves \[2\]")
def _(out):
    with out.raises():
        SumTree(4).update(np.array([0, 2]), np.array([1.0, -1.0]))


@case("PrioritizedReplayBuffer()", "NaN alpha", RAISES, match=r"alpha, beta and eps must be finite numbers")
def _(out):
    with out.raises():
        PrioritizedReplayBuffer(8, alpha=float("nan"))


@case("TrainingHook()", "a buffer of the wrong type", RAISES, error=TypeError,
      match=r"dict cannot be streamed: it lacks")
def _(out):
    with out.raises():
        TrainingHook(BufferWidget(), {"obs": np.zeros((3, 4))})


# =================================================================================================================
# TrainingHook streaming the reference buffers and buffers of the user's own: skipped visibly, training goes on
# =================================================================================================================
@case("TrainingHook + ReplayBuffer", "NaN observation", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(100)
    hook = TrainingHook(w, b, **FAST)
    fill(b, 10)
    _add(b, np.array([np.nan, 0, 0, 0], np.float32))
    for i in range(11, 21):
        _add(b, _obs(i), i)
        hook.on_step()
    hook.close()
    a = out.skipped_in(w, "", good=20, nan_skipped=1)
    assert 10 not in a["slots"]


@case("TrainingHook + PrioritizedReplayBuffer", "inf observation", SKIPS)
def _(out):
    w, b = BufferWidget(), PrioritizedReplayBuffer(100, seed=0)
    hook = TrainingHook(w, b, **FAST)
    for i in range(20):
        _add(b, np.full(4, np.inf if i == 5 else i, np.float32), i)
        hook.on_step()
    b.update_priorities(np.arange(0, 20, 2), np.linspace(-3, 3, 10))  # signed TD-errors: |δ| + ε
    hook.on_step()
    hook.close()
    a = out.skipped_in(w, "", good=19, nan_skipped=1)
    np.testing.assert_allclose(a["priority"][a["slots"] == 0], (3 + b.eps) ** b.alpha, rtol=1e-6)


@case("TrainingHook + user buffer", "shape change mid-run", SKIPS)
def _(out):
    w, b = BufferWidget(), UserBuffer()
    hook = TrainingHook(w, b, **FAST)
    for i in range(10):
        b.add(_obs(i))
    hook.flush(60)
    for i in range(10, 13):
        b.add(_obs(i, dim=6))  # a wrapper toggled: 6 values instead of 4
    hook.on_step()
    hook.flush(60)
    for i in range(13, 20):
        b.add(_obs(i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, r"shape/dtype changed mid-run at slot\(s\) 10, 11, 12: got shape \(6,\)", good=17, rejected=3)


@case("TrainingHook + user buffer", "object array observations", SKIPS)
def _(out):
    w, b = BufferWidget(), UserBuffer()
    hook = TrainingHook(w, b, **FAST)
    for i in range(5):
        b.add(_obs(i))
    hook.flush(60)
    b.add(np.zeros(2))
    b.add([1.0, "x"])  # ragged rows: the read gives an object array
    hook.on_step()
    hook.flush(60)
    for i in range(7, 12):
        b.add(_obs(i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, r"dtype object .*cannot be mirrored", good=10, rejected=2)


@case("TrainingHook + user buffer", "read() returns a field one row short", SKIPS)
def _(out):
    w, b = BufferWidget(), UserBuffer()
    hook = TrainingHook(w, b, **FAST)
    for i in range(6):
        b.add(_obs(i))
    b.broken_reads = 1
    hook.on_step()  # must not raise
    for i in range(6, 12):
        b.add(_obs(i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, r"UserBuffer\.read\(\) returned 'reward' with shape \(5,\) for 6 slots", good=12)


@case("TrainingHook + ReplayBuffer", "single point and a NaN one through t-SNE", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(50)
    hook = TrainingHook(w, b, projection="tsne", **FAST)
    _add(b, np.full(4, np.nan, np.float32))
    hook.on_step()
    _add(b, _obs(1), 1)
    hook.on_step()
    hook.close()
    a = out.skipped_in(w, "", good=1, nan_skipped=1)
    assert a["slots"].tolist() == [1]


@case("TrainingHook + ReplayBuffer", "2,000 identical rows and a NaN one through t-SNE", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(2100)
    hook = TrainingHook(w, b, projection="tsne", max_points=2100, **FAST)
    same = np.ones(4, np.float32)
    for i in range(2000):
        _add(b, same, i)
    _add(b, np.array([1, np.nan, 1, 1], np.float32))
    hook.on_step()
    for i in range(2001, 2051):  # distinct rows after: placed on the same map
        _add(b, _obs(i) + 5, i)
        hook.on_step()
    assert hook.flush(120)
    hook.close()
    a = out.skipped_in(w, "", good=2050, nan_skipped=1)
    assert 2000 not in a["slots"] and a["step"].max() == 2050


@case("TrainingHook + ReplayBuffer", "10,000-dimensional observations and an inf one", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(40)
    hook = TrainingHook(w, b, **FAST)
    for i in range(30):
        o = _obs(i, dim=10_000)
        if i == 7:
            o[9_999] = -np.inf
        _add(b, o, i)
        hook.on_step()
    hook.close()
    out.skipped_in(w, "", good=29, nan_skipped=1)
    meta, obs = w._inspect_fn(8)
    assert meta["obs_shape"] == [10_000] and np.array_equal(obs, _obs(8, dim=10_000))


@case("TrainingHook + ReplayBuffer", "non-contiguous observations and a NaN one", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(40)
    hook = TrainingHook(w, b, **FAST)
    big = np.asfortranarray(np.arange(30 * 8, dtype=np.float32).reshape(30, 8))[:, ::-2]  # strided, reversed
    big[4, 1] = np.nan
    for i in range(30):
        _add(b, big[i], i)
        hook.on_step()
    hook.close()
    out.skipped_in(w, "", good=29, nan_skipped=1)
    assert np.array_equal(w._inspect_fn(12)[1], big[12])


@case("TrainingHook(q_network=)", "network on the 'meta' device", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(60)
    hook = TrainingHook(w, b, q_network=nn.Linear(4, 2, device="meta"), n_actions=2, **FAST)
    for i in range(40):
        _add(b, _obs(i), i)
        hook.on_step()
    hook.close()
    out.skipped_in(w, r"'meta' device.*embeds observations", good=40)


class _OnMissingDevice(nn.Module):
    """A q_network whose forward asks for a device this machine does not have."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.to(MISSING_DEVICE))


@case("TrainingHook(q_network=)", "network asked to run on a missing CUDA device", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(60)
    hook = TrainingHook(w, b, q_network=_OnMissingDevice(), n_actions=2, **FAST)
    for i in range(40):
        _add(b, _obs(i), i)
        hook.on_step()
    hook.close()
    a = out.skipped_in(w, r"TD-errors off: .*(CUDA|cuda|device).*the map embeds observations", good=40)
    assert "td_error" not in a


@case("TrainingHook(q_network=)", "diverged network (NaN weights) with the PCA map", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(100)
    q = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    with torch.no_grad():
        q[0].weight[0, 0] = float("nan")
    hook = TrainingHook(w, b, q_network=q, n_actions=2, projection="pca", **FAST)
    for i in range(50):
        _add(b, _obs(i), i)
        hook.on_step()
    hook.flush(60)
    for i in range(50, 70):
        _add(b, _obs(i), i)
        hook.on_step()
    hook.close()  # must not raise
    out.skipped_in(w, r"NaN or inf Q-values.*features off: .*NaN or inf", good=70)


class _NaNProjection:
    """A projection of the user's whose optimisation blew up for some rows (and whose extent follows them)."""

    name = "user"

    def __init__(self) -> None:
        self.rows: dict[int, np.ndarray] = {}

    def add(self, slots, features) -> None:
        self.rows.update({int(s): np.asarray(f[:2], np.float32) for s, f in zip(slots, features)})

    def remove(self, slots) -> None:
        for s in slots:
            self.rows.pop(int(s), None)

    def step(self, budget_s: float) -> ProjectionFrame:
        slots = np.array(sorted(self.rows), np.int64)
        xy = np.array([self.rows[s] for s in slots], np.float32).reshape(-1, 2)
        xy[slots % 7 == 3] = np.nan
        ext = [float(xy[:, 0].min()), float(xy[:, 0].max()), float(xy[:, 1].min()), float(xy[:, 1].max())] \
            if len(xy) else [-1.0, 1.0, -1.0, 1.0]
        return ProjectionFrame(slots.astype(np.uint32), xy, ext, {"projection": "user"})


@case("TrainingHook(projection=)", "projection giving NaN coordinates", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(40)
    hook = TrainingHook(w, b, projection=_NaNProjection(), **FAST)
    for i in range(21):
        _add(b, _obs(i), i)
        hook.on_step()
    hook.close()  # must not raise
    a = out.skipped_in(w, r"NaN/inf coordinates for \d+ rows", good=18, unplaced=3)
    assert not np.isin(a["slots"], [3, 10, 17]).any()


@case("TrainingHook.on_step", "NaN step number", SKIPS)
def _(out):
    w, b = BufferWidget(), ReplayBuffer(40)
    hook = TrainingHook(w, b, **FAST)
    for i in range(20):
        _add(b, _obs(i), i)
        hook.on_step(float("nan") if i == 3 else i + 1)  # must not raise
    hook.close()
    out.skipped_in(w, r"on_step: step=nan is not an integer", good=20)


# =================================================================================================================
# hook.record (TrainingHook.for_loop): the mirror refuses, the widget says so, the loop goes on
# =================================================================================================================
@case("hook.record", "NaN observation", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(20):
        _rec(hook, np.full(3, np.nan, np.float32) if i == 4 else _obs(i, 3), i)
    hook.close()
    out.skipped_in(w, "", good=19, nan_skipped=1)


@case("hook.record", "NaN into an int mirror", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(20):
        _rec(hook, np.array([0.0, np.nan, 1.0]) if i == 6 else np.array([i, -i, 2 * i], np.int64), i)
    hook.close()
    out.skipped_in(w, r"record: ValueError: obs\[1\] = nan .*int64", good=19)


@case("hook.record", "shape change mid-run", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(20):
        _rec(hook, _obs(i, 5) if 8 <= i < 11 else _obs(i), i)
    hook.close()
    out.skipped_in(w, r"obs has shape \(5,\), but this buffer stores observations of shape \(4,\)", good=17)


@case("hook.record", "string observation (wrong dtype)", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(10):
        _rec(hook, "state-3" if i == 2 else _obs(i), i)
    hook.close()
    out.skipped_in(w, r"obs has dtype <U7", good=9)


@case("hook.record", "object array observation", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(10):
        _rec(hook, np.array([None, 1.0, 2.0, 3.0]) if i == 0 else _obs(i), i)  # first row is the bad one
    hook.close()
    out.skipped_in(w, r"obs has dtype object", good=9)


@case("hook.record", "ragged nested list observation", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(10):
        _rec(hook, [1.0, [2.0, 3.0]] if i == 5 else _obs(i), i)
    hook.close()
    out.skipped_in(w, r"obs is not an array of one shape", good=9)


_DICT = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (2,)), "goal": gym.spaces.Discrete(3)})
_TUPLE = gym.spaces.Tuple((gym.spaces.Box(-1, 1, (2,)), gym.spaces.Discrete(3)))


def _dict_obs(i: int) -> dict:
    return {"pos": _obs(i, 2), "goal": i % 3}


@case("hook.record", "dict observation missing a key", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, observation_space=_DICT, **FAST)
    for i in range(12):
        _rec(hook, {"pos": _obs(i, 2)} if i == 3 else _dict_obs(i), i)
    hook.close()
    out.skipped_in(w, r"does not fit observation_space Dict.*KeyError: 'goal'.*flattened to 5 values", good=11)


@case("hook.record", "dict observation with a part of the wrong shape", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, observation_space=_DICT, **FAST)
    for i in range(12):
        _rec(hook, {"pos": _obs(i, 3), "goal": 1} if i == 0 else _dict_obs(i), i)
    hook.close()
    out.skipped_in(w, r"flattens to 6 values, but observation_space .* has 5", good=11)
    assert w._inspect_fn(1)[0]["obs_shape"] == [5]


@case("hook.record", "dict observation without observation_space", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(12):
        _rec(hook, _dict_obs(i) if i < 4 else _obs(i), i)
    hook.close()
    assert sum("observation_space" in e for e in w.errors) == 1  # the same error is shown once
    out.skipped_in(w, r"Dict/Tuple observations need observation_space", good=8)


@case("hook.record", "tuple observation with a NaN part", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, observation_space=_TUPLE, **FAST)
    for i in range(12):
        pos = np.array([np.nan, 0.0], np.float32) if i == 5 else _obs(i, 2)
        _rec(hook, (pos, i % 3), i)
    hook.close()
    out.skipped_in(w, r"Tuple observations are flattened to 5 values", good=11, nan_skipped=1)


@case("hook.record", "tuple observation without observation_space", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(8):
        _rec(hook, (_obs(i, 2), 1) if i % 2 else _obs(i), i)
    hook.close()
    out.skipped_in(w, r"Dict/Tuple observations need observation_space", good=4)


@case("hook.record", "reward 1e39 among rewards of 1e30", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(10):
        _rec(hook, _obs(i), i, reward=1e39 if i == 4 else 1e30)
    hook.close()
    a = out.skipped_in(w, r"reward = 1e\+39 cannot be stored", good=9)
    assert (a["reward"] == np.float32(1e30)).all()


@case("hook.record", "NaN reward", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, **FAST)
    for i in range(10):
        _rec(hook, _obs(i), i, reward=float("nan") if i == 2 else 1.0)
    hook.close()
    out.skipped_in(w, r"reward = nan cannot be stored", good=9)


@case("hook.record", "n_envs=2 but observations without the env axis", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, n_envs=2, **FAST)
    act, rew, no = np.array([0, 1]), np.array([1.0, 2.0]), np.zeros(2, bool)
    for i in range(6):
        o = _obs(i) if i == 0 else np.stack([_obs(i), _obs(100 + i)])  # (4,): would be read as 4 envs' scalars
        hook.record(o, act, rew, o, no, no)
    hook.close()
    out.skipped_in(w, r"obs has shape \(4,\): with n_envs=2 every argument .*leading axis of 2", good=10)
    assert w._inspect_fn(2)[0]["obs_shape"] == [4]


@case("hook.record", "n_envs=2 but a scalar reward", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, n_envs=2, **FAST)
    act, no = np.array([0, 1]), np.zeros(2, bool)
    for i in range(6):
        o = np.stack([_obs(i), _obs(100 + i)])
        hook.record(o, act, 1.0 if i == 3 else np.array([1.0, 2.0]), o, no, no)
    hook.close()
    out.skipped_in(w, r"reward has shape \(\): with n_envs=2", good=10)


@case("hook.record", "non-contiguous env batch with a NaN row", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, n_envs=2, **FAST)
    act, rew, no = np.array([0, 1]), np.array([1.0, 2.0]), np.zeros(2, bool)
    frames = []
    for i in range(8):
        o = np.asfortranarray(np.arange(12, dtype=np.float32).reshape(2, 6) + 10 * i)[:, ::2]  # (2, 3), strided
        if i == 3:
            o[1, 0] = np.nan
        frames.append(o)
        hook.record(o, act, rew, o, no, no)
    hook.close()
    out.skipped_in(w, "", good=15, nan_skipped=1)
    assert np.array_equal(w._inspect_fn(9)[1], frames[4][1])  # insertion 4·2 + 1 lives in slot 9


@case("hook.record", "10,000-dimensional observations and a NaN one", SKIPS)
def _(out):
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 30, **FAST)
    for i in range(20):
        o = _obs(i, 10_000)
        if i == 11:
            o[0] = np.nan
        _rec(hook, o, i)
    hook.close()
    out.skipped_in(w, "", good=19, nan_skipped=1)


# =================================================================================================================
# Adapters, with the real libraries
# =================================================================================================================
class _Env(gym.Env):
    """A small env whose observations / rewards can be made bad."""

    def __init__(self, dim: int = 3, nan_every: int = 0, reward: float = 1.0, dict_obs: bool = False,
                 const: bool = False, length: int = 20) -> None:
        self.observation_space = gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,)), "b": gym.spaces.Discrete(3)}) \
            if dict_obs else gym.spaces.Box(-1, 1, (dim,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.dim, self.nan_every, self.reward, self.dict_obs, self.const, self.length = \
            dim, nan_every, reward, dict_obs, const, length

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def _obs(self):
        if self.dict_obs:
            a = self.np_random.uniform(-1, 1, 2).astype(np.float32)
            if self.nan_every and self.t % self.nan_every == 2:
                a[0] = np.nan
            return {"a": a, "b": int(self.t % 3)}
        o = np.zeros(self.dim, np.float32) if self.const else self.np_random.uniform(-1, 1, self.dim).astype(np.float32)
        if self.nan_every and self.t % self.nan_every == 2:
            o[0] = np.nan
        return o

    def step(self, action):
        self.t += 1
        return self._obs(), self.reward, False, self.t >= self.length, {}


def _sb3_dqn(env, w, steps: int = 120, policy: str = "MlpPolicy"):
    from stable_baselines3 import DQN

    from better_rl_widget.adapters.sb3 import BetterRLCallback

    model = DQN(policy, env, buffer_size=200, learning_starts=20, train_freq=4, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})
    model.learn(steps, callback=BetterRLCallback(w, every=10, worker="thread", settle_s=0, max_fps=50))
    return model


@case("SB3 BetterRLCallback", "NaN observations from the env", SKIPS)
def _(out):
    w = BufferWidget()
    model = _sb3_dqn(_Env(nan_every=7), w)
    rows = model.replay_buffer.observations[:120, 0]
    bad = int(np.isnan(rows).any(axis=1).sum())
    assert model.num_timesteps == 120 and bad > 5
    out.skipped_in(w, "", good=120 - bad, nan_skipped=bad)


@case("SB3 BetterRLCallback", "rewards beyond float32 (inf in SB3's buffer)", SKIPS)
def _(out):
    w = BufferWidget()
    model = _sb3_dqn(_Env(reward=1e39), w, steps=60)
    assert model.num_timesteps == 60
    out.skipped_in(w, r"rewards that are NaN or inf \(e\.g\. inf at slot\(s\) \[0, 1, ", good=60, bad_reward=60)


@case("SB3 BetterRLCallback", "Dict observation space", SKIPS)
def _(out):
    w = BufferWidget()
    model = _sb3_dqn(_Env(dict_obs=True), w, steps=40, policy="MultiInputPolicy")
    assert model.num_timesteps == 40  # learn() finished
    out.skipped(" | ".join(w.errors), r"DictReplayBuffer \(Dict observation buffers are not supported yet\)",
                drawn=w.n_points, good=0)


@case("SB3 BetterRLCallback", "model without a replay buffer (PPO)", SKIPS)
def _(out):
    from stable_baselines3 import PPO

    from better_rl_widget.adapters.sb3 import BetterRLCallback

    w = BufferWidget()
    model = PPO("MlpPolicy", _Env(), n_steps=32, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(32, callback=BetterRLCallback(w, worker="thread"))
    assert model.num_timesteps >= 32
    out.skipped(" | ".join(w.errors), r"PPO has none\. Training goes on", drawn=w.n_points, good=0)


@case("SB3BufferSource", "not an SB3 buffer", RAISES, error=TypeError,
      match=r"expected a stable_baselines3 ReplayBuffer .*got ReplayBuffer")
def _(out):
    from better_rl_widget.adapters.sb3 import SB3BufferSource

    with out.raises():
        SB3BufferSource(ReplayBuffer(10))


@case("SB3BufferSource", "buffer of the wrong layout", RAISES,
      match=r"expected observations of shape \(50, 2, \.\.\.\), got \(100, 1, 3\)")
def _(out):
    from stable_baselines3.common.buffers import ReplayBuffer as SB3ReplayBuffer

    from better_rl_widget.adapters.sb3 import SB3BufferSource

    env = _Env()
    rb = SB3ReplayBuffer(100, env.observation_space, env.action_space, n_envs=2)
    rb.observations = rb.observations.reshape(100, 1, 3)
    with out.raises():
        SB3BufferSource(rb)


def _ts_batch(obs, i: int):
    from tianshou.data import Batch

    return Batch(obs=obs, act=i % 2, rew=1.0, terminated=i % 10 == 9, truncated=False, obs_next=obs, info={})


@case("Tianshou adapter", "NaN observation", SKIPS)
def _(out):
    from tianshou.data import ReplayBuffer as TSReplayBuffer

    from better_rl_widget.adapters.tianshou import TianshouBufferSource

    w, buf = BufferWidget(), TSReplayBuffer(50)
    hook = TrainingHook(w, TianshouBufferSource(buf), **FAST)
    for i in range(20):
        buf.add(_ts_batch(np.full(3, np.nan, np.float32) if i == 5 else _obs(i, 3), i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, "", good=19, nan_skipped=1)


@case("Tianshou adapter", "NaN priority from update_weight", SKIPS)
def _(out):
    from tianshou.data import PrioritizedReplayBuffer as TSPrioritized

    from better_rl_widget.adapters.tianshou import TianshouBufferSource

    w, buf = BufferWidget(), TSPrioritized(50, alpha=0.6, beta=0.4)
    hook = TrainingHook(w, TianshouBufferSource(buf), **FAST)
    for i in range(20):
        buf.add(_ts_batch(_obs(i, 3), i))
        hook.on_step()
    buf.update_weight(np.array([3, 4]), np.array([np.nan, -5.0]))  # tianshou stores the NaN as it is
    for i in range(20, 25):
        buf.add(_ts_batch(_obs(i, 3), i))
        hook.on_step()
    hook.close()
    a = out.skipped_in(w, r"priorities that are NaN, inf or negative \(e\.g\. nan at slot\(s\) \[3\]\)", good=25,
                       bad_priority=1)
    assert np.isnan(a["priority"][a["slots"] == 3]).all()


@case("Tianshou adapter", "Dict observations (stored as a Batch)", SKIPS)
def _(out):
    from tianshou.data import ReplayBuffer as TSReplayBuffer

    from better_rl_widget.adapters.tianshou import TianshouBufferSource

    w, buf = BufferWidget(), TSReplayBuffer(50)
    hook = TrainingHook(w, TianshouBufferSource(buf), **FAST)
    for i in range(10):
        buf.add(_ts_batch({"a": _obs(i, 2), "b": np.array([i % 3])}, i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, r"dtype object .*cannot be mirrored", good=0, rejected=10)


@case("Tianshou adapter", "non-contiguous observations and an inf one", SKIPS)
def _(out):
    from tianshou.data import ReplayBuffer as TSReplayBuffer

    from better_rl_widget.adapters.tianshou import TianshouBufferSource

    w, buf = BufferWidget(), TSReplayBuffer(50)
    hook = TrainingHook(w, TianshouBufferSource(buf), **FAST)
    big = np.arange(20 * 6, dtype=np.float32).reshape(6, 20).T[:, ::2]  # (20, 3), a transposed view
    big[9, 2] = np.inf
    for i in range(20):
        buf.add(_ts_batch(big[i], i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, "", good=19, nan_skipped=1)
    assert np.array_equal(w._inspect_fn(4)[1], big[4])


@case("TianshouBufferSource", "not a Tianshou buffer", RAISES, error=TypeError,
      match=r"expected a tianshou\.data\.ReplayBuffer .*got list")
def _(out):
    from better_rl_widget.adapters.tianshou import TianshouBufferSource

    with out.raises():
        TianshouBufferSource([])


def _trl(obs, i: int):
    from .test_adapters import torchrl_transition

    return torchrl_transition(obs, i % 2, obs, 1.0, False, False)


def _torchrl_per(capacity: int = 50):
    from torchrl.data import LazyTensorStorage, TensorDictPrioritizedReplayBuffer

    return TensorDictPrioritizedReplayBuffer(alpha=0.6, beta=0.4, storage=LazyTensorStorage(capacity), batch_size=4)


@case("TorchRL adapter", "inf observation", SKIPS)
def _(out):
    from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    w, rb = BufferWidget(), TensorDictReplayBuffer(storage=LazyTensorStorage(50))
    hook = TrainingHook(w, TorchRLBufferSource(rb), **FAST)
    for i in range(20):
        rb.add(_trl(np.full(3, np.inf, np.float32) if i == 4 else _obs(i, 3), i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, "", good=19, nan_skipped=1)


@case("TorchRL adapter", "NaN priority, one transition per add", SKIPS)
def _(out):
    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    w, rb = BufferWidget(), _torchrl_per()
    src = TorchRLBufferSource(rb)
    if src.optional_fields != ("priority",):
        pytest.skip(f"torchrl's sum-tree does not load here: {src.note}")
    hook = TrainingHook(w, src, **FAST)
    for i in range(20):
        rb.add(_trl(_obs(i, 3), i))  # each add re-prioritises one slot
        hook.on_step()
    rb.update_priority(torch.tensor([3]), torch.tensor([float("nan")]))
    for i in range(20, 25):
        rb.add(_trl(_obs(i, 3), i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, r"priorities that are NaN, inf or negative \(e\.g\. nan at slot\(s\) \[3\]\)", good=25,
                   bad_priority=1)


@case("TorchRL adapter", "negative priority", SKIPS)
def _(out):
    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    w, rb = BufferWidget(), _torchrl_per()
    src = TorchRLBufferSource(rb)
    if src.optional_fields != ("priority",):
        pytest.skip(f"torchrl's sum-tree does not load here: {src.note}")
    hook = TrainingHook(w, src, **FAST)
    for i in range(10):
        rb.add(_trl(_obs(i, 3), i))
    hook.on_step()
    rb.update_priority(torch.tensor([1, 2]), torch.tensor([-4.0, 2.0]))  # torchrl keeps (p + eps)^α: NaN
    for i in range(10, 15):
        rb.add(_trl(_obs(i, 3), i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, r"priorities that are NaN, inf or negative .*slot\(s\) \[1\]", good=15, bad_priority=1)


@case("TorchRL adapter", "nested (dict) observation", SKIPS)
def _(out):
    from tensordict import TensorDict
    from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    w, rb = BufferWidget(), TensorDictReplayBuffer(storage=LazyTensorStorage(50))
    hook = TrainingHook(w, TorchRLBufferSource(rb), **FAST)
    for i in range(10):
        o = {"a": torch.full((2,), float(i)), "b": torch.tensor([i % 3])}
        rb.add(TensorDict({"observation": o, "action": torch.tensor(0),
                           "next": {"observation": o, "reward": torch.ones(1), "done": torch.zeros(1, dtype=bool)}},
                          []))
        hook.on_step()  # must not raise
    hook.close()
    assert len(w.errors) == 1  # the same error once, not per step
    out.skipped_in(w, r"'observation' holds TensorDict \['a', 'b'\], not a tensor", good=0)


@case("TorchRL adapter", "non-contiguous batch with a NaN row", SKIPS)
def _(out):
    from tensordict import TensorDict
    from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    w, rb = BufferWidget(), TensorDictReplayBuffer(storage=LazyTensorStorage(50))
    hook = TrainingHook(w, TorchRLBufferSource(rb), **FAST)
    obs = torch.arange(20 * 6, dtype=torch.float32).reshape(6, 20).T[:, ::2]  # (20, 3), not contiguous
    obs[7, 1] = float("nan")
    assert not obs.is_contiguous()
    n, no = 20, torch.zeros(20, 1, dtype=torch.bool)
    rb.extend(TensorDict({"observation": obs, "action": torch.zeros(n, dtype=torch.long),
                          "next": {"observation": obs, "reward": torch.ones(n, 1), "terminated": no,
                                   "truncated": no, "done": no}}, [n]))
    hook.on_step()
    for i in range(20, 25):
        rb.add(_trl(_obs(i, 3), i))
        hook.on_step()
    hook.close()
    out.skipped_in(w, "", good=24, nan_skipped=1)
    assert np.array_equal(w._inspect_fn(3)[1], obs[3].numpy())


@case("TorchRLBufferSource", "not a TorchRL buffer", RAISES, error=TypeError,
      match=r"expected a torchrl\.data\.ReplayBuffer .*got ReplayBuffer")
def _(out):
    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    with out.raises():
        TorchRLBufferSource(ReplayBuffer(10))


# =================================================================================================================
# The widget's messages from the front end: refused with a reason, the map goes on
# =================================================================================================================
def _live(n: int = 10, bad: tuple[int, ...] = (), dim: int = 4) -> tuple[BufferWidget, TrainingHook, ReplayBuffer]:
    w, b = BufferWidget(), ReplayBuffer(20)
    hook = TrainingHook(w, b, **FAST)
    for i in range(n):
        _add(b, np.full(dim, np.nan, np.float32) if i in bad else _obs(i, dim), i)
    hook.flush(60)
    return w, hook, b


def _more_rows_then_close(w, hook, b, start: int, n: int = 5) -> None:
    for i in range(start, start + n):
        _add(b, _obs(i, b.obs_shape[0] if b.obs_shape else 4), i)
        hook.on_step()
    hook.close()


for _value, _name in ((float("nan"), "NaN"), (float("inf"), "inf")):
    @case("widget message", f"clicked = {_name}", SKIPS)
    def _(out, value=_value):
        w, hook, b = _live()
        browser_update(w, clicked=value)
        assert w.clicked == -1
        browser_update(w, clicked=3)  # the next good click is answered
        assert decode(w.inspection)[0]["present"]
        _more_rows_then_close(w, hook, b, 10)
        out.skipped_in(w, r"ignored a message from the view: trait update \['clicked'\].*not the float", good=15)


@case("widget message", "selection of float32 NaN bytes (wrong dtype)", SKIPS)
def _(out):
    w, hook, b = _live()
    browser_update(w, selection_bytes=np.array([np.nan], "<f4").tobytes())  # reads as point 2143289344
    assert w.selection.size == 0
    browser_update(w, selection_bytes=np.array([1, 3], "<u4").tobytes())
    assert w.selection.tolist() == [1, 3]
    _more_rows_then_close(w, hook, b, 10)
    out.skipped_in(w, r"selection holds a point id >= 20", good=15)


@case("widget message", "selection of 5 bytes (wrong shape)", SKIPS)
def _(out):
    w, hook, b = _live()
    browser_update(w, selection_bytes=b"\1\2\3\4\5")
    _more_rows_then_close(w, hook, b, 10)
    out.skipped_in(w, r"selection of 5 bytes is not uint32 point ids", good=15)


@case("widget message", "non-contiguous selection buffer", SKIPS)
def _(out):
    w, hook, b = _live()
    strided = memoryview(np.arange(8, dtype="<u4")[::2])  # not contiguous: points 0, 2, 4, 6
    assert not strided.contiguous
    from_browser(w, {"method": "update", "state": {}, "buffer_paths": [["selection_bytes"]]}, [strided])
    assert w.selection.tolist() == [0, 2, 4, 6]
    browser_update(w, selection_bytes=np.array([25], "<u4").tobytes())  # then one beyond the map: refused
    assert w.selection.tolist() == [0, 2, 4, 6]
    _more_rows_then_close(w, hook, b, 10)
    out.skipped_in(w, r"selection holds a point id >= 20", good=15)


@case("widget message", "request_keyframe with seq = NaN", SKIPS)
def _(out):
    w, hook, b = _live()
    from_browser(w, {"method": "custom", "content": {"type": "request_keyframe", "seq": float("nan")}})
    assert w.keyframe_requests == 0
    _more_rows_then_close(w, hook, b, 10)
    out.skipped_in(w, r"'request_keyframe' message: seq = nan is not an integer", good=15)


@case("widget message", "color_by = NaN", SKIPS)
def _(out):
    w, hook, b = _live()
    browser_update(w, color_by=float("nan"))
    assert w.color_by == "age"
    _more_rows_then_close(w, hook, b, 10)
    out.skipped_in(w, r"trait update \['color_by'\].*expected a unicode string", good=15)


@case("widget message", "click on a NaN row (not drawn)", SKIPS)
def _(out):
    w, hook, b = _live(bad=(4,))
    browser_update(w, clicked=4)
    meta, arrays = decode(w.inspection)
    assert meta["present"] is False and "obs" not in arrays
    _more_rows_then_close(w, hook, b, 10)
    out.skipped(visible(w) + " | " + meta["message"], r"holds no drawn transition", drawn=w.n_points, good=14)
    assert w.status["nan_skipped"] == 1


def _saliency_widget(frames: np.ndarray) -> tuple[BufferWidget, TrainingHook, ReplayBuffer]:
    w, b = BufferWidget(), ReplayBuffer(20)
    hook = TrainingHook(w, b, **FAST)
    for i, f in enumerate(frames):
        _add(b, f, i)
    hook.flush(60)
    return w, hook, b


def _saliency_answer(svc, slot: int, method: str = "perturbation") -> dict:
    svc.request(slot, method)
    svc._pool.submit(lambda: None).result(timeout=60)  # the answer is set before the pool's next job runs
    meta, _ = decode(svc.widget.saliency)
    return meta


@case("widget saliency request", "10,000-dimensional vector observation", SKIPS)
def _(out):
    w, hook, b = _saliency_widget(np.stack([_obs(i, 10_000) for i in range(5)]))
    svc = w.enable_saliency(nn.Linear(10_000, 2))
    meta = _saliency_answer(svc, 2)
    _more_rows_then_close(w, hook, b, 5)
    out.skipped(meta["message"], r"saliency maps need image observations; this one is a vector",
                drawn=w.n_points, good=10)


@case("widget saliency request", "network on the 'meta' device", SKIPS)
def _(out):
    frames = np.random.default_rng(0).random((5, 4, 20, 20)).astype(np.float32)
    w, hook, b = _saliency_widget(frames)
    net = nn.Sequential(nn.Conv2d(4, 2, 3, device="meta"), nn.Flatten(), nn.Linear(2 * 18 * 18, 3, device="meta"))
    svc = w.enable_saliency(net)
    msgs = [_saliency_answer(svc, 1, m)["message"] for m in ("perturbation", "saliency")]
    for i in range(5, 10):
        _add(b, frames[i % 5], i)
        hook.on_step()
    hook.close()
    out.skipped(" | ".join(msgs), r"parameters are on the 'meta' device.* \| .*'meta' device", drawn=w.n_points,
                good=10)


# =================================================================================================================
# Embedding: projections used directly, and the aligned t-SNE of the offline tools
# =================================================================================================================
@case("PCAProjection.add", "NaN rows (one would make every coordinate NaN)", SKIPS)
def _(out):
    p = make_projection("pca", 50)
    X = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    X[[3, 17]] = np.nan
    p.add(np.arange(30), X)
    p.add(np.arange(30, 40), np.random.default_rng(1).normal(size=(10, 4)))  # rows after the bad ones
    frame = p.step()
    assert np.isfinite(frame.coords).all() and np.isfinite(frame.extent).all() and p.nan_rejected == 2
    out.skipped(frame.info["note"], r"2 non-finite rows rejected", drawn=len(frame.slots), good=38)


@case("PCAProjection.add", "huge values (1e30) and an inf row", SKIPS)
def _(out):
    p = PCAProjection(50)
    X = np.random.default_rng(0).normal(size=(30, 4)) * 1e30
    X[5, 2] = np.inf
    p.add(np.arange(30), X)
    frame = p.step()
    assert np.isfinite(frame.coords).all() and np.ptp(frame.coords[:, 0]) > 1e29
    out.skipped(frame.info["note"], r"1 non-finite rows rejected", drawn=len(frame.slots), good=29)


@case("LiveTSNE.add", "single point and a NaN one", SKIPS)
def _(out):
    p = LiveTSNE(20, min_points=4)
    p.add(np.array([0, 1]), np.array([[np.nan, 1.0], [2.0, 3.0]]))
    frame = p.step()
    assert frame.slots.tolist() == [1] and np.isfinite(frame.coords).all()
    out.skipped(frame.info["note"], r"1 non-finite rows rejected", drawn=len(frame.slots), good=1)


@case("LiveTSNE (FFT gradients)", "200 identical rows and a NaN one", SKIPS)
def _(out):
    p = LiveTSNE(300, min_points=100, negative_gradient_method="fft")
    X = np.ones((201, 4))
    X[200, 3] = np.nan
    p.add(np.arange(201), X)
    for _ in range(3):  # optimising points that all sit on one spot: FFT's grid has no width (it crashed)
        frame = p.step()
    p.add(np.arange(201, 221), np.random.default_rng(0).normal(size=(20, 4)) + 3)
    frame = p.step()
    assert np.isfinite(frame.coords).all()
    out.skipped(frame.info["note"], r"1 non-finite rows rejected", drawn=len(frame.slots), good=220)


@case("PCAProjection.add", "object array features", RAISES,
      match=r"features must be numbers \(n, d\), got dtype object")
def _(out):
    with out.raises():
        PCAProjection(10).add(np.arange(2), np.array([np.zeros(2), "x"], dtype=object))


@case("LiveTSNE.add", "ragged features", RAISES, match=r"features must be a numeric \(n, d\) array")
def _(out):
    with out.raises():
        LiveTSNE(10).add(np.arange(2), [[1.0, 2.0], [3.0]])


@case("PCAProjection.add", "1-D features (wrong shape)", RAISES, match=r"features must be \(n, d\) for n=3 slots")
def _(out):
    with out.raises():
        PCAProjection(10).add(np.arange(3), np.zeros(3))


@case("PCAProjection.add", "negative slot", RAISES, match=r"slots must lie in \[0, 10\), got -1\.\.-1")
def _(out):
    p = PCAProjection(10)
    with out.raises():
        p.add(np.array([-1]), np.ones((1, 2)))  # numpy would have written slot 9
    assert not p._present.any()


@case("LiveTSNE.add", "feature width change mid-run", RAISES, match=r"feature width changed from 3 to 4")
def _(out):
    p = LiveTSNE(20)
    p.add(np.arange(2), np.zeros((2, 3)))
    with out.raises():
        p.add(np.arange(2, 4), np.zeros((2, 4)))


@case("aligned_tsne", "NaN and inf rows", SKIPS)
def _(out):
    X = np.random.default_rng(0).normal(size=(300, 4))
    X[5, 1], X[250, 0] = np.nan, np.inf
    with out.caplog.at_level(logging.WARNING, logger="better_rl_widget"):
        coords, in_sample = aligned_tsne(X, np.repeat([0, 1], 150), per_group=80)
    assert np.isnan(coords[[5, 250]]).all() and not in_sample[[5, 250]].any()
    out.skipped(out.caplog.text, r"2 of 300 rows have NaN/inf values and are not placed",
                drawn=int(np.isfinite(coords).all(axis=1).sum()), good=298)


@case("aligned_tsne", "2,000 identical rows and a NaN one", SKIPS)
def _(out):
    X = np.ones((2001, 4))
    X[2000, 0] = np.nan
    with out.caplog.at_level(logging.WARNING, logger="better_rl_widget"):
        coords, _ = aligned_tsne(X, np.repeat([0, 1], [1000, 1001]), per_group=300)
    out.skipped(out.caplog.text, r"1 of 2001 rows have NaN/inf", drawn=int(np.isfinite(coords).all(axis=1).sum()),
                good=2000)


@case("aligned_tsne", "ragged rows (object array)", RAISES, match=r"aligned_tsne needs a numeric \(n, d\) array")
def _(out):
    with out.raises():
        aligned_tsne(np.array([np.zeros(2), np.zeros(3)], dtype=object), np.zeros(2))


# =================================================================================================================
# Saliency (analysis/saliency.py) and TD-errors (analysis/td.py), called directly
# =================================================================================================================
def _conv(device: str | None = None) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(4, 4, 3, device=device), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 3, device=device))


def _frame() -> np.ndarray:
    return np.random.default_rng(0).random((4, 10, 10)).astype(np.float32)


for _bad, _value in (("NaN pixel", np.nan), ("inf pixel", np.inf)):
    @case("perturbation_saliency", _bad, RAISES, match=r"the frame holds NaN/inf values .*channel 0, pixel \(3, 3\)")
    def _(out, value=_value):
        from better_rl_widget.analysis.saliency import (
            SaliencyError,
            perturbation_saliency,
        )

        f = _frame()
        f[0, 3, 3] = value
        assert out.case.error is ValueError and issubclass(SaliencyError, ValueError)
        with out.raises():
            perturbation_saliency(_conv(), f, r=1, d=1)


@case("gradient_saliency", "NaN pixel", RAISES, match=r"the frame holds NaN/inf values")
def _(out):
    from better_rl_widget.analysis.saliency import gradient_saliency

    f = _frame()
    f[2, 0, 0] = np.nan
    with out.raises():
        gradient_saliency(_conv(), f)


@case("perturbation_saliency", "network on the 'meta' device", RAISES, match=r"parameters are on the 'meta' device")
def _(out):
    from better_rl_widget.analysis.saliency import perturbation_saliency

    with out.raises():
        perturbation_saliency(_conv("meta"), _frame(), r=1, d=1)


@case("perturbation_saliency", "device that does not exist here", RAISES,
      match=rf"device '{MISSING_DEVICE}' is not available here")
def _(out):
    from better_rl_widget.analysis.saliency import perturbation_saliency

    with out.raises():
        perturbation_saliency(_conv(), _frame(), r=1, d=1, device=MISSING_DEVICE)


@case("perturbation_saliency", "10,000-dimensional vector", RAISES, match=r"needs image observations .*\(10000,\)")
def _(out):
    from better_rl_widget.analysis.saliency import perturbation_saliency

    with out.raises():
        perturbation_saliency(_conv(), np.zeros(10_000), r=1, d=1)


@case("perturbation_saliency", "object array frame", RAISES, match=r"image dtype object is not numeric")
def _(out):
    from better_rl_widget.analysis.saliency import perturbation_saliency

    with out.raises():
        perturbation_saliency(_conv(), _frame().astype(object), r=1, d=1)


@case("perturbation_saliency", "a batch of frames (wrong shape)", RAISES,
      match=r"needs image observations .*\(1, 4, 10, 10\)")
def _(out):
    from better_rl_widget.analysis.saliency import perturbation_saliency

    with out.raises():
        perturbation_saliency(_conv(), _frame()[None], r=1, d=1)


@case("td_errors", "device that does not exist here", RAISES, match=rf"device '{MISSING_DEVICE}' is not available")
def _(out):
    from better_rl_widget.analysis.td import td_errors

    o = np.zeros((5, 4), np.float32)
    with out.raises():
        td_errors(nn.Linear(4, 2), None, o, np.zeros(5, int), np.zeros(5), o, np.zeros(5), device=MISSING_DEVICE)


@case("td_errors", "network on the 'meta' device", RAISES, match=r"Linear has parameters on the 'meta' device")
def _(out):
    from better_rl_widget.analysis.td import td_errors

    o = np.zeros((5, 4), np.float32)
    with out.raises():
        td_errors(nn.Linear(4, 2, device="meta"), None, o, np.zeros(5, int), np.zeros(5), o, np.zeros(5))


# =================================================================================================================
# Run records (hook.record_to / record=, open_run)
# =================================================================================================================
def _recorded(out, rows: Callable[[TrainingHook], None], **kw) -> tuple[BufferWidget, object]:
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 50, record=out.tmp / "run", **{**FAST, **kw})
    rows(hook)
    hook.close()
    return w, open_run(out.tmp / "run")


@case("hook.log_metrics", "a string and an array as metric values", SKIPS)
def _(out):
    def rows(hook):
        for i in range(10):
            _rec(hook, _obs(i), i)
            hook.log_metrics(i, loss="high" if i == 2 else (np.ones(2) if i == 3 else 0.1 * i))

    w, run = _recorded(out, rows)
    m = run.metric("loss")
    assert m.index.tolist() == [0, 1, 4, 5, 6, 7, 8, 9]
    out.skipped_in(w, r"metric 'loss' must be a number, got str 'high'.*got ndarray", good=10)


@case("hook.log_metrics", "NaN step", SKIPS)
def _(out):
    def rows(hook):
        for i in range(6):
            _rec(hook, _obs(i), i)
            hook.log_metrics(float("nan") if i == 2 else i, loss=1.0)

    w, run = _recorded(out, rows)
    assert len(run.metric("loss")) == 5
    out.skipped_in(w, r"log_metrics: .*step", good=6)


@case("hook.log_event", "details that are not JSON (a Python object)", SKIPS)
def _(out):
    def rows(hook):
        for i in range(6):
            _rec(hook, _obs(i), i)
            hook.log_event("checkpoint", i, what=object() if i == 1 else f"ckpt-{i}")

    w, run = _recorded(out, rows)
    assert run.events["step"].tolist() == [0, 2, 3, 4, 5]
    out.skipped_in(w, r"log_event: TypeError: cannot record object", good=6)


@case("recorded run", "NaN observations", SKIPS)
def _(out):
    def rows(hook):
        for i in range(20):
            _rec(hook, np.full(4, np.nan, np.float32) if i in (3, 4) else _obs(i), i)

    w, run = _recorded(out, rows)
    sample = run.array("buffer_sample")
    assert np.isfinite(sample["obs"]).all() and not np.isin(sample["slot"], [3, 4]).any()
    assert len(run.snapshots()[-1].slots) == 18
    out.skipped_in(w, "", good=18, nan_skipped=2)


@case("recorded run", "object observations from a buffer of the user's", SKIPS)
def _(out):
    w, b = BufferWidget(), UserBuffer()
    hook = TrainingHook(w, b, record=out.tmp / "run", **FAST)
    for i in range(5):
        b.add(_obs(i))
    hook.flush(60)
    b.add([1.0, "x"])
    b.add(np.zeros(7))
    hook.on_step()
    hook.flush(60)
    for i in range(7, 10):
        b.add(_obs(i))
        hook.on_step()
    hook.close()
    run = open_run(out.tmp / "run")
    assert sorted(run.snapshots()[-1].slots.tolist()) == [0, 1, 2, 3, 4, 7, 8, 9]
    assert run.array("buffer_sample")["obs"].shape[1:] == (4,)
    out.skipped_in(w, r"dtype object .*cannot be mirrored", good=8, rejected=2)


@case("recorded run", "Dict observations, one that does not fit the space", SKIPS)
def _(out):
    def rows(hook):
        for i in range(10):
            _rec(hook, {"pos": _obs(i, 2), "goal": 7} if i == 5 else _dict_obs(i), i)  # goal 7 of Discrete(3)

    w, run = _recorded(out, rows, observation_space=_DICT)
    assert run.array("buffer_sample")["obs"].shape[1:] == (5,)
    out.skipped_in(w, r"does not fit observation_space", good=9)


@case("recorded run", "10,000-dimensional observations and a NaN one", SKIPS)
def _(out):
    def rows(hook):
        for i in range(12):
            o = _obs(i, 10_000)
            if i == 6:
                o[123] = np.nan
            _rec(hook, o, i)

    w, run = _recorded(out, rows)
    obs = run.array("buffer_sample")["obs"]
    assert obs.shape[1:] == (10_000,) and np.isfinite(obs).all()
    out.skipped_in(w, "", good=11, nan_skipped=1)


@case("open_run", "empty folder", RAISES, error=FileNotFoundError, match=r"is not a run: it has no index\.json")
def _(out):
    (out.tmp / "empty").mkdir()
    with out.raises():
        open_run(out.tmp / "empty")


@case("open_run", "index that is not JSON", RAISES, error=RunIndexError, match=r"index\.json is not valid JSON")
def _(out):
    (out.tmp / "bad").mkdir()
    (out.tmp / "bad" / "index.json").write_text('{"status": NaN, ')
    with out.raises():
        open_run(out.tmp / "bad")


@case("BufferWidget.from_run", "run of an empty buffer (no snapshots)", RAISES,
      match=r"holds no readable map snapshots")
def _(out):
    hook = TrainingHook(BufferWidget(), ReplayBuffer(5), record=out.tmp / "run", **FAST)
    hook.close()
    with out.raises():
        BufferWidget.from_run(open_run(out.tmp / "run"))


@case("hook.record_to", "a closed hook", RAISES, error=RuntimeError, match=r"this hook is closed")
def _(out):
    hook = TrainingHook(BufferWidget(), ReplayBuffer(5), **FAST)
    hook.close()
    with out.raises():
        hook.record_to(out.tmp / "run")


# =================================================================================================================
# PolicyVisualizer (checkpoints → rollouts → aligned t-SNE)
# =================================================================================================================
gym.register("better_rl_widget_test/Plain-v0", entry_point=lambda: _Env(length=10))
gym.register("better_rl_widget_test/NaNObs-v0", entry_point=lambda: _Env(nan_every=4, length=10))
gym.register("better_rl_widget_test/SameObs-v0", entry_point=lambda: _Env(const=True, nan_every=1000, length=600))
gym.register("better_rl_widget_test/DictNaN-v0", entry_point=lambda: _Env(dict_obs=True, nan_every=4, length=10))
gym.register("better_rl_widget_test/BigNaN-v0", entry_point=lambda: _Env(dim=10_000, nan_every=8, length=10))


class _Agent:
    """load(path) + act(obs); ``bad`` picks what a checkpoint whose name contains "bad" does."""

    bad = "nan"

    def __init__(self, path: str) -> None:
        self.broken = "bad" in Path(path).name

    @classmethod
    def load(cls, path: str):
        return cls(path)

    def act(self, obs):
        if not self.broken:
            return 0
        return {"nan": float("nan"), "out": 7}[self.bad]


class _OutOfSpaceAgent(_Agent):
    bad = "out"


class _MetaQAgent(_Agent):
    """Acts fine; its Q-network (for the value estimates) is on the 'meta' device."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.q = nn.Linear(3, 2, device="meta")


def _checkpoints(out, *names: str) -> Path:
    d = out.tmp / "ckpts"
    d.mkdir()
    for n in names:
        (d / n).write_bytes(b"weights")
    return d


def _viz(out, env: str, agent=_Agent, names=("agent_10.pt", "agent_20.pt"), **kw):
    from better_rl_widget.policy_visualizer import PolicyVisualizer

    return PolicyVisualizer(_checkpoints(out, *names), env, agent,
                            **{"episodes": 2, "max_steps": 50, "tsne_per_checkpoint": 50, "progress": False, **kw})


def _placed(df) -> int:
    return int(np.isfinite(df[["tsne_x", "tsne_y"]].to_numpy()).all(axis=1).sum())


for _env, _bad in (("NaNObs", "NaN observations"), ("DictNaN", "Dict observations with NaN parts"),
                   ("BigNaN", "10,000-dimensional observations with NaN ones")):
    @case("PolicyVisualizer", _bad, SKIPS)
    def _(out, env=_env):
        viz = _viz(out, f"better_rl_widget_test/{env}-v0")
        with out.caplog.at_level(logging.WARNING, logger="better_rl_widget"):
            steps = viz.to_dataframe("steps")
        nan_rows = int(np.isnan(viz.rollouts.obs).any(axis=1).sum())
        assert nan_rows > 0 and viz.failed == {}
        out.skipped(out.caplog.text, rf"{nan_rows} of {len(steps)} rows have NaN/inf values and are not placed",
                    drawn=_placed(steps), good=len(steps) - nan_rows)


@case("PolicyVisualizer", "identical states (600-step episodes of one state) and a NaN one", SKIPS)
def _(out):
    viz = _viz(out, "better_rl_widget_test/SameObs-v0", names=("agent_1.pt",), max_steps=600,
               tsne_per_checkpoint=1200)
    with out.caplog.at_level(logging.WARNING, logger="better_rl_widget"):
        steps = viz.to_dataframe("steps")
    assert len(steps) == 1200
    out.skipped(out.caplog.text, r"2 of 1200 rows have NaN/inf", drawn=_placed(steps), good=1198)


for _agent, _what, _pattern in ((_Agent, "NaN action", r"chose action np\.float64\(nan\)"),
                                (_OutOfSpaceAgent, "action outside the action space", r"chose action .*7.*Discrete")):
    @case("PolicyVisualizer", f"a checkpoint whose agent gives a {_what}", SKIPS)
    def _(out, agent=_agent, pattern=_pattern):
        viz = _viz(out, "better_rl_widget_test/Plain-v0", agent, names=("agent_10.pt", "bad_20.pt", "agent_30.pt"))
        eps = viz.to_dataframe()
        out.skipped(" | ".join(f"{k}: {v}" for k, v in viz.failed.items()), rf"bad_20\.pt: ValueError: .*{pattern}",
                    drawn=eps["file"].nunique(), good=2)


@case("PolicyVisualizer", "agent whose Q-network is on the 'meta' device", SKIPS)
def _(out):
    viz = _viz(out, "better_rl_widget_test/Plain-v0", _MetaQAgent)
    with out.caplog.at_level(logging.WARNING, logger="better_rl_widget"):
        eps = viz.to_dataframe()
    out.skipped(out.caplog.text, r"'meta' device", drawn=eps["file"].nunique(), good=2)


@case("PolicyVisualizer", "empty checkpoint folder", RAISES, match=r"no checkpoints in .*\(folder is empty\)")
def _(out):
    from better_rl_widget.policy_visualizer import PolicyVisualizer

    (out.tmp / "none").mkdir()
    with out.raises():
        PolicyVisualizer(out.tmp / "none", "better_rl_widget_test/Plain-v0", _Agent)


@case("PolicyVisualizer", "unknown env id", RAISES, match=r"does not know env_name 'CartPol-v1'; did you mean")
def _(out):
    with out.raises():
        _viz(out, "CartPol-v1")


@case("PolicyVisualizer", "every checkpoint gives NaN actions", RAISES, error=RuntimeError,
      match=r"no checkpoint could be rolled out \(bad_1\.pt: ValueError: the agent chose action np\.float64\(nan\)")
def _(out):
    viz = _viz(out, "better_rl_widget_test/Plain-v0", names=("bad_1.pt",))
    with out.raises():
        viz.to_dataframe()


# =================================================================================================================
# Experiments (classic MDPs, function approximation on gymnasium ids)
# =================================================================================================================
gym.register("better_rl_widget_test/BoxNaN-v0", entry_point=lambda: _Env(dim=2, nan_every=4, length=10))
gym.register("better_rl_widget_test/Box10k-v0", entry_point=lambda: _Env(dim=10_000, length=10))
gym.register("better_rl_widget_test/Dict-v0", entry_point=lambda: _Env(dict_obs=True, length=10))


@case("run_agents_on_mdp", "NaN reward in the MDP", RAISES, match=r"Chain has a non-finite reward \(nan for state 0")
def _(out):
    from better_rl_widget.agents.tabular import QLearning
    from better_rl_widget.envs.classic import Chain
    from better_rl_widget.experiments import run_agents_on_mdp

    with out.raises():
        run_agents_on_mdp([QLearning()], Chain(small_reward=float("nan")), instances=2, episodes=2, steps=5,
                          progress=False)


@case("run_agents_on_mdp", "inf reward noise", RAISES, match=r"Bandit has a non-finite reward_std \(inf")
def _(out):
    from better_rl_widget.agents.tabular import QLearning
    from better_rl_widget.envs.classic import Bandit
    from better_rl_widget.experiments import run_agents_on_mdp

    with out.raises():
        run_agents_on_mdp([QLearning()], Bandit(n_arms=3, reward_std=float("inf")), instances=2, episodes=2, steps=5,
                          progress=False)


@case("MDPDistribution", "NaN task weights", RAISES, match=r"weights must be finite .*got \[0\.5, nan\]")
def _(out):
    from better_rl_widget.envs import GridWorld
    from better_rl_widget.experiments import MDPDistribution

    with out.raises():
        MDPDistribution([GridWorld(), GridWorld(slip=0.2)], [0.5, float("nan")])


@case("run_agents_on_mdp (gymnasium id)", "NaN observation", RAISES,
      match=r"non-finite observation .*\(instance 0, episode 0, step 2\)")
def _(out):
    from better_rl_widget.agents.linear_q import LinearQ
    from better_rl_widget.experiments import run_agents_on_mdp

    with out.raises():
        run_agents_on_mdp([LinearQ()], "better_rl_widget_test/BoxNaN-v0", instances=2, episodes=2, steps=10,
                          progress=False)


@case("run_agents_on_mdp (gymnasium id)", "10,000-dimensional observations", RAISES,
      match=r"cannot set up features for observations of shape \(10000,\)")
def _(out):
    from better_rl_widget.agents.linear_q import LinearQ
    from better_rl_widget.experiments import run_agents_on_mdp

    with out.raises():
        run_agents_on_mdp([LinearQ()], "better_rl_widget_test/Box10k-v0", instances=1, episodes=1, steps=5,
                          progress=False)


@case("run_agents_on_mdp (gymnasium id)", "Dict observation space", RAISES, error=TypeError,
      match=r"needs a Box observation space")
def _(out):
    from better_rl_widget.agents.linear_q import LinearQ
    from better_rl_widget.experiments import run_agents_on_mdp

    with out.raises():
        run_agents_on_mdp([LinearQ()], "better_rl_widget_test/Dict-v0", instances=1, episodes=1, steps=5,
                          progress=False)


@case("run_agents_on_mdp", "an env without a tabular model", RAISES, error=TypeError,
      match=r"CartPoleEnv has no tabular model")
def _(out):
    from better_rl_widget.agents.tabular import QLearning
    from better_rl_widget.experiments import run_agents_on_mdp

    with out.raises():
        run_agents_on_mdp([QLearning()], "CartPole-v1", instances=1, episodes=1, steps=5, progress=False)


@case("run_agents_on_mdp", "no agents (empty list)", RAISES, match=r"no agents to run")
def _(out):
    from better_rl_widget.envs import GridWorld
    from better_rl_widget.experiments import run_agents_on_mdp

    with out.raises():
        run_agents_on_mdp([], GridWorld(), progress=False)


# -- regressions of fixes whose good outcome is neither a raise nor a skip -------------------------------------------
def test_saliency_of_huge_frames_is_finite():
    """1e30 pixels: the squared output differences overflowed float32 to inf, and the map became NaN."""
    from better_rl_widget.analysis.saliency import actor_critic_maps

    maps = actor_critic_maps(_conv(), _frame() * 1e30, r=1, d=1)
    assert all(np.isfinite(m).all() and m.max() > 0 for m in maps.values())


def test_aligned_tsne_of_no_rows_is_empty():
    coords, in_sample = aligned_tsne(np.zeros((0, 3)), np.zeros(0))
    assert coords.shape == (0, 2) and in_sample.shape == (0,)
