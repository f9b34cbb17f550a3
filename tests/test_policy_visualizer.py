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

# 3 episodes keep the suite fast (the default is 30); the warning that says the interval is wide is expected here
KW = {"episodes": 3, "seed": 0, "max_steps": 200, "tsne_per_checkpoint": 80, "progress": False}


def _rows(trace) -> np.ndarray:
    """The steps-table rows a map trace draws (its customdata; a [None] placeholder draws none)."""
    return np.asarray(trace.customdata if trace.customdata is not None else [], int)


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
    assert [f.name for f in tsne.frames] == ["all", "step 300", "step 600", "step 900"]
    assert sorted(np.concatenate([_rows(t) for t in tsne.frames[0].data[1:]])) == list(range(len(steps)))
    for k, frame in enumerate(tsne.frames[1:]):  # a checkpoint's frame: its own pairs, every one of them
        shown = np.concatenate([_rows(t) for t in frame.data[1:]])
        assert sorted(shown) == np.flatnonzero(steps["checkpoint"].to_numpy() == k).tolist()
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
    with pytest.raises(ValueError, match="color_by must be one of 'checkpoint', 'action', 'return_to_go', 'value'"):
        PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, **KW).plot_tsne(color_by="banana")


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


# -- figures a researcher would publish --------------------------------------------------------------------------

_INF = float("inf")


def _span(pos, anchor, length=None) -> tuple[float, float]:
    """The extent along one paper axis of a box anchored at ``pos``: unbounded away from the anchor unless its
    length is known (text widths are not), and everywhere when the anchor is unknown ('auto')."""
    if pos is None:
        return (-_INF, _INF)
    if anchor in ("left", "bottom"):
        return (pos, pos + length if length is not None else _INF)
    if anchor in ("right", "top"):
        return (pos - length if length is not None else -_INF, pos)
    if anchor in ("center", "middle") and length is not None:
        return (pos - length / 2, pos + length / 2)
    return (-_INF, _INF)


def _boxes(fig) -> dict[str, tuple[tuple[float, float], tuple[float, float]]]:
    """Boxes (x span, y span) in paper coordinates of the plot area, the title, the legend, colour bars, sliders
    and button menus; plotly.js defaults where a position is not set; a title or colour bar placed relative to the
    container (plotly's default for titles) may be anywhere."""
    L = fig.layout
    out = {"plot area": ((0.0, 1.0), (0.0, 1.0))}
    t = L.title
    if t.text:
        paper = t.xref == "paper" and t.yref == "paper" and isinstance(t.y, (int, float))
        out["title"] = ((_span(t.x, t.xanchor), _span(t.y, t.yanchor)) if paper else ((-_INF, _INF), (-_INF, _INF)))
    in_legend = [tr for tr in fig.data if tr.showlegend is not False]
    if L.showlegend or (L.showlegend is None and len(in_legend) >= 2):
        lg = L.legend
        x = 1.02 if lg.x is None else lg.x
        y = 1.0 if lg.y is None else lg.y
        xa = lg.xanchor if lg.xanchor not in (None, "auto") else ("left" if x >= 2 / 3 else None)
        ya = lg.yanchor if lg.yanchor not in (None, "auto") else ("top" if y >= 2 / 3 else None)
        out["legend"] = (_span(x, xa), _span(y, ya))
    for i, tr in enumerate(fig.data):
        m = getattr(tr, "marker", None)
        if m is None or not (m.showscale or (m.showscale is None and m.colorscale is not None and m.color is not None
                                              and not isinstance(m.color, str))):
            continue
        cb = m.colorbar
        if cb.xref == "container" or cb.yref == "container" or cb.lenmode == "pixels":
            out[f"colour bar {i}"] = ((-_INF, _INF), (-_INF, _INF))
            continue
        x = 1.02 if cb.x is None else cb.x
        y = 0.5 if cb.y is None else cb.y
        out[f"colour bar {i}"] = (_span(x, cb.xanchor or "left"),
                                  _span(y, cb.yanchor or "middle", 1.0 if cb.len is None else cb.len))
    for i, sl in enumerate(L.sliders):
        out[f"slider {i}"] = (_span(0.0 if sl.x is None else sl.x, sl.xanchor or "left", 1.0 if sl.len is None
                                    else sl.len), _span(0.0 if sl.y is None else sl.y, sl.yanchor or "top"))
    for i, um in enumerate(L.updatemenus):
        out[f"buttons {i}"] = (_span(-0.05 if um.x is None else um.x, um.xanchor or "right"),
                               _span(1.0 if um.y is None else um.y, um.yanchor or "top"))
    return out


def _overlaps(fig) -> list[tuple[str, str]]:
    boxes = list(_boxes(fig).items())

    def meet(a, b) -> bool:  # open intervals: boxes that only touch do not overlap
        return a[0] < b[1] and b[0] < a[1]

    return [(na, nb) for i, (na, a) in enumerate(boxes) for nb, b in boxes[i + 1:]
            if meet(a[0], b[0]) and meet(a[1], b[1])]


