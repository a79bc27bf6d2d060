"""The page's viewer markup, disagreements, provenance and label placement (no browser needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from explainmyxray.core.case import Case, StageRecord
from explainmyxray.outputs import write_case_outputs, write_index
from explainmyxray.outputs.html import EMBED_MAX_CASES, render_index
from explainmyxray.outputs.labels import LabelRequest, _overlaps, place_labels

from .builders import full_case


def _rects(svg: str, group: str) -> list[tuple[float, float, float, float]]:
    boxes = []
    for x, y, w, h in re.findall(
        r'<rect class="' + group + r'" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
        r'height="([\d.]+)"',
        svg,
    ):
        boxes.append((float(x), float(y), float(x) + float(w), float(y) + float(h)))
    return boxes


def test_each_drawn_finding_has_one_label_clear_of_other_findings_boxes(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    page = render_index([case], title="t", pipeline_name="p")
    groups = re.findall(r'<g class="f" data-f="(\d+)">(.*?)</g></g>', page)
    assert [number for number, _ in groups] == ["1", "2", "3"]
    boxes = {number: _rects(body, "box") for number, body in groups}
    labels = {number: _rects(body, "label-bg") for number, body in groups}
    for number, own_labels in labels.items():
        assert len(own_labels) == 1  # one label per finding, not one per region
        others = [b for n, bs in boxes.items() if n != number for b in bs]
        for other in others:
            if other in boxes[number]:
                continue
            assert not _overlaps(own_labels[0], other), (number, other)
    names = re.findall(r'<tspan fill="#f1f3f5"[^>]*>([^<]+)</tspan>', page)
    assert names == ["pleural effusion", "cardiomegaly", "nodule (uncertain)"]  # never cut


def test_place_labels_moves_a_label_off_other_boxes_and_off_other_labels() -> None:
    own = (100.0, 100.0, 200.0, 200.0)
    crowd = [(100.0, 60.0, 400.0, 99.0), (0.0, 201.0, 400.0, 260.0)]
    requests = [
        LabelRequest("a", 80, 20, own, (own,)),
        LabelRequest("b", 80, 20, own, (own,)),
    ]
    placed = place_labels(requests, (400, 400), boxes=[own, *crowd])
    assert all(p.inside_image for p in placed)
    for p in placed:
        assert not any(_overlaps(p.rect, box) for box in crowd)
    assert not _overlaps(placed[0].rect, placed[1].rect)


def test_a_label_with_no_free_spot_leaves_the_image_alone() -> None:
    own = (0.0, 0.0, 10.0, 10.0)
    wall = (0.0, 0.0, 100.0, 100.0)
    (placement,) = place_labels(
        [LabelRequest("a", 50, 20, own, (own,))], (100, 100), boxes=[own, wall]
    )
    assert not placement.inside_image


def test_confidence_is_shown_or_explicitly_not_given(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    case.report.findings[1].confidence = None  # type: ignore[union-attr]
    page = render_index([case], title="t", pipeline_name="p")
    table = page.split('<table class="findings">', 1)[1].split("</table>", 1)[0]
    assert "0.86" in table and "0.41" in table
    assert table.count(">not given</span>") == 2  # cardiomegaly now, and pneumothorax


def test_disagreements_come_first_and_are_counted(cxr: Path) -> None:
    disputed = full_case(cxr / "nih_00000001_000.png", "disputed")
    calm = full_case(cxr / "nih_00027426_000.png", "calm")
    calm.verification = []
    page = render_index([calm, disputed], title="t", pipeline_name="p")
    assert re.search(r'<div class="n">1</div><div class="l">Cases with disagreements', page)
    rows = re.findall(r'<a href="#case-(\d)">', page)
    assert rows == ["2", "1"]  # the disputed case leads the summary table
    section = page.split('id="case-2"', 1)[1]
    assert section.index("Disagreements — look here first") < section.index('class="viewer"')
    for text in (
        "cardiomegaly",
        "supplied vs labeler",
        "report says present, labeler reads absent",
    ):
        assert text in section
    assert "atelectasis" in section and "pneumothorax" in section  # hallucinated and dropped


def test_provenance_names_the_generator_that_really_wrote_the_text(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    case.metadata["input_sha256"] = "ab" * 32
    case.report.warnings.insert(  # type: ignore[union-attr]
        0, "MedGemma weights are not on this machine; the supplied report was parsed instead"
    )
    case.provenance.append(StageRecord(stage="generate", plugin="medgemma", seconds=0.1))
    run = {
        "versions": {"explainmyxray": "9.9", "torch": "2.14.1"},
        "models": [
            {
                "name": "litemedsam",
                "step": "localize:litemedsam",
                "revision": None,
                "weights_sha256": "cd" * 32,
                "weights": "/w/lite_medsam.pth",
            }
        ],
    }
    page = render_index([case], title="t", pipeline_name="p", provenance=run)
    assert "<strong>the supplied report (--report or &lt;image&gt;.txt)</strong>" in page
    assert "step <code>medgemma</code> ran but did not write it" in page
    assert "ab" * 32 in page and "explainmyxray 9.9" in page and ("cd" * 8) in page


def test_unmapped_statements_are_shown(cxr: Path) -> None:
    from explainmyxray.core.case import UnmappedStatement

    case = full_case(cxr / "nih_00000001_000.png")
    unmapped = [UnmappedStatement(text="Old granuloma <b>", start=0, end=16, reason="no finding")]
    case.report = case.report.model_copy(update={"unmapped": unmapped})  # type: ignore[union-attr]
    page = render_index([case], title="t", pipeline_name="p")
    assert "Not mapped to a finding" in page
    assert "“Old granuloma &lt;b&gt;”" in page and "no finding" in page


def test_rl_markers_and_quality_flags_sit_on_the_image(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    page = render_index([case], title="t", pipeline_name="p")
    hud = page.split('<div class="hud">', 1)[1].split("</div>", 1)[0]
    assert ">R</span>" in hud and ">L</span>" in hud and "low_contrast" in hud
    assert hud.index(">R</span>") < hud.index(">L</span>")  # patient's right on the left
    case.image.view_position = "LL"  # type: ignore[union-attr]
    lateral = render_index([case], title="t", pipeline_name="p")
    assert ">R</span>" not in lateral.split('<div class="hud">', 1)[1].split("</div>", 1)[0]


@pytest.mark.parametrize("extra", [0, 1])
def test_large_runs_link_their_images_instead_of_embedding_them(cxr, tmp_path, extra) -> None:
    cases: list[Case] = []
    for i in range(EMBED_MAX_CASES + extra):
        case = full_case(cxr / "nih_00000001_000.png", f"case-{i:03d}")
        write_case_outputs(case, tmp_path / "cases" / case.id)
        cases.append(
            case.model_copy(update={"image": case.image.model_copy(update={"pixels": None})})
        )
    html = write_index(tmp_path, cases, title="t", pipeline_name="p").read_text()
    linked = re.findall(r'src="(cases/[^"]+/image\.jpg)"', html)
    if extra:
        assert len(linked) == len(cases) and "data:image" not in html
        assert all((tmp_path / src).is_file() for src in linked)
        assert len(html) < 40_000 * len(cases)
    else:
        assert linked == [] and html.count("data:image/jpeg") == len(cases)
