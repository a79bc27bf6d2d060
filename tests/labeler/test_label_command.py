"""`explainmyxray label` then `explainmyxray eval --format iuxray` on a few real dev reports."""

from __future__ import annotations

import importlib.util
import json
import tarfile
from pathlib import Path

import pytest

from explainmyxray.cli.app import main
from explainmyxray.core.case import Case
from explainmyxray.datasets.iu_xray import load_mapping, read_reports
from explainmyxray.labeler import label_report
from explainmyxray.labeler.evaluation import evaluate

# normal; borderline cardiomegaly + enlarged pulmonary arteries; calcified granuloma (located);
# no text at all; "No Indexing"; cardiomegaly + congestion; cardiomegaly + clips
REPORTS = (1, 2, 10, 16, 39, 45, 327)


@pytest.fixture(scope="module")
def xml_folder(tmp_path_factory) -> Path:
    """A few development reports of torchxrayvision's archive, as a folder of XML files."""
    if importlib.util.find_spec("torchxrayvision") is None:
        pytest.skip("torchxrayvision (which ships the IU X-ray reports) is not installed")
    from explainmyxray.datasets.iu_xray import default_archive

    folder = tmp_path_factory.mktemp("iu") / "xml"
    folder.mkdir()
    with tarfile.open(default_archive()) as archive:
        for number in REPORTS:
            member = archive.getmember(f"ecgen-radiology/{number}.xml")
            (folder / f"{number}.xml").write_bytes(archive.extractfile(member).read())
    return folder


def _cases(run: Path) -> dict[str, Case]:
    out = {}
    for path in sorted((run / "cases").glob("*/report.json")):
        document = json.loads(path.read_text())
        document.pop("schema_version")
        out[path.parent.name] = Case.model_validate(document)
    return out


def _eval(run: Path, reference: Path) -> dict:
    code = main(
        ["eval", str(run), "--reference", str(reference), "--format", "iuxray", "--resamples", "20"]
    )
    assert code == 0
    return json.loads((run / "eval.json").read_text())


def _row(result: dict, label: str) -> tuple[int, int, int]:
    row = next(r for r in result["tables"]["finding"] if r["label"] == label)
    return row["tp"], row["fp"], row["fn"]


def test_label_writes_one_case_per_report(xml_folder: Path, tmp_path: Path):
    run = tmp_path / "run"
    assert main(["label", str(xml_folder), "--out", str(run), "--split", "dev"]) == 0
    cases = _cases(run)
    assert sorted(cases) == sorted(f"CXR{n}" for n in REPORTS)
    reports = {f"CXR{r.id}": r for r in read_reports(xml_folder)}
    for key, case in cases.items():
        assert case.source == key and case.image is None
        assert case.metadata["split"] == "dev" and case.metadata["dataset"] == "iu-xray"
        if not reports[key].text:
            assert case.failed and case.report is None  # CXR16 has no text
            continue
        report = case.report
        assert report.source == "labeler" and report.text == reports[key].text
        # the statuses are the labeler's, one finding per label
        assert {f.label: f.status for f in report.findings} == label_report(report.text)
    granuloma = next(f for f in cases["CXR10"].report.findings if f.label == "calcified granuloma")
    assert granuloma.status == "present" and granuloma.locations  # "right upper lobe"
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["command"] == "label" and manifest["split"] == "dev"
    assert manifest["summary"] == {
        "cases": 7,
        "labeled": 6,
        "failed": 1,
        "failures": ["CXR16"],
        "other_cases_in_folder": 0,
        "unmapped_statements": 0,
    }


