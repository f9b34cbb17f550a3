"""Nothing a file or a run name holds can run code: crafted SB3 checkpoints (PolicyVisualizer), pickles in
tables, the engine process's channel, hostile strings in the HTML export and in saved figures."""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import re
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC

from better_rl_widget.policy import sb3_safe
from better_rl_widget.policy_visualizer import PolicyVisualizer

KW = {"episodes": 2, "seed": 0, "max_steps": 30, "tsne_per_checkpoint": 20, "perplexity": 5.0, "progress": False}
HOSTILE = ["</script><script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "<!--", "x</SCRIPT >y"]


class RunsCode:
    """Unpickling this writes ``path``: stands for any code a crafted file could run."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('ran')",)


def _serialized(obj) -> dict:
    return {":type:": "<class 'numpy.ndarray'>", ":serialized:": base64.b64encode(pickle.dumps(obj)).decode()}


def _rewrite(path: Path, *, data: dict | None = None, members: dict[str, bytes] | None = None) -> None:
    """Replace entries of the ``data`` JSON and whole members of an SB3 zip, keeping the rest."""
    with zipfile.ZipFile(path) as z:
        files = {n: z.read(n) for n in z.namelist()}
    d = json.loads(files["data"])
    d.update(data or {})
    files.update({"data": json.dumps(d).encode(), **(members or {})})
    with zipfile.ZipFile(path, "w") as z:
        for n, b in files.items():
            z.writestr(n, b)


@pytest.fixture
def two_checkpoints(tmp_path) -> Path:
    d = tmp_path / "ckpts"
    d.mkdir()
    for step in (100, 200):
        DQN("MlpPolicy", "CartPole-v1", buffer_size=1000, seed=step, device="cpu").save(d / f"rl_model_{step}_steps")
    return d


# -- SB3 checkpoints ---------------------------------------------------------------------------------------------
def test_a_crafted_entry_the_policy_does_not_need_never_runs(two_checkpoints, tmp_path):
    marker = tmp_path / "ran"
    _rewrite(two_checkpoints / "rl_model_200_steps.zip", data={"_last_obs": _serialized(RunsCode(marker))})
    viz = PolicyVisualizer(two_checkpoints, "CartPole-v1", DQN, **KW)
    assert sorted(viz.to_dataframe()["step"].unique()) == [100, 200]  # left out; the checkpoint still works
    assert not marker.exists()


def test_a_crafted_entry_the_policy_needs_is_refused_naming_file_and_entry(two_checkpoints, tmp_path):
    marker = tmp_path / "ran"
    _rewrite(two_checkpoints / "rl_model_200_steps.zip", data={"observation_space": _serialized(RunsCode(marker))})
    viz = PolicyVisualizer(two_checkpoints, "CartPole-v1", DQN, **KW)
    assert sorted(viz.to_dataframe()["step"].unique()) == [100]
    why = viz.failed["rl_model_200_steps.zip"]
    assert "UnsafeCheckpointError" in why and "rl_model_200_steps.zip" in why and "'observation_space'" in why
    assert "builtins.exec" in why and "trust_checkpoints=True" in why
    assert not marker.exists()


def test_a_weights_file_that_is_not_plain_weights_is_refused(two_checkpoints, tmp_path, monkeypatch):
    """SB3 2.3 (allowed by our requirements) reads ``.pth`` members with full pickle on torch < 2.6: simulated
    here, so only our own ``weights_only=True`` check stands between the file and the code."""
    from stable_baselines3.common import save_util

    class FullPickleTorch:
        def __getattr__(self, name):
            return getattr(torch, name)

        @staticmethod
        def load(f, **kw):
            return torch.load(f, **{**kw, "weights_only": False})

    monkeypatch.setattr(save_util, "th", FullPickleTorch())
    marker = tmp_path / "ran"
    crafted = io.BytesIO()
    torch.save(RunsCode(marker), crafted)
    _rewrite(two_checkpoints / "rl_model_200_steps.zip", members={"policy.pth": crafted.getvalue()})
    viz = PolicyVisualizer(two_checkpoints, "CartPole-v1", DQN, **KW)
    assert sorted(viz.to_dataframe()["step"].unique()) == [100]
    why = viz.failed["rl_model_200_steps.zip"]
    assert "rl_model_200_steps.zip" in why and "policy.pth" in why and "weights_only" in why and "GLOBAL exec" in why
    assert not marker.exists()


def test_trust_checkpoints_hands_the_file_to_sb3s_own_load(two_checkpoints, tmp_path):
    """The documented opt-in: SB3's ``load`` unpickles the file's objects, which is what runs the crafted code."""
    marker = tmp_path / "ran"
    _rewrite(two_checkpoints / "rl_model_200_steps.zip", data={"_last_obs": _serialized(RunsCode(marker))})
    viz = PolicyVisualizer(two_checkpoints, "CartPole-v1", DQN, trust_checkpoints=True, **KW)
    assert viz.trust_checkpoints is True and len(viz.to_dataframe()) == 4
    assert marker.read_text() == "ran"


@pytest.mark.parametrize("make", [
    lambda: DQN("MlpPolicy", "CartPole-v1", buffer_size=1000, device="cpu"),
    lambda: A2C("MlpPolicy", "CartPole-v1", device="cpu"),  # RMSprop optimizer_class in policy_kwargs
    lambda: PPO("MlpPolicy", "CartPole-v1", device="cpu",
                policy_kwargs={"activation_fn": torch.nn.ReLU, "net_arch": [16, 16]}),
    lambda: SAC("MlpPolicy", "Pendulum-v1", buffer_size=1000, device="cpu"),  # a Box action space with its RNG
], ids=["dqn", "a2c", "ppo-relu", "sac"])
def test_real_checkpoints_load_safely_and_act_as_with_sb3s_load(make, tmp_path):
    model = make()
    path = tmp_path / "model.zip"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        serialized = {k for k, v in json.loads(z.read("data")).items() if isinstance(v, dict) and ":serialized:" in v}
    _, custom = sb3_safe.safe_archive(path)
    assert set(custom) == serialized  # every object of a real checkpoint passes the allowlist: nothing left out
    safe, trusted = sb3_safe.load_sb3(type(model), path), type(model).load(path)
    assert safe.observation_space == trusted.observation_space and safe.action_space == trusted.action_space
    assert safe.policy_kwargs == trusted.policy_kwargs
    obs = np.stack([trusted.observation_space.sample() for _ in range(32)])
    np.testing.assert_array_equal(safe.predict(obs, deterministic=True)[0], trusted.predict(obs, deterministic=True)[0])


def _global(module: str, name: str) -> bytes:
    """A protocol-4 pickle of the bare global ``module.name`` (as cloudpickle writes a class by reference)."""
    def s(x: str) -> bytes:
        b = x.encode()
        return b"\x8c" + bytes([len(b)]) + b

    return b"\x80\x04" + s(module) + s(name) + b"\x93."


@pytest.mark.parametrize(("module", "name"), [
    ("os", "system"), ("builtins", "getattr"), ("builtins", "exec"), ("subprocess", "Popen"),
    ("stable_baselines3.common.monitor", "Monitor"),  # an SB3 class, but it writes files: not on the list
    ("stable_baselines3.common.utils", "FloatSchedule.__init__"),  # attribute paths out of an allowed class
    ("stable_baselines3.common.policies", "BasePolicy.__init__.__globals__"),
    ("torch.nn.modules.activation", "_is_make_fx_tracing"),
])
def test_the_allowlist_refuses_every_other_global(module, name):
    def entry(module: str, name: str) -> dict:
        return {":serialized:": base64.b64encode(_global(module, name)).decode()}

    with pytest.raises(pickle.UnpicklingError, match=re.escape(f"{module}.{name}")):
        sb3_safe._decode(entry(module, name))
    assert sb3_safe._decode(entry("torch.nn.modules.activation", "ReLU")) is torch.nn.ReLU  # as SB3 saves it


# -- tables, the engine process ----------------------------------------------------------------------------------
def test_a_table_with_a_pickled_extension_type_is_read_without_unpickling(tmp_path):
    """pyarrow < 14.0.1 unpickled ``arrow.py_extension_type`` metadata on read (CVE-2023-47248); we require
    pyarrow >= 15 and read a run's tables as here (``pq.read_table(...).to_pandas()``)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    marker = tmp_path / "ran"
    field = pa.field("x", pa.int64(), metadata={b"ARROW:extension:name": b"arrow.py_extension_type",
                                                 b"ARROW:extension:metadata": pickle.dumps(RunsCode(marker))})
    out = io.BytesIO()
    pq.write_table(pa.Table.from_arrays([pa.array([1, 2, 3])], schema=pa.schema([field])), out)
    try:
        pq.read_table(io.BytesIO(out.getvalue())).to_pandas()
    except Exception:  # noqa: BLE001 - refusing the column is fine too; running its pickle is not
        pass
    assert not marker.exists()


def test_the_engine_process_channel_is_an_unnamed_socket_pair_nobody_else_can_reach():
    """The engine's messages are pickles, so only the parent may be able to send them: an unnamed AF_UNIX socket
    pair whose other end the child inherits, no address, no listening socket in the child."""
    import socket

    psutil = pytest.importorskip("psutil")
    from better_rl_widget.capture.engine_process import EngineProcess

    ep = EngineProcess(None)  # booted, no engine
    try:
        ours = socket.socket(fileno=os.dup(ep.conn.fileno()))
        try:
            assert ours.family == socket.AF_UNIX and ours.getsockname() in ("", b"") and ours.getpeername() in ("", b"")
        finally:
            ours.close()
        conns = psutil.Process(ep.pid).net_connections(kind="all")
        assert conns, "the child holds its end of the pair"
        for c in conns:
            assert c.family == socket.AF_UNIX and not c.laddr and not c.raddr, c  # nothing named, nothing inet
            assert c.status != psutil.CONN_LISTEN, c
    finally:
        ep.close()


# -- strings in HTML ---------------------------------------------------------------------------------------------
class _Scripts(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def test_hostile_run_strings_cannot_leave_the_exports_script_and_data_blocks(tmp_path):
    from better_rl_widget.frames.codec import decode
    from better_rl_widget.frames.snapshot import MapSnapshot
    from better_rl_widget.frames.snapshot_codec import decode_snapshot
    from better_rl_widget.widget.export import export_html

    n = 12
    slots = np.arange(n, dtype=np.uint32)
    fields = {name: np.ones(n, np.float32) for name in HOSTILE}  # field names: env id, action names, notes...
    snap = MapSnapshot(step=10, time_s=0.0, slots=slots, xy=np.zeros((n, 2), np.float32),
                       extent=(-1.0, 1.0, -1.0, 1.0), fields={"step": slots, **fields})
    for title in HOSTILE:
        page = export_html(tmp_path / "x.html", [snap], title=title, color_by=HOSTILE[1]).read_text(encoding="utf-8")
        p = _Scripts()
        p.feed(page)
        # exactly the page's two scripts, closed where the page closes them: nothing in a string ended one early
        assert p.tags.count("script") == 2 and "img" not in p.tags
        assert len(re.findall(r"</script", page, flags=re.IGNORECASE)) == 2 and "<!--" not in page
        data, code = p.scripts
        assert re.fullmatch(r"[A-Za-z0-9+/=]+", data)
        assert not re.search(r"</script|<!--|<script", code, flags=re.IGNORECASE)
        for s in HOSTILE:  # strings appear raw nowhere; the title only HTML-escaped, as text
            assert s not in page
        meta, arrays = decode(base64.b64decode(data))
        assert meta["title"] == title and meta["color_by"] == HOSTILE[1]
        assert set(HOSTILE) <= set(decode_snapshot(arrays["snap_0"].tobytes()).fields)


class _FileAgent:
    """A user agent class: ``load`` reads nothing, ``act`` pushes left."""

    @classmethod
    def load(cls, path: str) -> _FileAgent:
        return cls()

    def act(self, obs: np.ndarray) -> int:
        return 0


def test_a_hostile_checkpoint_file_name_stays_inert_in_saved_figures(tmp_path):
    d = tmp_path / "ckpts"
    d.mkdir()
    name = '"><img src=x onerror=alert(document.domain)><script>alert(document.cookie)<'  # no "/", no digit
    for stem in (name, f"{name}b"):
        (d / f"{stem}.pt").write_bytes(b"")
    viz = PolicyVisualizer(d, "CartPole-v1", _FileAgent, **KW)
    assert name in set(viz.to_dataframe()["label"])
    viz.save(tmp_path / "out")
    for html in (tmp_path / "out").glob("*.html"):
        page = html.read_text(encoding="utf-8")
        assert "<img" not in page and "<script>alert" not in page, html.name
    # the labels are in the figures, as JSON text with "<" escaped
    assert "\\u003cimg src=x onerror=alert(document.domain)\\u003e" in (tmp_path / "out" / "tsne.html").read_text()
