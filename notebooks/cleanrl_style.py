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
# # A hand-written (CleanRL-style) loop with prioritized replay
#
# When the buffer is your own, either give the hook something it can read (here the package's
# `PrioritizedReplayBuffer`, whose re-prioritised slots the hook re-reads cheaply), or call `hook.record(obs, action,
# reward, next_obs, terminated, truncated)` and let the hook keep a bounded mirror (last section).

# %%
import os

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer

STEPS = int(os.environ.get("BRW_NOTEBOOK_STEPS", "20000"))
torch.manual_seed(0)
rng = np.random.default_rng(0)
widget = BufferWidget()
widget

# %%
env = gym.make("CartPole-v1")
q = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
q_target = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))
q_target.load_state_dict(q.state_dict())
opt = torch.optim.Adam(q.parameters(), lr=5e-4)
rb = PrioritizedReplayBuffer(5_000, alpha=0.6, beta=0.4, seed=0)
hook = TrainingHook(widget, rb, q_network=q, target_network=q_target, n_actions=2, every=10)

obs, _ = env.reset(seed=0)
for t in range(STEPS):
    eps = max(0.05, 1 - t / (0.3 * STEPS))
    with torch.no_grad():
        a = int(rng.integers(2)) if rng.random() < eps else int(q(torch.as_tensor(obs)).argmax())
    nxt, r, term, trunc, _ = env.step(a)
    rb.add(obs, a, r, nxt, term, trunc)
    obs = env.reset()[0] if (term or trunc) else nxt
    if t > 200:
        b = rb.sample(64)
        s, s2 = torch.as_tensor(b["obs"]), torch.as_tensor(b["next_obs"])
        with torch.no_grad():
            alive = 1 - torch.as_tensor(b["terminated"], dtype=torch.float32)
            y = torch.as_tensor(b["reward"]) + 0.99 * alive * q_target(s2).max(1).values
        qa = q(s).gather(1, torch.as_tensor(b["action"]).long()[:, None])[:, 0]
        loss = (torch.as_tensor(b["weights"]) * (qa - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        rb.update_priorities(b["indices"], (y - qa).detach().numpy())
    if t % 500 == 0:
        q_target.load_state_dict(q.state_dict())
    hook.on_step()
hook.close()

# %% [markdown]
# `widget.table()` is the map as a pandas DataFrame: one row per point, with its buffer `slot`, `x`, `y` and every
# colour channel, here the re-read priorities and the TD-errors.

# %%
table = widget.table()
print("columns:", list(table.columns))
print("priority range:", float(table["priority"].min()), float(table["priority"].max()))

# %% [markdown]
# ## `hook.record` when the buffer stays yours
#
# The hook keeps a bounded mirror (here 2,000 transitions). Dict observations are flattened with
# `gymnasium.spaces.flatten` (a note in the status line says so).

# %%
widget2 = BufferWidget()
hook2 = TrainingHook.for_loop(widget2, 2_000, every=10)
obs, _ = env.reset(seed=1)
for _ in range(min(STEPS, 3_000)):
    a = int(rng.integers(2))
    nxt, r, term, trunc, _ = env.step(a)
    hook2.record(obs, a, r, nxt, term, trunc)
    obs = env.reset()[0] if (term or trunc) else nxt
hook2.close()
widget2
