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
# # What has the agent learned? Trajectories, influence, reward expectation, skills
#
# Three questions about a deep-RL agent, asked while it trains:
#
# 1. **How does its state visitation change, across trajectories?** Episodes as paths through the map, recurring
#    paths, and which groups of states actually move the policy (*influence*).
# 2. **How does it expect reward?** Predicted Q against the discounted return that really followed (*calibration*),
#    and the value along one episode.
# 3. **What behaviours (skills) has it formed?** Clusters of the map that respect time (after the SAMDP of Zahavy et
#    al. 2016), the graph of hand-overs between them, and a score to choose their number.
#
# Every answer is a function in `better_rl_widget.analysis` returning arrays or DataFrames, with a plotly figure
# beside it; they read the hook's copy of the buffer, never the training thread's. See `docs/interpretability.md`.

# %%
import os

import numpy as np

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQN, DQNConfig

STEPS = int(os.environ.get("BRW_NOTEBOOK_STEPS", "30000"))
agent = DQN("CartPole-v1", DQNConfig(buffer_size=20_000, learning_starts=min(1_000, STEPS // 3)), seed=0)
widget = BufferWidget()
# q_network: the worker computes Q, V, TD-errors and the features the map embeds, from a copy of the net
hook = TrainingHook(widget, agent.buffer, q_network=agent.q, target_network=agent.q_target, double_dqn=True)
run = hook.run_in_background(lambda stop: agent.learn(STEPS, callback=hook.on_step, stop=stop))
panels = widget.enable_interpret(hook, k=4, last=3)  # live panels under the map, refreshed every 5 s
widget

# %% [markdown]
# **The live panels** under the map answer the same questions while training runs, from a background thread
# (`widget.enable_interpret`): the newest episodes drawn as paths over the map (colour = time within the episode; pick
# *last N* or an episode id), colour by `skill`, `value` or `q` in the colour-by menu, the **skill graph** (click a
# skill: its points are selected on the map and in `widget.selection`), predicted-against-realised **calibration**
# with its bias, the **value trace** of the newest finished episode, the **recurring segments** (click one to
# highlight it) and the **influence** buttons. The cells below compute the same numbers with the Python API.

# %% [markdown]
# The analyses below read a snapshot of the buffer: run them while training goes on, and again later to see what
# changed. `buffer_table` is one row per point on the map (slot, map position, episode, step in episode, action,
# reward, Q, V, TD-error, return-to-go).

# %%
from better_rl_widget.analysis.influence import hook_batch
from better_rl_widget.analysis.trajectories import buffer_table

hook.flush()  # everything stored so far is on the map
table = buffer_table(hook)
print(f"{len(table)} transitions, {table['episode'].nunique()} episodes, training step {agent.steps_done}")
table.tail()

# %% [markdown]
# ## 1. Visitation across trajectories
#
# Where on the map does training spend its time, and how did that move? Colour by insertion step: early (dark)
# transitions from the random policy against late (bright) ones from the learned policy.

# %%
import plotly.express as px

px.scatter(table, x="x", y="y", color="step", color_continuous_scale="Viridis",
           title="The map coloured by when each transition was stored").update_traces(marker_size=3)

# %% [markdown]
# The newest episodes as paths through the map, coloured by time within the episode:

# %%
from better_rl_widget.analysis import figures

figures.trajectories_figure(table, last=5)

# %% [markdown]
# **(State, action) pairs.** The map above places states. Embedding pairs instead separates what the agent does where:
# `"qhead"` features are each penultimate unit's contribution to Q(s, a), so pairs land together when the network
# values them for the same reasons.

# %%
from better_rl_widget.analysis.state_action import state_action_map

sample = table.sample(min(len(table), 3_000), random_state=0)
sa_slots, sa_rows = hook_batch(hook, sample["slot"].to_numpy())
sa_xy = state_action_map(agent.q, sa_rows["obs"], sa_rows["action"], how="qhead", per_action=500)
px.scatter(x=sa_xy[:, 0], y=sa_xy[:, 1], color=sa_rows["action"].astype(str),
           title="(state, action) pairs, Q-head features, coloured by action").update_traces(marker_size=3)

# %% [markdown]
# **Recurring segments**: discretise the map into regions (k-means), collapse each episode into the sequence of
# regions it passes through, and count the sequences of 3 regions that recur. Each row carries the slots of every
# occurrence, to highlight.

# %%
from IPython.display import display

from better_rl_widget.analysis.trajectories import map_regions, recurring_segments

regions, centres = map_regions(table[["x", "y"]].to_numpy(), n_regions=12)
segments = recurring_segments(table, regions, length=3)
display(segments[["segment", "count", "n_episodes"]].head(8))
figures.segments_figure(table, segments, top=3)

# %% [markdown]
# ### Which states move the policy?
#
# Group the buffer by TD-error quartile. For each group, a copy of the Q-network takes 10 TD steps on that group only;
# we count how many greedy actions flip and how far Q moves on a fixed probe sample of the buffer, against random
# groups of the same size (mean ± spread of 5). Runs within a time budget, on copies: training is not touched. **Lasso
# a group in the map** above before running the cell to add your selection as a group.

# %%
from better_rl_widget.analysis.influence import group_influence, quantile_groups

slots, rows = hook_batch(hook)
groups = quantile_groups(rows["td_error"], 4)  # TD-errors of these very rows
picked = np.flatnonzero(np.isin(slots, widget.selection))
if len(picked):
    groups["your selection"] = picked
influence = group_influence(agent.q, rows, groups, target_network=agent.q_target, steps=10, lr=1e-3,
                            n_random=5, budget_s=60, progress=True)
display(influence[["group", "size", "flipped", "flipped_random", "dq", "dq_random", "dq_z"]])
figures.influence_figure(influence)

# %% [markdown]
# `dq_z` says how many random-group standard deviations a group's |ΔQ| lies above chance. Groups far above zero shape
# the next updates more than their size explains; `flipped` against `flipped_random` says whether that reaches the
# greedy actions.

# %% [markdown]
# ## 2. Reward expectation
#
# Q of the action taken against the discounted return that actually followed it, for every transition of a finished
# episode. On the identity line the agent expects what it gets; the bias is the mean over-estimation (DQN's max
# operator is known to push it up; Double DQN less so).

# %%
from better_rl_widget.analysis.calibration import table_calibration, value_trace

cal = table_calibration(table, "q", gamma=agent.config.gamma)
print(cal)
figures.calibration_figure(cal)

# %% [markdown]
# The value along the newest finished episode, with the rewards and the return-to-go:

# %%
finished = table.loc[table["done"] > 0, "episode"]
episode = int(finished.max())
trace = value_trace(table, episode, gamma=agent.config.gamma)
figures.value_trace_figure(trace, title=f"Episode {episode}: V(s), Q(s, a) and the return that followed")

# %% [markdown]
# ## 3. Skills
#
# k-means over-clusters the map, the pieces are merged by a normalised cut of how often the agent steps between them,
# and a short mode filter along each episode removes flicker. Compare k first: a good k keeps the skill graph
# predictable (low transition entropy) and skills coherent (most steps stay in their skill) while the skills still
# explain the map.

# %%
from better_rl_widget.analysis.skills import compare_k, skill_timeline, table_skills

scores = compare_k(table[["x", "y"]].to_numpy(), table["episode"].to_numpy(),
                   table["episode_step"].to_numpy(), ks=(2, 3, 4, 6, 8))
display(scores)
figures.compare_k_figure(scores)

# %%
skills = table_skills(table, k=4)
print(skills.scores())
figures.skills_map_figure(table, skills)

# %%
figures.skill_graph_figure(skills)

# %%
figures.skill_timeline_figure(skill_timeline(table, skills.labels), last=15)

# %% [markdown]
# Which skill moves the policy most? The same influence measure, grouped by skill:

# %%
from better_rl_widget.analysis.influence import label_groups
from better_rl_widget.analysis.trajectories import labels_for

# skills were fitted on `table`; rows stored since then (or overwritten) belong to none (-1)
by_skill = labels_for(table, skills.labels, slots, rows["step"])
figures.influence_figure(group_influence(agent.q, rows, label_groups(by_skill), target_network=agent.q_target,
                                         n_random=3, budget_s=60))

# %% [markdown]
# The live panels hold the same numbers: the skills they colour the map with and the last influence result are Python
# objects too.

# %%
panels.refresh()
panels.wait(panels.refreshes + 1)
print("live panels:", panels.refreshes, "refreshes; skills", panels.skills.scores() if panels.skills else None)

# %%
returns = agent.episode_returns
print(f"{'training' if not run.done else 'finished'}: {agent.steps_done} steps, {len(returns)} episodes, "
      f"mean return of the last 20: {np.mean(returns[-20:]) if returns else 0:.1f}")

# %% [markdown]
# ## The same questions on images: MinAtar Breakout
#
# A CNN DQN on 10×10 frames; the map embeds the network's penultimate features, so the skills below are clusters of
# what the network represents, not of raw pixels. (Both runs share the CPU: `run.stop()` ends the CartPole one first
# if it is still training.)

# %%
import minatar.gym

from better_rl_widget.agents.dqn_cnn import CNNDQN

minatar.gym.register_envs()
image_agent = CNNDQN("MinAtar/Breakout-v1", DQNConfig(buffer_size=20_000, learning_starts=min(1_000, STEPS // 3)),
                     seed=0)
image_widget = BufferWidget()
image_hook = TrainingHook(image_widget, image_agent.buffer, q_network=image_agent.q,
                          target_network=image_agent.q_target, double_dqn=True)
image_run = image_hook.run_in_background(
    lambda stop: image_agent.learn(STEPS, callback=image_hook.on_step, stop=stop))
image_panels = image_widget.enable_interpret(image_hook, k=4)
image_widget

# %%
image_hook.flush()
image_table = buffer_table(image_hook)
image_cal = table_calibration(image_table, "q", gamma=image_agent.config.gamma)
print(image_cal)
figures.calibration_figure(image_cal)

# %%
image_skills = table_skills(image_table, k=4)
print(image_skills.scores())
figures.skill_graph_figure(image_skills)

# %%
image_slots, image_rows = hook_batch(image_hook)
image_influence = group_influence(image_agent.q, image_rows, quantile_groups(image_rows["td_error"], 4),
                                  target_network=image_agent.q_target, n_random=3, budget_s=60)
figures.influence_figure(image_influence)
