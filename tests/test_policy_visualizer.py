"""PolicyVisualizer on real checkpoints made here: SB3 DQN and PPO (CheckpointCallback), the reference DQN (.pt),
and a user's own class saving .safetensors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")
import torch
from stable_baselines3 import DQN as SB3DQN
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import CheckpointCallback

from better_rl_widget.agents.dqn import DQN, DQNConfig
from better_rl_widget.policy.checkpoints import find_checkpoints, step_from_name
from better_rl_widget.policy_visualizer import PolicyVisualizer

KW = {"episodes": 3, "seed": 0, "max_steps": 200, "tsne_per_checkpoint": 80, "progress": False}


@pytest.fixture(scope="module")
def sb3_dqn_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("sb3dqn")
    model = SB3DQN("MlpPolicy", "CartPole-v1", learning_starts=100, seed=0, device="cpu")
    model.learn(900, callback=CheckpointCallback(save_freq=300, save_path=str(d)))
    (d / "notes.txt").write_text("not a checkpoint")
    return d


@pytest.fixture(scope="module")
def sb3_ppo_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ppo")
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=128, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.learn(384, callback=CheckpointCallback(save_freq=128, save_path=str(d)))
    return d


@pytest.fixture(scope="module")
def reference_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("ref")
    agent = DQN("CartPole-v1", DQNConfig(buffer_size=2000, learning_starts=100), seed=0)
    for _k in (1, 2, 3):
        agent.learn(200)
        agent.save(d / f"dqn_{agent.steps_done}.pt")
    return d


def test_checkpoint_discovery_orders_by_step(sb3_dqn_dir):
    found, skipped = find_checkpoints(sb3_dqn_dir)
    assert [c.step for c in found] == [300, 600, 900]
    assert [p.name for p in skipped] == ["notes.txt"]
    assert step_from_name(Path("rl_model_12000_steps.zip")) == 12000
    assert step_from_name(Path("ckpt-final.pt")) is None


def test_sb3_dqn_figures_have_every_checkpoint_and_point(sb3_dqn_dir):
    viz = PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, **KW)
    figs = viz.plot_all(show=False)
    assert set(figs) == {"returns", "lengths", "actions", "values", "tsne"}
    eps = viz.to_dataframe()
    assert len(eps) == 3 * 3 and sorted(eps["step"].unique()) == [300, 600, 900]
    assert list(figs["returns"].data[0].x) == [300, 600, 900]
    steps = viz.to_dataframe("steps")
    assert len(steps) == eps["length"].sum()
    assert np.isfinite(steps["value"]).all()  # max Q from SB3's q_net
    tsne = figs["tsne"]
    assert len(tsne.frames) == 3 + 1  # one per checkpoint, plus "all"
    assert len(tsne.frames[-1].data[1].x) == len(steps)  # every state-action pair is in the map
    assert sum(len(f.data[1].x) for f in tsne.frames[:-1]) == len(steps)
    assert np.isfinite(steps[["tsne_x", "tsne_y"]].to_numpy()).all()
    # actions figure: fractions per checkpoint sum to 1
    fr = np.sum([bar.y for bar in figs["actions"].data], axis=0)
    np.testing.assert_allclose(fr, 1.0)


def test_ppo_values_come_from_the_critic(sb3_ppo_dir):
    viz = PolicyVisualizer(sb3_ppo_dir, "CartPole-v1", PPO, **KW)
    steps = viz.to_dataframe("steps")
    assert viz.to_dataframe()["checkpoint"].nunique() == 3
    assert np.isfinite(steps["value"]).all()


def test_reference_agent_checkpoints(reference_dir):
    viz = PolicyVisualizer(reference_dir, "CartPole-v1", DQN, **KW)
    eps = viz.to_dataframe()
    assert sorted(eps["step"].unique()) == [200, 400, 600]
    assert viz.failed == {}
    assert np.isfinite(viz.to_dataframe("steps")["value"]).all()


class TinySafetensorsAgent:
    """A user's own class: load(path) + act(obs) + q_values(obs_batch), weights in .safetensors."""

    def __init__(self, w: torch.Tensor) -> None:
        self.w = w

    @classmethod
    def load(cls, path: str) -> TinySafetensorsAgent:
        from safetensors.torch import load_file

        return cls(load_file(path)["w"])

    def q_values(self, obs: np.ndarray) -> np.ndarray:
        return (torch.as_tensor(obs, dtype=torch.float32) @ self.w).numpy()

    def act(self, obs: np.ndarray) -> int:
        return int(self.q_values(obs[None])[0].argmax())


