"""Tile coding and linear Q-learning on a continuous-state gymnasium env."""

import numpy as np
import pytest

from better_rl_widget.agents.linear_q import LinearQ, TileCoder
from better_rl_widget.experiments import reproduce, run_agents_on_mdp


def test_tile_coder_activates_one_feature_per_tiling():
    coder = TileCoder([0.0, 0.0], [1.0, 1.0], tilings=4, tiles=5)
    rng = np.random.default_rng(0)
    obs = rng.random((100, 2))
    f = coder(obs)
    assert f.shape == (100, 4) and f.min() >= 0 and f.max() < coder.n_features
    # feature t lies in tiling t's block
    assert ((f // coder.per_tiling) == np.arange(4)).all()
    near = coder(obs + 1e-4)
    far = coder(np.clip(obs + 0.5, 0, 1))
    assert (near == f).mean() > 0.95 and (far == f).mean() < 0.1
    with pytest.raises(ValueError, match="finite box"):
        TileCoder([0.0], [np.inf])


def test_linear_q_learns_mountain_car(tmp_path):
    res = run_agents_on_mdp([LinearQ(alpha=0.5, gamma=1.0, epsilon=0.0)], "MountainCar-v0", instances=2,
                            episodes=60, steps=200, seed=0, results_dir=tmp_path / "mc", progress=False)
    lengths = res.df.groupby("episode")["length"].mean()
    assert lengths.iloc[:5].min() == 200          # random-ish start: never reaches the flag
    assert lengths.iloc[-10:].mean() < 190          # reaches it after learning
    again = reproduce(tmp_path / "mc")
    assert again.df.equals(res.df)
