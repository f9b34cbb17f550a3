"""Loading Stable-Baselines3 checkpoints without running code from them.

SB3 keeps objects in a checkpoint's ``data`` JSON as base64 cloudpickles (``":serialized:"`` entries) and its
``load`` unpickles them: a crafted ``.zip`` runs whatever it contains. Here each entry is unpickled with an
allowlist of globals (numpy arrays and random generators, gymnasium spaces, SB3 policy, feature-extractor, buffer
and schedule classes, torch layers and optimizers) and handed to SB3's own ``load`` as ``custom_objects``, so SB3
never unpickles one. An entry that needs anything else is left out when the policy does not need it (SB3 keeps its
default, as for a fresh model) and refused otherwise. Every ``.pth`` in the zip must load with
``torch.load(weights_only=True)`` first (SB3 2.3 and torch < 2.6 read them with full pickle).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import pickle
import zipfile
from pathlib import Path
from typing import Any

log = logging.getLogger("better_rl_widget")

# What SB3 needs to rebuild the policy: without these the checkpoint cannot be used, so they are never left out.
ESSENTIAL = ("policy_class", "policy_kwargs", "observation_space", "action_space")

_EXACT = frozenset(
    f"{m}.{n}"
    for core in ("numpy.core", "numpy._core")
    for m, n in ((f"{core}.numeric", "_frombuffer"), (f"{core}.multiarray", "_reconstruct"),
                 (f"{core}.multiarray", "scalar"))
) | frozenset({
    "numpy.ndarray", "numpy.dtype",
    "numpy.random._pickle.__generator_ctor", "numpy.random._pickle.__bit_generator_ctor",
    "numpy.random._pickle.__randomstate_ctor", "numpy.random.bit_generator.__pyx_unpickle_SeedSequence",
    "collections.deque", "collections.OrderedDict",
    "stable_baselines3.common.utils.FloatSchedule", "stable_baselines3.common.utils.ConstantSchedule",
    "stable_baselines3.common.utils.LinearSchedule",
    "stable_baselines3.common.type_aliases.TrainFreq", "stable_baselines3.common.type_aliases.TrainFrequencyUnit",
    *(f"stable_baselines3.common.buffers.{n}" for n in ("ReplayBuffer", "DictReplayBuffer", "RolloutBuffer",
                                                         "DictRolloutBuffer")),
})
# Packages whose classes of a known kind may be named (checked after import; nothing else is imported).
_FAMILIES = ("numpy.random", "gymnasium.spaces", "stable_baselines3", "sb3_contrib", "torch.nn.modules", "torch.optim")


class UnsafeCheckpointError(ValueError):
    """A checkpoint that cannot be loaded without running code it contains."""


def is_sb3_class(agent_class: Any) -> bool:
    import sys

    base = getattr(sys.modules.get("stable_baselines3.common.base_class"), "BaseAlgorithm", None)
    return base is not None and isinstance(agent_class, type) and issubclass(agent_class, base)


def _family_bases(module: str) -> tuple[type, ...]:
    if module.startswith("numpy.random"):
        import numpy.random as npr

        return (npr.BitGenerator, npr.SeedSequence, npr.Generator, npr.RandomState)
    if module.startswith("gymnasium.spaces"):
        import gymnasium

        return (gymnasium.spaces.Space,)
    if module.startswith(("stable_baselines3", "sb3_contrib")):
        from stable_baselines3.common.policies import BasePolicy
        from stable_baselines3.common.torch_layers import BaseFeaturesExtractor

        return (BasePolicy, BaseFeaturesExtractor)
    import torch

    return (torch.optim.Optimizer,) if module.startswith("torch.optim") else (torch.nn.Module,)


class _AllowlistUnpickler(pickle.Unpickler):
    """``pickle`` restricted to the globals above (the "restricting globals" pattern of the pickle docs)."""

    def find_class(self, module: str, name: str) -> Any:
        full = f"{module}.{name}"
        if full in _EXACT:
            return super().find_class(module, name)
        family = any(module == f or module.startswith(f + ".") for f in _FAMILIES)
        if family and name.isidentifier() and not name.startswith("_"):
            obj = super().find_class(module, name)
            if isinstance(obj, type) and issubclass(obj, _family_bases(module)):
                return obj
        raise pickle.UnpicklingError(full)


def _decode(entry: dict) -> Any:
    return _AllowlistUnpickler(io.BytesIO(base64.b64decode(entry[":serialized:"]))).load()


def safe_archive(path: str | Path) -> tuple[io.BytesIO, dict[str, Any]]:
    """An in-memory copy of the checkpoint that SB3 can load without unpickling anything (its ``data`` and
    checked ``.pth`` files), and the ``custom_objects`` that stand in for its serialized entries."""
    import torch

    name = Path(path).name
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise ValueError(f"{name} is not a Stable-Baselines3 checkpoint (not a zip file)") from exc
    with archive:
        data = json.loads(archive.read("data")) if "data" in archive.namelist() else {}
        custom: dict[str, Any] = {}
        for key, entry in list(data.items()):
            if not (isinstance(entry, dict) and ":serialized:" in entry):
                continue
            try:
                custom[key] = _decode(entry)
            except Exception as exc:  # noqa: BLE001 - whatever it needs, it is not read
                why = f"needs {exc}" if isinstance(exc, pickle.UnpicklingError) else f"{type(exc).__name__}: {exc}"
                if key in ESSENTIAL:
                    raise UnsafeCheckpointError(
                        f"{name}: its SB3 entry {key!r} cannot be read without running code from the file ({why}); "
                        "pass trust_checkpoints=True to PolicyVisualizer only if you trust this file") from None
                log.info("%s: SB3 entry %r left out (%s); SB3's default is used", name, key, why)
                del data[key]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as copy:
            copy.writestr("data", json.dumps(data))
            for member in archive.namelist():
                if member.endswith(".pth"):
                    raw = archive.read(member)
                    try:
                        torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
                    except Exception as exc:  # noqa: BLE001 - e.g. an UnpicklingError naming the global
                        raise UnsafeCheckpointError(
                            f"{name}: {member} is not plain weights (torch.load with weights_only=True refused it: "
                            f"{_torch_reason(exc)}); pass trust_checkpoints=True to PolicyVisualizer only if you "
                            "trust this file") from None
                    copy.writestr(member, raw)
    out.seek(0)
    return out, custom


def _torch_reason(exc: Exception) -> str:
    """The line of torch's long weights-only message that names what was refused."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    named = [ln.split("error: ", 1)[-1].split(". Please")[0] for ln in lines if "Unsupported global" in ln]
    return (named or lines or [type(exc).__name__])[0]


def load_sb3(agent_class: Any, path: str | Path) -> Any:
    """``agent_class.load`` (an SB3 algorithm) on the checked copy of ``path``."""
    archive, custom = safe_archive(path)
    return agent_class.load(archive, custom_objects=custom)
