"""fsspec access for run directories: one layout on a local disk, ``memory://`` or object storage.

Every file is written whole under a temporary name and then renamed into place, so a reader (or a writer killed
mid-write) never sees a half-written chunk under its final name. On a local disk the rename is atomic
(``os.rename``) and the data are fsynced first; object stores publish an object only once its upload completed.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from functools import cached_property
from typing import Any

import fsspec
import numpy as np

TMP_MARK = ".tmp-"


class UnsafePath(ValueError):
    """A path inside a run that would lead out of the run folder (absolute, ``..``, a URL, a link outside)."""


def safe_rel(rel: Any) -> str:
    """``rel`` when it is a plain relative path below the run root; otherwise :class:`UnsafePath`.

    Paths come from ``index.json``, which anyone can edit: they must never name a file outside the run."""
    if not isinstance(rel, str) or not rel:
        raise UnsafePath(f"{rel!r} is not a relative path")
    if rel.startswith("/") or any(c in rel for c in ("\\", ":", "\0")) or \
            any(part in ("", ".", "..") for part in rel.split("/")):
        raise UnsafePath(f"{rel!r} leads outside the run folder or is not a plain relative path")
    return rel


class RunFiles:
    """A run directory on any fsspec filesystem; paths below it are relative, with ``/`` separators."""

    def __init__(self, path: str | os.PathLike[str], *, storage_options: dict[str, Any] | None = None) -> None:
        self.url = os.fspath(path)
        self.fs, self.root = fsspec.core.url_to_fs(self.url, **(storage_options or {}))
        self.root = self.root.rstrip("/")
        self.local = "file" in _protocols(self.fs)

    def _full(self, rel: str) -> str:
        return f"{self.root}/{safe_rel(rel)}"

    def check_inside(self, rel: str) -> None:
        """:class:`UnsafePath` when ``rel`` leads outside the root (on a local disk, through a link too)."""
        self._check_inside(self._full(rel))

    def _check_inside(self, full: str) -> None:
        # On a local disk a symbolic link below the root may still point anywhere.
        if self.local:
            root = self._real_root
            if os.path.commonpath([os.path.realpath(full), root]) != root:
                raise UnsafePath(f"{full} links outside the run folder {root}")

    @cached_property
    def _real_root(self) -> str:
        return os.path.realpath(self.root)

    def exists(self, rel: str) -> bool:
        return bool(self.fs.exists(self._full(rel)))

    def makedirs(self, rel: str = "") -> None:
        self.fs.makedirs(self._full(rel) if rel else self.root, exist_ok=True)

    def write_atomic(self, rel: str, data: bytes) -> None:
        """Write ``data`` to ``rel`` so that it appears complete or not at all."""
        final = self._full(rel)
        parent = final.rsplit("/", 1)[0]
        self.fs.makedirs(parent, exist_ok=True)
        if not self.local and "memory" not in _protocols(self.fs):
            # Object stores: a PUT becomes visible only once complete, and rename would be copy + delete.
            self.fs.pipe_file(final, data)
            return
        tmp = f"{parent}/{TMP_MARK}{uuid.uuid4().hex}-{final.rsplit('/', 1)[1]}"
        if self.local:
            with open(tmp, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())  # the bytes reach the disk before the name does (power loss, not only SIGKILL)
            os.replace(tmp, final)  # atomic on POSIX, also when `final` exists (the index)
        else:
            self.fs.pipe_file(tmp, data)
            self.fs.mv(tmp, final)

    def read_bytes(self, rel: str) -> bytes:
        full = self._full(rel)
        self._check_inside(full)
        return bytes(self.fs.cat_file(full))

    def listing(self) -> dict[str, dict[str, Any]]:
        """Every file (and link) below the root: relative path → fsspec info (size, islink), from one listing."""
        try:
            found = self.fs.find(self.root, detail=True)
        except FileNotFoundError:
            return {}
        n = len(self.root) + 1
        return {str(p)[n:]: info for p, info in found.items()
                if info.get("type") != "directory" and str(p).startswith(self.root + "/")}

    def write_json(self, rel: str, obj: Any, *, compact: bool = False) -> None:
        text = json.dumps(obj, separators=(",", ":")) if compact else json.dumps(obj, indent=1)
        self.write_atomic(rel, (text + "\n").encode())

    def read_json(self, rel: str) -> Any:
        return json.loads(self.read_bytes(rel))

    def remove_temporaries(self) -> int:
        """Delete leftovers of writes that were interrupted (they are never referenced by the index)."""
        try:
            found = [p for p in self.fs.find(self.root) if TMP_MARK in p.rsplit("/", 1)[-1]]
        except FileNotFoundError:
            return 0
        for p in found:
            self.fs.rm_file(p)
        return len(found)


def _protocols(fs: Any) -> tuple[str, ...]:
    p = fs.protocol
    return (p,) if isinstance(p, str) else tuple(p)


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """Arrays as an ``.npz`` (a zip of ``.npy``; ``np.load(f, allow_pickle=False)`` reads it anywhere)."""
    for name, a in arrays.items():
        if np.asarray(a).dtype.hasobject:
            raise TypeError(f"array {name!r} has dtype object: only plain numeric arrays are stored (no pickle)")
    buf = io.BytesIO()
    # numpy's stub reads a **dict as possibly naming its allow_pickle flag (numpy >= 2.1); these are array names
    np.savez(buf, **{k: np.ascontiguousarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    return buf.getvalue()


def load_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
