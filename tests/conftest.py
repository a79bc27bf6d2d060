from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EXPLAINMYXRAY_SHARED_DATA") or REPO.parent / "shared" / "data")
"""The real data folder; a git worktree elsewhere names it with ``EXPLAINMYXRAY_SHARED_DATA``."""


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (see shared/data/README.md)")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def _no_plugin_env(monkeypatch):
    monkeypatch.delenv("EXPLAINMYXRAY_PLUGINS", raising=False)
    monkeypatch.delenv("EXPLAINMYXRAY_DISABLE_PLUGINS", raising=False)
