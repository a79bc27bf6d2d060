from __future__ import annotations

import importlib.util

import pytest

from explainmyxray.datasets.iu_xray import IUReport, read_reports, split_reports


@pytest.fixture(scope="session")
def iu_dev() -> dict[int, IUReport]:
    """The IU X-ray development reports (ids < 2000), from torchxrayvision's packaged archive."""
    if importlib.util.find_spec("torchxrayvision") is None:
        pytest.skip("torchxrayvision (which ships the IU X-ray reports) is not installed")
    dev, _ = split_reports(read_reports())
    return {r.id: r for r in dev}
