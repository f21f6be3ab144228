"""Helpers shared by the tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout. Skips only where it is absent (a user's clone);
    in CI (``CI=true``) its absence is an error, never a skip."""
    path = Path(os.environ.get("ZHIKU_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        if os.environ.get("CI"):
            raise RuntimeError(f"shared data missing in CI: {path}")
        pytest.skip(f"shared data not present at {path} (only in the project's own checkouts)")
    return path
