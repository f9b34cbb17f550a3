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
# # PolicyVisualizer: what changed between checkpoints
#
# Point it at a folder of checkpoints, an environment id and the class that loads them. It rolls out every checkpoint
# for the same 30 seeded episodes and shows returns (mean ± 95% Student-t interval), episode lengths, actions, value
# estimates against realised returns, and **one aligned t-SNE of state-action pairs across all checkpoints** (fit on
# a pooled sample, the rest placed into it, so a position means the same thing for every checkpoint; use the slider or
# ▶ to walk through training). Checkpoints get one colour and one legend entry each, labelled by training step.

# %% [markdown]
# First some checkpoints: a reference DQN on CartPole, saved every 1,500 steps.

# %%
from pathlib import Path

from better_rl_widget.agents.dqn import DQN, DQNConfig

ckpt_dir = Path("runs/cartpole_dqn")
ckpt_dir.mkdir(parents=True, exist_ok=True)
agent = DQN("CartPole-v1", DQNConfig(buffer_size=10_000, learning_starts=500), seed=0)
for _ in range(3):
    agent.learn(1_500)
    agent.save(ckpt_dir / f"dqn_{agent.steps_done}.pt")
sorted(p.name for p in ckpt_dir.iterdir())

# %% [markdown]
# The API as documented. Any class with `load(path)` and `predict(obs)` or `act(obs)` works; Stable-Baselines3 classes
# as they are, e.g. `agent_class=stable_baselines3.DQN` on a folder written by `CheckpointCallback`
# (`rl_model_<steps>_steps.zip`).

# %%
# also: from better_rl_widget import PolicyVisualizer
from policy_visualizer import PolicyVisualizer

visualizer = PolicyVisualizer(checkpoint_path=ckpt_dir, env_name="CartPole-v1", agent_class=DQN)
figures = visualizer.plot_all()

# %% [markdown]
# Why 30 episodes (the default): the 95% interval of a mean over *n* episodes is ± t(0.975, n−1)/√n standard
# deviations of the episode returns. At 5 episodes that is ±1.24 SD, wider than the spread itself; at 30 it is ±0.37 SD,
# narrow enough to tell checkpoints apart. `episodes=` still sets it (below 10 a warning says how wide the interval is).

# %%
from better_rl_widget.policy.figures import ci95_half_width

{n: round(ci95_half_width(n), 2) for n in (5, 10, 30, 100)}

# %% [markdown]
# The same map coloured by what the agent did and expected. **Action** (one colour per action): where in the map each
# action is taken, and how that changes across checkpoints (slider).

# %%
visualizer.plot_tsne(color_by="action")

# %% [markdown]
# **Return-to-go**: the discounted return actually collected from each state on (with the agent's own γ); states near
# a failure are dark.

# %%
visualizer.plot_tsne(color_by="return_to_go")

# %% [markdown]
# **Value**: what the network predicts there (max Q for DQN, V for actor-critics). Against the return-to-go map it shows
# where the critic is over- or under-confident; `plot_values()` above gives the same comparison point by point.

# %%
visualizer.plot_tsne(color_by="value")

# %% [markdown]
# The numbers behind the return curve:

# %%
visualizer.to_dataframe().groupby("step")[["return", "length"]].agg(["mean", "std", "count"])