@pytest.fixture(scope="module")
def sb3_viz(sb3_dqn_dir) -> PolicyVisualizer:
    return PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, **KW)


def test_titles_legends_and_colour_bars_never_overlap(sb3_viz):
    figs = {**sb3_viz.plot_all(show=False),
            **{f"tsne/{c}": sb3_viz.plot_tsne(c) for c in ("action", "return_to_go", "value")}}
    for name, fig in figs.items():
        boxes = _boxes(fig)
        assert "title" in boxes, name
        assert not _overlaps(fig), f"{name}: {_overlaps(fig)} overlap ({boxes})"
    # the figures that have them do have a legend / a colour bar (else the check above says nothing)
    assert "legend" in _boxes(figs["tsne"]) and "legend" in _boxes(figs["values"])
    assert "legend" in _boxes(figs["returns"]) and "legend" in _boxes(figs["tsne/action"])
    assert any(k.startswith("colour bar") for k in _boxes(figs["tsne/value"]))
    assert "slider 0" in _boxes(figs["tsne"]) and "buttons 0" in _boxes(figs["tsne"])


def test_the_overlap_check_sees_plotlys_default_placement():
    """The layout the figures had before: a container-placed title, the default legend and a colour bar at the
    same place on the right, a play button over the slider."""
    import plotly.graph_objects as go

    fig = go.Figure([go.Scatter(x=[0, 1], y=[0, 1], name="a", marker={"color": [0, 1], "colorscale": "Viridis",
                                                                     "colorbar": {"title": "checkpoint"}}),
                     go.Scatter(x=[0, 1], y=[1, 0], name="b")])
    fig.update_layout(title="t", sliders=[{"steps": [{"label": "x", "method": "skip"}]}],
                      updatemenus=[{"type": "buttons", "x": 0, "y": -0.15, "xanchor": "left",
                                    "buttons": [{"label": "▶", "method": "skip"}]}])
    found = {frozenset(p) for p in _overlaps(fig)}
    assert {frozenset(("legend", "colour bar 0")), frozenset(("title", "legend")),
            frozenset(("slider 0", "buttons 0"))} <= found


def test_checkpoint_colours_are_discrete_and_labelled_by_step(sb3_viz):
    fig = sb3_viz.plot_tsne("checkpoint")
    coloured = fig.data[1:]
    assert [t.name for t in coloured] == ["step 300", "step 600", "step 900"]  # one legend entry each, in step order
    colours = [t.marker.color for t in coloured]
    assert all(isinstance(c, str) for c in colours) and len(set(colours)) == 3  # one colour each, no colour scale
    assert not any(t.marker.showscale for t in fig.data)
    assert fig.layout.legend.title.text == "checkpoint"
    # ordered: Viridis sampled dark → light, so the later the step, the lighter
    lum = [sum(int(v) for v in c[c.index("(") + 1:-1].split(",")) for c in colours]
    assert lum == sorted(lum)
    # every figure that colours by checkpoint uses the same colours for the same checkpoints
    values = sb3_viz.plot_values()
    assert {t.name: t.marker.color for t in values.data if t.name.startswith("step")} == dict(
        zip(["step 300", "step 600", "step 900"], colours))
    # in a checkpoint's frame the other checkpoints keep their legend entries (a [None] point), not their points
    frame = fig.frames[2]
    assert [len(_rows(t)) > 0 for t in frame.data[1:]] == [False, True, False]
    assert all(t.showlegend for t in frame.data[1:])


def test_default_episodes_give_a_meaningful_interval(sb3_dqn_dir, caplog):
    import inspect

    from better_rl_widget.policy.figures import ci95_half_width

    assert inspect.signature(PolicyVisualizer).parameters["episodes"].default == 30
    # known answers: t(0.975, n-1)/sqrt(n)
    assert ci95_half_width(30) == pytest.approx(2.0452296 / np.sqrt(30), rel=1e-6)
    assert ci95_half_width(5) == pytest.approx(2.7764451 / np.sqrt(5), rel=1e-6)
    assert ci95_half_width(30) < 0.4 < 0.7 < ci95_half_width(10) < 1 < ci95_half_width(5)
    with caplog.at_level("WARNING", logger="better_rl_widget"):
        PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, episodes=10, progress=False)
    assert "95% interval" not in caplog.text
    with caplog.at_level("WARNING", logger="better_rl_widget"):
        PolicyVisualizer(sb3_dqn_dir, "CartPole-v1", SB3DQN, episodes=4, progress=False)
    assert "episodes=4 gives a 95% interval of ±1.59 standard deviations" in caplog.text


