"""Experiment runners: tidy results, CI bands that narrow with instances, results folder, reproduce, figures."""

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from better_rl_widget.agents.planning import value_iteration
from better_rl_widget.agents.tabular import FixedPolicyAgent, QLearning, RandomAgent
from better_rl_widget.envs import GridWorld
from better_rl_widget.experiments import (
    Results,
    confidence_summary,
    policy_arrows,
    reproduce,
    run_agents_on_mdp,
    value_heatmap,
    visitation_figure,
)


@pytest.fixture
def env():
    return GridWorld(width=4, height=3, walls=[(1, 1)], lava=[(3, 1)], goals=[(3, 2)], slip=0.05)


def test_tidy_frame_and_summary(env):
    res = run_agents_on_mdp([QLearning(gamma=0.95), RandomAgent()], env, instances=3, episodes=15, steps=20,
                            progress=False)
    assert list(res.df.columns) == ["agent", "instance", "episode", "return", "length"]
    assert len(res.df) == 2 * 3 * 15 and res.agents == ["Q-learning", "random"]
    assert res.df["length"].between(1, 20).all()
    s = res.summary()
    assert len(s) == 2 * 15 and (s["ci_low"] <= s["mean"]).all() and (s["mean"] <= s["ci_high"]).all()
    cum = res.summary(cumulative=True)
    q = res.df[res.df.agent == "Q-learning"].groupby("instance")["return"].sum().mean()
    assert cum[(cum.agent == "Q-learning")]["mean"].iloc[-1] == pytest.approx(q)


def test_ci_width_shrinks_with_instances(env):
    widths = {}
    for n in (4, 36):
        s = run_agents_on_mdp([RandomAgent()], env, instances=n, episodes=30, steps=20, seed=1,
                              progress=False).summary()
        widths[n] = float((s["ci_high"] - s["ci_low"]).mean())
    # σ/√n with the t quantile: roughly 3.2/√4 vs 2.03/√36 of the same σ, i.e. ≈ 4.7× narrower
    assert widths[36] < widths[4] / 2.5, widths


def test_confidence_summary_matches_t_interval():
    df = pd.DataFrame({"g": [0] * 5, "v": [1.0, 2.0, 3.0, 4.0, 5.0]})
    s = confidence_summary(df, "v", ["g"]).iloc[0]
    half = 2.7764451051977987 * np.std([1, 2, 3, 4, 5], ddof=1) / np.sqrt(5)  # t_{0.975, 4}
    assert s["ci_high"] - s["mean"] == pytest.approx(half)


def test_results_folder_and_reproduce(env, tmp_path):
    res = run_agents_on_mdp([QLearning(gamma=0.95, epsilon=0.2), RandomAgent()], env, instances=2, episodes=10,
                            steps=20, seed=7, results_dir=tmp_path / "run", progress=False)
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["seed"] == 7 and manifest["config"]["instances"] == 2
    assert {"numpy", "gymnasium", "pandas", "plotly", "python"} <= set(manifest["versions"])
    assert manifest["env"]["kwargs"]["lava"] == [[3, 1]]
    assert manifest["agents"][0]["kwargs"] == {"gamma": 0.95, "epsilon": 0.2}
    again = reproduce(tmp_path / "run")
    pd.testing.assert_frame_equal(again.df, res.df)
    loaded = Results.load(tmp_path / "run")
    np.testing.assert_allclose(loaded.df["return"], res.df["return"])


def test_runner_takes_registered_ids_and_rejects_bad_input(env):
    res = run_agents_on_mdp([RandomAgent()], "better_rl_widget/Chain-v0", instances=2, episodes=3, steps=10,
                            progress=False)
    assert res.manifest["env"]["class"].endswith(":Chain")
    with pytest.raises(TypeError, match="tabular model"):
        run_agents_on_mdp([RandomAgent()], "CartPole-v1", progress=False)
    with pytest.raises(ValueError, match="episodes"):
        run_agents_on_mdp([RandomAgent()], env, episodes=0, progress=False)
    with pytest.raises(ValueError, match="one action"):
        run_agents_on_mdp([FixedPolicyAgent([0, 1])], env, progress=False)


def test_figures(env):
    res = run_agents_on_mdp([QLearning(gamma=0.95)], env, instances=3, episodes=12, steps=20, track_visits=True,
                            progress=False)
    fig = res.figure()
    assert isinstance(fig, go.Figure) and [t.name for t in fig.data if t.showlegend is not False] == ["Q-learning"]
    band = fig.data[0]
    assert band.fill == "toself" and len(band.x) == 2 * 12
    assert res.visits["Q-learning"].shape == (12, env.n_states)
    # every step of every episode is one visit, counted before the move
    assert res.visits["Q-learning"].sum() == res.df["length"].sum()
    vis = visitation_figure(env, res.visits["Q-learning"], windows=4)
    assert len(vis.frames) == 4
    np.testing.assert_allclose(np.nansum(np.asarray(vis.frames[0].data[0].z, dtype=float)), 1.0)
    plan = value_iteration(env.P, env.R, 0.95)
    heat = value_heatmap(env, plan.V, policy=plan.policy)
    z = np.asarray(heat.data[0].z, dtype=float)
    assert np.isnan(z[1, 1]) and z[0, 0] == pytest.approx(plan.V[0])
    assert "→" in heat.data[0].text[0][1]   # optimal move from (1, 0) is right
    assert isinstance(policy_arrows(env, res.Q["Q-learning"]), go.Figure)


def test_reset_at_terminal_keeps_the_episode_going(tmp_path):
    corridor = GridWorld(width=3, height=1, goals=[(2, 0)], start=(0, 0))
    optimal = value_iteration(corridor.P, corridor.R, 0.9).policy
    res = run_agents_on_mdp([FixedPolicyAgent(optimal)], corridor, instances=2, episodes=2, steps=10,
                            reset_at_terminal=True, results_dir=tmp_path / "r", progress=False)
    assert (res.df["length"] == 10).all()
    assert (res.df["return"] == 5.0).all()          # two steps per goal, ten steps: five goals
    plain = run_agents_on_mdp([FixedPolicyAgent(optimal)], corridor, instances=2, episodes=2, steps=10,
                              progress=False)
    assert (plain.df["length"] == 2).all() and (plain.df["return"] == 1.0).all()
    assert reproduce(tmp_path / "r").df.equals(res.df)
