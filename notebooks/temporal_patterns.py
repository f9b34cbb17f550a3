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
# # Temporal patterns, replay counts, policy churn, and selections that act on training
#
# A reference DQN with prioritized replay learns `CartPole-v1` while the live map shows four things no projector
# shows live:
#
# 1. **Map modes.** The select next to *colour by* switches what a point embeds: `states`, `state-actions` (the state
#    joined with its action), or `windows` of *k* consecutive (state, action) pairs of one episode ending at the
#    point's transition (*k* in the box beside it). In windows mode, recurring behaviour — the same short action
#    sequence through similar states — forms clusters across episodes. **Click** a window: its *k* states are
#    listed in the inspector and the drawn points of that stretch of the episode are highlighted (they stay
#    highlighted when you switch back to `states`). From Python: `widget.map_mode = "windows"; widget.window_k = 8`.
# 2. **Replay counts and staleness.** How often each transition was sampled for training (`replays`) and how many
#    sample calls ago it last was (`staleness`), as colour channels, a histogram beside the priority histogram, and
#    a line under the map ("… never replayed; median … replays"). With prioritized replay the line also gives the
#    rank correlation of priority and replay count: what the agent prioritises against what it trains on.
# 3. **Policy churn.** Colour by `flipped` (the greedy action differs from the network's `churn_lag_steps` steps
#    earlier) or `dq` (max Q now minus then); the churn panel traces the fraction of drawn states that flipped.
# 4. **A selection that acts on training.** Lasso points, then `hook.reprioritize(widget.selection, factor)` scales
#    their priorities (applied on the training thread at its next step), and `widget.selection_dataset()` gives the
#    selected transitions as arrays or a DataFrame. Nothing acts on training unless you call it.
#
# See docs/map_modes.md and docs/capture.md.

# %%
import os

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQN, DQNConfig

STEPS = int(os.environ.get("BRW_NOTEBOOK_STEPS", "30000"))

widget = BufferWidget()
widget

# %% [markdown]
# The hook gets the Q-network (TD-errors, Q/V, network features and churn) and starts in windows mode with *k* = 4.
# Churn compares against the network of 2,000 steps earlier (default 5,000), so it shows early in this short run.

# %%
agent = DQN("CartPole-v1", DQNConfig(buffer_size=20_000, prioritized=True), seed=0)
hook = TrainingHook(widget, agent.buffer, every=10, q_network=agent.q, target_network=agent.q_target, n_actions=2,
                    map_mode="windows", window_k=4, churn_lag_steps=2_000)
run = hook.run_in_background(lambda stop: agent.learn(STEPS, callback=hook.on_step, stop=stop))

# %% [markdown]
# Switch modes from Python as well as in the view (the map is rebuilt for the new features; the status line says
# so). Try `"states"` and `"state-actions"`, then back to windows.

# %%
print("map mode:", widget.map_mode, "k =", widget.window_k)

# %% [markdown]
# ## After training
#
# The cells below wait for the run to end (`run.join()` holds the kernel, and with it the view's clicks, until
# then): explore the live map first.

# %%
run.join()
hook.close()  # the settle pass: the map's final picture
table = widget.table()
print(f"{agent.steps_done:,} steps, {len(agent.episode_returns)} episodes; the map draws {len(table):,} windows")

# %% [markdown]
# **Replay counts.** How often the drawn transitions were sampled, and how that follows their priority.

# %%
counts = table["replays"]
never = float((counts == 0).mean())
print(f"replays: {never:.0%} of the drawn transitions never replayed; median {counts.median():.1f}, "
      f"max {counts.max():.0f}")
print("rank correlation of priority and replays:", round(float(table["priority"].corr(counts, method="spearman")), 3))
print("staleness (sample calls since last replayed), median:", float(table["staleness"].median()))

# %% [markdown]
# **Policy churn.** The fraction of drawn states whose greedy action flipped against the network 2,000 steps
# earlier, over training (`widget.churn_trace`: step, fraction flipped, median |ΔQ|).

# %%
import plotly.graph_objects as go

trace = widget.churn_trace
print(f"churn: {len(trace)} points; last: {trace[-1, 1]:.1%} flipped at step {trace[-1, 0]:,.0f}" if len(trace)
      else "churn: no points yet")
go.Figure(go.Scatter(x=trace[:, 0], y=trace[:, 1], mode="lines+markers"),
          layout={"title": "policy churn: greedy actions flipped", "xaxis_title": "training step",
                  "yaxis_title": "fraction of drawn states", "yaxis_range": [0, 1], "height": 320})

# %% [markdown]
# **A selection that acts on training.** Lasso points on the map and re-run this cell. Without a lasso (as when this
# notebook runs unattended) it takes the 50 drawn transitions with the largest |TD-error|, as a lasso around a hot
# spot would. `reprioritize` doubles their priorities (only theirs), and `selection_dataset` hands you the
# selected transitions to save or to train on.

# %%
import numpy as np

slots = widget.selection
if len(slots):
    data = widget.selection_dataset(as_frame=True)
    print(f"{len(data)} selected transitions:", list(data.columns))
else:
    top = table.loc[table["td_error"].abs().sort_values(ascending=False).index[:50]]
    slots = top["slot"].to_numpy(np.int64)
    print("no lasso yet: using the 50 largest |TD-errors|")
before = agent.buffer.priorities(slots)
changed = hook.reprioritize(slots, 2.0)  # while training runs it is queued for the next training step
after = agent.buffer.priorities(slots)
print(f"reprioritized {changed} transitions: priorities ×{float(np.median(after / before)):.2f}")
