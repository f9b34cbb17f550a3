"""Reference agents (need the ``agents`` extra: torch and gymnasium). Import submodules directly, e.g.
``from better_rl_widget.agents.dqn import DQN``, so the widget itself never imports torch."""
