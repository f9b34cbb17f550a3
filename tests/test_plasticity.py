"""Dormant-neuron fraction (Sokar et al. 2023) and effective rank (Roy & Vetterli 2007) on constructed inputs."""

import numpy as np
import pytest

from better_rl_widget.analysis import PlasticityTracker, dormant_fraction, dormant_scores, effective_rank


def test_dormant_scores_on_constructed_activations():
    # unit means of |h|: 0, 1, 2, 1 → layer mean 1 → scores 0, 1, 2, 1
    h = np.array([[0.0, 1.0, -2.0, 0.5],
                  [0.0, -1.0, 2.0, 1.5]])
    np.testing.assert_allclose(dormant_scores(h), [0.0, 1.0, 2.0, 1.0])
    assert dormant_fraction(h, tau=0.0) == 0.25
    assert dormant_fraction(h, tau=1.0) == 0.75
    # layers pooled: 1 dormant of 4 + 2 dormant of 2
    assert dormant_fraction([h, np.zeros((2, 2))]) == pytest.approx(3 / 6)
    with pytest.raises(ValueError, match="batch"):
        dormant_scores(np.zeros(3))


def test_effective_rank_on_constructed_features():
    assert effective_rank(np.eye(6)) == pytest.approx(6.0)
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=(50, 1)), rng.normal(size=(1, 8))
    assert effective_rank(u @ v) == pytest.approx(1.0, abs=1e-6)
    # singular values 3 and 1: p = (3/4, 1/4), erank = exp(H(p))
    p = np.array([0.75, 0.25])
    assert effective_rank(np.diag([3.0, 1.0, 0.0])) == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert effective_rank(np.zeros((4, 3))) == 1.0


def test_tracker_on_a_torch_mlp_with_a_dead_unit():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8), torch.nn.ReLU())
    with torch.no_grad():
        net[0].bias[:3] = -1e3       # three units of the first layer can never fire
    tracker = PlasticityTracker(tau=0.0)
    x = torch.randn(256, 4)
    rows = tracker.record(0, net, x)
    tracker.task_switch(1)
    first = next(r for r in rows if r["layer"] == "1")
    assert first["dormant_fraction"] >= 3 / 8
    assert first["effective_rank"] <= 5 + 1e-6   # at most 5 live units
    frame = tracker.frame()
    assert set(frame["layer"]) == {"1", "3", "all"}
    fig = tracker.figure()
    assert any(s.type == "line" for s in fig.layout.shapes)
