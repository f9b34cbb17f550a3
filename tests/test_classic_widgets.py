"""GridWorldWidget and ContinualWidget: what their traits carry (BRW1 blobs), read from Python."""

import logging
from pathlib import Path

import numpy as np
import pytest

import better_rl_widget
from better_rl_widget.agents.planning import value_iteration
from better_rl_widget.agents.tabular import QLearning
from better_rl_widget.analysis import PlasticityTracker
from better_rl_widget.envs import GridWorld
from better_rl_widget.experiments import run_agents_on_mdp
from better_rl_widget.frames.codec import decode
from better_rl_widget.widget.continual_widget import ContinualWidget
from better_rl_widget.widget.grid_widget import NO_MOVE, GridWorldWidget

STATIC = Path(better_rl_widget.__file__).resolve().parent / "static"


@pytest.fixture
def env():
    return GridWorld(width=4, height=3, walls=[(1, 1)], lava=[(3, 1)], goals=[(3, 2)], slip=0.05)


def test_bundles_exist_and_are_offline():
    for name in ("grid_widget.js", "continual_widget.js"):
        js = (STATIC / name).read_text(encoding="utf-8")
        assert "export" in js and "https://" not in js


def test_grid_layout_and_frame(env):
    w = GridWorldWidget(env)
    meta, arrays = decode(w.layout)
    assert (meta["width"], meta["height"]) == (4, 3)
    kind = arrays["kind"]
    assert kind.dtype == np.uint8 and kind.shape == (3, 4)
    assert kind[1, 1] == 1 and kind[1, 3] == 2 and kind[2, 3] == 3 and kind[0, 0] == 4
    plan = value_iteration(env.P, env.R, 0.95)
    w.show(V=plan.V, policy=plan.policy, visits=np.arange(env.n_states), episode=3, agent="vi")
    meta, a = decode(w.frame)
    assert meta["episode"] == 3 and w.episode == 3
    assert a["value"].dtype == np.float32 and np.isnan(a["value"][1, 1])
    assert a["value"][0, 0] == pytest.approx(plan.V[0], rel=1e-6)
    assert a["policy"][0, 1] == 3 and a["policy"][2, 3] == NO_MOVE and a["policy"][1, 1] == NO_MOVE
    assert np.nansum(a["visits"]) == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="Q must be"):
        w.show(Q=np.zeros((3, 3)))
    with pytest.raises(TypeError, match="GridWorld"):
        GridWorldWidget(object())


def test_grid_widget_follows_a_run(env):
    w = GridWorldWidget(env)
    res = run_agents_on_mdp([QLearning(gamma=0.95)], env, instances=3, episodes=20, steps=30, track_visits=True,
                            on_episode=w.watch(every=5), progress=False)
    meta, a = decode(w.frame)
    assert meta["episode"] == 19 and meta["agent"] == "Q-learning"
    assert meta["mean_return"] == pytest.approx(res.df[res.df.episode == 19]["return"].mean())
    np.testing.assert_allclose(a["value"][0, 0], res.Q["Q-learning"].mean(0)[0].max(), rtol=1e-6)
    expected = res.visits["Q-learning"][15:20].sum(0)
    np.testing.assert_allclose(a["visits"][0, 0], expected[0] / expected.sum(), rtol=1e-6)


def test_a_failing_callback_never_stops_the_run(env, caplog):
    def broken(agent, episode, info):
        raise RuntimeError("view bug")

    with caplog.at_level(logging.WARNING, logger="better_rl_widget"):
        res = run_agents_on_mdp([QLearning()], env, instances=2, episodes=5, steps=10, on_episode=broken,
                                progress=False)
    assert len(res.df) == 10
    assert sum("view bug" in r.getMessage() for r in caplog.records) == 1


def test_continual_widget_series():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(3, 6), torch.nn.ReLU(), torch.nn.Linear(6, 4), torch.nn.ReLU())
    panel = ContinualWidget()
    tracker = PlasticityTracker(on_record=panel.push)
    x = torch.randn(32, 3)
    panel.task_switch(0)
    for step in (0, 10, 20):
        tracker.record(step, net, x)
    panel.task_switch(15)
    meta, a = decode(panel.series)
    assert meta["layers"] == ["1", "3", "all"]
    assert a["step"].tolist() == [0.0, 10.0, 20.0] and a["switches"].tolist() == [0.0, 15.0]
    assert a["dormant"].shape == (3, 3) and a["dormant"].dtype == np.float32
    frame = tracker.frame()
    first = frame[(frame.layer == "1")]["dormant_fraction"].to_numpy()
    np.testing.assert_allclose(a["dormant"][:, 0], first, rtol=1e-6)
    assert np.isnan(a["erank"][:, 2]).all()
    with pytest.raises(ValueError, match="go back"):
        panel.push([{"step": 5, "layer": "1", "dormant_fraction": 0.0, "effective_rank": 1.0}])
