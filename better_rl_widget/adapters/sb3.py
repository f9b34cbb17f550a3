"""Stable-Baselines3: ``BetterRLCallback(widget)`` streams ``model.replay_buffer`` into a :class:`BufferWidget`.

SB3 buffers are arrays of shape ``(buffer_size, n_envs, ...)`` written one row (all envs) per step at ``pos``.
Slot id = ``row · n_envs + env``, so insertion ``t·n_envs + e`` lives in slot ``(t·n_envs + e) mod capacity``
with ``capacity = buffer_size · n_envs``: the hook's ring arithmetic holds and parallel envs stay separate.
SB3 has no prioritized replay: TD-errors, Q and V come from the hook (DQN: ``q_net`` / ``q_net_target``;
SAC, TD3, DDPG: the twin critics, see ``capture/critic_estimator.py``).
``_on_step`` runs before the step's transition is stored, so the callback counts rows from ``pos``/``full``.

Replay counts: SB3's ``sample`` does not return the indices it drew, so the adapter wraps ``_get_samples(batch_inds,
env)`` on this buffer instance (it receives the rows; with several envs it draws the env of each row from numpy's
global RNG first thing, which the wrapper replays from the RNG state it saw). Rows written since the last sample
start again at 0 replays: the wrapper (and ``sync``, before the hook reads counts) resets the rows between the last
write position it saw and ``pos`` — once per training batch rather than a wrapped ``add`` per environment step,
which cost SB3's ~2,300 steps/s a few per cent. ``detach()`` restores ``_get_samples``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Literal, cast

import numpy as np
from stable_baselines3.common.buffers import ReplayBuffer as SB3ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback

from ..capture.hook import TrainingHook
from ..capture.options import LiveOptions, resolve_options
from ..capture.replay_counts import ReplayCounter
from ..widget.buffer_widget import BufferWidget
from ._episodes import EpisodeTracker


class SB3BufferSource:
    """Reads an SB3 ``ReplayBuffer`` in place; call :meth:`sync` before reading (cost ∝ rows written since)."""

    def __init__(self, rb: Any) -> None:
        if not isinstance(rb, SB3ReplayBuffer) or not isinstance(getattr(rb, "observations", None), np.ndarray):
            raise TypeError(f"expected a stable_baselines3 ReplayBuffer with array observations of shape "
                            f"(buffer_size, n_envs, *obs_shape); got {type(rb).__name__} (Dict observation buffers "
                            "are not supported yet)")
        obs = rb.observations
        if obs.shape[:2] != (rb.buffer_size, rb.n_envs):
            raise ValueError(f"SB3 buffer layout: expected observations of shape ({rb.buffer_size}, {rb.n_envs}, "
                             f"...), got {obs.shape}")
        self.rb = rb
        self.n_envs = int(rb.n_envs)
        self.capacity = int(rb.buffer_size) * self.n_envs
        self.has_next_obs = not bool(getattr(rb, "optimize_memory_usage", False))
        self.note = "" if self.has_next_obs else ("SB3 optimize_memory_usage=True stores no next observations: "
                                                  "TD-errors are off, Q and V are shown")
        self.tracker = EpisodeTracker(self.capacity, self.n_envs)
        self._pos = 0
        self._rows = 0
        self._count_pos = int(rb.pos)  # rows before it were written before counting began
        self.replay_counts: ReplayCounter | None = ReplayCounter(self.capacity)
        self._count_replays()
        self.sync()

    def _count_replays(self) -> None:
        rb, n, counter = self.rb, self.n_envs, self.replay_counts
        assert counter is not None
        self.detach()  # a second source for the same buffer (another learn() call): one layer of wrappers
        get_samples = rb._get_samples
        rng = np.random.RandomState() if n > 1 else None  # replays the env draw of _get_samples

        def counting_get_samples(batch_inds: np.ndarray, env: Any = None) -> Any:
            state: Any = np.random.get_state() if rng is not None else None  # noqa: NPY002 - SB3 draws from it
            out = get_samples(batch_inds, env=env)
            try:
                self._reset_written()
                rows = np.asarray(batch_inds, np.int64).ravel()
                if rng is not None:
                    rng.set_state(state)
                    rows = rows * n + rng.randint(0, high=n, size=(len(rows),))
                counter.sampled(rows)
            except Exception as exc:  # noqa: BLE001 - counting must never break SB3's training step
                self._count_failed(exc)
            return out

        counting_get_samples.__dict__["_better_rl_widget"] = True
        setattr(rb, "_get_samples", counting_get_samples)  # noqa: B010 - on the instance, not the class

    def _reset_written(self) -> None:
        """Rows written since the last call hold new transitions: their counts start again at 0 (SB3 writes
        whole rows of all envs at ``pos``; like ``sync``, this assumes fewer than ``buffer_size`` rows between
        calls — the callback syncs at least every half buffer)."""
        counter, pos, last = self.replay_counts, int(self.rb.pos), self._count_pos
        if counter is None or pos == last:
            return
        n = self.n_envs
        if pos > last:
            counter.written_range(last * n, pos * n)
        else:  # wrapped around the ring
            counter.written_range(last * n, self.capacity)
            counter.written_range(0, pos * n)
        self._count_pos = pos

    def _count_failed(self, exc: Exception) -> None:
        self.replay_counts = None  # the hook stops streaming counts; the note says why
        self.detach()
        self.note = f"replay counts off: counting SB3's samples failed ({type(exc).__name__}: {exc})"
        logging.getLogger(__name__).warning("better_rl_widget: %s", self.note)

    def detach(self) -> None:
        """Restore the buffer's own ``_get_samples`` (only this package's wrapper is removed)."""
        fn = self.rb.__dict__.get("_get_samples")
        if fn is not None and getattr(fn, "_better_rl_widget", False):
            del self.rb.__dict__["_get_samples"]

    @property
    def total_inserted(self) -> int:
        return self._rows * self.n_envs

    def sync(self) -> None:
        rb, bs = self.rb, self.rb.buffer_size
        target = rb.pos + (bs if rb.full else 0) if self._rows == 0 else None
        new = (rb.pos - self._pos) % bs if target is None else target
        self._reset_written()
        if new == 0 and target is None:
            return
        envs = np.arange(self.n_envs)
        rows = (self._pos + np.arange(new)) % bs  # in write order; each row holds one transition per env
        self.tracker.written((rows[:, None] * self.n_envs + envs).ravel(), rb.dones[rows].ravel(), np.tile(envs, new))
        self._pos = rb.pos
        self._rows += new

    def read(self, slots: np.ndarray, fields: Any = None) -> dict[str, np.ndarray]:
        slots = np.asarray(slots, np.int64)
        row, env = slots // self.n_envs, slots % self.n_envs
        rb = self.rb
        out: dict[str, np.ndarray] = {}
        timeouts = rb.timeouts[row, env].astype(bool) if getattr(rb, "handle_timeout_termination", False) \
            else np.zeros(len(slots), bool)
        dones = rb.dones[row, env].astype(bool)
        for name in fields or ("obs", "next_obs", "action", "reward", "terminated", "truncated"):
            if name == "obs":
                out[name] = rb.observations[row, env]
            elif name == "next_obs":
                if rb.next_observations is None:
                    raise ValueError("next_obs requested but the SB3 buffer stores none (optimize_memory_usage)")
                out[name] = rb.next_observations[row, env]
            elif name == "action":
                a = rb.actions[row, env]
                out[name] = a[:, 0] if a.ndim == 2 and a.shape[1] == 1 else a
            elif name == "reward":
                out[name] = rb.rewards[row, env].astype(np.float32)
            elif name == "terminated":
                out[name] = dones & ~timeouts
            elif name == "truncated":
                out[name] = dones & timeouts
            elif name in ("step", "episode", "episode_step"):
                out[name] = self.tracker.read(slots, name)
        return out


class BetterRLCallback(BaseCallback):
    """Live widget for an SB3 off-policy model: ``model.learn(n, callback=BetterRLCallback(widget))``.

    DQN: TD-errors, Q, V and penultimate features from ``q_net``/``q_net_target``; SAC, TD3, DDPG: from the
    twin critics and the actor (:class:`~better_rl_widget.capture.critic_estimator.CriticEstimator`), all
    computed off the training thread. ``hook_kwargs`` go to :class:`TrainingHook` (``options=LiveOptions(...)``,
    or ``every``, ``projection``, ``max_fps``, ...); gamma and n_actions default to the model's.
    Problems are shown in the widget; nothing raises inside ``model.learn()``.
    """

    def __init__(self, widget: BufferWidget, *, td_errors: bool = True, verbose: int = 0, **hook_kwargs: Any) -> None:
        super().__init__(verbose)
        self.widget = widget
        self.td_errors = td_errors
        self.hook_kwargs = hook_kwargs
        self.hook: TrainingHook | None = None
        self.source: SB3BufferSource | None = None
        worker = hook_kwargs.get("worker", getattr(hook_kwargs.get("options"), "worker", "auto"))
        if td_errors and worker != "thread":
            # The hook is built inside learn(): boot its worker process now, so its imports (seconds of CPU)
            # are not spent while the model trains.
            from ..capture.engine_process import prestart

            prestart()

    def _init_callback(self) -> None:
        rb = getattr(self.model, "replay_buffer", None)
        if rb is None:
            self.widget.report_error(f"BetterRLCallback: expected an off-policy model with a stable_baselines3 "
                                     f"ReplayBuffer (DQN, SAC, TD3, DDPG); {type(self.model).__name__} has none. "
                                     "Training goes on without the live map.")
            return
        try:
            self.source = SB3BufferSource(rb)
        except Exception as exc:  # noqa: BLE001 - shown, never raised into learn()
            self.widget.report_error(f"BetterRLCallback: {exc}")
            return
        kw = dict(self.hook_kwargs)
        given = set(kw)
        try:  # one LiveOptions from options= and the option keywords; the rest (networks, record) stays in kw
            options = resolve_options(kw.pop("options", None),
                                      {k: kw.pop(k) for k in list(kw) if k in LiveOptions.names()})
        except (TypeError, ValueError) as exc:
            from ..capture.engine_process import discard_spare

            discard_spare()
            self.widget.report_error(f"BetterRLCallback: could not start the hook: {exc}")
            return
        q_net = getattr(self.model, "q_net", None)
        kind = _actor_critic_kind(self.model)
        vec_normalize = getattr(self.model, "_vec_normalize_env", None)
        if self.td_errors and q_net is not None:
            import gymnasium as gym

            space = self.model.action_space
            kw.setdefault("q_network", q_net)
            kw.setdefault("target_network", getattr(self.model, "q_net_target", None))
            # every SB3 algorithm has gamma, though BaseAlgorithm (SB3's type for self.model) does not declare it
            options = _model_default(options, given, "gamma", float(cast(Any, self.model).gamma))
            if isinstance(space, gym.spaces.Discrete):
                options = _model_default(options, given, "n_actions", int(space.n))
            if vec_normalize is not None and "estimator" not in kw:
                from ..capture.estimator import TDEstimator

                q_network = kw.pop("q_network")
                try:
                    est = TDEstimator.from_options(q_network, kw.pop("target_network"), options)
                    # No inspector saliency here: it would perturb raw frames the network never sees.
                    kw["estimator"] = VecNormalized(est, vec_normalize)
                except Exception as exc:  # noqa: BLE001 - shown; the buffer is still streamed
                    self.widget.add_note(f"TD-errors off: {exc}")
        elif self.td_errors and kind is not None and "q_network" not in kw and "estimator" not in kw:
            try:
                est = _critic_estimator(self.model, kind, options.snapshot_every_s)
                kw["estimator"] = est if vec_normalize is None else VecNormalized(est, vec_normalize)
            except Exception as exc:  # noqa: BLE001 - shown; the buffer is still streamed
                self.widget.add_note(f"TD-errors off: {exc}")
        try:
            self.hook = TrainingHook(self.widget, self.source, options=options, **kw)
        except Exception as exc:  # noqa: BLE001 - shown, never raised into learn()
            self.widget.report_error(f"BetterRLCallback: could not start the hook: {exc}")
            return
        finally:
            from ..capture.engine_process import discard_spare

            discard_spare()  # a worker process booted for a hook that turned out not to need one
        if self.td_errors and q_net is None and kind is None:
            self.widget.add_note(f"{type(self.model).__name__}: TD-errors are computed for DQN, SAC, TD3 and DDPG; "
                                 "the buffer is streamed without them")
        if self.td_errors and type(rb).__name__ == "NStepReplayBuffer":
            self.widget.add_note("TD-errors are one-step; this model trains on n-step returns")

    def _on_step(self) -> bool:
        hook, source = self.hook, self.source
        if hook is not None and source is not None:
            # Read the buffer's new rows only when the hook is about to copy them: one batched sync every few
            # steps instead of a small one per step (per-step Python is training time the map costs). Often
            # enough that SB3's write position cannot lap the last one read.
            every = max(1, min(hook.every, source.rb.buffer_size // 2))
            if (hook.step + 1) % every == 0 and hook.copy_due():
                try:
                    source.sync()
                except Exception as exc:  # noqa: BLE001 - shown, never raised into learn()
                    hook._report(f"BetterRLCallback: {type(exc).__name__}: {exc}")
                    return True
            hook.on_step()
        return True

    def _on_training_end(self) -> None:
        if self.hook is not None and self.source is not None:
            try:
                self.source.sync()  # the last transition is stored after the last _on_step
            except Exception:  # noqa: BLE001 - close() below still publishes what there is
                pass
            self.hook.close()


class VecNormalized:
    """Gives an estimator what SB3's training sees under ``VecNormalize``: SB3 stores raw observations and
    rewards and normalises them when it samples, with the running statistics of that moment. The map and the
    inspector keep the raw values; TD-errors, Q, V and features use the normalised ones (current statistics)."""

    def __init__(self, inner: Any, vec_normalize: Any) -> None:
        self.inner = inner
        self.vec_normalize = vec_normalize

    def __getattr__(self, name: str) -> Any:  # disabled, features_off, gamma, refresh_now, ...
        if name in ("inner", "vec_normalize"):  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def compute(self, slots: np.ndarray, rows: dict[str, np.ndarray], want_features: bool = False) -> Any:
        vn = self.vec_normalize
        rows = {**rows, "obs": vn.normalize_obs(rows["obs"]), "next_obs": vn.normalize_obs(rows["next_obs"]),
                "reward": vn.normalize_reward(np.asarray(rows["reward"], np.float32))}
        return self.inner.compute(slots, rows, want_features)

    def features(self, obs: np.ndarray) -> np.ndarray | None:
        return self.inner.features(self.vec_normalize.normalize_obs(obs))

    def churn_eval(self, obs: np.ndarray, state: Any = None) -> Any:  # policy churn sees the normalised obs too
        return self.inner.churn_eval(self.vec_normalize.normalize_obs(obs), state)


def _model_default(options: LiveOptions, given: set[str], name: str, value: Any) -> LiveOptions:
    """The model's value for an option the user did not set (not as a keyword, and ``options=`` left at the
    default)."""
    if name in given or getattr(options, name) != getattr(_DEFAULTS, name):
        return options
    return replace(options, **{name: value})


_DEFAULTS = LiveOptions()


def _actor_critic_kind(model: Any) -> Literal["sac", "td3"] | None:
    """"sac" for SB3's SAC (stochastic actor, entropy term), "td3" for TD3/DDPG, None otherwise."""
    policy = getattr(model, "policy", None)
    if not all(hasattr(policy, n) for n in ("actor", "critic", "critic_target")):
        return None
    if hasattr(policy, "actor_target"):
        return "td3"
    return "sac" if hasattr(model, "ent_coef") else None


def _critic_estimator(model: Any, kind: Literal["sac", "td3"], refresh_s: float) -> Any:
    from ..capture.critic_estimator import CriticEstimator

    alpha: Callable[[], float] | None = None
    if kind == "sac":
        def sac_alpha() -> float:
            log_alpha = getattr(model, "log_ent_coef", None)
            if log_alpha is not None:  # learned α ("auto" ent_coef)
                return float(log_alpha.detach().exp().cpu().reshape(-1)[0])
            return float(model.ent_coef_tensor.detach().cpu().reshape(-1)[0])

        alpha = sac_alpha
    return CriticEstimator(model.policy, kind=kind, gamma=float(model.gamma), alpha=alpha, refresh_s=refresh_s)
