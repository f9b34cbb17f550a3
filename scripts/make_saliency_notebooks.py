"""Writes notebooks/saliency.ipynb: a CNN DQN learning MinAtar Breakout, with saliency maps in the inspector.

The run length reads ``BRW_NOTEBOOK_STEPS`` so the test suite can execute it quickly (tests/test_saliency.py).
"""

from make_notebooks import write
from nbformat.v4 import new_code_cell, new_markdown_cell

CELLS = [
    new_markdown_cell(
        "# What does the agent look at? Saliency on image states, live\n\n"
        "A CNN DQN learns MinAtar Breakout (10×10 frames, 4 channels: paddle, ball, trail, bricks). Its replay "
        "buffer streams into the map as usual. Because the hook has the Q-network, **clicking a point** shows that "
        "state's frames in the inspector with saliency maps drawn over them: perturbation saliency (Greydanus et "
        "al. 2018; actor in red: what changes the action values, critic in blue: what changes the state value), "
        "or Captum's gradient maps (method menu, opacity slider). Maps are computed in a background thread on a "
        "copy of the network taken at the click, so training goes on.\n\n"
        "Below the map, the **influential states** list shows the 20 states with the largest |TD-error|, each with a "
        "thumbnail of its frame (one colour per MinAtar channel). `thumbnails=True` (or the list's *saliency* "
        "toggle) overlays the actor/critic maps on the thumbnails too, recomputed in the background when the list "
        "changes: 5–10 ms per row for these 10×10 frames, cheap enough to leave on here (84×84 Atari frames "
        "cost ~0.3 s per row on a CPU, so it is off by default)."),
    new_code_cell(
        "import os\n"
        "import minatar.gym\n"
        "from better_rl_widget import BufferWidget, TrainingHook\n"
        "from better_rl_widget.agents.dqn import DQNConfig\n"
        "from better_rl_widget.agents.dqn_cnn import CNNDQN\n\n"
        "minatar.gym.register_envs()  # registers MinAtar/Breakout-v1 and friends with gymnasium\n"
        "STEPS = int(os.environ.get(\"BRW_NOTEBOOK_STEPS\", 30_000))\n\n"
        "agent = CNNDQN(\"MinAtar/Breakout-v1\", DQNConfig(buffer_size=20_000, learning_starts=1_000), seed=0)\n"
        "widget = BufferWidget()\n"
        "hook = TrainingHook(widget, agent.buffer, q_network=agent.q, target_network=agent.q_target)\n"
        "widget.enable_saliency(agent.q, thumbnails=True)  # saliency on the influential list's thumbnails too\n"
        "run = hook.run_in_background(lambda stop: agent.learn(STEPS, callback=hook.on_step, stop=stop))\n"
        "widget"),
    new_markdown_cell(
        "The same maps from Python, for the state with the largest TD-error so far (the one the agent is most wrong "
        "about). Re-run the cell as training goes on."),
    new_code_cell(
        "import numpy as np\n"
        "import plotly.express as px\n"
        "from better_rl_widget.analysis.saliency import actor_critic_maps, scaled_defaults\n"
        "\n"
        "hook.flush()  # everything stored so far is on the map\n"
        "slots = widget.frame_state.present_slots()\n"
        "td = widget.frame_state.column(\"td_error\", slots)\n"
        "slot = int(slots[np.nanargmax(np.abs(td))]) if np.isfinite(td).any() else int(slots[-1])\n"
        "info, obs = hook.worker.mirror.inspect(slot)\n"
        "r, d = scaled_defaults(*obs.shape[:2])  # the paper's r = d = 5 are for 84x84 frames\n"
        "maps = actor_critic_maps(agent.q, obs, r=r, d=d, layout=\"HWC\")\n"
        "print(f\"slot {slot}, step {info['step']}, action {info['action']}, reward {info['reward']}\")\n"
        "px.imshow(np.stack([obs.max(axis=-1).astype(float), maps[\"actor\"], maps[\"critic\"]]), facet_col=0,\n"
        "          color_continuous_scale=\"magma\", title=\"frame (all channels) · actor map · critic map\")"),
    new_code_cell(
        "from better_rl_widget.widget.codec import decode\n\n"
        "returns = agent.episode_returns\n"
        "if widget.thumbnails:  # what the influential list shows now\n"
        "    meta, thumbs = decode(widget.thumbnails)\n"
        "    print(f\"influential list: {len(thumbs['slots'])} thumbnails of {meta['size'][0]}x{meta['size'][1]} px, \"\n"
        "          f\"{int(thumbs['has_saliency'].sum()) if 'has_saliency' in thumbs else 0} with saliency maps\")\n"
        "print(f\"{'training' if not run.done else 'finished'}: {agent.steps_done} steps, {len(returns)} episodes, \"\n"
        "      f\"mean return of the last 20: {np.mean(returns[-20:]) if returns else 0:.2f}\")"),
]


if __name__ == "__main__":
    write("saliency.ipynb", CELLS)
