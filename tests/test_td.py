import numpy as np
import pytest
import torch
from torch import nn

from better_rl_widget.analysis.returns import returns_to_go
from better_rl_widget.analysis.td import td_errors


class Table(nn.Module):
    """Q(s, ·) read from a table row chosen by the first observation component: easy to compute by hand."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.tensor(table, dtype=torch.float32))

    def forward(self, x):
        return self.table[x[:, 0].long()]


def test_td_error_matches_a_hand_computation():
    q = Table([[1.0, 2.0], [3.0, 0.5], [0.0, 4.0]])
    target = Table([[0.5, 1.5], [2.0, 6.0], [1.0, 1.0]])
    obs = np.array([[0], [1], [2]], np.float32)
    nxt = np.array([[1], [2], [0]], np.float32)
    action = np.array([1, 0, 1])
    reward = np.array([1.0, -1.0, 0.5], np.float32)
    term = np.array([False, False, True])
    g = 0.9
    out = td_errors(q, target, obs, action, reward, nxt, term, gamma=g)
    # δ = r + γ(1−d)·max_a' Q_target(s', a') − Q(s, a)
    want = [1.0 + g * 6.0 - 2.0, -1.0 + g * 1.0 - 3.0, 0.5 - 4.0]
    np.testing.assert_allclose(out.td_error, want, rtol=1e-6)
    np.testing.assert_allclose(out.q, [2.0, 3.0, 4.0])
    np.testing.assert_allclose(out.value, [2.0, 3.0, 4.0])
    # Double DQN: the online net picks a' (Q(1,·) → action 0), the target net evaluates it (2.0)
    dbl = td_errors(q, target, obs, action, reward, nxt, term, gamma=g, double=True)
    np.testing.assert_allclose(dbl.td_error[0], 1.0 + g * 2.0 - 2.0, rtol=1e-6)
    # without a target network the online network bootstraps
    own = td_errors(q, None, obs, action, reward, nxt, term, gamma=g)
    np.testing.assert_allclose(own.td_error[0], 1.0 + g * 3.0 - 2.0, rtol=1e-6)


def test_td_error_rejects_actions_outside_the_output():
    q = Table([[1.0, 2.0]])
    with pytest.raises(ValueError, match="out of range"):
        td_errors(q, None, np.zeros((1, 1)), np.array([2]), np.zeros(1), np.zeros((1, 1)), np.zeros(1))


def test_returns_to_go_for_finished_episodes_only():
    # episode 0: steps 0..2 finished; episode 1: steps 0..1 unfinished; episode 2: prefix evicted, ends
    episode = np.array([1, 0, 0, 2, 0, 1, 2])
    step = np.array([0, 2, 0, 5, 1, 1, 6])
    reward = np.array([9, 3, 1, 4, 2, 9, 5], np.float32)
    done = np.array([0, 1, 0, 0, 0, 0, 1], bool)
    g = returns_to_go(episode, step, reward, done, gamma=0.5)
    assert g[2] == pytest.approx(1 + 0.5 * 2 + 0.25 * 3)
    assert g[4] == pytest.approx(2 + 0.5 * 3) and g[1] == pytest.approx(3)
    assert np.isnan(g[0]) and np.isnan(g[5])
    assert g[3] == pytest.approx(4 + 0.5 * 5) and g[6] == pytest.approx(5)
