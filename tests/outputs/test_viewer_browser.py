"""The page's radiograph viewer in a real headless Chromium (Playwright drives /usr/bin/chromium),
on a real run: NIH image 00003440 through the default pipeline with a supplied report, then
``eval`` against the NIH boxes. Toggling, hover, zoom and window/level must change what is drawn.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explainmyxray.cli.app import main
from explainmyxray.outputs.html import rewrite_index
from explainmyxray.scoring.evaluate import load_run_cases
from tests.headless import HEADLESS_FLAGS
from tests.headless import browser as find_browser

pytestmark = pytest.mark.browser

REPORT = (
    "FINDINGS: Mass in the left upper lobe. Atelectasis at the left lung base. Cardiomegaly. "
    "No pleural effusion. Possible nodule in the right upper lobe.\n"
    "IMPRESSION: Left upper lobe mass with basal atelectasis."
)
SCREENSHOTS = Path(os.environ.get("EXPLAINMYXRAY_SCREENSHOTS", tempfile.gettempdir()))
"""Where the tests leave screenshots of the viewer for a person to look at."""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, shared_data_module: Path) -> Path:
    image = shared_data_module / "cxr" / "nih_00003440_000.png"
    out = tmp_path_factory.mktemp("viewer-run")
    status = main(["run", "default", str(image), "--out", str(out), "--report", REPORT])
    assert status == 0
    txv = pytest.importorskip("torchxrayvision")
    boxes = Path(txv.__file__).parent / "data" / "BBox_List_2017.csv.gz"
    assert main(["eval", str(out), "--reference", str(boxes), "--resamples", "20"]) == 0
    return out


@pytest.fixture(scope="module")
def shared_data_module() -> Path:
    from tests.conftest import SHARED_DATA

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    return SHARED_DATA


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Iterator[object]:
    executable = find_browser()
    playwright = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with playwright.sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=executable,
            headless=True,
            args=list(HEADLESS_FLAGS),
            viewport={"width": 1400, "height": 1000},
        )
        yield context
        context.close()


@pytest.fixture
def page(browser, run_dir: Path):
    page = browser.new_page()
    problems: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    page.goto((run_dir / "index.html").as_uri())
    _wait(page, "() => document.querySelector('.viewer')?.dataset.ready === '1'")
    page.problems = problems  # type: ignore[attr-defined]
    page.requests = requests  # type: ignore[attr-defined]
    yield page
    page.close()


def _wait(page, predicate: str, timeout_s: float = 30.0) -> None:
    """Poll ``predicate`` through the DevTools protocol (Playwright's own polling evaluates
    strings inside the page, which the page's CSP rightly forbids)."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, f"timed out waiting for {predicate}"
        page.wait_for_timeout(50)


def _stage(page, *, hover: bool = False) -> np.ndarray:
    if not hover:
        page.mouse.move(1, 1)  # leave rows and boxes: hovering one highlights it
    shot = page.locator(".viewer .stage").first.screenshot()
    with Image.open(io.BytesIO(shot)) as image:
        return np.asarray(image.convert("RGB")).astype(np.float32)


def _save(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("section.case").first.screenshot(path=str(SCREENSHOTS / name))


def test_the_page_loads_nothing_from_the_network_and_states_a_csp(page):
    policy = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert "default-src 'none'" in policy and "script-src 'sha256-" in policy
    assert all(url.startswith(("file:", "data:")) for url in page.requests), page.requests
    assert page.problems == []  # a CSP violation would be a console error
    assert page.locator(".hud .side.left").inner_text() == "R"
    assert page.locator(".hud .side.right").inner_text() == "L"
    assert page.locator("svg.ov .ref").count() == 2  # the NIH boxes, drawn after eval
    assert page.locator(".disagreements tr").count() >= 2
    assert "not given" in page.locator("table.findings").first.inner_text()
    _save(page, "viewer.png")


def test_unticking_a_finding_hides_its_boxes(page):
    group = page.locator('svg.ov g.f[data-f="1"]')
    assert group.evaluate("g => getComputedStyle(g).display") != "none"
    before = _stage(page)
    page.locator('input.tog[data-f="1"]').uncheck()
    assert group.evaluate("g => getComputedStyle(g).display") == "none"
    after = _stage(page)
    assert np.abs(before - after).max() > 100  # the coloured box is gone from the pixels
    page.locator('input.tog[data-f="1"]').check()
    assert np.abs(_stage(page) - before).max() < 30


def test_a_region_row_shows_its_region_on_the_image(page):
    page.locator("details.regions summary").first.click()
    first = page.locator("details.regions tr[data-r]").first
    region = first.get_attribute("data-r")
    shown = page.locator(f'svg.ov g.a[data-r="{region}"]')
    assert shown.evaluate("g => getComputedStyle(g).display") == "none"
    first.locator("input.tog").check()
    assert shown.evaluate("g => getComputedStyle(g).display") != "none"


def test_hovering_a_row_highlights_its_boxes_and_dims_the_others(page):
    page.locator('table.findings tr[data-f="2"]').hover()
    assert "hl" in page.locator('svg.ov g.f[data-f="2"]').get_attribute("class")
    dimmed = page.locator('svg.ov g.f[data-f="1"]').evaluate(
        "g => Number(getComputedStyle(g).opacity)"
    )
    assert dimmed < 0.5
    page.locator('svg.ov g.f[data-f="1"] .label').hover()
    assert "hl" in page.locator('table.findings tr[data-f="1"]').get_attribute("class")
    _save(page, "viewer-hover.png")


def test_zoom_and_pan_change_what_is_drawn(page):
    viewer = page.locator(".viewer").first
    before = _stage(page)
    page.locator(".zoom-in").first.click()
    page.locator(".zoom-in").first.click()
    _wait(page, "() => Number(document.querySelector('.viewer').dataset.scale) > 1.4")
    zoomed = _stage(page)
    assert np.abs(before - zoomed).mean() > 5
    box = page.locator(".viewer .stage").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 120, box["y"] + box["height"] / 2 + 60, steps=5)
    page.mouse.up()
    assert np.abs(_stage(page) - zoomed).mean() > 5  # panned
    page.locator(".zoom-reset").first.click()
    _wait(page, "() => Number(document.querySelector('.viewer').dataset.scale) === 1")
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    _wait(page, "() => Number(document.querySelector('.viewer').dataset.scale) > 1")
    assert float(viewer.get_attribute("data-scale")) > 1


def test_window_and_level_change_the_radiographs_pixels(page):
    page.locator('input.layer[data-layer="f"]').uncheck()  # compare the radiograph alone
    full = _stage(page)
    page.locator(".wl-preset", has_text="Bone").first.click()
    assert page.locator(".viewer").first.get_attribute("data-window") == "90"
    bone = _stage(page)
    assert abs(full.mean() - bone.mean()) > 10
    # window 90 at level 190: grey g is drawn as (g - 145) * 255 / 90, clipped to [0, 255]
    expected = np.clip((full.mean(-1) - (190 - 45)) * 255 / 90, 0, 255)
    assert np.median(np.abs(expected - bone.mean(-1))) < 6
    page.locator(".wl-invert").first.check()
    inverted = _stage(page)
    assert np.corrcoef(bone.mean(-1).ravel(), inverted.mean(-1).ravel())[0, 1] < -0.5
    _save(page, "viewer-bone-window.png")


def test_a_large_run_links_image_files_that_the_policy_allows(browser, run_dir, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    from explainmyxray.outputs.html import write_index

    index = write_index(
        copy, load_run_cases(copy), title="t", pipeline_name="default", embed_images=False
    )
    assert "data:image" not in index.read_text()
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.goto(index.as_uri())
    image = page.locator("img.xr").first
    image.scroll_into_view_if_needed()
    _wait(page, "() => document.querySelector('img.xr').complete")
    assert image.evaluate("i => i.naturalWidth") > 0, problems
    assert problems == []
    page.close()
    assert rewrite_index(copy).is_file()
