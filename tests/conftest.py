"""Shared pytest setup: make ``src/`` and ``tests/`` importable, and shared fixtures.

``src`` goes on ``sys.path`` only when the package is not installed, so ``pytest`` works in a fresh
checkout and still tests the installed package when there is one (``pip install -e .``).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent
SRC = TESTS.parent / "src"

for _path in (TESTS, SRC if importlib.util.find_spec("promptreview") is None else None):
    if _path is not None and str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
