"""Reproduce: a short reference-DQN run rerun from its manifest is bit-identical; the CLI around it."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from better_rl_widget import open_run
from better_rl_widget.runs.rerun import compare_arrays, rerun_and_compare

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parent.parent
SHORT = {"steps": 700, "dqn": {"buffer_size": 600, "learning_starts": 200, "target_update_interval": 100},
         "snapshot_every_s": 0.5, "projection": "pca", "progress": False}


@pytest.fixture(scope="module")
def dqn_run(tmp_path_factory):
    from better_rl_widget.runs.reference import train_dqn

    path = tmp_path_factory.mktemp("runs") / "dqn"
    train_dqn(path, seed=3, **SHORT)
    return path


def test_manifests_naming_moved_entry_points_still_resolve():
    from better_rl_widget.experiments.rerun import reproduce
    from better_rl_widget.runs.reference import train_dqn
    from better_rl_widget.store.manifest import resolve

    assert resolve("better_rl_widget.store.reference:train_dqn") is train_dqn
    assert resolve("better_rl_widget.experiments.runner:reproduce") is reproduce
    assert resolve("better_rl_widget.runs.reference:train_dqn") is train_dqn


def test_reference_dqn_run_reproduces_bit_for_bit(dqn_run, tmp_path):
    old = open_run(dqn_run)
    m = old.manifest
    assert m["entry_point"] == "better_rl_widget.runs.reference:train_dqn" and m["config"]["seed"] == 3
    assert m["seeds"]["torch"] == 3 and m["command"]["argv"] and m["result"]["steps_done"] == 700
    assert len(old.metric("episode_return")) > 5 and len(old.metric("loss")) > 0
    assert len(old.arrays["final_buffer"]["obs"]) == 600  # the ring wrapped

    result = rerun_and_compare(dqn_run, out=tmp_path / "again", progress=False)
    rows = {a.name: a for a in result.arrays}
    for name in ("metrics/episode_return", "metrics/loss", "final_buffer/obs", "final_buffer/action",
                 "final_buffer/reward", "final_buffer/next_obs", "final_q_network/parameters", "events"):
        assert rows[name].match, rows[name]
    assert result.identical
    new = open_run(tmp_path / "again")
    np.testing.assert_array_equal(new.metric("episode_return").to_numpy(), old.metric("episode_return").to_numpy())
    assert new.arrays["final_buffer"]["obs"].tobytes() == old.arrays["final_buffer"]["obs"].tobytes()
    assert "snapshots" in result.report() and "bit-identical" in result.report()


def test_comparison_points_at_the_first_difference():
    a = np.arange(12, dtype=np.float32).reshape(6, 2)
    b = a.copy()
    b[4, 1] = np.nextafter(b[4, 1], np.float32(100))  # one ulp
    c = compare_arrays("obs", a, b)
    assert not c.match and c.first_difference.startswith("row 4:")
    assert compare_arrays("x", np.array([np.nan]), np.array([np.nan])).match  # same bits
    assert "length 6 → 5" in compare_arrays("obs", a, a[:5]).first_difference
    assert not compare_arrays("a", a, a.astype(np.float64)).match


def test_experiment_results_folder_reproduces(tmp_path):
    from better_rl_widget.agents.tabular import QLearning
    from better_rl_widget.envs import GridWorld
    from better_rl_widget.experiments import run_agents_on_mdp

    run_agents_on_mdp([QLearning(epsilon=0.2)], GridWorld(width=4, height=3, goals=[(3, 2)], slip=0.05), instances=2,
                      episodes=5, steps=30, seed=1, results_dir=tmp_path / "exp", progress=False)
    result = rerun_and_compare(tmp_path / "exp", out=tmp_path / "again", progress=False)
    names = [a.name for a in result.arrays]
    assert "results/return" in names and any(n.startswith("Q/") for n in names)
    assert result.identical


def _cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "better_rl_widget.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False)


def test_cli_info_reproduce_export(dqn_run, tmp_path):
    info = _cli("info", str(dqn_run))
    assert info.returncode == 0, info.stderr
    assert "better_rl_widget.runs.reference:train_dqn" in info.stdout and "episode_return" in info.stdout
    assert "final_buffer" in info.stdout and "map snapshots" in info.stdout

    rep = _cli("reproduce", str(dqn_run), "--out", str(tmp_path / "again"))
    assert rep.returncode == 0, rep.stdout + rep.stderr
    assert "the run reproduces" in rep.stdout and "final_buffer/obs" in rep.stdout

    out = tmp_path / "run.html"
    exp = _cli("export", str(dqn_run), str(out))
    assert exp.returncode == 0, exp.stderr
    assert out.exists() and out.stat().st_size > 0 and f"HTML export: {out}" in exp.stdout

    bad = _cli("info", str(tmp_path / "missing"))
    assert bad.returncode == 2 and "is not a run" in bad.stderr


def test_cli_demo_records_a_run(tmp_path):
    run = tmp_path / "demo"
    res = _cli("demo", "--steps", "400", "--run", str(run))
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"run recorded: {run}" in res.stdout
    assert "DQN CartPole-v1" in res.stderr  # the tqdm bar
    r = open_run(run)
    assert r.status == "finished" and len(r.snapshots()) >= 1 and len(r.arrays["final_buffer"]["obs"]) == 400
    html = run.with_name("demo.html")
    assert f"HTML export: {html}" in res.stdout and html.stat().st_size > 0


def test_cli_lab_dry_run_and_console_script_declared():
    res = _cli("lab", "--dry-run")
    assert res.returncode == 0 and "quickstart.ipynb" in res.stdout
    assert 'better-rl = "better_rl_widget.cli:main"' in (ROOT / "pyproject.toml").read_text()


def test_reproduce_names_version_and_commit_differences():
    from better_rl_widget.runs.rerun import version_notes

    old = {"versions": {"torch": "2.12.0", "numpy": "2.4.6"}, "git": {"commit": "a" * 40}}
    new = {"versions": {"torch": "2.13.0", "numpy": "2.4.6"}, "git": {"commit": "b" * 40}}
    assert version_notes(old, new) == ["versions differ: torch 2.12.0 → 2.13.0",
                                       "code differs: commit aaaaaaaaaaaa → bbbbbbbbbbbb"]
    assert version_notes(old, old) == []
