"""Writes notebooks/classic_mdps.ipynb and notebooks/continual.ipynb from the cell sources below."""

from make_notebooks import write
from nbformat.v4 import new_code_cell, new_markdown_cell


CLASSIC = [
    new_markdown_cell(
        "# Classic MDPs: simple_rl's README example, seeded and batched\n\n"
        "simple_rl's README runs Q-learning, R-Max and a random agent on a 4×3 grid with lava. The same experiment "
        "here: the grid is a gymnasium env with its model (`P[s, a, s']`, `R[s, a]`) exposed, the agents learn all "
        "instances at once as numpy arrays, everything is seeded, and the results are a tidy DataFrame, plotly "
        "figures and a results folder you can `reproduce`. simple_rl's cells are 1-indexed; ours are 0-indexed "
        "`(x, y)` with `y` up, so its `(4, 3)` goal is our `(3, 2)`."),
    new_code_cell(
        "from better_rl_widget.envs import GridWorld\n"
        "from better_rl_widget.agents.tabular import QLearning, RandomAgent\n"
        "from better_rl_widget.agents.rmax import RMax\n"
        "from better_rl_widget.experiments import run_agents_on_mdp, reproduce\n\n"
        "env = GridWorld(width=4, height=3, start=(0, 0), goals=[(3, 2)], lava=[(3, 1)], walls=[(1, 1)], slip=0.05)\n"
        "print(env.render())\n\n"
        "agents = [QLearning(gamma=0.95), RMax(gamma=0.95), RandomAgent()]\n"
        "results = run_agents_on_mdp(agents, env, instances=5, episodes=50, steps=10, seed=0,\n"
        "                            results_dir=\"runs/classic\", track_visits=True)\n"
        "results.df.head()"),
    new_markdown_cell("Mean return per episode with its 95% confidence band (Student t over the 5 instances):"),
    new_code_cell("results.figure()"),
    new_code_cell("results.figure(cumulative=True)"),
    new_markdown_cell(
        "## Planning and views\n\nValue iteration on the exact model gives the optimal values and policy; the "
        "learned Q-table (averaged over instances) can be drawn the same way."),
    new_code_cell(
        "from better_rl_widget.agents.planning import value_iteration\n"
        "from better_rl_widget.experiments import value_heatmap, policy_arrows, visitation_figure\n\n"
        "plan = value_iteration(env.P, env.R, gamma=0.95)\n"
        "value_heatmap(env, plan.V, policy=plan.policy, title=\"optimal values and policy (value iteration)\")"),
    new_code_cell("policy_arrows(env, results.Q[\"Q-learning\"], title=\"Q-learning after 50 episodes\")"),
    new_markdown_cell("Where Q-learning spent its time, in windows of episodes (use the slider):"),
    new_code_cell("visitation_figure(env, results.visits[\"Q-learning\"], windows=5)"),
    new_markdown_cell(
        "## Reproduce\n\n`runs/classic/manifest.json` records the config, the seed, the env and agent "
        "constructor calls and the package versions; `reproduce` reruns it and gets the same numbers."),
    new_code_cell(
        "again = reproduce(\"runs/classic\")\n"
        "assert again.df.equals(results.df)\n"
        "print(open(\"runs/classic/manifest.json\").read()[:600])"),
    new_markdown_cell(
        "## Live view\n\n`GridWorldWidget` shows the value heatmap, greedy arrows and state visitation while an "
        "agent learns; `widget.watch(agent, env)` returns a callback for the runner."),
    new_code_cell(
        "from better_rl_widget.widget.grid_widget import GridWorldWidget\n\n"
        "grid = GridWorldWidget(env)\n"
        "grid"),
    new_code_cell(
        "run_agents_on_mdp([QLearning(gamma=0.95, name=\"Q-learning (live)\")], env, instances=5, episodes=200,\n"
        "                  steps=30, seed=1, track_visits=True, on_episode=grid.watch(every=10), progress=False)\n"
        "grid.episode"),
]

