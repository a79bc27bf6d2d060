from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from explainmyxray.cli.app import main
from explainmyxray.cli.running import EXIT_NOTHING_PRODUCED

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "explainmyxray", *args],
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def test_help_imports_no_heavy_library():
    code = (
        "import sys\n"
        "from explainmyxray.cli.app import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'transformers', 'pydantic', 'numpy', 'rich', 'pydicom')"
        " if m in sys.modules]\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_validate_reports_a_typo_with_line_and_field_and_exits_2(tmp_path):
    pipeline = tmp_path / "typo.yaml"
    pipeline.write_text(
        "name: typo\n"
        "stages:\n"
        "  - stage: preprocess\n"
        "    plugin: image\n"
        "    options:\n"
        "      frist_frame_only: true\n"
    )
    result = cli("validate", str(pipeline))
    assert result.returncode == 2
    assert f"{pipeline}:6: stages[0].options.frist_frame_only: unknown field" in result.stderr
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_validate_a_shipped_pipeline_shows_the_plan():
    result = cli("validate", "default")
    assert result.returncode == 0, result.stderr
    assert "pipeline default is valid" in result.stdout
    assert "preprocess" in result.stdout and "Predicted peak" in result.stdout


def test_unknown_pipeline_is_one_red_line_and_verbose_adds_the_traceback():
    result = cli("validate", "no-such-pipeline")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: no-such-pipeline: no such pipeline file or shipped pipeline "
        + "("
        + ", ".join(sorted(p.stem for p in (REPO / "configs/pipelines").glob("*.yaml")))
        + ")"
    ]
    verbose = cli("--verbose", "validate", "no-such-pipeline")
    assert "Traceback" in verbose.stderr and verbose.returncode == 2


def test_schema_is_the_json_schema_of_report_json():
    result = cli("schema")
    schema = json.loads(result.stdout)
    assert schema["required"][0] == "schema_version"
    for field in ("image", "report", "groundings", "verification", "scores", "errors", "quality"):
        assert field in schema["properties"]
    assert "pixels" not in schema["$defs"]["XrayImage"]["properties"]
    assert "mask" not in schema["$defs"]["Region"]["properties"]


def test_plugins_json_lists_builtins_with_hooks():
    result = cli("plugins", "--json")
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    assert plugins["image"]["source"] == "builtin"
    assert "preprocess" in plugins["image"]["stages"]
    assert "register_stages" in plugins["image"]["hooks"]


def test_run_with_missing_input_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "default", str(tmp_path / "nothing.png"), "--out", str(tmp_path)]) == 2
    assert "nothing.png: no such file or folder" in capsys.readouterr().err


def test_doctor_json_reports_python_extras_and_models():
    result = cli("doctor", "--json")
    report = json.loads(result.stdout)
    assert report["python"] == ".".join(map(str, sys.version_info[:3]))
    assert set(report["extras"]) >= {"dicom", "medsam", "medgemma", "biomedclip", "chexbert"}


@pytest.mark.parametrize("args", [["run"], ["models"], ["nonsense"]])
def test_usage_errors_exit_2(args):
    assert cli(*args).returncode == 2


def test_a_quality_error_stops_the_case_before_localization_and_fails_the_run(
    tmp_path, shared_data, capsys
):
    dog = shared_data / "dicom" / "veterinary_thorax_dx_monochrome1.dcm"
    out = tmp_path / "out"
    args = ["run", "default", str(dog), "--report", "FINDINGS: Cardiomegaly.", "--out", str(out)]
    assert main(args) == EXIT_NOTHING_PRODUCED  # its only case stopped: nothing was produced
    printed = capsys.readouterr()
    assert "1 failed" in printed.out
    assert "stopped by the quality gate (lateral_view, not_frontal_chest, non_human)" in printed.out
    [report] = out.glob("cases/*/report.json")
    case = json.loads(report.read_text())
    assert [e["error_type"] for e in case["errors"]] == ["QualityGateError"]
    assert case["anatomy"] == [] and case["groundings"] == [] and case["report"] is None
    assert [p.name for p in report.parent.iterdir()] == ["report.json"]
    assert {f["code"] for f in case["quality"] if f["severity"] == "error"} == {
        "lateral_view",
        "not_frontal_chest",
        "non_human",
    }
