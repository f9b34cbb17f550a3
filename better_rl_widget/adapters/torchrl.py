"""TorchRL: ``TorchRLBufferSource(rb)`` streams a ``ReplayBuffer``/``TensorDictReplayBuffer`` into the hook.

The adapter wraps ``add``/``extend`` on this buffer instance to collect the storage indices they return
(slot id = storage index; the round-robin writer makes it a ring) and, where the buffer has one,
``update_priority`` (which ``update_tensordict_priority`` calls too) to collect re-prioritised slots. Rows are
read from the storage with a key map (TorchRL's defaults: ``observation``, ``action``, ``("next", "reward")``, ...).

Prioritized buffers (``TensorDictPrioritizedReplayBuffer``, or any buffer with a ``PrioritizedSampler``):
``priority`` is read from the sampler's sum-tree, i.e. the sampling weight ``(p + eps)^α``. That tree is
torchrl's compiled extension (``torchrl._torchrl``), built for one torch release; with another torch it does not
load ("SumSegmentTreeFp32 is not available") and ``python -m better_rl_widget.adapters.torchrl_ext`` builds it
against the installed torch. Where it does not load, priorities are off with a note naming the cause; TD-errors still
come from the hook when it has a ``q_network``.

Replay counts: the adapter wraps the buffer's sampler's ``sample(storage, batch_size)`` on the instance (it returns
the storage indices drawn); slots written by ``add``/``extend`` start again at 0. A storage of more than one
dimension returns index tuples: counts are then off, with a note. ``scale_priorities`` (what
``TrainingHook.reprioritize`` calls) goes through ``PrioritizedSampler.update_priority`` so the sum and min trees
and the max priority stay consistent.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from ..capture.replay_counts import ReplayCounter, check_factor, check_slots
from ._episodes import EpisodeTracker
from .torchrl_ext import extension_error

log = logging.getLogger(__name__)

DEFAULT_KEYS: dict[str, Any] = {
    "obs": "observation", "next_obs": ("next", "observation"), "action": "action", "reward": ("next", "reward"),
    "terminated": ("next", "terminated"), "truncated": ("next", "truncated"), "done": ("next", "done"),
}


class TorchRLBufferSource:
    """A :class:`~better_rl_widget.capture.hook.BufferSource` over a TorchRL replay buffer (priorities where its
    sampler is prioritized). ``keys`` maps field names to the buffer's keys where they differ from TorchRL's."""

    def __init__(self, rb: Any, keys: dict[str, Any] | None = None) -> None:
        from torchrl.data import ReplayBuffer

        if not isinstance(rb, ReplayBuffer):
            raise TypeError(f"expected a torchrl.data.ReplayBuffer (or subclass), got {type(rb).__name__}")
        self.rb = rb
        self.keys = {**DEFAULT_KEYS, **(keys or {})}
        self.capacity = int(rb._storage.max_size)
        self.note = ""
        self._sampler = _prioritized_sampler(rb)
        self.optional_fields: tuple[str, ...] = ()
        if self._sampler is not None:
            cause = extension_error() or _tree_error(self._sampler)
            if cause:
                self.note = (f"priorities off: {cause}; the buffer is streamed without them (TD-errors come from "
                             "the hook's q_network)")
                self._sampler = None
            else:
                self.optional_fields = ("priority",)
        self._read_failed = False
        self.tracker = EpisodeTracker(self.capacity, log_changes=True)
        self.replay_counts: ReplayCounter | None = None
        self._wrap_sampler()
        self._wrap("extend", batched=True)
        self._wrap("add", batched=False)
        if hasattr(rb, "update_priority"):
            upd = rb.update_priority

            def tracking_update(index: Any, priority: Any, *a: Any, **kw: Any) -> Any:
                out = upd(index, priority, *a, **kw)
                self.tracker.reprioritised(_np(index).astype(np.int64))
                return out

            rb.update_priority = tracking_update

    def _wrap(self, name: str, batched: bool) -> None:
        orig = getattr(self.rb, name)

        def counting(data: Any, *a: Any, **kw: Any) -> Any:
            idx = orig(data, *a, **kw)
            try:
                slots = _np(idx).astype(np.int64).ravel()
                done = self._done(data, len(slots), batched)
                self.tracker.written(slots, done)
                if self.replay_counts is not None:
                    self.replay_counts.written(slots)
            except Exception as exc:  # noqa: BLE001 - bookkeeping must never break the user's extend
                self.tracker.bookkeeping_failed(f"rb.{name}", exc)
            return idx

        setattr(self.rb, name, counting)

    def _wrap_sampler(self) -> None:
        sampler = getattr(self.rb, "_sampler", None)
        if sampler is None or not callable(getattr(sampler, "sample", None)) or \
                getattr(self.rb._storage, "ndim", 1) != 1:
            self.note = (self.note + "; " if self.note else "") + \
                "replay counts off: this buffer's sampler/storage does not expose 1-D storage indices"
            return
        self.replay_counts = counter = ReplayCounter(self.capacity)
        orig = sampler.sample

        def counting_sample(storage: Any, batch_size: int) -> Any:
            out = orig(storage, batch_size)
            try:
                index = out[0] if isinstance(out, tuple) else out
                counter.sampled(_np(index).astype(np.int64))
            except Exception as exc:  # noqa: BLE001 - counting must never break the user's sample()
                log.warning("better_rl_widget: TorchRL replay counts off: %s: %s", type(exc).__name__, exc)
                sampler.__dict__.pop("sample", None)
            return out

        sampler.sample = counting_sample
        self._counted_sampler = sampler

    def scale_priorities(self, slots: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
        """Multiply the sampling weights ``(p + eps)^α`` of ``slots`` by ``factor``; returns (old, new) weights
        read from the sum-tree (float32 there). Through ``update_priority``: the raw priority giving the new
        weight is ``(w·factor)^(1/α) − eps``."""
        sampler = self._sampler
        if sampler is None:
            raise TypeError("this TorchRL buffer has no readable priorities (no PrioritizedSampler, or its sum-tree "
                            f"does not load): {self.note or 'uniform sampler'}")
        slots = check_slots(slots, min(self.total_inserted, self.capacity), self.capacity)
        factor = check_factor(factor)
        alpha, eps = float(sampler._alpha), float(sampler._eps)
        if alpha == 0:
            raise ValueError("this PrioritizedSampler has alpha=0: priorities do not change sampling")
        old = self._priorities(slots)
        if old is None:
            raise TypeError("the TorchRL sum-tree cannot be read; priorities left unchanged")
        raw = np.maximum((old.astype(np.float64) * factor) ** (1.0 / alpha) - eps, 0.0)
        sampler.update_priority(torch.as_tensor(slots), torch.as_tensor(raw, dtype=torch.float32))
        self.tracker.reprioritised(slots)
        new = self._priorities(slots)
        return old, new if new is not None else old * factor

    def _done(self, data: Any, n: int, batched: bool) -> np.ndarray:
        for k in ("done", "terminated"):
            try:
                v = _np(data.get(self.keys[k])).astype(bool)
                return np.asarray(v.reshape(n, -1).any(axis=1) if batched else v.reshape(1, -1).any(axis=1))
            except Exception:  # noqa: BLE001 - try the next key
                continue
        return np.zeros(n, bool)

    @property
    def total_inserted(self) -> int:
        return self.tracker.total

    def take_changes(self) -> tuple[np.ndarray, np.ndarray]:
        return self.tracker.take_changes()

    def read(self, slots: np.ndarray, fields: Any = None) -> dict[str, np.ndarray]:
        slots = np.asarray(slots, np.int64)
        td = self.rb._storage[torch.as_tensor(slots)]
        out: dict[str, np.ndarray] = {}
        for name in fields or ("obs", "next_obs", "action", "reward", "terminated", "truncated"):
            if name in ("step", "episode", "episode_step"):
                out[name] = self.tracker.read(slots, name)
            elif name == "priority":
                p = self._priorities(slots)
                if p is not None:
                    out[name] = p
            elif name in self.keys:
                key = self.keys[name]
                if name == "truncated" and key not in td.keys(include_nested=True):
                    out[name] = np.zeros(len(slots), bool)
                    continue
                if name == "terminated" and key not in td.keys(include_nested=True):
                    key = self.keys["done"]
                raw = td.get(key)
                if not isinstance(raw, torch.Tensor):  # numpy would iterate a TensorDict into a bare StopIteration
                    inner = list(raw.keys()) if hasattr(raw, "keys") else type(raw).__name__
                    raise TypeError(f"TorchRL adapter: {key!r} holds {type(raw).__name__} {inner}, not a tensor; the "
                                    f"map needs one array per row: flatten the {name} into one tensor, or pass "
                                    f"keys={{{name!r}: (...)}} naming one tensor entry")
                v = _np(raw)
                if name in ("reward", "terminated", "truncated", "action") and v.ndim == 2 and v.shape[1] == 1:
                    v = v[:, 0]
                if name == "action" and v.ndim == 2 and v.dtype.kind in "iub" and v.shape[1] > 1:
                    v = v.argmax(axis=1)  # one-hot actions (TorchRL's OneHot spec) → index
                out[name] = v
            else:
                raise KeyError(f"TorchRL adapter: no key mapped for field {name!r}; pass keys={{{name!r}: ...}}")
        return out

    def _priorities(self, slots: np.ndarray) -> np.ndarray | None:
        """``(p + eps)^α`` from the sum-tree (looked up each time: ``rb.empty()`` makes a new tree)."""
        if self._sampler is None or self._read_failed:
            return None
        try:
            tree = self._sampler._sum_tree
            index = torch.as_tensor(slots, dtype=torch.long, device=self._sampler.device)  # CUDA trees too
            # one slot: the tree returns a Python float, and a 0-d array would break the batch it joins
            return _np(torch.as_tensor(tree[index])).astype(np.float32).reshape(len(slots))
        except Exception as exc:  # noqa: BLE001 - rows still go through, without priorities
            self._read_failed = True
            log.warning("better_rl_widget: TorchRL priorities off: could not read the sum-tree (%s: %s)",
                        type(exc).__name__, exc)
            return None

    def detach(self) -> None:
        for name in ("add", "extend", "update_priority"):
            self.rb.__dict__.pop(name, None)
        sampler = getattr(self, "_counted_sampler", None)
        if sampler is not None:
            sampler.__dict__.pop("sample", None)


def _prioritized_sampler(rb: Any) -> Any:
    from torchrl.data.replay_buffers.samplers import PrioritizedSampler

    try:  # TensorDictPrioritizedReplayBuffer: the sampler that owns the tree (sync=False keeps it apart)
        sampler = getattr(rb, "prioritized_sampler", None)
    except RuntimeError:  # a writer process of an unsynchronised buffer holds no tree
        sampler = None
    sampler = sampler if sampler is not None else getattr(rb, "_sampler", None)
    return sampler if isinstance(sampler, PrioritizedSampler) else None


def _tree_error(sampler: Any) -> str:
    tree = getattr(sampler, "_sum_tree", None)
    if tree is None:
        return f"{type(sampler).__name__} holds no sum-tree"
    try:
        tree[torch.zeros(1, dtype=torch.long, device=sampler.device)]
    except Exception as exc:  # noqa: BLE001 - whatever fails, the message names it
        return f"the sum-tree cannot be read ({type(exc).__name__}: {exc})"
    return ""


def _np(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)
