"""``from policy_visualizer import PolicyVisualizer``, as the project's seed documents it."""

from better_rl_widget.policy_visualizer import PolicyVisualizer

__all__ = ["PolicyVisualizer"]
