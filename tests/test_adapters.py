"""Each adapter with a short real training run, ending with TD-errors (and priorities where the buffer has them)
in the widget's state."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from torch import nn

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.frames.codec import decode


def _state(widget):
    meta, a = decode(widget.keyframe)
    return meta, a


def torchrl_transition(obs, a, nxt, r, te, tr):
    """One CartPole transition in TorchRL's layout (the "next" sub-dict holds what followed the action)."""
    from tensordict import TensorDict

    return TensorDict({"observation": torch.as_tensor(obs), "action": torch.tensor(a),
                       "next": {"observation": torch.as_tensor(nxt), "reward": torch.tensor([r], dtype=torch.float32),
                                "terminated": torch.tensor([te]), "truncated": torch.tensor([tr]),
                                "done": torch.tensor([te or tr])}}, [])


def test_sb3_dqn_cartpole_two_envs():
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env

    from better_rl_widget.adapters.sb3 import BetterRLCallback

    w = BufferWidget()
    env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
    model = DQN("MlpPolicy", env, buffer_size=1000, learning_starts=100, seed=0, device="cpu")
    model.learn(600, callback=BetterRLCallback(w, every=5, max_fps=20))
    meta, a = _state(w)
    rb = model.replay_buffer
    rows = rb.pos + (rb.buffer_size if rb.full else 0)
    assert rows == 300 and len(a["slots"]) == rows * 2  # (index, env) pairs are separate slots
    assert {"td_error", "q", "value", "return"} <= set(meta["channels"])
    assert np.isfinite(a["td_error"]).all() and np.isfinite(a["value"]).all()
    # slot = row * n_envs + env: the rewards drawn are SB3's rewards at (row, env)
    row, env_ = a["slots"] // 2, a["slots"] % 2
    np.testing.assert_array_equal(a["reward"], rb.rewards[row, env_])
    # the two envs never share an episode id
    assert not set(a["episode"][env_ == 0].tolist()) & set(a["episode"][env_ == 1].tolist())
    # TD-errors equal a direct computation with SB3's own networks (same snapshot: training has ended)
    with torch.no_grad():
        obs = torch.as_tensor(rb.observations[row, env_])
        nxt = torch.as_tensor(rb.next_observations[row, env_])
        q = model.q_net(obs).gather(1, torch.as_tensor(rb.actions[row, env_, 0]).long()[:, None])[:, 0]
        done = (rb.dones[row, env_] * (1 - rb.timeouts[row, env_])).astype(np.float32)
        tgt = torch.as_tensor(rb.rewards[row, env_]) + model.gamma * (1 - torch.as_tensor(done)) * \
            model.q_net_target(nxt).max(1).values
    np.testing.assert_allclose(a["td_error"], (tgt - q).numpy(), atol=1e-4)
    assert w.errors == []


