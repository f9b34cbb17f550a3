"""Tabular envs: registered ids, valid models, and sampling that follows P exactly."""

import gymnasium as gym
import numpy as np
import pytest

from better_rl_widget.envs import ENV_IDS, GridWorld, TabularEnv, four_rooms


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_registered_ids_make_tabular_envs(env_id):
    env = gym.make(env_id)
    base = env.unwrapped
    assert isinstance(base, TabularEnv)
    S, A = base.n_states, base.n_actions
    assert base.P.shape == (S, A, S) and base.R.shape == (S, A)
    np.testing.assert_allclose(base.P.sum(-1), 1.0)
    obs, _ = env.reset(seed=3)
    assert 0 <= obs < S
    for _ in range(5):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        assert 0 <= obs < S and np.isfinite(r)
        if term or trunc:
            break


def test_step_batch_frequencies_match_P():
    env = GridWorld(width=3, height=3, goals=[(2, 2)], slip=0.3)
    rng = np.random.default_rng(0)
    n = 200_000
    s = np.full(n, 4)  # centre cell
    nxt, _, _ = env.step_batch(s, np.zeros(n, dtype=np.int64), rng)
    freq = np.bincount(nxt, minlength=env.n_states) / n
    np.testing.assert_allclose(freq, env.P[4, 0], atol=0.005)
    assert env.P[4, 0].max() == pytest.approx(0.7)


def test_gridworld_rewards_walls_and_terminals():
    env = GridWorld(width=4, height=3, walls=[(1, 1)], lava=[(3, 1)], goals=[(3, 2)], slip=0.0)
    assert env.n_states == 11 and env.cell_state[1, 1] == -1
    below_goal = env.cell_state[1, 3]          # the lava cell, right under the goal
    goal = env.cell_state[2, 3]
    assert env.terminal[goal] and not env.terminal[below_goal]
    assert env.R[below_goal, 0] == pytest.approx(1.0)   # up from lava into the goal
    left_of_lava = env.cell_state[1, 2]
    assert env.R[left_of_lava, 3] == pytest.approx(-1.0)  # right into lava
    # bumping into a wall stays put
    assert env.P[env.cell_state[1, 0], 3, env.cell_state[1, 0]] == 1.0


def test_layout_parsing_and_errors():
    env = GridWorld.from_layout("""
        ..G
        .#L
        S..""".replace(" ", ""))
    assert (env.width, env.height) == (3, 3) and env.lava == {(2, 1)} and env.goals == {(2, 2)}
    assert env.initial[env.cell_state[0, 0]] == 1.0
    assert four_rooms().n_states == 104
    with pytest.raises(ValueError, match="outside"):
        GridWorld(width=2, height=2, goals=[(5, 5)])
    with pytest.raises(ValueError, match="not one of"):
        GridWorld.from_layout("..X")
