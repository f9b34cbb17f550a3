"""Layers: capture/ sits below widget/ and reaches it only through the MapSink protocol; one LiveOptions value
carries every option of the live path (hook → worker → engine → worker process)."""

import dataclasses
import inspect
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from better_rl_widget import BufferWidget, LiveOptions, ReplayBuffer, TrainingHook
from better_rl_widget.capture.engine_process import EngineSpec
from better_rl_widget.capture.options import DEFAULT_MAX_POINTS
from better_rl_widget.capture.sink import (
    MapSink,
    MapState,
    missing_members,
    protocol_members,
)
from better_rl_widget.embed import PCAProjection
from better_rl_widget.frames.codec import decode
from better_rl_widget.frames.frame_state import FrameState
from better_rl_widget.frames.summary import build_summary

from .conftest import fill

# -- imports go downward only ------------------------------------------------------------------------------------
# The contract lives in pyproject.toml ([tool.importlinter]); make test also runs lint-imports on its own.
ROOT = Path(__file__).resolve().parents[1]


def _lint(config: Path) -> int:
    # In a child process: import-linter reconfigures logging, which silenced the package's logger (and so caplog)
    # in every test that ran after this one.
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(config)!r}, no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, check=False).returncode


def test_the_package_keeps_its_layer_contract():
    assert _lint(ROOT / "pyproject.toml") == 0


def test_the_layer_contract_catches_an_upward_import(tmp_path):
    # Same contract, two layers swapped: capture imports store (a run's recorder), so store above capture must fail.
    text = (ROOT / "pyproject.toml").read_text()
    swapped = text.replace('"better_rl_widget.capture",\n    "better_rl_widget.store",',
                           '"better_rl_widget.store",\n    "better_rl_widget.capture",')
    assert swapped != text
    (tmp_path / "pyproject.toml").write_text(swapped)
    assert _lint(tmp_path / "pyproject.toml") != 0


def test_capture_never_imports_the_widget_layer():
    # Also in the contract; kept explicit because the sink protocol exists for exactly this.
    import grimp

    graph = grimp.build_graph("better_rl_widget")
    chains = graph.find_shortest_chains(importer="better_rl_widget.capture", imported="better_rl_widget.widget",
                                        as_packages=True)
    assert chains == set(), f"capture/ must reach the widget only through capture.sink.MapSink: {chains}"


# -- the sink protocol -----------------------------------------------------------------------------------------
def test_buffer_widget_is_a_map_sink_and_its_frame_state_a_map_state():
    assert isinstance(BufferWidget(), MapSink)
    assert isinstance(FrameState(3), MapState)
    assert {"attach", "publish_delta", "publish_keyframe", "publish_summary", "record_history", "update_status",
            "update_gauge", "add_note", "report_error", "gauge"} == set(protocol_members(MapSink))
    assert missing_members(BufferWidget(), MapSink) == []


def test_a_hook_rejects_a_widget_that_is_not_a_sink_and_names_what_it_lacks():
    class Half:
        def add_note(self, msg):
            pass

    with pytest.raises(TypeError, match="MapSink") as err:
        TrainingHook(Half(), ReplayBuffer(3))
    assert "publish_delta" in str(err.value) and "attach" in str(err.value) and "add_note" not in str(err.value)


class RecordingSink:
    """A front end that is not a BufferWidget: keeps the map state and counts what the capture layer asks for."""

    def __init__(self):
        self.gauge = {}
        self.status = {}
        self.calls = {}
        self.errors = []
        self.fs = None

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def attach(self, capacity, inspect_fn, *, slot_of=None):
        self._count("attach")
        self.fs = FrameState(capacity)
        self.inspect_fn = inspect_fn
        return self.fs

    def publish_delta(self):
        self._count("publish_delta")
        return self.fs.take_delta() is not None

    def publish_keyframe(self):
        self._count("publish_keyframe")

    def publish_summary(self):
        self._count("publish_summary")

    def record_history(self, step=None, *, force=False):
        self._count("record_history")

    def update_status(self, **fields):
        self.status.update(fields)

    def update_gauge(self, **fields):
        self.gauge.update(fields)

    def add_note(self, message):
        self._count("add_note")

    def report_error(self, message):
        self.errors.append(message)


def test_any_map_sink_can_be_fed_by_a_hook():
    sink = RecordingSink()
    assert isinstance(sink, MapSink) and not hasattr(sink, "enable_saliency")
    buf = ReplayBuffer(50)
    fill(buf, 40)
    hook = TrainingHook(sink, buf, every=1, projection="pca", worker="thread", max_fps=50, settle_s=0)
    hook.on_step()
    assert hook.flush(30)
    hook.close()
    assert sink.errors == []
    assert sink.fs.size == 40 and sink.gauge["size"] == 40 and sink.status["running"] is False
    for name in ("attach", "publish_delta", "publish_keyframe", "publish_summary", "record_history"):
        assert sink.calls.get(name, 0) >= 1, name
    meta, _ = sink.inspect_fn(3)
    assert meta["present"] and meta["step"] == 3


