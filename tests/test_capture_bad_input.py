"""Bad input never raises into training: a clear message in the widget, or a visible degraded mode."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from better_rl_widget import BufferWidget, ReplayBuffer, TrainingHook
from better_rl_widget.frames.codec import decode

from .conftest import fill


def _notes(w):
    return " | ".join(w.status.get("notes", []))


def test_q_network_with_the_wrong_output_size_degrades_visibly():
    w = BufferWidget()
    buf = ReplayBuffer(200)
    q = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 3))  # 3 outputs, the env has 2 actions
    hook = TrainingHook(w, buf, q_network=q, n_actions=2, every=10, max_fps=50)
    fill(buf, 200)
    for _ in range(20):
        hook.on_step()
    hook.close()
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 200  # the map is still drawn
    assert "td_error" not in meta["channels"]
    assert "outputs 3 values per state but the action space has 2 actions" in _notes(w)


def test_q_network_that_cannot_be_copied_off_its_device():
    w = BufferWidget()
    buf = ReplayBuffer(100)
    q = nn.Linear(4, 2, device="meta")
    hook = TrainingHook(w, buf, q_network=q, n_actions=2, every=1, max_fps=50)
    fill(buf, 100)
    hook.on_step()
    hook.close()
    _, a = decode(w.keyframe)
    assert len(a["slots"]) == 100 and "'meta' device" in _notes(w)
    assert "embeds observations" in _notes(w)  # features fell back to observations


def test_q_network_that_fails_on_the_observations():
    w = BufferWidget()
    buf = ReplayBuffer(50)
    q = nn.Sequential(nn.Linear(7, 2))  # expects 7 inputs, observations have 4
    hook = TrainingHook(w, buf, q_network=q, every=1, max_fps=50)
    fill(buf, 50)
    hook.on_step()
    hook.close()
    assert len(decode(w.keyframe)[1]["slots"]) == 50
    assert "TD-errors off" in _notes(w) and "features off" in _notes(w)


def test_hook_rejects_a_non_module_q_network():
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        TrainingHook(BufferWidget(), ReplayBuffer(10), q_network=lambda x: x)


def test_sb3_optimize_memory_usage_shows_q_but_no_td_errors():
    from stable_baselines3 import DQN

    from better_rl_widget.adapters.sb3 import BetterRLCallback

    w = BufferWidget()
    model = DQN("MlpPolicy", "CartPole-v1", buffer_size=500, learning_starts=50, seed=0, device="cpu",
                optimize_memory_usage=True, replay_buffer_kwargs={"handle_timeout_termination": False})
    model.learn(200, callback=BetterRLCallback(w, every=10, max_fps=20))
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 200
    assert "td_error" not in meta["channels"] and {"q", "value"} <= set(meta["channels"])
    assert "optimize_memory_usage" in _notes(w)


def test_sb3_callback_with_an_unsupported_buffer_reports_and_training_finishes():
    from stable_baselines3 import PPO

    from better_rl_widget.adapters.sb3 import BetterRLCallback

    w = BufferWidget()
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=64, batch_size=32, n_epochs=1, seed=0, device="cpu")
    model.learn(64, callback=BetterRLCallback(w))  # PPO has a rollout buffer, not a replay buffer
    assert model.num_timesteps >= 64
    assert any("stable_baselines3 ReplayBuffer" in e for e in w.errors)


def test_sb3_buffer_with_a_different_layout_is_named():
    from stable_baselines3.common.buffers import ReplayBuffer as SB3RB

    from better_rl_widget.adapters.sb3 import SB3BufferSource

    env = gym.make("CartPole-v1")
    rb = SB3RB(100, env.observation_space, env.action_space, n_envs=2)
    assert rb.observations.shape == (50, 2, 4)  # SB3 splits buffer_size over the envs
    rb.observations = rb.observations.reshape(100, 1, 4)  # flattened by someone: not (buffer_size, n_envs, ...)
    with pytest.raises(ValueError, match=r"expected observations of shape \(50, 2, \.\.\.\), got \(100, 1, 4\)"):
        SB3BufferSource(rb)


def test_record_flattens_dict_observations_and_says_so():
    space = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (2,)), "goal": gym.spaces.Discrete(3)})
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 100, observation_space=space, every=1, max_fps=50)
    rng = np.random.default_rng(0)
    for t in range(30):
        o = {"pos": rng.uniform(-1, 1, 2).astype(np.float32), "goal": int(t % 3)}
        hook.record(o, t % 2, 1.0, o, t % 10 == 9, False)
    hook.close()
    _, a = decode(w.keyframe)
    assert len(a["slots"]) == 30 and a["episode"].max() == 2
    assert "flattened to 5 values" in _notes(w)
    meta, _obs = w._inspect_fn(0)
    assert meta["obs_shape"] == [5]


def test_record_without_a_space_for_dict_observations_reports_once():
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 10, every=1)
    for _ in range(3):
        hook.record({"a": np.zeros(2)}, 0, 0.0, {"a": np.zeros(2)}, False, False)  # must not raise
    hook.close()
    assert sum("observation_space" in e for e in w.errors) == 1


def test_record_on_a_hook_with_a_user_buffer_is_reported():
    w = BufferWidget()
    hook = TrainingHook(w, ReplayBuffer(10))
    hook.record(np.zeros(2), 0, 0.0, np.zeros(2), False, False)
    hook.close()
    assert any("TrainingHook.for_loop" in e for e in w.errors)


def test_record_vectorised_envs_keeps_envs_apart():
    w = BufferWidget()
    q = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 2))
    hook = TrainingHook.for_loop(w, 64, n_envs=2, every=1, max_fps=50, q_network=q, n_actions=2)
    for t in range(20):
        obs = np.stack([np.full(3, t, np.float32), np.full(3, -t, np.float32)])
        hook.record(obs, np.array([0, 1]), np.array([1.0, 2.0]), obs, np.array([t == 9, False]), np.zeros(2, bool))
    hook.close()
    _, a = decode(w.keyframe)
    env_ = a["slots"] % 2  # insertion t·n_envs + e → slot; env e owns the slots ≡ e (mod 2)
    assert (a["reward"][env_ == 0] == 1.0).all() and (a["reward"][env_ == 1] == 2.0).all()
    assert set(a["episode"][env_ == 0].tolist()) == {0, 2} and set(a["episode"][env_ == 1].tolist()) == {1}
    assert np.isfinite(a["td_error"]).all()
    with torch.no_grad():
        meta, obs = w._inspect_fn(int(a["slots"][0]))
    assert meta["present"] and "td_error" in meta
