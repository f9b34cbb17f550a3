# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Classic MDPs: simple_rl's README example, seeded and batched
#
# simple_rl's README runs Q-learning, R-Max and a random agent on a 4×3 grid with lava. The same experiment here: the
# grid is a gymnasium env with its model (`P[s, a, s']`, `R[s, a]`) exposed, the agents learn all instances at once as
# numpy arrays, everything is seeded, and the results are a tidy DataFrame, plotly figures and a results folder you
# can `reproduce`. simple_rl's cells are 1-indexed; ours are 0-indexed `(x, y)` with `y` up, so its `(4, 3)` goal is
# our `(3, 2)`.

# %%
from better_rl_widget.agents.rmax import RMax
from better_rl_widget.agents.tabular import QLearning, RandomAgent
from better_rl_widget.envs import GridWorld
from better_rl_widget.experiments import reproduce, run_agents_on_mdp

env = GridWorld(width=4, height=3, start=(0, 0), goals=[(3, 2)], lava=[(3, 1)], walls=[(1, 1)], slip=0.05)
print(env.render())

agents = [QLearning(gamma=0.95), RMax(gamma=0.95), RandomAgent()]
results = run_agents_on_mdp(agents, env, instances=5, episodes=50, steps=10, seed=0,
                            results_dir="runs/classic", track_visits=True)
results.df.head()

# %% [markdown]
# Mean return per episode with its 95% confidence band (Student t over the 5 instances):

# %%
results.figure()

# %%
results.figure(cumulative=True)

# %% [markdown]
# ## Planning and views
#
# Value iteration on the exact model gives the optimal values and policy; the learned Q-table (averaged over
# instances) can be drawn the same way.

# %%
from better_rl_widget.agents.planning import value_iteration
from better_rl_widget.experiments import policy_arrows, value_heatmap, visitation_figure

plan = value_iteration(env.P, env.R, gamma=0.95)
value_heatmap(env, plan.V, policy=plan.policy, title="optimal values and policy (value iteration)")

# %%
policy_arrows(env, results.Q["Q-learning"], title="Q-learning after 50 episodes")

# %% [markdown]
# Where Q-learning spent its time, in windows of episodes (use the slider):

# %%
visitation_figure(env, results.visits["Q-learning"], windows=5)

# %% [markdown]
# ## Reproduce
#
# `runs/classic/manifest.json` records the config, the seed, the env and agent constructor calls and the package
# versions; `reproduce` reruns it and gets the same numbers.

# %%
from pathlib import Path

again = reproduce("runs/classic")
assert again.df.equals(results.df)
print(Path("runs/classic/manifest.json").read_text()[:600])

# %% [markdown]
# ## Live view
#
# `GridWorldWidget` shows the value heatmap, greedy arrows and state visitation while an agent learns;
# `widget.watch(agent, env)` returns a callback for the runner.

# %%
from better_rl_widget.widget.grid_widget import GridWorldWidget

grid = GridWorldWidget(env)
grid

# %%
run_agents_on_mdp([QLearning(gamma=0.95, name="Q-learning (live)")], env, instances=5, episodes=200,
                  steps=30, seed=1, track_visits=True, on_episode=grid.watch(every=10), progress=False)
grid.episode
