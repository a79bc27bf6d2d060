from __future__ import annotations

from collections.abc import Iterator

import pytest

from .orthanc import Orthanc, dicomweb_plugin, orthanc_binary, start_orthanc

pytest.importorskip("highdicom")
pytest.importorskip("dicomweb_client")


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory) -> Iterator[Orthanc]:
    """A fresh Orthanc (DICOMweb on) for the session, stopped at the end."""
    if orthanc_binary() is None or dicomweb_plugin() is None:
        pytest.skip("Orthanc with its DICOMweb plugin is not installed (apt: orthanc orthanc-dicomweb)")
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    try:
        yield server
    finally:
        server.stop()
