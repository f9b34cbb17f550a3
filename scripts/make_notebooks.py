"""Writes the example notebooks from the cell sources below (so they stay reviewable as plain Python)."""

import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

# BRW_NOTEBOOKS_DIR lets tests regenerate into a scratch folder and compare with the committed notebooks.
HERE = Path(os.environ.get("BRW_NOTEBOOKS_DIR") or Path(__file__).resolve().parents[1] / "notebooks")

QUICKSTART = [
    new_markdown_cell(
        "# Quickstart: watch a DQN's replay buffer while it trains\n\n"
        "A reference DQN learns `CartPole-v1`. The transitions it stores land in the live map below: each point "
        "is one buffer slot (once the buffer holds more than `max_points`, 1,000 by default, an even sample of it by "
        "insertion age; the status line says how many of how many), placed by a 2-D projection of its observation: "
        "PCA while the buffer holds fewer than "
        "500 transitions, then a live t-SNE (openTSNE) that starts from the PCA picture and keeps evolving as "
        "transitions arrive and are evicted (`projection=\"auto\"`, the default; `\"pca\"` or `\"tsne\"` to "
        "choose). Colour by age, reward, action, episode or done; **click** a point to inspect it, **shift-drag** to lasso a group; scroll to zoom, drag "
        "to pan."),
    new_code_cell(
        "from better_rl_widget import BufferWidget, TrainingHook\n"
        "from better_rl_widget.agents.dqn import DQN, DQNConfig\n\n"
        "widget = BufferWidget()\n"
        "widget"),
    new_markdown_cell(
        "Training runs in a background thread (`hook.run_in_background`), so the notebook stays responsive: clicks "
        "and selections reach Python while the agent learns. `run.stop()` ends it early. The map takes at most "
        "`cost_budget` (5 %) of the training's CPU — measured, and shown in the status line — and draws fewer frames "
        "rather than slow training down; when training ends it settles (at most `settle_s`, 10 s)."),
    new_code_cell(
        "agent = DQN(\"CartPole-v1\", DQNConfig(buffer_size=20_000), seed=0)\n"
        "hook = TrainingHook(widget, agent.buffer, every=10)\n"
        "run = hook.run_in_background(lambda stop: agent.learn(30_000, callback=hook.on_step, stop=stop))"),
    new_markdown_cell("What you clicked and selected is in Python, any time:"),
    new_code_cell(
        "print(\"clicked slot:\", widget.clicked_slot)\n"
        "print(\"selected slots:\", len(widget.selection), widget.selection[:10])\n"
        "print(\"status:\", widget.status)"),
    new_markdown_cell(
        "How is the agent doing? Re-run this cell any time; it does not wait for the run (`run.join()` would "
        "block the kernel, and with it the clicks, until training ends)."),
    new_code_cell(
        "returns = agent.episode_returns\n"
        "last = returns[-10:]\n"
        "print(f\"{'training' if not run.done else 'finished'}: {agent.steps_done} steps, {len(returns)} episodes, \"\n"
        "      f\"mean return of the last 10: {sum(last) / max(1, len(last)):.1f}\")"),
    new_markdown_cell(
        "**Map history.** The widget keeps a snapshot of the map every few seconds (`widget.history`; bounded, "
        "and older snapshots are thinned rather than dropped, so early training stays visible). Drag the slider "
        "under the map to see the map as it was at an earlier training step; **live** returns to the present. "
        "`widget.to_html(path)` writes the history as one self-contained HTML file (map, colour-by, gauge, "
        "scrubber, inspector) that opens offline in any browser; see docs/export.md."),
    new_code_cell(
        "print(widget.history)\n"
        "if widget.n_points:  # re-run after training for the whole run\n"
        "    print(\"wrote\", widget.to_html(\"runs/quickstart_map.html\", title=\"DQN on CartPole-v1\"))"),
]


def write(name: str, cells: list) -> None:
    """Validate and write ``notebooks/<name>``; the other make_*_notebooks.py scripts use this too."""
    HERE.mkdir(parents=True, exist_ok=True)
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"}})
    nbformat.validate(nb)
    nbformat.write(nb, HERE / name)


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    write("quickstart.ipynb", QUICKSTART)
