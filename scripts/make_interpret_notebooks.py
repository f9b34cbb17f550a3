"""Writes notebooks/interpretability.ipynb: the three questions (visitation over time and trajectories, reward
expectation, skills) on a live CartPole DQN run and a MinAtar CNN DQN run.

The run lengths read ``BRW_NOTEBOOK_STEPS`` so the test suite can execute it quickly (tests/test_interpret_notebook.py).
"""

from make_notebooks import write
from nbformat.v4 import new_code_cell, new_markdown_cell

CELLS = [
    new_markdown_cell(
        "# What has the agent learned? Trajectories, influence, reward expectation, skills\n\n"
        "Three questions about a deep-RL agent, asked while it trains:\n\n"
        "1. **How does its state visitation change, across trajectories?** Episodes as paths through the map, "
        "recurring paths, and which groups of states actually move the policy (*influence*).\n"
        "2. **How does it expect reward?** Predicted Q against the discounted return that really followed "
        "(*calibration*), and the value along one episode.\n"
        "3. **What behaviours (skills) has it formed?** Clusters of the map that respect time (after the SAMDP of "
        "Zahavy et al. 2016), the graph of hand-overs between them, and a score to choose their number.\n\n"
        "Every answer is a function in `better_rl_widget.analysis` returning arrays or DataFrames, with a plotly "
        "figure beside it; they read the hook's copy of the buffer, never the training thread's. See "
        "`docs/interpretability.md`."),
    new_code_cell(
        "import os\n"
        "import numpy as np\n"
        "from better_rl_widget import BufferWidget, TrainingHook\n"
        "from better_rl_widget.agents.dqn import DQN, DQNConfig\n\n"
        "STEPS = int(os.environ.get(\"BRW_NOTEBOOK_STEPS\", 30_000))\n"
        "agent = DQN(\"CartPole-v1\", DQNConfig(buffer_size=20_000, learning_starts=min(1_000, STEPS // 3)), seed=0)\n"
        "widget = BufferWidget()\n"
        "# q_network: the worker computes Q, V, TD-errors and the features the map embeds, from a copy of the net\n"
        "hook = TrainingHook(widget, agent.buffer, q_network=agent.q, target_network=agent.q_target, double_dqn=True)\n"
        "run = hook.run_in_background(lambda stop: agent.learn(STEPS, callback=hook.on_step, stop=stop))\n"
        "panels = widget.enable_interpret(hook, k=4, last=3)  # live panels under the map, refreshed every 5 s\n"
        "widget"),
    new_markdown_cell(
        "**The live panels** under the map answer the same questions while training runs, from a background "
        "thread (`widget.enable_interpret`): the newest episodes drawn as paths over the map (colour = time "
        "within the episode; pick *last N* or an episode id), colour by `skill`, `value` or `q` in the "
        "colour-by menu, the **skill graph** (click a skill: its points are selected on the map and in "
        "`widget.selection`), predicted-against-realised **calibration** with its bias, the **value trace** "
        "of the newest finished episode, the **recurring segments** (click one to highlight it) and the "
        "**influence** buttons. The cells below compute the same numbers with the Python API."),
    new_markdown_cell(
        "The analyses below read a snapshot of the buffer: run them while training goes on, and again later to "
        "see what changed. `buffer_table` is one row per point on the map (slot, map position, episode, step in "
        "episode, action, reward, Q, V, TD-error, return-to-go)."),
    new_code_cell(
        "from better_rl_widget.analysis.influence import hook_batch\n"
        "from better_rl_widget.analysis.trajectories import buffer_table\n\n"
        "hook.flush()  # everything stored so far is on the map\n"
        "table = buffer_table(hook)\n"
        "print(f\"{len(table)} transitions, {table['episode'].nunique()} episodes, training step {agent.steps_done}\")\n"
        "table.tail()"),
    new_markdown_cell(
        "## 1. Visitation across trajectories\n\n"
        "Where on the map does training spend its time, and how did that move? Colour by insertion step: early "
        "(dark) transitions from the random policy against late (bright) ones from the learned policy."),
    new_code_cell(
        "import plotly.express as px\n\n"
        "px.scatter(table, x=\"x\", y=\"y\", color=\"step\", color_continuous_scale=\"Viridis\",\n"
        "           title=\"The map coloured by when each transition was stored\").update_traces(marker_size=3)"),
    new_markdown_cell("The newest episodes as paths through the map, coloured by time within the episode:"),
    new_code_cell(
        "from better_rl_widget.analysis import figures\n\n"
        "figures.trajectories_figure(table, last=5)"),
    new_markdown_cell(
        "**(State, action) pairs.** The map above places states. Embedding pairs instead separates what the "
        "agent does where: `\"qhead\"` features are each penultimate unit's contribution to Q(s, a), so pairs "
        "land together when the network values them for the same reasons."),
    new_code_cell(
        "from better_rl_widget.analysis.state_action import state_action_map\n\n"
        "sample = table.sample(min(len(table), 3_000), random_state=0)\n"
        "sa_slots, sa_rows = hook_batch(hook, sample[\"slot\"].to_numpy())\n"
        "sa_xy = state_action_map(agent.q, sa_rows[\"obs\"], sa_rows[\"action\"], how=\"qhead\", per_action=500)\n"
        "px.scatter(x=sa_xy[:, 0], y=sa_xy[:, 1], color=sa_rows[\"action\"].astype(str),\n"
        "           title=\"(state, action) pairs, Q-head features, coloured by action\").update_traces(marker_size=3)"),
    new_markdown_cell(
        "**Recurring segments**: discretise the map into regions (k-means), collapse each episode into the "
        "sequence of regions it passes through, and count the sequences of 3 regions that recur. Each row "
        "carries the slots of every occurrence, to highlight."),
    new_code_cell(
        "from better_rl_widget.analysis.trajectories import map_regions, recurring_segments\n\n"
        "regions, centres = map_regions(table[[\"x\", \"y\"]].to_numpy(), n_regions=12)\n"
        "segments = recurring_segments(table, regions, length=3)\n"
        "display(segments[[\"segment\", \"count\", \"n_episodes\"]].head(8))\n"
        "figures.segments_figure(table, segments, top=3)"),
    new_markdown_cell(
        "### Which states move the policy?\n\n"
        "Group the buffer by TD-error quartile. For each group, a copy of the Q-network takes 10 TD steps on "
        "that group only; we count how many greedy actions flip and how far Q moves on a fixed probe sample of "
        "the buffer, against random groups of the same size (mean ± spread of 5). Runs within a time budget, on "
        "copies: training is not touched. **Lasso a group in the map** above before running the cell to add "
        "your selection as a group."),
    new_code_cell(
        "from better_rl_widget.analysis.influence import group_influence, hook_batch, quantile_groups\n\n"
        "slots, rows = hook_batch(hook)\n"
        "groups = quantile_groups(rows[\"td_error\"], 4)  # TD-errors of these very rows\n"
        "picked = np.flatnonzero(np.isin(slots, widget.selection))\n"
        "if len(picked):\n"
        "    groups[\"your selection\"] = picked\n"
        "influence = group_influence(agent.q, rows, groups, target_network=agent.q_target, steps=10, lr=1e-3,\n"
        "                            n_random=5, budget_s=60, progress=True)\n"
        "display(influence[[\"group\", \"size\", \"flipped\", \"flipped_random\", \"dq\", \"dq_random\", \"dq_z\"]])\n"
        "figures.influence_figure(influence)"),
    new_markdown_cell(
        "`dq_z` says how many random-group standard deviations a group's |ΔQ| lies above chance. Groups far "
        "above zero shape the next updates more than their size explains; `flipped` against `flipped_random` "
        "says whether that reaches the greedy actions."),
    new_markdown_cell(
        "## 2. Reward expectation\n\n"
        "Q of the action taken against the discounted return that actually followed it, for every transition "
        "of a finished episode. On the identity line the agent expects what it gets; the bias is the mean "
        "over-estimation (DQN's max operator is known to push it up; Double DQN less so)."),
    new_code_cell(
        "from better_rl_widget.analysis.calibration import table_calibration, value_trace\n\n"
        "cal = table_calibration(table, \"q\", gamma=agent.config.gamma)\n"
        "print(cal)\n"
        "figures.calibration_figure(cal)"),
    new_markdown_cell("The value along the newest finished episode, with the rewards and the return-to-go:"),
    new_code_cell(
        "finished = table.loc[table[\"done\"] > 0, \"episode\"]\n"
        "episode = int(finished.max())\n"
        "trace = value_trace(table, episode, gamma=agent.config.gamma)\n"
        "figures.value_trace_figure(trace, title=f\"Episode {episode}: V(s), Q(s, a) and the return that followed\")"),
    new_markdown_cell(
        "## 3. Skills\n\n"
        "k-means over-clusters the map, the pieces are merged by a normalised cut of how often the agent steps "
        "between them, and a short mode filter along each episode removes flicker. Compare k first: a good k "
        "keeps the skill graph predictable (low transition entropy) and skills coherent (most steps stay in "
        "their skill) while the skills still explain the map."),
    new_code_cell(
        "from better_rl_widget.analysis.skills import compare_k, skill_timeline, table_skills\n\n"
        "scores = compare_k(table[[\"x\", \"y\"]].to_numpy(), table[\"episode\"].to_numpy(),\n"
        "                   table[\"episode_step\"].to_numpy(), ks=(2, 3, 4, 6, 8))\n"
        "display(scores)\n"
        "figures.compare_k_figure(scores)"),
    new_code_cell(
        "skills = table_skills(table, k=4)\n"
        "print(skills.scores())\n"
        "figures.skills_map_figure(table, skills)"),
    new_code_cell("figures.skill_graph_figure(skills)"),
    new_code_cell("figures.skill_timeline_figure(skill_timeline(table, skills.labels), last=15)"),
    new_markdown_cell(
        "Which skill moves the policy most? The same influence measure, grouped by skill:"),
    new_code_cell(
        "from better_rl_widget.analysis.influence import label_groups\n"
        "from better_rl_widget.analysis.trajectories import labels_for\n\n"
        "# skills were fitted on `table`; rows stored since then (or overwritten) belong to none (-1)\n"
        "by_skill = labels_for(table, skills.labels, slots, rows[\"step\"])\n"
        "figures.influence_figure(group_influence(agent.q, rows, label_groups(by_skill), target_network=agent.q_target,\n"
        "                                         n_random=3, budget_s=60))"),
    new_markdown_cell(
        "The live panels hold the same numbers: the skills they colour the map with and the last influence "
        "result are Python objects too."),
    new_code_cell(
        "panels.refresh()\n"
        "panels.wait(panels.refreshes + 1)\n"
        "print(\"live panels:\", panels.refreshes, \"refreshes; skills\", panels.skills.scores() if panels.skills else None)"),
    new_code_cell(
        "returns = agent.episode_returns\n"
        "print(f\"{'training' if not run.done else 'finished'}: {agent.steps_done} steps, {len(returns)} episodes, \"\n"
        "      f\"mean return of the last 20: {np.mean(returns[-20:]) if returns else 0:.1f}\")"),
    new_markdown_cell(
        "## The same questions on images: MinAtar Breakout\n\n"
        "A CNN DQN on 10×10 frames; the map embeds the network's penultimate features, so the skills below are "
        "clusters of what the network represents, not of raw pixels. (Both runs share the CPU: `run.stop()` ends "
        "the CartPole one first if it is still training.)"),
    new_code_cell(
        "import minatar.gym\n"
        "from better_rl_widget.agents.dqn_cnn import CNNDQN\n\n"
        "minatar.gym.register_envs()\n"
        "image_agent = CNNDQN(\"MinAtar/Breakout-v1\", DQNConfig(buffer_size=20_000, learning_starts=min(1_000, STEPS // 3)),\n"
        "                     seed=0)\n"
        "image_widget = BufferWidget()\n"
        "image_hook = TrainingHook(image_widget, image_agent.buffer, q_network=image_agent.q,\n"
        "                          target_network=image_agent.q_target, double_dqn=True)\n"
        "image_run = image_hook.run_in_background(\n"
        "    lambda stop: image_agent.learn(STEPS, callback=image_hook.on_step, stop=stop))\n"
        "image_panels = image_widget.enable_interpret(image_hook, k=4)\n"
        "image_widget"),
    new_code_cell(
        "image_hook.flush()\n"
        "image_table = buffer_table(image_hook)\n"
        "image_cal = table_calibration(image_table, \"q\", gamma=image_agent.config.gamma)\n"
        "print(image_cal)\n"
        "figures.calibration_figure(image_cal)"),
    new_code_cell(
        "image_skills = table_skills(image_table, k=4)\n"
        "print(image_skills.scores())\n"
        "figures.skill_graph_figure(image_skills)"),
    new_code_cell(
        "image_slots, image_rows = hook_batch(image_hook)\n"
        "image_influence = group_influence(image_agent.q, image_rows, quantile_groups(image_rows[\"td_error\"], 4),\n"
        "                                  target_network=image_agent.q_target, n_random=3, budget_s=60)\n"
        "figures.influence_figure(image_influence)"),
]


if __name__ == "__main__":
    write("interpretability.ipynb", CELLS)
