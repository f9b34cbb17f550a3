"""Writes notebooks/policy_visualizer.ipynb."""

from make_notebooks import write
from nbformat.v4 import new_code_cell, new_markdown_cell


CELLS = [
    new_markdown_cell(
        "# PolicyVisualizer: what changed between checkpoints\n\n"
        "Point it at a folder of checkpoints, an environment id and the class that loads them. It rolls out every "
        "checkpoint for the same seeded episodes and shows returns (mean ± 95% CI), episode lengths, actions, "
        "value estimates against realised returns, and **one aligned t-SNE of state-action pairs across all "
        "checkpoints** (fit on a pooled sample, the rest placed into it, so a position means the same thing for "
        "every checkpoint; use the slider or ▶ to walk through training)."),
    new_markdown_cell("First some checkpoints: a reference DQN on CartPole, saved every 1,500 steps."),
    new_code_cell(
        "from pathlib import Path\n"
        "from better_rl_widget.agents.dqn import DQN, DQNConfig\n\n"
        "ckpt_dir = Path(\"runs/cartpole_dqn\")\n"
        "ckpt_dir.mkdir(parents=True, exist_ok=True)\n"
        "agent = DQN(\"CartPole-v1\", DQNConfig(buffer_size=10_000, learning_starts=500), seed=0)\n"
        "for _ in range(3):\n"
        "    agent.learn(1_500)\n"
        "    agent.save(ckpt_dir / f\"dqn_{agent.steps_done}.pt\")\n"
        "sorted(p.name for p in ckpt_dir.iterdir())"),
    new_markdown_cell(
        "The API as documented. Any class with `load(path)` and `predict(obs)` or `act(obs)` works; "
        "Stable-Baselines3 classes as they are, e.g. `agent_class=stable_baselines3.DQN` on a folder written by "
        "`CheckpointCallback` (`rl_model_<steps>_steps.zip`)."),
    new_code_cell(
        "from policy_visualizer import PolicyVisualizer  # also: from better_rl_widget import PolicyVisualizer\n\n"
        "visualizer = PolicyVisualizer(checkpoint_path=ckpt_dir, env_name=\"CartPole-v1\", agent_class=DQN, episodes=5)\n"
        "figures = visualizer.plot_all()"),
    new_markdown_cell("The same map coloured by the action taken, and the numbers behind the return curve:"),
    new_code_cell("visualizer.plot_tsne(color=\"action\")"),
    new_code_cell("visualizer.to_dataframe().groupby(\"step\")[[\"return\", \"length\"]].agg([\"mean\", \"std\", \"count\"])"),
]


if __name__ == "__main__":
    write("policy_visualizer.ipynb", CELLS)
