"""Reading reference cases from a folder of radiographs with sidecars, or from JSONL."""

from __future__ import annotations

import json

import pytest

from explainmyxray.core.errors import InputError, UsageError
from explainmyxray.retrieval.references import load_references

from .conftest import REPORTS, WITHOUT_REPORT


def test_folder_pairs_images_with_sidecar_reports(reference_folder, cxr):
    refs = load_references(reference_folder)
    assert sorted(r.id for r in refs.references) == sorted(REPORTS)
    by_id = {r.id: r for r in refs.references}
    effusion = by_id["rgb_16747_3_1.jpg"]
    assert effusion.report == REPORTS["rgb_16747_3_1.jpg"]
    assert effusion.image == reference_folder.absolute() / "rgb_16747_3_1.jpg"
    assert "pleural effusion" in effusion.labels
    # negated findings are not labels
    assert "pleural effusion" not in by_id["nih_00000001_000.png"].labels
    assert "cardiomegaly" in by_id["nih_00000001_000.png"].labels
    assert [s[0].endswith(WITHOUT_REPORT) for s in refs.skipped] == [True]


def test_jsonl_records_relative_images_and_given_labels(tmp_path, cxr):
    (tmp_path / "img.png").symlink_to(cxr / "nih_00000001_000.png")
    lines = [
        {"id": "a", "image": "img.png", "report": "Cardiomegaly.", "labels": ["cardiomegaly"]},
        {"report": "Small left pleural effusion."},
    ]
    source = tmp_path / "refs.jsonl"
    source.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n", encoding="utf-8")
    refs = load_references(source)
    first, second = refs.references
    assert (first.id, first.labels, first.image) == ("a", ("cardiomegaly",), tmp_path / "img.png")
    assert (second.id, second.image) == ("line-2", None)
    assert second.labels == ("pleural effusion",)


@pytest.mark.parametrize(
    ("line", "error", "message"),
    [
        ("{not json", UsageError, "refs.jsonl:2: not valid JSON"),
        ('{"image": "x.png"}', UsageError, "refs.jsonl:2: 'report'"),
        ('{"report": "x", "colour": 1}', UsageError, "unknown field(s) colour"),
        ('{"report": "x", "image": "missing.png"}', InputError, "missing.png does not exist"),
        ('{"report": "x", "labels": "effusion"}', UsageError, "'labels' must be a list"),
        ('{"id": "a", "report": "y"}', UsageError, "id 'a' appears twice"),
    ],
)
def test_bad_jsonl_lines_name_file_and_line(tmp_path, line, error, message):
    source = tmp_path / "refs.jsonl"
    source.write_text('{"id": "a", "report": "ok"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(error) as caught:
        load_references(source)
    assert message in str(caught.value)


def test_folder_without_reports_and_wrong_sources_are_usage_errors(tmp_path, cxr):
    (tmp_path / "a.png").symlink_to(cxr / "nih_00000001_000.png")
    with pytest.raises(UsageError, match="1 image"):
        load_references(tmp_path)
    with pytest.raises(UsageError, match="no such folder"):
        load_references(tmp_path / "nope")
    with pytest.raises(UsageError, match=r"\.jsonl"):
        load_references(tmp_path / "a.png")
