"""Recorded runs end to end: the reference DQN trained with the live hook and recorded (``better-rl demo``), and
a recorded run rerun from its manifest and compared with the record bit for bit (``better-rl reproduce``).

This layer sits above the widget, the agents and the experiments: it is the only one that drives all of them."""
