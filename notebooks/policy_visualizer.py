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
# for the same seeded episodes and shows returns (mean ± 95% CI), episode lengths, actions, value estimates against
# realised returns, and **one aligned t-SNE of state-action pairs across all checkpoints** (fit on a pooled sample,
# the rest placed into it, so a position means the same thing for every checkpoint; use the slider or ▶ to walk
# through training).

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

visualizer = PolicyVisualizer(checkpoint_path=ckpt_dir, env_name="CartPole-v1", agent_class=DQN, episodes=5)
figures = visualizer.plot_all()

# %% [markdown]
# The same map coloured by the action taken, and the numbers behind the return curve:

# %%
visualizer.plot_tsne(color="action")

# %%
visualizer.to_dataframe().groupby("step")[["return", "length"]].agg(["mean", "std", "count"])