def test_eval_scores_the_written_reports(xml_folder: Path, tmp_path: Path):
    run = tmp_path / "run"
    assert main(["label", str(xml_folder), "--out", str(run)]) == 0
    result = _eval(run, xml_folder)
    # every case matched; no text → failed; "No Indexing" → no findings to score
    assert result["unmatched"] == [] and result["failed"] == ["CXR16"]
    assert (result["n_cases"], result["n_scored"], result["n_with_findings"]) == (7, 6, 5)
    # "Stable cardiomegaly ..." (CXR45) and "stable, mild cardiomegaly" (CXR327) with MeSH
    # Cardiomegaly, "Borderline cardiomegaly" (CXR2) with MeSH Cardiomegaly/borderline
    assert _row(result, "cardiomegaly") == (3, 0, 0)

    # Flip the written reading of CXR45: the eval follows the report.json, not the text.
    path = run / "cases" / "CXR45" / "report.json"
    document = json.loads(path.read_text())
    for finding in document["report"]["findings"]:
        if finding["label"] == "cardiomegaly":
            finding["status"] = "absent"
    path.write_text(json.dumps(document))
    assert _row(_eval(run, xml_folder), "cardiomegaly") == (2, 0, 1)


def test_regrouped_eval_counts_equal_the_labeler_benchmark(xml_folder: Path, tmp_path: Path):
    """The written reports, regrouped into evaluation labels, give the benchmark's counts."""
    run = tmp_path / "run"
    assert main(["label", str(xml_folder), "--out", str(run)]) == 0
    mapping = load_mapping()
    reports = read_reports(xml_folder)
    expected = evaluate(reports, mapping, exclude=("normal",))
    from explainmyxray.scoring.references import load_references

    references = load_references(xml_folder, "iuxray")
    tp = fp = fn = 0
    counted = 0
    for case in _cases(run).values():
        reference = references.for_case(case)
        if case.failed or reference.findings is None:
            continue
        counted += 1
        present = {f.label for f in case.report.present()}
        terms = reference.meta["mesh"].split("; ")
        groups = [g for g in mapping.labels if g.name != "normal"]
        gold = {g.name for g in groups if g.in_mesh(terms)}
        guessed = {g.name for g in groups if g.padchest & present}
        tp, fp, fn = tp + len(gold & guessed), fp + len(guessed - gold), fn + len(gold - guessed)
    assert counted == expected.reports == 5
    micro = expected.micro
    assert (tp, fp, fn) == (micro.tp, micro.fp, micro.fn)
    assert tp > 0


def test_text_reports_match_by_file_stem(xml_folder: Path, tmp_path: Path):
    texts = tmp_path / "texts"
    texts.mkdir()
    (texts / "CXR45.txt").write_text("Stable cardiomegaly. No pleural effusion.")
    (texts / "CXR1.txt").write_text("The lungs are clear. Normal heart size.")
    run = tmp_path / "run"
    assert main(["label", str(texts), "--out", str(run)]) == 0
    cases = _cases(run)
    assert len(cases) == 2
    assert all(c.source.endswith(".txt") and c.report.source == "labeler" for c in cases.values())
    result = _eval(run, xml_folder)
    assert result["unmatched"] == [] and result["n_with_findings"] == 2
    assert _row(result, "cardiomegaly") == (1, 0, 0)
    # splits are an IU X-ray notion
    assert main(["label", str(texts), "--out", str(tmp_path / "x"), "--split", "dev"]) != 0


def test_labeled_reports_quote_their_own_words_and_list_unmapped_statements(tmp_path: Path):
    texts = tmp_path / "texts"
    texts.mkdir()
    text = "The heart size is normal. There is a 3 cm lesion in the right lung."
    (texts / "a.txt").write_text(text)
    run = tmp_path / "run"
    assert main(["label", str(texts), "--out", str(run)]) == 0
    (case,) = _cases(run).values()
    cardiomegaly = next(f for f in case.report.findings if f.label == "cardiomegaly")
    assert cardiomegaly.evidence == "The heart size is normal"
    assert text[cardiomegaly.evidence_start : cardiomegaly.evidence_end] == cardiomegaly.evidence
    assert [u.text for u in case.report.unmapped] == ["There is a 3 cm lesion in the right lung"]
    manifest = json.loads((run / "run.json").read_text())
    assert manifest["summary"]["unmapped_statements"] == 1
