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
# # Continual RL: forgetting, transfer and plasticity
#
# A lifelong run trains an agent on a sequence of tasks. Here: three grid worlds that differ only in where the goal
# is. After every episode the greedy policy is scored *exactly* on every task (policy evaluation on the model,
# rescaled so random = 0 and optimal = 1), which gives Continual World's metrics: average performance, forgetting and
# forward transfer.

# %%
from better_rl_widget.agents.tabular import QLearning
from better_rl_widget.analysis import continual_metrics, performance_matrix
from better_rl_widget.envs import GridWorld
from better_rl_widget.experiments import MDPDistribution, run_agents_lifelong

tasks = MDPDistribution([GridWorld(width=5, height=5, start=(2, 2), goals=[g]) for g in [(4, 4), (0, 4), (4, 0)]])
common = {"sequence": [0, 1, 2], "episodes": 30, "steps": 40, "instances": 5, "seed": 0, "eval_gamma": 0.95}
keep = run_agents_lifelong([QLearning(alpha=0.5, gamma=0.95, epsilon=0.2)], tasks, reset="keep", **common)
scratch = run_agents_lifelong([QLearning(alpha=0.5, gamma=0.95, epsilon=0.2)], tasks, reset="task", **common)
keep.figure()

# %% [markdown]
# Performance on every task over the run; dotted lines are task switches:

# %%
from better_rl_widget.experiments import performance_figure

performance_figure(keep.performance, "Q-learning", keep.task_boundaries())

# %%
perf, sequence, starts = performance_matrix(keep, "Q-learning")
reference, _, _ = performance_matrix(scratch, "Q-learning")   # same tasks, each learned from scratch
m = continual_metrics(perf, sequence, starts, reference=reference)
print(f"average performance {m.average_performance:.2f}, mean forgetting {m.mean_forgetting:.2f}, "
      f"mean forward transfer {m.mean_forward_transfer:.2f}")
m.table()

# %% [markdown]
# ## Plasticity of a deep network across task switches
#
# A small MLP regresses a new random target function per task. `PlasticityTracker` records, on a fixed probe batch,
# the fraction of dormant ReLU units (Sokar et al. 2023) and the effective rank of each layer's features (Roy &
# Vetterli 2007); `ContinualWidget` shows them live with task switches marked.

# %%
import torch

from better_rl_widget.analysis import PlasticityTracker
from better_rl_widget.widget.continual_widget import ContinualWidget

panel = ContinualWidget()
tracker = PlasticityTracker(tau=0.0, on_record=panel.push)
panel

# %%
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                          torch.nn.Linear(64, 1))
opt = torch.optim.Adam(net.parameters(), lr=3e-3)
probe = torch.randn(256, 8)
step = 0
for _task in range(3):
    tracker.task_switch(step)
    panel.task_switch(step)
    target = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))
    for _ in range(120):
        x = torch.randn(64, 8)
        loss = ((net(x) - 10 * target(x).detach()) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 10 == 0:
            tracker.record(step, net, probe)
tracker.figure()
