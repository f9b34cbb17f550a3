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
# # Quickstart: watch a DQN's replay buffer while it trains
#
# A reference DQN learns `CartPole-v1`. The transitions it stores land in the live map below: each point is one buffer
# slot (once the buffer holds more than `max_points`, 1,000 by default, an even sample of it by insertion age; the
# status line says how many of how many), placed by a 2-D projection of its observation: PCA while the buffer holds
# fewer than 500 transitions, then a live t-SNE (openTSNE) that starts from the PCA picture and keeps evolving as
# transitions arrive and are evicted (`projection="auto"`, the default; `"pca"` or `"tsne"` to choose). Colour by age,
# reward, action, episode or done; **click** a point to inspect it, **shift-drag** to lasso a group; scroll to zoom,
# drag to pan.

# %%
from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQN, DQNConfig

widget = BufferWidget()
widget

# %% [markdown]
# Training runs in a background thread (`hook.run_in_background`), so the notebook stays responsive: clicks and
# selections reach Python while the agent learns. `run.stop()` ends it early. The map takes at most `cost_budget`
# (5 %) of the training's CPU — measured, and shown in the status line — and draws fewer frames rather than slow
# training down; when training ends it settles (at most `settle_s`, 10 s).

# %%
agent = DQN("CartPole-v1", DQNConfig(buffer_size=20_000), seed=0)
hook = TrainingHook(widget, agent.buffer, every=10)
run = hook.run_in_background(lambda stop: agent.learn(30_000, callback=hook.on_step, stop=stop))

# %% [markdown]
# What you clicked and selected is in Python, any time:

# %%
print("clicked slot:", widget.clicked_slot)
print("selected slots:", len(widget.selection), widget.selection[:10])
print("status:", widget.status)

# %% [markdown]
# How is the agent doing? Re-run this cell any time; it does not wait for the run (`run.join()` would block the
# kernel, and with it the clicks, until training ends).

# %%
returns = agent.episode_returns
last = returns[-10:]
print(f"{'training' if not run.done else 'finished'}: {agent.steps_done} steps, {len(returns)} episodes, "
      f"mean return of the last 10: {sum(last) / max(1, len(last)):.1f}")

# %% [markdown]
# **Map history.** The widget keeps a snapshot of the map every few seconds (`widget.history`; bounded, and older
# snapshots are thinned rather than dropped, so early training stays visible). Drag the slider under the map to see
# the map as it was at an earlier training step; **live** returns to the present. `widget.to_html(path)` writes the
# history as one self-contained HTML file (map, colour-by, gauge, scrubber, inspector) that opens offline in any
# browser; see docs/export.md.

# %%
print(widget.history)
if widget.n_points:  # re-run after training for the whole run
    print("wrote", widget.to_html("runs/quickstart_map.html", title="DQN on CartPole-v1"))
