"""SB3 SAC and TD3 with the callback: TD-errors, Q and V from the twin critics, equal to a hand computation with
SB3's own networks; degraded modes (no next observations, shapes that do not match the policy); VecNormalize."""

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.frames.codec import decode

SMALL = {"net_arch": [32, 32]}  # copied per model: SB3 adds keys to the dict it is given


def _learn(cls, steps=300, **kw):
    from better_rl_widget.adapters.sb3 import BetterRLCallback

    w = BufferWidget()
    model = cls("MlpPolicy", "Pendulum-v1", buffer_size=1000, learning_starts=50, batch_size=32, seed=0,
                device="cpu", policy_kwargs=dict(SMALL), **kw)
    model.learn(steps, callback=BetterRLCallback(w, every=5, max_fps=20))
    return w, model


def _stored(model, slots):
    rb = model.replay_buffer
    row, env = slots // rb.n_envs, slots % rb.n_envs
    obs = torch.as_tensor(rb.observations[row, env])
    nxt = torch.as_tensor(rb.next_observations[row, env])
    act = torch.as_tensor(rb.actions[row, env])
    r = torch.as_tensor(rb.rewards[row, env])
    done = torch.as_tensor((rb.dones[row, env] * (1 - rb.timeouts[row, env])).astype(np.float32))
    return obs, act, r, nxt, done


def _min_q(critic, obs, act):
    return torch.cat(critic(obs, act), dim=1).min(dim=1).values


def test_sac_pendulum_td_errors_q_and_soft_value_match_sb3_networks():
    from stable_baselines3 import SAC

    w, model = _learn(SAC)
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 300 and {"td_error", "q", "value"} <= set(meta["channels"]), (w.status, w.errors)
    assert np.isfinite(a["td_error"]).all() and np.isfinite(a["value"]).all()
    assert w.errors == []
    obs, act, r, nxt, done = _stored(model, a["slots"].astype(np.int64))
    alpha = float(model.log_ent_coef.detach().exp())

    def mean_action(s):  # the squashed Gaussian's mode and its log-density, written out by hand
        mean, log_std, _ = model.actor.get_action_dist_params(s)
        act_ = torch.tanh(mean)
        logp = Normal(mean, log_std.exp()).log_prob(mean).sum(1) - torch.log(1 - act_ ** 2 + 1e-6).sum(1)
        return act_, logp

    with torch.no_grad():
        a2, logp2 = mean_action(nxt)
        target = r + model.gamma * (1 - done) * (_min_q(model.critic_target, nxt, a2) - alpha * logp2)
        q = _min_q(model.critic, obs, act)
        a_bar, logp_bar = mean_action(obs)
        v = _min_q(model.critic, obs, a_bar) - alpha * logp_bar
    np.testing.assert_allclose(a["q"], q.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a["td_error"], (target - q).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a["value"], v.numpy(), rtol=1e-4, atol=1e-4)
    assert np.abs(a["td_error"]).max() > 1e-3  # the critics moved: not an all-zero field


def test_td3_pendulum_td_errors_use_target_actor_without_smoothing_noise():
    from stable_baselines3 import TD3

    w, model = _learn(TD3)
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 300 and {"td_error", "q", "value"} <= set(meta["channels"]), (w.status, w.errors)
    assert w.errors == []
    obs, act, r, nxt, done = _stored(model, a["slots"].astype(np.int64))
    with torch.no_grad():
        target = r + model.gamma * (1 - done) * _min_q(model.critic_target, nxt, model.actor_target(nxt))
        q = _min_q(model.critic, obs, act)
        v = _min_q(model.critic, obs, model.actor(obs))
    np.testing.assert_allclose(a["td_error"], (target - q).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a["q"], q.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a["value"], v.numpy(), rtol=1e-4, atol=1e-4)


def test_sac_without_next_observations_shows_q_and_value_and_says_why_td_errors_are_off():
    from stable_baselines3 import SAC

    w, _ = _learn(SAC, steps=150, optimize_memory_usage=True,
                  replay_buffer_kwargs={"handle_timeout_termination": False})
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 150
    assert "td_error" not in meta["channels"] and {"q", "value"} <= set(meta["channels"])
    assert np.isfinite(a["q"]).all()
    assert any("optimize_memory_usage" in n for n in w.status.get("notes", []))


