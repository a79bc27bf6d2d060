"""Per-case scores (the ``metrics`` plugin) and run evaluation on hand-built cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from explainmyxray.core.case import (
    Box,
    Case,
    CaseError,
    Finding,
    GroundedRegion,
    Grounding,
    StructuredReport,
    XrayImage,
)
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import InputError, UsageError
from explainmyxray.core.results import write_case_report, write_sources
from explainmyxray.plugins.score_metrics import MetricsOptions
from explainmyxray.registry.plugins import PluginHost
from explainmyxray.scoring.evaluate import evaluate_run, render_eval_table, run_eval
from explainmyxray.scoring.references import load_references


def _image(size: int) -> XrayImage:
    return XrayImage(width=size, height=size, source_format="png")


def _grounding(label: str, box: Box, score: float | None = None) -> Grounding:
    return Grounding(finding=label, regions=[GroundedRegion(region="r", box=box, score=score)])


def case_a() -> Case:
    """Two of three reference findings, one of two located, the boxed nodule found exactly."""
    return Case(
        id="a-1",
        source="/images/a.png",
        image=_image(512),
        report=StructuredReport(
            findings=[
                Finding(label="pleural effusion", locations=["left costophrenic angle"]),
                Finding(label="enlarged heart"),
                Finding(label="pneumothorax", status="absent"),
            ]
        ),
        groundings=[_grounding("nodule", Box(x0=100, y0=100, x1=150, y1=150))],
    )


def case_d() -> Case:
    return Case(id="d-1", source="/images/d.png", report=StructuredReport(findings=[]))


CASE_B = Case(id="b-1", source="/images/b.png", report=StructuredReport())
CASE_C = Case(
    id="c-1",
    source="/images/c.png",
    errors=[CaseError(stage="generate", plugin="x", error_type="ModelError", message="boom")],
)

REFERENCES = [
    {
        "id": "a",
        "findings": [
            {"label": "pleural effusion", "locations": ["loc left costophrenic angle"]},
            {"label": "cardiomegaly"},
            {"label": "nodule", "locations": ["loc left upper lobe"]},
        ],
        # In a 1024 x 1024 image: the case's 512 x 512 box (100, 100)-(150, 150) exactly.
        "boxes": [{"label": "nodule", "x0": 200, "y0": 200, "x1": 300, "y1": 300}],
        "image_size": [1024, 1024],
    },
    {"id": "c", "findings": [{"label": "mass"}]},
    {"id": "d", "findings": [{"label": "normal"}]},
]


@pytest.fixture
def reference_file(tmp_path: Path) -> Path:
    path = tmp_path / "reference.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in REFERENCES))
    return path


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins={"metrics": "explainmyxray.plugins.score_metrics"}, discover=False)


def _score(host: PluginHost, cases: list[Case], **options) -> list:
    step = StepContext(stage="score", plugin="metrics", options=MetricsOptions(**options))
    return host.call_stage("score", "metrics", cases, step)


def test_plugin_registers_the_score_stage(host: PluginHost):
    assert host.load_errors == {}
    assert host.plugins_for("score") == ["metrics"]
    assert host.stage_spec("score", "metrics").options is MetricsOptions


def test_plugin_scores_a_case_by_hand(host: PluginHost, reference_file: Path):
    (scores,) = _score(host, [case_a()], reference=reference_file)
    by_metric = {s.metric: s for s in scores}
    assert list(by_metric) == [
        "soft_match",
        "finding_f1",
        "finding_location_f1",
        "chexpert_f1",
        "box_iou",
        "pointing_game",
    ]
    soft = by_metric["soft_match"]
    assert soft.value == pytest.approx(2 / 3)
    assert soft.details["missed"] == ["nodule"] and soft.details["extra"] == []
    assert ["cardiomegaly", "cardiomegaly", "synonym"] in soft.details["matched"]
    assert by_metric["finding_f1"].value == pytest.approx(4 / 5)
    assert by_metric["finding_f1"].details == {"tp": 2, "fp": 0, "fn": 1}
    # Pairs of the localized reference labels: (effusion, left CPA) found, (nodule, LUL) missed.
    assert by_metric["finding_location_f1"].value == pytest.approx(2 / 3)
    # {Pleural Effusion, Cardiomegaly} vs those plus Lung Lesion.
    assert by_metric["chexpert_f1"].value == pytest.approx(4 / 5)
    # The 1024-pixel reference box is rescaled onto the 512-pixel image: an exact hit.
    assert by_metric["box_iou"].value == pytest.approx(1.0)
    assert by_metric["box_iou"].details["iou_hit@0.5"] == 1.0
    assert by_metric["pointing_game"].value == 1.0


def test_plugin_options_select_metrics_and_reject_unknown(host, reference_file: Path):
    (scores,) = _score(host, [case_a()], reference=reference_file, metrics=["finding_f1"])
    assert [s.metric for s in scores] == ["finding_f1"]
    with pytest.raises(ValidationError, match="refrence"):
        MetricsOptions(refrence="x")
    with pytest.raises(ValidationError, match="IoU thresholds"):
        MetricsOptions(iou_thresholds=[0.0])
    with pytest.raises(ValidationError):
        MetricsOptions(metrics=["bleu"])


def test_plugin_without_reference_and_normal_case(host, reference_file: Path):
    no_ref, normal = _score(host, [CASE_B, case_d()], reference=reference_file)
    assert [(s.metric, s.value) for s in no_ref] == [("reference", None)]
    assert "'b'" in no_ref[0].details["note"]
    values = {s.metric: s.value for s in normal}
    assert values == {"soft_match": 1.0, "finding_f1": 1.0, "chexpert_f1": 1.0}


def test_plugin_reads_sidecar_references(host, tmp_path: Path):
    image = tmp_path / "a.png"
    (tmp_path / "a.png.reference.json").write_text(json.dumps(REFERENCES[0]))
    (tmp_path / "bad.reference.json").write_text(json.dumps({"id": "bad", "labels": []}))
    case = case_a().model_copy(update={"source": str(image)})
    bad = Case(id="bad", source=str(tmp_path / "bad.png"), report=StructuredReport())
    scores, failure = _score(host, [case, bad])
    assert {s.metric: s.value for s in scores}["soft_match"] == pytest.approx(2 / 3)
    assert isinstance(failure, InputError) and "labels" in str(failure)


def test_evaluate_run_by_hand(reference_file: Path):
    refs = load_references(reference_file)
    result = evaluate_run([case_a(), CASE_B, CASE_C, case_d()], refs, n_resamples=200)
    assert (result.n_cases, result.n_scored, result.n_failed) == (4, 2, 1)
    assert result.unmatched == ["b"] and result.failed == ["c-1"]
    assert (result.n_with_findings, result.n_with_boxes) == (2, 1)
    m = result.metrics
    assert m["soft_match_accuracy"].estimate == pytest.approx((2 / 3 + 1) / 2)
    assert m["soft_match_accuracy_micro"].estimate == pytest.approx(2 / 3)
    assert m["soft_match_recall"].estimate == pytest.approx(2 / 3)
    assert m["soft_match_precision"].estimate == 1.0
    assert m["finding_f1_micro"].estimate == pytest.approx(4 / 5)
    # Effusion 1, cardiomegaly 1, nodule 0.
    assert m["finding_f1_macro"].estimate == pytest.approx(2 / 3)
    # CheXpert-14 adds No Finding (case d, both sides) and Lung Lesion (missed).
    assert m["chexpert14_f1_macro"].estimate == pytest.approx(3 / 4)
    assert m["chexpert5_f1_micro"].estimate == 1.0
    assert m["finding_location_f1_micro"].estimate == pytest.approx(2 / 3)
    assert m["pointing_game"].estimate == 1.0 and m["box_mean_iou"].estimate == 1.0
    for metric in m.values():
        if metric.estimate is not None and metric.low is not None:
            assert metric.low <= metric.estimate <= metric.high
    assert result.soft_match_goal_met is False
    table = {row["label"]: row for row in result.tables["finding"]}
    assert (table["nodule"]["support"], table["nodule"]["recall"]) == (1, 0.0)
    assert result.tables["boxes"][0]["label"] == "nodule"
    # JSON all the way down, no NaN.
    document = json.loads(result.to_json())
    assert document["metrics"]["finding_f1_micro"]["estimate"] == pytest.approx(0.8)


def test_render_eval_table(reference_file: Path):
    from rich.console import Console

    result = evaluate_run([case_a(), case_d()], load_references(reference_file), n_resamples=50)
    table = render_eval_table(result)
    assert table.row_count == len(result.metrics)
    console = Console(record=True, width=120)
    console.print(table)
    text = console.export_text()
    assert "soft_match_accuracy" in text and "0.833" in text and "95% CI" in text


def test_run_eval_reads_a_run_folder(tmp_path: Path, reference_file: Path):
    run = tmp_path / "run"
    for case in (case_a(), CASE_B, case_d()):
        write_case_report(case, run)
    out = tmp_path / "eval.json"
    result = run_eval(run, reference_file, None, out, n_resamples=100)
    assert result.n_scored == 2 and result.unmatched == ["b"]
    assert json.loads(out.read_text()) == json.loads(result.to_json())
    with pytest.raises(UsageError, match="no cases/ folder"):
        run_eval(tmp_path, reference_file, None, None)


def test_a_run_with_withheld_paths_is_matched_through_its_identifier_file(
    tmp_path: Path, reference_file: Path
):
    run = tmp_path / "run"
    paths = {}
    for case in (case_a(), CASE_B, case_d()):
        paths[case.id] = {"source": case.source}
        write_case_report(case.model_copy(update={"source": f"sha256:{case.id}"}), run)
    write_sources(run, paths)
    result = run_eval(run, reference_file, None, None, n_resamples=100)
    assert result.n_scored == 2 and result.unmatched == ["b"]


def test_nih_boxes_end_to_end(txv_data: Path):
    refs = load_references(txv_data / "BBox_List_2017.csv.gz", keys=["nih_00003440_000"])
    assert len(refs) == 1
    # The reference mass box is (591.6, 457.3)-(706.5, 571.1): a region grounding over its left
    # half, and an atelectasis grounded in the wrong place.
    case = Case(
        id="n",
        source="/shared/cxr/nih_00003440_000.png",
        image=_image(1024),
        report=StructuredReport(findings=[Finding(label="mass"), Finding(label="atelectasis")]),
        groundings=[
            _grounding(
                "pulmonary mass",
                Box(
                    x0=591.644444444445,
                    y0=457.278306878307,
                    x1=649.0751322751329,
                    y1=571.056084656085,
                ),
            ),
            _grounding("atelectasis", Box(x0=800, y0=800, x1=900, y1=900)),
        ],
    )
    result = evaluate_run([case], refs, n_resamples=50)
    assert result.n_with_findings == 0 and result.n_with_boxes == 1
    rows = {row["label"]: row for row in result.tables["boxes"]}
    # "pulmonary mass" is a child of "mass": the hierarchy rule lets it count for the mass box.
    assert rows["mass"]["mean_iou"] == pytest.approx(0.5)
    assert rows["mass"]["pointing_game"] == 1.0
    assert rows["atelectasis"]["mean_iou"] == 0.0 and rows["atelectasis"]["pointing_game"] == 0.0
    assert result.metrics["iou_hit@0.25"].estimate == pytest.approx(0.5)
    assert result.metrics["pointing_game"].estimate == pytest.approx(0.5)
