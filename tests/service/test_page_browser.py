"""The service's web page in a real headless Chromium: upload a real radiograph, wait for the
job, see the overlay (with its coloured regions) and the findings, open the run viewer."""

from __future__ import annotations

import pytest

from tests.headless import HEADLESS_FLAGS, browser

from .server import REPORT, Server

pytestmark = pytest.mark.browser

PIPELINE = "default"

# share of clearly coloured (not grey) pixels in the overlay as drawn on the page
_COLOURED = """img => {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
  let coloured = 0;
  for (let i = 0; i < px.length; i += 4) {
    const hi = Math.max(px[i], px[i + 1], px[i + 2]), lo = Math.min(px[i], px[i + 1], px[i + 2]);
    if (hi - lo > 60) coloured++;
  }
  return coloured / (px.length / 4);
}"""


def test_the_page_uploads_a_radiograph_and_shows_its_overlay_and_findings(shared_data, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = browser()
    server = Server(PIPELINE, tmp_path / "data", "--batch-window-ms", "0").start()
    try:
        with sync_api.sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(tmp_path / "profile"),
                executable_path=executable,
                headless=True,
                args=list(HEADLESS_FLAGS),
            )
            try:
                page = context.new_page()
                problems: list[str] = []
                page.on("console", lambda m: m.type == "error" and problems.append(m.text))
                page.on("pageerror", lambda e: problems.append(str(e)))
                page.goto(f"{server.url}/")
                page.set_input_files("#files", str(shared_data / "cxr" / "nih_00000001_000.png"))
                page.fill("#report", REPORT)
                page.click("#upload-form button[type=submit]")

                overlay = page.wait_for_selector(".case img.overlay", timeout=180_000)
                page.wait_for_function(
                    "() => { const i = document.querySelector('.case img.overlay');"
                    " return i && i.complete && i.naturalWidth > 0; }"
                )
                assert overlay.evaluate("img => img.naturalWidth") >= 512
                assert overlay.evaluate(_COLOURED) > 0.01  # region boxes and masks are drawn
                findings = page.inner_text(".case .findings")
                assert "cardiomegaly (present)" in findings
                assert "pleural effusion (present)" in findings
                assert "cardiac silhouette" in findings  # grounded to its region

                page.wait_for_selector("#jobs tr.job td.state.finished")
                assert "1 of 1 finished" in page.inner_text("#jobs")

                page.click("#open-viewer")
                viewer = page.frame_locator("#viewer")
                viewer.locator("h1").wait_for()
                assert "ExplainMyXray job" in viewer.locator("h1").inner_text()
                assert viewer.locator("section.case").count() == 1
                assert problems == []
            finally:
                context.close()
    finally:
        server.stop()
