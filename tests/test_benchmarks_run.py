"""The benchmark scripts run and print what their docs promise (sizes, not timings, are asserted)."""

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_transport_benchmark_json():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "transport.py"), "--json", "--n", "20000",
                          "--ticks", "3"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"delta_fraction", "encode_ms", "full_bytes", "delta_bytes"} <= set(r)
    # payload size is deterministic: 1% of rows changed must cost well under 5% of a full resend
    assert 0.005 < r["delta_fraction"] < 0.05


def test_overhead_benchmark_json():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "overhead.py"), "--json", "--steps", "400",
                          "--repeats", "1"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"ratio", "hooked_steps_per_s", "plain_steps_per_s", "target"} <= set(r)
    assert r["ratio"] > 0 and len(r["hooked_runs"]) == len(r["plain_runs"]) == 1
    # the hooked side really drew the buffer with TD-errors on
    assert r["points"] == 400 and "td_error" in r["channels"]


def test_embed_live_benchmark_json():
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "embed_live.py"), "--json", "--n", "300",
                          "--rate", "300", "--seconds", "2", "--data", "features"],
                         check=True, capture_output=True, text=True).stdout
    r = json.loads(out)
    assert {"fps", "latency_p95_s", "knn_ratio", "displacement"} <= set(r)
    run = r["runs"][0]
    assert run["n"] == 300 and run["frames"] >= 2
    assert 0 < run["knn_full"] <= 1 and 0 < run["knn_live"] <= 1  # both maps really measured
    assert r["knn_ratio"] == run["knn_live"] / run["knn_full"]


def test_ray_scale_benchmark_json():
    import pytest

    pytest.importorskip("ray")
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "ray_scale.py"), "--json", "--seeds", "3",
                          "--instances", "4", "--episodes", "20", "--steps", "20", "--num-cpus", "2",
                          "--workers", "2", "--rows", "300"], check=True, capture_output=True, text=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert {"local_s", "ray_init_s", "ray_first_s", "ray_warm_s", "speedup_warm", "capture_rows_per_s"} <= set(r)
    assert r["identical"] is True  # every seed's results equal between the backends
    assert r["capture_rows"] == r["capture_points"] == 600 and r["capture_dropped"] == 0


def _last_json(cmd: list[str]) -> dict:
    out = subprocess.run([sys.executable, *cmd], check=True, capture_output=True, text=True, timeout=240).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_real_overhead_benchmark_json():
    import pytest

    pytest.importorskip("stable_baselines3")  # the sb3_default configuration (torch comes with it)
    r = _last_json([str(REPO / "benchmarks" / "real_overhead.py"), "--quick", "--json", "--pairs", "2"])
    assert {"configs", "min_ratio", "torch_threads", "load_before", "load_after", "machine", "targets"} <= set(r)
    assert set(r["configs"]) == {"quickstart", "sb3_default", "td", "td_channels"}
    assert r["torch_threads"] >= 1 and r["machine"]["cpus"] >= 1
    assert set(r["targets"]) == {"ratio", "frames_per_s", "final_knn_ratio", "settle_s"}
    for name, c in r["configs"].items():
        assert {"ratio", "pair_ratios", "hooked_steps_per_s", "plain_steps_per_s", "frames_per_s", "frames_shown",
                "map_points", "capacity", "cost_reported", "final_knn_ratio", "settle_s", "worker",
                "errors"} <= set(c), name
        assert len(c["pair_ratios"]) == len(c["hooked_runs"]) == len(c["plain_runs"]) == 2, name
        assert c["ratio"] > 0 and c["errors"] == 0, (name, c.get("error_messages"))
        # the map draws what the buffer received, at most; frames during training depend on timing (a worker
        # process may still be starting), so only the run's total is asserted
        assert c["steps"] <= c["rows_inserted"] < c["steps"] + 10, name  # SB3 steps in whole train_freq rounds
        assert 0 < c["map_points"] <= c["rows_inserted"], name
        assert c["frames_shown"] >= 0 and c["frames_shown_total"] >= 1, name
        assert 0 < c["knn_live"] <= 1 and 0 < c["knn_full"] <= 1 and c["final_knn_ratio"] > 0, name
    assert r["configs"]["sb3_default"]["capacity"] == 1_000_000  # SB3's default buffer_size
    assert r["configs"]["quickstart"]["capacity"] == r["configs"]["td"]["capacity"] == 20_000
    assert r["min_ratio"] == min(c["ratio"] for c in r["configs"].values())


def test_memory_benchmark_json():
    r = _last_json([str(REPO / "benchmarks" / "memory.py"), "--quick", "--json", "--insertions", "1500"])
    assert {"overhead_mb_1m", "kernel_mb", "child_mb", "map_points", "insertions", "target_mb"} <= set(r)
    assert r["insertions"] == 1500 and r["capacity"] == 20_000 and r["target_mb"] == 1536
    assert r["flushed"] and r["errors"] == [] and r["valid"]
    assert 0 < r["map_points"] <= 1500  # every insertion is in its own slot; the map draws at most that many
    assert abs(r["overhead_mb_1m"] - (r["kernel_mb"] + r["child_mb"])) <= 0.11
    assert r["child_mb"] == 0 or r["worker"] == "process"


def test_soak_benchmark_json():
    r = _last_json([str(REPO / "benchmarks" / "soak.py"), "--quick", "--json"])
    assert {"steps", "rss_peak_mb", "rss_growth_after_warmup_mb", "released", "image"} <= set(r)
    assert r["steps"] == 6_000 and r["vector"]["errors"] == [] and r["image"]["errors"] == []
    assert r["vector"]["map_points"] > 0 and r["image"]["map_points"] > 0 and r["image"]["flushed"]
    assert r["released"] == {"threads_left": [], "children_left": [], "widget_collected": True}


def test_breaks_benchmark_json():
    r = _last_json([str(REPO / "benchmarks" / "breaks.py"), "--quick", "--json", "--kinds", "plain,sleep5"])
    assert set(r["kinds"]) == {"plain", "sleep5"}
    assert r["kinds"]["plain"]["ratio"] == 1.0 and r["kinds"]["plain"]["breaks_per_s"] == 0
    s = r["kinds"]["sleep5"]
    assert s["breaks_per_s"] > 0 and 0 < s["break_share"] < 0.2  # the breaks really happened, at about the duty
    assert s["lost_per_break_ms"] is not None
