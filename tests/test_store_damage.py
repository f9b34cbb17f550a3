"""Run records with damaged files: truncated, garbled or missing chunks, a malformed index, paths leading out of the
run folder, a recorder killed with SIGKILL. What is intact is read; what is not is named; nothing outside is read."""

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
import zlib
from pathlib import Path

import fsspec
import numpy as np
import pytest

from better_rl_widget import BufferWidget, open_run
from better_rl_widget.frames.snapshot import MapSnapshot
from better_rl_widget.store import RunIndexError, RunWriter

ROOT = Path(__file__).resolve().parent.parent
LOG = "better_rl_widget.store"


@pytest.fixture(params=["file", "memory"])
def run_url(request, tmp_path):
    if request.param == "file":
        yield (tmp_path / "run").as_uri()
        return
    url = f"memory://runs/{uuid.uuid4().hex}"
    yield url
    fsspec.filesystem("memory").rm(url.removeprefix("memory://"), recursive=True)


def _snapshot(step: int, slots: np.ndarray) -> MapSnapshot:
    n = len(slots)
    return MapSnapshot(step=step, time_s=0.1 * step, slots=slots.astype(np.uint32),
                       xy=np.full((n, 2), step, np.float32), extent=(-1.0, 1.0, -1.0, 1.0),
                       fields={"reward": np.full(n, step, np.float32)})


def _write(url) -> None:
    """Three chunks of every kind; chunk k holds rows tagged k (metrics: k + 1 rows each)."""
    w = RunWriter(url)
    for k in range(3):
        slots = np.arange(10 * k, 10 * k + 5)
        w.append_snapshot(_snapshot(k, slots))
        w.append_arrays("buffer_sample", {"snapshot": np.full(5, k, np.int32), "slot": slots.astype(np.uint32),
                                          "obs": np.full((5, 3), k, np.float32)})
        w.append_table("metrics", {"step": np.full(k + 1, k, np.int64), "time_s": np.zeros(k + 1),
                                   "name": ["loss"] * (k + 1), "value": np.full(k + 1, float(k))})
        w.append_table("events", {"step": np.array([k], np.int64), "time_s": [0.0], "kind": ["tick"],
                                  "details": ["{}"]})
    w.close()


def _fs(url):
    fs, root = fsspec.core.url_to_fs(url)
    return fs, root.rstrip("/")


