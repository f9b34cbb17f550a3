"""Continual World metrics on a constructed case, and a lifelong run whose forgetting is known to be large."""

import numpy as np
import pytest

from better_rl_widget.agents.tabular import QLearning
from better_rl_widget.analysis import continual_metrics, performance_matrix
from better_rl_widget.envs import GridWorld
from better_rl_widget.experiments import MDPDistribution, performance_figure, reproduce, run_agents_lifelong


def test_metrics_on_constructed_curves():
    # two tasks, three evaluations each; task 0 learned then partly forgotten, task 1 learned later
    perf = np.array([[0.2, 0.0], [0.6, 0.0], [1.0, 0.0],
                     [0.8, 0.3], [0.5, 0.7], [0.4, 0.9]])
    ref = np.array([[0.1, 0.0], [0.4, 0.0], [0.7, 0.0],
                    [0.0, 0.1], [0.0, 0.4], [0.0, 0.7]])
    m = continual_metrics(perf, sequence=[0, 1], boundaries=[0, 3], reference=ref)
    np.testing.assert_allclose(m.forgetting, [1.0 - 0.4, 0.9 - 0.9])
    assert m.average_performance == pytest.approx((0.4 + 0.9) / 2)
    np.testing.assert_allclose(m.average_curve, perf.mean(1))
    auc0, ref0 = 0.6, 0.4   # means of rows 0..2
    auc1, ref1 = (0.3 + 0.7 + 0.9) / 3, 0.4
    np.testing.assert_allclose(m.forward_transfer, [(auc0 - ref0) / (1 - ref0), (auc1 - ref1) / (1 - ref1)])
    assert m.table()["forgetting"].tolist() == pytest.approx([0.6, 0.0])
    assert np.isnan(continual_metrics(perf, [0, 1], [0, 3]).forward_transfer).all()


def test_metrics_reject_bad_boundaries():
    with pytest.raises(ValueError, match="boundaries"):
        continual_metrics(np.zeros((4, 2)), [0, 1], [1, 3])
    with pytest.raises(ValueError, match="outside"):
        continual_metrics(np.zeros((4, 2)), [0, 2], [0, 2])


def _two_goal_tasks():
    # Same grid, opposite goals: what task 1 teaches overwrites task 0's greedy policy.
    return MDPDistribution([GridWorld(width=4, height=1, goals=[(3, 0)], start=(1, 0)),
                            GridWorld(width=4, height=1, goals=[(0, 0)], start=(1, 0))])


def test_lifelong_run_shows_forgetting_and_reference_transfer(tmp_path):
    dist = _two_goal_tasks()
    kw = dict(sequence=[0, 1], episodes=60, steps=20, instances=4, seed=0, progress=False)
    keep = run_agents_lifelong([QLearning(alpha=0.5, gamma=0.9, epsilon=0.2)], dist, reset="keep", **kw)
    scratch = run_agents_lifelong([QLearning(alpha=0.5, gamma=0.9, epsilon=0.2)], dist, reset="task", **kw)
    perf, seq, starts = performance_matrix(keep, "Q-learning")
    ref, _, _ = performance_matrix(scratch, "Q-learning")
    assert perf.shape == (120, 2) and seq.tolist() == [0, 1] and starts.tolist() == [0, 60]
    m = continual_metrics(perf, seq, starts, reference=ref)
    assert perf[59, 0] == pytest.approx(1.0)       # task 0 mastered at the end of its segment
    assert m.forgetting[0] > 0.5                    # and lost by the end of task 1
    assert m.forgetting[1] == pytest.approx(0.0)
    assert keep.task_boundaries() == [60]
    assert set(keep.df.columns) >= {"task", "task_id", "global_episode"}
    fig = performance_figure(keep.performance, "Q-learning")
    assert [t.name for t in fig.data if t.name] == ["task 0", "task 1"]
    assert sum(sh.type == "line" for sh in fig.layout.shapes) == 1   # the switch after episode 59
    fig = keep.figure()
    assert any(s.type == "line" for s in fig.layout.shapes)   # the task-boundary marker
    keep.save(tmp_path / "ll")
    again = reproduce(tmp_path / "ll")
    assert again.df.equals(keep.df)


def test_distribution_checks_shapes():
    with pytest.raises(ValueError, match="share"):
        MDPDistribution([GridWorld(width=3, height=1, goals=[(2, 0)]), GridWorld(width=4, height=1, goals=[(3, 0)])])
    d = _two_goal_tasks()
    draws = d.sample(np.random.default_rng(0), size=1000)
    assert 400 < (draws == 0).sum() < 600
