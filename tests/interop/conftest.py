from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from explainmyxray.core.orchestrator import RunSummary

from ..conftest import SHARED_DATA
from .orthanc import Orthanc, dicomweb_plugin, orthanc_binary, start_orthanc

pytest.importorskip("highdicom")
pytest.importorskip("dicomweb_client")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Iterator[Orthanc]:
    """A fresh Orthanc (DICOMweb on) for the session, stopped at the end."""
    if orthanc_binary() is None or dicomweb_plugin() is None:
        pytest.skip(
            "Orthanc with its DICOMweb plugin is not installed (apt: orthanc orthanc-dicomweb)"
        )
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        yield server
    finally:
        server.stop()


REPORT = (
    "FINDINGS: Cardiomegaly. Small right pleural effusion. Possible left lower lobe atelectasis. "
    "Aortic elongation. No pneumothorax. IMPRESSION: Cardiomegaly with a small right effusion."
)
"""A supplied report with present, uncertain and absent findings, SNOMED and project codes."""


def rg1_uncr() -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file("RG1_UNCR.dcm")
    if path is None:
        pytest.skip("pydicom-data's RG1_UNCR.dcm is not installed")
    return Path(path)


@dataclass
class RealRun:
    """The default pipeline over every real radiograph, de-identified, with --dicom-outputs."""

    out: Path
    keep_phi_dir: Path
    masks: dict[str, dict[str, np.ndarray]]
    sources: dict[str, Path]
    summary: RunSummary

    def case_dirs(self) -> list[Path]:
        return sorted((self.out / "cases").iterdir())


@pytest.fixture(scope="session")
def real_run(tmp_path_factory) -> RealRun:
    """One in-process run (the CLI's case writers plus one that keeps the masks), shared."""
    from explainmyxray.core.inputs import case_id
    from explainmyxray.interop.case_writer import dicom_case_writer, write_dicom_files
    from explainmyxray.outputs import write_case_outputs
    from explainmyxray.pipelines.engine import Engine

    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent")
    # the dog's lateral DX stops at the quality gate (not a human frontal chest): no results
    dicoms = sorted((SHARED_DATA / "dicom").glob("*.dcm"))
    dicoms = [p for p in dicoms if "veterinary" not in p.name]
    inputs = dicoms + sorted((SHARED_DATA / "cxr").iterdir())
    inputs.append(rg1_uncr())
    root = tmp_path_factory.mktemp("real-run")
    run = RealRun(root / "out", root / "keep-phi", {}, {case_id(p): p for p in inputs}, None)

    def keep_masks_and_identity(case, case_dir: Path) -> None:
        run.masks[case.id] = {r.id: r.mask.copy() for r in case.anatomy if r.mask is not None}
        if case.image is not None and case.image.source_format == "dicom":
            folder = run.keep_phi_dir / case.id
            folder.mkdir(parents=True)
            write_dicom_files(case, folder, keep_phi=True)

    with Engine(retain=False) as engine:
        run.summary = engine.run(
            "default",
            inputs,
            run.out,
            report_text=REPORT,
            case_writers=[
                write_case_outputs,
                dicom_case_writer(keep_phi=False),
                keep_masks_and_identity,
            ],
        )
    return run
