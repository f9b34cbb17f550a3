"""Writes notebooks/run_records.ipynb (record a run, open it, replay it, reproduce it) from the cells below.

Run lengths read ``BRW_NOTEBOOK_STEPS`` so tests can execute the notebook quickly (tests/test_store_notebook.py).
"""

from make_notebooks import write
from nbformat.v4 import new_code_cell, new_markdown_cell

RUN_RECORDS = [
    new_markdown_cell(
        "# Run records: record, reopen, replay, reproduce\n\n"
        "`TrainingHook(..., record=PATH)` writes the run to a directory while it trains: map snapshots, a sample of "
        "buffer rows, the metrics and events you log, and a manifest (config, every seed, versions, git commit). "
        "It is written off the training thread, in chunks, and survives a crash up to the last completed chunk. "
        "See `docs/store.md`."),
    new_code_cell(
        "import os\n"
        "import shutil\n\n"
        "from better_rl_widget import BufferWidget, TrainingHook, open_run, seed_everything\n"
        "from better_rl_widget.agents.dqn import DQN, DQNConfig\n\n"
        "STEPS = int(os.environ.get(\"BRW_NOTEBOOK_STEPS\", 10_000))\n"
        "shutil.rmtree(\"runs/notebook-dqn\", ignore_errors=True)\n"
        "seed_everything(0)\n"
        "agent = DQN(\"CartPole-v1\", DQNConfig(buffer_size=10_000, learning_starts=min(1_000, STEPS // 4)), seed=0)\n"
        "widget = BufferWidget()\n"
        "hook = TrainingHook(widget, agent.buffer, q_network=agent.q, target_network=agent.q_target,\n"
        "                    record=\"runs/notebook-dqn\")\n"
        "widget"),
    new_markdown_cell(
        "`log=hook.log_metrics` records each episode's return and length and the mean loss every 100 updates; "
        "`hook.log_event` marks moments such as checkpoints or task switches."),
    new_code_cell(
        "agent.learn(STEPS, callback=hook.on_step, log=hook.log_metrics)\n"
        "hook.log_event(\"checkpoint\", note=\"end of training\")\n"
        "hook.close()"),
    new_markdown_cell("Open it again (a local path or any fsspec URL): pandas tables, NumPy arrays, map snapshots."),
    new_code_cell(
        "run = open_run(\"runs/notebook-dqn\")\n"
        "print(run)\n"
        "print(run.summary().to_string(index=False))\n"
        "returns = run.metric(\"episode_return\")\n"
        "print(f\"{len(returns)} episodes, mean return of the last 10: {returns.iloc[-10:].mean():.1f}\")\n"
        "print(\"TD statistics per snapshot:\")\n"
        "run.tables[\"td_stats\"].tail()"),
    new_markdown_cell("The recorded maps back in the widget (clicks answer from the recorded buffer rows):"),
    new_code_cell(
        "snapshots = run.snapshots()\n"
        "print(len(snapshots), \"maps, steps\", snapshots[0].step, \"to\", snapshots[-1].step)\n"
        "BufferWidget.from_run(run)"),
    new_markdown_cell(
        "The manifest says how to rerun it. Runs of the reference agents are rerun and compared array by array, "
        "bit for bit, with `better-rl reproduce RUN` (`better-rl demo` records one)."),
    new_code_cell(
        "{k: run.manifest[k] for k in (\"seeds\", \"versions\", \"git\")}"),
]

if __name__ == "__main__":
    write("run_records.ipynb", RUN_RECORDS)
