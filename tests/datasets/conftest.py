from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def iu_archive() -> Path:
    """torchxrayvision's packaged IU X-ray report archive (found without importing torch)."""
    if importlib.util.find_spec("torchxrayvision") is None:
        pytest.skip("torchxrayvision (which ships the IU X-ray reports) is not installed")
    from explainmyxray.datasets.iu_xray import default_archive

    return default_archive()
