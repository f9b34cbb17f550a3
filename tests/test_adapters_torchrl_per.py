"""TorchRL's TensorDictPrioritizedReplayBuffer: priorities read from its sum-tree next to hook-computed TD-errors,
and a visible degraded mode when torchrl's compiled extension does not load."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.frames.codec import decode

from .test_adapters import torchrl_transition

ALPHA, EPS = 0.6, 1e-8


def _per_buffer(capacity=200):
    from torchrl.data import LazyTensorStorage, TensorDictPrioritizedReplayBuffer

    return TensorDictPrioritizedReplayBuffer(alpha=ALPHA, beta=0.4, eps=EPS, storage=LazyTensorStorage(capacity),
                                             batch_size=32)


def _dqn_loop(rb, hook, q, steps=300, seed=0):
    """A small DQN-style loop with PER: importance-weighted loss, |δ| written back with update_priority."""

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=seed)
    opt = torch.optim.Adam(q.parameters(), 1e-3)
    last = None
    for t in range(steps):
        with torch.no_grad():
            a = int(q(torch.as_tensor(obs)).argmax()) if rng.random() > 0.3 else int(rng.integers(2))
        nxt, r, te, tr, _ = env.step(a)
        rb.add(torchrl_transition(obs, a, nxt, r, te, tr))
        obs = env.reset()[0] if te or tr else nxt
        if len(rb) > 64 and t % 2 == 0:  # a gradient step every other env step keeps the test short
            b = rb.sample()
            with torch.no_grad():
                tgt = b["next", "reward"][:, 0] + 0.99 * (~b["next", "terminated"][:, 0]) * \
                    q(b["next", "observation"]).max(1).values
            q_sa = q(b["observation"]).gather(1, b["action"][:, None])[:, 0]
            loss = (b["priority_weight"] * (q_sa - tgt) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            last = (b["index"].clone(), (q_sa - tgt).abs().detach())
            rb.update_priority(*last)
        hook.on_step()
    hook.close()
    return last


def test_torchrl_prioritized_buffer_priorities_and_td_errors_reach_the_widget():
    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    rb = _per_buffer()
    src = TorchRLBufferSource(rb)
    assert src.note == "" and src.optional_fields == ("priority",)
    q = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    w = BufferWidget()
    hook = TrainingHook(w, src, q_network=q, n_actions=2, every=10, max_fps=20)
    index, delta = _dqn_loop(rb, hook, q)
    src.detach()
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 200 and {"priority", "td_error", "q", "value"} <= set(meta["channels"])
    assert np.isfinite(a["td_error"]).all()
    slots = a["slots"].astype(np.int64)
    # the buffer's own sampling weights, read through torchrl's public state_dict
    tree = rb.prioritized_sampler.state_dict()["_sum_tree"]
    np.testing.assert_allclose(a["priority"], torch.as_tensor(tree[torch.as_tensor(slots)]).numpy(), rtol=1e-6)
    # the last update_priority call: (|δ| + eps)^α, as PER defines the weight
    pos = {int(s): i for i, s in enumerate(slots)}
    got = np.array([a["priority"][pos[int(s)]] for s in index])
    np.testing.assert_allclose(got, (delta.numpy() + EPS) ** ALPHA, rtol=1e-5)
    assert len(np.unique(a["priority"])) > 50  # re-prioritised slots arrived, not only the default priority
    smeta, _ = decode(w.summary)
    assert "priority" in smeta["fields"]
    assert w.errors == []


def test_torchrl_prioritized_buffer_without_the_compiled_extension_degrades_with_a_note(monkeypatch):
    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    rb = _per_buffer()
    monkeypatch.setitem(sys.modules, "torchrl._torchrl", None)  # the import now fails as a mismatched build does
    src = TorchRLBufferSource(rb)
    assert src.optional_fields == ()
    assert "compiled sum-tree extension does not load" in src.note
    assert "torchrl._torchrl" in src.note and "better_rl_widget.adapters.torchrl_ext" in src.note
    monkeypatch.undo()
    q = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    w = BufferWidget()
    hook = TrainingHook(w, src, q_network=q, n_actions=2, every=10, max_fps=20)
    _dqn_loop(rb, hook, q, steps=150)
    src.detach()
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 150 and "td_error" in meta["channels"] and "priority" not in meta["channels"]
    assert any("priorities off" in n for n in w.status.get("notes", []))
    assert w.errors == []


def test_extension_builder_reports_that_the_extension_loads():
    script = Path(__file__).resolve().parent.parent / "scripts" / "build_torchrl_ext.py"
    r = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, timeout=300,
                       check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "prioritized sampler loads" in r.stdout
