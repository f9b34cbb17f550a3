"""better-rl: train and record a demo run, open JupyterLab, export, reproduce and summarise recorded runs.

    better-rl demo                 # headless: reference DQN on CartPole with the live hook, recorded + HTML export
    better-rl lab                  # JupyterLab on the quickstart notebook
    better-rl info RUN             # what a run holds
    better-rl export RUN out.html  # one self-contained HTML file of the recorded maps
    better-rl reproduce RUN        # rerun from the manifest, compare the records bit for bit
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

# Before pyarrow loads (pandas may load it): with Arrow's default jemalloc pool, about 1 in 40 `better-rl info`
# runs aborted at interpreter exit ("terminate called without an active exception", apache/arrow#34314); with the
# system allocator none of 100 did. The CLI's tables are small, so the allocator's speed does not matter here.
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

import pandas as pd


def _export(run_path: str, out: str | Path) -> Path | None:
    """Write the HTML export of a run, or say why not (None)."""
    from .store import open_run
    from .widget.export import export_html

    run = open_run(run_path)
    snaps = run.snapshots()
    if not snaps:
        print(f"{run_path} holds no map snapshots: nothing to export", file=sys.stderr)
        return None
    from .widget.run_replay import recorded_capacity

    return Path(export_html(out, snaps, title=str(run.manifest.get("name") or Path(run_path).name),
                            capacity=recorded_capacity(run)))


def cmd_demo(args: argparse.Namespace) -> int:
    try:
        import gymnasium  # noqa: F401
        import torch  # noqa: F401
    except ImportError as exc:
        print(f"better-rl demo trains the reference DQN, which needs torch and gymnasium ({exc}): "
              "pip install 'better_rl_widget[agents]'", file=sys.stderr)
        return 2
    from .runs.reference import train_dqn

    run_path = args.run or str(Path(args.out) / datetime.now().strftime("demo-%Y%m%d-%H%M%S"))
    print(f"training the reference DQN on {args.env} for {args.steps} steps (live hook, recording to {run_path})")
    run = train_dqn(run_path, env_id=args.env, steps=args.steps, seed=args.seed, name=f"demo: DQN on {args.env}")
    returns = run.metric("episode_return") if "episode_return" in set(run.metrics.get("name", [])) else None
    if returns is not None and len(returns):
        print(f"{len(returns)} episodes; mean return of the last 10: {returns.iloc[-10:].mean():.1f}")
    print(f"run recorded: {run_path}  (better-rl info {run_path})")
    html = _export(run_path, args.html or f"{run_path}.html")
    if html is not None:
        print(f"HTML export: {html}  (open it in a browser, offline)")
    return 0


def _quickstart() -> Path | None:
    for root in (Path(__file__).resolve().parent.parent, Path.cwd()):
        nb = root / "notebooks" / "quickstart.ipynb"
        if nb.exists():
            return nb
    return None


def cmd_lab(args: argparse.Namespace) -> int:
    nb = _quickstart()
    if nb is None:
        print("notebooks/quickstart.ipynb not found: run `better-rl lab` from a clone of the repository",
              file=sys.stderr)
        return 2
    if shutil.which("jupyter") is None and not Path(sys.executable).with_name("jupyter").exists():
        print("JupyterLab is not installed: pip install 'better_rl_widget[dev]' (or jupyterlab)", file=sys.stderr)
        return 2
    root = nb.parent.parent
    if not (Path(__file__).resolve().parent / "static" / "widget.js").exists():
        print("the widget's JavaScript bundle is missing: run `npm ci && npm run build` (or `make lab`)",
              file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={args.port}",
           f"--ServerApp.root_dir={root}", "--LabApp.default_url=/lab/tree/notebooks/quickstart.ipynb"]
    if hasattr(os, "getuid") and os.getuid() == 0:
        cmd.append("--allow-root")
    print("starting JupyterLab; open the URL with the token printed below:\n  " + " ".join(cmd), flush=True)
    if args.dry_run:
        return 0
    return subprocess.call(cmd, cwd=root)


def cmd_export(args: argparse.Namespace) -> int:
    html = _export(args.run, args.out)
    if html is None:
        return 2
    print(f"HTML export: {html}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from .runs.rerun import rerun_and_compare

    result = rerun_and_compare(args.run, out=args.out)
    print(result.report())
    return 0 if result.identical else 1


def cmd_info(args: argparse.Namespace) -> int:
    from .store import open_run

    run = open_run(args.run)
    m = run.manifest
    git = m.get("git") or {}
    v = m.get("versions", {})
    rows = [("run", run.path), ("name", m.get("name", "")), ("status", run.status), ("created", m.get("created", "")),
            ("entry point", m.get("entry_point") or "-"),
            ("git", (git.get("commit", "")[:12] + (" (local changes)" if git.get("dirty") else "")) or "-"),
            ("versions", ", ".join(f"{k} {v[k]}" for k in ("python", "torch", "numpy", "gymnasium",
                                                            "better_rl_widget") if k in v)),
            ("seeds", ", ".join(f"{k}={s}" for k, s in m.get("seeds", {}).items() if s is not None))]
    snaps = run.snapshot_info()
    if len(snaps):
        rows.append(("map snapshots", f"{len(snaps)} (steps {snaps['step'].min()}–{snaps['step'].max()}, "
                                      f"up to {snaps['points'].max()} points)"))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {val}" for k, val in rows))
    print("\nstreams\n" + run.summary().to_string(index=False))
    metrics = run.metrics
    if len(metrics):
        g = metrics.groupby("name")["value"]
        table = pd.DataFrame({"count": g.count(), "last": g.last(), "mean": g.mean(), "min": g.min(),
                              "max": g.max()})
        print("\nmetrics\n" + table.to_string(float_format=lambda x: f"{x:.4g}"))
    if len(run.events):
        print("\nevents\n" + run.events[["step", "kind", "details"]].to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="better-rl", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="train the reference DQN headless with the live hook, record it, export HTML")
    p.add_argument("--env", default="CartPole-v1")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs", help="folder for the run (default: runs/)")
    p.add_argument("--run", help="exact run path (a folder or fsspec URL); overrides --out")
    p.add_argument("--html", help="where to write the HTML export (default: RUN.html)")
    p.set_defaults(fn=cmd_demo)
    p = sub.add_parser("lab", help="JupyterLab on the quickstart notebook")
    p.add_argument("--port", type=int, default=8888)
    p.add_argument("--dry-run", action="store_true", help="print the command only")
    p.set_defaults(fn=cmd_lab)
    p = sub.add_parser("export", help="one self-contained HTML file of a recorded run")
    p.add_argument("run")
    p.add_argument("out")
    p.set_defaults(fn=cmd_export)
    p = sub.add_parser("reproduce", help="rerun a run from its manifest and compare the records bit for bit")
    p.add_argument("run")
    p.add_argument("--out", help="where to write the new run (default: a temporary folder)")
    p.set_defaults(fn=cmd_reproduce)
    p = sub.add_parser("info", help="summary of a recorded run")
    p.add_argument("run")
    p.set_defaults(fn=cmd_info)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args))
    except (FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"better-rl {args.command}: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `better-rl info RUN | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
