"""Training data from real PadChest rows (placeholder images) and from JSONL."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from explainmyxray.core.errors import InputError, UsageError
from explainmyxray.report.parse import parse_report
from explainmyxray.scoring.references import image_key, padchest_findings
from explainmyxray.training.dataset import (
    DataOptions,
    build_training_data,
    read_jsonl_examples,
    read_padchest_examples,
    split_patients,
    target_report,
)

from .conftest import write_placeholder, write_table

FRONTAL = {"PA", "AP", "AP_horizontal"}


def usable(row: dict[str, str]) -> bool:
    findings = padchest_findings(row["Labels"], row["LabelsLocalizationsBySentence"])
    return bool(findings) and any(
        f.label not in ("unchanged", "suboptimal study") for f in findings
    )


def test_frontal_rows_with_images_become_examples(padchest):
    data = read_padchest_examples(padchest.table, padchest.images, DataOptions())
    expected = {
        image_key(r["ImageID"])
        for r in padchest.rows
        if r["Projection"] in FRONTAL and usable(r) and r["ImageID"] not in padchest.missing
    }
    assert {e.key for e in data.examples} == expected
    assert len(expected) >= 8
    summary = data.summary
    assert summary["rows"] == len(padchest.rows)
    assert summary["examples"] == len(expected)
    lateral = [r["ImageID"] for r in padchest.rows if r["Projection"] not in FRONTAL]
    assert summary["skipped"]["projection"]["count"] == len(lateral)
    assert summary["skipped"]["projection"]["by_value"] == dict(
        Counter(r["Projection"] for r in padchest.rows if r["Projection"] not in FRONTAL)
    )
    # Missing images are counted and named, never dropped silently.
    assert summary["skipped"]["missing_images"] == {
        "count": len(padchest.missing),
        "first": padchest.missing,
    }
    dropped_only = [
        r["ImageID"] for r in padchest.rows if r["Projection"] in FRONTAL and not usable(r)
    ]
    assert summary["skipped"]["only_dropped_labels"]["first"] == dropped_only
    accounted = sum(s["count"] for s in summary["skipped"].values()) + summary["examples"]
    assert accounted == summary["rows"]
    # Images in ImageDir subfolders are found.
    assert all(e.image.parent.name.isdigit() for e in data.examples)


def test_lateral_views_only_when_asked(padchest):
    data = read_padchest_examples(
        padchest.table, padchest.images, DataOptions(include_lateral=True)
    )
    assert data.summary["skipped"]["projection"]["count"] == 0
    projections = {r["ImageID"]: r["Projection"] for r in padchest.rows}
    assert "L" in {projections[e.image.name] for e in data.examples}


def test_no_patient_in_two_splits_and_split_is_seeded(padchest):
    options = DataOptions(validation_fraction=0.25, test_fraction=0.2, seed=3)
    data = read_padchest_examples(padchest.table, padchest.images, options)
    splits_of: dict[str, set[str]] = {}
    for example in data.examples:
        splits_of.setdefault(example.patient, set()).add(example.split)
    assert all(len(s) == 1 for s in splits_of.values()), splits_of
    patients = {r["PatientID"] for r in padchest.rows}
    assert {e.patient for e in data.examples} <= patients
    counts = Counter(e.split for e in data.examples)
    assert counts["train"] and counts["validation"] and counts["test"]
    assert data.summary["splits"]["validation"]["examples"] == counts["validation"]
    again = read_padchest_examples(padchest.table, padchest.images, options)
    assert [(e.key, e.split) for e in again.examples] == [(e.key, e.split) for e in data.examples]


def test_physician_labelled_patients_fill_validation_first(padchest_records, tmp_path):
    header, rows = padchest_records
    frontal_patients = sorted({r["PatientID"] for r in rows if r["Projection"] in FRONTAL})
    physician_patient = frontal_patients[0]
    relabelled = [
        {**r, "MethodLabel": "Physician" if r["PatientID"] == physician_patient else "RNN_model"}
        for r in rows
    ]
    table = write_table(tmp_path / "t.csv", header, relabelled)
    for i, row in enumerate(rows):
        write_placeholder(tmp_path / "img" / row["ImageDir"] / row["ImageID"], seed=i, size=8)
    for seed in range(5):
        options = DataOptions(validation_fraction=0.05, test_fraction=0.0, seed=seed)
        data = read_padchest_examples(table, tmp_path / "img", options)
        assert {e.patient for e in data.split("validation")} == {physician_patient}
        assert all(e.physician for e in data.split("validation"))
    unpreferred = {
        frozenset(
            e.patient
            for e in read_padchest_examples(
                table,
                tmp_path / "img",
                DataOptions(validation_fraction=0.05, seed=seed, physician_validation=False),
            ).split("validation")
        )
        for seed in range(8)
    }
    assert len(unpreferred) > 1  # without the preference other patients are drawn too


def test_target_report_has_locations_by_sentence_and_parses_back(padchest):
    row = next(
        r for r in padchest.rows if r["Projection"] == "PA" and "pulmonary fibrosis" in r["Labels"]
    )
    findings = padchest_findings(row["Labels"], row["LabelsLocalizationsBySentence"])
    text = target_report(findings)
    assert text.startswith("FINDINGS:\n")
    assert text.index("FINDINGS:") < text.index("LOCATIONS:") < text.index("IMPRESSION:")
    assert "- pulmonary fibrosis: basal bilateral" in text
    assert "- ground glass pattern: basal" in text
    assert "kyphosis:" not in text  # no location in its sentence
    parsed = parse_report(text)
    assert {f.label.lower() for f in parsed.findings} == {f.label.lower() for f in findings}
    assert parsed.warnings == []
    by_label = {f.label: f.locations for f in parsed.findings}
    assert by_label["pulmonary fibrosis"] == ["loc basal bilateral"]


def test_normal_study_reads_normal():
    text = target_report(padchest_findings("['normal']", "[['normal']]"))
    assert "- normal" in text and "Normal chest radiograph." in text


def test_unparseable_and_empty_labels_are_counted(padchest_records, tmp_path):
    header, rows = padchest_records
    frontal = [r for r in rows if r["Projection"] == "PA"][:4]
    broken = [
        {**frontal[0], "Labels": "['pleural effusion'"},
        {**frontal[1], "Labels": ""},
        {**frontal[2], "Labels": "['exclude']"},
        frontal[3],
    ]
    table = write_table(tmp_path / "t.csv", header, broken)
    for i, row in enumerate(broken):
        write_placeholder(tmp_path / "img" / row["ImageID"], seed=i, size=8)
    data = read_padchest_examples(table, tmp_path / "img", DataOptions(validation_fraction=0))
    skipped = data.summary["skipped"]
    assert skipped["unparseable_labels"] == {"count": 1, "first": [frontal[0]["ImageID"]]}
    assert skipped["no_labels"]["count"] == 2
    assert [e.image.name for e in data.examples] == [frontal[3]["ImageID"]]


def test_not_a_padchest_table(tmp_path):
    (tmp_path / "t.csv").write_text("ImageID,Labels\na.png,['normal']\n")
    (tmp_path / "img").mkdir()
    with pytest.raises(InputError, match="PatientID"):
        read_padchest_examples(tmp_path / "t.csv", tmp_path / "img", DataOptions())


@pytest.mark.parametrize(
    ("sizes", "fractions"),
    [
        ({f"p{i}": 1 + i % 3 for i in range(40)}, {"validation": 0.1, "test": 0.1}),
        ({"a": 5, "b": 1}, {"validation": 0.5, "test": 0.5}),
        ({"only": 3}, {"validation": 0.2}),
    ],
)
def test_split_patients_keeps_a_training_patient_and_meets_fractions(sizes, fractions):
    assignment = split_patients(sizes, {}, fractions, seed=1)
    assert set(assignment) == set(sizes)
    assert "train" in assignment.values()
    total = sum(sizes.values())
    for split, fraction in fractions.items():
        held = sum(n for p, n in sizes.items() if assignment[p] == split)
        if len(sizes) > 2:
            assert held >= round(fraction * total)
            assert held <= round(fraction * total) + max(sizes.values())


# --- JSONL --------------------------------------------------------------------------------------


def write_jsonl(path: Path, documents: list[dict]) -> Path:
    path.write_text("".join(json.dumps(d) + "\n" for d in documents))
    return path


def test_jsonl_report_and_label_examples(tmp_path):
    for name in ("a.png", "b.png", "c.png"):
        write_placeholder(tmp_path / "imgs" / name, seed=1, size=8)
    jsonl = write_jsonl(
        tmp_path / "data.jsonl",
        [
            {"image": "imgs/a.png", "report": "Small left pleural effusion. No pneumothorax."},
            {
                "image": "imgs/b.png",
                "labels": ["cardiomegaly", "nodule", "unchanged"],
                "locations": {"nodule": ["loc right upper lobe"]},
                "patient": "p1",
            },
            {"image": "imgs/c.png", "labels": ["normal"], "patient": "p1"},
            {"image": "imgs/gone.png", "labels": ["normal"]},
        ],
    )
    data = read_jsonl_examples(jsonl, DataOptions(validation_fraction=0.3))
    assert [e.key for e in data.examples] == ["a", "b", "c"]
    by_key = {e.key: e for e in data.examples}
    assert by_key["a"].report.startswith("Small left pleural effusion")
    effusion = {f.label: f for f in by_key["a"].findings}["pleural effusion"]
    assert effusion.status == "present" and "loc left" in effusion.locations
    assert {f.label: f.status for f in by_key["a"].findings}["pneumothorax"] == "absent"
    assert "- nodule: right upper lobe" in by_key["b"].report
    assert "unchanged" not in by_key["b"].report
    assert data.summary["dropped_labels"] == {"unchanged": 1}
    assert by_key["b"].split == by_key["c"].split  # one patient, one split
    assert data.summary["skipped"]["missing_images"]["count"] == 1
    assert data.summary["skipped"]["missing_images"]["first"][0].endswith("gone.png")


def test_jsonl_given_splits_are_kept(tmp_path):
    write_placeholder(tmp_path / "a.png", seed=1, size=8)
    write_placeholder(tmp_path / "b.png", seed=2, size=8)
    jsonl = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"image": "a.png", "labels": ["normal"], "split": "validation"},
            {"image": "b.png", "labels": ["nodule"], "split": "train"},
        ],
    )
    data = build_training_data(DataOptions(), jsonl=jsonl)
    assert [(e.key, e.split) for e in data.examples] == [("a", "validation"), ("b", "train")]
    assert data.summary["split_method"] == "given"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"image": "a.png"}, "exactly one"),
        ({"image": "a.png", "report": "x", "labels": ["normal"]}, "exactly one"),
        ({"image": "a.png", "labels": ["nodule"], "locations": {"mass": ["loc left"]}}, "mass"),
        ({"image": "a.png", "labels": ["nodule"], "findngs": []}, "findngs"),
        ({"image": "a.png", "labels": ["nodule"], "split": "dev"}, "split"),
    ],
)
def test_jsonl_errors_name_the_line_and_field(tmp_path, document, message):
    jsonl = write_jsonl(tmp_path / "d.jsonl", [{"image": "b.png", "labels": ["normal"]}, document])
    with pytest.raises(InputError, match=rf"d\.jsonl:2: .*{message}"):
        read_jsonl_examples(jsonl, DataOptions())


def test_jsonl_splits_given_on_some_lines_only(tmp_path):
    write_placeholder(tmp_path / "a.png", seed=1, size=8)
    write_placeholder(tmp_path / "b.png", seed=2, size=8)
    jsonl = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {"image": "a.png", "labels": ["normal"], "split": "train"},
            {"image": "b.png", "labels": ["normal"]},
        ],
    )
    with pytest.raises(InputError, match="some lines"):
        read_jsonl_examples(jsonl, DataOptions())


def test_source_arguments_are_checked(tmp_path):
    with pytest.raises(UsageError):
        build_training_data(DataOptions(), table=tmp_path / "t.csv")
    with pytest.raises(UsageError, match="no such file"):
        build_training_data(DataOptions(), table=tmp_path / "t.csv", images=tmp_path)
