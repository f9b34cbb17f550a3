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
# # Run records: record, reopen, replay, reproduce
#
# `TrainingHook(..., record=PATH)` writes the run to a directory while it trains: map snapshots, a sample of buffer
# rows, the metrics and events you log, and a manifest (config, every seed, versions, git commit). It is written off
# the training thread, in chunks, and survives a crash up to the last completed chunk. See `docs/store.md`.

# %%
import os
import shutil

from better_rl_widget import BufferWidget, TrainingHook, open_run, seed_everything
from better_rl_widget.agents.dqn import DQN, DQNConfig

STEPS = int(os.environ.get("BRW_NOTEBOOK_STEPS", "10000"))
shutil.rmtree("runs/notebook-dqn", ignore_errors=True)
seed_everything(0)
agent = DQN("CartPole-v1", DQNConfig(buffer_size=10_000, learning_starts=min(1_000, STEPS // 4)), seed=0)
widget = BufferWidget()
hook = TrainingHook(widget, agent.buffer, q_network=agent.q, target_network=agent.q_target,
                    record="runs/notebook-dqn")
widget

# %% [markdown]
# `log=hook.log_metrics` records each episode's return and length and the mean loss every 100 updates;
# `hook.log_event` marks moments such as checkpoints or task switches.

# %%
agent.learn(STEPS, callback=hook.on_step, log=hook.log_metrics)
hook.log_event("checkpoint", note="end of training")
hook.close()

# %% [markdown]
# Open it again (a local path or any fsspec URL): pandas tables, NumPy arrays, map snapshots.

# %%
run = open_run("runs/notebook-dqn")
print(run)
print(run.summary().to_string(index=False))
returns = run.metric("episode_return")
print(f"{len(returns)} episodes, mean return of the last 10: {returns.iloc[-10:].mean():.1f}")
print("TD statistics per snapshot:")
run.tables["td_stats"].tail()

# %% [markdown]
# The recorded maps back in the widget (clicks answer from the recorded buffer rows):

# %%
snapshots = run.snapshots()
print(len(snapshots), "maps, steps", snapshots[0].step, "to", snapshots[-1].step)
BufferWidget.from_run(run)

# %% [markdown]
# The manifest says how to rerun it. Runs of the reference agents are rerun and compared array by array, bit for bit,
# with `better-rl reproduce RUN` (`better-rl demo` records one).

# %%
{k: run.manifest[k] for k in ("seeds", "versions", "git")}
