from __future__ import annotations

import base64
import hashlib
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explainmyxray.core.case import Case
from explainmyxray.outputs import write_index
from explainmyxray.outputs.html import ORIGINAL_MAX_SIDE

from ..conftest import SHARED_DATA
from .builders import failed_case, full_case, no_findings_case

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
EVIL = "<script>alert('x')</script> & blunting"


class Page(HTMLParser):
    """Collects tags, attributes and text, and checks that every element is closed in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.problems: list[str] = []
        self.class_text: dict[str, list[str]] = {}
        self._classes: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)
            self._classes.append((dict(attrs).get("class") or "").split())

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        self._classes.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        for classes in self._classes:
            for name in classes:
                self.class_text.setdefault(name, []).append(data)

    def attrs(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def _parse(document: str) -> Page:
    page = Page()
    page.feed(document)
    page.close()
    return page


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    cxr = SHARED_DATA / "cxr"
    if not cxr.is_dir():
        pytest.skip(f"radiograph folder {cxr} is absent (see shared/data/README.md)")
    return [
        full_case(cxr / "nih_00000001_000.png", "nih-0001", evidence=EVIL),
        full_case(cxr / "covid19_pneumonia_58_prior.jpg", "covid-58"),
        no_findings_case(cxr / "nih_00027426_000.png", "nih-27426"),
        failed_case("broken-dicom"),
    ]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory, cases: list[Case]) -> tuple[Path, str, Page]:
    run_dir = tmp_path_factory.mktemp("run")
    path = write_index(run_dir, cases, title="Run <1>", pipeline_name="default & more")
    document = path.read_text(encoding="utf-8")
    return path, document, _parse(document)


def test_index_is_written_once_into_the_run_folder(index) -> None:
    path, document, page = index
    assert path.name == "index.html"
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]  # no temporary files left
    assert document.startswith("<!DOCTYPE html>")
    assert page.problems == []
    assert page.stack == []


def test_index_loads_nothing_from_anywhere(index) -> None:
    _, document, page = index
    script = document.split("<script>", 1)[1].split("</script>", 1)[0]
    markup = document.replace(script, "")
    assert "http://" not in markup and "https://" not in markup
    # the only addresses in the script are the vendored library's home and licence, in its
    # comment and error messages; the policy would block any fetch anyway
    addresses = set(re.findall(r"https?://[^\s\"']+", script))
    assert addresses and all(a.startswith("https://github.com/timmywil/panzoom") for a in addresses)
    assert re.findall(r"""src\s*=\s*(?!["']?data:)""", document, flags=re.IGNORECASE) == []
    assert page.attrs("script") == [{}]  # one inline script, nothing fetched
    assert page.attrs("link") == [] and page.attrs("iframe") == []
    for attrs in page.attrs("a"):
        assert (attrs.get("href") or "").startswith("#")
    assert set(re.findall(r"url\((.)", document)) <= {"#"}  # filter references only, no fetches
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', document)
    assert policy and "default-src 'none'" in policy.group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in policy.group(1)  # the policy allows this script only


def test_images_are_embedded_and_downscaled(index) -> None:
    _, _, page = index
    images = page.attrs("img")
    assert len(images) == 3  # the viewer's radiograph for each of the three cases with an image
    for attrs in images:
        header, _, payload = (attrs["src"] or "").partition(",")
        assert header in ("data:image/jpeg;base64", "data:image/png;base64")
        with Image.open(io.BytesIO(base64.b64decode(payload))) as image:
            assert max(image.size) <= ORIGINAL_MAX_SIDE
        assert attrs.get("alt")


def test_every_case_is_listed_and_linked(index, cases: list[Case]) -> None:
    _, _, page = index
    text = " ".join(page.text)
    anchors = {a["id"] for _, a in page.tags if a.get("id")}
    links = [a["href"] for a in page.attrs("a")]
    for number, case in enumerate(cases, start=1):
        assert text.count(case.id) >= 2  # summary row and case heading
        assert f"#case-{number}" in links
        assert f"case-{number}" in anchors


def test_text_is_escaped(index) -> None:
    _, document, page = index
    assert "<script>alert" not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; blunting" in document
    assert EVIL in " ".join(page.text)
    assert "<title>Run &lt;1&gt;</title>" in document
    assert "default &amp; more" in document


def test_report_sections_statuses_and_regions(index) -> None:
    _, _, page = index
    text = " ".join(" ".join(page.text).split())
    for heading in ("Findings", "Locations", "Impression"):
        assert heading in page.text
    assert "Right pleural effusion and cardiomegaly. Possible left upper zone nodule." in text
    for status in ("present", "uncertain", "absent"):
        assert status in page.text
    assert "right costophrenic angle" in text and "cardiac silhouette" in text
    assert "left upper lobe" in text  # the report's own location words are kept


def test_quality_verification_and_scores_are_shown(index) -> None:
    _, _, page = index
    text = " ".join(page.text)
    assert "low_contrast" in text and "the lung fields have little contrast" in text
    assert "0.031" in page.text and "0.05" in page.text  # value and threshold
    for verdict in ("agree", "contradicted", "not mentioned"):
        assert verdict in page.text
    assert "Hallucinated:" in page.text and "atelectasis" in page.text
    assert "Dropped:" in page.text and "pneumothorax" in page.text
    assert "grounding_iou" in text and "0.612" in page.text
    assert "50% agree" in text


def test_case_errors_are_red(index) -> None:
    _, _, page = index
    red = " ".join(page.class_text.get("errors", []))
    assert "preprocess" in red and "dicom" in red and "InputError" in red
    assert "pixel data is truncated: expected 2097152 bytes, found 1024" in red
    assert "No image: the radiograph could not be decoded." in page.text


def test_missing_reports_say_so_and_why(index) -> None:
    _, _, page = index
    notices = " ".join(page.class_text.get("notice", []))
    assert notices.count("No report was generated.") == 2
    assert "no report was generated: no generator weights are configured" in notices
    assert "the case failed in the preprocess stage before a report was written" in notices


def test_summary_counts(index) -> None:
    _, _, page = index
    stats = page.class_text.get("stat", [])
    pairs = dict(zip(stats[1::2], stats[0::2], strict=True))
    assert pairs["Cases"] == "4"
    assert pairs["Failed"] == "1"
    assert pairs["Completed"] == "3"
    assert pairs["Cases with quality flags"] == "2"
    assert pairs["Findings present"] == "4"
    assert pairs["Without a report"] == "2"


def test_an_empty_run_still_gets_an_index(tmp_path: Path) -> None:
    path = write_index(tmp_path, [], title="Empty", pipeline_name="default")
    page = _parse(path.read_text(encoding="utf-8"))
    assert page.problems == []
    assert "No cases in this run." in page.text


def test_a_case_whose_image_cannot_be_shown_keeps_the_index(cxr: Path, tmp_path: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png", "odd-mask")
    heart = next(r for r in case.anatomy if r.id == "cardiac_silhouette")
    heart.mask = np.array([["not", "a"], ["mask", "!"]], dtype=object)
    broken = full_case(cxr / "nih_00000001_000.png", "flat-pixels")
    broken.image.pixels = np.zeros(7, dtype=np.float32)  # type: ignore[union-attr]
    path = write_index(tmp_path, [case, broken], title="t", pipeline_name="p")
    page = _parse(path.read_text(encoding="utf-8"))
    assert page.problems == []
    bad = " ".join(page.class_text.get("noimage", []))
    assert "The image cannot be shown: expected an H x W pixel array, got shape (7,)" in bad
    assert len(page.attrs("img")) == 1  # the first case's radiograph is still there


def test_cases_without_pixels_are_shown_from_their_files(cxr: Path, tmp_path: Path) -> None:
    from explainmyxray.outputs import write_case_outputs, write_index

    case = full_case(cxr / "nih_00000001_000.png")
    write_case_outputs(case, tmp_path / "cases" / case.id)
    light = case.model_copy(update={"image": case.image.model_copy(update={"pixels": None})})
    html = write_index(tmp_path, [light], title="t", pipeline_name="p").read_text()
    assert html.count('src="data:image/jpeg;base64,') == 1
    assert "not in memory" not in html


def test_labels_are_shown_by_their_english_names(cxr: Path, tmp_path: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    case.report.findings[0].label = "pneumoperitoneo"
    case.groundings[0].finding = "pneumoperitoneo"
    html = write_index(tmp_path, [case], title="t", pipeline_name="p").read_text()
    assert "pneumoperitoneum" in html and "pneumoperitoneo<" not in html
