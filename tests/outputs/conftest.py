from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def cxr(shared_data: Path) -> Path:
    folder = shared_data / "cxr"
    if not folder.is_dir():
        pytest.skip(f"radiograph folder {folder} is absent (see shared/data/README.md)")
    return folder