def test_returns_figure_shows_the_t_interval(sb3_viz):
    from scipy import stats

    fig = sb3_viz.plot_returns()
    eps = sb3_viz.to_dataframe()
    g = eps.groupby("step")["return"]
    hand = [stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)) for _, v in g]
    np.testing.assert_allclose(fig.data[0].error_y.array, hand)
    np.testing.assert_allclose(fig.data[0].y, g.mean().values)
    assert fig.data[0].error_y.visible and fig.data[0].name == "mean ± 95% CI"
    assert sorted(fig.data[1].y) == sorted(eps["return"])  # every episode's return is drawn
    assert "95% Student-t interval over n = 3 seeded episodes" in fig.layout.title.text


class GammaAgent(TinySafetensorsAgent):
    """Greedy on obs @ w with a known discount: the map's colours can be computed by hand."""

    gamma = 0.9


@pytest.fixture(scope="module")
def gamma_viz(tmp_path_factory) -> PolicyVisualizer:
    from safetensors.torch import save_file

    d = tmp_path_factory.mktemp("gamma")
    for step in (10, 20):
        save_file({"w": torch.randn(4, 2, generator=torch.Generator().manual_seed(step))},
                  str(d / f"agent_{step}.safetensors"))
    return PolicyVisualizer(d, "CartPole-v1", GammaAgent, **{**KW, "tsne_per_checkpoint": 40, "perplexity": 10.0})


def _weights(viz: PolicyVisualizer, checkpoint: int) -> np.ndarray:
    from safetensors.torch import load_file

    return load_file(str(viz.checkpoints[checkpoint].path))["w"].numpy()


def test_tsne_return_to_go_is_the_discounted_return_from_each_step(gamma_viz):
    steps = gamma_viz.to_dataframe("steps")
    assert (steps["reward"] == 1.0).all()  # CartPole: +1 per step, so return-to-go has a closed form
    length = steps.groupby(["checkpoint", "episode"])["t"].transform("size").to_numpy()
    hand = (1 - 0.9 ** (length - steps["t"].to_numpy())) / (1 - 0.9)  # sum_{k < L-t} 0.9^k
    fig = gamma_viz.plot_tsne("return_to_go")
    (tr,) = fig.data[1:]
    rows = _rows(tr)
    assert sorted(rows) == list(range(len(steps)))
    np.testing.assert_allclose(np.asarray(tr.marker.color, float), hand[rows], rtol=1e-12)
    assert tr.marker.showscale and tr.marker.colorbar.title.text == "return-to-go (γ=0.9)"
    assert gamma_viz.to_dataframe()["gamma"].eq(0.9).all()
    first = fig.frames[1].data[1]  # checkpoint 0's frame: only its rows
    assert set(steps["checkpoint"].to_numpy()[_rows(first)]) == {0}


def test_tsne_action_groups_are_the_greedy_actions(gamma_viz):
    steps = gamma_viz.to_dataframe("steps")
    obs = gamma_viz.rollouts.obs
    greedy = np.empty(len(steps), int)
    for c in (0, 1):
        m = steps["checkpoint"].to_numpy() == c
        greedy[m] = (obs[m] @ _weights(gamma_viz, c)).argmax(axis=1)
    fig = gamma_viz.plot_tsne("action")
    groups = {t.name: _rows(t) for t in fig.data[1:]}
    assert set(groups) <= {"action 0", "action 1"} and len(groups) == len(np.unique(greedy))
    for name, rows in groups.items():
        assert (greedy[rows] == int(name.split()[1])).all() and (steps["action"].to_numpy()[rows] == greedy[rows]).all()
    assert sum(len(r) for r in groups.values()) == len(steps)
    assert len({t.marker.color for t in fig.data[1:]}) == len(groups) and fig.layout.legend.title.text == "action"


def test_tsne_value_is_the_networks_max_q(gamma_viz):
    steps = gamma_viz.to_dataframe("steps")
    obs = gamma_viz.rollouts.obs
    hand = np.empty(len(steps))
    for c in (0, 1):
        m = steps["checkpoint"].to_numpy() == c
        hand[m] = (obs[m] @ _weights(gamma_viz, c)).max(axis=1)
    fig = gamma_viz.plot_tsne("value")
    (tr,) = fig.data[1:]
    np.testing.assert_allclose(np.asarray(tr.marker.color, float), hand[_rows(tr)], rtol=1e-5)
    assert tr.marker.colorbar.title.text == "value (max Q or V)"


def test_tsne_value_without_values_is_a_clear_error(tmp_path):
    from safetensors.torch import save_file

    class NoValues:
        @classmethod
        def load(cls, path: str) -> NoValues:
            return cls()

        def act(self, obs: np.ndarray) -> int:
            return 0

    save_file({"w": torch.zeros(1)}, str(tmp_path / "agent_1.safetensors"))
    viz = PolicyVisualizer(tmp_path, "CartPole-v1", NoValues, **{**KW, "tsne_per_checkpoint": 20, "perplexity": 5.0})
    with pytest.raises(ValueError, match="color_by='value': this agent exposes no value estimates"):
        viz.plot_tsne("value")
    assert viz.plot_tsne("checkpoint").data[1].name == "step 1"  # the other colourings still work
