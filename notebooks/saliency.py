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
# # What does the agent look at? Saliency on image states, live
#
# A CNN DQN learns MinAtar Breakout (10×10 frames, 4 channels: paddle, ball, trail, bricks). Its replay buffer streams
# into the map as usual. Because the hook has the Q-network, **clicking a point** shows that state's frames in the
# inspector with saliency maps drawn over them: perturbation saliency (Greydanus et al. 2018; actor in red: what
# changes the action values, critic in blue: what changes the state value), or Captum's gradient maps (method menu,
# opacity slider). Maps are computed in a background thread on a copy of the network taken at the click, so training
# goes on.
#
# Below the map, the **influential states** list shows the 20 states with the largest |TD-error|, each with a
# thumbnail of its frame (one colour per MinAtar channel). `thumbnails=True` (or the list's *saliency* toggle)
# overlays the actor/critic maps on the thumbnails too, recomputed in the background when the list changes: 5–10 ms
# per row for these 10×10 frames, cheap enough to leave on here (84×84 Atari frames cost ~0.3 s per row on a CPU, so
# it is off by default).

# %%
import os

import minatar.gym

from better_rl_widget import BufferWidget, TrainingHook
from better_rl_widget.agents.dqn import DQNConfig
from better_rl_widget.agents.dqn_cnn import CNNDQN

minatar.gym.register_envs()  # registers MinAtar/Breakout-v1 and friends with gymnasium
STEPS = int(os.environ.get("BRW_NOTEBOOK_STEPS", "30000"))

agent = CNNDQN("MinAtar/Breakout-v1", DQNConfig(buffer_size=20_000, learning_starts=1_000), seed=0)
widget = BufferWidget()
hook = TrainingHook(widget, agent.buffer, q_network=agent.q, target_network=agent.q_target)
widget.enable_saliency(agent.q, thumbnails=True)  # saliency on the influential list's thumbnails too
run = hook.run_in_background(lambda stop: agent.learn(STEPS, callback=hook.on_step, stop=stop))
widget

# %% [markdown]
# The same maps from Python, for the state with the largest TD-error so far (the one the agent is most wrong about).
# Re-run the cell as training goes on.

# %%
import numpy as np
import plotly.express as px

from better_rl_widget.analysis.saliency import actor_critic_maps, scaled_defaults

hook.flush()  # everything stored so far is on the map
table = widget.table()  # one row per point on the map
td = table["td_error"].abs() if "td_error" in table else None
row = table.loc[td.idxmax()] if td is not None and td.notna().any() else table.iloc[-1]
info, obs = hook.worker.mirror.inspect(int(row["point"]))  # the hook's copy is keyed by map point
r, d = scaled_defaults(*obs.shape[:2])  # the paper's r = d = 5 are for 84x84 frames
maps = actor_critic_maps(agent.q, obs, r=r, d=d, layout="HWC")
print(f"slot {int(row['slot'])}, step {info['step']}, action {info['action']}, reward {info['reward']}")
px.imshow(np.stack([obs.max(axis=-1).astype(float), maps["actor"], maps["critic"]]), facet_col=0,
          color_continuous_scale="magma", title="frame (all channels) · actor map · critic map")

# %%
from better_rl_widget.frames.codec import decode

returns = agent.episode_returns
if widget.thumbnails:  # what the influential list shows now
    meta, thumbs = decode(widget.thumbnails)
    print(f"influential list: {len(thumbs['slots'])} thumbnails of {meta['size'][0]}x{meta['size'][1]} px, "
          f"{int(thumbs['has_saliency'].sum()) if 'has_saliency' in thumbs else 0} with saliency maps")
print(f"{'training' if not run.done else 'finished'}: {agent.steps_done} steps, {len(returns)} episodes, "
      f"mean return of the last 20: {np.mean(returns[-20:]) if returns else 0:.2f}")
