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
# # Stable-Baselines3: a live replay-buffer map through a callback
#
# `BetterRLCallback` reads SB3's own replay buffer (shape `(buffer_size, n_envs, ...)`; slot = `row * n_envs + env`)
# and, for DQN, computes TD-errors, Q(s,a), V(s) = max Q and penultimate-layer features from `q_net` / `q_net_target`
# in a background thread. Colour the map by `td_error`, `value` or `return`; the histogram and the *influential
# states* list show the largest TD-errors — click one to inspect it.

# %%
import os

from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_vec_env

from better_rl_widget import BufferWidget
from better_rl_widget.adapters.sb3 import BetterRLCallback

STEPS = int(os.environ.get("BRW_NOTEBOOK_STEPS", "20000"))
widget = BufferWidget()
widget

# %% [markdown]
# Two CartPole environments in parallel, with SB3's own defaults — its replay buffer holds a million transitions. The
# map draws an even sample of it by insertion age (`max_points`, 1,000 by default; the status line says "map: 1,000 of
# N slots, sampled by age"), and a cost governor keeps the map within `cost_budget` (5 %) of the training's CPU: it
# draws fewer frames rather than slow training down. The gauge still describes the whole buffer. When `learn()`
# returns, a final pass settles the map (at most `settle_s`, 10 s).

# %%
env = make_vec_env("CartPole-v1", n_envs=2, seed=0)
model = DQN("MlpPolicy", env, seed=0, device="cpu")
model.learn(STEPS, callback=BetterRLCallback(widget))

# %% [markdown]
# The state the views draw is in Python too. `widget.table()` is the map as a pandas DataFrame, one row per point: its
# buffer `slot`, `x`, `y` and every colour channel. `widget.selection` and `widget.clicked_slot` name buffer slots;
# `widget.clicked` is the point's id on the map (the table's `point`).

# %%
table = widget.table()
print("points:", len(table), "columns:", list(table.columns))
print("map:", widget.status["map"], "gauge:", widget.gauge)
print("map cost (share of training CPU):", widget.status.get("cost"))
print("largest |TD-error|:", float(table["td_error"].abs().max()))
print("notes:", widget.status.get("notes", []))

# %% [markdown]
# ## SAC and TD3: TD-errors from the twin critics
#
# For SAC, TD3 and DDPG the callback computes, from a CPU copy of the policy, `q` = min(Q1, Q2)(s, a), the one-step
# TD-error against the target critics and `value` = V(s). The numbers are deterministic: TD3's target uses the target
# actor without smoothing noise; SAC's uses the actor's mean action with its log-probability and the current entropy
# coefficient α (docs/capture.md).

# %%
from stable_baselines3 import SAC

sac_widget = BufferWidget()
sac = SAC("MlpPolicy", "Pendulum-v1", buffer_size=5_000, learning_starts=200, seed=0, device="cpu",
          policy_kwargs={"net_arch": [64, 64]})
sac.learn(min(STEPS, 3_000), callback=BetterRLCallback(sac_widget, every=10))
sac_table = sac_widget.table()
print("SAC columns:", list(sac_table.columns))
print("SAC largest |TD-error|:", float(sac_table["td_error"].abs().max()))
sac_widget