@pytest.mark.parametrize("bad", ["action", "obs"])
def test_critic_estimator_with_mismatched_shapes_degrades_with_a_note(bad):
    from stable_baselines3 import TD3

    from better_rl_widget.capture.critic_estimator import CriticEstimator

    model = TD3("MlpPolicy", "Pendulum-v1", seed=0, device="cpu", policy_kwargs=dict(SMALL))
    w = BufferWidget()
    hook = TrainingHook.for_loop(w, 64, estimator=CriticEstimator(model.policy, kind="td3"), every=1, max_fps=20)
    rng = np.random.default_rng(0)
    obs_dim, act_dim = (3, 2) if bad == "action" else (5, 1)  # Pendulum: 3-d observations, 1-d actions
    for _ in range(40):  # the user's loop runs on, whatever the hook thinks of the shapes
        hook.record(rng.normal(size=obs_dim).astype(np.float32), rng.uniform(-1, 1, act_dim).astype(np.float32),
                    -1.0, rng.normal(size=obs_dim).astype(np.float32), False, False)
    hook.close()
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 40 and "td_error" not in meta["channels"]
    notes = " ".join(w.status.get("notes", []))
    expected = "actions have 2 component(s) but the critic expects 1" if bad == "action" else \
        "observations have shape (5,) but the policy expects (3,)"
    assert expected in notes
    assert w.errors == []


def test_policy_snapshots_taken_while_sac_trains_never_fail():
    """The worker copies the live policy while training mutates it (optimiser state, the action distribution's
    cached graph tensors): a plain deepcopy fails there at random; the estimator's copy must not."""
    import threading

    from stable_baselines3 import SAC

    from better_rl_widget.capture.critic_estimator import CriticEstimator

    model = SAC("MlpPolicy", "Pendulum-v1", learning_starts=10, batch_size=32, seed=0, device="cpu",
                policy_kwargs=dict(SMALL))
    obs = np.zeros((4, 3), np.float32)
    failures, done = [], threading.Event()

    def snapshot_repeatedly():
        while not done.is_set():
            est = CriticEstimator(model.policy, kind="sac", alpha=lambda: 0.1)
            if est.features(obs) is None:
                failures.append(est.disabled or est.features_off)

    t = threading.Thread(target=snapshot_repeatedly)
    t.start()
    try:
        model.learn(80)
    finally:
        done.set()
        t.join()
    assert failures == []


def test_td3_with_vecnormalize_uses_the_normalised_inputs_training_sees():
    """SB3 stores raw observations/rewards and normalises them at sample time: the TD-errors must too."""
    from stable_baselines3 import TD3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from better_rl_widget.adapters.sb3 import BetterRLCallback

    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=1, seed=0), norm_obs=True, norm_reward=True)
    w = BufferWidget()
    model = TD3("MlpPolicy", env, buffer_size=1000, learning_starts=50, batch_size=32, seed=0, device="cpu",
                policy_kwargs=dict(SMALL))
    model.learn(200, callback=BetterRLCallback(w, every=5, max_fps=20))
    meta, a = decode(w.keyframe)
    assert len(a["slots"]) == 200 and "td_error" in meta["channels"] and w.errors == []
    obs, act, r, nxt, done = _stored(model, a["slots"].astype(np.int64))
    np.testing.assert_allclose(a["reward"], r.numpy())  # the map keeps the raw rewards
    obs, nxt = (torch.as_tensor(env.normalize_obs(x.numpy()), dtype=torch.float32) for x in (obs, nxt))
    r = torch.as_tensor(env.normalize_reward(r.numpy()), dtype=torch.float32)
    with torch.no_grad():
        target = r + model.gamma * (1 - done) * _min_q(model.critic_target, nxt, model.actor_target(nxt))
        q = _min_q(model.critic, obs, act)
    np.testing.assert_allclose(a["td_error"], (target - q).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(a["q"], q.numpy(), rtol=1e-4, atol=1e-4)


def test_dqn_with_vecnormalize_uses_the_normalised_inputs_training_sees():
    from stable_baselines3 import DQN
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from better_rl_widget.adapters.sb3 import BetterRLCallback

    env = VecNormalize(make_vec_env("CartPole-v1", n_envs=1, seed=0))
    w = BufferWidget()
    model = DQN("MlpPolicy", env, buffer_size=1000, learning_starts=100, seed=0, device="cpu")
    model.learn(300, callback=BetterRLCallback(w, every=5, max_fps=20))
    meta, a = decode(w.keyframe)
    assert "td_error" in meta["channels"] and w.errors == []
    obs, act, r, nxt, done = _stored(model, a["slots"].astype(np.int64))
    obs, nxt = (torch.as_tensor(env.normalize_obs(x.numpy()), dtype=torch.float32) for x in (obs, nxt))
    r = torch.as_tensor(env.normalize_reward(r.numpy()), dtype=torch.float32)
    with torch.no_grad():
        q = model.q_net(obs).gather(1, act.long())[:, 0]
        target = r + model.gamma * (1 - done) * model.q_net_target(nxt).max(1).values
    np.testing.assert_allclose(a["td_error"], (target - q).numpy(), rtol=1e-4, atol=1e-4)


def test_critic_estimates_benchmark_json():
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "critic_estimates.py"
    out = subprocess.run([sys.executable, str(script), "--json", "--slots", "200", "--repeats", "1",
                          "--warmup-steps", "200"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert set(r["ratio"]) == {"SAC", "TD3"} and all(v > 0 for v in r["ratio"].values())
    assert r["runs"]["SAC"]["slots"] == 200
