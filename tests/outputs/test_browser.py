"""Renders index.html in a headless Chromium, offline, and checks the page really shows."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explainmyxray.outputs import write_index

from ..browser import HEADLESS_FLAGS, find_browser
from .builders import failed_case, full_case, no_findings_case

pytestmark = pytest.mark.browser


def test_index_renders_in_a_headless_browser(cxr: Path, tmp_path: Path) -> None:
    browser = find_browser()
    run_dir = tmp_path / "run"
    cases = [
        full_case(cxr / "nih_00000001_000.png", "nih-0001"),
        no_findings_case(cxr / "nih_00027426_000.png", "nih-27426"),
        failed_case("broken-dicom"),
    ]
    index = write_index(run_dir, cases, title="Browser check", pipeline_name="default")
    screenshot = tmp_path / "page.png"
    command = [
        browser,
        "--headless",
        *HEADLESS_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={screenshot}",
        "--window-size=1400,2000",
        index.as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert screenshot.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-900:]}"

    with Image.open(screenshot) as image:
        assert image.size == (1400, 2000)
        pixels = np.asarray(image.convert("RGB")).astype(float)
    gray = pixels.mean(axis=-1)
    assert gray.std() > 30  # not a blank page
    assert (gray < 60).mean() > 0.05  # the embedded radiographs were decoded and drawn
    red = (pixels[..., 0] > 180) & (pixels[..., 1] < 90) & (pixels[..., 2] < 100)
    assert red.sum() > 50  # status and verdict chips keep their colours
