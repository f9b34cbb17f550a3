"""Make TorchRL's prioritized replay buffers load: build ``torchrl._torchrl`` against the installed torch if needed.

TorchRL's wheels ship a compiled sum-tree extension built for one torch release; with another torch
(e.g. torchrl 0.14 beside torch 2.13) it fails to load and ``PrioritizedSampler`` raises
"SumSegmentTreeFp32 is not available". The wheel also ships the extension's C++ sources (``torchrl/csrc``), so
this script compiles them with ``torch.utils.cpp_extension`` (g++ and ninja) and puts the module where torchrl
imports it from. Idempotent: when the extension already loads it does nothing.

Usage: ``python -m better_rl_widget.adapters.torchrl_ext [--check] [--force]`` with the environment's python
(the repository's ``scripts/setup.sh`` runs it). ``--check`` only reports (exit 1 when the extension does not load).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

PROBE = ("from torchrl._torchrl import SumSegmentTreeFp32, MinSegmentTreeFp32, SumSegmentTreeFp64, "
         "MinSegmentTreeFp64; t = SumSegmentTreeFp32(8); t[3] = 2.0; assert t.query(0, 8) == 2.0")


def say(msg: str) -> None:
    print(f"[torchrl-ext] {msg}", flush=True)


def extension_loads() -> tuple[bool, str]:
    """Try the sum-tree in a fresh interpreter (a failed import stays cached in this one)."""
    r = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=False)
    lines = (r.stderr or r.stdout).strip().splitlines()
    return r.returncode == 0, (lines[-1] if lines else "")


def extension_error() -> str:
    """Why the sum-tree does not load in *this* process, or "" when it does."""
    try:
        from torchrl._torchrl import SumSegmentTreeFp32  # noqa: F401 - importing it is the check
    except ImportError as exc:
        import torch

        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return (f"torchrl's compiled sum-tree extension does not load with torch {torch.__version__} ({msg[:160]}); "
                "build it against this torch with `python -m better_rl_widget.adapters.torchrl_ext`")
    return ""


def ensure_ninja(env: dict[str, str], constraints: str | None) -> None:
    if shutil.which("ninja", path=env["PATH"]):
        return
    say("ninja not found: installing it from PyPI into this environment")
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "ninja"]
    subprocess.run(cmd + (["-c", constraints] if constraints else []), check=True)
    if not shutil.which("ninja", path=env["PATH"]):
        raise SystemExit("ninja was installed but is not on PATH; add the environment's bin folder to PATH")


def build(pkg: Path, constraints: str | None = None) -> Path:
    csrc = pkg / "csrc"
    sources = [csrc / "pybind.cpp", csrc / "utils.cpp"]
    missing = [str(s) for s in sources if not s.exists()]
    if missing:
        raise SystemExit(f"torchrl's C++ sources are not in this install ({', '.join(missing)}); cannot build")
    if not shutil.which(os.environ.get("CXX", "g++")):
        raise SystemExit("no C++ compiler (g++) on PATH: install one (Debian: apt-get install g++) and run again")
    # cpp_extension finds ninja on PATH: put this interpreter's bin folder first (pip's ninja lives there).
    env_bin = str(Path(sys.executable).parent)
    os.environ["PATH"] = env_bin + os.pathsep + os.environ.get("PATH", "")
    ensure_ninja(dict(os.environ), constraints)
    from torch.utils import cpp_extension

    target = pkg / ("_torchrl" + sysconfig.get_config_var("EXT_SUFFIX"))
    with tempfile.TemporaryDirectory(prefix="torchrl-ext-") as tmp:
        say(f"compiling {len(sources)} sources from {csrc} against torch {_torch_version()} (takes a few minutes)")
        cpp_extension.load(name="_torchrl", sources=[str(s) for s in sources], extra_include_paths=[str(csrc)],
                           extra_cflags=["-O3"], build_directory=tmp, verbose=False)
        built = next(Path(tmp).glob("_torchrl*.so"))
        staged = target.with_name(target.name + ".new")
        shutil.copyfile(built, staged)
        os.replace(staged, target)  # atomic: a process importing torchrl meanwhile sees the old or the new file
    return target


def _torch_version() -> str:
    import torch

    return torch.__version__


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only report whether the extension loads")
    ap.add_argument("--force", action="store_true", help="rebuild even when the extension loads")
    ap.add_argument("--constraints", help="pip constraints file for installing ninja when it is missing")
    args = ap.parse_args(argv)
    spec = importlib.util.find_spec("torchrl")
    if spec is None or not spec.submodule_search_locations:
        say("torchrl is not installed: nothing to do")
        return 0
    pkg = Path(next(iter(spec.submodule_search_locations)))
    ok, why = extension_loads()
    if ok and not args.force:
        say("prioritized sampler loads: nothing to do")
        return 0
    if args.check:
        say(f"the extension does not load: {why}")
        return 1
    say(f"the extension does not load ({why})" if not ok else "--force: rebuilding")
    t0 = time.perf_counter()
    target = build(pkg, args.constraints)
    ok, why = extension_loads()
    if not ok:
        say(f"built {target} but it still does not load: {why}")
        return 1
    say(f"built {target} in {time.perf_counter() - t0:.0f} s; prioritized sampler loads")
    return 0


if __name__ == "__main__":
    sys.exit(main())
