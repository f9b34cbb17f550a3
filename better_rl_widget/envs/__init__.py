"""Classic tabular MDPs as gymnasium environments, each exposing its model (``P[s, a, s']``, ``R[s, a]``).

Importing this package registers the ids below, e.g. ``gymnasium.make("better_rl_widget/GridWorld-v0")``.
"""

import gymnasium as gym

from .classic import Bandit, Chain, ComboLock, RandomMDP, TabularTaxi
from .gridworld import FOUR_ROOMS, GridWorld, four_rooms
from .tabular import TabularEnv

_IDS = {
    "GridWorld-v0": ("better_rl_widget.envs.gridworld:GridWorld", 200),
    "FourRooms-v0": ("better_rl_widget.envs.gridworld:four_rooms", 500),
    "Chain-v0": ("better_rl_widget.envs.classic:Chain", 200),
    "RandomMDP-v0": ("better_rl_widget.envs.classic:RandomMDP", 200),
    "Bandit-v0": ("better_rl_widget.envs.classic:Bandit", 1),
    "ComboLock-v0": ("better_rl_widget.envs.classic:ComboLock", 100),
    "Taxi-v0": ("better_rl_widget.envs.classic:TabularTaxi", 200),
}
ENV_IDS = tuple(f"better_rl_widget/{name}" for name in _IDS)

for _name, (_entry, _steps) in _IDS.items():
    if f"better_rl_widget/{_name}" not in gym.registry:
        gym.register(id=f"better_rl_widget/{_name}", entry_point=_entry, max_episode_steps=_steps,
                     disable_env_checker=True)

__all__ = ["ENV_IDS", "FOUR_ROOMS", "Bandit", "Chain", "ComboLock", "GridWorld", "RandomMDP", "TabularEnv",
           "TabularTaxi", "four_rooms"]