def _truncate(url, rel: str) -> None:
    fs, root = _fs(url)
    data = fs.cat_file(f"{root}/{rel}")
    fs.pipe_file(f"{root}/{rel}", data[: len(data) // 2])


def _garble(url, rel: str) -> None:
    """Flip 16 bytes in the middle: same size, so only the content tells."""
    fs, root = _fs(url)
    data = bytearray(fs.cat_file(f"{root}/{rel}"))
    mid = len(data) // 2
    data[mid:mid + 16] = bytes(b ^ 0xFF for b in data[mid:mid + 16])
    fs.pipe_file(f"{root}/{rel}", bytes(data))


def _warned(caplog, name: str) -> bool:
    return any(name in r.getMessage() and r.levelno >= logging.WARNING for r in caplog.records)


def test_a_truncated_chunk_loses_only_itself(run_url, caplog):
    _write(run_url)
    bad = ["tables/metrics/000001.parquet", "arrays/buffer_sample/000001.npz", "snapshots/000001.npz"]
    for rel in bad:
        _truncate(run_url, rel)
    with caplog.at_level(logging.WARNING, LOG):
        run = open_run(run_url)
    assert sorted(run.damaged) == sorted(bad) and all("truncated" in why for why in run.damaged.values())
    assert all(_warned(caplog, rel) for rel in bad)  # named when the run opens, before anything is read
    assert run.metrics["value"].tolist() == [0.0, 2.0, 2.0, 2.0]  # chunks 0 and 2
    np.testing.assert_array_equal(run.array("buffer_sample")["snapshot"], np.repeat([0, 2], 5))
    assert [s.step for s in run.snapshots()] == [0, 2]
    assert [i for i, _ in run.snapshot_items()] == [0, 2]
    assert run.summary().set_index("stream")["damaged"].to_dict() == {
        "snapshots": 1, "buffer_sample": 1, "metrics": 1, "events": 0}
    assert any("snapshots/000001.npz" in p for p in run.problems)


def test_garbled_bytes_are_caught_by_the_checksum(run_url, caplog):
    _write(run_url)
    bad = ["tables/metrics/000002.parquet", "arrays/buffer_sample/000000.npz", "snapshots/000002.npz"]
    for rel in bad:
        _garble(run_url, rel)
    run = open_run(run_url)
    assert run.damaged == {}  # same sizes: only reading tells
    with caplog.at_level(logging.WARNING, LOG):
        assert run.metrics["value"].tolist() == [0.0, 1.0, 1.0]
        np.testing.assert_array_equal(run.array("buffer_sample")["snapshot"], np.repeat([1, 2], 5))
        assert [s.step for s in run.snapshots()] == [0, 1]
    assert sorted(run.damaged) == sorted(bad) and all("checksum" in why for why in run.damaged.values())
    assert all(_warned(caplog, rel) for rel in bad)


def test_garbled_arrays_without_a_checksum_are_still_refused(tmp_path):
    """Runs written before the index carried checksums: the zip's own CRC catches changed array bytes."""
    _write(tmp_path / "run")
    index = json.loads((tmp_path / "run" / "index.json").read_text())
    for s in index["streams"].values():
        for c in s["chunks"]:
            c.pop("crc32")
    (tmp_path / "run" / "index.json").write_text(json.dumps(index))
    _garble((tmp_path / "run").as_uri(), "snapshots/000000.npz")
    run = open_run(tmp_path / "run")
    assert [s.step for s in run.snapshots()] == [1, 2]
    assert "CRC" in run.damaged["snapshots/000000.npz"]


@pytest.mark.parametrize("damage", [_truncate, _garble])
def test_a_bad_metrics_chunk_leaves_events_readable(run_url, damage):
    _write(run_url)
    damage(run_url, "tables/metrics/000000.parquet")
    run = open_run(run_url)
    assert run.events["step"].tolist() == [0, 1, 2]
    assert run.tables["events"]["kind"].tolist() == ["tick"] * 3
    assert len(run.metrics) == 5 and list(run.damaged) == ["tables/metrics/000000.parquet"]


def test_missing_chunk_and_damaged_manifest_are_named(tmp_path):
    _write(tmp_path / "run")
    (tmp_path / "run" / "arrays" / "buffer_sample" / "000002.npz").unlink()
    (tmp_path / "run" / "manifest.json").write_text('{"name": "cut')
    run = open_run(tmp_path / "run")
    assert run.damaged["arrays/buffer_sample/000002.npz"] == "missing"
    assert "manifest.json" in run.damaged and run.manifest == {}
    assert len(run.array("buffer_sample")["slot"]) == 10 and len(run.snapshots()) == 3


INDEX_OK = {"format": "better_rl_widget.run/1", "status": "finished"}


@pytest.mark.parametrize(("text", "what"), [
    ("", "not valid JSON"),
    ('{"format": "better_rl_widget.run/1", "streams": {', "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    ("[]", "expected a JSON object"),
    (json.dumps({"format": "something else", "streams": {}}), "not a better_rl_widget run index"),
    (json.dumps(INDEX_OK), "'streams' is missing"),
    (json.dumps({**INDEX_OK, "streams": {"metrics": {"chunks": []}}}), "stream 'metrics': kind None"),
    (json.dumps({**INDEX_OK, "streams": {"metrics": {"kind": "table"}}}), "'chunks' or 'segments'"),
    (json.dumps({**INDEX_OK, "streams": {"metrics": {"kind": "table", "chunks": [{"rows": 1}]}}}),
     "chunks[0] lacks a 'file'"),
    (json.dumps({**INDEX_OK, "streams": {"snapshots": {"kind": "snapshots", "chunks": [
        {"file": "snapshots/000000.npz", "rows": 3}]}}}), "step, time_s or 4-number extent"),
])
def test_a_malformed_index_is_a_clear_error(tmp_path, text, what):
    _write(tmp_path / "run")
    index = tmp_path / "run" / "index.json"
    index.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(RunIndexError) as err:
        open_run(tmp_path / "run")
    assert isinstance(err.value, ValueError)
    assert what in str(err.value) and str(index) in str(err.value)


def _point_chunk_at(url, stream: str, k: int, target: str, data: bytes) -> None:
    """Make chunk k of ``stream`` name ``target``, with a size and checksum that match ``data``."""
    fs, root = _fs(url)
    index = json.loads(fs.cat_file(f"{root}/index.json"))
    index["streams"][stream]["chunks"][k].update(file=target, bytes=len(data), crc32=zlib.crc32(data))
    fs.pipe_file(f"{root}/index.json", json.dumps(index).encode())


def _reads(monkeypatch, fs) -> list[str]:
    seen: list[str] = []
    original = fs.cat_file

    def cat_file(path, *a, **k):
        seen.append(str(path))
        return original(path, *a, **k)

    monkeypatch.setattr(fs, "cat_file", cat_file)
    return seen


@pytest.mark.parametrize("form", ["dotdot", "deep_dotdot", "absolute", "url"])
def test_chunk_paths_outside_the_run_are_refused(run_url, monkeypatch, form):
    _write(run_url)
    fs, root = _fs(run_url)
    outside = f"{root.rsplit('/', 1)[0]}/secret.npz"  # next to the run folder
    secret = fs.cat_file(f"{root}/arrays/buffer_sample/000001.npz")
    fs.pipe_file(outside, secret)
    target = {"dotdot": "../secret.npz", "deep_dotdot": "arrays/buffer_sample/../../../secret.npz",
              "absolute": outside, "url": f"{run_url.split('://')[0]}://{outside}"}[form]
    _point_chunk_at(run_url, "buffer_sample", 1, target, secret)
    reads = _reads(monkeypatch, fs)
    run = open_run(run_url)
    assert "outside the run folder" in run.damaged[target]
    np.testing.assert_array_equal(run.array("buffer_sample")["snapshot"], np.repeat([0, 2], 5))
    assert reads and all(p.startswith(root + "/") and ".." not in p.split("/") for p in reads)


def test_a_link_out_of_the_run_is_refused(tmp_path):
    _write(tmp_path / "run")
    chunk = tmp_path / "run" / "arrays" / "buffer_sample" / "000001.npz"
    shutil.move(chunk, tmp_path / "secret.npz")
    chunk.symlink_to(tmp_path / "secret.npz")
    run = open_run(tmp_path / "run")
    assert len(run.array("buffer_sample")["slot"]) == 10
    assert "links outside the run folder" in run.damaged["arrays/buffer_sample/000001.npz"]


def test_an_index_segment_outside_the_run_is_refused(run_url, monkeypatch):
    from better_rl_widget.store import writer

    monkeypatch.setattr(writer, "SEGMENT", 2)
    _write(run_url)
    fs, root = _fs(run_url)
    index = json.loads(fs.cat_file(f"{root}/index.json"))
    index["streams"]["metrics"]["segments"] = ["../../seg.json"]
    fs.pipe_file(f"{root}/index.json", json.dumps(index).encode())
    run = open_run(run_url)
    assert "outside the run folder" in run.damaged["../../seg.json"]
    assert run.metrics["value"].tolist() == [2.0, 2.0, 2.0]  # the chunk still in index.json


def test_a_damaged_run_replays_and_exports(tmp_path, caplog):
    _write(tmp_path / "run")
    _garble((tmp_path / "run").as_uri(), "snapshots/000001.npz")
    run = open_run(tmp_path / "run")
    w = BufferWidget.from_run(run)
    assert [s.step for s in w.history] == [0, 2]
    assert any("snapshots/000001.npz" in n for n in w.status["notes"])

    class NoScrubber(BufferWidget):
        replay = None  # the fallback: the last map, clicks answered from the recorded sample

    w = NoScrubber.from_run(open_run(tmp_path / "run"))
    meta, obs = w._inspect_fn(20)  # a slot of the last map (position 2), not of the damaged one
    assert meta["present"] and obs.tolist() == [2.0, 2.0, 2.0]

    if not (ROOT / "better_rl_widget" / "static" / "export_page.js").exists():
        pytest.skip("the export page is not built")
    from better_rl_widget.cli import _export

    with caplog.at_level(logging.WARNING, LOG):
        html = _export(str(tmp_path / "run"), tmp_path / "out.html")
    assert html is not None and html.stat().st_size > 0
    assert _warned(caplog, "snapshots/000001.npz")


RECORDER_CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    from better_rl_widget.store import Recorder, RunWriter
    rec = Recorder(RunWriter(sys.argv[1]), snapshot_every_s=0, flush_every_s=0.05)
    k = 0
    while True:
        rec.log_metrics(k, k=float(k))
        rec.log_event("tick", k)
        rec.record_arrays("buffer", {"k": np.full(200_000, k, np.int64)})  # 1.6 MB: kills often land mid-write
        rec.flush()
        k += 1
""")
ROWS = 200_000


def _indexed(path: Path) -> dict:
    try:
        return json.loads((path / "index.json").read_text())["streams"]
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def test_sigkill_a_recorder_then_damage_a_copy(tmp_path, caplog):
    path = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", RECORDER_CHILD, str(path)],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            s = _indexed(path)
            if len(s.get("buffer", {}).get("chunks", [])) >= 6 and len(s.get("metrics", {}).get("chunks", [])) >= 3:
                break
            assert proc.poll() is None, "the recording process ended early"
            time.sleep(0.02)
        else:
            pytest.fail("fewer than 6 chunks recorded within 180 s")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    with caplog.at_level(logging.INFO, LOG):
        run = open_run(path)
    entries = {n: run._chunks(n) for n in ("buffer", "metrics", "events")}
    n = len(entries["buffer"])
    assert run.status == "running" and run.damaged == {}
    assert run.problems[0].startswith("not closed") and any("not closed" in r.getMessage() for r in caplog.records)
    assert all(".tmp-" in f or f.rsplit("/", 1)[0] in ("arrays/buffer", "tables/metrics", "tables/events")
               for f in run.leftovers)  # interrupted writes only
    np.testing.assert_array_equal(run.array("buffer")["k"], np.repeat(np.arange(n), ROWS))
    assert run.metric("k").tolist() == [float(i) for i in range(sum(c["rows"] for c in entries["metrics"]))]
    assert len(run.events) == sum(c["rows"] for c in entries["events"])

    copy = tmp_path / "copy"
    shutil.copytree(path, copy)
    truncated, garbled = entries["buffer"][1]["file"], entries["buffer"][3]["file"]
    garbled_table = entries["metrics"][0]["file"]
    (copy / truncated).write_bytes((copy / truncated).read_bytes()[:1000])
    for rel in (garbled, garbled_table):
        _garble(copy.as_uri(), rel)
    caplog.clear()
    with caplog.at_level(logging.WARNING, LOG):
        damaged = open_run(copy)
        assert _warned(caplog, truncated)
        buffer = damaged.array("buffer")["k"]
        metrics = damaged.metrics
    assert _warned(caplog, garbled) and _warned(caplog, garbled_table)
    assert sorted(damaged.damaged) == sorted([truncated, garbled, garbled_table])
    intact = [k for k in range(n) if k not in (1, 3)]
    np.testing.assert_array_equal(buffer, np.repeat(intact, ROWS))
    assert len(metrics) == sum(c["rows"] for c in entries["metrics"][1:])
    assert len(damaged.events) == len(run.events)
    print(f"\nSIGKILL after {n} buffer chunks: {n} of {n} indexed chunks read, {len(run.leftovers)} interrupted "
          f"write(s) ignored; copy with 1 truncated + 2 garbled chunks: {n - 2} of {n} buffer chunks and "
          f"{len(entries['metrics']) - 1} of {len(entries['metrics'])} metrics chunks read, 3 damaged named")
