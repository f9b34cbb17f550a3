"""Planning is exact; the learners reach the optimal policy of small MDPs."""

import numpy as np
import pytest

from better_rl_widget.agents.delayed_q import DelayedQLearning
from better_rl_widget.agents.planning import policy_evaluation, value_iteration
from better_rl_widget.agents.rmax import RMax
from better_rl_widget.agents.tabular import DoubleQLearning, QLearning
from better_rl_widget.envs import Bandit, Chain, GridWorld
from better_rl_widget.experiments import run_agents_on_mdp


def test_value_iteration_exact_on_deterministic_chain():
    # Always forward: V(s) = γ^(n-1-s) · big / (1 - γ) (staying at the end pays `big` forever).
    gamma, n = 0.9, 5
    env = Chain(n_states=n, slip=0.0, small_reward=2.0, big_reward=10.0)
    plan = value_iteration(env.P, env.R, gamma, tol=1e-12)
    expected = gamma ** (n - 1 - np.arange(n)) * 10.0 / (1 - gamma)
    np.testing.assert_allclose(plan.V, expected, rtol=0, atol=1e-9)
    assert (plan.policy == 0).all()
    # and the "back" action is worth exactly 2 + γ V(0)
    np.testing.assert_allclose(plan.Q[:, 1], 2.0 + gamma * expected[0], atol=1e-9)


def test_value_iteration_exact_on_corridor_and_bandit():
    gamma = 0.8
    env = GridWorld(width=5, height=1, goals=[(4, 0)], start=(0, 0))
    plan = value_iteration(env.P, env.R, gamma, tol=1e-12)
    dist = 4 - env.state_cell[:, 0]
    expected = np.where(dist > 0, gamma ** (dist - 1.0), 0.0)  # the step into the goal pays 1
    np.testing.assert_allclose(plan.V, expected, atol=1e-10)
    bandit = Bandit(means=[0.1, 0.7, 0.3])
    assert value_iteration(bandit.P, bandit.R, 0.99).V[0] == pytest.approx(0.7)


def test_policy_evaluation_matches_bellman_and_vi():
    env = GridWorld(width=4, height=3, walls=[(1, 1)], lava=[(3, 1)], goals=[(3, 2)], slip=0.1)
    plan = value_iteration(env.P, env.R, 0.95, tol=1e-12)
    np.testing.assert_allclose(policy_evaluation(env.P, env.R, plan.policy, 0.95), plan.V, atol=1e-9)
    uniform = np.full((env.n_states, 4), 0.25)
    V = policy_evaluation(env.P, env.R, uniform, 0.95)
    np.testing.assert_allclose(V, (uniform * (env.R + 0.95 * env.P @ V)).sum(-1), atol=1e-12)
    assert (V <= plan.V + 1e-12).all()


def _lava_grid(**kw):
    return GridWorld(width=4, height=3, walls=[(1, 1)], lava=[(3, 1)], goals=[(3, 2)], slip=0.05, **kw)


def test_q_learning_converges_to_optimal_policy_on_4x3_grid():
    env = _lava_grid(start=None)  # uniform start: every state is visited often
    plan = value_iteration(env.P, env.R, 0.95)
    # visit-count step sizes (Robbins–Monro), wide exploration so every pair is tried often
    agent = QLearning(alpha=0.5, gamma=0.95, epsilon=0.5, alpha_anneal=0.05)
    res = run_agents_on_mdp([agent], env, instances=4, episodes=1500, steps=30, seed=0, progress=False)
    greedy = res.Q["Q-learning"].argmax(-1)
    live = ~env.terminal
    assert (greedy[:, live] == plan.policy[live]).all(), (greedy, plan.policy)
    assert np.abs(res.Q["Q-learning"] - plan.Q).max() < 0.2


@pytest.mark.parametrize("agent", [QLearning(gamma=0.95, explore="softmax", tau=0.05),
                                   DoubleQLearning(gamma=0.95, epsilon=0.2), RMax(gamma=0.95, m=5),
                                   DelayedQLearning(gamma=0.95, m=5, epsilon1=0.001)])
def test_other_learners_reach_the_goal(agent):
    env = _lava_grid()
    res = run_agents_on_mdp([agent], env, instances=3, episodes=400, steps=50, seed=0, progress=False)
    last = res.df[res.df["episode"] >= 300]["return"].mean()
    assert last > 0.9  # the random policy scores below 0 here (lava)


def test_runs_are_seeded_and_agents_independent():
    env = _lava_grid()
    a = run_agents_on_mdp([QLearning(name="q")], env, instances=2, episodes=20, steps=30, seed=5, progress=False)
    b = run_agents_on_mdp([QLearning(name="q")], env, instances=2, episodes=20, steps=30, seed=5, progress=False)
    c = run_agents_on_mdp([QLearning(name="q")], env, instances=2, episodes=20, steps=30, seed=6, progress=False)
    assert a.df.equals(b.df) and not a.df.equals(c.df)


def test_bad_agent_arguments_are_named():
    with pytest.raises(ValueError, match="explore"):
        QLearning(explore="boltzmann")
    with pytest.raises(ValueError, match="unique"):
        run_agents_on_mdp([QLearning(), QLearning()], _lava_grid(), progress=False)