def test_tianshou_prioritized_buffer_with_dqn():
    from tianshou.algorithm import DQN
    from tianshou.algorithm.algorithm_base import policy_within_training_step
    from tianshou.algorithm.modelfree.dqn import DiscreteQLearningPolicy
    from tianshou.algorithm.optim import AdamOptimizerFactory
    from tianshou.data import Collector, PrioritizedReplayBuffer
    from tianshou.env import DummyVectorEnv
    from tianshou.utils.net.common import Net

    from better_rl_widget.adapters.tianshou import TianshouBufferSource

    torch.manual_seed(0)
    env = gym.make("CartPole-v1")
    net = Net(state_shape=4, action_shape=2, hidden_sizes=[32, 32])
    policy = DiscreteQLearningPolicy(model=net, action_space=env.action_space, eps_training=0.2)
    algo = DQN(policy=policy, optim=AdamOptimizerFactory(lr=1e-3), gamma=0.99, target_update_freq=50)
    buf = PrioritizedReplayBuffer(300, alpha=0.6, beta=0.4)
    src = TianshouBufferSource(buf)
    w = BufferWidget()
    hook = TrainingHook(w, src, q_network=net, n_actions=2, every=1, max_fps=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coll = Collector(algo, DummyVectorEnv([lambda: gym.make("CartPole-v1")]), buf)
        coll.reset()
        for _ in range(25):  # 500 steps: the 300-slot buffer wraps
            coll.collect(n_step=20)
            if len(buf) >= 64:
                with policy_within_training_step(policy):
                    algo.update(sample_size=32, buffer=buf)
            hook.on_step()
    hook.close()
    src.detach()
    meta, a = _state(w)
    assert len(a["slots"]) == 300 and src.total_inserted == 500
    assert {"td_error", "priority"} <= set(meta["channels"])
    np.testing.assert_allclose(a["priority"], buf.weight[a["slots"].astype(np.int64)], rtol=1e-5)
    assert len(np.unique(a["priority"])) > 10  # re-prioritised slots arrived, not just the initial max
    assert np.isfinite(a["td_error"]).all()
    np.testing.assert_allclose(a["reward"], buf.rew[a["slots"]])
    smeta, s = decode(w.summary)
    assert smeta["fields"] == ["priority", "td_error"]
    assert s["top_priority_values"][0] == pytest.approx(a["priority"].max())
    assert w.errors == []


def test_torchrl_uniform_buffer_with_hook_td_errors():
    from torchrl.data import LazyTensorStorage, TensorDictReplayBuffer

    from better_rl_widget.adapters.torchrl import TorchRLBufferSource

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    env = gym.make("CartPole-v1")
    obs, _ = env.reset(seed=0)
    q = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(q.parameters(), 1e-3)
    rb = TensorDictReplayBuffer(storage=LazyTensorStorage(256), batch_size=32)
    src = TorchRLBufferSource(rb)
    w = BufferWidget()
    hook = TrainingHook(w, src, q_network=q, n_actions=2, every=10, max_fps=20)
    for _ in range(400):
        a = int(q(torch.as_tensor(obs)).argmax()) if rng.random() > 0.3 else int(rng.integers(2))
        nxt, r, te, tr, _ = env.step(a)
        rb.add(torchrl_transition(obs, a, nxt, r, te, tr))
        obs = env.reset()[0] if te or tr else nxt
        if len(rb) > 64:
            b = rb.sample()
            with torch.no_grad():
                tgt = b["next", "reward"][:, 0] + 0.99 * (~b["next", "terminated"][:, 0]) * \
                    q(b["next", "observation"]).max(1).values
            loss = ((q(b["observation"]).gather(1, b["action"][:, None])[:, 0] - tgt) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        hook.on_step()
    hook.close()
    meta, arr = _state(w)
    assert len(arr["slots"]) == 256 and sorted(arr["step"].tolist()) == list(range(400 - 256, 400))
    assert "td_error" in meta["channels"] and np.isfinite(arr["td_error"]).all()
    stored = rb._storage[torch.as_tensor(arr["slots"].astype(np.int64))]
    np.testing.assert_allclose(arr["reward"], stored["next", "reward"][:, 0].numpy())
    assert w.errors == []


def test_episode_tracker_change_log_is_opt_in_and_bounded():
    from better_rl_widget.adapters import EpisodeTracker

    quiet = EpisodeTracker(10)
    quiet.written(np.arange(5), np.zeros(5, bool))
    assert quiet.take_changes()[0].size == 0  # SB3-style ring: nothing logged

    t = EpisodeTracker(10, log_changes=True)
    for k in range(100):  # nobody asks for 1,000 writes into 10 slots
        t.written(np.array([k % 10]), np.array([False]))
        t.reprioritised(np.array([k % 10, (k + 3) % 10]))
    written, rep = t.take_changes()
    assert len(written) <= 20 and sorted(set(written.tolist())) == list(range(10))
    assert written[-1] == 99 % 10  # the newest write is last
    assert rep.tolist() == list(range(10))
    assert t.take_changes()[0].size == 0
