"""The built front-end files, as text.

Given as strings, not paths: anywidget (0.11) turns a path into a class-level ``FileContents`` whose ``changed``
signal keeps a strong reference to every widget ever created (for hot reload), so no widget would be collected.
"""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "static"


def asset(name: str) -> str:
    return (STATIC / name).read_text(encoding="utf-8")