def test_users_own_class_with_safetensors(tmp_path):
    from safetensors.torch import save_file

    for step in (10, 20):
        save_file({"w": torch.randn(4, 2, generator=torch.Generator().manual_seed(step))},
                  str(tmp_path / f"agent_{step}.safetensors"))
    viz = PolicyVisualizer(tmp_path, "CartPole-v1", TinySafetensorsAgent, **KW)
    assert sorted(viz.to_dataframe()["step"].unique()) == [10, 20]
    assert np.isfinite(viz.to_dataframe("steps")["value"]).all()


def test_same_seed_same_figures(sb3_dqn_dir):
    a = PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, **KW)
    b = PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, **KW)
    for name in ("returns", "tsne", "values"):
        assert a.figures()[name].to_json() == b.figures()[name].to_json()


def test_a_broken_checkpoint_is_reported_and_the_others_go_on(sb3_dqn_dir, tmp_path):
    d = tmp_path / "mixed"
    shutil.copytree(sb3_dqn_dir, d)
    (d / "rl_model_450_steps.zip").write_bytes(b"this is not a zip file")
    viz = PolicyVisualizer(d, "CartPole-v1", SB3DQN, **KW)
    assert sorted(viz.to_dataframe()["step"].unique()) == [300, 600, 900]
    assert list(viz.failed) == ["rl_model_450_steps.zip"]


def test_bad_input_errors(tmp_path, sb3_dqn_dir):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        PolicyVisualizer(tmp_path / "nope", "CartPole-v1", SB3DQN)
    with pytest.raises(ValueError, match="folder is empty"):
        PolicyVisualizer(tmp_path, "CartPole-v1", SB3DQN)
    (tmp_path / "readme.md").write_text("x")
    with pytest.raises(ValueError, match=r"found only readme\.md"):
        PolicyVisualizer(tmp_path, "CartPole-v1", SB3DQN)
    with pytest.raises(ValueError, match="CartPole-v1"):  # close matches are listed
        PolicyVisualizer(sb3_dqn_dir, "CartPol-v1", SB3DQN)
    with pytest.raises(ValueError, match="episodes"):
        PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, episodes=0)
    with pytest.raises(ValueError, match="color"):
        PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, **KW).plot_tsne(color="banana")


def test_agent_that_does_not_fit_the_env(sb3_dqn_dir):
    # CartPole agents (2 actions, 4-d observations) on MountainCar (3 actions, 2-d observations)
    viz = PolicyVisualizer(sb3_dqn_dir, "MountainCar-v0", SB3DQN, **KW)
    with pytest.raises(RuntimeError, match=r"does not fit|observation|shape"):
        viz.to_dataframe()


def test_save_writes_offline_html(sb3_dqn_dir, tmp_path):
    viz = PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, **KW)
    written = viz.save(tmp_path / "out")
    names = {p.name for p in written}
    assert {"returns.html", "tsne.html", "episodes.csv"} <= names
    html = (tmp_path / "out" / "tsne.html").read_text()
    # plotly.js is inlined, nothing is loaded from elsewhere
    assert not re.search(r"<script[^>]*\bsrc=", html) and len(html) > 1_000_000


def test_the_documented_import_works():
    import better_rl_widget
    from policy_visualizer import PolicyVisualizer as PV

    assert PV is better_rl_widget.PolicyVisualizer is PolicyVisualizer


@pytest.mark.parametrize("which", ["sb3", "reference"])
def test_vectorised_rollouts_equal_one_episode_at_a_time(which, sb3_dqn_dir, reference_dir):
    """All episodes of a checkpoint step together in a vector env (SB3: one batched predict per step; the reference
    agent: per-env calls); the episodes must be exactly those of the one-at-a-time loop with the same seeds."""
    from better_rl_widget.policy import rollouts as R

    folder, cls = (sb3_dqn_dir, SB3DQN) if which == "sb3" else (reference_dir, DQN)
    ckpt = find_checkpoints(folder)[0][-1]
    vec = R.rollout_all([ckpt], cls, "CartPole-v1", episodes=3, seed=5, max_steps=200, progress=False)
    agent = cls.load(str(ckpt.path))
    seq = R._episodes_sequential(R.make_env("CartPole-v1"), R.action_fn(agent), agent, n=3, seed=5, max_steps=200,
                                 discrete=True)
    assert vec.episodes["length"].tolist() == [len(r) for _, _, r in seq]
    np.testing.assert_array_equal(vec.obs, np.concatenate([o for o, _, _ in seq]))
    np.testing.assert_array_equal(vec.actions, np.concatenate([a for _, a, _ in seq]))