def test_the_widget_builds_its_summary_from_its_own_frame_state():
    w = BufferWidget()
    fs = w.attach(10, lambda slot: ({"slot": slot, "present": False}, None))
    w.publish_summary()
    assert w.summary == b""  # no priority or TD-error yet: nothing to show
    slots = np.arange(10)
    fs.upsert(slots, {"step": slots, "priority": np.linspace(1, 5, 10).astype(np.float32)})
    fs.set_coords(slots, np.zeros((10, 2), np.float32))
    w.publish_summary()
    assert w.summary == build_summary(fs)
    meta, a = decode(w.summary)
    assert meta["fields"] == ["priority"] and a["top_priority_slots"][0] == 9


# -- one options value -----------------------------------------------------------------------------------------
def test_options_defaults_are_the_hooks_and_the_signature_lists_every_option():
    o = LiveOptions()
    assert (o.every, o.projection, o.max_fps, o.worker, o.max_points, o.td_budget_s, o.gamma) == \
        (10, "auto", 4.0, "auto", DEFAULT_MAX_POINTS, 0.02, 0.99)
    params = inspect.signature(TrainingHook).parameters
    for name in LiveOptions.names():
        assert params[name].default == getattr(o, name), name
    assert {"widget", "buffer", "options", "q_network", "target_network", "estimator", "record"} <= set(params)
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.every = 3  # type: ignore[misc]


@pytest.mark.parametrize(("bad", "exc", "words"), [
    (dict(every=0), ValueError, "every must be >= 1"),
    (dict(every=2.5), TypeError, "every"),
    (dict(projection="umap"), ValueError, "unknown projection"),
    (dict(projection=3), TypeError, "projection"),
    (dict(max_fps=0), ValueError, "max_fps must be positive"),
    (dict(max_fps="fast"), TypeError, "max_fps"),
    (dict(embed="pixels"), ValueError, "embed"),
    (dict(worker="gpu"), ValueError, "worker must be one of"),
    (dict(max_points=0), ValueError, "max_points must be >= 1"),
    (dict(sample="random"), ValueError, "sample must be one of"),
    (dict(cost_budget=0), ValueError, "cost_budget must be in"),
    (dict(cost_budget=float("nan")), ValueError, "cost_budget"),
    (dict(td_budget_s=-1), ValueError, "td_budget_s"),
    (dict(settle_s=-1), ValueError, "settle_s"),
    (dict(keyframe_interval_s=float("nan")), ValueError, "keyframe_interval_s"),
    (dict(gamma=1.5), ValueError, "gamma"),
    (dict(n_actions=0), ValueError, "n_actions"),
    (dict(feature_layer=3), TypeError, "feature_layer"),
    (dict(seed="x"), TypeError, "seed"),
])
def test_bad_options_are_named(bad, exc, words):
    with pytest.raises(exc, match=words):
        LiveOptions(**bad)
    with pytest.raises(exc, match=words):  # the hook's keywords are checked by the same code
        TrainingHook(BufferWidget(), ReplayBuffer(3), **bad)


def test_options_normalise_numbers():
    o = LiveOptions(every=np.int64(5), max_fps=2, seed=3.0, n_actions=np.int32(4))
    assert type(o.every) is int and type(o.max_fps) is float and type(o.seed) is int and type(o.n_actions) is int


def test_hook_takes_options_and_keywords_override_them(widget):
    with pytest.raises(TypeError, match=r"unknown options? colour, fps"):
        TrainingHook(widget, ReplayBuffer(3), fps=2, colour="red")
    with pytest.raises(TypeError, match="options must be a LiveOptions"):
        TrainingHook(widget, ReplayBuffer(3), options={"every": 2})
    base = LiveOptions(every=7, projection="pca", max_fps=50, settle_s=0)
    hook = TrainingHook(widget, ReplayBuffer(30), options=base, every=3)
    try:
        assert hook.options == dataclasses.replace(base, every=3) and hook.every == 3
        assert hook.worker.options is hook.options and base.every == 7
    finally:
        hook.close()
    hook = TrainingHook(widget, ReplayBuffer(30), options=base)
    try:
        assert hook.options is base and hook.every == 7
    finally:
        hook.close()


def test_engine_spec_carries_the_options():
    by_name = EngineSpec.pack(100, LiveOptions(seed=3, projection="pca"))
    assert by_name.options == LiveOptions(seed=3, projection="pca")  # plain pickle carries it as it is
    assert pickle.loads(pickle.dumps(by_name)).load_options() == by_name.options
    obj = PCAProjection(100, seed=1)
    spec = EngineSpec.pack(100, LiveOptions(projection=obj, td_budget_s=1.0))
    assert isinstance(spec.options, bytes)  # a Projection object travels cloudpickled, as before
    back = pickle.loads(pickle.dumps(spec)).load_options()
    assert isinstance(back.projection, PCAProjection) and back.td_budget_s == 1.0
