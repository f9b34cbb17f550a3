"""Writes notebooks/sb3.ipynb and notebooks/cleanrl_style.ipynb (the capture adapters) from the cells below.

Run lengths read ``BRW_NOTEBOOK_STEPS`` so tests can execute the notebooks quickly (tests/test_capture_notebooks.py).
"""

from make_notebooks import write
from nbformat.v4 import new_code_cell, new_markdown_cell


SB3 = [
    new_markdown_cell(
        "# Stable-Baselines3: a live replay-buffer map through a callback\n\n"
        "`BetterRLCallback` reads SB3's own replay buffer (shape `(buffer_size, n_envs, ...)`; slot = "
        "`row * n_envs + env`) and, for DQN, computes TD-errors, Q(s,a), V(s) = max Q and penultimate-layer "
        "features from `q_net` / `q_net_target` in a background thread. Colour the map by `td_error`, `value` or "
        "`return`; the histogram and the *influential states* list show the largest TD-errors — click one to "
        "inspect it."),
    new_code_cell(
        "import os\n\n"
        "from stable_baselines3 import DQN\n"
        "from stable_baselines3.common.env_util import make_vec_env\n\n"
        "from better_rl_widget import BufferWidget\n"
        "from better_rl_widget.adapters.sb3 import BetterRLCallback\n\n"
        "STEPS = int(os.environ.get(\"BRW_NOTEBOOK_STEPS\", 20_000))\n"
        "widget = BufferWidget()\n"
        "widget"),
    new_markdown_cell(
        "Two CartPole environments in parallel, with SB3's own defaults — its replay buffer holds a million "
        "transitions. The map draws an even sample of it by insertion age (`max_points`, 1,000 by default; the "
        "status line says \"map: 1,000 of N slots, sampled by age\"), and a cost governor keeps the map within "
        "`cost_budget` (5 %) of the training's CPU: it draws fewer frames rather than slow training down. The gauge "
        "still describes the whole buffer. When `learn()` returns, a final pass settles the map (at most "
        "`settle_s`, 10 s)."),
    new_code_cell(
        "env = make_vec_env(\"CartPole-v1\", n_envs=2, seed=0)\n"
        "model = DQN(\"MlpPolicy\", env, seed=0, device=\"cpu\")\n"
        "model.learn(STEPS, callback=BetterRLCallback(widget))"),
    new_markdown_cell(
        "The state the views draw is in Python too. `widget.selection` and `widget.clicked_slot` name buffer "
        "slots; `widget.clicked` is the point's id on the map."),
    new_code_cell(
        "from better_rl_widget.widget.codec import decode\n\n"
        "meta, rows = decode(widget.keyframe)\n"
        "print(\"points:\", len(rows[\"slots\"]), \"channels:\", sorted(meta[\"channels\"]))\n"
        "print(\"map:\", widget.status[\"map\"], \"gauge:\", widget.gauge)\n"
        "print(\"map cost (share of training CPU):\", widget.status.get(\"cost\"))\n"
        "print(\"largest |TD-error|:\", float(abs(rows[\"td_error\"]).max()))\n"
        "print(\"notes:\", widget.status.get(\"notes\", []))"),
    new_markdown_cell(
        "## SAC and TD3: TD-errors from the twin critics\n\n"
        "For SAC, TD3 and DDPG the callback computes, from a CPU copy of the policy, `q` = min(Q1, Q2)(s, a), "
        "the one-step TD-error against the target critics and `value` = V(s). The numbers are deterministic: "
        "TD3's target uses the target actor without smoothing noise; SAC's uses the actor's mean action with "
        "its log-probability and the current entropy coefficient α (docs/capture.md)."),
    new_code_cell(
        "from stable_baselines3 import SAC\n\n"
        "sac_widget = BufferWidget()\n"
        "sac = SAC(\"MlpPolicy\", \"Pendulum-v1\", buffer_size=5_000, learning_starts=200, seed=0, device=\"cpu\",\n"
        "          policy_kwargs={\"net_arch\": [64, 64]})\n"
        "sac.learn(min(STEPS, 3_000), callback=BetterRLCallback(sac_widget, every=10))\n"
        "meta, rows = decode(sac_widget.keyframe)\n"
        "print(\"SAC channels:\", sorted(meta[\"channels\"]))\n"
        "print(\"SAC largest |TD-error|:\", float(abs(rows[\"td_error\"]).max()))\n"
        "sac_widget"),
]