CONTINUAL = [
    new_markdown_cell(
        "# Continual RL: forgetting, transfer and plasticity\n\n"
        "A lifelong run trains an agent on a sequence of tasks. Here: three grid worlds that differ only in where "
        "the goal is. After every episode the greedy policy is scored *exactly* on every task (policy evaluation "
        "on the model, rescaled so random = 0 and optimal = 1), which gives Continual World's metrics: average "
        "performance, forgetting and forward transfer."),
    new_code_cell(
        "from better_rl_widget.envs import GridWorld\n"
        "from better_rl_widget.agents.tabular import QLearning\n"
        "from better_rl_widget.experiments import MDPDistribution, run_agents_lifelong, performance_figure\n"
        "from better_rl_widget.analysis import continual_metrics, performance_matrix\n\n"
        "tasks = MDPDistribution([GridWorld(width=5, height=5, start=(2, 2), goals=[g]) for g in [(4, 4), (0, 4), (4, 0)]])\n"
        "common = dict(sequence=[0, 1, 2], episodes=30, steps=40, instances=5, seed=0, eval_gamma=0.95)\n"
        "keep = run_agents_lifelong([QLearning(alpha=0.5, gamma=0.95, epsilon=0.2)], tasks, reset=\"keep\", **common)\n"
        "scratch = run_agents_lifelong([QLearning(alpha=0.5, gamma=0.95, epsilon=0.2)], tasks, reset=\"task\", **common)\n"
        "keep.figure()"),
    new_markdown_cell("Performance on every task over the run; dotted lines are task switches:"),
    new_code_cell("performance_figure(keep.performance, \"Q-learning\", keep.task_boundaries())"),
    new_code_cell(
        "perf, sequence, starts = performance_matrix(keep, \"Q-learning\")\n"
        "reference, _, _ = performance_matrix(scratch, \"Q-learning\")   # same tasks, each learned from scratch\n"
        "m = continual_metrics(perf, sequence, starts, reference=reference)\n"
        "print(f\"average performance {m.average_performance:.2f}, mean forgetting {m.mean_forgetting:.2f}, \"\n"
        "      f\"mean forward transfer {m.mean_forward_transfer:.2f}\")\n"
        "m.table()"),
    new_markdown_cell(
        "## Plasticity of a deep network across task switches\n\n"
        "A small MLP regresses a new random target function per task. `PlasticityTracker` records, on a fixed "
        "probe batch, the fraction of dormant ReLU units (Sokar et al. 2023) and the effective rank of each "
        "layer's features (Roy & Vetterli 2007); `ContinualWidget` shows them live with task switches marked."),
    new_code_cell(
        "import torch\n"
        "from better_rl_widget.analysis import PlasticityTracker\n"
        "from better_rl_widget.widget.continual_widget import ContinualWidget\n\n"
        "panel = ContinualWidget()\n"
        "tracker = PlasticityTracker(tau=0.0, on_record=panel.push)\n"
        "panel"),
    new_code_cell(
        "torch.manual_seed(0)\n"
        "net = torch.nn.Sequential(torch.nn.Linear(8, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),\n"
        "                          torch.nn.Linear(64, 1))\n"
        "opt = torch.optim.Adam(net.parameters(), lr=3e-3)\n"
        "probe = torch.randn(256, 8)\n"
        "step = 0\n"
        "for task in range(3):\n"
        "    tracker.task_switch(step); panel.task_switch(step)\n"
        "    target = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1))\n"
        "    for _ in range(120):\n"
        "        x = torch.randn(64, 8)\n"
        "        loss = ((net(x) - 10 * target(x).detach()) ** 2).mean()\n"
        "        opt.zero_grad(); loss.backward(); opt.step(); step += 1\n"
        "        if step % 10 == 0:\n"
        "            tracker.record(step, net, probe)\n"
        "tracker.figure()"),
]


def main() -> None:
    for name, cells in (("classic_mdps", CLASSIC), ("continual", CONTINUAL)):
        write(f"{name}.ipynb", cells)
        print(f"wrote notebooks/{name}.ipynb")


if __name__ == "__main__":
    main()
