"""Several Ray workers collect CartPole experience and stream it into one live map; one of them crashes halfway,
which the widget reports while the others go on.

    python examples/ray_collectors.py                  # starts a local Ray cluster, prints what arrived

In a notebook (with ``ray.init(...)`` done, or let it start a local cluster)::

    from better_rl_widget import BufferWidget
    widget = BufferWidget(); display(widget)
    capture = start(widget, workers=4, steps=3000)     # returns at once; the map fills as workers push
    capture.wait(); capture.close()
"""

from __future__ import annotations

import os

import gymnasium as gym
import ray

from better_rl_widget import BufferWidget
from better_rl_widget.remote.capture import RemoteCapture, RemoteRecorder
from better_rl_widget.scale.backend import init_local


@ray.remote
def collect(sink, name: str, steps: int, seed: int, crash_at: int | None = None) -> int:
    """A random CartPole policy: the place for your actor's own policy (e.g. a DQN's epsilon-greedy act)."""
    env = gym.make("CartPole-v1")
    rec = RemoteRecorder(sink, name)  # batches 256 transitions per push
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    for t in range(steps):
        if t == crash_at:
            raise RuntimeError(f"{name} crashed at step {t} (on purpose, to show how it is reported)")
        action = env.action_space.sample()
        nxt, reward, terminated, truncated, _ = env.step(action)
        rec.record(obs, action, reward, nxt, terminated, truncated)
        obs = env.reset()[0] if terminated or truncated else nxt
    rec.close()  # the last partial batch, and wait until the sink has everything
    return steps


def start(widget: BufferWidget, workers: int = 4, steps: int = 3000, crash: bool = True, **kwargs) -> RemoteCapture:
    """Start ``workers`` collector tasks streaming into ``widget``; the last one crashes halfway if ``crash``."""
    capture = RemoteCapture(widget, capacity=workers * steps, **kwargs)
    names = [f"collector-{i}" for i in range(workers)]
    refs = [collect.remote(capture.sink, name, steps, seed=i, crash_at=steps // 2 if crash and i == workers - 1
                           else None) for i, name in enumerate(names)]
    capture.watch(refs, names)
    return capture


if __name__ == "__main__":
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    init_local(log_to_driver=False)  # ray.init on this machine, retried if the node is slow to start
    try:
        widget = BufferWidget()
        capture = start(widget)
        capture.wait()
        capture.close()
        print(f"points drawn: {widget.n_points:,}; finished: {capture.finished}; failed: {capture.failed}")
        print("status notes:", widget.status.get("notes"))
        print("errors:", widget.errors)
    finally:
        ray.shutdown()