CLEANRL = [
    new_markdown_cell(
        "# A hand-written (CleanRL-style) loop with prioritized replay\n\n"
        "When the buffer is your own, either give the hook something it can read (here the package's "
        "`PrioritizedReplayBuffer`, whose re-prioritised slots the hook re-reads cheaply), or call "
        "`hook.record(obs, action, reward, next_obs, terminated, truncated)` and let the hook keep a bounded "
        "mirror (last section)."),
    new_code_cell(
        "import os\n\n"
        "import gymnasium as gym\n"
        "import numpy as np\n"
        "import torch\n"
        "from torch import nn\n\n"
        "from better_rl_widget import BufferWidget, TrainingHook\n"
        "from better_rl_widget.capture.prioritized import PrioritizedReplayBuffer\n\n"
        "STEPS = int(os.environ.get(\"BRW_NOTEBOOK_STEPS\", 20_000))\n"
        "torch.manual_seed(0)\n"
        "rng = np.random.default_rng(0)\n"
        "widget = BufferWidget()\n"
        "widget"),
    new_code_cell(
        "env = gym.make(\"CartPole-v1\")\n"
        "q = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))\n"
        "q_target = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2))\n"
        "q_target.load_state_dict(q.state_dict())\n"
        "opt = torch.optim.Adam(q.parameters(), lr=5e-4)\n"
        "rb = PrioritizedReplayBuffer(5_000, alpha=0.6, beta=0.4, seed=0)\n"
        "hook = TrainingHook(widget, rb, q_network=q, target_network=q_target, n_actions=2, every=10)\n\n"
        "obs, _ = env.reset(seed=0)\n"
        "for t in range(STEPS):\n"
        "    eps = max(0.05, 1 - t / (0.3 * STEPS))\n"
        "    with torch.no_grad():\n"
        "        a = int(rng.integers(2)) if rng.random() < eps else int(q(torch.as_tensor(obs)).argmax())\n"
        "    nxt, r, term, trunc, _ = env.step(a)\n"
        "    rb.add(obs, a, r, nxt, term, trunc)\n"
        "    obs = env.reset()[0] if (term or trunc) else nxt\n"
        "    if t > 200:\n"
        "        b = rb.sample(64)\n"
        "        s, s2 = torch.as_tensor(b[\"obs\"]), torch.as_tensor(b[\"next_obs\"])\n"
        "        with torch.no_grad():\n"
        "            y = torch.as_tensor(b[\"reward\"]) + 0.99 * (1 - torch.as_tensor(b[\"terminated\"], dtype=torch.float32)) * q_target(s2).max(1).values\n"
        "        qa = q(s).gather(1, torch.as_tensor(b[\"action\"]).long()[:, None])[:, 0]\n"
        "        loss = (torch.as_tensor(b[\"weights\"]) * (qa - y) ** 2).mean()\n"
        "        opt.zero_grad(); loss.backward(); opt.step()\n"
        "        rb.update_priorities(b[\"indices\"], (y - qa).detach().numpy())\n"
        "    if t % 500 == 0:\n"
        "        q_target.load_state_dict(q.state_dict())\n"
        "    hook.on_step()\n"
        "hook.close()"),
    new_code_cell(
        "from better_rl_widget.widget.codec import decode\n\n"
        "meta, rows = decode(widget.keyframe)\n"
        "print(\"channels:\", sorted(meta[\"channels\"]))\n"
        "print(\"priority range:\", float(rows[\"priority\"].min()), float(rows[\"priority\"].max()))"),
    new_markdown_cell(
        "## `hook.record` when the buffer stays yours\n\n"
        "The hook keeps a bounded mirror (here 2,000 transitions). Dict observations are flattened with "
        "`gymnasium.spaces.flatten` (a note in the status line says so)."),
    new_code_cell(
        "widget2 = BufferWidget()\n"
        "hook2 = TrainingHook.for_loop(widget2, 2_000, every=10)\n"
        "obs, _ = env.reset(seed=1)\n"
        "for t in range(min(STEPS, 3_000)):\n"
        "    a = int(rng.integers(2))\n"
        "    nxt, r, term, trunc, _ = env.step(a)\n"
        "    hook2.record(obs, a, r, nxt, term, trunc)\n"
        "    obs = env.reset()[0] if (term or trunc) else nxt\n"
        "hook2.close()\n"
        "widget2"),
]




if __name__ == "__main__":
    write("sb3.ipynb", SB3)
    write("cleanrl_style.ipynb", CLEANRL)
